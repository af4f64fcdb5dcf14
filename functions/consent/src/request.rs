//! The body of `POST /persons/{insurer_number}/{insured_number}/events`,
//! parsed into a [`ConsentEvent`].
//!
//! The client says what happened; who recorded it (`obtained_by`,
//! `through`) is the caller's principal, and the time of a withdrawal or of
//! "could not be obtained" is the hub's clock: a withdrawal takes effect at
//! once. Only a consent's `effective_at` may be given (the day the person
//! signed the application form), defaulting to now.

use carehub_domain::{
    ConsentEvent, ConsentMethod, Giver, PersonActor, Principal, Problem, ProxyRelationship,
};
use carehub_guest::fields::Object;
use carehub_guest::problem::invalid_request_problem;
use serde_json::Value;

/// A parsed request, before the caller and the clock complete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentRequest {
    /// `"event": "given"`.
    Given {
        /// The person or a proxy.
        given_by: Giver,
        /// How.
        method: ConsentMethod,
        /// That the purpose and scope were explained.
        explanation_given: bool,
        /// The certification application it came with.
        application_ref: Option<String>,
        /// When it takes effect; default now.
        effective_at: Option<String>,
    },
    /// `"event": "not_obtained"`.
    NotObtained {
        /// Why consent could not be obtained.
        reason: String,
    },
    /// `"event": "withdrawn"`.
    Withdrawn {
        /// The person or a proxy; for the portal, defaults to the person
        /// when the person token's holder is the person.
        by: Option<Giver>,
    },
}

const EVENTS: [&str; 3] = ["given", "not_obtained", "withdrawn"];

/// Parses the body (already well-formed JSON).
pub fn parse(value: &Value) -> Result<ConsentRequest, Problem> {
    // The event decides which other members are accepted.
    let event = match value.get("event") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(invalid_request_problem("/event", "must be a string")),
        None if value.is_object() => return Err(invalid_request_problem("/event", "required")),
        None => return Err(invalid_request_problem("", "must be a JSON object")),
    };
    match event {
        "given" => {
            let o = Object::new(
                value,
                "",
                &[
                    "event",
                    "given_by",
                    "method",
                    "explanation_given",
                    "application_ref",
                    "effective_at",
                ],
            )?;
            let given_by = match o.get("given_by") {
                Some(v) => giver(v, "/given_by")?,
                None => return Err(invalid_request_problem("/given_by", "required")),
            };
            Ok(ConsentRequest::Given {
                given_by,
                method: o.enumerated("method", &ConsentMethod::NAMES)?,
                explanation_given: o.bool("explanation_given")?,
                application_ref: o.opt_str("application_ref")?.map(str::to_owned),
                effective_at: o.opt_str("effective_at")?.map(str::to_owned),
            })
        }
        "not_obtained" => {
            let o = Object::new(value, "", &["event", "reason"])?;
            Ok(ConsentRequest::NotObtained {
                reason: o.str("reason")?.to_owned(),
            })
        }
        "withdrawn" => {
            let o = Object::new(value, "", &["event", "by"])?;
            Ok(ConsentRequest::Withdrawn {
                by: o.get("by").map(|v| giver(v, "/by")).transpose()?,
            })
        }
        _ => Err(invalid_request_problem(
            "/event",
            format!("unknown event; expected one of: {}", EVENTS.join(", ")),
        )),
    }
}

fn giver(value: &Value, pointer: &str) -> Result<Giver, Problem> {
    let kind = match value.get("type") {
        Some(Value::String(s)) => s.as_str(),
        _ if !value.is_object() => {
            return Err(invalid_request_problem(pointer, "must be a JSON object"));
        }
        _ => {
            return Err(invalid_request_problem(
                &format!("{pointer}/type"),
                "required: \"person\" or \"proxy\"",
            ));
        }
    };
    match kind {
        "person" => {
            Object::new(value, pointer, &["type"])?;
            Ok(Giver::Person)
        }
        "proxy" => {
            let o = Object::new(
                value,
                pointer,
                &[
                    "type",
                    "relationship",
                    "name",
                    "reason_person_could_not_consent",
                ],
            )?;
            Ok(Giver::Proxy {
                relationship: o.enumerated("relationship", &ProxyRelationship::NAMES)?,
                name: o.str("name")?.to_owned(),
                reason_person_could_not_consent: o
                    .str("reason_person_could_not_consent")?
                    .to_owned(),
            })
        }
        _ => Err(invalid_request_problem(
            &format!("{pointer}/type"),
            "unknown giver; expected one of: person, proxy",
        )),
    }
}

impl ConsentRequest {
    /// The event `principal` records at `now`. `actor` is the person
    /// token's holder for a portal call.
    pub fn into_event(
        self,
        principal: &Principal,
        actor: Option<PersonActor>,
        now: &str,
    ) -> Result<ConsentEvent, Problem> {
        Ok(match self {
            ConsentRequest::Given {
                given_by,
                method,
                explanation_given,
                application_ref,
                effective_at,
            } => ConsentEvent::Given {
                obtained_by: principal.clone(),
                given_by,
                method,
                explanation_given,
                application_ref,
                effective_at: effective_at.unwrap_or_else(|| now.to_owned()),
            },
            ConsentRequest::NotObtained { reason } => ConsentEvent::NotObtained {
                obtained_by: principal.clone(),
                reason,
                recorded_at: now.to_owned(),
            },
            ConsentRequest::Withdrawn { by } => ConsentEvent::Withdrawn {
                by: match (by, actor) {
                    (Some(by), _) => by,
                    (None, Some(PersonActor::Person)) => Giver::Person,
                    (None, _) => {
                        return Err(invalid_request_problem(
                            "/by",
                            "required: who withdraws, the person or a named proxy",
                        ));
                    }
                },
                through: principal.clone(),
                effective_at: now.to_owned(),
            },
        })
    }
}
