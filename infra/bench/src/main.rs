//! `carehub-bench`: the benchmark harness of issue 7.
//!
//! One command generates (or reuses) a dataset through the hub's own bulk
//! ingest, starts the real gateway pinned to the server core, drives it from
//! the other core over mTLS with keep-alive connections, measures the floors
//! in the same run (native edge, trivial component through the gateway, the
//! same component through wasmtime-wasi-http's own serving path, raw SQLite),
//! measures cold start, and prints a markdown table (also written as JSON).
//! `BENCHMARKS.md` at the repository root says how to run it and what each
//! row means.

mod client;
mod data;
mod inproc;
mod peer;
mod procs;
mod report;
mod sys;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use client::{Body, Load, MakeRequest, Target};
use data::{Rng, Templates};
use report::{ColdStart, Row};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "carehub-bench",
    about = "Benchmarks the carehub gateway and components against their floors"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve one component as wasmtime-wasi-http's example does (floor c).
    #[command(hide = true)]
    Peer(peer::PeerArgs),
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// Small data, 1 s cells, fewer cold starts: the whole run in a couple of minutes.
    #[arg(long)]
    quick: bool,
    /// Measured seconds per cell [default: 5; --quick: 1].
    #[arg(long)]
    duration: Option<f64>,
    /// Warm-up seconds per cell, not measured [default: 1; --quick: 0.3].
    #[arg(long)]
    warmup: Option<f64>,
    /// Persons in the dataset [default: 100000; --quick: 2000].
    #[arg(long)]
    persons: Option<u64>,
    /// Documents in the dataset [default: 1000000; --quick: 20000].
    #[arg(long)]
    documents: Option<u64>,
    /// Connection counts of the load cells.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    connections: Vec<usize>,
    /// Lines per bulk request while loading the dataset.
    #[arg(long, default_value_t = 5000)]
    batch_lines: usize,
    /// Bulk requests in flight while loading the dataset.
    #[arg(long, default_value_t = 2)]
    load_in_flight: usize,
    /// Lines per request in the bulk-ingest cells [default: 1000; --quick: 200].
    #[arg(long)]
    bulk_lines: Option<usize>,
    /// Cold starts with the compiled cache warm [default: 5; --quick: 2].
    #[arg(long)]
    cold_runs: Option<usize>,
    /// Cold starts with --no-cache [default: 2; --quick: 1].
    #[arg(long)]
    cold_runs_no_cache: Option<usize>,
    /// Only these groups: floors, read, ingest, plain, inproc, cold (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Record `perf` profiles of the server during these cells (`key@conns`,
    /// e.g. `read_list@32,floor_b@32`); written into the state directory.
    #[arg(long, value_delimiter = ',')]
    perf: Vec<String>,
    /// State directory (dataset, dev PKI, logs) [default: target/carehub-bench/p{persons}-d{documents}].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Results JSON [default: target/carehub-bench/results[-quick].json].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Throw the dataset away and load it again.
    #[arg(long)]
    regenerate: bool,
    /// The gateway binary [default: target/release/carehub].
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// Where the components are [default: target/wasm32-wasip2/release].
    #[arg(long)]
    wasm_dir: Option<PathBuf>,
    /// Core for the server (gateway or peer).
    #[arg(long, default_value_t = 0)]
    server_core: usize,
    /// Core for this load generator.
    #[arg(long, default_value_t = 1)]
    client_core: usize,
    /// Do not pin anything.
    #[arg(long)]
    no_pin: bool,
    /// Build first: the gateway (release), every component spin.toml lists
    /// (its build commands) and the probe.
    #[arg(long)]
    build: bool,
    /// Run a cell again when other work took more than this share (percent)
    /// of the server core during it ("noise"); the quietest attempt is kept.
    #[arg(long, default_value_t = 10.0)]
    max_noise: f64,
    /// Extra attempts per noisy cell [default: 1; --quick: 0].
    #[arg(long)]
    retries: Option<usize>,
}

/// The settled configuration.
#[derive(Debug, Clone, Serialize)]
struct Config {
    quick: bool,
    duration_s: f64,
    warmup_s: f64,
    persons: u64,
    documents: u64,
    connections: Vec<usize>,
    batch_lines: usize,
    load_in_flight: usize,
    bulk_lines: usize,
    cold_runs: usize,
    cold_runs_no_cache: usize,
    #[serde(skip)]
    workspace: PathBuf,
    state_dir: PathBuf,
    cache_dir: PathBuf,
    gateway: PathBuf,
    wasm_dir: PathBuf,
    server_core: Option<usize>,
    client_core: Option<usize>,
    groups: Vec<String>,
    perf: Vec<String>,
    regenerate: bool,
    out: PathBuf,
    max_noise: f64,
    retries: usize,
}

impl Config {
    fn from(a: RunArgs) -> Result<Config> {
        let q = a.quick;
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .context("locating the workspace")?;
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        let persons = a.persons.unwrap_or(if q { 2_000 } else { 100_000 });
        let documents = a.documents.unwrap_or(if q { 20_000 } else { 1_000_000 });
        if persons == 0 || documents == 0 {
            bail!("--persons and --documents must be positive");
        }
        let bench_dir = target.join("carehub-bench");
        let all = ["floors", "read", "ingest", "plain", "inproc", "cold"];
        for g in &a.only {
            if !all.contains(&g.as_str()) {
                bail!("unknown group {g:?}; groups: {}", all.join(", "));
            }
        }
        let groups = if a.only.is_empty() {
            all.iter().map(|s| (*s).to_owned()).collect()
        } else {
            a.only.clone()
        };
        Ok(Config {
            quick: q,
            duration_s: a.duration.unwrap_or(if q { 1.0 } else { 5.0 }),
            warmup_s: a.warmup.unwrap_or(if q { 0.3 } else { 1.0 }),
            persons,
            documents,
            connections: a.connections.clone(),
            batch_lines: a.batch_lines.max(1),
            load_in_flight: a.load_in_flight.max(1),
            bulk_lines: a.bulk_lines.unwrap_or(if q { 200 } else { 1000 }).max(1),
            cold_runs: a.cold_runs.unwrap_or(if q { 2 } else { 5 }),
            cold_runs_no_cache: a.cold_runs_no_cache.unwrap_or(if q { 1 } else { 2 }),
            state_dir: a
                .state_dir
                .clone()
                .unwrap_or_else(|| bench_dir.join(format!("p{persons}-d{documents}"))),
            cache_dir: bench_dir.join("cache"),
            gateway: a
                .gateway
                .clone()
                .unwrap_or_else(|| target.join("release/carehub")),
            wasm_dir: a
                .wasm_dir
                .clone()
                .unwrap_or_else(|| target.join("wasm32-wasip2/release")),
            server_core: (!a.no_pin).then_some(a.server_core),
            client_core: (!a.no_pin).then_some(a.client_core),
            groups,
            perf: a.perf.clone(),
            regenerate: a.regenerate,
            max_noise: a.max_noise,
            retries: a.retries.unwrap_or(if q { 0 } else { 1 }),
            out: a.out.clone().unwrap_or_else(|| {
                bench_dir.join(if q {
                    "results-quick.json"
                } else {
                    "results.json"
                })
            }),
            workspace,
        })
    }

    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_s)
    }
    fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup_s)
    }
    fn wants(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
    fn pki(&self) -> PathBuf {
        self.state_dir.join("pki")
    }
    fn db(&self) -> PathBuf {
        self.state_dir.join("data/default.db")
    }
    fn wasm(&self, name: &str) -> PathBuf {
        self.wasm_dir.join(format!("{name}.wasm"))
    }
}

/// Where the servers ran and how.
#[derive(Debug, Clone, Serialize)]
struct ServerNote {
    name: String,
    command_line: String,
    cpus_allowed: String,
    rust_backtrace_set: Option<bool>,
    ready_line_ms: Option<u64>,
    ready_after_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
struct Pinning {
    server_core: Option<usize>,
    client_core: Option<usize>,
    load_generator_cpus_allowed: String,
    servers: Vec<ServerNote>,
}

#[derive(Serialize)]
struct Results {
    harness: &'static str,
    started_unix: u64,
    command_line: String,
    machine: sys::Machine,
    pinning: Pinning,
    loadavg_before: String,
    loadavg_after: String,
    config: Config,
    dataset: Option<data::Dataset>,
    envelope_bytes: BTreeMap<String, usize>,
    component_bytes: BTreeMap<String, u64>,
    rows: Vec<Row>,
    micro: Vec<Row>,
    cold_start: Vec<ColdStart>,
    targets: Vec<report::Target>,
    perf_reports: Vec<String>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Peer(args)) = cli.command {
        return peer::serve(args);
    }
    let cfg = Config::from(cli.run.clone())?;
    if cli.run.build && std::env::var_os(sys::PINNED_ENV).is_none() {
        build(&cfg)?;
    }
    if let Some(core) = cfg.client_core {
        if sys::have_taskset() {
            sys::pin_self(core)?;
        } else {
            eprintln!("carehub-bench: taskset not found; running unpinned");
        }
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(cfg))
}

/// Builds what the run needs, on every core (before pinning).
fn build(cfg: &Config) -> Result<()> {
    let run = |program: &Path, args: &[&str]| -> Result<()> {
        eprintln!("carehub-bench: {} {}", program.display(), args.join(" "));
        let status = std::process::Command::new(program)
            .args(args)
            .current_dir(&cfg.workspace)
            .status()
            .with_context(|| format!("running {}", program.display()))?;
        if !status.success() {
            bail!("{} {} failed ({status})", program.display(), args.join(" "));
        }
        Ok(())
    };
    let cargo = PathBuf::from(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    run(&cargo, &["build", "--release", "-p", "carehub"])?;
    run(&cfg.gateway, &["build", "--manifest", "spin.toml"])?;
    run(
        &cargo,
        &[
            "build",
            "--target",
            "wasm32-wasip2",
            "--release",
            "-p",
            "carehub-probe",
        ],
    )
}

/// Writes the manifests: `app.toml` (the real spin.toml, absolute paths)
/// and `bench.toml` (the same plus the probe on `/probe/...`).
fn write_manifests(cfg: &Config) -> Result<(PathBuf, PathBuf)> {
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
    std::fs::create_dir_all(&cfg.state_dir)?;
    let (a, b) = (
        cfg.state_dir.join("app.toml"),
        cfg.state_dir.join("bench.toml"),
    );
    std::fs::write(&a, app)?;
    std::fs::write(&b, bench)?;
    Ok((a, b))
}

fn gateway_launch(cfg: &Config, manifest: &Path, listen: &str, extra: &[&str]) -> procs::Launch {
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
    argv.extend(extra.iter().map(OsString::from));
    procs::Launch {
        argv,
        core: cfg.server_core,
        env: vec![("CAREHUB_LOG".into(), "warn".into())],
    }
}

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

fn note(name: &str, s: &procs::Server) -> ServerNote {
    ServerNote {
        name: name.to_owned(),
        command_line: s.command_line.clone(),
        cpus_allowed: sys::allowed_cpus(&s.pid.to_string()),
        rust_backtrace_set: sys::env_has(s.pid, "RUST_BACKTRACE"),
        ready_line_ms: s.ready_ms,
        ready_after_ms: Some(s.ready_after.as_secs_f64() * 1e3),
    }
}

fn target_for(cfg: &Config, addr: std::net::SocketAddr, role: &str) -> Result<Target> {
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

fn get(target: &Target, path: &str) -> http::request::Builder {
    http::Request::builder()
        .method("GET")
        .uri(format!(
            "{}://localhost:{}{path}",
            target.scheme(),
            target.addr.port()
        ))
        .header("host", format!("localhost:{}", target.addr.port()))
}

fn empty() -> Body {
    Body::new(Bytes::new())
}

/// A cell to run against a server.
struct CellSpec {
    key: &'static str,
    name: String,
    identity: &'static str,
    target: Target,
    make: MakeRequest,
    expect: u16,
    marker: Option<&'static str>,
}

/// A cell that GETs a fixed answer: `/_carehub/floor` (floor (a)),
/// `/probe/fixed` through the gateway (floor (b), plain (b)), or `/fixed` on
/// the peer, which sets no Spin headers, so the client sends
/// `spin-path-info` itself (floor (c), plain (c)).
fn fixed_cell(
    key: &'static str,
    name: &str,
    identity: &'static str,
    target: Target,
    path: &'static str,
) -> CellSpec {
    let t = target.clone();
    let via_peer = path == "/fixed";
    CellSpec {
        key,
        name: name.into(),
        identity,
        make: Arc::new(move |_, _| {
            let req = get(&t, path);
            let req = if via_peer {
                req.header("spin-path-info", path)
            } else {
                req
            };
            req.body(empty()).expect("request")
        }),
        target,
        expect: 200,
        marker: None,
    }
}

struct Runner<'a> {
    cfg: &'a Config,
    ticks: u64,
    rows: Vec<Row>,
    perf_reports: Vec<String>,
}

impl Runner<'_> {
    async fn cell(
        &mut self,
        spec: &CellSpec,
        server: &procs::Server,
        server_name: &str,
        conns: usize,
    ) -> Result<()> {
        let label = format!("{}@{conns}", spec.key);
        eprint!(
            "  {:<34} {:<26} ",
            spec.name,
            format!("{server_name}, {conns} conn")
        );
        // Bulk requests take long: a longer warm-up fills the pipeline, a
        // longer window counts enough of them.
        let (warmup, duration) = if spec.marker.is_some() {
            (
                self.cfg.warmup().max(self.cfg.duration()),
                self.cfg.duration() * 2,
            )
        } else {
            (self.cfg.warmup(), self.cfg.duration())
        };
        let mut best: Option<client::Measured> = None;
        for attempt in 0..=self.cfg.retries {
            let perf = if attempt == 0 && self.cfg.perf.contains(&label) {
                Some(self.start_perf(server.pid, &label)?)
            } else {
                None
            };
            let measured = client::run(
                Load {
                    target: spec.target.clone(),
                    connections: conns,
                    warmup,
                    duration,
                    make: spec.make.clone(),
                    expect: spec.expect,
                    count_marker: spec.marker,
                    server_pid: Some(server.pid),
                    server_core: self.cfg.server_core,
                },
                self.ticks,
            )
            .await
            .with_context(|| format!("cell {label}"))?;
            if let Some((child, data)) = perf {
                self.perf_reports.push(finish_perf(child, &data)?);
            }
            let noise = noise_pct(&measured, duration);
            let better = best.as_ref().is_none_or(|b| noise < noise_pct(b, duration));
            if better {
                best = Some(measured);
            }
            if noise <= self.cfg.max_noise || attempt == self.cfg.retries {
                break;
            }
            eprint!("(noise {noise:.0} %, again) ");
        }
        let measured = best.expect("at least one attempt");
        let row = Row::new(
            spec.key,
            &spec.name,
            server_name,
            spec.identity,
            conns,
            &measured,
        );
        if row.requests == 0 {
            eprintln!(
                "FAILED: no expected answer ({} errors; first: {})",
                row.errors,
                row.first_error.as_deref().unwrap_or("none")
            );
        } else {
            eprintln!(
                "{:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  {:>5.0} µs CPU/req{}{}",
                row.rps,
                row.p50_ms,
                row.p99_ms,
                row.server_cpu_us_per_req.unwrap_or(f64::NAN),
                row.docs_per_s
                    .map(|d| format!("  {d:.0} docs/s"))
                    .unwrap_or_default(),
                if row.errors > 0 {
                    format!(
                        "  {} errors: {}",
                        row.errors,
                        row.first_error.as_deref().unwrap_or("")
                    )
                } else {
                    String::new()
                }
            );
        }
        self.rows.push(row);
        if let Some(p) = self
            .perf_reports
            .last()
            .filter(|_| self.cfg.perf.contains(&label))
        {
            eprintln!("    perf profile of the server: {p}");
        }
        Ok(())
    }

    fn start_perf(&self, pid: u32, label: &str) -> Result<(std::process::Child, PathBuf)> {
        let data = self
            .cfg
            .state_dir
            .join(format!("perf-{}.data", label.replace('@', "-")));
        let secs = self.cfg.warmup_s + self.cfg.duration_s + 0.5;
        let mut cmd = std::process::Command::new("perf");
        cmd.args(["record", "-F", "2999", "-g", "-o"])
            .arg(&data)
            .args(["-p", &pid.to_string(), "--", "sleep", &format!("{secs:.1}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        Ok((cmd.spawn().context("starting perf")?, data))
    }
}

/// Busy time on the server core not spent by the server, percent.
fn noise_pct(m: &client::Measured, window: Duration) -> f64 {
    match (m.server_core_busy, m.server_cpu) {
        (Some(busy), Some(cpu)) => (100.0 * busy - 100.0 * cpu / window.as_secs_f64()).max(0.0),
        _ => 0.0,
    }
}

fn finish_perf(mut child: std::process::Child, data: &Path) -> Result<String> {
    child.wait()?;
    let out = std::process::Command::new("perf")
        .args([
            "report",
            "--no-children",
            "--sort",
            "dso,symbol",
            "--stdio",
            "-g",
            "none",
            "--percent-limit",
            "0.7",
            "-i",
        ])
        .arg(data)
        .output()
        .context("perf report")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let path = data.with_extension("txt");
    std::fs::write(&path, &text)?;
    Ok(path.display().to_string())
}

fn now_unix() -> u64 {
    inproc::now()
}

async fn run(cfg: Config) -> Result<()> {
    let started = Instant::now();
    tokio::spawn(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminated => {}
        }
        eprintln!("\ncarehub-bench: interrupted; stopping the servers it started");
        procs::kill_all();
        std::process::exit(130);
    });
    let machine = sys::machine();
    let ticks = sys::clock_ticks();
    eprintln!(
        "carehub-bench: {} × {} ({}), kernel {}; server on core {}, load generator on core {} (allowed: {})",
        machine.nproc,
        machine.cpu_model,
        machine.cpu_mhz,
        machine.kernel,
        cfg.server_core.map_or("any".into(), |c| c.to_string()),
        cfg.client_core.map_or("any".into(), |c| c.to_string()),
        sys::allowed_cpus("self"),
    );
    let load_before = sys::loadavg();
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        eprintln!(
            "carehub-bench: RUST_BACKTRACE is set here; it is removed from every server's environment"
        );
    }
    if !cfg.gateway.exists() {
        bail!(
            "{} is missing: cargo build --release -p carehub",
            cfg.gateway.display()
        );
    }
    let (app_manifest, bench_manifest) = write_manifests(&cfg)?;
    let logs = cfg.state_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let run_id = now_unix();

    // ---- dataset ----
    let dataset_file = cfg.state_dir.join("dataset.json");
    let mut dataset: Option<data::Dataset> = std::fs::read(&dataset_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|d: &data::Dataset| d.persons == cfg.persons && d.documents == cfg.documents);
    if (dataset.is_none() || cfg.regenerate) && cfg.state_dir.join("data").exists() {
        eprintln!(
            "carehub-bench: removing the old dataset in {}",
            cfg.state_dir.join("data").display()
        );
        std::fs::remove_dir_all(cfg.state_dir.join("data"))?;
        let _ = std::fs::remove_file(&dataset_file);
        dataset = None;
    }
    let mut notes = Vec::new();
    let mut runner = Runner {
        cfg: &cfg,
        ticks,
        rows: Vec::new(),
        perf_reports: Vec::new(),
    };
    let templates = Arc::new(Templates::new());
    let conns = cfg.connections.clone();

    // ---- gateway, mTLS edge, with the floor route and the probe ----
    let gw = procs::start(
        &gateway_launch(&cfg, &bench_manifest, "127.0.0.1:0", &["--floor-route"]),
        &logs.join("gateway.log"),
    )?;
    notes.push(note("gateway (mTLS edge, --floor-route, probe)", &gw));
    let roles = ["municipality", "care-manager", "care-service", "portal"];
    let mut targets = BTreeMap::new();
    for role in roles {
        targets.insert(role, target_for(&cfg, gw.addr, role)?);
    }
    if dataset.is_none() {
        eprintln!(
            "carehub-bench: loading {} documents for {} persons through bulk ingest ({} lines a request, {} in flight)",
            cfg.documents, cfg.persons, cfg.batch_lines, cfg.load_in_flight
        );
        let d = data::load(
            &targets,
            cfg.persons,
            cfg.documents,
            cfg.batch_lines,
            cfg.load_in_flight,
            &cfg.db(),
        )
        .await?;
        std::fs::write(&dataset_file, serde_json::to_vec_pretty(&d)?)?;
        dataset = Some(d);
    } else {
        eprintln!(
            "carehub-bench: reusing the dataset in {} (--regenerate to load it again)",
            cfg.state_dir.display()
        );
    }
    let read = data::read_targets(&cfg.db(), cfg.persons, 4096)?;
    let insured = Arc::new(read.insured);
    let ids = Arc::new(read.document_ids);
    let idp_key = std::fs::read_to_string(cfg.pki().join("person-idp.key"))?;
    let mut tokens = BTreeMap::new();
    let now = now_unix();
    for n in insured.iter().take(256) {
        tokens.entry(n.clone()).or_insert_with(|| {
            carehub::devpki::person_token(
                &idp_key,
                &carehub::devpki::PersonClaims {
                    iss: "carehub-dev-idp".into(),
                    aud: "carehub".into(),
                    sub: format!("bench-{n}"),
                    insurer_number: data::INSURER.into(),
                    insured_number: n.clone(),
                    actor: "person".into(),
                    iat: now,
                    exp: now + 4 * 3600,
                },
            )
        });
    }
    let tokens: Arc<BTreeMap<String, String>> = Arc::new(
        tokens
            .into_iter()
            .map(|(k, v)| v.map(|v| (k, v)))
            .collect::<Result<_, carehub::Error>>()?,
    );
    let token_persons: Arc<Vec<String>> = Arc::new(tokens.keys().cloned().collect());

    let muni = targets["municipality"].clone();
    let mut specs: Vec<CellSpec> = Vec::new();
    if cfg.wants("floors") {
        specs.push(fixed_cell(
            "floor_a",
            "floor (a): native answer after mTLS",
            "municipality",
            muni.clone(),
            "/_carehub/floor",
        ));
        specs.push(fixed_cell(
            "floor_b",
            "floor (b): probe /fixed via gateway",
            "municipality",
            muni.clone(),
            "/probe/fixed",
        ));
    }
    if cfg.wants("read") {
        let (t, ins) = (muni.clone(), insured.clone());
        specs.push(CellSpec {
            key: "read_list",
            name: "read list (person's documents)".into(),
            identity: "municipality",
            make: Arc::new(move |c, i| {
                let mut rng = Rng::new((c as u64) << 32 | i);
                let n = &ins[rng.below(ins.len() as u64) as usize];
                get(&t, &format!("/api/read/persons/131016/{n}/documents"))
                    .body(empty())
                    .expect("request")
            }),
            target: muni.clone(),
            expect: 200,
            marker: None,
        });
        let (t, ids2) = (muni.clone(), ids.clone());
        specs.push(CellSpec {
            key: "read_get",
            name: "read get (one document)".into(),
            identity: "municipality",
            make: Arc::new(move |c, i| {
                let mut rng = Rng::new((c as u64) << 32 | i);
                let id = &ids2[rng.below(ids2.len() as u64) as usize];
                get(&t, &format!("/api/read/documents/{id}"))
                    .body(empty())
                    .expect("request")
            }),
            target: muni.clone(),
            expect: 200,
            marker: None,
        });
        let (t, ins) = (muni.clone(), token_persons.clone());
        specs.push(CellSpec {
            key: "read_list_cert",
            name: "read list ?kind=insurance_certificate".into(),
            identity: "municipality",
            make: Arc::new(move |c, i| {
                let mut rng = Rng::new((c as u64) << 32 | i);
                let n = &ins[rng.below(ins.len() as u64) as usize];
                get(
                    &t,
                    &format!("/api/read/persons/131016/{n}/documents?kind=insurance_certificate"),
                )
                .body(empty())
                .expect("request")
            }),
            target: muni.clone(),
            expect: 200,
            marker: None,
        });
        let portal = targets["portal"].clone();
        let (t, ins, tok) = (portal.clone(), token_persons.clone(), tokens.clone());
        specs.push(CellSpec {
            key: "read_list_cert_portal",
            name: "read list ?kind=insurance_certificate".into(),
            identity: "portal + person token",
            make: Arc::new(move |c, i| {
                let mut rng = Rng::new((c as u64) << 32 | i);
                let n = &ins[rng.below(ins.len() as u64) as usize];
                get(
                    &t,
                    &format!("/api/read/persons/131016/{n}/documents?kind=insurance_certificate"),
                )
                .header("authorization", format!("Bearer {}", tok[n]))
                .body(empty())
                .expect("request")
            }),
            target: portal,
            expect: 200,
            marker: None,
        });
    }
    let write_kinds = [
        carehub_domain::DocumentKind::CertificationApplication,
        carehub_domain::DocumentKind::PhysicianOpinion,
        carehub_domain::DocumentKind::HousingRenovation,
        carehub_domain::DocumentKind::CertificationSurvey,
        carehub_domain::DocumentKind::WelfareEquipmentPurchase,
    ];
    if cfg.wants("ingest") {
        let (t, tpl) = (muni.clone(), templates.clone());
        specs.push(CellSpec {
            key: "ingest_single",
            name: "ingest single (with Idempotency-Key)".into(),
            identity: "municipality",
            make: Arc::new(move |c, i| {
                let kind = write_kinds[i as usize % write_kinds.len()];
                let person = format!("9{:09}", (c as u64 * 1000) + i % 1000);
                let key = format!("s{run_id}-{c}-{i}");
                http::Request::builder()
                    .method("POST")
                    .uri(format!(
                        "https://localhost:{}/api/ingest/documents",
                        t.addr.port()
                    ))
                    .header("host", format!("localhost:{}", t.addr.port()))
                    .header("content-type", "application/json")
                    .header("idempotency-key", &key)
                    .body(Body::new(Bytes::from(tpl.line(kind, &person, &key))))
                    .expect("request")
            }),
            target: muni.clone(),
            expect: 201,
            marker: None,
        });
        let (t, tpl, lines) = (muni.clone(), templates.clone(), cfg.bulk_lines);
        specs.push(CellSpec {
            key: "ingest_bulk",
            name: format!("ingest bulk NDJSON ({lines} lines)"),
            identity: "municipality",
            make: Arc::new(move |c, i| {
                let mut body = Vec::with_capacity(lines * 2048);
                for j in 0..lines as u64 {
                    let kind = write_kinds[j as usize % write_kinds.len()];
                    let person = format!(
                        "8{:09}",
                        (c as u64 * 100_000) + (i * lines as u64 + j) % 100_000
                    );
                    body.extend_from_slice(
                        tpl.line(kind, &person, &format!("b{run_id}-{c}-{i}-{j}"))
                            .as_bytes(),
                    );
                    body.push(b'\n');
                }
                data::bulk_request(&t, body)
            }),
            target: muni.clone(),
            expect: 200,
            marker: Some("\"status\":201"),
        });
    }
    if !specs.is_empty() {
        eprintln!(
            "carehub-bench: load cells ({} s each after {} s warm-up)",
            cfg.duration_s, cfg.warmup_s
        );
    }
    for spec in &specs {
        for &n in &conns {
            runner.cell(spec, &gw, "gateway (mTLS)", n).await?;
        }
    }
    gw.stop();

    // ---- floor (c): the peer, same TLS ----
    if cfg.wants("floors") {
        let peer = procs::start(&peer_launch(&cfg, true)?, &logs.join("peer.log"))?;
        notes.push(note(
            "peer (wasmtime-wasi-http ProxyPre + hyper, mTLS)",
            &peer,
        ));
        let spec = fixed_cell(
            "floor_c",
            "floor (c): probe /fixed via peer",
            "municipality",
            target_for(&cfg, peer.addr, "municipality")?,
            "/fixed",
        );
        for &n in &conns {
            runner.cell(&spec, &peer, "peer (mTLS)", n).await?;
        }
        peer.stop();
    }

    // ---- plain HTTP pair: the gateway without its edge, the peer without TLS ----
    if cfg.wants("plain") {
        let g = procs::start(
            &gateway_launch(&cfg, &bench_manifest, "127.0.0.1:0", &["--no-edge"]),
            &logs.join("gateway-plain.log"),
        )?;
        notes.push(note("gateway --no-edge (plain HTTP)", &g));
        let plain = Target {
            addr: g.addr,
            tls: None,
        };
        let spec = fixed_cell(
            "plain_b",
            "probe /fixed via gateway, plain HTTP",
            "none",
            plain,
            "/probe/fixed",
        );
        for &n in &conns {
            runner.cell(&spec, &g, "gateway --no-edge", n).await?;
        }
        g.stop();
        let p = procs::start(&peer_launch(&cfg, false)?, &logs.join("peer-plain.log"))?;
        notes.push(note("peer (plain HTTP)", &p));
        let plain = Target {
            addr: p.addr,
            tls: None,
        };
        let spec = fixed_cell(
            "plain_c",
            "probe /fixed via peer, plain HTTP",
            "none",
            plain,
            "/fixed",
        );
        for &n in &conns {
            runner.cell(&spec, &p, "peer plain", n).await?;
        }
        p.stop();
    }

    // ---- in this process: runtime without HTTP, native handler, SQLite, single operations ----
    let mut micro_rows = Vec::new();
    if cfg.wants("inproc") || cfg.wants("read") {
        eprintln!(
            "carehub-bench: in-process rows (this process, core {})",
            cfg.client_core.map_or("any".into(), |c| c.to_string())
        );
        let (w, d) = (cfg.warmup(), cfg.duration());
        let store = inproc::native_store(&cfg.db())?;
        let reader = inproc::municipality_reader()?;
        let mut push =
            |key: &str, name: &str, server: &str, identity: &str, m: client::Measured| {
                let row = Row::new(key, name, server, identity, 1, &m);
                eprintln!(
                    "  {:<60} {:>9.0} /s  p50 {:>8.3} ms  p99 {:>8.3} ms",
                    format!("{name} [{server}]"),
                    row.rps,
                    row.p50_ms,
                    row.p99_ms
                );
                runner.rows.push(row);
            };
        push(
            "sqlite_list",
            "floor (d): list SQL",
            "native SQLite (rusqlite)",
            "municipality",
            inproc::sqlite_list(&store, &reader, &insured, w, d)?,
        );
        push(
            "sqlite_get",
            "floor (d): get SQL (3 statements)",
            "native SQLite (rusqlite)",
            "municipality",
            inproc::sqlite_get(&store, &ids, w, d)?,
        );
        if cfg.wants("inproc") {
            push(
                "native_list",
                "read list handler",
                "native handler (no wasm, no HTTP)",
                "municipality",
                inproc::native_list(&store, &reader, &insured, w, d)?,
            );
            push(
                "native_get",
                "read get handler",
                "native handler (no wasm, no HTTP)",
                "municipality",
                inproc::native_get(&store, &reader, &ids, w, d)?,
            );
            let ip = inproc::InProcess::load(&bench_manifest, &cfg.state_dir, &cfg.cache_dir)?;
            let muni_p = reader.principal.clone();
            let portal_p =
                carehub_domain::Principal::parse_urn("urn:carehub:portal:mynaportal-dev")
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            let cases: Vec<(&str, &str, &str, inproc::Case, &carehub_domain::Principal)> = vec![
                (
                    "inproc_fixed",
                    "probe /fixed",
                    "municipality",
                    inproc::Case::ProbeFixed,
                    &muni_p,
                ),
                (
                    "inproc_list",
                    "read list",
                    "municipality",
                    inproc::Case::ReadList {
                        insured: insured.clone(),
                        kind: None,
                        tokens: None,
                    },
                    &muni_p,
                ),
                (
                    "inproc_get",
                    "read get",
                    "municipality",
                    inproc::Case::ReadGet { ids: ids.clone() },
                    &muni_p,
                ),
                (
                    "inproc_list_cert",
                    "read list ?kind=insurance_certificate",
                    "municipality",
                    inproc::Case::ReadList {
                        insured: token_persons.clone(),
                        kind: Some("insurance_certificate"),
                        tokens: None,
                    },
                    &muni_p,
                ),
                (
                    "inproc_list_cert_portal",
                    "read list ?kind=insurance_certificate",
                    "portal + person token",
                    inproc::Case::ReadList {
                        insured: token_persons.clone(),
                        kind: Some("insurance_certificate"),
                        tokens: Some(tokens.clone()),
                    },
                    &portal_p,
                ),
            ];
            for (key, name, identity, case, principal) in cases {
                let m = ip.measure(&case, principal, w, d).await?;
                push(key, name, "in-process runtime (no TLS/HTTP)", identity, m);
            }
            drop(ip);
            let token = tokens.values().next().cloned().unwrap_or_default();
            for (name, m) in inproc::micro(&cfg.pki(), &token, w, d)? {
                let row = Row::new("micro", name, "native, one call", "", 1, &m);
                eprintln!(
                    "  {:<60} {:>9.0} /s  mean {:>8.1} µs",
                    name,
                    row.rps,
                    1e6 / row.rps
                );
                micro_rows.push(row);
            }
        }
    }

    // ---- cold start ----
    let mut cold = Vec::new();
    if cfg.wants("cold") {
        eprintln!("carehub-bench: cold start (spawn → first answered read)");
        let muni_cold = |addr| target_for(&cfg, addr, "municipality");
        for (setting, runs, extra) in [
            ("compiled cache warm", cfg.cold_runs, &[][..]),
            (
                "--no-cache (compile at start)",
                cfg.cold_runs_no_cache,
                &["--no-cache"][..],
            ),
        ] {
            let mut c = ColdStart {
                setting: setting.into(),
                runs_ms: Vec::new(),
                ready_line_ms: Vec::new(),
                median_ms: f64::NAN,
                request: "GET /api/read/persons/131016/0000000001/documents (municipality, mTLS)"
                    .into(),
            };
            for run in 0..runs {
                let port = sys::free_port()?;
                let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse()?;
                let log = logs.join(format!(
                    "cold-{}-{run}.log",
                    if extra.is_empty() {
                        "cached"
                    } else {
                        "nocache"
                    }
                ));
                let _ = std::fs::remove_file(&log);
                let launch = gateway_launch(&cfg, &app_manifest, &addr.to_string(), extra);
                let target = muni_cold(addr)?;
                let t0 = Instant::now();
                let mut child = procs::spawn(&launch, &log)?;
                let answered = loop {
                    let req = get(&target, "/api/read/persons/131016/0000000001/documents")
                        .body(empty())?;
                    match client::once(&target, req).await {
                        Ok(r) if r.status() == 200 => break Ok(t0.elapsed()),
                        Ok(r) => {
                            break Err(anyhow::anyhow!("first request answered {}", r.status()));
                        }
                        Err(_) if t0.elapsed() < Duration::from_secs(300) => {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        Err(e) => break Err(e),
                    }
                };
                if run == 0 {
                    notes.push(ServerNote {
                        name: format!("cold start, {setting}"),
                        command_line: launch.command_line(),
                        cpus_allowed: sys::allowed_cpus(&child.id().to_string()),
                        rust_backtrace_set: sys::env_has(child.id(), "RUST_BACKTRACE"),
                        ready_line_ms: None,
                        ready_after_ms: None,
                    });
                }
                procs::stop_child(&mut child, Duration::from_secs(5));
                let elapsed = answered?;
                let ready = std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| {
                        l.split_once("(ready in ")
                            .and_then(|(_, r)| r.split_whitespace().next()?.parse().ok())
                    });
                eprintln!(
                    "  {setting}: {:.0} ms (gateway's ready line: {} ms)",
                    elapsed.as_secs_f64() * 1e3,
                    ready.map_or("?".into(), |r: u64| r.to_string())
                );
                c.runs_ms.push(elapsed.as_secs_f64() * 1e3);
                if let Some(r) = ready {
                    c.ready_line_ms.push(r);
                }
            }
            if !c.runs_ms.is_empty() {
                c.median_ms = report::median(&c.runs_ms);
                cold.push(c);
            }
        }
    }

    // ---- report ----
    let mut rows = runner.rows;
    report::add_ratios(&mut rows);
    let targets = report::targets(&rows, &cold, dataset.as_ref().map(|d| d.load_rate));
    let pinning = Pinning {
        server_core: cfg.server_core,
        client_core: cfg.client_core,
        load_generator_cpus_allowed: sys::allowed_cpus("self"),
        servers: notes,
    };
    let mut md = String::new();
    md.push_str(&format!(
        "machine: {} × {} ({} MHz), {}, kernel {}; {}\n",
        machine.nproc,
        machine.cpu_model,
        machine.cpu_mhz,
        machine.mem_total,
        machine.kernel,
        machine.rustc
    ));
    md.push_str(&format!(
        "pinning: servers `taskset -c {}`, load generator `taskset -c {}` (allowed: {}); RUST_BACKTRACE in any server: {}\n",
        cfg.server_core.map_or("-".into(), |c| c.to_string()),
        cfg.client_core.map_or("-".into(), |c| c.to_string()),
        pinning.load_generator_cpus_allowed,
        if pinning.servers.iter().any(|s| s.rust_backtrace_set == Some(true)) { "SET" } else { "unset (checked in /proc/<pid>/environ)" }
    ));
    if let Some(d) = &dataset {
        md.push_str(&format!(
            "dataset: {} persons, {} documents ({:.0} MB database), loaded at {:.0} documents/s ({} lines a bulk request, {} in flight; {:.0} s of bulk ingest, after {:.0} s registering the offices)\n",
            d.persons,
            d.documents,
            d.db_bytes as f64 / 1e6,
            d.load_rate,
            d.batch_lines,
            d.in_flight,
            d.load_seconds,
            d.register_seconds
        ));
    }
    md.push_str(&format!(
        "load average: {load_before} before the run, {} after (other work on the machine shows as noise %)\n",
        sys::loadavg()
    ));
    md.push_str(&format!(
        "cells: {} s measured after {} s warm-up; HTTP/1.1 keep-alive, one task per connection\n\n",
        cfg.duration_s, cfg.warmup_s
    ));
    md.push_str(&report::table(&rows));
    if !micro_rows.is_empty() {
        md.push_str("\n| single operation (native, this process) | ops/s | mean µs | p99 µs |\n|---|--:|--:|--:|\n");
        for r in &micro_rows {
            md.push_str(&format!(
                "| {} | {:.0} | {:.1} | {:.1} |\n",
                r.name,
                r.rps,
                1e6 / r.rps,
                r.p99_ms * 1e3
            ));
        }
    }
    if !cold.is_empty() {
        md.push('\n');
        md.push_str(&report::cold_table(&cold));
    }
    if !targets.is_empty() {
        md.push('\n');
        md.push_str(&report::targets_table(&targets));
    }
    println!("\n{md}");
    let results = Results {
        harness: "carehub-bench",
        started_unix: run_id,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        machine,
        pinning,
        loadavg_before: load_before,
        loadavg_after: sys::loadavg(),
        config: cfg.clone(),
        dataset,
        envelope_bytes: templates.sizes(),
        component_bytes: ["carehub_ingest", "carehub_read", "carehub_probe"]
            .iter()
            .map(|n| ((*n).to_owned(), sys::disk_usage(&cfg.wasm(n))))
            .collect(),
        rows,
        micro: micro_rows,
        cold_start: cold,
        targets,
        perf_reports: runner.perf_reports,
    };
    let out = cfg.out.clone();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_vec_pretty(&results)?)?;
    std::fs::write(out.with_extension("md"), &md)?;
    eprintln!(
        "carehub-bench: done in {:.0} s; results in {} and {}",
        started.elapsed().as_secs_f64(),
        out.display(),
        out.with_extension("md").display()
    );
    Ok(())
}
