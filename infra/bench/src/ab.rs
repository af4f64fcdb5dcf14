//! Issue 13's A/B: the read cells on a gateway without the request log and
//! the metrics endpoint (A: `--log-format off`, `CAREHUB_LOG=warn` as every
//! other cell runs) and on one with them (B: `--log-format json`, the
//! request log enabled with `CAREHUB_LOG=info`, `--metrics-listen` scraped
//! every second while it serves). Both gateways run side by side on the
//! same database and the cells alternate A, B per read, the order swapped
//! every round, so that drift on the shared machine falls on both. Log lines are counted on the
//! gateway's stdout and in its log file (stderr). The flags are passed when `carehub up --help`
//! lists them; a gateway without them, or `CAREHUB_BENCH_OPS_B=none`, runs
//! B as A again (an A/A run: the measurement's own spread), and the table
//! says so.

use crate::client::{self, Target};
use crate::measure::{self, Cell};
use crate::scenario::{Persons, Requests};
use crate::setup::{Bench, Fixture, Up, gateway_launch, note, target_for};
use crate::{procs, sys};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the gateway binary offers for the B side.
#[derive(Debug, Clone, Copy)]
pub struct OpsFlags {
    /// `--log-format`.
    pub log_format: bool,
    /// `--metrics-listen`.
    pub metrics_listen: bool,
}

/// Reads `carehub up --help`.
pub fn detect(gateway: &std::path::Path) -> Result<OpsFlags> {
    let out = std::process::Command::new(gateway)
        .args(["up", "--help"])
        .output()
        .with_context(|| format!("{} up --help", gateway.display()))?;
    let help = String::from_utf8_lossy(&out.stdout);
    Ok(OpsFlags {
        log_format: help.contains("--log-format"),
        metrics_listen: help.contains("--metrics-listen"),
    })
}

/// One side of the A/B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// No request log, no metrics endpoint.
    Off,
    /// Request log (JSON) and metrics endpoint, scraped.
    On,
}

/// The reads of the A/Bs (this one and the build A/B, `crate::abbuild`):
/// (key suffix, row name, request).
pub const READS: [(&str, &str, Requests); 2] = [
    ("get", "read get", Requests::Get),
    (
        "list",
        "read list",
        Requests::List {
            persons: Persons::Sampled,
            kind: None,
            token: false,
        },
    ),
];

/// Runs the A/B at the largest `--connections` count, `--ab-rounds` times.
pub async fn run(bench: &mut Bench<'_>, fx: &Fixture) -> Result<()> {
    let cfg = bench.cfg;
    let flags = detect(&cfg.gateway)?;
    let conns = cfg.connections.iter().copied().max().unwrap_or(32);
    // CAREHUB_BENCH_OPS_B=none launches B exactly as A: an A/A run, the
    // spread (and any bias) of two gateway processes side by side.
    let real_b = (flags.log_format || flags.metrics_listen) && !b_as_a();
    eprintln!(
        "carehub-bench: request log + metrics A/B at {conns} connections ({})",
        if real_b {
            format!(
                "B: {}{}",
                if flags.log_format {
                    "--log-format json, CAREHUB_LOG=info"
                } else {
                    "CAREHUB_LOG=info (no --log-format)"
                },
                if flags.metrics_listen {
                    ", --metrics-listen scraped every second"
                } else {
                    ", no --metrics-listen"
                }
            )
        } else {
            "B runs as A, an A/A run (CAREHUB_BENCH_OPS_B=none, or a gateway without --log-format and --metrics-listen)"
                .into()
        }
    );
    // Both gateways run side by side on the same database (only one is
    // loaded at a time); the cells alternate A, B per read, the order
    // swapped every round, so that drift on the shared machine falls on
    // both sides alike.
    let tag = |side| match (side, real_b) {
        (Side::Off, _) => "off",
        (Side::On, true) => "on",
        // Without the flags B is A again: its rows are keyed apart, so
        // that no target is judged on an A/A run.
        (Side::On, false) => "again",
    };
    let metrics = if flags.metrics_listen {
        Some(format!("127.0.0.1:{}", sys::free_port()?).parse::<SocketAddr>()?)
    } else {
        None
    };
    let logs =
        [Side::Off, Side::On].map(|side| bench.logs.join(format!("gateway-ops-{}.log", tag(side))));
    for log in &logs {
        let _ = std::fs::remove_file(log);
    }
    let a = start(bench, Side::Off, flags, None, &logs[0])?;
    let b = start(bench, Side::On, flags, metrics, &logs[1])?;
    let scraper = metrics.map(|addr| Scraper::start(addr, Duration::from_secs(1)));
    let mut answered = [0u64; 2];
    for round in 0..cfg.ab_rounds {
        for (suffix, name, send) in READS {
            let order = if round % 2 == 0 {
                [Side::Off, Side::On]
            } else {
                [Side::On, Side::Off]
            };
            for side in order {
                let (up, i) = match side {
                    Side::Off => (&a, 0),
                    Side::On => (&b, 1),
                };
                let key = format!("ops_{}_{suffix}", tag(side));
                let row_name = format!(
                    "{name}, {} (round {})",
                    match (side, real_b) {
                        (Side::Off, _) => "A: request log off, no metrics endpoint",
                        (Side::On, true) => "B: request log + metrics",
                        (Side::On, false) => "A again (no ops flags in this gateway)",
                    },
                    round + 1
                );
                read_cell(bench, fx, up, send, &key, &row_name, conns).await?;
                answered[i] += bench.out.rows.last().map_or(0, |r| r.requests);
            }
        }
    }
    let scrapes = scraper.map_or((0, 0), Scraper::stop);
    // The request log goes to stdout; diagnostics to stderr (the log file).
    let mut log_lines: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (i, (up, side)) in [(a, Side::Off), (b, Side::On)].into_iter().enumerate() {
        let lines = up
            .server
            .stdout_lines
            .load(std::sync::atomic::Ordering::Relaxed)
            + std::fs::read_to_string(&logs[i])
                .map(|t| t.lines().count() as u64)
                .unwrap_or(0);
        up.stop();
        log_lines.insert(tag(side), (lines, answered[i]));
    }
    let per = |tag| {
        log_lines.get(tag).map_or_else(
            || "–".to_owned(),
            |(lines, answered)| {
                format!(
                    "{lines} lines on stdout and stderr for {answered} answers counted in the windows (warm-ups and the other side's cells not counted)"
                )
            },
        )
    };
    bench.out.remarks.push(format!(
        "request log + metrics A/B ({conns} connections, {} rounds, both gateways up side by side, A and B alternating per cell): {}; A: {}; B: {}{}",
        cfg.ab_rounds,
        if real_b {
            format!(
                "B ran with {}{}",
                if flags.log_format {
                    "`--log-format json` and `CAREHUB_LOG=info`"
                } else {
                    "`CAREHUB_LOG=info`"
                },
                if flags.metrics_listen {
                    ", `--metrics-listen` scraped every second"
                } else {
                    ""
                }
            )
        } else {
            "B ran as A (`CAREHUB_BENCH_OPS_B=none`, or a gateway without `--log-format`/`--metrics-listen`): an A/A run, the spread of the measurement itself".to_owned()
        },
        per("off"),
        per(if real_b { "on" } else { "again" }),
        if flags.metrics_listen {
            format!("; {} scrapes of /metrics answered, {} bytes", scrapes.0, scrapes.1)
        } else {
            String::new()
        }
    ));
    Ok(())
}

/// Whether `CAREHUB_BENCH_OPS_B=none` asks for an A/A run.
fn b_as_a() -> bool {
    std::env::var("CAREHUB_BENCH_OPS_B").is_ok_and(|v| v == "none")
}

/// Starts a gateway for one side.
fn start(
    bench: &mut Bench<'_>,
    side: Side,
    flags: OpsFlags,
    metrics: Option<SocketAddr>,
    log: &std::path::Path,
) -> Result<Up> {
    let cfg = bench.cfg;
    let side = if b_as_a() { Side::Off } else { side };
    let mut extra: Vec<String> = Vec::new();
    // The request log is on by default where the flag exists: A turns it off.
    if side == Side::Off && flags.log_format {
        extra.extend(["--log-format".into(), "off".into()]);
    }
    if side == Side::On {
        // CAREHUB_BENCH_OPS_B=log or =metrics measures one half alone (the
        // other is then off on B too); anything else, both.
        let only = std::env::var("CAREHUB_BENCH_OPS_B").unwrap_or_default();
        if flags.log_format {
            let format = if only == "metrics" { "off" } else { "json" };
            extra.extend(["--log-format".into(), format.into()]);
        }
        if let Some(addr) = metrics.filter(|_| only != "log") {
            extra.extend(["--metrics-listen".into(), addr.to_string()]);
        }
    }
    let extra_refs: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut launch = gateway_launch(cfg, &bench.bench_manifest, "127.0.0.1:0", &extra_refs);
    if side == Side::On && (flags.log_format || flags.metrics_listen) {
        launch.env = vec![
            ("CAREHUB_LOG".into(), "info".into()),
            ("RUST_LOG".into(), "info".into()),
        ];
    }
    start_side(
        bench,
        &launch,
        log,
        match side {
            Side::Off => "gateway, A side of the request-log A/B",
            Side::On => "gateway, B side of the request-log A/B",
        },
    )
}

/// Starts one side's gateway from `launch`, logging to `log`, notes it as
/// `what`, and gives it the municipality's client, which both A/Bs read as.
pub fn start_side(
    bench: &mut Bench<'_>,
    launch: &procs::Launch,
    log: &std::path::Path,
    what: &str,
) -> Result<Up> {
    let server = procs::start(launch, log)?;
    bench.out.notes.push(note(what, &server));
    let mut targets = BTreeMap::new();
    targets.insert(
        "municipality",
        target_for(bench.cfg, server.addr, "municipality")?,
    );
    Ok(Up { server, targets })
}

/// Measures one read of an A/B on `up` as the municipality and adds its
/// row as `key`, named `row_name`.
pub async fn read_cell(
    bench: &mut Bench<'_>,
    fx: &Fixture,
    up: &Up,
    send: Requests,
    key: &str,
    row_name: &str,
    conns: usize,
) -> Result<()> {
    let target = up.target(Some("municipality"))?;
    let cell = Cell {
        key,
        name: row_name,
        server: "gateway (mTLS)",
        identity: "municipality",
        make: send.over_http(fx, &target),
        targets: vec![target.clone()],
        expect: 200,
        count: None,
        pids: vec![up.server.pid],
        parents: Vec::new(),
    };
    measure::load_cell(bench, &cell, conns).await
}

/// Scrapes `/metrics` every `every` until stopped.
struct Scraper {
    task: tokio::task::JoinHandle<()>,
    ok: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Scraper {
    fn start(addr: SocketAddr, every: Duration) -> Scraper {
        let (ok, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (o, b) = (ok.clone(), bytes.clone());
        let task = tokio::spawn(async move {
            let target = Target { addr, tls: None };
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Ok(req) = client::get(&target, "/metrics").body(client::empty()) else {
                    continue;
                };
                if let Ok(resp) = client::once(&target, req).await
                    && resp.status() == 200
                {
                    o.fetch_add(1, Ordering::Relaxed);
                    b.fetch_add(resp.body().len() as u64, Ordering::Relaxed);
                }
            }
        });
        Scraper { task, ok, bytes }
    }

    /// Stops; (answered scrapes, bytes).
    fn stop(self) -> (u64, u64) {
        self.task.abort();
        (
            self.ok.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}
