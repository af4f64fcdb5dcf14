//! Webhooks end to end: a real receiving HTTP server in this process, the
//! gateway's own dispatch schedule, signatures checked by the independent
//! `standardwebhooks` package from PyPI (tests/webhooks/verify.py).

use crate::care::{self, client_for};
use crate::helpers::{Options, TestApp, problem, workspace};
use bytes::Bytes;
use carehub_domain::DocumentKind;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// 200.
    Ok,
    /// 410 Gone.
    Gone,
    /// Records the request, then holds the answer this long.
    Slow(Duration),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Got {
    fn id(&self) -> &str {
        &self.headers["webhook-id"]
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

struct Shared {
    mode: Mutex<Mode>,
    got: Mutex<Vec<Got>>,
}

/// A webhook receiver: hyper on its own tokio runtime, on a fixed port that
/// can go down (connections refused) and come back.
struct Hook {
    rt: tokio::runtime::Runtime,
    port: u16,
    shared: Arc<Shared>,
    server: Option<tokio::task::JoinHandle<()>>,
}

async fn answer(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    shared.got.lock().unwrap().push(Got {
        path,
        headers,
        body,
    });
    let mode = *shared.mode.lock().unwrap();
    let status = match mode {
        Mode::Ok => 200,
        Mode::Gone => 410,
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            200
        }
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(b"ok")));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    Ok(resp)
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| answer(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

impl Hook {
    fn start(mode: Mode) -> Hook {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            mode: Mutex::new(mode),
            got: Mutex::new(Vec::new()),
        });
        let server = Some(rt.spawn(serve(listener, shared.clone())));
        Hook {
            rt,
            port,
            shared,
            server,
        }
    }

    /// Stops listening and drops open connections: calls are refused.
    fn down(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
            let _ = self.rt.block_on(s);
        }
    }

    /// Listens again on the same port.
    fn up(&mut self) {
        let listener = self
            .rt
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", self.port)))
            .unwrap();
        self.server = Some(self.rt.spawn(serve(listener, self.shared.clone())));
    }

    fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    fn got(&self, path: &str) -> Vec<Got> {
        self.shared
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.path == path)
            .cloned()
            .collect()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// A gateway whose webhooks may reach `hook`, with a fast test schedule.
fn options(hook: &Hook, lease_ms: u64) -> Options {
    Options {
        args: vec!["--dispatch-interval-ms".into(), "100".into()],
        env: vec![
            (
                "SPIN_VARIABLE_WEBHOOK_ALLOWED_ORIGIN".into(),
                format!("http://127.0.0.1:{}", hook.port),
            ),
            ("SPIN_VARIABLE_WEBHOOK_BACKOFF_BASE_MS".into(), "50".into()),
            (
                "SPIN_VARIABLE_WEBHOOK_LEASE_MS".into(),
                lease_ms.to_string(),
            ),
        ],
        ..Options::default()
    }
}

fn ingest(app: &TestApp, client: &Client, kind: DocumentKind, insured: &str) {
    let content = care::content(kind, insured, json!({}));
    care::ingest(app, client, kind, insured, Some("wh-1"), content);
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn subscribe(app: &TestApp, client: &Client, url: &str, types: Option<Value>) -> (String, String) {
    let mut body = json!({ "url": url });
    if let Some(t) = types {
        body["event_types"] = t;
    }
    let resp = client
        .post(app.url("/api/webhooks/subscriptions"))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201);
    let v: Value = resp.json().unwrap();
    let secret = v["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{v}");
    (v["subscription_id"].as_str().unwrap().to_owned(), secret)
}

fn get(app: &TestApp, client: &Client, path: &str) -> Value {
    let resp = client.get(app.url(path)).send().unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().unwrap()
}

fn messages(app: &TestApp, client: &Client, id: &str) -> Vec<Value> {
    get(
        app,
        client,
        &format!("/api/webhooks/subscriptions/{id}/messages?limit=200"),
    )["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn distinct(got: &[Got]) -> BTreeSet<String> {
    got.iter().map(|g| g.id().to_owned()).collect()
}

/// Verifies each delivery with the `standardwebhooks` package from PyPI.
fn verify(secret: &str, deliveries: &[Got]) -> Vec<bool> {
    let python = workspace().join("target/webhooks-venv/bin/python");
    assert!(
        python.exists(),
        "the independent verifier is missing: infra/test.sh installs it, or run \
         `python3 -m venv target/webhooks-venv && target/webhooks-venv/bin/python -m pip install standardwebhooks`"
    );
    let input = json!({
        "secret": secret,
        "deliveries": deliveries.iter().map(|g| json!({
            "headers": {
                "webhook-id": g.headers["webhook-id"],
                "webhook-timestamp": g.headers["webhook-timestamp"],
                "webhook-signature": g.headers["webhook-signature"],
            },
            "body": g.body,
        })).collect::<Vec<_>>(),
    });
    let mut child = std::process::Command::new(python)
        .arg(workspace().join("tests/webhooks/verify.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "verify.py failed ({}): is standardwebhooks installed in target/webhooks-venv?",
        out.status
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["verified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_bool().unwrap())
        .collect()
}

#[test]
fn deliveries_are_signed_minimised_and_verify_independently() {
    let hook = Hook::start(Mode::Ok);
    let app = TestApp::spawn_with(options(&hook, 30_000));
    let municipality = app.client("municipality");
    let portal = app.client("portal");
    let other = client_for(&app, "urn:carehub:municipality:271004");
    let (_, portal_secret) = subscribe(&app, &portal, &hook.url("/portal"), None);
    let (own_id, own_secret) = subscribe(&app, &municipality, &hook.url("/own"), None);
    let (_, other_secret) = subscribe(&app, &other, &hook.url("/other"), None);

    let insured = "0000077001";
    for kind in [
        DocumentKind::CertificationSurvey,
        DocumentKind::InsuranceCertificate,
    ] {
        ingest(&app, &municipality, kind, insured);
    }
    wait_until(
        "two deliveries to the municipality",
        Duration::from_secs(30),
        || hook.got("/own").len() >= 2 && !hook.got("/portal").is_empty(),
    );
    // A few more cycles: nothing else arrives anywhere.
    std::thread::sleep(Duration::from_millis(600));
    let own = hook.got("/own");
    let portal_got = hook.got("/portal");
    assert_eq!(own.len(), 2);
    // The person never sees the certification survey.
    assert_eq!(portal_got.len(), 1);
    assert_eq!(
        portal_got[0].json()["data"]["kind"],
        "insurance_certificate"
    );
    // Another municipality hears nothing about a person it does not insure.
    assert!(hook.got("/other").is_empty());
    let kinds: BTreeSet<String> = own
        .iter()
        .map(|g| g.json()["data"]["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "certification_survey".into(),
            "insurance_certificate".into()
        ])
    );
    // Ids and states only: no content, no author.
    for g in own.iter().chain(&portal_got) {
        let v = g.json();
        assert_eq!(v["type"], "document.stored");
        let keys: BTreeSet<&str> = v["data"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["document_id", "kind", "person", "supersedes", "version"])
        );
        assert_eq!(v["data"]["person"]["insured_number"], insured);
        assert_eq!(g.headers["content-type"], "application/json");
    }

    // The independent implementation accepts every signature, and refuses
    // them under another receiver's secret.
    assert_eq!(verify(&own_secret, &own), [true, true]);
    assert_eq!(verify(&portal_secret, &portal_got), [true]);
    assert_eq!(verify(&other_secret, &own), [false, false]);

    // Rotation: both secrets sign until the old one expires.
    let resp = municipality
        .post(app.url(&format!("/api/webhooks/subscriptions/{own_id}/rotate")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rotated: Value = resp.json().unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, own_secret);
    assert!(rotated["previous_secret_expires_at"].is_string());
    care::consent_at_renewal(&app, insured);
    wait_until("the consent event", Duration::from_secs(30), || {
        hook.got("/own").len() >= 3
    });
    let last = hook.got("/own")[2].clone();
    assert_eq!(last.json()["type"], "consent.changed");
    assert_eq!(last.headers["webhook-signature"].split(' ').count(), 2);
    assert_eq!(verify(&new_secret, std::slice::from_ref(&last)), [true]);
    assert_eq!(verify(&own_secret, std::slice::from_ref(&last)), [true]);
    assert_eq!(verify(&other_secret, std::slice::from_ref(&last)), [false]);
    // The secret is shown at creation and rotation only.
    let shown = get(
        &app,
        &municipality,
        &format!("/api/webhooks/subscriptions/{own_id}"),
    );
    assert!(shown.get("secret").is_none());
}

#[test]
fn a_receiver_down_for_several_cycles_gets_every_event_exactly_once() {
    let mut hook = Hook::start(Mode::Ok);
    hook.down();
    let app = TestApp::spawn_with(options(&hook, 30_000));
    let municipality = app.client("municipality");
    let (id, _) = subscribe(&app, &municipality, &hook.url("/own"), None);
    let insured = "0000077002";
    for kind in [
        DocumentKind::InsuranceCertificate,
        DocumentKind::CertificationSurvey,
        DocumentKind::BurdenRatioCertificate,
    ] {
        ingest(&app, &municipality, kind, insured);
    }
    care::consent_at_renewal(&app, insured);
    // Several failed cycles, visible through the API.
    wait_until("repeated failed attempts", Duration::from_secs(30), || {
        let m = messages(&app, &municipality, &id);
        m.len() == 4 && m.iter().all(|m| m["attempt_count"].as_i64().unwrap() >= 3)
    });
    let listed = messages(&app, &municipality, &id);
    let first = listed[0]["message_id"].as_str().unwrap();
    let detail = get(
        &app,
        &municipality,
        &format!("/api/webhooks/subscriptions/{id}/messages/{first}"),
    );
    for a in detail["attempts"].as_array().unwrap() {
        assert_eq!(a["outcome"], "failed", "{a}");
        assert!(a["status"].is_null(), "{a}");
    }
    assert!(detail["next_attempt_at"].is_string());
    assert!(hook.got("/own").is_empty());

    hook.up();
    wait_until(
        "every event after the outage",
        Duration::from_secs(60),
        || distinct(&hook.got("/own")).len() == 4,
    );
    std::thread::sleep(Duration::from_millis(500));
    let got = hook.got("/own");
    let ids = distinct(&got);
    let expected: BTreeSet<String> = messages(&app, &municipality, &id)
        .iter()
        .map(|m| {
            assert_eq!(m["state"], "delivered", "{m}");
            m["message_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids, expected);
    let types: BTreeSet<String> = ids
        .iter()
        .map(|i| {
            got.iter().find(|g| g.id() == i).unwrap().json()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["consent.changed".into(), "document.stored".into()])
    );
}

#[test]
fn killing_the_gateway_during_delivery_loses_nothing() {
    let hook = Hook::start(Mode::Slow(Duration::from_secs(20)));
    let opts = options(&hook, 1_500);
    let app = TestApp::spawn_with(opts.clone());
    let municipality = app.client("municipality");
    let (id, _) = subscribe(&app, &municipality, &hook.url("/own"), None);
    let insured = "0000077003";
    for kind in [
        DocumentKind::InsuranceCertificate,
        DocumentKind::CertificationSurvey,
        DocumentKind::BurdenRatioCertificate,
    ] {
        ingest(&app, &municipality, kind, insured);
    }
    wait_until("deliveries in flight", Duration::from_secs(30), || {
        !hook.got("/own").is_empty()
    });
    // SIGKILL while the receiver holds the answers.
    let state = app.kill();
    hook.set(Mode::Ok);
    let app = TestApp::spawn_in(state, opts);
    wait_until(
        "every event after the restart",
        Duration::from_secs(60),
        || distinct(&hook.got("/own")).len() == 3,
    );
    let municipality = app.client("municipality");
    wait_until("all delivered in the API", Duration::from_secs(30), || {
        let m = messages(&app, &municipality, &id);
        m.len() == 3 && m.iter().all(|m| m["state"] == "delivered")
    });
    // What was in flight at the kill came again (at least once): the
    // receiver saw more requests than events, and dedupes by id.
    assert!(hook.got("/own").len() > 3, "{:?}", hook.got("/own").len());
}

#[test]
fn a_410_stops_deliveries_and_redelivery_on_request_works() {
    let hook = Hook::start(Mode::Gone);
    let app = TestApp::spawn_with(options(&hook, 30_000));
    let municipality = app.client("municipality");
    let (id, _) = subscribe(&app, &municipality, &hook.url("/own"), None);
    let insured = "0000077004";
    care::consent_at_renewal(&app, insured);
    wait_until("the 410", Duration::from_secs(30), || {
        get(
            &app,
            &municipality,
            &format!("/api/webhooks/subscriptions/{id}"),
        )["enabled"]
            == false
    });
    let shown = get(
        &app,
        &municipality,
        &format!("/api/webhooks/subscriptions/{id}"),
    );
    assert_eq!(shown["disabled_reason"], "gone");
    // More events, many cycles: no further call.
    ingest(
        &app,
        &municipality,
        DocumentKind::InsuranceCertificate,
        insured,
    );
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(hook.got("/own").len(), 1);

    // The receiver is back and re-enables the endpoint: the held messages go.
    hook.set(Mode::Ok);
    let resp = municipality
        .post(app.url(&format!("/api/webhooks/subscriptions/{id}/enable")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_until("the held messages", Duration::from_secs(30), || {
        distinct(&hook.got("/own")).len() == 2
            && messages(&app, &municipality, &id)
                .iter()
                .all(|m| m["state"] == "delivered")
    });
    // Redelivery on request: the same webhook-id, once more.
    let first = hook.got("/own")[0].id().to_owned();
    let before = hook.got("/own").iter().filter(|g| g.id() == first).count();
    let resp = municipality
        .post(app.url(&format!(
            "/api/webhooks/subscriptions/{id}/messages/{first}/redeliver"
        )))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    wait_until("the redelivery", Duration::from_secs(30), || {
        hook.got("/own").iter().filter(|g| g.id() == first).count() == before + 1
    });
    wait_until("the attempt recorded", Duration::from_secs(10), || {
        get(
            &app,
            &municipality,
            &format!("/api/webhooks/subscriptions/{id}/messages/{first}"),
        )["attempts"]
            .as_array()
            .unwrap()
            .len()
            == 3
    });
    let detail = get(
        &app,
        &municipality,
        &format!("/api/webhooks/subscriptions/{id}/messages/{first}"),
    );
    let outcomes: Vec<&str> = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["gone", "delivered", "delivered"]);
    assert_eq!(detail["attempts"][0]["status"], 410);
}

#[test]
fn the_subscription_api_refuses_wrong_roles_municipalities_and_origins() {
    let hook = Hook::start(Mode::Ok);
    let app = TestApp::spawn_with(options(&hook, 30_000));
    let municipality = app.client("municipality");
    let other = client_for(&app, "urn:carehub:municipality:271004");
    let create = |client: &Client, body: Value| {
        client
            .post(app.url("/api/webhooks/subscriptions"))
            .json(&body)
            .send()
            .unwrap()
    };
    // Offices receive no webhooks.
    problem(
        create(&app.client("care-manager"), json!({"url": hook.url("/x")})),
        403,
        "role-not-allowed",
    );
    // Outside the allowed outbound origin.
    for url in [
        "https://hooks.example.jp/x".to_owned(),
        format!("http://127.0.0.1:{}/x", hook.port.wrapping_add(1)),
        "not a url".to_owned(),
    ] {
        problem(
            create(&municipality, json!({ "url": url })),
            422,
            "webhook-url-not-allowed",
        );
    }
    // The portal may not hear of submissions.
    problem(
        create(
            &app.client("portal"),
            json!({"url": hook.url("/p"), "event_types": ["submission.state_changed"]}),
        ),
        403,
        "role-not-allowed",
    );
    // Another municipality's subscription: refused, whatever the action.
    let (id, _) = subscribe(&app, &municipality, &hook.url("/own"), None);
    for (method, path) in [
        ("GET", format!("/api/webhooks/subscriptions/{id}")),
        ("GET", format!("/api/webhooks/subscriptions/{id}/messages")),
        ("POST", format!("/api/webhooks/subscriptions/{id}/rotate")),
        ("POST", format!("/api/webhooks/subscriptions/{id}/enable")),
        (
            "POST",
            format!("/api/webhooks/subscriptions/{id}/messages/msg_0/redeliver"),
        ),
    ] {
        let req = match method {
            "GET" => other.get(app.url(&path)),
            _ => other.post(app.url(&path)),
        };
        problem(req.send().unwrap(), 403, "forbidden");
    }
    let mine = get(&app, &other, "/api/webhooks/subscriptions");
    assert_eq!(mine["items"].as_array().unwrap().len(), 0);
    // Only the scheduler principal runs the dispatcher; through the edge
    // with its certificate (as a platform cron would) it may.
    for client in [
        &municipality,
        &app.client("operator"),
        &app.client("portal"),
    ] {
        problem(
            client
                .post(app.url("/api/webhooks/dispatch"))
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
    }
    let scheduler = app.client_for_urn("urn:carehub:operator:scheduler");
    let resp = scheduler
        .post(app.url("/api/webhooks/dispatch"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let summary: Value = resp.json().unwrap();
    assert!(summary["attempted"].is_u64(), "{summary}");
}

#[test]
fn a_lost_create_or_rotate_answer_is_replayed_with_its_secret() {
    let hook = Hook::start(Mode::Ok);
    let app = TestApp::spawn_with(options(&hook, 30_000));
    let municipality = app.client("municipality");
    let other = client_for(&app, "urn:carehub:municipality:271004");
    let post = |client: &Client, path: &str, key: &str, body: Option<Value>| {
        let req = client.post(app.url(path)).header("idempotency-key", key);
        match body {
            Some(b) => req.json(&b),
            None => req,
        }
        .send()
        .unwrap()
    };
    let replayed = |r: &reqwest::blocking::Response| {
        r.headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let subs = "/api/webhooks/subscriptions";
    let body = json!({ "url": hook.url("/idem") });
    let first = post(&municipality, subs, "create-1", Some(body.clone()));
    assert_eq!(first.status(), 201);
    assert_eq!(replayed(&first), None);
    let first: Value = first.json().unwrap();
    // The retry of a lost answer: the same id and the same secret.
    let again = post(&municipality, subs, "create-1", Some(body.clone()));
    assert_eq!(again.status(), 201);
    assert_eq!(replayed(&again).as_deref(), Some("true"));
    let again: Value = again.json().unwrap();
    assert_eq!(again["subscription_id"], first["subscription_id"]);
    assert_eq!(again["secret"], first["secret"]);
    let mine = get(&app, &municipality, subs);
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    // The key with another body is refused.
    problem(
        post(
            &municipality,
            subs,
            "create-1",
            Some(json!({ "url": hook.url("/other") })),
        ),
        409,
        "idempotency-key-reused",
    );
    // Another municipality's same key is its own.
    let theirs = post(&other, subs, "create-1", Some(body));
    assert_eq!(theirs.status(), 201);
    assert_eq!(replayed(&theirs), None);
    let theirs: Value = theirs.json().unwrap();
    assert_ne!(theirs["subscription_id"], first["subscription_id"]);
    assert_ne!(theirs["secret"], first["secret"]);
    // Rotation: the retry gets the same new secret and rotates nothing more.
    let id = first["subscription_id"].as_str().unwrap();
    let rotate = format!("{subs}/{id}/rotate");
    let rotated = post(&municipality, &rotate, "rotate-1", None);
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().unwrap();
    assert_ne!(rotated["secret"], first["secret"]);
    let again = post(&municipality, &rotate, "rotate-1", None);
    assert_eq!(replayed(&again).as_deref(), Some("true"));
    assert_eq!(again.json::<Value>().unwrap(), rotated);
    // A malformed key is refused before anything is written.
    problem(
        post(&municipality, &rotate, "has space", None),
        400,
        "invalid-idempotency-key",
    );
}

#[test]
fn the_retention_job_deletes_delivered_messages_and_expired_keys_and_keeps_history() {
    let hook = Hook::start(Mode::Ok);
    let mut opts = options(&hook, 30_000);
    opts.args.extend(["--purge-interval-ms".into(), "0".into()]);
    opts.env.extend([
        ("SPIN_VARIABLE_WEBHOOK_RETENTION_SECS".into(), "1".into()),
        (
            "SPIN_VARIABLE_IDEMPOTENCY_RETENTION_SECS".into(),
            "1".into(),
        ),
    ]);
    let app = TestApp::spawn_with(opts);
    let municipality = app.client("municipality");
    // Subscribed with an Idempotency-Key: a stored answer to expire.
    let resp = municipality
        .post(app.url("/api/webhooks/subscriptions"))
        .header("idempotency-key", "retained-sub")
        .json(&json!({ "url": hook.url("/own") }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().unwrap()["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ingest(
        &app,
        &municipality,
        DocumentKind::InsuranceCertificate,
        "0000077101",
    );
    wait_until("the delivery", Duration::from_secs(30), || {
        messages(&app, &municipality, &id)
            .iter()
            .any(|m| m["state"] == "delivered")
    });
    // A read, so the access log has an entry to keep.
    get(
        &app,
        &municipality,
        &format!("/api/read/persons/{}/0000077101/documents", care::INSURER),
    );
    let db = app.db();
    let count = |table: &str| db.query_i64(&format!("SELECT COUNT(*) FROM {table}"));
    let history = |count: &dyn Fn(&str) -> i64| {
        [
            "documents",
            "document_versions",
            "webhook_events",
            "webhook_subscriptions",
            "log_entries",
        ]
        .map(count)
    };
    let before = history(&count);
    assert!(before.iter().all(|n| *n > 0), "{before:?}");
    assert_eq!(count("idempotency_records"), 1);
    assert_eq!(count("webhook_messages"), 1);
    assert!(count("webhook_attempts") >= 1);

    let purge = app.url("/api/webhooks/purge");
    // Only the scheduler may run it.
    for urn in [
        "urn:carehub:municipality:131016",
        "urn:carehub:operator:ops-dev",
    ] {
        let resp = client_for(&app, urn).post(&purge).send().unwrap();
        problem(resp, 403, "forbidden");
    }
    let scheduler = client_for(&app, "urn:carehub:operator:scheduler");
    std::thread::sleep(Duration::from_millis(1_500));
    let resp = scheduler.post(&purge).send().unwrap();
    assert_eq!(resp.status(), 200);
    let run: Value = resp.json().unwrap();
    assert_eq!(run["idempotency_records"], 1, "{run}");
    assert_eq!(run["webhook_messages"], 1, "{run}");
    assert_eq!(run["more"], false, "{run}");
    assert_eq!(count("idempotency_records"), 0);
    assert_eq!(count("webhook_messages"), 0);
    assert_eq!(count("webhook_attempts"), 0);
    assert_eq!(history(&count), before);
    // Nothing is left to purge; the subscription still works.
    let again: Value = scheduler.post(&purge).send().unwrap().json().unwrap();
    assert_eq!(again["webhook_messages"], 0);
    ingest(
        &app,
        &municipality,
        DocumentKind::BurdenRatioCertificate,
        "0000077101",
    );
    wait_until("the next delivery", Duration::from_secs(30), || {
        hook.got("/own").len() >= 2
    });
}

#[test]
fn secrets_are_sealed_at_rest_and_plain_ones_left_from_before_are_sealed_at_start() {
    let hook = Hook::start(Mode::Ok);
    let opts = options(&hook, 30_000);
    let app = TestApp::spawn_with(opts.clone());
    let municipality = app.client("municipality");
    let create = |app: &TestApp| {
        municipality
            .post(app.url("/api/webhooks/subscriptions"))
            .header("idempotency-key", "sealed-1")
            .json(&json!({ "url": hook.url("/sealed") }))
            .send()
            .unwrap()
    };
    let first = create(&app);
    assert_eq!(first.status(), 201);
    let first: Value = first.json().unwrap();
    let secret = first["secret"].as_str().unwrap().to_owned();
    let plain = |db: &crate::helpers::TestDb| {
        db.query_i64(
            "SELECT (SELECT COUNT(*) FROM webhook_subscriptions \
               WHERE secret NOT LIKE 'sealed:v1:%' OR previous_secret NOT LIKE 'sealed:v1:%') \
             + (SELECT COUNT(*) FROM idempotency_records WHERE body LIKE '%whsec%')",
        )
    };
    assert_eq!(plain(app.db()), 0);

    // A database from before sealing: the secret and the stored answer in
    // plain form, migration 0007 not yet applied.
    let db = app.db().clone();
    let state = app.kill();
    let undo = match db {
        crate::helpers::TestDb::Sqlite(_) => {
            "DROP TRIGGER webhook_secrets_are_sealed_insert; \
             DROP TRIGGER webhook_secrets_are_sealed_update;"
        }
        crate::helpers::TestDb::Postgres(_) => {
            "DROP TRIGGER webhook_secrets_are_sealed ON webhook_subscriptions; \
             DROP FUNCTION carehub_refuse_plain_secret();"
        }
    };
    let statements = format!(
        "{undo} UPDATE webhook_subscriptions SET secret = '{secret}'; \
         UPDATE idempotency_records SET body = '{first}'; \
         DELETE FROM carehub_migrations WHERE name = '0007_sealed_webhook_secrets.sql';"
    );
    for statement in statements
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        db.execute(statement).unwrap();
    }
    assert_eq!(plain(&db), 2);
    let app = TestApp::spawn_in(state, opts);
    assert_eq!(plain(app.db()), 0);
    // The replay still shows the secret, and deliveries are signed with it.
    let again = create(&app);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().unwrap()["secret"], secret);
    ingest(
        &app,
        &municipality,
        DocumentKind::InsuranceCertificate,
        "0000077201",
    );
    wait_until("the delivery", Duration::from_secs(30), || {
        !hook.got("/sealed").is_empty()
    });
    assert_eq!(verify(&secret, &hook.got("/sealed")), [true]);
}
