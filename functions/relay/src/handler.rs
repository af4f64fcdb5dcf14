//! The relay operation, independent of Spin: routes, submitting, the
//! municipality's inbox and answers, the sender's query, against any store.

use carehub_domain::policy::relay::{
    authorize_answering, authorize_send, inbox_of, inbox_refusal, may_answer,
    may_send_care_plan_request, may_send_opinion, may_view_submission,
};
use carehub_domain::{
    AnswerEffect, ApplicationId, DocumentId, DocumentKey, DocumentKind, IdempotencyKey, PersonRef,
    Principal, Problem, ProblemType, Stage, SubmissionAnswer, SubmissionId, SubmissionState,
    SubmissionType, check_answer, transition_refused, validate_answer, validate_care_plan_request,
    validate_content,
};
use carehub_guest::body::{canonical_json, parse_json, sha256_hex};
use carehub_guest::fields::Object;
use carehub_guest::http::{Reply, RequestHead};
use carehub_guest::idempotency::{Answer, WriteRequest, write_once};
use carehub_guest::problem::{forbidden, internal, invalid_identifier, invalid_request_problem};
use carehub_guest::routing::{self, Route, paginate};
use carehub_store::{
    ConsentStore, LockKey, NewSubmission, NewVersion, ProgressStore, RegistrationStore, RelayStore,
    StoreError, SubmissionRecord, advance, in_transaction, office_registration_state, progress_of,
};
use serde::Serialize;
use serde_json::{Value, json};

/// Body cap of a submission (an opinion is a few KiB).
pub const BODY_LIMIT: usize = 256 << 10;
/// The component's route prefix.
pub const PREFIX: &str = "/api/relay";

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /submissions`.
    Submit,
    /// `GET /submissions/{submission_id}`.
    Show,
    /// `POST /submissions/{submission_id}/acknowledge`.
    Acknowledge,
    /// `POST /submissions/{submission_id}/reject`.
    Reject,
    /// `GET /inbox`.
    Inbox,
}

/// The component's routes (after the `/api/relay` prefix).
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: "POST",
        pattern: "/submissions",
        endpoint: Endpoint::Submit,
    },
    Route {
        method: "GET",
        pattern: "/submissions/{submission_id}",
        endpoint: Endpoint::Show,
    },
    Route {
        method: "POST",
        pattern: "/submissions/{submission_id}/acknowledge",
        endpoint: Endpoint::Acknowledge,
    },
    Route {
        method: "POST",
        pattern: "/submissions/{submission_id}/reject",
        endpoint: Endpoint::Reject,
    },
    Route {
        method: "GET",
        pattern: "/inbox",
        endpoint: Endpoint::Inbox,
    },
];

/// Where a submission is shown.
pub fn location(id: &SubmissionId) -> String {
    format!("{PREFIX}/submissions/{}", id.as_str())
}

fn parse_person(value: Option<&Value>) -> Result<PersonRef, Problem> {
    let Some(value) = value else {
        return Err(invalid_request_problem("/person", "required"));
    };
    let o = Object::new(value, "/person", &["insurer_number", "insured_number"])?;
    Ok(PersonRef::new(
        o.id("insurer_number", carehub_domain::InsurerNumber::parse)?,
        o.id("insured_number", carehub_domain::InsuredNumber::parse)?,
    ))
}

/// A parsed, checked submission, before the store is consulted.
#[derive(Debug, Clone)]
pub struct Submission {
    /// What it is.
    pub submission_type: SubmissionType,
    /// Who it is about.
    pub person: PersonRef,
    /// For an opinion: the application it answers.
    pub application_id: Option<ApplicationId>,
    /// The content (for an opinion, with `application_ref` set).
    pub content: Value,
}

/// Parses and checks a submission from `sender`: 400 for a malformed body,
/// 403 `role-not-allowed` for a sender whose role does not send this type,
/// 422 for content that breaks its rules (`invalid-submission` for a
/// care-plan request, `invalid-document` for an opinion).
pub fn parse_submission(sender: &Principal, body: &[u8]) -> Result<Submission, Problem> {
    let value = parse_json(body)
        .map_err(|_| Problem::new(ProblemType::MalformedJson, "The body is not valid JSON."))?;
    let o = Object::new(&value, "", &["type", "person", "application_id", "content"])?;
    let submission_type: SubmissionType = o.enumerated("type", &SubmissionType::NAMES)?;
    authorize_send(submission_type, sender)?;
    let person = parse_person(o.get("person"))?;
    let Some(content) = o.get("content").cloned() else {
        return Err(invalid_request_problem("/content", "required"));
    };
    match submission_type {
        SubmissionType::CarePlanRequest => {
            if o.get("application_id").is_some() {
                return Err(invalid_request_problem(
                    "/application_id",
                    "only for a physician_opinion",
                ));
            }
            validate_care_plan_request(sender, &person, &content).map_err(|violations| {
                Problem::new(
                    ProblemType::InvalidSubmission,
                    format!(
                        "The care-plan request breaks {} rule(s) of the form.",
                        violations.len()
                    ),
                )
                .with_violations(violations)
            })?;
            Ok(Submission {
                submission_type,
                person,
                application_id: None,
                content,
            })
        }
        SubmissionType::PhysicianOpinion => {
            let application_id = o.id("application_id", ApplicationId::parse)?;
            let mut content = content;
            if let Some(obj) = content.as_object_mut() {
                match obj.get("application_ref") {
                    None | Some(Value::Null) => {
                        obj.insert("application_ref".into(), json!(application_id.as_str()));
                    }
                    Some(Value::String(s)) if s == application_id.as_str() => {}
                    Some(_) => {
                        return Err(invalid_request_problem(
                            "/content/application_ref",
                            "must be the application_id the opinion answers",
                        ));
                    }
                }
            }
            validate_content(DocumentKind::PhysicianOpinion, &person, &content).map_err(
                |violations| {
                    Problem::new(
                        ProblemType::InvalidDocument,
                        format!(
                            "The opinion breaks {} rule(s) of its kind.",
                            violations.len()
                        ),
                    )
                    .with_violations(violations)
                },
            )?;
            Ok(Submission {
                submission_type,
                person,
                application_id: Some(application_id),
                content,
            })
        }
    }
}

#[derive(Serialize)]
struct HistoryItem {
    state: SubmissionState,
    by: String,
    at: String,
}

/// A submission as its sender and its municipality see it.
fn view<S: RelayStore + ?Sized>(store: &S, rec: &SubmissionRecord) -> Result<Value, StoreError> {
    let s = &rec.submission;
    let payload: Value = serde_json::from_str(&s.payload)
        .map_err(|e| StoreError::Corrupt(format!("relay_submissions: payload: {e}")))?;
    let history: Vec<HistoryItem> = store
        .submission_events(rec.seq)?
        .into_iter()
        .map(|e| HistoryItem {
            state: e.state,
            by: e.by.to_urn(),
            at: e.at,
        })
        .collect();
    let mut v = json!({
        "submission_id": s.submission_id.as_str(),
        "type": s.submission_type,
        "sender": s.sender.to_urn(),
        "recipient": format!("urn:carehub:municipality:{}", s.person.insurer_number.as_str()),
        "person": s.person,
        "state": rec.state,
        "accepted_at": rec.accepted_at,
        "delivered_at": rec.delivered_at,
        "answered_at": rec.answered_at,
        "content": payload["content"],
        "history": history,
    });
    if let Some(a) = &s.application_id {
        v["application_id"] = json!(a.as_str());
    }
    if let Some(d) = &s.document_id {
        v["document_id"] = json!(d.as_str());
    }
    match &rec.answer {
        Some(SubmissionAnswer::Acknowledge { receipt_number }) => {
            v["receipt_number"] = json!(receipt_number);
        }
        Some(SubmissionAnswer::Reject { reason }) => v["reason"] = json!(reason),
        None => {}
    }
    Ok(v)
}

/// `POST /submissions`: stores a submission for the person's municipality.
///
/// `Idempotency-Key` is required: the same submission sent again with the
/// same key is answered from the first (stored once); another body with
/// the key is 409 `idempotency-key-reused`. A care-plan request needs the
/// sender registered for the person with consent in force; an opinion an
/// application of the person awaiting one (409 `invalid-transition`
/// otherwise) and, when the request named an institution, that sender.
/// Every refusal that concerns the person is the generic 403. An opinion is
/// also stored as the sender's physician_opinion document (key: the
/// application id) and moves the application to `opinion_received`, in the
/// same transaction as the submission.
pub fn submit<S>(
    store: &S,
    sender: &Principal,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    body: &[u8],
    now: &str,
) -> Reply
where
    S: RelayStore + ProgressStore + RegistrationStore + ConsentStore + ?Sized,
{
    let Some(key) = key else {
        return Reply::problem_of(
            ProblemType::IdempotencyKeyMissing,
            "Submissions require an Idempotency-Key: the same submission sent again with it is stored once.",
        );
    };
    write_once(
        store,
        &WriteRequest::new(sender, head, Some(key), body, now),
        "relay submit",
        || parse_submission(sender, body).map_err(|p| Reply::problem(&p)),
        |s, sub| {
            // Both kinds read and write about the person (registration and
            // consent; an opinion's document and application step).
            s.lock(&[LockKey::Person(sub.person.clone())])?;
            let submission_id = SubmissionId::derive(sender, key.as_str());
            let document_id = match sub.submission_type {
                SubmissionType::CarePlanRequest => {
                    let registration = office_registration_state(s, sender, &sub.person, now)?;
                    if !may_send_care_plan_request(registration, s.consent_state(&sub.person)?) {
                        return Ok(Err(forbidden()));
                    }
                    None
                }
                SubmissionType::PhysicianOpinion => {
                    match store_opinion(s, sender, &sub, &submission_id, now)? {
                        Ok(id) => Some(id),
                        Err(reply) => return Ok(Err(reply)),
                    }
                }
            };
            let rec = s.add_submission(
                &new_submission(sender, key, submission_id.clone(), sub, document_id),
                now,
            )?;
            Ok(Ok(Answer::json(
                201,
                Some(location(&submission_id)),
                &view(s, &rec)?,
            )))
        },
    )
}

/// An opinion's part of a submission, inside its transaction: the
/// application it answers must be the person's and await an opinion from
/// this sender (the generic 403, or 409 `invalid-transition`); the opinion
/// is stored as the sender's `physician_opinion` document (key: the
/// application id) and the application moves to `opinion_received`.
fn store_opinion<S>(
    s: &S,
    sender: &Principal,
    sub: &Submission,
    submission_id: &SubmissionId,
    now: &str,
) -> Result<Result<DocumentId, Reply>, StoreError>
where
    S: ProgressStore + ?Sized,
{
    let id = sub.application_id.as_ref().expect("parsed with an id");
    let Some(app) = s.application(id)? else {
        return Ok(Err(forbidden()));
    };
    let (state, _) = progress_of(s, &app)?;
    if !may_send_opinion(
        sender,
        &sub.person,
        &app.application.person,
        state.opinion_requested_from.as_ref(),
    ) {
        return Ok(Err(forbidden()));
    }
    if !state.awaits_opinion() {
        return Ok(Err(Reply::problem(&transition_refused(
            &state,
            Stage::OpinionReceived,
        ))));
    }
    let doc_key =
        DocumentKey::parse(id.as_str()).expect("an application id is a valid document key");
    let doc_id = DocumentId::derive(
        &sub.person,
        DocumentKind::PhysicianOpinion,
        sender,
        &doc_key,
    );
    let text = canonical_json(&sub.content);
    s.write_versions(
        &[NewVersion {
            document_id: doc_id.clone(),
            person: sub.person.clone(),
            kind: DocumentKind::PhysicianOpinion,
            author: sender.clone(),
            document_key: doc_key,
            content_sha256: sha256_hex(text.as_bytes()),
            content: text,
        }],
        now,
    )?;
    let details = json!({
        "submission_id": submission_id.as_str(),
        "document_id": doc_id.as_str(),
    });
    if let Err(p) = advance(s, &app, Stage::OpinionReceived, &details, sender, now)? {
        return Ok(Err(Reply::problem(&p)));
    }
    Ok(Ok(doc_id))
}

/// The submission row: its canonical payload and digest.
fn new_submission(
    sender: &Principal,
    key: &IdempotencyKey,
    submission_id: SubmissionId,
    sub: Submission,
    document_id: Option<DocumentId>,
) -> NewSubmission {
    let payload = canonical_json(&json!({
        "type": sub.submission_type,
        "person": sub.person,
        "application_id": sub.application_id,
        "content": sub.content,
    }));
    NewSubmission {
        submission_id,
        sender: sender.clone(),
        idempotency_key: key.as_str().to_owned(),
        person: sub.person,
        submission_type: sub.submission_type,
        application_id: sub.application_id,
        document_id,
        payload_sha256: sha256_hex(payload.as_bytes()),
        payload,
    }
}

fn parse_id(raw: &str) -> Result<SubmissionId, Reply> {
    SubmissionId::parse(raw).map_err(|e| invalid_identifier("submission_id", &e))
}

fn visible<S: RelayStore + ?Sized>(
    store: &S,
    principal: &Principal,
    id: &SubmissionId,
) -> Result<Option<SubmissionRecord>, StoreError> {
    Ok(store.submission(id)?.filter(|rec| {
        may_view_submission(
            principal,
            &rec.submission.sender,
            rec.submission.person.insurer_number.as_str(),
        )
    }))
}

/// `GET /submissions/{submission_id}`: state, answer and history, for the
/// sender and the recipient municipality; the generic 403 for anyone else
/// and for an id that names nothing.
pub fn show<S: RelayStore + ?Sized>(store: &S, principal: &Principal, raw_id: &str) -> Reply {
    let id = match parse_id(raw_id) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let result = (|| -> Result<Reply, StoreError> {
        match visible(store, principal, &id)? {
            None => Ok(forbidden()),
            Some(rec) => Ok(Reply::json(200, &view(store, &rec)?)),
        }
    })();
    result.unwrap_or_else(|e| internal("relay query", &e))
}

#[derive(Serialize)]
struct Inbox {
    items: Vec<Value>,
    next_cursor: Option<String>,
}

/// `GET /inbox?limit=&cursor=`: the calling municipality's unanswered
/// submissions, oldest first; pulling marks the accepted ones delivered
/// (in the same transaction). A delivered one stays in the inbox until it
/// is answered, so a pull that never reached the municipality loses
/// nothing.
pub fn inbox<S: RelayStore + ?Sized>(
    store: &S,
    principal: &Principal,
    query: &str,
    now: &str,
) -> Reply {
    let Some(insurer) = inbox_of(principal) else {
        return Reply::problem(&inbox_refusal());
    };
    let page = match routing::page(query) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let locks = [LockKey::Inbox(principal.clone())];
    let result = in_transaction(store, &locks, |s| -> Result<Reply, StoreError> {
        let mut rows = s.inbox(insurer.as_str(), page.before_seq, page.limit + 1)?;
        let next_cursor = paginate(&mut rows, page.limit, |r| r.seq);
        let accepted: Vec<i64> = rows
            .iter()
            .filter(|r| r.state == SubmissionState::Accepted)
            .map(|r| r.seq)
            .collect();
        s.mark_delivered(&accepted, principal, now)?;
        let mut items = Vec::with_capacity(rows.len());
        for mut rec in rows {
            if rec.state == SubmissionState::Accepted {
                rec.state = SubmissionState::Delivered;
                rec.delivered_at = Some(now.to_owned());
            }
            items.push(view(s, &rec)?);
        }
        Ok(Reply::json(200, &Inbox { items, next_cursor }))
    });
    result.unwrap_or_else(|e| internal("relay inbox", &e))
}

fn parse_answer(body: &[u8], acknowledge: bool) -> Result<SubmissionAnswer, Reply> {
    let value = parse_json(body)?;
    let answer = if acknowledge {
        let o = Object::new(&value, "", &["receipt_number"]).map_err(|p| Reply::problem(&p))?;
        SubmissionAnswer::Acknowledge {
            receipt_number: o
                .str("receipt_number")
                .map_err(|p| Reply::problem(&p))?
                .to_owned(),
        }
    } else {
        let o = Object::new(&value, "", &["reason"]).map_err(|p| Reply::problem(&p))?;
        SubmissionAnswer::Reject {
            reason: o.str("reason").map_err(|p| Reply::problem(&p))?.to_owned(),
        }
    };
    validate_answer(&answer).map_err(|violations| {
        Reply::problem(
            &Problem::new(ProblemType::InvalidRequest, "The answer breaks its rules.")
                .with_violations(violations),
        )
    })?;
    Ok(answer)
}

/// `POST /submissions/{submission_id}/acknowledge` (`{"receipt_number"}`)
/// and `…/reject` (`{"reason"}`): the recipient municipality's final
/// answer. The same answer again returns the submission as it stands; a
/// different one is 409 `conflict`.
#[allow(clippy::too_many_arguments)]
pub fn answer<S: RelayStore + ?Sized>(
    store: &S,
    principal: &Principal,
    raw_id: &str,
    acknowledge: bool,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    body: &[u8],
    now: &str,
) -> Reply {
    write_once(
        store,
        &WriteRequest::new(principal, head, key, body, now),
        "relay answer",
        || {
            authorize_answering(principal).map_err(|p| Reply::problem(&p))?;
            Ok((parse_id(raw_id)?, parse_answer(body, acknowledge)?))
        },
        |s, (id, answer)| {
            s.lock(&[LockKey::Submission(id.as_str().to_owned())])?;
            let Some(rec) = s.submission(&id)?.filter(|rec| {
                may_answer(
                    principal,
                    &rec.submission.sender,
                    rec.submission.person.insurer_number.as_str(),
                )
            }) else {
                return Ok(Err(forbidden()));
            };
            match check_answer(rec.state, rec.answer.as_ref(), &answer) {
                Err(p) => return Ok(Err(Reply::problem(&p))),
                Ok(AnswerEffect::AlreadyRecorded) => {}
                Ok(AnswerEffect::Record) => {
                    s.answer_submission(rec.seq, &answer, principal, now)?
                }
            }
            let rec = s
                .submission(&id)?
                .ok_or_else(|| StoreError::Corrupt("submission vanished".into()))?;
            Ok(Ok(Answer::json(200, Some(location(&id)), &view(s, &rec)?)))
        },
    )
}
