//! The gateway in proxy mode (`carehub up --proxy <file>`) in front of a
//! second gateway process that serves the components without an edge, as
//! SpinApps would on a cluster: the scenario passes through the split, and
//! the edge's refusals hold there too.

use crate::care::{Hub, INSURER, content};
use crate::helpers::{Options, TestApp, TestDb, header_values, problem, workspace};
use carehub_domain::DocumentKind;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PERSON: &str = "0000012345";

/// The proxy (`front`, the mTLS edge) and the components (`back`, plain
/// HTTP on loopback, no edge). They share the assertion key and the
/// person-token key, as the gateway Deployment and the SpinApps share the
/// `carehub-variables` Secret.
struct Split {
    front: TestApp,
    back: TestApp,
}

/// Component ids of the test manifest: spin.toml's, plus the probe.
fn component_ids() -> Vec<String> {
    let manifest = carehub::manifest::Manifest::load(&workspace().join("spin.toml")).unwrap();
    let mut ids: Vec<String> = manifest.components.keys().cloned().collect();
    ids.push("probe".into());
    ids
}

/// A loopback address nothing listens on.
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

impl Split {
    /// Starts the components, then the proxy with every component's upstream
    /// at the components' gateway, except those `elsewhere` sends elsewhere;
    /// `settings` go at the top of the proxy file, `front_args` to the proxy.
    fn start(settings: &str, elsewhere: &[(&str, String)], front_args: &[&str]) -> Split {
        let back = TestApp::spawn_with(Options {
            no_edge: true,
            // The components' own deadline stays longer than the proxy's, so
            // a slow answer is the proxy's 504, not the component's.
            args: vec!["--deadline-ms".into(), "20000".into()],
            ..Default::default()
        });
        assert!(back.base.starts_with("http://127.0.0.1:"), "{}", back.base);
        let mut file = format!("{settings}\n[upstreams]\n");
        for id in component_ids() {
            let url = elsewhere
                .iter()
                .find(|(e, _)| *e == id)
                .map(|(_, url)| url.clone())
                .unwrap_or_else(|| back.base.clone());
            file.push_str(&format!("{id:?} = {url:?}\n"));
        }
        let path = back.state.path().join("proxy.toml");
        std::fs::write(&path, file).unwrap();
        let idp_public = std::fs::read_to_string(back.pki.idp_public_key()).unwrap();
        let mut args = vec!["--proxy".to_owned(), path.display().to_string()];
        args.extend(front_args.iter().map(|a| (*a).to_owned()));
        let front = TestApp::spawn_with(Options {
            args,
            env: vec![
                ("SPIN_VARIABLE_ASSERTION_KEY".into(), back.assertion_key()),
                ("SPIN_VARIABLE_PERSON_TOKEN_PUBLIC_KEY".into(), idp_public),
            ],
            ..Default::default()
        });
        assert!(front.base.starts_with("https://"), "{}", front.base);
        assert!(
            front.stdout.iter().any(|l| l.contains("proxying")),
            "{:#?}",
            front.stdout
        );
        Split { front, back }
    }
}

impl Hub for Split {
    fn url(&self, path: &str) -> String {
        self.front.url(path)
    }
    fn client(&self, role: &str) -> Client {
        self.front.client(role)
    }
    fn person_token(&self, insurer: &str, insured: &str, actor: &str) -> String {
        self.back.person_token(insurer, insured, actor)
    }
    fn db(&self) -> TestDb {
        self.back.db().clone()
    }
    fn stop(&mut self) {
        self.back.terminate();
    }
    fn log_public_key(&self) -> std::path::PathBuf {
        self.back.pki.log_public_key()
    }
}

#[test]
fn the_scenario_passes_through_the_split() {
    let mut split = Split::start("", &[], &[]);
    crate::scenario::the_ministry_scenario(&mut split);
}

fn envelope(insured: &str) -> Value {
    json!({
        "person": {"insurer_number": INSURER, "insured_number": insured},
        "kind": "insurance_certificate",
        "content": content(DocumentKind::InsuranceCertificate, insured, json!({})),
    })
}

/// Documents stored, counted in the components' database.
fn stored(split: &Split) -> i64 {
    split
        .back
        .db()
        .query_i64("SELECT COUNT(*) FROM document_versions")
}

#[test]
fn the_proxy_edge_refuses_what_the_gateway_refuses() {
    let dead = dead_address();
    let split = Split::start(
        "response_timeout_ms = 3000",
        &[("relay", dead.clone())],
        &["--max-body-bytes", "16384"],
    );
    let front = &split.front;
    let url = front.url("/api/ingest/documents");

    // The gateway's own routes answer without a certificate.
    let resp = front.anonymous().get(front.url("/healthz")).send().unwrap();
    assert_eq!(resp.status(), 200);

    // No client certificate: 401, and nothing reaches the components.
    let resp = front
        .anonymous()
        .post(&url)
        .json(&envelope(PERSON))
        .send()
        .unwrap();
    problem(resp, 401, "client-certificate-required");
    assert_eq!(stored(&split), 0);

    // A route spin.toml does not have.
    let resp = front
        .client("municipality")
        .get(front.url("/nowhere"))
        .send()
        .unwrap();
    problem(resp, 404, "not-found");

    // Forged identity headers: a care-service office claims to be the
    // municipality. The certificate decides.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": "carehub-edge", "aud": "carehub-components",
                "sub": "urn:carehub:municipality:131016",
                "iat": 0, "exp": 4_000_000_000u64, "jti": "x"}),
        &jsonwebtoken::EncodingKey::from_secret(b"guessed-guessed-guessed-guessed-key"),
    )
    .unwrap();
    let office = front.client("care-service");
    let forge = |req: reqwest::blocking::RequestBuilder| {
        req.header("carehub-assertion", &forged)
            .header("carehub-principal", "urn:carehub:municipality:131016")
            .header("x-carehub-role", "municipality")
            .header(
                "x-forwarded-client-cert",
                "Subject=\"urn:carehub:municipality:131016\"",
            )
            .header("ssl-client-cert", "-----BEGIN CERTIFICATE-----")
            .header("x-forwarded-for", "10.9.9.9")
            .header("spin-path-info", "/forged")
    };
    let resp = forge(office.post(&url).json(&envelope(PERSON)))
        .send()
        .unwrap();
    problem(resp, 403, "kind-not-authored-by-role");
    assert_eq!(stored(&split), 0);

    // What the component sees through the proxy: one assertion, signed by
    // the edge for the certificate's principal; no client identity header;
    // path and query as sent.
    let resp = forge(office.get(front.url("/probe/headers?x=1&y=%E3%81%82")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers: Vec<(String, String)> = resp.json().unwrap();
    let get = |name: &str| header_values(&headers, name);
    for name in [
        "carehub-principal",
        "x-carehub-role",
        "x-forwarded-client-cert",
        "ssl-client-cert",
    ] {
        assert!(get(name).is_empty(), "{name} reached the component");
    }
    assert_eq!(get("spin-path-info"), vec!["/headers"]);
    assert_eq!(get("x-forwarded-for"), vec!["127.0.0.1"]);
    assert_eq!(get("x-forwarded-proto"), vec!["https"]);
    let full_url = get("spin-full-url");
    assert_eq!(full_url.len(), 1);
    assert!(
        full_url[0].ends_with("/probe/headers?x=1&y=%E3%81%82"),
        "{full_url:?}"
    );
    let assertion = get("carehub-assertion");
    assert_eq!(assertion.len(), 1);
    assert_ne!(assertion[0], forged);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["carehub-components"]);
    validation.set_issuer(&["carehub-edge"]);
    let claims = jsonwebtoken::decode::<Value>(
        assertion[0],
        &jsonwebtoken::DecodingKey::from_secret(split.back.assertion_key().as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "urn:carehub:care-service:1311234568");

    // An upstream that is down: 502, a problem, quickly.
    let started = Instant::now();
    let resp = front
        .client("municipality")
        .get(front.url(&format!("/api/relay/municipalities/{INSURER}/submissions")))
        .send()
        .unwrap();
    let body = problem(resp, 502, "upstream-unavailable");
    assert!(body["detail"].as_str().unwrap().contains("relay"), "{body}");
    assert!(
        !body.to_string().contains(&dead[7..]),
        "the problem must not reveal the upstream's address: {body}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // An upstream that does not answer in time: 504.
    let started = Instant::now();
    let resp = front
        .client("municipality")
        .get(front.url("/probe/loop"))
        .send()
        .unwrap();
    problem(resp, 504, "deadline-exceeded");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(15),
        "{waited:?}"
    );

    // Bodies over the proxy's limit: refused by the declared length, and
    // refused while streaming when no length is declared.
    let big = format!("{{\"padding\":\"{}\"}}", "x".repeat(20_000));
    let resp = front
        .client("municipality")
        .post(&url)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .unwrap();
    problem(resp, 413, "payload-too-large");
    let resp = front
        .client("municipality")
        .post(&url)
        .header("content-type", "application/json")
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(
            big.into_bytes(),
        )))
        .send()
        .unwrap();
    problem(resp, 413, "payload-too-large");
    assert_eq!(stored(&split), 0);

    // And a body within the limit goes through and is stored.
    let resp = front
        .client("municipality")
        .post(&url)
        .json(&envelope(PERSON))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    assert_eq!(stored(&split), 1);
}

/// Runs `carehub up --proxy <file>` on spin.toml and returns its stderr;
/// the start must fail.
fn refused_at_start(proxy_file: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.toml");
    std::fs::write(&path, proxy_file).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carehub"))
        .arg("up")
        .arg("--manifest")
        .arg(workspace().join("spin.toml"))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--state-dir")
        .arg(dir.path())
        .arg("--proxy")
        .arg(&path)
        .env_remove("RUST_BACKTRACE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the proxy started with {proxy_file}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_proxy_file_that_does_not_fit_spin_toml_is_refused_at_start() {
    let real: Vec<String> = component_ids()
        .into_iter()
        .filter(|id| id != "probe")
        .collect();
    let all = |extra: &str, skip: &str| {
        let mut f = String::from("[upstreams]\n");
        for id in real.iter().filter(|id| *id != skip) {
            f.push_str(&format!("{id:?} = \"http://127.0.0.1:9\"\n"));
        }
        f.push_str(extra);
        f
    };
    let err = refused_at_start(&all("", "read"));
    assert!(
        err.contains("no upstream for routed component(s): read (route /api/read/...)"),
        "{err}"
    );
    let err = refused_at_start(&all("reed = \"http://127.0.0.1:9\"\n", ""));
    assert!(
        err.contains("reed") && err.contains("does not define"),
        "{err}"
    );
    let err = refused_at_start(&all("", "").replace("http://127.0.0.1:9", "ftp://x"));
    assert!(err.contains("must start with http:// or https://"), "{err}");
}

#[test]
fn a_revoked_certificate_is_refused_at_the_proxy_edge_without_a_restart() {
    use crate::revocation::{attempt, dev, eventually};
    let split = Split::start("", &[], &["--tls-reload-interval-ms", "200"]);
    let url = split.url(&format!("/api/read/persons/{INSURER}/{PERSON}/documents"));
    assert_eq!(attempt(&split.client("municipality"), &url), Ok(200));
    dev(split.front.state.path(), &["revoke", "municipality"]);
    eventually("the proxy refuses the revoked certificate", || {
        attempt(&split.client("municipality"), &url).is_err()
    });
    dev(split.front.state.path(), &["issue", "municipality"]);
    assert_eq!(attempt(&split.client("municipality"), &url), Ok(200));
}
