//! What more than one component uses: the identifiers (insurer, insured,
//! document, principal), timestamps, the problem type and its responses,
//! the shared parameters (idempotency key, the person in the path, paging)
//! and the stored-document fields that ingest answers and read extends.

use carehub_domain::policy::ingest::ingest_authors;
use carehub_domain::{DocumentKind, InsuredNumber, InsurerNumber, PersonRef, ProblemType};
use carehub_guest::routing::{DEFAULT_LIMIT, MAX_LIMIT};
use serde_json::{Map, Value, json};

use crate::common::{all_required, map, schema};

/// The person every example is about: insurer 131016, insured 0000012345.
pub fn example_person() -> PersonRef {
    PersonRef::new(
        InsurerNumber::parse("131016").expect("a valid insurer number"),
        InsuredNumber::parse("0000012345").expect("a valid insured number"),
    )
}

/// The fields of a stored document's answer (ingest's `StoredDocument`,
/// read's `Document` without the content), all required.
pub fn stored_document() -> Value {
    all_required(json!({
        "document_id": schema("DocumentId"),
        "kind": schema("DocumentKind"),
        "person": schema("PersonRef"),
        "author": schema("PrincipalUrn"),
        "document_key": schema("DocumentKey"),
        "version": { "type": "integer", "minimum": 1 },
        "supersedes": { "type": ["integer", "null"], "minimum": 1, "description": "The version this one superseded (version − 1), or null for version 1." },
        "stored_at": schema("Timestamp"),
        "content_sha256": schema("Sha256"),
    }))
}

/// The schemas more than one component refers to.
pub fn shared() -> Map<String, Value> {
    let mut s = Map::new();
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
                "insurer_number": schema("InsurerNumber"),
                "insured_number": schema("InsuredNumber"),
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
    s.insert("Problem".into(), problem_schema());
    s
}

/// The kinds and who authors each (ingest's policy).
fn kinds_description() -> String {
    let mut s = String::from("The kind of document (snake_case). Authors (ingest):");
    for kind in DocumentKind::ALL {
        let authors: Vec<&str> = ingest_authors(kind).iter().map(|r| r.as_str()).collect();
        s.push_str(&format!(
            "\n- `{}` {} — {}",
            kind.as_str(),
            kind.japanese_name(),
            authors.join(", ")
        ));
    }
    s
}

/// An RFC 9457 problem of one of `types`, in words.
fn problems_description(types: &[ProblemType]) -> String {
    let mut s = String::from("RFC 9457 problem. `type` is one of:");
    for t in types {
        s.push_str(&format!("\n- `{}` — {}", t.type_uri(), t.title()));
    }
    s
}

fn problem_schema() -> Value {
    let types: Vec<String> = ProblemType::ALL.iter().map(|t| t.type_uri()).collect();
    json!({
        "type": "object",
        "description": problems_description(&ProblemType::ALL),
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": { "type": "string", "enum": types },
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
    })
}

/// `#/components/responses`: one problem response per status an operation
/// answers with a problem, listing the problem types of that status.
pub fn problem_responses() -> Map<String, Value> {
    let mut responses = Map::new();
    for status in [400, 401, 403, 404, 405, 409, 413, 415, 422, 500, 503, 504] {
        let types: Vec<ProblemType> = ProblemType::ALL
            .into_iter()
            .filter(|t| t.status() == status)
            .collect();
        responses.insert(
            format!("Problem{status}"),
            json!({
                "description": problems_description(&types),
                "content": { "application/problem+json": { "schema": schema("Problem") } },
            }),
        );
    }
    responses
}

/// The parameters more than one component uses.
pub fn parameters() -> Map<String, Value> {
    map(json!({
        "IdempotencyKey": {
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Makes the write safe to retry: the same principal sending the same key with the same method, path and body gets the stored answer (status and body) again and nothing new is stored; the same key with another body is refused with 409 idempotency-key-reused. Only successful writes are recorded.",
            "schema": schema("IdempotencyKey"),
        },
        "InsurerNumberPath": { "name": "insurer_number", "in": "path", "required": true, "description": "保険者番号", "schema": schema("InsurerNumber") },
        "InsuredNumberPath": { "name": "insured_number", "in": "path", "required": true, "description": "被保険者番号", "schema": schema("InsuredNumber") },
        "Limit": { "name": "limit", "in": "query", "required": false, "description": "Page size.", "schema": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT } },
        "Cursor": { "name": "cursor", "in": "query", "required": false, "description": "Opaque; the `next_cursor` of the previous page (400 invalid-cursor otherwise).", "schema": { "type": "string" } },
    }))
}
