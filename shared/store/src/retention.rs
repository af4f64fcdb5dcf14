//! Retention: what the purge job deletes, and nothing else.
//!
//! * Idempotency records older than their retention (they no longer answer
//!   anyway, see [`SqlStore::with_idempotency_valid_from`]);
//! * webhook messages delivered before their retention, with their
//!   attempts. Pending and failed messages stay (a failed one can still be
//!   redelivered), and so do the events they came from.
//!
//! Append-only history — documents and their versions, consent events,
//! registrations, certification steps, relay events, the outbox's events
//! and the access log — is never touched; the tables' triggers would refuse
//! it. Deletes run in batches, each its own short write transaction, so a
//! large backlog never holds the writers for long: a run does at most
//! `max_batches` of each and the next run goes on.

use std::fmt::Write as _;

use crate::sql::SqlStore;
use crate::{Db, LockKey, RowReader, StoreError, Value, in_transaction};

/// Idempotency records deleted per transaction.
pub const IDEMPOTENCY_BATCH: i64 = 5_000;
/// Delivered messages deleted per transaction.
pub const MESSAGE_BATCH: i64 = 500;

/// What one purge deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Expired idempotency records.
    pub idempotency_records: u64,
    /// Delivered webhook messages past retention.
    pub webhook_messages: u64,
    /// Their delivery attempts.
    pub webhook_attempts: u64,
    /// Whether more remain (the run stopped at its batch limit).
    pub more: bool,
}

fn count<D: Db>(store: &SqlStore<D>, sql: &str, params: Vec<Value>) -> Result<u64, StoreError> {
    let rows = store.db().execute(sql, params)?;
    let row = rows
        .rows
        .first()
        .ok_or_else(|| StoreError::Corrupt("a count returned no row".into()))?;
    let n = RowReader::new(row, "count").int(0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn placeholders(count: usize, first: usize) -> String {
    let mut s = String::new();
    for i in 0..count {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "?{}", first + i);
    }
    s
}

impl<D: Db> SqlStore<D> {
    /// Deletes up to `limit` idempotency records created before
    /// `created_before`, inside the caller's write transaction; how many.
    pub fn purge_idempotency_batch(
        &self,
        created_before: &str,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let n = count(
            self,
            "SELECT COUNT(*) FROM (SELECT 1 AS one FROM idempotency_records \
             WHERE created_at < ?1 LIMIT ?2) AS expired",
            vec![created_before.into(), limit.into()],
        )?;
        if n > 0 {
            // The condition again outside the subquery: a record a writer
            // has just replaced (a fresh created_at) is not deleted.
            self.db().execute(
                "DELETE FROM idempotency_records WHERE created_at < ?1 \
                 AND (principal, idempotency_key) IN (SELECT principal, idempotency_key \
                 FROM idempotency_records WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
                vec![created_before.into(), limit.into()],
            )?;
        }
        Ok(n)
    }

    /// Deletes up to `limit` webhook messages delivered before
    /// `delivered_before` and their attempts, inside the caller's write
    /// transaction; (messages, attempts).
    pub fn purge_delivered_batch(
        &self,
        delivered_before: &str,
        limit: i64,
    ) -> Result<(u64, u64), StoreError> {
        let rows = self.db().execute(
            "SELECT seq FROM webhook_messages WHERE state = 'delivered' AND delivered_at < ?1 \
             ORDER BY seq LIMIT ?2",
            vec![delivered_before.into(), limit.into()],
        )?;
        let seqs = rows
            .rows
            .iter()
            .map(|row| RowReader::new(row, "webhook_messages").int(0))
            .collect::<Result<Vec<i64>, _>>()?;
        if seqs.is_empty() {
            return Ok((0, 0));
        }
        let params: Vec<Value> = seqs.iter().map(|s| Value::from(*s)).collect();
        let list = placeholders(seqs.len(), 1);
        let attempts = count(
            self,
            &format!("SELECT COUNT(*) FROM webhook_attempts WHERE message_seq IN ({list})"),
            params.clone(),
        )?;
        self.db().execute(
            &format!("DELETE FROM webhook_attempts WHERE message_seq IN ({list})"),
            params.clone(),
        )?;
        self.db().execute(
            &format!("DELETE FROM webhook_messages WHERE state = 'delivered' AND seq IN ({list})"),
            params,
        )?;
        Ok((seqs.len() as u64, attempts))
    }
}

/// One purge run: expired idempotency records (created before
/// `idempotency_before`) and messages delivered before
/// `delivered_before`, in batches of at most `max_batches` transactions
/// each.
pub fn purge<D: Db>(
    store: &SqlStore<D>,
    idempotency_before: &str,
    delivered_before: &str,
    max_batches: u32,
) -> Result<Purged, StoreError> {
    let mut purged = Purged::default();
    let mut batches = 0;
    loop {
        let n = in_transaction(store, &[], |s| {
            s.purge_idempotency_batch(idempotency_before, IDEMPOTENCY_BATCH)
        })?;
        purged.idempotency_records += n;
        batches += 1;
        if n < IDEMPOTENCY_BATCH as u64 {
            break;
        }
        if batches >= max_batches {
            purged.more = true;
            break;
        }
    }
    let mut batches = 0;
    loop {
        // The dispatcher's lock: no run claims or fans out meanwhile.
        let (messages, attempts) = in_transaction(store, &[LockKey::Dispatcher], |s| {
            s.purge_delivered_batch(delivered_before, MESSAGE_BATCH)
        })?;
        purged.webhook_messages += messages;
        purged.webhook_attempts += attempts;
        batches += 1;
        if messages < MESSAGE_BATCH as u64 {
            break;
        }
        if batches >= max_batches {
            purged.more = true;
            break;
        }
    }
    Ok(purged)
}
