//! The screens (`functions/web`, route `/web/...`) over mTLS: the
//! browser-safety headers, CSRF, the refusal page, and — in a real browser —
//! issue 14's "Done when" scenario (`tests/browser/scenario.mjs`: Debian's
//! Chromium driven by playwright-core with the dev client certificates,
//! axe-core on every screen, screenshots in `target/browser-artifacts/`).

use crate::care::{INSURER, consent_at_renewal, content, ingest, register};
use crate::helpers::{TestApp, workspace};
use crate::progress::{apply_for_renewal, step};
use carehub_domain::DocumentKind;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const PERSON: &str = "0000012345";
const MISSING_PERSON: &str = "0000099999";
const UNREGISTERED_OFFICE: &str = "urn:carehub:care-manager:1379999999";

/// The `csrf` field of the first form on a page.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no csrf field in {html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn get(app: &TestApp, client: &Client, path: &str) -> Response {
    client.get(app.url(path)).send().unwrap()
}

fn no_redirects(app: &TestApp, role: &str) -> Client {
    let mut pem = std::fs::read(app.pki.client_cert(role)).unwrap();
    pem.extend(std::fs::read(app.pki.client_key(role)).unwrap());
    let ca = reqwest::Certificate::from_pem(&std::fs::read(app.pki.ca_cert()).unwrap()).unwrap();
    Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn problem_type(resp: &Response) -> String {
    resp.headers()
        .get("carehub-problem-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn web_pages_carry_the_browser_safety_headers_and_errors_are_pages() {
    let app = TestApp::spawn();
    let cm = app.client("care-manager");
    let resp = get(&app, &cm, "/web/office/");
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let html = resp.text().unwrap();
    assert!(html.contains("<html lang=\"ja\">"), "{html}");
    assert!(html.contains("居宅介護支援事業所 1371234567"));
    assert!(!html.contains("<script>"), "no inline script");

    // The assets are the hub's own.
    let css = get(&app, &cm, "/web/static/app.css");
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(get(&app, &cm, "/web/static/app.js").status(), 200);

    // An unknown screen, a wrong role, no certificate: a page with the
    // stable problem type, never a trace.
    let resp = get(&app, &cm, "/web/nothing-here");
    assert_eq!(resp.status(), 404);
    assert_eq!(problem_type(&resp), "urn:carehub:problem:not-found");
    assert!(
        resp.text()
            .unwrap()
            .contains("urn:carehub:problem:not-found")
    );
    let resp = get(&app, &cm, "/web/municipality/inbox");
    assert_eq!(resp.status(), 403);
    assert_eq!(problem_type(&resp), "urn:carehub:problem:role-not-allowed");
    let resp = get(&app, &app.client("portal"), "/web/office/");
    assert_eq!(resp.status(), 403);
    let resp = app.anonymous().get(app.url("/web/office/")).send().unwrap();
    assert_eq!(resp.status(), 401);

    // The portal without a person cookie goes to the login form; a forged
    // cookie is refused as the API refuses a forged token.
    let portal = no_redirects(&app, "portal");
    let resp = get(&app, &portal, "/web/person/");
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/web/person/login");
    let resp = portal
        .get(app.url("/web/person/"))
        .header(
            "cookie",
            "__Host-carehub-person=eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
        )
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        problem_type(&resp),
        "urn:carehub:problem:person-token-invalid"
    );
}

#[test]
fn web_every_form_post_needs_the_token_and_the_hubs_own_origin() {
    let app = TestApp::spawn();
    consent_at_renewal(&app, PERSON);
    let cm = no_redirects(&app, "care-manager");
    let form_page = get(&app, &cm, "/web/office/register").text().unwrap();
    let token = csrf_of(&form_page);
    let fields = |csrf: Option<&str>| {
        let mut f = vec![
            ("insurer_number", INSURER.to_owned()),
            ("insured_number", PERSON.to_owned()),
            ("verification_method", "my_number_card".to_owned()),
            ("verification_reference", "照合番号 0042".to_owned()),
            ("start", "2025-04-01".to_owned()),
        ];
        if let Some(c) = csrf {
            f.push(("csrf", c.to_owned()));
        }
        f
    };
    let post = |client: &Client, origin: Option<&str>, site: Option<&str>, csrf: Option<&str>| {
        let mut r = client
            .post(app.url("/web/office/register"))
            .form(&fields(csrf));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(s) = site {
            r = r.header("sec-fetch-site", s);
        }
        r.send().unwrap()
    };
    let registrations = || {
        app.db()
            .query_i64("SELECT COUNT(*) FROM office_registrations")
    };
    let refused = |resp: Response, why: &str| {
        assert_eq!(resp.status(), 403, "{why}");
        assert_eq!(
            problem_type(&resp),
            "urn:carehub:problem:cross-site-request",
            "{why}"
        );
        assert!(
            resp.text()
                .unwrap()
                .contains("urn:carehub:problem:cross-site-request")
        );
    };
    refused(post(&cm, None, None, None), "no token");
    refused(post(&cm, None, None, Some("1.00")), "a forged token");
    refused(
        post(
            &cm,
            Some("https://evil.example"),
            Some("cross-site"),
            Some(&token),
        ),
        "another site's form, even with a stolen token",
    );
    refused(
        post(&cm, None, Some("same-site"), Some(&token)),
        "a sibling site",
    );
    // Another office's token does not work for this one.
    let medical_token = csrf_of(
        &get(&app, &no_redirects(&app, "medical"), "/web/office/register")
            .text()
            .unwrap(),
    );
    refused(
        post(&cm, None, None, Some(&medical_token)),
        "another principal's token",
    );
    assert_eq!(registrations(), 0, "nothing was written");

    let resp = post(&cm, Some(&app.base), Some("same-origin"), Some(&token));
    assert_eq!(resp.status(), 303, "{}", resp.text().unwrap());
    assert_eq!(
        resp.headers()["location"],
        format!("/web/office/persons/{INSURER}/{PERSON}").as_str()
    );
    assert_eq!(registrations(), 1);
}

#[test]
fn web_an_unregistered_office_gets_one_refusal_page_for_any_person() {
    let app = TestApp::spawn();
    let muni = app.client("municipality");
    ingest(
        &app,
        &muni,
        DocumentKind::InsuranceCertificate,
        PERSON,
        None,
        content(DocumentKind::InsuranceCertificate, PERSON, json!({})),
    );
    consent_at_renewal(&app, PERSON);
    let other = crate::care::client_for(&app, UNREGISTERED_OFFICE);
    let page = |insured: &str| {
        let resp = get(
            &app,
            &other,
            &format!("/web/office/persons/{INSURER}/{insured}"),
        );
        let status = resp.status().as_u16();
        let t = problem_type(&resp);
        (status, t, resp.text().unwrap())
    };
    let existing = page(PERSON);
    let missing = page(MISSING_PERSON);
    assert_eq!(existing.0, 403);
    assert_eq!(existing.1, "urn:carehub:problem:forbidden");
    assert_eq!(existing, missing, "the same page for both");
    assert!(!existing.2.contains("介護保険被保険者証"));
}

/// Writes a client certificate for `urn` from the app's dev CA; returns
/// (cert, key) paths.
fn cert_files(app: &TestApp, urn: &str, name: &str) -> (PathBuf, PathBuf) {
    let ca = carehub::devpki::Authority::load(
        &std::fs::read_to_string(app.pki.ca_cert()).unwrap(),
        &std::fs::read_to_string(app.pki.ca_key()).unwrap(),
    )
    .unwrap();
    let (cert, key) = ca.client(urn).unwrap();
    let dir = app.state.path().join("browser-certs");
    std::fs::create_dir_all(&dir).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

fn browser_dir() -> PathBuf {
    workspace().join("tests/browser")
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        workspace().join(target)
    };
    target.join("browser-artifacts")
}

fn require(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{} is missing: {what} (infra/test.sh installs it)",
        path.display()
    );
}

#[test]
fn web_the_scenario_in_a_real_browser() {
    let chromium = std::env::var("CAREHUB_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    require(
        Path::new(&chromium),
        "Debian's chromium (apt-get install chromium)",
    );
    require(
        &browser_dir().join("node_modules/playwright-core"),
        "the browser tests' npm packages (npm ci in tests/browser)",
    );
    let app = TestApp::spawn();
    let muni = app.client("municipality");

    // The municipality's data: certificates, the certification documents
    // (the opinion in two versions), the application document the care
    // manager may not read, and a renewal application advanced to the
    // committee.
    for kind in [
        DocumentKind::InsuranceCertificate,
        DocumentKind::BurdenRatioCertificate,
    ] {
        ingest(
            &app,
            &muni,
            kind,
            PERSON,
            None,
            content(kind, PERSON, json!({})),
        );
    }
    let burden_ratio = app
        .db()
        .query_i64("SELECT COUNT(*) FROM documents WHERE kind = 'burden_ratio_certificate'");
    assert_eq!(burden_ratio, 1);
    let key = Some("2025-10-renewal");
    ingest(
        &app,
        &muni,
        DocumentKind::CertificationApplication,
        PERSON,
        key,
        content(DocumentKind::CertificationApplication, PERSON, json!({})),
    );
    ingest(
        &app,
        &muni,
        DocumentKind::CertificationSurvey,
        PERSON,
        key,
        content(DocumentKind::CertificationSurvey, PERSON, json!({})),
    );
    for remarks in ["転倒に注意。", "転倒に注意。夜間の見守りを強化。"] {
        ingest(
            &app,
            &muni,
            DocumentKind::PhysicianOpinion,
            PERSON,
            key,
            content(
                DocumentKind::PhysicianOpinion,
                PERSON,
                json!({"consent_to_care_planning": true, "remarks": remarks}),
            ),
        );
    }
    consent_at_renewal(&app, PERSON);
    // A LIFE feedback sheet from the care-service office registered for the person.
    let cs = app.client("care-service");
    register(&app, &cs, PERSON);
    ingest(
        &app,
        &cs,
        DocumentKind::LifeFeedback,
        PERSON,
        Some("2025-03"),
        content(
            DocumentKind::LifeFeedback,
            PERSON,
            json!({"office_number": "1311234568"}),
        ),
    );
    let application = apply_for_renewal(&app, &muni);
    for s in [
        json!({"step": "survey_scheduled", "survey_date": "2026-02-10"}),
        json!({"step": "opinion_requested", "requested_from": "urn:carehub:medical:1312345678"}),
        json!({"step": "survey_done", "survey_date": "2026-02-10"}),
        json!({"step": "opinion_received"}),
        json!({"step": "primary_judgment", "estimated_care_level": "23"}),
        json!({"step": "committee_scheduled", "committee_date": "2026-03-18"}),
    ] {
        let resp = step(&app, &muni, &application, s.clone());
        assert_eq!(resp.status(), 200, "{s}: {}", resp.text().unwrap());
    }
    let burden_id: String = {
        let resp = muni
            .get(app.url(&format!(
                "/api/read/persons/{INSURER}/{PERSON}/documents?kind=burden_ratio_certificate"
            )))
            .send()
            .unwrap();
        resp.json::<Value>().unwrap()["documents"][0]["document_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    let (other_cert, other_key) = cert_files(&app, UNREGISTERED_OFFICE, "unregistered");
    // The care manager's browser holds the PKCS#12 `carehub dev p12` writes
    // (what the README tells an office to import).
    let p12 = app.state.path().join("care-manager.p12");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carehub"))
        .args([
            "dev",
            "p12",
            "care-manager",
            "--password",
            "import-me",
            "--out",
        ])
        .arg(&p12)
        .arg("--state-dir")
        .arg(app.state.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store =
        p12_keystore::KeyStore::from_pkcs12(&std::fs::read(&p12).unwrap(), "import-me").unwrap();
    let (_, chain) = store.private_key_chain().expect("a key and its chain");
    assert!(!chain.chain()[0].subject().is_empty());
    assert!(p12_keystore::KeyStore::from_pkcs12(&std::fs::read(&p12).unwrap(), "wrong").is_err());
    let token = app.person_token(INSURER, PERSON, "person");
    let out = artifacts();
    std::fs::create_dir_all(&out).unwrap();
    let cert = |role: &str| app.pki.client_cert(role).display().to_string();
    let key = |role: &str| app.pki.client_key(role).display().to_string();
    let status = std::process::Command::new("node")
        .arg(browser_dir().join("scenario.mjs"))
        .current_dir(browser_dir())
        .env("CAREHUB_URL", &app.base)
        .env("CAREHUB_CHROMIUM", &chromium)
        .env("CAREHUB_ARTIFACTS", &out)
        .env("CAREHUB_INSURER", INSURER)
        .env("CAREHUB_PERSON", PERSON)
        .env("CAREHUB_MISSING_PERSON", MISSING_PERSON)
        .env("CAREHUB_APPLICATION", &application)
        .env("CAREHUB_BURDEN_RATIO_ID", &burden_id)
        .env("CAREHUB_PERSON_TOKEN", &token)
        .env("CAREHUB_CA", app.pki.ca_cert())
        .env("CAREHUB_PFX_CARE_MANAGER", &p12)
        .env("CAREHUB_PFX_PASSWORD", "import-me")
        .env("CAREHUB_CERT_MUNICIPALITY", cert("municipality"))
        .env("CAREHUB_KEY_MUNICIPALITY", key("municipality"))
        .env("CAREHUB_CERT_MEDICAL", cert("medical"))
        .env("CAREHUB_KEY_MEDICAL", key("medical"))
        .env("CAREHUB_CERT_PORTAL", cert("portal"))
        .env("CAREHUB_KEY_PORTAL", key("portal"))
        .env("CAREHUB_CERT_UNREGISTERED", &other_cert)
        .env("CAREHUB_KEY_UNREGISTERED", &other_key)
        .status()
        .expect("running node (infra/test.sh installs it)");
    assert!(
        status.success(),
        "tests/browser/scenario.mjs failed: {status}"
    );

    // What the browser did is in the store, as the API tells it: the
    // 届出 acknowledged, consent withdrawn, and the care manager's reads —
    // and the refused one after the withdrawal — in the person's log.
    let log = crate::care::accesses(&app, PERSON);
    let cm = "urn:carehub:care-manager:1371234567";
    let of = |outcome: &str| {
        log.iter()
            .filter(|a| a["principal"] == cm && a["outcome"] == outcome)
            .count()
    };
    assert!(of("allowed") >= 3, "{log:#?}");
    assert!(of("denied") >= 1, "{log:#?}");
    assert!(
        log.iter()
            .all(|a| a["principal"] != "urn:carehub:medical:1312345678"
                || a["kind"] != "burden_ratio_certificate"
                || a["outcome"] == "denied"),
        "the medical institution never read the burden-ratio certificate: {log:#?}"
    );
    let consent: Value = muni
        .get(app.url(&format!("/api/consent/persons/{INSURER}/{PERSON}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(consent["state"], "withdrawn");
}
