//! Webhooks (DESIGN §8): what happened, who hears of it, what they are told,
//! when a failed delivery is retried and how a delivery is signed.
//!
//! The store appends an [`Event`] to the outbox in the same transaction as
//! the change it describes. The dispatcher fans each event out to the
//! subscriptions whose [`Receiver`] may hear of it, with a payload built by
//! [`payload`] — ids and what that receiver may read, nothing more — and
//! delivers it per the Standard Webhooks specification
//! (<https://www.standardwebhooks.com>): `webhook-id`, `webhook-timestamp`,
//! `webhook-signature` = space-separated `v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`, one per secret in use ([`signature_header`]).
//!
//! Everything here is pure: the clock, the randomness (secret bytes, jitter)
//! and the consent state are inputs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::consent::ConsentState;
use crate::docid::DocumentId;
use crate::ids::InsurerNumber;
use crate::kinds::DocumentKind;
use crate::macros::{prefixed_id, string_enum};
use crate::policy::matrix::{ReadContext, Viewer, decide, mark};
use crate::principal::{PersonRef, Principal};
use crate::progress::{ApplicationId, Stage};
use crate::registration::{RegistrationId, RegistrationState};
use crate::relay::{SubmissionId, SubmissionState, SubmissionType};

string_enum! {
    /// What kind of change an event reports; the `type` of its payload.
    pub enum EventType as "event type" {
        /// A document was stored: a new document, or a new version
        /// superseding the previous one (single or bulk ingest, an opinion
        /// received through the relay).
        DocumentStored = "document.stored",
        /// A consent event was recorded (given, not obtained, withdrawn).
        ConsentChanged = "consent.changed",
        /// An office registered or was deregistered as responsible office.
        RegistrationChanged = "registration.changed",
        /// A certification application was received or took a step.
        ProgressChanged = "progress.changed",
        /// A relay submission was accepted, delivered, acknowledged or
        /// rejected.
        SubmissionStateChanged = "submission.state_changed",
    }
}

string_enum! {
    /// What happened to a registration.
    pub enum RegistrationChange as "registration change" {
        /// The office registered.
        Registered = "registered",
        /// The office was deregistered.
        Deregistered = "deregistered",
    }
}

/// The facts of one change, as the outbox keeps them. Only ids and states:
/// content never enters the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventFacts {
    /// See [`EventType::DocumentStored`].
    DocumentStored {
        /// The document.
        document_id: DocumentId,
        /// Its kind.
        kind: DocumentKind,
        /// The version stored.
        version: i64,
        /// The version it superseded, if any.
        supersedes: Option<i64>,
    },
    /// See [`EventType::ConsentChanged`].
    ConsentChanged {
        /// `given`, `not_obtained` or `withdrawn`.
        event: String,
        /// The state it left.
        state: ConsentState,
    },
    /// See [`EventType::RegistrationChanged`].
    RegistrationChanged {
        /// The registration.
        registration_id: RegistrationId,
        /// The office (principal URN form when serialized).
        office: Principal,
        /// What happened.
        change: RegistrationChange,
    },
    /// See [`EventType::ProgressChanged`].
    ProgressChanged {
        /// The application.
        application_id: ApplicationId,
        /// The stage it moved to.
        stage: Stage,
    },
    /// See [`EventType::SubmissionStateChanged`].
    SubmissionStateChanged {
        /// The submission.
        submission_id: SubmissionId,
        /// What it is.
        submission_type: SubmissionType,
        /// The state it moved to.
        state: SubmissionState,
    },
}

/// One change about one person (a submission's recipient is the person's
/// municipality, so every event is routed by its person).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Who it is about.
    pub person: PersonRef,
    /// What happened.
    pub facts: EventFacts,
}

impl Event {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        self.facts.event_type()
    }
}

impl EventFacts {
    /// The type of an event with these facts.
    pub fn event_type(&self) -> EventType {
        match self {
            EventFacts::DocumentStored { .. } => EventType::DocumentStored,
            EventFacts::ConsentChanged { .. } => EventType::ConsentChanged,
            EventFacts::RegistrationChanged { .. } => EventType::RegistrationChanged,
            EventFacts::ProgressChanged { .. } => EventType::ProgressChanged,
            EventFacts::SubmissionStateChanged { .. } => EventType::SubmissionStateChanged,
        }
    }
}

prefixed_id! {
    /// A subscription (endpoint) id: `ep_` followed by 32 lowercase hex digits,
    /// drawn at random when the subscription is registered.
    pub struct SubscriptionId("ep_") as "subscription_id";
}

impl SubscriptionId {
    /// The id made of 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> SubscriptionId {
        SubscriptionId::from_bytes(&bytes)
    }
}

/// Who receives webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receiver {
    /// The citizen portal: events about persons, limited to what the person
    /// may see (the portal reads as the person, [`Viewer::Person`]).
    Portal,
    /// A municipality: events about the persons it insures, limited to what
    /// it may read; submissions addressed to it.
    Municipality(InsurerNumber),
}

impl Receiver {
    /// The event types this receiver may subscribe to. Submissions travel
    /// between offices and municipalities; the person does not see them.
    pub fn event_types(&self) -> &'static [EventType] {
        match self {
            Receiver::Portal => &[
                EventType::DocumentStored,
                EventType::ConsentChanged,
                EventType::RegistrationChanged,
                EventType::ProgressChanged,
            ],
            Receiver::Municipality(_) => &EventType::ALL,
        }
    }

    /// Whether the event is about someone this receiver hears about at all.
    fn concerns(&self, event: &Event) -> bool {
        match self {
            Receiver::Portal => event.event_type() != EventType::SubmissionStateChanged,
            Receiver::Municipality(n) => event.person.insurer_number == *n,
        }
    }
}

/// Whether [`payload`] for this receiver depends on the person's consent
/// state, so that the caller reads it only when it matters: a municipality
/// reads ◎ kinds only while consent is in force.
pub fn consent_needed(event: &Event, receiver: &Receiver) -> bool {
    match (&event.facts, receiver) {
        (EventFacts::DocumentStored { kind, .. }, Receiver::Municipality(_)) => {
            mark(*kind, Viewer::Municipality) == crate::policy::matrix::Mark::SharedWithConsent
        }
        _ => false,
    }
}

/// Whether `receiver` may read a document of `kind` about `person`, by the
/// sharing matrix ([`decide`]) with the consent state given.
fn may_read_kind(
    receiver: &Receiver,
    person: &PersonRef,
    kind: DocumentKind,
    consent: ConsentState,
) -> bool {
    let (viewer, insured_by_viewer) = match receiver {
        Receiver::Portal => (Viewer::Person, false),
        Receiver::Municipality(n) => (Viewer::Municipality, person.insurer_number == *n),
    };
    decide(&ReadContext {
        viewer,
        kind,
        // The portal acts for each person it serves; it hears only about
        // the person the event is about.
        subject_is_viewer_person: true,
        subject_insured_by_viewer: insured_by_viewer,
        is_author: false,
        consent,
        registration: RegistrationState::None,
        physician_consented_to_care_planning: None,
    })
    .is_allowed()
}

/// The body delivered to `receiver` for `event`, or `None` when the receiver
/// may not hear of it. `consent` is the person's consent state (read it when
/// [`consent_needed`] says so; otherwise any value will do). `timestamp` is
/// when the change happened (RFC 3339).
///
/// Shape (Standard Webhooks' recommendation): `{"type", "timestamp",
/// "data"}`; `data` holds the person and the ids and states of the change,
/// never document content or who wrote it.
pub fn payload(
    event: &Event,
    receiver: &Receiver,
    consent: ConsentState,
    timestamp: &str,
) -> Option<Value> {
    if !receiver.concerns(event) {
        return None;
    }
    let person = json!({
        "insurer_number": event.person.insurer_number.as_str(),
        "insured_number": event.person.insured_number.as_str(),
    });
    let data = match &event.facts {
        EventFacts::DocumentStored {
            document_id,
            kind,
            version,
            supersedes,
        } => {
            if !may_read_kind(receiver, &event.person, *kind, consent) {
                return None;
            }
            json!({
                "person": person,
                "document_id": document_id.as_str(),
                "kind": kind.as_str(),
                "version": version,
                "supersedes": supersedes,
            })
        }
        EventFacts::ConsentChanged { event: name, state } => json!({
            "person": person,
            "event": name,
            "state": state.as_str(),
        }),
        EventFacts::RegistrationChanged {
            registration_id,
            office,
            change,
        } => json!({
            "person": person,
            "registration_id": registration_id.as_str(),
            "office": office.to_urn(),
            "change": change.as_str(),
        }),
        EventFacts::ProgressChanged {
            application_id,
            stage,
        } => json!({
            "person": person,
            "application_id": application_id.as_str(),
            "stage": stage.as_str(),
        }),
        EventFacts::SubmissionStateChanged {
            submission_id,
            submission_type,
            state,
        } => json!({
            "person": person,
            "submission_id": submission_id.as_str(),
            "submission_type": submission_type.as_str(),
            "state": state.as_str(),
        }),
    };
    Some(json!({
        "type": event.event_type().as_str(),
        "timestamp": timestamp,
        "data": data,
    }))
}

/// The default base of the retry schedule: 5 seconds.
pub const DEFAULT_BACKOFF_BASE_MS: u64 = 5_000;
/// Attempts per message before it is given up: the first and 13 retries.
pub const MAX_ATTEMPTS: u32 = 14;
/// The growth of the schedule is capped at this multiple of the base
/// (12 hours at the default base).
const MAX_FACTOR: u64 = 8_640;

/// How long to wait after the `failed`-th failed attempt (1, 2, …) before
/// the next one, or `None` when the message is given up ([`MAX_ATTEMPTS`]).
///
/// The delay is `base × min(4^(failed-1), 8640)`, stretched by up to a
/// quarter by `jitter` (a uniform draw in `[0, 1)`, supplied by the caller)
/// so that receivers recovering from an outage are not hit in lockstep.
/// Jitter only lengthens, so the span of the whole schedule is at least its
/// nominal length: about 79.6 hours at the default base ([`schedule_span_ms`]).
pub fn retry_delay_ms(failed: u32, base_ms: u64, jitter: f64) -> Option<u64> {
    if failed == 0 || failed >= MAX_ATTEMPTS {
        return None;
    }
    let factor = 4u64.saturating_pow(failed - 1).min(MAX_FACTOR);
    let nominal = base_ms.saturating_mul(factor);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // Float only for the jitter fraction; the result stays within u64.
    let extra = (nominal as f64 * jitter / 4.0) as u64;
    Some(nominal.saturating_add(extra))
}

/// The time from the first attempt to the last with no jitter: the least
/// the schedule spans.
pub fn schedule_span_ms(base_ms: u64) -> u64 {
    (1..MAX_ATTEMPTS)
        .filter_map(|n| retry_delay_ms(n, base_ms, 0.0))
        .sum()
}

/// How long the previous secret keeps signing after a rotation: 24 hours,
/// time for a receiver to deploy the new one.
pub const ROTATION_OVERLAP_MS: u64 = 24 * 60 * 60 * 1000;

/// A signing secret: 24 to 64 random bytes, written `whsec_<base64>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The prefix of a written secret.
pub const SECRET_PREFIX: &str = "whsec_";

impl Secret {
    /// A secret from random bytes (24 to 64 of them).
    pub fn from_bytes(bytes: &[u8]) -> Option<Secret> {
        (24..=64)
            .contains(&bytes.len())
            .then(|| Secret(bytes.to_vec()))
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(s: &str) -> Option<Secret> {
        let b64 = s.strip_prefix(SECRET_PREFIX)?;
        Secret::from_bytes(&STANDARD.decode(b64).ok()?)
    }

    /// The written form, `whsec_<base64>`.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts a key of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one `v1` signature per secret, space
/// separated (during a rotation, the new secret's and the old one's).
pub fn signature_header(secrets: &[Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `webhook-id` of the delivery of outbox event `event_seq` to
/// subscription `subscription_id`: the same for every attempt and every
/// redelivery, so the receiver dedupes by it.
pub fn message_id(subscription_id: &str, event_seq: i64) -> String {
    let digest = Sha256::digest(format!("{subscription_id}:{event_seq}").as_bytes());
    format!("msg_{}", &hex::encode(digest)[..32])
}

/// What a delivery attempt's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx: delivered.
    Delivered,
    /// 410 Gone: the receiver asks for no more calls; the endpoint is
    /// disabled.
    Gone,
    /// Anything else (or no answer): retried per [`retry_delay_ms`].
    Failed,
}

/// Classifies a delivery's HTTP status (`None`: no answer).
pub fn attempt_outcome(status: Option<u16>) -> AttemptOutcome {
    match status {
        Some(s) if (200..300).contains(&s) => AttemptOutcome::Delivered,
        Some(410) => AttemptOutcome::Gone,
        _ => AttemptOutcome::Failed,
    }
}

/// An allowed outbound origin, as in Spin's `allowed_outbound_hosts`:
/// `scheme://host[:port]`, where scheme, host and port may be `*` and a host
/// may be `*.suffix`; no port means the scheme's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl OriginPattern {
    /// Parses one entry; `None` when it is not of the form above.
    pub fn parse(entry: &str) -> Option<OriginPattern> {
        let (scheme, rest) = entry.split_once("://")?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.is_empty() {
            return None;
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
        let host = host.to_ascii_lowercase();
        if host.is_empty() || (host.contains('*') && host != "*" && !host.starts_with("*.")) {
            return None;
        }
        let port = match port {
            Some("*") => None,
            Some(p) => Some(p.parse().ok()?),
            None => Some(default_port(scheme.as_deref()?)?),
        };
        Some(OriginPattern { scheme, host, port })
    }

    /// Whether `scheme://host:port` matches.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && (self.host == "*"
                || match self.host.strip_prefix('*') {
                    Some(suffix) => host.ends_with(suffix),
                    None => self.host == host,
                })
            && self.port.is_none_or(|p| p == port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InsuredNumber;

    fn person(insurer: &str) -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse(insurer).unwrap(),
            InsuredNumber::parse("0000012345").unwrap(),
        )
    }

    fn document(insurer: &str, kind: DocumentKind) -> Event {
        Event {
            person: person(insurer),
            facts: EventFacts::DocumentStored {
                document_id: DocumentId::parse(&format!("doc_{}", "a".repeat(32))).unwrap(),
                kind,
                version: 2,
                supersedes: Some(1),
            },
        }
    }

    fn municipality(n: &str) -> Receiver {
        Receiver::Municipality(InsurerNumber::parse(n).unwrap())
    }

    #[test]
    fn the_portal_hears_only_of_kinds_the_person_may_read() {
        for kind in DocumentKind::ALL {
            let event = document("131016", kind);
            let sent = payload(&event, &Receiver::Portal, ConsentState::None, "t").is_some();
            let person_reads = !matches!(
                mark(kind, Viewer::Person),
                crate::policy::matrix::Mark::Never | crate::policy::matrix::Mark::AuthorOnly
            );
            assert_eq!(sent, person_reads, "{kind}");
        }
        // A certification survey is never shown to the person.
        assert!(
            payload(
                &document("131016", DocumentKind::CertificationSurvey),
                &Receiver::Portal,
                ConsentState::InForce,
                "t"
            )
            .is_none()
        );
    }

    #[test]
    fn a_municipality_hears_only_of_its_own_persons() {
        let event = document("131016", DocumentKind::InsuranceCertificate);
        assert!(payload(&event, &municipality("131016"), ConsentState::None, "t").is_some());
        assert!(payload(&event, &municipality("271004"), ConsentState::InForce, "t").is_none());
        let consent = Event {
            person: person("131016"),
            facts: EventFacts::ConsentChanged {
                event: "withdrawn".into(),
                state: ConsentState::Withdrawn,
            },
        };
        assert!(payload(&consent, &municipality("271004"), ConsentState::None, "t").is_none());
        assert!(payload(&consent, &municipality("131016"), ConsentState::None, "t").is_some());
    }

    #[test]
    fn a_municipality_hears_of_consent_only_kinds_only_with_consent() {
        let event = document("131016", DocumentKind::CarePlan);
        let m = municipality("131016");
        assert!(consent_needed(&event, &m));
        assert!(payload(&event, &m, ConsentState::InForce, "t").is_some());
        for state in [
            ConsentState::None,
            ConsentState::Withdrawn,
            ConsentState::NotObtained,
        ] {
            assert!(payload(&event, &m, state, "t").is_none(), "{state}");
        }
        assert!(!consent_needed(
            &document("131016", DocumentKind::InsuranceCertificate),
            &m
        ));
        assert!(!consent_needed(&event, &Receiver::Portal));
    }

    #[test]
    fn submissions_go_to_the_municipality_not_the_portal() {
        let event = Event {
            person: person("131016"),
            facts: EventFacts::SubmissionStateChanged {
                submission_id: SubmissionId::parse(&format!("sub_{}", "b".repeat(32))).unwrap(),
                submission_type: SubmissionType::CarePlanRequest,
                state: SubmissionState::Accepted,
            },
        };
        assert!(payload(&event, &Receiver::Portal, ConsentState::InForce, "t").is_none());
        assert!(!Receiver::Portal.event_types().contains(&event.event_type()));
        let body = payload(&event, &municipality("131016"), ConsentState::None, "t").unwrap();
        assert_eq!(body["type"], "submission.state_changed");
        assert_eq!(body["data"]["state"], "accepted");
    }

    #[test]
    fn a_payload_carries_ids_and_states_only() {
        let body = payload(
            &document("131016", DocumentKind::InsuranceCertificate),
            &Receiver::Portal,
            ConsentState::None,
            "2025-01-01T00:00:00.000000Z",
        )
        .unwrap();
        let data = body["data"].as_object().unwrap();
        let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["document_id", "kind", "person", "supersedes", "version"]
        );
        assert_eq!(body["timestamp"], "2025-01-01T00:00:00.000000Z");
    }

    #[test]
    fn facts_round_trip_through_the_outbox_form() {
        let e = document("131016", DocumentKind::CarePlan);
        let text = serde_json::to_string(&e.facts).unwrap();
        let back: EventFacts = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e.facts);
    }

    #[test]
    fn the_default_schedule_spans_at_least_72_hours() {
        let span = schedule_span_ms(DEFAULT_BACKOFF_BASE_MS);
        assert!(span >= 72 * 3600 * 1000, "{span}");
        assert!(span <= 96 * 3600 * 1000, "{span}");
        assert_eq!(retry_delay_ms(1, 5_000, 0.0), Some(5_000));
        assert_eq!(retry_delay_ms(2, 5_000, 0.0), Some(20_000));
        assert_eq!(retry_delay_ms(13, 5_000, 0.0), Some(12 * 3600 * 1000));
        assert_eq!(retry_delay_ms(MAX_ATTEMPTS, 5_000, 0.0), None);
        assert_eq!(retry_delay_ms(0, 5_000, 0.0), None);
    }

    #[test]
    fn jitter_only_lengthens_and_by_at_most_a_quarter() {
        for n in 1..MAX_ATTEMPTS {
            let nominal = retry_delay_ms(n, 1_000, 0.0).unwrap();
            for j in [0.0, 0.3, 0.999, 1.0, f64::NAN, -1.0, 7.0] {
                let d = retry_delay_ms(n, 1_000, j).unwrap();
                assert!(d >= nominal && d <= nominal + nominal / 4, "{n} {j} {d}");
            }
        }
        // A test base scales the whole schedule.
        assert_eq!(schedule_span_ms(10) * 500, schedule_span_ms(5_000));
    }

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The specification's published test vector.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotation_signs_with_every_secret() {
        let a = Secret::from_bytes(&[1; 32]).unwrap();
        let b = Secret::from_bytes(&[2; 32]).unwrap();
        let header = signature_header(&[a.clone(), b.clone()], "msg_x", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [a.sign("msg_x", 1, b"{}"), b.sign("msg_x", 1, b"{}")]
        );
        assert_eq!(Secret::parse(&a.expose()), Some(a));
        assert!(Secret::parse("whsec_short").is_none());
        assert!(Secret::parse("nope").is_none());
        assert!(Secret::from_bytes(&[0; 8]).is_none());
        assert_eq!(format!("{b:?}"), "Secret(..)");
    }

    #[test]
    fn message_ids_are_stable_and_distinct() {
        assert_eq!(message_id("sub_a", 1), message_id("sub_a", 1));
        assert_ne!(message_id("sub_a", 1), message_id("sub_a", 2));
        assert_ne!(message_id("sub_a", 1), message_id("sub_b", 1));
        assert_eq!(message_id("sub_a", 1).len(), 36);
    }

    #[test]
    fn subscription_ids() {
        let id = SubscriptionId::from_random([0xab; 16]);
        assert_eq!(id.as_str(), "ep_abababababababababababababababab");
        assert_eq!(SubscriptionId::parse(id.as_str()), Ok(id));
        for bad in ["ep_", "ep_ABABABABABABABABABABABABABABABAB", "sub_00", ""] {
            assert!(SubscriptionId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn outcomes() {
        assert_eq!(attempt_outcome(Some(200)), AttemptOutcome::Delivered);
        assert_eq!(attempt_outcome(Some(204)), AttemptOutcome::Delivered);
        assert_eq!(attempt_outcome(Some(410)), AttemptOutcome::Gone);
        assert_eq!(attempt_outcome(Some(500)), AttemptOutcome::Failed);
        assert_eq!(attempt_outcome(Some(301)), AttemptOutcome::Failed);
        assert_eq!(attempt_outcome(None), AttemptOutcome::Failed);
    }

    #[test]
    fn origin_patterns_match_like_allowed_outbound_hosts() {
        let p = OriginPattern::parse("http://127.0.0.1:8080").unwrap();
        assert!(p.allows("http", "127.0.0.1", 8080));
        assert!(!p.allows("http", "127.0.0.1", 8081));
        assert!(!p.allows("https", "127.0.0.1", 8080));
        let p = OriginPattern::parse("https://*.hooks.example.jp").unwrap();
        assert!(p.allows("https", "a.hooks.example.jp", 443));
        assert!(!p.allows("https", "hooks.example.jp.evil", 443));
        assert!(!p.allows("https", "a.hooks.example.jp", 8443));
        for bad in [
            "example.com",
            "https://",
            "https://a/b",
            "https://a:x",
            "foo://a",
        ] {
            assert!(OriginPattern::parse(bad).is_none(), "{bad}");
        }
    }
}
