//! The document envelope: who the document is about, its kind and key, and
//! its content — parsed from JSON into domain types at the edge.
//!
//! Field errors are reported with their JSON pointer and never echo the
//! rejected value (identifiers are personal data).

use carehub_domain::{
    DocumentKey, DocumentKind, IdempotencyKey, InsuredNumber, InsurerNumber, PersonRef, Problem,
};
use carehub_guest::problem::{invalid_identifier_problem, invalid_request_problem};
use serde_json::{Map, Value};

/// A parsed envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The person the document is about.
    pub person: PersonRef,
    /// Its kind.
    pub kind: DocumentKind,
    /// The author's key: as sent, or the kind's default (`current` for the
    /// certificates).
    pub document_key: DocumentKey,
    /// The content, validated later against the kind's rules.
    pub content: Value,
}

/// Where the envelope came from: the bulk format allows one more field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `POST /documents` (the key is the `Idempotency-Key` header).
    Single,
    /// One line of `POST /documents:bulk` (may carry `idempotency_key`).
    BulkLine,
}

const SINGLE_FIELDS: &[&str] = &["person", "kind", "document_key", "content"];
const BULK_FIELDS: &[&str] = &[
    "person",
    "kind",
    "document_key",
    "content",
    "idempotency_key",
];

/// Extracts a bulk line's `idempotency_key` (if any) before anything else is
/// checked, so that a replayed line can be answered from its record.
pub fn bulk_idempotency_key(value: &Value) -> Result<Option<IdempotencyKey>, Problem> {
    match value.get("idempotency_key") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => IdempotencyKey::parse(s)
            .map(Some)
            .map_err(|e| invalid_identifier_problem("/idempotency_key", &e)),
        Some(_) => Err(invalid_request_problem(
            "/idempotency_key",
            "must be a string",
        )),
    }
}

/// Parses an envelope from a JSON value.
pub fn parse(value: Value, format: Format) -> Result<Envelope, Problem> {
    let Value::Object(mut obj) = value else {
        return Err(invalid_request_problem(
            "",
            "the document envelope must be a JSON object",
        ));
    };
    let allowed = match format {
        Format::Single => SINGLE_FIELDS,
        Format::BulkLine => BULK_FIELDS,
    };
    if let Some(unknown) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        let shown: String = unknown.chars().take(40).collect();
        return Err(invalid_request_problem(
            &format!("/{}", escape_pointer(&shown)),
            format!("unknown field; accepted: {}", allowed.join(", ")),
        ));
    }

    let person = match obj.remove("person") {
        Some(Value::Object(p)) => parse_person(&p)?,
        Some(_) => return Err(invalid_request_problem("/person", "must be an object")),
        None => return Err(invalid_request_problem("/person", "required")),
    };

    let kind = match obj.get("kind") {
        Some(Value::String(s)) => s.parse::<DocumentKind>().map_err(|_| {
            invalid_request_problem(
                "/kind",
                format!(
                    "unknown document kind; expected one of: {}",
                    DocumentKind::NAMES.join(", ")
                ),
            )
        })?,
        Some(_) => return Err(invalid_request_problem("/kind", "must be a string")),
        None => return Err(invalid_request_problem("/kind", "required")),
    };

    let document_key = match obj.get("document_key") {
        Some(Value::String(s)) => {
            DocumentKey::parse(s).map_err(|e| invalid_identifier_problem("/document_key", &e))?
        }
        Some(Value::Null) | None => DocumentKey::default_for(kind).ok_or_else(|| {
            invalid_request_problem(
                "/document_key",
                format!("required for kind {kind} (only certificates default to \"current\")"),
            )
        })?,
        Some(_) => return Err(invalid_request_problem("/document_key", "must be a string")),
    };

    let content = match obj.remove("content") {
        Some(c @ Value::Object(_)) => c,
        Some(_) => return Err(invalid_request_problem("/content", "must be an object")),
        None => return Err(invalid_request_problem("/content", "required")),
    };

    Ok(Envelope {
        person,
        kind,
        document_key,
        content,
    })
}

fn parse_person(p: &Map<String, Value>) -> Result<PersonRef, Problem> {
    if let Some(unknown) = p
        .keys()
        .find(|k| !matches!(k.as_str(), "insurer_number" | "insured_number"))
    {
        let shown: String = unknown.chars().take(40).collect();
        return Err(invalid_request_problem(
            &format!("/person/{}", escape_pointer(&shown)),
            "unknown field; accepted: insurer_number, insured_number",
        ));
    }
    let field = |name: &str| -> Result<&str, Problem> {
        match p.get(name) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(invalid_request_problem(
                &format!("/person/{name}"),
                "must be a string",
            )),
            None => Err(invalid_request_problem(
                &format!("/person/{name}"),
                "required",
            )),
        }
    };
    let insurer = InsurerNumber::parse(field("insurer_number")?)
        .map_err(|e| invalid_identifier_problem("/person/insurer_number", &e))?;
    let insured = InsuredNumber::parse(field("insured_number")?)
        .map_err(|e| invalid_identifier_problem("/person/insured_number", &e))?;
    Ok(PersonRef::new(insurer, insured))
}

/// RFC 6901 escaping of one pointer segment.
fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use carehub_domain::ProblemType;
    use serde_json::json;

    fn env(v: Value) -> Result<Envelope, Problem> {
        parse(v, Format::Single)
    }

    #[test]
    fn parses_a_full_envelope_and_defaults_singleton_keys() {
        let e = env(json!({
            "person": {"insurer_number": "131016", "insured_number": "0000012345"},
            "kind": "insurance_certificate",
            "content": {"a": 1}
        }))
        .unwrap();
        assert_eq!(e.kind, DocumentKind::InsuranceCertificate);
        assert_eq!(e.document_key.as_str(), "current");
        assert_eq!(e.person.insured_number.as_str(), "0000012345");
        assert_eq!(e.content, json!({"a": 1}));

        let e = env(json!({
            "person": {"insurer_number": "131016", "insured_number": "0000012345"},
            "kind": "care_plan", "document_key": "2025-04", "content": {}
        }))
        .unwrap();
        assert_eq!(e.document_key.as_str(), "2025-04");
    }

    fn refused(v: Value) -> (ProblemType, String, String) {
        let p = env(v).unwrap_err();
        let pointer = p
            .violations
            .first()
            .map(|v| v.pointer.clone())
            .unwrap_or_default();
        (p.type_, pointer, p.detail)
    }

    #[test]
    fn names_the_bad_field() {
        let person = json!({"insurer_number": "131016", "insured_number": "0000012345"});
        let cases = [
            (json!([]), ProblemType::InvalidRequest, ""),
            (
                json!({"kind": "care_plan", "content": {}}),
                ProblemType::InvalidRequest,
                "/person",
            ),
            (
                json!({"person": {"insurer_number": "481016", "insured_number": "0000012345"}, "kind": "care_plan", "document_key": "k", "content": {}}),
                ProblemType::InvalidIdentifier,
                "/person/insurer_number",
            ),
            (
                json!({"person": {"insurer_number": "131016", "insured_number": 12345}, "kind": "care_plan", "document_key": "k", "content": {}}),
                ProblemType::InvalidRequest,
                "/person/insured_number",
            ),
            (
                json!({"person": {"insurer_number": "131016", "insured_number": "00000123"}, "kind": "care_plan", "document_key": "k", "content": {}}),
                ProblemType::InvalidIdentifier,
                "/person/insured_number",
            ),
            (
                json!({"person": person, "kind": "carePlan", "document_key": "k", "content": {}}),
                ProblemType::InvalidRequest,
                "/kind",
            ),
            (
                json!({"person": person, "kind": "care_plan", "content": {}}),
                ProblemType::InvalidRequest,
                "/document_key",
            ),
            (
                json!({"person": person, "kind": "care_plan", "document_key": "a b", "content": {}}),
                ProblemType::InvalidIdentifier,
                "/document_key",
            ),
            (
                json!({"person": person, "kind": "care_plan", "document_key": "k"}),
                ProblemType::InvalidRequest,
                "/content",
            ),
            (
                json!({"person": person, "kind": "care_plan", "document_key": "k", "content": "x"}),
                ProblemType::InvalidRequest,
                "/content",
            ),
            (
                json!({"person": person, "kind": "care_plan", "document_key": "k", "content": {}, "extra": 1}),
                ProblemType::InvalidRequest,
                "/extra",
            ),
            (
                json!({"person": person, "kind": "care_plan", "document_key": "k", "content": {}, "idempotency_key": "x"}),
                ProblemType::InvalidRequest,
                "/idempotency_key",
            ),
        ];
        for (v, t, pointer) in cases {
            let (got_t, got_pointer, detail) = refused(v.clone());
            assert_eq!((got_t, got_pointer.as_str()), (t, pointer), "{v}: {detail}");
            assert!(
                !detail.contains("0000012345") && !detail.contains("00000123\""),
                "{detail}"
            );
        }
    }

    #[test]
    fn bulk_lines_may_carry_a_key() {
        let v = json!({
            "person": {"insurer_number": "131016", "insured_number": "0000012345"},
            "kind": "insurance_certificate", "content": {}, "idempotency_key": "line-1"
        });
        assert_eq!(
            bulk_idempotency_key(&v).unwrap().unwrap().as_str(),
            "line-1"
        );
        assert!(parse(v, Format::BulkLine).is_ok());
        assert!(bulk_idempotency_key(&json!({"idempotency_key": 5})).is_err());
        assert!(bulk_idempotency_key(&json!({"idempotency_key": "has space"})).is_err());
        assert_eq!(bulk_idempotency_key(&json!({})).unwrap(), None);
    }
}
