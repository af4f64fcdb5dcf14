//! The progress handlers against the real schema on a native SQLite.

use carehub_domain::{
    ConsentEvent, ConsentMethod, DocumentId, DocumentKey, DocumentKind, Giver, InsuredNumber,
    InsurerNumber, PersonRef, Principal, RegistrationId, VerificationMethod,
};
use carehub_guest::http::{Reply, RequestHead};
use carehub_store::native::NativeDb;
use carehub_store::sql::SqlStore;
use carehub_store::{
    AccessLogStore, ConsentStore, DocumentStore, NewRegistration, RegistrationStore, in_transaction,
};
use serde_json::{Value, json};

use crate::handler::{self, Caller};

const NOW: &str = "2025-11-25T06:00:00.000000Z";
const MUNICIPALITY: &str = "urn:carehub:municipality:131016";
const OTHER: &str = "urn:carehub:municipality:271004";
const CARE_MANAGER: &str = "urn:carehub:care-manager:1371234567";
const PORTAL: &str = "urn:carehub:portal:mynaportal";

type Store = SqlStore<NativeDb>;

fn store() -> Store {
    SqlStore::new(NativeDb::migrated())
}

fn caller(urn: &str) -> Caller {
    Caller::new(Principal::parse_urn(urn).unwrap())
}

fn person() -> PersonRef {
    PersonRef::new(
        InsurerNumber::parse("131016").unwrap(),
        InsuredNumber::parse("0000012345").unwrap(),
    )
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body_bytes()).unwrap()
}

fn post(path: &str) -> RequestHead {
    RequestHead::new("POST", path, "", std::iter::empty())
}

fn create(s: &Store, c: &Caller, body: &Value) -> Reply {
    handler::create(
        s,
        c,
        &post("/applications"),
        None,
        &serde_json::to_vec(body).unwrap(),
        NOW,
    )
}

fn step(s: &Store, c: &Caller, id: &str, body: &Value) -> Reply {
    handler::step(
        s,
        c,
        id,
        &post(&format!("/applications/{id}/steps")),
        None,
        &serde_json::to_vec(body).unwrap(),
        NOW,
    )
}

fn new_application(s: &Store) -> String {
    let r = create(
        s,
        &caller(MUNICIPALITY),
        &json!({"person": {"insurer_number": "131016", "insured_number": "0000012345"},
                "application_type": "renewal", "received_date": "2026-01-20"}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    json_of(&r)["application_id"].as_str().unwrap().to_owned()
}

fn decision() -> Value {
    json!({"step": "decided", "care_level": "23", "certification_date": "2026-03-20",
           "validity_start_date": "2026-04-01", "validity_end_date": "2027-03-31"})
}

#[test]
fn an_application_runs_its_course_and_the_decision_issues_a_certificate() {
    let s = store();
    let muni = caller(MUNICIPALITY);
    let id = new_application(&s);
    // A decision first: 409 with the allowed steps.
    let r = step(&s, &muni, &id, &decision());
    assert_eq!(r.status, 409);
    let p = json_of(&r);
    assert_eq!(p["type"], "urn:carehub:problem:invalid-transition");
    assert_eq!(
        p["allowed_next"],
        json!(["survey_scheduled", "opinion_requested", "withdrawn"])
    );
    for body in [
        json!({"step": "survey_scheduled", "survey_date": "2026-02-10"}),
        json!({"step": "opinion_requested", "requested_from": "urn:carehub:medical:1312345678"}),
        json!({"step": "survey_done"}),
        json!({"step": "opinion_received"}),
        json!({"step": "primary_judgment", "estimated_care_level": "23"}),
        json!({"step": "committee_scheduled", "committee_date": "2026-03-18"}),
    ] {
        let r = step(&s, &muni, &id, &body);
        assert_eq!(
            r.status,
            200,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // No certificate yet: a first certificate needs the person's details.
    let r = step(&s, &muni, &id, &decision());
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let mut base = carehub_domain::example_content(DocumentKind::InsuranceCertificate, &person());
    for k in [
        "care_level",
        "certification_date",
        "validity_start_date",
        "validity_end_date",
    ] {
        base.as_object_mut().unwrap().remove(k);
    }
    let mut d = decision();
    d["certificate"] = base;
    let r = step(&s, &muni, &id, &d);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = json_of(&r);
    assert_eq!(v["stage"], "decided");
    assert_eq!(v["decision"]["care_level"], "23");
    assert_eq!(v["allowed_next"], json!(["notified"]));
    // The certificate is stored, authored by the municipality.
    let key = DocumentKey::parse("current").unwrap();
    let muni_p = Principal::parse_urn(MUNICIPALITY).unwrap();
    let doc_id = DocumentId::derive(&person(), DocumentKind::InsuranceCertificate, &muni_p, &key);
    assert_eq!(
        v["decision"]["insurance_certificate_document_id"],
        doc_id.as_str()
    );
    let rec = s.document(&doc_id).unwrap().unwrap();
    let content: Value =
        serde_json::from_str(&s.version_content(rec.seq, 1).unwrap().unwrap()).unwrap();
    assert_eq!(content["care_level"], "23");
    assert_eq!(content["monthly_benefit_limit_units"], 27048);

    let r = step(
        &s,
        &muni,
        &id,
        &json!({"step": "notified", "notified_date": "2026-03-25"}),
    );
    assert_eq!(r.status, 200);
    let v = json_of(&handler::show(&s, &muni, &id, NOW));
    let stages: Vec<&str> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "received",
            "survey_scheduled",
            "opinion_requested",
            "survey_done",
            "opinion_received",
            "primary_judgment",
            "committee_scheduled",
            "decided",
            "notified"
        ]
    );
    assert_eq!(v["open"], false);
    // Closed: not in the open list.
    let list = json_of(&handler::open_list(&s, &muni, "", NOW));
    assert_eq!(list["items"], json!([]));
}

#[test]
fn who_may_write_and_read() {
    let s = store();
    let id = new_application(&s);
    let other = caller(OTHER);
    let body = json!({"person": {"insurer_number": "131016", "insured_number": "0000012345"},
                      "application_type": "new"});
    assert_eq!(create(&s, &other, &body).status, 403);
    assert_eq!(create(&s, &caller(CARE_MANAGER), &body).status, 403);
    let r = step(
        &s,
        &other,
        &id,
        &json!({"step": "withdrawn", "reason": "x"}),
    );
    assert_eq!(r.status, 403);
    assert_eq!(json_of(&r)["type"], "urn:carehub:problem:forbidden");
    // Another municipality sees nothing; its refusal equals that of a missing id.
    let missing = "app_00000000000000000000000000000000";
    assert_eq!(
        handler::show(&s, &other, &id, NOW).body,
        handler::show(&s, &other, missing, NOW).body
    );
    assert_eq!(handler::show(&s, &other, &id, NOW).status, 403);
    assert_eq!(
        json_of(&handler::open_list(&s, &other, "", NOW))["items"],
        json!([])
    );

    // The care manager: only registered with consent in force.
    let cm = caller(CARE_MANAGER);
    assert_eq!(handler::show(&s, &cm, &id, NOW).status, 403);
    in_transaction(&s, &[], |s| {
        let office = Principal::parse_urn(CARE_MANAGER).unwrap();
        s.add_registration(
            &NewRegistration {
                registration_id: RegistrationId::derive(&office, &person(), NOW),
                office,
                person: person(),
                verification_method: VerificationMethod::MyNumberCard,
                verification_reference: "card-read-1".into(),
                start: "2025-01-01T00:00:00Z".into(),
                end: None,
            },
            NOW,
        )
    })
    .unwrap();
    assert_eq!(handler::show(&s, &cm, &id, NOW).status, 403);
    in_transaction(&s, &[], |s| {
        s.append_consent(
            &person(),
            &ConsentEvent::Given {
                obtained_by: Principal::parse_urn(MUNICIPALITY).unwrap(),
                given_by: Giver::Person,
                method: ConsentMethod::PaperForm,
                explanation_given: true,
                application_ref: None,
                effective_at: "2025-01-01T00:00:00Z".into(),
            },
            &Principal::parse_urn(MUNICIPALITY).unwrap(),
            NOW,
        )
    })
    .unwrap();
    assert_eq!(handler::show(&s, &cm, &id, NOW).status, 200);
    let r = handler::person_list(&s, &cm, "131016", "0000012345", "", NOW);
    assert_eq!(json_of(&r)["items"].as_array().unwrap().len(), 1);

    // The portal: only for the person its token names.
    let mut portal = caller(PORTAL);
    assert_eq!(handler::show(&s, &portal, &id, NOW).status, 403);
    portal.token = Some(carehub_domain::PersonToken {
        person: person(),
        actor: carehub_domain::PersonActor::Person,
        subject: "user-1".into(),
    });
    assert_eq!(handler::show(&s, &portal, &id, NOW).status, 200);
}

#[test]
fn open_applications_by_stage_with_a_cursor() {
    let s = store();
    let muni = caller(MUNICIPALITY);
    let ids: Vec<String> = (0..3).map(|_| new_application(&s)).collect();
    let r = step(
        &s,
        &muni,
        &ids[0],
        &json!({"step": "survey_scheduled", "survey_date": "2026-02-10"}),
    );
    assert_eq!(r.status, 200);
    let list = json_of(&handler::open_list(
        &s,
        &muni,
        "stage=received&limit=1",
        NOW,
    ));
    assert_eq!(list["items"][0]["application_id"], ids[2].as_str());
    let cursor = list["next_cursor"].as_str().unwrap();
    let next = json_of(&handler::open_list(
        &s,
        &muni,
        &format!("stage=received&limit=1&cursor={cursor}"),
        NOW,
    ));
    assert_eq!(next["items"][0]["application_id"], ids[1].as_str());
    assert_eq!(next["next_cursor"], Value::Null);
    let scheduled = json_of(&handler::open_list(
        &s,
        &muni,
        "stage=survey_scheduled",
        NOW,
    ));
    assert_eq!(scheduled["items"][0]["application_id"], ids[0].as_str());
    assert_eq!(handler::open_list(&s, &muni, "stage=nope", NOW).status, 400);
    assert_eq!(
        handler::open_list(&s, &caller(CARE_MANAGER), "", NOW).status,
        403
    );
}

#[test]
fn bad_steps_are_refused_with_the_rule() {
    let s = store();
    let muni = caller(MUNICIPALITY);
    let id = new_application(&s);
    let r = step(&s, &muni, &id, &json!({"step": "received"}));
    assert_eq!(r.status, 400);
    let r = step(&s, &muni, &id, &json!({"step": "survey_scheduled"}));
    assert_eq!(r.status, 422);
    assert_eq!(json_of(&r)["violations"][0]["pointer"], "/survey_date");
    assert_eq!(
        step(&s, &muni, "app_x", &json!({"step": "withdrawn"})).status,
        400
    );
    // Nothing was recorded by the refusals.
    let v = json_of(&handler::show(&s, &muni, &id, NOW));
    assert_eq!(v["timeline"].as_array().unwrap().len(), 1);
}

/// The access log's entries about `p`, oldest first, as JSON.
fn accesses_of(s: &Store, p: &PersonRef) -> Vec<Value> {
    let mut rows = s.person_accesses(p, None, 200).unwrap();
    rows.reverse();
    rows.iter()
        .map(|r| serde_json::from_str(&r.entry.canonical_json()).unwrap())
        .collect()
}

#[test]
fn every_progress_read_and_refusal_is_logged() {
    let s = store();
    let p = person();
    let id = new_application(&s);
    assert!(accesses_of(&s, &p).is_empty(), "writes are not reads");

    // The municipality's show, a care manager's refused show (no
    // registration), the portal's show as a proxy.
    assert_eq!(
        handler::show(&s, &caller(MUNICIPALITY), &id, NOW).status,
        200
    );
    assert_eq!(
        handler::show(&s, &caller(CARE_MANAGER), &id, NOW).status,
        403
    );
    let mut portal = caller(PORTAL);
    portal.token = Some(carehub_domain::PersonToken {
        person: p.clone(),
        actor: carehub_domain::PersonActor::Proxy,
        subject: "user-42".into(),
    });
    assert_eq!(handler::show(&s, &portal, &id, NOW).status, 200);
    // The person's list, refused to another municipality.
    let path = |c: &Caller| handler::person_list(&s, c, "131016", "0000012345", "", NOW);
    assert_eq!(path(&portal).status, 200);
    assert_eq!(path(&caller(OTHER)).status, 403);
    // A 400 reads nothing and is not logged.
    assert_eq!(
        handler::show(&s, &caller(MUNICIPALITY), "app_nope", NOW).status,
        400
    );

    let log = accesses_of(&s, &p);
    assert_eq!(log.len(), 5, "{log:#?}");
    let summary: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| {
            (
                e["principal"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (MUNICIPALITY, "read_progress", "allowed"),
            (CARE_MANAGER, "read_progress", "denied"),
            (PORTAL, "read_progress", "allowed"),
            (PORTAL, "list_progress", "allowed"),
            (OTHER, "list_progress", "denied"),
        ]
    );
    for e in &log[..3] {
        assert_eq!(e["application_id"], id.as_str());
    }
    assert_eq!(log[1]["deny_reason"], "not_registered");
    assert_eq!(log[2]["actor"], "proxy");
    assert_eq!(log[2]["subject"], "user-42");
    assert!(log[0].get("subject").is_none() && log[0].get("actor").is_none());
    assert_eq!(log[3]["application_ids"], json!([id]));
    assert_eq!(log[4]["deny_reason"], "not_insured_by_municipality");

    // An id that names nothing: refused like any other, logged with no
    // person (so in no one's list) but in the chain.
    let ghost =
        carehub_domain::ApplicationId::derive(&p, carehub_domain::ApplicationType::New, "t", "f");
    assert_eq!(
        handler::show(&s, &caller(MUNICIPALITY), ghost.as_str(), NOW).status,
        403
    );
    assert_eq!(accesses_of(&s, &p).len(), 5);
}

#[test]
fn the_open_list_logs_one_read_per_person_listed() {
    let s = store();
    let muni = caller(MUNICIPALITY);
    let p = person();
    let q = PersonRef::new(
        InsurerNumber::parse("131016").unwrap(),
        InsuredNumber::parse("0000067890").unwrap(),
    );
    let mut ids = Vec::new();
    for who in [&p, &q, &p] {
        let r = create(
            &s,
            &muni,
            &json!({"person": who, "application_type": "new", "received_date": "2026-01-20"}),
        );
        assert_eq!(r.status, 201);
        ids.push(json_of(&r)["application_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(handler::open_list(&s, &muni, "", NOW).status, 200);
    let for_p = accesses_of(&s, &p);
    let for_q = accesses_of(&s, &q);
    assert_eq!(for_p.len(), 1);
    assert_eq!(for_q.len(), 1);
    assert_eq!(for_p[0]["action"], "list_progress");
    assert_eq!(for_p[0]["application_ids"], json!([ids[2], ids[0]]));
    assert_eq!(for_q[0]["application_ids"], json!([ids[1]]));

    // Another municipality's (empty) page reads no one; a care manager is
    // refused, and the refusal names no person.
    assert_eq!(handler::open_list(&s, &caller(OTHER), "", NOW).status, 200);
    assert_eq!(
        handler::open_list(&s, &caller(CARE_MANAGER), "", NOW).status,
        403
    );
    assert_eq!(accesses_of(&s, &p).len(), 1);
    assert_eq!(accesses_of(&s, &q).len(), 1);
}
