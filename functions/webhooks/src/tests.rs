//! The outbox, fan-out, claims and the subscription API against the real
//! schema on a native SQLite.

use carehub_domain::webhook::{OriginPattern, Secret, SubscriptionId};
use carehub_domain::{
    AttemptOutcome, ConsentEvent, ConsentMethod, DocumentId, DocumentKey, DocumentKind, Giver,
    IdempotencyKey, InsuredNumber, InsurerNumber, PersonRef, Principal, RegistrationId,
    VerificationMethod,
};
use carehub_guest::http::{Reply, RequestHead};
use carehub_store::native::NativeDb;
use carehub_store::sql::SqlStore;
use carehub_store::{
    AttemptRecord, ConsentStore, Deregistration, DocumentStore, MessageState, NewRegistration,
    NewVersion, OutboxStore, RegistrationStore, StoreError, claim_due, in_transaction,
    record_result,
};
use serde_json::{Value, json};

use crate::handler::{self, Config};

const NOW: &str = "2025-11-25T06:00:00.000000Z";
const T0: i64 = 1_764_050_400_000;
const MUNICIPALITY: &str = "urn:carehub:municipality:131016";
const OTHER: &str = "urn:carehub:municipality:271004";
const PORTAL: &str = "urn:carehub:portal:portal";
const CARE_MANAGER: &str = "urn:carehub:care-manager:1371234567";

type Store = SqlStore<NativeDb>;

fn store() -> Store {
    SqlStore::new(NativeDb::migrated())
}

fn p(urn: &str) -> Principal {
    Principal::parse_urn(urn).unwrap()
}

fn person(insurer: &str) -> PersonRef {
    PersonRef::new(
        InsurerNumber::parse(insurer).unwrap(),
        InsuredNumber::parse("0000012345").unwrap(),
    )
}

fn config() -> Config {
    Config {
        allowed_origin: OriginPattern::parse("http://127.0.0.1:9999"),
        backoff_base_ms: 1_000,
        lease_ms: 30_000,
        secret_key: carehub_domain::sealed::SealingKey::from_hex(&"5e".repeat(32)).unwrap(),
    }
}

/// A record's signing secrets at `now_ms`, opened.
fn opened(record: &carehub_store::SubscriptionRecord, now_ms: i64) -> Vec<String> {
    record
        .signing_secrets(now_ms)
        .into_iter()
        .map(|s| {
            assert!(carehub_domain::sealed::is_sealed(s), "stored plain: {s}");
            handler::open(&config().secret_key, handler::SECRET_PURPOSE, s).unwrap()
        })
        .collect()
}

/// A POST to `path` (after the prefix), with `key` as its Idempotency-Key.
fn post(path: &str, key: Option<&str>) -> (RequestHead, Option<IdempotencyKey>) {
    let headers = key
        .map(|k| ("idempotency-key".to_owned(), k.as_bytes().to_vec()))
        .into_iter();
    let head = RequestHead::new("POST", path, "", headers);
    let key = carehub_guest::idempotency::key(&head).unwrap();
    (head, key)
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body_bytes()).unwrap()
}

fn events(s: &Store) -> Vec<String> {
    let head = s.outbox_head().unwrap();
    s.events_between(
        Default::default(),
        head,
        &carehub_domain::EventType::ALL,
        None,
        1000,
    )
    .unwrap()
    .into_iter()
    .map(|e| e.event.event_type().as_str().to_owned())
    .collect()
}

fn version(insurer: &str, kind: DocumentKind, content: &str) -> NewVersion {
    let author = p(MUNICIPALITY);
    let key = DocumentKey::parse("current").unwrap();
    NewVersion {
        document_id: DocumentId::derive(&person(insurer), kind, &author, &key),
        person: person(insurer),
        kind,
        author,
        document_key: key,
        content: content.to_owned(),
        content_sha256: carehub_guest::body::sha256_hex(content.as_bytes()),
    }
}

fn given() -> ConsentEvent {
    ConsentEvent::Given {
        obtained_by: p(MUNICIPALITY),
        given_by: Giver::Person,
        method: ConsentMethod::PaperForm,
        explanation_given: true,
        application_ref: None,
        effective_at: "2025-01-01T00:00:00Z".into(),
    }
}

fn subscribe(s: &Store, owner: &str, seed: u8) -> String {
    let (head, _) = post("/subscriptions", None);
    let reply = handler::create(
        s,
        &p(owner),
        &head,
        None,
        br#"{"url":"http://127.0.0.1:9999/hook"}"#,
        &config(),
        &Secret::from_bytes(&[seed; 32]).unwrap(),
        SubscriptionId::from_random([seed; 16]),
        NOW,
    );
    assert_eq!(reply.status, 201, "{}", json_of(&reply));
    json_of(&reply)["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_change_and_its_event_commit_or_roll_back_together() {
    let s = store();
    // Rolled back: neither the consent event nor its outbox row remain.
    let failed: Result<(), StoreError> = in_transaction(&s, &[], |s| {
        s.append_consent(&person("131016"), &given(), &p(MUNICIPALITY), NOW)?;
        Err(StoreError::Corrupt(
            "the handler failed after the write".into(),
        ))
    });
    assert!(failed.is_err());
    assert!(events(&s).is_empty());
    assert!(s.consent_history(&person("131016")).unwrap().is_empty());
    // Committed: both.
    in_transaction(&s, &[], |s| {
        s.append_consent(&person("131016"), &given(), &p(MUNICIPALITY), NOW)
    })
    .unwrap();
    assert_eq!(events(&s), ["consent.changed"]);
}

#[test]
fn every_kind_of_write_appends_its_event() {
    let s = store();
    in_transaction(&s, &[], |s| {
        // A bulk of two new documents, then a superseding version and an
        // unchanged one (no event).
        s.write_versions(
            &[
                version("131016", DocumentKind::InsuranceCertificate, "{\"a\":1}"),
                version("131016", DocumentKind::CarePlan, "{\"a\":1}"),
            ],
            NOW,
        )?;
        s.write_versions(
            &[
                version("131016", DocumentKind::InsuranceCertificate, "{\"a\":2}"),
                version("131016", DocumentKind::CarePlan, "{\"a\":1}"),
            ],
            NOW,
        )?;
        let reg = s.add_registration(
            &NewRegistration {
                registration_id: RegistrationId::derive(&p(CARE_MANAGER), &person("131016"), NOW),
                office: p(CARE_MANAGER),
                person: person("131016"),
                verification_method: VerificationMethod::MyNumberCard,
                verification_reference: "card-1".into(),
                start: "2025-01-01T00:00:00Z".into(),
                end: None,
            },
            NOW,
        )?;
        s.deregister(
            reg.seq,
            &Deregistration {
                at: NOW.into(),
                by: p(CARE_MANAGER),
                reason: "contract ended".into(),
            },
        )
    })
    .unwrap();
    assert_eq!(
        events(&s),
        [
            "document.stored",
            "document.stored",
            "document.stored",
            "registration.changed",
            "registration.changed"
        ]
    );
    let head = s.outbox_head().unwrap();
    let all = s
        .events_between(
            Default::default(),
            head,
            &carehub_domain::EventType::ALL,
            None,
            100,
        )
        .unwrap();
    assert_eq!(
        serde_json::to_value(&all[2].event.facts).unwrap()["supersedes"],
        1
    );
    assert_eq!(
        serde_json::to_value(&all[4].event.facts).unwrap()["change"],
        "deregistered"
    );
}

#[test]
fn fan_out_gives_each_receiver_only_what_it_may_read() {
    let s = store();
    let portal = subscribe(&s, PORTAL, 1);
    let own = subscribe(&s, MUNICIPALITY, 2);
    let other = subscribe(&s, OTHER, 3);
    in_transaction(&s, &[], |s| {
        s.write_versions(
            &[
                version("131016", DocumentKind::CertificationSurvey, "{}"),
                version("131016", DocumentKind::InsuranceCertificate, "{}"),
                version("131016", DocumentKind::CarePlan, "{}"),
            ],
            NOW,
        )
    })
    .unwrap();
    handler::prepare_dispatch(&s, &config(), T0, NOW).unwrap();
    let kinds = |owner: &str, id: &str| -> Vec<String> {
        let reply = handler::messages(&s, &p(owner), id, "");
        assert_eq!(reply.status, 200);
        let mut k: Vec<String> = json_of(&reply)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["payload"]["data"]["kind"].as_str().unwrap().to_owned())
            .collect();
        k.sort();
        k
    };
    // The person never sees the survey.
    assert_eq!(
        kinds(PORTAL, &portal),
        ["care_plan", "insurance_certificate"]
    );
    // The municipality reads the survey (its own) but a care plan only with
    // consent, which is not given.
    assert_eq!(
        kinds(MUNICIPALITY, &own),
        ["certification_survey", "insurance_certificate"]
    );
    // Another municipality hears nothing about a person it does not insure.
    assert!(kinds(OTHER, &other).is_empty());
}

#[test]
fn a_claim_is_exclusive_until_its_lease_expires() {
    let s = store();
    subscribe(&s, MUNICIPALITY, 2);
    in_transaction(&s, &[], |s| {
        s.append_consent(&person("131016"), &given(), &p(MUNICIPALITY), NOW)
    })
    .unwrap();
    let (created, first) = handler::prepare_dispatch(&s, &config(), T0, NOW).unwrap();
    assert_eq!((created, first.len()), (1, 1));
    // A concurrent run sees it claimed.
    let (_, second) = handler::prepare_dispatch(&s, &config(), T0 + 1, NOW).unwrap();
    assert!(second.is_empty());
    // After the lease (a run that died mid-delivery), it is claimed again.
    let third = claim_due(&s, T0 + 30_000, T0 + 60_000, 10).unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].message.message_id, first[0].message.message_id);
}

fn attempt(status: Option<u16>) -> AttemptRecord {
    AttemptRecord {
        attempted_at: NOW.into(),
        status,
        error: None,
        duration_ms: 3,
        outcome: carehub_domain::webhook::attempt_outcome(status),
    }
}

#[test]
fn failures_back_off_410_disables_and_success_delivers() {
    let s = store();
    let id = subscribe(&s, MUNICIPALITY, 2);
    in_transaction(&s, &[], |s| {
        s.append_consent(&person("131016"), &given(), &p(MUNICIPALITY), NOW)?;
        s.append_consent(&person("131016"), &given(), &p(MUNICIPALITY), NOW)
    })
    .unwrap();
    let (_, claimed) = handler::prepare_dispatch(&s, &config(), T0, NOW).unwrap();
    assert_eq!(claimed.len(), 2);
    // A 500: retried after the base delay (1 s), not before.
    record_result(&s, &claimed[0], &attempt(Some(500)), T0, 1_000, 0.0).unwrap();
    // A 2xx: delivered.
    record_result(&s, &claimed[1], &attempt(Some(204)), T0, 1_000, 0.0).unwrap();
    assert!(claim_due(&s, T0 + 999, T0 + 5_000, 10).unwrap().is_empty());
    let again = claim_due(&s, T0 + 1_000, T0 + 5_000, 10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message.failures, 1);
    // A 410: the subscription is disabled, nothing more is claimed.
    record_result(&s, &again[0], &attempt(Some(410)), T0 + 1_000, 1_000, 0.0).unwrap();
    assert!(
        claim_due(&s, T0 + 1_000_000, T0 + 2_000_000, 10)
            .unwrap()
            .is_empty()
    );
    let shown = json_of(&handler::show(&s, &p(MUNICIPALITY), &id));
    assert_eq!(shown["enabled"], false);
    assert_eq!(shown["disabled_reason"], "gone");
    // The attempts are visible.
    let msg = &claimed[0].message.message_id;
    let detail = json_of(&handler::message(&s, &p(MUNICIPALITY), &id, msg));
    let outcomes: Vec<&str> = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["failed", "gone"]);
    assert_eq!(detail["attempt_count"], 2);
    // Re-enabled, it is due again.
    let (head, _) = post(&format!("/subscriptions/{id}/enable"), None);
    assert_eq!(
        handler::enable(&s, &p(MUNICIPALITY), &head, None, &id, NOW).status,
        200
    );
    assert_eq!(
        claim_due(&s, T0 + 1_000_000, T0 + 2_000_000, 10)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_message_fails_when_the_schedule_is_exhausted_and_redelivery_revives_it() {
    let s = store();
    let id = subscribe(&s, MUNICIPALITY, 2);
    in_transaction(&s, &[], |s| {
        s.append_consent(&person("131016"), &given(), &p(MUNICIPALITY), NOW)
    })
    .unwrap();
    let (_, mut claimed) = handler::prepare_dispatch(&s, &config(), T0, NOW).unwrap();
    let mut now = T0;
    for _ in 0..carehub_domain::webhook::MAX_ATTEMPTS {
        let d = claimed.pop().expect("due again");
        record_result(&s, &d, &attempt(None), now, 1, 0.0).unwrap();
        now += 100_000;
        claimed = claim_due(&s, now, now + 10, 10).unwrap();
    }
    assert!(claimed.is_empty());
    let msg_id = {
        let list = json_of(&handler::messages(&s, &p(MUNICIPALITY), &id, ""));
        assert_eq!(list["items"][0]["state"], "failed");
        list["items"][0]["message_id"].as_str().unwrap().to_owned()
    };
    // Someone else may not redeliver it; the owner may.
    let (head, key) = post(
        &format!("/subscriptions/{id}/messages/{msg_id}/redeliver"),
        Some("redeliver-1"),
    );
    assert_eq!(
        handler::redeliver(&s, &p(OTHER), &head, None, &id, &msg_id, now, NOW).status,
        403
    );
    let redeliver = || {
        handler::redeliver(
            &s,
            &p(MUNICIPALITY),
            &head,
            key.as_ref(),
            &id,
            &msg_id,
            now,
            NOW,
        )
    };
    let reply = redeliver();
    assert_eq!(reply.status, 202);
    let again = claim_due(&s, now, now + 10, 10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message.message_id, msg_id);
    assert_eq!(again[0].message.state, MessageState::Pending);
    record_result(&s, &again[0], &attempt(Some(200)), now, 1, 0.0).unwrap();
    let m = s
        .message(again[0].message.subscription_seq, &msg_id)
        .unwrap()
        .unwrap();
    assert_eq!(m.state, MessageState::Delivered);
    assert_eq!(
        s.attempts(m.seq).unwrap().last().unwrap().outcome,
        AttemptOutcome::Delivered
    );
    // The same request with the same key is the stored 202 again: the
    // delivered message is not scheduled a second time.
    let replayed = redeliver();
    assert_eq!(replayed.status, 202);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.body, reply.body);
    assert!(claim_due(&s, now, now + 10, 10).unwrap().is_empty());
}

#[test]
fn idempotency_keys_replay_creates_and_rotations_with_their_secret() {
    let s = store();
    let hook = br#"{"url":"http://127.0.0.1:9999/hook"}"#;
    let problem = |r: &Reply| json_of(r)["type"].as_str().unwrap().to_owned();
    // Each call draws a fresh secret and id, as the component does.
    let create = |who: &str, key: &str, body: &[u8], seed: u8| {
        let (head, key) = post("/subscriptions", Some(key));
        handler::create(
            &s,
            &p(who),
            &head,
            key.as_ref(),
            body,
            &config(),
            &Secret::from_bytes(&[seed; 32]).unwrap(),
            SubscriptionId::from_random([seed; 16]),
            NOW,
        )
    };
    let count = |who: &str| {
        json_of(&handler::list(&s, &p(who)))["items"]
            .as_array()
            .unwrap()
            .len()
    };
    let first = create(MUNICIPALITY, "sub-1", hook, 1);
    assert_eq!(first.status, 201, "{}", json_of(&first));
    assert_eq!(first.header("idempotent-replayed"), None);
    // A lost answer, retried: the same subscription id and the same secret,
    // and no second subscription.
    let again = create(MUNICIPALITY, "sub-1", hook, 2);
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("location"), first.header("location"));
    let (a, b) = (json_of(&first), json_of(&again));
    assert_eq!(a["subscription_id"], b["subscription_id"]);
    assert_eq!(a["secret"], Secret::from_bytes(&[1; 32]).unwrap().expose());
    assert_eq!(b["secret"], a["secret"]);
    assert_eq!(count(MUNICIPALITY), 1);
    // The same key with another body is refused, and nothing is stored.
    let other_url = br#"{"url":"http://127.0.0.1:9999/other"}"#;
    let r = create(MUNICIPALITY, "sub-1", other_url, 3);
    assert_eq!(
        (r.status, problem(&r)),
        (409, "urn:carehub:problem:idempotency-key-reused".into())
    );
    assert_eq!(count(MUNICIPALITY), 1);
    // Another principal's same key is its own: a new subscription, its own
    // secret, not the first caller's answer.
    let theirs = create(OTHER, "sub-1", hook, 4);
    assert_eq!(theirs.status, 201);
    assert_eq!(theirs.header("idempotent-replayed"), None);
    assert_ne!(json_of(&theirs)["subscription_id"], a["subscription_id"]);
    assert_ne!(json_of(&theirs)["secret"], a["secret"]);
    assert_eq!((count(MUNICIPALITY), count(OTHER)), (1, 1));
    // A refused write records nothing: the key stays free.
    let r = create(MUNICIPALITY, "sub-2", br#"{"url":"ftp://x/"}"#, 5);
    assert_eq!(r.status, 422);
    assert!(
        s.find_idempotency(&p(MUNICIPALITY), &["sub-2"])
            .unwrap()
            .is_empty()
    );
    assert_eq!(create(MUNICIPALITY, "sub-2", other_url, 5).status, 201);

    // Rotation: a retry with the key answers the stored new secret and does
    // not rotate again (which would drop the old secret from signing).
    let id = a["subscription_id"].as_str().unwrap().to_owned();
    let path = format!("/subscriptions/{id}/rotate");
    let rotate = |who: &str, key: &str, seed: u8| {
        let (head, key) = post(&path, Some(key));
        let secret = Secret::from_bytes(&[seed; 32]).unwrap();
        handler::rotate(
            &s,
            &p(who),
            &head,
            key.as_ref(),
            &id,
            &config(),
            &secret,
            T0,
            NOW,
        )
    };
    let rotated = rotate(MUNICIPALITY, "rot-1", 10);
    assert_eq!(rotated.status, 200);
    let replayed = rotate(MUNICIPALITY, "rot-1", 11);
    assert_eq!(replayed.status, 200);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.body, rotated.body);
    let new = Secret::from_bytes(&[10; 32]).unwrap().expose();
    assert_eq!(json_of(&replayed)["secret"], new);
    let record = s
        .subscription(&SubscriptionId::parse(&id).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        opened(&record, T0 + 1),
        [new.as_str(), a["secret"].as_str().unwrap()]
    );
    // At rest, neither the subscription nor the stored answers hold a
    // secret in plain form.
    for stored in s
        .find_idempotency(&p(MUNICIPALITY), &["sub-1", "rot-1"])
        .unwrap()
    {
        assert!(
            carehub_domain::sealed::is_sealed(&stored.body),
            "{}",
            stored.body
        );
        assert!(!stored.body.contains("whsec_"));
    }
    // Another principal's same key does not replay the owner's secret.
    let r = rotate(OTHER, "rot-1", 12);
    assert_eq!(
        (r.status, problem(&r)),
        (403, "urn:carehub:problem:forbidden".into())
    );
    // The key on another route is another request: 409.
    let (head, key) = post(&format!("/subscriptions/{id}/enable"), Some("rot-1"));
    let r = handler::enable(&s, &p(MUNICIPALITY), &head, key.as_ref(), &id, NOW);
    assert_eq!(
        (r.status, problem(&r)),
        (409, "urn:carehub:problem:idempotency-key-reused".into())
    );
}

#[test]
fn the_subscription_api_refuses_what_it_must() {
    let s = store();
    let secret = Secret::from_bytes(&[9; 32]).unwrap();
    let create = |who: &str, body: &Value| {
        handler::create(
            &s,
            &p(who),
            &post("/subscriptions", None).0,
            None,
            &serde_json::to_vec(body).unwrap(),
            &config(),
            &secret,
            SubscriptionId::from_random([9; 16]),
            NOW,
        )
    };
    let problem = |r: &Reply| json_of(r)["type"].as_str().unwrap().to_owned();
    // Offices receive no webhooks.
    let r = create(CARE_MANAGER, &json!({"url": "http://127.0.0.1:9999/"}));
    assert_eq!(
        (r.status, problem(&r)),
        (403, "urn:carehub:problem:role-not-allowed".into())
    );
    // URLs outside the allowed origin, or not http(s) URLs at all.
    for url in [
        "http://127.0.0.1:9998/hook",
        "https://127.0.0.1:9999/hook",
        "http://evil.example/hook",
        "http://user:pw@127.0.0.1:9999/hook",
        "ftp://127.0.0.1:9999/",
        "/relative",
    ] {
        let r = create(MUNICIPALITY, &json!({ "url": url }));
        assert_eq!(
            (r.status, problem(&r)),
            (422, "urn:carehub:problem:webhook-url-not-allowed".into()),
            "{url}"
        );
    }
    // The portal may not hear of submissions; unknown types are 400.
    let r = create(
        PORTAL,
        &json!({"url": "http://127.0.0.1:9999/", "event_types": ["submission.state_changed"]}),
    );
    assert_eq!(r.status, 403);
    let r = create(
        PORTAL,
        &json!({"url": "http://127.0.0.1:9999/", "event_types": ["document.deleted"]}),
    );
    assert_eq!(r.status, 400);
    // A municipality's subscription is its own: another municipality, the
    // portal and a made-up id all get the same 403.
    let id = subscribe(&s, MUNICIPALITY, 4);
    for (who, sub) in [
        (OTHER, id.as_str()),
        (PORTAL, id.as_str()),
        (MUNICIPALITY, "ep_00000000000000000000000000000000"),
        (MUNICIPALITY, "nonsense"),
    ] {
        let r = handler::show(&s, &p(who), sub);
        assert_eq!(r.status, 403, "{who} {sub}");
        let head = post(&format!("/subscriptions/{sub}/rotate"), None).0;
        let r = handler::rotate(&s, &p(who), &head, None, sub, &config(), &secret, T0, NOW);
        assert_eq!(r.status, 403, "{who} {sub}");
    }
    assert_eq!(
        json_of(&handler::list(&s, &p(OTHER)))["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Only the scheduler runs the dispatcher.
    for who in [MUNICIPALITY, PORTAL, "urn:carehub:operator:admin"] {
        assert!(handler::authorize_dispatch(&p(who)).is_err(), "{who}");
    }
    assert!(handler::authorize_dispatch(&p(handler::SCHEDULER)).is_ok());
}

#[test]
fn rotation_keeps_the_old_secret_signing_for_the_overlap() {
    let s = store();
    let id = subscribe(&s, MUNICIPALITY, 5);
    let old = Secret::from_bytes(&[5; 32]).unwrap().expose();
    let new = Secret::from_bytes(&[6; 32]).unwrap();
    let head = post(&format!("/subscriptions/{id}/rotate"), None).0;
    let r = handler::rotate(
        &s,
        &p(MUNICIPALITY),
        &head,
        None,
        &id,
        &config(),
        &new,
        T0,
        NOW,
    );
    assert_eq!(r.status, 200);
    assert_eq!(json_of(&r)["secret"], new.expose());
    let record = s
        .subscription(&SubscriptionId::parse(&id).unwrap())
        .unwrap()
        .unwrap();
    let overlap = carehub_domain::webhook::ROTATION_OVERLAP_MS as i64;
    assert_eq!(opened(&record, T0 + 1), [new.expose(), old.clone()]);
    assert_eq!(opened(&record, T0 + overlap), [new.expose()]);
    // A dispatcher run signs with the opened secrets.
    in_transaction(&s, &[], |s| {
        s.append_consent(&person("131016"), &given(), &p(MUNICIPALITY), NOW)
    })
    .unwrap();
    let (_, claimed) = handler::prepare_dispatch(&s, &config(), T0 + 1, NOW).unwrap();
    assert_eq!(claimed[0].secrets, [new.expose(), old.clone()]);
    // Under another key the sealed secrets do not open: none signs.
    let mut other = config();
    other.secret_key = carehub_domain::sealed::SealingKey::from_hex(&"01".repeat(32)).unwrap();
    let (_, reclaimed) = handler::prepare_dispatch(&s, &other, T0 + 100_000, NOW).unwrap();
    assert!(reclaimed.iter().all(|d| d.secrets.is_empty()));
    // The secret is never shown again.
    assert!(
        json_of(&handler::show(&s, &p(MUNICIPALITY), &id))
            .get("secret")
            .is_none()
    );
}

fn count(s: &Store, table: &str) -> i64 {
    use carehub_store::Db as _;
    let rows = s
        .db()
        .execute(&format!("SELECT COUNT(*) FROM {table}"), Vec::new())
        .unwrap();
    match rows.rows[0][0] {
        carehub_store::Value::Integer(n) => n,
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn purge_deletes_expired_records_and_delivered_messages_and_keeps_history() {
    use std::time::{Duration, UNIX_EPOCH};
    let s = store();
    subscribe(&s, MUNICIPALITY, 2);
    in_transaction(&s, &[], |s| {
        s.append_consent(&person("131016"), &given(), &p(MUNICIPALITY), NOW)?;
        s.append_consent(&person("131016"), &given(), &p(MUNICIPALITY), NOW)
    })
    .unwrap();
    let (_, claimed) = handler::prepare_dispatch(&s, &config(), T0, NOW).unwrap();
    assert_eq!(claimed.len(), 2);
    record_result(&s, &claimed[0], &attempt(Some(204)), T0, 1_000, 0.0).unwrap();
    record_result(&s, &claimed[1], &attempt(Some(500)), T0, 1_000, 0.0).unwrap();
    // An idempotency record, stored at NOW.
    let (head, key) = post("/subscriptions", Some("purge-1"));
    let created = handler::create(
        &s,
        &p(PORTAL),
        &head,
        key.as_ref(),
        br#"{"url":"http://127.0.0.1:9999/other"}"#,
        &config(),
        &Secret::from_bytes(&[9; 32]).unwrap(),
        SubscriptionId::from_random([9; 16]),
        NOW,
    );
    assert_eq!(created.status, 201);
    assert_eq!(count(&s, "idempotency_records"), 1);

    let now = UNIX_EPOCH + Duration::from_millis(T0 as u64);
    let day = handler::Retention {
        idempotency_secs: 86_400,
        delivered_secs: 86_400,
    };
    // Within the retention: nothing goes.
    let kept = json_of(&handler::purge(&s, day, now + Duration::from_secs(3_600)));
    assert_eq!(
        kept,
        json!({"idempotency_records": 0, "webhook_messages": 0, "webhook_attempts": 0, "more": false})
    );
    // Two days on: the record and the delivered message with its attempt.
    let gone = json_of(&handler::purge(
        &s,
        day,
        now + Duration::from_secs(2 * 86_400),
    ));
    assert_eq!(
        gone,
        json!({"idempotency_records": 1, "webhook_messages": 1, "webhook_attempts": 1, "more": false})
    );
    assert_eq!(count(&s, "idempotency_records"), 0);
    // The retried message and its attempt stay, and all the history.
    assert_eq!(count(&s, "webhook_messages"), 1);
    assert_eq!(count(&s, "webhook_attempts"), 1);
    assert_eq!(count(&s, "webhook_events"), 2);
    assert_eq!(count(&s, "consent_events"), 2);
    assert_eq!(count(&s, "webhook_subscriptions"), 2);
    // And the attempt of a message not delivered cannot be deleted at all.
    use carehub_store::Db as _;
    let refused = s
        .db()
        .execute("DELETE FROM webhook_attempts", Vec::new())
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
}

#[test]
fn an_expired_idempotency_key_answers_as_new() {
    let s = store().with_idempotency_valid_from("2025-11-26T00:00:00.000000Z".into());
    let fresh = store();
    let body = br#"{"url":"http://127.0.0.1:9999/hook"}"#;
    let (head, key) = post("/subscriptions", Some("old-key"));
    let create = |s: &Store, seed: u8, now: &str| {
        handler::create(
            s,
            &p(PORTAL),
            &head,
            key.as_ref(),
            body,
            &config(),
            &Secret::from_bytes(&[seed; 32]).unwrap(),
            SubscriptionId::from_random([seed; 16]),
            now,
        )
    };
    // Without expiry a repeat replays.
    let first = create(&fresh, 1, NOW);
    let again = create(&fresh, 2, NOW);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    // With NOW before the store's valid-from, the stored record is expired:
    // a repeat is a new write, whose record replaces the old one.
    let old = create(&s, 1, NOW);
    assert_eq!(old.status, 201);
    let renewed = create(&s, 2, "2025-11-27T00:00:00.000000Z");
    assert_eq!(renewed.status, 201);
    assert_eq!(renewed.header("idempotent-replayed"), None);
    assert_ne!(renewed.body, old.body);
    assert_eq!(count(&s, "idempotency_records"), 1);
    let replayed = create(&s, 3, "2025-11-27T00:00:01.000000Z");
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.body, renewed.body);
}
