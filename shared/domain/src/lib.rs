//! # carehub-domain
//!
//! The domain of carehub, an open implementation of Japan's long-term care
//! information hub (介護情報基盤): identifiers, principals, document kinds,
//! document content rules, consent and office registration, problem types,
//! document ids, cursors and the tamper-evident access-log chain — and
//! [`policy`], where every access rule is: the sharing matrix and the read
//! decision, and who may write, record, register, relay and subscribe.
//!
//! ## Architecture invariant: no I/O
//!
//! This crate is plain functions over plain data. It performs no I/O, reads
//! no clock (callers pass "now" in), draws no randomness and depends on no
//! runtime or database. That is what lets every policy here be tested
//! natively and exhaustively, and lets the same code run inside every
//! `wasm32-wasip2` component and in the native gateway. Anything that needs
//! the outside world belongs in the components or `infra/`.
//!
//! ## Conventions
//!
//! * Parse, don't validate: identifiers are newtypes with private fields,
//!   built only by `parse` (also `FromStr`, `TryFrom<String>`, serde), so a
//!   value of the type is proof of validity. Input is never trimmed or
//!   normalised: what was sent is what is checked.
//! * Closed sets (roles, kinds, viewers, …) have `as_str`, `ALL`, `FromStr`,
//!   `Display`, and serialize as their wire name.
//! * Errors never echo identifiers that could be personal data (an insured
//!   number is); they name the identifier and the reason.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod macros;

pub mod accesslog;
pub mod careplan_csv;
pub mod checkpoint;
pub mod codes;
pub mod consent;
pub mod content;
pub mod cursor;
pub mod docid;
pub mod ids;
pub mod kinds;
pub mod merkle;
pub mod policy;
pub mod principal;
pub mod problem;
pub mod progress;
pub mod registration;
pub mod relay;
pub mod sealed;
pub mod webhook;

pub use accesslog::{
    AccessAction, AccessLogEntry, AccessOutcome, GENESIS_HASH, LEGACY_SHARD, canonical_json,
    chain_hash, is_request_id, shard_of, shard_of_person, verify_chain, verify_chain_from,
};
pub use checkpoint::{Checkpoint, CheckpointSigner, CheckpointVerifier, TreeHead};
pub use codes::{ApplicationType, CareLevel};
pub use consent::{
    ConsentConflict, ConsentEvent, ConsentMethod, ConsentState, Giver, ProxyRelationship,
    check_transition, current_state, validate_event, validate_event_at,
};
pub use content::{
    BASIC_SURVEY, Violation, example_content, optional_fields, physician_consent, required_fields,
    validate_content,
};
pub use cursor::{Cursor, CursorError};
pub use docid::{DocumentId, DocumentKey, IdempotencyKey, fingerprint};
pub use ids::{IdError, InsuredNumber, InsurerNumber, MedicalInstitutionCode, OfficeNumber};
pub use kinds::DocumentKind;
pub use policy::matrix::{Decision, DenyReason, Mark, ReadContext, SHARING_MATRIX, Viewer};
pub use policy::{Caller, PersonToken};
pub use principal::{ClientId, PersonActor, PersonRef, Principal, PrincipalError, Role};
pub use problem::{PROBLEM_CONTENT_TYPE, Problem, ProblemType};
pub use progress::{
    ApplicationId, OpinionTrack, Phase, Progress, Stage, SurveyTrack, TRANSITIONS, Transition,
    allowed_next, certificate_for_decision, transition_refused, validate_application,
    validate_step,
};
pub use registration::{
    RegistrationError, RegistrationId, RegistrationState, VerificationMethod, combined_state,
    is_rfc3339, registration_state, try_registration_state, validate_registration,
};
pub use relay::{
    AnswerEffect, CarePlanRequestType, SubmissionAnswer, SubmissionId, SubmissionState,
    SubmissionType, check_answer, validate_answer, validate_care_plan_request,
};
pub use webhook::{
    AttemptOutcome, Event, EventFacts, EventType, OriginPattern, Receiver, RegistrationChange,
    Secret, SubscriptionId,
};

use std::fmt;

/// A string that names none of the values of a closed set (a role, a
/// document kind, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnknownValue {
    /// What was being parsed, e.g. "role" or "document kind".
    pub what: &'static str,
    /// The rejected text, cut to 64 characters so a hostile input cannot
    /// blow up an error message.
    pub value: String,
    /// The accepted wire names.
    pub expected: &'static [&'static str],
}

impl UnknownValue {
    pub(crate) fn new(what: &'static str, value: &str, expected: &'static [&'static str]) -> Self {
        UnknownValue {
            what,
            value: value.chars().take(64).collect(),
            expected,
        }
    }
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?}; expected one of: {}",
            self.what,
            self.value,
            self.expected.join(", ")
        )
    }
}

/// Any error this crate reports, for callers that want one type.
///
/// Each module also exposes its own error so that a handler can map, say, an
/// [`IdError`] to the `invalid-identifier` problem without matching here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An identifier (insurer number, office number, key, …) was malformed.
    #[error(transparent)]
    Id(#[from] IdError),
    /// A principal URN was malformed.
    #[error(transparent)]
    Principal(#[from] PrincipalError),
    /// A name outside a closed set (role, kind, …).
    #[error(transparent)]
    UnknownValue(#[from] UnknownValue),
    /// A pagination cursor was not one this crate issued.
    #[error(transparent)]
    Cursor(#[from] CursorError),
    /// A registration timestamp was not RFC 3339.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
}
