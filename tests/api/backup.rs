//! `carehub backup` while the hub takes writes, and `carehub restore`: the
//! restored database holds every acknowledged write and its access log
//! verifies; a running hub's databases are not overwritten.

use crate::helpers::{Options, TestApp, TestDb};
use carehub_domain::{DocumentKind, InsuredNumber, InsurerNumber, PersonRef};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INSURER: &str = "131016";

fn envelope(insured: &str) -> Value {
    let person = PersonRef {
        insurer_number: InsurerNumber::parse(INSURER).unwrap(),
        insured_number: InsuredNumber::parse(insured).unwrap(),
    };
    json!({
        "person": {"insurer_number": INSURER, "insured_number": insured},
        "kind": "insurance_certificate",
        "content": carehub_domain::content::example_content(DocumentKind::InsuranceCertificate, &person),
    })
}

fn carehub(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_carehub"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

fn count_documents(db: &Path, id: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM documents WHERE document_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn a_backup_under_write_load_restores_every_acknowledged_write_and_a_verifying_log() {
    let app = TestApp::spawn();
    if !matches!(app.db(), TestDb::Sqlite(_)) {
        eprintln!("SQLite only: PostgreSQL is backed up with pg_dump (infra/DEPLOY.md)");
        return;
    }
    // Writers and readers keep going; each acknowledged write is recorded
    // with the instant its answer came.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..2u32 {
        let client = app.client("municipality");
        let url = app.url("/api/ingest/documents");
        let read = app.url(&format!("/api/read/persons/{INSURER}/0000000000/documents"));
        let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
        workers.push(std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && n < 2000 {
                let insured = format!("{:010}", 1_000_000 * (w + 1) + n);
                let resp = client.post(&url).json(&envelope(&insured)).send().unwrap();
                assert_eq!(resp.status(), 201);
                let body: Value = resp.json().unwrap();
                let id = body["document_id"].as_str().unwrap().to_owned();
                acknowledged.lock().unwrap().push((Instant::now(), id));
                // A logged read, so the access log grows too.
                assert_eq!(client.get(&read).send().unwrap().status(), 200);
                n += 1;
            }
        }));
    }
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while acknowledged.lock().unwrap().len() < n {
            assert!(Instant::now() < deadline, "the writers are stuck");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(20);
    let out = app.state.path().join("backup");
    let started = Instant::now();
    let backed_up = carehub(&[
        "backup".as_ref(),
        out.as_os_str(),
        "--state-dir".as_ref(),
        app.state.path().as_os_str(),
    ]);
    assert!(
        backed_up.status.success(),
        "{}",
        String::from_utf8_lossy(&backed_up.stderr)
    );
    let printed = String::from_utf8_lossy(&backed_up.stdout);
    assert!(
        printed.contains("default.db") && printed.contains("accesslog.db"),
        "{printed}"
    );
    // Writes went on after the backup.
    let after = acknowledged.lock().unwrap().len();
    wait_for(after + 5);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let before: Vec<String> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at < started)
        .map(|(_, id)| id.clone())
        .collect();
    assert!(before.len() >= 20);

    // Restoring over the running hub is refused, even forced.
    let refused = carehub(&[
        "restore".as_ref(),
        out.as_os_str(),
        "--state-dir".as_ref(),
        app.state.path().as_os_str(),
        "--force".as_ref(),
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("running gateway"), "{stderr}");

    // Into a new state directory.
    let restored = tempfile::tempdir().unwrap();
    let done = carehub(&[
        "restore".as_ref(),
        out.as_os_str(),
        "--state-dir".as_ref(),
        restored.path().as_os_str(),
    ]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let db = restored.path().join("data/default.db");
    for id in &before {
        assert_eq!(count_documents(&db, id), 1, "acknowledged write {id} lost");
    }
    // The access log has its own file (the `accesslog` label), backed up
    // and restored with the rest.
    let log = restored.path().join("data/accesslog.db");
    let entries: i64 = rusqlite::Connection::open(&log)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM log_entries", [], |r| r.get(0))
        .unwrap();
    assert!(entries >= before.len() as i64, "{entries} log entries");
    // Checked against the hub's checkpoint key (the restored state
    // directory holds the data only; keys are the operator's to keep).
    let key = app.state.path().join("pki/log-signing.pub.pem");
    let verified = carehub(&[
        "verify-log".as_ref(),
        "--database".as_ref(),
        log.as_os_str(),
        "--public-key".as_ref(),
        key.as_os_str(),
    ]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(String::from_utf8_lossy(&verified.stdout).contains("intact"));

    // A gateway on the restored state serves what was acknowledged.
    let restored_app = TestApp::spawn_in(restored, Options::default());
    let resp = restored_app
        .client("municipality")
        .get(restored_app.url(&format!("/api/read/documents/{}", before[0])))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
}
