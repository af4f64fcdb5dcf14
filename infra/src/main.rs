//! `carehub`: run the hub locally (`up`), build its components (`build`),
//! verify the access log (`verify-log`), back up and restore its SQLite
//! databases (`backup`, `restore`), send documents to a hub in bulk
//! (`import`), and development helpers (`dev`).

mod import;

use anyhow::{Context, Result};
use carehub::devpki;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "carehub",
    version,
    about = "The carehub gateway: mTLS edge and local runtime for the hub's WASI components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application in spin.toml behind the mTLS edge.
    Up(Box<UpArgs>),
    /// Run each component's build command (like `spin build`).
    Build {
        /// Path of spin.toml.
        #[arg(long, short = 'f', default_value = "spin.toml")]
        manifest: PathBuf,
    },
    /// Development helpers.
    #[command(subcommand)]
    Dev(DevCommand),
    /// Copy every SQLite database of the state directory (data/*.db) into a
    /// new directory, consistently, while the hub serves. For PostgreSQL use
    /// pg_dump (infra/DEPLOY.md).
    Backup {
        /// Directory to write the copies into (created; must hold no *.db).
        out: PathBuf,
        /// State directory whose data/*.db are copied.
        #[arg(long, env = "CAREHUB_STATE_DIR", default_value = ".carehub")]
        state_dir: PathBuf,
    },
    /// Put the databases of a backup directory back into the state
    /// directory. Refused while a gateway serves it; replacing existing
    /// databases needs --force. Then run `carehub verify-log`.
    Restore {
        /// A directory written by `carehub backup`.
        from: PathBuf,
        /// State directory whose data/ receives the databases.
        #[arg(long, env = "CAREHUB_STATE_DIR", default_value = ".carehub")]
        state_dir: PathBuf,
        /// Replace databases that exist (they are lost).
        #[arg(long)]
        force: bool,
    },
    /// Verify the access log: every shard's hash chain, every checkpoint's
    /// signature, root and consistency; exit non-zero naming what is broken.
    VerifyLog {
        /// State directory whose data/accesslog.db (or, before the log had
        /// its own file, data/default.db) holds the log.
        #[arg(long, env = "CAREHUB_STATE_DIR", default_value = ".carehub")]
        state_dir: PathBuf,
        /// The SQLite file itself (a default.db whose log moved out: the
        /// accesslog.db beside it) [default: <state dir>/data/accesslog.db].
        #[arg(long)]
        database: Option<PathBuf>,
        /// Verify a PostgreSQL database instead (`postgres://…`, as in
        /// SPIN_VARIABLE_DATABASE_URL).
        #[arg(long, conflicts_with = "database")]
        database_url: Option<String>,
        /// The hub's checkpoint public key (SPKI PEM) [default: <state
        /// dir>/pki/log-signing.pub.pem, the development key].
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Send NDJSON, JSON or standard care-plan CSV files to a hub over mTLS
    /// in bulk requests, with progress, a per-line report and --resume.
    Import(import::ImportArgs),
}

#[derive(clap::Args)]
struct UpArgs {
    /// Path of spin.toml.
    #[arg(long, short = 'f', default_value = "spin.toml")]
    manifest: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:3443", env = "CAREHUB_LISTEN")]
    listen: SocketAddr,
    /// State directory (dev PKI, SQLite files, compiled cache) [default: <manifest dir>/.carehub].
    #[arg(long, env = "CAREHUB_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Run each component's build command before starting.
    #[arg(long)]
    build: bool,
    /// CA bundle (PEM) client certificates must chain to [default: the generated dev CA].
    #[arg(long, env = "CAREHUB_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// Server certificate chain (PEM).
    #[arg(long, env = "CAREHUB_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "CAREHUB_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Certificate revocation list (PEM or DER) client certificates are
    /// checked against; repeatable. With the dev PKI, its CRL
    /// (.carehub/pki/ca.crl.pem, `carehub dev revoke`) is checked too.
    #[arg(long = "tls-crl", env = "CAREHUB_TLS_CRL", value_delimiter = ',')]
    tls_crl: Vec<PathBuf>,
    /// Check the CA bundle, server certificate, key and CRLs for changes
    /// this often, in milliseconds, and reload them without a restart
    /// (SIGHUP reloads at once); 0: only on SIGHUP.
    #[arg(long, default_value_t = 5_000, env = "CAREHUB_TLS_RELOAD_INTERVAL_MS")]
    tls_reload_interval_ms: u64,
    /// Serve plain HTTP with no edge, as `spin up` would: components then see
    /// no assertion and refuse every call. For running behind another edge.
    #[arg(long)]
    no_edge: bool,
    /// Per-request deadline inside a component, in milliseconds.
    #[arg(long, default_value_t = 10_000, env = "CAREHUB_DEADLINE_MS")]
    deadline_ms: u64,
    /// Requests served by components at once; more wait (up to 10 s) or get 503.
    #[arg(long, default_value_t = 64, env = "CAREHUB_MAX_CONCURRENT")]
    max_concurrent: u32,
    /// Linear-memory cap per component instance, in MiB.
    #[arg(long, default_value_t = 128)]
    max_instance_memory_mib: usize,
    /// Scheduling priority (nice) of the background lane, where bulk loads
    /// (`…:bulk`) and the scheduled jobs run: with interactive requests
    /// waiting they get about a tenth of a busy core at 10, all of an idle
    /// one. 0: no lane of their own (they share the interactive threads).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(0..=19), env = "CAREHUB_BACKGROUND_NICE")]
    background_nice: i32,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Compile components at every start instead of reusing the compiled cache.
    #[arg(long)]
    no_cache: bool,
    /// Answer GET /_carehub/floor natively after the identity check (for benchmarks).
    #[arg(long, hide = true)]
    floor_route: bool,
    /// Directory for compiled components [default: <state dir>/cache].
    #[arg(long, env = "CAREHUB_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Run the webhook dispatcher every this many milliseconds; 0 disables
    /// it (when a platform cron calls POST /api/webhooks/dispatch instead).
    #[arg(long, default_value_t = 5_000, env = "CAREHUB_DISPATCH_INTERVAL_MS")]
    dispatch_interval_ms: u64,
    /// Run the retention job (expired idempotency records, delivered
    /// webhook messages past retention) every this many milliseconds; 0
    /// disables it (when a platform cron calls POST /api/webhooks/purge).
    #[arg(long, default_value_t = 3_600_000, env = "CAREHUB_PURGE_INTERVAL_MS")]
    purge_interval_ms: u64,
    /// Make an access-log checkpoint every this many milliseconds (when the
    /// log has new entries); 0 disables it (when a platform cron calls
    /// POST /api/read/checkpoints instead).
    #[arg(long, default_value_t = 60_000, env = "CAREHUB_CHECKPOINT_INTERVAL_MS")]
    checkpoint_interval_ms: u64,
    /// Proxy mode: be the mTLS edge only and forward each spin.toml route to
    /// the upstream URL this TOML file gives its component (see infra/DEPLOY.md).
    #[arg(long, env = "CAREHUB_PROXY")]
    proxy: Option<PathBuf>,
    /// Request log on standard output: text (one readable line per
    /// request), json (one object per line) or off. Filter with CAREHUB_LOG
    /// or RUST_LOG (target carehub::request).
    #[arg(long, default_value = "text", env = "CAREHUB_LOG_FORMAT")]
    log_format: carehub::telemetry::LogFormat,
    /// Serve Prometheus metrics (OpenMetrics text) at http://ADDR/metrics,
    /// plain HTTP on its own listener; off unless given.
    #[arg(long, env = "CAREHUB_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Take the caller's x-request-id from these principals (URN) or roles
    /// (repeatable, or comma-separated); others get a generated id.
    #[arg(long, value_delimiter = ',', env = "CAREHUB_TRUST_REQUEST_ID")]
    trust_request_id: Vec<String>,
    /// Per-principal request rate: ROLE=RATE[/BURST] (requests a second;
    /// burst default 2 × RATE), *=… for every other role, ROLE=off to exempt
    /// one, off for none (repeatable, or comma-separated). 429 + Retry-After beyond it.
    #[arg(long, value_delimiter = ',', value_parser = carehub::limits::RateRule::parse, env = "CAREHUB_RATE_LIMIT")]
    rate_limit: Vec<carehub::limits::RateRule>,
    /// How long a client may take to send a request head (HTTP/1; also
    /// bounds an idle keep-alive connection), in milliseconds.
    #[arg(long, default_value_t = 10_000, env = "CAREHUB_HEADER_READ_TIMEOUT_MS")]
    header_read_timeout_ms: u64,
    /// Close a connection with no request in progress and no traffic for
    /// this long, in milliseconds.
    #[arg(long, default_value_t = 60_000, env = "CAREHUB_IDLE_TIMEOUT_MS")]
    idle_timeout_ms: u64,
    /// Open connections at most, all clients together; more are closed at once.
    #[arg(long, default_value_t = 10_000, env = "CAREHUB_MAX_CONNECTIONS")]
    max_connections: usize,
    /// Open connections at most from one client IP address.
    #[arg(long, default_value_t = 512, env = "CAREHUB_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: usize,
    /// HTTP/2: concurrent streams per connection.
    #[arg(long, default_value_t = 100, env = "CAREHUB_H2_MAX_CONCURRENT_STREAMS")]
    h2_max_concurrent_streams: u32,
}

#[derive(Subcommand)]
enum DevCommand {
    /// Print a person token signed by the development portal IdP key.
    PersonToken {
        /// Insurer number of the person.
        #[arg(long)]
        insurer: String,
        /// Insured number of the person.
        #[arg(long)]
        insured: String,
        /// The holder is a proxy, not the person.
        #[arg(long)]
        proxy: bool,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// State directory holding the dev PKI.
        #[arg(long, default_value = ".carehub")]
        state_dir: PathBuf,
        /// Issuer claim.
        #[arg(long, default_value = "carehub-dev-idp")]
        issuer: String,
    },
    /// Issue a server certificate `<dir>/<name>.pem` (key `<name>.key`)
    /// from a development CA `<dir>/ca.pem` (generated if missing), e.g.
    /// for a test PostgreSQL server verified with sslmode=verify-full.
    ServerCert {
        /// The certificate's name (its common name and file names).
        name: String,
        /// A DNS name or IP address the certificate names (repeatable).
        #[arg(long = "dns", required = true)]
        names: Vec<String>,
        /// Directory of the CA and the certificate.
        #[arg(long, default_value = ".carehub/pki/servers")]
        dir: PathBuf,
    },
    /// Revoke a development client's current certificate: add it to the
    /// dev CA's CRL (.carehub/pki/ca.crl.pem), which a running gateway
    /// reloads (within --tls-reload-interval-ms, or at once on SIGHUP).
    Revoke {
        /// The client (municipality, care-manager, care-service, medical,
        /// portal, operator).
        name: String,
        /// State directory holding the dev PKI.
        #[arg(long, env = "CAREHUB_STATE_DIR", default_value = ".carehub")]
        state_dir: PathBuf,
    },
    /// Issue a fresh certificate and key for a development client (same
    /// principal, new serial), e.g. after `carehub dev revoke`.
    Issue {
        /// The client (municipality, care-manager, care-service, medical,
        /// portal, operator).
        name: String,
        /// State directory holding the dev PKI.
        #[arg(long, env = "CAREHUB_STATE_DIR", default_value = ".carehub")]
        state_dir: PathBuf,
    },
    /// Write a development client certificate, its key and the dev CA as
    /// a PKCS#12 file (AES-256, HMAC-SHA256) to import into a browser, to
    /// open the screens at https://127.0.0.1:8443/web/ as that client.
    P12 {
        /// The dev client: municipality, care-manager, care-service,
        /// medical, portal or operator.
        role: String,
        /// Where to write it (default: <state dir>/pki/clients/<role>.p12).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The file's password (the browser asks for it on import).
        #[arg(long, default_value = "carehub")]
        password: String,
        /// State directory holding the dev PKI.
        #[arg(long, default_value = ".carehub")]
        state_dir: PathBuf,
    },
}

/// The PKCS#12 of dev client `role` (its certificate, key and the dev CA).
fn dev_p12(paths: &devpki::DevPaths, role: &str, password: &str) -> Result<Vec<u8>> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};
    use sha2::Digest as _;
    if !devpki::DEV_CLIENTS.iter().any(|(name, _)| *name == role) {
        let names: Vec<&str> = devpki::DEV_CLIENTS.iter().map(|(n, _)| *n).collect();
        anyhow::bail!("no dev client {role:?}; one of: {}", names.join(", "));
    }
    let read = |path: PathBuf| {
        std::fs::read(&path).with_context(|| {
            format!(
                "reading {} (run `carehub up` once first to create the dev PKI)",
                path.display()
            )
        })
    };
    let der = |path: PathBuf| -> Result<Vec<u8>> {
        let pem = read(path.clone())?;
        let cert = rustls_pemfile::certs(&mut pem.as_slice())
            .next()
            .with_context(|| format!("no certificate in {}", path.display()))??;
        Ok(cert.to_vec())
    };
    let cert = der(paths.client_cert(role))?;
    let ca = der(paths.ca_cert())?;
    let key_pem = read(paths.client_key(role))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())?
        .context("no private key in the dev client's key file")?;
    let local_key_id = sha2::Sha256::digest(&cert)[..20].to_vec();
    let chain = PrivateKeyChain::new(
        key.secret_der(),
        local_key_id,
        vec![Certificate::from_der(&cert)?, Certificate::from_der(&ca)?],
    );
    let mut store = KeyStore::new();
    store.add_entry(role, KeyStoreEntry::PrivateKeyChain(chain));
    Ok(store.writer(password).write()?)
}

fn main() -> Result<()> {
    // With RUST_BACKTRACE=1 in the environment, every `anyhow`/wasmtime error
    // (and wasmtime creates some on each instance teardown) captures a
    // backtrace, a few microseconds per request. Library backtraces are off
    // unless asked for explicitly; panics still honour RUST_BACKTRACE.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: nothing else runs yet: no thread has been spawned, so no
        // one can read the environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("RUST_LIB_BACKTRACE", "0");
        }
    }
    let cli = Cli::parse();
    // Held to the end of main: it writes out the request log's queued lines.
    let _log = carehub::telemetry::init(match &cli.command {
        Command::Up(a) => a.log_format,
        _ => carehub::telemetry::LogFormat::Text,
    });
    match cli.command {
        Command::Up(a) => {
            let limits = carehub::limits::ConnectionLimits {
                header_read_timeout: Duration::from_millis(a.header_read_timeout_ms.max(1)),
                idle_timeout: Duration::from_millis(a.idle_timeout_ms.max(1)),
                max_connections: a.max_connections,
                max_connections_per_ip: a.max_connections_per_ip,
                h2_max_concurrent_streams: a.h2_max_concurrent_streams.max(1),
                ..carehub::limits::ConnectionLimits::default()
            };
            let opts = carehub::UpOptions {
                manifest: a.manifest,
                listen: a.listen,
                state_dir: a.state_dir,
                build: a.build,
                tls_ca: a.tls_ca,
                tls_cert: a.tls_cert,
                tls_key: a.tls_key,
                tls_crl: a.tls_crl,
                tls_reload_interval: (a.tls_reload_interval_ms > 0)
                    .then(|| Duration::from_millis(a.tls_reload_interval_ms)),
                no_edge: a.no_edge,
                deadline: Duration::from_millis(a.deadline_ms),
                max_concurrent: a.max_concurrent.max(1),
                max_instance_memory: a.max_instance_memory_mib * 1024 * 1024,
                max_body_bytes: a.max_body_bytes,
                cache: !a.no_cache,
                cache_dir: a.cache_dir,
                drain: Duration::from_secs(30),
                floor_route: a.floor_route,
                dispatch_interval: (a.dispatch_interval_ms > 0)
                    .then(|| Duration::from_millis(a.dispatch_interval_ms)),
                purge_interval: (a.purge_interval_ms > 0)
                    .then(|| Duration::from_millis(a.purge_interval_ms)),
                checkpoint_interval: (a.checkpoint_interval_ms > 0)
                    .then(|| Duration::from_millis(a.checkpoint_interval_ms)),
                proxy: a.proxy,
                limits,
                rate_limits: a.rate_limit,
                trust_request_id: a.trust_request_id,
                metrics_listen: a.metrics_listen,
                request_log: a.log_format != carehub::telemetry::LogFormat::Off,
                background_nice: a.background_nice,
            };
            Ok(tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(carehub::up(opts))?)
        }
        Command::Backup { out, state_dir } => {
            for c in carehub::backup::backup(&state_dir.join("data"), &out)? {
                println!(
                    "backed up {} ({} bytes)",
                    out.join(&c.name).display(),
                    c.bytes
                );
            }
            Ok(())
        }
        Command::Restore {
            from,
            state_dir,
            force,
        } => {
            let data = state_dir.join("data");
            for c in carehub::backup::restore(&from, &data, force)? {
                println!(
                    "restored {} ({} bytes)",
                    data.join(&c.name).display(),
                    c.bytes
                );
            }
            Ok(())
        }
        Command::Import(args) => std::process::exit(import::run(&args)?),
        Command::Build { manifest } => {
            let manifest = carehub::manifest::Manifest::load(&manifest)?;
            Ok(carehub::build(&manifest)?)
        }
        Command::VerifyLog {
            state_dir,
            database,
            database_url,
            public_key,
        } => {
            let report = carehub::accesslog::run_verify_log(
                &state_dir,
                database,
                database_url.as_deref(),
                public_key,
            )?;
            print!("{}", report.text);
            eprint!("{}", report.errors);
            if !report.intact {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Dev(DevCommand::PersonToken {
            insurer,
            insured,
            proxy,
            ttl,
            state_dir,
            issuer,
        }) => {
            let paths = devpki::DevPaths::new(&state_dir);
            let key = std::fs::read_to_string(paths.idp_key()).with_context(|| {
                format!(
                    "no development IdP key in {} (run `carehub up` once first)",
                    paths.pki.display()
                )
            })?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            let token = devpki::person_token(
                &key,
                &devpki::PersonClaims {
                    iss: issuer,
                    aud: "carehub".into(),
                    sub: format!("dev-{insurer}-{insured}"),
                    insurer_number: insurer,
                    insured_number: insured,
                    actor: if proxy { "proxy" } else { "person" }.into(),
                    iat: now,
                    exp: now + ttl,
                },
            )?;
            println!("{token}");
            Ok(())
        }
        Command::Dev(DevCommand::Revoke { name, state_dir }) => {
            let paths = devpki::DevPaths::new(&state_dir);
            let (crl, serials) = devpki::revoke(&paths, &name)?;
            println!("crl: {}", crl.display());
            for serial in serials {
                println!("revoked: {serial}");
            }
            Ok(())
        }
        Command::Dev(DevCommand::Issue { name, state_dir }) => {
            let paths = devpki::DevPaths::new(&state_dir);
            let cert = devpki::issue(&paths, &name)?;
            println!("certificate: {}", cert.display());
            println!("key: {}", paths.client_key(&name).display());
            Ok(())
        }
        Command::Dev(DevCommand::P12 {
            role,
            out,
            password,
            state_dir,
        }) => {
            let paths = devpki::DevPaths::new(&state_dir);
            let bytes = dev_p12(&paths, &role, &password)?;
            let out = out.unwrap_or_else(|| paths.pki.join("clients").join(format!("{role}.p12")));
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("restricting {}", out.display()))?;
            }
            println!("{}", out.display());
            Ok(())
        }
        Command::Dev(DevCommand::ServerCert { name, names, dir }) => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let files = devpki::server_cert(&dir, &name, &names)?;
            println!("ca: {}", files.ca_cert.display());
            println!("certificate: {}", files.cert.display());
            println!("key: {}", files.key.display());
            Ok(())
        }
    }
}
