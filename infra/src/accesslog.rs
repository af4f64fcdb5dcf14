//! `carehub verify-log`: checks the sharded access log (`log_entries`) in
//! a SQLite database file or a PostgreSQL database, natively (the
//! components append to it; this only reads).
//!
//! Every shard (a person's chain, a caller's chain for reads naming no
//! person, the `legacy` chain of entries written before sharding) must run
//! `shard_seq` 1, 2, … without a gap, each row's `prev_hash` must be the
//! previous row's `hash` in the shard (64 zeros first) and each `hash` must
//! equal `chain_hash(prev_hash, entry)`. A changed entry or hash, a removed
//! row in the middle of a shard or a reordering is reported at the first row
//! concerned, by shard and `seq`. Rows are read in pages of global `seq`,
//! holding only each shard's head in memory.

use crate::error::{Doing, Result};
use carehub_domain::{GENESIS_HASH, chain_hash};
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::Path;

/// Rows read per query.
const PAGE: i64 = 1000;

/// One `log_entries` row as verified: (seq, shard, shard_seq, entry,
/// prev_hash, hash).
pub type Row = (i64, String, i64, String, String, String);

/// What the verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every link of every shard holds.
    Intact {
        /// Rows checked.
        entries: u64,
        /// Shards checked.
        shards: u64,
    },
    /// The first row found that does not follow from its shard's previous
    /// row.
    Broken {
        /// The shard.
        shard: String,
        /// The row's `seq` in `log_entries`.
        seq: i64,
        /// Its `shard_seq`.
        shard_seq: i64,
        /// What is wrong with it.
        problem: Problem,
    },
}

/// Why a row breaks its shard's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Its hash does not follow from its previous hash and its entry: the
    /// entry (or the hash) was edited.
    Edited,
    /// Its previous hash is not the previous row's hash in the shard.
    Unlinked,
    /// Rows before it in the shard are missing (`shard_seq` skips).
    Gap,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Problem::Edited => {
                "its hash does not follow from its previous hash and its entry (edited)"
            }
            Problem::Unlinked => "its previous hash is not the previous entry's hash in the shard",
            Problem::Gap => "entries before it in the shard are missing (removed)",
        })
    }
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

/// The page query, the same text on both databases (placeholders aside).
pub const PAGE_SQL: &str = "SELECT seq, shard, shard_seq, entry, prev_hash, hash FROM log_entries \
     WHERE seq > ?1 ORDER BY seq LIMIT ?2";

/// Verifies the access log through an open connection.
pub fn verify_connection(conn: &Connection) -> Result<Verdict> {
    let mut stmt = conn
        .prepare(PAGE_SQL)
        .doing(|| "reading log_entries (is this a carehub database, migrated?)".into())?;
    verify_pages(|after, limit| {
        stmt.query_map((after, limit), |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
        .doing(|| "reading log_entries".into())
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

/// Walks the log page by page: `fetch(after, limit)` returns the rows
/// with `seq > after` in `seq` order. Within a shard, `seq` order is
/// `shard_seq` order (an append reads its shard's head under the shard's
/// lock, so a later row of a shard always has a larger `seq`).
fn verify_pages(mut fetch: impl FnMut(i64, i64) -> Result<Vec<Row>>) -> Result<Verdict> {
    let mut heads: HashMap<String, (i64, String)> = HashMap::new();
    let mut after = i64::MIN;
    let mut checked: u64 = 0;
    loop {
        let rows = fetch(after, PAGE)?;
        let Some(last) = rows.last() else {
            return Ok(Verdict::Intact {
                entries: checked,
                shards: heads.len() as u64,
            });
        };
        after = last.0;
        for (seq, shard, shard_seq, entry, prev_hash, hash) in rows {
            let (last_seq, last_hash) = heads
                .get(&shard)
                .map_or((0, GENESIS_HASH), |(n, h)| (*n, h.as_str()));
            let problem = if shard_seq != last_seq + 1 {
                Some(Problem::Gap)
            } else if prev_hash != last_hash {
                Some(Problem::Unlinked)
            } else if chain_hash(&prev_hash, &entry) != hash {
                Some(Problem::Edited)
            } else {
                None
            };
            if let Some(problem) = problem {
                return Ok(Verdict::Broken {
                    shard,
                    seq,
                    shard_seq,
                    problem,
                });
            }
            heads.insert(shard, (shard_seq, hash));
            checked += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of `entries` (shard, entry) appended as the store does.
    fn log(entries: &[(&str, String)]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE log_entries (seq INTEGER PRIMARY KEY, shard TEXT NOT NULL, \
             shard_seq INTEGER NOT NULL, entry TEXT NOT NULL, prev_hash TEXT NOT NULL, \
             hash TEXT NOT NULL)",
        )
        .unwrap();
        let mut heads: HashMap<&str, (i64, String)> = HashMap::new();
        for (shard, e) in entries {
            let (n, prev) = heads
                .get(shard)
                .cloned()
                .unwrap_or((0, GENESIS_HASH.to_owned()));
            let h = chain_hash(&prev, e);
            conn.execute(
                "INSERT INTO log_entries (shard, shard_seq, entry, prev_hash, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                (shard, n + 1, e, &prev, &h),
            )
            .unwrap();
            heads.insert(shard, (n + 1, h));
        }
        conn
    }

    fn entries(n: usize) -> Vec<(&'static str, String)> {
        (0..n)
            .map(|i| (["a", "b", "c"][i % 3], format!("{{\"n\":{i}}}")))
            .collect()
    }

    #[test]
    fn an_intact_log_and_an_empty_one() {
        assert_eq!(
            verify_connection(&log(&[])).unwrap(),
            Verdict::Intact {
                entries: 0,
                shards: 0
            }
        );
        assert_eq!(
            verify_connection(&log(&entries(2500))).unwrap(),
            Verdict::Intact {
                entries: 2500,
                shards: 3
            }
        );
    }

    #[test]
    fn names_the_shard_and_row_of_an_edit_a_gap_and_a_relink() {
        let conn = log(&entries(1500));
        conn.execute(
            "UPDATE log_entries SET entry = '{\"n\":-1}' WHERE seq = 1200",
            [],
        )
        .unwrap();
        assert_eq!(
            verify_connection(&conn).unwrap(),
            Verdict::Broken {
                shard: "c".into(),
                seq: 1200,
                shard_seq: 400,
                problem: Problem::Edited
            }
        );
        // A removed row shows at the next row of its shard.
        let conn = log(&entries(30));
        conn.execute("DELETE FROM log_entries WHERE seq = 7", [])
            .unwrap();
        assert_eq!(
            verify_connection(&conn).unwrap(),
            Verdict::Broken {
                shard: "a".into(),
                seq: 10,
                shard_seq: 4,
                problem: Problem::Gap
            }
        );
        // A row whose hash was recomputed after an edit no longer links.
        let conn = log(&entries(30));
        let fixed = chain_hash(GENESIS_HASH, "{}");
        conn.execute(
            "UPDATE log_entries SET entry = '{}', hash = ?1 WHERE seq = 1",
            [&fixed],
        )
        .unwrap();
        assert!(matches!(
            verify_connection(&conn).unwrap(),
            Verdict::Broken {
                seq: 4,
                problem: Problem::Unlinked,
                ..
            }
        ));
    }

    #[test]
    fn a_database_upgraded_from_the_single_chain_keeps_its_entries_verifiable() {
        let conn = Connection::open_in_memory().unwrap();
        let (before, after): (Vec<_>, Vec<_>) = crate::migrations::SQLITE
            .iter()
            .partition(|(name, _)| *name < "0005");
        for (_, sql) in &before {
            conn.execute_batch(sql).unwrap();
        }
        // The old schema's one chain, as the old store wrote it.
        let mut prev = GENESIS_HASH.to_owned();
        for i in 0..5 {
            let e = format!("{{\"n\":{i}}}");
            let h = chain_hash(&prev, &e);
            conn.execute(
                "INSERT INTO access_log (insurer_number, insured_number, entry, hash) \
                 VALUES ('131016', '0000000001', ?1, ?2)",
                (&e, &h),
            )
            .unwrap();
            prev = h;
        }
        for (_, sql) in &after {
            conn.execute_batch(sql).unwrap();
        }
        assert_eq!(
            verify_connection(&conn).unwrap(),
            Verdict::Intact {
                entries: 5,
                shards: 1
            }
        );
        let legacy: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM log_entries WHERE shard = 'legacy'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(legacy, 5);
        // An edit of a copied entry is still found.
        conn.execute_batch("DROP TRIGGER log_entries_are_append_only_update")
            .unwrap();
        conn.execute("UPDATE log_entries SET entry = '{}' WHERE seq = 3", [])
            .unwrap();
        assert!(matches!(
            verify_connection(&conn).unwrap(),
            Verdict::Broken {
                seq: 3,
                problem: Problem::Edited,
                ..
            }
        ));
    }
}
