//! The office-register operation, independent of Spin: routes, registering,
//! deregistering and listing, against any store.

use carehub_domain::policy::records::may_list_person_registrations;
use carehub_domain::policy::registration::{
    check_deregistration, may_add_registration, may_register, may_view_registration,
    registration_not_found, role_not_allowed_to_register,
};
use carehub_domain::{
    IdempotencyKey, PersonRef, Principal, Problem, ProblemType, RegistrationId, RegistrationState,
    Role, VerificationMethod, validate_registration,
};
use carehub_guest::body::parse_json;
use carehub_guest::fields::Object;
use carehub_guest::http::{Reply, RequestHead};
use carehub_guest::idempotency::{Answer, WriteRequest, write_once};
use carehub_guest::problem::{forbidden, internal, invalid_identifier};
use carehub_guest::routing::{Page, Route, paginate};
use carehub_store::{
    Deregistration, LockKey, NewRegistration, RegistrationRecord, RegistrationStore, StoreError,
};
use serde::Serialize;
use serde_json::Value;

/// Body cap of a registration or deregistration.
pub const BODY_LIMIT: usize = 16 << 10;
/// The component's route prefix.
pub const PREFIX: &str = "/api/office-register";

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /registrations`.
    Register,
    /// `GET /registrations`.
    ListOwn,
    /// `GET /registrations/{registration_id}`.
    One,
    /// `POST /registrations/{registration_id}/deregister`.
    Deregister,
    /// `GET /persons/{insurer_number}/{insured_number}/registrations`.
    ListPerson,
}

/// The component's routes (after the `/api/office-register` prefix).
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: "POST",
        pattern: "/registrations",
        endpoint: Endpoint::Register,
    },
    Route {
        method: "GET",
        pattern: "/registrations",
        endpoint: Endpoint::ListOwn,
    },
    Route {
        method: "GET",
        pattern: "/registrations/{registration_id}",
        endpoint: Endpoint::One,
    },
    Route {
        method: "POST",
        pattern: "/registrations/{registration_id}/deregister",
        endpoint: Endpoint::Deregister,
    },
    Route {
        method: "GET",
        pattern: "/persons/{insurer_number}/{insured_number}/registrations",
        endpoint: Endpoint::ListPerson,
    },
];

/// The registration id of a `/registrations/{registration_id}` route.
pub fn registration_id_from_path(id: &str) -> Result<RegistrationId, Reply> {
    RegistrationId::parse(id).map_err(|e| invalid_identifier("registration_id", &e))
}

/// Where a registration is read: its `Location`.
pub fn location(id: &RegistrationId) -> String {
    format!("{PREFIX}/registrations/{}", id.as_str())
}

#[derive(Serialize)]
struct DeregistrationView<'a> {
    deregistered_at: &'a str,
    deregistered_by: String,
    reason: &'a str,
}

#[derive(Serialize)]
struct RegistrationView<'a> {
    registration_id: &'a str,
    office: String,
    role: Role,
    person: &'a PersonRef,
    verification_method: &'a VerificationMethod,
    verification_reference: &'a str,
    start: &'a str,
    end: Option<&'a str>,
    registered_at: &'a str,
    deregistration: Option<DeregistrationView<'a>>,
    /// In force, ended, or none (not started yet), at the time of the answer.
    state: RegistrationState,
}

fn view<'a>(r: &'a RegistrationRecord, now: &str) -> RegistrationView<'a> {
    let reg = &r.registration;
    RegistrationView {
        registration_id: reg.registration_id.as_str(),
        office: reg.office.to_urn(),
        role: reg.office.role(),
        person: &reg.person,
        verification_method: &reg.verification_method,
        verification_reference: &reg.verification_reference,
        start: &reg.start,
        end: reg.end.as_deref(),
        registered_at: &r.registered_at,
        deregistration: r.deregistration.as_ref().map(|d| DeregistrationView {
            deregistered_at: &d.at,
            deregistered_by: d.by.to_urn(),
            reason: &d.reason,
        }),
        state: r.state(now),
    }
}

/// A parsed registration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRequest {
    /// The person.
    pub person: PersonRef,
    /// How identity was verified.
    pub verification_method: VerificationMethod,
    /// The record of the check.
    pub verification_reference: String,
    /// From when.
    pub start: String,
    /// Until when.
    pub end: Option<String>,
}

const REGISTER_FIELDS: &[&str] = &[
    "person",
    "verification_method",
    "verification_reference",
    "start",
    "end",
];

/// Parses the body of `POST /registrations` (already well-formed JSON).
pub fn parse_register(value: &Value) -> Result<RegisterRequest, Problem> {
    let o = Object::new(value, "", REGISTER_FIELDS)?;
    let person = match o.get("person") {
        Some(v) => {
            let p = Object::new(v, "/person", &["insurer_number", "insured_number"])?;
            PersonRef::new(
                p.id("insurer_number", carehub_domain::InsurerNumber::parse)?,
                p.id("insured_number", carehub_domain::InsuredNumber::parse)?,
            )
        }
        None => {
            return Err(carehub_guest::problem::invalid_request_problem(
                "/person", "required",
            ));
        }
    };
    let verification_method = match o.get("verification_method") {
        Some(v) => {
            let m = Object::new(v, "/verification_method", &["type", "description"])?;
            match m.str("type")? {
                "my_number_card" => {
                    if m.get("description").is_some() {
                        return Err(carehub_guest::problem::invalid_request_problem(
                            "/verification_method/description",
                            "only for type \"other\"",
                        ));
                    }
                    VerificationMethod::MyNumberCard
                }
                "other" => VerificationMethod::Other {
                    description: m.opt_str("description")?.unwrap_or_default().to_owned(),
                },
                _ => {
                    return Err(carehub_guest::problem::invalid_request_problem(
                        "/verification_method/type",
                        "unknown method; expected one of: my_number_card, other",
                    ));
                }
            }
        }
        None => {
            return Err(carehub_guest::problem::invalid_request_problem(
                "/verification_method",
                "required",
            ));
        }
    };
    Ok(RegisterRequest {
        person,
        verification_method,
        verification_reference: o.str("verification_reference")?.to_owned(),
        start: o.str("start")?.to_owned(),
        end: o.opt_str("end")?.map(str::to_owned),
    })
}

/// `POST /registrations`: the calling office registers as the person's
/// responsible office after verifying their identity. 403 for roles that do
/// not register, 422 for an incomplete verification or unusable period, 409
/// while the office already holds a registration for the person that has
/// not ended.
pub fn register<S: RegistrationStore + ?Sized>(
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
        "registration write",
        || {
            if !may_register(principal) {
                return Err(Reply::problem(&role_not_allowed_to_register()));
            }
            let value = parse_json(body)?;
            let req = parse_register(&value).map_err(|p| Reply::problem(&p))?;
            validate_registration(
                &req.verification_method,
                &req.verification_reference,
                &req.start,
                req.end.as_deref(),
                now,
            )
            .map_err(|violations| {
                let detail = match violations.len() {
                    1 => "The registration breaks 1 rule.".to_owned(),
                    n => format!("The registration breaks {n} rules."),
                };
                Reply::problem(
                    &Problem::new(ProblemType::InvalidRegistration, detail)
                        .with_violations(violations),
                )
            })?;
            Ok(req)
        },
        |s, req| {
            s.lock(&[LockKey::Person(req.person.clone())])?;
            let existing = s.office_registrations_for(principal, &req.person)?;
            if !may_add_registration(existing.iter().map(|r| r.state(now))) {
                let current = existing
                    .iter()
                    .rev()
                    .find(|r| r.state(now) != RegistrationState::Ended)
                    .map(|r| r.registration.registration_id.as_str().to_owned())
                    .unwrap_or_default();
                return Ok(Err(Reply::problem(&Problem::new(
                    ProblemType::Conflict,
                    format!(
                        "This office already holds registration {current} for this person; deregister it first."
                    ),
                ))));
            }
            let registration = NewRegistration {
                registration_id: RegistrationId::derive(principal, &req.person, now),
                office: principal.clone(),
                person: req.person,
                verification_method: req.verification_method,
                verification_reference: req.verification_reference,
                start: req.start,
                end: req.end,
            };
            let record = s.add_registration(&registration, now)?;
            Ok(Ok(Answer::json(
                201,
                Some(location(&registration.registration_id)),
                &view(&record, now),
            )))
        },
    )
}

/// `POST /registrations/{registration_id}/deregister` with
/// `{"reason": "…"}`: the office ends its registration now (contract end).
/// Another office's registration, or none, is 404; an ended one is 409.
pub fn deregister<S: RegistrationStore + ?Sized>(
    store: &S,
    principal: &Principal,
    id: &RegistrationId,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    body: &[u8],
    now: &str,
) -> Reply {
    write_once(
        store,
        &WriteRequest::new(principal, head, key, body, now),
        "deregistration write",
        || {
            let value = parse_json(body)?;
            let o = Object::new(&value, "", &["reason"]).map_err(|p| Reply::problem(&p))?;
            let reason = o.str("reason").map_err(|p| Reply::problem(&p))?;
            if reason.trim().is_empty() {
                return Err(Reply::problem(
                    &Problem::new(
                        ProblemType::InvalidRegistration,
                        "The deregistration breaks 1 rule.",
                    )
                    .with_violations(vec![carehub_domain::Violation::new(
                        "/reason",
                        "must not be blank: why the registration ends (e.g. the contract ended)",
                    )]),
                ));
            }
            Ok(reason.to_owned())
        },
        |s, reason| {
            // The person is known from the (immutable) registration row;
            // read it again under the person's lock, which a concurrent
            // deregistration of it holds until it commits.
            let Some(found) = s.registration(id)? else {
                return Ok(Err(Reply::problem(&registration_not_found())));
            };
            s.lock(&[LockKey::Person(found.registration.person)])?;
            let Some(mut record) = s.registration(id)? else {
                return Ok(Err(Reply::problem(&registration_not_found())));
            };
            if let Err(p) =
                check_deregistration(principal, &record.registration.office, record.state(now))
            {
                return Ok(Err(Reply::problem(&p)));
            }
            let deregistration = Deregistration {
                at: now.to_owned(),
                by: principal.clone(),
                reason,
            };
            s.deregister(record.seq, &deregistration)?;
            record.deregistration = Some(deregistration);
            Ok(Ok(Answer::json(200, None, &view(&record, now))))
        },
    )
}

/// `GET /registrations/{registration_id}`: the office's own registration;
/// 404 for any other (or none).
pub fn one<S: RegistrationStore + ?Sized>(
    store: &S,
    principal: &Principal,
    id: &RegistrationId,
    now: &str,
) -> Reply {
    match store.registration(id) {
        Ok(Some(r)) if may_view_registration(principal, &r.registration.office) => {
            Reply::json(200, &view(&r, now))
        }
        Ok(_) => Reply::problem(&registration_not_found()),
        Err(e) => internal("registration query", &e),
    }
}

#[derive(Serialize)]
struct PersonList<'a> {
    person: &'a PersonRef,
    registrations: Vec<RegistrationView<'a>>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct OfficeList<'a> {
    office: String,
    registrations: Vec<RegistrationView<'a>>,
    next_cursor: Option<String>,
}

/// `GET /persons/{insurer_number}/{insured_number}/registrations`: the
/// person's responsible offices, every registration newest first with its
/// state now. For the person (portal, token naming them) and their
/// municipality; the generic refusal for everyone else.
pub fn person_registrations<S: RegistrationStore + ?Sized>(
    store: &S,
    principal: &Principal,
    token_person: Option<&PersonRef>,
    person: &PersonRef,
    page: Page,
    now: &str,
) -> Reply {
    if !may_list_person_registrations(principal, person, token_person) {
        return forbidden();
    }
    let result = store.person_registrations(person, page.before_seq, page.limit + 1);
    match result {
        Ok(mut rows) => {
            let next_cursor = paginate(&mut rows, page.limit, |r| r.seq);
            Reply::json(
                200,
                &PersonList {
                    person,
                    registrations: rows.iter().map(|r| view(r, now)).collect(),
                    next_cursor,
                },
            )
        }
        Err(e) => internal("registration list", &e),
    }
}

/// `GET /registrations`: the persons the calling office is (or was)
/// registered for, newest first with each registration's state now.
pub fn office_registrations<S: RegistrationStore + ?Sized>(
    store: &S,
    principal: &Principal,
    page: Page,
    now: &str,
) -> Reply {
    if !may_register(principal) {
        return Reply::problem(&role_not_allowed_to_register());
    }
    let result: Result<Vec<RegistrationRecord>, StoreError> =
        store.office_registrations(principal, page.before_seq, page.limit + 1);
    match result {
        Ok(mut rows) => {
            let next_cursor = paginate(&mut rows, page.limit, |r| r.seq);
            Reply::json(
                200,
                &OfficeList {
                    office: principal.to_urn(),
                    registrations: rows.iter().map(|r| view(r, now)).collect(),
                    next_cursor,
                },
            )
        }
        Err(e) => internal("registration list", &e),
    }
}
