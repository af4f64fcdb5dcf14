//! The submission relay (DESIGN §7): who sends which submission, who sees
//! one, who answers it and whose inbox it is in.

use super::matrix::consent_in_force;
use crate::consent::ConsentState;
use crate::ids::InsurerNumber;
use crate::principal::{PersonRef, Principal, Role};
use crate::problem::{Problem, ProblemType};
use crate::registration::RegistrationState;
use crate::relay::SubmissionType;

/// [`may_send`] as an answer: 403 `role-not-allowed` naming the role and
/// the type.
pub fn authorize_send(t: SubmissionType, sender: &Principal) -> Result<(), Problem> {
    if may_send(t, sender.role()) {
        return Ok(());
    }
    Err(Problem::new(
        ProblemType::RoleNotAllowed,
        format!("A {} does not send {t}.", sender.role()),
    ))
}

/// Whether a care-manager office may send a 居宅サービス計画作成依頼届出 about
/// a person: its registration for the person and the person's consent are
/// both in force (DESIGN §7: "with the person's consent").
pub fn may_send_care_plan_request(registration: RegistrationState, consent: ConsentState) -> bool {
    registration == RegistrationState::InForce && consent_in_force(consent).is_ok()
}

/// Whether `sender` may send the opinion answering an application about
/// `application_person`, for the submission's `person`, when the
/// municipality asked `requested_from` (if it named an institution): the
/// application is this person's, and the sender is the institution asked.
pub fn may_send_opinion(
    sender: &Principal,
    person: &PersonRef,
    application_person: &PersonRef,
    requested_from: Option<&Principal>,
) -> bool {
    application_person == person && requested_from.is_none_or(|asked| asked == sender)
}

/// Whether `principal`'s role answers submissions at all: only
/// municipalities (403 `role-not-allowed` otherwise). Which submissions it
/// answers is [`may_answer`].
pub fn authorize_answering(principal: &Principal) -> Result<(), Problem> {
    if principal.role() == Role::Municipality {
        return Ok(());
    }
    Err(Problem::new(
        ProblemType::RoleNotAllowed,
        "Only the recipient municipality answers a submission.",
    ))
}

/// Whether `principal` may answer a submission from `sender` to the
/// municipality with insurer number `recipient`: the recipient, and never
/// the sender itself.
pub fn may_answer(principal: &Principal, sender: &Principal, recipient: &str) -> bool {
    principal != sender && may_view_submission(principal, sender, recipient)
}

/// The municipality whose inbox `principal` pulls: its own; `None` (403
/// `role-not-allowed`, [`inbox_refusal`]) for everyone else.
pub fn inbox_of(principal: &Principal) -> Option<&InsurerNumber> {
    match principal {
        Principal::Municipality(insurer) => Some(insurer),
        _ => None,
    }
}

/// The refusal of [`inbox_of`].
pub fn inbox_refusal() -> Problem {
    Problem::new(
        ProblemType::RoleNotAllowed,
        "Only a municipality pulls an inbox.",
    )
}

/// Whether a principal of `role` may send a submission of type `t`.
pub fn may_send(t: SubmissionType, role: Role) -> bool {
    match t {
        SubmissionType::CarePlanRequest => role == Role::CareManager,
        SubmissionType::PhysicianOpinion => matches!(role, Role::Medical | Role::CareService),
    }
}

/// Whether `principal` may see a submission from `sender` to the
/// municipality with insurer number `recipient`: the sender and the
/// recipient only.
pub fn may_view_submission(principal: &Principal, sender: &Principal, recipient: &str) -> bool {
    principal == sender
        || principal
            .insurer_number()
            .is_some_and(|n| n.as_str() == recipient)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InsuredNumber;

    fn cm() -> Principal {
        Principal::parse_urn("urn:carehub:care-manager:1371234567").unwrap()
    }

    fn person(insured: &str) -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse(insured).unwrap(),
        )
    }

    #[test]
    fn who_answers_and_pulls() {
        let muni = Principal::parse_urn("urn:carehub:municipality:131016").unwrap();
        let other = Principal::parse_urn("urn:carehub:municipality:271004").unwrap();
        assert!(authorize_answering(&muni).is_ok());
        assert_eq!(
            authorize_answering(&cm()).unwrap_err().type_,
            ProblemType::RoleNotAllowed
        );
        assert!(may_answer(&muni, &cm(), "131016"));
        assert!(!may_answer(&other, &cm(), "131016"));
        assert!(!may_answer(&cm(), &cm(), "131016"));
        // A municipality that sent to itself does not answer itself.
        assert!(!may_answer(&muni, &muni, "131016"));
        assert_eq!(inbox_of(&muni).map(|n| n.as_str()), Some("131016"));
        assert_eq!(inbox_of(&cm()), None);
        assert_eq!(
            authorize_send(SubmissionType::PhysicianOpinion, &cm())
                .unwrap_err()
                .type_,
            ProblemType::RoleNotAllowed
        );
    }

    #[test]
    fn care_plan_requests_need_registration_and_consent() {
        use ConsentState as C;
        use RegistrationState as R;
        for r in [R::None, R::InForce, R::Ended] {
            for c in [C::None, C::InForce, C::Withdrawn, C::NotObtained] {
                assert_eq!(
                    may_send_care_plan_request(r, c),
                    r == R::InForce && c == C::InForce,
                    "{r:?} {c:?}"
                );
            }
        }
    }

    #[test]
    fn opinions_come_from_the_institution_asked() {
        let med = Principal::parse_urn("urn:carehub:medical:1312345678").unwrap();
        let other = Principal::parse_urn("urn:carehub:medical:1312345679").unwrap();
        let p = person("0000012345");
        let q = person("0000099999");
        assert!(may_send_opinion(&med, &p, &p, None));
        assert!(may_send_opinion(&med, &p, &p, Some(&med)));
        assert!(!may_send_opinion(&med, &p, &p, Some(&other)));
        assert!(!may_send_opinion(&med, &p, &q, None));
    }

    #[test]
    fn who_sends() {
        assert!(may_send(SubmissionType::CarePlanRequest, Role::CareManager));
        assert!(!may_send(SubmissionType::CarePlanRequest, Role::Medical));
        assert!(may_send(SubmissionType::PhysicianOpinion, Role::Medical));
        assert!(may_send(
            SubmissionType::PhysicianOpinion,
            Role::CareService
        ));
        assert!(!may_send(
            SubmissionType::PhysicianOpinion,
            Role::Municipality
        ));
        let muni = Principal::parse_urn("urn:carehub:municipality:131016").unwrap();
        let other = Principal::parse_urn("urn:carehub:municipality:271004").unwrap();
        assert!(may_view_submission(&muni, &cm(), "131016"));
        assert!(!may_view_submission(&other, &cm(), "131016"));
        assert!(may_view_submission(&cm(), &cm(), "131016"));
    }
}
