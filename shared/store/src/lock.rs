//! What a write transaction locks: the subjects it touches, never the hub.
//!
//! Every write transaction names the [`LockKey`]s of what it reads and
//! then writes (the person whose documents, consent, registrations or
//! progress change; the idempotency key whose answer is stored; the
//! submission, subscription, inbox or access-log shard; the dispatcher's
//! cursors; the checkpoint job). Two transactions wait for each other only
//! when they share a key. On PostgreSQL each key is a transaction-scoped
//! advisory lock (`pg_advisory_xact_lock(id)`, released at `COMMIT` or
//! `ROLLBACK`) taken right after `BEGIN`, in ascending id order, so two
//! transactions that lock several keys cannot deadlock. On SQLite the
//! database file has one writer at a time anyway (`BEGIN IMMEDIATE`, WAL),
//! so the keys cost nothing there and nothing else depends on that lock.
//!
//! A key's id is the first eight bytes of `SHA-256(text)` as a signed
//! big-endian integer; two different keys sharing an id only make two
//! unrelated transactions wait for each other, never break one.

use carehub_domain::{PersonRef, Principal};
use sha2::{Digest, Sha256};

/// One thing a write transaction serialises on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LockKey {
    /// A person: their documents, consent events, registrations and
    /// certification applications.
    Person(PersonRef),
    /// One idempotency key of one principal: its stored answer.
    Idempotency(Principal, String),
    /// A municipality's inbox of submissions (delivering pulls).
    Inbox(Principal),
    /// One relay submission (its state machine).
    Submission(String),
    /// One webhook subscription (secret, enabled state).
    Subscription(String),
    /// The webhook dispatcher's fan-out cursors and claims.
    Dispatcher,
    /// One access-log shard's chain head (`carehub_domain::shard_of`).
    LogShard(String),
    /// The checkpoint job: leaf indexes and checkpoint numbers.
    Checkpoints,
}

impl LockKey {
    /// The text the id is derived from (distinct for distinct keys).
    pub fn text(&self) -> String {
        match self {
            LockKey::Person(p) => format!(
                "person:{}:{}",
                p.insurer_number.as_str(),
                p.insured_number.as_str()
            ),
            LockKey::Idempotency(principal, key) => {
                format!("idempotency:{}:{key}", principal.to_urn())
            }
            LockKey::Inbox(p) => format!("inbox:{}", p.to_urn()),
            LockKey::Submission(id) => format!("submission:{id}"),
            LockKey::Subscription(id) => format!("subscription:{id}"),
            LockKey::Dispatcher => "dispatcher".to_owned(),
            LockKey::LogShard(shard) => format!("log-shard:{shard}"),
            LockKey::Checkpoints => "checkpoints".to_owned(),
        }
    }

    /// The advisory-lock id.
    pub fn id(&self) -> i64 {
        let digest = Sha256::digest(self.text().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(first)
    }
}

/// The ids of `keys`, ascending and without repeats: the order every
/// transaction takes its locks in.
pub fn lock_order(keys: &[LockKey]) -> Vec<i64> {
    let mut ids: Vec<i64> = keys.iter().map(LockKey::id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use carehub_domain::{InsuredNumber, InsurerNumber};

    fn person(n: &str) -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse(n).unwrap(),
        )
    }

    #[test]
    fn keys_are_distinct_stable_and_ordered() {
        let a = LockKey::Person(person("0000000001"));
        let b = LockKey::Person(person("0000000002"));
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id(), LockKey::Person(person("0000000001")).id());
        assert_ne!(
            LockKey::LogShard("x".into()).id(),
            LockKey::Submission("x".into()).id()
        );
        let order = lock_order(&[b.clone(), a.clone(), b.clone()]);
        assert_eq!(order.len(), 2);
        assert!(order[0] < order[1]);
        assert_eq!(lock_order(&[a.clone(), b.clone()]), lock_order(&[b, a]));
    }
}
