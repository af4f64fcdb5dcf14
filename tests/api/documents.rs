//! Ingest and read through the public HTTPS interface.

use crate::care::register;
use crate::helpers::{TestApp, problem};
use carehub_domain::{DocumentKind, InsuredNumber, InsurerNumber, PersonRef};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const INSURER: &str = "131016";
const OTHER_INSURER: &str = "271004";
const PERSON: &str = "0000012345";

fn person(insurer: &str, insured: &str) -> PersonRef {
    PersonRef {
        insurer_number: InsurerNumber::parse(insurer).unwrap(),
        insured_number: InsuredNumber::parse(insured).unwrap(),
    }
}

fn envelope(kind: DocumentKind, insurer: &str, insured: &str, key: Option<&str>) -> Value {
    let mut e = json!({
        "person": {"insurer_number": insurer, "insured_number": insured},
        "kind": kind.as_str(),
        "content": carehub_domain::content::example_content(kind, &person(insurer, insured)),
    });
    if let Some(k) = key {
        e["document_key"] = json!(k);
    }
    e
}

fn ingest(client: &Client, app: &TestApp, body: &Value) -> reqwest::blocking::Response {
    client
        .post(app.url("/api/ingest/documents"))
        .json(body)
        .send()
        .unwrap()
}

fn list(
    client: &Client,
    app: &TestApp,
    insurer: &str,
    insured: &str,
) -> reqwest::blocking::Response {
    client
        .get(app.url(&format!("/api/read/persons/{insurer}/{insured}/documents")))
        .send()
        .unwrap()
}

fn version_count(app: &TestApp) -> i64 {
    app.db().query_i64("SELECT COUNT(*) FROM document_versions")
}

#[test]
fn a_stored_document_reads_back_with_its_history() {
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    let mut body = envelope(DocumentKind::InsuranceCertificate, INSURER, PERSON, None);
    let resp = ingest(&muni, &app, &body);
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let first: Value = resp.json().unwrap();
    assert_eq!(first["version"], 1);
    assert_eq!(first["supersedes"], Value::Null);
    assert_eq!(
        location,
        format!(
            "/api/read/documents/{}",
            first["document_id"].as_str().unwrap()
        )
    );

    // The same content again stores nothing new.
    let resp = ingest(&muni, &app, &body);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().unwrap()["version"], 1);

    // A change is a new version that supersedes the old one.
    body["content"]["address"] = json!("東京都千代田区霞が関1-2-2");
    let resp = ingest(&muni, &app, &body);
    assert_eq!(resp.status(), 201);
    let second: Value = resp.json().unwrap();
    assert_eq!(second["document_id"], first["document_id"]);
    assert_eq!(
        (second["version"].clone(), second["supersedes"].clone()),
        (json!(2), json!(1))
    );

    let doc: Value = muni.get(app.url(&location)).send().unwrap().json().unwrap();
    assert_eq!(doc["version"], 2);
    assert_eq!(doc["content"]["address"], "東京都千代田区霞が関1-2-2");
    let versions = doc["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    let old: Value = muni
        .get(app.url(&format!("{location}?version=1")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(old["version"], 1);
    assert_ne!(old["content"]["address"], "東京都千代田区霞が関1-2-2");
    // The old version's own metadata, and the whole history beside it.
    assert_eq!(old["versions"], doc["versions"]);
    assert_eq!(old["content_sha256"], versions[0]["content_sha256"]);
    assert_eq!(old["stored_at"], versions[0]["stored_at"]);
    assert_eq!(doc["content_sha256"], versions[1]["content_sha256"]);
    assert_ne!(old["content_sha256"], doc["content_sha256"]);
    // A version the document does not have.
    let none = muni
        .get(app.url(&format!("{location}?version=3")))
        .send()
        .unwrap();
    assert_eq!(none.status(), 404);
    assert_eq!(version_count(&app), 2);
}

#[test]
fn idempotency_key_replays_the_answer_and_refuses_another_body() {
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    let body = envelope(DocumentKind::BurdenRatioCertificate, INSURER, PERSON, None);
    let send = |b: &Value| {
        muni.post(app.url("/api/ingest/documents"))
            .header("idempotency-key", "batch-2026-11-25-0001")
            .json(b)
            .send()
            .unwrap()
    };
    let first = send(&body);
    assert_eq!(first.status(), 201);
    let first_body = first.text().unwrap();
    let again = send(&body);
    assert_eq!(again.status(), 201);
    assert_eq!(
        again.text().unwrap(),
        first_body,
        "the same answer, byte for byte"
    );
    assert_eq!(version_count(&app), 1);

    let mut other = body.clone();
    other["content"]["ratio"] = json!(2);
    problem(send(&other), 409, "idempotency-key-reused");
    assert_eq!(version_count(&app), 1);
}

#[test]
fn a_municipality_writes_only_for_persons_it_insures() {
    let app = TestApp::spawn();
    let resp = ingest(
        &app.client("municipality"),
        &app,
        &envelope(
            DocumentKind::InsuranceCertificate,
            OTHER_INSURER,
            PERSON,
            None,
        ),
    );
    problem(resp, 403, "wrong-municipality");
    assert_eq!(version_count(&app), 0);
}

#[test]
fn each_role_writes_only_the_kinds_it_authors() {
    let app = TestApp::spawn();
    let cases = [
        ("care-manager", DocumentKind::InsuranceCertificate),
        ("care-manager", DocumentKind::LifeFeedback),
        ("care-service", DocumentKind::CarePlan),
        ("care-service", DocumentKind::CertificationSurvey),
        ("medical", DocumentKind::PhysicianOpinion),
        ("portal", DocumentKind::CertificationApplication),
        ("municipality", DocumentKind::CarePlan),
        ("municipality", DocumentKind::LifeFeedback),
    ];
    for (role, kind) in cases {
        let resp = ingest(
            &app.client(role),
            &app,
            &envelope(kind, INSURER, PERSON, Some("k1")),
        );
        problem(resp, 403, "kind-not-authored-by-role");
    }
    assert_eq!(version_count(&app), 0);
    // And the authors do write them (offices once registered for the person).
    register(&app, &app.client("care-manager"), PERSON);
    register(&app, &app.client("care-service"), PERSON);
    for (role, kind) in [
        ("care-manager", DocumentKind::CarePlan),
        ("care-service", DocumentKind::LifeFeedback),
        ("municipality", DocumentKind::CertificationSurvey),
    ] {
        let resp = ingest(
            &app.client(role),
            &app,
            &envelope(kind, INSURER, PERSON, Some("k1")),
        );
        assert_eq!(
            resp.status(),
            201,
            "{role} {kind:?}: {}",
            resp.text().unwrap()
        );
    }
}

#[test]
fn malformed_input_is_a_clear_4xx_and_nothing_is_stored() {
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    for (insurer, insured) in [
        ("131016", "12345"),
        ("481016", PERSON),
        ("13101６", PERSON),
        ("131016", "X000012345"),
    ] {
        let mut body = envelope(DocumentKind::InsuranceCertificate, INSURER, PERSON, None);
        body["person"] = json!({"insurer_number": insurer, "insured_number": insured});
        problem(ingest(&muni, &app, &body), 400, "invalid-identifier");
    }
    let resp = muni
        .post(app.url("/api/ingest/documents"))
        .header("content-type", "application/json")
        .body(r#"{"person": {"insurer_number": "131016""#)
        .send()
        .unwrap();
    problem(resp, 400, "malformed-json");

    let mut body = envelope(DocumentKind::InsuranceCertificate, INSURER, PERSON, None);
    body["content"]["care_level"] = json!("99");
    let p = problem(ingest(&muni, &app, &body), 422, "invalid-document");
    assert!(
        p["violations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["pointer"] == "/care_level"),
        "{p}"
    );

    // Over the single-document limit of the component (the gateway's is larger).
    let mut body = envelope(DocumentKind::InsuranceCertificate, INSURER, PERSON, None);
    body["content"]["remarks"] = json!("x".repeat(2 * 1024 * 1024));
    problem(ingest(&muni, &app, &body), 413, "payload-too-large");

    // Unreadable list queries.
    for query in ["kind=nonsense", "limit=0", "limit=1000", "cursor=garbage!"] {
        let resp = muni
            .get(app.url(&format!(
                "/api/read/persons/{INSURER}/{PERSON}/documents?{query}"
            )))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 400, "{query}");
    }
    assert_eq!(version_count(&app), 0);
}

#[test]
fn bulk_ndjson_answers_one_line_per_document_and_a_bad_line_rejects_only_itself() {
    let app = TestApp::spawn();
    let mut bad = envelope(
        DocumentKind::InsuranceCertificate,
        INSURER,
        "0000000002",
        None,
    );
    bad["content"]["care_level"] = json!("99");
    let lines = [
        envelope(
            DocumentKind::InsuranceCertificate,
            INSURER,
            "0000000001",
            None,
        )
        .to_string(),
        bad.to_string(),
        "{not json".to_owned(),
        envelope(
            DocumentKind::InsuranceCertificate,
            OTHER_INSURER,
            "0000000003",
            None,
        )
        .to_string(),
        envelope(
            DocumentKind::BurdenRatioCertificate,
            INSURER,
            "0000000004",
            None,
        )
        .to_string(),
    ];
    let resp = app
        .client("municipality")
        .post(app.url("/api/ingest/documents:bulk"))
        .header("content-type", "application/x-ndjson")
        .body(lines.join("\n"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let results: Vec<Value> = resp
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let statuses: Vec<i64> = results
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, vec![201, 422, 400, 403, 201]);
    assert_eq!(
        results[1]["problem"]["type"],
        "urn:carehub:problem:invalid-document"
    );
    assert_eq!(
        results[3]["problem"]["type"],
        "urn:carehub:problem:wrong-municipality"
    );
    assert_eq!(version_count(&app), 2);
}

#[test]
fn an_office_stores_documents_only_about_persons_it_is_registered_for() {
    let app = TestApp::spawn();
    let cm = app.client("care-manager");
    let plan = |key: &str| envelope(DocumentKind::CarePlan, INSURER, PERSON, Some(key));
    let bulk = |lines: &[Value]| -> Vec<Value> {
        let body: Vec<String> = lines.iter().map(Value::to_string).collect();
        let resp = cm
            .post(app.url("/api/ingest/documents:bulk"))
            .header("content-type", "application/x-ndjson")
            .body(body.join("\n"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.text()
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let refused_line = |line: &Value| {
        assert_eq!(line["status"], 403, "{line}");
        assert_eq!(
            line["problem"]["type"], "urn:carehub:problem:office-not-registered",
            "{line}"
        );
    };

    // Not registered: the single write and the bulk line are refused.
    problem(
        ingest(&cm, &app, &plan("2025-11")),
        403,
        "office-not-registered",
    );
    refused_line(&bulk(&[plan("2025-11")])[0]);
    assert_eq!(version_count(&app), 0);

    // Registered: stored, by both endpoints; a line about another person in
    // the same bulk is still refused.
    let registration = register(&app, &cm, PERSON);
    let resp = ingest(&cm, &app, &plan("2025-11"));
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    let out = bulk(&[
        plan("2025-12"),
        envelope(
            DocumentKind::CarePlan,
            INSURER,
            "0000099999",
            Some("2025-12"),
        ),
    ]);
    assert_eq!(out[0]["status"], 201, "{}", out[0]);
    refused_line(&out[1]);
    assert_eq!(version_count(&app), 2);

    // Deregistered (the contract ended): refused again, at once.
    let resp = cm
        .post(app.url(&format!(
            "/api/office-register/registrations/{registration}/deregister"
        )))
        .json(&json!({"reason": "契約終了"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    problem(
        ingest(&cm, &app, &plan("2026-01")),
        403,
        "office-not-registered",
    );
    refused_line(&bulk(&[plan("2026-01")])[0]);
    assert_eq!(version_count(&app), 2);
}

#[test]
fn lists_page_through_every_document_with_a_cursor() {
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    for i in 0..7 {
        let resp = ingest(
            &muni,
            &app,
            &envelope(
                DocumentKind::HousingRenovation,
                INSURER,
                PERSON,
                Some(&format!("work-{i}")),
            ),
        );
        assert_eq!(resp.status(), 201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("/api/read/persons/{INSURER}/{PERSON}/documents?limit=3");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = muni.get(app.url(&url)).send().unwrap().json().unwrap();
        for d in page["documents"].as_array().unwrap() {
            seen.push(d["document_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (7, 7));
}

#[test]
fn the_person_reads_their_own_column_through_the_portal() {
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    for kind in [
        DocumentKind::InsuranceCertificate,
        DocumentKind::CertificationSurvey,
    ] {
        assert_eq!(
            ingest(&muni, &app, &envelope(kind, INSURER, PERSON, Some("k"))).status(),
            201
        );
    }
    let portal = app.client("portal");
    let token = app.person_token(INSURER, PERSON, "person");
    let page: Value = portal
        .get(app.url(&format!("/api/read/persons/{INSURER}/{PERSON}/documents")))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let kinds: Vec<&str> = page["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    // The survey is not in the person's column of the matrix.
    assert_eq!(kinds, vec!["insurance_certificate"]);

    // Another person's token, or none, or a forged one.
    let other = app.person_token(INSURER, "0000099999", "person");
    let resp = portal
        .get(app.url(&format!("/api/read/persons/{INSURER}/{PERSON}/documents")))
        .bearer_auth(&other)
        .send()
        .unwrap();
    problem(resp, 403, "forbidden");
    let resp = portal
        .get(app.url(&format!("/api/read/persons/{INSURER}/{PERSON}/documents")))
        .send()
        .unwrap();
    problem(resp, 401, "person-token-missing");
    let rogue_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let forged = carehub::devpki::person_token(
        &rogue_key,
        &carehub::devpki::PersonClaims {
            iss: "carehub-dev-idp".into(),
            aud: "carehub".into(),
            sub: "x".into(),
            insurer_number: INSURER.into(),
            insured_number: PERSON.into(),
            actor: "person".into(),
            iat: now,
            exp: now + 600,
        },
    )
    .unwrap();
    let resp = portal
        .get(app.url(&format!("/api/read/persons/{INSURER}/{PERSON}/documents")))
        .bearer_auth(&forged)
        .send()
        .unwrap();
    problem(resp, 401, "person-token-invalid");
}

#[test]
fn a_refusal_looks_the_same_whether_or_not_the_document_exists() {
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    let created: Value = ingest(
        &muni,
        &app,
        &envelope(
            DocumentKind::CertificationSurvey,
            INSURER,
            PERSON,
            Some("s1"),
        ),
    )
    .json()
    .unwrap();
    let existing = created["document_id"].as_str().unwrap().to_owned();
    let missing = "doc_00000000000000000000000000000000";
    for role in ["care-manager", "care-service", "medical", "operator"] {
        let client = app.client(role);
        let a = client
            .get(app.url(&format!("/api/read/documents/{existing}")))
            .send()
            .unwrap();
        let b = client
            .get(app.url(&format!("/api/read/documents/{missing}")))
            .send()
            .unwrap();
        assert_eq!(
            (a.status().as_u16(), b.status().as_u16()),
            (403, 403),
            "{role}"
        );
        assert_eq!(
            a.bytes().unwrap(),
            b.bytes().unwrap(),
            "{role}: identical bodies"
        );
    }
    // A municipality of another insurer: the same, and its list is refused.
    let osaka = app.client_for_urn(&format!("urn:carehub:municipality:{OTHER_INSURER}"));
    let a = osaka
        .get(app.url(&format!("/api/read/documents/{existing}")))
        .send()
        .unwrap();
    let b = osaka
        .get(app.url(&format!("/api/read/documents/{missing}")))
        .send()
        .unwrap();
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (403, 403));
    assert_eq!(a.bytes().unwrap(), b.bytes().unwrap());
    problem(list(&osaka, &app, INSURER, PERSON), 403, "forbidden");
}
