//! Text in Unicode NFC: what a client sends decomposed (カ + U+3099 for ガ)
//! is stored, hashed and read back composed, in single and bulk ingest.

use crate::helpers::TestApp;
use carehub_domain::{DocumentKind, InsuredNumber, InsurerNumber, PersonRef};
use carehub_guest::body::{canonical_json, sha256_hex};
use serde_json::{Value, json};

const INSURER: &str = "131016";

/// ガイゴ 太郎 and 東京都 with the voiced mark decomposed.
const NAME_NFD: &str = "\u{30AB}\u{3099}\u{30A4}\u{30B3}\u{3099} 太郎";
const NAME_NFC: &str = "\u{30AC}\u{30A4}\u{30B4} 太郎";
const KANA_NFD: &str = "\u{30AB}\u{3099}\u{30A4}\u{30B3}\u{3099} \u{30BF}\u{30ED}\u{30A6}";
const KANA_NFC: &str = "\u{30AC}\u{30A4}\u{30B4} \u{30BF}\u{30ED}\u{30A6}";

fn envelope(insured: &str, name: &str, kana: &str) -> Value {
    let person = PersonRef {
        insurer_number: InsurerNumber::parse(INSURER).unwrap(),
        insured_number: InsuredNumber::parse(insured).unwrap(),
    };
    let mut content =
        carehub_domain::content::example_content(DocumentKind::InsuranceCertificate, &person);
    content["name"] = json!(name);
    content["name_kana"] = json!(kana);
    json!({
        "person": {"insurer_number": INSURER, "insured_number": insured},
        "kind": "insurance_certificate",
        "content": content,
    })
}

#[test]
fn nfd_text_is_stored_and_read_back_in_nfc_with_the_hash_of_what_is_stored() {
    assert_ne!(NAME_NFD, NAME_NFC);
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    let resp = muni
        .post(app.url("/api/ingest/documents"))
        .json(&envelope("0000012345", NAME_NFD, KANA_NFD))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let doc: Value = muni.get(app.url(&location)).send().unwrap().json().unwrap();
    assert_eq!(doc["content"]["name"], NAME_NFC);
    assert_eq!(doc["content"]["name_kana"], KANA_NFC);
    // The hash is the stored (composed) content's.
    let expected = envelope("0000012345", NAME_NFC, KANA_NFC)["content"].clone();
    assert_eq!(
        doc["content_sha256"],
        sha256_hex(canonical_json(&expected).as_bytes())
    );
    assert_eq!(doc["content"], expected);
    // The same text sent composed is the same content: no new version.
    let resp = muni
        .post(app.url("/api/ingest/documents"))
        .json(&envelope("0000012345", NAME_NFC, KANA_NFC))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().unwrap()["version"], 1);

    // A bulk line sent decomposed is stored composed too.
    let resp = muni
        .post(app.url("/api/ingest/documents:bulk"))
        .header("content-type", "application/x-ndjson")
        .body(envelope("0000000001", NAME_NFD, KANA_NFD).to_string())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let line: Value = serde_json::from_str(resp.text().unwrap().trim()).unwrap();
    assert_eq!(line["status"], 201, "{line}");
    // Nothing decomposed reached the database.
    let decomposed = app
        .db()
        .query_i64("SELECT COUNT(*) FROM document_versions WHERE content LIKE '%\u{3099}%'");
    assert_eq!(decomposed, 0);
    let composed = app.db().query_i64(&format!(
        "SELECT COUNT(*) FROM document_versions WHERE content LIKE '%{NAME_NFC}%'"
    ));
    assert_eq!(composed, 2);
}
