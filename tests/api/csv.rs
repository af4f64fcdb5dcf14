//! `POST /api/ingest/care-plans:csv` over mTLS: the standard care-plan CSV
//! fixtures (`tests/fixtures/csv`, MS932) import (zipped or as multipart),
//! read back as a care plan and export byte for byte
//! (`GET /api/read/documents/{id}/standard-csv`), and every kind of bad
//! input is refused with its file, row and column, storing nothing.

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

/// How the files travel.
#[derive(Debug, Clone, Copy)]
enum Packing {
    Zip,
    Form,
}

/// Posts the files zipped or as `multipart/form-data` (one part per file).
fn send(
    app: &TestApp,
    client: &Client,
    files: &[(String, Vec<u8>)],
    packing: Packing,
) -> (u16, Value) {
    match packing {
        Packing::Zip => post(app, client, zipped(files)),
        Packing::Form => {
            let mut form = reqwest::blocking::multipart::Form::new();
            for (i, (name, bytes)) in files.iter().enumerate() {
                let part = reqwest::blocking::multipart::Part::bytes(bytes.clone())
                    .file_name(name.clone())
                    .mime_str("text/csv")
                    .unwrap();
                form = form.part(format!("table{i}"), part);
            }
            let resp = client
                .post(app.url("/api/ingest/care-plans:csv"))
                .multipart(form)
                .send()
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json().unwrap())
        }
    }
}

/// The standard files of the export of document `id`, as (name, bytes), and
/// the answer's status and content type.
fn export(app: &TestApp, client: &Client, id: &str) -> (u16, String, Vec<u8>) {
    export_query(app, client, id, "")
}

fn export_query(app: &TestApp, client: &Client, id: &str, query: &str) -> (u16, String, Vec<u8>) {
    let resp = client
        .get(app.url(&format!("/api/read/documents/{id}/standard-csv{query}")))
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let media = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, media, resp.bytes().unwrap().to_vec())
}

fn unzipped(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body)).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().to_owned(), bytes)
        })
        .collect();
    files.sort();
    files
}

fn log_rows(app: &TestApp) -> i64 {
    app.db().query_i64("SELECT count(*) FROM log_entries")
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
    let packings = [Packing::Zip, Packing::Form];

    // Not registered for the person.
    for packing in packings {
        let (status, p) = send(&app, &office, &fixture_files("full"), packing);
        assert_eq!(status, 403, "{packing:?}: {p}");
        assert_eq!(p["type"], "urn:carehub:problem:office-not-registered");
    }
    register(&app, &office);

    for packing in packings {
        // Wrong encoding, a character MS932 lacks, 外字.
        for (dir, row, column) in [("utf8", 1, 6), ("lacks-ms932", 1, 8), ("gaiji", 1, 8)] {
            let (status, p) = send(&app, &office, &fixture_files(dir), packing);
            assert_eq!(status, 422, "{packing:?} {dir}: {p}");
            assert_eq!(p["type"], "urn:carehub:problem:invalid-standard-csv");
            let v = &p["csv_violations"][0];
            assert!(v["file"].as_str().unwrap().starts_with("UP1KYO_"), "{dir}");
            assert_eq!(
                (v["row"].as_u64(), v["column"].as_u64()),
                (Some(row), Some(column)),
                "{packing:?} {dir}: {v}"
            );
        }

        let edit = |from: &str, to: &str| {
            let mut files = fixture_files("full");
            let t1 = &mut files[0].1;
            let (from, to) = (from.as_bytes(), to.as_bytes());
            let at = t1.windows(from.len()).position(|w| w == from).unwrap();
            t1.splice(at..at + from.len(), to.iter().copied());
            files
        };
        // A missing required item (介護支援事業者コード, item 13), a bad code
        // (要介護状態区分 29, item 21), a person of another insurer (item 2).
        for (files, column) in [
            (edit("\"1371234567\",\"20250405\"", "\"\",\"20250405\""), 13),
            (edit("\"22\"", "\"29\""), 21),
            (edit("\"131011\"", "\"271004\""), 2),
        ] {
            let (status, p) = send(&app, &office, &files, packing);
            assert_eq!(status, 422, "{packing:?}: {p}");
            let v = &p["csv_violations"][0];
            assert_eq!(
                (v["row"].as_u64(), v["column"].as_u64()),
                (Some(1), Some(column)),
                "{packing:?}: {v}"
            );
        }
    }

    // Multipart specifics: a part that is not a file, a body that is not
    // multipart, a media type the route does not take.
    let resp = office
        .post(app.url("/api/ingest/care-plans:csv"))
        .multipart(reqwest::blocking::multipart::Form::new().text("note", "hello"))
        .send()
        .unwrap();
    let p = crate::helpers::problem(resp, 422, "invalid-standard-csv");
    assert_eq!(p["csv_violations"][0]["row"], 0);
    let resp = office
        .post(app.url("/api/ingest/care-plans:csv"))
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("not a form")
        .send()
        .unwrap();
    crate::helpers::problem(resp, 422, "invalid-standard-csv");
    let resp = office
        .post(app.url("/api/ingest/care-plans:csv"))
        .header("content-type", "text/csv")
        .body(fixture_files("full").remove(0).1)
        .send()
        .unwrap();
    crate::helpers::problem(resp, 415, "unsupported-media-type");
    assert_eq!(app.db().query_i64("SELECT count(*) FROM documents"), 0);
}

#[test]
fn multipart_files_import_like_the_zip_and_a_retry_with_the_same_key_replays() {
    let app = TestApp::spawn();
    let office = client_for(&app, OFFICE);
    register(&app, &office);
    let files = fixture_files("full");
    let keyed = |body: reqwest::blocking::RequestBuilder| {
        let resp = body
            .header("idempotency-key", "plan-2025-04")
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let replayed = resp.headers().contains_key("idempotent-replayed");
        (status, replayed, resp.json::<Value>().unwrap())
    };
    let form = || {
        let mut form = reqwest::blocking::multipart::Form::new();
        for (name, bytes) in &files {
            form = form.part(
                "file",
                reqwest::blocking::multipart::Part::bytes(bytes.clone()).file_name(name.clone()),
            );
        }
        form
    };
    let url = app.url("/api/ingest/care-plans:csv");
    let (status, _, first) = keyed(office.post(&url).multipart(form()));
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["document_key"], "csv-plan-20250405");
    // A new boundary, then the zip: the same files under the same key are
    // the same request, answered from the record.
    let (status, replayed, again) = keyed(office.post(&url).multipart(form()));
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!(again, first);
    let (status, replayed, zip) = keyed(
        office
            .post(&url)
            .header("content-type", "application/zip")
            .body(zipped(&files)),
    );
    assert_eq!((status, replayed), (201, true), "{zip}");
    // Other files under that key: 409.
    let (status, _, p) = keyed(
        office
            .post(&url)
            .header("content-type", "application/zip")
            .body(zipped(&files[..2])),
    );
    assert_eq!(status, 409, "{p}");
    assert_eq!(p["type"], "urn:carehub:problem:idempotency-key-reused");
    assert_eq!(
        app.db().query_i64("SELECT count(*) FROM document_versions"),
        1
    );
}

#[test]
fn a_stored_plan_exports_as_the_same_standard_files_and_the_export_is_a_logged_read() {
    let app = TestApp::spawn();
    let office = client_for(&app, OFFICE);
    register(&app, &office);
    let files = fixture_files("full");
    let (status, stored) = send(&app, &office, &files, Packing::Form);
    assert_eq!(status, 201, "{stored}");
    let id = stored["document_id"].as_str().unwrap();

    let before = log_rows(&app);
    let (status, media, body) = export(&app, &office, id);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(media, "application/zip");
    assert_eq!(log_rows(&app), before + 1, "the export is logged as a read");
    let exported = unzipped(&body);
    assert_eq!(
        exported.iter().map(|f| &f.0).collect::<Vec<_>>(),
        files.iter().map(|f| &f.0).collect::<Vec<_>>(),
        "the spec's file names, as sent"
    );
    for ((name, got), (_, sent)) in exported.iter().zip(&files) {
        // Row by row and item by item first (a clearer failure), then whole.
        let rows =
            |b: &[u8]| -> Vec<Vec<u8>> { b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect() };
        for (n, (g, s)) in rows(got).iter().zip(rows(sent)).enumerate() {
            assert_eq!(g, &s, "{name} row {}", n + 1);
        }
        assert_eq!(got, sent, "{name} is byte-identical");
    }
    // The exported files import again as the same plan: unchanged.
    let (status, again) = send(&app, &office, &exported, Packing::Zip);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["document_id"], stored["document_id"]);
    // ?version= as in the read.
    let (status, _, _) = export_query(&app, &office, id, "?version=1");
    assert_eq!(status, 200);
    let (status, _, _) = export_query(&app, &office, id, "?version=2");
    assert_eq!(status, 404);

    // Refusals are the read's, byte for byte, and logged: an office not
    // registered for the person, the operator, an id that names nothing.
    let other = client_for(&app, "urn:carehub:care-manager:1379999990");
    let operator = app.client("operator");
    let missing = "doc_00000000000000000000000000000000";
    for (who, client, doc) in [
        ("other office", &other, id),
        ("operator", &operator, id),
        ("no such document", &office, missing),
    ] {
        let before = log_rows(&app);
        let (status, _, body) = export(&app, client, doc);
        let (read_status, read_body) = crate::care::read_raw(&app, client, doc);
        assert_eq!((status, &body), (read_status, &read_body), "{who}");
        assert_eq!(status, 403, "{who}");
        assert_eq!(log_rows(&app), before + 2, "{who}: both refusals logged");
    }
}

#[test]
fn a_plan_stored_as_json_exports_with_built_names_and_a_character_ms932_lacks_is_named() {
    use carehub_domain::DocumentKind;
    let app = TestApp::spawn();
    let cm = app.client("care-manager");
    let muni = app.client("municipality");
    // The dev care manager registered for the example person.
    let resp = cm
        .post(app.url("/api/office-register/registrations"))
        .json(&json!({
            "person": {"insurer_number": crate::care::INSURER, "insured_number": "0000012345"},
            "verification_method": {"type": "my_number_card"},
            "verification_reference": "card-check-0042",
            "start": "2025-04-01T00:00:00+09:00",
        }))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    let plan = crate::care::content(DocumentKind::CarePlan, "0000012345", json!({}));
    let id = crate::care::ingest(
        &app,
        &cm,
        DocumentKind::CarePlan,
        "0000012345",
        Some("plan-1"),
        plan,
    );
    let (status, _, body) = export(&app, &cm, &id);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let files = unzipped(&body);
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("UP1KYO_1371234567_1371234567_")),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| n.ends_with(".CSV") && n.len() > 30),
        "{names:?}"
    );
    let t1 = &files.iter().find(|f| f.0.starts_with("UP1KYO_")).unwrap().1;
    let text = carehub_domain::careplan_csv::ms932::decode(t1).unwrap();
    assert!(text.contains("\"支援 次郎\""), "{text}");

    // 𠮷 (U+20BB7) has no MS932 code: 422 with file, row and column.
    let plan = crate::care::content(
        DocumentKind::CarePlan,
        "0000012345",
        json!({"care_manager_name": "𠮷田 次郎"}),
    );
    let id = crate::care::ingest(
        &app,
        &cm,
        DocumentKind::CarePlan,
        "0000012345",
        Some("plan-2"),
        plan,
    );
    let (status, _, body) = export(&app, &cm, &id);
    let p: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["type"], "urn:carehub:problem:invalid-standard-csv");
    let v = &p["csv_violations"][0];
    assert!(v["file"].as_str().unwrap().starts_with("UP1KYO_"), "{v}");
    assert_eq!(
        (v["row"].as_u64(), v["column"].as_u64()),
        (Some(1), Some(8)),
        "{v}"
    );

    // A readable document of another kind does not export.
    let cert = crate::care::content(DocumentKind::InsuranceCertificate, "0000012345", json!({}));
    let cert_id = crate::care::ingest(
        &app,
        &muni,
        DocumentKind::InsuranceCertificate,
        "0000012345",
        None,
        cert,
    );
    let (status, _, body) = export(&app, &muni, &cert_id);
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
}
