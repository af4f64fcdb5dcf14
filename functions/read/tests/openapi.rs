//! `infra/openapi.json` — the OpenAPI 3.1 document of every component's
//! routes (ingest, read, consent, office-register, progress, relay,
//! webhooks) and of the webhook deliveries the hub sends, which the gateway
//! serves at `/openapi.json` — is generated from
//! the domain crate (kinds, their fields with Japanese names, examples, the
//! problem catalogue) so that it cannot drift from what the components
//! enforce. This test fails when the file is stale; regenerate it with
//!
//! ```sh
//! CAREHUB_BLESS=1 cargo test -p carehub-read --test openapi
//! ```

use std::path::PathBuf;

use carehub_domain::content::{example_content, optional_fields, required_fields};
use carehub_domain::webhook::{
    DEFAULT_BACKOFF_BASE_MS, MAX_ATTEMPTS, ROTATION_OVERLAP_MS, SECRET_PREFIX, schedule_span_ms,
};
use carehub_domain::{
    AccessAction, AccessOutcome, ConsentMethod, ConsentState, DocumentKind, InsuredNumber,
    InsurerNumber, PersonActor, PersonRef, ProblemType, ProxyRelationship, RegistrationState, Role,
};
use carehub_domain::{
    ApplicationType, OpinionTrack, Stage, SubmissionState, SubmissionType, SurveyTrack,
};
use carehub_domain::{EventType, Receiver, RegistrationChange};
use carehub_store::MessageState;
use carehub_webhooks::handler::{BODY_LIMIT, CLAIM_LIMIT, SCHEDULER};
use serde_json::{Map, Value, json};

const INGEST: &str = "/api/ingest";
const READ: &str = "/api/read";
const CONSENT: &str = "/api/consent";
const OFFICE_REGISTER: &str = "/api/office-register";
const PROGRESS: &str = "/api/progress";
const RELAY: &str = "/api/relay";
const WEBHOOKS: &str = "/api/webhooks";

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/openapi.json")
}

fn example_person() -> PersonRef {
    PersonRef::new(
        InsurerNumber::parse("131016").unwrap(),
        InsuredNumber::parse("0000012345").unwrap(),
    )
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn problem_ref(status: u16) -> Value {
    json!({ "$ref": format!("#/components/responses/Problem{status}") })
}

/// A field that the domain lists as required but only under a condition
/// (its description says "required for …" / "required when …").
fn conditional(description: &str) -> bool {
    description.contains("required for") || description.contains("required when")
}

fn field_schema(name: &str, description: &str) -> Value {
    let mut s = Map::new();
    s.insert("description".into(), json!(description));
    if name.ends_with("_date") {
        s.insert("type".into(), json!(["string", "null"]));
        s.insert("format".into(), json!("date"));
    } else if name.ends_with("_yen") || name.ends_with("_units") {
        s.insert("type".into(), json!(["integer", "null"]));
        s.insert("minimum".into(), json!(0));
    }
    Value::Object(s)
}

fn content_schema(kind: DocumentKind) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut conditionally = Vec::new();
    for (name, description) in required_fields(kind) {
        properties.insert((*name).into(), field_schema(name, description));
        if conditional(description) {
            conditionally.push(format!("`{name}`"));
        } else {
            required.push(json!(name));
        }
    }
    for (name, description) in optional_fields(kind) {
        properties.insert((*name).into(), field_schema(name, description));
    }
    let mut description = format!(
        "The content of a {} ({}). Required fields are checked with the form's rules; \
         fields not listed are kept as sent. Anywhere in the document, a key ending in \
         `_date` holds an ISO 8601 date `YYYY-MM-DD`, a key ending in `_yen` or `_units` a \
         non-negative integer; `insured_number` / `insurer_number`, when present, must equal \
         the envelope's person.",
        kind.japanese_name(),
        kind.as_str()
    );
    if !conditionally.is_empty() {
        description.push_str(&format!(
            " Required under the condition their description states: {}.",
            conditionally.join(", ")
        ));
    }
    json!({
        "type": "object",
        "description": description,
        "required": required,
        "properties": properties,
        "additionalProperties": true,
        "examples": [example_content(kind, &example_person())],
    })
}

fn envelope_schema(kind: DocumentKind, bulk: bool) -> Value {
    let mut properties = json!({
        "person": schema_ref("PersonRef"),
        "kind": { "const": kind.as_str(), "description": kind.japanese_name() },
        "document_key": schema_ref("DocumentKey"),
        "content": schema_ref(&format!("Content_{}", kind.as_str())),
    });
    if bulk {
        properties["idempotency_key"] = json!({
            "$ref": "#/components/schemas/IdempotencyKey",
            "description": "This line's idempotency key (per principal). A line repeated with the same key and the same bytes gets the stored answer again; the same key with other bytes is refused with idempotency-key-reused."
        });
    }
    let mut required = vec![json!("person"), json!("kind"), json!("content")];
    let key_doc = if kind.is_singleton() {
        "Optional: a certificate is one document per person and author, whose key defaults to \"current\"; each new certificate becomes its next version."
    } else {
        required.push(json!("document_key"));
        "Required: the author's name for this logical document (e.g. a plan period). Storing again under the same key creates a new version."
    };
    json!({
        "type": "object",
        "title": format!("{} ({})", kind.japanese_name(), kind.as_str()),
        "description": key_doc,
        "required": required,
        "properties": properties,
        "additionalProperties": false,
    })
}

fn kinds_description() -> String {
    let mut s = String::from("The kind of document (snake_case). Authors (ingest):");
    for kind in DocumentKind::ALL {
        let authors: Vec<&str> = carehub_domain::policy::ingest::ingest_authors(kind)
            .iter()
            .map(|r| r.as_str())
            .collect();
        s.push_str(&format!(
            "\n- `{}` {} — {}",
            kind.as_str(),
            kind.japanese_name(),
            authors.join(", ")
        ));
    }
    s
}

fn problems_description(slugs: &[ProblemType]) -> String {
    let mut s = String::from("RFC 9457 problem. `type` is one of:");
    for t in slugs {
        s.push_str(&format!("\n- `{}` — {}", t.type_uri(), t.title()));
    }
    s
}

fn problem_response(status: u16) -> Value {
    let types: Vec<ProblemType> = ProblemType::ALL
        .into_iter()
        .filter(|t| t.status() == status)
        .collect();
    json!({
        "description": problems_description(&types),
        "content": { "application/problem+json": { "schema": schema_ref("Problem") } },
    })
}

fn op_problems(statuses: &[u16], responses: &mut Map<String, Value>) {
    for s in statuses {
        responses.insert(s.to_string(), problem_ref(*s));
    }
}

/// Statuses any route can answer: identity (the edge and the assertion), routing, limits of the gateway, internal errors.
const COMMON: &[u16] = &[401, 403, 404, 405, 500, 503, 504];

fn ingest_single() -> Value {
    let mut responses = Map::new();
    responses.insert("201".into(), json!({
        "description": "Stored: a new document (version 1) or a new version superseding the previous one.",
        "headers": {
            "Location": { "description": "Where the document is read: `/api/read/documents/{document_id}`.", "schema": { "type": "string" } },
            "Idempotent-Replayed": { "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.", "schema": { "type": "string" } },
        },
        "content": { "application/json": { "schema": schema_ref("StoredDocument") } },
    }));
    responses.insert("200".into(), json!({
        "description": "The content equals the current version's: nothing was stored; the current version is returned.",
        "content": { "application/json": { "schema": schema_ref("StoredDocument") } },
    }));
    op_problems(&[400, 409, 413, 415, 422], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "post": {
            "operationId": "ingestDocument",
            "tags": ["ingest"],
            "summary": "Store one document (versioned, idempotent)",
            "description": "Stores one document about a person. The caller's role must author the kind (`kind-not-authored-by-role`); a municipality writes only about persons it insures (`wrong-municipality`); a care-manager or care-service office writes only about persons for whom its registration as responsible office (`POST /api/office-register/registrations`) is in force at the time of the write (`office-not-registered`, checked in the write's transaction, so a deregistration takes effect at once). The content is validated against the kind's form (`invalid-document`, with `violations`). The document id is derived from person, kind, author and document key: the same four always name the same document, and different content makes version N+1 that supersedes N (history is kept). Body limit 1 MiB.",
            "parameters": [{ "$ref": "#/components/parameters/IdempotencyKey" }],
            "requestBody": {
                "required": true,
                "content": { "application/json": { "schema": schema_ref("DocumentEnvelope") } },
            },
            "responses": responses,
        }
    })
}

fn ingest_bulk() -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), json!({
        "description": "One result line per non-empty input line, in input order (`line` is the 1-based input line number). Refused lines carry a `problem` and store nothing; every other line is stored, all in one transaction.",
        "content": { "application/x-ndjson": { "schema": schema_ref("BulkResultLine") } },
    }));
    op_problems(&[400, 413, 415], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "post": {
            "operationId": "ingestDocumentsBulk",
            "tags": ["ingest"],
            "summary": "Store many documents (NDJSON)",
            "description": "Each non-empty line is one document envelope as for `POST /api/ingest/documents`, plus an optional `idempotency_key`. A bad line refuses only itself (same problem types as the single endpoint, per line); all other lines are written in one transaction, so the bulk is stored whole or not at all. At most 100,000 lines and 64 MiB. A request-level `Idempotency-Key` header is refused (400 `invalid-request`): give each line its own key.",
            "requestBody": {
                "required": true,
                "content": { "application/x-ndjson": { "schema": schema_ref("BulkLine") } },
            },
            "responses": responses,
        }
    })
}

fn read_list() -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), json!({
        "description": "The person's documents the caller may read, newest first, current version with content. Kinds the caller may not read are omitted.",
        "content": { "application/json": { "schema": schema_ref("DocumentList") } },
    }));
    op_problems(&[400], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "listPersonDocuments",
            "tags": ["read"],
            "summary": "List a person's documents",
            "description": "Who may read follows the sharing matrix (共有範囲): the portal (with a person token naming this very person) reads the kinds marked for the person; a municipality reads the persons it insures (kinds marked ★/○, and ◎ with consent); care offices and medical institutions read only with a registration in force (`/api/office-register`) and the person's consent in force (`/api/consent`), checked at every request, so a withdrawal or a deregistration cuts access on the next one. A caller that may read nothing about the person gets 403 `forbidden`. Every list, allowed or refused, is appended to the person's access log with the documents it returned.",
            "security": [{ "mutualTLS": [] }, { "mutualTLS": [], "personToken": [] }],
            "parameters": [
                { "$ref": "#/components/parameters/InsurerNumberPath" },
                { "$ref": "#/components/parameters/InsuredNumberPath" },
                { "$ref": "#/components/parameters/Kind" },
                { "$ref": "#/components/parameters/Limit" },
                { "$ref": "#/components/parameters/Cursor" },
            ],
            "responses": responses,
        }
    })
}

fn read_one() -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), json!({
        "description": "The current version (or the one asked for) with its content, and the version history.",
        "content": { "application/json": { "schema": schema_ref("DocumentWithVersions") } },
    }));
    op_problems(&[400], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "readDocument",
            "tags": ["read"],
            "summary": "Read one document",
            "description": "A document that does not exist and one the caller may not read are answered with the same 403 `forbidden` body, byte for byte. An author always reads what it stored. 404 `not-found` only for a `version` the (readable) document does not have. Every read and every refused read is appended to the person's access log.",
            "security": [{ "mutualTLS": [] }, { "mutualTLS": [], "personToken": [] }],
            "parameters": [
                { "$ref": "#/components/parameters/DocumentIdPath" },
                { "$ref": "#/components/parameters/Version" },
            ],
            "responses": responses,
        }
    })
}

fn read_accesses() -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), json!({
        "description": "Accesses to the person's data, newest first: every read and every refused read of their documents and of their certification progress, by whom and when (for portal reads also which portal user: the person token's `sub` and whether the person or a proxy). A municipality's list of open applications counts as a read of each person on the page. Why a read was refused stays in the log (it is internal).",
        "content": { "application/json": { "schema": schema_ref("AccessList") } },
    }));
    op_problems(&[400], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "listPersonAccesses",
            "tags": ["read"],
            "summary": "List who read (or tried to read) the person's data",
            "description": "For the person (the portal, with a person token naming this very person) and the person's municipality; anyone else gets 403 `forbidden`. The log is append-only and tamper-evident: each entry chains the hash of the previous one (`carehub verify-log` checks the chain).",
            "security": [{ "mutualTLS": [] }, { "mutualTLS": [], "personToken": [] }],
            "parameters": [
                { "$ref": "#/components/parameters/InsurerNumberPath" },
                { "$ref": "#/components/parameters/InsuredNumberPath" },
                { "$ref": "#/components/parameters/Limit" },
                { "$ref": "#/components/parameters/Cursor" },
            ],
            "responses": responses,
        }
    })
}

fn consent_record() -> Value {
    let mut responses = Map::new();
    responses.insert("201".into(), json!({
        "description": "Recorded: the event as stored and the state it leaves.",
        "headers": {
            "Location": { "description": "Where the person's consent is shown: `/api/consent/persons/{insurer_number}/{insured_number}`.", "schema": { "type": "string" } },
            "Idempotent-Replayed": { "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.", "schema": { "type": "string" } },
        },
        "content": { "application/json": { "schema": schema_ref("ConsentRecorded") } },
    }));
    op_problems(&[400, 409, 413, 415, 422], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "post": {
            "operationId": "recordConsentEvent",
            "tags": ["consent"],
            "summary": "Record a comprehensive-consent event (包括同意)",
            "description": "One consent covers every office and every document, now and later. `given`: by the person's municipality at a new or renewal certification application (`application_ref` required), or by a care-manager office or care-service office/facility registered for the person, on the municipality's behalf. `not_obtained`: consent could not be obtained, with the reason; nothing is shared. `withdrawn`: by the person or a proxy, through the municipality, an office registered for the person (medical institutions included) or the portal with a person token (`by` must match the token's holder; it defaults to the person when the holder is the person); takes effect at once. Who recorded it (`obtained_by`, `through`) is the caller; the time of a withdrawal or of `not_obtained` is the hub's. Refused with `wrong-municipality`, `office-not-registered`, `role-not-allowed` or (the portal acting for someone else) `forbidden`; `invalid-consent-event` (422) for a consent without explanation, a proxy without name or reason, a time in the future; `conflict` (409) for a withdrawal with no consent in force, or `not_obtained` while consent is in force (that is a withdrawal). The history is append-only; the latest event decides. Body limit 64 KiB.",
            "security": [{ "mutualTLS": [] }, { "mutualTLS": [], "personToken": [] }],
            "parameters": [
                { "$ref": "#/components/parameters/InsurerNumberPath" },
                { "$ref": "#/components/parameters/InsuredNumberPath" },
                { "$ref": "#/components/parameters/IdempotencyKey" },
            ],
            "requestBody": {
                "required": true,
                "content": { "application/json": { "schema": schema_ref("ConsentEventRequest") } },
            },
            "responses": responses,
        }
    })
}

fn consent_show() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The current state and the whole history, oldest first.",
            "content": { "application/json": { "schema": schema_ref("ConsentHistory") } },
        }),
    );
    op_problems(&[400], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "showConsent",
            "tags": ["consent"],
            "summary": "The person's consent: state and history",
            "description": "For the person (portal, person token naming them), the person's municipality, and offices with a registration in force for the person; anyone else gets 403 `forbidden`.",
            "security": [{ "mutualTLS": [] }, { "mutualTLS": [], "personToken": [] }],
            "parameters": [
                { "$ref": "#/components/parameters/InsurerNumberPath" },
                { "$ref": "#/components/parameters/InsuredNumberPath" },
            ],
            "responses": responses,
        }
    })
}

fn registrations() -> Value {
    let mut created = Map::new();
    created.insert("201".into(), json!({
        "description": "Registered.",
        "headers": {
            "Location": { "description": "`/api/office-register/registrations/{registration_id}`.", "schema": { "type": "string" } },
            "Idempotent-Replayed": { "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.", "schema": { "type": "string" } },
        },
        "content": { "application/json": { "schema": schema_ref("Registration") } },
    }));
    op_problems(&[400, 409, 413, 415, 422], &mut created);
    op_problems(COMMON, &mut created);
    let mut listed = Map::new();
    listed.insert("200".into(), json!({
        "description": "The calling office's registrations, newest first, each with its state now.",
        "content": { "application/json": { "schema": schema_ref("OfficeRegistrationList") } },
    }));
    op_problems(&[400], &mut listed);
    op_problems(COMMON, &mut listed);
    json!({
        "post": {
            "operationId": "registerOffice",
            "tags": ["office-register"],
            "summary": "Register as the person's responsible office (担当事業所登録)",
            "description": "The calling office — a care-manager office, a care-service office or facility, or a medical institution (deemed care office) — registers itself after verifying the person's identity when the contract starts: the method (`my_number_card`, or `other` with a description) and a reference to the check, the start and an optional end. Identity is not re-checked at each read. Other roles get `role-not-allowed`; an incomplete verification or an end not after start and now is `invalid-registration` (422); an office that already holds a registration for the person that has not ended gets `conflict` (409). Body limit 16 KiB.",
            "parameters": [{ "$ref": "#/components/parameters/IdempotencyKey" }],
            "requestBody": {
                "required": true,
                "content": { "application/json": { "schema": schema_ref("RegistrationRequest") } },
            },
            "responses": created,
        },
        "get": {
            "operationId": "listOfficeRegistrations",
            "tags": ["office-register"],
            "summary": "The persons the calling office is registered for",
            "description": "For offices (care-manager, care-service, medical); other roles get `role-not-allowed`.",
            "parameters": [
                { "$ref": "#/components/parameters/Limit" },
                { "$ref": "#/components/parameters/Cursor" },
            ],
            "responses": listed,
        }
    })
}

fn registration_one() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The registration, with its state now.",
            "content": { "application/json": { "schema": schema_ref("Registration") } },
        }),
    );
    op_problems(&[400], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "readRegistration",
            "tags": ["office-register"],
            "summary": "One of the calling office's registrations",
            "description": "404 `not-found` for an id the calling office holds no registration under (whether or not another office does).",
            "parameters": [{ "$ref": "#/components/parameters/RegistrationIdPath" }],
            "responses": responses,
        }
    })
}

fn deregister() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "Deregistered: the registration has ended, now.",
            "content": { "application/json": { "schema": schema_ref("Registration") } },
        }),
    );
    op_problems(&[400, 409, 413, 415, 422], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "post": {
            "operationId": "deregisterOffice",
            "tags": ["office-register"],
            "summary": "End the calling office's registration",
            "description": "The office ends its registration (the contract ended); its reads of the person stop at the next request. 404 `not-found` for another office's registration or none; 409 `conflict` when it has already ended; a blank reason is `invalid-registration`.",
            "parameters": [
                { "$ref": "#/components/parameters/RegistrationIdPath" },
                { "$ref": "#/components/parameters/IdempotencyKey" },
            ],
            "requestBody": {
                "required": true,
                "content": { "application/json": { "schema": schema_ref("DeregistrationRequest") } },
            },
            "responses": responses,
        }
    })
}

fn person_registrations() -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), json!({
        "description": "Every registration for the person, newest first, each with its state now.",
        "content": { "application/json": { "schema": schema_ref("PersonRegistrationList") } },
    }));
    op_problems(&[400], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "listPersonRegistrations",
            "tags": ["office-register"],
            "summary": "The person's responsible offices",
            "description": "For the person (portal, person token naming them) and the person's municipality; anyone else gets 403 `forbidden`.",
            "security": [{ "mutualTLS": [] }, { "mutualTLS": [], "personToken": [] }],
            "parameters": [
                { "$ref": "#/components/parameters/InsurerNumberPath" },
                { "$ref": "#/components/parameters/InsuredNumberPath" },
                { "$ref": "#/components/parameters/Limit" },
                { "$ref": "#/components/parameters/Cursor" },
            ],
            "responses": responses,
        }
    })
}

fn consent_and_registration_schemas(s: &mut Map<String, Value>) {
    let giver = json!({
        "description": "Who gave or withdrew consent: the person, or a proxy (with relationship, name and why the person could not act themself).",
        "oneOf": [
            {
                "type": "object", "title": "person",
                "required": ["type"],
                "properties": { "type": { "const": "person" } },
                "additionalProperties": false,
            },
            {
                "type": "object", "title": "proxy",
                "required": ["type", "relationship", "name", "reason_person_could_not_consent"],
                "properties": {
                    "type": { "const": "proxy" },
                    "relationship": { "enum": ProxyRelationship::NAMES, "description": "family_member 家族, legal_guardian 成年後見人, other_representative その他の代理人." },
                    "name": { "type": "string", "minLength": 1 },
                    "reason_person_could_not_consent": { "type": "string", "minLength": 1 },
                },
                "additionalProperties": false,
            },
        ],
    });
    s.insert("Giver".into(), giver);
    s.insert("ConsentEventRequest".into(), json!({
        "description": "What happened. The recorder (`obtained_by` / `through`) is the caller.",
        "oneOf": [
            {
                "type": "object", "title": "given",
                "required": ["event", "given_by", "method", "explanation_given"],
                "properties": {
                    "event": { "const": "given" },
                    "given_by": schema_ref("Giver"),
                    "method": { "enum": ConsentMethod::NAMES, "description": "paper_form (e.g. the application's consent box), electronic, verbal_with_record." },
                    "explanation_given": { "type": "boolean", "description": "Must be true: consent is recorded only after the purpose and scope of sharing were explained." },
                    "application_ref": { "type": "string", "minLength": 1, "description": "The new or renewal certification application the consent came with. Required when a municipality records it." },
                    "effective_at": { "type": "string", "format": "date-time", "description": "When the consent was given (RFC 3339, not in the future); default now." },
                },
                "additionalProperties": false,
                "examples": [{ "event": "given", "given_by": { "type": "person" }, "method": "paper_form", "explanation_given": true, "application_ref": "APP-2025-000123" }],
            },
            {
                "type": "object", "title": "not_obtained",
                "required": ["event", "reason"],
                "properties": {
                    "event": { "const": "not_obtained" },
                    "reason": { "type": "string", "minLength": 1 },
                },
                "additionalProperties": false,
            },
            {
                "type": "object", "title": "withdrawn",
                "required": ["event"],
                "properties": {
                    "event": { "const": "withdrawn" },
                    "by": { "$ref": "#/components/schemas/Giver", "description": "Required except for the portal when the token's holder is the person (then it is the person)." },
                },
                "additionalProperties": false,
            },
        ],
        "discriminator": { "propertyName": "event" },
    }));
    s.insert("ConsentState".into(), json!({
        "enum": ConsentState::NAMES,
        "description": "none (nothing recorded), in_force, withdrawn, not_obtained. Offices read only while in_force.",
    }));
    s.insert("ConsentHistoryEvent".into(), json!({
        "type": "object",
        "description": "A recorded event: the request's fields, who recorded it (`obtained_by` for given / not_obtained, `through` for withdrawn), its time (`effective_at`, or `recorded_at` alone for not_obtained), and `recorded_at`, when the hub recorded it.",
        "required": ["event", "recorded_at"],
        "properties": {
            "event": { "enum": ["given", "not_obtained", "withdrawn"] },
            "obtained_by": schema_ref("PrincipalUrn"),
            "through": schema_ref("PrincipalUrn"),
            "given_by": schema_ref("Giver"),
            "by": schema_ref("Giver"),
            "method": { "enum": ConsentMethod::NAMES },
            "explanation_given": { "type": "boolean" },
            "application_ref": { "type": "string" },
            "reason": { "type": "string" },
            "effective_at": { "type": "string", "format": "date-time" },
            "recorded_at": schema_ref("Timestamp"),
        },
    }));
    s.insert(
        "ConsentRecorded".into(),
        json!({
            "type": "object",
            "required": ["person", "state", "recorded"],
            "properties": {
                "person": schema_ref("PersonRef"),
                "state": schema_ref("ConsentState"),
                "recorded": schema_ref("ConsentHistoryEvent"),
            },
        }),
    );
    s.insert("ConsentHistory".into(), json!({
        "type": "object",
        "required": ["person", "state", "history"],
        "properties": {
            "person": schema_ref("PersonRef"),
            "state": schema_ref("ConsentState"),
            "history": { "type": "array", "items": schema_ref("ConsentHistoryEvent"), "description": "Oldest first; the latest decides." },
        },
    }));
    s.insert(
        "RegistrationId".into(),
        json!({
            "type": "string", "pattern": "^reg_[0-9a-f]{32}$",
        }),
    );
    s.insert("VerificationMethod".into(), json!({
        "description": "How the office verified the person's identity.",
        "oneOf": [
            {
                "type": "object", "title": "my_number_card",
                "required": ["type"],
                "properties": { "type": { "const": "my_number_card" } },
                "additionalProperties": false,
            },
            {
                "type": "object", "title": "other",
                "required": ["type", "description"],
                "properties": {
                    "type": { "const": "other" },
                    "description": { "type": "string", "minLength": 1, "description": "What was checked (e.g. the insurance certificate and a photo ID)." },
                },
                "additionalProperties": false,
            },
        ],
    }));
    s.insert("RegistrationRequest".into(), json!({
        "type": "object",
        "required": ["person", "verification_method", "verification_reference", "start"],
        "properties": {
            "person": schema_ref("PersonRef"),
            "verification_method": schema_ref("VerificationMethod"),
            "verification_reference": { "type": "string", "minLength": 1, "description": "The record of the identity check (e.g. the card reader's result number)." },
            "start": { "type": "string", "format": "date-time", "description": "From when (RFC 3339): may lie in the past or the future; the office reads from then." },
            "end": { "type": ["string", "null"], "format": "date-time", "description": "Until when, if known: after start and after now." },
        },
        "additionalProperties": false,
    }));
    s.insert("DeregistrationRequest".into(), json!({
        "type": "object",
        "required": ["reason"],
        "properties": { "reason": { "type": "string", "minLength": 1, "description": "Why it ends (e.g. 契約終了)." } },
        "additionalProperties": false,
    }));
    s.insert("Registration".into(), json!({
        "type": "object",
        "required": ["registration_id", "office", "role", "person", "verification_method", "verification_reference", "start", "end", "registered_at", "deregistration", "state"],
        "properties": {
            "registration_id": schema_ref("RegistrationId"),
            "office": schema_ref("PrincipalUrn"),
            "role": { "enum": [Role::CareManager.as_str(), Role::CareService.as_str(), Role::Medical.as_str()] },
            "person": schema_ref("PersonRef"),
            "verification_method": schema_ref("VerificationMethod"),
            "verification_reference": { "type": "string" },
            "start": { "type": "string", "format": "date-time" },
            "end": { "type": ["string", "null"], "format": "date-time" },
            "registered_at": schema_ref("Timestamp"),
            "deregistration": {
                "type": ["object", "null"],
                "required": ["deregistered_at", "deregistered_by", "reason"],
                "properties": {
                    "deregistered_at": schema_ref("Timestamp"),
                    "deregistered_by": schema_ref("PrincipalUrn"),
                    "reason": { "type": "string" },
                },
            },
            "state": { "enum": RegistrationState::NAMES, "description": "At the time of the answer: in_force, ended (end date reached or deregistered), none (not started yet)." },
        },
    }));
    s.insert(
        "PersonRegistrationList".into(),
        json!({
            "type": "object",
            "required": ["person", "registrations", "next_cursor"],
            "properties": {
                "person": schema_ref("PersonRef"),
                "registrations": { "type": "array", "items": schema_ref("Registration") },
                "next_cursor": { "type": ["string", "null"] },
            },
        }),
    );
    s.insert(
        "OfficeRegistrationList".into(),
        json!({
            "type": "object",
            "required": ["office", "registrations", "next_cursor"],
            "properties": {
                "office": schema_ref("PrincipalUrn"),
                "registrations": { "type": "array", "items": schema_ref("Registration") },
                "next_cursor": { "type": ["string", "null"] },
            },
        }),
    );
    s.insert("Access".into(), json!({
        "type": "object",
        "required": ["at", "principal", "action", "outcome"],
        "properties": {
            "at": schema_ref("Timestamp"),
            "principal": schema_ref("PrincipalUrn"),
            "actor": { "enum": PersonActor::NAMES, "description": "Portal reads: the person or a proxy." },
            "subject": { "type": "string", "description": "Portal reads: the portal user, the person token's `sub`." },
            "action": { "enum": AccessAction::NAMES, "description": "read_document, list_documents, read_history; read_progress (one certification application), list_progress (the person's applications, or a municipality's page of open applications naming this person's)." },
            "kind": schema_ref("DocumentKind"),
            "document_id": schema_ref("DocumentId"),
            "document_ids": { "type": "array", "items": schema_ref("DocumentId"), "description": "An allowed list: the documents it returned." },
            "application_id": { "type": "string", "pattern": "^app_[0-9a-f]{32}$", "description": "read_progress: the application." },
            "application_ids": { "type": "array", "items": { "type": "string", "pattern": "^app_[0-9a-f]{32}$" }, "description": "An allowed list_progress: the person's applications it returned." },
            "outcome": { "enum": AccessOutcome::NAMES },
        },
    }));
    s.insert(
        "AccessList".into(),
        json!({
            "type": "object",
            "required": ["person", "accesses", "next_cursor"],
            "properties": {
                "person": schema_ref("PersonRef"),
                "accesses": { "type": "array", "items": schema_ref("Access") },
                "next_cursor": { "type": ["string", "null"] },
            },
        }),
    );
}

fn schemas() -> Map<String, Value> {
    let mut s = Map::new();
    s.insert("Application".into(), progress_schema());
    s.insert(
        "ApplicationList".into(),
        progress_list_schema("A page of certification applications, newest first."),
    );
    s.insert("Submission".into(), submission_schema());
    s.insert("InsurerNumber".into(), json!({
        "type": "string", "pattern": "^(0[1-9]|[1-3][0-9]|4[0-7])[0-9]{4}$",
        "description": "保険者番号 — insurer number: 6 ASCII digits, the first two a prefecture code 01–47.",
        "examples": ["131016"],
    }));
    s.insert("InsuredNumber".into(), json!({
        "type": "string", "pattern": "^(H[0-9]{9}|[0-9]{10})$",
        "description": "被保険者番号 — insured number: 10 ASCII digits, or H followed by 9 digits (public-assistance recipients).",
        "examples": ["0000012345"],
    }));
    s.insert(
        "PersonRef".into(),
        json!({
            "type": "object",
            "description": "The person: insurer number and the number that insurer gave them.",
            "required": ["insurer_number", "insured_number"],
            "properties": {
                "insurer_number": schema_ref("InsurerNumber"),
                "insured_number": schema_ref("InsuredNumber"),
            },
            "additionalProperties": false,
        }),
    );
    s.insert(
        "DocumentKind".into(),
        json!({
            "type": "string",
            "enum": DocumentKind::NAMES,
            "description": kinds_description(),
        }),
    );
    s.insert("DocumentKey".into(), json!({
        "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$",
        "description": "The author's name for a logical document, unique per person, kind and author.",
        "examples": ["current", "2025-04"],
    }));
    s.insert(
        "DocumentId".into(),
        json!({
            "type": "string", "pattern": "^doc_[0-9a-f]{32}$",
            "description": "Derived from person, kind, author and document key.",
        }),
    );
    s.insert(
        "IdempotencyKey".into(),
        json!({
            "type": "string", "pattern": "^[!-~]{1,255}$",
            "description": "1–255 visible ASCII characters, unique per principal.",
        }),
    );
    s.insert("PrincipalUrn".into(), json!({
        "type": "string", "pattern": "^urn:carehub:(municipality|care-manager|care-service|medical|portal|operator):.+$",
        "description": "The author: the principal named by its client certificate.",
        "examples": ["urn:carehub:municipality:131016"],
    }));
    s.insert(
        "Timestamp".into(),
        json!({
            "type": "string", "format": "date-time",
            "description": "RFC 3339, UTC, microseconds.",
            "examples": ["2025-11-25T06:19:00.123456Z"],
        }),
    );
    s.insert("Sha256".into(), json!({
        "type": "string", "pattern": "^[0-9a-f]{64}$",
        "description": "Hex SHA-256 of the version's content in canonical form (object keys sorted, no insignificant whitespace) — the exact bytes of `content` as the read operation returns it.",
    }));

    let mut envelopes = Vec::new();
    let mut bulk_lines = Vec::new();
    let mut mapping = Map::new();
    let mut bulk_mapping = Map::new();
    for kind in DocumentKind::ALL {
        let k = kind.as_str();
        s.insert(format!("Content_{k}"), content_schema(kind));
        s.insert(format!("Envelope_{k}"), envelope_schema(kind, false));
        s.insert(format!("BulkLine_{k}"), envelope_schema(kind, true));
        envelopes.push(schema_ref(&format!("Envelope_{k}")));
        bulk_lines.push(schema_ref(&format!("BulkLine_{k}")));
        mapping.insert(
            k.into(),
            json!(format!("#/components/schemas/Envelope_{k}")),
        );
        bulk_mapping.insert(
            k.into(),
            json!(format!("#/components/schemas/BulkLine_{k}")),
        );
    }
    s.insert("DocumentEnvelope".into(), json!({
        "description": "One document: about whom, which kind, the author's key, and the content.",
        "oneOf": envelopes,
        "discriminator": { "propertyName": "kind", "mapping": mapping },
    }));
    s.insert("BulkLine".into(), json!({
        "description": "One line of a bulk body: a document envelope plus an optional idempotency_key.",
        "oneOf": bulk_lines,
        "discriminator": { "propertyName": "kind", "mapping": bulk_mapping },
    }));

    let stored_properties = json!({
        "document_id": schema_ref("DocumentId"),
        "kind": schema_ref("DocumentKind"),
        "person": schema_ref("PersonRef"),
        "author": schema_ref("PrincipalUrn"),
        "document_key": schema_ref("DocumentKey"),
        "version": { "type": "integer", "minimum": 1 },
        "supersedes": { "type": ["integer", "null"], "minimum": 1, "description": "The version this one superseded (version − 1), or null for version 1." },
        "stored_at": schema_ref("Timestamp"),
        "content_sha256": schema_ref("Sha256"),
    });
    let stored_required: Vec<&str> = stored_properties
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    s.insert("StoredDocument".into(), json!({
        "type": "object",
        "description": "The answer to a stored document: which document and version now holds the content.",
        "required": stored_required,
        "properties": stored_properties,
    }));
    let mut bulk_ok = stored_properties.clone();
    bulk_ok["line"] = json!({ "type": "integer", "minimum": 1 });
    bulk_ok["status"] = json!({ "enum": [200, 201], "description": "201 stored (new document or version); 200 unchanged." });
    let mut bulk_ok_required = stored_required.clone();
    bulk_ok_required.extend(["line", "status"]);
    s.insert("BulkResultLine".into(), json!({
        "oneOf": [
            {
                "type": "object", "title": "stored",
                "required": bulk_ok_required,
                "properties": bulk_ok,
            },
            {
                "type": "object", "title": "refused",
                "required": ["line", "status", "problem"],
                "properties": {
                    "line": { "type": "integer", "minimum": 1 },
                    "status": { "type": "integer", "description": "The problem's status (400, 403, 409, 422)." },
                    "problem": schema_ref("Problem"),
                },
            },
        ]
    }));

    let mut view = stored_properties.clone();
    view["content"] = json!({ "type": "object", "description": "The version's content (see the Content_<kind> schemas)." });
    let mut view_required = stored_required.clone();
    view_required.push("content");
    s.insert(
        "Document".into(),
        json!({
            "type": "object",
            "required": view_required,
            "properties": view,
        }),
    );
    s.insert(
        "VersionInfo".into(),
        json!({
            "type": "object",
            "required": ["version", "stored_at", "content_sha256", "supersedes"],
            "properties": {
                "version": { "type": "integer", "minimum": 1 },
                "stored_at": schema_ref("Timestamp"),
                "content_sha256": schema_ref("Sha256"),
                "supersedes": { "type": ["integer", "null"] },
            },
        }),
    );
    let mut with_versions = view.clone();
    with_versions["current_version"] = json!({ "type": "integer", "minimum": 1 });
    with_versions["versions"] = json!({ "type": "array", "items": schema_ref("VersionInfo"), "description": "Every version, oldest first." });
    let mut with_versions_required = view_required.clone();
    with_versions_required.extend(["current_version", "versions"]);
    s.insert(
        "DocumentWithVersions".into(),
        json!({
            "type": "object",
            "required": with_versions_required,
            "properties": with_versions,
        }),
    );
    s.insert("DocumentList".into(), json!({
        "type": "object",
        "required": ["person", "documents", "next_cursor"],
        "properties": {
            "person": schema_ref("PersonRef"),
            "documents": { "type": "array", "items": schema_ref("Document") },
            "next_cursor": { "type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last page." },
        },
    }));
    s.insert("Problem".into(), json!({
        "type": "object",
        "description": problems_description(&ProblemType::ALL),
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": { "type": "string", "enum": ProblemType::ALL.iter().map(|t| t.type_uri()).collect::<Vec<_>>() },
            "title": { "type": "string" },
            "status": { "type": "integer" },
            "detail": { "type": "string", "description": "What went wrong with this request. Never internal error text; never the rejected identifier." },
            "instance": { "type": "string" },
            "violations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["pointer", "message"],
                    "properties": {
                        "pointer": { "type": "string", "description": "RFC 6901 JSON pointer into the body (\"\" for the whole), or a parameter name." },
                        "message": { "type": "string" },
                    },
                },
            },
        },
    }));
    consent_and_registration_schemas(&mut s);
    webhook_schemas(&mut s);
    s
}

fn parameters() -> Value {
    json!({
        "IdempotencyKey": {
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Makes the write safe to retry: the same principal sending the same key with the same method, path and body gets the stored answer (status and body) again and nothing new is stored; the same key with another body is refused with 409 idempotency-key-reused. Only successful writes are recorded.",
            "schema": schema_ref("IdempotencyKey"),
        },
        "InsurerNumberPath": { "name": "insurer_number", "in": "path", "required": true, "description": "保険者番号", "schema": schema_ref("InsurerNumber") },
        "InsuredNumberPath": { "name": "insured_number", "in": "path", "required": true, "description": "被保険者番号", "schema": schema_ref("InsuredNumber") },
        "DocumentIdPath": { "name": "document_id", "in": "path", "required": true, "schema": schema_ref("DocumentId") },
        "RegistrationIdPath": { "name": "registration_id", "in": "path", "required": true, "schema": schema_ref("RegistrationId") },
        "ApplicationIdPath": { "name": "application_id", "in": "path", "required": true, "description": "A certification application's id.", "schema": { "type": "string", "pattern": "^app_[0-9a-f]{32}$" } },
        "SubscriptionIdPath": { "name": "subscription_id", "in": "path", "required": true, "description": "A webhook subscription's id (a malformed one is answered like any id that is not the caller's: 403 forbidden).", "schema": schema_ref("SubscriptionId") },
        "MessageIdPath": { "name": "message_id", "in": "path", "required": true, "description": "A webhook message's id, its `webhook-id`.", "schema": { "type": "string", "pattern": "^msg_[0-9a-f]{32}$" } },
        "SubmissionIdPath": { "name": "submission_id", "in": "path", "required": true, "description": "A relayed submission's id.", "schema": { "type": "string", "pattern": "^sub_[0-9a-f]{32}$" } },
        "Kind": { "name": "kind", "in": "query", "required": false, "description": "Only documents of this kind.", "schema": schema_ref("DocumentKind") },
        "Limit": { "name": "limit", "in": "query", "required": false, "description": "Page size.", "schema": { "type": "integer", "minimum": 1, "maximum": 200, "default": 50 } },
        "Cursor": { "name": "cursor", "in": "query", "required": false, "description": "Opaque; the `next_cursor` of the previous page (400 invalid-cursor otherwise).", "schema": { "type": "string" } },
        "Version": { "name": "version", "in": "query", "required": false, "description": "A version number from `versions`; default the current version.", "schema": { "type": "integer", "minimum": 1 } },
    })
}

fn progress_schema() -> Value {
    let stages: Vec<Value> = Stage::ALL
        .iter()
        .map(|s| json!({ "const": s.as_str(), "description": s.japanese_name() }))
        .collect();
    json!({
        "type": "object",
        "description": "A certification application (要介護認定申請) and where it stands (DESIGN §6). `survey` and `opinion` are the two tracks that advance in parallel; `allowed_next` lists the steps the machine allows now; `decision` is the `decided` step's details; `timeline` (one application only) every step from `received` on, with who recorded it and when.",
        "required": ["application_id", "person", "application_type", "stage", "stage_name", "open", "survey", "opinion", "allowed_next", "details", "received_at", "updated_at"],
        "properties": {
            "application_id": { "type": "string", "pattern": "^app_[0-9a-f]{32}$" },
            "person": schema_ref("PersonRef"),
            "application_type": { "enum": ApplicationType::NAMES, "description": "申請区分: new 新規, renewal 更新, change_of_category 区分変更" },
            "stage": { "oneOf": stages },
            "stage_name": { "type": "string", "description": "The stage's Japanese name." },
            "open": { "type": "boolean", "description": "Neither notified nor withdrawn." },
            "survey": { "enum": SurveyTrack::NAMES },
            "opinion": { "enum": OpinionTrack::NAMES },
            "allowed_next": { "type": "array", "items": { "enum": Stage::NAMES } },
            "details": { "type": "object", "description": "What the municipality recorded with the application: received_date, application_document_id, note." },
            "decision": { "type": "object", "description": "The decision: care_level (要介護状態区分 code), certification_date, validity_start_date, validity_end_date, monthly_benefit_limit_units, committee_opinion, and insurance_certificate_document_id, the certificate it issued." },
            "received_at": { "type": "string", "format": "date-time" },
            "updated_at": { "type": "string", "format": "date-time" },
            "timeline": { "type": "array", "items": {
                "type": "object",
                "properties": {
                    "step": { "enum": Stage::NAMES },
                    "stage_name": { "type": "string" },
                    "details": { "type": "object" },
                    "recorded_by": { "type": "string", "description": "Principal URN." },
                    "recorded_at": { "type": "string", "format": "date-time" },
                },
            } },
        },
    })
}

fn progress_list_schema(description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "required": ["items", "next_cursor"],
        "properties": {
            "items": { "type": "array", "items": schema_ref("Application") },
            "next_cursor": { "type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last." },
        },
    })
}

fn progress_applications() -> Value {
    let mut created = Map::new();
    created.insert("201".into(), json!({
        "description": "Recorded at stage `received`.",
        "headers": { "Location": { "description": "`/api/progress/applications/{application_id}`.", "schema": { "type": "string" } } },
        "content": { "application/json": { "schema": schema_ref("Application") } },
    }));
    op_problems(&[400, 409, 413, 415], &mut created);
    op_problems(COMMON, &mut created);
    let mut listed = Map::new();
    listed.insert(
        "200".into(),
        json!({
            "description": "The calling municipality's open applications, newest first.",
            "content": { "application/json": { "schema": schema_ref("ApplicationList") } },
        }),
    );
    op_problems(&[400], &mut listed);
    op_problems(COMMON, &mut listed);
    json!({
        "post": {
            "operationId": "createApplication",
            "tags": ["progress"],
            "summary": "Record a certification application (要介護認定申請)",
            "description": "The person's municipality records a new, renewal or change-of-category application: `person`, `application_type`, optional `received_date`, `application_document_id` (the stored 要介護認定申請書) and `note`. Another municipality gets `wrong-municipality`, other roles `role-not-allowed`. Body limit 256 KiB.",
            "parameters": [{ "$ref": "#/components/parameters/IdempotencyKey" }],
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["person", "application_type"],
                "properties": {
                    "person": schema_ref("PersonRef"),
                    "application_type": { "enum": ApplicationType::NAMES },
                    "received_date": { "type": "string", "format": "date" },
                    "application_document_id": { "type": "string" },
                    "note": { "type": "string" },
                },
                "additionalProperties": false,
            } } } },
            "responses": created,
        },
        "get": {
            "operationId": "listOpenApplications",
            "tags": ["progress"],
            "summary": "The municipality's open applications, by stage",
            "description": "Open means neither notified nor withdrawn. `stage` keeps only those whose latest step is that stage. Municipalities only (`role-not-allowed`). A page is a read of each person on it: one access-log entry per person, naming their applications.",
            "parameters": [
                { "name": "stage", "in": "query", "required": false, "schema": { "enum": Stage::NAMES } },
                { "$ref": "#/components/parameters/Limit" },
                { "$ref": "#/components/parameters/Cursor" },
            ],
            "responses": listed,
        },
    })
}

fn progress_one() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The application, its stage and its timeline.",
            "content": { "application/json": { "schema": schema_ref("Application") } },
        }),
    );
    op_problems(&[400], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "showApplication",
            "tags": ["progress"],
            "summary": "An application's current stage and timeline",
            "description": "For the person's municipality, the person (portal, person token naming them) and a care-manager office registered for the person while the person's consent is in force. Anyone else, and an id that names nothing, get the same 403 `forbidden`. Every read and refused read is written to the person's access log.",
            "security": [{ "mutualTLS": [] }, { "mutualTLS": [], "personToken": [] }],
            "parameters": [{ "$ref": "#/components/parameters/ApplicationIdPath" }],
            "responses": responses,
        }
    })
}

fn progress_steps() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The step was recorded; the application as it now stands.",
            "content": { "application/json": { "schema": schema_ref("Application") } },
        }),
    );
    op_problems(&[400, 409, 413, 415, 422], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "post": {
            "operationId": "advanceApplication",
            "tags": ["progress"],
            "summary": "Move an application on by one step",
            "description": "`{\"step\": <stage>, …details}`. received → survey_scheduled (`survey_date`) → survey_done, and in parallel opinion_requested (optional `requested_from`: the medical institution or 老健・介護医療院 asked) → opinion_received; then primary_judgment (needs both tracks finished) → committee_scheduled (`committee_date`) → decided (`care_level`, `certification_date`; for levels 11–25 `validity_start_date`, `validity_end_date`, optional `monthly_benefit_limit_units` not below the national limit, `committee_opinion`, `certificate`) → notified; withdrawn (`reason`) from any stage before the decision. A step the machine does not allow is 409 `invalid-transition` with `current_stage` and `allowed_next`; details that break the step's rules are 422 `invalid-progress-step`. A decision stores the next version of the person's insurance certificate (被保険者証, key `current`) in the same transaction: the current certificate with the new care level, certification date, validity and limit (a first certificate takes the person's details from `certificate`); a certificate that would break its form is 422 `invalid-document`. Only the person's municipality; anyone else gets 403 `forbidden`.",
            "parameters": [
                { "$ref": "#/components/parameters/ApplicationIdPath" },
                { "$ref": "#/components/parameters/IdempotencyKey" },
            ],
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["step"],
                "properties": { "step": { "enum": Stage::NAMES.iter().skip(1).collect::<Vec<_>>() } },
                "additionalProperties": true,
            } } } },
            "responses": responses,
        }
    })
}

fn progress_person() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The person's applications, newest first (without timelines).",
            "content": { "application/json": { "schema": schema_ref("ApplicationList") } },
        }),
    );
    op_problems(&[400], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "listPersonApplications",
            "tags": ["progress"],
            "summary": "The person's certification applications",
            "description": "For the same readers as one application; anyone else gets 403 `forbidden`. Every read and refused read is written to the person's access log.",
            "security": [{ "mutualTLS": [] }, { "mutualTLS": [], "personToken": [] }],
            "parameters": [
                { "$ref": "#/components/parameters/InsurerNumberPath" },
                { "$ref": "#/components/parameters/InsuredNumberPath" },
                { "$ref": "#/components/parameters/Limit" },
                { "$ref": "#/components/parameters/Cursor" },
            ],
            "responses": responses,
        }
    })
}

fn submission_schema() -> Value {
    json!({
        "type": "object",
        "description": "A relayed submission and where its delivery stands: accepted → delivered (pulled by the municipality) → acknowledged (with `receipt_number`) | rejected (with `reason`).",
        "required": ["submission_id", "type", "sender", "recipient", "person", "state", "accepted_at", "content", "history"],
        "properties": {
            "submission_id": { "type": "string", "pattern": "^sub_[0-9a-f]{32}$" },
            "type": { "enum": SubmissionType::NAMES },
            "sender": { "type": "string", "description": "Principal URN." },
            "recipient": { "type": "string", "description": "The person's municipality, as a principal URN." },
            "person": schema_ref("PersonRef"),
            "application_id": { "type": "string", "description": "physician_opinion: the application it answers." },
            "document_id": { "type": "string", "description": "physician_opinion: the document it was stored as." },
            "state": { "enum": SubmissionState::NAMES },
            "receipt_number": { "type": "string" },
            "reason": { "type": "string" },
            "accepted_at": { "type": "string", "format": "date-time" },
            "delivered_at": { "type": ["string", "null"], "format": "date-time" },
            "answered_at": { "type": ["string", "null"], "format": "date-time" },
            "content": { "type": "object" },
            "history": { "type": "array", "items": {
                "type": "object",
                "properties": {
                    "state": { "enum": SubmissionState::NAMES },
                    "by": { "type": "string" },
                    "at": { "type": "string", "format": "date-time" },
                },
            } },
        },
    })
}

fn relay_submit() -> Value {
    let mut responses = Map::new();
    responses.insert("201".into(), json!({
        "description": "Accepted (or, for the same key and body again, the stored answer with `Idempotent-Replayed: true`).",
        "headers": { "Location": { "description": "`/api/relay/submissions/{submission_id}`.", "schema": { "type": "string" } } },
        "content": { "application/json": { "schema": schema_ref("Submission") } },
    }));
    op_problems(&[400, 409, 413, 415, 422], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "post": {
            "operationId": "submit",
            "tags": ["relay"],
            "summary": "Send a submission to the person's municipality",
            "description": "`care_plan_request` — 居宅サービス計画作成依頼（変更）届出, from a care-manager office registered for the person while the person's consent is in force; `content`: `request_type` (new 新規 / change 変更), `notification_date`, `insured_name`, `office` {`office_number` (the sender's), `name`, `address`}, optional `birth_date`, `start_date`, `care_manager_name`, `previous_office`, `change_reason` (422 `invalid-submission`). `physician_opinion` — 主治医意見書, from a medical institution or a care-service office (老健・介護医療院), with `application_id`; `content` is a physician_opinion document (422 `invalid-document`). The application must be the person's and await an opinion (409 `invalid-transition` otherwise); if the request named an institution, only that one may answer. The opinion is also stored as the sender's physician_opinion document (key: the application id), shared per the matrix, and moves the application to `opinion_received` — all in one transaction. `Idempotency-Key` is required (`idempotency-key-missing`): the same submission sent again with it is stored once. Every refusal concerning the person (not registered, no consent, an application that is not theirs or not asked of the sender) is the same 403 `forbidden`; a role that does not send the type gets `role-not-allowed`.",
            "parameters": [{ "$ref": "#/components/parameters/IdempotencyKey" }],
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["type", "person", "content"],
                "properties": {
                    "type": { "enum": SubmissionType::NAMES },
                    "person": schema_ref("PersonRef"),
                    "application_id": { "type": "string" },
                    "content": { "type": "object" },
                },
                "additionalProperties": false,
            } } } },
            "responses": responses,
        }
    })
}

fn relay_one() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The submission, its state, answer and history.",
            "content": { "application/json": { "schema": schema_ref("Submission") } },
        }),
    );
    op_problems(&[400], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "showSubmission",
            "tags": ["relay"],
            "summary": "Where a submission stands",
            "description": "For its sender and its recipient municipality; anyone else, and an id that names nothing, get the same 403 `forbidden`.",
            "parameters": [{ "$ref": "#/components/parameters/SubmissionIdPath" }],
            "responses": responses,
        }
    })
}

fn relay_answer(acknowledge: bool) -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "Answered (or the same answer again: the submission as it stands).",
            "content": { "application/json": { "schema": schema_ref("Submission") } },
        }),
    );
    op_problems(&[400, 409, 413, 415], &mut responses);
    op_problems(COMMON, &mut responses);
    let (id, summary, field, field_doc) = if acknowledge {
        (
            "acknowledgeSubmission",
            "Acknowledge a submission with a receipt number (受理)",
            "receipt_number",
            "The municipality's receipt number: 1–64 characters without spaces.",
        )
    } else {
        (
            "rejectSubmission",
            "Reject a submission with a reason (返戻)",
            "reason",
            "Why: non-blank, at most 2,000 characters.",
        )
    };
    json!({
        "post": {
            "operationId": id,
            "tags": ["relay"],
            "summary": summary,
            "description": "The recipient municipality's final answer. The same answer again returns the submission unchanged (acknowledging twice gives the same receipt); any other answer to an answered submission is 409 `conflict`. Other municipalities get 403 `forbidden`, other roles `role-not-allowed`.",
            "parameters": [
                { "$ref": "#/components/parameters/SubmissionIdPath" },
                { "$ref": "#/components/parameters/IdempotencyKey" },
            ],
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object",
                "required": [field],
                "properties": { field: { "type": "string", "description": field_doc } },
                "additionalProperties": false,
            } } } },
            "responses": responses,
        }
    })
}

fn relay_inbox() -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), json!({
        "description": "Unanswered submissions to the calling municipality, oldest first; those pulled for the first time are now `delivered`.",
        "content": { "application/json": { "schema": {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": { "type": "array", "items": schema_ref("Submission") },
                "next_cursor": { "type": ["string", "null"] },
            },
        } } },
    }));
    op_problems(&[400], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "pullInbox",
            "tags": ["relay"],
            "summary": "Pull the municipality's inbox",
            "description": "Pulling marks accepted submissions delivered. A delivered submission stays in the inbox until it is acknowledged or rejected, so nothing is lost if a pull's answer never arrives. Municipalities only (`role-not-allowed`).",
            "parameters": [
                { "$ref": "#/components/parameters/Limit" },
                { "$ref": "#/components/parameters/Cursor" },
            ],
            "responses": responses,
        }
    })
}

/// What a subscription's owner may call it, and the delivery it receives.
fn webhook_delivery_text() -> String {
    format!(
        "Each event is POSTed to the subscription's `url` per the Standard Webhooks specification (<https://www.standardwebhooks.com>), with `content-type: application/json` and three headers: `webhook-id` — the message id (`msg_…`), the same for every retry and redelivery, so dedupe by it; `webhook-timestamp` — Unix seconds when this attempt was signed (reject old ones to stop replays); `webhook-signature` — space-separated `v1,<base64 HMAC-SHA256>` signatures of `{{webhook-id}}.{{webhook-timestamp}}.{{body}}`, keyed with the base64-decoded part of the `{SECRET_PREFIX}…` secret, one per secret in use (during the {overlap} hours after a rotation, the new secret's and the previous one's). A 2xx answer is a delivery; 410 Gone disables the subscription (`POST …/enable` resumes it); anything else, or no answer within 2 s to connect and 5 s to answer, is retried {retries} times with delays base × 4^(n−1), capped at base × 8640, lengthened by up to a quarter of random jitter (at least {span} hours in all at the default base of {base} s). Delivery is at least once. The body is the event: `type`, `timestamp`, and `data` — the person and the ids and states of the change, limited to what the receiver may read (the portal: what the person may see; a municipality: the persons it insures, ◎ document kinds only while consent is in force); never document content.",
        overlap = ROTATION_OVERLAP_MS / 3_600_000,
        retries = MAX_ATTEMPTS - 1,
        span = schedule_span_ms(DEFAULT_BACKOFF_BASE_MS) / 3_600_000,
        base = DEFAULT_BACKOFF_BASE_MS / 1000,
    )
}

/// Receivers only: the portal and municipalities.
const RECEIVERS_ONLY: &str = "For the citizen portal (as itself: no person token) and municipalities; other roles get 403 `role-not-allowed`.";
/// How the webhook writes treat `Idempotency-Key`.
const WEBHOOK_IDEMPOTENCY: &str = "`Idempotency-Key` is optional: the same principal sending the same key with the same method, path and body gets the stored answer again (marked `Idempotent-Replayed: true`) and nothing is written; the key with another request is 409 `idempotency-key-reused`. For a registration or a rotation the stored answer includes the secret: a client that lost the answer retries with the key and gets the same subscription id and secret, instead of a second subscription or a second rotation (which would retire the secret still in use). Keys are per principal: another caller's same key is its own.";
/// A subscription is its owner's alone.
const OWNER_ONLY: &str = "Only the subscription's owner; another caller, a malformed id and an id that names nothing all get the same 403 `forbidden`. Other roles than the portal and municipalities get `role-not-allowed`.";

fn webhook_subscriptions() -> Value {
    let mut created = Map::new();
    created.insert("201".into(), json!({
        "description": "Registered. The body carries `secret`, shown this once — or, for the same Idempotency-Key and body again, the stored answer with the same id and secret.",
        "headers": {
            "Location": { "description": "`/api/webhooks/subscriptions/{subscription_id}`.", "schema": { "type": "string" } },
            "Idempotent-Replayed": { "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.", "schema": { "type": "string" } },
        },
        "content": { "application/json": { "schema": schema_ref("WebhookSubscriptionCreated") } },
    }));
    op_problems(&[400, 409, 413, 415, 422], &mut created);
    op_problems(COMMON, &mut created);
    let mut listed = Map::new();
    listed.insert(
        "200".into(),
        json!({
            "description": "The caller's subscriptions, oldest first, without secrets.",
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["items"],
                "properties": { "items": { "type": "array", "items": schema_ref("WebhookSubscription") } },
            } } },
        }),
    );
    op_problems(COMMON, &mut listed);
    let portal: Vec<&str> = Receiver::Portal
        .event_types()
        .iter()
        .map(|t| t.as_str())
        .collect();
    json!({
        "post": {
            "operationId": "createWebhookSubscription",
            "tags": ["webhooks"],
            "summary": "Register a webhook endpoint",
            "description": format!(
                "{RECEIVERS_ONLY} `url`: an absolute http(s) URL without credentials, at most 2048 characters, under the hub's allowed outbound origin (the Spin variable `webhook_allowed_origin`, the component's `allowed_outbound_hosts` entry); any other is 422 `webhook-url-not-allowed`. `event_types`: a non-empty subset of what the caller may hear of — the portal {}; a municipality every type — default all of them; an unknown type is 400 `invalid-request`, one the caller may not subscribe to 403 `role-not-allowed`. The hub draws the signing secret and returns it once. Body limit {} KiB. {WEBHOOK_IDEMPOTENCY}\n\n{}",
                portal.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
                BODY_LIMIT >> 10,
                webhook_delivery_text(),
            ),
            "parameters": [{ "$ref": "#/components/parameters/IdempotencyKey" }],
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": { "type": "string", "format": "uri", "maxLength": 2048 },
                    "event_types": { "type": "array", "minItems": 1, "items": schema_ref("WebhookEventType"), "description": "Default: every type the caller may subscribe to." },
                },
                "additionalProperties": false,
                "examples": [{ "url": "https://city.hooks.example.jp/carehub", "event_types": ["document.stored", "submission.state_changed"] }],
            } } } },
            "responses": created,
        },
        "get": {
            "operationId": "listWebhookSubscriptions",
            "tags": ["webhooks"],
            "summary": "The caller's webhook subscriptions",
            "description": RECEIVERS_ONLY,
            "responses": listed,
        },
    })
}

/// The responses of a webhook write: `ok` with the replay header, and the
/// refusals of `Idempotency-Key` (400 malformed, 409 reused) besides the
/// common ones.
fn webhook_write_responses(status: &str, ok: Value) -> Map<String, Value> {
    let mut ok = ok;
    ok["headers"] = json!({ "Idempotent-Replayed": { "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.", "schema": { "type": "string" } }, });
    let mut responses = Map::new();
    responses.insert(status.into(), ok);
    op_problems(&[400, 409], &mut responses);
    op_problems(COMMON, &mut responses);
    responses
}

fn webhook_subscription_one() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The subscription, without its secret.",
            "content": { "application/json": { "schema": schema_ref("WebhookSubscription") } },
        }),
    );
    op_problems(COMMON, &mut responses);
    json!({ "get": {
        "operationId": "showWebhookSubscription",
        "tags": ["webhooks"],
        "summary": "One webhook subscription",
        "description": format!("Its URL, event types, whether deliveries are enabled (and why not), and until when a rotated-out secret still signs. {OWNER_ONLY}"),
        "parameters": [{ "$ref": "#/components/parameters/SubscriptionIdPath" }],
        "responses": responses,
    } })
}

fn webhook_enable() -> Value {
    let responses = webhook_write_responses(
        "200",
        json!({
            "description": "The subscription, without its secret.",
            "content": { "application/json": { "schema": schema_ref("WebhookSubscription") } },
        }),
    );
    json!({ "post": {
        "operationId": "enableWebhookSubscription",
        "tags": ["webhooks"],
        "summary": "Resume deliveries",
        "description": format!("After the receiver answered 410 Gone the subscription is disabled (`disabled_reason` `gone`); this enables it again, and messages still pending go out at the next dispatch. No body. Enabling an enabled subscription changes nothing. {WEBHOOK_IDEMPOTENCY} {OWNER_ONLY}"),
        "parameters": [
            { "$ref": "#/components/parameters/SubscriptionIdPath" },
            { "$ref": "#/components/parameters/IdempotencyKey" },
        ],
        "responses": responses,
    } })
}

fn webhook_rotate() -> Value {
    let responses = webhook_write_responses(
        "200",
        json!({
            "description": "The new secret, shown this once — or, for the same Idempotency-Key again, the stored answer with the same secret.",
            "content": { "application/json": { "schema": schema_ref("WebhookSecretRotated") } },
        }),
    );
    json!({
        "post": {
            "operationId": "rotateWebhookSecret",
            "tags": ["webhooks"],
            "summary": "Rotate the signing secret",
            "description": format!(
                "The hub draws a new secret; the previous one keeps signing for {} hours (each delivery then carries both `v1` signatures), time to deploy the new one. A second rotation within that window drops the oldest. No body. {WEBHOOK_IDEMPOTENCY} {OWNER_ONLY}",
                ROTATION_OVERLAP_MS / 3_600_000
            ),
            "parameters": [
                { "$ref": "#/components/parameters/SubscriptionIdPath" },
                { "$ref": "#/components/parameters/IdempotencyKey" },
            ],
            "responses": responses,
        }
    })
}

fn webhook_messages() -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), json!({
        "description": "The subscription's messages, newest first, with state and attempt count.",
        "content": { "application/json": { "schema": {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": { "type": "array", "items": schema_ref("WebhookMessage") },
                "next_cursor": { "type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last." },
            },
        } } },
    }));
    op_problems(&[400], &mut responses);
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "listWebhookMessages",
            "tags": ["webhooks"],
            "summary": "Deliveries to a subscription",
            "description": format!("One message per event fanned out to the subscription (by the dispatcher). {OWNER_ONLY}"),
            "parameters": [
                { "$ref": "#/components/parameters/SubscriptionIdPath" },
                { "$ref": "#/components/parameters/Limit" },
                { "$ref": "#/components/parameters/Cursor" },
            ],
            "responses": responses,
        }
    })
}

fn webhook_message_one() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The message, its payload and every attempt, oldest first.",
            "content": { "application/json": { "schema": schema_ref("WebhookMessageWithAttempts") } },
        }),
    );
    op_problems(COMMON, &mut responses);
    json!({
        "get": {
            "operationId": "showWebhookMessage",
            "tags": ["webhooks"],
            "summary": "One delivery and its attempts",
            "description": format!("A message id that is not this subscription's is the same 403 `forbidden`. {OWNER_ONLY}"),
            "parameters": [
                { "$ref": "#/components/parameters/SubscriptionIdPath" },
                { "$ref": "#/components/parameters/MessageIdPath" },
            ],
            "responses": responses,
        }
    })
}

fn webhook_redeliver() -> Value {
    let responses = webhook_write_responses(
        "202",
        json!({
            "description": "Scheduled: the message, pending and due now (or, for the same Idempotency-Key again, the stored answer; the message is not scheduled again).",
            "content": { "application/json": { "schema": schema_ref("WebhookMessage") } },
        }),
    );
    json!({
        "post": {
            "operationId": "redeliverWebhookMessage",
            "tags": ["webhooks"],
            "summary": "Deliver a message again",
            "description": format!("The message — delivered, failed or pending — is due at once with a fresh retry schedule and goes out at the next dispatch with the same `webhook-id`; earlier attempts are kept. No body. A message id that is not this subscription's is the same 403 `forbidden`. {WEBHOOK_IDEMPOTENCY} {OWNER_ONLY}"),
            "parameters": [
                { "$ref": "#/components/parameters/SubscriptionIdPath" },
                { "$ref": "#/components/parameters/MessageIdPath" },
                { "$ref": "#/components/parameters/IdempotencyKey" },
            ],
            "responses": responses,
        }
    })
}

fn webhook_dispatch() -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), json!({
        "description": "The run's summary.",
        "content": { "application/json": { "schema": {
            "type": "object",
            "required": ["fanned_out", "attempted", "delivered", "gone", "failed"],
            "properties": {
                "fanned_out": { "type": "integer", "minimum": 0, "description": "Messages created from new events." },
                "attempted": { "type": "integer", "minimum": 0, "description": "Messages claimed and sent." },
                "delivered": { "type": "integer", "minimum": 0, "description": "Answered 2xx." },
                "gone": { "type": "integer", "minimum": 0, "description": "Answered 410: their subscriptions are now disabled." },
                "failed": { "type": "integer", "minimum": 0, "description": "Anything else: retried per the schedule, or given up after the last attempt." },
            },
        } } },
    }));
    op_problems(COMMON, &mut responses);
    json!({
        "post": {
            "operationId": "dispatchWebhooks",
            "tags": ["webhooks"],
            "summary": "Run the dispatcher once",
            "description": format!(
                "Only `{SCHEDULER}` (the gateway's scheduler asserts it in process; on Spin, a cron presents a client certificate naming it); anyone else gets 403 `forbidden`. Fans new outbox events out into one message per subscription that may hear of them, claims up to {CLAIM_LIMIT} due messages under a lease (concurrent runs never hold the same message), delivers them concurrently, signed, and records every attempt. No body."
            ),
            "responses": responses,
        }
    })
}

fn webhook_event_schema() -> Value {
    let person = schema_ref("PersonRef");
    let variant = |t: EventType, data: Value| {
        let required: Vec<String> = data.as_object().unwrap().keys().cloned().collect();
        json!({
            "type": "object", "title": t.as_str(),
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": { "const": t.as_str() },
                "timestamp": schema_ref("Timestamp"),
                "data": { "type": "object", "required": required, "properties": data },
            },
        })
    };
    json!({
        "description": "A delivered event (Standard Webhooks payload shape): what happened, when (`timestamp`, when the change was made) and the ids and states it concerns — never document content or who wrote it.",
        "oneOf": [
            variant(EventType::DocumentStored, json!({
                "person": person,
                "document_id": schema_ref("DocumentId"),
                "kind": schema_ref("DocumentKind"),
                "version": { "type": "integer", "minimum": 1 },
                "supersedes": { "type": ["integer", "null"] },
            })),
            variant(EventType::ConsentChanged, json!({
                "person": person,
                "event": { "enum": ["given", "not_obtained", "withdrawn"] },
                "state": schema_ref("ConsentState"),
            })),
            variant(EventType::RegistrationChanged, json!({
                "person": person,
                "registration_id": schema_ref("RegistrationId"),
                "office": schema_ref("PrincipalUrn"),
                "change": { "enum": RegistrationChange::NAMES },
            })),
            variant(EventType::ProgressChanged, json!({
                "person": person,
                "application_id": { "type": "string", "pattern": "^app_[0-9a-f]{32}$" },
                "stage": { "enum": Stage::NAMES },
            })),
            variant(EventType::SubmissionStateChanged, json!({
                "person": person,
                "submission_id": { "type": "string", "pattern": "^sub_[0-9a-f]{32}$" },
                "submission_type": { "enum": SubmissionType::NAMES },
                "state": { "enum": SubmissionState::NAMES },
            })),
        ],
        "discriminator": { "propertyName": "type" },
    })
}

fn webhook_schemas(s: &mut Map<String, Value>) {
    s.insert(
        "WebhookEventType".into(),
        json!({
            "enum": EventType::NAMES,
            "description": "document.stored (a document or a new version was stored), consent.changed, registration.changed, progress.changed, submission.state_changed (municipalities only).",
        }),
    );
    s.insert(
        "SubscriptionId".into(),
        json!({ "type": "string", "pattern": "^ep_[0-9a-f]{32}$" }),
    );
    s.insert(
        "WebhookSecret".into(),
        json!({
            "type": "string", "pattern": format!("^{SECRET_PREFIX}[A-Za-z0-9+/]+=*$"),
            "description": "The signing secret: `whsec_` and the base64 of 32 random bytes; the HMAC key is the decoded bytes.",
        }),
    );
    let subscription = json!({
        "subscription_id": schema_ref("SubscriptionId"),
        "url": { "type": "string", "format": "uri" },
        "event_types": { "type": "array", "items": schema_ref("WebhookEventType") },
        "enabled": { "type": "boolean", "description": "False once disabled; deliveries wait until enabled again." },
        "disabled_at": { "type": ["string", "null"], "format": "date-time" },
        "disabled_reason": { "type": ["string", "null"], "description": "`gone`: the receiver answered 410." },
        "previous_secret_expires_at": { "type": ["string", "null"], "format": "date-time", "description": "After a rotation: until when the previous secret also signs (when it has not yet passed, deliveries carry both signatures)." },
        "created_at": schema_ref("Timestamp"),
    });
    let required: Vec<String> = subscription.as_object().unwrap().keys().cloned().collect();
    s.insert(
        "WebhookSubscription".into(),
        json!({
            "type": "object",
            "description": webhook_delivery_text(),
            "required": required,
            "properties": subscription,
        }),
    );
    let mut created = subscription.clone();
    created["secret"] = schema_ref("WebhookSecret");
    let mut created_required = required.clone();
    created_required.push("secret".into());
    s.insert(
        "WebhookSubscriptionCreated".into(),
        json!({
            "type": "object",
            "description": "The registered subscription and its signing secret, shown this once (later answers never carry it).",
            "required": created_required,
            "properties": created,
        }),
    );
    s.insert(
        "WebhookSecretRotated".into(),
        json!({
            "type": "object",
            "required": ["subscription_id", "secret", "previous_secret_expires_at"],
            "properties": {
                "subscription_id": schema_ref("SubscriptionId"),
                "secret": schema_ref("WebhookSecret"),
                "previous_secret_expires_at": { "type": "string", "format": "date-time" },
            },
        }),
    );
    let states: Vec<&str> = [
        MessageState::Pending,
        MessageState::Delivered,
        MessageState::Failed,
    ]
    .map(MessageState::as_str)
    .to_vec();
    let message = json!({
        "message_id": { "type": "string", "pattern": "^msg_[0-9a-f]{32}$", "description": "The `webhook-id` header of every attempt." },
        "event_type": schema_ref("WebhookEventType"),
        "state": { "enum": states, "description": format!("pending (to be tried at `next_attempt_at`), delivered (a 2xx answer), failed (all {MAX_ATTEMPTS} attempts failed)") },
        "attempt_count": { "type": "integer", "minimum": 0 },
        "next_attempt_at": { "type": ["string", "null"], "format": "date-time", "description": "When pending." },
        "created_at": schema_ref("Timestamp"),
        "delivered_at": { "type": ["string", "null"], "format": "date-time" },
        "payload": schema_ref("WebhookEvent"),
    });
    let message_required: Vec<String> = message.as_object().unwrap().keys().cloned().collect();
    s.insert(
        "WebhookMessage".into(),
        json!({
            "type": "object",
            "description": "One event's delivery to one subscription.",
            "required": message_required,
            "properties": message,
        }),
    );
    s.insert("WebhookAttempt".into(), json!({
        "type": "object",
        "description": "One delivery attempt.",
        "required": ["attempted_at", "status", "error", "duration_ms", "outcome"],
        "properties": {
            "attempted_at": schema_ref("Timestamp"),
            "status": { "type": ["integer", "null"], "description": "The receiver's HTTP status; null when there was no answer." },
            "error": { "type": ["string", "null"], "description": "Why there was no answer (connection refused, timeout, a destination outside the allowed origin), at most 300 characters." },
            "duration_ms": { "type": "integer", "minimum": 0 },
            "outcome": { "enum": ["delivered", "gone", "failed"], "description": "2xx delivered; 410 gone (the subscription was disabled); anything else failed (retried)." },
        },
    }));
    let mut with_attempts = message.clone();
    with_attempts["attempts"] = json!({ "type": "array", "items": schema_ref("WebhookAttempt"), "description": "Oldest first." });
    let mut with_attempts_required = message_required.clone();
    with_attempts_required.push("attempts".into());
    s.insert(
        "WebhookMessageWithAttempts".into(),
        json!({
            "type": "object",
            "required": with_attempts_required,
            "properties": with_attempts,
        }),
    );
    s.insert("WebhookEvent".into(), webhook_event_schema());
}

/// OpenAPI 3.1's top-level `webhooks`: the request the hub sends.
fn webhook_deliveries() -> Value {
    json!({
        "carehubEvent": {
            "post": {
                "operationId": "receiveCarehubEvent",
                "tags": ["webhooks"],
                "summary": "An event delivered to a subscription's URL",
                "description": webhook_delivery_text(),
                "security": [],
                "parameters": [
                    { "name": "webhook-id", "in": "header", "required": true, "description": "The message id; the same for every retry and redelivery.", "schema": { "type": "string", "pattern": "^msg_[0-9a-f]{32}$" } },
                    { "name": "webhook-timestamp", "in": "header", "required": true, "description": "Unix seconds when the attempt was signed.", "schema": { "type": "string", "pattern": "^[0-9]+$" } },
                    { "name": "webhook-signature", "in": "header", "required": true, "description": "Space-separated `v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">`, one per secret in use.", "schema": { "type": "string" } },
                ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": schema_ref("WebhookEvent") } } },
                "responses": {
                    "2XX": { "description": "Delivered." },
                    "410": { "description": "Gone: the hub disables the subscription." },
                    "default": { "description": "Anything else: retried per the schedule." },
                },
            }
        }
    })
}

fn document() -> Value {
    let mut paths = Map::new();
    paths.insert(format!("{INGEST}/documents"), ingest_single());
    paths.insert(format!("{INGEST}/documents:bulk"), ingest_bulk());
    paths.insert(
        format!("{READ}/persons/{{insurer_number}}/{{insured_number}}/documents"),
        read_list(),
    );
    paths.insert(format!("{READ}/documents/{{document_id}}"), read_one());
    paths.insert(
        format!("{READ}/persons/{{insurer_number}}/{{insured_number}}/accesses"),
        read_accesses(),
    );
    paths.insert(
        format!("{CONSENT}/persons/{{insurer_number}}/{{insured_number}}/events"),
        consent_record(),
    );
    paths.insert(
        format!("{CONSENT}/persons/{{insurer_number}}/{{insured_number}}"),
        consent_show(),
    );
    paths.insert(format!("{OFFICE_REGISTER}/registrations"), registrations());
    paths.insert(
        format!("{OFFICE_REGISTER}/registrations/{{registration_id}}"),
        registration_one(),
    );
    paths.insert(
        format!("{OFFICE_REGISTER}/registrations/{{registration_id}}/deregister"),
        deregister(),
    );
    paths.insert(
        format!("{OFFICE_REGISTER}/persons/{{insurer_number}}/{{insured_number}}/registrations"),
        person_registrations(),
    );
    paths.insert(format!("{PROGRESS}/applications"), progress_applications());
    paths.insert(
        format!("{PROGRESS}/applications/{{application_id}}"),
        progress_one(),
    );
    paths.insert(
        format!("{PROGRESS}/applications/{{application_id}}/steps"),
        progress_steps(),
    );
    paths.insert(
        format!("{PROGRESS}/persons/{{insurer_number}}/{{insured_number}}/applications"),
        progress_person(),
    );
    paths.insert(format!("{RELAY}/submissions"), relay_submit());
    paths.insert(
        format!("{RELAY}/submissions/{{submission_id}}"),
        relay_one(),
    );
    paths.insert(
        format!("{RELAY}/submissions/{{submission_id}}/acknowledge"),
        relay_answer(true),
    );
    paths.insert(
        format!("{RELAY}/submissions/{{submission_id}}/reject"),
        relay_answer(false),
    );
    paths.insert(format!("{RELAY}/inbox"), relay_inbox());
    paths.insert(format!("{WEBHOOKS}/subscriptions"), webhook_subscriptions());
    paths.insert(
        format!("{WEBHOOKS}/subscriptions/{{subscription_id}}"),
        webhook_subscription_one(),
    );
    paths.insert(
        format!("{WEBHOOKS}/subscriptions/{{subscription_id}}/rotate"),
        webhook_rotate(),
    );
    paths.insert(
        format!("{WEBHOOKS}/subscriptions/{{subscription_id}}/enable"),
        webhook_enable(),
    );
    paths.insert(
        format!("{WEBHOOKS}/subscriptions/{{subscription_id}}/messages"),
        webhook_messages(),
    );
    paths.insert(
        format!("{WEBHOOKS}/subscriptions/{{subscription_id}}/messages/{{message_id}}"),
        webhook_message_one(),
    );
    paths.insert(
        format!("{WEBHOOKS}/subscriptions/{{subscription_id}}/messages/{{message_id}}/redeliver"),
        webhook_redeliver(),
    );
    paths.insert(format!("{WEBHOOKS}/dispatch"), webhook_dispatch());
    let mut responses = Map::new();
    for status in [400, 401, 403, 404, 405, 409, 413, 415, 422, 500, 503, 504] {
        responses.insert(format!("Problem{status}"), problem_response(status));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "carehub — 介護情報基盤 (long-term care information hub)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "An open implementation of Japan's long-term care information hub. Every call is made over TLS 1.3 with a client certificate naming the caller (`urn:carehub:<role>:<code>`); the citizen portal also sends a person token. Errors are RFC 9457 problems with a stable `type`.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "servers": [{ "url": "https://localhost:3443", "description": "`carehub up` (development)" }],
        "security": [{ "mutualTLS": [] }],
        "tags": [
            { "name": "ingest", "description": "Municipalities and offices store documents, idempotent and versioned." },
            { "name": "read", "description": "Each party reads what the sharing matrix, consent and registration allow; every read and refused read is logged, and the person sees the log." },
            { "name": "consent", "description": "The person's one-time comprehensive consent (包括同意): given, could not be obtained, withdrawn." },
            { "name": "office-register", "description": "Offices register as a person's responsible office (担当事業所登録) after verifying identity." },
            { "name": "progress", "description": "Certification progress (要介護認定の進捗): the municipality records and advances applications; the person and a registered care manager with consent follow them." },
            { "name": "relay", "description": "Store-and-forward of 居宅サービス計画作成依頼（変更）届出 and 主治医意見書 to the person's municipality, with receipts." },
            { "name": "webhooks", "description": "The citizen portal and municipalities subscribe to events (Standard Webhooks: signed, retried, at least once); the scheduler runs the dispatcher." },
        ],
        "paths": paths,
        "webhooks": webhook_deliveries(),
        "components": {
            "securitySchemes": {
                "mutualTLS": {
                    "type": "mutualTLS",
                    "description": "TLS 1.3 client certificate whose URI SAN names the principal, `urn:carehub:<role>:<code>`: municipality (保険者番号), care-manager / care-service (介護事業所番号), medical (医療機関コード), portal, operator.",
                },
                "personToken": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "Portal calls only (401 person-token-missing / person-token-invalid): an ES256 JWT from the portal's identity provider, `aud` \"carehub\", with `insurer_number`, `insured_number` of the person it acts for and `actor` \"person\" or \"proxy\".",
                },
            },
            "parameters": parameters(),
            "responses": responses,
            "schemas": schemas(),
        },
    })
}

#[test]
fn openapi_json_is_up_to_date() {
    let want = serde_json::to_string_pretty(&document()).unwrap() + "\n";
    if std::env::var_os("CAREHUB_BLESS").is_some() {
        std::fs::write(path(), &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(path()).unwrap_or_default();
    assert!(
        have == want,
        "infra/openapi.json is stale; regenerate: CAREHUB_BLESS=1 cargo test -p carehub-read --test openapi"
    );
}

#[test]
fn every_route_is_documented() {
    let doc = document();
    let routes = carehub_ingest::handler::ROUTES
        .iter()
        .map(|r| (INGEST, r.method, r.pattern))
        .chain(
            carehub_read::handler::ROUTES
                .iter()
                .map(|r| (READ, r.method, r.pattern)),
        )
        .chain(
            carehub_consent::handler::ROUTES
                .iter()
                .map(|r| (CONSENT, r.method, r.pattern)),
        )
        .chain(
            carehub_office_register::handler::ROUTES
                .iter()
                .map(|r| (OFFICE_REGISTER, r.method, r.pattern)),
        )
        .chain(
            carehub_progress::handler::ROUTES
                .iter()
                .map(|r| (PROGRESS, r.method, r.pattern)),
        )
        .chain(
            carehub_relay::handler::ROUTES
                .iter()
                .map(|r| (RELAY, r.method, r.pattern)),
        )
        .chain(
            carehub_webhooks::handler::ROUTES
                .iter()
                .map(|r| (WEBHOOKS, r.method, r.pattern)),
        );
    let mut served = std::collections::BTreeSet::new();
    for (prefix, method, pattern) in routes {
        let path = format!("{prefix}{pattern}");
        let method = method.to_ascii_lowercase();
        assert!(
            doc["paths"][&path][&method].is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
        served.insert((path, method));
    }
    // And nothing is documented that no component serves.
    let documented: std::collections::BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    assert_eq!(documented, served);
    assert_eq!(served.len(), 31);
}

#[test]
fn every_kind_lists_its_required_fields() {
    let doc = document();
    for kind in DocumentKind::ALL {
        let schema = &doc["components"]["schemas"][format!("Content_{}", kind.as_str())];
        for (name, description) in required_fields(kind) {
            assert!(schema["properties"][name].is_object(), "{kind}: {name}");
            let listed = schema["required"]
                .as_array()
                .unwrap()
                .contains(&json!(name));
            assert_eq!(listed, !conditional(description), "{kind}: {name}");
        }
        // The example validates, so the document shows real content.
        let example = &schema["examples"][0];
        carehub_domain::content::validate_content(kind, &example_person(), example)
            .unwrap_or_else(|v| panic!("{kind}: {v:?}"));
    }
}
