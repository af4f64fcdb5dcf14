//! Retention of idempotency records: a key past `idempotency_retention_secs`
//! no longer replays, and the gateway's in-process retention job deletes
//! expired records while the history stays. (Delivered webhook messages:
//! tests/api/webhooks.rs.)

use crate::helpers::{Options, TestApp, problem};
use carehub_domain::{DocumentKind, InsuredNumber, InsurerNumber, PersonRef};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const INSURER: &str = "131016";

fn envelope(insured: &str, ratio: u8) -> Value {
    let person = PersonRef {
        insurer_number: InsurerNumber::parse(INSURER).unwrap(),
        insured_number: InsuredNumber::parse(insured).unwrap(),
    };
    let mut content =
        carehub_domain::content::example_content(DocumentKind::BurdenRatioCertificate, &person);
    content["burden_ratio"] = json!(ratio);
    json!({
        "person": {"insurer_number": INSURER, "insured_number": insured},
        "kind": "burden_ratio_certificate",
        "content": content,
    })
}

fn retention(secs: u32, purge_ms: u32) -> Options {
    Options {
        args: vec!["--purge-interval-ms".into(), purge_ms.to_string()],
        env: vec![(
            "SPIN_VARIABLE_IDEMPOTENCY_RETENTION_SECS".into(),
            secs.to_string(),
        )],
        ..Default::default()
    }
}

#[test]
fn an_idempotency_key_past_retention_no_longer_replays() {
    let app = TestApp::spawn_with(retention(2, 0));
    let muni = app.client("municipality");
    let send = |b: &Value| {
        muni.post(app.url("/api/ingest/documents"))
            .header("idempotency-key", "retained-1")
            .json(b)
            .send()
            .unwrap()
    };
    let first = send(&envelope("0000012345", 1));
    assert_eq!(first.status(), 201);
    let stored_at = Instant::now();
    let first_body = first.text().unwrap();
    // Within the retention: replayed, and another body is refused.
    let again = send(&envelope("0000012345", 1));
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().unwrap(), first_body);
    problem(
        send(&envelope("0000012345", 2)),
        409,
        "idempotency-key-reused",
    );
    assert!(
        stored_at.elapsed() < Duration::from_secs(2),
        "too slow to test"
    );

    std::thread::sleep(Duration::from_millis(2_200));
    // Past it: the key is new again. Another body is a write (version 2)…
    let renewed = send(&envelope("0000012345", 2));
    assert_eq!(renewed.status(), 201);
    assert!(renewed.headers().get("idempotent-replayed").is_none());
    let renewed: Value = renewed.json().unwrap();
    assert_eq!(renewed["version"], 2);
    // … whose answer the key now replays; the old record was replaced.
    let replayed = send(&envelope("0000012345", 2));
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(replayed.json::<Value>().unwrap(), renewed);
    assert_eq!(
        app.db()
            .query_i64("SELECT COUNT(*) FROM idempotency_records"),
        1
    );
    assert_eq!(
        app.db().query_i64("SELECT COUNT(*) FROM document_versions"),
        2
    );
}

#[test]
fn the_in_process_retention_job_deletes_expired_records_and_keeps_history() {
    let app = TestApp::spawn_with(retention(1, 300));
    let muni = app.client("municipality");
    for (n, insured) in ["0000000001", "0000000002", "0000000003"]
        .iter()
        .enumerate()
    {
        let resp = muni
            .post(app.url("/api/ingest/documents"))
            .header("idempotency-key", format!("purge-{n}"))
            .json(&envelope(insured, 1))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let db = app.db();
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.query_i64("SELECT COUNT(*) FROM idempotency_records") > 0 {
        assert!(Instant::now() < deadline, "the records were not purged");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM documents"), 3);
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM document_versions"), 3);
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM webhook_events"), 3);
}
