//! `carehub verify-log`: checks the access log's hash chain in a SQLite
//! database file or a PostgreSQL database, natively (the components append
//! to it; this only reads).
//!
//! Each row's `hash` must equal `chain_hash(previous row's hash, entry)`
//! from the genesis (`carehub_domain::verify_chain`). A changed entry or
//! hash, a removed row or a reordering breaks the link at the first row
//! concerned, which the report names by its `seq`. Rows are read in pages,
//! so a long log is never held in memory whole.

use crate::error::{Doing, Result};
use carehub_domain::{GENESIS_HASH, verify_chain_from};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Rows read per query.
const PAGE: i64 = 1000;

/// What the verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every link holds.
    Intact {
        /// Rows checked.
        entries: u64,
        /// The last row's hash (the genesis hash for an empty log): keep it
        /// elsewhere to detect a later truncation, which a chain alone
        /// cannot show.
        head: String,
    },
    /// The first row whose stored hash does not follow from the previous
    /// row's hash and its own entry.
    Broken {
        /// The row's `seq` in `access_log`.
        seq: i64,
        /// Its position in the chain, from 0 (every row before it is
        /// intact).
        position: u64,
    },
}

/// Verifies the access log of the database file at `path`, opened
/// read-only.
pub fn verify(path: &Path) -> Result<Verdict> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .doing(|| format!("opening {}", path.display()))?;
    verify_connection(&conn)
}

/// Verifies the access log through an open connection.
pub fn verify_connection(conn: &Connection) -> Result<Verdict> {
    let mut stmt = conn
        .prepare("SELECT seq, entry, hash FROM access_log WHERE seq > ?1 ORDER BY seq LIMIT ?2")
        .doing(|| "reading access_log (is this a carehub database, migrated?)".into())?;
    verify_pages(|after, limit| {
        stmt.query_map((after, limit), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
            .doing(|| "reading access_log".into())
    })
}

/// Verifies the access log of the PostgreSQL database at `address` (a
/// connection string, as in `database_url`).
pub fn verify_postgres(address: &str) -> Result<Verdict> {
    use sqlx::Connection as _;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .doing(|| "starting the async runtime".into())?;
    let options =
        crate::host::pg::connect_options(address).doing(|| "parsing the database URL".into())?;
    let mut conn = rt
        .block_on(sqlx::PgConnection::connect_with(&options))
        .doing(|| {
            format!(
                "connecting to PostgreSQL at {}:{}",
                options.get_host(),
                options.get_port()
            )
        })?;
    let verdict = verify_pages(|after, limit| {
        rt.block_on(crate::host::pg::access_log_page(&mut conn, after, limit))
    });
    let _ = rt.block_on(conn.close());
    verdict
}

/// Walks the chain page by page: `fetch(after, limit)` returns the rows
/// with `seq > after` in `seq` order, `(seq, entry, hash)`.
fn verify_pages(
    mut fetch: impl FnMut(i64, i64) -> Result<Vec<(i64, String, String)>>,
) -> Result<Verdict> {
    let mut prev = GENESIS_HASH.to_owned();
    let mut after = i64::MIN;
    let mut checked: u64 = 0;
    loop {
        let rows = fetch(after, PAGE)?;
        let Some(last) = rows.last() else {
            return Ok(Verdict::Intact {
                entries: checked,
                head: prev,
            });
        };
        after = last.0;
        let page: Vec<(String, String)> = rows
            .iter()
            .map(|(_, entry, hash)| (entry.clone(), hash.clone()))
            .collect();
        if let Err(i) = verify_chain_from(&prev, &page) {
            return Ok(Verdict::Broken {
                seq: rows[i].0,
                position: checked + i as u64,
            });
        }
        checked += rows.len() as u64;
        prev.clone_from(&last.2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carehub_domain::chain_hash;

    fn log(entries: &[&str]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE access_log (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL, hash TEXT NOT NULL)",
        )
        .unwrap();
        let mut prev = GENESIS_HASH.to_owned();
        for e in entries {
            let h = chain_hash(&prev, e);
            conn.execute(
                "INSERT INTO access_log (entry, hash) VALUES (?1, ?2)",
                (e, &h),
            )
            .unwrap();
            prev = h;
        }
        conn
    }

    #[test]
    fn an_intact_log_and_an_empty_one() {
        assert_eq!(
            verify_connection(&log(&[])).unwrap(),
            Verdict::Intact {
                entries: 0,
                head: GENESIS_HASH.to_owned()
            }
        );
        let entries: Vec<String> = (0..2500).map(|i| format!("{{\"n\":{i}}}")).collect();
        let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
        let conn = log(&refs);
        let head: String = conn
            .query_row(
                "SELECT hash FROM access_log ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            verify_connection(&conn).unwrap(),
            Verdict::Intact {
                entries: 2500,
                head
            }
        );
    }

    #[test]
    fn names_the_first_broken_row_across_pages() {
        let entries: Vec<String> = (0..1500).map(|i| format!("{{\"n\":{i}}}")).collect();
        let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
        let conn = log(&refs);
        conn.execute(
            "UPDATE access_log SET entry = '{\"n\":-1}' WHERE seq = 1200",
            [],
        )
        .unwrap();
        assert_eq!(
            verify_connection(&conn).unwrap(),
            Verdict::Broken {
                seq: 1200,
                position: 1199
            }
        );
        // A removed row breaks the link of the row after it.
        let conn = log(&refs);
        conn.execute("DELETE FROM access_log WHERE seq = 7", [])
            .unwrap();
        assert!(matches!(
            verify_connection(&conn).unwrap(),
            Verdict::Broken { seq: 8, .. }
        ));
    }
}
