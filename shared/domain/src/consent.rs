//! The person's one-time comprehensive consent (包括同意, DESIGN §4).
//!
//! One consent covers every office and every document, now and later. The
//! history is an append-only list of events and the latest event decides:
//! a withdrawal takes effect at once, and a later consent restores sharing.

use serde::{Deserialize, Serialize};

use crate::content::Violation;
use crate::macros::string_enum;
use crate::principal::{PersonActor, PersonRef, Principal, Role, is_person_or_insurer};
use crate::problem::{Problem, ProblemType};
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
                None if obtained_by.role() == Role::Municipality => v.push(Violation::new(
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

/// Whether the giver named in a portal withdrawal agrees with the person
/// token: the person withdraws as the person, a proxy as a (named) proxy.
pub fn giver_matches_actor(by: &Giver, actor: PersonActor) -> bool {
    matches!(
        (by, actor),
        (Giver::Person, PersonActor::Person) | (Giver::Proxy { .. }, PersonActor::Proxy)
    )
}

/// Decides whether `principal` may append `event` to `person`'s history,
/// and which problem refuses it.
///
/// `registered`: the principal's registration for the person is in force.
/// `token`: for the portal, the person and actor its person token names.
/// Given and "not obtained" follow [`may_record_consent`], withdrawals
/// [`may_record_withdrawal`] (a portal withdrawal also needs a giver that
/// matches the token's actor).
pub fn authorize_recording(
    principal: &Principal,
    person: &PersonRef,
    event: &ConsentEvent,
    registered: bool,
    token: Option<(&PersonRef, PersonActor)>,
) -> Result<(), Problem> {
    let acts_for_person = token.is_some_and(|(p, _)| p == person);
    let allowed = match event {
        ConsentEvent::Given { .. } | ConsentEvent::NotObtained { .. } => {
            may_record_consent(principal, person, registered)
        }
        ConsentEvent::Withdrawn { .. } => {
            may_record_withdrawal(principal, person, registered, acts_for_person)
        }
    };
    if allowed {
        if let (ConsentEvent::Withdrawn { by, .. }, Some((_, actor))) = (event, token)
            && principal.role() == Role::Portal
            && !giver_matches_actor(by, actor)
        {
            return Err(Problem::new(
                ProblemType::InvalidConsentEvent,
                "by: must match the person token's actor",
            )
            .with_violations(vec![Violation::new(
                "/by",
                "the person token's holder withdraws as themself: {\"type\": \"person\"} for the person, a named proxy for a proxy",
            )]));
        }
        return Ok(());
    }
    Err(match principal {
        Principal::Municipality(_) => Problem::new(
            ProblemType::WrongMunicipality,
            "A municipality records consent only for persons it insures.",
        ),
        Principal::CareManager(_) | Principal::CareService(_) | Principal::Medical(_)
            if matches!(event, ConsentEvent::Withdrawn { .. })
                || principal.role() != Role::Medical =>
        {
            Problem::new(
                ProblemType::OfficeNotRegistered,
                "This office has no registration in force for the person; register as its responsible office first.",
            )
        }
        // The portal speaks only for the person its token names; a refusal
        // says no more than any other.
        Principal::Portal(_) if matches!(event, ConsentEvent::Withdrawn { .. }) => {
            Problem::forbidden()
        }
        _ => Problem::new(
            ProblemType::RoleNotAllowed,
            match event {
                ConsentEvent::Withdrawn { .. } => {
                    "A withdrawal comes through the municipality, a registered office or the portal."
                }
                _ => {
                    "Consent is obtained by the municipality, or by a registered care-manager office or facility on its behalf."
                }
            },
        ),
    })
}

/// Whether `principal` may see `person`'s consent state and history: the
/// person (portal, token naming them), their municipality, and any office
/// whose registration for the person is in force (it needs to know whether
/// it may read, or should obtain consent on the municipality's behalf).
pub fn may_view_consent(
    principal: &Principal,
    person: &PersonRef,
    registered: bool,
    token_person: Option<&PersonRef>,
) -> bool {
    match principal {
        Principal::CareManager(_) | Principal::CareService(_) | Principal::Medical(_) => registered,
        _ => is_person_or_insurer(principal, person, token_person),
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

    fn person() -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000123456").unwrap(),
        )
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

    fn slug(r: Result<(), Problem>) -> &'static str {
        r.err().map_or("ok", |p| p.type_.slug())
    }

    #[test]
    fn authorizing_the_recorder() {
        let person = person();
        let other = PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000999999").unwrap(),
        );
        let given = given();
        let withdrawn = withdrawn();
        let proxy_withdrawal = ConsentEvent::Withdrawn {
            by: Giver::Proxy {
                relationship: ProxyRelationship::FamilyMember,
                name: "山田 一郎".into(),
                reason_person_could_not_consent: "入院中".into(),
            },
            through: p("urn:carehub:portal:mynaportal"),
            effective_at: "2025-05-01T00:00:00Z".into(),
        };
        let own = p("urn:carehub:municipality:131016");
        let osaka = p("urn:carehub:municipality:271004");
        let cm = p("urn:carehub:care-manager:1371234567");
        let med = p("urn:carehub:medical:1312345678");
        let portal = p("urn:carehub:portal:mynaportal");
        let ops = p("urn:carehub:operator:ops");
        let a = authorize_recording;
        assert_eq!(slug(a(&own, &person, &given, false, None)), "ok");
        assert_eq!(
            slug(a(&osaka, &person, &given, false, None)),
            "wrong-municipality"
        );
        assert_eq!(slug(a(&cm, &person, &given, true, None)), "ok");
        assert_eq!(
            slug(a(&cm, &person, &given, false, None)),
            "office-not-registered"
        );
        assert_eq!(
            slug(a(&med, &person, &given, true, None)),
            "role-not-allowed"
        );
        assert_eq!(slug(a(&med, &person, &withdrawn, true, None)), "ok");
        assert_eq!(
            slug(a(&med, &person, &withdrawn, false, None)),
            "office-not-registered"
        );
        assert_eq!(
            slug(a(&ops, &person, &withdrawn, false, None)),
            "role-not-allowed"
        );
        let me = Some((&person, PersonActor::Person));
        let proxy = Some((&person, PersonActor::Proxy));
        let someone_else = Some((&other, PersonActor::Person));
        assert_eq!(
            slug(a(&portal, &person, &given, false, me)),
            "role-not-allowed"
        );
        assert_eq!(slug(a(&portal, &person, &withdrawn, false, me)), "ok");
        assert_eq!(
            slug(a(&portal, &person, &withdrawn, false, someone_else)),
            "forbidden"
        );
        assert_eq!(
            slug(a(&portal, &person, &withdrawn, false, None)),
            "forbidden"
        );
        assert_eq!(
            slug(a(&portal, &person, &withdrawn, false, proxy)),
            "invalid-consent-event"
        );
        assert_eq!(
            slug(a(&portal, &person, &proxy_withdrawal, false, me)),
            "invalid-consent-event"
        );
        assert_eq!(
            slug(a(&portal, &person, &proxy_withdrawal, false, proxy)),
            "ok"
        );
    }

    #[test]
    fn who_may_view() {
        let person = person();
        let cm = p("urn:carehub:care-manager:1371234567");
        assert!(may_view_consent(&cm, &person, true, None));
        assert!(!may_view_consent(&cm, &person, false, Some(&person)));
        assert!(may_view_consent(
            &p("urn:carehub:municipality:131016"),
            &person,
            false,
            None
        ));
        assert!(may_view_consent(
            &p("urn:carehub:portal:mynaportal"),
            &person,
            false,
            Some(&person)
        ));
        assert!(!may_view_consent(
            &p("urn:carehub:operator:ops"),
            &person,
            true,
            Some(&person)
        ));
    }
}
