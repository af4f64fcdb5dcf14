//! Storing documents (the ingest operation): which role authors which kind,
//! a municipality only about the persons it insures, an office only about
//! persons it is registered for.

use crate::kinds::DocumentKind;
use crate::principal::{PersonRef, Principal, Role};
use crate::problem::{Problem, ProblemType};
use crate::registration::RegistrationState;

/// The roles that may store `kind` through the ingest operation.
///
/// The municipality stores everything it holds — including the opinions
/// it received on paper and the applications persons filed with it — but
/// not LIFE feedback or care plans, which are the offices' own work.
/// Medical institutions author opinions, but send them through the relay
/// (which stores them once the municipality has them), never through
/// ingest, so that an opinion always reaches the requesting municipality.
pub const fn ingest_authors(kind: DocumentKind) -> &'static [Role] {
    match kind {
        DocumentKind::LifeFeedback => &[Role::CareService],
        DocumentKind::CarePlan => &[Role::CareManager],
        DocumentKind::CertificationSurvey
        | DocumentKind::PhysicianOpinion
        | DocumentKind::InsuranceCertificate
        | DocumentKind::BurdenRatioCertificate
        | DocumentKind::CostLimitCertificate
        | DocumentKind::CertificationApplication
        | DocumentKind::HousingRenovation
        | DocumentKind::WelfareEquipmentPurchase => &[Role::Municipality],
    }
}

/// Whether `role` may store `kind` through ingest.
pub fn may_ingest(kind: DocumentKind, role: Role) -> bool {
    ingest_authors(kind).contains(&role)
}

/// Whether `principal` may store a document of `kind` about `person`, as far
/// as the request alone tells: the role must author the kind
/// ([`ingest_authors`], else 403 `kind-not-authored-by-role`) and a
/// municipality writes only about persons it insures (DESIGN §3 rule 2,
/// else 403 `wrong-municipality`). An office's registration for the person
/// is in the store: [`authorize_office_write`] checks it inside the write
/// transaction.
pub fn may_store(
    principal: &Principal,
    kind: DocumentKind,
    person: &PersonRef,
) -> Result<(), Problem> {
    if !may_ingest(kind, principal.role()) {
        return Err(Problem::new(
            ProblemType::KindNotAuthoredByRole,
            format!("A {} may not store {} documents.", principal.role(), kind),
        ));
    }
    if let Some(own) = principal.insurer_number()
        && *own != person.insurer_number
    {
        return Err(Problem::new(
            ProblemType::WrongMunicipality,
            "A municipality may store documents only about persons it insures.",
        ));
    }
    Ok(())
}

/// Whether a write by `principal` depends on its registration for the
/// person, so that the registration must be looked up (inside the write
/// transaction): the offices that register.
pub fn write_needs_registration(principal: &Principal) -> bool {
    super::registration::may_register(principal)
}

/// Whether `principal` may store a document about a person, given its
/// registration state for that person at the time of the write (DESIGN §5):
/// an office that registers (care-manager, care-service, medical) writes
/// only about persons for whom its registration is in force; `Err` is 403
/// `office-not-registered` (a registration that has not started yet, or has
/// ended, is not in force). Roles that do not register pass: their rule is
/// elsewhere (a municipality writes about the persons it insures; which
/// roles author which kinds is `DocumentKind::may_ingest`).
pub fn authorize_office_write(
    principal: &Principal,
    registration: RegistrationState,
) -> Result<(), Problem> {
    if super::registration::may_register(principal) && registration != RegistrationState::InForce {
        return Err(Problem::new(
            ProblemType::OfficeNotRegistered,
            "This office has no registration in force for the person; register as its responsible office first.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegistrationState as R;

    #[test]
    fn ingest_authors_follow_the_brief() {
        use DocumentKind::*;
        for kind in DocumentKind::ALL {
            let expected: &[Role] = match kind {
                LifeFeedback => &[Role::CareService],
                CarePlan => &[Role::CareManager],
                _ => &[Role::Municipality],
            };
            assert_eq!(ingest_authors(kind), expected, "{kind}");
            assert!(!may_ingest(kind, Role::Medical));
            assert!(!may_ingest(kind, Role::Portal));
            assert!(!may_ingest(kind, Role::Operator));
        }
        assert!(may_ingest(PhysicianOpinion, Role::Municipality));
    }

    #[test]
    fn storing_needs_the_kind_and_the_insurer() {
        use crate::ids::{InsuredNumber, InsurerNumber};
        let p = |s: &str| Principal::parse_urn(s).unwrap();
        let person = PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000012345").unwrap(),
        );
        let slug = |r: Result<(), Problem>| r.err().map_or("ok", |p| p.type_.slug());
        let own = p("urn:carehub:municipality:131016");
        let osaka = p("urn:carehub:municipality:271004");
        let cm = p("urn:carehub:care-manager:1371234567");
        use DocumentKind::*;
        assert_eq!(slug(may_store(&own, InsuranceCertificate, &person)), "ok");
        assert_eq!(
            slug(may_store(&osaka, InsuranceCertificate, &person)),
            "wrong-municipality"
        );
        assert_eq!(
            slug(may_store(&own, CarePlan, &person)),
            "kind-not-authored-by-role"
        );
        assert_eq!(slug(may_store(&cm, CarePlan, &person)), "ok");
        assert_eq!(
            slug(may_store(&cm, InsuranceCertificate, &person)),
            "kind-not-authored-by-role"
        );
        assert!(write_needs_registration(&cm));
        assert!(!write_needs_registration(&own));
    }

    #[test]
    fn offices_write_only_while_registered() {
        let p = |s: &str| Principal::parse_urn(s).unwrap();
        let slug = |r: Result<(), Problem>| r.err().map_or("ok", |p| p.type_.slug());
        for office in [
            "urn:carehub:care-manager:1371234567",
            "urn:carehub:care-service:1370100018",
            "urn:carehub:medical:1312345678",
        ] {
            let office = p(office);
            assert_eq!(slug(authorize_office_write(&office, R::InForce)), "ok");
            for state in [R::None, R::Ended] {
                let refused = authorize_office_write(&office, state).unwrap_err();
                assert_eq!(
                    (refused.status(), refused.type_.slug()),
                    (403, "office-not-registered"),
                    "{office:?} {state:?}"
                );
            }
        }
        // Roles that do not register are not concerned: their own rules apply.
        for other in [
            "urn:carehub:municipality:131016",
            "urn:carehub:portal:mynaportal",
            "urn:carehub:operator:ops",
        ] {
            for state in [R::None, R::InForce, R::Ended] {
                assert_eq!(slug(authorize_office_write(&p(other), state)), "ok");
            }
        }
    }
}
