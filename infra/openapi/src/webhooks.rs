//! `functions/webhooks`: subscriptions of the portal and municipalities,
//! their messages and attempts, the dispatcher, and (OpenAPI 3.1's
//! top-level `webhooks`) the signed request the hub sends.

use carehub_domain::policy::table::Operation;
use carehub_domain::webhook::{
    DEFAULT_BACKOFF_BASE_MS, MAX_ATTEMPTS, ROTATION_OVERLAP_MS, SECRET_PREFIX, schedule_span_ms,
};
use carehub_domain::{
    EventType, Receiver, RegistrationChange, Stage, SubmissionState, SubmissionType,
};
use carehub_store::MessageState;
use carehub_webhooks::handler::{
    ANSWER_TIMEOUT_NS, BODY_LIMIT, CLAIM_LIMIT, CONNECT_TIMEOUT_NS, DEFAULT_MESSAGE_RETENTION_SECS,
    MAX_URL, PREFIX, PURGE_BATCHES, SCHEDULER,
};
use serde_json::{Map, Value, json};

use crate::Part;
use crate::callers;
use crate::common::{
    Op, READ, Response, WRITE, all_required, body_limit, closed, date_time_or_null, described,
    extended, id, json_body, keys, object, page, page_params, param, path, path_param, schema,
};

const TAG: &str = "webhooks";
/// A webhook write's own refusals: a malformed `Idempotency-Key` or id
/// (400), a reused key (409).
const IDEMPOTENT: &[u16] = &[400, 409];
const HOUR_MS: u64 = 3_600_000;

/// Who subscribes, besides the policy's line.
const RECEIVERS: &str =
    "The portal subscribes as itself (no person token). Other roles get 403 `role-not-allowed`.";
/// How the webhook writes treat `Idempotency-Key`.
const IDEMPOTENCY: &str = "`Idempotency-Key` is optional: the same principal sending the same key with the same method, path and body gets the stored answer again (marked `Idempotent-Replayed: true`) and nothing is written; the key with another request is 409 `idempotency-key-reused`. For a registration or a rotation the stored answer includes the secret: a client that lost the answer retries with the key and gets the same subscription id and secret, instead of a second subscription or a second rotation (which would retire the secret still in use). Keys are per principal: another caller's same key is its own.";
/// How a subscription's owner is told from everyone else.
const OWNER_ONLY: &str = "Another caller, a malformed id and an id that names nothing all get the same 403 `forbidden`; other roles get `role-not-allowed`.";

/// Webhooks' paths, parameters and schemas.
pub fn part() -> Part {
    let one = format!("{PREFIX}/subscriptions/{{subscription_id}}");
    let message = format!("{one}/messages/{{message_id}}");
    Part {
        tag: TAG,
        about: "The citizen portal and municipalities subscribe to events (Standard Webhooks: signed, retried, at least once); the scheduler runs the dispatcher.",
        paths: vec![
            path(format!("{PREFIX}/subscriptions"), [create(), list()]),
            path(one.clone(), [show()]),
            path(format!("{one}/rotate"), [rotate()]),
            path(format!("{one}/enable"), [enable()]),
            path(format!("{one}/messages"), [messages()]),
            path(message.clone(), [message_one()]),
            path(format!("{message}/redeliver"), [redeliver()]),
            path(format!("{PREFIX}/dispatch"), [dispatch()]),
            path(format!("{PREFIX}/purge"), [purge()]),
        ],
        schemas: schemas(),
        parameters: parameters(),
    }
}

/// Whole seconds of a nanosecond duration.
fn secs(ns: u64) -> u64 {
    ns / 1_000_000_000
}

/// What a subscription receives: the Standard Webhooks request, the retry
/// schedule, what an event carries.
fn delivery_text() -> String {
    format!(
        "Each event is POSTed to the subscription's `url` per the Standard Webhooks specification (<https://www.standardwebhooks.com>), with `content-type: application/json` and three headers: `webhook-id` — the message id (`msg_…`), the same for every retry and redelivery, so dedupe by it; `webhook-timestamp` — Unix seconds when this attempt was signed (reject old ones to stop replays); `webhook-signature` — space-separated `v1,<base64 HMAC-SHA256>` signatures of `{{webhook-id}}.{{webhook-timestamp}}.{{body}}`, keyed with the base64-decoded part of the `{SECRET_PREFIX}…` secret, one per secret in use (during the {overlap} hours after a rotation, the new secret's and the previous one's). A 2xx answer is a delivery; 410 Gone disables the subscription (`POST …/enable` resumes it); anything else, or no answer within {connect} s to connect and {answer} s to answer, is retried {retries} times with delays base × 4^(n−1), capped at base × 8640, lengthened by up to a quarter of random jitter (at least {span} hours in all at the default base of {base} s). Delivery is at least once. The body is the event: `type`, `timestamp`, and `data` — the person and the ids and states of the change, limited to what the receiver may read (the portal: what the person may see; a municipality: the persons it insures, ◎ document kinds only while consent is in force); never document content.",
        overlap = ROTATION_OVERLAP_MS / HOUR_MS,
        connect = secs(CONNECT_TIMEOUT_NS),
        answer = secs(ANSWER_TIMEOUT_NS),
        retries = MAX_ATTEMPTS - 1,
        span = schedule_span_ms(DEFAULT_BACKOFF_BASE_MS) / HOUR_MS,
        base = DEFAULT_BACKOFF_BASE_MS / 1000,
    )
}

/// The answer of a webhook write: `ok`, marked when it is replayed.
fn write(op: Op, status: u16, ok: Response) -> Op {
    op.answers(status, ok.replayed()).problems(IDEMPOTENT)
}

/// One subscription, without its secret.
fn subscription_answer() -> Response {
    Response::json(
        "The subscription, without its secret.",
        schema("WebhookSubscription"),
    )
}

fn create() -> Op {
    let portal: Vec<String> = Receiver::Portal
        .event_types()
        .iter()
        .map(|t| format!("`{}`", t.as_str()))
        .collect();
    let mut request = closed(
        &["url"],
        json!({
            "url": { "type": "string", "format": "uri", "maxLength": MAX_URL },
            "event_types": { "type": "array", "minItems": 1, "items": schema("WebhookEventType"), "description": "Default: every type the caller may subscribe to." },
        }),
    );
    request["examples"] = json!([{ "url": "https://city.hooks.example.jp/carehub", "event_types": ["document.stored", "submission.state_changed"] }]);
    Op::post("createWebhookSubscription", TAG, "Register a webhook endpoint")
        .about(format!(
            "{RECEIVERS} `url`: an absolute http(s) URL without credentials, at most {MAX_URL} characters, under the hub's allowed outbound origin (the Spin variable `webhook_allowed_origin`, the component's `allowed_outbound_hosts` entry); any other is 422 `webhook-url-not-allowed`. `event_types`: a non-empty subset of what the caller may hear of — the portal {}; a municipality every type — default all of them; an unknown type is 400 `invalid-request`, one the caller may not subscribe to 403 `role-not-allowed`. The hub draws the signing secret and returns it once. {} {IDEMPOTENCY}\n\n{}",
            portal.join(", "),
            body_limit(BODY_LIMIT),
            delivery_text(),
        ))
        .who(callers::line(Operation::Subscribe))
        .params([param("IdempotencyKey")])
        .body(json_body(request))
        .answers(
            201,
            Response::json(
                "Registered. The body carries `secret`, shown this once — or, for the same Idempotency-Key and body again, the stored answer with the same id and secret.",
                schema("WebhookSubscriptionCreated"),
            )
            .location("`/api/webhooks/subscriptions/{subscription_id}`.")
            .replayed(),
        )
        .problems(WRITE)
}

fn list() -> Op {
    let items = object(
        &["items"],
        json!({ "items": { "type": "array", "items": schema("WebhookSubscription") } }),
    );
    Op::get(
        "listWebhookSubscriptions",
        TAG,
        "The caller's webhook subscriptions",
    )
    .about(RECEIVERS)
    .who(callers::line(Operation::Subscribe))
    .answers(
        200,
        Response::json(
            "The caller's subscriptions, oldest first, without secrets.",
            items,
        ),
    )
}

fn show() -> Op {
    Op::get("showWebhookSubscription", TAG, "One webhook subscription")
        .about(format!("Its URL, event types, whether deliveries are enabled (and why not), and until when a rotated-out secret still signs. {OWNER_ONLY}"))
        .who(callers::line(Operation::ManageSubscription))
        .params([param("SubscriptionIdPath")])
        .answers(200, subscription_answer())
}

fn enable() -> Op {
    let op = Op::post("enableWebhookSubscription", TAG, "Resume deliveries")
        .about(format!("After the receiver answered 410 Gone the subscription is disabled (`disabled_reason` `gone`); this enables it again, and messages still pending go out at the next dispatch. No body. Enabling an enabled subscription changes nothing. {IDEMPOTENCY} {OWNER_ONLY}"))
        .who(callers::line(Operation::ManageSubscription))
        .params([param("SubscriptionIdPath"), param("IdempotencyKey")]);
    write(op, 200, subscription_answer())
}

fn rotate() -> Op {
    let op = Op::post("rotateWebhookSecret", TAG, "Rotate the signing secret")
        .about(format!(
            "The hub draws a new secret; the previous one keeps signing for {} hours (each delivery then carries both `v1` signatures), time to deploy the new one. A second rotation within that window drops the oldest. No body. {IDEMPOTENCY} {OWNER_ONLY}",
            ROTATION_OVERLAP_MS / HOUR_MS
        ))
        .who(callers::line(Operation::ManageSubscription))
        .params([param("SubscriptionIdPath"), param("IdempotencyKey")]);
    let ok = Response::json(
        "The new secret, shown this once — or, for the same Idempotency-Key again, the stored answer with the same secret.",
        schema("WebhookSecretRotated"),
    );
    write(op, 200, ok)
}

fn messages() -> Op {
    Op::get("listWebhookMessages", TAG, "Deliveries to a subscription")
        .about(format!(
            "One message per event fanned out to the subscription (by the dispatcher). {OWNER_ONLY}"
        ))
        .who(callers::line(Operation::ManageSubscription))
        .params(
            [param("SubscriptionIdPath")]
                .into_iter()
                .chain(page_params()),
        )
        .answers(
            200,
            Response::json(
                "The subscription's messages, newest first, with state and attempt count.",
                page(&[], "items", schema("WebhookMessage")),
            ),
        )
        .problems(READ)
}

fn message_one() -> Op {
    Op::get("showWebhookMessage", TAG, "One delivery and its attempts")
        .about(format!(
            "A message id that is not this subscription's is the same 403 `forbidden`. {OWNER_ONLY}"
        ))
        .who(callers::line(Operation::ManageSubscription))
        .params([param("SubscriptionIdPath"), param("MessageIdPath")])
        .answers(
            200,
            Response::json(
                "The message, its payload and every attempt, oldest first.",
                schema("WebhookMessageWithAttempts"),
            ),
        )
}

fn redeliver() -> Op {
    let op = Op::post("redeliverWebhookMessage", TAG, "Deliver a message again")
        .about(format!("The message — delivered, failed or pending — is due at once with a fresh retry schedule and goes out at the next dispatch with the same `webhook-id`; earlier attempts are kept. No body. A message id that is not this subscription's is the same 403 `forbidden`. {IDEMPOTENCY} {OWNER_ONLY}"))
        .who(callers::line(Operation::ManageSubscription))
        .params([
            param("SubscriptionIdPath"),
            param("MessageIdPath"),
            param("IdempotencyKey"),
        ]);
    let ok = Response::json(
        "Scheduled: the message, pending and due now (or, for the same Idempotency-Key again, the stored answer; the message is not scheduled again).",
        schema("WebhookMessage"),
    );
    write(op, 202, ok)
}

fn dispatch() -> Op {
    let count =
        |description: &str| json!({ "type": "integer", "minimum": 0, "description": description });
    let summary = object(
        &["fanned_out", "attempted", "delivered", "gone", "failed"],
        json!({
            "fanned_out": count("Messages created from new events."),
            "attempted": count("Messages claimed and sent."),
            "delivered": count("Answered 2xx."),
            "gone": count("Answered 410: their subscriptions are now disabled."),
            "failed": count("Anything else: retried per the schedule, or given up after the last attempt."),
        }),
    );
    Op::post("dispatchWebhooks", TAG, "Run the dispatcher once")
        .about(format!(
            "The scheduler principal is `{SCHEDULER}` (the gateway's scheduler asserts it in process; on Spin, a cron presents a client certificate naming it); anyone else gets 403 `forbidden`. Fans new outbox events out into one message per subscription that may hear of them, claims up to {CLAIM_LIMIT} due messages under a lease (concurrent runs never hold the same message), delivers them concurrently, signed, and records every attempt. No body."
        ))
        .who(callers::line(Operation::Dispatch))
        .answers(200, Response::json("The run's summary.", summary))
}

fn purge() -> Op {
    let count =
        |description: &str| json!({ "type": "integer", "minimum": 0, "description": description });
    let summary = object(
        &[
            "idempotency_records",
            "webhook_messages",
            "webhook_attempts",
            "more",
        ],
        json!({
            "idempotency_records": count("Idempotency records past their retention, deleted."),
            "webhook_messages": count("Delivered messages past their retention, deleted."),
            "webhook_attempts": count("The attempts of those messages, deleted."),
            "more": { "type": "boolean", "description": "The run stopped at its batch limit: more remain for the next run." },
        }),
    );
    let idempotency_days = carehub_guest::idempotency::DEFAULT_RETENTION_SECS / 86_400;
    let message_days = DEFAULT_MESSAGE_RETENTION_SECS / 86_400;
    Op::post("purgeExpired", TAG, "Run the retention job once")
        .about(format!(
            "For the scheduler principal `{SCHEDULER}` only (in process every hour under `carehub up`; a CronJob on the cluster); anyone else gets 403 `forbidden`. Deletes idempotency records older than the `idempotency_retention_secs` variable ({idempotency_days} days by default; such a key already answers as new) and webhook messages delivered longer ago than `webhook_retention_secs` ({message_days} days), with their attempts. Pending and failed messages, and all append-only history (documents and versions, consent events, registrations, steps, relay events, outbox events, the access log), are never deleted. At most {PURGE_BATCHES} short transactions of each kind per run. No body."
        ))
        .who(callers::line(Operation::Dispatch))
        .answers(200, Response::json("What the run deleted.", summary))
}

fn parameters() -> Map<String, Value> {
    let mut p = Map::new();
    p.insert(
        "SubscriptionIdPath".into(),
        path_param(
            "subscription_id",
            Some("A webhook subscription's id (a malformed one is answered like any id that is not the caller's: 403 forbidden)."),
            schema("SubscriptionId"),
        ),
    );
    p.insert(
        "MessageIdPath".into(),
        path_param(
            "message_id",
            Some("A webhook message's id, its `webhook-id`."),
            id("msg"),
        ),
    );
    p
}

/// OpenAPI 3.1's top-level `webhooks`: the request the hub sends.
pub fn deliveries() -> Value {
    let header = |name: &str, description: &str, schema: Value| json!({ "name": name, "in": "header", "required": true, "description": description, "schema": schema });
    json!({
        "carehubEvent": {
            "post": {
                "operationId": "receiveCarehubEvent",
                "tags": [TAG],
                "summary": "An event delivered to a subscription's URL",
                "description": delivery_text(),
                "security": [],
                "parameters": [
                    header("webhook-id", "The message id; the same for every retry and redelivery.", id("msg")),
                    header("webhook-timestamp", "Unix seconds when the attempt was signed.", json!({ "type": "string", "pattern": "^[0-9]+$" })),
                    header("webhook-signature", "Space-separated `v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">`, one per secret in use.", json!({ "type": "string" })),
                ],
                "requestBody": json_body(schema("WebhookEvent")),
                "responses": {
                    "2XX": { "description": "Delivered." },
                    "410": { "description": "Gone: the hub disables the subscription." },
                    "default": { "description": "Anything else: retried per the schedule." },
                },
            }
        }
    })
}

fn schemas() -> Map<String, Value> {
    let mut s = Map::new();
    s.insert("WebhookEventType".into(), json!({
        "enum": EventType::NAMES,
        "description": "document.stored (a document or a new version was stored), consent.changed, registration.changed, progress.changed, submission.state_changed (municipalities only).",
    }));
    s.insert("SubscriptionId".into(), id("ep"));
    s.insert("WebhookSecret".into(), json!({
        "type": "string", "pattern": format!("^{SECRET_PREFIX}[A-Za-z0-9+/]+=*$"),
        "description": "The signing secret: `whsec_` and the base64 of 32 random bytes; the HMAC key is the decoded bytes.",
    }));
    subscription_schemas(&mut s);
    message_schemas(&mut s);
    s.insert("WebhookEvent".into(), event());
    s
}

fn subscription_schemas(s: &mut Map<String, Value>) {
    let subscription = all_required(json!({
        "subscription_id": schema("SubscriptionId"),
        "url": { "type": "string", "format": "uri" },
        "event_types": { "type": "array", "items": schema("WebhookEventType") },
        "enabled": { "type": "boolean", "description": "False once disabled; deliveries wait until enabled again." },
        "disabled_at": date_time_or_null(),
        "disabled_reason": { "type": ["string", "null"], "description": "`gone`: the receiver answered 410." },
        "previous_secret_expires_at": described(date_time_or_null(), "After a rotation: until when the previous secret also signs (when it has not yet passed, deliveries carry both signatures)."),
        "created_at": schema("Timestamp"),
    }));
    let created = extended(&subscription, &[("secret", schema("WebhookSecret"))]);
    s.insert(
        "WebhookSubscription".into(),
        described(subscription, &delivery_text()),
    );
    s.insert(
        "WebhookSubscriptionCreated".into(),
        described(
            created,
            "The registered subscription and its signing secret, shown this once (later answers never carry it).",
        ),
    );
    s.insert(
        "WebhookSecretRotated".into(),
        object(
            &["subscription_id", "secret", "previous_secret_expires_at"],
            json!({
                "subscription_id": schema("SubscriptionId"),
                "secret": schema("WebhookSecret"),
                "previous_secret_expires_at": { "type": "string", "format": "date-time" },
            }),
        ),
    );
}

fn message_schemas(s: &mut Map<String, Value>) {
    let states: Vec<&str> = [
        MessageState::Pending,
        MessageState::Delivered,
        MessageState::Failed,
    ]
    .map(MessageState::as_str)
    .to_vec();
    let message = all_required(json!({
        "message_id": described(id("msg"), "The `webhook-id` header of every attempt."),
        "event_type": schema("WebhookEventType"),
        "state": { "enum": states, "description": format!("pending (to be tried at `next_attempt_at`), delivered (a 2xx answer), failed (all {MAX_ATTEMPTS} attempts failed)") },
        "attempt_count": { "type": "integer", "minimum": 0 },
        "next_attempt_at": described(date_time_or_null(), "When pending."),
        "created_at": schema("Timestamp"),
        "delivered_at": date_time_or_null(),
        "payload": schema("WebhookEvent"),
    }));
    let with_attempts = extended(
        &message,
        &[(
            "attempts",
            json!({ "type": "array", "items": schema("WebhookAttempt"), "description": "Oldest first." }),
        )],
    );
    s.insert(
        "WebhookMessage".into(),
        described(message, "One event's delivery to one subscription."),
    );
    s.insert("WebhookMessageWithAttempts".into(), with_attempts);
    let attempt = object(
        &["attempted_at", "status", "error", "duration_ms", "outcome"],
        json!({
            "attempted_at": schema("Timestamp"),
            "status": { "type": ["integer", "null"], "description": "The receiver's HTTP status; null when there was no answer." },
            "error": { "type": ["string", "null"], "description": "Why there was no answer (connection refused, timeout, a destination outside the allowed origin), at most 300 characters." },
            "duration_ms": { "type": "integer", "minimum": 0 },
            "outcome": { "enum": ["delivered", "gone", "failed"], "description": "2xx delivered; 410 gone (the subscription was disabled); anything else failed (retried)." },
        }),
    );
    s.insert(
        "WebhookAttempt".into(),
        described(attempt, "One delivery attempt."),
    );
}

/// A delivered event: one variant per event type, each with its `data`.
fn event() -> Value {
    let person = schema("PersonRef");
    let variant = |t: EventType, data: Value| {
        let required = keys(&data);
        json!({
            "type": "object", "title": t.as_str(),
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": { "const": t.as_str() },
                "timestamp": schema("Timestamp"),
                "data": { "type": "object", "required": required, "properties": data },
            },
        })
    };
    json!({
        "description": "A delivered event (Standard Webhooks payload shape): what happened, when (`timestamp`, when the change was made) and the ids and states it concerns — never document content or who wrote it.",
        "oneOf": [
            variant(EventType::DocumentStored, json!({
                "person": person,
                "document_id": schema("DocumentId"),
                "kind": schema("DocumentKind"),
                "version": { "type": "integer", "minimum": 1 },
                "supersedes": { "type": ["integer", "null"] },
            })),
            variant(EventType::ConsentChanged, json!({
                "person": person,
                "event": { "enum": ["given", "not_obtained", "withdrawn"] },
                "state": schema("ConsentState"),
            })),
            variant(EventType::RegistrationChanged, json!({
                "person": person,
                "registration_id": schema("RegistrationId"),
                "office": schema("PrincipalUrn"),
                "change": { "enum": RegistrationChange::NAMES },
            })),
            variant(EventType::ProgressChanged, json!({
                "person": person,
                "application_id": id("app"),
                "stage": { "enum": Stage::NAMES },
            })),
            variant(EventType::SubmissionStateChanged, json!({
                "person": person,
                "submission_id": id("sub"),
                "submission_type": { "enum": SubmissionType::NAMES },
                "state": { "enum": SubmissionState::NAMES },
            })),
        ],
        "discriminator": { "propertyName": "type" },
    })
}
