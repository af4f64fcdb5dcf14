//! `functions/consent`: recording the person's comprehensive consent
//! (given, could not be obtained, withdrawn) and showing its state and
//! history.

use carehub_consent::handler::BODY_LIMIT;
use carehub_domain::policy::table::Operation;
use carehub_domain::{ConsentMethod, ConsentState, ProxyRelationship};
use serde_json::{Map, Value, json};

use crate::Part;
use crate::callers;
use crate::common::{
    Op, READ, Response, WRITE, body_limit, json_body, object, param, path, person_params, schema,
    variant,
};

const PREFIX: &str = "/api/consent";
const TAG: &str = "consent";
const PERSON: &str = "/persons/{insurer_number}/{insured_number}";

/// Consent's paths and schemas.
pub fn part() -> Part {
    Part {
        tag: TAG,
        about: "The person's one-time comprehensive consent (包括同意): given, could not be obtained, withdrawn.",
        paths: vec![
            path(format!("{PREFIX}{PERSON}/events"), [record()]),
            path(format!("{PREFIX}{PERSON}"), [show()]),
        ],
        schemas: schemas(),
        parameters: Map::new(),
    }
}

fn record() -> Op {
    Op::post("recordConsentEvent", TAG, "Record a comprehensive-consent event (包括同意)")
        .about(format!(
            "One consent covers every office and every document, now and later. `given`: at a new or renewal certification application when the municipality records it (`application_ref` required), or by an office on the municipality's behalf. `not_obtained`: consent could not be obtained, with the reason; nothing is shared. `withdrawn`: by the person or a proxy, through the municipality, an office or the portal with a person token (`by` must match the token's holder; it defaults to the person when the holder is the person); takes effect at once. Who recorded it (`obtained_by`, `through`) is the caller; the time of a withdrawal or of `not_obtained` is the hub's. Refused with `wrong-municipality`, `office-not-registered`, `role-not-allowed` or (the portal acting for someone else) `forbidden`; `invalid-consent-event` (422) for a consent without explanation, a proxy without name or reason, a time in the future; `conflict` (409) for a withdrawal with no consent in force, or `not_obtained` while consent is in force (that is a withdrawal). The history is append-only; the latest event decides. {}",
            body_limit(BODY_LIMIT)
        ))
        .who(callers::per_case(
            "event",
            &[
                ("`given`, `not_obtained`", Operation::RecordConsent),
                ("`withdrawn`", Operation::RecordWithdrawal),
            ],
        ))
        .person_token()
        .params(person_params().into_iter().chain([param("IdempotencyKey")]))
        .body(json_body(schema("ConsentEventRequest")))
        .answers(
            201,
            Response::json(
                "Recorded: the event as stored and the state it leaves.",
                schema("ConsentRecorded"),
            )
            .location("Where the person's consent is shown: `/api/consent/persons/{insurer_number}/{insured_number}`.")
            .replayed(),
        )
        .problems(WRITE)
}

fn show() -> Op {
    Op::get(
        "showConsent",
        TAG,
        "The person's consent: state and history",
    )
    .about("Callers not listed below get 403 `forbidden`.")
    .who(callers::line(Operation::ViewConsent))
    .person_token()
    .params(person_params())
    .answers(
        200,
        Response::json(
            "The current state and the whole history, oldest first.",
            schema("ConsentHistory"),
        ),
    )
    .problems(READ)
}

fn giver() -> Value {
    json!({
        "description": "Who gave or withdrew consent: the person, or a proxy (with relationship, name and why the person could not act themself).",
        "oneOf": [
            variant("person", &["type"], json!({ "type": { "const": "person" } })),
            variant(
                "proxy",
                &["type", "relationship", "name", "reason_person_could_not_consent"],
                json!({
                    "type": { "const": "proxy" },
                    "relationship": { "enum": ProxyRelationship::NAMES, "description": "family_member 家族, legal_guardian 成年後見人, other_representative その他の代理人." },
                    "name": { "type": "string", "minLength": 1 },
                    "reason_person_could_not_consent": { "type": "string", "minLength": 1 },
                }),
            ),
        ],
    })
}

fn event_request() -> Value {
    let mut given = variant(
        "given",
        &["event", "given_by", "method", "explanation_given"],
        json!({
            "event": { "const": "given" },
            "given_by": schema("Giver"),
            "method": { "enum": ConsentMethod::NAMES, "description": "paper_form (e.g. the application's consent box), electronic, verbal_with_record." },
            "explanation_given": { "type": "boolean", "description": "Must be true: consent is recorded only after the purpose and scope of sharing were explained." },
            "application_ref": { "type": "string", "minLength": 1, "description": "The new or renewal certification application the consent came with. Required when a municipality records it." },
            "effective_at": { "type": "string", "format": "date-time", "description": "When the consent was given (RFC 3339, not in the future); default now." },
        }),
    );
    given["examples"] = json!([{ "event": "given", "given_by": { "type": "person" }, "method": "paper_form", "explanation_given": true, "application_ref": "APP-2025-000123" }]);
    json!({
        "description": "What happened. The recorder (`obtained_by` / `through`) is the caller.",
        "oneOf": [
            given,
            variant(
                "not_obtained",
                &["event", "reason"],
                json!({
                    "event": { "const": "not_obtained" },
                    "reason": { "type": "string", "minLength": 1 },
                }),
            ),
            variant(
                "withdrawn",
                &["event"],
                json!({
                    "event": { "const": "withdrawn" },
                    "by": { "$ref": "#/components/schemas/Giver", "description": "Required except for the portal when the token's holder is the person (then it is the person)." },
                }),
            ),
        ],
        "discriminator": { "propertyName": "event" },
    })
}

fn history_event() -> Value {
    let mut e = object(
        &["event", "recorded_at"],
        json!({
            "event": { "enum": ["given", "not_obtained", "withdrawn"] },
            "obtained_by": schema("PrincipalUrn"),
            "through": schema("PrincipalUrn"),
            "given_by": schema("Giver"),
            "by": schema("Giver"),
            "method": { "enum": ConsentMethod::NAMES },
            "explanation_given": { "type": "boolean" },
            "application_ref": { "type": "string" },
            "reason": { "type": "string" },
            "effective_at": { "type": "string", "format": "date-time" },
            "recorded_at": schema("Timestamp"),
        }),
    );
    e["description"] = json!(
        "A recorded event: the request's fields, who recorded it (`obtained_by` for given / not_obtained, `through` for withdrawn), its time (`effective_at`, or `recorded_at` alone for not_obtained), and `recorded_at`, when the hub recorded it."
    );
    e
}

fn schemas() -> Map<String, Value> {
    let mut s = Map::new();
    s.insert("Giver".into(), giver());
    s.insert("ConsentEventRequest".into(), event_request());
    s.insert("ConsentState".into(), json!({
        "enum": ConsentState::NAMES,
        "description": "none (nothing recorded), in_force, withdrawn, not_obtained. Offices read only while in_force.",
    }));
    s.insert("ConsentHistoryEvent".into(), history_event());
    s.insert(
        "ConsentRecorded".into(),
        object(
            &["person", "state", "recorded"],
            json!({
                "person": schema("PersonRef"),
                "state": schema("ConsentState"),
                "recorded": schema("ConsentHistoryEvent"),
            }),
        ),
    );
    s.insert(
        "ConsentHistory".into(),
        object(
            &["person", "state", "history"],
            json!({
                "person": schema("PersonRef"),
                "state": schema("ConsentState"),
                "history": { "type": "array", "items": schema("ConsentHistoryEvent"), "description": "Oldest first; the latest decides." },
            }),
        ),
    );
    s
}
