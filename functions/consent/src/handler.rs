//! The consent operation, independent of Spin: routes, recording an event,
//! showing the state and history, against any store.

pub use carehub_domain::Caller;
use carehub_domain::policy::consent::{authorize_recording, may_view_consent};
use carehub_domain::{
    ConsentEvent, IdempotencyKey, PersonRef, Principal, Problem, ProblemType, RegistrationState,
    check_transition, current_state, validate_event_at,
};
use carehub_guest::body::parse_json;
use carehub_guest::http::{Reply, RequestHead};
use carehub_guest::idempotency::{Answer, WriteRequest, write_once};
use carehub_guest::problem::{forbidden, internal};
use carehub_guest::routing::Route;
use carehub_store::{
    ConsentRecord, ConsentStore, LockKey, RegistrationStore, StoreError, office_registration_state,
};
use serde::Serialize;
use serde_json::Value;

use crate::request;

/// Body cap of a consent event.
pub const BODY_LIMIT: usize = 64 << 10;
/// The component's route prefix.
pub const PREFIX: &str = "/api/consent";

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /persons/{insurer_number}/{insured_number}/events`.
    Record,
    /// `GET /persons/{insurer_number}/{insured_number}`.
    Show,
}

/// The component's routes (after the `/api/consent` prefix).
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: "POST",
        pattern: "/persons/{insurer_number}/{insured_number}/events",
        endpoint: Endpoint::Record,
    },
    Route {
        method: "GET",
        pattern: "/persons/{insurer_number}/{insured_number}",
        endpoint: Endpoint::Show,
    },
];

/// Where a person's consent is shown: the `Location` of a recorded event.
pub fn location(person: &PersonRef) -> String {
    format!(
        "{PREFIX}/persons/{}/{}",
        person.insurer_number.as_str(),
        person.insured_number.as_str()
    )
}

/// One history entry as shown: the event's fields plus when the hub
/// recorded it.
fn history_item(event: &ConsentEvent, recorded_at: &str) -> Result<Value, StoreError> {
    let mut v = serde_json::to_value(event)
        .map_err(|e| StoreError::Corrupt(format!("consent event does not serialize: {e}")))?;
    if let Value::Object(map) = &mut v {
        map.insert("recorded_at".into(), Value::String(recorded_at.to_owned()));
    }
    Ok(v)
}

#[derive(Serialize)]
struct Recorded<'a> {
    person: &'a PersonRef,
    state: carehub_domain::ConsentState,
    recorded: Value,
}

#[derive(Serialize)]
struct Shown<'a> {
    person: &'a PersonRef,
    state: carehub_domain::ConsentState,
    history: Vec<Value>,
}

fn registered<S: RegistrationStore + ?Sized>(
    store: &S,
    principal: &Principal,
    person: &PersonRef,
    now: &str,
) -> Result<bool, StoreError> {
    Ok(office_registration_state(store, principal, person, now)? == RegistrationState::InForce)
}

/// `POST /persons/{insurer_number}/{insured_number}/events`: appends one
/// consent event. `body` has passed the media-type and size checks; `now`
/// is RFC 3339 UTC.
///
/// Checked in order: the body's shape (400), who may record it (403: wrong
/// municipality, office not registered, role not allowed, or the generic
/// refusal for a portal acting for someone else), the event's content (422),
/// the transition from the current state (409). All checks that read the
/// database run in the write transaction, so that a concurrent
/// deregistration or withdrawal cannot slip between check and append.
#[allow(clippy::too_many_arguments)]
pub fn record<S: ConsentStore + RegistrationStore + ?Sized>(
    store: &S,
    caller: &Caller,
    person: &PersonRef,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    body: &[u8],
    now: &str,
) -> Reply {
    let principal = &caller.principal;
    write_once(
        store,
        &WriteRequest::new(principal, head, key, body, now),
        "consent write",
        || {
            let value = parse_json(body)?;
            request::parse(&value).map_err(|p| Reply::problem(&p))
        },
        |s, req| {
            s.lock(&[LockKey::Person(person.clone())])?;
            let refuse = |p: Problem| Ok(Err(Reply::problem(&p)));
            let event = match req.into_event(principal, caller.actor(), now) {
                Ok(e) => e,
                Err(p) => return refuse(p),
            };
            let registered = registered(s, principal, person, now)?;
            if let Err(p) = authorize_recording(
                principal,
                person,
                &event,
                registered,
                caller.person_and_actor(),
            ) {
                return refuse(p);
            }
            if let Err(violations) = validate_event_at(&event, now) {
                let detail = match violations.len() {
                    1 => "The consent event breaks 1 rule.".to_owned(),
                    n => format!("The consent event breaks {n} rules."),
                };
                return refuse(
                    Problem::new(ProblemType::InvalidConsentEvent, detail)
                        .with_violations(violations),
                );
            }
            let current = s.consent_state(person)?;
            if let Err(conflict) = check_transition(current, &event) {
                return refuse(Problem::new(
                    ProblemType::Conflict,
                    format!("The person's consent is {current}: {conflict}."),
                ));
            }
            s.append_consent(person, &event, principal, now)?;
            let shown = Recorded {
                person,
                state: event.resulting_state(),
                recorded: history_item(&event, now)?,
            };
            Ok(Ok(Answer::json(201, Some(location(person)), &shown)))
        },
    )
}

/// `GET /persons/{insurer_number}/{insured_number}`: the current state and
/// the whole history, oldest first. For the person (portal), their
/// municipality and offices registered for them; everyone else gets the
/// generic refusal.
pub fn show<S: ConsentStore + RegistrationStore + ?Sized>(
    store: &S,
    caller: &Caller,
    person: &PersonRef,
    now: &str,
) -> Reply {
    match try_show(store, caller, person, now) {
        Ok(reply) => reply,
        Err(e) => internal("consent query", &e),
    }
}

fn try_show<S: ConsentStore + RegistrationStore + ?Sized>(
    store: &S,
    caller: &Caller,
    person: &PersonRef,
    now: &str,
) -> Result<Reply, StoreError> {
    let registered = registered(store, &caller.principal, person, now)?;
    if !may_view_consent(&caller.principal, person, registered, caller.token_person()) {
        return Ok(forbidden());
    }
    let history: Vec<ConsentRecord> = store.consent_history(person)?;
    let events: Vec<ConsentEvent> = history.iter().map(|r| r.event.clone()).collect();
    let items = history
        .iter()
        .map(|r| history_item(&r.event, &r.recorded_at))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::json(
        200,
        &Shown {
            person,
            state: current_state(&events),
            history: items,
        },
    ))
}
