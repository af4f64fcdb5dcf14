//! THE SCENARIO of issue 3, from the ministry's material (介護情報基盤の活用の
//! 流れ, 同意取得について), as one test over mTLS:
//!
//! a municipality stores the insurance certificate and the certification
//! data; records the person's consent at the renewal application; a care
//! manager verifies identity and registers as the responsible office and
//! reads the survey, the opinion and the certificate; a registered medical
//! institution reads the certificate and the care plan but not the
//! burden-ratio certificate; the person withdraws consent through the
//! portal; the care manager's next read is refused; the person lists every
//! access, the refused one included; the access log's chain verifies, and
//! altering one row makes the verifier fail at that row.

use crate::care::{
    Hub, INSURER, accesses, consent_at_renewal, consent_event, content, ingest, read, read_raw,
    register, verify_log,
};
use crate::helpers::{TestApp, TestDb};
use carehub_domain::DocumentKind;
use serde_json::{Value, json};

const PERSON: &str = "0000012345";
const CARE_MANAGER: &str = "urn:carehub:care-manager:1371234567";
const MEDICAL: &str = "urn:carehub:medical:1312345678";

#[test]
fn the_scenario() {
    the_ministry_scenario(&mut TestApp::spawn());
}

/// The scenario, against any hub: one gateway, or the split of `proxy.rs`.
pub fn the_ministry_scenario<H: Hub>(hub: &mut H) {
    let app: &H = hub;
    let muni = app.client("municipality");
    let cm = app.client("care-manager");
    let med = app.client("medical");

    // 1. The municipality stores the insurance certificate (with the
    //    burden-ratio certificate) and the certification data.
    let certificate = ingest(
        app,
        &muni,
        DocumentKind::InsuranceCertificate,
        PERSON,
        None,
        content(DocumentKind::InsuranceCertificate, PERSON, json!({})),
    );
    let burden_ratio = ingest(
        app,
        &muni,
        DocumentKind::BurdenRatioCertificate,
        PERSON,
        None,
        content(DocumentKind::BurdenRatioCertificate, PERSON, json!({})),
    );
    let survey = ingest(
        app,
        &muni,
        DocumentKind::CertificationSurvey,
        PERSON,
        Some("2025-10-renewal"),
        content(DocumentKind::CertificationSurvey, PERSON, json!({})),
    );
    let opinion = ingest(
        app,
        &muni,
        DocumentKind::PhysicianOpinion,
        PERSON,
        Some("2025-10-renewal"),
        content(
            DocumentKind::PhysicianOpinion,
            PERSON,
            json!({"consent_to_care_planning": true}),
        ),
    );

    // 2. Consent at the renewal application.
    consent_at_renewal(app, PERSON);

    // 3. The care manager verifies identity and registers.
    register(app, &cm, PERSON);

    // 4. The care manager reads the survey, the opinion and the certificate.
    for id in [&survey, &opinion, &certificate] {
        let resp = read(app, &cm, id);
        assert_eq!(resp.status(), 200, "care manager reads {id}");
        assert_eq!(resp.json::<Value>().unwrap()["document_id"], id.as_str());
    }

    // 5. The care manager stores the care plan; a registered medical
    //    institution reads the certificate and the plan, not the burden ratio.
    let care_plan = ingest(
        app,
        &cm,
        DocumentKind::CarePlan,
        PERSON,
        Some("2025-11"),
        content(DocumentKind::CarePlan, PERSON, json!({})),
    );
    register(app, &med, PERSON);
    assert_eq!(read(app, &med, &certificate).status(), 200);
    assert_eq!(read(app, &med, &care_plan).status(), 200);
    let refused = read_raw(app, &med, &burden_ratio);
    assert_eq!(refused.0, 403);
    assert_eq!(
        refused,
        read_raw(app, &med, "doc_00000000000000000000000000000000"),
        "a refusal looks the same as a missing document"
    );

    // 6. The person withdraws consent through the portal.
    let token = app.person_token(INSURER, PERSON, "person");
    let resp = consent_event(
        app,
        &app.client("portal"),
        PERSON,
        Some(&token),
        &json!({"event": "withdrawn"}),
    );
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.json::<Value>().unwrap()["state"], "withdrawn");

    // 7. The care manager's next read is refused.
    let resp = read(app, &cm, &survey);
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().unwrap();
    assert_eq!(body["type"], "urn:carehub:problem:forbidden");

    // 8. The person lists every access, the refused one included.
    let log = accesses(app, PERSON);
    let seen: Vec<(String, String, String)> = log
        .iter()
        .rev()
        .map(|a| {
            (
                a["principal"].as_str().unwrap().to_owned(),
                a["document_id"].as_str().unwrap_or_default().to_owned(),
                a["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let entry =
        |who: &str, id: &str, outcome: &str| (who.to_owned(), id.to_owned(), outcome.to_owned());
    assert_eq!(
        seen,
        [
            entry(CARE_MANAGER, &survey, "allowed"),
            entry(CARE_MANAGER, &opinion, "allowed"),
            entry(CARE_MANAGER, &certificate, "allowed"),
            entry(MEDICAL, &certificate, "allowed"),
            entry(MEDICAL, &care_plan, "allowed"),
            entry(MEDICAL, &burden_ratio, "denied"),
            entry(CARE_MANAGER, &survey, "denied"),
        ],
        "{log:#?}"
    );
    assert_eq!(log[0]["kind"], "certification_survey");
    assert!(log.iter().all(|a| a["at"].as_str().unwrap().ends_with('Z')));
    // The municipality sees the same log.
    let resp = muni
        .get(app.url(&format!(
            "/api/read/persons/{INSURER}/{PERSON}/accesses?limit=200"
        )))
        .send()
        .unwrap();
    assert_eq!(
        resp.json::<Value>().unwrap()["accesses"]
            .as_array()
            .unwrap()
            .len(),
        log.len()
    );

    // 9. The chain verifies.
    let (ok, stdout, stderr) = verify_log(app);
    assert!(ok, "verify-log failed: {stdout} {stderr}");
    // The missing-document probe is in the chain too, though it names no person.
    assert!(
        stdout.contains(&format!("{} entries", log.len() + 1)),
        "{stdout}"
    );

    // 10. Altering one row (hiding the care manager's refusal) breaks the
    //     chain at that row. The tamperer drops the append-only trigger
    //     first, as anyone with the file can.
    hub.stop();
    let db = hub.db();
    let seq = db.query_i64(&format!(
        "SELECT seq FROM log_entries WHERE entry LIKE '%{CARE_MANAGER}%' \
         AND entry LIKE '%\"outcome\":\"denied\"%' ORDER BY seq DESC LIMIT 1"
    ));
    let tamper = format!(
        "UPDATE log_entries SET entry = replace(entry, '\"denied\"', '\"allowed\"') WHERE seq = {seq}"
    );
    let err = db.execute(&tamper).unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    db.execute(match db {
        TestDb::Sqlite(_) => "DROP TRIGGER log_entries_are_append_only_update",
        TestDb::Postgres(_) => "DROP TRIGGER log_entries_are_append_only_update ON log_entries",
    })
    .unwrap();
    assert_eq!(db.execute(&tamper).unwrap(), 1);
    let (ok, stdout, stderr) = verify_log(hub);
    assert!(!ok, "verify-log passed a tampered log: {stdout}");
    assert!(
        stderr.contains(&format!("seq {seq} ")) && stderr.contains("edited"),
        "verify-log must name row {seq}: {stderr}"
    );
}
