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

/// Whether `principal` may get an inclusion proof for an entry of
/// `person`'s access log: whoever may list that log
/// ([`may_list_accesses`]), and only for entries about that person.
pub fn may_prove_access(
    principal: &Principal,
    person: &PersonRef,
    token_person: Option<&PersonRef>,
) -> bool {
    may_list_accesses(principal, person, token_person)
}

/// Whether `principal` may fetch the access log's signed checkpoints and
/// the consistency proofs between them: every authenticated principal.
/// A checkpoint is a tree size, a root hash, a time and a signature; it
/// says nothing about any person, and the more outside parties keep
/// copies, the harder a rewritten log is to hide.
pub fn may_fetch_checkpoints(principal: &Principal) -> bool {
    let _ = principal;
    true
}

/// Whether `principal` may make a checkpoint (commit the log's new entries
/// to a signed tree head): the scheduler principal only, as for the webhook
/// dispatcher (`policy::webhooks::SCHEDULER`).
pub fn may_make_checkpoint(principal: &Principal) -> bool {
    principal.to_urn() == super::webhooks::SCHEDULER
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
    fn checkpoints_are_for_everyone_and_made_by_the_scheduler() {
        let p = |s: &str| Principal::parse_urn(s).unwrap();
        for urn in [
            "urn:carehub:municipality:131016",
            "urn:carehub:care-manager:1371234567",
            "urn:carehub:medical:1312345678",
            "urn:carehub:portal:mynaportal",
            "urn:carehub:operator:ops",
            "urn:carehub:operator:scheduler",
        ] {
            assert!(may_fetch_checkpoints(&p(urn)), "{urn}");
            assert_eq!(
                may_make_checkpoint(&p(urn)),
                urn == "urn:carehub:operator:scheduler",
                "{urn}"
            );
        }
        let person = PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000012345").unwrap(),
        );
        let portal = p("urn:carehub:portal:mynaportal");
        assert!(may_prove_access(&portal, &person, Some(&person)));
        assert!(!may_prove_access(&portal, &person, None));
        assert!(may_prove_access(
            &p("urn:carehub:municipality:131016"),
            &person,
            None
        ));
        assert!(!may_prove_access(
            &p("urn:carehub:municipality:271004"),
            &person,
            None
        ));
        assert!(!may_prove_access(
            &p("urn:carehub:operator:scheduler"),
            &person,
            None
        ));
    }

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
