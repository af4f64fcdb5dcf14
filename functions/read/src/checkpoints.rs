//! The access log's signed checkpoints and proofs (issue 12), independent
//! of Spin:
//!
//! * `POST /checkpoints` — the checkpoint job (scheduler principal only):
//!   new entries become Merkle leaves and, if there were any, a signed tree
//!   head is stored ([`carehub_store::make_checkpoint`]).
//! * `GET /checkpoints/latest`, `GET /checkpoints/{number}` — a signed tree
//!   head with the key that signed it; any authenticated principal
//!   (`policy::records::may_fetch_checkpoints`).
//! * `GET /checkpoints/{number}/consistency?from=m` — the RFC 9162
//!   consistency proof from checkpoint `m`'s tree to checkpoint `number`'s.
//! * `GET /persons/{insurer}/{insured}/accesses/{seq}/proof?checkpoint=n` —
//!   the inclusion proof of one entry of the person's access log in
//!   checkpoint `n`'s tree (the latest by default), for whoever may list
//!   that log (`policy::records::may_prove_access`).
//!
//! An entry's leaf data is its chained hash (32 bytes, `hash` in the access
//! list), its leaf hash `SHA-256(0x00 || data)` (RFC 9162 §2.1.1).

use carehub_domain::ProblemType;
use carehub_domain::policy::records::{
    may_fetch_checkpoints, may_make_checkpoint, may_prove_access,
};
use carehub_domain::{Checkpoint, CheckpointSigner, CheckpointVerifier, PersonRef, Principal};
use carehub_guest::http::Reply;
use carehub_guest::problem::{forbidden, internal, invalid_request};
use carehub_guest::routing::parse_query;
use carehub_store::checkpoint::{self, hex};
use carehub_store::{CheckpointStore, make_checkpoint};
use serde::Serialize;

/// A checkpoint as served: the signed tree head, its signature, and the
/// key that made it (its id and SPKI PEM), so that an outside party can
/// keep it and check it later.
#[derive(Serialize)]
pub struct CheckpointView<'a> {
    number: i64,
    tree_size: u64,
    root_hash: &'a str,
    timestamp: &'a str,
    signature: &'a str,
    key_id: String,
    public_key: String,
    /// The exact text signed (`carehub_domain::TreeHead::signed_text`).
    signed_text: String,
}

impl<'a> CheckpointView<'a> {
    /// `checkpoint` as served, naming `key`.
    pub fn new(checkpoint: &'a Checkpoint, key: &CheckpointVerifier) -> Self {
        CheckpointView {
            number: checkpoint.head.number,
            tree_size: checkpoint.head.tree_size,
            root_hash: &checkpoint.head.root_hash,
            timestamp: &checkpoint.head.timestamp,
            signature: &checkpoint.signature,
            key_id: key.key_id(),
            public_key: key.to_pem(),
            signed_text: checkpoint.head.signed_text(),
        }
    }
}

#[derive(Serialize)]
struct RunView<'a> {
    new_leaves: u64,
    checkpoint: Option<CheckpointView<'a>>,
}

/// `POST /checkpoints`: one run of the checkpoint job.
pub fn run<S: CheckpointStore + ?Sized>(
    store: &S,
    principal: &Principal,
    signer: &CheckpointSigner,
    now: &str,
) -> Reply {
    if !may_make_checkpoint(principal) {
        return forbidden();
    }
    match make_checkpoint(store, signer, now) {
        Ok(run) => {
            let key = signer.verifier();
            Reply::json(
                200,
                &RunView {
                    new_leaves: run.new_leaves,
                    checkpoint: run
                        .checkpoint
                        .as_ref()
                        .map(|c| CheckpointView::new(c, &key)),
                },
            )
        }
        Err(e) => internal("checkpoint job", &e),
    }
}

fn not_found(what: &str) -> Reply {
    Reply::problem_of(
        ProblemType::CheckpointNotFound,
        format!("There is no checkpoint {what}."),
    )
}

fn not_checkpointed(detail: &str) -> Reply {
    Reply::problem_of(ProblemType::LogEntryNotCheckpointed, detail)
}

/// A checkpoint number from the path or the query: a positive integer.
pub fn parse_number(field: &str, text: &str) -> Result<i64, Reply> {
    text.parse::<i64>()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| invalid_request(field, "must be a positive integer"))
}

fn load<S: CheckpointStore + ?Sized>(store: &S, number: i64) -> Result<Checkpoint, Reply> {
    match store.checkpoint(number) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(not_found(&format!("numbered {number}"))),
        Err(e) => Err(internal("reading a checkpoint", &e)),
    }
}

fn latest<S: CheckpointStore + ?Sized>(store: &S) -> Result<Option<Checkpoint>, Reply> {
    store
        .latest_checkpoint()
        .map_err(|e| internal("reading the latest checkpoint", &e))
}

/// `GET /checkpoints/latest` (`number` = `None`) and
/// `GET /checkpoints/{number}`.
pub fn get<S: CheckpointStore + ?Sized>(
    store: &S,
    principal: &Principal,
    number: Option<&str>,
    key: &CheckpointVerifier,
) -> Reply {
    if !may_fetch_checkpoints(principal) {
        return forbidden();
    }
    let found = match number {
        Some(text) => parse_number("number", text).and_then(|n| load(store, n)),
        None => latest(store).and_then(|c| c.ok_or_else(|| not_found("yet"))),
    };
    match found {
        Ok(c) => Reply::json(200, &CheckpointView::new(&c, key)),
        Err(reply) => reply,
    }
}

#[derive(Serialize)]
struct ConsistencyView<'a> {
    /// The older checkpoint.
    first: CheckpointView<'a>,
    /// The newer one.
    second: CheckpointView<'a>,
    /// RFC 9162 §2.1.4 consistency proof from `first.tree_size` to
    /// `second.tree_size`, hex.
    proof: Vec<String>,
}

/// `GET /checkpoints/{number}/consistency?from=m`.
pub fn consistency<S: CheckpointStore + ?Sized>(
    store: &S,
    principal: &Principal,
    number: &str,
    query: &str,
    key: &CheckpointVerifier,
) -> Reply {
    if !may_fetch_checkpoints(principal) {
        return forbidden();
    }
    consistency_of(store, number, query, key).unwrap_or_else(|reply| reply)
}

fn consistency_of<S: CheckpointStore + ?Sized>(
    store: &S,
    number: &str,
    query: &str,
    key: &CheckpointVerifier,
) -> Result<Reply, Reply> {
    let second = parse_number("number", number)?;
    let mut from = None;
    for (_, value) in parse_query(query, &["from"])? {
        from = Some(parse_number("from", &value)?);
    }
    let first = from.ok_or_else(|| invalid_request("from", "is required"))?;
    if first > second {
        return Err(invalid_request(
            "from",
            "must not be greater than the checkpoint's number",
        ));
    }
    let (a, b) = (load(store, first)?, load(store, second)?);
    let proof = checkpoint::consistency_proof(store, a.head.tree_size, b.head.tree_size)
        .map_err(|e| internal("reading the log's tree", &e))?
        .ok_or_else(|| internal("consistency proof", &"older tree larger than newer"))?;
    Ok(Reply::json(
        200,
        &ConsistencyView {
            first: CheckpointView::new(&a, key),
            second: CheckpointView::new(&b, key),
            proof: proof.iter().map(hex).collect(),
        },
    ))
}

#[derive(Serialize)]
struct InclusionView<'a> {
    /// The entry's `seq` (as in the access list).
    seq: i64,
    /// Its chained hash, hex: the leaf's data.
    entry_hash: &'a str,
    /// `SHA-256(0x00 || entry hash bytes)`, hex.
    leaf_hash: String,
    /// Its index among the leaves.
    leaf_index: u64,
    /// The tree it is proved in.
    tree_size: u64,
    /// RFC 9162 §2.1.3 inclusion proof (audit path), hex, leaf to root.
    audit_path: Vec<String>,
    /// The checkpoint whose root the path leads to.
    checkpoint: CheckpointView<'a>,
}

/// `GET /persons/{insurer}/{insured}/accesses/{seq}/proof?checkpoint=n`.
/// An entry that does not exist or is about someone else is the generic
/// 403, as is a caller who may not list this person's accesses.
pub fn inclusion<S: CheckpointStore + ?Sized>(
    store: &S,
    principal: &Principal,
    token_person: Option<&PersonRef>,
    person: &PersonRef,
    seq: &str,
    query: &str,
    key: &CheckpointVerifier,
) -> Reply {
    if !may_prove_access(principal, person, token_person) {
        return forbidden();
    }
    inclusion_of(store, person, seq, query, key).unwrap_or_else(|reply| reply)
}

fn inclusion_of<S: CheckpointStore + ?Sized>(
    store: &S,
    person: &PersonRef,
    seq: &str,
    query: &str,
    key: &CheckpointVerifier,
) -> Result<Reply, Reply> {
    let seq = parse_number("seq", seq)?;
    let mut number = None;
    for (_, value) in parse_query(query, &["checkpoint"])? {
        number = Some(parse_number("checkpoint", &value)?);
    }
    let entry = match store.entry_leaf(seq) {
        Ok(Some(e)) if e.person.as_ref() == Some(person) => e,
        Ok(_) => return Err(forbidden()),
        Err(e) => return Err(internal("reading a log entry", &e)),
    };
    let checkpoint = match number {
        Some(n) => load(store, n)?,
        None => latest(store)?.ok_or_else(|| {
            not_checkpointed("No checkpoint has been made yet; ask again after the next one.")
        })?,
    };
    let index = match entry.leaf_index {
        Some(i) if i < checkpoint.head.tree_size => i,
        _ => {
            return Err(not_checkpointed(
                "This entry is not covered by that checkpoint; ask for a later one.",
            ));
        }
    };
    let path = checkpoint::inclusion_proof(store, index, checkpoint.head.tree_size)
        .map_err(|e| internal("reading the log's tree", &e))?
        .ok_or_else(|| internal("inclusion proof", &"leaf index out of range"))?;
    let leaf =
        checkpoint::leaf_of(&entry.entry_hash).map_err(|e| internal("reading a log entry", &e))?;
    Ok(Reply::json(
        200,
        &InclusionView {
            seq: entry.seq,
            entry_hash: &entry.entry_hash,
            leaf_hash: hex(&leaf),
            leaf_index: index,
            tree_size: checkpoint.head.tree_size,
            audit_path: path.iter().map(hex).collect(),
            checkpoint: CheckpointView::new(&checkpoint, key),
        },
    ))
}
