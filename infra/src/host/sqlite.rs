//! `fermyon:spin/sqlite@2.0.0` over real SQLite files (rusqlite, as Spin's
//! own host does).
//!
//! Each label in `spin.toml`'s `sqlite_databases` is one file under the data
//! directory. A component may open only the labels granted to it. Connections
//! come from a small per-database pool and keep their prepared-statement
//! cache across requests; a connection handed back with an open transaction
//! (a guest that trapped mid-transaction) is rolled back first, so nothing
//! half-done survives an instance.
//!
//! Statements run inline on the worker thread (in WAL mode a read never
//! waits, and an uncontended write is microseconds), except the wait for a
//! database's write lock. Within the gateway that lock is an async mutex per
//! database, queued in arrival order: a statement that starts a write
//! transaction (`BEGIN IMMEDIATE`/`EXCLUSIVE`), or writes outside one, first
//! waits for it on the executor, holds it until its connection is back in
//! autocommit mode, and only then asks SQLite for the file's lock (which
//! only another process can still hold: that wait is retried with short
//! async pauses, never SQLite's blocking busy handler). [`LOCK_WAIT`] bounds
//! the whole wait. So a writer queued behind another writer — a bulk load
//! holding `default`'s lock, say — never holds a worker thread, and a guest
//! may be yielded to the executor while it holds a lock itself: whoever
//! waits for that lock waits on the executor, not on the thread the holder
//! needs to resume.
//!
//! Nor does a serving thread ever checkpoint the WAL: pooled connections
//! have `wal_autocheckpoint` off, and a thread per database
//! (`Checkpointer`) runs a `PASSIVE` checkpoint every
//! [`CHECKPOINT_EVERY`], so its page copies and `fsync`s wait on that
//! thread instead of stalling a worker (and every request on it) inside
//! the `COMMIT` that crossed SQLite's 1,000-page threshold.

use super::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::error::{Doing, Result};
use rusqlite::types::{ToSqlOutput, ValueRef};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// Idle connections kept per database.
const MAX_IDLE: usize = 32;

/// How long a statement waits for a database's write lock in all, before it
/// fails with SQLite's `database is locked` (what `busy_timeout` gave before
/// the wait became asynchronous).
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The first pause between tries for a write lock; it doubles up to
/// [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_micros(250);
const MAX_PAUSE: Duration = Duration::from_millis(8);

/// How often each database's WAL is checkpointed by its checkpointer
/// thread (`Checkpointer`). It also bounds what a power loss can take:
/// with `synchronous=NORMAL` a commit reaches the disk at the checkpoint
/// that follows it.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// One database file and its idle connections.
pub struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// The database's write lock within this gateway (see the module docs).
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl Pool {
    fn new(path: PathBuf) -> Pool {
        Pool {
            path,
            idle: Mutex::new(Vec::new()),
            writer: Arc::default(),
        }
    }

    /// Opens a fresh connection with the settings every connection gets.
    pub fn connect(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open(path)?;
        // The busy handler still covers what the host does not retry: a
        // statement inside a transaction (in WAL mode only a read racing a
        // checkpoint's restart), and connections outside the host
        // (migrations, backup, verify-log).
        conn.busy_timeout(LOCK_WAIT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // No `mmap_size` and the default page cache: a connection starts
        // every read transaction after another connection's write (before
        // the access log had its own file, every read wrote) by dropping its page cache and, with
        // mmap, unmapping the whole file (SQLite's pagerBeginReadTransaction);
        // measured, mmap made reads 10-20 % slower, and a bigger cache is
        // thrown away just the same.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Bulk ingest's multi-row statements differ by row count.
        conn.set_prepared_statement_cache_capacity(256);
        Ok(conn)
    }

    fn take(&self) -> rusqlite::Result<rusqlite::Connection> {
        if let Some(c) = self.idle.lock().expect("pool lock").pop() {
            return Ok(c);
        }
        let conn = Self::connect(&self.path)?;
        // A serving connection never checkpoints: SQLite's automatic
        // checkpoint runs inside the COMMIT that crosses 1,000 WAL pages,
        // and its `fsync`s would block the worker thread, and with it every
        // request on that thread, for milliseconds. The database's
        // checkpointer thread does it instead.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(conn)
    }

    fn give_back(&self, conn: rusqlite::Connection) {
        if !conn.is_autocommit() {
            // The guest left a transaction open (it trapped, or forgot):
            // undo it rather than let the next request inherit it.
            if conn.execute_batch("ROLLBACK").is_err() {
                return;
            }
        }
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Idle connections kept for reuse now.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().expect("pool lock").len()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Every database of the application, by label.
pub struct Databases {
    by_label: HashMap<String, Arc<Pool>>,
    /// One per database, stopped when the databases are dropped.
    _checkpointers: Vec<Checkpointer>,
}

/// A thread that checkpoints one database's WAL every
/// [`CHECKPOINT_EVERY`], on a connection of its own, so that the copying
/// and the `fsync`s happen off the serving threads. Its checkpoints are
/// `PASSIVE`: they never wait for a reader or a writer, and a writer or a
/// reader never waits for them (pages still in use by a reader's snapshot
/// are copied at a later one).
struct Checkpointer {
    stop: Arc<(Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: PathBuf) -> Result<Checkpointer> {
        let conn = Pool::connect(&path).doing(|| format!("opening {}", path.display()))?;
        let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("carehub-checkpoint".into())
            .spawn(move || {
                let (flag, changed) = &*stopped;
                let mut failing = false;
                loop {
                    let guard = flag.lock().unwrap_or_else(|e| e.into_inner());
                    let (guard, _) = changed
                        .wait_timeout_while(guard, CHECKPOINT_EVERY, |stop| !*stop)
                        .unwrap_or_else(|e| e.into_inner());
                    if *guard {
                        return;
                    }
                    drop(guard);
                    match checkpoint(&conn) {
                        Ok(()) => failing = false,
                        Err(e) if !failing => {
                            failing = true;
                            tracing::warn!("checkpointing {}: {e}", path.display());
                        }
                        Err(_) => {}
                    }
                }
            })
            .doing(|| "starting a checkpointer thread".into())?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

/// One `PASSIVE` checkpoint of `conn`'s database. (It never calls the busy
/// handler; another process's checkpoint running at the time is `SQLITE_BUSY`
/// in the answer's first column, not an error.)
fn checkpoint(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (flag, changed) = &*self.stop;
        *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The file of database `label` under `data_dir`: `<label>.db`.
pub fn file_of(data_dir: &Path, label: &str) -> PathBuf {
    data_dir.join(format!("{label}.db"))
}

impl Databases {
    /// One file per label under `data_dir` ([`file_of`]), created if missing.
    pub fn open(data_dir: &Path, labels: impl IntoIterator<Item = String>) -> Result<Databases> {
        std::fs::create_dir_all(data_dir)
            .doing(|| format!("creating data directory {}", data_dir.display()))?;
        let mut by_label = HashMap::new();
        let mut checkpointers = Vec::new();
        for label in labels {
            let path = file_of(data_dir, &label);
            // Opened now, so a bad path fails at start, not at the first request.
            checkpointers.push(Checkpointer::start(path.clone())?);
            by_label.insert(label, Arc::new(Pool::new(path)));
        }
        Ok(Databases {
            by_label,
            _checkpointers: checkpointers,
        })
    }

    /// The pool for a label.
    pub fn get(&self, label: &str) -> Option<&Arc<Pool>> {
        self.by_label.get(label)
    }
}

/// Per-instance state: which databases this component may open.
#[derive(Clone)]
pub struct SqliteCtx {
    /// Labels granted by `spin.toml`.
    pub allowed: Arc<HashSet<String>>,
    /// The application's databases.
    pub databases: Arc<Databases>,
}

/// The resource behind a guest's `connection` handle.
pub struct SqliteConnection {
    conn: Option<rusqlite::Connection>,
    pool: Arc<Pool>,
    /// The database's write lock while this connection writes; released
    /// (field order: after `Drop` has handed `conn` back, rolled back) when
    /// the connection is back in autocommit mode or dropped.
    writing: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for SqliteConnection {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.give_back(conn);
        }
    }
}

/// The view the generated host traits are implemented on.
pub struct SqliteView<'a> {
    /// Per-instance state.
    pub ctx: &'a SqliteCtx,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

struct SqliteData;
impl HasData for SqliteData {
    type Data<'a> = SqliteView<'a>;
}

/// Adds `fermyon:spin/sqlite` to a linker.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> SqliteView<'_>,
) -> Result<()> {
    sqlite::add_to_linker::<T, SqliteData>(linker, get)
        .doing(|| "adding fermyon:spin/sqlite to the linker".into())
}

impl sqlite::Host for SqliteView<'_> {}

impl sqlite::HostConnection for SqliteView<'_> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteConnection>, Error>> {
        if !self.ctx.allowed.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(pool) = self.ctx.databases.get(&database) else {
            return Ok(Err(Error::NoSuchDatabase));
        };
        let conn = match pool.take() {
            Ok(c) => c,
            Err(e) => return Ok(Err(Error::Io(e.to_string()))),
        };
        let resource = self.table.push(SqliteConnection {
            conn: Some(conn),
            pool: pool.clone(),
            writing: None,
        })?;
        Ok(Ok(resource))
    }

    async fn execute(
        &mut self,
        connection: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let started = tokio::time::Instant::now();
        let c = self.table.get_mut(&connection)?;
        let Some(conn) = c.conn.as_ref() else {
            return Ok(Err(Error::InvalidConnection));
        };
        let wants_lock = c.writing.is_none() && needs_write_lock(conn, &statement);
        if wants_lock && !self.take_writer(&connection).await? {
            return Ok(Err(Error::Io(LOCKED.into())));
        }
        let mut pause = FIRST_PAUSE;
        loop {
            // Looked up again after every await: a `&Connection` (not
            // `Sync`) may not be held across one.
            let c = self.table.get_mut(&connection)?;
            let Some(conn) = c.conn.as_ref() else {
                return Ok(Err(Error::InvalidConnection));
            };
            let result = if wants_lock && conn.is_autocommit() {
                // Only another process can hold the file's lock now: wait
                // for it here rather than in SQLite's busy handler.
                without_busy_handler(conn, |conn| execute(conn, &statement, &parameters))
            } else {
                execute(conn, &statement, &parameters)
            };
            let retry =
                wants_lock && matches!(&result, Err(e) if is_busy(e)) && conn.is_autocommit();
            if conn.is_autocommit() {
                c.writing = None;
            }
            match result {
                Err(_) if retry && started.elapsed() < LOCK_WAIT => {
                    let left = LOCK_WAIT.saturating_sub(started.elapsed());
                    tokio::time::sleep(pause.min(left)).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                    // Take the gateway's lock again before the retry.
                    if !self.take_writer(&connection).await? {
                        return Ok(Err(Error::Io(LOCKED.into())));
                    }
                }
                other => return Ok(other.map_err(to_error)),
            }
        }
    }

    async fn drop(&mut self, connection: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        // Dropping the table entry hands the connection back to its pool.
        self.table.delete(connection)?;
        Ok(())
    }
}

impl SqliteView<'_> {
    /// Waits (at most [`LOCK_WAIT`]) for the gateway's write lock of the
    /// connection's database and keeps it on the connection; `false` when
    /// it did not come in time.
    async fn take_writer(
        &mut self,
        connection: &Resource<SqliteConnection>,
    ) -> wasmtime::Result<bool> {
        let writer = self.table.get(connection)?.pool.writer.clone();
        match tokio::time::timeout(LOCK_WAIT, writer.lock_owned()).await {
            Ok(guard) => {
                self.table.get_mut(connection)?.writing = Some(guard);
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }
}

/// The error of a write that waited [`LOCK_WAIT`] for the lock in vain.
const LOCKED: &str = "database is locked (another writer held it too long)";

/// Whether `statement`, run next on `conn`, may write: it starts a write
/// transaction, or it is not read-only (a write in autocommit mode, or the
/// first write of a deferred transaction).
fn needs_write_lock(conn: &rusqlite::Connection, statement: &str) -> bool {
    let words: Vec<&str> = statement.split_whitespace().take(2).collect();
    match words.as_slice() {
        [begin, kind, ..] if begin.eq_ignore_ascii_case("BEGIN") => {
            kind.eq_ignore_ascii_case("IMMEDIATE") || kind.eq_ignore_ascii_case("EXCLUSIVE")
        }
        [begin] if begin.trim_end_matches(';').eq_ignore_ascii_case("BEGIN") => false,
        _ => match conn.prepare_cached(statement) {
            Ok(stmt) => !stmt.readonly(),
            // Let the statement itself report the error.
            Err(_) => false,
        },
    }
}

/// Runs `f` with SQLite's busy handler off, then puts it back.
fn without_busy_handler<T>(
    conn: &rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.busy_timeout(Duration::ZERO)?;
    let result = f(conn);
    conn.busy_timeout(LOCK_WAIT)?;
    result
}

/// Whether a statement failed because another connection holds a lock it
/// needs (`SQLITE_BUSY`; not `SQLITE_LOCKED`, a conflict within one
/// connection, which waiting does not cure).
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy)
}

fn execute(
    conn: &rusqlite::Connection,
    statement: &str,
    parameters: &[Value],
) -> rusqlite::Result<QueryResult> {
    let mut stmt = conn.prepare_cached(statement)?;
    for (i, p) in parameters.iter().enumerate() {
        // Bound by reference: SQLite copies text and blobs itself.
        let v = match p {
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
            Value::Null => ValueRef::Null,
        };
        stmt.raw_bind_parameter(i + 1, ToSqlOutput::Borrowed(v))?;
    }
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    if columns.is_empty() {
        stmt.raw_execute()?;
        return Ok(QueryResult {
            columns,
            rows: Vec::new(),
        });
    }
    let width = columns.len();
    let mut rows = Vec::new();
    let mut cursor = stmt.raw_query();
    while let Some(row) = cursor.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Integer(i),
                ValueRef::Real(r) => Value::Real(r),
                ValueRef::Text(t) => Value::Text(match std::str::from_utf8(t) {
                    Ok(text) => text.to_owned(),
                    Err(_) => String::from_utf8_lossy(t).into_owned(),
                }),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        rows.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows })
}

fn to_error(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e
        && f.code == rusqlite::ErrorCode::DiskFull
    {
        return Error::DatabaseFull;
    }
    Error::Io(e.to_string())
}

/// The access log's tables, which live in the `accesslog` database when
/// there is one.
const LOG_TABLES: [(&str, &str); 4] = [
    (
        "log_entries",
        "seq, shard, shard_seq, insurer_number, insured_number, entry, prev_hash, hash",
    ),
    (
        "log_leaves",
        "leaf_index, entry_seq, entry_hash, shard, shard_seq",
    ),
    (
        "log_checkpoints",
        "number, tree_size, root_hash, timestamp, signature",
    ),
    ("log_frontiers", "tree_size, nodes"),
];

/// Moves the access log out of `default` (a hub upgraded from before the
/// log had a file of its own, or the empty tables default.db's migrations
/// create) into `accesslog`, already migrated: the rows are copied as they
/// are — seq, hashes and order — in one transaction of the log's file,
/// then dropped from `default`, so nothing writes them there again. Run at
/// start, before anything serves. When the log's file already holds the
/// rows (a start that stopped between copy and drop), only the drop runs;
/// when both hold different rows, this refuses to guess. Returns the
/// entries moved.
pub fn move_access_log(default: &Path, accesslog: &Path) -> Result<u64> {
    let doing = || {
        format!(
            "moving the access log from {} to {}",
            default.display(),
            accesslog.display()
        )
    };
    let conn = Pool::connect(accesslog).doing(doing)?;
    conn.execute("ATTACH DATABASE ?1 AS old", [default.to_string_lossy()])
        .doing(doing)?;
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM old.sqlite_master WHERE type = 'table' AND name = 'log_entries')",
            [],
            |r| r.get(0),
        )
        .doing(doing)?;
    // The kept subtree hashes are derived: the log's file keeps its own,
    // from the leaves (its node cursor starts at 0).
    let derived = ["log_nodes", "log_node_cursor"];
    let drop_old = || -> Result<()> {
        for table in LOG_TABLES.iter().map(|(t, _)| *t).chain(derived) {
            conn.execute_batch(&format!("DROP TABLE IF EXISTS old.{table}"))
                .doing(doing)?;
        }
        Ok(())
    };
    if !exists {
        // Moved before; a log table a later default.db migration created
        // (log_frontiers, log_nodes) is empty and goes too.
        drop_old()?;
        return Ok(0);
    }
    let count = |table: &str| -> Result<i64> {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .doing(doing)
    };
    let (old, new) = (count("old.log_entries")?, count("main.log_entries")?);
    let mut moved = 0;
    if old > 0 && new == 0 {
        conn.execute_batch("BEGIN IMMEDIATE").doing(doing)?;
        let copied = LOG_TABLES.iter().try_for_each(|(table, columns)| {
            conn.execute_batch(&format!(
                "INSERT INTO main.{table} ({columns}) SELECT {columns} FROM old.{table}"
            ))
        });
        match copied.and_then(|()| conn.execute_batch("COMMIT")) {
            Ok(()) => moved = old as u64,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e).doing(doing);
            }
        }
    } else if old > new {
        return Err(crate::Error::AccessLogInTwoFiles {
            default: default.display().to_string(),
            accesslog: accesslog.display().to_string(),
        });
    }
    drop_old()?;
    Ok(moved)
}

/// Applies migration files in order, once each, recording them in
/// `carehub_migrations`. Each file runs in its own transaction.
pub fn migrate(
    path: &Path,
    migrations: &[(&str, &str)],
    webhook_secret_key: Option<&carehub_domain::sealed::SealingKey>,
) -> Result<Vec<String>> {
    let mut conn = Pool::connect(path).doing(|| format!("opening {}", path.display()))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS carehub_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT",
    )
    .doing(|| format!("creating carehub_migrations in {}", path.display()))?;
    let mut applied = Vec::new();
    for (name, sql) in migrations {
        let done: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM carehub_migrations WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )
            .doing(|| format!("reading carehub_migrations in {}", path.display()))?;
        if done {
            continue;
        }
        let applying = || format!("applying migration {name}");
        // Said before, not only after: a migration that rebuilds a table
        // (the access log's 0003) takes a while on a large database.
        eprintln!("carehub: applying migration {name} to {}", path.display());
        let tx = conn.transaction().doing(applying)?;
        tx.execute_batch(sql).doing(applying)?;
        if *name == crate::sealing::MIGRATION {
            let key = webhook_secret_key.ok_or(crate::Error::WebhookSecretKey)?;
            crate::sealing::seal_sqlite(&tx, key)?;
        }
        tx.execute(
            "INSERT INTO carehub_migrations (name, applied_at) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            [name],
        )
        .doing(applying)?;
        tx.commit().doing(applying)?;
        applied.push((*name).to_owned());
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serving connections leave the WAL to the checkpointer thread, which
    /// copies committed pages into the database file within a few periods.
    #[test]
    fn the_checkpointer_thread_checkpoints_what_serving_connections_commit() {
        let dir = tempfile::tempdir().unwrap();
        let dbs = Databases::open(dir.path(), ["default".to_owned()]).unwrap();
        let pool = dbs.get("default").unwrap();
        let conn = pool.take().unwrap();
        let every: i64 = conn
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!(every, 0, "a serving connection checkpoints inline");
        // 8 MiB: past SQLite's automatic checkpoint (1,000 pages of 4 KiB).
        conn.execute_batch(
            "CREATE TABLE t (b BLOB); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 128) \
             INSERT INTO t SELECT zeroblob(65536) FROM n;",
        )
        .unwrap();
        pool.give_back(conn);
        let file = file_of(dir.path(), "default");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let size = std::fs::metadata(&file).unwrap().len();
            if size >= 8 << 20 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the database file is {size} bytes 5 s after the commit: not checkpointed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Dropping the databases stops (and joins) the thread.
        drop(dbs);
    }
}
