//! The catalogue of RFC 9457 problem types every component answers with.
//!
//! A problem's `type` is `urn:carehub:problem:<slug>`. Slugs are a public,
//! stable contract — clients branch on them — so a slug is never renamed or
//! reused; the test below pins the full list.

use serde_json::{Map, Value, json};

use crate::content::Violation;

/// The media type of a problem body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The detail of every `forbidden` answer: one fixed text, so that a refusal
/// and a missing document give byte-identical bodies (DESIGN §3 rule 5).
pub const FORBIDDEN_DETAIL: &str = "The caller may not read this, or it does not exist.";

macro_rules! problem_types {
    ($( $(#[$doc:meta])* $variant:ident => ($status:literal, $slug:literal, $title:literal), )+) => {
        /// A kind of problem: its slug, HTTP status and title are fixed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemType {
            $( $(#[$doc])* $variant, )+
        }

        impl ProblemType {
            /// Every problem type.
            pub const ALL: [ProblemType; [$($slug),+].len()] = [$(ProblemType::$variant),+];

            /// The stable slug, e.g. "invalid-identifier".
            pub const fn slug(self) -> &'static str {
                match self { $( ProblemType::$variant => $slug, )+ }
            }

            /// The HTTP status code.
            pub const fn status(self) -> u16 {
                match self { $( ProblemType::$variant => $status, )+ }
            }

            /// The short, fixed, human-readable summary.
            pub const fn title(self) -> &'static str {
                match self { $( ProblemType::$variant => $title, )+ }
            }
        }
    };
}

problem_types! {
    /// No client certificate was presented (or it did not verify).
    ClientCertificateRequired => (401, "client-certificate-required", "Client certificate required"),
    /// The certificate names no principal the hub knows.
    UnknownPrincipal => (403, "unknown-principal", "Unknown principal"),
    /// The edge's identity assertion is missing.
    AssertionMissing => (401, "assertion-missing", "Identity assertion missing"),
    /// The edge's identity assertion is invalid or expired.
    AssertionInvalid => (401, "assertion-invalid", "Identity assertion invalid"),
    /// A portal call carries no person token.
    PersonTokenMissing => (401, "person-token-missing", "Person token missing"),
    /// The person token is invalid or expired.
    PersonTokenInvalid => (401, "person-token-invalid", "Person token invalid"),
    /// The one generic refusal for reads. Reveals nothing — not even whether
    /// the document exists.
    Forbidden => (403, "forbidden", "Forbidden"),
    /// A municipality wrote about a person it does not insure.
    WrongMunicipality => (403, "wrong-municipality", "Person not insured by this municipality"),
    /// The caller's role may not store this kind of document.
    KindNotAuthoredByRole => (403, "kind-not-authored-by-role", "Document kind not authored by this role"),
    /// The caller's role may not use this operation.
    RoleNotAllowed => (403, "role-not-allowed", "Role not allowed"),
    /// An identifier (insurer number, office number, …) is malformed.
    InvalidIdentifier => (400, "invalid-identifier", "Invalid identifier"),
    /// The body is not well-formed JSON.
    MalformedJson => (400, "malformed-json", "Malformed JSON"),
    /// The document's content breaks the rules for its kind.
    InvalidDocument => (422, "invalid-document", "Invalid document"),
    /// The request is malformed in some other way.
    InvalidRequest => (400, "invalid-request", "Invalid request"),
    /// The pagination cursor was not issued by the hub.
    InvalidCursor => (400, "invalid-cursor", "Invalid cursor"),
    /// The body is larger than the endpoint accepts.
    PayloadTooLarge => (413, "payload-too-large", "Payload too large"),
    /// The body's media type is not accepted.
    UnsupportedMediaType => (415, "unsupported-media-type", "Unsupported media type"),
    /// The idempotency key was used before for a different request.
    IdempotencyKeyReused => (409, "idempotency-key-reused", "Idempotency key reused with a different request"),
    /// The `Idempotency-Key` header is malformed.
    InvalidIdempotencyKey => (400, "invalid-idempotency-key", "Invalid idempotency key"),
    /// A write came without the `Idempotency-Key` header it requires.
    IdempotencyKeyMissing => (400, "idempotency-key-missing", "Idempotency key missing"),
    /// No such route.
    NotFound => (404, "not-found", "Not found"),
    /// The route exists but not for this method.
    MethodNotAllowed => (405, "method-not-allowed", "Method not allowed"),
    /// The request conflicts with the current state.
    Conflict => (409, "conflict", "Conflict"),
    /// The request took longer than its deadline.
    DeadlineExceeded => (504, "deadline-exceeded", "Deadline exceeded"),
    /// The hub is at capacity; retry later.
    Overloaded => (503, "overloaded", "Overloaded"),
    /// An unexpected error; details are in the server log, never here.
    Internal => (500, "internal", "Internal error"),
    /// An office acted for a person it has no registration in force for.
    OfficeNotRegistered => (403, "office-not-registered", "Office not registered for this person"),
    /// A consent event breaks the rules for consent records.
    InvalidConsentEvent => (422, "invalid-consent-event", "Invalid consent event"),
    /// A registration breaks the rules for registrations.
    InvalidRegistration => (422, "invalid-registration", "Invalid registration"),
    /// A certification application cannot take this step from its current
    /// stage; the body's `allowed_next` lists the steps it can take.
    InvalidTransition => (409, "invalid-transition", "Step not allowed from the current stage"),
    /// A progress step's details break the rules for that step.
    InvalidProgressStep => (422, "invalid-progress-step", "Invalid progress step"),
    /// A relayed submission's payload breaks the rules for its type.
    InvalidSubmission => (422, "invalid-submission", "Invalid submission"),
    /// The gateway in proxy mode could not reach the component's upstream,
    /// or the upstream broke off its answer.
    UpstreamUnavailable => (502, "upstream-unavailable", "Upstream unavailable"),
    /// A webhook subscription's URL is not under the hub's allowed outbound
    /// origins (or is not an absolute http(s) URL).
    WebhookUrlNotAllowed => (422, "webhook-url-not-allowed", "Webhook URL not allowed"),
    /// A form POST to the web screens that did not come from the hub's own
    /// page: a missing or invalid CSRF token, or another site's `Origin` /
    /// `Sec-Fetch-Site`.
    CrossSiteRequest => (403, "cross-site-request", "Cross-site request refused"),
    /// Standard care-plan CSV files (ケアプラン標準仕様) that break the spec:
    /// bytes outside MS932, forbidden characters, items that are missing
    /// or malformed; `csv_violations` names each file, row and column.
    InvalidStandardCsv => (422, "invalid-standard-csv", "Invalid standard CSV files"),
    /// No access-log checkpoint has this number (or none has been made yet,
    /// for `latest`).
    CheckpointNotFound => (404, "checkpoint-not-found", "Checkpoint not found"),
    /// The access-log entry is not covered by the checkpoint asked for
    /// (not yet committed to by any checkpoint, or only by a later one).
    LogEntryNotCheckpointed => (409, "log-entry-not-checkpointed", "Log entry not covered by the checkpoint"),
    /// The caller sent more requests than its role's rate allows (the
    /// gateway's per-principal token bucket); `Retry-After` says when to
    /// try again.
    RateLimited => (429, "rate-limited", "Too many requests"),
}

impl ProblemType {
    /// The problem's `type` URI, `urn:carehub:problem:<slug>`.
    pub fn type_uri(self) -> String {
        format!("urn:carehub:problem:{}", self.slug())
    }

    /// The type with this slug.
    pub fn from_slug(slug: &str) -> Option<ProblemType> {
        ProblemType::ALL.into_iter().find(|t| t.slug() == slug)
    }
}

impl std::fmt::Display for ProblemType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.slug())
    }
}

/// An RFC 9457 problem, ready to serialize.
///
/// `detail` goes to the client: never put database or internal error text in
/// it, and for [`ProblemType::Forbidden`] keep it generic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The problem type (slug, status, title).
    pub type_: ProblemType,
    /// A human-readable explanation of this occurrence.
    pub detail: String,
    /// Field-level violations (for `invalid-document` and similar).
    pub violations: Vec<Violation>,
    /// Further members of this problem type (RFC 9457 §3.2), e.g. the
    /// allowed next stages of an `invalid-transition`.
    pub extensions: Map<String, Value>,
}

impl Problem {
    /// A problem without violations.
    pub fn new(type_: ProblemType, detail: impl Into<String>) -> Self {
        Problem {
            type_,
            detail: detail.into(),
            violations: Vec::new(),
            extensions: Map::new(),
        }
    }

    /// Adds an extension member (never `type`, `title`, `status`, `detail`,
    /// `instance` or `violations`, which the body already defines).
    pub fn with_extension(mut self, name: &str, value: Value) -> Self {
        debug_assert!(
            ![
                "type",
                "title",
                "status",
                "detail",
                "instance",
                "violations"
            ]
            .contains(&name),
            "extension {name} would shadow a standard member"
        );
        self.extensions.insert(name.to_owned(), value);
        self
    }

    /// Attaches field-level violations.
    pub fn with_violations(mut self, violations: Vec<Violation>) -> Self {
        self.violations = violations;
        self
    }

    /// The one refusal every read gives, whatever the reason. Fixed text, so
    /// that refusals are byte-identical and reveal nothing (DESIGN §3 rule 5).
    pub fn forbidden() -> Self {
        Problem::new(ProblemType::Forbidden, FORBIDDEN_DETAIL)
    }

    /// A document that breaks the rules of its kind, with all violations.
    pub fn invalid_document(violations: Vec<Violation>) -> Self {
        let detail = match violations.len() {
            1 => "The document breaks 1 rule of its kind.".to_owned(),
            n => format!("The document breaks {n} rules of its kind."),
        };
        Problem::new(ProblemType::InvalidDocument, detail).with_violations(violations)
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.type_.status()
    }

    /// The body: `type`, `title`, `status`, `detail`, and `violations` only
    /// when there are some.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), Value::String(self.type_.type_uri()));
        body.insert("title".into(), Value::String(self.type_.title().into()));
        body.insert("status".into(), json!(self.type_.status()));
        body.insert("detail".into(), Value::String(self.detail.clone()));
        if !self.violations.is_empty() {
            body.insert(
                "violations".into(),
                serde_json::to_value(&self.violations).expect("violations serialize"),
            );
        }
        for (name, value) in &self.extensions {
            body.insert(name.clone(), value.clone());
        }
        Value::Object(body)
    }

    /// The body with an `instance` member (e.g. the request path or id).
    pub fn to_json_with_instance(&self, instance: &str) -> Value {
        let mut body = self.to_json();
        if let Value::Object(map) = &mut body {
            map.insert("instance".into(), Value::String(instance.into()));
        }
        body
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.type_.slug(),
            self.status(),
            self.detail
        )
    }
}

impl std::error::Error for Problem {}

impl From<crate::ids::IdError> for Problem {
    /// `invalid-identifier`; the detail names the identifier and the reason,
    /// never the value.
    fn from(e: crate::ids::IdError) -> Self {
        Problem::new(ProblemType::InvalidIdentifier, e.to_string())
    }
}

impl From<crate::cursor::CursorError> for Problem {
    fn from(e: crate::cursor::CursorError) -> Self {
        Problem::new(ProblemType::InvalidCursor, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Slugs are a public contract: this list changes only by appending.
    const SNAPSHOT: &[(&str, u16)] = &[
        ("client-certificate-required", 401),
        ("unknown-principal", 403),
        ("assertion-missing", 401),
        ("assertion-invalid", 401),
        ("person-token-missing", 401),
        ("person-token-invalid", 401),
        ("forbidden", 403),
        ("wrong-municipality", 403),
        ("kind-not-authored-by-role", 403),
        ("role-not-allowed", 403),
        ("invalid-identifier", 400),
        ("malformed-json", 400),
        ("invalid-document", 422),
        ("invalid-request", 400),
        ("invalid-cursor", 400),
        ("payload-too-large", 413),
        ("unsupported-media-type", 415),
        ("idempotency-key-reused", 409),
        ("invalid-idempotency-key", 400),
        ("idempotency-key-missing", 400),
        ("not-found", 404),
        ("method-not-allowed", 405),
        ("conflict", 409),
        ("deadline-exceeded", 504),
        ("overloaded", 503),
        ("internal", 500),
        ("office-not-registered", 403),
        ("invalid-consent-event", 422),
        ("invalid-registration", 422),
        ("invalid-transition", 409),
        ("invalid-progress-step", 422),
        ("invalid-submission", 422),
        ("upstream-unavailable", 502),
        ("webhook-url-not-allowed", 422),
        ("cross-site-request", 403),
        ("invalid-standard-csv", 422),
        ("checkpoint-not-found", 404),
        ("log-entry-not-checkpointed", 409),
        ("rate-limited", 429),
    ];

    #[test]
    fn slugs_are_unique_and_stable() {
        let got: Vec<_> = ProblemType::ALL
            .iter()
            .map(|t| (t.slug(), t.status()))
            .collect();
        assert_eq!(got, SNAPSHOT);
        let unique: HashSet<_> = ProblemType::ALL.iter().map(|t| t.slug()).collect();
        assert_eq!(unique.len(), ProblemType::ALL.len());
        for t in ProblemType::ALL {
            assert_eq!(ProblemType::from_slug(t.slug()), Some(t));
            assert!(
                t.slug()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-')
            );
            assert!(!t.title().is_empty());
            assert!((400..600).contains(&t.status()));
        }
    }

    #[test]
    fn body_shape() {
        let p = Problem::new(ProblemType::Forbidden, "Not allowed.");
        assert_eq!(
            p.to_json(),
            json!({
                "type": "urn:carehub:problem:forbidden",
                "title": "Forbidden",
                "status": 403,
                "detail": "Not allowed."
            })
        );
        let p = Problem::new(ProblemType::InvalidDocument, "1 violation").with_violations(vec![
            Violation::new("/care_level", "unknown care level code"),
        ]);
        let body = p.to_json_with_instance("/api/ingest/documents");
        assert_eq!(Problem::forbidden(), Problem::forbidden());
        let from_id: Problem = crate::ids::InsurerNumber::parse("99").unwrap_err().into();
        assert_eq!(from_id.type_, ProblemType::InvalidIdentifier);
        assert_eq!(
            from_id.detail,
            "invalid insurer_number: must be 6 digits, got 2"
        );
        let doc =
            Problem::invalid_document(vec![Violation::new("", "x"), Violation::new("/a", "y")]);
        assert_eq!(
            doc.to_json()["detail"],
            "The document breaks 2 rules of its kind."
        );
        assert_eq!(body["status"], 422);
        assert_eq!(body["violations"][0]["pointer"], "/care_level");
        assert_eq!(body["instance"], "/api/ingest/documents");
    }
}
