//! The consent handlers against the real schema on a native SQLite.

use carehub_domain::{
    InsuredNumber, InsurerNumber, PersonActor, PersonRef, Principal, RegistrationId,
    VerificationMethod,
};
use carehub_guest::http::{Reply, RequestHead};
use carehub_store::native::NativeDb;
use carehub_store::sql::SqlStore;
use carehub_store::{Deregistration, NewRegistration, RegistrationStore, in_transaction};
use serde_json::{Value, json};

use crate::handler::{self, Caller};

const NOW: &str = "2025-11-25T06:00:00.000000Z";
const LATER: &str = "2025-11-25T07:00:00.000000Z";
const MUNICIPALITY: &str = "urn:carehub:municipality:131016";
const CARE_MANAGER: &str = "urn:carehub:care-manager:1371234567";
const MEDICAL: &str = "urn:carehub:medical:1312345678";
const PORTAL: &str = "urn:carehub:portal:mynaportal";

type Store = SqlStore<NativeDb>;

fn store() -> Store {
    SqlStore::new(NativeDb::migrated())
}

fn principal(urn: &str) -> Principal {
    Principal::parse_urn(urn).unwrap()
}

fn person(insured: &str) -> PersonRef {
    PersonRef::new(
        InsurerNumber::parse("131016").unwrap(),
        InsuredNumber::parse(insured).unwrap(),
    )
}

fn caller(urn: &str) -> Caller {
    Caller::new(principal(urn))
}

fn portal(for_person: &PersonRef, actor: PersonActor) -> Caller {
    Caller::with_token(
        principal(PORTAL),
        carehub_domain::PersonToken {
            person: for_person.clone(),
            actor,
            subject: "portal-user".into(),
        },
    )
}

fn head(key: Option<&str>, p: &PersonRef) -> RequestHead {
    let headers = key
        .map(|k| ("idempotency-key".to_owned(), k.as_bytes().to_vec()))
        .into_iter();
    RequestHead::new(
        "POST",
        format!(
            "/persons/{}/{}/events",
            p.insurer_number.as_str(),
            p.insured_number.as_str()
        ),
        "",
        headers,
    )
}

fn post_at(
    s: &Store,
    c: &Caller,
    p: &PersonRef,
    body: &Value,
    key: Option<&str>,
    now: &str,
) -> Reply {
    let key = key.map(|k| carehub_domain::IdempotencyKey::parse(k).unwrap());
    let bytes = serde_json::to_vec(body).unwrap();
    handler::record(
        s,
        c,
        p,
        &head(key.as_ref().map(|k| k.as_str()), p),
        key.as_ref(),
        &bytes,
        now,
    )
}

fn post(s: &Store, c: &Caller, p: &PersonRef, body: &Value) -> Reply {
    post_at(s, c, p, body, None, NOW)
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body_bytes()).unwrap()
}

fn slug(r: &Reply) -> String {
    json_of(r)["type"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("urn:carehub:problem:")
        .to_owned()
}

fn given_at_application() -> Value {
    json!({
        "event": "given",
        "given_by": {"type": "person"},
        "method": "paper_form",
        "explanation_given": true,
        "application_ref": "APP-2025-000123",
        "effective_at": "2025-11-20T10:00:00+09:00"
    })
}

fn withdrawal() -> Value {
    json!({"event": "withdrawn", "by": {"type": "person"}})
}

fn register(s: &Store, office: &str, p: &PersonRef) -> i64 {
    let office = principal(office);
    let reg = NewRegistration {
        registration_id: RegistrationId::derive(&office, p, NOW),
        office,
        person: p.clone(),
        verification_method: VerificationMethod::MyNumberCard,
        verification_reference: "MNC-0001".into(),
        start: "2025-11-01T00:00:00+09:00".into(),
        end: None,
    };
    in_transaction(s, &[], |s| {
        s.add_registration(&reg, "2025-11-01T00:00:00.000000Z")
    })
    .unwrap()
    .seq
}

fn show(s: &Store, c: &Caller, p: &PersonRef) -> Reply {
    handler::show(s, c, p, LATER)
}

#[test]
fn the_municipality_records_consent_at_the_application() {
    let s = store();
    let p = person("0000012345");
    let r = post(&s, &caller(MUNICIPALITY), &p, &given_at_application());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("location"),
        Some("/api/consent/persons/131016/0000012345")
    );
    let v = json_of(&r);
    assert_eq!(v["state"], "in_force");
    assert_eq!(v["recorded"]["obtained_by"], MUNICIPALITY);
    assert_eq!(v["recorded"]["application_ref"], "APP-2025-000123");
    assert_eq!(v["recorded"]["recorded_at"], NOW);

    let shown = show(&s, &caller(MUNICIPALITY), &p);
    assert_eq!(shown.status, 200);
    let v = json_of(&shown);
    assert_eq!(v["state"], "in_force");
    assert_eq!(v["history"].as_array().unwrap().len(), 1);
    assert_eq!(v["history"][0]["event"], "given");
    assert_eq!(v["history"][0]["effective_at"], "2025-11-20T10:00:00+09:00");

    // Without the application it came with: refused.
    let mut unlinked = given_at_application();
    unlinked.as_object_mut().unwrap().remove("application_ref");
    let r = post(&s, &caller(MUNICIPALITY), &p, &unlinked);
    assert_eq!((r.status, slug(&r)), (422, "invalid-consent-event".into()));
    assert_eq!(json_of(&r)["violations"][0]["pointer"], "/application_ref");

    // Another municipality's insured person.
    let r = post(
        &s,
        &caller("urn:carehub:municipality:271004"),
        &p,
        &given_at_application(),
    );
    assert_eq!((r.status, slug(&r)), (403, "wrong-municipality".into()));
}

#[test]
fn an_office_records_consent_only_once_registered() {
    let s = store();
    let p = person("0000012345");
    let by_office = json!({
        "event": "given",
        "given_by": {
            "type": "proxy", "relationship": "legal_guardian", "name": "山田 花子",
            "reason_person_could_not_consent": "認知症により意思表示が困難"
        },
        "method": "paper_form",
        "explanation_given": true
    });
    let cm = caller(CARE_MANAGER);
    let r = post(&s, &cm, &p, &by_office);
    assert_eq!((r.status, slug(&r)), (403, "office-not-registered".into()));
    let seq = register(&s, CARE_MANAGER, &p);
    let r = post(&s, &cm, &p, &by_office);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = json_of(&r);
    assert_eq!(v["recorded"]["obtained_by"], CARE_MANAGER);
    // Defaulted to the time of recording.
    assert_eq!(v["recorded"]["effective_at"], NOW);
    assert_eq!(v["recorded"]["given_by"]["relationship"], "legal_guardian");

    // A registered office sees the consent; after deregistration it does not.
    assert_eq!(show(&s, &cm, &p).status, 200);
    in_transaction(&s, &[], |s| {
        s.deregister(
            seq,
            &Deregistration {
                at: NOW.into(),
                by: principal(CARE_MANAGER),
                reason: "契約終了".into(),
            },
        )
    })
    .unwrap();
    let refused = show(&s, &cm, &p);
    assert_eq!(refused, carehub_guest::problem::forbidden());
    let r = post(&s, &cm, &p, &withdrawal());
    assert_eq!((r.status, slug(&r)), (403, "office-not-registered".into()));

    // Medical institutions never obtain consent (they may relay a withdrawal).
    register(&s, MEDICAL, &p);
    let r = post(&s, &caller(MEDICAL), &p, &by_office);
    assert_eq!((r.status, slug(&r)), (403, "role-not-allowed".into()));
    let r = post(&s, &caller(MEDICAL), &p, &withdrawal());
    assert_eq!(r.status, 201);
}

#[test]
fn the_person_withdraws_through_the_portal() {
    let s = store();
    let p = person("0000012345");
    assert_eq!(
        post(&s, &caller(MUNICIPALITY), &p, &given_at_application()).status,
        201
    );
    // A token for someone else: the generic refusal.
    let other = person("0000099999");
    let r = post(
        &s,
        &portal(&other, PersonActor::Person),
        &p,
        &json!({"event": "withdrawn"}),
    );
    assert_eq!(r, carehub_guest::problem::forbidden());
    // A proxy must say who they are.
    let r = post(
        &s,
        &portal(&p, PersonActor::Proxy),
        &p,
        &json!({"event": "withdrawn"}),
    );
    assert_eq!((r.status, slug(&r)), (400, "invalid-request".into()));
    let r = post(&s, &portal(&p, PersonActor::Proxy), &p, &withdrawal());
    assert_eq!((r.status, slug(&r)), (422, "invalid-consent-event".into()));
    // The person: `by` defaults to the person.
    let me = portal(&p, PersonActor::Person);
    let r = post(&s, &me, &p, &json!({"event": "withdrawn"}));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = json_of(&r);
    assert_eq!(v["state"], "withdrawn");
    assert_eq!(v["recorded"]["through"], PORTAL);
    assert_eq!(v["recorded"]["by"], json!({"type": "person"}));
    assert_eq!(v["recorded"]["effective_at"], NOW);
    // Nothing left to withdraw.
    let r = post(&s, &me, &p, &withdrawal());
    assert_eq!((r.status, slug(&r)), (409, "conflict".into()));

    let v = json_of(&show(&s, &me, &p));
    assert_eq!(v["state"], "withdrawn");
    let events: Vec<_> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["given", "withdrawn"]);
    assert_eq!(
        show(&s, &portal(&other, PersonActor::Person), &p),
        carehub_guest::problem::forbidden()
    );
    // Portal callers give no consent here; they only withdraw.
    let r = post(&s, &me, &p, &given_at_application());
    assert_eq!((r.status, slug(&r)), (403, "role-not-allowed".into()));
}

#[test]
fn not_obtained_and_its_transitions() {
    let s = store();
    let p = person("0000012345");
    let m = caller(MUNICIPALITY);
    let not = json!({"event": "not_obtained", "reason": "本人の意思確認ができず、代理人もいない"});
    let r = post(&s, &m, &p, &not);
    assert_eq!(r.status, 201);
    assert_eq!(json_of(&r)["state"], "not_obtained");
    assert_eq!(json_of(&r)["recorded"]["recorded_at"], NOW);
    assert_eq!(post(&s, &m, &p, &given_at_application()).status, 201);
    let r = post(&s, &m, &p, &not);
    assert_eq!((r.status, slug(&r)), (409, "conflict".into()));
    let r = post(&s, &m, &p, &json!({"event": "not_obtained", "reason": " "}));
    assert_eq!(r.status, 422);
}

#[test]
fn bad_bodies() {
    let s = store();
    let p = person("0000012345");
    let m = caller(MUNICIPALITY);
    for (body, status, slug_, pointer) in [
        (json!([]), 400, "invalid-request", ""),
        (json!({}), 400, "invalid-request", "/event"),
        (json!({"event": "agreed"}), 400, "invalid-request", "/event"),
        (
            json!({"event": "withdrawn", "by": {"type": "person"}, "when": "now"}),
            400,
            "invalid-request",
            "/when",
        ),
        (
            json!({"event": "given", "given_by": {"type": "neighbour"}, "method": "paper_form", "explanation_given": true}),
            400,
            "invalid-request",
            "/given_by/type",
        ),
        (
            json!({"event": "given", "given_by": {"type": "person"}, "method": "fax", "explanation_given": true}),
            400,
            "invalid-request",
            "/method",
        ),
        (
            json!({"event": "given", "given_by": {"type": "person"}, "method": "paper_form", "explanation_given": "yes", "application_ref": "A"}),
            400,
            "invalid-request",
            "/explanation_given",
        ),
        (
            json!({"event": "given", "given_by": {"type": "person"}, "method": "paper_form", "explanation_given": false, "application_ref": "A"}),
            422,
            "invalid-consent-event",
            "/explanation_given",
        ),
        (
            json!({"event": "given", "given_by": {"type": "person"}, "method": "paper_form", "explanation_given": true, "application_ref": "A", "effective_at": "2099-01-01T00:00:00Z"}),
            422,
            "invalid-consent-event",
            "/effective_at",
        ),
    ] {
        let r = post(&s, &m, &p, &body);
        assert_eq!((r.status, slug(&r)), (status, slug_.to_owned()), "{body}");
        assert_eq!(json_of(&r)["violations"][0]["pointer"], pointer, "{body}");
    }
    let r = handler::record(&s, &m, &p, &head(None, &p), None, b"{\"event\": ", NOW);
    assert_eq!((r.status, slug(&r)), (400, "malformed-json".into()));
    // Nothing was recorded.
    assert_eq!(json_of(&show(&s, &m, &p))["state"], "none");
}

#[test]
fn writes_are_idempotent_by_key() {
    let s = store();
    let p = person("0000012345");
    let m = caller(MUNICIPALITY);
    let first = post_at(&s, &m, &p, &given_at_application(), Some("k-1"), NOW);
    assert_eq!(first.status, 201);
    let again = post_at(&s, &m, &p, &given_at_application(), Some("k-1"), LATER);
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    let other = post_at(&s, &m, &p, &withdrawal(), Some("k-1"), LATER);
    assert_eq!(
        (other.status, slug(&other)),
        (409, "idempotency-key-reused".into())
    );
    assert_eq!(
        json_of(&show(&s, &m, &p))["history"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A refused write stores no answer: the same key may be used again.
    let r = post_at(
        &s,
        &m,
        &p,
        &json!({"event": "not_obtained", "reason": "x"}),
        Some("k-2"),
        NOW,
    );
    assert_eq!(r.status, 409);
    assert_eq!(
        post_at(&s, &m, &p, &withdrawal(), Some("k-2"), NOW).status,
        201
    );
}

#[test]
fn history_cannot_be_changed_in_the_database() {
    let s = store();
    let p = person("0000012345");
    assert_eq!(
        post(&s, &caller(MUNICIPALITY), &p, &given_at_application()).status,
        201
    );
    let db = &s.db().0;
    for sql in [
        "UPDATE consent_events SET event = 'withdrawn'",
        "DELETE FROM consent_events",
    ] {
        let err = db.execute(sql, []).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}
