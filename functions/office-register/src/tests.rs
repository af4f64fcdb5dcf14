//! The office-register handlers against the real schema on a native SQLite.

use carehub_domain::{IdempotencyKey, InsuredNumber, InsurerNumber, PersonRef, Principal};
use carehub_guest::http::{Reply, RequestHead};
use carehub_guest::routing::Page;
use carehub_store::native::NativeDb;
use carehub_store::sql::SqlStore;
use serde_json::{Value, json};

use crate::handler;

const NOW: &str = "2025-11-25T06:00:00.000000Z";
const LATER: &str = "2025-11-25T07:00:00.000000Z";
const MUNICIPALITY: &str = "urn:carehub:municipality:131016";
const CARE_MANAGER: &str = "urn:carehub:care-manager:1371234567";
const CARE_SERVICE: &str = "urn:carehub:care-service:1311234568";
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

fn head(path: &str) -> RequestHead {
    RequestHead::new("POST", path, "", Vec::new())
}

fn registration(insured: &str) -> Value {
    json!({
        "person": {"insurer_number": "131016", "insured_number": insured},
        "verification_method": {"type": "my_number_card"},
        "verification_reference": "カードリーダー照合 2025-11-01 #0042",
        "start": "2025-11-01T00:00:00+09:00"
    })
}

fn register_at(s: &Store, urn: &str, body: &Value, key: Option<&str>, now: &str) -> Reply {
    let key = key.map(|k| IdempotencyKey::parse(k).unwrap());
    handler::register(
        s,
        &principal(urn),
        &head("/registrations"),
        key.as_ref(),
        &serde_json::to_vec(body).unwrap(),
        now,
    )
}

fn register(s: &Store, urn: &str, body: &Value) -> Reply {
    register_at(s, urn, body, None, NOW)
}

fn deregister(s: &Store, urn: &str, id: &str, body: &Value, now: &str) -> Reply {
    let id = handler::registration_id_from_path(id).unwrap();
    handler::deregister(
        s,
        &principal(urn),
        &id,
        &head(&format!("/registrations/{id}/deregister")),
        None,
        &serde_json::to_vec(body).unwrap(),
        now,
    )
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

fn page(limit: u32) -> Page {
    Page {
        limit,
        before_seq: None,
    }
}

#[test]
fn an_office_registers_after_verifying_identity() {
    let s = store();
    let r = register(&s, CARE_MANAGER, &registration("0000012345"));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = json_of(&r);
    let id = v["registration_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("reg_"));
    assert_eq!(
        r.header("location").unwrap(),
        format!("/api/office-register/registrations/{id}")
    );
    assert_eq!(v["office"], CARE_MANAGER);
    assert_eq!(v["role"], "care-manager");
    assert_eq!(v["verification_method"], json!({"type": "my_number_card"}));
    assert_eq!(v["state"], "in_force");
    assert_eq!(v["end"], Value::Null);
    assert_eq!(v["deregistration"], Value::Null);
    assert_eq!(v["registered_at"], NOW);

    // Once per person at a time.
    let again = register(&s, CARE_MANAGER, &registration("0000012345"));
    assert_eq!((again.status, slug(&again)), (409, "conflict".into()));
    assert!(json_of(&again)["detail"].as_str().unwrap().contains(&id));

    // The office reads it back; nobody else can.
    let rid = handler::registration_id_from_path(&id).unwrap();
    let one = handler::one(&s, &principal(CARE_MANAGER), &rid, LATER);
    assert_eq!(json_of(&one)["registration_id"], id.as_str());
    let other = handler::one(&s, &principal(CARE_SERVICE), &rid, LATER);
    assert_eq!((other.status, slug(&other)), (404, "not-found".into()));
    let missing = handler::one(
        &s,
        &principal(CARE_MANAGER),
        &handler::registration_id_from_path("reg_00000000000000000000000000000000").unwrap(),
        LATER,
    );
    assert_eq!(missing, other);

    // Medical institutions and care-service offices register the same way.
    for urn in [MEDICAL, CARE_SERVICE] {
        assert_eq!(
            register(&s, urn, &registration("0000012345")).status,
            201,
            "{urn}"
        );
    }
    // Others do not register.
    for urn in [MUNICIPALITY, PORTAL, "urn:carehub:operator:ops"] {
        let r = register(&s, urn, &registration("0000012345"));
        assert_eq!(
            (r.status, slug(&r)),
            (403, "role-not-allowed".into()),
            "{urn}"
        );
    }
}

#[test]
fn deregistration_ends_it_and_a_new_one_may_follow() {
    let s = store();
    let r = register(&s, CARE_MANAGER, &registration("0000012345"));
    let id = json_of(&r)["registration_id"].as_str().unwrap().to_owned();

    let r = deregister(&s, CARE_SERVICE, &id, &json!({"reason": "契約終了"}), LATER);
    assert_eq!((r.status, slug(&r)), (404, "not-found".into()));
    let r = deregister(&s, CARE_MANAGER, &id, &json!({"reason": " "}), LATER);
    assert_eq!((r.status, slug(&r)), (422, "invalid-registration".into()));
    let r = deregister(&s, CARE_MANAGER, &id, &json!({}), LATER);
    assert_eq!((r.status, slug(&r)), (400, "invalid-request".into()));

    let r = deregister(&s, CARE_MANAGER, &id, &json!({"reason": "契約終了"}), LATER);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = json_of(&r);
    assert_eq!(v["state"], "ended");
    assert_eq!(
        v["deregistration"],
        json!({"deregistered_at": LATER, "deregistered_by": CARE_MANAGER, "reason": "契約終了"})
    );
    let r = deregister(&s, CARE_MANAGER, &id, &json!({"reason": "again"}), LATER);
    assert_eq!((r.status, slug(&r)), (409, "conflict".into()));

    // A new contract: a new registration.
    let r = register_at(
        &s,
        CARE_MANAGER,
        &registration("0000012345"),
        None,
        "2025-12-01T00:00:00.000000Z",
    );
    assert_eq!(r.status, 201);
    assert_ne!(json_of(&r)["registration_id"], id.as_str());
}

#[test]
fn bad_registrations() {
    let s = store();
    let mut other = registration("0000012345");
    other["verification_method"] = json!({"type": "other"});
    other["verification_reference"] = json!("");
    other["end"] = json!("2025-10-01T00:00:00Z");
    let r = register(&s, CARE_MANAGER, &other);
    assert_eq!((r.status, slug(&r)), (422, "invalid-registration".into()));
    let pointers: Vec<_> = json_of(&r)["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pointer"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        pointers,
        [
            "/verification_method/description",
            "/verification_reference",
            "/end",
            "/end"
        ]
    );
    for (patch, pointer, slug_) in [
        (
            json!({"person": {"insurer_number": "131016", "insured_number": "12345"}}),
            "/person/insured_number",
            "invalid-identifier",
        ),
        (
            json!({"verification_method": {"type": "face"}}),
            "/verification_method/type",
            "invalid-request",
        ),
        (
            json!({"verification_method": {"type": "my_number_card", "description": "x"}}),
            "/verification_method/description",
            "invalid-request",
        ),
        (json!({"start": 20251101}), "/start", "invalid-request"),
        (
            json!({"until": "2026-01-01T00:00:00Z"}),
            "/until",
            "invalid-request",
        ),
    ] {
        let mut body = registration("0000012345");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = register(&s, CARE_MANAGER, &body);
        assert_eq!(slug(&r), slug_, "{patch}");
        let v = json_of(&r);
        assert_eq!(v["violations"][0]["pointer"], pointer, "{patch}");
        assert!(!v["detail"].as_str().unwrap().contains("12345"));
    }
    let mut body = registration("0000012345");
    body.as_object_mut().unwrap().remove("start");
    assert_eq!(
        json_of(&register(&s, CARE_MANAGER, &body))["violations"][0]["pointer"],
        "/start"
    );
}

#[test]
fn registrations_are_idempotent_by_key() {
    let s = store();
    let first = register_at(
        &s,
        CARE_MANAGER,
        &registration("0000012345"),
        Some("r-1"),
        NOW,
    );
    let again = register_at(
        &s,
        CARE_MANAGER,
        &registration("0000012345"),
        Some("r-1"),
        LATER,
    );
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = register_at(
        &s,
        CARE_MANAGER,
        &registration("0000099999"),
        Some("r-1"),
        LATER,
    );
    assert_eq!(slug(&other), "idempotency-key-reused");
}

#[test]
fn lists_for_the_person_the_municipality_and_the_office() {
    let s = store();
    let p = person("0000012345");
    for urn in [CARE_MANAGER, MEDICAL] {
        assert_eq!(register(&s, urn, &registration("0000012345")).status, 201);
    }
    assert_eq!(
        register(&s, CARE_MANAGER, &registration("0000099999")).status,
        201
    );

    let m = handler::person_registrations(&s, &principal(MUNICIPALITY), None, &p, page(50), LATER);
    assert_eq!(m.status, 200);
    let v = json_of(&m);
    let offices: Vec<_> = v["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["office"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(offices, [MEDICAL, CARE_MANAGER], "newest first");
    assert_eq!(v["next_cursor"], Value::Null);

    let me = handler::person_registrations(&s, &principal(PORTAL), Some(&p), &p, page(1), LATER);
    let v = json_of(&me);
    assert_eq!(v["registrations"].as_array().unwrap().len(), 1);
    let cursor = carehub_domain::Cursor::decode(v["next_cursor"].as_str().unwrap()).unwrap();
    let next = handler::person_registrations(
        &s,
        &principal(PORTAL),
        Some(&p),
        &p,
        Page {
            limit: 1,
            before_seq: Some(cursor),
        },
        LATER,
    );
    assert_eq!(json_of(&next)["registrations"][0]["office"], CARE_MANAGER);

    let forbidden = carehub_guest::problem::forbidden();
    let q = person("0000099999");
    for (urn, token) in [
        (PORTAL, Some(&q)),
        (PORTAL, None),
        ("urn:carehub:municipality:271004", None),
        (CARE_MANAGER, None),
    ] {
        assert_eq!(
            handler::person_registrations(&s, &principal(urn), token, &p, page(50), LATER),
            forbidden,
            "{urn}"
        );
    }

    let own = handler::office_registrations(&s, &principal(CARE_MANAGER), page(50), LATER);
    let v = json_of(&own);
    assert_eq!(v["office"], CARE_MANAGER);
    let persons: Vec<_> = v["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["person"]["insured_number"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(persons, ["0000099999", "0000012345"]);
    let r = handler::office_registrations(&s, &principal(MUNICIPALITY), page(50), LATER);
    assert_eq!((r.status, slug(&r)), (403, "role-not-allowed".into()));
}

#[test]
fn registrations_cannot_be_changed_in_the_database() {
    let s = store();
    let r = register(&s, CARE_MANAGER, &registration("0000012345"));
    let id = json_of(&r)["registration_id"].as_str().unwrap().to_owned();
    assert_eq!(
        deregister(&s, CARE_MANAGER, &id, &json!({"reason": "契約終了"}), LATER).status,
        200
    );
    let db = &s.db().0;
    for sql in [
        "UPDATE office_registrations SET end_at = NULL",
        "DELETE FROM office_registrations",
        "UPDATE office_deregistrations SET reason = 'x'",
        "DELETE FROM office_deregistrations",
    ] {
        let err = db.execute(sql, []).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}
