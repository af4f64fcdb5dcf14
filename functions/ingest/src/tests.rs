//! The ingest handlers against the real schema on a native SQLite.

use std::cell::{Cell, RefCell};

use carehub_domain::{
    DocumentKind, IdempotencyKey, InsuredNumber, InsurerNumber, PersonRef, Principal,
    RegistrationId, VerificationMethod, content,
};
use carehub_guest::http::{Reply, RequestHead};
use carehub_store::native::NativeDb;
use carehub_store::sql::SqlStore;
use carehub_store::{
    Db, DbError, Deregistration, NewRegistration, RegistrationStore, Rows, Value as DbValue,
    in_transaction,
};
use serde_json::{Value, json};

use crate::handler::{self, BULK_MAX_LINES};

const NOW: &str = "2025-11-25T06:00:00.000000Z";
const LATER: &str = "2025-11-25T07:00:00.000000Z";

fn store() -> SqlStore<NativeDb> {
    SqlStore::new(NativeDb::migrated())
}

fn principal(urn: &str) -> Principal {
    Principal::parse_urn(urn).unwrap()
}

fn municipality() -> Principal {
    principal("urn:carehub:municipality:131016")
}

fn care_manager() -> Principal {
    principal("urn:carehub:care-manager:1310100019")
}

/// The start of a contract that began before the tests' `NOW`.
const START: &str = "2025-04-01T00:00:00+09:00";

/// Records `office`'s registration for `insured` from `start`, as recorded
/// at `at`; returns its sequence number.
fn register<D: Db>(
    s: &SqlStore<D>,
    office: &Principal,
    insured: &str,
    start: &str,
    at: &str,
) -> i64 {
    let person = person(insured);
    let registration = NewRegistration {
        registration_id: RegistrationId::derive(office, &person, at),
        office: office.clone(),
        person,
        verification_method: VerificationMethod::MyNumberCard,
        verification_reference: "資格確認端末 照合番号 0042".into(),
        start: start.into(),
        end: None,
    };
    in_transaction(s, &[], |s| s.add_registration(&registration, at))
        .unwrap()
        .seq
}

/// Ends registration `seq` at `at`.
fn deregister<D: Db>(s: &SqlStore<D>, office: &Principal, seq: i64, at: &str) {
    let d = Deregistration {
        at: at.into(),
        by: office.clone(),
        reason: "契約終了".into(),
    };
    in_transaction(s, &[], |s| s.deregister(seq, &d)).unwrap();
}

fn person(insured: &str) -> PersonRef {
    PersonRef::new(
        InsurerNumber::parse("131016").unwrap(),
        InsuredNumber::parse(insured).unwrap(),
    )
}

fn envelope(kind: DocumentKind, insured: &str, key: Option<&str>) -> Value {
    let p = person(insured);
    let mut v = json!({
        "person": {"insurer_number": "131016", "insured_number": insured},
        "kind": kind.as_str(),
        "content": content::example_content(kind, &p),
    });
    if let Some(k) = key {
        v["document_key"] = json!(k);
    }
    v
}

fn head(key: Option<&str>) -> RequestHead {
    let mut h = vec![("content-type".to_owned(), b"application/json".to_vec())];
    if let Some(k) = key {
        h.push(("idempotency-key".to_owned(), k.as_bytes().to_vec()));
    }
    RequestHead::new("POST", "/documents", "", h)
}

fn post<D: Db>(
    store: &SqlStore<D>,
    who: &Principal,
    key: Option<&str>,
    body: &Value,
    now: &str,
) -> Reply {
    let h = head(key);
    let key = handler::idempotency_key(&h).unwrap();
    handler::single(
        store,
        who,
        &h,
        key.as_ref(),
        body.to_string().as_bytes(),
        now,
    )
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)))
}

fn count(store: &SqlStore<NativeDb>, table: &str) -> i64 {
    store
        .db()
        .0
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn stores_versions_and_skips_unchanged_content() {
    let s = store();
    let m = municipality();
    let mut body = envelope(DocumentKind::InsuranceCertificate, "0000012345", None);

    let r = post(&s, &m, None, &body, NOW);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let a = json_of(&r);
    let id = a["document_id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/read/documents/{id}").as_str())
    );
    assert_eq!(a["kind"], "insurance_certificate");
    assert_eq!(
        a["person"],
        json!({"insurer_number": "131016", "insured_number": "0000012345"})
    );
    assert_eq!(a["author"], "urn:carehub:municipality:131016");
    assert_eq!(a["document_key"], "current");
    assert_eq!(a["version"], 1);
    assert_eq!(a["supersedes"], Value::Null);
    assert_eq!(a["stored_at"], NOW);
    assert_eq!(a["content_sha256"].as_str().unwrap().len(), 64);

    // Same content, other key order and whitespace: no new version.
    let pretty = serde_json::to_string_pretty(&body).unwrap();
    let h = head(None);
    let r = handler::single(&s, &m, &h, None, pretty.as_bytes(), LATER);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("location"), None);
    let same = json_of(&r);
    assert_eq!(same["version"], 1);
    assert_eq!(
        same["stored_at"], NOW,
        "the current version's time, not now"
    );
    assert_eq!(same["content_sha256"], a["content_sha256"]);

    // Changed content: version 2 supersedes 1, history kept.
    body["content"]["address"] = json!("東京都千代田区九段南1-2-1 別館");
    let r = post(&s, &m, None, &body, LATER);
    assert_eq!(r.status, 201);
    let v2 = json_of(&r);
    assert_eq!(v2["document_id"], id.as_str());
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["supersedes"], 1);
    assert_eq!(v2["stored_at"], LATER);
    assert_ne!(v2["content_sha256"], a["content_sha256"]);
    assert_eq!(count(&s, "documents"), 1);
    assert_eq!(count(&s, "document_versions"), 2);

    // History is append-only in the schema itself.
    let err = s
        .db()
        .0
        .execute("DELETE FROM document_versions", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"));
}

#[test]
fn content_sha256_is_of_the_canonical_content() {
    let s = store();
    let body = envelope(DocumentKind::BurdenRatioCertificate, "0000012345", None);
    let r = post(&s, &municipality(), None, &body, NOW);
    let stored: String = s
        .db()
        .0
        .query_row("SELECT content FROM document_versions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, serde_json::to_string(&body["content"]).unwrap());
    assert_eq!(
        json_of(&r)["content_sha256"],
        carehub_guest::body::sha256_hex(stored.as_bytes())
    );
}

#[test]
fn documents_are_per_key_and_per_author() {
    let s = store();
    let cm = care_manager();
    register(&s, &cm, "0000012345", START, NOW);
    let a = post(
        &s,
        &cm,
        None,
        &envelope(DocumentKind::CarePlan, "0000012345", Some("2025-04")),
        NOW,
    );
    let b = post(
        &s,
        &cm,
        None,
        &envelope(DocumentKind::CarePlan, "0000012345", Some("2025-05")),
        NOW,
    );
    assert_eq!((a.status, b.status), (201, 201));
    assert_ne!(json_of(&a)["document_id"], json_of(&b)["document_id"]);
    let other = principal("urn:carehub:care-manager:1310100027");
    register(&s, &other, "0000012345", START, NOW);
    let c = post(
        &s,
        &other,
        None,
        &envelope(DocumentKind::CarePlan, "0000012345", Some("2025-04")),
        NOW,
    );
    assert_eq!(c.status, 201);
    assert_ne!(json_of(&a)["document_id"], json_of(&c)["document_id"]);
    // A care plan needs a key.
    let r = post(
        &s,
        &cm,
        None,
        &envelope(DocumentKind::CarePlan, "0000012345", None),
        NOW,
    );
    assert_eq!(r.status, 400);
    assert_eq!(json_of(&r)["violations"][0]["pointer"], "/document_key");
}

fn problem_type(r: &Reply) -> String {
    json_of(r)["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("urn:carehub:problem:")
        .to_owned()
}

#[test]
fn refuses_authors_the_kind_does_not_have() {
    let s = store();
    let body = envelope(DocumentKind::InsuranceCertificate, "0000012345", None);
    for urn in [
        "urn:carehub:care-manager:1310100019",
        "urn:carehub:care-service:1370100018",
        "urn:carehub:medical:1312345678",
        "urn:carehub:portal:mynaportal",
        "urn:carehub:operator:ops",
    ] {
        let r = post(&s, &principal(urn), None, &body, NOW);
        assert_eq!(
            (r.status, problem_type(&r).as_str()),
            (403, "kind-not-authored-by-role"),
            "{urn}"
        );
    }
    // A care plan is the care manager's, not the municipality's.
    let r = post(
        &s,
        &municipality(),
        None,
        &envelope(DocumentKind::CarePlan, "0000012345", Some("k")),
        NOW,
    );
    assert_eq!(problem_type(&r), "kind-not-authored-by-role");
    assert_eq!(count(&s, "documents"), 0);
}

#[test]
fn a_municipality_writes_only_about_its_own_insured() {
    let s = store();
    let osaka = principal("urn:carehub:municipality:271004");
    let r = post(
        &s,
        &osaka,
        None,
        &envelope(DocumentKind::InsuranceCertificate, "0000012345", None),
        NOW,
    );
    assert_eq!(
        (r.status, problem_type(&r).as_str()),
        (403, "wrong-municipality")
    );
    assert_eq!(count(&s, "documents"), 0);
}

#[test]
fn invalid_content_is_422_with_violations() {
    let s = store();
    let mut body = envelope(DocumentKind::InsuranceCertificate, "0000012345", None);
    body["content"]["care_level"] = json!("99");
    body["content"]["issue_date"] = json!("2025-02-30");
    let r = post(&s, &municipality(), None, &body, NOW);
    assert_eq!(r.status, 422);
    let p = json_of(&r);
    assert_eq!(p["type"], "urn:carehub:problem:invalid-document");
    let pointers: Vec<&str> = p["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/care_level"), "{pointers:?}");
    assert!(pointers.contains(&"/issue_date"), "{pointers:?}");
    assert_eq!(count(&s, "documents"), 0);
}

#[test]
fn malformed_bodies_are_400() {
    let s = store();
    let h = head(None);
    let r = handler::single(&s, &municipality(), &h, None, b"{\"person\": ", NOW);
    assert_eq!(
        (r.status, problem_type(&r).as_str()),
        (400, "malformed-json")
    );
    assert!(
        json_of(&r)["detail"]
            .as_str()
            .unwrap()
            .contains("line 1 column")
    );
}

#[test]
fn idempotency_replays_the_stored_answer() {
    let s = store();
    let m = municipality();
    let body = envelope(DocumentKind::InsuranceCertificate, "0000012345", None);
    let first = post(&s, &m, Some("req-1"), &body, NOW);
    assert_eq!(first.status, 201);
    let again = post(&s, &m, Some("req-1"), &body, LATER);
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body, "byte for byte");
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(count(&s, "document_versions"), 1);
    assert_eq!(count(&s, "idempotency_records"), 1);

    // Same key, other body: 409, nothing stored.
    let mut other = body.clone();
    other["content"]["address"] = json!("別の住所");
    let r = post(&s, &m, Some("req-1"), &other, LATER);
    assert_eq!(
        (r.status, problem_type(&r).as_str()),
        (409, "idempotency-key-reused")
    );
    assert_eq!(count(&s, "document_versions"), 1);

    // Keys are per principal.
    let cm = care_manager();
    register(&s, &cm, "0000012345", START, NOW);
    let r = post(
        &s,
        &cm,
        Some("req-1"),
        &envelope(DocumentKind::CarePlan, "0000012345", Some("p")),
        NOW,
    );
    assert_eq!(r.status, 201);

    // A refused request records nothing: the key stays usable.
    let mut bad = body.clone();
    bad["content"]["care_level"] = json!("99");
    assert_eq!(post(&s, &m, Some("req-2"), &bad, NOW).status, 422);
    assert_eq!(post(&s, &m, Some("req-2"), &other, NOW).status, 201);

    // A malformed key is refused before anything else.
    let h = RequestHead::new(
        "POST",
        "/documents",
        "",
        vec![("idempotency-key".to_owned(), b"has space".to_vec())],
    );
    let r = handler::idempotency_key(&h).unwrap_err();
    assert_eq!(
        (r.status, problem_type(&r).as_str()),
        (400, "invalid-idempotency-key")
    );
    assert!(IdempotencyKey::parse("ok-key").is_ok());
}

/// A database that fails the `n`th statement (counting from 1).
struct FailingDb {
    inner: NativeDb,
    fail_at: usize,
    seen: Cell<usize>,
}

impl Db for FailingDb {
    fn execute(&self, sql: &str, params: Vec<DbValue>) -> Result<Rows, DbError> {
        let n = self.seen.get() + 1;
        self.seen.set(n);
        if n == self.fail_at {
            return Err(DbError(
                "SQLITE_IOERR: disk I/O error in secret_table".into(),
            ));
        }
        self.inner.execute(sql, params)
    }
}

#[test]
fn a_failed_write_stores_nothing_and_says_nothing() {
    let body = envelope(DocumentKind::InsuranceCertificate, "0000012345", None);
    // Statements with a key: lookup, BEGIN, lookup, upsert, version insert,
    // idempotency insert, COMMIT. Fail each write step in turn.
    for fail_at in 3..=7 {
        let s = SqlStore::new(FailingDb {
            inner: NativeDb::migrated(),
            fail_at,
            seen: Cell::new(0),
        });
        let r = post(&s, &municipality(), Some("k"), &body, NOW);
        assert_eq!(r.status, 500, "fail_at {fail_at}");
        let text = String::from_utf8(r.body.clone()).unwrap();
        assert!(
            !text.contains("SQLITE") && !text.contains("secret"),
            "{text}"
        );
        assert_eq!(problem_type(&r), "internal");
        let conn = &s.db().inner.0;
        for table in ["documents", "document_versions", "idempotency_records"] {
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table} after failing statement {fail_at}");
        }
        assert!(conn.is_autocommit(), "transaction left open");
    }
}

/// Runs a bulk over `body` in batches of `batch_bytes`.
fn bulk_batched<S: RegistrationStore>(
    s: &S,
    who: &Principal,
    body: &[u8],
    batch_bytes: usize,
) -> Reply {
    use crate::bulk::{Bulk, LineSplitter};
    let mut run = Bulk::new(s, who, NOW).with_batch_bytes(batch_bytes);
    let mut splitter = LineSplitter::new();
    let fed = splitter
        .feed(body, |n, l| run.push(n, l))
        .and_then(|()| splitter.finish(|n, l| run.push(n, l)));
    match fed {
        Ok(()) => run.finish(),
        Err(reply) => reply,
    }
}

fn parse_lines(r: Reply) -> Vec<Value> {
    assert_eq!(
        r.status,
        200,
        "{}",
        String::from_utf8_lossy(&r.body_bytes())
    );
    String::from_utf8(r.body_bytes())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn bulk(s: &SqlStore<NativeDb>, who: &Principal, lines: &[String], now: &str) -> Vec<Value> {
    let body = lines.join("\n");
    let r = crate::bulk::bulk(s, who, body.as_bytes(), now);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    String::from_utf8(r.body_bytes())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn bulk_answers_every_line_in_order_and_a_bad_line_refuses_only_itself() {
    let s = store();
    let m = municipality();
    let good =
        |insured: &str| envelope(DocumentKind::InsuranceCertificate, insured, None).to_string();
    let mut bad_content = envelope(DocumentKind::InsuranceCertificate, "0000000003", None);
    bad_content["content"]["care_level"] = json!("99");
    let lines = vec![
        good("0000000001"),
        "{not json".to_owned(),
        String::new(), // empty lines are skipped but keep numbering
        bad_content.to_string(),
        envelope(DocumentKind::CarePlan, "0000000004", Some("p")).to_string(),
        good("0000000002"),
        json!({"person": {"insurer_number": "271004", "insured_number": "0000000005"}, "kind": "insurance_certificate", "content": {}}).to_string(),
    ];
    let out = bulk(&s, &m, &lines, NOW);
    let summary: Vec<(i64, i64)> = out
        .iter()
        .map(|l| (l["line"].as_i64().unwrap(), l["status"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [(1, 201), (2, 400), (4, 422), (5, 403), (6, 201), (7, 403)]
    );
    assert_eq!(
        out[1]["problem"]["type"],
        "urn:carehub:problem:malformed-json"
    );
    assert_eq!(
        out[2]["problem"]["type"],
        "urn:carehub:problem:invalid-document"
    );
    assert_eq!(
        out[3]["problem"]["type"],
        "urn:carehub:problem:kind-not-authored-by-role"
    );
    assert_eq!(
        out[5]["problem"]["type"],
        "urn:carehub:problem:wrong-municipality"
    );
    assert_eq!(out[0]["version"], 1);
    assert_eq!(out[0]["person"]["insured_number"], "0000000001");
    assert!(out[0]["document_id"].as_str().unwrap().starts_with("doc_"));
    assert_eq!(count(&s, "documents"), 2);
}

#[test]
fn bulk_handles_the_same_document_twice_in_one_body() {
    let s = store();
    let m = municipality();
    let v1 = envelope(DocumentKind::InsuranceCertificate, "0000012345", None);
    let mut v2 = v1.clone();
    v2["content"]["address"] = json!("新住所");
    let lines = vec![
        v1.to_string(),
        v1.to_string(),
        v2.to_string(),
        v2.to_string(),
        v1.to_string(),
    ];
    let out = bulk(&s, &m, &lines, NOW);
    let got: Vec<(i64, i64, Value)> = out
        .iter()
        .map(|l| {
            (
                l["status"].as_i64().unwrap(),
                l["version"].as_i64().unwrap(),
                l["supersedes"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (201, 1, Value::Null),
            (200, 1, Value::Null),
            (201, 2, json!(1)),
            (200, 2, json!(1)),
            (201, 3, json!(2))
        ]
    );
    assert_eq!(count(&s, "document_versions"), 3);
}

#[test]
fn bulk_idempotency_keys_per_line() {
    let s = store();
    let m = municipality();
    let keyed = |insured: &str, key: &str| {
        let mut v = envelope(DocumentKind::InsuranceCertificate, insured, None);
        v["idempotency_key"] = json!(key);
        v
    };
    let a = keyed("0000000001", "a");
    let out1 = bulk(
        &s,
        &m,
        &[a.to_string(), keyed("0000000002", "b").to_string()],
        NOW,
    );
    assert_eq!(
        (out1[0]["status"].as_i64(), out1[1]["status"].as_i64()),
        (Some(201), Some(201))
    );

    // Replayed in a later request: the stored answer, nothing new; "b" with
    // another document is a conflict; a repeat of "c" inside the body
    // answers like its first line.
    let mut b_other = keyed("0000000003", "b");
    b_other["content"]["address"] = json!("x");
    let c = keyed("0000000004", "c");
    let out2 = bulk(
        &s,
        &m,
        &[
            a.to_string(),
            b_other.to_string(),
            c.to_string(),
            c.to_string(),
        ],
        LATER,
    );
    assert_eq!(out2[0]["status"], 201);
    assert_eq!(
        out2[0]["stored_at"], NOW,
        "replayed answer, not a new write"
    );
    assert_eq!(out2[0]["document_id"], out1[0]["document_id"]);
    assert_eq!(out2[1]["status"], 409);
    assert_eq!(
        out2[1]["problem"]["type"],
        "urn:carehub:problem:idempotency-key-reused"
    );
    assert_eq!(out2[2]["status"], 201);
    assert_eq!(out2[3]["status"], 201);
    assert_eq!(out2[3]["document_id"], out2[2]["document_id"]);
    assert_eq!(out2[3]["line"], 4);
    assert_eq!(count(&s, "document_versions"), 3);
    assert_eq!(count(&s, "idempotency_records"), 3);

    // A line's key is recorded with the single-document answer, so the
    // record body is what the single endpoint would have answered.
    let body: String = s
        .db()
        .0
        .query_row(
            "SELECT body FROM idempotency_records WHERE idempotency_key = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let rec: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rec["version"], 1);
    assert!(rec.get("line").is_none());
}

#[test]
fn bulk_limits() {
    let s = store();
    let line = "{}\n";
    let body = line.repeat(BULK_MAX_LINES + 1);
    let r = crate::bulk::bulk(&s, &municipality(), body.as_bytes(), NOW);
    assert_eq!(r.status, 413);
    // A request-level key is refused on bulk.
    let h = RequestHead::new(
        "POST",
        "/documents:bulk",
        "",
        vec![("Idempotency-Key".to_owned(), b"k".to_vec())],
    );
    assert_eq!(handler::refuse_request_key(&h).unwrap_err().status, 400);
    // Empty body: empty answer.
    let r = crate::bulk::bulk(&s, &municipality(), b"", NOW);
    assert_eq!((r.status, r.body_bytes().len()), (200, 0));
}

/// Not a benchmark of the component (no wasm, no host calls), but a guard
/// that the pure pass and the SQL stay fast: 20,000 documents natively.
#[test]
fn bulk_of_twenty_thousand() {
    let s = store();
    let m = municipality();
    let lines: Vec<String> = (0..20_000)
        .map(|i| {
            envelope(
                DocumentKind::InsuranceCertificate,
                &format!("{i:010}"),
                None,
            )
            .to_string()
        })
        .collect();
    let body = lines.join("\n");
    let started = std::time::Instant::now();
    let r = crate::bulk::bulk(&s, &m, body.as_bytes(), NOW);
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(count(&s, "documents"), 20_000);
    eprintln!(
        "bulk: 20,000 documents ({} MiB) in {elapsed:?} = {:.0} docs/s (native, {})",
        body.len() >> 20,
        20_000.0 / elapsed.as_secs_f64(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
}

/// Where a bulk's time goes, natively (file-backed SQLite in WAL mode, as the
/// gateway opens it): `cargo test --release -p carehub-ingest profile -- --ignored --nocapture`.
#[test]
#[ignore]
fn profile_bulk_phases() {
    let m = municipality();
    let lines: Vec<String> = (0..20_000)
        .map(|i| {
            envelope(
                DocumentKind::InsuranceCertificate,
                &format!("{i:010}"),
                None,
            )
            .to_string()
        })
        .collect();
    let t = std::time::Instant::now();
    let mut items = Vec::new();
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap();
        items.push(v);
    }
    eprintln!("parse: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let p = person("0000000001");
    for v in &items {
        let _ = content::validate_content(DocumentKind::InsuranceCertificate, &p, &v["content"]);
    }
    eprintln!("validate only: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let mut total = 0;
    for v in &items {
        let c = carehub_guest::body::canonical_json(&v["content"]);
        total += carehub_guest::body::sha256_hex(c.as_bytes()).len();
    }
    eprintln!("canonical+sha only: {:?} {total}", t.elapsed());
    let t = std::time::Instant::now();
    let mut prepared = Vec::new();
    for v in items {
        let e = crate::envelope::parse(v, crate::envelope::Format::BulkLine).unwrap();
        prepared.push(handler::prepare(&m, e).unwrap());
    }
    eprintln!("envelope+validate+canonical+sha: {:?}", t.elapsed());
    let file = std::env::temp_dir().join(format!("carehub-profile-{}.db", std::process::id()));
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    for (_, sql) in carehub_store::native::migrations() {
        conn.execute_batch(&sql).unwrap();
    }
    let s = SqlStore::new(NativeDb(conn));
    let t = std::time::Instant::now();
    use carehub_store::DocumentStore;
    s.begin_write().unwrap();
    let w = s.write_versions(&prepared, NOW).unwrap();
    s.commit().unwrap();
    eprintln!("write: {:?} ({})", t.elapsed(), w.len());
    let t = std::time::Instant::now();
    let mut n = 0;
    for (p, w) in prepared.iter().zip(&w) {
        n += handler::answer(p, w).body.len();
    }
    eprintln!("answers: {:?} ({n})", t.elapsed());
    drop(s);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

#[test]
fn bulk_spans_batches_in_one_transaction() {
    let s = store();
    let m = municipality();
    let mut keyed = envelope(DocumentKind::InsuranceCertificate, "0000000001", None);
    keyed["idempotency_key"] = json!("k");
    let mut reused = envelope(DocumentKind::InsuranceCertificate, "0000000002", None);
    reused["idempotency_key"] = json!("k");
    let mut lines: Vec<String> = (0..4_500)
        .map(|i| {
            envelope(
                DocumentKind::InsuranceCertificate,
                &format!("{:010}", 10 + i),
                None,
            )
            .to_string()
        })
        .collect();
    lines[0] = keyed.to_string();
    lines[2_500] = keyed.to_string(); // a later batch: same answer as line 1
    lines[4_400] = reused.to_string(); // same key, other bytes: 409
    lines[3_000] = lines[10].clone(); // same document, same content: unchanged
    // About 600 lines per batch: eight batches.
    let out = parse_lines(bulk_batched(&s, &m, lines.join("\n").as_bytes(), 500_000));
    assert_eq!(out.len(), 4_500);
    assert_eq!(out[0]["status"], 201);
    let mut again = out[2_500].clone();
    again["line"] = json!(1);
    assert_eq!(again, out[0]);
    assert_eq!(out[4_400]["status"], 409);
    assert_eq!(
        (out[10]["status"].as_i64(), out[3_000]["status"].as_i64()),
        (Some(201), Some(200))
    );
    assert_eq!(count(&s, "idempotency_records"), 1);
    assert_eq!(count(&s, "documents"), 4_500 - 3);
}

#[test]
fn a_failed_bulk_stores_nothing() {
    let lines: Vec<String> = (0..3_000)
        .map(|i| {
            envelope(
                DocumentKind::InsuranceCertificate,
                &format!("{i:010}"),
                None,
            )
            .to_string()
        })
        .collect();
    let body = lines.join("\n");
    // Statement 1 is BEGIN; fail one in the first batch and one in the second.
    for fail_at in [2, 12, 20] {
        let s = SqlStore::new(FailingDb {
            inner: NativeDb::migrated(),
            fail_at,
            seen: Cell::new(0),
        });
        let r = crate::bulk::bulk(&s, &municipality(), body.as_bytes(), NOW);
        assert_eq!(r.status, 500, "fail_at {fail_at}");
        let conn = &s.db().inner.0;
        let n: i64 = conn
            .query_row("SELECT count(*) FROM documents", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "after failing statement {fail_at}");
        assert!(conn.is_autocommit());
    }
}

#[test]
fn bulk_result_does_not_depend_on_chunking() {
    use crate::bulk::{Bulk, LineSplitter};
    let m = municipality();
    let lines: Vec<String> = (0..50)
        .map(|i| {
            envelope(
                DocumentKind::InsuranceCertificate,
                &format!("{i:010}"),
                None,
            )
            .to_string()
        })
        .collect();
    let body = lines.join("\r\n") + "\n\n";
    let whole = crate::bulk::bulk(&store(), &m, body.as_bytes(), NOW).body_bytes();
    for size in [1, 7, 4096] {
        let s = store();
        let mut run = Bulk::new(&s, &m, NOW);
        let mut splitter = LineSplitter::new();
        for chunk in body.as_bytes().chunks(size) {
            splitter.feed(chunk, |n, l| run.push(n, l)).unwrap();
        }
        splitter.finish(|n, l| run.push(n, l)).unwrap();
        assert_eq!(run.finish().body_bytes(), whole, "chunk size {size}");
    }
}

#[test]
fn an_office_writes_only_about_persons_it_is_registered_for() {
    let s = store();
    let cm = care_manager();
    let plan = envelope(DocumentKind::CarePlan, "0000012345", Some("2025-11"));
    let refused = |r: &Reply| (r.status, problem_type(r)) == (403, "office-not-registered".into());

    // Not registered: refused, nothing stored, the key stays free.
    let r = post(&s, &cm, Some("plan-1"), &plan, NOW);
    assert!(refused(&r), "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(count(&s, "documents"), 0);
    assert_eq!(count(&s, "idempotency_records"), 0);

    // A registration whose contract starts later is not in force yet.
    let early = register(
        &s,
        &cm,
        "0000012345",
        "2025-12-01T00:00:00+09:00",
        "2025-11-25T05:00:00Z",
    );
    assert!(refused(&post(&s, &cm, Some("plan-1"), &plan, NOW)));
    deregister(&s, &cm, early, "2025-11-25T05:30:00Z");

    // Registered: stored.
    let seq = register(&s, &cm, "0000012345", START, "2025-11-25T05:45:00Z");
    let stored = post(&s, &cm, Some("plan-1"), &plan, NOW);
    assert_eq!(
        stored.status,
        201,
        "{}",
        String::from_utf8_lossy(&stored.body)
    );
    // The registration is the office's, for this person only.
    let other_office = principal("urn:carehub:care-manager:1310100027");
    assert!(refused(&post(&s, &other_office, None, &plan, NOW)));
    let other_person = envelope(DocumentKind::CarePlan, "0000099999", Some("2025-11"));
    assert!(refused(&post(&s, &cm, None, &other_person, NOW)));

    // Care-service offices likewise, for LIFE feedback.
    let cs = principal("urn:carehub:care-service:1370100018");
    let feedback = envelope(DocumentKind::LifeFeedback, "0000012345", Some("2025-10"));
    assert!(refused(&post(&s, &cs, None, &feedback, NOW)));
    register(&s, &cs, "0000012345", START, NOW);
    assert_eq!(post(&s, &cs, None, &feedback, NOW).status, 201);

    // Deregistered: refused again. A replay of a request stored while
    // registered still answers what was stored (it writes nothing).
    deregister(&s, &cm, seq, "2025-11-25T06:30:00Z");
    let next = envelope(DocumentKind::CarePlan, "0000012345", Some("2025-12"));
    assert!(refused(&post(&s, &cm, None, &next, LATER)));
    let replay = post(&s, &cm, Some("plan-1"), &plan, LATER);
    assert_eq!(replay.body, stored.body);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(count(&s, "documents"), 2);
    assert_eq!(count(&s, "document_versions"), 2);
}

/// A database that records every statement it runs.
struct RecordingDb {
    inner: NativeDb,
    seen: RefCell<Vec<String>>,
}

impl RecordingDb {
    fn new() -> Self {
        RecordingDb {
            inner: NativeDb::migrated(),
            seen: RefCell::new(Vec::new()),
        }
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.borrow_mut())
    }
}

impl Db for RecordingDb {
    fn execute(&self, sql: &str, params: Vec<DbValue>) -> Result<Rows, DbError> {
        self.seen.borrow_mut().push(sql.to_owned());
        self.inner.execute(sql, params)
    }
}

fn is_registration_lookup(sql: &str) -> bool {
    sql.starts_with("SELECT") && sql.contains("office_registrations")
}

/// Where the statements of a write stand: the registration lookups come
/// after `BEGIN IMMEDIATE` and before the first version is stored, so a
/// deregistration cannot commit between check and write.
fn assert_checked_in_transaction(statements: &[String]) {
    let begin = statements.iter().position(|q| q == "BEGIN IMMEDIATE");
    let lookup = statements.iter().position(|q| is_registration_lookup(q));
    let write = statements
        .iter()
        .position(|q| q.contains("INSERT INTO document_versions"));
    assert!(
        matches!((begin, lookup, write), (Some(b), Some(l), Some(w)) if b < l && l < w),
        "{statements:#?}"
    );
}

#[test]
fn the_registration_is_checked_inside_the_write_transaction() {
    let s = SqlStore::new(RecordingDb::new());
    let cm = care_manager();
    register(&s, &cm, "0000012345", START, NOW);
    s.db().take();
    let plan = envelope(DocumentKind::CarePlan, "0000012345", Some("2025-11"));
    assert_eq!(post(&s, &cm, None, &plan, NOW).status, 201);
    assert_checked_in_transaction(&s.db().take());

    let line = envelope(DocumentKind::CarePlan, "0000012345", Some("2025-12")).to_string();
    let r = crate::bulk::bulk(&s, &cm, line.as_bytes(), NOW);
    assert_eq!(parse_lines(r)[0]["status"], 201);
    assert_checked_in_transaction(&s.db().take());

    // A municipality has no registration to look up.
    let cert = envelope(DocumentKind::InsuranceCertificate, "0000012345", None);
    assert_eq!(post(&s, &municipality(), None, &cert, NOW).status, 201);
    assert!(!s.db().take().iter().any(|q| is_registration_lookup(q)));
}

#[test]
fn bulk_refuses_each_line_about_a_person_the_office_is_not_registered_for() {
    let cm = care_manager();
    let plan = |insured: &str, key: &str, idempotency: Option<&str>| {
        let mut v = envelope(DocumentKind::CarePlan, insured, Some(key));
        if let Some(k) = idempotency {
            v["idempotency_key"] = json!(k);
        }
        v.to_string()
    };
    let (registered, stranger, former) = ("0000000001", "0000000002", "0000000003");
    let lines = [
        plan(registered, "p1", None),
        plan(stranger, "p1", None),
        plan(registered, "p2", None),
        plan(stranger, "p2", Some("k")),
        plan(former, "p1", None),
        // The refused line claimed nothing: its key is free for this one.
        plan(registered, "p3", Some("k")),
        plan(stranger, "p3", None),
    ];
    let body = lines.join("\n");
    // Whole, and one line per batch: the same answers, and each distinct
    // person looked up once per bulk, not once per line.
    for batch_bytes in [usize::MAX, 1] {
        let s = SqlStore::new(RecordingDb::new());
        register(&s, &cm, registered, START, NOW);
        let seq = register(&s, &cm, former, START, NOW);
        deregister(&s, &cm, seq, "2025-11-25T05:00:00Z");
        s.db().take();
        let out = parse_lines(bulk_batched(&s, &cm, body.as_bytes(), batch_bytes));
        let statuses: Vec<i64> = out.iter().map(|l| l["status"].as_i64().unwrap()).collect();
        assert_eq!(
            statuses,
            [201, 403, 201, 403, 403, 201, 403],
            "batch {batch_bytes}"
        );
        for i in [1, 3, 4, 6] {
            assert_eq!(
                out[i]["problem"]["type"],
                "urn:carehub:problem:office-not-registered"
            );
        }
        let lookups = s
            .db()
            .take()
            .iter()
            .filter(|q| is_registration_lookup(q))
            .count();
        assert_eq!(lookups, 3, "batch {batch_bytes}");
        let conn = &s.db().inner.0;
        let stored: Vec<String> = conn
            .prepare("SELECT insured_number FROM documents ORDER BY insured_number")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(stored, [registered; 3]);
        let records: i64 = conn
            .query_row("SELECT count(*) FROM idempotency_records", [], |r| r.get(0))
            .unwrap();
        assert_eq!(records, 1);
    }
}

mod care_plan_csv {
    use std::io::Write;

    use super::*;
    use crate::csv;

    const OFFICE: &str = "urn:carehub:care-manager:1371234567";
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/csv/");

    fn zipped(dir: &str) -> Vec<u8> {
        let mut names: Vec<_> = std::fs::read_dir(format!("{FIXTURES}{dir}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for p in names {
            w.start_file(
                p.file_name().unwrap().to_str().unwrap(),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            w.write_all(&std::fs::read(&p).unwrap()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn fixture_person() -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131011").unwrap(),
            InsuredNumber::parse("0000012345").unwrap(),
        )
    }

    fn register_office(s: &SqlStore<NativeDb>) {
        let office = principal(OFFICE);
        let person = fixture_person();
        let registration = NewRegistration {
            registration_id: RegistrationId::derive(&office, &person, NOW),
            office,
            person,
            verification_method: VerificationMethod::MyNumberCard,
            verification_reference: "資格確認端末 照合番号 0042".into(),
            start: START.into(),
            end: None,
        };
        in_transaction(s, &[], |s| s.add_registration(&registration, NOW)).unwrap();
    }

    fn post(s: &SqlStore<NativeDb>, body: &[u8]) -> Reply {
        let h = RequestHead::new(
            "POST",
            "/care-plans:csv",
            "",
            vec![("content-type".to_owned(), csv::ZIP.as_bytes().to_vec())],
        );
        csv::import(s, &principal(OFFICE), &h, None, csv::unzip(body), LATER)
    }

    fn fixture_files(dir: &str) -> Vec<(String, Vec<u8>)> {
        let mut names: Vec<_> = std::fs::read_dir(format!("{FIXTURES}{dir}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_str().unwrap().to_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect()
    }

    fn form(boundary: &str, parts: &[(Option<&str>, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (i, (file, bytes)) in parts.iter().enumerate() {
            body.extend(format!("--{boundary}\r\n").bytes());
            match file {
                Some(f) => body.extend(
                    format!(
                        "Content-Disposition: form-data; name=\"file{i}\"; filename=\"{f}\"\r\n\
                         Content-Type: text/csv\r\n\r\n"
                    )
                    .bytes(),
                ),
                None => body.extend(
                    format!("Content-Disposition: form-data; name=\"note{i}\"\r\n\r\n").bytes(),
                ),
            }
            body.extend_from_slice(bytes);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").bytes());
        body
    }

    fn parts(
        body: Vec<u8>,
        boundary: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, carehub_domain::Problem> {
        futures_executor::block_on(csv::multipart_files(body, boundary))
    }

    #[test]
    fn the_content_type_names_the_packing() {
        assert!(matches!(
            csv::packing(Some("application/zip")),
            Ok(csv::Packing::Zip)
        ));
        assert!(matches!(
            csv::packing(Some("Multipart/Form-Data; boundary=abc")),
            Ok(csv::Packing::Multipart(b)) if b == "abc"
        ));
        assert_eq!(
            csv::packing(Some("multipart/form-data"))
                .unwrap_err()
                .status(),
            400
        );
        for other in [None, Some("text/csv"), Some("application/json")] {
            assert_eq!(csv::packing(other).unwrap_err().status(), 415, "{other:?}");
        }
    }

    #[test]
    fn multipart_files_are_the_zip_s_files_and_the_same_request() {
        let files = fixture_files("full");
        let with_paths: Vec<(String, &[u8])> = files
            .iter()
            .map(|(n, b)| (format!("plans/2025-04/{n}"), b.as_slice()))
            .collect();
        let form_parts: Vec<(Option<&str>, &[u8])> = with_paths
            .iter()
            .map(|(n, b)| (Some(n.as_str()), *b))
            .collect();
        let got = parts(form("XyZ-1", &form_parts), "XyZ-1").unwrap();
        assert_eq!(got, files, "names lose their folders, bytes are kept");
        // Another boundary and the zip are the same request.
        let again = parts(form("other", &form_parts), "other").unwrap();
        assert_eq!(
            csv::files_fingerprint_body(&again),
            csv::files_fingerprint_body(&csv::unzip(&zipped("full")).unwrap())
        );

        let s = store();
        register_office(&s);
        let key = IdempotencyKey::parse("plan-1").unwrap();
        let h = RequestHead::new("POST", "/care-plans:csv", "", Vec::new());
        let first = csv::import(&s, &principal(OFFICE), &h, Some(&key), Ok(got), LATER);
        assert_eq!(
            first.status,
            201,
            "{}",
            String::from_utf8_lossy(&first.body)
        );
        let zip = csv::import(
            &s,
            &principal(OFFICE),
            &h,
            Some(&key),
            csv::unzip(&zipped("full")),
            LATER,
        );
        assert_eq!(
            (zip.status, zip.body.clone()),
            (first.status, first.body.clone())
        );
        let mut changed = files.clone();
        changed.pop();
        let reused = csv::import(&s, &principal(OFFICE), &h, Some(&key), Ok(changed), LATER);
        assert_eq!(reused.status, 409);
        assert_eq!(count(&s, "document_versions"), 1);
    }

    #[test]
    fn a_form_without_files_or_not_multipart_is_refused() {
        let files = fixture_files("full");
        let note: &[u8] = b"hello";
        for body in [
            form("b", &[(None, note)]),
            form(
                "b",
                &[(Some(files[0].0.as_str()), &files[0].1), (None, note)],
            ),
            form("b", &[]),
            b"--b\r\nnot a part".to_vec(),
            b"no boundary here".to_vec(),
        ] {
            let p = parts(body, "b").unwrap_err();
            assert_eq!(p.status(), 422);
            assert_eq!(
                p.to_json()["type"],
                "urn:carehub:problem:invalid-standard-csv"
            );
        }
    }

    #[test]
    fn a_full_set_is_stored_once_as_a_care_plan() {
        let s = store();
        register_office(&s);
        let body = zipped("full");
        let r = post(&s, &body);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let v = json_of(&r);
        assert_eq!(v["kind"], "care_plan");
        assert_eq!(v["document_key"], "csv-plan-20250405");
        let again = post(&s, &body);
        assert_eq!(again.status, 200);
        assert_eq!(count(&s, "documents"), 1);
        assert_eq!(count(&s, "document_versions"), 1);
    }

    #[test]
    fn an_unregistered_office_and_bad_files_store_nothing() {
        let s = store();
        let r = post(&s, &zipped("full"));
        assert_eq!(r.status, 403);
        assert_eq!(
            json_of(&r)["type"],
            "urn:carehub:problem:office-not-registered"
        );
        register_office(&s);
        for dir in ["gaiji", "utf8", "lacks-ms932"] {
            let r = post(&s, &zipped(dir));
            assert_eq!(r.status, 422, "{dir}");
            let v = json_of(&r);
            assert_eq!(v["type"], "urn:carehub:problem:invalid-standard-csv");
            assert_eq!(v["csv_violations"][0]["row"], 1, "{dir}");
            assert!(v["csv_violations"][0]["column"].as_u64().unwrap() > 0);
        }
        let r = post(&s, b"not a zip");
        assert_eq!(r.status, 422);
        assert_eq!(count(&s, "documents"), 0);
    }
}
