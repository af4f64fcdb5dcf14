//! The person's one-time comprehensive consent (包括同意, DESIGN §4).
//!
//! One consent covers every office and every document, now and later. The
//! history is an append-only list of events and the latest event decides:
//! a withdrawal takes effect at once, and a later consent restores sharing.

use serde::{Deserialize, Serialize};

use crate::content::Violation;
use crate::macros::string_enum;
use crate::principal::{PersonRef, Principal, Role};
use crate::registration::is_rfc3339;

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
            if let Some(r) = application_ref {
                not_blank(&mut v, "/application_ref", r);
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
            if through.role() == Role::Operator {
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
    if !matches!(
        p.role(),
        Role::Municipality | Role::CareManager | Role::CareService
    ) {
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

/// Whether `principal` may record consent (given or not obtained) for
/// `person`: the person's own municipality, or a care-manager office or
/// care-service office/facility that is registered for the person
/// (`registered` = its registration is in force).
pub fn may_record_consent(principal: &Principal, person: &PersonRef, registered: bool) -> bool {
    match principal {
        Principal::Municipality(insurer) => *insurer == person.insurer_number,
        Principal::CareManager(_) | Principal::CareService(_) => registered,
        Principal::Medical(_) | Principal::Portal(_) | Principal::Operator(_) => false,
    }
}

/// Whether `principal` may record a withdrawal for `person`: the person's
/// municipality; any office registered for the person (withdrawal must be
/// easy wherever the person asks); or the portal when its person token names
/// this person (`portal_acts_for_person`).
pub fn may_record_withdrawal(
    principal: &Principal,
    person: &PersonRef,
    registered: bool,
    portal_acts_for_person: bool,
) -> bool {
    match principal {
        Principal::Municipality(insurer) => *insurer == person.insurer_number,
        Principal::CareManager(_) | Principal::CareService(_) | Principal::Medical(_) => registered,
        Principal::Portal(_) => portal_acts_for_person,
        Principal::Operator(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{InsuredNumber, InsurerNumber};
    use serde_json::json;

    fn p(s: &str) -> Principal {
        Principal::parse_urn(s).unwrap()
    }

    fn given() -> ConsentEvent {
        ConsentEvent::Given {
            obtained_by: p("urn:carehub:municipality:131016"),
            given_by: Giver::Person,
            method: ConsentMethod::PaperForm,
            explanation_given: true,
            application_ref: Some("APP-2025-000123".into()),
            effective_at: "2025-04-01T09:00:00+09:00".into(),
        }
    }

    fn withdrawn() -> ConsentEvent {
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
    fn who_may_record() {
        let person = PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000123456").unwrap(),
        );
        let own = p("urn:carehub:municipality:131016");
        let other = p("urn:carehub:municipality:271004");
        let cm = p("urn:carehub:care-manager:1371234567");
        let cs = p("urn:carehub:care-service:13A1234567");
        let med = p("urn:carehub:medical:1312345678");
        let portal = p("urn:carehub:portal:mynaportal");
        assert!(may_record_consent(&own, &person, false));
        assert!(!may_record_consent(&other, &person, true));
        assert!(may_record_consent(&cm, &person, true));
        assert!(!may_record_consent(&cm, &person, false));
        assert!(may_record_consent(&cs, &person, true));
        assert!(!may_record_consent(&med, &person, true));
        assert!(!may_record_consent(&portal, &person, true));

        assert!(may_record_withdrawal(&portal, &person, false, true));
        assert!(!may_record_withdrawal(&portal, &person, false, false));
        assert!(may_record_withdrawal(&med, &person, true, false));
        assert!(!may_record_withdrawal(&other, &person, true, true));
    }
}
