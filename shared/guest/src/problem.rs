//! The problem answers every component shares.
//!
//! The catalogue (slug, status, title) is `carehub_domain::ProblemType`; this
//! module fixes the details that must be the same everywhere: the generic
//! refusal, the generic internal error, identifier errors naming the field.

use std::fmt::Display;

use carehub_domain::{IdError, Problem, ProblemType, Violation};

use crate::http::Reply;

/// The detail of every `forbidden` answer. One fixed text, so that a refusal
/// and a missing document give byte-identical bodies (DESIGN §3 rule 5).
pub use carehub_domain::problem::FORBIDDEN_DETAIL;

/// The detail of every `internal` answer. Never the error itself.
pub const INTERNAL_DETAIL: &str =
    "An unexpected error occurred. It has been logged; retry later or contact the operator.";

/// The one generic refusal for reads.
pub fn forbidden() -> Reply {
    Reply::problem(&Problem::forbidden())
}

/// A 500 `internal` problem. `error` (which may hold SQL or host error text)
/// goes to stderr, the gateway's log, and never to the client.
pub fn internal(context: &str, error: &dyn Display) -> Reply {
    eprintln!("carehub: internal error during {context}: {error}");
    Reply::problem_of(ProblemType::Internal, INTERNAL_DETAIL)
}

/// A 400 `invalid-identifier` naming the field (a JSON pointer for body
/// fields, e.g. `/person/insured_number`, or a parameter name). The rejected
/// value is never echoed: identifiers are personal data.
pub fn invalid_identifier_problem(field: &str, error: &IdError) -> Problem {
    let name = field.trim_start_matches('/').replace('/', ".");
    Problem::new(
        ProblemType::InvalidIdentifier,
        format!("{name}: {}", error.reason()),
    )
    .with_violations(vec![Violation::new(field, error.reason())])
}

/// [`invalid_identifier_problem`] as a reply.
pub fn invalid_identifier(field: &str, error: &IdError) -> Reply {
    Reply::problem(&invalid_identifier_problem(field, error))
}

/// A 400 `invalid-request` about one field.
pub fn invalid_request_problem(field: &str, message: impl Into<String>) -> Problem {
    let message = message.into();
    let name = field.trim_start_matches('/').replace('/', ".");
    let detail = if name.is_empty() {
        message.clone()
    } else {
        format!("{name}: {message}")
    };
    Problem::new(ProblemType::InvalidRequest, detail)
        .with_violations(vec![Violation::new(field, message)])
}

/// [`invalid_request_problem`] as a reply.
pub fn invalid_request(field: &str, message: impl Into<String>) -> Reply {
    Reply::problem(&invalid_request_problem(field, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use carehub_domain::InsuredNumber;

    #[test]
    fn forbidden_is_always_the_same_bytes() {
        assert_eq!(forbidden(), forbidden());
        assert_eq!(forbidden().status, 403);
        assert_eq!(
            forbidden(),
            Reply::problem_of(ProblemType::Forbidden, FORBIDDEN_DETAIL)
        );
    }

    #[test]
    fn internal_hides_the_error() {
        let r = internal(
            "test",
            &"SQLITE_CONSTRAINT: UNIQUE failed: documents.secret",
        );
        assert_eq!(r.status, 500);
        let body = String::from_utf8(r.body).unwrap();
        assert!(!body.contains("SQLITE"));
        assert!(body.contains("urn:carehub:problem:internal"));
    }

    #[test]
    fn identifier_problems_name_the_field_not_the_value() {
        let err = InsuredNumber::parse("12345").unwrap_err();
        let r = invalid_identifier("/person/insured_number", &err);
        assert_eq!(r.status, 400);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["type"], "urn:carehub:problem:invalid-identifier");
        let detail = v["detail"].as_str().unwrap();
        assert!(detail.starts_with("person.insured_number: "), "{detail}");
        assert!(!detail.contains("12345"));
        assert_eq!(v["violations"][0]["pointer"], "/person/insured_number");
    }
}
