//! Office registration (担当事業所登録, DESIGN §5): an office that has verified
//! the person's identity registers itself as the person's responsible office.
//! Whether that registration is in force at a given moment is decided here,
//! from the stored timestamps and a "now" the caller passes in (this crate
//! reads no clock).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::content::Violation;
use crate::ids::{IdError, reject_common_mistakes};
use crate::macros::{string_enum, string_newtype};
use crate::principal::{PersonRef, Principal};

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

/// The state of an office's registration for a person when it holds several
/// (one after another: a contract ended, a new one began): in force if any
/// is; otherwise "none" if one has yet to start; otherwise "ended" if one
/// ended; "none" when there are none at all.
pub fn combined_state(states: impl IntoIterator<Item = RegistrationState>) -> RegistrationState {
    let mut combined = None;
    for state in states {
        combined = Some(match (combined, state) {
            (_, RegistrationState::InForce) => return RegistrationState::InForce,
            (Some(RegistrationState::None), _) | (_, RegistrationState::None) => {
                RegistrationState::None
            }
            _ => RegistrationState::Ended,
        });
    }
    combined.unwrap_or(RegistrationState::None)
}

/// Checks a new registration at `now` (all timestamps RFC 3339): a complete
/// verification method, a non-blank reference, a readable start, and an end
/// (when given) after both the start and `now` — a registration that has
/// already ended would register nothing. The start may lie in the past (the
/// contract began before the office registered) or the future (it begins
/// later; the office reads from then).
pub fn validate_registration(
    method: &VerificationMethod,
    reference: &str,
    start: &str,
    end: Option<&str>,
    now: &str,
) -> Result<(), Vec<Violation>> {
    let mut v = Vec::new();
    if !method.is_complete() {
        v.push(Violation::new(
            "/verification_method/description",
            "another verification method must say what was checked",
        ));
    }
    if reference.trim().is_empty() {
        v.push(Violation::new(
            "/verification_reference",
            "must not be blank: the record of the identity check (e.g. the card reader's result number)",
        ));
    }
    let rfc = "must be an RFC 3339 timestamp, e.g. 2025-04-01T09:00:00+09:00";
    let start_at = parse_rfc3339(start);
    if start_at.is_none() {
        v.push(Violation::new("/start", rfc));
    }
    if let Some(end) = end {
        match parse_rfc3339(end) {
            None => v.push(Violation::new("/end", rfc)),
            Some(end_at) => {
                if start_at.is_some_and(|s| end_at <= s) {
                    v.push(Violation::new("/end", "must be later than start"));
                }
                if parse_rfc3339(now).is_some_and(|n| end_at <= n) {
                    v.push(Violation::new("/end", "must be in the future"));
                }
            }
        }
    }
    if v.is_empty() { Ok(()) } else { Err(v) }
}

/// Separates this hash's inputs from any other use of SHA-256 in the hub.
const REGISTRATION_ID_DOMAIN: &[u8] = b"carehub/registration-id/v1";

/// A registration id: `reg_` followed by 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegistrationId(String);

impl RegistrationId {
    const ID: &'static str = "registration_id";
    const PREFIX: &'static str = "reg_";

    /// Parses a registration id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        reject_common_mistakes(Self::ID, s)?;
        let hex = s
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| IdError::new(Self::ID, "must start with reg_"))?;
        if hex.len() != 32 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(IdError::new(
                Self::ID,
                "must be reg_ followed by 32 lowercase hex digits",
            ));
        }
        Ok(RegistrationId(s.to_owned()))
    }

    /// The id of `office`'s registration for `person` recorded at
    /// `registered_at`: the first 16 bytes of SHA-256 over a versioned
    /// domain tag and the length-prefixed fields. Derived rather than drawn
    /// at random because this crate has no randomness; an office holds one
    /// registration per person at a time
    /// ([`crate::policy::registration::may_add_registration`]) and
    /// each is recorded at a distinct time, so ids do not collide.
    pub fn derive(office: &Principal, person: &PersonRef, registered_at: &str) -> RegistrationId {
        let mut hasher = Sha256::new();
        for part in [
            REGISTRATION_ID_DOMAIN,
            office.to_urn().as_bytes(),
            person.insurer_number.as_str().as_bytes(),
            person.insured_number.as_str().as_bytes(),
            registered_at.as_bytes(),
        ] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        let digest = hasher.finalize();
        RegistrationId(format!("{}{}", Self::PREFIX, hex::encode(&digest[..16])))
    }
}

string_newtype!(RegistrationId, IdError);

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
    fn several_registrations_combine() {
        assert_eq!(combined_state([]), R::None);
        assert_eq!(combined_state([R::Ended, R::InForce]), R::InForce);
        assert_eq!(combined_state([R::Ended, R::Ended]), R::Ended);
        assert_eq!(combined_state([R::Ended, R::None]), R::None);
        assert_eq!(combined_state([R::None, R::Ended]), R::None);
    }

    #[test]
    fn registration_validation() {
        let now = "2025-05-01T00:00:00Z";
        let card = VerificationMethod::MyNumberCard;
        assert!(validate_registration(&card, "MNC-1", START, None, now).is_ok());
        assert!(
            validate_registration(&card, "MNC-1", START, Some("2026-03-31T15:00:00Z"), now).is_ok()
        );
        let pointers = |r: Result<(), Vec<Violation>>| -> Vec<String> {
            r.unwrap_err().into_iter().map(|v| v.pointer).collect()
        };
        let vague = VerificationMethod::Other {
            description: "".into(),
        };
        assert_eq!(
            pointers(validate_registration(&vague, " ", "2025-04-01", None, now)),
            [
                "/verification_method/description",
                "/verification_reference",
                "/start"
            ]
        );
        assert_eq!(
            pointers(validate_registration(
                &card,
                "x",
                START,
                Some("2025-03-01T00:00:00Z"),
                now
            )),
            ["/end", "/end"]
        );
        assert_eq!(
            pointers(validate_registration(&card, "x", START, Some("soon"), now)),
            ["/end"]
        );
    }

    #[test]
    fn registration_ids() {
        let office = Principal::parse_urn("urn:carehub:care-manager:1371234567").unwrap();
        let person = PersonRef::new(
            crate::ids::InsurerNumber::parse("131016").unwrap(),
            crate::ids::InsuredNumber::parse("0000123456").unwrap(),
        );
        let id = RegistrationId::derive(&office, &person, "2025-04-01T00:00:00.000000Z");
        assert_eq!(RegistrationId::parse(id.as_str()).unwrap(), id);
        assert_ne!(
            id,
            RegistrationId::derive(&office, &person, "2025-04-01T00:00:00.000001Z")
        );
        assert!(RegistrationId::parse("doc_0123456789abcdef0123456789abcdef").is_err());
        assert!(RegistrationId::parse("reg_0123456789ABCDEF0123456789abcdef").is_err());
        assert!(RegistrationId::parse("reg_0123").is_err());
    }
}
