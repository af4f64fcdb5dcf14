//! The statements of [`super::OutboxStore`], in the SQL subset SQLite and
//! PostgreSQL share.

use std::fmt::Write as _;

use carehub_domain::webhook::{AttemptOutcome, Event, EventFacts, EventType, SubscriptionId};
use carehub_domain::{InsuredNumber, InsurerNumber, PersonRef, Principal};

use super::{
    AttemptRecord, MessageRecord, MessageState, NewMessage, NewSubscription, OutboxPosition,
    OutboxStore, StoredEvent, SubscriptionRecord,
};
use crate::sql::SqlStore;
use crate::{Db, RowReader, StoreError, Value};

/// Events per multi-row insert (6 parameters each).
const EMIT_CHUNK: usize = 256;

fn types_text(types: &[EventType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

const SUBSCRIPTION_COLUMNS: &str = "seq, subscription_id, owner, url, event_types, secret, \
     previous_secret, previous_expires_ms, fanout_seq, disabled_at, disabled_reason, created_at, \
     fanout_txid";

fn subscription_record(row: &[Value]) -> Result<SubscriptionRecord, StoreError> {
    let r = RowReader::new(row, "webhook_subscriptions");
    let event_types = r
        .text(4)?
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::parse::<EventType>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Corrupt(format!("webhook_subscriptions: event_types: {e}")))?;
    Ok(SubscriptionRecord {
        seq: r.int(0)?,
        subscription: NewSubscription {
            subscription_id: r.parse(1, SubscriptionId::parse)?,
            owner: r.parse(2, Principal::parse_urn)?,
            url: r.text(3)?.to_owned(),
            event_types,
            secret: r.text(5)?.to_owned(),
        },
        previous_secret: r.opt_text(6)?.map(str::to_owned),
        previous_expires_ms: r.opt_int(7)?,
        fanout: OutboxPosition {
            txid: r.int(12)?,
            seq: r.int(8)?,
        },
        disabled_at: r.opt_text(9)?.map(str::to_owned),
        disabled_reason: r.opt_text(10)?.map(str::to_owned),
        created_at: r.text(11)?.to_owned(),
    })
}

const MESSAGE_COLUMNS: &str = "seq, message_id, subscription_seq, event_type, payload, state, \
     attempts, failures, next_attempt_ms, created_at, delivered_at";

fn message_record(row: &[Value]) -> Result<MessageRecord, StoreError> {
    let r = RowReader::new(row, "webhook_messages");
    Ok(MessageRecord {
        seq: r.int(0)?,
        message_id: r.text(1)?.to_owned(),
        subscription_seq: r.int(2)?,
        event_type: r.parse(3, str::parse::<EventType>)?,
        payload: r.text(4)?.to_owned(),
        state: r.parse(5, MessageState::parse)?,
        attempts: r.int(6)?,
        failures: r.int(7)?,
        next_attempt_ms: r.int(8)?,
        created_at: r.text(9)?.to_owned(),
        delivered_at: r.opt_text(10)?.map(str::to_owned),
    })
}

fn outcome_text(o: AttemptOutcome) -> &'static str {
    match o {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Gone => "gone",
        AttemptOutcome::Failed => "failed",
    }
}

fn parse_outcome(s: &str) -> Result<AttemptOutcome, String> {
    match s {
        "delivered" => Ok(AttemptOutcome::Delivered),
        "gone" => Ok(AttemptOutcome::Gone),
        "failed" => Ok(AttemptOutcome::Failed),
        _ => Err(format!("unknown outcome {s:?}")),
    }
}

impl<D: Db> SqlStore<D> {
    fn subscriptions_where(
        &self,
        condition: &str,
        params: Vec<Value>,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE {condition} ORDER BY seq"
        );
        let rows = self.db().execute(&sql, params)?;
        rows.rows.iter().map(|r| subscription_record(r)).collect()
    }
}

impl<D: Db> OutboxStore for SqlStore<D> {
    fn emit(&self, events: &[Event], at: &str) -> Result<(), StoreError> {
        for chunk in events.chunks(EMIT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO webhook_events (event_type, insurer_number, insured_number, facts, \
                 occurred_at) VALUES ",
            );
            let mut params = Vec::with_capacity(1 + chunk.len() * 4);
            params.push(Value::from(at));
            for (i, e) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(',');
                }
                let n = 2 + i * 4;
                let _ = write!(sql, "(?{},?{},?{},?{},?1)", n, n + 1, n + 2, n + 3);
                let facts = serde_json::to_string(&e.facts)
                    .map_err(|e| StoreError::Corrupt(format!("event does not serialize: {e}")))?;
                params.push(e.event_type().as_str().into());
                params.push(e.person.insurer_number.as_str().into());
                params.push(e.person.insured_number.as_str().into());
                params.push(facts.into());
            }
            self.db().execute(&sql, params)?;
        }
        Ok(())
    }

    fn add_subscription(
        &self,
        s: &NewSubscription,
        at: &str,
    ) -> Result<SubscriptionRecord, StoreError> {
        // It hears of what is recorded after the outbox's safe head now
        // (and of what running transactions are still adding).
        let head = self.outbox_head()?;
        let rows = self.db().execute(
            "INSERT INTO webhook_subscriptions (subscription_id, owner, url, event_types, secret, \
             fanout_seq, fanout_txid, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             RETURNING seq",
            vec![
                s.subscription_id.as_str().into(),
                s.owner.to_urn().into(),
                s.url.as_str().into(),
                types_text(&s.event_types).into(),
                s.secret.as_str().into(),
                head.seq.into(),
                head.txid.into(),
                at.into(),
            ],
        )?;
        let row = rows
            .rows
            .first()
            .ok_or_else(|| StoreError::Corrupt("subscription insert returned no seq".into()))?;
        let r = RowReader::new(row, "webhook_subscriptions insert");
        Ok(SubscriptionRecord {
            seq: r.int(0)?,
            subscription: s.clone(),
            previous_secret: None,
            previous_expires_ms: None,
            fanout: head,
            disabled_at: None,
            disabled_reason: None,
            created_at: at.to_owned(),
        })
    }

    fn subscription(&self, id: &SubscriptionId) -> Result<Option<SubscriptionRecord>, StoreError> {
        Ok(self
            .subscriptions_where("subscription_id = ?1", vec![id.as_str().into()])?
            .pop())
    }

    fn owner_subscriptions(
        &self,
        owner: &Principal,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.subscriptions_where("owner = ?1", vec![owner.to_urn().into()])
    }

    fn active_subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.subscriptions_where("disabled_at IS NULL", Vec::new())
    }

    fn rotate_secret(
        &self,
        seq: i64,
        secret: &str,
        previous: &str,
        previous_expires_ms: i64,
    ) -> Result<(), StoreError> {
        self.db().execute(
            "UPDATE webhook_subscriptions SET secret = ?2, previous_secret = ?3, \
             previous_expires_ms = ?4 WHERE seq = ?1",
            vec![
                seq.into(),
                secret.into(),
                previous.into(),
                previous_expires_ms.into(),
            ],
        )?;
        Ok(())
    }

    fn set_disabled(&self, seq: i64, disabled: Option<(&str, &str)>) -> Result<(), StoreError> {
        match disabled {
            Some((at, reason)) => self.db().execute(
                "UPDATE webhook_subscriptions SET disabled_at = ?2, disabled_reason = ?3 \
                 WHERE seq = ?1 AND disabled_at IS NULL",
                vec![seq.into(), at.into(), reason.into()],
            )?,
            None => self.db().execute(
                "UPDATE webhook_subscriptions SET disabled_at = NULL, disabled_reason = NULL \
                 WHERE seq = ?1",
                vec![seq.into()],
            )?,
        };
        Ok(())
    }

    fn events_between(
        &self,
        after: OutboxPosition,
        upto: OutboxPosition,
        types: &[EventType],
        insurer: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if types.is_empty() {
            return Ok(Vec::new());
        }
        // (txid, seq) > (?1, ?2) AND (txid, seq) <= (?4, ?5), spelled out
        // (row comparisons are not in the SQL both dialects share).
        let mut sql = String::from(
            "SELECT seq, insurer_number, insured_number, facts, occurred_at, txid \
             FROM webhook_events \
             WHERE (txid > ?1 OR (txid = ?1 AND seq > ?2)) \
             AND (txid < ?4 OR (txid = ?4 AND seq <= ?5))",
        );
        let mut params: Vec<Value> = vec![
            after.txid.into(),
            after.seq.into(),
            i64::from(limit).into(),
            upto.txid.into(),
            upto.seq.into(),
        ];
        if let Some(n) = insurer {
            let _ = write!(sql, " AND insurer_number = ?{}", params.len() + 1);
            params.push(n.into());
        }
        sql.push_str(" AND event_type IN (");
        for (i, t) in types.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            let _ = write!(sql, "?{}", params.len() + 1);
            params.push(t.as_str().into());
        }
        sql.push_str(") ORDER BY txid, seq LIMIT ?3");
        let rows = self.db().execute(&sql, params)?;
        rows.rows
            .iter()
            .map(|row| {
                let r = RowReader::new(row, "webhook_events");
                Ok(StoredEvent {
                    seq: r.int(0)?,
                    position: OutboxPosition {
                        txid: r.int(5)?,
                        seq: r.int(0)?,
                    },
                    event: Event {
                        person: PersonRef::new(
                            r.parse(1, InsurerNumber::parse)?,
                            r.parse(2, InsuredNumber::parse)?,
                        ),
                        facts: r.parse(3, |s| serde_json::from_str::<EventFacts>(s))?,
                    },
                    occurred_at: r.text(4)?.to_owned(),
                })
            })
            .collect()
    }

    fn outbox_head(&self) -> Result<OutboxPosition, StoreError> {
        // One statement, so the snapshot whose xmin bounds the prefix is
        // the one the prefix is read in.
        let rows = self.db().execute(
            "SELECT e.txid, e.seq FROM webhook_events e, carehub_outbox_head h \
             WHERE e.txid < h.xmin ORDER BY e.txid DESC, e.seq DESC LIMIT 1",
            Vec::new(),
        )?;
        match rows.rows.first() {
            None => Ok(OutboxPosition::default()),
            Some(row) => {
                let r = RowReader::new(row, "webhook_events head");
                Ok(OutboxPosition {
                    txid: r.int(0)?,
                    seq: r.int(1)?,
                })
            }
        }
    }

    fn add_messages(
        &self,
        subscription_seq: i64,
        messages: &[NewMessage],
        fanout: OutboxPosition,
        due_ms: i64,
        at: &str,
    ) -> Result<(), StoreError> {
        for chunk in messages.chunks(EMIT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO webhook_messages (subscription_seq, next_attempt_ms, created_at, \
                 event_seq, message_id, event_type, payload, state) VALUES ",
            );
            let mut params: Vec<Value> = vec![subscription_seq.into(), due_ms.into(), at.into()];
            for (i, m) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(',');
                }
                let n = 4 + i * 4;
                let _ = write!(
                    sql,
                    "(?1,?2,?3,?{},?{},?{},?{},'pending')",
                    n,
                    n + 1,
                    n + 2,
                    n + 3
                );
                params.push(m.event_seq.into());
                params.push(m.message_id.as_str().into());
                params.push(m.event_type.as_str().into());
                params.push(m.payload.as_str().into());
            }
            // A message that exists already (a fan-out repeated after a
            // crash cannot happen inside one transaction, but the unique
            // key makes it harmless anyway) is kept as it is.
            sql.push_str(" ON CONFLICT (subscription_seq, event_seq) DO NOTHING");
            self.db().execute(&sql, params)?;
        }
        self.db().execute(
            "UPDATE webhook_subscriptions SET fanout_txid = ?2, fanout_seq = ?3 WHERE seq = ?1 \
             AND (fanout_txid < ?2 OR (fanout_txid = ?2 AND fanout_seq < ?3))",
            vec![
                subscription_seq.into(),
                fanout.txid.into(),
                fanout.seq.into(),
            ],
        )?;
        Ok(())
    }

    fn claim(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let sql = format!(
            "UPDATE webhook_messages SET lease_until_ms = ?2 WHERE seq IN (\
             SELECT m.seq FROM webhook_messages m \
             JOIN webhook_subscriptions s ON s.seq = m.subscription_seq \
             WHERE m.state = 'pending' AND m.next_attempt_ms <= ?1 AND m.lease_until_ms <= ?1 \
             AND s.disabled_at IS NULL ORDER BY m.next_attempt_ms, m.seq LIMIT ?3) \
             RETURNING {MESSAGE_COLUMNS}"
        );
        let rows = self.db().execute(
            &sql,
            vec![
                now_ms.into(),
                lease_until_ms.into(),
                i64::from(limit).into(),
            ],
        )?;
        rows.rows.iter().map(|r| message_record(r)).collect()
    }

    fn record_attempt(
        &self,
        message_seq: i64,
        a: &AttemptRecord,
        next_attempt_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        self.db().execute(
            "INSERT INTO webhook_attempts (message_seq, attempted_at, status, error, duration_ms, \
             outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vec![
                message_seq.into(),
                a.attempted_at.as_str().into(),
                a.status.map(i64::from).into(),
                a.error.clone().into(),
                a.duration_ms.into(),
                outcome_text(a.outcome).into(),
            ],
        )?;
        match (a.outcome, next_attempt_ms) {
            (AttemptOutcome::Delivered, _) => self.db().execute(
                "UPDATE webhook_messages SET state = 'delivered', delivered_at = ?2, \
                 attempts = attempts + 1, lease_until_ms = 0 WHERE seq = ?1",
                vec![message_seq.into(), a.attempted_at.as_str().into()],
            )?,
            (_, Some(next)) => self.db().execute(
                "UPDATE webhook_messages SET attempts = attempts + 1, failures = failures + 1, \
                 next_attempt_ms = ?2, lease_until_ms = 0 WHERE seq = ?1 AND state = 'pending'",
                vec![message_seq.into(), next.into()],
            )?,
            (_, None) => self.db().execute(
                "UPDATE webhook_messages SET state = 'failed', attempts = attempts + 1, \
                 failures = failures + 1, lease_until_ms = 0 WHERE seq = ?1 AND state = 'pending'",
                vec![message_seq.into()],
            )?,
        };
        Ok(())
    }

    fn messages(
        &self,
        subscription_seq: i64,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM webhook_messages WHERE subscription_seq = ?1 \
             AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
        );
        let rows = self.db().execute(
            &sql,
            vec![
                subscription_seq.into(),
                before_seq.unwrap_or(i64::MAX).into(),
                i64::from(limit).into(),
            ],
        )?;
        rows.rows.iter().map(|r| message_record(r)).collect()
    }

    fn message(
        &self,
        subscription_seq: i64,
        message_id: &str,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM webhook_messages WHERE subscription_seq = ?1 \
             AND message_id = ?2"
        );
        let rows = self
            .db()
            .execute(&sql, vec![subscription_seq.into(), message_id.into()])?;
        rows.rows.first().map(|r| message_record(r)).transpose()
    }

    fn attempts(&self, message_seq: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = self.db().execute(
            "SELECT attempted_at, status, error, duration_ms, outcome FROM webhook_attempts \
             WHERE message_seq = ?1 ORDER BY seq",
            vec![message_seq.into()],
        )?;
        rows.rows
            .iter()
            .map(|row| {
                let r = RowReader::new(row, "webhook_attempts");
                Ok(AttemptRecord {
                    attempted_at: r.text(0)?.to_owned(),
                    status: r
                        .opt_int(1)?
                        .map(|s| {
                            u16::try_from(s)
                                .map_err(|_| StoreError::Corrupt("webhook_attempts: status".into()))
                        })
                        .transpose()?,
                    error: r.opt_text(2)?.map(str::to_owned),
                    duration_ms: r.int(3)?,
                    outcome: r.parse(4, parse_outcome)?,
                })
            })
            .collect()
    }

    fn redeliver(&self, message_seq: i64, now_ms: i64) -> Result<(), StoreError> {
        self.db().execute(
            "UPDATE webhook_messages SET state = 'pending', failures = 0, next_attempt_ms = ?2, \
             delivered_at = NULL WHERE seq = ?1",
            vec![message_seq.into(), now_ms.into()],
        )?;
        Ok(())
    }
}
