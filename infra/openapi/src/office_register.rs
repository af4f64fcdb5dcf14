//! `functions/office-register`: an office registers as a person's
//! responsible office after verifying their identity, lists and ends its
//! registrations; the person and their municipality see the person's
//! offices.

use carehub_domain::policy::table::Operation;
use carehub_domain::{RegistrationState, Role};
use carehub_office_register::handler::{BODY_LIMIT, PREFIX};
use serde_json::{Map, Value, json};

use crate::Part;
use crate::callers;
use crate::common::{
    Op, READ, Response, WRITE, body_limit, closed, date_time, date_time_or_null, described, id,
    json_body, object, page, page_params, param, path, path_param, person_params, schema, variant,
};

const TAG: &str = "office-register";

/// Office-register's paths, parameters and schemas.
pub fn part() -> Part {
    let mut parameters = Map::new();
    parameters.insert(
        "RegistrationIdPath".into(),
        path_param("registration_id", None, schema("RegistrationId")),
    );
    Part {
        tag: TAG,
        about: "Offices register as a person's responsible office (担当事業所登録) after verifying identity.",
        paths: vec![
            path(format!("{PREFIX}/registrations"), [register(), list_own()]),
            path(
                format!("{PREFIX}/registrations/{{registration_id}}"),
                [one()],
            ),
            path(
                format!("{PREFIX}/registrations/{{registration_id}}/deregister"),
                [deregister()],
            ),
            path(
                format!("{PREFIX}/persons/{{insurer_number}}/{{insured_number}}/registrations"),
                [list_person()],
            ),
        ],
        schemas: schemas(),
        parameters,
    }
}

fn register() -> Op {
    Op::post("registerOffice", TAG, "Register as the person's responsible office (担当事業所登録)")
        .about(format!(
            "The calling office (a medical institution counts as a deemed care office) registers itself after verifying the person's identity when the contract starts: the method (`my_number_card`, or `other` with a description) and a reference to the check, the start and an optional end. Identity is not re-checked at each read. Other roles get `role-not-allowed`; an incomplete verification or an end not after start and now is `invalid-registration` (422); an office that already holds a registration for the person that has not ended gets `conflict` (409). {}",
            body_limit(BODY_LIMIT)
        ))
        .who(callers::line(Operation::Register))
        .params([param("IdempotencyKey")])
        .body(json_body(schema("RegistrationRequest")))
        .answers(
            201,
            Response::json("Registered.", schema("Registration"))
                .location("`/api/office-register/registrations/{registration_id}`.")
                .replayed(),
        )
        .problems(WRITE)
}

fn list_own() -> Op {
    Op::get(
        "listOfficeRegistrations",
        TAG,
        "The persons the calling office is registered for",
    )
    .about("Other roles get `role-not-allowed`.")
    .who(callers::line(Operation::ListOwnRegistrations))
    .params(page_params())
    .answers(
        200,
        Response::json(
            "The calling office's registrations, newest first, each with its state now.",
            schema("OfficeRegistrationList"),
        ),
    )
    .problems(READ)
}

fn one() -> Op {
    Op::get("readRegistration", TAG, "One of the calling office's registrations")
        .about("404 `not-found` for an id the calling office holds no registration under (whether or not another office does).")
        .who(callers::line(Operation::ViewRegistration))
        .params([param("RegistrationIdPath")])
        .answers(
            200,
            Response::json("The registration, with its state now.", schema("Registration")),
        )
        .problems(READ)
}

fn deregister() -> Op {
    Op::post("deregisterOffice", TAG, "End the calling office's registration")
        .about(format!(
            "The office ends its registration (the contract ended); its reads of the person stop at the next request. 404 `not-found` for another office's registration or none; 409 `conflict` when it has already ended; a blank reason is `invalid-registration`. {}",
            body_limit(BODY_LIMIT)
        ))
        .who(callers::line(Operation::Deregister))
        .params([param("RegistrationIdPath"), param("IdempotencyKey")])
        .body(json_body(schema("DeregistrationRequest")))
        .answers(
            200,
            Response::json(
                "Deregistered: the registration has ended, now.",
                schema("Registration"),
            ),
        )
        .problems(WRITE)
}

fn list_person() -> Op {
    Op::get(
        "listPersonRegistrations",
        TAG,
        "The person's responsible offices",
    )
    .about("Callers not listed below get 403 `forbidden`.")
    .who(callers::line(Operation::ListPersonRegistrations))
    .person_token()
    .params(person_params().into_iter().chain(page_params()))
    .answers(
        200,
        Response::json(
            "Every registration for the person, newest first, each with its state now.",
            schema("PersonRegistrationList"),
        ),
    )
    .problems(READ)
}

fn verification_method() -> Value {
    json!({
        "description": "How the office verified the person's identity.",
        "oneOf": [
            variant("my_number_card", &["type"], json!({ "type": { "const": "my_number_card" } })),
            variant(
                "other",
                &["type", "description"],
                json!({
                    "type": { "const": "other" },
                    "description": { "type": "string", "minLength": 1, "description": "What was checked (e.g. the insurance certificate and a photo ID)." },
                }),
            ),
        ],
    })
}

fn registration() -> Value {
    let time_or_null = date_time_or_null();
    object(
        &[
            "registration_id",
            "office",
            "role",
            "person",
            "verification_method",
            "verification_reference",
            "start",
            "end",
            "registered_at",
            "deregistration",
            "state",
        ],
        json!({
            "registration_id": schema("RegistrationId"),
            "office": schema("PrincipalUrn"),
            "role": { "enum": [Role::CareManager.as_str(), Role::CareService.as_str(), Role::Medical.as_str()] },
            "person": schema("PersonRef"),
            "verification_method": schema("VerificationMethod"),
            "verification_reference": { "type": "string" },
            "start": date_time(),
            "end": time_or_null,
            "registered_at": schema("Timestamp"),
            "deregistration": {
                "type": ["object", "null"],
                "required": ["deregistered_at", "deregistered_by", "reason"],
                "properties": {
                    "deregistered_at": schema("Timestamp"),
                    "deregistered_by": schema("PrincipalUrn"),
                    "reason": { "type": "string" },
                },
            },
            "state": { "enum": RegistrationState::NAMES, "description": "At the time of the answer: in_force, ended (end date reached or deregistered), none (not started yet)." },
        }),
    )
}

fn schemas() -> Map<String, Value> {
    let mut s = Map::new();
    s.insert("RegistrationId".into(), id("reg"));
    s.insert("VerificationMethod".into(), verification_method());
    let request = closed(
        &[
            "person",
            "verification_method",
            "verification_reference",
            "start",
        ],
        json!({
            "person": schema("PersonRef"),
            "verification_method": schema("VerificationMethod"),
            "verification_reference": { "type": "string", "minLength": 1, "description": "The record of the identity check (e.g. the card reader's result number)." },
            "start": described(date_time(), "From when (RFC 3339): may lie in the past or the future; the office reads from then."),
            "end": described(date_time_or_null(), "Until when, if known: after start and after now."),
        }),
    );
    s.insert("RegistrationRequest".into(), request);
    let deregistration = closed(
        &["reason"],
        json!({ "reason": { "type": "string", "minLength": 1, "description": "Why it ends (e.g. 契約終了)." } }),
    );
    s.insert("DeregistrationRequest".into(), deregistration);
    s.insert("Registration".into(), registration());
    s.insert(
        "PersonRegistrationList".into(),
        page(
            &[("person", schema("PersonRef"))],
            "registrations",
            schema("Registration"),
        ),
    );
    s.insert(
        "OfficeRegistrationList".into(),
        page(
            &[("office", schema("PrincipalUrn"))],
            "registrations",
            schema("Registration"),
        ),
    );
    s
}
