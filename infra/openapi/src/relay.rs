//! `functions/relay`: submissions (居宅サービス計画作成依頼（変更）届出,
//! 主治医意見書) stored for the person's municipality, pulled from its
//! inbox and answered with a receipt or a rejection.

use carehub_domain::policy::table::Operation;
use carehub_domain::{SubmissionState, SubmissionType};
use carehub_relay::handler::{BODY_LIMIT, PREFIX};
use serde_json::{Map, Value, json};

use crate::Part;
use crate::callers;
use crate::common::{
    Op, READ, Response, WRITE, WRITE_UNCHECKED, body_limit, closed, date_time, date_time_or_null,
    id, json_body, object, page, page_params, param, path, path_param, schema,
};

const TAG: &str = "relay";

/// Relay's paths, parameters and schemas.
pub fn part() -> Part {
    let mut parameters = Map::new();
    parameters.insert(
        "SubmissionIdPath".into(),
        path_param(
            "submission_id",
            Some("A relayed submission's id."),
            id("sub"),
        ),
    );
    let mut schemas = Map::new();
    schemas.insert("Submission".into(), submission());
    let one = format!("{PREFIX}/submissions/{{submission_id}}");
    Part {
        tag: TAG,
        about: "Store-and-forward of 居宅サービス計画作成依頼（変更）届出 and 主治医意見書 to the person's municipality, with receipts.",
        paths: vec![
            path(format!("{PREFIX}/submissions"), [submit()]),
            path(one.clone(), [show()]),
            path(format!("{one}/acknowledge"), [answer(Answer::Acknowledge)]),
            path(format!("{one}/reject"), [answer(Answer::Reject)]),
            path(format!("{PREFIX}/inbox"), [inbox()]),
        ],
        schemas,
        parameters,
    }
}

fn submit() -> Op {
    let types: Vec<(&str, Operation)> = SubmissionType::ALL
        .into_iter()
        .map(|t| (t.as_str(), Operation::Send(t)))
        .collect();
    let request = closed(
        &["type", "person", "content"],
        json!({
            "type": { "enum": SubmissionType::NAMES },
            "person": schema("PersonRef"),
            "application_id": { "type": "string" },
            "content": { "type": "object" },
        }),
    );
    Op::post("submit", TAG, "Send a submission to the person's municipality")
        .about(format!(
            "`care_plan_request` — 居宅サービス計画作成依頼（変更）届出; `content`: `request_type` (new 新規 / change 変更), `notification_date`, `insured_name`, `office` {{`office_number` (the sender's), `name`, `address`}}, optional `birth_date`, `start_date`, `care_manager_name`, `previous_office`, `change_reason` (422 `invalid-submission`). `physician_opinion` — 主治医意見書 (from a care-service office: a 老健・介護医療院), with `application_id`; `content` is a physician_opinion document (422 `invalid-document`). The application must be the person's and await an opinion (409 `invalid-transition` otherwise); if the request named an institution, only that one may answer. The opinion is also stored as the sender's physician_opinion document (key: the application id), shared per the matrix, and moves the application to `opinion_received` — all in one transaction. `Idempotency-Key` is required (`idempotency-key-missing`): the same submission sent again with it is stored once. Every refusal concerning the person (not registered, no consent, an application that is not theirs or not asked of the sender) is the same 403 `forbidden`; a role that does not send the type gets `role-not-allowed`. {}",
            body_limit(BODY_LIMIT)
        ))
        .who(callers::per_role("submission type", &types))
        .params([param("IdempotencyKey")])
        .body(json_body(request))
        .answers(
            201,
            Response::json(
                "Accepted (or, for the same key and body again, the stored answer with `Idempotent-Replayed: true`).",
                schema("Submission"),
            )
            .location("`/api/relay/submissions/{submission_id}`."),
        )
        .problems(WRITE)
}

fn show() -> Op {
    Op::get("showSubmission", TAG, "Where a submission stands")
        .about(
            "Callers not listed below, and an id that names nothing, get the same 403 `forbidden`.",
        )
        .who(callers::line(Operation::ViewSubmission))
        .params([param("SubmissionIdPath")])
        .answers(
            200,
            Response::json(
                "The submission, its state, answer and history.",
                schema("Submission"),
            ),
        )
        .problems(READ)
}

/// The municipality's two final answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Acknowledge,
    Reject,
}

fn answer(answer: Answer) -> Op {
    let (id, summary, field, field_doc) = match answer {
        Answer::Acknowledge => (
            "acknowledgeSubmission",
            "Acknowledge a submission with a receipt number (受理)",
            "receipt_number",
            "The municipality's receipt number: 1–64 characters without spaces.",
        ),
        Answer::Reject => (
            "rejectSubmission",
            "Reject a submission with a reason (返戻)",
            "reason",
            "Why: non-blank, at most 2,000 characters.",
        ),
    };
    let request = closed(
        &[field],
        json!({ field: { "type": "string", "description": field_doc } }),
    );
    Op::post(id, TAG, summary)
        .about(format!(
            "The recipient municipality's final answer. The same answer again returns the submission unchanged (acknowledging twice gives the same receipt); any other answer to an answered submission is 409 `conflict`. Other municipalities get 403 `forbidden`, other roles `role-not-allowed`. {}",
            body_limit(BODY_LIMIT)
        ))
        .who(callers::line(Operation::AnswerSubmission))
        .params([param("SubmissionIdPath"), param("IdempotencyKey")])
        .body(json_body(request))
        .answers(
            200,
            Response::json(
                "Answered (or the same answer again: the submission as it stands).",
                schema("Submission"),
            ),
        )
        .problems(WRITE_UNCHECKED)
}

fn inbox() -> Op {
    Op::get("pullInbox", TAG, "Pull the municipality's inbox")
        .about("Pulling marks accepted submissions delivered. A delivered submission stays in the inbox until it is acknowledged or rejected, so nothing is lost if a pull's answer never arrives. Other roles get `role-not-allowed`.")
        .who(callers::line(Operation::PullInbox))
        .params(page_params())
        .answers(
            200,
            Response::json(
                "Unanswered submissions to the calling municipality, oldest first; those pulled for the first time are now `delivered`.",
                page(&[], "items", schema("Submission")),
            ),
        )
        .problems(READ)
}

/// A submission and where its delivery stands.
fn submission() -> Value {
    let state = json!({ "enum": SubmissionState::NAMES });
    let event = json!({
        "type": "object",
        "properties": { "state": state, "by": { "type": "string" }, "at": date_time() },
    });
    let mut s = object(
        &[
            "submission_id",
            "type",
            "sender",
            "recipient",
            "person",
            "state",
            "accepted_at",
            "content",
            "history",
        ],
        json!({
            "submission_id": id("sub"),
            "type": { "enum": SubmissionType::NAMES },
            "sender": { "type": "string", "description": "Principal URN." },
            "recipient": { "type": "string", "description": "The person's municipality, as a principal URN." },
            "person": schema("PersonRef"),
            "application_id": { "type": "string", "description": "physician_opinion: the application it answers." },
            "document_id": { "type": "string", "description": "physician_opinion: the document it was stored as." },
            "state": state,
            "receipt_number": { "type": "string" },
            "reason": { "type": "string" },
            "accepted_at": date_time(),
            "delivered_at": date_time_or_null(),
            "answered_at": date_time_or_null(),
            "content": { "type": "object" },
            "history": { "type": "array", "items": event },
        }),
    );
    s["description"] = json!(
        "A relayed submission and where its delivery stands: accepted → delivered (pulled by the municipality) → acknowledged (with `receipt_number`) | rejected (with `reason`)."
    );
    s
}
