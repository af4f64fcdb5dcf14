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

mod ab;
mod abbuild;
mod client;
mod csvplan;
mod data;
mod inproc;
mod measure;
mod peer;
mod pg;
mod procs;
mod report;
mod scenario;
mod setup;
mod sys;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use report::{ColdStart, Row};
use serde::Serialize;
use setup::{Bench, Fixture, Place, Server, Up};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    /// Connection counts of the reads in the contention cells (reads of
    /// one municipality while another bulk-loads).
    #[arg(long, value_delimiter = ',', default_value = "8,32")]
    contend_connections: Vec<usize>,
    /// Rounds of the request-log A/B (group `ops`): each measures every
    /// read on A and on B.
    #[arg(long, default_value_t = 3)]
    ab_rounds: usize,
    /// Persons of the PostgreSQL dataset (group `pg`).
    #[arg(long, default_value_t = 2_000)]
    pg_persons: u64,
    /// Documents of the PostgreSQL dataset (group `pg`).
    #[arg(long, default_value_t = 20_000)]
    pg_documents: u64,
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
    /// Only these groups: floors, read, contend, ingest, csv, plain, inproc,
    /// ops, pg, cold, proof, ab (default: all but ab).
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
    /// The build A/B (group `ab`): B's gateway binary [default: the
    /// `--gateway` A runs].
    #[arg(long)]
    b_gateway: Option<PathBuf>,
    /// The build A/B (group `ab`): where B's components are [default: the
    /// `--wasm-dir` A runs].
    #[arg(long)]
    b_wasm_dir: Option<PathBuf>,
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
    contend_connections: Vec<usize>,
    ab_rounds: usize,
    pg_persons: u64,
    pg_documents: u64,
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
    /// The build A/B's B side: `None` runs A again (an A/A run).
    b_gateway: Option<PathBuf>,
    b_wasm_dir: Option<PathBuf>,
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
        let groups = groups(&a.only)?;
        Ok(Config {
            quick: q,
            duration_s: a.duration.unwrap_or(if q { 1.0 } else { 5.0 }),
            warmup_s: a.warmup.unwrap_or(if q { 0.3 } else { 1.0 }),
            persons,
            documents,
            connections: a.connections.clone(),
            contend_connections: a.contend_connections.clone(),
            ab_rounds: a.ab_rounds.max(1),
            pg_persons: a.pg_persons.max(1),
            pg_documents: a.pg_documents.max(1),
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
            b_gateway: a.b_gateway.clone(),
            b_wasm_dir: a.b_wasm_dir.clone(),
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
    /// Entries in the state directory's access log (its highest `seq`),
    /// when it has a file of its own. Every run appends to the stored
    /// dataset's log, and what an append costs depends on the log's
    /// size, so the preamble says it.
    fn access_log_entries(&self) -> Option<i64> {
        let conn = rusqlite::Connection::open_with_flags(
            self.state_dir.join("data/accesslog.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .ok()?;
        conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM log_entries", [], |r| {
            r.get(0)
        })
        .ok()
    }
    fn wasm(&self, name: &str) -> PathBuf {
        self.wasm_dir.join(format!("{name}.wasm"))
    }
}

/// The groups `--only` names (without it, every group but `ab`, which
/// compares two builds and is asked for by name).
fn groups(only: &[String]) -> Result<Vec<String>> {
    let all = scenario::GROUPS;
    for g in only {
        if !all.contains(&g.as_str()) {
            bail!("unknown group {g:?}; groups: {}", all.join(", "));
        }
    }
    Ok(if only.is_empty() {
        all.iter()
            .filter(|g| **g != "ab")
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        only.to_vec()
    })
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
    /// Access-log entries when the cells began ([`Config::access_log_entries`]).
    access_log_entries: Option<i64>,
    envelope_bytes: BTreeMap<String, usize>,
    component_bytes: BTreeMap<String, u64>,
    rows: Vec<Row>,
    micro: Vec<Row>,
    cold_start: Vec<ColdStart>,
    targets: Vec<report::Target>,
    perf_reports: Vec<String>,
    remarks: Vec<String>,
    failed: Vec<String>,
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

/// Prepares the dataset, walks the table of scenarios (each need set up
/// when the first scenario needs it, torn down after the last), and
/// reports.
async fn run(cfg: Config) -> Result<()> {
    let started = Instant::now();
    stop_servers_on_interrupt();
    let machine = sys::machine();
    let load_before = announce(&cfg, &machine)?;
    let mut bench = Bench::new(&cfg)?;
    let stored = setup::stored_dataset(&cfg)?;
    let gateway = Up::start(&mut bench, Server::Gateway)?;
    let dataset = setup::dataset(&cfg, stored, &gateway).await?;
    let log_entries = cfg.access_log_entries();
    let fixture = Fixture::new(&cfg, bench.run_id)?;
    let mut gateway = Some(gateway);
    let mut place = Place::Empty;
    for scenario in scenario::table(&cfg).iter().filter(|s| s.selected(&cfg)) {
        place = place.enter(scenario.needs(), &mut bench, &mut gateway)?;
        scenario.run(&mut bench, &place, &fixture).await?;
    }
    place.leave();
    if let Some(g) = gateway {
        g.stop();
    }
    let report = finish(
        bench,
        &machine,
        &load_before,
        dataset,
        log_entries,
        &fixture,
    )?;
    eprintln!(
        "carehub-bench: done in {:.0} s; results in {} and {}",
        started.elapsed().as_secs_f64(),
        report.display(),
        report.with_extension("md").display()
    );
    Ok(())
}

/// Ctrl-C or SIGTERM stops the servers this run started, then the run.
fn stop_servers_on_interrupt() {
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
}

/// Says where the run runs and checks the gateway is built; the load
/// average before it.
fn announce(cfg: &Config, machine: &sys::Machine) -> Result<String> {
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
    Ok(load_before)
}

/// Prints the tables and writes the results (JSON and markdown); returns
/// the JSON's path.
fn finish(
    bench: Bench<'_>,
    machine: &sys::Machine,
    load_before: &str,
    dataset: data::Dataset,
    log_entries: Option<i64>,
    fixture: &Fixture,
) -> Result<PathBuf> {
    let cfg = bench.cfg;
    let out = bench.out;
    let mut rows = out.rows;
    report::add_ratios(&mut rows);
    let mut targets = report::targets(&rows, &out.cold, Some(dataset.load_rate));
    targets.extend(report::later_targets(&rows, &out.micro));
    let pinning = Pinning {
        server_core: cfg.server_core,
        client_core: cfg.client_core,
        load_generator_cpus_allowed: sys::allowed_cpus("self"),
        servers: out.notes,
    };
    let mut md = preamble(cfg, machine, &pinning, &dataset, log_entries, load_before);
    md.push_str(&tables(&rows, &out.micro, &out.cold, &targets));
    md.push_str(&report::comparisons(
        &rows,
        fixture.csv.as_ref().map(|c| c.rows),
    ));
    if !out.remarks.is_empty() || !out.failed.is_empty() {
        md.push('\n');
        for r in &out.remarks {
            md.push_str(&format!("- {r}\n"));
        }
        for f in &out.failed {
            md.push_str(&format!("- FAILED: {f}\n"));
        }
    }
    println!("\n{md}");
    let results = Results {
        harness: "carehub-bench",
        started_unix: bench.run_id,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        machine: machine.clone(),
        pinning,
        loadavg_before: load_before.to_owned(),
        loadavg_after: sys::loadavg(),
        config: cfg.clone(),
        dataset: Some(dataset),
        access_log_entries: log_entries,
        envelope_bytes: fixture.templates.sizes(),
        component_bytes: ["carehub_ingest", "carehub_read", "carehub_probe"]
            .iter()
            .map(|n| ((*n).to_owned(), sys::disk_usage(&cfg.wasm(n))))
            .collect(),
        rows,
        micro: out.micro,
        cold_start: out.cold,
        targets,
        perf_reports: out.perf_reports,
        remarks: out.remarks,
        failed: out.failed,
    };
    let path = cfg.out.clone();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&results)?)?;
    std::fs::write(path.with_extension("md"), &md)?;
    Ok(path)
}

/// The lines above the tables: machine, pinning, dataset, load, cells.
fn preamble(
    cfg: &Config,
    machine: &sys::Machine,
    pinning: &Pinning,
    d: &data::Dataset,
    log_entries: Option<i64>,
    load_before: &str,
) -> String {
    let mut md = format!(
        "machine: {} × {} ({} MHz), {}, kernel {}; {}\n",
        machine.nproc,
        machine.cpu_model,
        machine.cpu_mhz,
        machine.mem_total,
        machine.kernel,
        machine.rustc
    );
    md.push_str(&format!(
        "pinning: servers `taskset -c {}`, load generator `taskset -c {}` (allowed: {}); RUST_BACKTRACE in any server: {}\n",
        cfg.server_core.map_or("-".into(), |c| c.to_string()),
        cfg.client_core.map_or("-".into(), |c| c.to_string()),
        pinning.load_generator_cpus_allowed,
        if pinning.servers.iter().any(|s| s.rust_backtrace_set == Some(true)) { "SET" } else { "unset (checked in /proc/<pid>/environ)" }
    ));
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
    if let Some(n) = log_entries {
        md.push_str(&format!(
            "access log: {n} entries when the cells began (each run appends to the stored dataset's; --regenerate starts afresh)\n"
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
    md
}

/// The main table, then single operations, cold start and targets (each
/// when there is something in it).
fn tables(rows: &[Row], micro: &[Row], cold: &[ColdStart], targets: &[report::Target]) -> String {
    let mut md = report::table(rows);
    if !micro.is_empty() {
        md.push_str("\n| single operation (native, this process) | ops/s | mean µs | p99 µs |\n|---|--:|--:|--:|\n");
        for r in micro {
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
        md.push_str(&report::cold_table(cold));
    }
    if !targets.is_empty() {
        md.push('\n');
        md.push_str(&report::targets_table(targets));
    }
    md
}
