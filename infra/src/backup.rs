//! `carehub backup` and `carehub restore`: the SQLite databases of a state
//! directory (every `*.db` under `<state>/data`, so the default database
//! and any database of its own, e.g. an access log's), copied while the
//! hub serves and put back while it does not.
//!
//! A backup copies each file with `VACUUM INTO`: one read transaction per
//! database, so the copy is that database as of one instant — every write
//! committed (hence acknowledged) before the backup began is in it, none
//! half-done — while writers go on (WAL: readers do not block them). Each
//! copy is checked (`PRAGMA integrity_check`) before it is given its final
//! name. Separate files are copied one after the other, each consistent in
//! itself.
//!
//! A running gateway holds a shared lock on `<state>/data/.carehub-lock`
//! ([`hold_running_lock`]); restore takes it exclusively, so it refuses to
//! replace the databases of a running hub (whose open connections and WAL
//! would still point at the old files). Restoring over existing databases
//! also needs `force`, since they are lost. PostgreSQL is backed up with
//! `pg_dump` / `pg_restore` (infra/DEPLOY.md).

use crate::error::{Doing, Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The lock file a running gateway holds (shared) in its data directory.
pub const RUNNING_LOCK: &str = ".carehub-lock";

/// Lock files held for the life of the process.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// Takes the shared "a gateway serves these files" lock on `data_dir` and
/// holds it until the process exits.
pub fn hold_running_lock(data_dir: &Path) -> Result<()> {
    let path = data_dir.join(RUNNING_LOCK);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .doing(|| format!("opening {}", path.display()))?;
    file.lock_shared()
        .doing(|| format!("locking {}", path.display()))?;
    HELD.lock().unwrap_or_else(|e| e.into_inner()).push(file);
    Ok(())
}

/// The SQLite files of a directory (`*.db`), sorted by name.
pub fn databases_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).doing(|| format!("reading {}", dir.display()))? {
        let path = entry.doing(|| format!("reading {}", dir.display()))?.path();
        if path.extension().is_some_and(|e| e == "db") && path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// One database copied: its file name and size in bytes.
#[derive(Debug, Clone)]
pub struct Copied {
    /// The file name (`default.db`).
    pub name: String,
    /// Bytes written.
    pub bytes: u64,
}

/// Copies every `*.db` of `data_dir` into the directory `out` (created;
/// it must not hold databases already), consistently, while the hub may
/// be serving.
pub fn backup(data_dir: &Path, out: &Path) -> Result<Vec<Copied>> {
    let sources = databases_in(data_dir)?;
    if sources.is_empty() {
        return Err(Error::NothingToBackUp(data_dir.to_owned()));
    }
    std::fs::create_dir_all(out).doing(|| format!("creating {}", out.display()))?;
    if !databases_in(out)?.is_empty() {
        return Err(Error::BackupExists(out.to_owned()));
    }
    let mut copied = Vec::new();
    for source in sources {
        let name = file_name(&source);
        let partial = out.join(format!("{name}.partial"));
        let _ = std::fs::remove_file(&partial);
        let conn = crate::host::sqlite::Pool::connect(&source)
            .doing(|| format!("opening {}", source.display()))?;
        conn.execute("VACUUM INTO ?1", [partial.to_string_lossy().as_ref()])
            .doing(|| format!("copying {} to {}", source.display(), partial.display()))?;
        drop(conn);
        check_integrity(&partial)?;
        let target = out.join(&name);
        std::fs::rename(&partial, &target)
            .doing(|| format!("renaming {} to {}", partial.display(), target.display()))?;
        let bytes = std::fs::metadata(&target)
            .doing(|| format!("reading {}", target.display()))?
            .len();
        copied.push(Copied { name, bytes });
    }
    Ok(copied)
}

/// Puts the databases of the backup directory `from` into `data_dir`,
/// refusing while a gateway serves `data_dir`, and refusing to replace
/// existing databases unless `force`. Files of `data_dir` the backup does
/// not have are left alone.
pub fn restore(from: &Path, data_dir: &Path, force: bool) -> Result<Vec<Copied>> {
    let sources = databases_in(from)?;
    if sources.is_empty() {
        return Err(Error::NothingToBackUp(from.to_owned()));
    }
    for source in &sources {
        check_integrity(source)?;
    }
    std::fs::create_dir_all(data_dir).doing(|| format!("creating {}", data_dir.display()))?;
    let lock_path = data_dir.join(RUNNING_LOCK);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .doing(|| format!("opening {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::HubRunning(data_dir.to_owned()));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).doing(|| format!("locking {}", lock_path.display()));
        }
    }
    let existing: Vec<String> = sources
        .iter()
        .map(|s| file_name(s))
        .filter(|n| data_dir.join(n).exists())
        .collect();
    if !existing.is_empty() && !force {
        return Err(Error::RestoreWouldReplace {
            dir: data_dir.to_owned(),
            files: existing.join(", "),
        });
    }
    let mut copied = Vec::new();
    for source in sources {
        let name = file_name(&source);
        let partial = data_dir.join(format!("{name}.partial"));
        let bytes = std::fs::copy(&source, &partial)
            .doing(|| format!("copying {} to {}", source.display(), partial.display()))?;
        let target = data_dir.join(&name);
        // The old file's write-ahead log belongs to the old file.
        for suffix in ["-wal", "-shm"] {
            let stale = data_dir.join(format!("{name}{suffix}"));
            match std::fs::remove_file(&stale) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).doing(|| format!("removing {}", stale.display())),
            }
        }
        std::fs::rename(&partial, &target)
            .doing(|| format!("renaming {} to {}", partial.display(), target.display()))?;
        copied.push(Copied { name, bytes });
    }
    drop(lock);
    Ok(copied)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `PRAGMA integrity_check` answers `ok`, or the error names the file.
fn check_integrity(path: &Path) -> Result<()> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .doing(|| format!("opening {}", path.display()))?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .doing(|| format!("checking {}", path.display()))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(Error::Corrupt {
            path: path.to_owned(),
            verdict,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(path: &Path, rows: i64) {
        let conn = crate::host::sqlite::Pool::connect(path).unwrap();
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
            .unwrap();
        for n in 0..rows {
            conn.execute("INSERT INTO t VALUES (?1)", [n]).unwrap();
        }
    }

    fn rows(path: &Path) -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn every_database_is_copied_and_restored_and_a_running_hub_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        db(&data.join("default.db"), 3);
        db(&data.join("accesslog.db"), 2);
        std::fs::write(data.join("notes.txt"), "not a database").unwrap();
        let out = dir.path().join("backup");
        let copied = backup(&data, &out).unwrap();
        let names: Vec<&str> = copied.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["accesslog.db", "default.db"]);
        assert_eq!(rows(&out.join("default.db")), 3);
        // Not over a backup already there.
        assert!(matches!(backup(&data, &out), Err(Error::BackupExists(_))));

        db(&data.join("default.db"), 5);
        assert!(matches!(
            restore(&out, &data, false),
            Err(Error::RestoreWouldReplace { .. })
        ));
        restore(&out, &data, true).unwrap();
        assert_eq!(rows(&data.join("default.db")), 3);
        assert_eq!(rows(&data.join("accesslog.db")), 2);

        // Into a fresh directory, no force needed.
        let fresh = dir.path().join("fresh");
        restore(&out, &fresh, false).unwrap();
        assert_eq!(rows(&fresh.join("default.db")), 3);

        // A gateway serving it (the shared lock): refused, even forced.
        hold_running_lock(&fresh).unwrap();
        assert!(matches!(
            restore(&out, &fresh, true),
            Err(Error::HubRunning(_))
        ));
        assert_eq!(rows(&fresh.join("default.db")), 3);
    }

    #[test]
    fn nothing_to_back_up_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            backup(dir.path(), &dir.path().join("out")),
            Err(Error::NothingToBackUp(_))
        ));
    }
}
