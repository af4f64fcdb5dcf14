//! The relay handlers against the real schema on a native SQLite.

use carehub_domain::{
    ApplicationId, ApplicationType, ConsentEvent, ConsentMethod, DocumentKind, Giver,
    IdempotencyKey, InsuredNumber, InsurerNumber, PersonRef, Principal, RegistrationId, Stage,
    VerificationMethod,
};
use carehub_guest::http::{Reply, RequestHead};
use carehub_store::native::NativeDb;
use carehub_store::sql::SqlStore;
use carehub_store::{
    ConsentStore, NewApplication, NewRegistration, ProgressStore, RegistrationStore, advance,
    in_transaction, progress_of,
};
use serde_json::{Value, json};

use crate::handler;

const NOW: &str = "2025-11-25T06:00:00.000000Z";
const MUNICIPALITY: &str = "urn:carehub:municipality:131016";
const OTHER: &str = "urn:carehub:municipality:271004";
const CARE_MANAGER: &str = "urn:carehub:care-manager:1371234567";
const MEDICAL: &str = "urn:carehub:medical:1312345678";

type Store = SqlStore<NativeDb>;

fn p(urn: &str) -> Principal {
    Principal::parse_urn(urn).unwrap()
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

fn submit(s: &Store, sender: &str, key: &str, body: &Value) -> Reply {
    let head = RequestHead::new(
        "POST",
        "/submissions",
        "",
        [("idempotency-key".to_owned(), key.as_bytes().to_vec())],
    );
    handler::submit(
        s,
        &p(sender),
        &head,
        Some(&IdempotencyKey::parse(key).unwrap()),
        &serde_json::to_vec(body).unwrap(),
        NOW,
    )
}

fn answer(s: &Store, who: &str, id: &str, ack: bool, body: &Value) -> Reply {
    let path = format!(
        "/submissions/{id}/{}",
        if ack { "acknowledge" } else { "reject" }
    );
    handler::answer(
        s,
        &p(who),
        id,
        ack,
        &RequestHead::new("POST", path, "", std::iter::empty()),
        None,
        &serde_json::to_vec(body).unwrap(),
        NOW,
    )
}

fn request() -> Value {
    json!({
        "type": "care_plan_request",
        "person": {"insurer_number": "131016", "insured_number": "0000012345"},
        "content": {
            "request_type": "new",
            "notification_date": "2025-11-20",
            "insured_name": "介護 太郎",
            "office": {"office_number": "1371234567", "name": "霞が関居宅介護支援事業所",
                       "address": "東京都千代田区霞が関一丁目3番1号"}
        }
    })
}

fn register_with_consent(s: &Store) {
    in_transaction(s, &[], |s| {
        s.add_registration(
            &NewRegistration {
                registration_id: RegistrationId::derive(&p(CARE_MANAGER), &person(), NOW),
                office: p(CARE_MANAGER),
                person: person(),
                verification_method: VerificationMethod::MyNumberCard,
                verification_reference: "card-read-1".into(),
                start: "2025-01-01T00:00:00Z".into(),
                end: None,
            },
            NOW,
        )?;
        s.append_consent(
            &person(),
            &ConsentEvent::Given {
                obtained_by: p(MUNICIPALITY),
                given_by: Giver::Person,
                method: ConsentMethod::PaperForm,
                explanation_given: true,
                application_ref: None,
                effective_at: "2025-01-01T00:00:00Z".into(),
            },
            &p(MUNICIPALITY),
            NOW,
        )
    })
    .unwrap();
}

fn application(s: &Store, steps: &[Stage]) -> ApplicationId {
    let id = ApplicationId::derive(&person(), ApplicationType::Renewal, NOW, "t");
    in_transaction(s, &[], |s| {
        let mut app = s.add_application(
            &NewApplication {
                application_id: id.clone(),
                person: person(),
                application_type: ApplicationType::Renewal,
                details: "{}".into(),
                created_by: p(MUNICIPALITY),
            },
            NOW,
        )?;
        for &step in steps {
            advance(s, &app, step, &json!({}), &p(MUNICIPALITY), NOW)?.unwrap();
            app = s.application(&id)?.unwrap();
        }
        Ok::<_, carehub_store::StoreError>(())
    })
    .unwrap();
    id
}

fn opinion(id: &ApplicationId) -> Value {
    json!({
        "type": "physician_opinion",
        "person": {"insurer_number": "131016", "insured_number": "0000012345"},
        "application_id": id.as_str(),
        "content": carehub_domain::example_content(DocumentKind::PhysicianOpinion, &person()),
    })
}

#[test]
fn a_care_plan_request_is_relayed_and_acknowledged_once() {
    let s = store();
    // Not registered: the generic refusal.
    let r = submit(&s, CARE_MANAGER, "k1", &request());
    assert_eq!(r.status, 403);
    assert_eq!(json_of(&r)["type"], "urn:carehub:problem:forbidden");
    register_with_consent(&s);
    let r = submit(&s, CARE_MANAGER, "k1", &request());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = json_of(&r);
    let id = v["submission_id"].as_str().unwrap().to_owned();
    assert_eq!(v["state"], "accepted");
    // Sent again with the same key: the same answer, stored once.
    let again = submit(&s, CARE_MANAGER, "k1", &request());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(json_of(&again)["submission_id"], id.as_str());
    let mut other = request();
    other["content"]["request_type"] = json!("change");
    assert_eq!(submit(&s, CARE_MANAGER, "k1", &other).status, 409);

    // Another municipality's inbox is empty; the recipient's holds it once.
    let empty = json_of(&handler::inbox(&s, &p(OTHER), "", NOW));
    assert_eq!(empty["items"], json!([]));
    assert_eq!(handler::show(&s, &p(OTHER), &id).status, 403);
    let inbox = json_of(&handler::inbox(&s, &p(MUNICIPALITY), "", NOW));
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1);
    assert_eq!(inbox["items"][0]["state"], "delivered");
    let shown = json_of(&handler::show(&s, &p(CARE_MANAGER), &id));
    assert_eq!(shown["state"], "delivered");

    // Acknowledge twice: the same receipt; another receipt number: 409.
    let a = answer(
        &s,
        MUNICIPALITY,
        &id,
        true,
        &json!({"receipt_number": "R-2025-0001"}),
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let b = answer(
        &s,
        MUNICIPALITY,
        &id,
        true,
        &json!({"receipt_number": "R-2025-0001"}),
    );
    assert_eq!(json_of(&b)["receipt_number"], "R-2025-0001");
    assert_eq!(json_of(&a), json_of(&b));
    let c = answer(
        &s,
        MUNICIPALITY,
        &id,
        true,
        &json!({"receipt_number": "R-2025-0002"}),
    );
    assert_eq!(c.status, 409);
    assert_eq!(
        answer(&s, MUNICIPALITY, &id, false, &json!({"reason": "x"})).status,
        409
    );
    assert_eq!(
        answer(&s, OTHER, &id, true, &json!({"receipt_number": "R"})).status,
        403
    );
    let shown = json_of(&handler::show(&s, &p(CARE_MANAGER), &id));
    assert_eq!(shown["state"], "acknowledged");
    let states: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["accepted", "delivered", "acknowledged"]);
    // Answered: out of the inbox.
    let inbox = json_of(&handler::inbox(&s, &p(MUNICIPALITY), "", NOW));
    assert_eq!(inbox["items"], json!([]));
}

fn store() -> Store {
    SqlStore::new(NativeDb::migrated())
}

#[test]
fn an_opinion_moves_its_application_and_becomes_a_document() {
    let s = store();
    let none = application(&s, &[]);
    let r = submit(&s, MEDICAL, "o1", &opinion(&none));
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        json_of(&r)["type"],
        "urn:carehub:problem:invalid-transition"
    );

    let s = store();
    let id = application(&s, &[Stage::OpinionRequested]);
    let r = submit(&s, MEDICAL, "o1", &opinion(&id));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = json_of(&r);
    assert!(v["document_id"].as_str().unwrap().starts_with("doc_"));
    let app = s.application(&id).unwrap().unwrap();
    let (state, _) = progress_of(&s, &app).unwrap();
    assert_eq!(state.stage, Stage::OpinionReceived);
    // A second opinion for it: no longer awaited.
    assert_eq!(submit(&s, MEDICAL, "o2", &opinion(&id)).status, 409);
    // A care manager does not send opinions; an unknown application is the generic 403.
    assert_eq!(submit(&s, CARE_MANAGER, "o3", &opinion(&id)).status, 403);
    let unknown = ApplicationId::parse("app_00000000000000000000000000000000").unwrap();
    let r = submit(&s, MEDICAL, "o4", &opinion(&unknown));
    assert_eq!(json_of(&r)["type"], "urn:carehub:problem:forbidden");
    // A bad opinion is refused with the rule.
    let mut bad = opinion(&id);
    bad["content"]["diagnoses"] = json!([]);
    assert_eq!(submit(&s, MEDICAL, "o5", &bad).status, 422);
}

#[test]
fn an_opinion_requested_from_another_institution_is_refused() {
    let s = store();
    let id = ApplicationId::derive(&person(), ApplicationType::New, NOW, "x");
    in_transaction(&s, &[], |s| {
        let app = s.add_application(
            &NewApplication {
                application_id: id.clone(),
                person: person(),
                application_type: ApplicationType::New,
                details: "{}".into(),
                created_by: p(MUNICIPALITY),
            },
            NOW,
        )?;
        advance(
            s,
            &app,
            Stage::OpinionRequested,
            &json!({"requested_from": "urn:carehub:medical:1312345679"}),
            &p(MUNICIPALITY),
            NOW,
        )?
        .unwrap();
        Ok::<_, carehub_store::StoreError>(())
    })
    .unwrap();
    let r = submit(&s, MEDICAL, "o1", &opinion(&id));
    assert_eq!(json_of(&r)["type"], "urn:carehub:problem:forbidden");
}

#[test]
fn submissions_need_a_key_and_valid_content() {
    let s = store();
    register_with_consent(&s);
    let head = RequestHead::new("POST", "/submissions", "", std::iter::empty());
    let r = handler::submit(
        &s,
        &p(CARE_MANAGER),
        &head,
        None,
        &serde_json::to_vec(&request()).unwrap(),
        NOW,
    );
    assert_eq!(
        json_of(&r)["type"],
        "urn:carehub:problem:idempotency-key-missing"
    );
    let mut bad = request();
    bad["content"]["office"]["office_number"] = json!("1371234568");
    let r = submit(&s, CARE_MANAGER, "k", &bad);
    assert_eq!(r.status, 422);
    assert_eq!(
        json_of(&r)["violations"][0]["pointer"],
        "/office/office_number"
    );
    assert_eq!(submit(&s, MEDICAL, "k", &request()).status, 403);
}

#[test]
fn the_readme_example_opinion_is_valid() {
    let content: Value = serde_json::from_str(include_str!(
        "../../../infra/examples/physician-opinion.json"
    ))
    .unwrap();
    carehub_domain::validate_content(DocumentKind::PhysicianOpinion, &person(), &content).unwrap();
}

#[test]
fn a_sender_lists_only_its_own_submissions_about_the_person_newest_first() {
    use carehub_store::RelayStore as _;
    let s = store();
    register_with_consent(&s);
    let cm = p(CARE_MANAGER);
    assert!(s.sent_submissions(&cm, &person(), 10).unwrap().is_empty());
    let first = json_of(&submit(&s, CARE_MANAGER, "k1", &request()));
    let mut change = request();
    change["content"]["request_type"] = json!("change");
    let second = json_of(&submit(&s, CARE_MANAGER, "k2", &change));
    let sent = s.sent_submissions(&cm, &person(), 10).unwrap();
    let ids: Vec<&str> = sent
        .iter()
        .map(|r| r.submission.submission_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            second["submission_id"].as_str().unwrap(),
            first["submission_id"].as_str().unwrap()
        ]
    );
    assert_eq!(s.sent_submissions(&cm, &person(), 1).unwrap().len(), 1);
    // Another sender, another person: nothing.
    assert!(
        s.sent_submissions(&p(MEDICAL), &person(), 10)
            .unwrap()
            .is_empty()
    );
    let other = PersonRef::new(
        InsurerNumber::parse("131016").unwrap(),
        InsuredNumber::parse("0000099999").unwrap(),
    );
    assert!(s.sent_submissions(&cm, &other, 10).unwrap().is_empty());
}
