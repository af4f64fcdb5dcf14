//! Certification applications and their steps (DESIGN §6): typed,
//! backend-neutral operations; the SQL of each dialect is in a submodule.

use carehub_domain::{ApplicationId, ApplicationType, PersonRef, Principal, Stage};

use super::{DocumentStore, StoreError};

mod sql;

/// An application to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApplication {
    /// Its id.
    pub application_id: ApplicationId,
    /// Who applied.
    pub person: PersonRef,
    /// New, renewal or change of category.
    pub application_type: ApplicationType,
    /// Canonical JSON of what the municipality recorded with it (received
    /// date, the application document's id, …).
    pub details: String,
    /// The municipality that recorded it.
    pub created_by: Principal,
}

/// An application as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRecord {
    /// The store's sequence number: list order and cursor.
    pub seq: i64,
    /// What was recorded.
    pub application: NewApplication,
    /// The latest step's stage.
    pub stage: Stage,
    /// How many steps it has taken.
    pub step_count: i64,
    /// When it was recorded, RFC 3339 UTC.
    pub created_at: String,
    /// When its last step was recorded.
    pub updated_at: String,
}

/// One recorded step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// 1, 2, … in order.
    pub step_no: i64,
    /// The stage it moved to.
    pub step: Stage,
    /// Canonical JSON of its details.
    pub details: String,
    /// Who recorded it.
    pub recorded_by: Principal,
    /// When, RFC 3339 UTC.
    pub recorded_at: String,
}

/// Applications and their append-only timelines.
pub trait ProgressStore: DocumentStore {
    /// Records an application at stage `received` (in a write transaction).
    fn add_application(
        &self,
        application: &NewApplication,
        at: &str,
    ) -> Result<ApplicationRecord, StoreError>;

    /// The application with this id.
    fn application(&self, id: &ApplicationId) -> Result<Option<ApplicationRecord>, StoreError>;

    /// Its steps, oldest first.
    fn application_steps(&self, seq: i64) -> Result<Vec<StepRecord>, StoreError>;

    /// Appends the next step of `application` (read in the same write
    /// transaction) and moves its stage. Fails when another step was
    /// recorded since it was read.
    fn append_step(
        &self,
        application: &ApplicationRecord,
        step: Stage,
        details: &str,
        recorded_by: &Principal,
        at: &str,
    ) -> Result<(), StoreError>;

    /// A person's applications, newest first, below `before_seq`.
    fn person_applications(
        &self,
        person: &PersonRef,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ApplicationRecord>, StoreError>;

    /// A municipality's open applications (not notified, not withdrawn),
    /// optionally only those at `stage`, newest first, below `before_seq`.
    fn open_applications(
        &self,
        insurer_number: &str,
        stage: Option<Stage>,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ApplicationRecord>, StoreError>;
}

/// The state `application`'s recorded steps leave, with the steps.
pub fn progress_of<S: ProgressStore + ?Sized>(
    store: &S,
    application: &ApplicationRecord,
) -> Result<(carehub_domain::Progress, Vec<StepRecord>), StoreError> {
    let steps = store.application_steps(application.seq)?;
    let details = steps
        .iter()
        .map(|s| serde_json::from_str::<serde_json::Value>(&s.details))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Corrupt(format!("certification_steps: details: {e}")))?;
    let state = carehub_domain::progress::replay(steps.iter().map(|s| s.step).zip(&details))
        .map_err(|p| {
            StoreError::Corrupt(format!(
                "application {}: its steps break the machine: {p}",
                application.seq
            ))
        })?;
    Ok((state, steps))
}

/// Takes `step` with `details` on `application` (read in this write
/// transaction): `Ok(Err(problem))` — a 409 `invalid-transition` listing
/// the allowed steps — when the machine does not allow it from the state
/// its history leaves; otherwise appends the step and returns the new state.
pub fn advance<S: ProgressStore + ?Sized>(
    store: &S,
    application: &ApplicationRecord,
    step: Stage,
    details: &serde_json::Value,
    by: &Principal,
    at: &str,
) -> Result<Result<carehub_domain::Progress, carehub_domain::Problem>, StoreError> {
    let (state, _) = progress_of(store, application)?;
    let from = carehub_domain::progress::requested_from(details);
    let next = match carehub_domain::progress::apply(&state, step, from.as_ref()) {
        Ok(next) => next,
        Err(problem) => return Ok(Err(problem)),
    };
    store.append_step(
        application,
        step,
        &serde_json::to_string(details).expect("a JSON value always serializes"),
        by,
        at,
    )?;
    Ok(Ok(next))
}
