//! The progress operation, independent of Spin: routes, recording and
//! advancing applications, showing and listing them, against any store.
//! Every read of progress and every refused one is appended to the access
//! log (DESIGN §3 rule 4) before the answer leaves; a read that cannot be
//! logged is answered 500, never served.

use carehub_domain::policy::progress::{
    manage_refusal, may_manage_progress, open_list_insurer, progress_view_decision,
    view_needs_registration_and_consent,
};
use carehub_domain::progress::APPLICATION_FIELDS;
use carehub_domain::{
    AccessAction, AccessLogEntry, AccessOutcome, ApplicationId, ApplicationType, ConsentState,
    Decision, DenyReason, DocumentId, DocumentKey, DocumentKind, IdempotencyKey, PersonRef,
    Principal, Problem, ProblemType, Progress, RegistrationState, Stage, allowed_next,
    certificate_for_decision, fingerprint, transition_refused, validate_application,
    validate_content, validate_step,
};
use carehub_guest::body::{canonical_json, parse_json, sha256_hex};
use carehub_guest::fields::Object;
use carehub_guest::http::{Reply, RequestHead};
use carehub_guest::idempotency::{Answer, WriteRequest, write_once};
use carehub_guest::problem::{forbidden, internal, invalid_identifier, invalid_request_problem};
use carehub_guest::routing::{self, Route, paginate};
use carehub_store::{
    AccessLogStore, ApplicationRecord, ConsentStore, DocumentStore, LockKey, NewApplication,
    NewVersion, ProgressStore, RegistrationStore, StepRecord, StoreError, advance, log_access,
    office_registration_state, progress_of,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Body cap of a write (a decision may carry a first certificate's details).
pub const BODY_LIMIT: usize = 256 << 10;
/// The component's route prefix.
pub const PREFIX: &str = "/api/progress";

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /applications`.
    Create,
    /// `GET /applications`.
    OpenList,
    /// `GET /applications/{application_id}`.
    Show,
    /// `POST /applications/{application_id}/steps`.
    Step,
    /// `GET /persons/{insurer_number}/{insured_number}/applications`.
    PersonList,
}

/// The component's routes (after the `/api/progress` prefix).
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: "POST",
        pattern: "/applications",
        endpoint: Endpoint::Create,
    },
    Route {
        method: "GET",
        pattern: "/applications",
        endpoint: Endpoint::OpenList,
    },
    Route {
        method: "GET",
        pattern: "/applications/{application_id}",
        endpoint: Endpoint::Show,
    },
    Route {
        method: "POST",
        pattern: "/applications/{application_id}/steps",
        endpoint: Endpoint::Step,
    },
    Route {
        method: "GET",
        pattern: "/persons/{insurer_number}/{insured_number}/applications",
        endpoint: Endpoint::PersonList,
    },
];

pub use carehub_domain::Caller;

/// The store a progress read needs: applications, the facts that decide
/// who reads them, and the access log.
pub trait ReadStore: ProgressStore + RegistrationStore + ConsentStore + AccessLogStore {}

impl<S: ProgressStore + RegistrationStore + ConsentStore + AccessLogStore + ?Sized> ReadStore
    for S
{
}

/// One access-log entry of a progress read by `caller`.
fn access_entry(
    caller: &Caller,
    person: Option<&PersonRef>,
    action: AccessAction,
    application_id: Option<&ApplicationId>,
    application_ids: Vec<ApplicationId>,
    decision: Decision,
    now: &str,
) -> AccessLogEntry {
    AccessLogEntry {
        at: now.to_owned(),
        principal: caller.principal.clone(),
        actor: caller.actor(),
        subject: caller.subject().map(str::to_owned),
        person: person.cloned(),
        action,
        kind: None,
        document_id: None,
        document_ids: Vec::new(),
        application_id: application_id.cloned(),
        application_ids,
        outcome: if decision.is_allowed() {
            AccessOutcome::Allowed
        } else {
            AccessOutcome::Denied
        },
        deny_reason: decision.deny_reason(),
        request_id: None,
    }
}

/// Appends `entries` (in one transaction), then answers `reply`; entries
/// that cannot be written turn the answer into a 500 (no read goes
/// unlogged).
fn logged<S: AccessLogStore + ?Sized>(
    store: &S,
    entries: &[AccessLogEntry],
    reply: Reply,
) -> Reply {
    match log_access(store, entries) {
        Ok(()) => reply,
        Err(e) => internal("access log append", &e),
    }
}

/// Where an application is shown.
pub fn location(id: &ApplicationId) -> String {
    format!("{PREFIX}/applications/{}", id.as_str())
}

/// The person object of a body, `{insurer_number, insured_number}`.
pub fn parse_person(value: Option<&Value>, pointer: &str) -> Result<PersonRef, Problem> {
    let Some(value) = value else {
        return Err(invalid_request_problem(pointer, "required"));
    };
    let o = Object::new(value, pointer, &["insurer_number", "insured_number"])?;
    Ok(PersonRef::new(
        o.id("insurer_number", carehub_domain::InsurerNumber::parse)?,
        o.id("insured_number", carehub_domain::InsuredNumber::parse)?,
    ))
}

fn step_entry(s: &StepRecord) -> Result<Value, StoreError> {
    let details: Value = serde_json::from_str(&s.details)
        .map_err(|e| StoreError::Corrupt(format!("certification_steps: details: {e}")))?;
    Ok(json!({
        "step": s.step,
        "stage_name": s.step.japanese_name(),
        "details": details,
        "recorded_by": s.recorded_by.to_urn(),
        "recorded_at": s.recorded_at,
    }))
}

/// An application as shown: stage, tracks, allowed steps, the decision,
/// and (`with_timeline`) every step from `received` on.
fn view(
    app: &ApplicationRecord,
    state: &Progress,
    steps: &[StepRecord],
    with_timeline: bool,
) -> Result<Value, StoreError> {
    let a = &app.application;
    let details: Value = serde_json::from_str(&a.details)
        .map_err(|e| StoreError::Corrupt(format!("certification_applications: details: {e}")))?;
    let mut v = json!({
        "application_id": a.application_id.as_str(),
        "person": a.person,
        "application_type": a.application_type,
        "stage": state.stage,
        "stage_name": state.stage.japanese_name(),
        "open": state.stage.is_open(),
        "survey": state.survey,
        "opinion": state.opinion,
        "allowed_next": allowed_next(state),
        "details": details,
        "received_at": app.created_at,
        "updated_at": app.updated_at,
    });
    if let Some(d) = steps.iter().rev().find(|s| s.step == Stage::Decided) {
        v["decision"] = step_entry(d)?["details"].clone();
    }
    if with_timeline {
        let mut timeline = vec![json!({
            "step": Stage::Received,
            "stage_name": Stage::Received.japanese_name(),
            "details": details,
            "recorded_by": a.created_by.to_urn(),
            "recorded_at": app.created_at,
        })];
        for s in steps {
            timeline.push(step_entry(s)?);
        }
        v["timeline"] = Value::Array(timeline);
    }
    Ok(v)
}

fn full_view<S: ProgressStore + ?Sized>(
    store: &S,
    app: &ApplicationRecord,
) -> Result<Value, StoreError> {
    let (state, steps) = progress_of(store, app)?;
    view(app, &state, &steps, true)
}

struct CreateRequest {
    person: PersonRef,
    application_type: ApplicationType,
    details: Value,
}

fn parse_create(body: &[u8]) -> Result<CreateRequest, Reply> {
    let value = parse_json(body)?;
    let mut allowed = vec!["person", "application_type"];
    allowed.extend(APPLICATION_FIELDS);
    let o = Object::new(&value, "", &allowed).map_err(|p| Reply::problem(&p))?;
    let person = parse_person(o.get("person"), "/person").map_err(|p| Reply::problem(&p))?;
    let application_type = o
        .enumerated("application_type", &ApplicationType::NAMES)
        .map_err(|p| Reply::problem(&p))?;
    let mut details = Map::new();
    for key in APPLICATION_FIELDS {
        if let Some(v) = o.get(key) {
            details.insert(key.to_owned(), v.clone());
        }
    }
    let details = Value::Object(details);
    validate_application(&details).map_err(|violations| {
        Reply::problem(
            &Problem::new(
                ProblemType::InvalidRequest,
                "The application's details break the rules.",
            )
            .with_violations(violations),
        )
    })?;
    Ok(CreateRequest {
        person,
        application_type,
        details,
    })
}

/// `POST /applications`: records an application at stage `received`.
pub fn create<S: ProgressStore + ?Sized>(
    store: &S,
    caller: &Caller,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    body: &[u8],
    now: &str,
) -> Reply {
    let principal = &caller.principal;
    write_once(
        store,
        &WriteRequest::new(principal, head, key, body, now),
        "application create",
        || {
            let req = parse_create(body)?;
            if !may_manage_progress(principal, &req.person) {
                return Err(Reply::problem(&manage_refusal(principal)));
            }
            Ok(req)
        },
        |s, req| {
            s.lock(&[LockKey::Person(req.person.clone())])?;
            // The person's latest application, read under the person's
            // lock, makes two identical requests in one microsecond distinct.
            let latest = s
                .person_applications(&req.person, None, 1)?
                .first()
                .map_or(0, |a| a.seq);
            let id = ApplicationId::derive(
                &req.person,
                req.application_type,
                now,
                &fingerprint(&[principal.to_urn().as_bytes(), body, &latest.to_be_bytes()]),
            );
            let app = s.add_application(
                &NewApplication {
                    application_id: id.clone(),
                    person: req.person,
                    application_type: req.application_type,
                    details: canonical_json(&req.details),
                    created_by: principal.clone(),
                },
                now,
            )?;
            let shown = view(&app, &Progress::new(), &[], true)?;
            Ok(Ok(Answer::json(201, Some(location(&id)), &shown)))
        },
    )
}

/// Parses `{"step": …, …details}`: 400 for an unknown step, 422
/// `invalid-progress-step` for details that break the step's rules.
pub fn parse_step(body: &[u8]) -> Result<(Stage, Value), Reply> {
    let mut value = parse_json(body)?;
    let Some(obj) = value.as_object_mut() else {
        return Err(Reply::problem(&invalid_request_problem(
            "",
            "must be a JSON object",
        )));
    };
    let step = match obj.remove("step") {
        Some(Value::String(s)) => s.parse::<Stage>().ok().filter(|s| *s != Stage::Received),
        None => {
            return Err(Reply::problem(&invalid_request_problem(
                "/step", "required",
            )));
        }
        Some(_) => None,
    };
    let Some(step) = step else {
        let names: Vec<&str> = Stage::NAMES.iter().skip(1).copied().collect();
        return Err(Reply::problem(&invalid_request_problem(
            "/step",
            format!("must be one of: {}", names.join(", ")),
        )));
    };
    validate_step(step, &value).map_err(|violations| {
        let detail = match violations.len() {
            1 => format!("The {step} step breaks 1 rule."),
            n => format!("The {step} step breaks {n} rules."),
        };
        Reply::problem(
            &Problem::new(ProblemType::InvalidProgressStep, detail).with_violations(violations),
        )
    })?;
    Ok((step, value))
}

fn parse_id(raw: &str) -> Result<ApplicationId, Reply> {
    ApplicationId::parse(raw).map_err(|e| invalid_identifier("application_id", &e))
}

/// The person's current insurance certificate by this municipality (key
/// `current`), if any: its document id and content.
fn current_certificate<S: DocumentStore + ?Sized>(
    store: &S,
    person: &PersonRef,
    municipality: &Principal,
) -> Result<(DocumentId, DocumentKey, Option<Value>), StoreError> {
    let key = DocumentKey::default_for(DocumentKind::InsuranceCertificate)
        .expect("the certificate is a singleton kind");
    let id = DocumentId::derive(
        person,
        DocumentKind::InsuranceCertificate,
        municipality,
        &key,
    );
    let content = match store.document(&id)? {
        None => None,
        Some(rec) => match store.version_content(rec.seq, rec.current_version)? {
            None => None,
            Some(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("document_versions: content: {e}")))?,
            ),
        },
    };
    Ok((id, key, content))
}

/// `POST /applications/{application_id}/steps`: moves the application on.
///
/// Checked in order: the id (400), the step and its details (400/422),
/// whether the caller is the person's municipality (the generic 403 — an
/// application of another municipality does not exist for it), the
/// machine (409 `invalid-transition` with `allowed_next`), and for a
/// decision the certificate it issues (422 `invalid-document`). A decision
/// stores the certificate's next version in the same transaction as the
/// step.
#[allow(clippy::too_many_arguments)]
pub fn step<S: ProgressStore + ?Sized>(
    store: &S,
    caller: &Caller,
    raw_id: &str,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    body: &[u8],
    now: &str,
) -> Reply {
    let principal = &caller.principal;
    write_once(
        store,
        &WriteRequest::new(principal, head, key, body, now),
        "progress step",
        || Ok((parse_id(raw_id)?, parse_step(body)?)),
        |s, (id, (step, mut details))| {
            let refuse = |p: Problem| Ok(Err(Reply::problem(&p)));
            let Some(app) = s.application(&id)? else {
                return Ok(Err(forbidden()));
            };
            let person = app.application.person.clone();
            if !may_manage_progress(principal, &person) {
                return Ok(Err(forbidden()));
            }
            // The steps are read under the person's lock: a concurrent
            // step of the same application has committed or waits.
            s.lock(&[LockKey::Person(person.clone())])?;
            let app = s
                .application(&id)?
                .ok_or_else(|| StoreError::Corrupt("application vanished".into()))?;
            let (state, _) = progress_of(s, &app)?;
            if !allowed_next(&state).contains(&step) {
                return refuse(transition_refused(&state, step));
            }
            let mut certificate = None;
            if step == Stage::Decided {
                let (doc_id, doc_key, current) = current_certificate(s, &person, principal)?;
                let content = certificate_for_decision(&person, current.as_ref(), &details);
                if let Err(violations) =
                    validate_content(DocumentKind::InsuranceCertificate, &person, &content)
                {
                    let detail = format!(
                        "The insurance certificate this decision issues breaks {} rule(s); \
                         for a first certificate give the person's details in `certificate`.",
                        violations.len()
                    );
                    return refuse(
                        Problem::new(ProblemType::InvalidDocument, detail)
                            .with_violations(violations),
                    );
                }
                details["insurance_certificate_document_id"] = json!(doc_id.as_str());
                let text = canonical_json(&content);
                certificate = Some(NewVersion {
                    document_id: doc_id,
                    person: person.clone(),
                    kind: DocumentKind::InsuranceCertificate,
                    author: principal.clone(),
                    document_key: doc_key,
                    content_sha256: sha256_hex(text.as_bytes()),
                    content: text,
                });
            }
            if let Err(p) = advance(s, &app, step, &details, principal, now)? {
                return refuse(p);
            }
            if let Some(c) = certificate {
                s.write_versions(&[c], now)?;
            }
            let app = s
                .application(&id)?
                .ok_or_else(|| StoreError::Corrupt("application vanished".into()))?;
            Ok(Ok(Answer::json(
                200,
                Some(location(&id)),
                &full_view(s, &app)?,
            )))
        },
    )
}

/// Whether `caller` may read `person`'s progress, and if not why (for the
/// log). Registration and consent are looked up only for a care manager,
/// the one reader whose access depends on them.
fn view_decision<S: RegistrationStore + ConsentStore + ?Sized>(
    store: &S,
    caller: &Caller,
    person: &PersonRef,
    now: &str,
) -> Result<Decision, StoreError> {
    let (registration, consent) = if view_needs_registration_and_consent(&caller.principal) {
        (
            office_registration_state(store, &caller.principal, person, now)?,
            store.consent_state(person)?,
        )
    } else {
        (RegistrationState::None, ConsentState::None)
    };
    Ok(progress_view_decision(
        &caller.principal,
        person,
        registration,
        consent,
        caller.token_person(),
    ))
}

/// `GET /applications/{application_id}`: stage, tracks and timeline, for
/// the person's municipality, the person (portal) and a care-manager office
/// registered for the person with consent in force. Everyone else, and an
/// id that names nothing, gets the same generic 403. Logged: allowed or
/// refused, with the application id.
pub fn show<S: ReadStore + ?Sized>(store: &S, caller: &Caller, raw_id: &str, now: &str) -> Reply {
    let id = match parse_id(raw_id) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let result = (|| -> Result<Reply, StoreError> {
        let entry = |person, decision| {
            access_entry(
                caller,
                person,
                AccessAction::ReadProgress,
                Some(&id),
                Vec::new(),
                decision,
                now,
            )
        };
        let Some(app) = store.application(&id)? else {
            let missing = entry(None, Decision::Deny(DenyReason::NoSuchApplication));
            return Ok(logged(store, &[missing], forbidden()));
        };
        let person = &app.application.person;
        let decision = view_decision(store, caller, person, now)?;
        if !decision.is_allowed() {
            return Ok(logged(store, &[entry(Some(person), decision)], forbidden()));
        }
        let reply = Reply::json(200, &full_view(store, &app)?);
        Ok(logged(store, &[entry(Some(person), decision)], reply))
    })();
    result.unwrap_or_else(|e| internal("progress query", &e))
}

#[derive(Serialize)]
struct Listed {
    items: Vec<Value>,
    next_cursor: Option<String>,
}

/// One page of applications as answered, with the applications it shows
/// (for the access log).
fn listed<S: ProgressStore + ?Sized>(
    store: &S,
    mut rows: Vec<ApplicationRecord>,
    limit: u32,
) -> Result<(Reply, Vec<ApplicationRecord>), StoreError> {
    let next_cursor = paginate(&mut rows, limit, |r| r.seq);
    let items = rows
        .iter()
        .map(|app| {
            let (state, steps) = progress_of(store, app)?;
            view(app, &state, &steps, false)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((Reply::json(200, &Listed { items, next_cursor }), rows))
}

/// The applications of a page grouped by person, in order of first
/// appearance: one access-log entry per person listed.
fn by_person(rows: &[ApplicationRecord]) -> Vec<(&PersonRef, Vec<ApplicationId>)> {
    let mut groups: Vec<(&PersonRef, Vec<ApplicationId>)> = Vec::new();
    for r in rows {
        let a = &r.application;
        match groups.iter_mut().find(|(p, _)| *p == &a.person) {
            Some((_, ids)) => ids.push(a.application_id.clone()),
            None => groups.push((&a.person, vec![a.application_id.clone()])),
        }
    }
    groups
}

/// `GET /persons/{insurer_number}/{insured_number}/applications`: the
/// person's applications, newest first, for the same readers as
/// [`show`]. Logged: allowed (with the applications listed) or refused.
pub fn person_list<S: ReadStore + ?Sized>(
    store: &S,
    caller: &Caller,
    insurer: &str,
    insured: &str,
    query: &str,
    now: &str,
) -> Reply {
    let person = match routing::person_from_path(insurer, insured) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let page = match routing::page(query) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let result = (|| -> Result<Reply, StoreError> {
        let entry = |ids, decision| {
            access_entry(
                caller,
                Some(&person),
                AccessAction::ListProgress,
                None,
                ids,
                decision,
                now,
            )
        };
        let decision = view_decision(store, caller, &person, now)?;
        if !decision.is_allowed() {
            return Ok(logged(store, &[entry(Vec::new(), decision)], forbidden()));
        }
        let rows = store.person_applications(&person, page.before_seq, page.limit + 1)?;
        let (reply, shown) = listed(store, rows, page.limit)?;
        let ids = shown.into_iter().map(|r| r.application.application_id);
        Ok(logged(store, &[entry(ids.collect(), decision)], reply))
    })();
    result.unwrap_or_else(|e| internal("progress list", &e))
}

/// `GET /applications?stage=&limit=&cursor=`: the calling municipality's
/// open applications, newest first, optionally only those at `stage`.
///
/// A page shows each listed person's progress, so it is logged as a read of
/// each: one `list_progress` entry per person on the page, naming that
/// person's applications on it (an empty page reads no one). A caller that
/// is not a municipality is refused and logged with no person (it named
/// none).
pub fn open_list<S: ReadStore + ?Sized>(
    store: &S,
    caller: &Caller,
    query: &str,
    now: &str,
) -> Reply {
    let entry = |person, ids, decision| {
        access_entry(
            caller,
            person,
            AccessAction::ListProgress,
            None,
            ids,
            decision,
            now,
        )
    };
    let Some(insurer) = open_list_insurer(&caller.principal) else {
        let refused = entry(
            None,
            Vec::new(),
            Decision::Deny(DenyReason::NotMarkedForRole),
        );
        return logged(
            store,
            &[refused],
            Reply::problem_of(
                ProblemType::RoleNotAllowed,
                "Only a municipality lists its open applications.",
            ),
        );
    };
    let pairs = match routing::parse_query(query, &["stage", "limit", "cursor"]) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let mut stage = None;
    let mut limit = routing::DEFAULT_LIMIT;
    let mut before = None;
    for (name, value) in pairs {
        match name.as_str() {
            "stage" => match value.parse::<Stage>() {
                Ok(s) => stage = Some(s),
                Err(_) => {
                    return Reply::problem(&invalid_request_problem(
                        "stage",
                        format!("must be one of: {}", Stage::NAMES.join(", ")),
                    ));
                }
            },
            "limit" => match routing::parse_limit(&value) {
                Ok(l) => limit = l,
                Err(reply) => return reply,
            },
            _ => match routing::parse_cursor(&value) {
                Ok(c) => before = Some(c),
                Err(reply) => return reply,
            },
        }
    }
    let (reply, shown) = match store
        .open_applications(insurer.as_str(), stage, before, limit + 1)
        .and_then(|rows| listed(store, rows, limit))
    {
        Ok(page) => page,
        Err(e) => return internal("open applications", &e),
    };
    let entries: Vec<AccessLogEntry> = by_person(&shown)
        .into_iter()
        .map(|(person, ids)| entry(Some(person), ids, Decision::Allow))
        .collect();
    if entries.is_empty() {
        return reply;
    }
    logged(store, &entries, reply)
}
