//! Two gateway processes on ONE PostgreSQL database, many writers across
//! both at once: versions of the same documents, the same idempotency keys
//! sent to both, and reads that append to the access log. Afterwards no
//! version is duplicated, lost or out of order, each idempotency key has one
//! stored answer (every sender got it), and the access log is one intact
//! chain (`carehub verify-log`).
//!
//! This needs PostgreSQL, so it is `#[ignore]`d in the SQLite pass (listed
//! as ignored, never a silent pass) and `infra/test.sh` always runs it in
//! its PostgreSQL pass (`-- --include-ignored`). Run without
//! `CAREHUB_TEST_DATABASE_URL` it fails, saying so.

use crate::care::{INSURER, content};
use crate::helpers::{Options, PG_ENV, TestApp, TestDb};
use carehub_domain::DocumentKind;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const PERSON: &str = "0000077777";
/// Writer threads per gateway, and writes per thread.
const WRITERS: usize = 6;
const WRITES: usize = 8;
/// Documents the writers share.
const SHARED_DOCS: usize = 3;
/// Idempotency keys, each sent twice to each gateway at once.
const KEYS: usize = 8;
/// Reader threads per gateway, and list reads per thread.
const READERS: usize = 2;
const READS: usize = 10;

fn envelope(key: &str, address: &str) -> Value {
    json!({
        "person": {"insurer_number": INSURER, "insured_number": PERSON},
        "kind": DocumentKind::InsuranceCertificate.as_str(),
        "document_key": key,
        "content": content(
            DocumentKind::InsuranceCertificate,
            PERSON,
            json!({ "address": address }),
        ),
    })
}

#[test]
#[ignore = "needs PostgreSQL (CAREHUB_TEST_DATABASE_URL); infra/test.sh runs it in its PostgreSQL pass"]
fn two_gateways_on_one_postgres_keep_versions_idempotency_and_the_access_log() {
    assert!(
        std::env::var(PG_ENV).is_ok_and(|v| !v.is_empty()),
        "this test needs PostgreSQL: set {PG_ENV} (infra/test.sh starts a throwaway server)"
    );
    let a = TestApp::spawn();
    assert!(matches!(a.db(), TestDb::Postgres(_)));
    // The second gateway: the same database, the same edge identity (CA,
    // server certificate, assertion key, portal key), its own process.
    let b = TestApp::spawn_with(Options {
        shared_database: Some(a.db().clone()),
        args: vec![
            "--tls-ca".into(),
            a.pki.ca_cert().display().to_string(),
            "--tls-cert".into(),
            a.pki.server_cert().display().to_string(),
            "--tls-key".into(),
            a.pki.server_key().display().to_string(),
        ],
        env: vec![
            ("SPIN_VARIABLE_ASSERTION_KEY".into(), a.assertion_key()),
            ("SPIN_VARIABLE_LOG_SIGNING_KEY".into(), a.log_signing_key()),
            (
                "SPIN_VARIABLE_PERSON_TOKEN_PUBLIC_KEY".into(),
                std::fs::read_to_string(a.pki.idp_public_key()).unwrap(),
            ),
        ],
        ..Options::default()
    });
    let gateways = [&a, &b];
    let base = |g: usize| gateways[g].base.clone();

    // What each write was told: (document key, version) -> address sent.
    let mut told: BTreeMap<(String, i64), String> = BTreeMap::new();
    // Each idempotency key's answers: key -> [(status, body)].
    let mut answers: BTreeMap<String, Vec<(u16, String)>> = BTreeMap::new();
    let mut reads = 0usize;

    std::thread::scope(|s| {
        let mut writers = Vec::new();
        for g in 0..2 {
            for t in 0..WRITERS {
                let client = a.client("municipality");
                let url = format!("{}/api/ingest/documents", base(g));
                writers.push(s.spawn(move || {
                    let mut seen = Vec::new();
                    for i in 0..WRITES {
                        let key = format!("shared-{}", (t + i) % SHARED_DOCS);
                        let address = format!("gateway {g} writer {t} write {i}");
                        let resp = client
                            .post(&url)
                            .json(&envelope(&key, &address))
                            .send()
                            .unwrap();
                        let status = resp.status().as_u16();
                        let body: Value = resp.json().unwrap();
                        assert_eq!(status, 201, "{body}");
                        seen.push((key, body["version"].as_i64().unwrap(), address));
                    }
                    seen
                }));
            }
        }
        let mut senders = Vec::new();
        for k in 0..KEYS {
            for g in 0..2 {
                for _ in 0..2 {
                    let client = a.client("municipality");
                    let url = format!("{}/api/ingest/documents", base(g));
                    senders.push(s.spawn(move || {
                        let key = format!("conc-{k}");
                        let resp = client
                            .post(&url)
                            .header("idempotency-key", &key)
                            .json(&envelope(&format!("idem-{k}"), "idempotent"))
                            .send()
                            .unwrap();
                        (key, resp.status().as_u16(), resp.text().unwrap())
                    }));
                }
            }
        }
        let mut readers = Vec::new();
        for g in 0..2 {
            for _ in 0..READERS {
                let client = a.client("municipality");
                let url = format!("{}/api/read/persons/{INSURER}/{PERSON}/documents", base(g));
                readers.push(s.spawn(move || {
                    for _ in 0..READS {
                        let resp = client.get(&url).send().unwrap();
                        assert_eq!(resp.status(), 200);
                    }
                    READS
                }));
            }
        }
        for w in writers {
            for (key, version, address) in w.join().unwrap() {
                let earlier = told.insert((key.clone(), version), address);
                assert!(
                    earlier.is_none(),
                    "two writes of {key} were both told version {version}"
                );
            }
        }
        for sender in senders {
            let (key, status, body) = sender.join().unwrap();
            answers.entry(key).or_default().push((status, body));
        }
        for r in readers {
            reads += r.join().unwrap();
        }
    });

    let client = a.client("municipality");
    // Versions: each shared document has exactly 1..=n, n = the writes
    // that reached it, each version holding what its writer was told.
    for d in 0..SHARED_DOCS {
        let key = format!("shared-{d}");
        let numbers: Vec<i64> = told
            .keys()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .collect();
        let n = numbers.len() as i64;
        assert_eq!(
            numbers,
            (1..=n).collect::<Vec<_>>(),
            "{key}: versions told to writers"
        );
        let id = first_document_id(&a, &key);
        let doc: Value = client
            .get(b.url(&format!("/api/read/documents/{id}")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(doc["version"], n, "{key}: current version");
        let history = doc["versions"].as_array().unwrap();
        assert_eq!(history.len() as i64, n, "{key}: stored history");
        for (i, v) in history.iter().enumerate() {
            let version = i as i64 + 1;
            assert_eq!(v["version"], version, "{key}: history order");
            assert_eq!(
                v["supersedes"],
                if version == 1 {
                    Value::Null
                } else {
                    json!(version - 1)
                }
            );
            let stored: Value = client
                .get(a.url(&format!("/api/read/documents/{id}?version={version}")))
                .send()
                .unwrap()
                .json()
                .unwrap();
            assert_eq!(
                stored["content"]["address"].as_str().unwrap(),
                told[&(key.clone(), version)],
                "{key} version {version} holds another write than its writer was told"
            );
        }
    }
    assert_eq!(
        a.db().query_i64(
            "SELECT COUNT(*) FROM document_versions v JOIN documents d ON d.seq = v.document_seq \
             WHERE d.document_key LIKE 'shared-%'"
        ),
        (2 * WRITERS * WRITES) as i64,
        "every write is one stored version"
    );

    // Idempotency: every sender of a key got the same answer, a success;
    // one record and one version per key.
    assert_eq!(answers.len(), KEYS);
    for (key, got) in &answers {
        let distinct: BTreeSet<&(u16, String)> = got.iter().collect();
        assert_eq!(distinct.len(), 1, "{key}: different answers: {got:#?}");
        assert_eq!(got[0].0, 201, "{key}: {}", got[0].1);
    }
    assert_eq!(
        a.db().query_i64(
            "SELECT COUNT(*) FROM idempotency_records WHERE idempotency_key LIKE 'conc-%'"
        ),
        KEYS as i64
    );
    assert_eq!(
        a.db().query_i64(
            "SELECT COUNT(*) FROM document_versions v JOIN documents d ON d.seq = v.document_seq \
             WHERE d.document_key LIKE 'idem-%'"
        ),
        KEYS as i64,
        "each idempotent request stored once"
    );

    // The access log: every read was logged, every shard's chain intact.
    let logged = a.db().query_i64("SELECT COUNT(*) FROM log_entries");
    assert!(logged >= reads as i64, "{logged} entries for {reads} reads");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carehub"))
        .arg("verify-log")
        .args(a.db().verify_log_args())
        .arg("--public-key")
        .arg(a.pki.log_public_key())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "verify-log: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("intact: {logged} entries")),
        "{stdout}"
    );
}

/// The id of the document with author key `key` (the municipality's).
fn first_document_id(app: &TestApp, key: &str) -> String {
    let client = app.client("municipality");
    let list: Value = client
        .get(app.url(&format!(
            "/api/read/persons/{INSURER}/{PERSON}/documents?limit=100"
        )))
        .send()
        .unwrap()
        .json()
        .unwrap();
    list["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["document_key"] == key)
        .unwrap_or_else(|| panic!("no document {key} in {list}"))["document_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A gateway whose `database_host` (what the components may reach) does
/// not allow `database_url`'s server refuses to start, naming both; it
/// fails before connecting, so this runs on either pass.
#[test]
fn a_database_host_that_does_not_allow_the_database_url_stops_the_gateway() {
    let state = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carehub"))
        .arg("up")
        .arg("--manifest")
        .arg(crate::helpers::workspace().join("spin.toml"))
        .arg("--state-dir")
        .arg(state.path())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env("SPIN_VARIABLE_STORE_BACKEND", "postgres")
        .env(
            "SPIN_VARIABLE_DATABASE_URL",
            "postgres://carehub@db.internal:5432/carehub",
        )
        .env("SPIN_VARIABLE_DATABASE_HOST", "elsewhere.internal:5432")
        .env("CAREHUB_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("database_host") && stderr.contains("db.internal:5432"),
        "{stderr}"
    );
    // And postgres without a connection string is refused too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carehub"))
        .arg("up")
        .arg("--manifest")
        .arg(crate::helpers::workspace().join("spin.toml"))
        .arg("--state-dir")
        .arg(state.path())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env("SPIN_VARIABLE_STORE_BACKEND", "postgres")
        .env_remove("SPIN_VARIABLE_DATABASE_URL")
        .env("CAREHUB_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("database_url is not set"), "{stderr}");
}
