//! `POST /api/ingest/care-plans:csv` over mTLS: the standard care-plan CSV
//! fixtures (`tests/fixtures/csv`, MS932) import, read back as a care plan,
//! and every kind of bad input is refused with its file, row and column,
//! storing nothing.

use std::io::Write;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::care::{client_for, read};
use crate::helpers::{TestApp, workspace};

const OFFICE: &str = "urn:carehub:care-manager:1371234567";

fn fixture_files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut paths: Vec<_> = std::fs::read_dir(workspace().join("tests/fixtures/csv").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn zipped(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn post(app: &TestApp, client: &Client, body: Vec<u8>) -> (u16, Value) {
    let resp = client
        .post(app.url("/api/ingest/care-plans:csv"))
        .header("content-type", "application/zip")
        .body(body)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap())
}

fn register(app: &TestApp, client: &Client) {
    let resp = client
        .post(app.url("/api/office-register/registrations"))
        .json(&json!({
            "person": {"insurer_number": "131011", "insured_number": "0000012345"},
            "verification_method": {"type": "my_number_card"},
            "verification_reference": "資格確認端末 照合番号 0042",
            "start": "2025-04-01T00:00:00+09:00",
        }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
}

#[test]
fn a_full_set_of_standard_files_imports_and_reads_back_as_a_care_plan() {
    let app = TestApp::spawn();
    let office = client_for(&app, OFFICE);
    register(&app, &office);
    let files = fixture_files("full");
    let (status, stored) = post(&app, &office, zipped(&files));
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["document_key"], "csv-plan-20250405");
    let id = stored["document_id"].as_str().unwrap();

    let resp = read(&app, &office, id);
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().unwrap();
    let c = &doc["content"];
    assert_eq!(doc["kind"], "care_plan");
    assert_eq!(c["care_manager_name"], "髙橋 﨑子");
    assert_eq!(c["table1"]["person_address_2"], "髙﨑ハイツ101");
    assert_eq!(c["table2"][0]["services"].as_array().unwrap().len(), 2);
    assert_eq!(c["standard_csv"]["version"], "202306");
    for (name, bytes) in &files {
        let entry = c["standard_csv"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} not recorded"));
        assert_eq!(entry["sha256"], hex::encode(Sha256::digest(bytes)));
    }

    // The same files again: idempotent, nothing new stored.
    let (status, again) = post(&app, &office, zipped(&files));
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        app.db().query_i64("SELECT count(*) FROM document_versions"),
        1
    );
}

#[test]
fn each_kind_of_bad_input_is_refused_with_row_and_column_and_stores_nothing() {
    let app = TestApp::spawn();
    let office = client_for(&app, OFFICE);

    // Not registered for the person.
    let (status, p) = post(&app, &office, zipped(&fixture_files("full")));
    assert_eq!(status, 403, "{p}");
    assert_eq!(p["type"], "urn:carehub:problem:office-not-registered");
    register(&app, &office);

    // Wrong encoding, a character MS932 lacks, 外字.
    for (dir, row, column) in [("utf8", 1, 6), ("lacks-ms932", 1, 8), ("gaiji", 1, 8)] {
        let (status, p) = post(&app, &office, zipped(&fixture_files(dir)));
        assert_eq!(status, 422, "{dir}: {p}");
        assert_eq!(p["type"], "urn:carehub:problem:invalid-standard-csv");
        let v = &p["csv_violations"][0];
        assert!(v["file"].as_str().unwrap().starts_with("UP1KYO_"), "{dir}");
        assert_eq!(
            (v["row"].as_u64(), v["column"].as_u64()),
            (Some(row), Some(column)),
            "{dir}: {v}"
        );
    }

    let edit = |from: &str, to: &str| {
        let mut files = fixture_files("full");
        let t1 = &mut files[0].1;
        let (from, to) = (from.as_bytes(), to.as_bytes());
        let at = t1.windows(from.len()).position(|w| w == from).unwrap();
        t1.splice(at..at + from.len(), to.iter().copied());
        zipped(&files)
    };
    // A missing required item (介護支援事業者コード, item 13), a bad code
    // (要介護状態区分 29, item 21), a person of another insurer (item 2).
    for (body, column) in [
        (edit("\"1371234567\",\"20250405\"", "\"\",\"20250405\""), 13),
        (edit("\"22\"", "\"29\""), 21),
        (edit("\"131011\"", "\"271004\""), 2),
    ] {
        let (status, p) = post(&app, &office, body);
        assert_eq!(status, 422, "{p}");
        let v = &p["csv_violations"][0];
        assert_eq!(
            (v["row"].as_u64(), v["column"].as_u64()),
            (Some(1), Some(column)),
            "{v}"
        );
    }
    assert_eq!(app.db().query_i64("SELECT count(*) FROM documents"), 0);
}
