//! The person's one-time comprehensive consent (包括同意, DESIGN §4).
//!
//! One consent covers every office and every document, now and later. The
//! history is an append-only list of events and the latest event decides:
//! a withdrawal takes effect at once, and a later consent restores sharing.

use serde::{Deserialize, Serialize};

use crate::content::Violation;
use crate::macros::string_enum;
use crate::policy::consent::{may_carry_withdrawal, may_obtain_consent, obtains_at_application};
use crate::principal::Principal;
use crate::registration::{is_rfc3339, parse_rfc3339};

string_enum! {
    /// Where the person's consent stands.
    pub enum ConsentState as "consent state" {
        /// No consent event has been recorded.
        None = "none",
        /// Consent given and not withdrawn.
        InForce = "in_force",
        /// Consent was withdrawn.
        Withdrawn = "withdrawn",
        /// Recorded as "could not be obtained"; nothing is shared.
        NotObtained = "not_obtained",
    }
}

string_enum! {
    /// A proxy's relationship to the person.
    pub enum ProxyRelationship as "proxy relationship" {
        /// 家族.
        FamilyMember = "family_member",
        /// 成年後見人.
        LegalGuardian = "legal_guardian",
        /// その他の代理人.
        OtherRepresentative = "other_representative",
    }
}

string_enum! {
    /// How consent was given.
    pub enum ConsentMethod as "consent method" {
        /// On the paper form (e.g. the consent box of the application).
        PaperForm = "paper_form",
        /// Electronically (e.g. through the portal).
        Electronic = "electronic",
        /// Verbally, with a written record of it.
        VerbalWithRecord = "verbal_with_record",
    }
}

/// Who gave or withdrew consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Giver {
    /// The person themself.
    Person,
    /// Someone acting for the person, who could not consent themself.
    Proxy {
        /// The proxy's relationship to the person.
        relationship: ProxyRelationship,
        /// The proxy's name.
        name: String,
        /// Why the person could not consent themself.
        reason_person_could_not_consent: String,
    },
}

/// One entry of the consent history.
///
/// Timestamps are RFC 3339 strings, checked by [`validate_event`]; they are
/// kept as sent so that the stored history is exactly what was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ConsentEvent {
    /// The person (or a proxy) gave comprehensive consent.
    Given {
        /// The municipality, or the care-manager office or facility acting on
        /// its behalf.
        obtained_by: Principal,
        /// The person or a proxy.
        given_by: Giver,
        /// How consent was given.
        method: ConsentMethod,
        /// That the purpose and scope of sharing were explained. Must be true:
        /// consent without an explanation is not consent.
        explanation_given: bool,
        /// The certification application the consent was obtained with, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        application_ref: Option<String>,
        /// When the consent takes effect (RFC 3339).
        effective_at: String,
    },
    /// Consent could not be obtained; nothing is shared.
    NotObtained {
        /// Who tried to obtain it.
        obtained_by: Principal,
        /// Why it could not be obtained.
        reason: String,
        /// When this was recorded (RFC 3339).
        recorded_at: String,
    },
    /// The person (or a proxy) withdrew consent.
    Withdrawn {
        /// The person or a proxy.
        by: Giver,
        /// The municipality, office or portal the withdrawal came through.
        through: Principal,
        /// When the withdrawal takes effect (RFC 3339).
        effective_at: String,
    },
}

impl ConsentEvent {
    /// The state this event leaves consent in.
    pub fn resulting_state(&self) -> ConsentState {
        match self {
            ConsentEvent::Given { .. } => ConsentState::InForce,
            ConsentEvent::NotObtained { .. } => ConsentState::NotObtained,
            ConsentEvent::Withdrawn { .. } => ConsentState::Withdrawn,
        }
    }
}

/// The state after a history of events, given in the order they were
/// appended. The latest event decides (DESIGN §4); timestamps do not reorder
/// the history, because the order of recording is what the log proves.
pub fn current_state(events: &[ConsentEvent]) -> ConsentState {
    events
        .last()
        .map_or(ConsentState::None, ConsentEvent::resulting_state)
}

/// Checks an event before it is appended: explanation given, proxies named
/// with a reason, no blank strings, RFC 3339 timestamps, and a recorder whose
/// role may obtain consent. Pointers are relative to the event object.
pub fn validate_event(event: &ConsentEvent) -> Result<(), Vec<Violation>> {
    let mut v = Vec::new();
    match event {
        ConsentEvent::Given {
            obtained_by,
            given_by,
            explanation_given,
            application_ref,
            effective_at,
            ..
        } => {
            obtainer(&mut v, "/obtained_by", obtained_by);
            giver(&mut v, "/given_by", given_by);
            if !explanation_given {
                v.push(Violation::new(
                    "/explanation_given",
                    "consent is recorded only after the purpose and scope of sharing were explained",
                ));
            }
            match application_ref {
                Some(r) => not_blank(&mut v, "/application_ref", r),
                // DESIGN §4: a municipality obtains consent at a new or
                // renewal certification application, linked to it.
                None if obtains_at_application(obtained_by) => v.push(Violation::new(
                    "/application_ref",
                    "consent obtained by a municipality names the certification application it came with",
                )),
                None => {}
            }
            timestamp(&mut v, "/effective_at", effective_at);
        }
        ConsentEvent::NotObtained {
            obtained_by,
            reason,
            recorded_at,
        } => {
            obtainer(&mut v, "/obtained_by", obtained_by);
            not_blank(&mut v, "/reason", reason);
            timestamp(&mut v, "/recorded_at", recorded_at);
        }
        ConsentEvent::Withdrawn {
            by,
            through,
            effective_at,
        } => {
            giver(&mut v, "/by", by);
            if !may_carry_withdrawal(through) {
                v.push(Violation::new(
                    "/through",
                    "a withdrawal comes through the municipality, an office or the portal",
                ));
            }
            timestamp(&mut v, "/effective_at", effective_at);
        }
    }
    if v.is_empty() { Ok(()) } else { Err(v) }
}

fn not_blank(v: &mut Vec<Violation>, pointer: &str, value: &str) {
    if value.trim().is_empty() {
        v.push(Violation::new(pointer, "must not be blank"));
    }
}

fn timestamp(v: &mut Vec<Violation>, pointer: &str, value: &str) {
    if !is_rfc3339(value) {
        v.push(Violation::new(
            pointer,
            "must be an RFC 3339 timestamp, e.g. 2025-04-01T09:00:00Z",
        ));
    }
}

/// The municipality obtains consent; a care-manager office or facility may do
/// so on its behalf (DESIGN §4). Nobody else records it.
fn obtainer(v: &mut Vec<Violation>, pointer: &str, p: &Principal) {
    if !may_obtain_consent(p) {
        v.push(Violation::new(
            pointer,
            "consent is obtained by a municipality, or a care-manager office or facility on its behalf",
        ));
    }
}

/// A proxy must be named, with the reason the person could not act.
fn giver(v: &mut Vec<Violation>, pointer: &str, g: &Giver) {
    if let Giver::Proxy {
        name,
        reason_person_could_not_consent,
        ..
    } = g
    {
        not_blank(v, &format!("{pointer}/name"), name);
        not_blank(
            v,
            &format!("{pointer}/reason_person_could_not_consent"),
            reason_person_could_not_consent,
        );
    }
}

impl ConsentEvent {
    /// When the event takes effect (for "not obtained": when it was recorded).
    pub fn effective_at(&self) -> &str {
        match self {
            ConsentEvent::Given { effective_at, .. }
            | ConsentEvent::Withdrawn { effective_at, .. } => effective_at,
            ConsentEvent::NotObtained { recorded_at, .. } => recorded_at,
        }
    }

    /// The event's wire name: `given`, `not_obtained` or `withdrawn`.
    pub fn name(&self) -> &'static str {
        match self {
            ConsentEvent::Given { .. } => "given",
            ConsentEvent::NotObtained { .. } => "not_obtained",
            ConsentEvent::Withdrawn { .. } => "withdrawn",
        }
    }
}

/// [`validate_event`], plus: the event's time is not after `now` (both RFC
/// 3339). The hub records what happened; since the order of recording
/// decides ([`current_state`]), a consent dated in the future would take
/// effect before its date.
pub fn validate_event_at(event: &ConsentEvent, now: &str) -> Result<(), Vec<Violation>> {
    let mut v = validate_event(event).err().unwrap_or_default();
    let pointer = match event {
        ConsentEvent::NotObtained { .. } => "/recorded_at",
        _ => "/effective_at",
    };
    if let (Some(at), Some(now)) = (parse_rfc3339(event.effective_at()), parse_rfc3339(now))
        && at > now
    {
        v.push(Violation::new(
            pointer,
            "must not be in the future: record consent once it has been given",
        ));
    }
    if v.is_empty() { Ok(()) } else { Err(v) }
}

/// Why an event cannot follow the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConsentConflict {
    /// A withdrawal when no consent is in force.
    #[error("there is no consent in force to withdraw")]
    NothingToWithdraw,
    /// "Could not be obtained" while consent is in force: the person's
    /// refusal is a withdrawal, recorded as such.
    #[error("consent is in force; a person who no longer consents withdraws it")]
    InForce,
}

/// Whether `event` may follow the history whose state is `current`.
///
/// Consent may be given again at any time (a municipality records it at the
/// renewal application even if an office obtained it before). A withdrawal
/// needs a consent in force; "could not be obtained" must not silently end a
/// consent in force.
pub fn check_transition(
    current: ConsentState,
    event: &ConsentEvent,
) -> Result<(), ConsentConflict> {
    match (event, current) {
        (ConsentEvent::Given { .. }, _) => Ok(()),
        (ConsentEvent::Withdrawn { .. }, ConsentState::InForce) => Ok(()),
        (ConsentEvent::Withdrawn { .. }, _) => Err(ConsentConflict::NothingToWithdraw),
        (ConsentEvent::NotObtained { .. }, ConsentState::InForce) => Err(ConsentConflict::InForce),
        (ConsentEvent::NotObtained { .. }, _) => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Principal {
        Principal::parse_urn(s).unwrap()
    }

    /// A consent given to the municipality at an application (shared with
    /// the policy's tests).
    pub(crate) fn given() -> ConsentEvent {
        ConsentEvent::Given {
            obtained_by: p("urn:carehub:municipality:131016"),
            given_by: Giver::Person,
            method: ConsentMethod::PaperForm,
            explanation_given: true,
            application_ref: Some("APP-2025-000123".into()),
            effective_at: "2025-04-01T09:00:00+09:00".into(),
        }
    }

    /// The person's withdrawal through the portal.
    pub(crate) fn withdrawn() -> ConsentEvent {
        ConsentEvent::Withdrawn {
            by: Giver::Person,
            through: p("urn:carehub:portal:mynaportal"),
            effective_at: "2025-05-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn latest_event_decides() {
        assert_eq!(current_state(&[]), ConsentState::None);
        assert_eq!(current_state(&[given()]), ConsentState::InForce);
        assert_eq!(
            current_state(&[given(), withdrawn()]),
            ConsentState::Withdrawn
        );
        assert_eq!(
            current_state(&[given(), withdrawn(), given()]),
            ConsentState::InForce
        );
        let not = ConsentEvent::NotObtained {
            obtained_by: p("urn:carehub:care-manager:1371234567"),
            reason: "本人の意思確認ができず、代理人もいない".into(),
            recorded_at: "2025-04-01T00:00:00Z".into(),
        };
        assert_eq!(
            current_state(&[given(), not.clone()]),
            ConsentState::NotObtained
        );
        assert!(validate_event(&not).is_ok());
    }

    #[test]
    fn serde_shape() {
        let v = serde_json::to_value(given()).unwrap();
        assert_eq!(
            v,
            json!({
                "event": "given",
                "obtained_by": "urn:carehub:municipality:131016",
                "given_by": {"type": "person"},
                "method": "paper_form",
                "explanation_given": true,
                "application_ref": "APP-2025-000123",
                "effective_at": "2025-04-01T09:00:00+09:00"
            })
        );
        assert_eq!(serde_json::from_value::<ConsentEvent>(v).unwrap(), given());
        let proxy: Giver = serde_json::from_value(json!({
            "type": "proxy", "relationship": "legal_guardian", "name": "山田 花子",
            "reason_person_could_not_consent": "認知症により意思表示が困難"
        }))
        .unwrap();
        assert!(matches!(
            proxy,
            Giver::Proxy {
                relationship: ProxyRelationship::LegalGuardian,
                ..
            }
        ));
    }

    #[test]
    fn validation_refusals() {
        assert!(validate_event(&given()).is_ok());
        assert!(validate_event(&withdrawn()).is_ok());

        let ConsentEvent::Given {
            obtained_by,
            method,
            ..
        } = given()
        else {
            unreachable!()
        };
        let bad = ConsentEvent::Given {
            obtained_by: p("urn:carehub:medical:1312345678"),
            given_by: Giver::Proxy {
                relationship: ProxyRelationship::FamilyMember,
                name: " ".into(),
                reason_person_could_not_consent: String::new(),
            },
            method,
            explanation_given: false,
            application_ref: Some(String::new()),
            effective_at: "2025-04-01 09:00".into(),
        };
        let pointers: Vec<_> = validate_event(&bad)
            .unwrap_err()
            .into_iter()
            .map(|v| v.pointer)
            .collect();
        assert_eq!(
            pointers,
            [
                "/obtained_by",
                "/given_by/name",
                "/given_by/reason_person_could_not_consent",
                "/explanation_given",
                "/application_ref",
                "/effective_at"
            ]
        );
        let _ = obtained_by;

        let bad = ConsentEvent::Withdrawn {
            by: Giver::Person,
            through: p("urn:carehub:operator:ops"),
            effective_at: "yesterday".into(),
        };
        let pointers: Vec<_> = validate_event(&bad)
            .unwrap_err()
            .into_iter()
            .map(|v| v.pointer)
            .collect();
        assert_eq!(pointers, ["/through", "/effective_at"]);
    }

    #[test]
    fn a_municipality_links_consent_to_the_application() {
        let ConsentEvent::Given {
            obtained_by,
            given_by,
            method,
            effective_at,
            ..
        } = given()
        else {
            unreachable!()
        };
        let unlinked = ConsentEvent::Given {
            obtained_by,
            given_by: given_by.clone(),
            method,
            explanation_given: true,
            application_ref: None,
            effective_at: effective_at.clone(),
        };
        let v = validate_event(&unlinked).unwrap_err();
        assert_eq!(v[0].pointer, "/application_ref");
        // An office obtaining it on the municipality's behalf needs no application.
        let by_office = ConsentEvent::Given {
            obtained_by: p("urn:carehub:care-manager:1371234567"),
            given_by,
            method,
            explanation_given: true,
            application_ref: None,
            effective_at,
        };
        assert!(validate_event(&by_office).is_ok());
    }

    #[test]
    fn events_are_not_dated_in_the_future() {
        // given() takes effect at 2025-04-01T00:00:00Z.
        assert!(validate_event_at(&given(), "2025-04-01T00:00:00Z").is_ok());
        assert!(validate_event_at(&given(), "2026-01-01T00:00:00.000000Z").is_ok());
        let v = validate_event_at(&given(), "2025-03-31T23:59:59Z").unwrap_err();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].pointer, "/effective_at");
        let not = ConsentEvent::NotObtained {
            obtained_by: p("urn:carehub:municipality:131016"),
            reason: "本人不在".into(),
            recorded_at: "2025-04-02T00:00:00Z".into(),
        };
        assert_eq!(
            validate_event_at(&not, "2025-04-01T00:00:00Z").unwrap_err()[0].pointer,
            "/recorded_at"
        );
        assert_eq!(given().effective_at(), "2025-04-01T09:00:00+09:00");
        assert_eq!(not.name(), "not_obtained");
    }

    #[test]
    fn transitions() {
        use ConsentState as S;
        let not = ConsentEvent::NotObtained {
            obtained_by: p("urn:carehub:municipality:131016"),
            reason: "本人不在".into(),
            recorded_at: "2025-04-02T00:00:00Z".into(),
        };
        for state in S::ALL {
            assert_eq!(check_transition(state, &given()), Ok(()));
            assert_eq!(
                check_transition(state, &withdrawn()).is_ok(),
                state == S::InForce,
                "{state}"
            );
            assert_eq!(
                check_transition(state, &not).is_ok(),
                state != S::InForce,
                "{state}"
            );
        }
        assert_eq!(
            check_transition(S::Withdrawn, &withdrawn()),
            Err(ConsentConflict::NothingToWithdraw)
        );
        assert_eq!(
            check_transition(S::InForce, &not),
            Err(ConsentConflict::InForce)
        );
    }
}
