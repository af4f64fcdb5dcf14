//! The read handlers against the real schema on a native SQLite.

use carehub_domain::{
    DocumentId, DocumentKey, DocumentKind, InsuredNumber, InsurerNumber, PersonRef, Principal,
    content,
};
use carehub_guest::body::{canonical_json, sha256_hex};
use carehub_guest::http::{Reply, RequestHead};
use carehub_store::native::NativeDb;
use carehub_store::sql::SqlStore;
use carehub_store::{DocumentStore, NewVersion, in_transaction};
use serde_json::{Value, json};

use crate::handler::{self, ListParams};
use carehub_domain::policy::read::Reader;

const MUNICIPALITY: &str = "urn:carehub:municipality:131016";
const CARE_MANAGER: &str = "urn:carehub:care-manager:1310100019";
const CARE_SERVICE: &str = "urn:carehub:care-service:1370100018";
const NOW: &str = "2025-11-25T08:00:00.000000Z";

fn principal(urn: &str) -> Principal {
    Principal::parse_urn(urn).unwrap()
}

fn person(insured: &str) -> PersonRef {
    PersonRef::new(
        InsurerNumber::parse("131016").unwrap(),
        InsuredNumber::parse(insured).unwrap(),
    )
}

/// Stores `content` as the next version of (person, kind, author, key).
fn put(
    s: &SqlStore<NativeDb>,
    p: &PersonRef,
    kind: DocumentKind,
    author: &str,
    key: &str,
    content: &Value,
    at: &str,
) -> DocumentId {
    let author = principal(author);
    let key = DocumentKey::parse(key).unwrap();
    let content = canonical_json(content);
    let item = NewVersion {
        document_id: DocumentId::derive(p, kind, &author, &key),
        person: p.clone(),
        kind,
        author,
        document_key: key,
        content_sha256: sha256_hex(content.as_bytes()),
        content,
    };
    in_transaction(s, &[], |s| {
        s.write_versions(std::slice::from_ref(&item), at)
    })
    .unwrap();
    item.document_id
}

fn example(kind: DocumentKind, p: &PersonRef) -> Value {
    content::example_content(kind, p)
}

/// A person with one document of several kinds, by their authors.
fn seeded() -> (
    SqlStore<NativeDb>,
    PersonRef,
    Vec<(DocumentKind, DocumentId)>,
) {
    let s = SqlStore::new(NativeDb::migrated());
    let p = person("0000012345");
    let mut ids = Vec::new();
    for (kind, author, key) in [
        (DocumentKind::InsuranceCertificate, MUNICIPALITY, "current"),
        (DocumentKind::CertificationSurvey, MUNICIPALITY, "2025-01"),
        (DocumentKind::PhysicianOpinion, MUNICIPALITY, "2025-01"),
        (DocumentKind::CarePlan, CARE_MANAGER, "2025-04"),
        (DocumentKind::LifeFeedback, CARE_SERVICE, "2025-Q1"),
        (
            DocumentKind::CertificationApplication,
            MUNICIPALITY,
            "2025-01",
        ),
    ] {
        ids.push((
            kind,
            put(
                &s,
                &p,
                kind,
                author,
                key,
                &example(kind, &p),
                "2025-11-25T06:00:00.000000Z",
            ),
        ));
    }
    // Someone else's certificate.
    let q = person("0000099999");
    put(
        &s,
        &q,
        DocumentKind::InsuranceCertificate,
        MUNICIPALITY,
        "current",
        &example(DocumentKind::InsuranceCertificate, &q),
        "2025-11-25T06:00:00.000000Z",
    );
    (s, p, ids)
}

fn reader(urn: &str, token: Option<&PersonRef>) -> Reader {
    Reader::new(principal(urn), token.cloned()).unwrap()
}

fn params() -> ListParams {
    ListParams {
        kind: None,
        limit: 50,
        before_seq: None,
    }
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn kinds_of(r: &Reply) -> Vec<String> {
    json_of(r)["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_person_reads_their_column_about_themselves_only() {
    let (s, p, _) = seeded();
    let me = reader("urn:carehub:portal:mynaportal", Some(&p));
    let r = handler::list(&s, &me, &p, &params(), NOW);
    assert_eq!(r.status, 200);
    // Newest first; survey and opinion are not the person's to see.
    assert_eq!(
        kinds_of(&r),
        [
            "certification_application",
            "life_feedback",
            "care_plan",
            "insurance_certificate"
        ]
    );
    let v = json_of(&r);
    assert_eq!(
        v["person"],
        json!({"insurer_number": "131016", "insured_number": "0000012345"})
    );
    assert_eq!(v["next_cursor"], Value::Null);
    let doc = &v["documents"][3];
    assert_eq!(
        doc["content"],
        example(DocumentKind::InsuranceCertificate, &p)
    );
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["author"], MUNICIPALITY);

    // Another person's token: 403 for the whole list.
    let other = person("0000099999");
    let them = reader("urn:carehub:portal:mynaportal", Some(&other));
    let r = handler::list(&s, &them, &p, &params(), NOW);
    assert_eq!(r.status, 403);
}

#[test]
fn a_municipality_reads_only_its_insured_and_not_consent_kinds() {
    let (s, p, _) = seeded();
    let m = reader(MUNICIPALITY, None);
    let r = handler::list(&s, &m, &p, &params(), NOW);
    assert_eq!(r.status, 200);
    // Care plan and LIFE feedback (◎) need consent, which is not recorded yet.
    assert_eq!(
        kinds_of(&r),
        [
            "certification_application",
            "physician_opinion",
            "certification_survey",
            "insurance_certificate"
        ]
    );
    let osaka = reader("urn:carehub:municipality:271004", None);
    assert_eq!(handler::list(&s, &osaka, &p, &params(), NOW).status, 403);
}

#[test]
fn offices_get_403_lists_but_read_what_they_wrote() {
    let (s, p, ids) = seeded();
    let cm = reader(CARE_MANAGER, None);
    assert_eq!(handler::list(&s, &cm, &p, &params(), NOW).status, 403);
    let plan = &ids
        .iter()
        .find(|(k, _)| *k == DocumentKind::CarePlan)
        .unwrap()
        .1;
    let r = handler::one(&s, &cm, plan, None, NOW);
    assert_eq!(r.status, 200);
    assert_eq!(json_of(&r)["kind"], "care_plan");

    let cert = &ids[0].1;
    let refused = handler::one(&s, &cm, cert, None, NOW);
    let missing = handler::one(
        &s,
        &cm,
        &DocumentId::parse("doc_00000000000000000000000000000000").unwrap(),
        None,
        NOW,
    );
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused, missing,
        "a refusal and a missing document look the same, byte for byte"
    );
    for urn in [CARE_SERVICE, "urn:carehub:medical:1312345678"] {
        assert_eq!(
            handler::one(&s, &reader(urn, None), cert, None, NOW),
            missing,
            "{urn}"
        );
    }
}

#[test]
fn one_document_with_versions() {
    let (s, p, ids) = seeded();
    let cert = ids[0].1.clone();
    let mut v2 = example(DocumentKind::InsuranceCertificate, &p);
    v2["address"] = json!("東京都千代田区九段南1-2-1 別館");
    put(
        &s,
        &p,
        DocumentKind::InsuranceCertificate,
        MUNICIPALITY,
        "current",
        &v2,
        "2025-11-26T06:00:00.000000Z",
    );

    let me = reader("urn:carehub:portal:mynaportal", Some(&p));
    let r = handler::one(&s, &me, &cert, None, NOW);
    assert_eq!(r.status, 200);
    let v = json_of(&r);
    assert_eq!(v["document_id"], cert.as_str());
    assert_eq!(v["version"], 2);
    assert_eq!(v["current_version"], 2);
    assert_eq!(v["supersedes"], 1);
    assert_eq!(v["content"]["address"], "東京都千代田区九段南1-2-1 別館");
    assert_eq!(v["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["versions"][0],
        json!({
            "version": 1,
            "stored_at": "2025-11-25T06:00:00.000000Z",
            "content_sha256": sha256_hex(canonical_json(&example(DocumentKind::InsuranceCertificate, &p)).as_bytes()),
            "supersedes": null
        })
    );
    assert_eq!(
        v["content_sha256"],
        sha256_hex(canonical_json(&v["content"]).as_bytes())
    );

    let r = handler::one(&s, &me, &cert, Some(1), NOW);
    let old = json_of(&r);
    assert_eq!(
        (old["version"].clone(), old["current_version"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(
        old["content"],
        example(DocumentKind::InsuranceCertificate, &p)
    );

    let r = handler::one(&s, &me, &cert, Some(3), NOW);
    assert_eq!(r.status, 404);

    // Another person's token cannot read it, and cannot tell it exists.
    let other = person("0000099999");
    let them = reader("urn:carehub:portal:mynaportal", Some(&other));
    assert_eq!(handler::one(&s, &them, &cert, Some(3), NOW).status, 403);
}

#[test]
fn pages_with_a_cursor_and_filters_by_kind() {
    let s = SqlStore::new(NativeDb::migrated());
    let p = person("0000012345");
    let mut all = Vec::new();
    for month in 1..=5 {
        let key = format!("2025-{month:02}");
        all.push(put(
            &s,
            &p,
            DocumentKind::HousingRenovation,
            MUNICIPALITY,
            &key,
            &example(DocumentKind::HousingRenovation, &p),
            "2025-11-25T06:00:00.000000Z",
        ));
    }
    put(
        &s,
        &p,
        DocumentKind::InsuranceCertificate,
        MUNICIPALITY,
        "current",
        &example(DocumentKind::InsuranceCertificate, &p),
        "2025-11-25T06:00:00.000000Z",
    );
    let m = reader(MUNICIPALITY, None);

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let params = ListParams {
            kind: Some(DocumentKind::HousingRenovation),
            limit: 2,
            before_seq: cursor,
        };
        let v = json_of(&handler::list(&s, &m, &p, &params, NOW));
        pages += 1;
        for d in v["documents"].as_array().unwrap() {
            assert_eq!(d["kind"], "housing_renovation");
            seen.push(d["document_id"].as_str().unwrap().to_owned());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(carehub_domain::Cursor::decode(c).unwrap()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = all.iter().rev().map(|id| id.as_str().to_owned()).collect();
    assert_eq!(seen, expected, "newest first, each once");

    let everything = handler::list(
        &s,
        &m,
        &p,
        &ListParams {
            kind: None,
            limit: 200,
            before_seq: None,
        },
        NOW,
    );
    assert_eq!(kinds_of(&everything).len(), 6);
}

fn head(query: &str) -> RequestHead {
    RequestHead::new("GET", "/x", query, Vec::new())
}

fn problem_slug(r: &Reply) -> String {
    json_of(r)["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("urn:carehub:problem:")
        .to_owned()
}

#[test]
fn bad_parameters_are_400() {
    assert_eq!(
        handler::list_params(&head("")).unwrap(),
        ListParams {
            kind: None,
            limit: 50,
            before_seq: None
        }
    );
    let ok = handler::list_params(&head("kind=care_plan&limit=200&cursor=AQAAAAAAAAAq")).unwrap();
    assert_eq!(
        ok,
        ListParams {
            kind: Some(DocumentKind::CarePlan),
            limit: 200,
            before_seq: Some(42)
        }
    );
    for (q, slug) in [
        ("limit=0", "invalid-request"),
        ("limit=201", "invalid-request"),
        ("limit=ten", "invalid-request"),
        ("kind=carePlan", "invalid-request"),
        ("cursor=nope", "invalid-cursor"),
        ("page=2", "invalid-request"),
        ("limit=1&limit=2", "invalid-request"),
    ] {
        let r = handler::list_params(&head(q)).unwrap_err();
        assert_eq!((r.status, problem_slug(&r)), (400, slug.to_owned()), "{q}");
    }
    assert_eq!(handler::version_param(&head("version=2")).unwrap(), Some(2));
    assert_eq!(handler::version_param(&head("")).unwrap(), None);
    assert_eq!(
        handler::version_param(&head("version=0"))
            .unwrap_err()
            .status,
        400
    );
    let r = handler::person_from_path("131016", "12345").unwrap_err();
    assert_eq!(
        (r.status, problem_slug(&r)),
        (400, "invalid-identifier".to_owned())
    );
    assert!(
        json_of(&r)["detail"]
            .as_str()
            .unwrap()
            .starts_with("insured_number")
    );
    let r = handler::document_id_from_path("doc_XYZ").unwrap_err();
    assert_eq!(problem_slug(&r), "invalid-identifier");
}

// ---- consent, registration and the access log ----

use carehub_domain::{
    AccessOutcome, ConsentEvent, ConsentMethod, DenyReason, Giver, PersonActor, RegistrationId,
    VerificationMethod, verify_chain,
};
use carehub_guest::routing::Page;
use carehub_store::{
    AccessLogStore, ConsentStore, Deregistration, NewRegistration, RegistrationStore,
};

const MEDICAL: &str = "urn:carehub:medical:1312345678";

fn consent(s: &SqlStore<NativeDb>, p: &PersonRef) {
    let event = ConsentEvent::Given {
        obtained_by: principal(MUNICIPALITY),
        given_by: Giver::Person,
        method: ConsentMethod::PaperForm,
        explanation_given: true,
        application_ref: Some("APP-1".into()),
        effective_at: "2025-11-01T00:00:00Z".into(),
    };
    in_transaction(s, &[], |s| {
        s.append_consent(p, &event, &principal(MUNICIPALITY), "2025-11-01T00:00:00Z")
    })
    .unwrap();
}

fn withdraw(s: &SqlStore<NativeDb>, p: &PersonRef) {
    let event = ConsentEvent::Withdrawn {
        by: Giver::Person,
        through: principal("urn:carehub:portal:mynaportal"),
        effective_at: NOW.into(),
    };
    in_transaction(s, &[], |s| {
        s.append_consent(p, &event, &principal("urn:carehub:portal:mynaportal"), NOW)
    })
    .unwrap();
}

fn register(s: &SqlStore<NativeDb>, office: &str, p: &PersonRef) -> i64 {
    let office = principal(office);
    let reg = NewRegistration {
        registration_id: RegistrationId::derive(&office, p, "2025-11-01T00:00:00.000000Z"),
        office,
        person: p.clone(),
        verification_method: VerificationMethod::MyNumberCard,
        verification_reference: "MNC-1".into(),
        start: "2025-11-01T00:00:00Z".into(),
        end: None,
    };
    in_transaction(s, &[], |s| {
        s.add_registration(&reg, "2025-11-01T00:00:00.000000Z")
    })
    .unwrap()
    .seq
}

fn id_of(ids: &[(DocumentKind, DocumentId)], kind: DocumentKind) -> DocumentId {
    ids.iter().find(|(k, _)| *k == kind).unwrap().1.clone()
}

#[test]
fn registered_offices_read_with_consent_and_lose_it_at_once() {
    let (s, p, ids) = seeded();
    let cs = reader(CARE_SERVICE, None);
    let care_plan = id_of(&ids, DocumentKind::CarePlan);
    let refused = handler::one(&s, &cs, &care_plan, None, NOW);
    assert_eq!(refused, carehub_guest::problem::forbidden());

    // Registered, without consent: still refused.
    let seq = register(&s, CARE_SERVICE, &p);
    assert_eq!(handler::one(&s, &cs, &care_plan, None, NOW), refused);
    assert_eq!(handler::list(&s, &cs, &p, &params(), NOW), refused);

    // Registered with consent: the care-service column.
    consent(&s, &p);
    assert_eq!(handler::one(&s, &cs, &care_plan, None, NOW).status, 200);
    let r = handler::list(&s, &cs, &p, &params(), NOW);
    assert_eq!(
        kinds_of(&r),
        ["life_feedback", "care_plan", "insurance_certificate"]
    );

    // Withdrawal cuts access on the next request.
    withdraw(&s, &p);
    assert_eq!(handler::one(&s, &cs, &care_plan, None, NOW), refused);
    consent(&s, &p);
    assert_eq!(handler::one(&s, &cs, &care_plan, None, NOW).status, 200);
    // So does deregistration.
    in_transaction(&s, &[], |s| {
        s.deregister(
            seq,
            &Deregistration {
                at: NOW.into(),
                by: principal(CARE_SERVICE),
                reason: "契約終了".into(),
            },
        )
    })
    .unwrap();
    assert_eq!(handler::one(&s, &cs, &care_plan, None, NOW), refused);
    // But the author still reads what it wrote (its LIFE feedback).
    let life = id_of(&ids, DocumentKind::LifeFeedback);
    assert_eq!(handler::one(&s, &cs, &life, None, NOW).status, 200);
}

#[test]
fn medical_never_reads_the_burden_ratio_and_care_managers_respect_the_physician() {
    let (s, p, ids) = seeded();
    let burden = put(
        &s,
        &p,
        DocumentKind::BurdenRatioCertificate,
        MUNICIPALITY,
        "current",
        &example(DocumentKind::BurdenRatioCertificate, &p),
        "2025-11-25T06:00:00.000000Z",
    );
    let mut declined = example(DocumentKind::PhysicianOpinion, &p);
    declined["consent_to_care_planning"] = json!(false);
    let declined = put(
        &s,
        &p,
        DocumentKind::PhysicianOpinion,
        MUNICIPALITY,
        "2025-07",
        &declined,
        "2025-11-25T06:00:00.000000Z",
    );
    consent(&s, &p);
    register(&s, MEDICAL, &p);
    register(&s, CARE_MANAGER, &p);
    let med = reader(MEDICAL, None);
    let forbidden = carehub_guest::problem::forbidden();
    assert_eq!(handler::one(&s, &med, &burden, None, NOW), forbidden);
    let cert = id_of(&ids, DocumentKind::InsuranceCertificate);
    assert_eq!(handler::one(&s, &med, &cert, None, NOW).status, 200);
    let kinds = kinds_of(&handler::list(&s, &med, &p, &params(), NOW));
    assert!(!kinds.contains(&"burden_ratio_certificate".to_owned()));

    let cm = reader(CARE_MANAGER, None);
    assert_eq!(handler::one(&s, &cm, &declined, None, NOW), forbidden);
    let agreed = id_of(&ids, DocumentKind::PhysicianOpinion);
    assert_eq!(handler::one(&s, &cm, &agreed, None, NOW).status, 200);
    let listed: Vec<_> = json_of(&handler::list(&s, &cm, &p, &params(), NOW))["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["document_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(listed.contains(&agreed.as_str().to_owned()));
    assert!(!listed.contains(&declined.as_str().to_owned()));
    // The municipality reads the declined opinion (the box is about care planning).
    let m = reader(MUNICIPALITY, None);
    assert_eq!(handler::one(&s, &m, &declined, None, NOW).status, 200);
}

fn accesses_of(
    s: &SqlStore<NativeDb>,
    urn: &str,
    token: Option<&PersonRef>,
    p: &PersonRef,
) -> Reply {
    handler::accesses(
        s,
        &principal(urn),
        token,
        p,
        Page {
            limit: 200,
            before_seq: None,
        },
    )
}

#[test]
fn every_read_and_refusal_is_logged_in_its_shard_chain() {
    let (s, p, ids) = seeded();
    let cm = reader(CARE_MANAGER, None);
    let cert = id_of(&ids, DocumentKind::InsuranceCertificate);
    let missing = DocumentId::parse("doc_00000000000000000000000000000000").unwrap();
    // Refused: not registered; a document that does not exist; a list.
    assert_eq!(handler::one(&s, &cm, &cert, None, NOW).status, 403);
    assert_eq!(handler::one(&s, &cm, &missing, None, NOW).status, 403);
    assert_eq!(handler::list(&s, &cm, &p, &params(), NOW).status, 403);
    // Allowed: the person through the portal (a proxy), and the municipality.
    let me = reader("urn:carehub:portal:mynaportal", Some(&p))
        .with_actor(Some(PersonActor::Proxy))
        .with_subject(Some("portal-user-7".into()));
    assert_eq!(handler::one(&s, &me, &cert, None, NOW).status, 200);
    let m = reader(MUNICIPALITY, None);
    let list = handler::list(&s, &m, &p, &params(), NOW);
    assert_eq!(list.status, 200);
    // The operator reads no care data; refused and logged all the same.
    let ops = principal("urn:carehub:operator:ops");
    assert_eq!(
        handler::refuse_unreadable(&s, &ops, handler::Target::Document(&cert), NOW),
        carehub_guest::problem::forbidden()
    );

    // Six entries in two shards: the person's five, and the care
    // manager's probe of an id that names no document; each chain
    // verifies from the genesis.
    let rows: Vec<(String, String, String)> = {
        let db = &s.db().0;
        let mut st = db
            .prepare("SELECT shard, entry, hash FROM log_entries ORDER BY shard, shard_seq")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(rows.len(), 6);
    let mut shards: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    for (shard, entry, hash) in rows {
        shards.entry(shard).or_default().push((entry, hash));
    }
    assert_eq!(shards.len(), 2, "{:?}", shards.keys());
    assert_eq!(
        shards[&format!(
            "person:{}:{}",
            p.insurer_number.as_str(),
            p.insured_number.as_str()
        )]
            .len(),
        5
    );
    for chain in shards.values() {
        assert_eq!(verify_chain(chain), Ok(()));
    }
    let logged = s.person_accesses(&p, None, 100).unwrap();
    // The missing document names no person: five entries about p.
    assert_eq!(logged.len(), 5);
    let reasons: Vec<_> = logged.iter().rev().map(|a| a.entry.deny_reason).collect();
    assert_eq!(
        reasons,
        [
            Some(DenyReason::NotRegistered),
            Some(DenyReason::NotRegistered),
            None,
            None,
            Some(DenyReason::NotMarkedForRole)
        ]
    );

    // What the person sees: newest first, refusals included, no reasons.
    let seen = accesses_of(&s, "urn:carehub:portal:mynaportal", Some(&p), &p);
    assert_eq!(seen.status, 200);
    let v = json_of(&seen);
    let accesses = v["accesses"].as_array().unwrap();
    assert_eq!(accesses.len(), 5);
    assert!(accesses.iter().all(|a| a.get("deny_reason").is_none()));
    assert_eq!(accesses[4]["principal"], CARE_MANAGER);
    assert_eq!(accesses[4]["outcome"], "denied");
    assert_eq!(accesses[4]["document_id"], cert.as_str());
    assert_eq!(accesses[4]["kind"], "insurance_certificate");
    assert_eq!(accesses[2]["actor"], "proxy");
    assert_eq!(accesses[2]["subject"], "portal-user-7");
    assert!(accesses[4].get("subject").is_none());
    assert_eq!(accesses[1]["action"], "list_documents");
    assert_eq!(
        accesses[1]["document_ids"].as_array().unwrap().len(),
        json_of(&list)["documents"].as_array().unwrap().len()
    );
    assert_eq!(accesses[0]["principal"], "urn:carehub:operator:ops");
    assert_eq!(
        logged[0].entry.outcome,
        AccessOutcome::Denied,
        "newest first"
    );
    // The municipality sees the same; others get the generic refusal.
    assert_eq!(accesses_of(&s, MUNICIPALITY, None, &p).body, seen.body);
    for (urn, token) in [
        ("urn:carehub:municipality:271004", None),
        (CARE_MANAGER, None),
        ("urn:carehub:portal:mynaportal", Some(&person("0000099999"))),
    ] {
        assert_eq!(
            accesses_of(&s, urn, token, &p),
            carehub_guest::problem::forbidden(),
            "{urn}"
        );
    }

    // Append-only in the database.
    let err = s
        .db()
        .0
        .execute("UPDATE log_entries SET entry = '{}'", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"));
}

#[test]
fn accesses_page_with_a_cursor() {
    let (s, p, ids) = seeded();
    let m = reader(MUNICIPALITY, None);
    let cert = id_of(&ids, DocumentKind::InsuranceCertificate);
    for _ in 0..5 {
        assert_eq!(handler::one(&s, &m, &cert, None, NOW).status, 200);
    }
    let mut before = None;
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let r = handler::accesses(
            &s,
            &principal(MUNICIPALITY),
            None,
            &p,
            Page {
                limit: 2,
                before_seq: before,
            },
        );
        let v = json_of(&r);
        seen += v["accesses"].as_array().unwrap().len();
        pages += 1;
        match v["next_cursor"].as_str() {
            Some(c) => before = Some(carehub_domain::Cursor::decode(c).unwrap()),
            None => break,
        }
    }
    assert_eq!((seen, pages), (5, 3));
}

#[test]
fn concurrent_appenders_keep_the_shard_chain_linear() {
    use carehub_domain::AccessLogEntry;
    use carehub_store::log_access;

    let path = std::env::temp_dir().join(format!(
        "carehub-read-chain-{}-{:?}.db",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&path);
    let open = |path: &std::path::Path| {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn
    };
    {
        let conn = open(&path);
        for (name, sql) in carehub_store::native::migrations() {
            conn.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    let p = person("0000012345");
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            let p = p.clone();
            std::thread::spawn(move || {
                let s = SqlStore::new(NativeDb(open(&path)));
                for i in 0..25 {
                    let entry = AccessLogEntry::listing(
                        format!("2025-11-25T08:00:{i:02}.{t:06}Z"),
                        principal(MUNICIPALITY),
                        p.clone(),
                    );
                    log_access(&s, &[entry]).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let conn = open(&path);
    let rows: Vec<(String, String)> = conn
        .prepare("SELECT entry, hash FROM log_entries ORDER BY shard_seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(conn);
    let _ = std::fs::remove_file(&path);
    assert_eq!(rows.len(), 100);
    assert_eq!(verify_chain(&rows), Ok(()));
}

#[test]
fn the_request_id_goes_into_the_entry_and_a_malformed_one_is_left_out() {
    let (s, p, _) = seeded();
    let muni = reader(MUNICIPALITY, None);
    let s = s.with_request_id(Some("0b6f6d2c-3c1e-4a55-9d1e-8f0c2a8e7b11"));
    assert_eq!(handler::list(&s, &muni, &p, &params(), NOW).status, 200);
    let s = s.with_request_id(Some("new\nline"));
    assert_eq!(handler::list(&s, &muni, &p, &params(), NOW).status, 200);
    let s = s.with_request_id(None);
    assert_eq!(handler::list(&s, &muni, &p, &params(), NOW).status, 200);
    let listed = json_of(&accesses_of(&s, MUNICIPALITY, None, &p));
    let ids: Vec<&Value> = listed["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["request_id"])
        .collect();
    // Newest first: no id, a malformed id (not recorded), the good one.
    assert_eq!(
        ids,
        [
            &Value::Null,
            &Value::Null,
            &json!("0b6f6d2c-3c1e-4a55-9d1e-8f0c2a8e7b11")
        ]
    );
    // An entry without an id hashes as entries did before the field existed.
    let stored = s.person_accesses(&p, None, 10).unwrap();
    assert!(!stored[0].entry.canonical_json().contains("request_id"));
    assert!(stored[2].entry.canonical_json().contains("\"request_id\":"));
}

/// The checkpoint job grows each tree from the last checkpoint's frontier:
/// every checkpoint's root is still the RFC 9162 root over all its leaves,
/// each stores its frontier, and a checkpoint without one (made before
/// frontiers were kept) is recomputed from the leaves.
#[test]
fn checkpoints_grow_from_the_stored_frontier_and_match_the_roots_over_every_leaf() {
    use carehub_domain::merkle;
    use carehub_domain::{AccessLogEntry, CheckpointSigner};
    use carehub_store::{CheckpointStore, log_access, make_checkpoint};
    let s = SqlStore::new(NativeDb::migrated());
    let signer = CheckpointSigner::from_seed(&[7; 32]);
    let entry = |i: usize| {
        AccessLogEntry::listing(
            format!("2025-11-25T08:{:02}:{:02}Z", i / 60, i % 60),
            principal(MUNICIPALITY),
            person(&format!("{:010}", 1000 + i % 7)),
        )
    };
    let mut logged = 0;
    // 4_101: more than two of the job's batches in one run.
    let runs = [
        1usize,
        2,
        5,
        8,
        13,
        1,
        0,
        31,
        2 * carehub_store::checkpoint::LEAF_BATCH + 5,
        3,
    ];
    for (run, add) in runs.into_iter().enumerate() {
        for _ in 0..add {
            log_access(&s, &[entry(logged)]).unwrap();
            logged += 1;
        }
        if run == 5 {
            // As if the last checkpoint had been made before frontiers.
            s.db().0.execute_batch("DELETE FROM log_frontiers").unwrap();
        }
        let made = make_checkpoint(&s, &signer, "2025-11-25T09:00:00Z").unwrap();
        assert_eq!(made.new_leaves, add as u64, "run {run}");
        let latest = s.latest_checkpoint().unwrap().unwrap();
        assert_eq!(latest.head.tree_size, logged as u64);
        assert_eq!(made.checkpoint.is_some(), add > 0, "run {run}");
        let leaves = s.leaf_hashes(logged as u64).unwrap();
        assert_eq!(
            latest.head.root_hash,
            carehub_store::checkpoint::hex(&merkle::root(&leaves)),
            "run {run}"
        );
        assert_eq!(
            s.frontier_at_most(logged as u64).unwrap(),
            Some(merkle::Frontier::of(&leaves)),
            "run {run}"
        );
    }
    assert_eq!(s.leaf_count().unwrap(), logged as u64);
    let n = logged as u64;
    let leaves = s.leaf_hashes(n).unwrap();
    let every_subtree: u64 = (1..64).map(|level| n >> level).sum();
    let kept = |s: &SqlStore<NativeDb>| -> u64 {
        s.db()
            .0
            .query_row("SELECT COUNT(*) FROM log_nodes", [], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    };
    // Every perfect subtree of two or more leaves is kept, once.
    assert_eq!(kept(&s), every_subtree);
    assert_eq!(s.node_cursor().unwrap(), n);
    let proofs_agree = |s: &SqlStore<NativeDb>, n: u64| {
        let leaves = &leaves[..n as usize];
        for i in [0, 1, 2, 7, 64, 1023, 1024, 2049, n / 2, n - 2, n - 1] {
            assert_eq!(
                carehub_store::checkpoint::inclusion_proof(s, i, n).unwrap(),
                merkle::inclusion_proof(i as usize, leaves),
                "leaf {i} of {n}"
            );
        }
        for m in [0, 1, 3, 8, 61, 1000, 2048, 4097, n - 1, n] {
            let m = m.min(n);
            assert_eq!(
                carehub_store::checkpoint::consistency_proof(s, m, n).unwrap(),
                merkle::consistency_proof(m as usize, leaves),
                "{m} to {n}"
            );
        }
        assert_eq!(
            carehub_store::checkpoint::inclusion_proof(s, n, n).unwrap(),
            None
        );
    };
    proofs_agree(&s, n);
    proofs_agree(&s, n - 3);
    // A log whose leaves were made before subtrees were kept: the proofs
    // are the same (hashed from the leaves meanwhile), and the next run
    // keeps the older subtrees too.
    s.db()
        .0
        .execute_batch("DELETE FROM log_nodes; UPDATE log_node_cursor SET next_leaf = 0")
        .unwrap();
    proofs_agree(&s, n);
    for _ in 0..3 {
        log_access(&s, &[entry(logged)]).unwrap();
        logged += 1;
    }
    let made = make_checkpoint(&s, &signer, "2025-11-25T10:00:00Z").unwrap();
    assert_eq!(made.new_leaves, 3);
    let n = logged as u64;
    assert_eq!(s.node_cursor().unwrap(), n);
    assert_eq!(kept(&s), (1..64).map(|level| n >> level).sum::<u64>());
    let leaves = s.leaf_hashes(n).unwrap();
    assert_eq!(
        carehub_store::checkpoint::inclusion_proof(&s, n - 1, n).unwrap(),
        merkle::inclusion_proof(n as usize - 1, &leaves)
    );
}
