//! carehub's gateway: the mTLS edge and the local runtime that serves the
//! hub's WASI components on wasmtime, as `spin up` would, from `spin.toml`.
//!
//! Start reading at [`up`]; `ARCHITECTURE.md` at the repository root has the
//! bird's-eye view. Every fallible function here returns [`Error`].

pub mod accesslog;
pub mod backup;
pub mod devpki;
pub mod edge;
pub mod error;
pub mod host;
pub mod limits;
pub mod manifest;
pub mod metrics;
pub mod options;
pub mod proxy;
pub mod routes;
pub mod runtime;
pub mod scheduler;
pub mod sealing;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod variables;

pub use error::{Error, Result};
pub use options::UpOptions;

/// Migrations embedded at build time.
pub mod migrations {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

use error::Doing;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs every component's build command, like `spin build`.
pub fn build(manifest: &manifest::Manifest) -> Result<()> {
    for (id, spec) in &manifest.components {
        let Some(b) = &spec.build else {
            continue;
        };
        let workdir = manifest.dir.join(b.workdir.as_deref().unwrap_or("."));
        eprintln!("carehub: building component {id}: {}", b.command);
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&b.command)
            .current_dir(&workdir)
            .status()
            .doing(|| format!("running the build command of {id}"))?;
        if !status.success() {
            return Err(Error::BuildFailed {
                id: id.clone(),
                status,
            });
        }
    }
    Ok(())
}

/// Starts the gateway and serves until SIGINT/SIGTERM.
pub async fn up(opts: UpOptions) -> Result<()> {
    let started = Instant::now();
    let manifest = manifest::Manifest::load(&opts.manifest)?;
    if opts.build {
        build(&manifest)?;
    }
    let state_dir = opts
        .state_dir
        .clone()
        .unwrap_or_else(|| manifest.dir.join(".carehub"));
    std::fs::create_dir_all(&state_dir)
        .doing(|| format!("creating state directory {}", state_dir.display()))?;
    let dev = devpki::DevPaths::new(&state_dir);
    let custom_tls = opts.tls_ca.is_some() || opts.tls_cert.is_some() || opts.tls_key.is_some();
    if custom_tls && (opts.tls_ca.is_none() || opts.tls_cert.is_none() || opts.tls_key.is_none()) {
        return Err(Error::PartialTls);
    }
    let env = |name: &str| std::env::var(name).ok();
    if devpki::ensure(&dev)? {
        eprintln!(
            "carehub: generated development certificates and keys in {}",
            dev.pki.display()
        );
    }
    let provided = provided_variables(&dev, &env)?;
    let app_vars = variables::resolve_application(&manifest.variables, &env, &provided)?;
    if let Some(file) = &opts.proxy {
        // The edge here, the components elsewhere: see proxy.rs.
        let store = match postgres_url(&app_vars) {
            Some(url) => metrics::Store::Postgres(url),
            None => metrics::Store::None,
        };
        let serving = serving(&opts, store).await?;
        return proxy::up(
            &opts,
            file,
            &manifest,
            &app_vars,
            &dev,
            started,
            serving,
            shutdown_signal(),
        )
        .await;
    }

    let databases = open_sqlite(&manifest, &state_dir, &app_vars)?;
    host::pg::prepare_store(&app_vars).await?;
    let cache = if opts.cache {
        runtime::Cache::Dir(
            opts.cache_dir
                .clone()
                .unwrap_or_else(|| state_dir.join("cache")),
        )
    } else {
        runtime::Cache::Off
    };
    let limits = runtime::Limits {
        deadline: opts.deadline,
        max_instance_memory: opts.max_instance_memory,
        max_instances: opts.max_concurrent.saturating_mul(2),
    };
    let store = match (postgres_url(&app_vars), databases.get("default")) {
        (Some(url), _) => metrics::Store::Postgres(url),
        (None, Some(pool)) => metrics::Store::Sqlite(pool.clone()),
        (None, None) => metrics::Store::None,
    };
    let serving = serving(&opts, store).await?;
    let mut runtime = runtime::Runtime::load(&manifest, &app_vars, databases, limits, &cache)?;
    if let Some(m) = &serving.metrics {
        runtime.set_metrics(m.clone());
    }
    if opts.background_nice > 0 {
        runtime.start_background_lane(opts.background_nice)?;
    }
    let router = routes::Router::new(manifest.triggers.iter().map(|t| {
        let index = runtime
            .index_of(&t.component)
            .expect("manifest checked that every trigger names a component");
        (t.route.clone(), index)
    }))?;
    let (tls, asserter) = edge(&opts, &dev, &app_vars)?;
    let gateway = Arc::new(server::Gateway {
        runtime,
        router,
        asserter,
        concurrency: Arc::new(tokio::sync::Semaphore::new(opts.max_concurrent as usize)),
        queue_timeout: Duration::from_secs(10),
        max_body_bytes: opts.max_body_bytes,
        openapi: bytes::Bytes::from_static(include_bytes!("../openapi.json")),
        floor_route: opts.floor_route,
    });
    // The scheduled jobs (interval, route, name in the run's log, name
    // when not scheduled), stopped before the gateway stops (below).
    let schedule = [
        (
            opts.dispatch_interval,
            scheduler::DISPATCH_PATH,
            "webhook dispatch",
            "webhook dispatch",
        ),
        (
            opts.purge_interval,
            scheduler::PURGE_PATH,
            "retention",
            "retention job",
        ),
        (
            opts.checkpoint_interval,
            scheduler::CHECKPOINT_PATH,
            "checkpoint",
            "log checkpoints",
        ),
    ];
    let mut jobs = Vec::new();
    for (interval, path, what, named) in schedule {
        let Some(interval) = interval else {
            continue;
        };
        match scheduler::spawn_job(gateway.clone(), path, interval, what) {
            Some(job) => jobs.push(job),
            None => eprintln!(
                "carehub: {named} not scheduled (no {path} route, or no edge to assert the scheduler)"
            ),
        }
    }
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .doing(|| format!("binding {}", opts.listen))?;
    let addr = listener
        .local_addr()
        .doing(|| "reading the listening address".into())?;
    let try_it = (!opts.no_edge && !custom_tls).then_some(&dev);
    let shutdown = shutdown_signal();
    print_banner(&gateway, addr, started, opts.no_edge, try_it)?;
    let served = server::run(
        gateway.clone(),
        listener,
        tls,
        Arc::new(serving),
        shutdown,
        opts.drain,
    )
    .await;
    // No new job runs; the one running on the background lane (and a bulk
    // load whose connection the drain cut) ends before the runtimes stop.
    for job in &jobs {
        job.abort();
    }
    if !gateway.runtime.background_lane_idle(opts.drain).await {
        tracing::warn!(
            "shutting down: a background request still ran after {:?}",
            opts.drain
        );
    }
    served
}

/// The PostgreSQL connection string when the store is PostgreSQL.
fn postgres_url(app_vars: &variables::Values) -> Option<String> {
    (app_vars.get("store_backend").map(String::as_str) == Some("postgres"))
        .then(|| app_vars.get("database_url").cloned())
        .flatten()
        .filter(|u| !u.is_empty())
}

/// What every connection and request gets (limits, rate limit, request
/// id, log, metrics); with `--metrics-listen`, the metrics listener is
/// bound and served here.
async fn serving(opts: &UpOptions, store: metrics::Store) -> Result<server::Serving> {
    let metrics = match opts.metrics_listen {
        Some(addr) => {
            let listener = metrics::bind(addr).await?;
            let bound = listener
                .local_addr()
                .doing(|| "reading the metrics address".into())?;
            println!("carehub: metrics at http://{bound}/metrics");
            let metrics = metrics::Metrics::new(store);
            metrics::spawn_listener(metrics.clone(), listener);
            Some(metrics)
        }
        None => None,
    };
    let rate = limits::RateLimiter::new(&opts.rate_limits).map(|r| {
        let r = Arc::new(r);
        // Buckets that are full again are forgotten now and then.
        let weak = Arc::downgrade(&r);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(r) => r.forget_idle(),
                    None => return,
                }
            }
        });
        r
    });
    Ok(server::Serving::new(
        opts.limits.clone(),
        rate,
        telemetry::TrustedForRequestId::new(opts.trust_request_id.clone()),
        metrics,
        opts.request_log && telemetry::request_log_enabled(),
    ))
}

/// The variables the gateway provides from its development material in
/// `dev` (which [`devpki::ensure`] generates) when the environment does not
/// (`SPIN_VARIABLE_<NAME>` unset; `env` reads it): the edge's assertion key,
/// the screens' CSRF key, the webhook secret key, the checkpoint signing key
/// and the development IdP's public key.
pub fn provided_variables(
    dev: &devpki::DevPaths,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>> {
    let mut provided = BTreeMap::new();
    if env("SPIN_VARIABLE_ASSERTION_KEY").is_none() {
        provided.insert(
            "assertion_key".to_owned(),
            read_trimmed(&dev.assertion_key())?,
        );
    }
    if env("SPIN_VARIABLE_WEB_CSRF_KEY").is_none() {
        provided.insert(
            "web_csrf_key".to_owned(),
            read_trimmed(&dev.web_csrf_key())?,
        );
    }
    if env("SPIN_VARIABLE_WEBHOOK_SECRET_KEY").is_none() {
        provided.insert(
            "webhook_secret_key".to_owned(),
            read_trimmed(&dev.webhook_secret_key())?,
        );
    }
    if env("SPIN_VARIABLE_LOG_SIGNING_KEY").is_none() {
        let path = dev.log_signing_key();
        provided.insert(
            "log_signing_key".to_owned(),
            std::fs::read_to_string(&path).doing(|| format!("reading {}", path.display()))?,
        );
    }
    if env("SPIN_VARIABLE_PERSON_TOKEN_PUBLIC_KEY").is_none() {
        let path = dev.idp_public_key();
        provided.insert(
            "person_token_public_key".to_owned(),
            std::fs::read_to_string(&path).doing(|| format!("reading {}", path.display()))?,
        );
    }
    Ok(provided)
}

fn read_trimmed(path: &Path) -> Result<String> {
    Ok(std::fs::read_to_string(path)
        .doing(|| format!("reading {}", path.display()))?
        .trim()
        .to_owned())
}

/// The SQLite label of the access log's own database.
pub const ACCESSLOG_LABEL: &str = "accesslog";

/// Opens every SQLite database a component may use, one file per label
/// under `<state dir>/data`, and migrates `default` and `accesslog`.
fn open_sqlite(
    manifest: &manifest::Manifest,
    state_dir: &Path,
    app_vars: &variables::Values,
) -> Result<Arc<host::sqlite::Databases>> {
    let data_dir = state_dir.join("data");
    let databases = Arc::new(host::sqlite::Databases::open(
        &data_dir,
        manifest.sqlite_labels(),
    )?);
    // `carehub restore` refuses while this is held.
    backup::hold_running_lock(&data_dir)?;
    if let Some(pool) = databases.get("default") {
        let key = sealing::key_of(app_vars)?;
        let applied = host::sqlite::migrate(pool.path(), migrations::SQLITE, Some(&key))?;
        for name in applied {
            eprintln!("carehub: applied migration {name}");
        }
    }
    // The access log in a file of its own (label `accesslog`): its schema,
    // and the log moved out of a default.db that held it.
    if let Some(log) = databases.get(ACCESSLOG_LABEL) {
        let applied = host::sqlite::migrate(log.path(), migrations::SQLITE_ACCESSLOG, None)?;
        for name in applied {
            eprintln!("carehub: applied access-log migration {name}");
        }
        if let Some(pool) = databases.get("default") {
            let moved = host::sqlite::move_access_log(pool.path(), log.path())?;
            if moved > 0 {
                eprintln!(
                    "carehub: moved {moved} access-log entries into {}",
                    log.path().display()
                );
            }
        }
    }
    Ok(databases)
}

/// The mTLS edge, unless `--no-edge`: the TLS acceptor (the given
/// certificates, or the development ones) and the asserter.
fn edge(
    opts: &UpOptions,
    dev: &devpki::DevPaths,
    app_vars: &variables::Values,
) -> Result<(Option<tokio_rustls::TlsAcceptor>, Option<edge::Asserter>)> {
    if opts.no_edge {
        return Ok((None, None));
    }
    let tls = tls::Reloadable::load(tls::TlsFiles::of(opts, dev))?;
    tls.watch(opts.tls_reload_interval);
    let asserter = edge::Asserter::from_variables(app_vars)?;
    Ok((Some(tls.acceptor()), Some(asserter)))
}

/// What the gateway serves and where, on standard output; with `try_it`,
/// the development PKI the edge uses, a request to try.
fn print_banner(
    gateway: &server::Gateway,
    addr: SocketAddr,
    started: Instant,
    no_edge: bool,
    try_it: Option<&devpki::DevPaths>,
) -> Result<()> {
    let scheme = if no_edge { "http" } else { "https" };
    println!(
        "carehub: serving {} component(s) on {scheme}://{addr} (ready in {} ms)",
        gateway.runtime.ids().count(),
        started.elapsed().as_millis()
    );
    for (route, index) in gateway.router.entries() {
        let id = gateway.runtime.ids().nth(*index).unwrap_or("?");
        println!("carehub:   {route} -> {id}");
    }
    if let Some(dev) = try_it {
        let pki = dev.pki.display();
        println!(
            "carehub: try it:\n  curl --cacert {pki}/ca.pem --cert {pki}/clients/municipality.pem --key {pki}/clients/municipality.key https://localhost:{}/api/read/persons/131016/0000012345/documents",
            addr.port()
        );
    }
    use std::io::Write;
    std::io::stdout()
        .flush()
        .doing(|| "writing to standard output".into())
}

/// Resolves at SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled: called before the ready
/// line, a signal that comes right after it (a supervisor stopping a
/// gateway that has just started) shuts it down gracefully instead of
/// killing it before the accept loop first looked.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = signal(SignalKind::interrupt())
            .and_then(|int| signal(SignalKind::terminate()).map(|term| (int, term)));
        async move {
            match signals {
                Ok((mut int, mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {},
                        _ = term.recv() => {},
                    }
                }
                // No handlers (not expected on Unix): Ctrl-C at least.
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
