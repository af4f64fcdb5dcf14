//! Certificate revocation and rotation at the edge: CRLs checked at the
//! handshake and reloaded without a restart (polled, or on SIGHUP), fresh
//! certificates for a revoked office, expired certificates refused, and the
//! server certificate and CA bundle replaced while serving.

use crate::helpers::{Options, TestApp, client_with, workspace};
use carehub::devpki::{Authority, DevPaths};
use reqwest::blocking::Client;
use std::path::Path;
use std::time::{Duration, Instant};

const DOCUMENTS: &str = "/api/read/persons/131016/0000012345/documents";

/// How a fresh connection with `client` fares: `Ok(status)` when a request
/// got an answer, `Err` when the connection (the handshake) was refused.
pub(crate) fn attempt(client: &Client, url: &str) -> Result<u16, String> {
    match client.get(url).send() {
        Ok(resp) => Ok(resp.status().as_u16()),
        Err(e) if e.is_connect() || e.is_request() => Err(format!("{e:?}")),
        Err(e) => panic!("neither an answer nor a refused connection: {e:?}"),
    }
}

/// Waits (bounded) until `check` holds for a fresh client.
pub(crate) fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "not within 20 s: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `carehub dev <args…> --state-dir <state>`; its standard output.
pub(crate) fn dev(state: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carehub"))
        .arg("dev")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "carehub dev {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dev_ca(pki: &DevPaths) -> Authority {
    Authority::load(
        &std::fs::read_to_string(pki.ca_cert()).unwrap(),
        &std::fs::read_to_string(pki.ca_key()).unwrap(),
    )
    .unwrap()
}

fn client_of(ca: &Path, cert: &str, key: &str) -> Client {
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    client_with(ca, Some(identity), None)
}

fn reload_every_200ms() -> Options {
    Options {
        args: vec!["--tls-reload-interval-ms".into(), "200".into()],
        ..Default::default()
    }
}

#[test]
fn a_revoked_certificate_is_refused_and_a_fresh_one_works_without_a_restart() {
    let app = TestApp::spawn_with(reload_every_200ms());
    let url = app.url(DOCUMENTS);
    assert_eq!(attempt(&app.client("municipality"), &url), Ok(200));
    // The old certificate, kept as the office would have it.
    let old_cert = std::fs::read_to_string(app.pki.client_cert("municipality")).unwrap();
    let old_key = std::fs::read_to_string(app.pki.client_key("municipality")).unwrap();
    let old = || client_of(&app.pki.ca_cert(), &old_cert, &old_key);

    let out = dev(app.state.path(), &["revoke", "municipality"]);
    assert!(out.contains("revoked: "), "{out}");
    eventually("the revoked certificate is refused", || {
        attempt(&old(), &url).is_err()
    });
    // Another office is not affected (it gets its answer: a refusal).
    assert_eq!(attempt(&app.client("care-manager"), &url), Ok(403));

    // A CRL file broken mid-write: the gateway keeps the one it has.
    let crl = std::fs::read(app.pki.crl()).unwrap();
    std::fs::write(app.pki.crl(), b"-----BEGIN X509 CRL-----\ngarbage\n").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(attempt(&old(), &url).is_err(), "a broken CRL let it in");
    assert_eq!(attempt(&app.client("care-manager"), &url), Ok(403));
    std::fs::write(app.pki.crl(), crl).unwrap();

    // A fresh certificate for the same office works at once: its serial is
    // not on the list, and nothing restarted.
    let out = dev(app.state.path(), &["issue", "municipality"]);
    assert!(out.contains("municipality.pem"), "{out}");
    let fresh = std::fs::read_to_string(app.pki.client_cert("municipality")).unwrap();
    assert_ne!(fresh, old_cert);
    assert_eq!(attempt(&app.client("municipality"), &url), Ok(200));
    assert!(attempt(&old(), &url).is_err());
    // And revoking it again revokes both.
    dev(app.state.path(), &["revoke", "municipality"]);
    eventually("the second certificate is refused too", || {
        attempt(&app.client("municipality"), &url).is_err()
    });
    assert!(attempt(&old(), &url).is_err());
}

#[test]
fn without_polling_a_sighup_reloads_the_crl() {
    let app = TestApp::spawn_with(Options {
        args: vec!["--tls-reload-interval-ms".into(), "0".into()],
        ..Default::default()
    });
    let url = app.url(DOCUMENTS);
    dev(app.state.path(), &["revoke", "care-manager"]);
    // Not polled: the CRL on disk is not yet the one in use.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(attempt(&app.client("care-manager"), &url), Ok(403));
    let pid = nix::unistd::Pid::from_raw(app.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    eventually("the revoked certificate is refused after SIGHUP", || {
        attempt(&app.client("care-manager"), &url).is_err()
    });
    assert_eq!(attempt(&app.client("municipality"), &url), Ok(200));
}

#[test]
fn an_expired_or_not_yet_valid_certificate_is_refused_at_the_handshake() {
    let app = TestApp::spawn();
    let url = app.url(DOCUMENTS);
    let ca = dev_ca(&app.pki);
    let now = time::OffsetDateTime::now_utc();
    let urn = "urn:carehub:municipality:131016";
    let day = time::Duration::days(1);
    for (what, validity) in [
        ("expired yesterday", (now - day * 30, now - day)),
        ("valid from tomorrow", (now + day, now + day * 30)),
    ] {
        let (cert, key) = ca.client_valid(urn, Some(validity)).unwrap();
        let refused = attempt(&client_of(&app.pki.ca_cert(), &cert, &key), &url);
        assert!(refused.is_err(), "{what}: {refused:?}");
    }
    // The same principal with a current certificate gets in.
    let (cert, key) = ca.client_valid(urn, Some((now - day, now + day))).unwrap();
    assert_eq!(
        attempt(&client_of(&app.pki.ca_cert(), &cert, &key), &url),
        Ok(200)
    );
}

#[test]
fn tls_crl_takes_der_and_pem_files_and_a_bad_one_stops_the_start() {
    let state = tempfile::tempdir().unwrap();
    let pki = DevPaths::new(state.path());
    carehub::devpki::ensure(&pki).unwrap();
    let ca = dev_ca(&pki);
    // A DER CRL naming the care manager's certificate, given with --tls-crl.
    let pem = std::fs::read(pki.client_cert("care-manager")).unwrap();
    let cert = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .unwrap()
        .unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).unwrap();
    let pem = ca
        .crl(
            &[(
                parsed.raw_serial().to_vec(),
                time::OffsetDateTime::now_utc(),
            )],
            1,
        )
        .unwrap();
    let der = rustls_pemfile::crls(&mut pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let der_path = state.path().join("office.crl");
    std::fs::write(&der_path, der.as_ref()).unwrap();

    let bad = state.path().join("bad.crl");
    std::fs::write(&bad, b"not a CRL").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carehub"))
        .arg("up")
        .arg("--manifest")
        .arg(workspace().join("spin.toml"))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--state-dir")
        .arg(state.path())
        .arg("--tls-crl")
        .arg(&bad)
        .env_remove("RUST_BACKTRACE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "started with a bad CRL");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.crl"), "{stderr}");

    let app = TestApp::spawn_in(
        state,
        Options {
            args: vec!["--tls-crl".into(), der_path.display().to_string()],
            ..Default::default()
        },
    );
    let url = app.url(DOCUMENTS);
    assert!(attempt(&app.client("care-manager"), &url).is_err());
    assert_eq!(attempt(&app.client("municipality"), &url), Ok(200));
}

#[test]
fn the_server_certificate_and_ca_bundle_are_replaced_without_a_restart() {
    let app = TestApp::spawn_with(reload_every_200ms());
    let url = app.url(DOCUMENTS);
    let old_ca = app.state.path().join("old-ca.pem");
    std::fs::copy(app.pki.ca_cert(), &old_ca).unwrap();
    // Nobody trusts a new CA yet: a client of it is refused.
    let next = Authority::generate("carehub development CA, next").unwrap();
    let (cert, key) = next.client("urn:carehub:municipality:131016").unwrap();
    let next_ca = app.state.path().join("next-ca.pem");
    std::fs::write(&next_ca, &next.cert_pem).unwrap();
    assert!(attempt(&client_of(&old_ca, &cert, &key), &url).is_err());

    // The operator rolls the CA and the server certificate: the key first,
    // then the certificate (a key that does not match yet is not used).
    let (server_cert, server_key) = next.server(&["localhost", "127.0.0.1"]).unwrap();
    std::fs::write(app.pki.server_key(), server_key).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // The old certificate still serves, with the old key.
    assert_eq!(attempt(&app.client("municipality"), &url), Ok(200));
    std::fs::write(app.pki.server_cert(), server_cert).unwrap();
    std::fs::write(app.pki.ca_cert(), &next.cert_pem).unwrap();
    let ca_crl = next.crl(&[], 1).unwrap();
    std::fs::write(app.pki.crl(), ca_crl).unwrap();
    eventually("a client of the new CA gets in", || {
        attempt(&client_of(&next_ca, &cert, &key), &url) == Ok(200)
    });
    // A client still trusting the old CA no longer recognises the server,
    // and a certificate of the old CA is no longer accepted.
    let old_cert = std::fs::read_to_string(app.pki.client_cert("municipality")).unwrap();
    let old_key = std::fs::read_to_string(app.pki.client_key("municipality")).unwrap();
    assert!(attempt(&client_of(&old_ca, &old_cert, &old_key), &url).is_err());
    assert!(attempt(&client_of(&next_ca, &old_cert, &old_key), &url).is_err());
}
