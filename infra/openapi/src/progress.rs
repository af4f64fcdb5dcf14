//! `functions/progress`: certification applications (要介護認定申請) and
//! their steps, recorded by the municipality and followed by the person and
//! a registered care manager.

use carehub_domain::policy::table::Operation;
use carehub_domain::{ApplicationType, OpinionTrack, Stage, SurveyTrack};
use carehub_progress::handler::{BODY_LIMIT, PREFIX};
use serde_json::{Map, Value, json};

use crate::Part;
use crate::callers;
use crate::common::{
    Op, READ, Response, WRITE, WRITE_UNCHECKED, body_limit, closed, date_time, id, json_body,
    object, page, page_params, param, path, path_param, person_params, schema,
};

const TAG: &str = "progress";

/// Progress's paths, parameters and schemas.
pub fn part() -> Part {
    let mut parameters = Map::new();
    parameters.insert(
        "ApplicationIdPath".into(),
        path_param(
            "application_id",
            Some("A certification application's id."),
            id("app"),
        ),
    );
    let mut list = page(&[], "items", schema("Application"));
    list["description"] = json!("A page of certification applications, newest first.");
    let mut schemas = Map::new();
    schemas.insert("Application".into(), application());
    schemas.insert("ApplicationList".into(), list);
    Part {
        tag: TAG,
        about: "Certification progress (要介護認定の進捗): the municipality records and advances applications; the person and a registered care manager with consent follow them.",
        paths: vec![
            path(format!("{PREFIX}/applications"), [create(), list_open()]),
            path(
                format!("{PREFIX}/applications/{{application_id}}"),
                [show()],
            ),
            path(
                format!("{PREFIX}/applications/{{application_id}}/steps"),
                [advance()],
            ),
            path(
                format!("{PREFIX}/persons/{{insurer_number}}/{{insured_number}}/applications"),
                [list_person()],
            ),
        ],
        schemas,
        parameters,
    }
}

fn create() -> Op {
    let request = closed(
        &["person", "application_type"],
        json!({
            "person": schema("PersonRef"),
            "application_type": { "enum": ApplicationType::NAMES },
            "received_date": { "type": "string", "format": "date" },
            "application_document_id": { "type": "string" },
            "note": { "type": "string" },
        }),
    );
    Op::post("createApplication", TAG, "Record a certification application (要介護認定申請)")
        .about(format!(
            "Records a new, renewal or change-of-category application: `person`, `application_type`, optional `received_date`, `application_document_id` (the stored 要介護認定申請書) and `note`. Another municipality gets `wrong-municipality`, other roles `role-not-allowed`. {}",
            body_limit(BODY_LIMIT)
        ))
        .who(callers::line(Operation::ManageProgress))
        .params([param("IdempotencyKey")])
        .body(json_body(request))
        .answers(
            201,
            Response::json("Recorded at stage `received`.", schema("Application"))
                .location("`/api/progress/applications/{application_id}`."),
        )
        .problems(WRITE_UNCHECKED)
}

fn list_open() -> Op {
    let stage = json!({ "name": "stage", "in": "query", "required": false, "schema": { "enum": Stage::NAMES } });
    Op::get("listOpenApplications", TAG, "The municipality's open applications, by stage")
        .about("Open means neither notified nor withdrawn. `stage` keeps only those whose latest step is that stage. Other roles get `role-not-allowed`. A page is a read of each person on it: one access-log entry per person, naming their applications.")
        .who(callers::line(Operation::ListOpenApplications))
        .params([stage].into_iter().chain(page_params()))
        .answers(
            200,
            Response::json(
                "The calling municipality's open applications, newest first.",
                schema("ApplicationList"),
            ),
        )
        .problems(READ)
}

fn show() -> Op {
    Op::get("showApplication", TAG, "An application's current stage and timeline")
        .about("Callers not listed below, and an id that names nothing, get the same 403 `forbidden`. Every read and refused read is written to the person's access log.")
        .who(callers::line(Operation::ViewProgress))
        .person_token()
        .params([param("ApplicationIdPath")])
        .answers(
            200,
            Response::json(
                "The application, its stage and its timeline.",
                schema("Application"),
            ),
        )
        .problems(READ)
}

fn advance() -> Op {
    let steps: Vec<&str> = Stage::NAMES.iter().skip(1).copied().collect();
    let mut request = object(&["step"], json!({ "step": { "enum": steps } }));
    request["additionalProperties"] = json!(true);
    Op::post("advanceApplication", TAG, "Move an application on by one step")
        .about(format!(
            "`{{\"step\": <stage>, …details}}`. received → survey_scheduled (`survey_date`) → survey_done, and in parallel opinion_requested (optional `requested_from`: the medical institution or 老健・介護医療院 asked) → opinion_received; then primary_judgment (needs both tracks finished) → committee_scheduled (`committee_date`) → decided (`care_level`, `certification_date`; for levels 11–25 `validity_start_date`, `validity_end_date`, optional `monthly_benefit_limit_units` not below the national limit, `committee_opinion`, `certificate`) → notified; withdrawn (`reason`) from any stage before the decision. A step the machine does not allow is 409 `invalid-transition` with `current_stage` and `allowed_next`; details that break the step's rules are 422 `invalid-progress-step`. A decision stores the next version of the person's insurance certificate (被保険者証, key `current`) in the same transaction: the current certificate with the new care level, certification date, validity and limit (a first certificate takes the person's details from `certificate`); a certificate that would break its form is 422 `invalid-document`. Callers not listed below get 403 `forbidden`. {}",
            body_limit(BODY_LIMIT)
        ))
        .who(callers::line(Operation::ManageProgress))
        .params([param("ApplicationIdPath"), param("IdempotencyKey")])
        .body(json_body(request))
        .answers(
            200,
            Response::json(
                "The step was recorded; the application as it now stands.",
                schema("Application"),
            ),
        )
        .problems(WRITE)
}

fn list_person() -> Op {
    Op::get("listPersonApplications", TAG, "The person's certification applications")
        .about("Callers not listed below get 403 `forbidden`. Every read and refused read is written to the person's access log.")
        .who(callers::line(Operation::ViewProgress))
        .person_token()
        .params(person_params().into_iter().chain(page_params()))
        .answers(
            200,
            Response::json(
                "The person's applications, newest first (without timelines).",
                schema("ApplicationList"),
            ),
        )
        .problems(READ)
}

/// An application and where it stands.
fn application() -> Value {
    let stages: Vec<Value> = Stage::ALL
        .iter()
        .map(|s| json!({ "const": s.as_str(), "description": s.japanese_name() }))
        .collect();
    let step = json!({
        "type": "object",
        "properties": {
            "step": { "enum": Stage::NAMES },
            "stage_name": { "type": "string" },
            "details": { "type": "object" },
            "recorded_by": { "type": "string", "description": "Principal URN." },
            "recorded_at": date_time(),
        },
    });
    let mut a = object(
        &[
            "application_id",
            "person",
            "application_type",
            "stage",
            "stage_name",
            "open",
            "survey",
            "opinion",
            "allowed_next",
            "details",
            "received_at",
            "updated_at",
        ],
        json!({
            "application_id": id("app"),
            "person": schema("PersonRef"),
            "application_type": { "enum": ApplicationType::NAMES, "description": "申請区分: new 新規, renewal 更新, change_of_category 区分変更" },
            "stage": { "oneOf": stages },
            "stage_name": { "type": "string", "description": "The stage's Japanese name." },
            "open": { "type": "boolean", "description": "Neither notified nor withdrawn." },
            "survey": { "enum": SurveyTrack::NAMES },
            "opinion": { "enum": OpinionTrack::NAMES },
            "allowed_next": { "type": "array", "items": { "enum": Stage::NAMES } },
            "details": { "type": "object", "description": "What the municipality recorded with the application: received_date, application_document_id, note." },
            "decision": { "type": "object", "description": "The decision: care_level (要介護状態区分 code), certification_date, validity_start_date, validity_end_date, monthly_benefit_limit_units, committee_opinion, and insurance_certificate_document_id, the certificate it issued." },
            "received_at": date_time(),
            "updated_at": date_time(),
            "timeline": { "type": "array", "items": step },
        }),
    );
    a["description"] = json!(
        "A certification application (要介護認定申請) and where it stands (DESIGN §6). `survey` and `opinion` are the two tracks that advance in parallel; `allowed_next` lists the steps the machine allows now; `decision` is the `decided` step's details; `timeline` (one application only) every step from `received` on, with who recorded it and when."
    );
    a
}
