//! The runtime under the edge: fresh instances, deadlines, limits and the
//! Spin host interfaces, shown with the probe component.

use crate::helpers::{Options, TestApp, problem};
use std::time::{Duration, Instant};

#[test]
fn a_thousand_sequential_requests_each_get_a_fresh_instance() {
    let app = TestApp::spawn();
    let client = app.client("operator");
    for i in 0..1000 {
        let resp = client.get(app.url("/probe/counter")).send().unwrap();
        assert_eq!(resp.status(), 200, "request {i}");
        // The probe counts requests in a static; a reused instance would say 2.
        assert_eq!(resp.text().unwrap(), r#"{"seen":1}"#, "request {i}");
    }
}

#[test]
fn a_component_stuck_in_a_loop_is_cut_off_and_others_keep_being_served() {
    let deadline = Duration::from_millis(3000);
    let app = TestApp::spawn_with(Options {
        args: vec!["--deadline-ms".into(), deadline.as_millis().to_string()],
        ..Default::default()
    });
    let looping = {
        let client = app.client("operator");
        let url = app.url("/probe/loop");
        std::thread::spawn(move || {
            let started = Instant::now();
            let resp = client.get(url).send().unwrap();
            (resp, started.elapsed())
        })
    };
    // While the loop burns, other requests are answered: all of them come
    // back before the looping request does.
    std::thread::sleep(Duration::from_millis(200));
    let client = app.client("operator");
    for _ in 0..20 {
        let resp = client.get(app.url("/probe/fixed")).send().unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert!(
        !looping.is_finished(),
        "the other requests were served while the loop still ran"
    );
    let (resp, took) = looping.join().unwrap();
    problem(resp, 504, "deadline-exceeded");
    assert!(
        took >= deadline - Duration::from_millis(50),
        "stopped at the deadline, not before: {took:?}"
    );
    assert!(
        took < deadline + Duration::from_secs(5),
        "stopped near the deadline: {took:?}"
    );
    // And afterwards.
    let resp = client.get(app.url("/probe/fixed")).send().unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn the_spin_headers_are_set_as_spin_sets_them() {
    let app = TestApp::spawn();
    let resp = app
        .client("operator")
        .get(app.url("/probe/headers?x=1"))
        .send()
        .unwrap();
    let headers: Vec<(String, String)> = resp.json().unwrap();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} missing from {headers:?}"))
    };
    assert_eq!(get("spin-path-info"), "/headers");
    assert_eq!(get("spin-matched-route"), "/probe/...");
    assert_eq!(get("spin-raw-component-route"), "/probe/...");
    assert_eq!(get("spin-component-route"), "/probe");
    assert_eq!(get("spin-base-path"), "/");
    assert_eq!(
        get("spin-full-url"),
        format!("{}/probe/headers?x=1", app.base)
    );
    assert!(get("spin-client-addr").starts_with("127.0.0.1:"));
}

#[test]
fn variables_come_from_the_manifest_and_the_environment() {
    let app = TestApp::spawn_with(Options {
        env: vec![(
            "SPIN_VARIABLE_PERSON_TOKEN_ISSUER".into(),
            "idp.example".into(),
        )],
        ..Default::default()
    });
    let client = app.client("operator");
    let get = |name: &str| {
        let resp = client
            .get(app.url(&format!("/probe/variable?name={name}")))
            .send()
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json::<serde_json::Value>().unwrap(),
        )
    };
    assert_eq!(
        get("greeting"),
        (200, serde_json::json!({"value": "hello from spin.toml"}))
    );
    assert_eq!(
        get("issuer"),
        (200, serde_json::json!({"value": "idp.example"}))
    );
    // Declared for other components, not for the probe: undefined here.
    assert_eq!(get("assertion_key").0, 404);
    assert_eq!(get("nonexistent").0, 404);
}

#[test]
fn a_component_opens_only_the_databases_granted_to_it() {
    let app = TestApp::spawn();
    let resp = app
        .client("operator")
        .get(app.url("/probe/sqlite?default"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 403, "the probe has no sqlite_databases");
    assert!(resp.text().unwrap().to_lowercase().contains("access"));
}

#[test]
fn outbound_http_only_to_allowed_hosts() {
    // A real upstream on loopback.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = upstream.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in upstream.incoming() {
            let Ok(mut s) = stream else { break };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    let app = TestApp::spawn_with(Options {
        probe_outbound: vec![format!("http://127.0.0.1:{port}")],
        ..Default::default()
    });
    let client = app.client("operator");
    let resp = client
        .get(app.url(&format!("/probe/fetch?url=http://127.0.0.1:{port}/")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().unwrap()["upstream_status"],
        204
    );

    let resp = client
        .get(app.url(&format!("/probe/fetch?url=http://127.0.0.1:{other_port}/")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 502);
    let body = resp.text().unwrap();
    assert!(body.contains("denied") || body.contains("Denied"), "{body}");
    drop(other);
}

#[test]
fn an_oversized_body_is_refused_by_the_gateway() {
    let app = TestApp::spawn_with(Options {
        args: vec!["--max-body-bytes".into(), "4096".into()],
        ..Default::default()
    });
    let client = app.client("municipality");
    let resp = client
        .post(app.url("/api/ingest/documents"))
        .header("content-type", "application/json")
        .body(vec![b' '; 8192])
        .send()
        .unwrap();
    problem(resp, 413, "payload-too-large");
    // Without a content length (chunked), the limit still holds.
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(vec![b' '; 8192]));
    let resp = client
        .post(app.url("/api/ingest/documents"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    problem(resp, 413, "payload-too-large");
}

#[test]
fn sigterm_stops_the_gateway_cleanly() {
    // The scheduled jobs back to back, so that one is running on the
    // background lane when the signal comes: it finishes (or is cut off)
    // before the runtimes stop, and nothing panics on the way out (on
    // PostgreSQL a job cut off mid-connect once made sqlx panic on the
    // lane's thread when the main runtime stopped first).
    for round in 0..3 {
        let mut app = TestApp::spawn_with(Options {
            args: [
                "--dispatch-interval-ms",
                "5",
                "--checkpoint-interval-ms",
                "5",
                "--purge-interval-ms",
                "5",
            ]
            .map(String::from)
            .to_vec(),
            capture_stderr: true,
            ..Options::default()
        });
        let resp = app
            .client("operator")
            .get(app.url("/probe/fixed"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        let status = app.terminate();
        let stderr = app.stderr();
        assert!(
            status.success(),
            "round {round}: {status:?}; stderr: {stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "round {round}: the gateway panicked on the way out: {stderr}"
        );
    }
}
