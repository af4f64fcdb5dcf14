//! The submission relay (DESIGN §7): store-and-forward of a sender's
//! submission to the person's municipality, with receipts.
//!
//! Two types of submission:
//!
//! * `care_plan_request` — 居宅サービス計画作成依頼（変更）届出, from a
//!   care-manager office registered for the person while the person's
//!   consent is in force;
//! * `physician_opinion` — 主治医意見書, from a medical institution (or a
//!   care-service office: 老健・介護医療院) for an application of the person's
//!   municipality that awaits an opinion. It is also stored as a document
//!   authored by the sender and moves the application to
//!   `opinion_received`.
//!
//! States: `accepted` (stored) → `delivered` (the municipality pulled it)
//! → `acknowledged` (with the municipality's receipt number) | `rejected`
//! (with a reason). An answer is final; repeating the same answer is
//! harmless and returns it again, a different one is a 409.

use serde_json::Value;

use crate::content::{Violation, parse_date};
use crate::docid::length_prefixed_digest;
use crate::ids::OfficeNumber;
use crate::macros::{prefixed_id, string_enum};
use crate::principal::{PersonRef, Principal};
use crate::problem::{Problem, ProblemType};

string_enum! {
    /// What is relayed.
    pub enum SubmissionType as "submission type" {
        /// 居宅サービス計画作成依頼（変更）届出 — a care-manager office notifies
        /// the municipality that it makes the person's care plan.
        CarePlanRequest = "care_plan_request",
        /// 主治医意見書 — the attending physician's opinion the municipality
        /// requested for a certification application.
        PhysicianOpinion = "physician_opinion",
    }
}

string_enum! {
    /// Where a submission stands.
    pub enum SubmissionState as "submission state" {
        /// Stored by the hub, not yet pulled.
        Accepted = "accepted",
        /// Pulled by the municipality.
        Delivered = "delivered",
        /// Acknowledged with the municipality's receipt number (final).
        Acknowledged = "acknowledged",
        /// Rejected with a reason (final).
        Rejected = "rejected",
    }
}

impl SubmissionState {
    /// Whether the municipality has answered.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            SubmissionState::Acknowledged | SubmissionState::Rejected
        )
    }
}

string_enum! {
    /// 届出の区分 of a care-plan request.
    pub enum CarePlanRequestType as "care plan request type" {
        /// 新規 — the first notification.
        New = "new",
        /// 変更 — the person changes care-manager office.
        Change = "change",
    }
}

prefixed_id! {
    /// A submission's id: `sub_` and 32 lowercase hex digits, derived from the
    /// sender and its idempotency key, so that one key names one submission.
    pub struct SubmissionId("sub_") as "submission_id";
}

impl SubmissionId {
    /// The id of `sender`'s submission under idempotency key `key`.
    pub fn derive(sender: &Principal, key: &str) -> SubmissionId {
        SubmissionId::from_bytes(&length_prefixed_digest(&[
            b"carehub/submission-id/v1",
            sender.to_urn().as_bytes(),
            key.as_bytes(),
        ]))
    }
}

fn text(obj: &serde_json::Map<String, Value>, key: &str, base: &str, v: &mut Vec<Violation>) {
    match obj.get(key) {
        None | Some(Value::Null) => v.push(Violation::new(format!("{base}/{key}"), "is required")),
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(_) => v.push(Violation::new(
            format!("{base}/{key}"),
            "must be a non-blank string",
        )),
    }
}

/// Checks a 居宅サービス計画作成依頼（変更）届出 sent by `sender` about
/// `person`: `request_type` (new / change), `notification_date` (届出日),
/// `insured_name` (被保険者氏名), `office` {`office_number` — the sender's
/// own —, `name`, `address`}; optional `birth_date`, `care_manager_name`,
/// `start_date` (計画作成開始日), and for a change `previous_office`
/// {`office_number`, `name`}, `change_reason`. `insured_number` /
/// `insurer_number`, when present, must be the person's. Other members are
/// kept as sent.
pub fn validate_care_plan_request(
    sender: &Principal,
    person: &PersonRef,
    content: &Value,
) -> Result<(), Vec<Violation>> {
    let Some(obj) = content.as_object() else {
        return Err(vec![Violation::new("", "must be a JSON object")]);
    };
    let mut v = Vec::new();
    match obj.get("request_type").and_then(Value::as_str) {
        Some(s) if s.parse::<CarePlanRequestType>().is_ok() => {}
        _ => v.push(Violation::new(
            "/request_type",
            "is required: new (新規) or change (変更)",
        )),
    }
    for key in ["notification_date", "birth_date", "start_date"] {
        match obj.get(key) {
            None | Some(Value::Null) if key != "notification_date" => {}
            Some(Value::String(s)) if parse_date(s).is_some() => {}
            _ => v.push(Violation::new(
                format!("/{key}"),
                "must be a date YYYY-MM-DD that exists",
            )),
        }
    }
    text(obj, "insured_name", "", &mut v);
    for key in ["care_manager_name", "change_reason"] {
        if obj.get(key).is_some_and(|x| !x.is_null()) {
            text(obj, key, "", &mut v);
        }
    }
    for (key, expected) in [
        ("insured_number", person.insured_number.as_str()),
        ("insurer_number", person.insurer_number.as_str()),
    ] {
        match obj.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == expected => {}
            Some(_) => v.push(Violation::new(
                format!("/{key}"),
                format!("does not match the person's {key}"),
            )),
        }
    }
    match obj.get("office") {
        Some(Value::Object(o)) => {
            text(o, "name", "/office", &mut v);
            text(o, "address", "/office", &mut v);
            match o.get("office_number").and_then(Value::as_str) {
                Some(n) if Some(n) == sender.office_number().map(OfficeNumber::as_str) => {}
                Some(_) => v.push(Violation::new(
                    "/office/office_number",
                    "must be the sending office's own number",
                )),
                None => v.push(Violation::new("/office/office_number", "is required")),
            }
        }
        _ => v.push(Violation::new("/office", "is required: an object")),
    }
    match obj.get("previous_office") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            text(o, "name", "/previous_office", &mut v);
            if o.get("office_number")
                .and_then(Value::as_str)
                .map(OfficeNumber::parse)
                .is_none_or(|r| r.is_err())
            {
                v.push(Violation::new(
                    "/previous_office/office_number",
                    "must be an office number (10 characters)",
                ));
            }
        }
        Some(_) => v.push(Violation::new("/previous_office", "must be an object")),
    }
    if v.is_empty() { Ok(()) } else { Err(v) }
}

/// The municipality's answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionAnswer {
    /// 受理 with the municipality's receipt number.
    Acknowledge {
        /// The receipt number (1–64 visible characters).
        receipt_number: String,
    },
    /// 返戻 with a reason.
    Reject {
        /// Why.
        reason: String,
    },
}

impl SubmissionAnswer {
    /// The state the answer leads to.
    pub fn state(&self) -> SubmissionState {
        match self {
            SubmissionAnswer::Acknowledge { .. } => SubmissionState::Acknowledged,
            SubmissionAnswer::Reject { .. } => SubmissionState::Rejected,
        }
    }
}

/// What answering a submission does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerEffect {
    /// Record the answer.
    Record,
    /// The same answer was recorded before: answer as before, store nothing.
    AlreadyRecorded,
}

/// Checks an answer's text: a receipt number of 1–64 visible ASCII or
/// other non-space characters; a non-blank reason of at most 2,000
/// characters.
pub fn validate_answer(answer: &SubmissionAnswer) -> Result<(), Vec<Violation>> {
    match answer {
        SubmissionAnswer::Acknowledge { receipt_number } => {
            let n = receipt_number.chars().count();
            if n == 0 || n > 64 || receipt_number.chars().any(char::is_whitespace) {
                return Err(vec![Violation::new(
                    "/receipt_number",
                    "must be 1–64 characters without spaces",
                )]);
            }
        }
        SubmissionAnswer::Reject { reason } => {
            if reason.trim().is_empty() || reason.chars().count() > 2000 {
                return Err(vec![Violation::new(
                    "/reason",
                    "must be a non-blank text of at most 2000 characters",
                )]);
            }
        }
    }
    Ok(())
}

/// Whether `answer` may be recorded for a submission in `state` whose
/// recorded answer (if final) is `recorded`. The same answer again is
/// [`AnswerEffect::AlreadyRecorded`]; any other answer to an answered
/// submission is a 409 `conflict`.
pub fn check_answer(
    state: SubmissionState,
    recorded: Option<&SubmissionAnswer>,
    answer: &SubmissionAnswer,
) -> Result<AnswerEffect, Problem> {
    if !state.is_final() {
        return Ok(AnswerEffect::Record);
    }
    if recorded == Some(answer) {
        return Ok(AnswerEffect::AlreadyRecorded);
    }
    let detail = match (recorded, answer) {
        (Some(SubmissionAnswer::Acknowledge { .. }), SubmissionAnswer::Acknowledge { .. }) => {
            "The submission was already acknowledged with another receipt number."
        }
        (Some(SubmissionAnswer::Reject { .. }), SubmissionAnswer::Reject { .. }) => {
            "The submission was already rejected with another reason."
        }
        _ => "The submission was already answered otherwise; an answer is final.",
    };
    Err(Problem::new(ProblemType::Conflict, detail)
        .with_extension("state", serde_json::json!(state.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{InsuredNumber, InsurerNumber};
    use proptest::prelude::*;
    use serde_json::json;

    fn person() -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000012345").unwrap(),
        )
    }

    fn cm() -> Principal {
        Principal::parse_urn("urn:carehub:care-manager:1371234567").unwrap()
    }

    fn request() -> Value {
        json!({
            "request_type": "new",
            "notification_date": "2025-04-03",
            "insured_name": "介護 太郎",
            "birth_date": "1943-05-12",
            "office": {"office_number": "1371234567", "name": "霞が関居宅介護支援事業所",
                       "address": "東京都千代田区霞が関一丁目3番1号"}
        })
    }

    #[test]
    fn care_plan_requests() {
        validate_care_plan_request(&cm(), &person(), &request()).unwrap();
        let mut r = request();
        r["office"]["office_number"] = json!("1371234568");
        r["request_type"] = json!("renew");
        r["notification_date"] = json!("2025-02-30");
        r["insured_number"] = json!("0000099999");
        let v = validate_care_plan_request(&cm(), &person(), &r).unwrap_err();
        let ptrs: Vec<_> = v.iter().map(|v| v.pointer.as_str()).collect();
        assert_eq!(
            ptrs,
            [
                "/request_type",
                "/notification_date",
                "/insured_number",
                "/office/office_number"
            ]
        );
        assert!(validate_care_plan_request(&cm(), &person(), &json!([])).is_err());
    }

    #[test]
    fn ids() {
        let a = SubmissionId::derive(&cm(), "k1");
        // Pinned: one idempotency key must keep naming one submission.
        assert_eq!(a.as_str(), "sub_8b806d226b6895747ed004784ed890b7");
        assert_eq!(a, SubmissionId::derive(&cm(), "k1"));
        assert_ne!(a, SubmissionId::derive(&cm(), "k2"));
        assert_eq!(SubmissionId::parse(a.as_str()).unwrap(), a);
        assert!(SubmissionId::parse("sub_x").is_err());
    }

    fn ack(n: &str) -> SubmissionAnswer {
        SubmissionAnswer::Acknowledge {
            receipt_number: n.into(),
        }
    }

    #[test]
    fn answers() {
        use SubmissionState::*;
        assert_eq!(
            check_answer(Accepted, None, &ack("R-1")),
            Ok(AnswerEffect::Record)
        );
        assert_eq!(
            check_answer(Delivered, None, &ack("R-1")),
            Ok(AnswerEffect::Record)
        );
        assert_eq!(
            check_answer(Acknowledged, Some(&ack("R-1")), &ack("R-1")),
            Ok(AnswerEffect::AlreadyRecorded)
        );
        let p = check_answer(Acknowledged, Some(&ack("R-1")), &ack("R-2")).unwrap_err();
        assert_eq!(p.status(), 409);
        let reject = SubmissionAnswer::Reject {
            reason: "記載漏れ".into(),
        };
        assert!(check_answer(Acknowledged, Some(&ack("R-1")), &reject).is_err());
        assert!(validate_answer(&ack("")).is_err());
        assert!(validate_answer(&ack("R 1")).is_err());
        assert!(validate_answer(&SubmissionAnswer::Reject { reason: " ".into() }).is_err());
    }

    proptest! {
        /// Whatever answers arrive in whatever order, the first one recorded
        /// stays: later ones are either the same (replayed) or refused.
        #[test]
        fn the_first_answer_is_final(answers in prop::collection::vec((any::<bool>(), 0u8..3), 1..12)) {
            let mut state = SubmissionState::Delivered;
            let mut recorded: Option<SubmissionAnswer> = None;
            for (is_ack, n) in answers {
                let a = if is_ack { ack(&format!("R-{n}")) } else { SubmissionAnswer::Reject { reason: format!("reason {n}") } };
                match check_answer(state, recorded.as_ref(), &a) {
                    Ok(AnswerEffect::Record) => {
                        prop_assert!(recorded.is_none());
                        state = a.state();
                        recorded = Some(a);
                    }
                    Ok(AnswerEffect::AlreadyRecorded) => prop_assert_eq!(recorded.as_ref(), Some(&a)),
                    Err(p) => {
                        prop_assert_eq!(p.status(), 409);
                        prop_assert!(recorded.as_ref() != Some(&a));
                    }
                }
            }
            prop_assert!(state.is_final());
        }
    }
}
