//! Certification progress (要介護認定の進捗, DESIGN §6): the person's
//! municipality records and advances applications; it, the person and a
//! care-manager office registered for the person with consent in force read
//! them.

use super::matrix::{Decision, DenyReason, consent_in_force};
use super::records::is_person_or_insurer;
use crate::consent::ConsentState;
use crate::principal::{PersonRef, Principal, Role};
use crate::problem::{Problem, ProblemType};
use crate::registration::RegistrationState;

/// The refusal of [`may_manage_progress`]: a municipality that does not
/// insure the person (403 `wrong-municipality`), anyone else (403
/// `role-not-allowed`).
pub fn manage_refusal(principal: &Principal) -> Problem {
    if principal.role() == Role::Municipality {
        Problem::new(
            ProblemType::WrongMunicipality,
            "A municipality records applications only of persons it insures.",
        )
    } else {
        Problem::new(
            ProblemType::RoleNotAllowed,
            "Only the person's municipality records and advances certification applications.",
        )
    }
}

/// Whether `principal`'s progress reads depend on its registration for the
/// person and the person's consent, so that they must be looked up: a care
/// manager's only.
pub fn view_needs_registration_and_consent(principal: &Principal) -> bool {
    principal.role() == Role::CareManager
}

/// The insurer whose open applications `principal` may list (the open
/// list of its own insured persons): a municipality's own; `None` for
/// everyone else.
pub fn open_list_insurer(principal: &Principal) -> Option<&crate::ids::InsurerNumber> {
    match principal {
        Principal::Municipality(insurer) => Some(insurer),
        _ => None,
    }
}

/// Whether `principal` creates and advances applications about `person`:
/// only the person's own municipality (its insurer).
pub fn may_manage_progress(principal: &Principal, person: &PersonRef) -> bool {
    principal.insurer_number() == Some(&person.insurer_number)
}

/// Whether `principal` reads the progress of `person`'s applications: the
/// person's municipality; the portal for the person its token names; a
/// care-manager office registered for the person while the person's consent
/// is in force (`registered_with_consent`). Nobody else.
pub fn may_view_progress(
    principal: &Principal,
    person: &PersonRef,
    registered_with_consent: bool,
    token_person: Option<&PersonRef>,
) -> bool {
    match principal.role() {
        Role::Municipality | Role::Portal => is_person_or_insurer(principal, person, token_person),
        Role::CareManager => registered_with_consent,
        Role::CareService | Role::Medical | Role::Operator => false,
    }
}

/// Whether `principal` may read `person`'s certification progress, with the
/// reason for the access log when not: the municipality insuring the
/// person, the person (portal, token naming them), and a care-manager
/// office registered for the person while consent is in force. Agrees with
/// [`may_view_progress`] (`registered_with_consent` being both in force).
pub fn progress_view_decision(
    principal: &Principal,
    person: &PersonRef,
    registration: RegistrationState,
    consent: ConsentState,
    token_person: Option<&PersonRef>,
) -> Decision {
    let refused = match principal.role() {
        Role::Municipality | Role::Portal
            if is_person_or_insurer(principal, person, token_person) =>
        {
            return Decision::Allow;
        }
        Role::Municipality => DenyReason::NotInsuredByMunicipality,
        Role::Portal => DenyReason::NotThePerson,
        Role::CareManager => match registration {
            RegistrationState::InForce => match consent_in_force(consent) {
                Ok(()) => return Decision::Allow,
                Err(reason) => reason,
            },
            RegistrationState::None => DenyReason::NotRegistered,
            RegistrationState::Ended => DenyReason::RegistrationEnded,
        },
        Role::CareService | Role::Medical | Role::Operator => DenyReason::NotMarkedForRole,
    };
    Decision::Deny(refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{InsuredNumber, InsurerNumber};

    fn person() -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000012345").unwrap(),
        )
    }

    #[test]
    fn who_manages_and_views() {
        let p = person();
        let muni = Principal::parse_urn("urn:carehub:municipality:131016").unwrap();
        let other = Principal::parse_urn("urn:carehub:municipality:271004").unwrap();
        let cm = Principal::parse_urn("urn:carehub:care-manager:1371234567").unwrap();
        let portal = Principal::parse_urn("urn:carehub:portal:mynaportal").unwrap();
        assert!(may_manage_progress(&muni, &p));
        assert!(!may_manage_progress(&other, &p));
        assert!(!may_manage_progress(&cm, &p));
        assert!(may_view_progress(&muni, &p, false, None));
        assert!(!may_view_progress(&other, &p, true, None));
        assert!(may_view_progress(&cm, &p, true, None));
        assert!(!may_view_progress(&cm, &p, false, None));
        assert!(may_view_progress(&portal, &p, false, Some(&p)));
        assert!(!may_view_progress(&portal, &p, true, None));
        assert_eq!(manage_refusal(&other).type_, ProblemType::WrongMunicipality);
        assert_eq!(manage_refusal(&cm).type_, ProblemType::RoleNotAllowed);
        assert!(view_needs_registration_and_consent(&cm));
        assert!(!view_needs_registration_and_consent(&muni));
        assert_eq!(open_list_insurer(&muni), Some(&p.insurer_number));
        assert_eq!(open_list_insurer(&cm), None);
    }

    #[test]
    fn progress_view_decisions_say_why_and_agree_with_may_view() {
        use DenyReason::*;
        let p = person();
        let other_person = PersonRef::new(
            p.insurer_number.clone(),
            crate::InsuredNumber::parse("0000999999").unwrap(),
        );
        let muni = Principal::parse_urn("urn:carehub:municipality:131016").unwrap();
        let other = Principal::parse_urn("urn:carehub:municipality:271004").unwrap();
        let cm = Principal::parse_urn("urn:carehub:care-manager:1371234567").unwrap();
        let svc = Principal::parse_urn("urn:carehub:care-service:1371234567").unwrap();
        let portal = Principal::parse_urn("urn:carehub:portal:mynaportal").unwrap();
        let d = |who: &Principal, r, c, t| progress_view_decision(who, &p, r, c, t);
        let (reg, con) = (RegistrationState::InForce, ConsentState::InForce);
        assert_eq!(
            d(&muni, RegistrationState::None, ConsentState::None, None),
            Decision::Allow
        );
        assert_eq!(
            d(&other, reg, con, None),
            Decision::Deny(NotInsuredByMunicipality)
        );
        assert_eq!(d(&portal, reg, con, Some(&p)), Decision::Allow);
        assert_eq!(
            d(&portal, reg, con, Some(&other_person)),
            Decision::Deny(NotThePerson)
        );
        assert_eq!(d(&portal, reg, con, None), Decision::Deny(NotThePerson));
        assert_eq!(d(&cm, reg, con, None), Decision::Allow);
        assert_eq!(
            d(&cm, RegistrationState::None, con, None),
            Decision::Deny(NotRegistered)
        );
        assert_eq!(
            d(&cm, RegistrationState::Ended, con, None),
            Decision::Deny(RegistrationEnded)
        );
        assert_eq!(
            d(&cm, reg, ConsentState::None, None),
            Decision::Deny(NoConsent)
        );
        assert_eq!(
            d(&cm, reg, ConsentState::Withdrawn, None),
            Decision::Deny(ConsentWithdrawn)
        );
        assert_eq!(
            d(&cm, reg, ConsentState::NotObtained, None),
            Decision::Deny(ConsentNotObtained)
        );
        assert_eq!(d(&svc, reg, con, None), Decision::Deny(NotMarkedForRole));
        for who in [&muni, &other, &cm, &svc, &portal] {
            for r in [
                RegistrationState::None,
                RegistrationState::InForce,
                RegistrationState::Ended,
            ] {
                for c in [
                    ConsentState::None,
                    ConsentState::InForce,
                    ConsentState::Withdrawn,
                    ConsentState::NotObtained,
                ] {
                    for t in [None, Some(&p), Some(&other_person)] {
                        let both = r == RegistrationState::InForce && c == ConsentState::InForce;
                        assert_eq!(
                            d(who, r, c, t).is_allowed(),
                            may_view_progress(who, &p, both, t),
                            "{who:?} {r:?} {c:?} {t:?}"
                        );
                    }
                }
            }
        }
    }
}
