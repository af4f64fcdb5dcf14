//! The mTLS edge: who gets in, and what a component is told about them.

use crate::helpers::{TestApp, client_with, header_values, plain, problem};
use carehub_domain::{DocumentKind, InsuredNumber, InsurerNumber, PersonRef};
use serde_json::json;

const INSURER: &str = "131016";
const PERSON: &str = "0000012345";

fn certificate_envelope() -> serde_json::Value {
    let person = PersonRef {
        insurer_number: InsurerNumber::parse(INSURER).unwrap(),
        insured_number: InsuredNumber::parse(PERSON).unwrap(),
    };
    json!({
        "person": {"insurer_number": INSURER, "insured_number": PERSON},
        "kind": "insurance_certificate",
        "content": carehub_domain::content::example_content(DocumentKind::InsuranceCertificate, &person),
    })
}

/// Documents the municipality can list for the test person.
fn stored_count(app: &TestApp) -> usize {
    let resp = app
        .client("municipality")
        .get(app.url(&format!("/api/read/persons/{INSURER}/{PERSON}/documents")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().unwrap();
    body["documents"].as_array().unwrap().len()
}

#[test]
fn the_municipality_certificate_gets_in() {
    let app = TestApp::spawn();
    let resp = app
        .client("municipality")
        .post(app.url("/api/ingest/documents"))
        .json(&certificate_envelope())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    assert_eq!(stored_count(&app), 1);
}

#[test]
fn no_client_certificate_is_a_401_problem_and_nothing_is_stored() {
    let app = TestApp::spawn();
    let resp = app
        .anonymous()
        .post(app.url("/api/ingest/documents"))
        .json(&certificate_envelope())
        .send()
        .unwrap();
    problem(resp, 401, "client-certificate-required");
    assert_eq!(stored_count(&app), 0);
}

#[test]
fn a_certificate_from_another_ca_fails_the_handshake_and_nothing_is_stored() {
    let app = TestApp::spawn();
    let rogue = carehub::devpki::Authority::generate("rogue CA").unwrap();
    let (cert, key) = rogue.client("urn:carehub:municipality:131016").unwrap();
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    let client = client_with(&app.pki.ca_cert(), Some(identity), None);
    let err = client
        .post(app.url("/api/ingest/documents"))
        .json(&certificate_envelope())
        .send()
        .expect_err("a certificate from another CA must not get through");
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    assert_eq!(stored_count(&app), 0);
}

#[test]
fn tls_1_2_is_refused() {
    let app = TestApp::spawn();
    let mut pem = std::fs::read(app.pki.client_cert("municipality")).unwrap();
    pem.extend(std::fs::read(app.pki.client_key("municipality")).unwrap());
    let identity = reqwest::Identity::from_pem(&pem).unwrap();
    let client = client_with(
        &app.pki.ca_cert(),
        Some(identity),
        Some(reqwest::tls::Version::TLS_1_2),
    );
    let err = client
        .post(app.url("/api/ingest/documents"))
        .json(&certificate_envelope())
        .send()
        .expect_err("TLS 1.2 must be refused");
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    assert_eq!(stored_count(&app), 0);
}

#[test]
fn a_certificate_naming_no_carehub_principal_is_a_403_problem() {
    let app = TestApp::spawn();
    let ca = carehub::devpki::Authority::load(
        &std::fs::read_to_string(app.pki.ca_cert()).unwrap(),
        &std::fs::read_to_string(app.pki.ca_key()).unwrap(),
    )
    .unwrap();
    for urn in [
        "urn:example:someone",
        "urn:carehub:municipality:999999",
        "urn:carehub:mayor:131016",
    ] {
        let (cert, key) = ca.client(urn).unwrap();
        let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
        let resp = client_with(&app.pki.ca_cert(), Some(identity), None)
            .post(app.url("/api/ingest/documents"))
            .json(&certificate_envelope())
            .send()
            .unwrap();
        problem(resp, 403, "unknown-principal");
    }
    assert_eq!(stored_count(&app), 0);
}

#[test]
fn forged_identity_headers_are_dropped_and_the_certificate_decides() {
    let app = TestApp::spawn();
    // A care-service office claims to be the municipality in every way a
    // header could, including an assertion signed with a guessed key.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": "carehub-edge", "aud": "carehub-components",
                "sub": "urn:carehub:municipality:131016",
                "iat": 0, "exp": 4_000_000_000u64, "jti": "x"}),
        &jsonwebtoken::EncodingKey::from_secret(b"guessed-guessed-guessed-guessed-key"),
    )
    .unwrap();
    let resp = app
        .client("care-service")
        .post(app.url("/api/ingest/documents"))
        .header("carehub-assertion", &forged)
        .header("carehub-principal", "urn:carehub:municipality:131016")
        .header("x-carehub-role", "municipality")
        .header(
            "x-forwarded-client-cert",
            "Subject=\"urn:carehub:municipality:131016\"",
        )
        .header("ssl-client-cert", "-----BEGIN CERTIFICATE-----")
        .json(&certificate_envelope())
        .send()
        .unwrap();
    problem(resp, 403, "kind-not-authored-by-role");
    assert_eq!(stored_count(&app), 0);

    // What the component sees: one assertion, for the real principal.
    let resp = app
        .client("care-service")
        .get(app.url("/probe/headers"))
        .header("carehub-assertion", &forged)
        .header("x-carehub-role", "municipality")
        .header("spin-path-info", "/forged")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers: Vec<(String, String)> = resp.json().unwrap();
    let get = |name: &str| header_values(&headers, name);
    assert!(get("x-carehub-role").is_empty());
    assert_eq!(get("spin-path-info"), vec!["/headers"]);
    let assertion = get("carehub-assertion");
    assert_eq!(assertion.len(), 1);
    assert_ne!(assertion[0], forged);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["carehub-components"]);
    validation.set_issuer(&["carehub-edge"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        assertion[0],
        &jsonwebtoken::DecodingKey::from_secret(app.assertion_key().as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "urn:carehub:care-service:1311234568");
    let exp = claims["exp"].as_u64().unwrap();
    let iat = claims["iat"].as_u64().unwrap();
    assert!(exp - iat <= 60, "assertions are short-lived");
}

#[test]
fn a_component_reached_without_the_edge_refuses_the_call() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        no_edge: true,
        ..Default::default()
    });
    assert!(app.base.starts_with("http://"));
    let client = plain();
    let url = app.url("/api/ingest/documents");

    // No assertion at all.
    let resp = client
        .post(&url)
        .json(&certificate_envelope())
        .send()
        .unwrap();
    problem(resp, 401, "assertion-missing");

    // An assertion signed with another key.
    let sign = |key: &[u8], claims: serde_json::Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .unwrap()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let good_claims = |iat: u64, exp: u64| {
        json!({"iss": "carehub-edge", "aud": "carehub-components",
               "sub": "urn:carehub:municipality:131016", "iat": iat, "exp": exp, "jti": "t"})
    };
    let forged = sign(
        b"not-the-key-not-the-key-not-the-key!",
        good_claims(now, now + 60),
    );
    let resp = client
        .post(&url)
        .header("carehub-assertion", forged)
        .json(&certificate_envelope())
        .send()
        .unwrap();
    problem(resp, 401, "assertion-invalid");

    // The right key but expired.
    let key = app.assertion_key();
    let expired = sign(key.as_bytes(), good_claims(now - 600, now - 300));
    let resp = client
        .post(&url)
        .header("carehub-assertion", expired)
        .json(&certificate_envelope())
        .send()
        .unwrap();
    problem(resp, 401, "assertion-invalid");

    // The right key, wrong audience.
    let mut claims = good_claims(now, now + 60);
    claims["aud"] = json!("someone-else");
    let resp = client
        .post(&url)
        .header("carehub-assertion", sign(key.as_bytes(), claims))
        .json(&certificate_envelope())
        .send()
        .unwrap();
    problem(resp, 401, "assertion-invalid");

    // Nothing was stored by any of these: the read component refuses too,
    // so look at the database directly.
    let n = app.db().query_i64("SELECT COUNT(*) FROM document_versions");
    assert_eq!(n, 0);

    // And a valid assertion made with the right key does get through: the
    // refusals above were about the assertion, nothing else.
    let valid = sign(key.as_bytes(), good_claims(now, now + 60));
    let resp = client
        .post(&url)
        .header("carehub-assertion", valid)
        .json(&certificate_envelope())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
}

#[test]
fn the_gateway_serves_health_and_openapi_without_a_certificate() {
    let app = TestApp::spawn();
    let resp = app.anonymous().get(app.url("/healthz")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .anonymous()
        .get(app.url("/openapi.json"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: serde_json::Value = resp.json().unwrap();
    assert_eq!(doc["openapi"].as_str().unwrap().get(..3), Some("3.1"));
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .any(|p| p.starts_with("/api/ingest/"))
    );
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .any(|p| p.starts_with("/api/read/"))
    );
}

#[test]
fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::spawn();
    let resp = app
        .client("municipality")
        .get(app.url("/nowhere"))
        .send()
        .unwrap();
    problem(resp, 404, "not-found");
}

/// The `person_token` claim of the assertion the probe was handed.
fn asserted_person_token(app: &TestApp, role: &str, bearer: Option<&str>) -> serde_json::Value {
    let mut req = app.client(role).get(app.url("/probe/headers"));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    assert_eq!(resp.status(), 200);
    let headers: Vec<(String, String)> = resp.json().unwrap();
    let assertion = headers
        .iter()
        .find(|(k, _)| k == "carehub-assertion")
        .map(|(_, v)| v.clone())
        .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["carehub-components"]);
    validation.set_issuer(&["carehub-edge"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &assertion,
        &jsonwebtoken::DecodingKey::from_secret(app.assertion_key().as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    claims["person_token"].clone()
}

#[test]
fn the_edge_verifies_person_tokens_and_keeps_every_refusal() {
    let app = TestApp::spawn();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |iss: &str, iat: u64, exp: u64| carehub::devpki::PersonClaims {
        iss: iss.into(),
        aud: "carehub".into(),
        sub: "portal-user".into(),
        insurer_number: INSURER.into(),
        insured_number: PERSON.into(),
        actor: "proxy".into(),
        iat,
        exp,
    };
    let good = app.person_token_with(claims("carehub-dev-idp", now, now + 600));
    let expired = app.person_token_with(claims("carehub-dev-idp", now - 1200, now - 600));
    let wrong_issuer = app.person_token_with(claims("another-idp", now, now + 600));
    let rogue_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let forged =
        carehub::devpki::person_token(&rogue_key, &claims("carehub-dev-idp", now, now + 600))
            .unwrap();

    // What the component is told: the verdict, inside the signed assertion
    // (twice for the good token: the second answer comes from the cache).
    for _ in 0..2 {
        let v = asserted_person_token(&app, "portal", Some(&good));
        assert_eq!(v["status"], "verified");
        assert_eq!(v["insured_number"], PERSON);
        assert_eq!(v["actor"], "proxy");
    }
    assert_eq!(
        asserted_person_token(&app, "portal", None)["status"],
        "missing"
    );
    for bad in [&expired, &wrong_issuer, &forged] {
        assert_eq!(
            asserted_person_token(&app, "portal", Some(bad))["status"],
            "invalid"
        );
    }
    // Not a portal certificate: the edge says nothing about the token.
    assert!(asserted_person_token(&app, "municipality", Some(&good)).is_null());

    // And the components answer as they did when they verified it themselves.
    let list = app.url(&format!("/api/read/persons/{INSURER}/{PERSON}/documents"));
    let resp = app
        .client("portal")
        .get(&list)
        .bearer_auth(&good)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    for bad in [&expired, &wrong_issuer, &forged] {
        let resp = app
            .client("portal")
            .get(&list)
            .bearer_auth(bad)
            .send()
            .unwrap();
        problem(resp, 401, "person-token-invalid");
    }
    let resp = app
        .client("portal")
        .get(&list)
        .header("authorization", format!("Bearer {good}"))
        .header("authorization", format!("Bearer {good}"))
        .send()
        .unwrap();
    problem(resp, 401, "person-token-invalid");
    let resp = app.client("portal").get(&list).send().unwrap();
    problem(resp, 401, "person-token-missing");
    // A person token without the portal's certificate opens nothing.
    let resp = app
        .anonymous()
        .get(&list)
        .bearer_auth(&good)
        .send()
        .unwrap();
    problem(resp, 401, "client-certificate-required");
}

#[test]
fn without_the_edge_a_component_verifies_the_person_token_itself() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        no_edge: true,
        ..Default::default()
    });
    let client = plain();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |claims: serde_json::Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(app.assertion_key().as_bytes()),
        )
        .unwrap()
    };
    let portal = json!({"iss": "carehub-edge", "aud": "carehub-components",
        "sub": "urn:carehub:portal:mynaportal-dev", "iat": now, "exp": now + 60, "jti": "t"});
    let list = app.url(&format!("/api/read/persons/{INSURER}/{PERSON}/documents"));
    // An assertion without a verdict (another edge): the token is checked here.
    let good = app.person_token(INSURER, PERSON, "person");
    let resp = client
        .get(&list)
        .header("carehub-assertion", sign(portal.clone()))
        .bearer_auth(&good)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client
        .get(&list)
        .header("carehub-assertion", sign(portal.clone()))
        .send()
        .unwrap();
    problem(resp, 401, "person-token-missing");
    let other_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let mut c = portal.clone();
    c["jti"] = json!("u");
    let forged = carehub::devpki::person_token(
        &other_key,
        &carehub::devpki::PersonClaims {
            iss: "carehub-dev-idp".into(),
            aud: "carehub".into(),
            sub: "x".into(),
            insurer_number: INSURER.into(),
            insured_number: PERSON.into(),
            actor: "person".into(),
            iat: now,
            exp: now + 600,
        },
    )
    .unwrap();
    let resp = client
        .get(&list)
        .header("carehub-assertion", sign(c))
        .bearer_auth(&forged)
        .send()
        .unwrap();
    problem(resp, 401, "person-token-invalid");
    // A verdict is believed only inside an assertion signed with the key.
    let mut lying = portal.clone();
    lying["person_token"] = json!({"status": "verified", "sub": "x",
        "insurer_number": INSURER, "insured_number": PERSON, "actor": "person"});
    let resp = client
        .get(&list)
        .header(
            "carehub-assertion",
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &lying,
                &jsonwebtoken::EncodingKey::from_secret(b"not-the-key-not-the-key-not-the-key!"),
            )
            .unwrap(),
        )
        .send()
        .unwrap();
    problem(resp, 401, "assertion-invalid");
}
