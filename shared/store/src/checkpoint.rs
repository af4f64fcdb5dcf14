//! The access log's Merkle leaves and signed checkpoints (RFC 9162 tree
//! heads, `carehub_domain::merkle` / `checkpoint`).
//!
//! The checkpoint job ([`make_checkpoint`]) runs in one transaction on the
//! log's database under one lock ([`LockKey::Checkpoints`]): it appends every committed `log_entries`
//! row that is not yet a leaf, in `seq` order, as the next leaves
//! (`log_leaves`), computes the RFC 9162 root over all leaves and stores a
//! signed tree head (`log_checkpoints`). Appends to the log never touch the
//! leaves, so they do not contend with the job or with each other. When
//! no entry is new since the last checkpoint, no checkpoint is made (the
//! last one still commits to the whole log); nor is one made for an empty
//! log.
//!
//! Cost: a run hashes its new leaves into the tree from the stored
//! frontier of the last one (`log_frontiers`), and keeps the hash of every
//! perfect subtree they complete (`log_nodes`, about one per leaf). A
//! proof ([`inclusion_proof`], [`consistency_proof`]) then reads about two
//! kept subtrees per level of the tree, `O(log n)` statements, never the
//! leaves of the whole tree; on a log from before `log_nodes` the job
//! keeps the older subtrees too, [`BACKFILL_LEAVES`] leaves a run, and a
//! proof hashes what is not kept yet from its leaves, [`FOLD_LEAVES`] at a
//! time.

use carehub_domain::merkle::{self, Frontier, Hash, Subtree};
use carehub_domain::{
    Checkpoint, CheckpointSigner, InsuredNumber, InsurerNumber, PersonRef, TreeHead,
};

use crate::sql::{SqlStore, push_value_rows};
use crate::{AccessLogStore, Db, LockKey, RowReader, StoreError, Value, in_log_transaction};

/// Leaves per multi-row insert (5 parameters each).
const LEAF_CHUNK: usize = 256;

/// Subtree hashes per multi-row insert (3 parameters each).
const NODE_CHUNK: usize = 256;

/// A log entry that is not yet a leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLeaf {
    /// The entry's `seq` in `log_entries`.
    pub entry_seq: i64,
    /// Its shard.
    pub shard: String,
    /// Its place in the shard.
    pub shard_seq: i64,
    /// Its chained hash (hex): the leaf's data.
    pub entry_hash: String,
}

/// An access-log entry and, once a checkpoint job reached it, its leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLeaf {
    /// The entry's `seq`.
    pub seq: i64,
    /// Whom it is about, if anyone.
    pub person: Option<PersonRef>,
    /// Its chained hash (hex).
    pub entry_hash: String,
    /// Its leaf index, if it is a leaf yet.
    pub leaf_index: Option<u64>,
}

/// The leaves and checkpoints.
pub trait CheckpointStore: AccessLogStore {
    /// Entries not yet leaves, in `seq` order.
    fn unleafed_entries(&self, limit: usize) -> Result<Vec<NewLeaf>, StoreError>;
    /// How many leaves there are.
    fn leaf_count(&self) -> Result<u64, StoreError>;
    /// Appends `leaves` as leaves `first`, `first + 1`, … Inside the
    /// job's transaction.
    fn append_leaves(&self, first: u64, leaves: &[NewLeaf]) -> Result<(), StoreError>;
    /// The RFC 9162 leaf hashes of the first `size` leaves, in order.
    fn leaf_hashes(&self, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.leaf_range(0, size)
    }
    /// The leaf hashes of leaves `from..to`, in order.
    fn leaf_range(&self, from: u64, to: u64) -> Result<Vec<Hash>, StoreError>;
    /// The stored frontier of the largest tree of at most `size` leaves,
    /// if any.
    fn frontier_at_most(&self, size: u64) -> Result<Option<Frontier>, StoreError>;
    /// Stores a frontier. Inside the job's transaction.
    fn insert_frontier(&self, frontier: &Frontier) -> Result<(), StoreError>;
    /// The checkpoint with the highest number.
    fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError>;
    /// The checkpoint numbered `number`.
    fn checkpoint(&self, number: i64) -> Result<Option<Checkpoint>, StoreError>;
    /// Stores a checkpoint. Inside the job's transaction.
    fn insert_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError>;
    /// The entry `seq` and its leaf, if the entry exists.
    fn entry_leaf(&self, seq: i64) -> Result<Option<EntryLeaf>, StoreError>;

    /// The kept hash of a perfect subtree of two or more leaves, if it is
    /// kept (`log_nodes`).
    fn node(&self, subtree: Subtree) -> Result<Option<Hash>, StoreError>;
    /// Keeps subtree hashes (a repeat of a kept one changes nothing).
    /// Inside the job's transaction.
    fn insert_nodes(&self, nodes: &[(Subtree, Hash)]) -> Result<(), StoreError>;
    /// The leaf count below which every perfect subtree is kept
    /// (`log_node_cursor`): the job keeps those of new leaves as it adds
    /// them, and those of older leaves (a log from before `log_nodes`)
    /// from this cursor on, a bounded number a run.
    fn node_cursor(&self) -> Result<u64, StoreError>;
    /// Moves the cursor. Inside the job's transaction.
    fn set_node_cursor(&self, leaves: u64) -> Result<(), StoreError>;

    /// The hash of a perfect subtree of the first leaves: a leaf's own,
    /// a kept one, or (not kept: leaves the job has not reached yet)
    /// computed from its halves, down to runs of at most [`FOLD_LEAVES`]
    /// leaves read at once. With every subtree kept, one statement.
    fn subtree_hash(&self, subtree: Subtree) -> Result<Hash, StoreError> {
        if subtree.level == 0 {
            let leaf = self.leaf_range(subtree.index, subtree.index + 1)?;
            return Ok(leaf[0]);
        }
        if let Some(h) = self.node(subtree)? {
            return Ok(h);
        }
        if subtree.end_leaf() - subtree.first_leaf() <= FOLD_LEAVES {
            return Ok(merkle::root(
                &self.leaf_range(subtree.first_leaf(), subtree.end_leaf())?,
            ));
        }
        let (left, right) = subtree.children().expect("level above 0");
        Ok(merkle::node_hash(
            &self.subtree_hash(left)?,
            &self.subtree_hash(right)?,
        ))
    }
}

/// A subtree not kept is hashed from its leaves when it has at most this
/// many, from its halves when it has more.
pub const FOLD_LEAVES: u64 = 1024;

/// Leaves a run of the checkpoint job hashes into kept subtrees at most,
/// besides its new leaves (a log from before `log_nodes`).
pub const BACKFILL_LEAVES: u64 = 65_536;

/// The inclusion proof of leaf `index` in the tree of the first `size`
/// leaves, from kept subtrees (RFC 9162 §2.1.3.1); `None` when `index` is
/// out of range.
pub fn inclusion_proof<S: CheckpointStore + ?Sized>(
    store: &S,
    index: u64,
    size: u64,
) -> Result<Option<Vec<Hash>>, StoreError> {
    merkle::inclusion_proof_from(index, size, &mut |t| store.subtree_hash(t))
}

/// The consistency proof from the tree of the first `old_size` leaves to
/// the tree of the first `size`, from kept subtrees (RFC 9162 §2.1.4.1);
/// `None` when `old_size` exceeds `size`.
pub fn consistency_proof<S: CheckpointStore + ?Sized>(
    store: &S,
    old_size: u64,
    size: u64,
) -> Result<Option<Vec<Hash>>, StoreError> {
    merkle::consistency_proof_from(old_size, size, &mut |t| store.subtree_hash(t))
}

/// What one run of the checkpoint job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRun {
    /// Entries that became leaves in this run.
    pub new_leaves: u64,
    /// The checkpoint made, or `None` when nothing was new.
    pub checkpoint: Option<Checkpoint>,
}

/// Entries made leaves per transaction of the checkpoint job.
pub const LEAF_BATCH: usize = 2048;

/// Batches one run of the job makes leaves at most; the rest waits for the
/// next run (entries keep arriving while it runs).
const MAX_BATCHES: usize = 512;

/// One run of the checkpoint job at `now` (RFC 3339 UTC): new entries
/// become leaves, and if there were any, a checkpoint over every leaf is
/// signed with `signer` and stored. Each step is a short transaction under
/// [`LockKey::Checkpoints`] on the log's database: up to [`LEAF_BATCH`]
/// entries become leaves (and the tree's frontier after them is stored),
/// batch after batch, then the checkpoint is signed from the last
/// frontier. So concurrent runs (two gateways, a cron and a retry)
/// serialise and never reuse a leaf index or a number, and the appends of
/// reads wait at most one batch for the job, however long the log grew
/// since the last run.
pub fn make_checkpoint<S: CheckpointStore + ?Sized>(
    store: &S,
    signer: &CheckpointSigner,
    now: &str,
) -> Result<CheckpointRun, StoreError> {
    let mut new_leaves = 0;
    for _ in 0..MAX_BATCHES {
        let added = in_log_transaction(store, &[LockKey::Checkpoints], |s| {
            let first = s.leaf_count()?;
            let new = s.unleafed_entries(LEAF_BATCH)?;
            if new.is_empty() {
                return Ok(0);
            }
            s.append_leaves(first, &new)?;
            let mut frontier = frontier_of(s, first)?;
            let mut nodes = Vec::with_capacity(new.len());
            for leaf in &new {
                frontier.push_noting(leaf_of(&leaf.entry_hash)?, &mut |t, h| nodes.push((t, *h)));
            }
            s.insert_nodes(&nodes)?;
            if s.node_cursor()? == first {
                s.set_node_cursor(frontier.size())?;
            }
            s.insert_frontier(&frontier)?;
            Ok::<_, StoreError>(new.len())
        })?;
        new_leaves += added as u64;
        if added < LEAF_BATCH {
            break;
        }
    }
    backfill_nodes(store)?;
    in_log_transaction(store, &[LockKey::Checkpoints], |s| {
        let size = s.leaf_count()?;
        let latest = s.latest_checkpoint()?;
        let stale = latest.as_ref().is_some_and(|c| c.head.tree_size == size);
        if size == 0 || stale {
            return Ok(CheckpointRun {
                new_leaves,
                checkpoint: None,
            });
        }
        let frontier = frontier_of(s, size)?;
        let head = TreeHead {
            number: latest.map_or(1, |c| c.head.number + 1),
            tree_size: size,
            root_hash: hex(&frontier.root()),
            timestamp: now.to_owned(),
        };
        let checkpoint = signer.sign(head);
        s.insert_checkpoint(&checkpoint)?;
        s.insert_frontier(&frontier)?;
        Ok(CheckpointRun {
            new_leaves,
            checkpoint: Some(checkpoint),
        })
    })
}

/// Keeps the subtrees of up to [`BACKFILL_LEAVES`] leaves from the node
/// cursor on, when it is behind the leaves (a log from before
/// `log_nodes`), in transactions of [`LEAF_BATCH`] leaves: each grows the
/// frontier at the cursor (its subtrees are kept already) over the next
/// leaves, keeps what they complete and moves the cursor.
fn backfill_nodes<S: CheckpointStore + ?Sized>(store: &S) -> Result<(), StoreError> {
    let mut done = 0;
    while done < BACKFILL_LEAVES {
        let moved = in_log_transaction(store, &[LockKey::Checkpoints], |s| {
            let from = s.node_cursor()?;
            let to = s.leaf_count()?.min(from + LEAF_BATCH as u64);
            if from >= to {
                return Ok::<_, StoreError>(0);
            }
            let parts = merkle::decomposition(from)
                .into_iter()
                .map(|t| s.subtree_hash(t))
                .collect::<Result<Vec<_>, _>>()?;
            let mut frontier = Frontier::from_nodes(from, parts).expect("one per set bit");
            let mut nodes = Vec::new();
            for leaf in s.leaf_range(from, to)? {
                frontier.push_noting(leaf, &mut |t, h| nodes.push((t, *h)));
            }
            s.insert_nodes(&nodes)?;
            s.set_node_cursor(to)?;
            Ok(to - from)
        })?;
        if moved == 0 {
            break;
        }
        done += moved;
    }
    Ok(())
}

/// The frontier of the tree of the first `size` leaves: the nearest stored
/// one below it, grown over the leaves after it; without any (a log from
/// before frontiers were kept), from every leaf, once.
fn frontier_of<S: CheckpointStore + ?Sized>(s: &S, size: u64) -> Result<Frontier, StoreError> {
    match s.frontier_at_most(size)? {
        Some(mut f) => {
            f.extend(&s.leaf_range(f.size(), size)?);
            Ok(f)
        }
        None => Ok(Frontier::of(&s.leaf_hashes(size)?)),
    }
}

/// Lower-case hex of a hash.
pub fn hex(hash: &Hash) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(64);
    for b in hash {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The RFC 9162 leaf hash of an entry whose chained hash is `entry_hash`
/// (hex): `SHA-256(0x00 || the hash's 32 bytes)`.
pub fn leaf_of(entry_hash: &str) -> Result<Hash, StoreError> {
    merkle::parse_hash(entry_hash)
        .map(|h| merkle::leaf_hash(&h))
        .ok_or_else(|| StoreError::Corrupt("log_leaves: entry_hash is not a SHA-256".into()))
}

fn checkpoint_row(row: &[Value]) -> Result<Checkpoint, StoreError> {
    let r = RowReader::new(row, "log_checkpoints");
    let size = r.int(1)?;
    Ok(Checkpoint {
        head: TreeHead {
            number: r.int(0)?,
            tree_size: u64::try_from(size)
                .map_err(|_| StoreError::Corrupt("log_checkpoints: negative tree_size".into()))?,
            root_hash: r.text(2)?.to_owned(),
            timestamp: r.text(3)?.to_owned(),
        },
        signature: r.text(4)?.to_owned(),
    })
}

const CHECKPOINT_COLUMNS: &str = "number, tree_size, root_hash, timestamp, signature";

impl<D: Db> CheckpointStore for SqlStore<D> {
    fn unleafed_entries(&self, limit: usize) -> Result<Vec<NewLeaf>, StoreError> {
        let rows = self.log_db().execute(
            "SELECT e.seq, e.shard, e.shard_seq, e.hash FROM log_entries e \
             WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.entry_seq = e.seq) \
             ORDER BY e.seq LIMIT ?1",
            vec![Value::Integer(limit as i64)],
        )?;
        rows.rows
            .iter()
            .map(|row| {
                let r = RowReader::new(row, "log_entries");
                Ok(NewLeaf {
                    entry_seq: r.int(0)?,
                    shard: r.text(1)?.to_owned(),
                    shard_seq: r.int(2)?,
                    entry_hash: r.text(3)?.to_owned(),
                })
            })
            .collect()
    }

    fn leaf_count(&self) -> Result<u64, StoreError> {
        // Leaf indexes are 0, 1, … without gaps (append_leaves): the
        // primary key's last one gives the count without a scan.
        let rows = self.log_db().execute(
            "SELECT COALESCE(MAX(leaf_index) + 1, 0) FROM log_leaves",
            Vec::new(),
        )?;
        let n = rows
            .rows
            .first()
            .map(|row| RowReader::new(row, "log_leaves").int(0))
            .transpose()?
            .unwrap_or(0);
        Ok(n as u64)
    }

    fn append_leaves(&self, first: u64, leaves: &[NewLeaf]) -> Result<(), StoreError> {
        let mut index = first as i64;
        for chunk in leaves.chunks(LEAF_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO log_leaves (leaf_index, entry_seq, entry_hash, shard, shard_seq) VALUES ",
            );
            push_value_rows(&mut sql, chunk.len(), 5, 1, "");
            let mut params = Vec::with_capacity(chunk.len() * 5);
            for leaf in chunk {
                params.push(Value::Integer(index));
                params.push(Value::Integer(leaf.entry_seq));
                params.push(Value::Text(leaf.entry_hash.clone()));
                params.push(Value::Text(leaf.shard.clone()));
                params.push(Value::Integer(leaf.shard_seq));
                index += 1;
            }
            self.log_db().execute(&sql, params)?;
        }
        Ok(())
    }

    fn leaf_range(&self, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        let rows = self.log_db().execute(
            "SELECT entry_hash FROM log_leaves WHERE leaf_index >= ?1 AND leaf_index < ?2 \
             ORDER BY leaf_index",
            vec![Value::Integer(from as i64), Value::Integer(to as i64)],
        )?;
        if rows.rows.len() as u64 != to.saturating_sub(from) {
            return Err(StoreError::Corrupt(format!(
                "log_leaves: {} leaves in {from}..{to}",
                rows.rows.len()
            )));
        }
        rows.rows
            .iter()
            .map(|row| leaf_of(RowReader::new(row, "log_leaves").text(0)?))
            .collect()
    }

    fn frontier_at_most(&self, size: u64) -> Result<Option<Frontier>, StoreError> {
        let rows = self.log_db().execute(
            "SELECT tree_size, nodes FROM log_frontiers WHERE tree_size <= ?1 \
             ORDER BY tree_size DESC LIMIT 1",
            vec![Value::Integer(size as i64)],
        )?;
        let Some(row) = rows.rows.first() else {
            return Ok(None);
        };
        let r = RowReader::new(row, "log_frontiers");
        let size = r.int(0)? as u64;
        Frontier::from_text(size, r.text(1)?)
            .map(Some)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "log_frontiers: the frontier of tree size {size} does not fit it"
                ))
            })
    }

    fn insert_frontier(&self, f: &Frontier) -> Result<(), StoreError> {
        // The checkpoint stores the frontier its last batch stored: a
        // repeat of a size changes nothing.
        self.log_db().execute(
            "INSERT INTO log_frontiers (tree_size, nodes) VALUES (?1, ?2) \
             ON CONFLICT (tree_size) DO NOTHING",
            vec![Value::Integer(f.size() as i64), Value::Text(f.to_text())],
        )?;
        Ok(())
    }

    fn node(&self, t: Subtree) -> Result<Option<Hash>, StoreError> {
        let rows = self.log_db().execute(
            "SELECT hash FROM log_nodes WHERE level = ?1 AND idx = ?2",
            vec![
                Value::Integer(i64::from(t.level)),
                Value::Integer(t.index as i64),
            ],
        )?;
        rows.rows
            .first()
            .map(|row| {
                let text = RowReader::new(row, "log_nodes").text(0)?;
                merkle::parse_hash(text)
                    .ok_or_else(|| StoreError::Corrupt("log_nodes: hash is not a SHA-256".into()))
            })
            .transpose()
    }

    fn insert_nodes(&self, nodes: &[(Subtree, Hash)]) -> Result<(), StoreError> {
        for chunk in nodes.chunks(NODE_CHUNK) {
            let mut sql = String::from("INSERT INTO log_nodes (level, idx, hash) VALUES ");
            push_value_rows(&mut sql, chunk.len(), 3, 1, "");
            let mut params = Vec::with_capacity(chunk.len() * 3);
            for (t, h) in chunk {
                params.push(Value::Integer(i64::from(t.level)));
                params.push(Value::Integer(t.index as i64));
                params.push(Value::Text(hex(h)));
            }
            sql.push_str(" ON CONFLICT (level, idx) DO NOTHING");
            self.log_db().execute(&sql, params)?;
        }
        Ok(())
    }

    fn node_cursor(&self) -> Result<u64, StoreError> {
        let rows = self.log_db().execute(
            "SELECT next_leaf FROM log_node_cursor WHERE id = 1",
            Vec::new(),
        )?;
        let row = rows
            .rows
            .first()
            .ok_or_else(|| StoreError::Corrupt("log_node_cursor: no row".into()))?;
        let n = RowReader::new(row, "log_node_cursor").int(0)?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt("log_node_cursor: negative".into()))
    }

    fn set_node_cursor(&self, leaves: u64) -> Result<(), StoreError> {
        self.log_db().execute(
            "UPDATE log_node_cursor SET next_leaf = ?1 WHERE id = 1",
            vec![Value::Integer(leaves as i64)],
        )?;
        Ok(())
    }

    fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let rows = self.log_db().execute(
            &format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM log_checkpoints ORDER BY number DESC LIMIT 1"
            ),
            Vec::new(),
        )?;
        rows.rows.first().map(|r| checkpoint_row(r)).transpose()
    }

    fn checkpoint(&self, number: i64) -> Result<Option<Checkpoint>, StoreError> {
        let rows = self.log_db().execute(
            &format!("SELECT {CHECKPOINT_COLUMNS} FROM log_checkpoints WHERE number = ?1"),
            vec![Value::Integer(number)],
        )?;
        rows.rows.first().map(|r| checkpoint_row(r)).transpose()
    }

    fn insert_checkpoint(&self, c: &Checkpoint) -> Result<(), StoreError> {
        self.log_db().execute(
            "INSERT INTO log_checkpoints (number, tree_size, root_hash, timestamp, signature) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            vec![
                Value::Integer(c.head.number),
                Value::Integer(c.head.tree_size as i64),
                Value::Text(c.head.root_hash.clone()),
                Value::Text(c.head.timestamp.clone()),
                Value::Text(c.signature.clone()),
            ],
        )?;
        Ok(())
    }

    fn entry_leaf(&self, seq: i64) -> Result<Option<EntryLeaf>, StoreError> {
        let rows = self.log_db().execute(
            "SELECT e.seq, e.insurer_number, e.insured_number, e.hash, l.leaf_index \
             FROM log_entries e LEFT JOIN log_leaves l ON l.entry_seq = e.seq WHERE e.seq = ?1",
            vec![Value::Integer(seq)],
        )?;
        let Some(row) = rows.rows.first() else {
            return Ok(None);
        };
        let r = RowReader::new(row, "log_entries");
        let person = match (r.opt_text(1)?, r.opt_text(2)?) {
            (Some(_), Some(_)) => Some(PersonRef::new(
                r.parse(1, InsurerNumber::parse)?,
                r.parse(2, InsuredNumber::parse)?,
            )),
            _ => None,
        };
        Ok(Some(EntryLeaf {
            seq: r.int(0)?,
            person,
            entry_hash: r.text(3)?.to_owned(),
            leaf_index: r.opt_int(4)?.map(|i| i as u64),
        }))
    }
}
