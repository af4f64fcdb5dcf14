//! The set-up the scenarios share: the manifests, the servers (the gateway
//! with its edge, the peer, their plain twins), the dataset and what is
//! sampled from it, the store and the runtime opened in this process — and
//! [`Place`], whatever of these the scenario at hand needs, set up when the
//! table first needs it and torn down when it no longer does.

use crate::client::Target;
use crate::data::{self, Templates};
use crate::report::{ColdStart, Row};
use crate::{Config, ServerNote, client, inproc, procs, sys};
use anyhow::{Context, Result, bail};
use carehub_domain::policy::read::Reader;
use carehub_store::native::NativeDb;
use carehub_store::sql::SqlStore;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The run: its configuration, where its files go, and what it has
/// measured so far.
pub struct Bench<'a> {
    /// The settled configuration.
    pub cfg: &'a Config,
    /// Clock ticks per second (`/proc/<pid>/stat` counts in them).
    pub ticks: u64,
    /// Seconds since the epoch at the start: new documents' keys carry it.
    pub run_id: u64,
    /// The servers' logs.
    pub logs: PathBuf,
    /// The real spin.toml with absolute paths (cold start).
    pub app_manifest: PathBuf,
    /// The same plus the probe (every other server, the runtime).
    pub bench_manifest: PathBuf,
    /// What has been measured, in the order it ran.
    pub out: Outcome,
}

/// What a run measured.
#[derive(Default)]
pub struct Outcome {
    /// Rows of the main table.
    pub rows: Vec<Row>,
    /// Rows of the single-operations table.
    pub micro: Vec<Row>,
    /// The cold-start settings.
    pub cold: Vec<ColdStart>,
    /// Where each server ran and how.
    pub notes: Vec<ServerNote>,
    /// `perf report` summaries written.
    pub perf_reports: Vec<String>,
    /// Groups that could not run, and why.
    pub failed: Vec<String>,
    /// Notes the tables print below themselves (what a group could show).
    pub remarks: Vec<String>,
}

impl Bench<'_> {
    /// Writes the manifests and makes the log directory.
    pub fn new(cfg: &Config) -> Result<Bench<'_>> {
        let (app_manifest, bench_manifest) = write_manifests(cfg)?;
        let logs = cfg.state_dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        Ok(Bench {
            cfg,
            ticks: sys::clock_ticks(),
            run_id: inproc::now(),
            logs,
            app_manifest,
            bench_manifest,
            out: Outcome::default(),
        })
    }
}

/// Writes the manifests: `app.toml` (the real spin.toml, absolute paths)
/// and `bench.toml` (the same plus the probe on `/probe/...`).
fn write_manifests(cfg: &Config) -> Result<(PathBuf, PathBuf)> {
    let (app, bench) = manifests(cfg)?;
    std::fs::create_dir_all(&cfg.state_dir)?;
    let (a, b) = (
        cfg.state_dir.join("app.toml"),
        cfg.state_dir.join("bench.toml"),
    );
    std::fs::write(&a, app)?;
    std::fs::write(&b, bench)?;
    Ok((a, b))
}

/// Writes the bench manifest of `cfg`'s components (its `wasm_dir`) as
/// `file` in the state directory; returns its path.
pub fn write_bench_manifest(cfg: &Config, file: &str) -> Result<PathBuf> {
    let (_, bench) = manifests(cfg)?;
    let path = cfg.state_dir.join(file);
    std::fs::write(&path, bench)?;
    Ok(path)
}

/// The texts of the app manifest (spin.toml with the components of
/// `cfg.wasm_dir`) and the bench manifest (that, plus the probe).
fn manifests(cfg: &Config) -> Result<(String, String)> {
    let real = std::fs::read_to_string(cfg.workspace.join("spin.toml"))?;
    let mut app = String::new();
    for line in real.lines() {
        if let Some(rest) = line.strip_prefix("source = \"target/wasm32-wasip2/release/") {
            let name = rest.trim_end_matches('"').trim_end_matches(".wasm");
            let path = cfg.wasm(name);
            if !path.exists() {
                bail!(
                    "{} is missing: build the components spin.toml lists (target/release/carehub build) and the probe (cargo build --target wasm32-wasip2 --release -p carehub-probe)",
                    path.display()
                );
            }
            app.push_str(&format!("source = {:?}\n", path.display().to_string()));
        } else {
            app.push_str(line);
            app.push('\n');
        }
    }
    let probe = cfg.wasm("carehub_probe");
    if !probe.exists() {
        bail!(
            "{} is missing: cargo build --target wasm32-wasip2 --release -p carehub-probe",
            probe.display()
        );
    }
    let bench = format!(
        "{app}\n[[trigger.http]]\nroute = \"/probe/...\"\ncomponent = \"probe\"\n\n[component.probe]\nsource = {:?}\nallowed_outbound_hosts = []\n",
        probe.display().to_string()
    );
    Ok((app, bench))
}

/// The gateway's command line: `carehub up` on `manifest`, the run's state
/// and cache directories, pinned to the server core.
pub fn gateway_launch(
    cfg: &Config,
    manifest: &Path,
    listen: &str,
    extra: &[&str],
) -> procs::Launch {
    let mut argv: Vec<OsString> = vec![
        cfg.gateway.clone().into(),
        "up".into(),
        "--manifest".into(),
        manifest.into(),
        "--listen".into(),
        listen.into(),
        "--state-dir".into(),
        cfg.state_dir.clone().into(),
        "--cache-dir".into(),
        cfg.cache_dir.clone().into(),
    ];
    // The in-process scheduled jobs (webhook dispatcher, retention,
    // access-log checkpoints) off: their work would land in whichever cell
    // they happen to run in (a checkpoint after a read cell hashes every
    // entry it logged), not in the requests measured.
    if scheduler_flags(&cfg.gateway) {
        for flag in [
            "--dispatch-interval-ms",
            "--purge-interval-ms",
            "--checkpoint-interval-ms",
        ] {
            argv.extend([flag.into(), "0".into()]);
        }
    }
    argv.extend(extra.iter().map(OsString::from));
    procs::Launch {
        argv,
        core: cfg.server_core,
        env: vec![("CAREHUB_LOG".into(), "warn".into())],
    }
}

/// Whether the gateway has all three job intervals (`carehub up --help`,
/// read once).
fn scheduler_flags(gateway: &Path) -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        std::process::Command::new(gateway)
            .args(["up", "--help"])
            .output()
            .map(|o| {
                let help = String::from_utf8_lossy(&o.stdout);
                [
                    "--dispatch-interval-ms",
                    "--purge-interval-ms",
                    "--checkpoint-interval-ms",
                ]
                .iter()
                .all(|f| help.contains(f))
            })
            .unwrap_or(false)
    })
}

/// The peer's command line (this binary, `peer`), serving the probe.
fn peer_launch(cfg: &Config, tls: bool) -> Result<procs::Launch> {
    let mut argv: Vec<OsString> = vec![
        std::env::current_exe()?.into(),
        "peer".into(),
        "--wasm".into(),
        cfg.wasm("carehub_probe").into(),
        "--cache-dir".into(),
        cfg.cache_dir.clone().into(),
    ];
    if tls {
        argv.push("--tls-pki".into());
        argv.push(cfg.pki().into());
    }
    Ok(procs::Launch {
        argv,
        core: cfg.server_core,
        env: Vec::new(),
    })
}

/// A client of `addr` with `role`'s development certificate (mTLS).
pub fn target_for(cfg: &Config, addr: std::net::SocketAddr, role: &str) -> Result<Target> {
    let pki = cfg.pki();
    Ok(Target {
        addr,
        tls: Some(client::tls_config(
            &pki.join("ca.pem"),
            &pki.join(format!("clients/{role}.pem")),
            &pki.join(format!("clients/{role}.key")),
        )?),
    })
}

/// The client files of a second municipality (municipality A of the
/// contention cell, which bulk-loads its own persons while the dataset's
/// municipality reads).
pub const OTHER_MUNICIPALITY_ROLE: &str = "municipality-a";
/// Its insurer number (another Tokyo municipality, as in the api tests).
pub const OTHER_MUNICIPALITY: &str = "131011";

/// Issues the second municipality's client certificate from the dev CA,
/// unless it is there.
pub fn ensure_other_municipality(cfg: &Config) -> Result<()> {
    let pki = cfg.pki();
    let (cert, key) = (
        pki.join(format!("clients/{OTHER_MUNICIPALITY_ROLE}.pem")),
        pki.join(format!("clients/{OTHER_MUNICIPALITY_ROLE}.key")),
    );
    if cert.exists() && key.exists() {
        return Ok(());
    }
    let ca = carehub::devpki::Authority::load(
        &std::fs::read_to_string(pki.join("ca.pem"))?,
        &std::fs::read_to_string(pki.join("ca.key")).context("the dev CA's key")?,
    )?;
    let (c, k) = ca.client(&format!("urn:carehub:municipality:{OTHER_MUNICIPALITY}"))?;
    std::fs::write(&cert, c)?;
    std::fs::write(&key, k)?;
    Ok(())
}

/// A server a load scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The gateway with its mTLS edge, `--floor-route` and the probe: the
    /// dataset is loaded through it.
    Gateway,
    /// The peer (wasmtime-wasi-http's own serving path) with the gateway's
    /// TLS set-up.
    Peer,
    /// The gateway `--no-edge`: plain HTTP, no identity.
    PlainGateway,
    /// The peer without TLS.
    PlainPeer,
}

impl Server {
    /// How to start it, and its log file.
    fn launch(self, bench: &Bench<'_>) -> Result<(procs::Launch, PathBuf)> {
        let (cfg, manifest) = (bench.cfg, &bench.bench_manifest);
        let local = "127.0.0.1:0";
        Ok(match self {
            Server::Gateway => (
                gateway_launch(cfg, manifest, local, &["--floor-route"]),
                bench.logs.join("gateway.log"),
            ),
            Server::Peer => (peer_launch(cfg, true)?, bench.logs.join("peer.log")),
            Server::PlainGateway => (
                gateway_launch(cfg, manifest, local, &["--no-edge"]),
                bench.logs.join("gateway-plain.log"),
            ),
            Server::PlainPeer => (peer_launch(cfg, false)?, bench.logs.join("peer-plain.log")),
        })
    }

    /// What the results call it.
    fn description(self) -> &'static str {
        match self {
            Server::Gateway => "gateway (mTLS edge, --floor-route, probe)",
            Server::Peer => "peer (wasmtime-wasi-http ProxyPre + hyper, mTLS)",
            Server::PlainGateway => "gateway --no-edge (plain HTTP)",
            Server::PlainPeer => "peer (plain HTTP)",
        }
    }

    /// The client certificates used against it: the gateway's are every
    /// author's of the dataset and the portal's.
    fn roles(self) -> &'static [&'static str] {
        match self {
            Server::Gateway => &[
                "municipality",
                "care-manager",
                "care-service",
                "portal",
                OTHER_MUNICIPALITY_ROLE,
            ],
            Server::Peer => &["municipality"],
            Server::PlainGateway | Server::PlainPeer => &[],
        }
    }
}

/// A server this run started, and a client for each of its certificates.
pub struct Up {
    /// The process.
    pub server: procs::Server,
    /// Clients by role (mTLS); plain servers have none.
    pub targets: BTreeMap<&'static str, Target>,
}

impl Up {
    /// Starts `which` pinned to the server core and records where it runs.
    pub fn start(bench: &mut Bench<'_>, which: Server) -> Result<Up> {
        let (launch, log) = which.launch(bench)?;
        let server = procs::start(&launch, &log)?;
        bench.out.notes.push(note(which.description(), &server));
        // The gateway generated the dev PKI on its first start.
        if which == Server::Gateway {
            ensure_other_municipality(bench.cfg)?;
        }
        let mut targets = BTreeMap::new();
        for &role in which.roles() {
            targets.insert(role, target_for(bench.cfg, server.addr, role)?);
        }
        Ok(Up { server, targets })
    }

    /// The client for `role`'s certificate, or a plain-HTTP one for `None`.
    pub fn target(&self, role: Option<&str>) -> Result<Target> {
        match role {
            None => Ok(Target {
                addr: self.server.addr,
                tls: None,
            }),
            Some(role) => self
                .targets
                .get(role)
                .cloned()
                .with_context(|| format!("no {role} client for this server")),
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL after a grace period).
    pub fn stop(self) {
        self.server.stop();
    }
}

/// Where a server ran and how.
pub fn note(name: &str, s: &procs::Server) -> ServerNote {
    ServerNote {
        name: name.to_owned(),
        command_line: s.command_line.clone(),
        cpus_allowed: sys::allowed_cpus(&s.pid.to_string()),
        rust_backtrace_set: sys::env_has(s.pid, "RUST_BACKTRACE"),
        ready_line_ms: s.ready_ms,
        ready_after_ms: Some(s.ready_after.as_secs_f64() * 1e3),
    }
}

/// The stored dataset, when it matches `--persons`/`--documents` and
/// `--regenerate` is not given; otherwise the old database is removed
/// (before the gateway opens it) and `None` says to load it again.
pub fn stored_dataset(cfg: &Config) -> Result<Option<data::Dataset>> {
    let file = cfg.state_dir.join("dataset.json");
    let stored = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|d: &data::Dataset| d.persons == cfg.persons && d.documents == cfg.documents);
    let data_dir = cfg.state_dir.join("data");
    if (stored.is_none() || cfg.regenerate) && data_dir.exists() {
        eprintln!(
            "carehub-bench: removing the old dataset in {}",
            data_dir.display()
        );
        std::fs::remove_dir_all(&data_dir)?;
        let _ = std::fs::remove_file(&file);
        return Ok(None);
    }
    Ok(stored)
}

/// The dataset: `stored`, or loaded now through `gateway`'s bulk ingest and
/// stored for the next run.
pub async fn dataset(
    cfg: &Config,
    stored: Option<data::Dataset>,
    gateway: &Up,
) -> Result<data::Dataset> {
    if let Some(d) = stored {
        eprintln!(
            "carehub-bench: reusing the dataset in {} (--regenerate to load it again)",
            cfg.state_dir.display()
        );
        return Ok(d);
    }
    eprintln!(
        "carehub-bench: loading {} documents for {} persons through bulk ingest ({} lines a request, {} in flight)",
        cfg.documents, cfg.persons, cfg.batch_lines, cfg.load_in_flight
    );
    let d = data::load(
        &gateway.targets,
        cfg.persons,
        cfg.documents,
        cfg.batch_lines,
        cfg.load_in_flight,
        &cfg.db(),
    )
    .await?;
    let file = cfg.state_dir.join("dataset.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&d)?)?;
    Ok(d)
}

/// What the scenarios draw on, prepared once after the dataset: samples of
/// it, person tokens, and the templates of new documents.
pub struct Fixture {
    /// Seconds since the epoch at the start: new documents' keys carry it.
    pub run_id: u64,
    /// New documents' content, by kind.
    pub templates: Arc<Templates>,
    /// Insured numbers of persons in the dataset (4,096 samples).
    pub insured: Arc<Vec<String>>,
    /// Ids of documents the municipality wrote (up to 4,096).
    pub ids: Arc<Vec<String>>,
    /// A person token for each of the first 256 sampled persons, by
    /// insured number.
    pub tokens: Arc<BTreeMap<String, String>>,
    /// Those persons.
    pub token_persons: Arc<Vec<String>>,
    /// New documents' content for the second municipality's persons.
    pub templates_other: Arc<Templates>,
    /// The standard care-plan CSV files (`tests/fixtures/csv/full`).
    pub csv: Option<Arc<crate::csvplan::CsvPlan>>,
}

impl Fixture {
    /// Samples the dataset in `cfg`'s database and signs the person tokens.
    pub fn new(cfg: &Config, run_id: u64) -> Result<Fixture> {
        let read = data::read_targets(&cfg.db(), cfg.persons, 4096)?;
        let tokens = person_tokens(cfg, &read.insured[..read.insured.len().min(256)])?;
        let csv = crate::csvplan::CsvPlan::load(&cfg.workspace.join("tests/fixtures/csv/full"))
            .map_err(|e| eprintln!("carehub-bench: no CSV cells: {e:#}"))
            .ok()
            .map(Arc::new);
        Ok(Fixture {
            run_id,
            templates: Arc::new(Templates::new()),
            templates_other: Arc::new(Templates::for_insurer(OTHER_MUNICIPALITY)),
            csv,
            token_persons: Arc::new(tokens.keys().cloned().collect()),
            tokens: Arc::new(tokens),
            insured: Arc::new(read.insured),
            ids: Arc::new(read.document_ids),
        })
    }
}

/// One ES256 person token per person, signed with the dev IdP's key, valid
/// for four hours.
fn person_tokens(cfg: &Config, insured: &[String]) -> Result<BTreeMap<String, String>> {
    let idp_key = std::fs::read_to_string(cfg.pki().join("person-idp.key"))?;
    let now = inproc::now();
    let mut tokens = BTreeMap::new();
    for n in insured {
        if tokens.contains_key(n) {
            continue;
        }
        let claims = carehub::devpki::PersonClaims {
            iss: "carehub-dev-idp".into(),
            aud: "carehub".into(),
            sub: format!("bench-{n}"),
            insurer_number: data::INSURER.into(),
            insured_number: n.clone(),
            actor: "person".into(),
            iat: now,
            exp: now + 4 * 3600,
        };
        tokens.insert(n.clone(), carehub::devpki::person_token(&idp_key, &claims)?);
    }
    Ok(tokens)
}

/// The gateway's database opened in this process as the gateway opens it,
/// and the municipality as its reader.
pub struct NativeStore {
    /// The store over the database file.
    pub store: SqlStore<NativeDb>,
    /// The municipality.
    pub reader: Reader,
}

/// What a scenario needs set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// A server.
    Server(Server),
    /// The database opened natively in this process.
    Store,
    /// The gateway's runtime loaded in this process.
    Runtime,
    /// Nothing but this process.
    ThisProcess,
    /// Nothing running: each measurement starts a gateway of its own.
    FreshGateways,
}

/// What is set up for the scenario at hand.
pub enum Place {
    /// Nothing yet.
    Empty,
    /// A server.
    Server(Server, Up),
    /// The database opened in this process (boxed: it is large).
    Store(Box<NativeStore>),
    /// The gateway's runtime in this process (boxed: it is large).
    Runtime(Box<inproc::InProcess>),
    /// This process, nothing set up.
    ThisProcess,
    /// Nothing: cold starts start their own gateways.
    FreshGateways,
}

impl Place {
    /// What this place provides (`None` when empty).
    fn provides(&self) -> Option<Needs> {
        match self {
            Place::Empty => None,
            Place::Server(s, _) => Some(Needs::Server(*s)),
            Place::Store(_) => Some(Needs::Store),
            Place::Runtime(_) => Some(Needs::Runtime),
            Place::ThisProcess => Some(Needs::ThisProcess),
            Place::FreshGateways => Some(Needs::FreshGateways),
        }
    }

    /// This place if it provides `needs`; otherwise it is torn down and
    /// `needs` set up. `gateway` is the gateway the dataset was loaded
    /// through: the gateway's scenarios use it, and it is stopped before
    /// anything else is set up.
    pub fn enter(
        self,
        needs: Needs,
        bench: &mut Bench<'_>,
        gateway: &mut Option<Up>,
    ) -> Result<Place> {
        if self.provides() == Some(needs) {
            return Ok(self);
        }
        self.leave();
        if needs == Needs::Server(Server::Gateway) {
            eprintln!(
                "carehub-bench: load cells ({} s each after {} s warm-up)",
                bench.cfg.duration_s, bench.cfg.warmup_s
            );
            let up = match gateway.take() {
                Some(up) => up,
                None => Up::start(bench, Server::Gateway)?,
            };
            return Ok(Place::Server(Server::Gateway, up));
        }
        if let Some(up) = gateway.take() {
            up.stop();
        }
        Place::set_up(needs, bench)
    }

    fn set_up(needs: Needs, bench: &mut Bench<'_>) -> Result<Place> {
        let cfg = bench.cfg;
        Ok(match needs {
            Needs::Server(s) => Place::Server(s, Up::start(bench, s)?),
            Needs::Store => {
                eprintln!(
                    "carehub-bench: in-process rows (this process, core {})",
                    cfg.client_core.map_or("any".into(), |c| c.to_string())
                );
                Place::Store(Box::new(NativeStore {
                    store: inproc::native_store(&cfg.db())?,
                    reader: inproc::municipality_reader()?,
                }))
            }
            Needs::Runtime => Place::Runtime(Box::new(inproc::InProcess::load(
                &bench.bench_manifest,
                &cfg.state_dir,
                &cfg.cache_dir,
            )?)),
            Needs::ThisProcess => Place::ThisProcess,
            Needs::FreshGateways => {
                eprintln!("carehub-bench: cold start (spawn → first answered read)");
                Place::FreshGateways
            }
        })
    }

    /// Tears it down: a server is stopped, what was opened is closed.
    pub fn leave(self) {
        if let Place::Server(_, up) = self {
            up.stop();
        }
    }

    /// The server, for a load scenario.
    pub fn server(&self) -> Result<&Up> {
        match self {
            Place::Server(_, up) => Ok(up),
            _ => bail!("not a server"),
        }
    }

    /// The store, for a native scenario.
    pub fn store(&self) -> Result<&NativeStore> {
        match self {
            Place::Store(s) => Ok(s),
            _ => bail!("the store is not open"),
        }
    }

    /// The runtime, for an in-process scenario.
    pub fn runtime(&self) -> Result<&inproc::InProcess> {
        match self {
            Place::Runtime(r) => Ok(r),
            _ => bail!("the runtime is not loaded"),
        }
    }
}
