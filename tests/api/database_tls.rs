//! PostgreSQL over verified TLS: the gateway connects only with
//! `sslmode=verify-full` against a CA bundle it was given (`sslrootcert`
//! in the connection string, or the `database_ca` variable), and says
//! clearly why it will not start otherwise.
//!
//! The tests that talk to a server need the TLS-only throwaway server of
//! `infra/test.sh` (`CAREHUB_TEST_DATABASE_URL` with
//! `sslmode=verify-full&sslrootcert=…`); they are `#[ignore]`d on the
//! SQLite pass and always run in the PostgreSQL pass (`--include-ignored`).
//! The policy's refusals happen before any connection, so they run on both.

use crate::helpers::{Options, PG_ENV, TestApp, TestDb};

/// Runs `carehub up` with `env` (removing `unset`), expecting it to fail at
/// start; returns its standard error.
fn start_fails(env: &[(&str, &str)], unset: &[&str]) -> String {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_carehub"));
    cmd.arg("up")
        .arg("--manifest")
        .arg(crate::helpers::workspace().join("spin.toml"))
        .arg("--state-dir")
        .arg(state.path())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env("SPIN_VARIABLE_STORE_BACKEND", "postgres")
        .env("CAREHUB_LOG", "warn")
        .env_remove("CAREHUB_PG_ALLOW_UNVERIFIED")
        .env_remove("SPIN_VARIABLE_DATABASE_CA")
        .env_remove("PGSSLROOTCERT")
        .env_remove("PGSSLMODE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in unset {
        cmd.env_remove(k);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the gateway started: {stderr}");
    stderr
}

/// The suite's server (`CAREHUB_TEST_DATABASE_URL`), which must be the
/// TLS-only one with a CA file.
fn server() -> String {
    let url = std::env::var(PG_ENV).unwrap_or_default();
    assert!(
        url.contains("sslmode=verify-full") && url.contains("sslrootcert="),
        "this test needs {PG_ENV} naming a TLS-only server with sslmode=verify-full&sslrootcert=<CA file> (infra/test.sh starts one); got {url:?}"
    );
    url
}

/// `url` with its query replaced by `query` (empty: none).
fn with_query(url: &str, query: &str) -> String {
    let base = url.split_once('?').map_or(url, |(b, _)| b);
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

/// The CA file `url` names.
fn root_cert(url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .find_map(|p| p.strip_prefix("sslrootcert="))
        .expect("sslrootcert in the URL")
        .to_owned()
}

/// `host:port` of `url`.
fn host(url: &str) -> String {
    use std::str::FromStr as _;
    let o = sqlx::postgres::PgConnectOptions::from_str(url).unwrap();
    format!("{}:{}", o.get_host(), o.get_port())
}

/// Any sslmode but verify-full is refused before a connection is tried,
/// naming the mode, what to use instead and the development flag; and
/// verify-full without a CA bundle is refused too.
#[test]
fn unverified_connections_are_refused_at_start_without_the_development_flag() {
    for (query, expected) in [
        ("sslmode=require", "sslmode=require"),
        ("sslmode=prefer", "sslmode=prefer"),
        ("sslmode=disable", "sslmode=disable"),
        ("", "sslmode=prefer"),
        ("sslmode=verify-ca", "not its host name"),
    ] {
        let url = with_query("postgres://carehub@127.0.0.1:9/carehub", query);
        let stderr = start_fails(
            &[
                ("SPIN_VARIABLE_DATABASE_URL", &url),
                ("SPIN_VARIABLE_DATABASE_HOST", "127.0.0.1:9"),
            ],
            &[],
        );
        assert!(stderr.contains(expected), "{query}: {stderr}");
        assert!(
            stderr.contains("sslmode=verify-full")
                && stderr.contains("CAREHUB_PG_ALLOW_UNVERIFIED=1"),
            "{query}: {stderr}"
        );
        // Refused by the policy, not by a failed connection.
        assert!(!stderr.contains("connecting to PostgreSQL"), "{stderr}");
    }
    let stderr = start_fails(
        &[
            (
                "SPIN_VARIABLE_DATABASE_URL",
                "postgres://carehub@127.0.0.1:9/carehub?sslmode=verify-full",
            ),
            ("SPIN_VARIABLE_DATABASE_HOST", "127.0.0.1:9"),
        ],
        &[],
    );
    assert!(
        stderr.contains("no CA bundle") && stderr.contains("database_ca"),
        "{stderr}"
    );
    // A database_ca that is no certificate is refused as such.
    let stderr = start_fails(
        &[
            (
                "SPIN_VARIABLE_DATABASE_URL",
                "postgres://carehub@127.0.0.1:9/carehub?sslmode=verify-full",
            ),
            ("SPIN_VARIABLE_DATABASE_HOST", "127.0.0.1:9"),
            ("SPIN_VARIABLE_DATABASE_CA", "not a certificate"),
        ],
        &[],
    );
    assert!(stderr.contains("is not a PEM CA bundle"), "{stderr}");
}

/// A server whose certificate comes from another CA than the one given is
/// refused at start, whether the CA is the URL's file or `database_ca`.
#[test]
#[ignore = "needs the TLS-only PostgreSQL (CAREHUB_TEST_DATABASE_URL); infra/test.sh runs it in its PostgreSQL pass"]
fn a_server_certificate_from_another_ca_is_refused_at_start() {
    let url = server();
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other-ca.pem");
    let pem = carehub::devpki::Authority::generate("not the database's CA")
        .unwrap()
        .cert_pem;
    std::fs::write(&other_ca, &pem).unwrap();
    let wrong_file = with_query(
        &url,
        &format!("sslmode=verify-full&sslrootcert={}", other_ca.display()),
    );
    let host = host(&url);
    for (database_url, database_ca) in [
        (wrong_file, None),
        (with_query(&url, "sslmode=verify-full"), Some(pem.as_str())),
    ] {
        let mut env = vec![
            ("SPIN_VARIABLE_DATABASE_URL", database_url.as_str()),
            ("SPIN_VARIABLE_DATABASE_HOST", host.as_str()),
        ];
        if let Some(ca) = database_ca {
            env.push(("SPIN_VARIABLE_DATABASE_CA", ca));
        }
        let stderr = start_fails(&env, &[]);
        assert!(
            stderr.contains(&format!("connecting to PostgreSQL at {host}"))
                && stderr
                    .contains("sslmode=verify-full: its certificate must chain to the CA bundle"),
            "{stderr}"
        );
        assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    }
}

/// `sslmode=disable`, allowed for development, against the TLS-only
/// server: the server refuses the unencrypted connection, and the gateway
/// says so and that nothing was verified.
#[test]
#[ignore = "needs the TLS-only PostgreSQL (CAREHUB_TEST_DATABASE_URL); infra/test.sh runs it in its PostgreSQL pass"]
fn sslmode_disable_against_the_tls_only_server_fails_clearly() {
    let url = server();
    let host = host(&url);
    let plain = with_query(&url, "sslmode=disable");
    let stderr = start_fails(
        &[
            ("SPIN_VARIABLE_DATABASE_URL", &plain),
            ("SPIN_VARIABLE_DATABASE_HOST", &host),
            ("CAREHUB_PG_ALLOW_UNVERIFIED", "1"),
        ],
        &[],
    );
    assert!(
        stderr.contains("sslmode=disable: the server is not verified"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("connecting to PostgreSQL at {host}"))
            && stderr.contains("no encryption"),
        "{stderr}"
    );
}

/// The CA bundle can come from the `database_ca` variable instead of a
/// file: the gateway migrates with it and the components' connections
/// (the `fermyon:spin/postgres` host) verify with it too.
#[test]
#[ignore = "needs the TLS-only PostgreSQL (CAREHUB_TEST_DATABASE_URL); infra/test.sh runs it in its PostgreSQL pass"]
fn the_ca_bundle_from_database_ca_serves_the_components() {
    let url = server();
    let first = TestApp::spawn();
    let TestDb::Postgres(db_url) = first.db().clone() else {
        panic!("the suite runs on SQLite");
    };
    let ca = std::fs::read_to_string(root_cert(&url)).unwrap();
    let without_file = with_query(&db_url, "sslmode=verify-full");
    let app = TestApp::spawn_with(Options {
        shared_database: Some(first.db().clone()),
        env: vec![
            ("SPIN_VARIABLE_DATABASE_URL".into(), without_file),
            ("SPIN_VARIABLE_DATABASE_CA".into(), ca),
        ],
        ..Options::default()
    });
    let before = first.db().query_i64("SELECT COUNT(*) FROM log_entries");
    let resp = app
        .client("municipality")
        .get(app.url("/api/read/persons/131016/0000012345/documents"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The read was logged: the component reached the database.
    let after = first.db().query_i64("SELECT COUNT(*) FROM log_entries");
    assert!(after > before, "{before} -> {after}");
}
