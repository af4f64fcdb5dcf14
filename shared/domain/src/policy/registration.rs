//! Office registration (担当事業所登録, DESIGN §5): who registers as a
//! person's responsible office, and who sees or ends a registration.

use crate::principal::{Principal, Role};
use crate::problem::{Problem, ProblemType};
use crate::registration::RegistrationState;

/// Whether `principal` sees the registration held by `office`: the office
/// itself only. Anyone else is answered as if there were none
/// ([`registration_not_found`]).
pub fn may_view_registration(principal: &Principal, office: &Principal) -> bool {
    principal == office
}

/// The refusal of [`may_register`], for registering and for listing one's
/// own registrations.
pub fn role_not_allowed_to_register() -> Problem {
    Problem::new(
        ProblemType::RoleNotAllowed,
        "Only care-manager offices, care-service offices and facilities, and medical institutions register as a person's responsible office.",
    )
}

/// Whether `principal` may register itself as a person's responsible office:
/// care-manager offices, care-service offices and facilities, and medical
/// institutions (deemed care offices, みなし指定).
pub fn may_register(principal: &Principal) -> bool {
    matches!(
        principal.role(),
        Role::CareManager | Role::CareService | Role::Medical
    )
}

/// Whether an office may add a registration for a person it already has
/// registrations for (their states now): only once every earlier one has
/// ended. One office holds one registration per person at a time.
pub fn may_add_registration(existing: impl IntoIterator<Item = RegistrationState>) -> bool {
    existing
        .into_iter()
        .all(|state| state == RegistrationState::Ended)
}

/// Whether `principal` may end `registration_office`'s registration, whose
/// state is `state`: only the office itself, and only while it has not
/// ended. `Err` carries the problem: another office's registration is "not
/// found" (it reveals nothing about registrations of others).
pub fn check_deregistration(
    principal: &Principal,
    registration_office: &Principal,
    state: RegistrationState,
) -> Result<(), Problem> {
    if principal != registration_office {
        return Err(registration_not_found());
    }
    if state == RegistrationState::Ended {
        return Err(Problem::new(
            ProblemType::Conflict,
            "This registration has already ended.",
        ));
    }
    Ok(())
}

/// The answer for a registration id the caller has none under.
pub fn registration_not_found() -> Problem {
    Problem::new(
        ProblemType::NotFound,
        "This office has no registration with this id.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegistrationState as R;

    #[test]
    fn who_may_register() {
        let p = |s: &str| Principal::parse_urn(s).unwrap();
        assert!(may_register(&p("urn:carehub:care-manager:1371234567")));
        assert!(may_register(&p("urn:carehub:medical:1312345678")));
        assert!(!may_register(&p("urn:carehub:municipality:131016")));
        assert!(!may_register(&p("urn:carehub:portal:mynaportal")));
    }

    #[test]
    fn only_the_office_deregisters_once() {
        let p = |s: &str| Principal::parse_urn(s).unwrap();
        let cm = p("urn:carehub:care-manager:1371234567");
        let other = p("urn:carehub:care-manager:1371234568");
        assert!(check_deregistration(&cm, &cm, R::InForce).is_ok());
        assert!(check_deregistration(&cm, &cm, R::None).is_ok());
        assert_eq!(
            check_deregistration(&cm, &cm, R::Ended).unwrap_err().type_,
            ProblemType::Conflict
        );
        assert_eq!(
            check_deregistration(&other, &cm, R::InForce).unwrap_err(),
            registration_not_found()
        );
    }

    #[test]
    fn one_registration_at_a_time() {
        assert!(may_add_registration([]));
        assert!(may_add_registration([R::Ended, R::Ended]));
        assert!(!may_add_registration([R::Ended, R::InForce]));
        assert!(!may_add_registration([R::None]));
    }

    #[test]
    fn only_the_office_sees_its_registration() {
        let p = |s: &str| Principal::parse_urn(s).unwrap();
        let cm = p("urn:carehub:care-manager:1371234567");
        assert!(may_view_registration(&cm, &cm));
        assert!(!may_view_registration(
            &p("urn:carehub:care-manager:1371234568"),
            &cm
        ));
        assert!(!may_view_registration(
            &p("urn:carehub:municipality:131016"),
            &cm
        ));
    }
}
