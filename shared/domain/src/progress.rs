//! Certification progress (要介護認定の進捗, DESIGN §6): an application (new,
//! renewal, change of category) moving through its stages, as data plus
//! pure functions.
//!
//! ```text
//! received ─┬─ survey_scheduled → survey_done ──────┐
//!           └─ opinion_requested → opinion_received ┴→ primary_judgment
//!   → committee_scheduled → decided → notified
//! (withdrawn from any stage before the decision)
//! ```
//!
//! The survey and the opinion are two tracks that advance independently;
//! the primary judgment (一次判定) needs both finished, so no decision can
//! precede them. The machine is the table [`TRANSITIONS`]: a step is allowed
//! when a row names it with the application's phase and, where the row says
//! so, the state of each track. [`allowed_next`] reads the table; [`apply`]
//! refuses any other step with a 409 `invalid-transition` listing the
//! allowed ones.
//!
//! An application's state is never stored: it is the fold of its recorded
//! steps ([`replay`]), so the append-only history is the single truth.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::codes::{ApplicationType, CareLevel};
use crate::content::{Violation, parse_date};
use crate::docid::length_prefixed_digest;
use crate::macros::{prefixed_id, string_enum};
use crate::principal::{PersonRef, Principal, Role};
use crate::problem::{Problem, ProblemType};

string_enum! {
    /// An application's stage: where its latest step left it.
    pub enum Stage as "stage" {
        /// 申請受付 — the application was received (the first stage; never a step).
        Received = "received",
        /// 認定調査の日程決定 — the certification survey is scheduled.
        SurveyScheduled = "survey_scheduled",
        /// 認定調査の実施 — the survey was carried out.
        SurveyDone = "survey_done",
        /// 主治医意見書の依頼 — the attending physician's opinion was requested.
        OpinionRequested = "opinion_requested",
        /// 主治医意見書の受領 — the opinion was received.
        OpinionReceived = "opinion_received",
        /// 一次判定 — the computer-based primary judgment.
        PrimaryJudgment = "primary_judgment",
        /// 介護認定審査会の日程決定 — the certification committee is scheduled.
        CommitteeScheduled = "committee_scheduled",
        /// 認定（二次判定） — decided: care level and validity period.
        Decided = "decided",
        /// 結果通知 — the person was notified of the decision.
        Notified = "notified",
        /// 取下げ — the application was withdrawn.
        Withdrawn = "withdrawn",
    }
}

impl Stage {
    /// The stage's Japanese name.
    pub const fn japanese_name(self) -> &'static str {
        match self {
            Stage::Received => "申請受付",
            Stage::SurveyScheduled => "認定調査日程決定",
            Stage::SurveyDone => "認定調査実施",
            Stage::OpinionRequested => "主治医意見書依頼",
            Stage::OpinionReceived => "主治医意見書受領",
            Stage::PrimaryJudgment => "一次判定",
            Stage::CommitteeScheduled => "介護認定審査会日程決定",
            Stage::Decided => "認定",
            Stage::Notified => "結果通知",
            Stage::Withdrawn => "取下げ",
        }
    }

    /// Whether an application at this stage is still open (not notified,
    /// not withdrawn).
    pub const fn is_open(self) -> bool {
        !matches!(self, Stage::Notified | Stage::Withdrawn)
    }
}

string_enum! {
    /// The survey track.
    pub enum SurveyTrack as "survey track" {
        /// Not yet scheduled.
        NotScheduled = "not_scheduled",
        /// Scheduled.
        Scheduled = "scheduled",
        /// Carried out.
        Done = "done",
    }
}

string_enum! {
    /// The attending physician's opinion track.
    pub enum OpinionTrack as "opinion track" {
        /// Not yet requested.
        NotRequested = "not_requested",
        /// Requested, awaiting the opinion.
        Requested = "requested",
        /// Received.
        Received = "received",
    }
}

string_enum! {
    /// Where the application stands outside the two parallel tracks.
    pub enum Phase as "phase" {
        /// Survey and opinion under way.
        Intake = "intake",
        /// Primary judgment made.
        PrimaryJudgment = "primary_judgment",
        /// Committee scheduled.
        CommitteeScheduled = "committee_scheduled",
        /// Decided.
        Decided = "decided",
        /// Notified (closed).
        Notified = "notified",
        /// Withdrawn (closed).
        Withdrawn = "withdrawn",
    }
}

/// One row of the machine: `step` is allowed in `phase` when the tracks
/// are as stated (`None`: whatever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The step.
    pub step: Stage,
    /// The phase it is allowed in.
    pub phase: Phase,
    /// The survey track it requires.
    pub survey: Option<SurveyTrack>,
    /// The opinion track it requires.
    pub opinion: Option<OpinionTrack>,
}

const fn t(
    step: Stage,
    phase: Phase,
    survey: Option<SurveyTrack>,
    opinion: Option<OpinionTrack>,
) -> Transition {
    Transition {
        step,
        phase,
        survey,
        opinion,
    }
}

/// The state machine as data: every allowed step.
pub const TRANSITIONS: &[Transition] = &[
    t(
        Stage::SurveyScheduled,
        Phase::Intake,
        Some(SurveyTrack::NotScheduled),
        None,
    ),
    t(
        Stage::SurveyDone,
        Phase::Intake,
        Some(SurveyTrack::Scheduled),
        None,
    ),
    t(
        Stage::OpinionRequested,
        Phase::Intake,
        None,
        Some(OpinionTrack::NotRequested),
    ),
    t(
        Stage::OpinionReceived,
        Phase::Intake,
        None,
        Some(OpinionTrack::Requested),
    ),
    t(
        Stage::PrimaryJudgment,
        Phase::Intake,
        Some(SurveyTrack::Done),
        Some(OpinionTrack::Received),
    ),
    t(
        Stage::CommitteeScheduled,
        Phase::PrimaryJudgment,
        None,
        None,
    ),
    t(Stage::Decided, Phase::CommitteeScheduled, None, None),
    t(Stage::Notified, Phase::Decided, None, None),
    t(Stage::Withdrawn, Phase::Intake, None, None),
    t(Stage::Withdrawn, Phase::PrimaryJudgment, None, None),
    t(Stage::Withdrawn, Phase::CommitteeScheduled, None, None),
];

/// An application's state: the fold of its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// The latest step's stage (`received` before any).
    pub stage: Stage,
    /// Where the phases outside the tracks stand.
    pub phase: Phase,
    /// The survey track.
    pub survey: SurveyTrack,
    /// The opinion track.
    pub opinion: OpinionTrack,
    /// Who the opinion was requested from, if the request named them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opinion_requested_from: Option<Principal>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    /// A just-received application.
    pub const fn new() -> Self {
        Progress {
            stage: Stage::Received,
            phase: Phase::Intake,
            survey: SurveyTrack::NotScheduled,
            opinion: OpinionTrack::NotRequested,
            opinion_requested_from: None,
        }
    }

    /// Whether the application awaits the attending physician's opinion.
    pub fn awaits_opinion(&self) -> bool {
        self.phase == Phase::Intake && self.opinion == OpinionTrack::Requested
    }
}

/// The steps allowed from `state`, in table order, without repeats.
pub fn allowed_next(state: &Progress) -> Vec<Stage> {
    let mut out: Vec<Stage> = Vec::new();
    for row in TRANSITIONS {
        let ok = row.phase == state.phase
            && row.survey.is_none_or(|s| s == state.survey)
            && row.opinion.is_none_or(|o| o == state.opinion);
        if ok && !out.contains(&row.step) {
            out.push(row.step);
        }
    }
    out
}

/// The 409 for a step not allowed from `state`: names the current stage and
/// carries `current_stage` and `allowed_next` members.
pub fn transition_refused(state: &Progress, step: Stage) -> Problem {
    let allowed = allowed_next(state);
    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    let detail = if names.is_empty() {
        format!(
            "The application is {} and takes no further step; {step} is not allowed.",
            state.stage
        )
    } else {
        format!(
            "{step} is not allowed while the application is {} (survey {}, opinion {}); allowed next: {}.",
            state.stage,
            state.survey,
            state.opinion,
            names.join(", ")
        )
    };
    Problem::new(ProblemType::InvalidTransition, detail)
        .with_extension("current_stage", json!(state.stage.as_str()))
        .with_extension("allowed_next", json!(names))
}

/// The state after `step`, or the 409 refusal. `requested_from` is the
/// principal an `opinion_requested` step names, if any.
pub fn apply(
    state: &Progress,
    step: Stage,
    requested_from: Option<&Principal>,
) -> Result<Progress, Problem> {
    if !allowed_next(state).contains(&step) {
        return Err(transition_refused(state, step));
    }
    let mut next = state.clone();
    next.stage = step;
    match step {
        Stage::Received => unreachable!("never in the table"),
        Stage::SurveyScheduled => next.survey = SurveyTrack::Scheduled,
        Stage::SurveyDone => next.survey = SurveyTrack::Done,
        Stage::OpinionRequested => {
            next.opinion = OpinionTrack::Requested;
            next.opinion_requested_from = requested_from.cloned();
        }
        Stage::OpinionReceived => next.opinion = OpinionTrack::Received,
        Stage::PrimaryJudgment => next.phase = Phase::PrimaryJudgment,
        Stage::CommitteeScheduled => next.phase = Phase::CommitteeScheduled,
        Stage::Decided => next.phase = Phase::Decided,
        Stage::Notified => next.phase = Phase::Notified,
        Stage::Withdrawn => next.phase = Phase::Withdrawn,
    }
    Ok(next)
}

/// The state a recorded history leaves, or the first step that breaks the
/// machine (a history changed behind the hub's back).
pub fn replay<'a>(
    steps: impl IntoIterator<Item = (Stage, &'a Value)>,
) -> Result<Progress, Problem> {
    let mut state = Progress::new();
    for (step, details) in steps {
        let from = requested_from(details);
        state = apply(&state, step, from.as_ref())?;
    }
    Ok(state)
}

/// The `requested_from` principal of an `opinion_requested` step's details.
pub fn requested_from(details: &Value) -> Option<Principal> {
    details
        .get("requested_from")
        .and_then(Value::as_str)
        .and_then(|s| Principal::parse_urn(s).ok())
}

prefixed_id! {
    /// A certification application's id: `app_` and 32 lowercase hex digits.
    pub struct ApplicationId("app_") as "application_id";
}

impl ApplicationId {
    /// The id of an application about `person` created at `created_at` by a
    /// request with fingerprint `request`: SHA-256 over a versioned tag and
    /// the length-prefixed fields, cut to 16 bytes.
    pub fn derive(
        person: &PersonRef,
        application_type: ApplicationType,
        created_at: &str,
        request: &str,
    ) -> ApplicationId {
        ApplicationId::from_bytes(&length_prefixed_digest(&[
            b"carehub/application-id/v1",
            person.insurer_number.as_str().as_bytes(),
            person.insured_number.as_str().as_bytes(),
            application_type.as_str().as_bytes(),
            created_at.as_bytes(),
            request.as_bytes(),
        ]))
    }
}

/// The members an application's own details accept.
pub const APPLICATION_FIELDS: [&str; 3] = ["received_date", "application_document_id", "note"];

/// Checks what a municipality records with an application besides the
/// person and type: `received_date` (申請日, a date), the
/// `application_document_id` of the stored 要介護認定申請書, a `note`.
pub fn validate_application(details: &Value) -> Result<(), Vec<Violation>> {
    let Some(obj) = details.as_object() else {
        return Err(vec![Violation::new("", "must be a JSON object")]);
    };
    let mut v = Vec::new();
    for (key, value) in obj {
        let p = format!("/{key}");
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "received_date" => {
                if value.as_str().and_then(parse_date).is_none() {
                    v.push(Violation::new(p, "must be a date YYYY-MM-DD that exists"));
                }
            }
            "application_document_id" => {
                if value
                    .as_str()
                    .map(crate::docid::DocumentId::parse)
                    .is_none_or(|r| r.is_err())
                {
                    v.push(Violation::new(p, "must be a document id (doc_ + 32 hex)"));
                }
            }
            "note" => {
                if value.as_str().is_none_or(|s| s.trim().is_empty()) {
                    v.push(Violation::new(p, "must be a non-blank string"));
                }
            }
            _ => v.push(Violation::new(
                p,
                format!(
                    "unknown member; accepted: {}",
                    APPLICATION_FIELDS.join(", ")
                ),
            )),
        }
    }
    if v.is_empty() { Ok(()) } else { Err(v) }
}

/// The members each step's details accept, and which are required.
fn step_fields(step: Stage) -> (&'static [&'static str], &'static [&'static str]) {
    match step {
        Stage::Received => (&[], &[]),
        Stage::SurveyScheduled => (&["survey_date", "surveyor", "note"], &["survey_date"]),
        Stage::SurveyDone => (&["survey_date", "survey_document_id", "note"], &[]),
        Stage::OpinionRequested => (&["requested_from", "requested_date", "note"], &[]),
        Stage::OpinionReceived => (&["document_id", "submission_id", "note"], &[]),
        Stage::PrimaryJudgment => (&["estimated_care_level", "note"], &[]),
        Stage::CommitteeScheduled => (&["committee_date", "note"], &["committee_date"]),
        Stage::Decided => (
            &[
                "care_level",
                "certification_date",
                "validity_start_date",
                "validity_end_date",
                "monthly_benefit_limit_units",
                "committee_opinion",
                "certificate",
                "note",
            ],
            &["care_level", "certification_date"],
        ),
        Stage::Notified => (&["notified_date", "note"], &[]),
        Stage::Withdrawn => (&["reason"], &["reason"]),
    }
}

/// Checks a step's details (a JSON object): known members only, required
/// ones present, dates real, codes known; for a decision, the validity
/// period of a certified level, ordered, and a monthly limit not below the
/// national one. All violations at once.
pub fn validate_step(step: Stage, details: &Value) -> Result<(), Vec<Violation>> {
    let mut v = Vec::new();
    let Some(obj) = details.as_object() else {
        return Err(vec![Violation::new("", "must be a JSON object")]);
    };
    if step == Stage::Received {
        return Err(vec![Violation::new(
            "/step",
            "received is where an application starts, not a step",
        )]);
    }
    let (allowed, required) = step_fields(step);
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            v.push(Violation::new(
                format!("/{key}"),
                format!(
                    "unknown member for {step}; accepted: {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    let present = |k: &str| obj.get(k).filter(|x| !x.is_null());
    for key in required {
        if present(key).is_none() {
            v.push(Violation::new(format!("/{key}"), "is required"));
        }
    }
    for (key, value) in obj {
        if value.is_null() || !allowed.contains(&key.as_str()) {
            continue;
        }
        let p = format!("/{key}");
        if key.ends_with("_date") {
            if value.as_str().and_then(parse_date).is_none() {
                v.push(Violation::new(p, "must be a date YYYY-MM-DD that exists"));
            }
        } else if key.ends_with("_level") {
            if value
                .as_str()
                .and_then(|s| s.parse::<CareLevel>().ok())
                .is_none()
            {
                v.push(Violation::new(
                    p,
                    format!(
                        "must be a care level code, one of: {}",
                        CareLevel::NAMES.join(", ")
                    ),
                ));
            }
        } else if key == "requested_from" {
            match value.as_str().map(Principal::parse_urn) {
                Some(Ok(pr)) if matches!(pr.role(), Role::Medical | Role::CareService) => {}
                _ => v.push(Violation::new(
                    p,
                    "must be the URN of a medical institution or a care-service office (老健・介護医療院)",
                )),
            }
        } else if key == "monthly_benefit_limit_units" {
            if value.as_u64().is_none() {
                v.push(Violation::new(p, "must be a non-negative integer"));
            }
        } else if key == "certificate" {
            if !value.is_object() {
                v.push(Violation::new(p, "must be an object"));
            }
        } else if value.as_str().is_none_or(|s| s.trim().is_empty()) {
            v.push(Violation::new(p, "must be a non-blank string"));
        }
    }
    if step == Stage::Decided
        && let Some(level) = present("care_level")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<CareLevel>().ok())
    {
        decision_rules(level, obj, &mut v);
    }
    if v.is_empty() { Ok(()) } else { Err(v) }
}

fn decision_rules(level: CareLevel, obj: &Map<String, Value>, v: &mut Vec<Violation>) {
    let date = |k: &str| obj.get(k).and_then(Value::as_str).and_then(parse_date);
    if level.is_certified() {
        for key in ["validity_start_date", "validity_end_date"] {
            if obj.get(key).is_none_or(Value::is_null) {
                v.push(Violation::new(
                    format!("/{key}"),
                    format!("is required for a certified care level ({})", level.code()),
                ));
            }
        }
        if let (Some(a), Some(b)) = (date("validity_start_date"), date("validity_end_date"))
            && a > b
        {
            v.push(Violation::new(
                "/validity_end_date",
                "must not be before validity_start_date",
            ));
        }
        if let (Some(limit), Some(national)) = (
            obj.get("monthly_benefit_limit_units")
                .and_then(Value::as_u64),
            level.national_monthly_limit_units(),
        ) && limit < u64::from(national)
        {
            v.push(Violation::new(
                "/monthly_benefit_limit_units",
                format!(
                    "must be at least the national limit of {national} units for {}",
                    level.japanese_name()
                ),
            ));
        }
    } else {
        for key in [
            "validity_start_date",
            "validity_end_date",
            "monthly_benefit_limit_units",
        ] {
            if obj.get(key).is_some_and(|x| !x.is_null()) {
                v.push(Violation::new(
                    format!("/{key}"),
                    format!(
                        "not given for {} ({}), which has no validity period",
                        level.japanese_name(),
                        level.code()
                    ),
                ));
            }
        }
    }
}

/// Fields of an insurance certificate that a decision sets or clears.
const DECISION_FIELDS: [&str; 7] = [
    "certification_date",
    "validity_start_date",
    "validity_end_date",
    "monthly_benefit_limit_units",
    "limit_period_start_date",
    "limit_period_end_date",
    "committee_opinion",
];

/// The new version of the person's insurance certificate (被保険者証) that a
/// decision issues: the current certificate's content (if any), overlaid
/// with the decision's `certificate` members (e.g. the name for a first
/// certificate), then the decision itself — care level, certification date,
/// validity, the monthly limit (the national figure unless the decision
/// raises it) and its period, the committee's opinion; issued on the
/// certification date unless `certificate.issue_date` says otherwise. For
/// a level without certification (非該当, 事業対象者) the certification
/// fields are removed. The caller validates the result with
/// `validate_content` (a first certificate without a name is refused).
///
/// `details` must have passed [`validate_step`] for `decided`.
pub fn certificate_for_decision(
    person: &PersonRef,
    current: Option<&Value>,
    details: &Value,
) -> Value {
    let mut doc: Map<String, Value> = current
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let overlay = details.get("certificate").and_then(Value::as_object);
    let issue_date = overlay
        .and_then(|o| o.get("issue_date"))
        .or_else(|| details.get("certification_date"))
        .cloned();
    if let Some(o) = overlay {
        for (k, val) in o {
            doc.insert(k.clone(), val.clone());
        }
    }
    for key in DECISION_FIELDS {
        doc.remove(key);
    }
    doc.insert(
        "insurer_number".into(),
        json!(person.insurer_number.as_str()),
    );
    doc.insert(
        "insured_number".into(),
        json!(person.insured_number.as_str()),
    );
    let level = details
        .get("care_level")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<CareLevel>().ok());
    if let Some(level) = level {
        doc.insert("care_level".into(), json!(level.code()));
        if let Some(d) = issue_date {
            doc.insert("issue_date".into(), d);
        }
        if level.is_certified() {
            for key in [
                "certification_date",
                "validity_start_date",
                "validity_end_date",
            ] {
                if let Some(val) = details.get(key) {
                    doc.insert(key.into(), val.clone());
                }
            }
            let limit = details
                .get("monthly_benefit_limit_units")
                .and_then(Value::as_u64)
                .or(level.national_monthly_limit_units().map(u64::from));
            if let Some(limit) = limit {
                doc.insert("monthly_benefit_limit_units".into(), json!(limit));
            }
            if let Some(start) = details.get("validity_start_date") {
                doc.insert("limit_period_start_date".into(), start.clone());
            }
            if let Some(end) = details.get("validity_end_date") {
                doc.insert("limit_period_end_date".into(), end.clone());
            }
        }
        if let Some(op) = details.get("committee_opinion") {
            doc.insert("committee_opinion".into(), op.clone());
        }
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{example_content, validate_content};
    use crate::ids::{InsuredNumber, InsurerNumber};
    use crate::kinds::DocumentKind;
    use proptest::prelude::*;

    fn person() -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000012345").unwrap(),
        )
    }

    fn run(steps: &[Stage]) -> Result<Progress, Problem> {
        let mut s = Progress::new();
        for &step in steps {
            s = apply(&s, step, None)?;
        }
        Ok(s)
    }

    #[test]
    fn the_happy_path() {
        use Stage::*;
        let s = run(&[
            SurveyScheduled,
            OpinionRequested,
            SurveyDone,
            OpinionReceived,
            PrimaryJudgment,
            CommitteeScheduled,
            Decided,
            Notified,
        ])
        .unwrap();
        assert_eq!(s.stage, Notified);
        assert!(allowed_next(&s).is_empty());
        assert!(!s.stage.is_open());
    }

    #[test]
    fn allowed_from_the_start() {
        assert_eq!(
            allowed_next(&Progress::new()),
            [
                Stage::SurveyScheduled,
                Stage::OpinionRequested,
                Stage::Withdrawn
            ]
        );
    }

    #[test]
    fn no_decision_before_survey_and_opinion() {
        use Stage::*;
        let s = run(&[SurveyScheduled, SurveyDone, OpinionRequested]).unwrap();
        let p = apply(&s, Decided, None).unwrap_err();
        assert_eq!(p.type_, ProblemType::InvalidTransition);
        assert_eq!(p.status(), 409);
        let body = p.to_json();
        assert_eq!(body["current_stage"], "opinion_requested");
        assert_eq!(
            body["allowed_next"],
            json!(["opinion_received", "withdrawn"])
        );
        let p = apply(&s, PrimaryJudgment, None).unwrap_err();
        assert_eq!(p.type_, ProblemType::InvalidTransition);
        assert!(s.awaits_opinion());
    }

    #[test]
    fn closed_applications_take_no_step() {
        let s = run(&[Stage::Withdrawn]).unwrap();
        let p = apply(&s, Stage::SurveyScheduled, None).unwrap_err();
        assert_eq!(p.to_json()["allowed_next"], json!([]));
    }

    #[test]
    fn replay_carries_the_requested_institution() {
        let d = json!({"requested_from": "urn:carehub:medical:1312345678"});
        let empty = json!({});
        let s = replay([
            (Stage::OpinionRequested, &d),
            (Stage::SurveyScheduled, &empty),
        ])
        .unwrap();
        assert_eq!(
            s.opinion_requested_from.unwrap().to_urn(),
            "urn:carehub:medical:1312345678"
        );
        assert!(replay([(Stage::Decided, &empty)]).is_err());
    }

    #[test]
    fn step_details() {
        assert!(
            validate_step(
                Stage::SurveyScheduled,
                &json!({"survey_date": "2025-02-10"})
            )
            .is_ok()
        );
        let v = validate_step(
            Stage::SurveyScheduled,
            &json!({"survey_date": "2025-02-30", "x": 1}),
        )
        .unwrap_err();
        let ptrs: Vec<_> = v.iter().map(|v| v.pointer.as_str()).collect();
        assert_eq!(ptrs, ["/x", "/survey_date"]);
        assert!(validate_step(Stage::Withdrawn, &json!({})).is_err());
        assert!(
            validate_step(
                Stage::OpinionRequested,
                &json!({"requested_from": "urn:carehub:care-manager:1371234567"})
            )
            .is_err()
        );
        let ok = json!({"care_level": "22", "certification_date": "2025-03-25",
            "validity_start_date": "2025-04-01", "validity_end_date": "2026-03-31"});
        assert!(validate_step(Stage::Decided, &ok).is_ok());
        let mut low = ok.clone();
        low["monthly_benefit_limit_units"] = json!(100);
        assert_eq!(validate_step(Stage::Decided, &low).unwrap_err().len(), 1);
        let missing = json!({"care_level": "22", "certification_date": "2025-03-25"});
        assert_eq!(
            validate_step(Stage::Decided, &missing).unwrap_err().len(),
            2
        );
        let none = json!({"care_level": "01", "certification_date": "2025-03-25"});
        assert!(validate_step(Stage::Decided, &none).is_ok());
        assert!(validate_step(Stage::Received, &json!({})).is_err());
        assert!(
            validate_application(&json!({"received_date": "2025-01-20", "note": "窓口"})).is_ok()
        );
        assert_eq!(
            validate_application(
                &json!({"received_date": "x", "other": 1, "application_document_id": "d"})
            )
            .unwrap_err()
            .len(),
            3
        );
    }

    #[test]
    fn a_decision_issues_a_valid_certificate() {
        let p = person();
        let current = example_content(DocumentKind::InsuranceCertificate, &p);
        let d = json!({"care_level": "23", "certification_date": "2026-03-20",
            "validity_start_date": "2026-04-01", "validity_end_date": "2027-03-31"});
        let cert = certificate_for_decision(&p, Some(&current), &d);
        assert_eq!(cert["care_level"], "23");
        assert_eq!(cert["monthly_benefit_limit_units"], 27048);
        assert_eq!(cert["issue_date"], "2026-03-20");
        assert_eq!(cert["name"], current["name"]);
        validate_content(DocumentKind::InsuranceCertificate, &p, &cert).unwrap();

        // A first certificate needs the person's details from the decision.
        let bare = certificate_for_decision(&p, None, &d);
        assert!(validate_content(DocumentKind::InsuranceCertificate, &p, &bare).is_err());
        let mut with = d.clone();
        let mut base = current.clone();
        for k in DECISION_FIELDS.iter().chain(&["care_level", "issue_date"]) {
            base.as_object_mut().unwrap().remove(*k);
        }
        with["certificate"] = base;
        let first = certificate_for_decision(&p, None, &with);
        validate_content(DocumentKind::InsuranceCertificate, &p, &first).unwrap();

        // 非該当 clears the certification fields.
        let n = json!({"care_level": "01", "certification_date": "2026-03-20"});
        let cert = certificate_for_decision(&p, Some(&current), &n);
        assert!(cert.get("validity_start_date").is_none());
        validate_content(DocumentKind::InsuranceCertificate, &p, &cert).unwrap();
    }

    #[test]
    fn application_ids() {
        let p = person();
        let a = ApplicationId::derive(&p, ApplicationType::New, "t", "f");
        // Pinned: ids are stored and appear in URLs.
        assert_eq!(a.as_str(), "app_39357284b605e8e2cfa4af301998d781");
        assert_eq!(ApplicationId::parse(a.as_str()).unwrap(), a);
        assert!(ApplicationId::parse("app_XYZ").is_err());
    }

    fn any_step() -> impl Strategy<Value = Stage> {
        prop::sample::select(Stage::ALL.to_vec())
    }

    proptest! {
        /// Whatever is attempted, in whatever order: only allowed steps
        /// change the state, refusals list exactly the allowed steps, and no
        /// decision comes before both the survey and the opinion.
        #[test]
        fn the_machine_holds(attempts in prop::collection::vec(any_step(), 0..40)) {
            let mut state = Progress::new();
            let mut history: Vec<Stage> = Vec::new();
            for step in attempts {
                let allowed = allowed_next(&state);
                prop_assert!(!allowed.contains(&Stage::Received));
                match apply(&state, step, None) {
                    Ok(next) => {
                        prop_assert!(allowed.contains(&step));
                        prop_assert_eq!(next.stage, step);
                        history.push(step);
                        state = next;
                    }
                    Err(p) => {
                        prop_assert!(!allowed.contains(&step));
                        prop_assert_eq!(p.status(), 409);
                        let listed: Vec<String> = p.to_json()["allowed_next"]
                            .as_array().unwrap().iter()
                            .map(|v| v.as_str().unwrap().to_owned()).collect();
                        let expected: Vec<String> = allowed.iter().map(|s| s.as_str().to_owned()).collect();
                        prop_assert_eq!(listed, expected);
                    }
                }
            }
            if let Some(i) = history.iter().position(|s| *s == Stage::Decided) {
                let before = &history[..i];
                prop_assert!(before.contains(&Stage::SurveyDone));
                prop_assert!(before.contains(&Stage::OpinionReceived));
                prop_assert!(before.contains(&Stage::PrimaryJudgment));
                prop_assert!(before.contains(&Stage::CommitteeScheduled));
            }
            // Closed is final; each step happens at most once.
            if !state.stage.is_open() {
                prop_assert!(allowed_next(&state).is_empty());
            }
            for s in Stage::ALL {
                prop_assert!(history.iter().filter(|h| **h == s).count() <= 1);
            }
            // Replaying the history gives the same state.
            let empty = json!({});
            let replayed = replay(history.iter().map(|s| (*s, &empty))).unwrap();
            prop_assert_eq!(replayed, state);
        }
    }
}
