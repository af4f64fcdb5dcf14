//! Consent, office registration and matrix-enforced reads through the mTLS
//! edge: a representative set of the domain's decisions, end to end.

use crate::care::{
    INSURER, accesses, client_for, consent_at_renewal, consent_event, content, ingest, read,
    read_raw, register,
};
use crate::helpers::{TestApp, problem};
use carehub_domain::DocumentKind;
use serde_json::{Value, json};

const PERSON: &str = "0000012345";
const MISSING: &str = "doc_00000000000000000000000000000000";

/// The person's documents, stored by their authors. The care manager
/// writes its plan while registered for the person, then its registration
/// ends, so each test starts with no office registered.
struct Docs {
    certificate: String,
    burden_ratio: String,
    survey: String,
    opinion: String,
    opinion_declined: String,
    care_plan: String,
}

fn seed(app: &TestApp) -> Docs {
    let muni = app.client("municipality");
    let certificate = ingest(
        app,
        &muni,
        DocumentKind::InsuranceCertificate,
        PERSON,
        None,
        content(DocumentKind::InsuranceCertificate, PERSON, json!({})),
    );
    let burden_ratio = ingest(
        app,
        &muni,
        DocumentKind::BurdenRatioCertificate,
        PERSON,
        None,
        content(DocumentKind::BurdenRatioCertificate, PERSON, json!({})),
    );
    let survey = ingest(
        app,
        &muni,
        DocumentKind::CertificationSurvey,
        PERSON,
        Some("2025-10"),
        content(DocumentKind::CertificationSurvey, PERSON, json!({})),
    );
    let opinion = ingest(
        app,
        &muni,
        DocumentKind::PhysicianOpinion,
        PERSON,
        Some("2025-10"),
        content(
            DocumentKind::PhysicianOpinion,
            PERSON,
            json!({"consent_to_care_planning": true}),
        ),
    );
    let opinion_declined = ingest(
        app,
        &muni,
        DocumentKind::PhysicianOpinion,
        PERSON,
        Some("2025-04"),
        content(
            DocumentKind::PhysicianOpinion,
            PERSON,
            json!({"consent_to_care_planning": false}),
        ),
    );
    let cm = app.client("care-manager");
    let registration = register(app, &cm, PERSON);
    let care_plan = ingest(
        app,
        &cm,
        DocumentKind::CarePlan,
        PERSON,
        Some("2025-11"),
        content(DocumentKind::CarePlan, PERSON, json!({})),
    );
    let resp = cm
        .post(app.url(&format!(
            "/api/office-register/registrations/{registration}/deregister"
        )))
        .json(&json!({"reason": "契約終了"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    Docs {
        certificate,
        burden_ratio,
        survey,
        opinion,
        opinion_declined,
        care_plan,
    }
}

#[test]
fn offices_read_only_registered_with_consent_and_what_the_matrix_marks() {
    let app = TestApp::spawn();
    let docs = seed(&app);
    let cm = app.client("care-manager");
    let cs = app.client("care-service");
    let med = app.client("medical");
    let refusal = read_raw(&app, &cm, MISSING);
    assert_eq!(refusal.0, 403);
    problem(read(&app, &cm, MISSING), 403, "forbidden");

    // The author reads its own care plan, registered or not, consent or not.
    assert_eq!(read(&app, &cm, &docs.care_plan).status(), 200);

    // Unregistered, no consent: refused, byte for byte like a missing document.
    assert_eq!(read_raw(&app, &cm, &docs.survey), refusal);
    // Registered, but no consent yet.
    register(&app, &cm, PERSON);
    register(&app, &cs, PERSON);
    register(&app, &med, PERSON);
    assert_eq!(read_raw(&app, &cm, &docs.survey), refusal);
    assert_eq!(read_raw(&app, &med, &docs.certificate), refusal);

    consent_at_renewal(&app, PERSON);
    for id in [
        &docs.survey,
        &docs.opinion,
        &docs.certificate,
        &docs.burden_ratio,
    ] {
        assert_eq!(read(&app, &cm, id).status(), 200, "care manager reads {id}");
    }
    // An opinion whose physician declined care-planning use: not for care managers.
    assert_eq!(read_raw(&app, &cm, &docs.opinion_declined), refusal);
    assert_eq!(
        read(&app, &app.client("municipality"), &docs.opinion_declined).status(),
        200
    );
    // Medical institutions never read the burden-ratio certificate.
    assert_eq!(read(&app, &med, &docs.certificate).status(), 200);
    assert_eq!(read(&app, &med, &docs.care_plan).status(), 200);
    assert_eq!(read_raw(&app, &med, &docs.burden_ratio), refusal);
    // The matrix does not mark the survey for care-service offices.
    assert_eq!(read_raw(&app, &cs, &docs.survey), refusal);
    assert_eq!(read(&app, &cs, &docs.care_plan).status(), 200);

    // An office of the right role that is not registered for the person.
    let stranger = client_for(&app, "urn:carehub:care-manager:1379999990");
    assert_eq!(read_raw(&app, &stranger, &docs.certificate), refusal);
    // A municipality that does not insure the person.
    let osaka = client_for(&app, "urn:carehub:municipality:271004");
    assert_eq!(read_raw(&app, &osaka, &docs.certificate), refusal);
    // The operator reads no care data.
    assert_eq!(
        read_raw(&app, &app.client("operator"), &docs.certificate),
        refusal
    );
    // The portal with a token for someone else.
    let other = app.person_token(INSURER, "0000099999", "person");
    let resp = app
        .client("portal")
        .get(app.url(&format!("/api/read/documents/{}", docs.certificate)))
        .bearer_auth(other)
        .send()
        .unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.bytes().unwrap().to_vec()),
        refusal
    );

    // Lists follow the same rules.
    let list = |client: &reqwest::blocking::Client| -> (u16, Value) {
        let resp = client
            .get(app.url(&format!("/api/read/persons/{INSURER}/{PERSON}/documents")))
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.json().unwrap())
    };
    let (status, body) = list(&med);
    assert_eq!(status, 200);
    let kinds: Vec<&str> = body["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"insurance_certificate"), "{kinds:?}");
    assert!(!kinds.contains(&"burden_ratio_certificate"), "{kinds:?}");
    assert_eq!(list(&stranger).0, 403);
}

#[test]
fn withdrawal_not_obtained_and_deregistration_cut_access_at_once() {
    let app = TestApp::spawn();
    let docs = seed(&app);
    let cm = app.client("care-manager");
    let cs = app.client("care-service");
    let refusal = read_raw(&app, &cm, MISSING);
    register(&app, &cm, PERSON);
    let cs_registration = register(&app, &cs, PERSON);
    consent_at_renewal(&app, PERSON);
    assert_eq!(read(&app, &cm, &docs.certificate).status(), 200);
    assert_eq!(read(&app, &cs, &docs.certificate).status(), 200);

    // Deregistration: the next read is refused.
    let resp = cs
        .post(app.url(&format!(
            "/api/office-register/registrations/{cs_registration}/deregister"
        )))
        .json(&json!({"reason": "契約終了"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().unwrap()["state"], "ended");
    assert_eq!(read_raw(&app, &cs, &docs.certificate), refusal);
    assert_eq!(read(&app, &cm, &docs.certificate).status(), 200);

    // Withdrawal through the portal: the next read is refused.
    let token = app.person_token(INSURER, PERSON, "person");
    let resp = consent_event(
        &app,
        &app.client("portal"),
        PERSON,
        Some(&token),
        &json!({"event": "withdrawn"}),
    );
    assert_eq!(resp.status(), 201);
    assert_eq!(read_raw(&app, &cm, &docs.certificate), refusal);
    // The author still reads its own care plan.
    assert_eq!(read(&app, &cm, &docs.care_plan).status(), 200);

    // Another person whose consent could not be obtained.
    let second = "0000055555";
    let cert2 = ingest(
        &app,
        &app.client("municipality"),
        DocumentKind::InsuranceCertificate,
        second,
        None,
        content(DocumentKind::InsuranceCertificate, second, json!({})),
    );
    register(&app, &cm, second);
    let resp = consent_event(
        &app,
        &app.client("municipality"),
        second,
        None,
        &json!({"event": "not_obtained", "reason": "本人の意思確認ができず、代理人もいない"}),
    );
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.json::<Value>().unwrap()["state"], "not_obtained");
    assert_eq!(read_raw(&app, &cm, &cert2), refusal);

    // The refusals are in the person's log, without their reasons.
    let log = accesses(&app, PERSON);
    let denied: Vec<&Value> = log.iter().filter(|a| a["outcome"] == "denied").collect();
    assert_eq!(denied.len(), 2, "{log:#?}");
    assert!(log.iter().all(|a| a.get("deny_reason").is_none()));
}

#[test]
fn consent_and_registration_over_the_edge() {
    let app = TestApp::spawn();
    let cm = app.client("care-manager");
    let muni = app.client("municipality");
    let given_by_office = json!({
        "event": "given",
        "given_by": {
            "type": "proxy", "relationship": "family_member", "name": "山田 一郎",
            "reason_person_could_not_consent": "入院中で署名できない"
        },
        "method": "verbal_with_record",
        "explanation_given": true,
    });
    // An office obtains consent on the municipality's behalf only once registered.
    problem(
        consent_event(&app, &cm, PERSON, None, &given_by_office),
        403,
        "office-not-registered",
    );
    let registration = register(&app, &cm, PERSON);
    let resp = consent_event(&app, &cm, PERSON, None, &given_by_office);
    assert_eq!(resp.status(), 201);
    assert_eq!(
        resp.headers()["location"],
        format!("/api/consent/persons/{INSURER}/{PERSON}").as_str()
    );
    // Medical institutions do not obtain consent; other municipalities do not record it.
    let med = app.client("medical");
    register(&app, &med, PERSON);
    problem(
        consent_event(&app, &med, PERSON, None, &given_by_office),
        403,
        "role-not-allowed",
    );
    let osaka = client_for(&app, "urn:carehub:municipality:271004");
    problem(
        consent_event(
            &app,
            &osaka,
            PERSON,
            None,
            &json!({"event": "not_obtained", "reason": "x"}),
        ),
        403,
        "wrong-municipality",
    );
    // A municipality's consent names the application it came with.
    let body = problem(
        consent_event(
            &app,
            &muni,
            PERSON,
            None,
            &json!({"event": "given", "given_by": {"type": "person"}, "method": "paper_form", "explanation_given": true}),
        ),
        422,
        "invalid-consent-event",
    );
    assert_eq!(body["violations"][0]["pointer"], "/application_ref");
    // Idempotent by key.
    let with_key = |key: &str| {
        muni.post(app.url(&format!("/api/consent/persons/{INSURER}/{PERSON}/events")))
            .header("idempotency-key", key)
            .json(&json!({
                "event": "given", "given_by": {"type": "person"}, "method": "paper_form",
                "explanation_given": true, "application_ref": "APP-1"
            }))
            .send()
            .unwrap()
    };
    let first = with_key("consent-1");
    assert_eq!(first.status(), 201);
    let first = first.text().unwrap();
    let again = with_key("consent-1");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().unwrap(), first);

    // The person sees state and history through the portal.
    let token = app.person_token(INSURER, PERSON, "person");
    let resp = app
        .client("portal")
        .get(app.url(&format!("/api/consent/persons/{INSURER}/{PERSON}")))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().unwrap();
    assert_eq!(v["state"], "in_force");
    assert_eq!(v["history"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["history"][0]["obtained_by"],
        "urn:carehub:care-manager:1371234567"
    );
    // Without a token, the portal is refused before anything else.
    let resp = app
        .client("portal")
        .get(app.url(&format!("/api/consent/persons/{INSURER}/{PERSON}")))
        .send()
        .unwrap();
    problem(resp, 401, "person-token-missing");

    // The person and the municipality list the responsible offices.
    let list = |client: &reqwest::blocking::Client, token: Option<&str>| {
        let mut req = client.get(app.url(&format!(
            "/api/office-register/persons/{INSURER}/{PERSON}/registrations"
        )));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().unwrap()
    };
    let v: Value = list(&app.client("portal"), Some(&token)).json().unwrap();
    let offices: Vec<&str> = v["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["office"].as_str().unwrap())
        .collect();
    assert_eq!(
        offices,
        [
            "urn:carehub:medical:1312345678",
            "urn:carehub:care-manager:1371234567"
        ]
    );
    assert_eq!(list(&muni, None).status(), 200);
    problem(list(&cm, None), 403, "forbidden");
    // The office lists its persons, and its registration.
    let v: Value = cm
        .get(app.url("/api/office-register/registrations"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        v["registrations"][0]["registration_id"],
        registration.as_str()
    );
    assert_eq!(v["registrations"][0]["state"], "in_force");
    let resp = cm
        .get(app.url(&format!(
            "/api/office-register/registrations/{registration}"
        )))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    problem(
        muni.post(app.url("/api/office-register/registrations"))
            .json(&json!({}))
            .send()
            .unwrap(),
        403,
        "role-not-allowed",
    );
    problem(
        cm.post(app.url("/api/office-register/registrations"))
            .json(&json!({
                "person": {"insurer_number": INSURER, "insured_number": PERSON},
                "verification_method": {"type": "my_number_card"},
                "verification_reference": "x",
                "start": "2025-04-01T00:00:00+09:00",
            }))
            .send()
            .unwrap(),
        409,
        "conflict",
    );
}
