//! The webhooks operation, independent of Spin: subscriptions, messages,
//! attempts, redelivery, and the dispatcher's store steps, against any store.

use std::time::{Duration, UNIX_EPOCH};

use carehub_domain::policy::webhooks::{
    authorize_subscriber, may_dispatch, may_manage_subscription,
};
use carehub_domain::sealed::{SealingKey, is_sealed};
use carehub_domain::webhook::{
    OriginPattern, ROTATION_OVERLAP_MS, Receiver, Secret, SubscriptionId,
};
use carehub_domain::{EventType, IdempotencyKey, Principal, Problem, ProblemType};
use carehub_guest::body::parse_json;
use carehub_guest::clock::rfc3339;
use carehub_guest::fields::Object;
use carehub_guest::http::{Reply, RequestHead};
use carehub_guest::idempotency::{Answer, AnswerSeal, WriteRequest, write_once, write_once_sealed};
use carehub_guest::problem::{forbidden, internal, invalid_request};
use carehub_guest::routing::{self, Route, paginate};
use carehub_store::{
    AttemptRecord, ConsentStore, Delivery, LockKey, MessageRecord, OutboxStore, StoreError,
    SubscriptionRecord, claim_due, fan_out, record_result,
};
use serde_json::{Value, json};

/// Body cap of a subscription request.
pub const BODY_LIMIT: usize = 16 << 10;
/// The component's route prefix.
pub const PREFIX: &str = "/api/webhooks";
/// The principal that runs the dispatcher (the policy's).
pub use carehub_domain::policy::webhooks::SCHEDULER;
/// Messages delivered per dispatcher run at most (sent concurrently).
pub const CLAIM_LIMIT: u32 = 32;
/// Longest accepted subscription URL.
pub const MAX_URL: usize = 2048;
/// How long a delivery may take to connect, in nanoseconds: with
/// [`ANSWER_TIMEOUT_NS`], well inside the component's deadline.
pub const CONNECT_TIMEOUT_NS: u64 = 2_000_000_000;
/// How long a delivery may wait for the receiver's answer, in nanoseconds.
pub const ANSWER_TIMEOUT_NS: u64 = 5_000_000_000;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /subscriptions`.
    Create,
    /// `GET /subscriptions`.
    List,
    /// `GET /subscriptions/{subscription_id}`.
    Show,
    /// `POST /subscriptions/{subscription_id}/rotate`.
    Rotate,
    /// `POST /subscriptions/{subscription_id}/enable`.
    Enable,
    /// `GET /subscriptions/{subscription_id}/messages`.
    Messages,
    /// `GET /subscriptions/{subscription_id}/messages/{message_id}`.
    Message,
    /// `POST /subscriptions/{subscription_id}/messages/{message_id}/redeliver`.
    Redeliver,
    /// `POST /dispatch` (the scheduler only).
    Dispatch,
    /// `POST /purge` (the scheduler only): the retention job.
    Purge,
}

/// The component's routes (after the `/api/webhooks` prefix).
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: "POST",
        pattern: "/subscriptions",
        endpoint: Endpoint::Create,
    },
    Route {
        method: "GET",
        pattern: "/subscriptions",
        endpoint: Endpoint::List,
    },
    Route {
        method: "GET",
        pattern: "/subscriptions/{subscription_id}",
        endpoint: Endpoint::Show,
    },
    Route {
        method: "POST",
        pattern: "/subscriptions/{subscription_id}/rotate",
        endpoint: Endpoint::Rotate,
    },
    Route {
        method: "POST",
        pattern: "/subscriptions/{subscription_id}/enable",
        endpoint: Endpoint::Enable,
    },
    Route {
        method: "GET",
        pattern: "/subscriptions/{subscription_id}/messages",
        endpoint: Endpoint::Messages,
    },
    Route {
        method: "GET",
        pattern: "/subscriptions/{subscription_id}/messages/{message_id}",
        endpoint: Endpoint::Message,
    },
    Route {
        method: "POST",
        pattern: "/subscriptions/{subscription_id}/messages/{message_id}/redeliver",
        endpoint: Endpoint::Redeliver,
    },
    Route {
        method: "POST",
        pattern: "/dispatch",
        endpoint: Endpoint::Dispatch,
    },
    Route {
        method: "POST",
        pattern: "/purge",
        endpoint: Endpoint::Purge,
    },
];

/// How long a delivered webhook message (and its attempts) is kept, by
/// default: 30 days. The `webhook_retention_secs` variable overrides it.
pub const DEFAULT_MESSAGE_RETENTION_SECS: u64 = 30 * 24 * 60 * 60;

/// Batches (transactions) of each kind one purge run deletes at most
/// ([`carehub_store::retention`]); the next run goes on.
pub const PURGE_BATCHES: u32 = 20;

/// The retention job's settings (Spin variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `idempotency_retention_secs`: how long an idempotency record answers.
    pub idempotency_secs: u64,
    /// `webhook_retention_secs`: how long a delivered message is kept.
    pub delivered_secs: u64,
}

/// The component's settings (Spin variables).
#[derive(Debug, Clone)]
pub struct Config {
    /// `webhook_allowed_origin`: the one origin pattern subscriptions may
    /// point at, the same entry the component's `allowed_outbound_hosts`
    /// holds. `None`: no subscription can be registered.
    pub allowed_origin: Option<OriginPattern>,
    /// `webhook_backoff_base_ms`: the retry schedule's base.
    pub backoff_base_ms: u64,
    /// `webhook_lease_ms`: how long a dispatcher run holds the messages it
    /// claimed before another run may take them (longer than a delivery).
    pub lease_ms: u64,
    /// `webhook_secret_key`: what signing secrets are sealed with at rest
    /// ([`seal`]), in the subscriptions and in the stored answers that carry
    /// one.
    pub secret_key: SealingKey,
}

/// What a stored idempotent answer carrying a secret is sealed for.
pub use carehub_domain::sealed::IDEMPOTENT_ANSWER as ANSWER_PURPOSE;
/// What a subscription's stored secret is sealed for (associated data).
pub use carehub_domain::sealed::WEBHOOK_SECRET as SECRET_PURPOSE;

/// `plain` sealed under `key` for `purpose`, with a fresh random nonce.
pub fn seal(key: &SealingKey, purpose: &str, plain: &str) -> Result<String, String> {
    let mut nonce = [0u8; carehub_domain::sealed::NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| format!("drawing a nonce: {e}"))?;
    Ok(key.seal(nonce, purpose, plain))
}

/// A stored value opened: sealed ones with `key`; one stored before
/// sealing (plain, until the gateway's migration sealed it) as it is.
pub fn open(key: &SealingKey, purpose: &str, stored: &str) -> Result<String, String> {
    if is_sealed(stored) {
        key.open(purpose, stored).map_err(|e| {
            format!("{purpose}: {e} (is webhook_secret_key the one it was sealed with?)")
        })
    } else {
        Ok(stored.to_owned())
    }
}

/// `ms` since the epoch as RFC 3339.
pub fn ms_rfc3339(ms: i64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

fn store_failed(context: &str) -> impl Fn(StoreError) -> Reply + '_ {
    move |e| internal(context, &e)
}

fn receiver(principal: &Principal) -> Result<Receiver, Reply> {
    authorize_subscriber(principal).map_err(|p| Reply::problem(&p))
}

/// Checks a subscription URL: absolute http(s), no credentials or
/// fragment, under the allowed origin. 422 `webhook-url-not-allowed`
/// otherwise.
pub fn check_url(url: &str, allowed: Option<&OriginPattern>) -> Result<(), Problem> {
    let refuse = |why: &str| Problem::new(ProblemType::WebhookUrlNotAllowed, format!("url: {why}"));
    if url.len() > MAX_URL {
        return Err(refuse(&format!("longer than {MAX_URL} characters")));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|_| refuse("not an absolute http(s) URL"))?;
    let scheme = uri.scheme_str().unwrap_or("");
    if scheme != "http" && scheme != "https" {
        return Err(refuse("not an absolute http(s) URL"));
    }
    let Some(authority) = uri.authority() else {
        return Err(refuse("not an absolute http(s) URL"));
    };
    if authority.as_str().contains('@') {
        return Err(refuse("must not carry credentials"));
    }
    let port = authority
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    match allowed {
        Some(p) if p.allows(scheme, host, port) => Ok(()),
        _ => Err(refuse(
            "not under the hub's allowed outbound origins (allowed_outbound_hosts)",
        )),
    }
}

fn subscription_json(r: &SubscriptionRecord) -> Value {
    json!({
        "subscription_id": r.subscription.subscription_id.as_str(),
        "url": r.subscription.url,
        "event_types": r.subscription.event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "enabled": r.disabled_at.is_none(),
        "disabled_at": r.disabled_at,
        "disabled_reason": r.disabled_reason,
        "previous_secret_expires_at": r.previous_expires_ms.map(ms_rfc3339),
        "created_at": r.created_at,
    })
}

fn message_json(m: &MessageRecord) -> Value {
    json!({
        "message_id": m.message_id,
        "event_type": m.event_type.as_str(),
        "state": m.state.as_str(),
        "attempt_count": m.attempts,
        "next_attempt_at": (m.state == carehub_store::MessageState::Pending)
            .then(|| ms_rfc3339(m.next_attempt_ms)),
        "created_at": m.created_at,
        "delivered_at": m.delivered_at,
        "payload": serde_json::from_str::<Value>(&m.payload).unwrap_or(Value::Null),
    })
}

fn attempt_json(a: &AttemptRecord) -> Value {
    json!({
        "attempted_at": a.attempted_at,
        "status": a.status,
        "error": a.error,
        "duration_ms": a.duration_ms,
        "outcome": match a.outcome {
            carehub_domain::AttemptOutcome::Delivered => "delivered",
            carehub_domain::AttemptOutcome::Gone => "gone",
            carehub_domain::AttemptOutcome::Failed => "failed",
        },
    })
}

/// Parses the event types of a subscription request: all the receiver may
/// hear of when absent; 400 for an unknown type, 403 `role-not-allowed` for
/// one the receiver may not subscribe to.
fn parse_types(value: Option<&Value>, receiver: &Receiver) -> Result<Vec<EventType>, Reply> {
    let Some(value) = value else {
        return Ok(receiver.event_types().to_vec());
    };
    let Some(items) = value.as_array().filter(|a| !a.is_empty()) else {
        return Err(invalid_request(
            "/event_types",
            "must be a non-empty array of event types",
        ));
    };
    let mut types = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let pointer = format!("/event_types/{i}");
        let t: EventType = item.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
            invalid_request(
                &pointer,
                format!("must be one of {}", EventType::NAMES.join(", ")),
            )
        })?;
        if !receiver.event_types().contains(&t) {
            return Err(Reply::problem_of(
                ProblemType::RoleNotAllowed,
                format!("This receiver may not subscribe to {t}."),
            ));
        }
        if !types.contains(&t) {
            types.push(t);
        }
    }
    Ok(types)
}

/// `POST /subscriptions`: registers an endpoint for the portal or a
/// municipality and answers 201 with the signing secret — shown this once.
/// `secret` and `id` are drawn by the caller (randomness is the edge's).
///
/// `Idempotency-Key` is optional: the same principal sending the same key
/// and body again gets the stored 201 again — the same subscription id and
/// the same secret, which is how a client that lost the answer learns the
/// secret without registering twice; the key with another body is 409
/// `idempotency-key-reused`.
#[allow(clippy::too_many_arguments)]
pub fn create<S: OutboxStore + ?Sized>(
    store: &S,
    principal: &Principal,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    body: &[u8],
    config: &Config,
    secret: &Secret,
    id: SubscriptionId,
    now: &str,
) -> Reply {
    let seal_answer = |b: &str| seal(&config.secret_key, ANSWER_PURPOSE, b);
    let open_answer = |b: &str| open(&config.secret_key, ANSWER_PURPOSE, b);
    write_once_sealed(
        store,
        &WriteRequest::new(principal, head, key, body, now),
        "registering a subscription",
        Some(&AnswerSeal {
            seal: &seal_answer,
            open: &open_answer,
        }),
        || {
            let receiver = receiver(principal)?;
            let value = parse_json(body)?;
            let o =
                Object::new(&value, "", &["url", "event_types"]).map_err(|p| Reply::problem(&p))?;
            let url = o.str("url").map_err(|p| Reply::problem(&p))?.to_owned();
            check_url(&url, config.allowed_origin.as_ref()).map_err(|p| Reply::problem(&p))?;
            let event_types = parse_types(o.get("event_types"), &receiver)?;
            Ok(carehub_store::NewSubscription {
                subscription_id: id,
                owner: principal.clone(),
                url,
                event_types,
                secret: seal(&config.secret_key, SECRET_PURPOSE, &secret.expose())
                    .map_err(|e| internal("sealing a secret", &e))?,
            })
        },
        |s, new| {
            let record = s.add_subscription(&new, now)?;
            let mut body = subscription_json(&record);
            body["secret"] = json!(secret.expose());
            Ok(Ok(Answer::json(
                201,
                Some(format!(
                    "{PREFIX}/subscriptions/{}",
                    new.subscription_id.as_str()
                )),
                &body,
            )))
        },
    )
}

/// The subscription id a write names, once the caller is known to be a
/// receiver; a malformed id is the same 403 as someone else's.
fn target(principal: &Principal, id: &str) -> Result<SubscriptionId, Reply> {
    receiver(principal)?;
    SubscriptionId::parse(id).map_err(|_| forbidden())
}

/// Inside a write: the caller's own subscription, or the generic 403.
fn owned_in<S: OutboxStore + ?Sized>(
    s: &S,
    principal: &Principal,
    id: &SubscriptionId,
) -> Result<Result<SubscriptionRecord, Reply>, StoreError> {
    Ok(match s.subscription(id)? {
        Some(r) if may_manage_subscription(principal, &r.subscription.owner) => Ok(r),
        _ => Err(forbidden()),
    })
}

/// The caller's own subscription named by `id`; anything else — a
/// malformed id, no such subscription, someone else's — is the same 403.
fn owned<S: OutboxStore + ?Sized>(
    store: &S,
    principal: &Principal,
    id: &str,
) -> Result<SubscriptionRecord, Reply> {
    receiver(principal)?;
    let Ok(id) = SubscriptionId::parse(id) else {
        return Err(forbidden());
    };
    match store.subscription(&id) {
        Ok(Some(r)) if may_manage_subscription(principal, &r.subscription.owner) => Ok(r),
        Ok(_) => Err(forbidden()),
        Err(e) => Err(internal("reading a subscription", &e)),
    }
}

/// `GET /subscriptions`: the caller's subscriptions (no secrets).
pub fn list<S: OutboxStore + ?Sized>(store: &S, principal: &Principal) -> Reply {
    if let Err(reply) = receiver(principal) {
        return reply;
    }
    match store.owner_subscriptions(principal) {
        Ok(subs) => Reply::json(
            200,
            &json!({ "items": subs.iter().map(subscription_json).collect::<Vec<_>>() }),
        ),
        Err(e) => internal("listing subscriptions", &e),
    }
}

/// `GET /subscriptions/{id}`.
pub fn show<S: OutboxStore + ?Sized>(store: &S, principal: &Principal, id: &str) -> Reply {
    match owned(store, principal, id) {
        Ok(r) => Reply::json(200, &subscription_json(&r)),
        Err(reply) => reply,
    }
}

/// `POST /subscriptions/{id}/rotate`: a new secret, shown once; the
/// previous one keeps signing for [`ROTATION_OVERLAP_MS`] (a second
/// rotation within that window drops the oldest). With an
/// `Idempotency-Key` a retry is answered with the stored rotation — the
/// same new secret — instead of rotating again.
#[allow(clippy::too_many_arguments)]
pub fn rotate<S: OutboxStore + ?Sized>(
    store: &S,
    principal: &Principal,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    id: &str,
    config: &Config,
    secret: &Secret,
    now_ms: i64,
    now: &str,
) -> Reply {
    let seal_answer = |b: &str| seal(&config.secret_key, ANSWER_PURPOSE, b);
    let open_answer = |b: &str| open(&config.secret_key, ANSWER_PURPOSE, b);
    write_once_sealed(
        store,
        &WriteRequest::new(principal, head, key, b"", now),
        "rotating a secret",
        Some(&AnswerSeal {
            seal: &seal_answer,
            open: &open_answer,
        }),
        || {
            let id = target(principal, id)?;
            let sealed = seal(&config.secret_key, SECRET_PURPOSE, &secret.expose())
                .map_err(|e| internal("sealing a secret", &e))?;
            Ok((id, sealed))
        },
        |s, (id, sealed)| {
            s.lock(&[LockKey::Subscription(id.as_str().to_owned())])?;
            let record = match owned_in(s, principal, &id)? {
                Ok(r) => r,
                Err(reply) => return Ok(Err(reply)),
            };
            let expires = now_ms.saturating_add(ROTATION_OVERLAP_MS as i64);
            let new = secret.expose();
            // The previous secret moves as it is stored (sealed).
            s.rotate_secret(record.seq, &sealed, &record.subscription.secret, expires)?;
            Ok(Ok(Answer::json(
                200,
                None,
                &json!({
                    "subscription_id": record.subscription.subscription_id.as_str(),
                    "secret": new,
                    "previous_secret_expires_at": ms_rfc3339(expires),
                }),
            )))
        },
    )
}

/// `POST /subscriptions/{id}/enable`: deliveries resume (after a 410).
/// Enabling is idempotent by itself; an `Idempotency-Key` replays the
/// stored answer.
pub fn enable<S: OutboxStore + ?Sized>(
    store: &S,
    principal: &Principal,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    id: &str,
    now: &str,
) -> Reply {
    write_once(
        store,
        &WriteRequest::new(principal, head, key, b"", now),
        "enabling a subscription",
        || target(principal, id),
        |s, id| {
            s.lock(&[LockKey::Subscription(id.as_str().to_owned())])?;
            let record = match owned_in(s, principal, &id)? {
                Ok(r) => r,
                Err(reply) => return Ok(Err(reply)),
            };
            s.set_disabled(record.seq, None)?;
            let Some(r) = s.subscription(&id)? else {
                return Err(StoreError::Corrupt(
                    "the subscription vanished while enabling it".into(),
                ));
            };
            Ok(Ok(Answer::json(200, None, &subscription_json(&r))))
        },
    )
}

/// `GET /subscriptions/{id}/messages?limit=&cursor=`: newest first, with
/// state and attempt counts.
pub fn messages<S: OutboxStore + ?Sized>(
    store: &S,
    principal: &Principal,
    id: &str,
    query: &str,
) -> Reply {
    let record = match owned(store, principal, id) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let page = match routing::page(query) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    match store.messages(record.seq, page.before_seq, page.limit + 1) {
        Ok(mut items) => {
            let next = paginate(&mut items, page.limit, |m| m.seq);
            Reply::json(
                200,
                &json!({
                    "items": items.iter().map(message_json).collect::<Vec<_>>(),
                    "next_cursor": next,
                }),
            )
        }
        Err(e) => internal("listing messages", &e),
    }
}

/// `GET /subscriptions/{id}/messages/{message_id}`: the message and every
/// attempt.
pub fn message<S: OutboxStore + ?Sized>(
    store: &S,
    principal: &Principal,
    id: &str,
    message_id: &str,
) -> Reply {
    let record = match owned(store, principal, id) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let m = match store.message(record.seq, message_id) {
        Ok(Some(m)) => m,
        Ok(None) => return forbidden(),
        Err(e) => return internal("reading a message", &e),
    };
    match store.attempts(m.seq) {
        Ok(attempts) => {
            let mut body = message_json(&m);
            body["attempts"] = attempts.iter().map(attempt_json).collect();
            Reply::json(200, &body)
        }
        Err(e) => internal("reading attempts", &e),
    }
}

/// `POST /subscriptions/{id}/messages/{message_id}/redeliver`: 202; the
/// message is due now with a fresh schedule, same `webhook-id`. With an
/// `Idempotency-Key` a retry replays the stored 202 instead of scheduling
/// the message again.
#[allow(clippy::too_many_arguments)]
pub fn redeliver<S: OutboxStore + ?Sized>(
    store: &S,
    principal: &Principal,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    id: &str,
    message_id: &str,
    now_ms: i64,
    now: &str,
) -> Reply {
    write_once(
        store,
        &WriteRequest::new(principal, head, key, b"", now),
        "scheduling a redelivery",
        || target(principal, id),
        |s, id| {
            s.lock(&[LockKey::Subscription(id.as_str().to_owned())])?;
            let record = match owned_in(s, principal, &id)? {
                Ok(r) => r,
                Err(reply) => return Ok(Err(reply)),
            };
            let Some(m) = s.message(record.seq, message_id)? else {
                return Ok(Err(forbidden()));
            };
            s.redeliver(m.seq, now_ms)?;
            Ok(match s.message(record.seq, message_id)? {
                Some(m) => Ok(Answer::json(202, None, &message_json(&m))),
                None => Err(forbidden()),
            })
        },
    )
}

/// One run of the retention job at `now`: deletes the idempotency records
/// that have expired and the messages delivered longer ago than their
/// retention, with their attempts; never the append-only history. Answers
/// what it deleted (`more`: a backlog is left for the next run). Only the
/// scheduler may run it ([`authorize_dispatch`]).
pub fn purge<D: carehub_store::Db>(
    store: &carehub_store::sql::SqlStore<D>,
    retention: Retention,
    now: std::time::SystemTime,
) -> Reply {
    let before = |secs: u64| {
        rfc3339(
            now.checked_sub(Duration::from_secs(secs))
                .unwrap_or(UNIX_EPOCH),
        )
    };
    match carehub_store::retention::purge(
        store,
        &before(retention.idempotency_secs),
        &before(retention.delivered_secs),
        PURGE_BATCHES,
    ) {
        Ok(p) => Reply::json(
            200,
            &json!({
                "idempotency_records": p.idempotency_records,
                "webhook_messages": p.webhook_messages,
                "webhook_attempts": p.webhook_attempts,
                "more": p.more,
            }),
        ),
        Err(e) => internal("purging", &e),
    }
}

/// The scheduler's routes (dispatch, purge) may be run only by
/// [`SCHEDULER`]: 403 for anyone else.
pub fn authorize_dispatch(principal: &Principal) -> Result<(), Reply> {
    if may_dispatch(principal) {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// A dispatcher run's store half before delivery: fans new events out and
/// claims due messages under a lease. Returns (messages created, claimed).
pub fn prepare_dispatch<S: OutboxStore + ConsentStore + ?Sized>(
    store: &S,
    config: &Config,
    now_ms: i64,
    now: &str,
) -> Result<(usize, Vec<Delivery>), Reply> {
    let created = fan_out(store, now_ms, now).map_err(store_failed("fanning out"))?;
    let lease_until = now_ms.saturating_add(i64::try_from(config.lease_ms).unwrap_or(i64::MAX));
    let mut claimed =
        claim_due(store, now_ms, lease_until, CLAIM_LIMIT).map_err(store_failed("claiming"))?;
    // Opened only here, for signing: a secret that does not open (another
    // key) is left out, and the receiver's refusal of the unsigned
    // delivery is retried like any failure.
    for delivery in &mut claimed {
        delivery.secrets = delivery
            .secrets
            .iter()
            .filter_map(|s| match open(&config.secret_key, SECRET_PURPOSE, s) {
                Ok(plain) => Some(plain),
                Err(e) => {
                    eprintln!("carehub-webhooks: {e}");
                    None
                }
            })
            .collect();
    }
    Ok((created, claimed))
}

/// A dispatcher run's store half after delivery: records every attempt and
/// answers the run's summary.
pub fn finish_dispatch<S: OutboxStore + ?Sized>(
    store: &S,
    config: &Config,
    created: usize,
    results: &[(Delivery, AttemptRecord, f64)],
    now_ms: i64,
) -> Reply {
    let mut counts = [0usize; 3];
    for (delivery, attempt, jitter) in results {
        if let Err(e) = record_result(
            store,
            delivery,
            attempt,
            now_ms,
            config.backoff_base_ms,
            *jitter,
        ) {
            return internal("recording an attempt", &e);
        }
        counts[match attempt.outcome {
            carehub_domain::AttemptOutcome::Delivered => 0,
            carehub_domain::AttemptOutcome::Gone => 1,
            carehub_domain::AttemptOutcome::Failed => 2,
        }] += 1;
    }
    Reply::json(
        200,
        &json!({
            "fanned_out": created,
            "attempted": results.len(),
            "delivered": counts[0],
            "gone": counts[1],
            "failed": counts[2],
        }),
    )
}
