//! Relayed submissions and their delivery (DESIGN §7): typed,
//! backend-neutral operations; the SQL of each dialect is in a submodule.

use carehub_domain::{
    ApplicationId, DocumentId, PersonRef, Principal, SubmissionAnswer, SubmissionId,
    SubmissionState, SubmissionType,
};

use super::{DocumentStore, StoreError};

mod sql;

/// A submission to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubmission {
    /// `SubmissionId::derive(sender, idempotency_key)`.
    pub submission_id: SubmissionId,
    /// Who sent it.
    pub sender: Principal,
    /// The sender's key for it.
    pub idempotency_key: String,
    /// Who it is about; the recipient is the person's municipality.
    pub person: PersonRef,
    /// What it is.
    pub submission_type: SubmissionType,
    /// For an opinion: the application it answers.
    pub application_id: Option<ApplicationId>,
    /// For an opinion: the document it was stored as.
    pub document_id: Option<DocumentId>,
    /// Canonical JSON of the payload as submitted.
    pub payload: String,
    /// Lower-case hex SHA-256 of `payload`.
    pub payload_sha256: String,
}

/// A submission as stored, with where its delivery stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionRecord {
    /// The store's sequence number: inbox order and cursor.
    pub seq: i64,
    /// What was submitted.
    pub submission: NewSubmission,
    /// Where it stands.
    pub state: SubmissionState,
    /// The recorded answer, once acknowledged or rejected.
    pub answer: Option<SubmissionAnswer>,
    /// When the hub accepted it.
    pub accepted_at: String,
    /// When the municipality first pulled it.
    pub delivered_at: Option<String>,
    /// When the municipality answered.
    pub answered_at: Option<String>,
}

/// One state change of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayEvent {
    /// The state it moved to.
    pub state: SubmissionState,
    /// Who moved it.
    pub by: Principal,
    /// When, RFC 3339 UTC.
    pub at: String,
}

/// The relay's store: submissions never change, never disappear; their
/// delivery state only moves forward.
pub trait RelayStore: DocumentStore {
    /// Stores a submission as `accepted` (in a write transaction).
    fn add_submission(
        &self,
        submission: &NewSubmission,
        at: &str,
    ) -> Result<SubmissionRecord, StoreError>;

    /// The submission with this id.
    fn submission(&self, id: &SubmissionId) -> Result<Option<SubmissionRecord>, StoreError>;

    /// Its state changes, oldest first.
    fn submission_events(&self, seq: i64) -> Result<Vec<RelayEvent>, StoreError>;

    /// Unanswered submissions (accepted or delivered) to the municipality
    /// `recipient`, oldest first, above `after_seq`.
    fn inbox(
        &self,
        recipient: &str,
        after_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SubmissionRecord>, StoreError>;

    /// The submissions `sender` sent about `person`, newest first (at most
    /// `limit`): the sender's own list of what it sent and where each
    /// stands.
    fn sent_submissions(
        &self,
        sender: &Principal,
        person: &PersonRef,
        limit: u32,
    ) -> Result<Vec<SubmissionRecord>, StoreError>;

    /// Marks the `accepted` ones among `seqs` delivered (in a write
    /// transaction).
    fn mark_delivered(&self, seqs: &[i64], by: &Principal, at: &str) -> Result<(), StoreError>;

    /// Records the municipality's answer (in a write transaction).
    fn answer_submission(
        &self,
        seq: i64,
        answer: &SubmissionAnswer,
        by: &Principal,
        at: &str,
    ) -> Result<(), StoreError>;
}
