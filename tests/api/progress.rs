//! Certification progress over mTLS: the municipality records and advances
//! an application; the person (portal) and a registered care manager with
//! consent follow it; another municipality sees nothing.

use crate::care::{accesses, verify_log};
use crate::helpers::{TestApp, problem};
use carehub_domain::{DocumentKind, InsuredNumber, InsurerNumber, PersonRef};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

const INSURER: &str = "131016";
const PERSON: &str = "0000012345";
const OTHER_MUNICIPALITY: &str = "urn:carehub:municipality:271004";

fn person() -> PersonRef {
    PersonRef::new(
        InsurerNumber::parse(INSURER).unwrap(),
        InsuredNumber::parse(PERSON).unwrap(),
    )
}

/// The municipality records a renewal application; returns its id.
pub fn apply_for_renewal(app: &TestApp, muni: &Client) -> String {
    let resp = muni
        .post(app.url("/api/progress/applications"))
        .header("idempotency-key", format!("app-{}", app.port))
        .json(&json!({
            "person": {"insurer_number": INSURER, "insured_number": PERSON},
            "application_type": "renewal",
            "received_date": "2026-01-20",
        }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let v: Value = resp.json().unwrap();
    assert_eq!(v["stage"], "received");
    let id = v["application_id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/progress/applications/{id}"));
    id
}

/// Posts a step.
pub fn step(app: &TestApp, client: &Client, id: &str, body: Value) -> Response {
    client
        .post(app.url(&format!("/api/progress/applications/{id}/steps")))
        .json(&body)
        .send()
        .unwrap()
}

fn show(app: &TestApp, client: &Client, id: &str, token: Option<&str>) -> Response {
    let mut req = client.get(app.url(&format!("/api/progress/applications/{id}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().unwrap()
}

/// The care manager registers for the person and the municipality records
/// the person's consent, given with the application `application_ref`.
pub fn register_with_consent(app: &TestApp, application_ref: &str) {
    let resp = app
        .client("care-manager")
        .post(app.url("/api/office-register/registrations"))
        .json(&json!({
            "person": {"insurer_number": INSURER, "insured_number": PERSON},
            "verification_method": {"type": "my_number_card"},
            "verification_reference": "資格確認端末 照合番号 0042",
            "start": "2025-04-01T00:00:00+09:00",
        }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    let resp = app
        .client("municipality")
        .post(app.url(&format!("/api/consent/persons/{INSURER}/{PERSON}/events")))
        .json(&json!({
            "event": "given",
            "given_by": {"type": "person"},
            "method": "paper_form",
            "explanation_given": true,
            "application_ref": application_ref,
        }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
}

#[test]
fn a_certification_runs_its_course_and_the_person_sees_each_stage() {
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    let portal = app.client("portal");
    let token = app.person_token(INSURER, PERSON, "person");
    let cm = app.client("care-manager");
    let other = app.client_for_urn(OTHER_MUNICIPALITY);

    // The current certificate (要介護2), which the decision will supersede.
    let cert = json!({
        "person": {"insurer_number": INSURER, "insured_number": PERSON},
        "kind": "insurance_certificate",
        "content": carehub_domain::example_content(DocumentKind::InsuranceCertificate, &person()),
    });
    let resp = muni
        .post(app.url("/api/ingest/documents"))
        .json(&cert)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201);
    let cert_id = resp.json::<Value>().unwrap()["document_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let id = apply_for_renewal(&app, &muni);
    let seen = |stage: &str| {
        let resp = show(&app, &portal, &id, Some(&token));
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().unwrap();
        assert_eq!(v["stage"], stage, "{v}");
        v
    };
    seen("received");

    // The care manager sees nothing before registration and consent.
    problem(show(&app, &cm, &id, None), 403, "forbidden");

    let decision = json!({"step": "decided", "care_level": "23",
        "certification_date": "2026-03-20", "validity_start_date": "2026-04-01",
        "validity_end_date": "2027-03-31", "committee_opinion": "なし"});
    let steps = [
        json!({"step": "survey_scheduled", "survey_date": "2026-02-10"}),
        json!({"step": "opinion_requested", "requested_from": "urn:carehub:medical:1312345678"}),
        json!({"step": "survey_done", "survey_date": "2026-02-10"}),
    ];
    for s in steps {
        let resp = step(&app, &muni, &id, s.clone());
        assert_eq!(resp.status(), 200, "{s}: {}", resp.text().unwrap());
        seen(s["step"].as_str().unwrap());
    }

    // A decision before the opinion: 409 with the allowed next steps.
    let body = problem(
        step(&app, &muni, &id, decision.clone()),
        409,
        "invalid-transition",
    );
    assert_eq!(body["current_stage"], "survey_done");
    assert_eq!(
        body["allowed_next"],
        json!(["opinion_received", "withdrawn"])
    );
    // So is a primary judgment.
    problem(
        step(&app, &muni, &id, json!({"step": "primary_judgment"})),
        409,
        "invalid-transition",
    );

    register_with_consent(&app, &id);
    let v: Value = show(&app, &cm, &id, None).json().unwrap();
    assert_eq!(v["stage"], "survey_done");

    for s in [
        json!({"step": "opinion_received"}),
        json!({"step": "primary_judgment", "estimated_care_level": "23"}),
        json!({"step": "committee_scheduled", "committee_date": "2026-03-18"}),
        decision,
        json!({"step": "notified", "notified_date": "2026-03-25"}),
    ] {
        let resp = step(&app, &muni, &id, s.clone());
        assert_eq!(resp.status(), 200, "{s}: {}", resp.text().unwrap());
        let v = seen(s["step"].as_str().unwrap());
        if s["step"] == "decided" {
            assert_eq!(v["decision"]["care_level"], "23");
            assert_eq!(v["decision"]["insurance_certificate_document_id"], cert_id);
        }
    }

    // The whole timeline, for the person and the care manager alike.
    let v = seen("notified");
    let stages: Vec<&str> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(stages.len(), 9);
    assert_eq!(stages[0], "received");
    assert_eq!(v["open"], false);
    let by_cm: Value = show(&app, &cm, &id, None).json().unwrap();
    assert_eq!(by_cm["timeline"], v["timeline"]);

    // The decision issued version 2 of the certificate, 要介護3.
    let doc: Value = muni
        .get(app.url(&format!("/api/read/documents/{cert_id}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(doc["version"], 2, "{doc}");
    assert_eq!(doc["content"]["care_level"], "23");
    assert_eq!(doc["content"]["monthly_benefit_limit_units"], 27048);
    assert_eq!(doc["content"]["validity_end_date"], "2027-03-31");

    // Another municipality sees nothing of it and cannot move it; its
    // refusal is the one an unknown id gets.
    let refused = show(&app, &other, &id, None);
    assert_eq!(refused.status(), 403);
    let unknown = show(&app, &other, "app_00000000000000000000000000000000", None);
    assert_eq!(refused.text().unwrap(), unknown.text().unwrap());
    problem(
        step(
            &app,
            &other,
            &id,
            json!({"step": "withdrawn", "reason": "x"}),
        ),
        403,
        "forbidden",
    );
    let list: Value = other
        .get(app.url("/api/progress/applications"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(list["items"], json!([]));
    problem(
        other
            .get(app.url(&format!(
                "/api/progress/persons/{INSURER}/{PERSON}/applications"
            )))
            .send()
            .unwrap(),
        403,
        "forbidden",
    );
    // Nor may it open one for a person it does not insure.
    let resp = other
        .post(app.url("/api/progress/applications"))
        .json(&json!({
            "person": {"insurer_number": INSURER, "insured_number": PERSON},
            "application_type": "new",
        }))
        .send()
        .unwrap();
    problem(resp, 403, "wrong-municipality");
}

#[test]
fn a_municipality_lists_its_open_applications_by_stage() {
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    let create = |insured: &str, key: &str| -> String {
        let resp = muni
            .post(app.url("/api/progress/applications"))
            .header("idempotency-key", key)
            .json(&json!({
                "person": {"insurer_number": INSURER, "insured_number": insured},
                "application_type": "new",
            }))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 201);
        resp.json::<Value>().unwrap()["application_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let a = create("0000000001", "a");
    // The same key again: the same application, not a second one.
    assert_eq!(create("0000000001", "a"), a);
    let b = create("0000000002", "b");
    let c = create("0000000003", "c");
    let resp = step(
        &app,
        &muni,
        &a,
        json!({"step": "survey_scheduled", "survey_date": "2026-02-10"}),
    );
    assert_eq!(resp.status(), 200);
    let resp = step(
        &app,
        &muni,
        &c,
        json!({"step": "withdrawn", "reason": "本人死亡"}),
    );
    assert_eq!(resp.status(), 200);

    let list = |q: &str| -> Value {
        muni.get(app.url(&format!("/api/progress/applications?{q}")))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["application_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&list("")), [b.clone(), a.clone()]);
    assert_eq!(
        ids(&list("stage=survey_scheduled")),
        std::slice::from_ref(&a)
    );
    let page = list("stage=received&limit=1");
    assert_eq!(ids(&page), [b]);
    assert_eq!(page["next_cursor"], Value::Null);
    let page = list("limit=1");
    let cursor = page["next_cursor"].as_str().unwrap();
    assert_eq!(ids(&list(&format!("limit=1&cursor={cursor}"))), [a]);
    problem(
        muni.get(app.url("/api/progress/applications?stage=later"))
            .send()
            .unwrap(),
        400,
        "invalid-request",
    );
    problem(
        app.client("care-manager")
            .get(app.url("/api/progress/applications"))
            .send()
            .unwrap(),
        403,
        "role-not-allowed",
    );
}

#[test]
fn progress_reads_and_refusals_are_in_the_persons_access_list() {
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    let portal = app.client("portal");
    let cm = app.client("care-manager");
    let other = app.client_for_urn(OTHER_MUNICIPALITY);
    let id = apply_for_renewal(&app, &muni);
    let persons_list = format!("/api/progress/persons/{INSURER}/{PERSON}/applications");

    // A proxy reads through the portal; the care manager is refused before
    // registration and consent, then reads and lists; another municipality
    // is refused the list; the municipality lists its open applications.
    let proxy = app.person_token(INSURER, PERSON, "proxy");
    assert_eq!(show(&app, &portal, &id, Some(&proxy)).status(), 200);
    problem(show(&app, &cm, &id, None), 403, "forbidden");
    register_with_consent(&app, &id);
    assert_eq!(show(&app, &cm, &id, None).status(), 200);
    let resp = cm.get(app.url(&persons_list)).send().unwrap();
    assert_eq!(resp.status(), 200);
    problem(
        other.get(app.url(&persons_list)).send().unwrap(),
        403,
        "forbidden",
    );
    let resp = muni
        .get(app.url("/api/progress/applications"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A document read through the portal names its portal user too.
    let resp = portal
        .get(app.url(&format!("/api/read/persons/{INSURER}/{PERSON}/documents")))
        .bearer_auth(&proxy)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    // An id that names nothing is refused like any other and logged with
    // no person: in the chain, in no one's list.
    let ghost = "app_00000000000000000000000000000000";
    problem(show(&app, &muni, ghost, None), 403, "forbidden");

    // What the person sees, oldest first.
    let mut log = accesses(&app, PERSON);
    log.reverse();
    let seen: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|a| {
            (
                a["principal"].as_str().unwrap(),
                a["action"].as_str().unwrap(),
                a["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    let (portal_urn, cm_urn) = (
        "urn:carehub:portal:mynaportal-dev",
        "urn:carehub:care-manager:1371234567",
    );
    let expected = [
        (portal_urn, "read_progress", "allowed"),
        (cm_urn, "read_progress", "denied"),
        (cm_urn, "read_progress", "allowed"),
        (cm_urn, "list_progress", "allowed"),
        (OTHER_MUNICIPALITY, "list_progress", "denied"),
        (
            "urn:carehub:municipality:131016",
            "list_progress",
            "allowed",
        ),
        (portal_urn, "list_documents", "allowed"),
    ];
    assert_eq!(seen, expected, "{log:#?}");
    // The portal user who read, and whether the person or a proxy.
    for a in [&log[0], &log[6]] {
        assert_eq!(a["actor"], "proxy");
        assert_eq!(a["subject"], format!("portal-user-{PERSON}"));
    }
    let no_portal_user = |a: &Value| a.get("subject").is_none() && a.get("actor").is_none();
    assert!(log[1..6].iter().all(no_portal_user));
    for a in &log[..3] {
        assert_eq!(a["application_id"], id.as_str());
    }
    assert_eq!(log[3]["application_ids"], json!([id]));
    assert_eq!(log[5]["application_ids"], json!([id]));
    assert!(log[4].get("application_ids").is_none());
    // Why a read was refused stays in the log.
    assert!(log.iter().all(|a| a.get("deny_reason").is_none()));

    // The chain holds, the ghost read included.
    let (ok, stdout, stderr) = verify_log(&app);
    assert!(ok, "verify-log failed: {stdout} {stderr}");
    assert!(
        stdout.contains(&format!("{} entries", log.len() + 1)),
        "{stdout}"
    );
}
