//! The build A/B (group `ab`): the read cells on two builds side by side in
//! one run, so that a change's effect is measured against its baseline on
//! the same machine in the same minutes. A is the run's own gateway and
//! components (`--gateway`, `--wasm-dir`); B is `--b-gateway` and/or
//! `--b-wasm-dir` (either defaults to A's, and with neither B is A again:
//! an A/A run, the measurement's own spread). Both gateways serve the same
//! database; the cells alternate A, B per read, the order swapped every
//! round (`--ab-rounds`), as in the request-log A/B (`crate::ab`).

use crate::Config;
use crate::ab::{READS, read_cell, start_side};
use crate::setup::{Bench, Fixture, Up, gateway_launch, write_bench_manifest};
use anyhow::Result;
use std::collections::BTreeMap;

/// One cell of one side: (server µs per request, p99 ms).
type Seen = (Option<f64>, f64);

/// Runs the A/B at the largest `--connections` count.
pub async fn run(bench: &mut Bench<'_>, fx: &Fixture) -> Result<()> {
    let cfg = bench.cfg;
    let conns = cfg.connections.iter().copied().max().unwrap_or(32);
    let b_cfg = Config {
        gateway: cfg.b_gateway.clone().unwrap_or_else(|| cfg.gateway.clone()),
        wasm_dir: cfg
            .b_wasm_dir
            .clone()
            .unwrap_or_else(|| cfg.wasm_dir.clone()),
        ..cfg.clone()
    };
    let a_a = cfg.b_gateway.is_none() && cfg.b_wasm_dir.is_none();
    let describe = |c: &Config| format!("{} with {}", c.gateway.display(), c.wasm_dir.display());
    let (a_name, b_name) = (describe(cfg), describe(&b_cfg));
    eprintln!(
        "carehub-bench: build A/B at {conns} connections, {} rounds\n  A: {a_name}\n  B: {}",
        cfg.ab_rounds,
        if a_a {
            format!("{b_name} (no --b-gateway or --b-wasm-dir: an A/A run)")
        } else {
            b_name.clone()
        }
    );
    let b_manifest = if cfg.b_wasm_dir.is_some() {
        write_bench_manifest(&b_cfg, "bench-b.toml")?
    } else {
        bench.bench_manifest.clone()
    };
    let a_manifest = bench.bench_manifest.clone();
    let a = start(bench, cfg, &a_manifest, "A")?;
    let b = start(bench, &b_cfg, &b_manifest, "B")?;
    let mut seen: BTreeMap<(&str, usize), Vec<Seen>> = BTreeMap::new();
    for round in 0..cfg.ab_rounds {
        for (suffix, name, send) in READS {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for side in order {
                let up = if side == 0 { &a } else { &b };
                let label = ["A", "B"][side];
                let key = format!("ab_{}_{suffix}", label.to_lowercase());
                let row_name = format!("{name}, build {label} (round {})", round + 1);
                read_cell(bench, fx, up, send, &key, &row_name, conns).await?;
                if let Some(row) = bench.out.rows.last() {
                    seen.entry((suffix, side))
                        .or_default()
                        .push((row.server_cpu_us_per_req, row.p99_ms));
                }
            }
        }
    }
    a.stop();
    b.stop();
    let mut summary = Vec::new();
    for (suffix, name, _) in READS {
        let (Some(ra), Some(rb)) = (seen.get(&(suffix, 0)), seen.get(&(suffix, 1))) else {
            continue;
        };
        let ratios: Vec<f64> = ra
            .iter()
            .zip(rb)
            .filter_map(|((ca, _), (cb, _))| Some(cb.as_ref()? / ca.as_ref()?))
            .collect();
        let p99s: Vec<f64> = ra
            .iter()
            .zip(rb)
            .map(|((_, pa), (_, pb))| pb / pa)
            .collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let list = |v: &[f64]| {
            v.iter()
                .map(|r| format!("{r:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let line = format!(
            "{name}: server CPU per request B ÷ A by round {} (mean {:.3}); p99 B ÷ A {} (mean {:.3})",
            list(&ratios),
            mean(&ratios),
            list(&p99s),
            mean(&p99s)
        );
        eprintln!("  {line}");
        summary.push(line);
    }
    bench.out.remarks.push(format!(
        "build A/B ({conns} connections, {} rounds, both gateways up side by side on one database, A and B alternating per cell; A: {a_name}; B: {}): {}",
        cfg.ab_rounds,
        if a_a {
            format!("{b_name}, the same build: an A/A run")
        } else {
            b_name
        },
        summary.join("; ")
    ));
    Ok(())
}

/// Starts one side's gateway on `manifest`.
fn start(
    bench: &mut Bench<'_>,
    cfg: &Config,
    manifest: &std::path::Path,
    label: &str,
) -> Result<Up> {
    let launch = gateway_launch(cfg, manifest, "127.0.0.1:0", &[]);
    let log = bench
        .logs
        .join(format!("gateway-ab-{}.log", label.to_lowercase()));
    let _ = std::fs::remove_file(&log);
    start_side(
        bench,
        &launch,
        &log,
        &format!("gateway, build {label} of the build A/B"),
    )
}
