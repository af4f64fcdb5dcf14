//! How the scenarios measure: a load cell at one connection count (noisy
//! attempts repeated, `perf` on request), an in-process row, the single
//! operations, and cold starts.

use crate::client::{self, Load, MakeRequest, Measured, Target};
use crate::report::{self, ColdStart, Row};
use crate::setup::{Bench, Fixture, gateway_launch, target_for};
use crate::{Config, ServerNote, inproc, procs, sys};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A load scenario against its running server.
pub struct Cell<'a> {
    /// The row's key.
    pub key: &'a str,
    /// The row's name.
    pub name: &'a str,
    /// The row's server.
    pub server: &'a str,
    /// The row's identity.
    pub identity: &'a str,
    /// Where requests go (connection `c` to `targets[c % len]`).
    pub targets: Vec<Target>,
    /// What they are.
    pub make: MakeRequest,
    /// The status that counts.
    pub expect: u16,
    /// What counts as a document in an answer (bulk).
    pub count: Option<&'static str>,
    /// The server processes' pids (their CPU time; `perf` records the first).
    pub pids: Vec<u32>,
    /// Processes whose children count as the server too (PostgreSQL).
    pub parents: Vec<u32>,
}

impl Cell<'_> {
    /// Warm-up and window. Bulk requests take long: a longer warm-up fills
    /// the pipeline, a longer window counts enough of them.
    fn window(&self, cfg: &Config) -> (Duration, Duration) {
        if self.count.is_some() {
            (cfg.warmup().max(cfg.duration()), cfg.duration() * 2)
        } else {
            (cfg.warmup(), cfg.duration())
        }
    }
}

/// Measures `cell` at `conns` connections and adds its row.
pub async fn load_cell(bench: &mut Bench<'_>, cell: &Cell<'_>, conns: usize) -> Result<()> {
    let label = format!("{}@{conns}", cell.key);
    eprint!(
        "  {:<34} {:<26} ",
        cell.name,
        format!("{}, {conns} conn", cell.server)
    );
    let measured = quietest(bench, cell, conns, &label).await?;
    let row = Row::new(
        cell.key,
        cell.name,
        cell.server,
        cell.identity,
        conns,
        &measured,
    );
    print_cell(&row);
    bench.out.rows.push(row);
    let profiled = bench.cfg.perf.contains(&label);
    if let Some(p) = bench.out.perf_reports.last().filter(|_| profiled) {
        eprintln!("    perf profile of the server: {p}");
    }
    Ok(())
}

/// The quietest of up to `--retries` + 1 attempts: a cell is repeated while
/// other work took more than `--max-noise` of the server core.
async fn quietest(
    bench: &mut Bench<'_>,
    cell: &Cell<'_>,
    conns: usize,
    label: &str,
) -> Result<Measured> {
    let cfg = bench.cfg;
    let (warmup, duration) = cell.window(cfg);
    let mut best: Option<Measured> = None;
    for attempt in 0..=cfg.retries {
        let perf = if attempt == 0 && cfg.perf.iter().any(|p| p == label) {
            Some(start_perf(cfg, cell.pids[0], label)?)
        } else {
            None
        };
        let load = Load {
            targets: cell.targets.clone(),
            connections: conns,
            warmup,
            duration,
            make: cell.make.clone(),
            expect: cell.expect,
            count_marker: cell.count,
            server_pids: cell.pids.clone(),
            server_parents: cell.parents.clone(),
            server_core: cfg.server_core,
        };
        let measured = client::run(load, bench.ticks)
            .await
            .with_context(|| format!("cell {label}"))?;
        if let Some((child, data)) = perf {
            bench.out.perf_reports.push(finish_perf(child, &data)?);
        }
        let noise = noise_pct(&measured, duration);
        if best.as_ref().is_none_or(|b| noise < noise_pct(b, duration)) {
            best = Some(measured);
        }
        if noise <= cfg.max_noise || attempt == cfg.retries {
            break;
        }
        eprint!("(noise {noise:.0} %, again) ");
    }
    Ok(best.expect("at least one attempt"))
}

/// The end of a cell's progress line.
fn print_cell(row: &Row) {
    if row.requests == 0 {
        eprintln!(
            "FAILED: no expected answer ({} errors; first: {})",
            row.errors,
            row.first_error.as_deref().unwrap_or("none")
        );
        return;
    }
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

/// Busy time on the server core not spent by the server, percent.
fn noise_pct(m: &Measured, window: Duration) -> f64 {
    match (m.server_core_busy, m.server_cpu) {
        (Some(busy), Some(cpu)) => (100.0 * busy - 100.0 * cpu / window.as_secs_f64()).max(0.0),
        _ => 0.0,
    }
}

/// `perf record` of `pid` for a cell's warm-up and window.
fn start_perf(cfg: &Config, pid: u32, label: &str) -> Result<(std::process::Child, PathBuf)> {
    let data = cfg
        .state_dir
        .join(format!("perf-{}.data", label.replace('@', "-")));
    let secs = cfg.warmup_s + cfg.duration_s + 0.5;
    let mut cmd = std::process::Command::new("perf");
    cmd.args(["record", "-F", "2999", "-g", "-o"])
        .arg(&data)
        .args(["-p", &pid.to_string(), "--", "sleep", &format!("{secs:.1}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    Ok((cmd.spawn().context("starting perf")?, data))
}

/// Waits for `perf record` and writes its `perf report` summary beside the
/// data; returns the summary's path.
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

/// Adds (and shows) a row measured in this process, at one "connection".
pub fn in_process_row(
    bench: &mut Bench<'_>,
    key: &str,
    name: &str,
    server: &str,
    identity: &str,
    m: &Measured,
) {
    let row = Row::new(key, name, server, identity, 1, m);
    eprintln!(
        "  {:<60} {:>9.0} /s  p50 {:>8.3} ms  p99 {:>8.3} ms",
        format!("{name} [{server}]"),
        row.rps,
        row.p50_ms,
        row.p99_ms
    );
    bench.out.rows.push(row);
}

/// The single operations, one row each in their own table.
pub fn micro(bench: &mut Bench<'_>, fx: &Fixture) -> Result<()> {
    let cfg = bench.cfg;
    let token = fx.tokens.values().next().cloned().unwrap_or_default();
    for (name, m) in inproc::micro(&cfg.pki(), &token, cfg.warmup(), cfg.duration())? {
        let row = Row::new("micro", name, "native, one call", "", 1, &m);
        eprintln!(
            "  {:<60} {:>9.0} /s  mean {:>8.1} µs",
            name,
            row.rps,
            1e6 / row.rps
        );
        bench.out.micro.push(row);
    }
    Ok(())
}

/// What cold start asks for: the first person's documents, as the
/// municipality.
const COLD_PATH: &str = "/api/read/persons/131016/0000000001/documents";

/// `runs` cold starts of the gateway on the real components with `extra`
/// arguments, each timed from spawn to the first answered read.
pub async fn cold_start(
    bench: &mut Bench<'_>,
    setting: &str,
    runs: usize,
    extra: &[&str],
) -> Result<()> {
    let mut c = ColdStart {
        setting: setting.into(),
        runs_ms: Vec::new(),
        ready_line_ms: Vec::new(),
        median_ms: f64::NAN,
        request: format!("GET {COLD_PATH} (municipality, mTLS)"),
    };
    for run in 0..runs {
        let (elapsed, ready) = one_cold_start(bench, setting, run, extra).await?;
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
        bench.out.cold.push(c);
    }
    Ok(())
}

/// One cold start on a free port: spawn → first `200`, and the gateway's
/// own "ready in" figure from its log.
async fn one_cold_start(
    bench: &mut Bench<'_>,
    setting: &str,
    run: usize,
    extra: &[&str],
) -> Result<(Duration, Option<u64>)> {
    let cfg = bench.cfg;
    let addr: SocketAddr = format!("127.0.0.1:{}", sys::free_port()?).parse()?;
    let which = if extra.is_empty() {
        "cached"
    } else {
        "nocache"
    };
    let log = bench.logs.join(format!("cold-{which}-{run}.log"));
    let _ = std::fs::remove_file(&log);
    let launch = gateway_launch(cfg, &bench.app_manifest, &addr.to_string(), extra);
    let target = target_for(cfg, addr, "municipality")?;
    let t0 = Instant::now();
    let mut child = procs::spawn(&launch, &log)?;
    let answered = first_answer(&target, t0).await;
    if run == 0 {
        bench.out.notes.push(ServerNote {
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
    Ok((elapsed, ready_line(&log)))
}

/// Polls `target` every millisecond until the cold-start read answers
/// `200`: the time since `t0`.
async fn first_answer(target: &Target, t0: Instant) -> Result<Duration> {
    loop {
        let req = client::get(target, COLD_PATH).body(client::empty())?;
        match client::once(target, req).await {
            Ok(r) if r.status() == 200 => return Ok(t0.elapsed()),
            Ok(r) => anyhow::bail!("first request answered {}", r.status()),
            Err(_) if t0.elapsed() < Duration::from_secs(300) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The gateway's "(ready in N ms)" from its log.
fn ready_line(log: &Path) -> Option<u64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.split_once("(ready in ")
                .and_then(|(_, r)| r.split_whitespace().next()?.parse().ok())
        })
}

/// Reads by one municipality while another bulk-loads, on one gateway.
pub struct Contention<'a> {
    /// The reads' row key (the bulk's row is `<key>_bulk`).
    pub key: &'a str,
    /// The reads' row name.
    pub name: &'a str,
    /// The rows' server.
    pub server: &'a str,
    /// The readers' identity.
    pub identity: &'a str,
    /// The reader's client.
    pub reader: Target,
    /// The reads.
    pub reads: MakeRequest,
    /// The loading municipality's client.
    pub loader: Target,
    /// Its bulk requests.
    pub bulk: MakeRequest,
    /// The gateway's pid.
    pub pid: u32,
}

/// The reads at `conns` connections alone ("quiet"), then the same reads
/// while the bulk load runs on `--load-in-flight` connections in the same
/// window; three rows: quiet reads, reads under load, the load. Both
/// windows are as long as a bulk cell's, so that many bulk requests
/// complete inside it.
pub async fn contended(bench: &mut Bench<'_>, c: &Contention<'_>, conns: usize) -> Result<()> {
    let cfg = bench.cfg;
    let (warmup, duration) = (cfg.warmup().max(cfg.duration()), cfg.duration() * 2);
    let load = |targets: Target, make: &MakeRequest, connections: usize, marker| Load {
        targets: vec![targets],
        connections,
        warmup,
        duration,
        make: make.clone(),
        expect: 200,
        count_marker: marker,
        server_pids: vec![c.pid],
        server_parents: Vec::new(),
        server_core: cfg.server_core,
    };
    let quiet_key = format!("{}_quiet", c.key);
    eprint!(
        "  {:<34} {:<26} ",
        format!("{} (alone)", c.name),
        format!("{}, {conns} conn", c.server)
    );
    let quiet = client::run(load(c.reader.clone(), &c.reads, conns, None), bench.ticks)
        .await
        .with_context(|| format!("cell {quiet_key}@{conns}"))?;
    let quiet_row = Row::new(
        &quiet_key,
        &format!("{}, alone", c.name),
        c.server,
        c.identity,
        conns,
        &quiet,
    );
    print_cell(&quiet_row);
    bench.out.rows.push(quiet_row);

    eprint!(
        "  {:<34} {:<26} ",
        format!("{} (A bulk-loads)", c.name),
        format!("{}, {conns} conn", c.server)
    );
    let (reads, bulk) = tokio::join!(
        client::run(load(c.reader.clone(), &c.reads, conns, None), bench.ticks),
        client::run(
            load(
                c.loader.clone(),
                &c.bulk,
                cfg.load_in_flight,
                Some("\"status\":201")
            ),
            bench.ticks
        ),
    );
    let (reads, bulk) = (
        reads.with_context(|| format!("cell {}@{conns}", c.key))?,
        bulk.with_context(|| format!("cell {}_bulk@{conns}", c.key))?,
    );
    let row = Row::new(
        c.key,
        &format!("{}, while A bulk-loads", c.name),
        c.server,
        c.identity,
        conns,
        &reads,
    );
    print_cell(&row);
    bench.out.rows.push(row);
    eprint!(
        "  {:<34} {:<26} ",
        "  … A's bulk load meanwhile",
        format!("{}, {} conn", c.server, cfg.load_in_flight)
    );
    let bulk_row = Row::new(
        &format!("{}_bulk", c.key),
        &format!(
            "… municipality A's bulk load during {} (server CPU: both)",
            c.name
        ),
        c.server,
        "municipality A",
        cfg.load_in_flight,
        &bulk,
    );
    print_cell(&bulk_row);
    bench.out.rows.push(bulk_row);
    Ok(())
}
