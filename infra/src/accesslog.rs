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
//!
//! Then the checkpoints ([`verify_checkpoints`]): every leaf must name an
//! entry that is still there with the same hash (else the row was removed
//! or rewritten after a checkpoint covered it: a cut-off tail shows here,
//! by shard and row), every checkpoint must carry a valid signature by the
//! hub's key (else it is forged, or signed by another key), its tree must
//! be there (no fewer leaves than its size) and its root must be the
//! RFC 9162 root of its leaves, and each checkpoint must be provably
//! consistent with the one before (a consistency proof, checked with
//! `carehub_domain::merkle::verify_consistency`). This holds every leaf in
//! memory (about 100 bytes each) and recomputes each checkpoint's root.

use crate::error::{Doing, Result};
use carehub_domain::merkle::{self, Hash};
use carehub_domain::{Checkpoint, CheckpointVerifier, GENESIS_HASH, TreeHead, chain_hash};
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
    verify_pages(|after, limit| fetch_page(&mut stmt, after, limit))
}

/// One page of [`PAGE_SQL`]: the rows after `after`, at most `limit`.
fn fetch_page(stmt: &mut rusqlite::Statement<'_>, after: i64, limit: i64) -> Result<Vec<Row>> {
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
}

/// Walks the log page by page: `fetch(after, limit)` returns the rows
/// with `seq > after` in `seq` order. Within a shard, `seq` order is
/// `shard_seq` order (an append reads its shard's head under the shard's
/// lock, so a later row of a shard always has a larger `seq`).
fn verify_pages(fetch: impl FnMut(i64, i64) -> Result<Vec<Row>>) -> Result<Verdict> {
    verify_pages_into(fetch, None)
}

/// [`verify_pages`], also recording each row's `seq` → (hash, shard,
/// shard_seq) into `seen` when given.
fn verify_pages_into(
    mut fetch: impl FnMut(i64, i64) -> Result<Vec<Row>>,
    mut seen: Option<&mut HashMap<i64, String>>,
) -> Result<Verdict> {
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
            if let Some(seen) = seen.as_deref_mut() {
                seen.insert(seq, hash.clone());
            }
            heads.insert(shard, (shard_seq, hash));
            checked += 1;
        }
    }
}

/// One `log_leaves` row: (leaf_index, entry_seq, entry_hash, shard,
/// shard_seq); shard and shard_seq are empty for leaves written before
/// migration 0006.
pub type LeafRow = (i64, i64, String, Option<String>, Option<i64>);

/// One `log_checkpoints` row: (number, tree_size, root_hash, timestamp,
/// signature).
pub type CheckpointRow = (i64, i64, String, String, String);

/// The leaves query, the same text on both databases.
pub const LEAVES_SQL: &str = "SELECT leaf_index, entry_seq, entry_hash, shard, shard_seq \
     FROM log_leaves ORDER BY leaf_index";

/// The checkpoints query, the same text on both databases.
pub const CHECKPOINTS_SQL: &str = "SELECT number, tree_size, root_hash, timestamp, signature \
     FROM log_checkpoints ORDER BY number";

/// What is wrong with the checkpoints, naming the checkpoint, the leaf and,
/// where the leaf says, the shard and row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointProblem {
    /// A leaf covered by a checkpoint names an entry that is no longer in
    /// `log_entries`: the row was removed (a cut-off tail, or the middle).
    EntryRemoved {
        /// The leaf.
        leaf_index: i64,
        /// The entry's `seq`.
        seq: i64,
        /// Its shard and place in it, as the leaf recorded them.
        shard: Option<String>,
        /// Its `shard_seq`.
        shard_seq: Option<i64>,
        /// The first checkpoint covering it, if any.
        checkpoint: Option<i64>,
    },
    /// A leaf's entry is there with another hash: rewritten after the leaf
    /// was made (with its shard's chain recomputed, or the chain check
    /// would have found it first).
    EntryRewritten {
        /// The leaf.
        leaf_index: i64,
        /// The entry's `seq`.
        seq: i64,
        /// Its shard, as the leaf recorded it.
        shard: Option<String>,
        /// Its `shard_seq`.
        shard_seq: Option<i64>,
    },
    /// The leaves are not numbered 0, 1, … (a leaf was removed).
    LeafGap {
        /// The index expected.
        expected: i64,
        /// The index found.
        found: i64,
    },
    /// The checkpoint's signature does not verify with the hub's key:
    /// forged, altered, or signed by another key.
    BadSignature {
        /// The checkpoint's number.
        number: i64,
    },
    /// The checkpoint covers more leaves than there are: leaves (and
    /// their entries) were removed after it was made.
    TreeTruncated {
        /// The checkpoint's number.
        number: i64,
        /// Its tree size.
        tree_size: i64,
        /// The leaves there are.
        leaves: i64,
    },
    /// The root of the checkpoint's leaves is not its root hash: a leaf it
    /// covers was changed or replaced.
    RootMismatch {
        /// The checkpoint's number.
        number: i64,
    },
    /// Checkpoint numbers skip, or a tree shrank from one to the next, or
    /// the consistency proof between them does not verify.
    Inconsistent {
        /// The earlier checkpoint.
        from: i64,
        /// The later one.
        to: i64,
    },
}

impl std::fmt::Display for CheckpointProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = |shard: &Option<String>, shard_seq: &Option<i64>| match (shard, shard_seq) {
            (Some(s), Some(n)) => format!("shard {s}, entry {n} of the shard"),
            _ => "shard not recorded".to_owned(),
        };
        match self {
            CheckpointProblem::EntryRemoved {
                leaf_index,
                seq,
                shard,
                shard_seq,
                checkpoint,
            } => write!(
                f,
                "entry seq {seq} ({}) was removed after it became leaf {leaf_index}{}",
                place(shard, shard_seq),
                checkpoint.map_or(String::new(), |n| format!(", covered by checkpoint {n}"))
            ),
            CheckpointProblem::EntryRewritten {
                leaf_index,
                seq,
                shard,
                shard_seq,
            } => write!(
                f,
                "entry seq {seq} ({}) does not have the hash leaf {leaf_index} recorded: rewritten",
                place(shard, shard_seq)
            ),
            CheckpointProblem::LeafGap { expected, found } => {
                write!(f, "leaf {expected} is missing (the next leaf is {found})")
            }
            CheckpointProblem::BadSignature { number } => write!(
                f,
                "checkpoint {number}: the signature does not verify with the hub's public key (forged, altered or signed by another key)"
            ),
            CheckpointProblem::TreeTruncated {
                number,
                tree_size,
                leaves,
            } => write!(
                f,
                "checkpoint {number} covers {tree_size} entries but only {leaves} leaves remain: leaves {leaves}..{} were removed",
                tree_size - 1
            ),
            CheckpointProblem::RootMismatch { number } => write!(
                f,
                "checkpoint {number}: the root of its leaves is not its root hash (a covered leaf changed)"
            ),
            CheckpointProblem::Inconsistent { from, to } => write!(
                f,
                "checkpoints {from} and {to} are not consistent (numbering, tree sizes or consistency proof)"
            ),
        }
    }
}

/// What the checkpoint verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointVerdict {
    /// Leaves checked.
    pub leaves: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Everything wrong, in the order found (empty: all holds).
    pub problems: Vec<CheckpointProblem>,
}

/// Checks `leaves` against the entries' hashes (`entries`: seq → hash, as
/// the chain walk saw them) and `checkpoints` against the leaves and `key`.
/// `key` may be `None` only when there are no checkpoints.
pub fn verify_checkpoints(
    entries: &HashMap<i64, String>,
    leaves: &[LeafRow],
    checkpoints: &[CheckpointRow],
    key: Option<&CheckpointVerifier>,
) -> Result<CheckpointVerdict> {
    let mut problems = Vec::new();
    // The first checkpoint covering leaf i: the first whose size exceeds i.
    let covering =
        |index: i64| -> Option<i64> { checkpoints.iter().find(|c| c.1 > index).map(|c| c.0) };
    let mut hashes: Vec<Hash> = Vec::with_capacity(leaves.len());
    for (expected, (index, seq, hash, shard, shard_seq)) in leaves.iter().enumerate() {
        let expected = expected as i64;
        if *index != expected && problems.is_empty() {
            problems.push(CheckpointProblem::LeafGap {
                expected,
                found: *index,
            });
        }
        match entries.get(seq) {
            None => problems.push(CheckpointProblem::EntryRemoved {
                leaf_index: *index,
                seq: *seq,
                shard: shard.clone(),
                shard_seq: *shard_seq,
                checkpoint: covering(*index),
            }),
            Some(h) if h != hash => problems.push(CheckpointProblem::EntryRewritten {
                leaf_index: *index,
                seq: *seq,
                shard: shard.clone(),
                shard_seq: *shard_seq,
            }),
            Some(_) => {}
        }
        let data = merkle::parse_hash(hash).unwrap_or([0; 32]);
        hashes.push(merkle::leaf_hash(&data));
    }
    if !checkpoints.is_empty() && key.is_none() {
        return Err(crate::Error::NoLogPublicKey);
    }
    let mut previous: Option<(i64, usize, Hash)> = None;
    for (number, size, root_hash, timestamp, signature) in checkpoints {
        let checkpoint = Checkpoint {
            head: TreeHead {
                number: *number,
                tree_size: (*size).max(0) as u64,
                root_hash: root_hash.clone(),
                timestamp: timestamp.clone(),
            },
            signature: signature.clone(),
        };
        if let Some(key) = key
            && !key.verify(&checkpoint)
        {
            problems.push(CheckpointProblem::BadSignature { number: *number });
        }
        let size_n = (*size).max(0) as usize;
        let root = merkle::parse_hash(root_hash);
        if size_n > hashes.len() {
            problems.push(CheckpointProblem::TreeTruncated {
                number: *number,
                tree_size: *size,
                leaves: hashes.len() as i64,
            });
            previous = None;
            continue;
        }
        let computed = merkle::root(&hashes[..size_n]);
        if root != Some(computed) {
            problems.push(CheckpointProblem::RootMismatch { number: *number });
        }
        if let Some((prev_number, prev_size, prev_root)) = previous {
            let consistent = *number == prev_number + 1
                && prev_size <= size_n
                && merkle::consistency_proof(prev_size, &hashes[..size_n]).is_some_and(|proof| {
                    merkle::verify_consistency(
                        prev_size as u64,
                        size_n as u64,
                        &prev_root,
                        &root.unwrap_or(computed),
                        &proof,
                    )
                });
            if !consistent {
                problems.push(CheckpointProblem::Inconsistent {
                    from: prev_number,
                    to: *number,
                });
            }
        }
        previous = Some((*number, size_n, root.unwrap_or(computed)));
    }
    Ok(CheckpointVerdict {
        leaves: leaves.len() as u64,
        checkpoints: checkpoints.len() as u64,
        problems,
    })
}

/// Everything `carehub verify-log` checks: the shard chains, then (when
/// they hold) the leaves and checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The chains.
    pub chains: Verdict,
    /// The checkpoints; `None` when a chain is broken (reported first).
    pub checkpoints: Option<CheckpointVerdict>,
}

impl Report {
    /// Whether everything holds.
    pub fn intact(&self) -> bool {
        matches!(self.chains, Verdict::Intact { .. })
            && self
                .checkpoints
                .as_ref()
                .is_some_and(|c| c.problems.is_empty())
    }
}

fn report_from(
    chains: Verdict,
    entries: &HashMap<i64, String>,
    leaves: Vec<LeafRow>,
    checkpoints: Vec<CheckpointRow>,
    key: Option<&CheckpointVerifier>,
) -> Result<Report> {
    let checkpoints = match chains {
        Verdict::Intact { .. } => Some(verify_checkpoints(entries, &leaves, &checkpoints, key)?),
        Verdict::Broken { .. } => None,
    };
    Ok(Report {
        chains,
        checkpoints,
    })
}

/// The SQLite file that holds the access log: `path`, or, when `path` is a
/// `default.db` whose log was moved into a file of its own, the
/// `accesslog.db` beside it.
pub fn log_file(path: &Path) -> Result<std::path::PathBuf> {
    let sibling = path.with_file_name(format!("{}.db", crate::ACCESSLOG_LABEL));
    if sibling == path || !sibling.exists() {
        return Ok(path.to_owned());
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .doing(|| format!("opening {}", path.display()))?;
    let has_log: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'log_entries')",
            [],
            |r| r.get(0),
        )
        .doing(|| format!("reading {}", path.display()))?;
    Ok(if has_log { path.to_owned() } else { sibling })
}

/// Verifies the chains and the checkpoints of the SQLite file at `path`
/// (or the log file beside it, [`log_file`]).
pub fn verify_all(path: &Path, key: Option<&CheckpointVerifier>) -> Result<Report> {
    let path = log_file(path)?;
    let path = path.as_path();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .doing(|| format!("opening {}", path.display()))?;
    verify_all_connection(&conn, key)
}

/// [`verify_all`] through an open connection.
pub fn verify_all_connection(
    conn: &Connection,
    key: Option<&CheckpointVerifier>,
) -> Result<Report> {
    let mut entries = HashMap::new();
    let chains = {
        let mut stmt = conn
            .prepare(PAGE_SQL)
            .doing(|| "reading log_entries (is this a carehub database, migrated?)".into())?;
        verify_pages_into(
            |after, limit| fetch_page(&mut stmt, after, limit),
            Some(&mut entries),
        )?
    };
    let leaves: Vec<LeafRow> = conn
        .prepare(LEAVES_SQL)
        .and_then(|mut stmt| {
            stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(|rows| rows.collect())
        })
        .doing(|| "reading log_leaves".into())?;
    let checkpoints: Vec<CheckpointRow> = conn
        .prepare(CHECKPOINTS_SQL)
        .and_then(|mut stmt| {
            stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(|rows| rows.collect())
        })
        .doing(|| "reading log_checkpoints".into())?;
    report_from(chains, &entries, leaves, checkpoints, key)
}

/// Verifies the chains and the checkpoints of the PostgreSQL database at
/// `address`, connecting under the gateway's TLS policy
/// (`host::pg::tls`: `sslmode=verify-full` with `sslrootcert` or
/// `SPIN_VARIABLE_DATABASE_CA`, unless `CAREHUB_PG_ALLOW_UNVERIFIED=1`).
pub fn verify_all_postgres(address: &str, key: Option<&CheckpointVerifier>) -> Result<Report> {
    use sqlx::Connection as _;
    let mut vars = crate::variables::Values::new();
    if let Ok(ca) = std::env::var("SPIN_VARIABLE_DATABASE_CA") {
        vars.insert("database_ca".into(), ca);
    }
    let policy = crate::host::pg::tls::TlsPolicy::from_environment(&vars)?;
    let (options, _trust) = policy.options(address)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .doing(|| "starting the async runtime".into())?;
    let mut conn = rt
        .block_on(sqlx::PgConnection::connect_with(&options))
        .doing(|| {
            format!(
                "connecting to PostgreSQL at {}:{}",
                options.get_host(),
                options.get_port()
            )
        })?;
    let mut entries = HashMap::new();
    let chains = verify_pages_into(
        |after, limit| rt.block_on(crate::host::pg::access_log_page(&mut conn, after, limit)),
        Some(&mut entries),
    );
    let rest = chains.and_then(|chains| {
        let leaves: Vec<LeafRow> = rt
            .block_on(sqlx::query_as(LEAVES_SQL).fetch_all(&mut conn))
            .doing(|| "reading log_leaves".into())?;
        let checkpoints: Vec<CheckpointRow> = rt
            .block_on(sqlx::query_as(CHECKPOINTS_SQL).fetch_all(&mut conn))
            .doing(|| "reading log_checkpoints".into())?;
        report_from(chains, &entries, leaves, checkpoints, key)
    });
    let _ = rt.block_on(conn.close());
    rest
}

/// What `carehub verify-log` prints and whether it passed.
#[derive(Debug, Clone)]
pub struct Printed {
    /// What holds, for standard output.
    pub text: String,
    /// What is broken, one finding per line, for standard error.
    pub errors: String,
    /// Whether everything holds (exit 0).
    pub intact: bool,
}

/// `carehub verify-log`: the database (`database`, default
/// `<state_dir>/data/default.db`, or PostgreSQL at `database_url`) checked
/// against the public key (`public_key`, default
/// `<state_dir>/pki/log-signing.pub.pem` when it exists).
pub fn run_verify_log(
    state_dir: &Path,
    database: Option<std::path::PathBuf>,
    database_url: Option<&str>,
    public_key: Option<std::path::PathBuf>,
) -> Result<Printed> {
    let key_path = public_key.clone().or_else(|| {
        let dev = crate::devpki::DevPaths::new(state_dir).log_public_key();
        dev.exists().then_some(dev)
    });
    let key = match &key_path {
        None => None,
        Some(path) => {
            let pem =
                std::fs::read_to_string(path).doing(|| format!("reading {}", path.display()))?;
            Some(
                CheckpointVerifier::from_pem(&pem)
                    .map_err(|_| crate::Error::LogPublicKey(path.display().to_string()))?,
            )
        }
    };
    let report = match database_url {
        Some(url) => verify_all_postgres(url, key.as_ref())?,
        None => {
            let path = database.unwrap_or_else(|| {
                let data = state_dir.join("data");
                let log = data.join(format!("{}.db", crate::ACCESSLOG_LABEL));
                if log.exists() {
                    log
                } else {
                    data.join("default.db")
                }
            });
            if !path.exists() {
                return Err(crate::Error::Io {
                    doing: format!("opening {}", path.display()),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no database"),
                });
            }
            verify_all(&path, key.as_ref())?
        }
    };
    Ok(print_report(&report))
}

/// The report as `carehub verify-log` prints it.
pub fn print_report(report: &Report) -> Printed {
    use std::fmt::Write as _;
    let mut text = String::new();
    let mut errors = String::new();
    match &report.chains {
        Verdict::Intact { entries, shards } => {
            let _ = writeln!(
                text,
                "access log chains intact: {entries} entries in {shards} shards"
            );
        }
        Verdict::Broken {
            shard,
            seq,
            shard_seq,
            problem,
        } => {
            let _ = writeln!(
                errors,
                "access log BROKEN in shard {shard} at seq {seq} (entry {shard_seq} of the shard): {problem}"
            );
        }
    }
    if let Some(c) = &report.checkpoints {
        if c.problems.is_empty() {
            let _ = writeln!(
                text,
                "checkpoints intact: {} checkpoints over {} leaves, signatures, roots and consistency verified",
                c.checkpoints, c.leaves
            );
        }
        for p in &c.problems {
            let _ = writeln!(errors, "access log BROKEN: {p}");
        }
    }
    Printed {
        text,
        errors,
        intact: report.intact(),
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

    /// An access-log file of the schema before 0003 (UNIQUE hash, the
    /// person index) holding a pre-sharding chain, two person shards, their
    /// leaves and a signed checkpoint over them, migrated to the current
    /// schema as a hub upgrading starts: its chains and its checkpoint still
    /// verify, it is still append-only, and a fork of a shard is still
    /// refused.
    #[test]
    fn an_access_log_migrated_to_the_slim_table_keeps_its_chains_and_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accesslog.db");
        let (old, new): (Vec<_>, Vec<_>) = crate::migrations::SQLITE_ACCESSLOG
            .iter()
            .copied()
            .partition(|(name, _)| *name < "0003");
        assert_eq!((old.len(), new.len()), (2, 2));
        crate::host::sqlite::migrate(&path, &old, None).unwrap();
        let conn = Connection::open(&path).unwrap();
        let mut heads: HashMap<&str, (i64, String)> = HashMap::new();
        let mut leaves = Vec::new();
        for i in 0..9 {
            let (shard, insured) = [
                ("legacy", "0000000001"),
                ("person:131016:0000000001", "0000000001"),
                ("person:131016:0000000002", "0000000002"),
            ][i % 3];
            let (n, prev) = heads
                .get(shard)
                .cloned()
                .unwrap_or((0, GENESIS_HASH.to_owned()));
            let e = format!("{{\"n\":{i}}}");
            let h = chain_hash(&prev, &e);
            conn.execute(
                "INSERT INTO log_entries (shard, shard_seq, insurer_number, insured_number, \
                 entry, prev_hash, hash) VALUES (?1, ?2, '131016', ?3, ?4, ?5, ?6)",
                (shard, n + 1, insured, &e, &prev, &h),
            )
            .unwrap();
            conn.execute(
                "INSERT INTO log_leaves (leaf_index, entry_seq, entry_hash, shard, shard_seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                (i as i64, i as i64 + 1, &h, shard, n + 1),
            )
            .unwrap();
            leaves.push(merkle::leaf_hash(&merkle::parse_hash(&h).unwrap()));
            heads.insert(shard, (n + 1, h));
        }
        let signer = carehub_domain::CheckpointSigner::from_seed(&[5u8; 32]);
        let cp = signer.sign(TreeHead {
            number: 1,
            tree_size: 9,
            root_hash: hex::encode(merkle::root(&leaves)),
            timestamp: "2026-01-01T00:00:00Z".into(),
        });
        conn.execute(
            "INSERT INTO log_checkpoints (number, tree_size, root_hash, timestamp, signature) \
             VALUES (1, 9, ?1, ?2, ?3)",
            (&cp.head.root_hash, &cp.head.timestamp, &cp.signature),
        )
        .unwrap();
        drop(conn);

        let applied =
            crate::host::sqlite::migrate(&path, crate::migrations::SQLITE_ACCESSLOG, None).unwrap();
        assert_eq!(applied, ["0003_slim_log_entries.sql", "0004_log_nodes.sql"]);
        let conn = Connection::open(&path).unwrap();
        let report = verify_all_connection(&conn, Some(&signer.verifier())).unwrap();
        assert!(report.intact(), "{report:?}");
        assert_eq!(
            report.chains,
            Verdict::Intact {
                entries: 9,
                shards: 3
            }
        );
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log_entries' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            indexes,
            ["log_entries_by_shard", "log_entries_legacy_by_person"]
        );
        // Still append-only, and a second row in a shard's place is refused.
        for sql in [
            "UPDATE log_entries SET entry = '{}' WHERE seq = 2",
            "DELETE FROM log_entries WHERE seq = 9",
        ] {
            let err = conn.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        let fork = conn.execute(
            "INSERT INTO log_entries (shard, shard_seq, entry, prev_hash, hash) \
             VALUES ('person:131016:0000000001', 3, '{}', 'x', 'y')",
            [],
        );
        assert!(fork.unwrap_err().to_string().contains("UNIQUE"));
    }

    /// Leaves over `n` entries and checkpoints of the given sizes, signed.
    fn signed_log(
        n: usize,
        sizes: &[usize],
    ) -> (
        HashMap<i64, String>,
        Vec<LeafRow>,
        Vec<CheckpointRow>,
        CheckpointVerifier,
    ) {
        let signer = carehub_domain::CheckpointSigner::from_seed(&[3u8; 32]);
        let mut entries = HashMap::new();
        let mut leaves = Vec::new();
        let mut hashes = Vec::new();
        for i in 0..n {
            let h = chain_hash(GENESIS_HASH, &format!("{{\"n\":{i}}}"));
            entries.insert(i as i64 + 1, h.clone());
            hashes.push(merkle::leaf_hash(&merkle::parse_hash(&h).unwrap()));
            leaves.push((
                i as i64,
                i as i64 + 1,
                h,
                Some("s".to_owned()),
                Some(i as i64 + 1),
            ));
        }
        let checkpoints = sizes
            .iter()
            .enumerate()
            .map(|(k, &size)| {
                let cp = signer.sign(TreeHead {
                    number: k as i64 + 1,
                    tree_size: size as u64,
                    root_hash: hex::encode(merkle::root(&hashes[..size])),
                    timestamp: "2026-01-01T00:00:00Z".into(),
                });
                (
                    cp.head.number,
                    size as i64,
                    cp.head.root_hash,
                    cp.head.timestamp,
                    cp.signature,
                )
            })
            .collect();
        (entries, leaves, checkpoints, signer.verifier())
    }

    #[test]
    fn checkpoints_verify_and_each_kind_of_damage_is_named() {
        let (entries, leaves, cps, key) = signed_log(9, &[3, 4, 9]);
        let ok = verify_checkpoints(&entries, &leaves, &cps, Some(&key)).unwrap();
        assert_eq!(ok.problems, vec![]);
        assert_eq!((ok.leaves, ok.checkpoints), (9, 3));
        // No key but checkpoints: refused, not passed.
        assert!(verify_checkpoints(&entries, &leaves, &cps, None).is_err());
        // A covered leaf replaced (its entry too): the roots no longer match.
        let (mut e2, mut l2) = (entries.clone(), leaves.clone());
        let other = chain_hash(GENESIS_HASH, "{}");
        l2[1].2 = other.clone();
        e2.insert(2, other);
        let found = verify_checkpoints(&e2, &l2, &cps, Some(&key))
            .unwrap()
            .problems;
        assert!(
            found.contains(&CheckpointProblem::RootMismatch { number: 1 }),
            "{found:?}"
        );
        assert!(
            found.contains(&CheckpointProblem::RootMismatch { number: 3 }),
            "{found:?}"
        );
        // An entry whose hash differs from its leaf: rewritten.
        let mut e3 = entries.clone();
        e3.insert(5, chain_hash(GENESIS_HASH, "{}"));
        let found = verify_checkpoints(&e3, &leaves, &cps, Some(&key))
            .unwrap()
            .problems;
        assert_eq!(
            found,
            vec![CheckpointProblem::EntryRewritten {
                leaf_index: 4,
                seq: 5,
                shard: Some("s".into()),
                shard_seq: Some(5)
            }]
        );
        // A checkpoint removed from the middle: numbers skip.
        let skipped = vec![cps[0].clone(), cps[2].clone()];
        let found = verify_checkpoints(&entries, &leaves, &skipped, Some(&key))
            .unwrap()
            .problems;
        assert_eq!(
            found,
            vec![CheckpointProblem::Inconsistent { from: 1, to: 3 }]
        );
        // A tree that shrank from one checkpoint to the next (both signed).
        let (entries, leaves, shrunk, key) = signed_log(9, &[4, 3]);
        let found = verify_checkpoints(&entries, &leaves, &shrunk, Some(&key))
            .unwrap()
            .problems;
        assert_eq!(
            found,
            vec![CheckpointProblem::Inconsistent { from: 1, to: 2 }]
        );
    }
}
