//! `functions/ingest`: storing documents, one or many (NDJSON), idempotent
//! and versioned; the content schema of every kind, from the domain's
//! forms.

use carehub_domain::DocumentKind;
use carehub_domain::content::{example_content, optional_fields, required_fields};
use carehub_domain::policy::table::Operation;
use carehub_ingest::csv::{CSV_INFLATED_LIMIT, CSV_LIMIT, MULTIPART, ZIP};
use carehub_ingest::handler::{BULK_LIMIT, BULK_MAX_LINES, SINGLE_LIMIT};
use serde_json::{Map, Value, json};

use crate::Part;
use crate::callers;
use crate::common::{
    Op, Response, WRITE, body_limit, body_of, closed, count, extended, json_body, object, param,
    path, schema, size,
};
use crate::schemas::{example_person, stored_document};

const PREFIX: &str = "/api/ingest";
const TAG: &str = "ingest";

/// Ingest's paths and schemas.
pub fn part() -> Part {
    Part {
        tag: TAG,
        about: "Municipalities and offices store documents, idempotent and versioned.",
        paths: vec![
            path(format!("{PREFIX}/documents"), [store_one()]),
            path(format!("{PREFIX}/documents:bulk"), [store_bulk()]),
            path(format!("{PREFIX}/care-plans:csv"), [store_csv()]),
        ],
        schemas: schemas(),
        parameters: Map::new(),
    }
}

/// Who may store which kind: the policy's ingest rule per kind.
fn who() -> String {
    let kinds: Vec<(&str, Operation)> = DocumentKind::ALL
        .into_iter()
        .map(|k| (k.as_str(), Operation::Ingest(k)))
        .collect();
    callers::per_role("kind", &kinds)
}

fn store_one() -> Op {
    Op::post("ingestDocument", TAG, "Store one document (versioned, idempotent)")
        .about(format!(
            "Stores one document about a person. A kind the caller's role does not author is refused with `kind-not-authored-by-role`; a municipality writing about a person it does not insure with `wrong-municipality`; an office whose registration as responsible office (`POST /api/office-register/registrations`) is not in force at the time of the write with `office-not-registered` (checked in the write's transaction, so a deregistration takes effect at once). The content is validated against the kind's form (`invalid-document`, with `violations`). The document id is derived from person, kind, author and document key: the same four always name the same document, and different content makes version N+1 that supersedes N (history is kept). {}",
            body_limit(SINGLE_LIMIT)
        ))
        .who(who())
        .params([param("IdempotencyKey")])
        .body(json_body(schema("DocumentEnvelope")))
        .answers(
            201,
            Response::json(
                "Stored: a new document (version 1) or a new version superseding the previous one.",
                schema("StoredDocument"),
            )
            .location("Where the document is read: `/api/read/documents/{document_id}`.")
            .replayed(),
        )
        .answers(
            200,
            Response::json(
                "The content equals the current version's: nothing was stored; the current version is returned.",
                schema("StoredDocument"),
            ),
        )
        .problems(WRITE)
}

fn store_bulk() -> Op {
    Op::post("ingestDocumentsBulk", TAG, "Store many documents (NDJSON)")
        .about(format!(
            "Each non-empty line is one document envelope as for `POST /api/ingest/documents`, plus an optional `idempotency_key`. A bad line refuses only itself (same problem types as the single endpoint, per line); all other lines are written in one transaction, so the bulk is stored whole or not at all. At most {} lines and {}. A request-level `Idempotency-Key` header is refused (400 `invalid-request`): give each line its own key.",
            count(BULK_MAX_LINES),
            size(BULK_LIMIT),
        ))
        .who(who())
        .body(body_of("application/x-ndjson", schema("BulkLine")))
        .answers(
            200,
            Response::of(
                "application/x-ndjson",
                "One result line per non-empty input line, in input order (`line` is the 1-based input line number). Refused lines carry a `problem` and store nothing; every other line is stored, all in one transaction.",
                schema("BulkResultLine"),
            ),
        )
        .problems(&[400, 413, 415])
}

fn store_csv() -> Op {
    Op::post(
        "ingestCarePlanCsv",
        TAG,
        "Store one care plan sent as the standard CSV files (ケアプラン標準仕様)",
    )
    .about(format!(
        "The body is a zip (`application/zip`) or a `multipart/form-data` form with one file part per file (each part's `filename` is the file's name; a part without one is refused), holding one plan's standard files (介護保険最新情報 vol.1156): `UP1KYO_<from>_<to>_<YYYYMMDDHHMMSS>.CSV` (第1表) and `UP2KYO_…` (第2表) required, `UP3KYO_…` (第3表), `UPPLAN_<YYYYMM>_…` (第6表) and `UPBEPPYO_<YYYYMM>_…` (第7表) optional; MS932, the sending office in every name the caller's. The files are decoded strictly (a byte outside MS932, 外字 or a control character is refused), every item is checked (codes, dates, required items, insurer and insured numbers, the same person on every row) and the plan is stored as a `care_plan` with document key `csv-plan-<作成(変更)日>` through the same checks and versioned write as `POST /api/ingest/documents` (`office-not-registered` when the office's registration is not in force). Any violation refuses the whole plan with 422 `invalid-standard-csv`, whose `csv_violations` lists `file`, `row`, `column` (1-based; 0 = the whole file or row), `item` and `message`. Items and their document fields: docs/care-plan-csv.md. At most {} as sent and {} of files. `Idempotency-Key` is optional, as for a single document; the request it names is the set of files (names and bytes), so a retry with another multipart boundary or zip packing is answered from the record.",
        size(CSV_LIMIT),
        size(CSV_INFLATED_LIMIT as usize),
    ))
    .who(callers::per_role("kind", &[("care_plan", Operation::Ingest(DocumentKind::CarePlan))]))
    .params([param("IdempotencyKey")])
    .body(json!({
        "required": true,
        "content": {
            ZIP: {"schema": {"type": "string", "format": "binary"}},
            MULTIPART: {"schema": {
                "type": "object",
                "description": "One part per standard file; the part's name is free, its filename is the file's name.",
                "additionalProperties": {"type": "string", "format": "binary"},
            }},
        },
    }))
    .answers(
        201,
        Response::json(
            "Stored: a new care plan or a new version of the plan of that date.",
            schema("StoredDocument"),
        )
        .location("Where the document is read: `/api/read/documents/{document_id}`.")
        .replayed(),
    )
    .answers(
        200,
        Response::json(
            "The files hold the current version's plan: nothing was stored.",
            schema("StoredDocument"),
        ),
    )
    .problems(WRITE)
}

/// Whether a field the domain lists as required is required only under a
/// condition (its description says "required for …" / "required when …"):
/// such fields are not in the schema's `required`.
pub fn conditionally_required(description: &str) -> bool {
    description.contains("required for") || description.contains("required when")
}

fn field_schema(name: &str, description: &str) -> Value {
    let mut s = json!({ "description": description });
    if name.ends_with("_date") {
        s["type"] = json!(["string", "null"]);
        s["format"] = json!("date");
    } else if name.ends_with("_yen") || name.ends_with("_units") {
        s["type"] = json!(["integer", "null"]);
        s["minimum"] = json!(0);
    }
    s
}

fn content_schema(kind: DocumentKind) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut conditionally = Vec::new();
    for (name, description) in required_fields(kind) {
        properties.insert((*name).into(), field_schema(name, description));
        if conditionally_required(description) {
            conditionally.push(format!("`{name}`"));
        } else {
            required.push(*name);
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
    let mut s = object(&required, Value::Object(properties));
    s["description"] = json!(description);
    s["additionalProperties"] = json!(true);
    s["examples"] = json!([example_content(kind, &example_person())]);
    s
}

/// One kind's envelope; a bulk line's also carries its idempotency key.
fn envelope_schema(kind: DocumentKind, bulk: bool) -> Value {
    let mut properties = json!({
        "person": schema("PersonRef"),
        "kind": { "const": kind.as_str(), "description": kind.japanese_name() },
        "document_key": schema("DocumentKey"),
        "content": schema(&format!("Content_{}", kind.as_str())),
    });
    if bulk {
        properties["idempotency_key"] = json!({
            "$ref": "#/components/schemas/IdempotencyKey",
            "description": "This line's idempotency key (per principal). A line repeated with the same key and the same bytes gets the stored answer again; the same key with other bytes is refused with idempotency-key-reused."
        });
    }
    let mut required = vec!["person", "kind", "content"];
    let key_doc = if kind.is_singleton() {
        "Optional: a certificate is one document per person and author, whose key defaults to \"current\"; each new certificate becomes its next version."
    } else {
        required.push("document_key");
        "Required: the author's name for this logical document (e.g. a plan period). Storing again under the same key creates a new version."
    };
    let mut s = closed(&required, properties);
    s["title"] = json!(format!("{} ({})", kind.japanese_name(), kind.as_str()));
    s["description"] = json!(key_doc);
    s
}

/// A `oneOf` over every kind's schema named `<prefix>_<kind>`, told apart
/// by `kind`.
fn one_of_kinds(prefix: &str, description: &str) -> Value {
    let mut variants = Vec::new();
    let mut mapping = Map::new();
    for kind in DocumentKind::ALL {
        let name = format!("{prefix}_{}", kind.as_str());
        variants.push(schema(&name));
        mapping.insert(
            kind.as_str().into(),
            json!(format!("#/components/schemas/{name}")),
        );
    }
    json!({
        "description": description,
        "oneOf": variants,
        "discriminator": { "propertyName": "kind", "mapping": mapping },
    })
}

fn schemas() -> Map<String, Value> {
    let mut s = Map::new();
    for kind in DocumentKind::ALL {
        let k = kind.as_str();
        s.insert(format!("Content_{k}"), content_schema(kind));
        s.insert(format!("Envelope_{k}"), envelope_schema(kind, false));
        s.insert(format!("BulkLine_{k}"), envelope_schema(kind, true));
    }
    s.insert(
        "DocumentEnvelope".into(),
        one_of_kinds(
            "Envelope",
            "One document: about whom, which kind, the author's key, and the content.",
        ),
    );
    s.insert(
        "BulkLine".into(),
        one_of_kinds(
            "BulkLine",
            "One line of a bulk body: a document envelope plus an optional idempotency_key.",
        ),
    );
    let mut stored = stored_document();
    stored["description"] =
        json!("The answer to a stored document: which document and version now holds the content.");
    s.insert("StoredDocument".into(), stored);
    s.insert("BulkResultLine".into(), bulk_result_line());
    s
}

/// A bulk answer's line: stored (the single answer, its line and status)
/// or refused (the line's problem).
fn bulk_result_line() -> Value {
    let line = json!({ "type": "integer", "minimum": 1 });
    let mut stored = extended(
        &stored_document(),
        &[
            ("line", line.clone()),
            (
                "status",
                json!({ "enum": [200, 201], "description": "201 stored (new document or version); 200 unchanged." }),
            ),
        ],
    );
    stored["title"] = json!("stored");
    let mut refused = object(
        &["line", "status", "problem"],
        json!({
            "line": line,
            "status": { "type": "integer", "description": "The problem's status (400, 403, 409, 422)." },
            "problem": schema("Problem"),
        }),
    );
    refused["title"] = json!("refused");
    json!({ "oneOf": [stored, refused] })
}
