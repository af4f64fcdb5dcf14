//! Office registration (担当事業所登録, DESIGN §5): an office that has verified
//! the person's identity registers itself as the person's responsible office.
//! Whether that registration is in force at a given moment is decided here,
//! from the stored timestamps and a "now" the caller passes in (this crate
//! reads no clock).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::macros::string_enum;
use crate::principal::{Principal, Role};

string_enum! {
    /// Whether an office's registration for a person is in force.
    pub enum RegistrationState as "registration state" {
        /// There is no registration, or it has not started yet.
        None = "none",
        /// Registered and neither ended nor deregistered.
        InForce = "in_force",
        /// The registration reached its end date or was deregistered.
        Ended = "ended",
    }
}

/// A registration timestamp was not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} is not an RFC 3339 timestamp")]
pub struct RegistrationError {
    /// Which argument: "start", "end", "deregistered_at" or "now".
    pub field: &'static str,
}

/// Parses an RFC 3339 timestamp (any offset).
pub(crate) fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Whether `s` is an RFC 3339 timestamp such as `2025-04-01T09:00:00Z`.
pub fn is_rfc3339(s: &str) -> bool {
    parse_rfc3339(s).is_some()
}

/// The registration's state at `now`, or which timestamp was unreadable.
///
/// A registration is in force from `start` (inclusive) until the earlier of
/// `end` and `deregistered_at` (exclusive). Before `start` it is `None`: an
/// office that registered ahead of a contract cannot read before it begins.
pub fn try_registration_state(
    start: &str,
    end: Option<&str>,
    deregistered_at: Option<&str>,
    now: &str,
) -> Result<RegistrationState, RegistrationError> {
    let parse = |field: &'static str, s: &str| parse_rfc3339(s).ok_or(RegistrationError { field });
    let start = parse("start", start)?;
    let now = parse("now", now)?;
    let end = end.map(|s| parse("end", s)).transpose()?;
    let deregistered_at = deregistered_at
        .map(|s| parse("deregistered_at", s))
        .transpose()?;
    if [end, deregistered_at]
        .into_iter()
        .flatten()
        .any(|t| t <= now)
    {
        return Ok(RegistrationState::Ended);
    }
    if now < start {
        return Ok(RegistrationState::None);
    }
    Ok(RegistrationState::InForce)
}

/// The registration's state at `now`, all timestamps RFC 3339.
///
/// Fails closed: an unreadable `start` or `now` gives `None`, an unreadable
/// `end` or `deregistered_at` gives `Ended`, so a corrupt row never grants
/// access. Use [`try_registration_state`] to surface the error instead.
pub fn registration_state(
    start: &str,
    end: Option<&str>,
    deregistered_at: Option<&str>,
    now: &str,
) -> RegistrationState {
    match try_registration_state(start, end, deregistered_at, now) {
        Ok(state) => state,
        Err(RegistrationError {
            field: "end" | "deregistered_at",
        }) => RegistrationState::Ended,
        Err(_) => RegistrationState::None,
    }
}

/// How the office verified the person's identity when the contract started.
/// Identity is not re-checked at each read, so this record is what an audit
/// relies on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VerificationMethod {
    /// The person's My Number card, read with a card reader.
    MyNumberCard,
    /// Another documented method (e.g. an insurance certificate plus a photo
    /// ID), described in words.
    Other {
        /// What was checked; must not be blank.
        description: String,
    },
}

impl VerificationMethod {
    /// Whether the method is fully described (an `Other` needs a description).
    pub fn is_complete(&self) -> bool {
        match self {
            VerificationMethod::MyNumberCard => true,
            VerificationMethod::Other { description } => !description.trim().is_empty(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use RegistrationState as R;

    const START: &str = "2025-04-01T00:00:00+09:00";

    #[test]
    fn in_force_between_start_and_end() {
        let end = Some("2026-03-31T15:00:00Z");
        assert_eq!(
            registration_state(START, end, None, "2025-03-31T14:59:59Z"),
            R::None
        );
        assert_eq!(
            registration_state(START, end, None, "2025-03-31T15:00:00Z"),
            R::InForce
        );
        assert_eq!(
            registration_state(START, end, None, "2026-03-31T14:59:59Z"),
            R::InForce
        );
        assert_eq!(
            registration_state(START, end, None, "2026-03-31T15:00:00Z"),
            R::Ended
        );
        assert_eq!(
            registration_state(START, None, None, "2099-01-01T00:00:00Z"),
            R::InForce
        );
    }

    #[test]
    fn deregistration_ends_it_at_once() {
        let dereg = Some("2025-06-01T10:00:00Z");
        assert_eq!(
            registration_state(START, None, dereg, "2025-06-01T09:59:59Z"),
            R::InForce
        );
        assert_eq!(
            registration_state(START, None, dereg, "2025-06-01T10:00:00Z"),
            R::Ended
        );
        // Deregistered before it even started: ended, not "none".
        assert_eq!(
            registration_state(
                START,
                None,
                Some("2025-01-01T00:00:00Z"),
                "2025-02-01T00:00:00Z"
            ),
            R::Ended
        );
    }

    #[test]
    fn unreadable_timestamps_fail_closed() {
        assert_eq!(
            registration_state("2025-04-01", None, None, "2025-05-01T00:00:00Z"),
            R::None
        );
        assert_eq!(registration_state(START, None, None, "now"), R::None);
        assert_eq!(
            registration_state(START, Some("later"), None, "2025-05-01T00:00:00Z"),
            R::Ended
        );
        assert_eq!(
            registration_state(START, None, Some(""), "2025-05-01T00:00:00Z"),
            R::Ended
        );
        assert_eq!(
            try_registration_state(START, Some("later"), None, "2025-05-01T00:00:00Z"),
            Err(RegistrationError { field: "end" })
        );
    }

    #[test]
    fn verification_method_serde() {
        let v = serde_json::to_value(VerificationMethod::MyNumberCard).unwrap();
        assert_eq!(v, serde_json::json!({"type": "my_number_card"}));
        let other: VerificationMethod = serde_json::from_value(
            serde_json::json!({"type": "other", "description": "被保険者証と運転免許証"}),
        )
        .unwrap();
        assert!(other.is_complete());
        assert!(
            !VerificationMethod::Other {
                description: " ".into()
            }
            .is_complete()
        );
    }

    #[test]
    fn who_may_register() {
        let p = |s: &str| Principal::parse_urn(s).unwrap();
        assert!(may_register(&p("urn:carehub:care-manager:1371234567")));
        assert!(may_register(&p("urn:carehub:medical:1312345678")));
        assert!(!may_register(&p("urn:carehub:municipality:131016")));
        assert!(!may_register(&p("urn:carehub:portal:mynaportal")));
    }
}
