//! A person's own records about their sharing — who read what (the access
//! log) and their responsible offices — and who sees them.

use crate::principal::{PersonRef, Principal};

/// Whether `principal` stands on the person's side of their own records:
/// the person's municipality (its insurer), or the portal acting for this
/// very person (`token_person`, the person its person token names). These
/// two see what the hub holds about the person's sharing: consent history,
/// responsible offices, the access log.
pub fn is_person_or_insurer(
    principal: &Principal,
    person: &PersonRef,
    token_person: Option<&PersonRef>,
) -> bool {
    match principal {
        Principal::Municipality(insurer) => *insurer == person.insurer_number,
        Principal::Portal(_) => token_person == Some(person),
        Principal::CareManager(_)
        | Principal::CareService(_)
        | Principal::Medical(_)
        | Principal::Operator(_) => false,
    }
}

/// Whether `principal` may list `person`'s access log (who read what about
/// them): the person and their municipality ([`is_person_or_insurer`]).
pub fn may_list_accesses(
    principal: &Principal,
    person: &PersonRef,
    token_person: Option<&PersonRef>,
) -> bool {
    is_person_or_insurer(principal, person, token_person)
}

/// Whether `principal` may list `person`'s responsible offices (every
/// registration for them): the person and their municipality
/// ([`is_person_or_insurer`]).
pub fn may_list_person_registrations(
    principal: &Principal,
    person: &PersonRef,
    token_person: Option<&PersonRef>,
) -> bool {
    is_person_or_insurer(principal, person, token_person)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{InsuredNumber, InsurerNumber};

    #[test]
    fn the_person_and_their_insurer() {
        let person = PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000012345").unwrap(),
        );
        let other = PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000099999").unwrap(),
        );
        let p = |s: &str| Principal::parse_urn(s).unwrap();
        let portal = p("urn:carehub:portal:mynaportal");
        assert!(is_person_or_insurer(&portal, &person, Some(&person)));
        assert!(!is_person_or_insurer(&portal, &person, Some(&other)));
        assert!(!is_person_or_insurer(&portal, &person, None));
        assert!(is_person_or_insurer(
            &p("urn:carehub:municipality:131016"),
            &person,
            None
        ));
        assert!(!is_person_or_insurer(
            &p("urn:carehub:municipality:271004"),
            &person,
            None
        ));
        for urn in [
            "urn:carehub:care-manager:1371234567",
            "urn:carehub:medical:1312345678",
            "urn:carehub:operator:ops",
        ] {
            assert!(
                !is_person_or_insurer(&p(urn), &person, Some(&person)),
                "{urn}"
            );
        }
    }
}
