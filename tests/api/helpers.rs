//! Starts the real gateway binary with the real components (plus the test
//! probe component) on port 0, with its own state directory and database,
//! and gives tests mTLS clients holding the generated certificates.
//!
//! The database is SQLite (a file in the state directory) unless
//! `CAREHUB_TEST_DATABASE_URL` names a PostgreSQL server
//! (`postgres://user@host:port/postgres`): then each `TestApp` creates a
//! fresh database of its own there, runs the gateway with
//! `store_backend = "postgres"` on it, and drops it when the `TestApp` is
//! dropped. Tests reach the database through [`TestDb`], whichever it is.

#![allow(dead_code)]

use carehub::devpki::{DevPaths, PersonClaims};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// Where cargo put the wasm components.
pub fn wasm_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        workspace().join(target)
    };
    target.join("wasm32-wasip2/release")
}

fn wasm(name: &str) -> PathBuf {
    let p = wasm_dir().join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: build the components first (infra/test.sh does: cargo build --target wasm32-wasip2 --release -p carehub-ingest -p carehub-read -p carehub-consent -p carehub-office-register -p carehub-probe)",
        p.display()
    );
    p
}

/// Options for one gateway under test.
#[derive(Default, Clone)]
pub struct Options {
    /// Extra command-line arguments for `carehub up`.
    pub args: Vec<String>,
    /// `allowed_outbound_hosts` of the probe component.
    pub probe_outbound: Vec<String>,
    /// Serve without the edge (plain HTTP).
    pub no_edge: bool,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Use this database instead of a fresh one (another app's
    /// [`TestApp::db`]: two gateways on one database). Never dropped by
    /// this app.
    pub shared_database: Option<TestDb>,
    /// Write the gateway's stderr to `stderr.log` in the state directory
    /// ([`TestApp::stderr`]) instead of the test's own.
    pub capture_stderr: bool,
}

/// The environment variable naming the PostgreSQL server the suite runs
/// against (`postgres://user[:password]@host:port/postgres`); unset: SQLite.
pub const PG_ENV: &str = "CAREHUB_TEST_DATABASE_URL";

/// The database a gateway under test writes.
#[derive(Clone, Debug)]
pub enum TestDb {
    /// The SQLite file of the default database.
    Sqlite(PathBuf),
    /// A PostgreSQL database: its connection string.
    Postgres(String),
}

impl TestDb {
    /// Which backend, for messages.
    pub fn backend(&self) -> &'static str {
        match self {
            TestDb::Sqlite(_) => "sqlite",
            TestDb::Postgres(_) => "postgres",
        }
    }

    /// Runs a query returning one integer (e.g. `SELECT COUNT(*) FROM t`).
    /// Plain SQL both dialects read the same way; no parameters.
    pub fn query_i64(&self, sql: &str) -> i64 {
        match self {
            TestDb::Sqlite(path) => sqlite_with_log(path)
                .query_row(sql, [], |r| r.get(0))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            TestDb::Postgres(url) => pg_block(url, |mut conn| async move {
                sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut conn).await
            })
            .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Runs statements (no parameters); the database's error text on failure.
    pub fn execute(&self, sql: &str) -> Result<u64, String> {
        match self {
            TestDb::Sqlite(path) => sqlite_with_log(path)
                .execute(sql, [])
                .map(|n| n as u64)
                .map_err(|e| e.to_string()),
            TestDb::Postgres(url) => pg_block(url, |mut conn| async move {
                sqlx::raw_sql(sql)
                    .execute(&mut conn)
                    .await
                    .map(|r| r.rows_affected())
            })
            .map_err(|e| e.to_string()),
        }
    }

    /// The arguments of `carehub verify-log` that name this database.
    pub fn verify_log_args(&self) -> Vec<std::ffi::OsString> {
        match self {
            TestDb::Sqlite(path) => vec!["--database".into(), path.into()],
            TestDb::Postgres(url) => vec!["--database-url".into(), url.into()],
        }
    }
}

/// A connection to the SQLite database at `path` with the access log's own
/// file beside it (`accesslog.db`, when there is one) attached, so that
/// statements naming the log's tables reach them wherever they live.
fn sqlite_with_log(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    let log = path.with_file_name("accesslog.db");
    if log != path && log.exists() {
        conn.execute("ATTACH DATABASE ?1 AS accesslog", [log.to_string_lossy()])
            .unwrap();
    }
    conn
}

/// Runs `f` on a fresh connection to `url`, on a runtime of its own.
fn pg_block<T, F>(url: &str, f: impl FnOnce(sqlx::PgConnection) -> F) -> Result<T, sqlx::Error>
where
    F: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    use sqlx::Connection as _;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = sqlx::PgConnection::connect(url).await?;
        f(conn).await
    })
}

/// `url` with its database replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(i) => &base[..host_start + i],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// The databases of killed apps, by state directory, until `spawn_in`
/// restarts on that state.
type Killed = std::collections::HashMap<PathBuf, (TestDb, Option<CreatedDatabase>)>;
static KILLED: std::sync::LazyLock<std::sync::Mutex<Killed>> =
    std::sync::LazyLock::new(Default::default);

/// A PostgreSQL database created for one `TestApp`, dropped with it.
struct CreatedDatabase {
    admin_url: String,
    name: String,
}

impl CreatedDatabase {
    /// Creates `carehub_test_<random>` on the server `admin_url` names.
    fn create(admin_url: &str) -> (CreatedDatabase, String) {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let name = format!("carehub_test_{}", hex::encode(bytes));
        pg_block(admin_url, |mut conn| {
            let sql = format!("CREATE DATABASE \"{name}\"");
            async move { sqlx::raw_sql(&sql).execute(&mut conn).await }
        })
        .unwrap_or_else(|e| panic!("creating a test database on {PG_ENV}: {e}"));
        let url = with_database(admin_url, &name);
        (
            CreatedDatabase {
                admin_url: admin_url.to_owned(),
                name,
            },
            url,
        )
    }
}

impl Drop for CreatedDatabase {
    fn drop(&mut self) {
        // Best effort: a leftover database is only disk space on a
        // throwaway server.
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let _ = pg_block(&self.admin_url, |mut conn| async move {
            sqlx::raw_sql(&sql).execute(&mut conn).await
        });
    }
}

/// A running gateway.
pub struct TestApp {
    child: Child,
    /// `https://127.0.0.1:PORT` (or http without the edge).
    pub base: String,
    /// The port.
    pub port: u16,
    /// The state directory (dev PKI, databases).
    pub state: tempfile::TempDir,
    /// Dev PKI paths.
    pub pki: DevPaths,
    /// Time from process start to the ready line.
    pub ready_after: Duration,
    /// Lines the gateway printed on stdout until it was ready.
    pub stdout: Vec<String>,
    /// Every line the gateway printed on stdout so far (the request log
    /// among them), kept as they come.
    output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    db: TestDb,
    created: Option<CreatedDatabase>,
}

/// Writes the test manifest: the real spin.toml, with absolute component
/// paths, plus the probe component on `/probe/...`.
fn test_manifest(dir: &Path, opts: &Options) -> PathBuf {
    let real = std::fs::read_to_string(workspace().join("spin.toml")).unwrap();
    let mut text = String::new();
    for line in real.lines() {
        if let Some(rest) = line.strip_prefix("source = \"target/wasm32-wasip2/release/") {
            let file = rest.trim_end_matches('"');
            let name = file.trim_end_matches(".wasm");
            text.push_str(&format!(
                "source = {:?}\n",
                wasm(name).display().to_string()
            ));
        } else if line.starts_with("command = ") {
            // Tests never build: infra/test.sh built everything before.
            text.push_str("command = \"true\"\n");
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    let outbound = opts
        .probe_outbound
        .iter()
        .map(|h| format!("{h:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    text.push_str(&format!(
        r#"
[[trigger.http]]
route = "/probe/..."
component = "probe"

[component.probe]
source = {:?}
allowed_outbound_hosts = [{outbound}]
[component.probe.variables]
greeting = "hello from spin.toml"
issuer = "{{{{ person_token_issuer }}}}"
"#,
        wasm("carehub_probe").display().to_string()
    ));
    let path = dir.join("spin.toml");
    std::fs::write(&path, text).unwrap();
    path
}

impl TestApp {
    /// Starts a gateway with default options.
    pub fn spawn() -> TestApp {
        Self::spawn_with(Options::default())
    }

    /// Starts a gateway.
    pub fn spawn_with(opts: Options) -> TestApp {
        Self::spawn_in(tempfile::tempdir().unwrap(), opts)
    }

    /// Starts a gateway on an existing state directory (a restart).
    pub fn spawn_in(state: tempfile::TempDir, opts: Options) -> TestApp {
        let manifest = test_manifest(state.path(), &opts);
        let cache = wasm_dir().join("carehub-test-cache");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_carehub"));
        cmd.arg("up")
            .arg("--manifest")
            .arg(&manifest)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(state.path())
            .arg("--cache-dir")
            .arg(&cache)
            .args(&opts.args)
            .env_remove("RUST_BACKTRACE")
            .env("CAREHUB_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if opts.capture_stderr {
                Stdio::from(std::fs::File::create(state.path().join("stderr.log")).unwrap())
            } else {
                Stdio::inherit()
            });
        let mut created = None;
        let restarted = KILLED.lock().unwrap().remove(&state.path().to_path_buf());
        let db = match (&opts.shared_database, std::env::var(PG_ENV).ok()) {
            (Some(db), _) => db.clone(),
            // A restart on the state of a killed app: its database too.
            (None, _) if restarted.is_some() => {
                let (db, guard) = restarted.unwrap();
                created = guard;
                db
            }
            (None, Some(admin)) if !admin.is_empty() => {
                let (guard, url) = CreatedDatabase::create(&admin);
                created = Some(guard);
                TestDb::Postgres(url)
            }
            (None, _) => TestDb::Sqlite(state.path().join("data/default.db")),
        };
        if let TestDb::Postgres(url) = &db {
            use std::str::FromStr as _;
            let options = sqlx::postgres::PgConnectOptions::from_str(url).unwrap();
            cmd.env("SPIN_VARIABLE_STORE_BACKEND", "postgres")
                .env("SPIN_VARIABLE_DATABASE_URL", url)
                .env(
                    "SPIN_VARIABLE_DATABASE_HOST",
                    format!("{}:{}", options.get_host(), options.get_port()),
                );
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        if opts.no_edge {
            cmd.arg("--no-edge");
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("starting the carehub binary");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let (base, ready_after) = loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => {
                    lines.push(line.clone());
                    if let Some(i) = line.find(" on http") {
                        let url = line[i + 4..].split_whitespace().next().unwrap().to_owned();
                        break (url, started.elapsed());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("the gateway did not become ready; it printed: {lines:#?}");
                }
            }
        };
        // Keep draining stdout so the gateway never blocks on a full pipe,
        // keeping the lines for `output_lines`.
        let output = std::sync::Arc::new(std::sync::Mutex::new(lines.clone()));
        let kept = output.clone();
        std::thread::spawn(move || {
            while let Ok(line) = rx.recv() {
                kept.lock().unwrap().push(line);
            }
        });
        let port = base.rsplit(':').next().unwrap().parse().unwrap();
        let pki = DevPaths::new(state.path());
        TestApp {
            child,
            base,
            port,
            state,
            pki,
            ready_after,
            stdout: lines,
            output,
            db,
            created,
        }
    }

    /// What the gateway wrote on stderr so far, when started with
    /// [`Options::capture_stderr`].
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.state.path().join("stderr.log")).unwrap_or_default()
    }

    /// The gateway's process id (to send it a signal).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line the gateway printed on stdout so far.
    pub fn output_lines(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// The database this gateway writes (SQLite or PostgreSQL).
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// A URL on this gateway.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An mTLS client holding the dev certificate of `role` (see `DEV_CLIENTS`).
    pub fn client(&self, role: &str) -> reqwest::blocking::Client {
        let mut pem = std::fs::read(self.pki.client_cert(role)).unwrap();
        pem.extend(std::fs::read(self.pki.client_key(role)).unwrap());
        client_with(
            &self.pki.ca_cert(),
            Some(reqwest::Identity::from_pem(&pem).unwrap()),
            None,
        )
    }

    /// An mTLS client with a fresh certificate from the dev CA naming `urn`.
    pub fn client_for_urn(&self, urn: &str) -> reqwest::blocking::Client {
        let ca = carehub::devpki::Authority::load(
            &std::fs::read_to_string(self.pki.ca_cert()).unwrap(),
            &std::fs::read_to_string(self.pki.ca_key()).unwrap(),
        )
        .unwrap();
        let (cert, key) = ca.client(urn).unwrap();
        let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
        client_with(&self.pki.ca_cert(), Some(identity), None)
    }

    /// A client that trusts the server but presents no certificate.
    pub fn anonymous(&self) -> reqwest::blocking::Client {
        client_with(&self.pki.ca_cert(), None, None)
    }

    /// A person token for the portal, signed by the dev IdP key.
    pub fn person_token(&self, insurer: &str, insured: &str, actor: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        self.person_token_with(PersonClaims {
            iss: "carehub-dev-idp".into(),
            aud: "carehub".into(),
            sub: format!("portal-user-{insured}"),
            insurer_number: insurer.into(),
            insured_number: insured.into(),
            actor: actor.into(),
            iat: now,
            exp: now + 600,
        })
    }

    /// A person token with the given claims, signed by the dev IdP key.
    pub fn person_token_with(&self, claims: PersonClaims) -> String {
        let key = std::fs::read_to_string(self.pki.idp_key()).unwrap();
        carehub::devpki::person_token(&key, &claims).unwrap()
    }

    /// The hub's checkpoint signing key (PKCS#8 PEM), for a second
    /// gateway on the same database.
    pub fn log_signing_key(&self) -> String {
        std::fs::read_to_string(self.pki.log_signing_key()).unwrap()
    }

    /// The edge's assertion key.
    pub fn assertion_key(&self) -> String {
        std::fs::read_to_string(self.pki.assertion_key())
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The SQLite file of the default database. Panics when the suite runs
    /// on PostgreSQL: use [`TestApp::db`], which works on both.
    pub fn database(&self) -> PathBuf {
        match &self.db {
            TestDb::Sqlite(path) => path.clone(),
            TestDb::Postgres(_) => panic!(
                "this test reads the SQLite file, but the suite runs on PostgreSQL ({PG_ENV}): use app.db()"
            ),
        }
    }

    /// Kills the process with SIGKILL — no shutdown, no drain — and hands
    /// back its state directory for a restart with [`TestApp::spawn_in`].
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The database stays with the state, for `spawn_in` to restart on.
        KILLED.lock().unwrap().insert(
            self.state.path().to_path_buf(),
            (self.db.clone(), self.created.take()),
        );
        std::mem::replace(&mut self.state, tempfile::tempdir().unwrap())
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Then the database (after the gateway let go of it).
        drop(self.created.take());
    }
}

/// A client trusting `ca`, optionally with an identity and a TLS version cap.
pub fn client_with(
    ca: &Path,
    identity: Option<reqwest::Identity>,
    max_tls: Option<reqwest::tls::Version>,
) -> reqwest::blocking::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let mut b = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(60));
    if let Some(id) = identity {
        b = b.identity(id);
    }
    if let Some(v) = max_tls {
        b = b.max_tls_version(v);
    }
    b.build().unwrap()
}

/// A plain-HTTP client (for the no-edge mode).
pub fn plain() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Reads a problem+json answer, checking the content type and the status.
pub fn problem(resp: reqwest::blocking::Response, status: u16, slug: &str) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(
        body["type"],
        format!("urn:carehub:problem:{slug}"),
        "{body}"
    );
    assert_eq!(body["status"], status, "{body}");
    body
}

/// The values of `name`, in order, among the headers the probe's `/headers`
/// route reports having received.
pub fn header_values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}
