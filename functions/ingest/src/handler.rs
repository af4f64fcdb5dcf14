//! The ingest operation, independent of Spin: routes, write permission,
//! single and bulk writes against any store (`carehub_store::RegistrationStore`).

use carehub_domain::policy::ingest::{authorize_office_write, may_store};
use carehub_domain::{
    DocumentId, IdempotencyKey, PersonRef, Principal, Problem, ProblemType, content,
};
use carehub_guest::body::{canonical_json, parse_json, sha256_hex};
use carehub_guest::http::{Reply, RequestHead};
use carehub_guest::idempotency::{Answer as IdempotentAnswer, WriteRequest, write_once};
use carehub_guest::routing::Route;
use carehub_store::{
    LockKey, NewVersion, RegistrationStore, StoreError, WriteOutcome, Written,
    office_registration_state,
};
use serde::Serialize;

use crate::envelope::{self, Envelope, Format};

/// Body cap of `POST /documents`.
pub const SINGLE_LIMIT: usize = 1 << 20;
/// Body cap of `POST /documents:bulk`.
pub const BULK_LIMIT: usize = 64 << 20;
/// Most lines in one bulk body.
pub const BULK_MAX_LINES: usize = 100_000;
/// Where a stored document is read: `Location` of a 201.
pub const READ_PREFIX: &str = "/api/read/documents/";

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /documents`.
    Single,
    /// `POST /documents:bulk`.
    Bulk,
    /// `POST /care-plans:csv`: one plan as the standard CSV files, zipped.
    CarePlansCsv,
}

/// The component's routes (after the `/api/ingest` prefix).
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: "POST",
        pattern: "/documents",
        endpoint: Endpoint::Single,
    },
    Route {
        method: "POST",
        pattern: "/documents:bulk",
        endpoint: Endpoint::Bulk,
    },
    Route {
        method: "POST",
        pattern: "/care-plans:csv",
        endpoint: Endpoint::CarePlansCsv,
    },
];

/// Whether `principal` may store the envelope's document, as far as the
/// request alone tells (`carehub_domain::policy::ingest::may_store`: the
/// kind's author role; a municipality only about persons it insures). An
/// office's registration for the person is in the store: it is checked by
/// [`registration_permission`] inside the write transaction.
pub fn write_permission(principal: &Principal, envelope: &Envelope) -> Result<(), Problem> {
    may_store(principal, envelope.kind, &envelope.person)
}

/// Whether `principal`'s registration for `person` lets it write at `now`:
/// an office (care-manager, care-service, medical) writes only about persons
/// for whom its registration is in force (`carehub_domain::policy::ingest::authorize_office_write`,
/// 403 `office-not-registered`); other roles pass without a lookup. Run it
/// inside the write transaction, so that a deregistration cannot slip
/// between the check and the write. `Err` is a store failure.
pub fn registration_permission<S: RegistrationStore + ?Sized>(
    store: &S,
    principal: &Principal,
    person: &PersonRef,
    now: &str,
) -> Result<Result<(), Problem>, StoreError> {
    let state = office_registration_state(store, principal, person, now)?;
    Ok(authorize_office_write(principal, state))
}

/// Checks permission and content, and turns an envelope into the version to
/// store: derived document id, canonical content and its digest.
pub fn prepare(principal: &Principal, envelope: Envelope) -> Result<NewVersion, Problem> {
    write_permission(principal, &envelope)?;
    content::validate_content(envelope.kind, &envelope.person, &envelope.content).map_err(
        |violations| {
            let detail = match violations.len() {
                1 => "The content breaks 1 rule for its kind.".to_owned(),
                n => format!("The content breaks {n} rules for its kind."),
            };
            Problem::new(ProblemType::InvalidDocument, detail).with_violations(violations)
        },
    )?;
    let canonical = canonical_json(&envelope.content);
    let content_sha256 = sha256_hex(canonical.as_bytes());
    let document_id = DocumentId::derive(
        &envelope.person,
        envelope.kind,
        principal,
        &envelope.document_key,
    );
    Ok(NewVersion {
        document_id,
        person: envelope.person,
        kind: envelope.kind,
        author: principal.clone(),
        document_key: envelope.document_key,
        content: canonical,
        content_sha256,
    })
}

/// The answer to one stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// 201 (new document or version) or 200 (unchanged).
    pub status: u16,
    /// `Location` (201 only).
    pub location: Option<String>,
    /// The JSON body.
    pub body: String,
}

#[derive(Serialize)]
struct AnswerBody<'a> {
    document_id: &'a str,
    kind: &'a str,
    person: &'a PersonRef,
    author: String,
    document_key: &'a str,
    version: i64,
    supersedes: Option<i64>,
    stored_at: &'a str,
    content_sha256: &'a str,
}

/// Shapes the answer for a stored item.
pub fn answer(item: &NewVersion, written: &Written) -> Answer {
    let body = AnswerBody {
        document_id: item.document_id.as_str(),
        kind: item.kind.as_str(),
        person: &item.person,
        author: item.author.to_urn(),
        document_key: item.document_key.as_str(),
        version: written.version.version,
        supersedes: written.version.supersedes,
        stored_at: &written.version.stored_at,
        content_sha256: &written.version.content_sha256,
    };
    let created = written.outcome != WriteOutcome::Unchanged;
    Answer {
        status: if created { 201 } else { 200 },
        location: created.then(|| format!("{READ_PREFIX}{}", item.document_id.as_str())),
        body: serde_json::to_string(&body).expect("answers serialize"),
    }
}

pub(crate) fn key_reused() -> Problem {
    carehub_guest::idempotency::key_reused()
}

/// The `Idempotency-Key` header, parsed; 400 `invalid-idempotency-key` when
/// malformed or repeated.
pub fn idempotency_key(head: &RequestHead) -> Result<Option<IdempotencyKey>, Reply> {
    carehub_guest::idempotency::key(head)
}

/// Bulk bodies carry a key per line (`idempotency_key`); a request-level
/// `Idempotency-Key` would promise something the endpoint does not do, so it
/// is refused rather than ignored.
pub fn refuse_request_key(head: &RequestHead) -> Result<(), Reply> {
    if head.header_values("idempotency-key").next().is_some() {
        return Err(carehub_guest::problem::invalid_request(
            "Idempotency-Key",
            "not accepted on /documents:bulk; give each line its own \"idempotency_key\"",
        ));
    }
    Ok(())
}

/// `POST /documents`: stores one document. `body` has passed the media-type
/// and size checks; `now` is RFC 3339 UTC.
///
/// The request is parsed and checked (role, municipality, content) before
/// the transaction locks the person; an office's registration is checked inside the
/// write transaction, so a refused write stores nothing.
pub fn single<S: RegistrationStore + ?Sized>(
    store: &S,
    principal: &Principal,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    body: &[u8],
    now: &str,
) -> Reply {
    write_once(
        store,
        &WriteRequest::new(principal, head, key, body, now),
        "ingest write",
        || {
            let value = parse_json(body)?;
            envelope::parse(value, Format::Single)
                .and_then(|e| prepare(principal, e))
                .map_err(|problem| Reply::problem(&problem))
        },
        |s, item| write_one(s, principal, item, now),
    )
}

/// Stores one checked document inside `write_once`'s transaction: locks its
/// person (only this person's writers wait), checks an office's
/// registration, writes the next version and gives the answer to keep.
pub(crate) fn write_one<S: RegistrationStore + ?Sized>(
    s: &S,
    principal: &Principal,
    item: NewVersion,
    now: &str,
) -> Result<Result<IdempotentAnswer, Reply>, StoreError> {
    s.lock(&[LockKey::Person(item.person.clone())])?;
    if let Err(problem) = registration_permission(s, principal, &item.person, now)? {
        return Ok(Err(Reply::problem(&problem)));
    }
    let written = s
        .write_versions(std::slice::from_ref(&item), now)?
        .pop()
        .ok_or_else(|| StoreError::Corrupt("write_versions returned nothing".into()))?;
    let answer = answer(&item, &written);
    Ok(Ok(IdempotentAnswer {
        status: answer.status,
        location: answer.location,
        body: answer.body,
    }))
}
