//! The access log's signed checkpoints, proofs and `carehub verify-log`
//! (issue 12), through the real gateway on both backends: who may make and
//! fetch checkpoints, an inclusion proof and a consistency proof checked by
//! an independent implementation (`tests/verify_merkle.py`, Python's
//! hashlib, written from RFC 9162), the in-process schedule, verify-log
//! naming an edited row, a cut-off tail and a forged checkpoint, an
//! upgraded database whose old entries stay verifiable and provable, and
//! (PostgreSQL) a slow writer of one person delaying no one else.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use carehub_domain::{Checkpoint, CheckpointSigner, CheckpointVerifier, TreeHead};
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::care::{INSURER, accesses, client_for, verify_log};
use crate::helpers::{Options, TestApp, TestDb, problem, workspace};

const P: &str = "0000012345";
const Q: &str = "0000067890";
const SCHEDULER: &str = "urn:carehub:operator:scheduler";

/// A gateway that makes checkpoints only when asked.
fn app() -> TestApp {
    TestApp::spawn_with(Options {
        args: vec!["--checkpoint-interval-ms".into(), "0".into()],
        ..Options::default()
    })
}

/// `n` logged reads of `insured`'s documents by the municipality.
fn reads(app: &TestApp, insured: &str, n: usize) {
    let m = app.client("municipality");
    for _ in 0..n {
        let resp = m
            .get(app.url(&format!("/api/read/persons/{INSURER}/{insured}/documents")))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

/// One run of the checkpoint job as the scheduler.
fn checkpoint_now(app: &TestApp) -> Value {
    let resp = app
        .client_for_urn(SCHEDULER)
        .post(app.url("/api/read/checkpoints"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().unwrap()
}

fn get(client: &Client, url: String) -> Value {
    let resp = client.get(url).send().unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().unwrap()
}

/// Runs the independent verifier; (passed, its output).
fn python(mode: &str, doc: &Value) -> (bool, String) {
    let mut child = Command::new("python3")
        .arg(workspace().join("tests/verify_merkle.py"))
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The served checkpoint as the domain type, checked with `key`.
fn verifies(view: &Value, key: &CheckpointVerifier) -> bool {
    let cp = Checkpoint {
        head: TreeHead {
            number: view["number"].as_i64().unwrap(),
            tree_size: view["tree_size"].as_u64().unwrap(),
            root_hash: view["root_hash"].as_str().unwrap().to_owned(),
            timestamp: view["timestamp"].as_str().unwrap().to_owned(),
        },
        signature: view["signature"].as_str().unwrap().to_owned(),
    };
    key.verify(&cp)
}

#[test]
fn checkpoints_are_made_by_the_scheduler_signed_served_and_proved() {
    let app = app();
    let key =
        CheckpointVerifier::from_pem(&std::fs::read_to_string(app.pki.log_public_key()).unwrap())
            .unwrap();
    // Before the first checkpoint.
    let m = app.client("municipality");
    problem(
        m.get(app.url("/api/read/checkpoints/latest"))
            .send()
            .unwrap(),
        404,
        "checkpoint-not-found",
    );
    reads(&app, P, 3);
    reads(&app, Q, 2);

    // Only the scheduler makes checkpoints.
    for client in [&m, &app.client("operator"), &app.client("portal")] {
        problem(
            client
                .post(app.url("/api/read/checkpoints"))
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
    }
    let run = checkpoint_now(&app);
    assert_eq!(run["new_leaves"], 5, "{run}");
    let first = run["checkpoint"].clone();
    assert_eq!(first["number"], 1);
    assert_eq!(first["tree_size"], 5);
    assert!(verifies(&first, &key), "{first}");
    assert_eq!(first["key_id"], key.key_id());
    assert_eq!(first["public_key"], key.to_pem());
    // Nothing new: no checkpoint.
    let run = checkpoint_now(&app);
    assert_eq!(run, json!({"new_leaves": 0, "checkpoint": null}));

    reads(&app, P, 2);
    let second = checkpoint_now(&app)["checkpoint"].clone();
    assert_eq!(second["number"], 2);
    assert_eq!(second["tree_size"], 7);
    assert!(verifies(&second, &key));

    // Any authenticated principal fetches them, the portal without a
    // person token too.
    for role in ["care-manager", "medical", "portal", "operator"] {
        let c = app.client(role);
        let latest = get(&c, app.url("/api/read/checkpoints/latest"));
        assert_eq!(latest, second, "{role}");
        assert_eq!(get(&c, app.url("/api/read/checkpoints/1")), first);
    }
    problem(
        m.get(app.url("/api/read/checkpoints/3")).send().unwrap(),
        404,
        "checkpoint-not-found",
    );
    problem(
        m.get(app.url("/api/read/checkpoints/zero")).send().unwrap(),
        400,
        "invalid-request",
    );

    // Consistency 1 → 2, checked independently; a tampered proof fails.
    let proof = get(&m, app.url("/api/read/checkpoints/2/consistency?from=1"));
    assert_eq!(proof["first"], first);
    assert_eq!(proof["second"], second);
    let (ok, out) = python("consistency", &proof);
    assert!(ok, "{out}");
    let mut bad = proof.clone();
    bad["proof"][0] = json!("00".repeat(32));
    let (ok, out) = python("consistency", &bad);
    assert!(!ok, "a tampered consistency proof verified: {out}");
    for (query, status, slug) in [
        (
            "/api/read/checkpoints/2/consistency",
            400,
            "invalid-request",
        ),
        (
            "/api/read/checkpoints/1/consistency?from=2",
            400,
            "invalid-request",
        ),
        (
            "/api/read/checkpoints/9/consistency?from=1",
            404,
            "checkpoint-not-found",
        ),
        (
            "/api/read/checkpoints/2/consistency?from=1&x=1",
            400,
            "invalid-request",
        ),
    ] {
        problem(m.get(app.url(query)).send().unwrap(), status, slug);
    }

    // The person proves an entry of their access list.
    let list = accesses(&app, P);
    assert_eq!(list.len(), 5);
    let oldest = &list[4];
    let seq = oldest["seq"].as_i64().unwrap();
    let token = app.person_token(INSURER, P, "person");
    let portal = app.client("portal");
    let prove = |client: &Client, insured: &str, seq: i64, query: &str, token: Option<&str>| {
        let mut req = client.get(app.url(&format!(
            "/api/read/persons/{INSURER}/{insured}/accesses/{seq}/proof{query}"
        )));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().unwrap()
    };
    let resp = prove(&portal, P, seq, "", Some(&token));
    assert_eq!(resp.status(), 200);
    let inclusion: Value = resp.json().unwrap();
    assert_eq!(inclusion["entry_hash"], oldest["hash"]);
    assert_eq!(inclusion["checkpoint"], second);
    let (ok, out) = python("inclusion", &inclusion);
    assert!(ok, "{out}");
    let mut bad = inclusion.clone();
    bad["leaf_index"] = json!(bad["leaf_index"].as_u64().unwrap() ^ 1);
    assert!(!python("inclusion", &bad).0, "a wrong leaf index verified");
    let mut bad = inclusion.clone();
    bad["entry_hash"] = json!("ab".repeat(32));
    assert!(!python("inclusion", &bad).0, "another entry verified");
    // Against the first checkpoint too, by the person's municipality.
    let resp = prove(&m, P, seq, "?checkpoint=1", None);
    assert_eq!(resp.status(), 200);
    let early: Value = resp.json().unwrap();
    assert_eq!(early["tree_size"], 5);
    assert!(python("inclusion", &early).0);
    // An entry the first checkpoint does not cover, and one no
    // checkpoint covers yet.
    let newest = list[0]["seq"].as_i64().unwrap();
    problem(
        prove(&m, P, newest, "?checkpoint=1", None),
        409,
        "log-entry-not-checkpointed",
    );
    reads(&app, P, 1);
    let uncovered = accesses(&app, P)[0]["seq"].as_i64().unwrap();
    problem(
        prove(&m, P, uncovered, "", None),
        409,
        "log-entry-not-checkpointed",
    );
    problem(
        prove(&m, P, seq, "?checkpoint=8", None),
        404,
        "checkpoint-not-found",
    );
    problem(prove(&m, P, 0, "", None), 400, "invalid-request");
    // Refusals: someone else's entry under P's path, another person's
    // token, another municipality, an office, no token; a seq that names
    // nothing is the same refusal.
    let q_seq = accesses(&app, Q)[0]["seq"].as_i64().unwrap();
    let forbidden = |resp| {
        problem(resp, 403, "forbidden");
    };
    forbidden(prove(&portal, P, q_seq, "", Some(&token)));
    forbidden(prove(&m, P, 999_999, "", None));
    let q_token = app.person_token(INSURER, Q, "person");
    forbidden(prove(&portal, P, seq, "", Some(&q_token)));
    forbidden(prove(
        &client_for(&app, "urn:carehub:municipality:271004"),
        P,
        seq,
        "",
        None,
    ));
    forbidden(prove(&app.client("care-manager"), P, seq, "", None));
    forbidden(prove(&app.client_for_urn(SCHEDULER), P, seq, "", None));
    problem(
        prove(&portal, P, seq, "", None),
        401,
        "person-token-missing",
    );

    // verify-log checks it all.
    let (ok, stdout, stderr) = verify_log(&app);
    assert!(ok, "{stdout} {stderr}");
    assert!(
        stdout.contains("checkpoints intact: 2 checkpoints over 7 leaves"),
        "{stdout}"
    );
}

#[test]
fn the_gateway_makes_checkpoints_on_its_schedule() {
    let app = TestApp::spawn_with(Options {
        args: vec!["--checkpoint-interval-ms".into(), "200".into()],
        ..Options::default()
    });
    reads(&app, P, 2);
    let m = app.client("municipality");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = m
            .get(app.url("/api/read/checkpoints/latest"))
            .send()
            .unwrap();
        if resp.status() == 200 {
            let cp: Value = resp.json().unwrap();
            if cp["tree_size"] == 2 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "no scheduled checkpoint in 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Drops an append-only trigger, as anyone holding the database can.
fn drop_trigger(db: &TestDb, trigger: &str, table: &str) {
    db.execute(&match db {
        TestDb::Sqlite(_) => format!("DROP TRIGGER {trigger}"),
        TestDb::Postgres(_) => format!("DROP TRIGGER {trigger} ON {table}"),
    })
    .unwrap();
}

#[test]
fn verify_log_names_an_edited_row_a_cut_tail_and_a_forged_checkpoint() {
    let mut app = app();
    reads(&app, P, 3);
    reads(&app, Q, 3);
    let cp = checkpoint_now(&app)["checkpoint"].clone();
    assert_eq!(cp["tree_size"], 6);
    app.terminate();
    let db = app.db().clone();
    let (ok, stdout, stderr) = verify_log(&app);
    assert!(ok, "{stdout} {stderr}");

    // A checkpoint signed by another key (over the true root) is refused.
    let other = CheckpointSigner::from_seed(&[7u8; 32]);
    let forged = other.sign(TreeHead {
        number: 2,
        tree_size: 6,
        root_hash: cp["root_hash"].as_str().unwrap().to_owned(),
        timestamp: "2026-01-01T00:00:00.000000Z".into(),
    });
    db.execute(&format!(
        "INSERT INTO log_checkpoints (number, tree_size, root_hash, timestamp, signature) \
         VALUES (2, 6, '{}', '{}', '{}')",
        forged.head.root_hash, forged.head.timestamp, forged.signature
    ))
    .unwrap();
    let (ok, _, stderr) = verify_log(&app);
    assert!(!ok, "a forged checkpoint passed");
    assert!(
        stderr.contains("checkpoint 2: the signature does not verify"),
        "{stderr}"
    );
    drop_trigger(
        &db,
        "log_checkpoints_are_append_only_delete",
        "log_checkpoints",
    );
    db.execute("DELETE FROM log_checkpoints WHERE number = 2")
        .unwrap();
    assert!(verify_log(&app).0);

    // An edited row is named by shard and seq.
    let seq = db.query_i64(&format!(
        "SELECT MIN(seq) FROM log_entries WHERE insured_number = '{Q}'"
    ));
    drop_trigger(&db, "log_entries_are_append_only_update", "log_entries");
    let edit = |from: &str, to: &str| {
        db.execute(&format!(
            "UPDATE log_entries SET entry = replace(entry, '\"{from}\"', '\"{to}\"') WHERE seq = {seq}"
        ))
        .unwrap()
    };
    assert_eq!(edit("allowed", "denied"), 1);
    let (ok, _, stderr) = verify_log(&app);
    assert!(!ok, "an edited row passed");
    assert!(
        stderr.contains(&format!("shard person:{INSURER}:{Q} at seq {seq} "))
            && stderr.contains("edited"),
        "{stderr}"
    );
    assert_eq!(edit("denied", "allowed"), 1);
    assert!(verify_log(&app).0);

    // The newest entry (the tail of P's or Q's shard: no later row of its
    // shard shows the gap) removed after the checkpoint covered it.
    let last = db.query_i64("SELECT MAX(seq) FROM log_entries");
    let shard_seq = db.query_i64(&format!(
        "SELECT shard_seq FROM log_entries WHERE seq = {last}"
    ));
    drop_trigger(&db, "log_entries_are_append_only_delete", "log_entries");
    assert_eq!(
        db.execute(&format!("DELETE FROM log_entries WHERE seq = {last}"))
            .unwrap(),
        1
    );
    let (ok, _, stderr) = verify_log(&app);
    assert!(!ok, "a cut tail passed");
    assert!(
        stderr.contains(&format!(
            "entry seq {last} (shard person:{INSURER}:{Q}, entry {shard_seq} of the shard) was removed after it became leaf 5, covered by checkpoint 1"
        )),
        "{stderr}"
    );
    // Its leaf removed as well: the checkpoint's tree is short.
    drop_trigger(&db, "log_leaves_are_append_only_delete", "log_leaves");
    db.execute("DELETE FROM log_leaves WHERE leaf_index = 5")
        .unwrap();
    let (ok, _, stderr) = verify_log(&app);
    assert!(!ok);
    assert!(
        stderr.contains("checkpoint 1 covers 6 entries but only 5 leaves remain"),
        "{stderr}"
    );
    // With a key that did not sign checkpoint 1, that is refused too.
    let elsewhere = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(elsewhere.path(), other.verifier().to_pem()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_carehub"))
        .arg("verify-log")
        .args(db.verify_log_args())
        .arg("--public-key")
        .arg(elsewhere.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("checkpoint 1: the signature does not verify")
    );
}

/// The old single chain (before sharding): three entries about P, as the
/// old store wrote them into `access_log`: (entry, hash).
fn old_chain() -> Vec<(String, String)> {
    use carehub_domain::{AccessLogEntry, GENESIS_HASH, Principal, chain_hash};
    let mut prev = GENESIS_HASH.to_owned();
    (0..3)
        .map(|i| {
            let entry = AccessLogEntry::listing(
                format!("2025-0{}-01T00:00:00.000000Z", i + 1),
                Principal::parse_urn("urn:carehub:municipality:131016").unwrap(),
                crate::care::person(P),
            )
            .canonical_json();
            let hash = chain_hash(&prev, &entry);
            prev = hash.clone();
            (entry, hash)
        })
        .collect()
}

/// The migrations of one dialect before sharding (0001–0004).
fn before_sharding(
    all: &'static [(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let old: Vec<_> = all
        .iter()
        .copied()
        .filter(|(name, _)| *name < "0005")
        .collect();
    assert_eq!(old.len(), 4);
    old
}

/// What an upgraded hub must show: the old entries verify, the person
/// still lists them, a checkpoint covers them and an old entry's inclusion
/// proof verifies independently.
fn old_entries_survive(app: &TestApp) {
    let (ok, stdout, stderr) = verify_log(app);
    assert!(ok, "{stdout} {stderr}");
    assert!(stdout.contains("intact: 3 entries in 1 shards"), "{stdout}");
    reads(app, P, 1);
    let list = accesses(app, P);
    assert_eq!(list.len(), 4, "{list:?}");
    assert_eq!(list[3]["at"], "2025-01-01T00:00:00.000000Z");
    let cp = checkpoint_now(app)["checkpoint"].clone();
    assert_eq!(cp["tree_size"], 4);
    let seq = list[3]["seq"].as_i64().unwrap();
    let token = app.person_token(INSURER, P, "person");
    let resp = app
        .client("portal")
        .get(app.url(&format!(
            "/api/read/persons/{INSURER}/{P}/accesses/{seq}/proof"
        )))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let proof: Value = resp.json().unwrap();
    assert_eq!(proof["leaf_index"], 0);
    let (ok, out) = python("inclusion", &proof);
    assert!(ok, "{out}");
    let (ok, stdout, stderr) = verify_log(app);
    assert!(ok, "{stdout} {stderr}");
    assert!(
        stdout.contains("intact: 4 entries in 2 shards")
            && stdout.contains("1 checkpoints over 4 leaves"),
        "{stdout}"
    );
}

#[test]
fn an_upgraded_sqlite_database_keeps_its_old_entries_verifiable_and_provable() {
    // A SQLite database made by the schema before sharding, holding the
    // old single chain.
    let state = tempfile::tempdir().unwrap();
    let data = state.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let path = data.join("default.db");
    carehub::host::sqlite::migrate(&path, &before_sharding(carehub::migrations::SQLITE), None)
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    for (entry, hash) in old_chain() {
        conn.execute(
            "INSERT INTO access_log (insurer_number, insured_number, entry, hash) VALUES (?1, ?2, ?3, ?4)",
            (INSURER, P, &entry, &hash),
        )
        .unwrap();
    }
    drop(conn);

    // The upgraded hub: migrations 0005 and after apply at start, and the
    // log moves into its own file.
    let app = TestApp::spawn_in(
        state,
        Options {
            args: vec!["--checkpoint-interval-ms".into(), "0".into()],
            shared_database: Some(TestDb::Sqlite(path)),
            ..Options::default()
        },
    );
    // default.db keeps only the legacy table the log was copied from.
    let tables = |file: &std::path::Path, name: &str| -> i64 {
        rusqlite::Connection::open(file)
            .unwrap()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap()
    };
    let default_db = app.state.path().join("data/default.db");
    let log_db = app.state.path().join("data/accesslog.db");
    assert_eq!(tables(&default_db, "log_entries"), 0);
    assert_eq!(tables(&default_db, "access_log"), 1);
    let moved: i64 = rusqlite::Connection::open(&log_db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM log_entries WHERE shard = 'legacy'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(moved, 3);
    old_entries_survive(&app);
}

#[test]
#[ignore = "needs PostgreSQL (CAREHUB_TEST_DATABASE_URL); infra/test.sh runs it in its PostgreSQL pass"]
fn an_upgraded_postgres_database_keeps_its_old_entries_verifiable_and_provable() {
    use sqlx::Connection as _;
    let admin = std::env::var(crate::helpers::PG_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .expect("this test needs PostgreSQL: set CAREHUB_TEST_DATABASE_URL");
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    let name = format!("carehub_upgrade_{}", hex::encode(bytes));
    let (base, query) = admin.split_once('?').unwrap_or((admin.as_str(), ""));
    let (server, _) = base.rsplit_once('/').unwrap();
    let url = format!("{server}/{name}?{query}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap();
        carehub::host::pg::migrate(&url, &before_sharding(carehub::migrations::POSTGRES), None)
            .await
            .unwrap();
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        for (entry, hash) in old_chain() {
            sqlx::query(
                "INSERT INTO access_log (insurer_number, insured_number, entry, hash) VALUES ($1, $2, $3, $4)",
            )
            .bind(INSURER)
            .bind(P)
            .bind(entry)
            .bind(hash)
            .execute(&mut conn)
            .await
            .unwrap();
        }
    });
    let app = TestApp::spawn_with(Options {
        args: vec!["--checkpoint-interval-ms".into(), "0".into()],
        shared_database: Some(TestDb::Postgres(url.clone())),
        ..Options::default()
    });
    old_entries_survive(&app);
    drop(app);
    rt.block_on(async {
        // Migration 0009: an append writes the table and the shard's
        // index only; the legacy entries keep a partial index of their own.
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let indexes: Vec<(String,)> = sqlx::query_as(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'log_entries' ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let indexes: Vec<&str> = indexes.iter().map(|(n,)| n.as_str()).collect();
        assert_eq!(
            indexes,
            [
                "log_entries_legacy_by_person",
                "log_entries_pkey",
                "log_entries_shard_shard_seq_key"
            ]
        );
        drop(conn);
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    });
}

/// The advisory-lock id of a person (`carehub_store::LockKey::Person`):
/// the first 8 bytes of SHA-256 of `person:<insurer>:<insured>`.
fn person_lock_id(insured: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("person:{INSURER}:{insured}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().unwrap())
}

#[test]
#[ignore = "needs PostgreSQL (CAREHUB_TEST_DATABASE_URL); infra/test.sh runs it in its PostgreSQL pass"]
fn a_slow_writer_of_one_person_delays_no_one_else_on_two_gateways() {
    use crate::care::{content, ingest};
    use carehub_domain::DocumentKind;
    use std::sync::mpsc;
    assert!(
        std::env::var(crate::helpers::PG_ENV).is_ok_and(|v| !v.is_empty()),
        "this test needs PostgreSQL: set {} (infra/test.sh starts a throwaway server)",
        crate::helpers::PG_ENV
    );
    let a = app();
    let TestDb::Postgres(url) = a.db().clone() else {
        panic!("not on PostgreSQL")
    };
    let b = TestApp::spawn_with(Options {
        shared_database: Some(a.db().clone()),
        args: vec![
            "--checkpoint-interval-ms".into(),
            "0".into(),
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
    let m = a.client("municipality");
    let kind = DocumentKind::InsuranceCertificate;
    // Warm both gateways (first instances, pools).
    for (g, key) in [(&a, "warm-a"), (&b, "warm-b")] {
        ingest(g, &m, kind, Q, Some(key), content(kind, Q, json!({})));
    }

    // The slow writer: a transaction holding P's lock, from the test's own
    // connection, until told to finish.
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let id = person_lock_id(P);
    let holder = std::thread::spawn(move || {
        use sqlx::Connection as _;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql("BEGIN").execute(&mut conn).await.unwrap();
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(id)
                .execute(&mut conn)
                .await
                .unwrap();
            locked_tx.send(()).unwrap();
            let _ = tokio::task::spawn_blocking(move || release_rx.recv()).await;
            sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
        });
    });
    locked_rx.recv().unwrap();

    // A write for P waits behind it…
    let p_writer = {
        let client = m.clone();
        let url = a.url("/api/ingest/documents");
        std::thread::spawn(move || {
            let started = Instant::now();
            let resp = client
                .post(url)
                .json(&json!({
                    "person": {"insurer_number": INSURER, "insured_number": P},
                    "kind": kind.as_str(),
                    "content": content(kind, P, json!({})),
                }))
                .send()
                .unwrap();
            (resp.status().as_u16(), started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // …while writes and reads for Q, on both gateways, go through within a
    // bound far below the time P's writer is held.
    const BOUND: Duration = Duration::from_secs(2);
    for (i, g) in [&a, &b, &a, &b].into_iter().enumerate() {
        // a's clients: both gateways serve a's CA and server certificate.
        let c = a.client("municipality");
        let started = Instant::now();
        ingest(
            g,
            &c,
            kind,
            Q,
            Some(&format!("q-{i}")),
            content(kind, Q, json!({})),
        );
        let resp = c
            .get(g.url(&format!("/api/read/persons/{INSURER}/{Q}/documents")))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        let took = started.elapsed();
        assert!(
            took < BOUND,
            "Q's write and read took {took:?} behind P's lock"
        );
    }
    // P's reads take only P's log shard, not P's lock: not delayed either.
    let started = Instant::now();
    let resp = a
        .client("municipality")
        .get(b.url(&format!("/api/read/persons/{INSURER}/{P}/documents")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() < BOUND);
    assert!(
        !p_writer.is_finished(),
        "P's write did not wait for P's lock"
    );
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let (status, took) = p_writer.join().unwrap();
    assert_eq!(status, 201);
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

/// SQLite has one writer per file, so a slow writer of one person holds
/// every writer of `default.db` (per-person locks are PostgreSQL's, above).
/// What the log's own file buys: a read appends its entry to
/// `accesslog.db`, so reads are still answered, and logged, while a
/// transaction holds `default.db`'s write lock. The gateway runs on ONE
/// worker thread here (`TOKIO_WORKER_THREADS=1`): the writer queued behind
/// the lock waits on the executor, not in SQLite's busy handler on that
/// thread, or no read could be answered until it gave up. (Run on SQLite in
/// both passes.)
#[test]
fn on_sqlite_reads_are_answered_and_logged_while_a_writer_holds_the_documents_file() {
    use crate::care::{content, ingest};
    use carehub_domain::DocumentKind;
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("data/default.db");
    let app = TestApp::spawn_in(
        state,
        Options {
            args: vec!["--checkpoint-interval-ms".into(), "0".into()],
            shared_database: Some(TestDb::Sqlite(path.clone())),
            env: vec![("TOKIO_WORKER_THREADS".into(), "1".into())],
            ..Options::default()
        },
    );
    assert!(path.with_file_name("accesslog.db").exists());
    let m = app.client("municipality");
    let kind = DocumentKind::InsuranceCertificate;
    ingest(&app, &m, kind, Q, Some("warm"), content(kind, Q, json!({})));
    reads(&app, Q, 1);

    // The slow writer: a write transaction on default.db, held.
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let writer = {
        let client = m.clone();
        let url = app.url("/api/ingest/documents");
        std::thread::spawn(move || {
            let started = Instant::now();
            let resp = client
                .post(url)
                .json(&json!({
                    "person": {"insurer_number": INSURER, "insured_number": P},
                    "kind": kind.as_str(),
                    "content": content(kind, P, json!({})),
                }))
                .send()
                .unwrap();
            (resp.status().as_u16(), started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let started = Instant::now();
        let resp = m
            .get(app.url(&format!("/api/read/persons/{INSURER}/{Q}/documents")))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "a read took {took:?} behind the writer"
        );
    }
    assert!(
        !writer.is_finished(),
        "the write did not wait for default.db"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    let (status, took) = writer.join().unwrap();
    assert_eq!(status, 201);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    // Every read was logged, in the log's file.
    assert_eq!(accesses(&app, Q).len(), 6);
    let (ok, stdout, stderr) = verify_log(&app);
    assert!(ok, "{stdout} {stderr}");
}

/// The gateway's threads whose name starts with `prefix`: (tid, nice).
fn threads_named(pid: u32, prefix: &str) -> Vec<(u32, i64)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // After "(comm)": state is field 3, nice field 19.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let tid = dir.file_name().unwrap().to_str().unwrap().parse().unwrap();
        found.push((tid, fields[16].parse().unwrap()));
    }
    found
}

/// Bulk loads run in the background lane: threads of their own at a lower
/// priority (`--background-nice`, 10 by default), where a bulk load is
/// answered in full; with `--background-nice 0` there is no such lane.
#[test]
fn bulk_loads_run_in_a_background_lane_of_lower_priority() {
    use crate::care::content;
    use carehub_domain::DocumentKind;
    let app = app();
    let lane = threads_named(app.pid(), "carehub-backgro");
    assert!(!lane.is_empty(), "no background lane threads");
    assert!(
        lane.iter().all(|(_, nice)| *nice == 10),
        "background lane priorities: {lane:?}"
    );
    let interactive = threads_named(app.pid(), "tokio-rt-worker");
    assert!(!interactive.is_empty());
    for (_, nice) in interactive {
        assert_eq!(nice, 0, "the interactive workers keep their priority");
    }
    let kind = DocumentKind::InsuranceCertificate;
    let body: String = (0..50)
        .map(|i| {
            let insured = format!("{:010}", 7_100_000 + i);
            json!({
                "person": {"insurer_number": INSURER, "insured_number": insured},
                "kind": kind.as_str(),
                "content": content(kind, &insured, json!({})),
            })
            .to_string()
                + "\n"
        })
        .collect();
    let resp = app
        .client("municipality")
        .post(app.url("/api/ingest/documents:bulk"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().unwrap();
    let created = text
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).unwrap()["status"] == 201)
        .count();
    assert_eq!(created, 50, "{text}");

    let none = TestApp::spawn_with(Options {
        args: vec!["--background-nice".into(), "0".into()],
        ..Options::default()
    });
    assert!(threads_named(none.pid(), "carehub-backgro").is_empty());
    let bad = Command::new(env!("CARGO_BIN_EXE_carehub"))
        .args(["up", "--background-nice", "20"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--background-nice"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
