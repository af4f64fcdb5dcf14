//! The submission relay over mTLS: a care-plan request and a physician's
//! opinion reach the person's municipality, are pulled, answered, and
//! followed by their senders; nothing reaches another municipality.

use crate::helpers::{TestApp, problem};
use crate::progress::{apply_for_renewal, register_with_consent, step};
use carehub_domain::{DocumentKind, InsuredNumber, InsurerNumber, PersonRef};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

const INSURER: &str = "131016";
const PERSON: &str = "0000012345";
const OTHER_INSURER: &str = "271004";
const OTHER_MUNICIPALITY: &str = "urn:carehub:municipality:271004";

fn care_plan_request(insurer: &str) -> Value {
    json!({
        "type": "care_plan_request",
        "person": {"insurer_number": insurer, "insured_number": PERSON},
        "content": {
            "request_type": "new",
            "notification_date": "2026-04-03",
            "insured_name": "介護 太郎",
            "birth_date": "1943-05-12",
            "office": {"office_number": "1371234567", "name": "霞が関居宅介護支援事業所",
                       "address": "東京都千代田区霞が関一丁目3番1号"},
            "start_date": "2026-04-01"
        }
    })
}

fn opinion(application_id: &str) -> Value {
    let person = PersonRef::new(
        InsurerNumber::parse(INSURER).unwrap(),
        InsuredNumber::parse(PERSON).unwrap(),
    );
    json!({
        "type": "physician_opinion",
        "person": {"insurer_number": INSURER, "insured_number": PERSON},
        "application_id": application_id,
        "content": carehub_domain::example_content(DocumentKind::PhysicianOpinion, &person),
    })
}

fn submit(app: &TestApp, client: &Client, key: &str, body: &Value) -> Response {
    client
        .post(app.url("/api/relay/submissions"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .unwrap()
}

fn inbox(app: &TestApp, client: &Client) -> Value {
    let resp = client.get(app.url("/api/relay/inbox")).send().unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().unwrap()
}

fn state_of(app: &TestApp, client: &Client, id: &str) -> Value {
    let resp = client
        .get(app.url(&format!("/api/relay/submissions/{id}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().unwrap()
}

fn answer(app: &TestApp, client: &Client, id: &str, what: &str, body: Value) -> Response {
    client
        .post(app.url(&format!("/api/relay/submissions/{id}/{what}")))
        .json(&body)
        .send()
        .unwrap()
}

fn submissions_stored(app: &TestApp) -> i64 {
    app.db().query_i64("SELECT COUNT(*) FROM relay_submissions")
}

#[test]
fn a_care_plan_request_reaches_the_municipality_and_is_acknowledged_once() {
    let app = TestApp::spawn();
    let cm = app.client("care-manager");
    let muni = app.client("municipality");
    let other = app.client_for_urn(OTHER_MUNICIPALITY);

    // Without registration and consent: the generic refusal, nothing stored.
    problem(
        submit(&app, &cm, "req-1", &care_plan_request(INSURER)),
        403,
        "forbidden",
    );
    assert_eq!(submissions_stored(&app), 0);
    register_with_consent(&app, "更新申請-2026-000123");

    let resp = submit(&app, &cm, "req-1", &care_plan_request(INSURER));
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let first: Value = resp.json().unwrap();
    assert_eq!(first["state"], "accepted");
    let id = first["submission_id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/relay/submissions/{id}"));

    // The same submission sent twice with one key is stored once.
    let again = submit(&app, &cm, "req-1", &care_plan_request(INSURER));
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<Value>().unwrap()["submission_id"], id.as_str());
    assert_eq!(submissions_stored(&app), 1);
    let mut changed = care_plan_request(INSURER);
    changed["content"]["request_type"] = json!("change");
    problem(
        submit(&app, &cm, "req-1", &changed),
        409,
        "idempotency-key-reused",
    );
    assert_eq!(submissions_stored(&app), 1);
    // A submission needs a key.
    let resp = cm
        .post(app.url("/api/relay/submissions"))
        .json(&care_plan_request(INSURER))
        .send()
        .unwrap();
    problem(resp, 400, "idempotency-key-missing");

    // Another municipality sees nothing of it.
    assert_eq!(inbox(&app, &other)["items"], json!([]));
    let refused = other
        .get(app.url(&format!("/api/relay/submissions/{id}")))
        .send()
        .unwrap();
    problem(refused, 403, "forbidden");
    problem(
        answer(
            &app,
            &other,
            &id,
            "acknowledge",
            json!({"receipt_number": "X-1"}),
        ),
        403,
        "forbidden",
    );

    // The municipality pulls it: delivered.
    assert_eq!(state_of(&app, &cm, &id)["state"], "accepted");
    let pulled = inbox(&app, &muni);
    let items = pulled["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["submission_id"], id.as_str());
    assert_eq!(items[0]["state"], "delivered");
    assert_eq!(items[0]["content"]["office"]["office_number"], "1371234567");
    assert_eq!(state_of(&app, &cm, &id)["state"], "delivered");

    // Acknowledged with a receipt number; twice gives the same receipt; a
    // different number is a conflict.
    let ack = answer(
        &app,
        &muni,
        &id,
        "acknowledge",
        json!({"receipt_number": "千代田-2026-0042"}),
    );
    assert_eq!(ack.status(), 200, "{}", ack.text().unwrap());
    let twice = answer(
        &app,
        &muni,
        &id,
        "acknowledge",
        json!({"receipt_number": "千代田-2026-0042"}),
    );
    assert_eq!(twice.status(), 200);
    assert_eq!(
        twice.json::<Value>().unwrap()["receipt_number"],
        "千代田-2026-0042"
    );
    problem(
        answer(
            &app,
            &muni,
            &id,
            "acknowledge",
            json!({"receipt_number": "千代田-2026-0043"}),
        ),
        409,
        "conflict",
    );
    problem(
        answer(&app, &muni, &id, "reject", json!({"reason": "記載漏れ"})),
        409,
        "conflict",
    );

    // The sender sees the receipt and the whole history; the inbox is empty.
    let v = state_of(&app, &cm, &id);
    assert_eq!(v["state"], "acknowledged");
    assert_eq!(v["receipt_number"], "千代田-2026-0042");
    let states: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["accepted", "delivered", "acknowledged"]);
    assert_eq!(inbox(&app, &muni)["items"], json!([]));
}

#[test]
fn a_submission_for_a_person_of_another_municipality_is_refused() {
    let app = TestApp::spawn();
    let cm = app.client("care-manager");
    register_with_consent(&app, "更新申請-2026-000123");
    // Registered for the person of 131016, not for anyone of 271004.
    let resp = submit(&app, &cm, "req-x", &care_plan_request(OTHER_INSURER));
    let refused = problem(resp, 403, "forbidden");
    assert_eq!(submissions_stored(&app), 0);
    assert!(!refused.to_string().contains(OTHER_INSURER));
    let other = app.client_for_urn(OTHER_MUNICIPALITY);
    assert_eq!(inbox(&app, &other)["items"], json!([]));
    // Only care-manager offices send care-plan requests.
    problem(
        submit(
            &app,
            &app.client("medical"),
            "req-y",
            &care_plan_request(INSURER),
        ),
        403,
        "role-not-allowed",
    );
}

#[test]
fn a_physician_opinion_answers_the_application_awaiting_it() {
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    let medical = app.client("medical");
    let portal = app.client("portal");
    let token = app.person_token(INSURER, PERSON, "person");
    let application = apply_for_renewal(&app, &muni);

    // Not awaiting an opinion yet: 409, and nothing is stored.
    let body = problem(
        submit(&app, &medical, "op-1", &opinion(&application)),
        409,
        "invalid-transition",
    );
    assert_eq!(body["current_stage"], "received");
    assert_eq!(submissions_stored(&app), 0);

    let resp = step(
        &app,
        &muni,
        &application,
        json!({"step": "opinion_requested", "requested_from": "urn:carehub:medical:1312345678"}),
    );
    assert_eq!(resp.status(), 200);
    // Another institution was not asked: the generic refusal.
    let stranger = app.client_for_urn("urn:carehub:medical:1312345679");
    problem(
        submit(&app, &stranger, "op-1", &opinion(&application)),
        403,
        "forbidden",
    );

    let resp = submit(&app, &medical, "op-2", &opinion(&application));
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    let v: Value = resp.json().unwrap();
    let id = v["submission_id"].as_str().unwrap().to_owned();
    let document = v["document_id"].as_str().unwrap().to_owned();

    // The application moved on, as the person sees.
    let seen: Value = portal
        .get(app.url(&format!("/api/progress/applications/{application}")))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(seen["stage"], "opinion_received");
    assert_eq!(seen["opinion"], "received");
    // The opinion is a document by the medical institution, which reads it
    // as its author, as does the municipality.
    for client in [&medical, &muni] {
        let doc: Value = client
            .get(app.url(&format!("/api/read/documents/{document}")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(doc["kind"], "physician_opinion", "{doc}");
        assert_eq!(doc["author"], "urn:carehub:medical:1312345678");
        assert_eq!(doc["content"]["application_ref"], application.as_str());
    }
    // No second opinion for it.
    problem(
        submit(&app, &medical, "op-3", &opinion(&application)),
        409,
        "invalid-transition",
    );

    // The municipality pulls and rejects it; the sender sees why.
    let pulled = inbox(&app, &muni);
    assert_eq!(pulled["items"][0]["submission_id"], id.as_str());
    let resp = answer(
        &app,
        &muni,
        &id,
        "reject",
        json!({"reason": "診断名の記載漏れ"}),
    );
    assert_eq!(resp.status(), 200);
    let v = state_of(&app, &medical, &id);
    assert_eq!(v["state"], "rejected");
    assert_eq!(v["reason"], "診断名の記載漏れ");
}
