//! Steps of the care scenarios, spoken over mTLS: ingest, consent,
//! registration, reads, the access log. Shared by `consent` and `scenario`.

#![allow(dead_code)]

use crate::helpers::{TestApp, TestDb};
use carehub_domain::{DocumentKind, InsuredNumber, InsurerNumber, PersonRef};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

/// Where the steps talk: one gateway ([`TestApp`]), or the gateway in proxy
/// mode in front of another that serves the components (`proxy::Split`).
pub trait Hub {
    /// A URL on the hub's edge.
    fn url(&self, path: &str) -> String;
    /// An mTLS client holding the dev certificate of `role`, for the edge.
    fn client(&self, role: &str) -> Client;
    /// A person token the components accept.
    fn person_token(&self, insurer: &str, insured: &str, actor: &str) -> String;
    /// The database the components write (SQLite or PostgreSQL).
    fn db(&self) -> TestDb;
    /// Stops the process that holds the database (SIGTERM, waits).
    fn stop(&mut self);
    /// The public key (SPKI PEM file) the hub's checkpoints verify with.
    fn log_public_key(&self) -> std::path::PathBuf;
}

impl Hub for TestApp {
    fn url(&self, path: &str) -> String {
        TestApp::url(self, path)
    }
    fn client(&self, role: &str) -> Client {
        TestApp::client(self, role)
    }
    fn person_token(&self, insurer: &str, insured: &str, actor: &str) -> String {
        TestApp::person_token(self, insurer, insured, actor)
    }
    fn db(&self) -> TestDb {
        TestApp::db(self).clone()
    }
    fn stop(&mut self) {
        self.terminate();
    }
    fn log_public_key(&self) -> std::path::PathBuf {
        self.pki.log_public_key()
    }
}

pub const INSURER: &str = "131016";

pub fn person(insured: &str) -> PersonRef {
    PersonRef::new(
        InsurerNumber::parse(INSURER).unwrap(),
        InsuredNumber::parse(insured).unwrap(),
    )
}

/// A client whose certificate names `urn` (signed by the gateway's dev CA),
/// for principals beyond the dev set (another municipality, another office).
pub fn client_for(app: &TestApp, urn: &str) -> Client {
    let ca = carehub::devpki::Authority::load(
        &std::fs::read_to_string(app.pki.ca_cert()).unwrap(),
        &std::fs::read_to_string(app.pki.ca_key()).unwrap(),
    )
    .unwrap();
    let (cert, key) = ca.client(urn).unwrap();
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    crate::helpers::client_with(&app.pki.ca_cert(), Some(identity), None)
}

/// The example content of `kind` for `insured`, with `patch` merged in.
pub fn content(kind: DocumentKind, insured: &str, patch: Value) -> Value {
    let mut c = carehub_domain::content::example_content(kind, &person(insured));
    if let (Value::Object(c), Value::Object(p)) = (&mut c, patch) {
        c.extend(p);
    }
    c
}

/// Stores a document; returns its id.
pub fn ingest(
    app: &impl Hub,
    client: &Client,
    kind: DocumentKind,
    insured: &str,
    key: Option<&str>,
    content: Value,
) -> String {
    let mut body = json!({
        "person": {"insurer_number": INSURER, "insured_number": insured},
        "kind": kind.as_str(),
        "content": content,
    });
    if let Some(k) = key {
        body["document_key"] = json!(k);
    }
    let resp = client
        .post(app.url("/api/ingest/documents"))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "ingest {kind}: {}",
        resp.text().unwrap()
    );
    resp.json::<Value>().unwrap()["document_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Posts a consent event, with a person token when given.
pub fn consent_event(
    app: &impl Hub,
    client: &Client,
    insured: &str,
    token: Option<&str>,
    body: &Value,
) -> Response {
    let mut req = client
        .post(app.url(&format!("/api/consent/persons/{INSURER}/{insured}/events")))
        .json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().unwrap()
}

/// Consent given at the renewal application, recorded by the municipality.
pub fn consent_at_renewal(app: &impl Hub, insured: &str) {
    let resp = consent_event(
        app,
        &app.client("municipality"),
        insured,
        None,
        &json!({
            "event": "given",
            "given_by": {"type": "person"},
            "method": "paper_form",
            "explanation_given": true,
            "application_ref": "更新申請-2025-000123",
        }),
    );
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
}

/// The calling office registers for `insured` after a My Number card check;
/// returns the registration id.
pub fn register(app: &impl Hub, client: &Client, insured: &str) -> String {
    let resp = client
        .post(app.url("/api/office-register/registrations"))
        .json(&json!({
            "person": {"insurer_number": INSURER, "insured_number": insured},
            "verification_method": {"type": "my_number_card"},
            "verification_reference": "資格確認端末 照合番号 0042",
            "start": "2025-04-01T00:00:00+09:00",
        }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    resp.json::<Value>().unwrap()["registration_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `GET /api/read/documents/{id}`.
pub fn read(app: &impl Hub, client: &Client, id: &str) -> Response {
    client
        .get(app.url(&format!("/api/read/documents/{id}")))
        .send()
        .unwrap()
}

/// Status and body bytes of a read.
pub fn read_raw(app: &impl Hub, client: &Client, id: &str) -> (u16, Vec<u8>) {
    let resp = read(app, client, id);
    (resp.status().as_u16(), resp.bytes().unwrap().to_vec())
}

/// The person's access log as the portal sees it (all of it, newest first).
pub fn accesses(app: &impl Hub, insured: &str) -> Vec<Value> {
    let token = app.person_token(INSURER, insured, "person");
    let resp = app
        .client("portal")
        .get(app.url(&format!(
            "/api/read/persons/{INSURER}/{insured}/accesses?limit=200"
        )))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().unwrap()["accesses"]
        .as_array()
        .unwrap()
        .clone()
}

/// Runs `carehub verify-log` on the app's database: (success, stdout, stderr).
pub fn verify_log(app: &impl Hub) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carehub"))
        .arg("verify-log")
        .args(app.db().verify_log_args())
        .arg("--public-key")
        .arg(app.log_public_key())
        .env_remove("CAREHUB_STATE_DIR")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
