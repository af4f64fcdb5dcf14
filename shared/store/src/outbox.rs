//! Webhooks (DESIGN §8): the transactional outbox, subscriptions, messages
//! and delivery attempts — typed, backend-neutral operations; the SQL is in
//! the submodule.
//!
//! **Same transaction.** Every store write that changes state
//! (`write_versions`, `append_consent`, `add_registration`, `deregister`,
//! `add_application`, `append_step`, and the relay's state changes) appends
//! its [`Event`] itself, through [`OutboxStore::emit`], on the same
//! connection and inside the write transaction its callers must hold. A
//! change and its event are therefore committed or rolled back together,
//! whichever handler made the change.
//!
//! **Delivery.** The dispatcher ([`fan_out`], [`claim_due`],
//! [`record_result`]) turns events into one message per subscription,
//! claims due messages under a lease inside a write transaction (so that
//! concurrent runs never hold the same message at once), delivers outside
//! any transaction, and records each attempt. A run that dies mid-delivery
//! leaves its claims to expire: the messages are delivered again (at least
//! once; receivers dedupe by `webhook-id`).

use carehub_domain::webhook::{
    AttemptOutcome, Event, EventType, Receiver, SubscriptionId, consent_needed, message_id,
    payload, retry_delay_ms,
};
use carehub_domain::{ConsentState, Principal};

use super::{ConsentStore, DocumentStore, LockKey, StoreError, in_transaction};

mod sql;

/// A subscription to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    /// Its id (random).
    pub subscription_id: SubscriptionId,
    /// The portal or municipality that owns it.
    pub owner: Principal,
    /// Where deliveries go.
    pub url: String,
    /// What it receives.
    pub event_types: Vec<EventType>,
    /// The signing secret, `whsec_…`.
    pub secret: String,
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// The store's sequence number.
    pub seq: i64,
    /// What was registered.
    pub subscription: NewSubscription,
    /// The previous secret, still signing until `previous_expires_ms`.
    pub previous_secret: Option<String>,
    /// When the previous secret stops signing (ms since the epoch).
    pub previous_expires_ms: Option<i64>,
    /// Outbox events up to this position have been fanned out.
    pub fanout: OutboxPosition,
    /// When deliveries stopped, if they did.
    pub disabled_at: Option<String>,
    /// Why (`gone`: the receiver answered 410).
    pub disabled_reason: Option<String>,
    /// When it was registered.
    pub created_at: String,
}

impl SubscriptionRecord {
    /// The secrets that sign a delivery at `now_ms`: the current one, then
    /// the previous one while its overlap lasts.
    pub fn signing_secrets(&self, now_ms: i64) -> Vec<&str> {
        let mut out = vec![self.subscription.secret.as_str()];
        if let (Some(prev), Some(until)) = (&self.previous_secret, self.previous_expires_ms)
            && now_ms < until
        {
            out.push(prev);
        }
        out
    }
}

/// A message's delivery state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// Not delivered yet; tried again at `next_attempt_ms`.
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Every attempt of the schedule failed.
    Failed,
}

impl MessageState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Pending => "pending",
            MessageState::Delivered => "delivered",
            MessageState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<MessageState, String> {
        match s {
            "pending" => Ok(MessageState::Pending),
            "delivered" => Ok(MessageState::Delivered),
            "failed" => Ok(MessageState::Failed),
            _ => Err(format!("unknown message state {s:?}")),
        }
    }
}

/// One event for one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The store's sequence number.
    pub seq: i64,
    /// `webhook-id`.
    pub message_id: String,
    /// The subscription's sequence number.
    pub subscription_seq: i64,
    /// The event's type.
    pub event_type: EventType,
    /// The exact body delivered.
    pub payload: String,
    /// Where delivery stands.
    pub state: MessageState,
    /// Attempts made, redeliveries included.
    pub attempts: i64,
    /// Failures since it was last scheduled (drives the backoff).
    pub failures: i64,
    /// When it is next due (ms since the epoch).
    pub next_attempt_ms: i64,
    /// When it was created.
    pub created_at: String,
    /// When a 2xx answer came.
    pub delivered_at: Option<String>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// When it started, RFC 3339.
    pub attempted_at: String,
    /// The receiver's status; `None` when it did not answer.
    pub status: Option<u16>,
    /// Why there was no answer.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
    /// What the answer meant.
    pub outcome: AttemptOutcome,
}

/// Where an event stands in the outbox's order: its writing transaction's
/// id, then its sequence number.
///
/// Without a hub-wide lock, writers of different persons commit in any
/// order, so a sequence number alone is no fan-out cursor (a lower number
/// may commit after a higher one was fanned out). On PostgreSQL each event
/// carries its transaction's id (`pg_current_xact_id()`, a column default)
/// and the outbox's safe head is `pg_snapshot_xmin(pg_current_snapshot())`
/// (view `carehub_outbox_head`): every transaction below it has ended, so
/// the events below it are a stable prefix in (txid, seq) order, and the
/// fan-out reads only that prefix. On SQLite (one writer at a time) every
/// event's txid is 0 and the head view says 1: the order is `seq`'s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct OutboxPosition {
    /// The writing transaction's id (0 on SQLite).
    pub txid: i64,
    /// The event's sequence number.
    pub seq: i64,
}

/// An outbox event as read back for fan-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its sequence number.
    pub seq: i64,
    /// Its place in fan-out order.
    pub position: OutboxPosition,
    /// The event.
    pub event: Event,
    /// When the change happened, RFC 3339.
    pub occurred_at: String,
}

/// A message to create for a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The event.
    pub event_seq: i64,
    /// `webhook-id`.
    pub message_id: String,
    /// The event's type.
    pub event_type: EventType,
    /// The body.
    pub payload: String,
}

/// The outbox and the delivery records.
pub trait OutboxStore: DocumentStore {
    /// Appends events to the outbox. Called by the store's own write
    /// operations inside their write transaction; not by handlers.
    fn emit(&self, events: &[Event], at: &str) -> Result<(), StoreError>;

    /// Registers a subscription; it receives events recorded after this.
    fn add_subscription(
        &self,
        subscription: &NewSubscription,
        at: &str,
    ) -> Result<SubscriptionRecord, StoreError>;

    /// The subscription with this id.
    fn subscription(&self, id: &SubscriptionId) -> Result<Option<SubscriptionRecord>, StoreError>;

    /// An owner's subscriptions, oldest first.
    fn owner_subscriptions(&self, owner: &Principal)
    -> Result<Vec<SubscriptionRecord>, StoreError>;

    /// Subscriptions not disabled, oldest first.
    fn active_subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError>;

    /// Replaces the secret; the previous one signs until `previous_expires_ms`.
    fn rotate_secret(
        &self,
        seq: i64,
        secret: &str,
        previous: &str,
        previous_expires_ms: i64,
    ) -> Result<(), StoreError>;

    /// Disables (`Some((at, reason))`) or re-enables (`None`) deliveries.
    fn set_disabled(&self, seq: i64, disabled: Option<(&str, &str)>) -> Result<(), StoreError>;

    /// Outbox events with `after < position <= upto` of `types` (and of
    /// persons insured by `insurer`, when given), in position order, at
    /// most `limit`.
    fn events_between(
        &self,
        after: OutboxPosition,
        upto: OutboxPosition,
        types: &[EventType],
        insurer: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The outbox's safe head: the last position of the prefix no running
    /// transaction can still add to (zero when empty).
    fn outbox_head(&self) -> Result<OutboxPosition, StoreError>;

    /// Creates messages for a subscription (due at `due_ms`) and moves its
    /// fan-out cursor to `fanout`.
    fn add_messages(
        &self,
        subscription_seq: i64,
        messages: &[NewMessage],
        fanout: OutboxPosition,
        due_ms: i64,
        at: &str,
    ) -> Result<(), StoreError>;

    /// Claims up to `limit` due messages of enabled subscriptions — pending,
    /// due by `now_ms`, not claimed by a live lease — until `lease_until_ms`.
    /// Run inside a write transaction.
    fn claim(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError>;

    /// Records an attempt and moves the message: delivered, rescheduled at
    /// `next_attempt_ms`, or failed (`None`). The lease is released.
    fn record_attempt(
        &self,
        message_seq: i64,
        attempt: &AttemptRecord,
        next_attempt_ms: Option<i64>,
    ) -> Result<(), StoreError>;

    /// A subscription's messages, newest first, below `before_seq`.
    fn messages(
        &self,
        subscription_seq: i64,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError>;

    /// One of a subscription's messages.
    fn message(
        &self,
        subscription_seq: i64,
        message_id: &str,
    ) -> Result<Option<MessageRecord>, StoreError>;

    /// A message's attempts, oldest first.
    fn attempts(&self, message_seq: i64) -> Result<Vec<AttemptRecord>, StoreError>;

    /// Schedules a message again, due at `now_ms`, with a fresh backoff
    /// schedule (a delivered or failed message becomes pending).
    fn redeliver(&self, message_seq: i64, now_ms: i64) -> Result<(), StoreError>;
}

/// Events fanned out per subscription per run.
pub const FANOUT_BATCH: u32 = 500;

/// Fans new outbox events out to every enabled subscription, in one write
/// transaction: one message per event its owner may hear of, with the
/// minimised payload ([`carehub_domain::webhook::payload`]); events it may
/// not hear of only move its cursor. Returns the messages created.
pub fn fan_out<S>(store: &S, now_ms: i64, at: &str) -> Result<usize, StoreError>
where
    S: OutboxStore + ConsentStore + ?Sized,
{
    // One fan-out at a time: the cursors are read, then moved.
    in_transaction(store, &[LockKey::Dispatcher], |s| {
        let head = s.outbox_head()?;
        let mut created = 0;
        for sub in s.active_subscriptions()? {
            if sub.fanout >= head {
                continue;
            }
            let Some(receiver) =
                carehub_domain::policy::webhooks::receiver_for(&sub.subscription.owner)
            else {
                continue;
            };
            let insurer = match &receiver {
                Receiver::Municipality(n) => Some(n.as_str()),
                Receiver::Portal => None,
            };
            let events = s.events_between(
                sub.fanout,
                head,
                &sub.subscription.event_types,
                insurer,
                FANOUT_BATCH,
            )?;
            let cursor = if events.len() < FANOUT_BATCH as usize {
                head
            } else {
                events.last().map_or(head, |e| e.position)
            };
            let mut messages = Vec::with_capacity(events.len());
            for e in &events {
                let consent = if consent_needed(&e.event, &receiver) {
                    s.consent_state(&e.event.person)?
                } else {
                    ConsentState::None
                };
                if let Some(body) = payload(&e.event, &receiver, consent, &e.occurred_at) {
                    messages.push(NewMessage {
                        event_seq: e.seq,
                        message_id: message_id(sub.subscription.subscription_id.as_str(), e.seq),
                        event_type: e.event.event_type(),
                        payload: body.to_string(),
                    });
                }
            }
            created += messages.len();
            s.add_messages(sub.seq, &messages, cursor, now_ms, at)?;
        }
        Ok(created)
    })
}

/// A claimed message with what its delivery needs.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message.
    pub message: MessageRecord,
    /// The subscription's URL.
    pub url: String,
    /// The secrets that sign it (`whsec_…`), current first.
    pub secrets: Vec<String>,
}

/// Claims up to `limit` due messages in one write transaction, leased until
/// `lease_until_ms`, with their URLs and signing secrets.
pub fn claim_due<S>(
    store: &S,
    now_ms: i64,
    lease_until_ms: i64,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError>
where
    S: OutboxStore + ?Sized,
{
    // Claims serialise with each other (not with any other writer), so
    // two runs never lease the same message.
    in_transaction(store, &[LockKey::Dispatcher], |s| {
        let mut claimed = s.claim(now_ms, lease_until_ms, limit)?;
        claimed.sort_by_key(|m| m.seq);
        let subs = s.active_subscriptions()?;
        claimed
            .into_iter()
            .map(|message| {
                let sub = subs
                    .iter()
                    .find(|s| s.seq == message.subscription_seq)
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "claimed message {} of no active subscription",
                            message.seq
                        ))
                    })?;
                Ok(Delivery {
                    url: sub.subscription.url.clone(),
                    secrets: sub
                        .signing_secrets(now_ms)
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                    message,
                })
            })
            .collect()
    })
}

/// Records one delivery's attempt in its own write transaction: delivered;
/// 410 disables the subscription; otherwise the next attempt is scheduled
/// after [`retry_delay_ms`] (`jitter` in `[0, 1)`), or the message fails
/// when the schedule is exhausted.
pub fn record_result<S>(
    store: &S,
    delivery: &Delivery,
    attempt: &AttemptRecord,
    now_ms: i64,
    backoff_base_ms: u64,
    jitter: f64,
) -> Result<(), StoreError>
where
    S: OutboxStore + ?Sized,
{
    // The lease makes the message this run's alone: no lock needed.
    in_transaction(store, &[], |s| {
        let next = match attempt.outcome {
            AttemptOutcome::Delivered => None,
            AttemptOutcome::Gone | AttemptOutcome::Failed => {
                let failed = u32::try_from(delivery.message.failures + 1).unwrap_or(u32::MAX);
                retry_delay_ms(failed, backoff_base_ms, jitter)
                    .map(|d| now_ms.saturating_add(i64::try_from(d).unwrap_or(i64::MAX)))
            }
        };
        s.record_attempt(delivery.message.seq, attempt, next)?;
        if attempt.outcome == AttemptOutcome::Gone {
            s.set_disabled(
                delivery.message.subscription_seq,
                Some((&attempt.attempted_at, "gone")),
            )?;
        }
        Ok(())
    })
}
