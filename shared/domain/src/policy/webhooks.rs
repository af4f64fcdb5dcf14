//! Webhooks (DESIGN §8): who subscribes, whose a subscription is, and who
//! runs the dispatcher. What each receiver hears of is
//! `crate::webhook::payload`, through the sharing matrix.

use crate::principal::Principal;
use crate::problem::{Problem, ProblemType};
use crate::webhook::Receiver;

/// The principal that runs the webhook dispatcher: the gateway's scheduler
/// asserts it in process; on Spin, a cron presents a client certificate
/// naming it.
pub const SCHEDULER: &str = "urn:carehub:operator:scheduler";

/// The receiver a principal subscribes as; `None` for roles that receive
/// no webhooks (offices, medical institutions, operators).
pub fn receiver_for(principal: &Principal) -> Option<Receiver> {
    match principal {
        Principal::Portal(_) => Some(Receiver::Portal),
        Principal::Municipality(n) => Some(Receiver::Municipality(n.clone())),
        _ => None,
    }
}

/// [`receiver_for`] as an answer: 403 `role-not-allowed` for roles that
/// receive no webhooks.
pub fn authorize_subscriber(principal: &Principal) -> Result<Receiver, Problem> {
    receiver_for(principal).ok_or_else(|| {
        Problem::new(
            ProblemType::RoleNotAllowed,
            format!(
                "A {} does not receive webhooks; the portal and municipalities do.",
                principal.role()
            ),
        )
    })
}

/// Whether `principal` may see or change a subscription owned by `owner`:
/// the owner only. Anyone else gets the generic 403, as for an id that
/// names nothing.
pub fn may_manage_subscription(principal: &Principal, owner: &Principal) -> bool {
    principal == owner
}

/// Whether `principal` may run the dispatcher: [`SCHEDULER`] only.
pub fn may_dispatch(principal: &Principal) -> bool {
    principal.to_urn() == SCHEDULER
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Principal {
        Principal::parse_urn(s).unwrap()
    }

    #[test]
    fn subscribers_owners_and_the_scheduler() {
        assert_eq!(
            receiver_for(&p("urn:carehub:portal:mynaportal")),
            Some(Receiver::Portal)
        );
        assert!(matches!(
            receiver_for(&p("urn:carehub:municipality:131016")),
            Some(Receiver::Municipality(n)) if n.as_str() == "131016"
        ));
        for urn in [
            "urn:carehub:care-manager:1371234567",
            "urn:carehub:care-service:1371234567",
            "urn:carehub:medical:1312345678",
            "urn:carehub:operator:scheduler",
        ] {
            assert_eq!(receiver_for(&p(urn)), None, "{urn}");
            assert_eq!(
                authorize_subscriber(&p(urn)).unwrap_err().type_,
                ProblemType::RoleNotAllowed
            );
        }
        let m = p("urn:carehub:municipality:131016");
        assert!(may_manage_subscription(&m, &m));
        assert!(!may_manage_subscription(
            &p("urn:carehub:municipality:271004"),
            &m
        ));
        assert!(may_dispatch(&p(SCHEDULER)));
        assert!(!may_dispatch(&p("urn:carehub:operator:ops")));
        assert!(!may_dispatch(&m));
    }
}
