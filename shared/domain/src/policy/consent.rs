//! Consent (DESIGN §4): who records consent, "could not be obtained" and a
//! withdrawal for a person, and who sees the person's consent.

use crate::consent::{ConsentEvent, Giver};
use crate::content::Violation;
use crate::policy::records::is_person_or_insurer;
use crate::principal::{PersonActor, PersonRef, Principal, Role};
use crate::problem::{Problem, ProblemType};

/// Whether `principal` may be the one who obtained a consent (or found it
/// could not be obtained): the municipality, or a care-manager office or
/// facility on its behalf (DESIGN §4).
pub fn may_obtain_consent(principal: &Principal) -> bool {
    matches!(
        principal.role(),
        Role::Municipality | Role::CareManager | Role::CareService
    )
}

/// Whether a consent obtained by `principal` comes with a certification
/// application it must name: a municipality obtains consent at a new or
/// renewal application (DESIGN §4).
pub fn obtains_at_application(principal: &Principal) -> bool {
    principal.role() == Role::Municipality
}

/// Whether a withdrawal may come through `principal`: the municipality, an
/// office or the portal — anyone but the operator.
pub fn may_carry_withdrawal(principal: &Principal) -> bool {
    principal.role() != Role::Operator
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
    use crate::consent::ProxyRelationship;
    use crate::consent::tests::{given, withdrawn};
    use crate::ids::{InsuredNumber, InsurerNumber};

    fn p(s: &str) -> Principal {
        Principal::parse_urn(s).unwrap()
    }

    fn person() -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000123456").unwrap(),
        )
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
