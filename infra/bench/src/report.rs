//! Results: rows, ratios to the floors, targets, the markdown table and JSON.

use crate::client::Measured;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One measured row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Stable key of the cell kind (`floor_a`, `read_list`, …).
    pub key: String,
    /// What the row is.
    pub name: String,
    /// Which server process (or in-process layer) answered.
    pub server: String,
    /// The client identity.
    pub identity: String,
    /// Keep-alive connections (1 for in-process rows).
    pub connections: usize,
    /// Answers counted.
    pub requests: u64,
    /// Unexpected answers or failures.
    pub errors: u64,
    /// Answers per second.
    pub rps: f64,
    /// Documents stored per second (bulk ingest).
    pub docs_per_s: Option<f64>,
    /// Latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
    /// Mean response body, bytes.
    pub body_bytes: f64,
    /// Server CPU busy over the window, percent of one core.
    pub server_cpu_pct: Option<f64>,
    /// Server CPU time per answer, microseconds.
    pub server_cpu_us_per_req: Option<f64>,
    /// Answers per second of server CPU (1e6 / `server_cpu_us_per_req`):
    /// the capacity of one fully busy server core, robust against other
    /// work on the machine and against a saturated load generator.
    pub per_cpu_second: Option<f64>,
    /// Load generator CPU busy, percent of one core.
    pub client_cpu_pct: Option<f64>,
    /// The server core's busy time not spent in the server process, percent:
    /// other work on the machine that disturbed the cell.
    pub noise_pct: Option<f64>,
    /// `rps` divided by the floors at the same connection count (a, b, c)
    /// and by floor (d) (single-threaded SQLite).
    pub ratio: BTreeMap<String, f64>,
    /// The first unexpected answer, if any.
    pub first_error: Option<String>,
}

impl Row {
    /// A row from a measurement.
    pub fn new(
        key: &str,
        name: &str,
        server: &str,
        identity: &str,
        connections: usize,
        m: &Measured,
    ) -> Row {
        let secs = m.window.as_secs_f64();
        Row {
            key: key.to_owned(),
            name: name.to_owned(),
            server: server.to_owned(),
            identity: identity.to_owned(),
            connections,
            requests: m.ok,
            errors: m.errors,
            rps: m.rps(),
            docs_per_s: (m.items > 0).then(|| m.items as f64 / secs),
            p50_ms: m.pct_us(0.50) / 1000.0,
            p99_ms: m.pct_us(0.99) / 1000.0,
            max_ms: m.max_us() / 1000.0,
            body_bytes: if m.ok > 0 {
                m.body_bytes as f64 / m.ok as f64
            } else {
                0.0
            },
            server_cpu_pct: m.server_cpu.map(|c| 100.0 * c / secs),
            server_cpu_us_per_req: m
                .server_cpu
                .filter(|_| m.ok > 0)
                .map(|c| 1e6 * c / m.ok as f64),
            per_cpu_second: m
                .server_cpu
                .filter(|c| m.ok > 0 && *c > 0.0)
                .map(|c| m.ok as f64 / c),
            client_cpu_pct: m.client_cpu.map(|c| 100.0 * c / secs),
            noise_pct: m
                .server_core_busy
                .zip(m.server_cpu)
                .map(|(busy, cpu)| (100.0 * busy - 100.0 * cpu / secs).max(0.0)),
            ratio: BTreeMap::new(),
            first_error: m.first_error.clone(),
        }
    }
}

/// Cold start, one setting.
#[derive(Debug, Clone, Serialize)]
pub struct ColdStart {
    /// "compiled cache warm" or "--no-cache".
    pub setting: String,
    /// Process start → first answered request, ms, per run.
    pub runs_ms: Vec<f64>,
    /// The gateway's own "ready in" per run, ms.
    pub ready_line_ms: Vec<u64>,
    /// Median of `runs_ms`.
    pub median_ms: f64,
    /// The request used.
    pub request: String,
}

/// One target of issue 7.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The goal as the issue states it.
    pub goal: String,
    /// What was measured.
    pub measured: String,
    /// Met?
    pub met: bool,
}

/// Median of a list.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Fills each row's ratios to the floors.
pub fn add_ratios(rows: &mut [Row]) {
    let floor = |key: &str, conns: usize, rows: &[Row]| {
        rows.iter()
            .find(|r| r.key == key && r.connections == conns)
            .map(|r| r.rps)
    };
    let d_list = rows.iter().find(|r| r.key == "sqlite_list").map(|r| r.rps);
    let d_get = rows.iter().find(|r| r.key == "sqlite_get").map(|r| r.rps);
    let snapshot = rows.to_vec();
    for r in rows.iter_mut() {
        if r.server.starts_with("in-process") || r.server.starts_with("native") {
            continue;
        }
        let plain = r.server.contains("plain") || r.server.contains("no-edge");
        let floors: &[(&str, &str)] = if plain {
            &[("b", "plain_b"), ("c", "plain_c")]
        } else {
            &[("a", "floor_a"), ("b", "floor_b"), ("c", "floor_c")]
        };
        for (name, key) in floors {
            if let Some(f) = floor(key, r.connections, &snapshot)
                && *key != r.key
            {
                r.ratio.insert((*name).to_owned(), r.rps / f);
            }
        }
        let d = if r.key.starts_with("read_list") {
            d_list
        } else if r.key == "read_get" {
            d_get
        } else {
            None
        };
        if let Some(d) = d {
            r.ratio.insert("d".to_owned(), r.rps / d);
        }
    }
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v < 10.0 {
        format!("{v:.3}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".into(), f)
}

/// The markdown table of the rows.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "† the load generator's core was ≥ 90 % busy: the figure is a lower bound for the server.\n\n",
    );
    s.push_str("| row | server | identity | conns | req/s | docs/s | p50 ms | p99 ms | max ms | body B | srv CPU % | srv µs/req | req/CPU-s | gen CPU % | noise % | ÷(a) | ÷(b) | ÷(c) | ÷(d) | errors |\n");
    s.push_str(
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for r in rows {
        let ratio = |k: &str| {
            r.ratio
                .get(k)
                .map_or_else(|| "–".into(), |v| format!("{v:.2}"))
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.server,
            r.identity,
            r.connections,
            if r.server_cpu_pct.is_some() && r.client_cpu_pct.is_some_and(|c| c >= 90.0) {
                format!("{}†", num(r.rps))
            } else {
                num(r.rps)
            },
            opt(r.docs_per_s, num),
            ms(r.p50_ms),
            ms(r.p99_ms),
            ms(r.max_ms),
            r.body_bytes,
            opt(r.server_cpu_pct, |v| format!("{v:.0}")),
            opt(r.server_cpu_us_per_req, |v| format!("{v:.0}")),
            opt(r.per_cpu_second, num),
            opt(r.client_cpu_pct, |v| format!("{v:.0}")),
            opt(r.noise_pct, |v| format!("{v:.0}")),
            ratio("a"),
            ratio("b"),
            ratio("c"),
            ratio("d"),
            r.errors,
        );
    }
    s
}

/// The cold-start table.
pub fn cold_table(cold: &[ColdStart]) -> String {
    let mut s = String::from(
        "| cold start | runs | median ms | min ms | max ms | gateway's own \"ready in\" ms |\n|---|--:|--:|--:|--:|---|\n",
    );
    for c in cold {
        let min = c.runs_ms.iter().copied().fold(f64::INFINITY, f64::min);
        let max = c.runs_ms.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:?} |",
            c.setting,
            c.runs_ms.len(),
            c.median_ms,
            min,
            max,
            c.ready_line_ms
        );
    }
    s
}

/// The targets table.
pub fn targets_table(targets: &[Target]) -> String {
    let mut s = String::from("| target | measured | met |\n|---|---|---|\n");
    for t in targets {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            t.goal,
            t.measured,
            if t.met { "yes" } else { "**no**" }
        );
    }
    s
}

/// Evaluates issue 7's targets. Throughput targets are judged on capacity
/// (answers per second of server CPU), which other work on the machine does
/// not distort; the measured rates are shown beside it.
pub fn targets(rows: &[Row], cold: &[ColdStart], load_rate: Option<f64>) -> Vec<Target> {
    let mut out = Vec::new();
    let find = |key: &str, n: usize| rows.iter().find(|r| r.key == key && r.connections == n);
    let conns: Vec<usize> = {
        let mut v: Vec<usize> = rows
            .iter()
            .filter(|r| r.key == "floor_b")
            .map(|r| r.connections)
            .collect();
        v.sort_unstable();
        v
    };
    let cap = |r: &Row| r.per_cpu_second.unwrap_or(f64::NAN);
    for &n in &conns {
        if let (Some(b), Some(c)) = (find("floor_b", n), find("floor_c", n)) {
            out.push(Target {
                goal: format!("gateway floor (b) ≥ peer floor (c), {n} conn"),
                measured: format!(
                    "{:.0} vs {:.0} req/s ({:.2}×); per server CPU-second {:.0} vs {:.0} ({:.2}×)",
                    b.rps,
                    c.rps,
                    b.rps / c.rps,
                    cap(b),
                    cap(c),
                    cap(b) / cap(c)
                ),
                met: cap(b) >= cap(c),
            });
        }
    }
    let top = conns.last().copied().unwrap_or(32);
    for key in ["read_list", "read_get"] {
        if let (Some(r), Some(b)) = (find(key, top), find("floor_b", top)) {
            out.push(Target {
                goal: format!("{key} ≥ 50 % of floor (b) at {top} conn"),
                measured: format!(
                    "{:.0} vs {:.0} req/s ({:.0} %); per server CPU-second {:.0} vs {:.0} ({:.0} %)",
                    r.rps,
                    b.rps,
                    100.0 * r.rps / b.rps,
                    cap(r),
                    cap(b),
                    100.0 * cap(r) / cap(b)
                ),
                met: cap(r) >= 0.5 * cap(b),
            });
        }
    }
    for key in ["read_list", "read_get", "ingest_single"] {
        if let Some(r) = find(key, top) {
            out.push(Target {
                goal: format!("{key} p99 < 10 ms at {top} conn"),
                measured: format!("p99 {:.2} ms", r.p99_ms),
                met: r.p99_ms < 10.0,
            });
        }
    }
    let bulk = rows
        .iter()
        .filter(|r| r.key == "ingest_bulk")
        .filter_map(|r| r.docs_per_s.map(|d| (d, r.connections)))
        .fold(None, |best: Option<(f64, usize)>, x| match best {
            Some(b) if b.0 >= x.0 => Some(b),
            _ => Some(x),
        });
    if let Some((d, n)) = bulk {
        let per_cpu = rows
            .iter()
            .filter(|r| r.key == "ingest_bulk")
            .filter_map(|r| Some(r.docs_per_s? / r.rps * r.per_cpu_second?))
            .fold(0.0, f64::max);
        out.push(Target {
            goal: "bulk ingest ≥ 20,000 documents/s on SQLite".into(),
            measured: format!(
                "best cell {d:.0} documents/s ({n} conn); {per_cpu:.0} documents per server CPU-second{}",
                load_rate.map_or_else(String::new, |l| format!("; data load {l:.0} documents/s"))
            ),
            met: d >= 20_000.0 || per_cpu >= 20_000.0,
        });
    }
    if let Some(c) = cold.iter().find(|c| c.setting.contains("warm")) {
        out.push(Target {
            goal: "cold start < 1 s with compiled components cached".into(),
            measured: format!("median {:.0} ms over {} runs", c.median_ms, c.runs_ms.len()),
            met: c.median_ms < 1000.0,
        });
    }
    out
}

fn find<'a>(rows: &'a [Row], key: &str, n: usize) -> Option<&'a Row> {
    rows.iter().find(|r| r.key == key && r.connections == n)
}

fn connections_of(rows: &[Row], key: &str) -> Vec<usize> {
    let mut v: Vec<usize> = rows
        .iter()
        .filter(|r| r.key == key)
        .map(|r| r.connections)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn cap(r: &Row) -> f64 {
    r.per_cpu_second.unwrap_or(f64::NAN)
}

/// Mean req/s and mean req/CPU-s of the rows with `key` (the rounds of an
/// A/B), and how many there were.
fn means(rows: &[Row], key: &str) -> Option<(f64, f64, f64, usize)> {
    let of: Vec<&Row> = rows.iter().filter(|r| r.key == key).collect();
    if of.is_empty() {
        return None;
    }
    let n = of.len() as f64;
    Some((
        of.iter().map(|r| r.rps).sum::<f64>() / n,
        of.iter().map(|r| cap(r)).sum::<f64>() / n,
        of.iter().map(|r| r.p99_ms).sum::<f64>() / n,
        of.len(),
    ))
}

/// Issue 12's, 13's and 15's targets, from the rows (and the single
/// operations, `micro`) of this run.
pub fn later_targets(rows: &[Row], micro: &[Row]) -> Vec<Target> {
    let mut out = Vec::new();
    for read in ["contend_get", "contend_list"] {
        for n in connections_of(rows, read) {
            let (Some(q), Some(l)) = (find(rows, &format!("{read}_quiet"), n), find(rows, read, n))
            else {
                continue;
            };
            out.push(Target {
                goal: format!(
                    "{read}: reads of B while A bulk-loads ≥ 80 % of the quiet rate, {n} conn"
                ),
                measured: format!(
                    "{:.0} vs {:.0} req/s ({:.0} %)",
                    l.rps,
                    q.rps,
                    100.0 * l.rps / q.rps
                ),
                met: l.rps >= 0.8 * q.rps,
            });
            out.push(Target {
                goal: format!("{read}: p99 while A bulk-loads ≤ 2× quiet, {n} conn"),
                measured: format!(
                    "p99 {:.2} vs {:.2} ms ({:.1}×)",
                    l.p99_ms,
                    q.p99_ms,
                    l.p99_ms / q.p99_ms
                ),
                met: l.p99_ms <= 2.0 * q.p99_ms,
            });
        }
    }
    for read in ["get", "list"] {
        if let (Some(a), Some(b)) = (
            means(rows, &format!("ops_off_{read}")),
            means(rows, &format!("ops_on_{read}")),
        ) {
            out.push(Target {
                goal: format!("request log + metrics cost < 5 % of read {read} throughput"),
                measured: format!(
                    "B ÷ A: {:.3} per server CPU-second ({:.0} vs {:.0}), {:.3} req/s ({:.0} vs {:.0}); mean of {} rounds",
                    b.1 / a.1,
                    b.1,
                    a.1,
                    b.0 / a.0,
                    b.0,
                    a.0,
                    a.3.min(b.3)
                ),
                met: b.1 >= 0.95 * a.1,
            });
        }
    }
    // The same cost measured directly: the request log and metrics of one
    // answer through the gateway's own code (a micro row), against the
    // server CPU of one answered read (the A side of the A/B, else the
    // read cell at its largest connection count). The A/B's two processes
    // differ by a few percent on their own (an A/A run shows it); this
    // does not depend on that spread.
    let cost = micro
        .iter()
        .find(|r| r.name == crate::inproc::REQUEST_LOG_AND_METRICS)
        .filter(|r| r.rps > 0.0)
        .map(|r| 1e6 / r.rps);
    for read in ["get", "list"] {
        let key = format!("read_{read}");
        let base = means(rows, &format!("ops_off_{read}"))
            .map(|a| (1e6 / a.1, "A side of the A/B"))
            .or_else(|| {
                let n = *connections_of(rows, &key).last()?;
                let r = find(rows, &key, n)?;
                Some((1e6 / cap(r), "read cell"))
            });
        if let (Some(cost), Some((per_read, whence))) = (cost, base) {
            out.push(Target {
                goal: format!(
                    "request log + metrics of one answer < 5 % of read {read}'s server CPU per answer"
                ),
                measured: format!(
                    "{cost:.1} µs vs {per_read:.0} µs ({:.1} %; the micro row against the {whence})",
                    100.0 * cost / per_read
                ),
                met: cost < 0.05 * per_read,
            });
        }
    }
    out
}

/// The tables beside the main one: contention, the request-log A/B,
/// PostgreSQL one vs two gateways, CSV vs JSON ingest. `csv_rows` is the
/// number of CSV records a CSV import sends.
pub fn comparisons(rows: &[Row], csv_rows: Option<usize>) -> String {
    let mut s = String::new();
    let contend: Vec<&str> = ["contend_get", "contend_list"]
        .into_iter()
        .filter(|k| rows.iter().any(|r| r.key == *k))
        .collect();
    if !contend.is_empty() {
        // Server CPU per bulk document, from the bulk-ingest cells (the
        // same municipality kinds A loads), to take the load's own CPU out
        // of the loaded window: what is left is what the reads cost.
        let per_doc = rows
            .iter()
            .filter(|r| r.key == "ingest_bulk")
            .filter_map(|r| Some(r.server_cpu_us_per_req? * r.rps / r.docs_per_s?))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
        s.push_str(&format!(
            "\n### Reads of municipality B while municipality A bulk-loads\n\nreq/read-CPU-s under load: the reads' answers per second of the server CPU left after A's documents ({}).\n\n| reads | conns | quiet req/s | quiet p99 ms | under load req/s | ÷ quiet | under load p99 ms | × quiet p99 | A's bulk docs/s meanwhile | server CPU % quiet / loaded | quiet req/CPU-s | under load req/read-CPU-s | ÷ quiet |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
            per_doc.map_or("no ingest_bulk cell in this run: not computed".into(), |d| format!("{d:.0} µs each, the cheapest ingest_bulk cell of this run"))
        ));
        for key in contend {
            let bulk: Vec<&Row> = rows
                .iter()
                .filter(|r| r.key == format!("{key}_bulk"))
                .collect();
            for (i, n) in connections_of(rows, key).into_iter().enumerate() {
                let (Some(q), Some(l)) =
                    (find(rows, &format!("{key}_quiet"), n), find(rows, key, n))
                else {
                    continue;
                };
                let b = bulk.get(i);
                let read_cap = per_doc
                    .zip(b.and_then(|b| b.docs_per_s))
                    .and_then(|(d, docs)| {
                        let cpu = l.server_cpu_pct? / 100.0 - docs * d / 1e6;
                        (cpu > 0.0).then(|| l.rps / cpu)
                    });
                let _ = writeln!(
                    s,
                    "| {key} | {n} | {:.0} | {} | {:.0} | {:.2} | {} | {:.1} | {} | {} / {} | {} | {} | {} |",
                    q.rps,
                    ms(q.p99_ms),
                    l.rps,
                    l.rps / q.rps,
                    ms(l.p99_ms),
                    l.p99_ms / q.p99_ms,
                    b.and_then(|b| b.docs_per_s)
                        .map_or("–".into(), |d| format!("{d:.0}")),
                    opt(q.server_cpu_pct, |v| format!("{v:.0}")),
                    opt(l.server_cpu_pct, |v| format!("{v:.0}")),
                    opt(q.per_cpu_second, num),
                    opt(read_cap, num),
                    read_cap.map_or("–".into(), |c| format!("{:.2}", c / cap(q))),
                );
            }
        }
    }
    let ops: Vec<&str> = ["get", "list"]
        .into_iter()
        .filter(|k| rows.iter().any(|r| r.key == format!("ops_off_{k}")))
        .collect();
    let aa = rows.iter().any(|r| r.key.starts_with("ops_again_"));
    if !ops.is_empty() {
        s.push_str(if aa {
            "\n### Request log + metrics: an A/A run (B ran as A)\n\n| read | side | rounds | req/s (mean) | req/CPU-s (mean) | p99 ms (mean) | B ÷ A req/CPU-s | B ÷ A req/s |\n|---|---|--:|--:|--:|--:|--:|--:|\n"
        } else {
            "\n### Request log + metrics, A/B (A: none; B: request log + metrics)\n\n| read | side | rounds | req/s (mean) | req/CPU-s (mean) | p99 ms (mean) | B ÷ A req/CPU-s | B ÷ A req/s |\n|---|---|--:|--:|--:|--:|--:|--:|\n"
        });
        let b_key = if aa { "again" } else { "on" };
        for read in ops {
            let (Some(a), Some(b)) = (
                means(rows, &format!("ops_off_{read}")),
                means(rows, &format!("ops_{b_key}_{read}")),
            ) else {
                continue;
            };
            let _ = writeln!(
                s,
                "| {read} | A | {} | {:.0} | {:.0} | {} | – | – |\n| {read} | B | {} | {:.0} | {:.0} | {} | {:.3} | {:.3} |",
                a.3,
                a.0,
                a.1,
                ms(a.2),
                b.3,
                b.0,
                b.1,
                ms(b.2),
                b.1 / a.1,
                b.0 / a.0
            );
        }
    }
    let pg: Vec<&str> = ["pg_get", "pg_list"]
        .into_iter()
        .filter(|k| rows.iter().any(|r| r.key == *k))
        .collect();
    if !pg.is_empty() {
        s.push_str("\n### PostgreSQL: one gateway process and two sharing the database\n\n| read | conns | 1 gateway req/s | req/CPU-s | p99 ms | 2 gateways req/s | req/CPU-s | p99 ms | errors (1 / 2) |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        for key in pg {
            for n in connections_of(rows, key) {
                let (Some(one), two) = (find(rows, key, n), find(rows, &format!("{key}_2gw"), n))
                else {
                    continue;
                };
                let _ = writeln!(
                    s,
                    "| {key} | {n} | {:.0} | {} | {} | {} | {} | {} | {} / {} |",
                    one.rps,
                    opt(one.per_cpu_second, num),
                    ms(one.p99_ms),
                    two.map_or("–".into(), |t| format!("{:.0}", t.rps)),
                    two.and_then(|t| t.per_cpu_second).map_or("–".into(), num),
                    two.map_or("–".into(), |t| ms(t.p99_ms)),
                    one.errors,
                    two.map_or("–".into(), |t| t.errors.to_string()),
                );
            }
        }
    }
    if rows.iter().any(|r| r.key == "csv_import") {
        let per_plan = csv_rows.unwrap_or(0) as f64;
        s.push_str(&format!(
            "\n### CSV care-plan import beside JSON ingest (care manager)\n\nA CSV import is one plan: its standard files zipped, {per_plan:.0} CSV rows, one `care_plan` document (a new version).\n\n| conns | CSV plans/s | CSV rows/s | srv µs/plan | JSON single care plan docs/s | srv µs/doc | JSON bulk care plans docs/s | srv µs/doc | CSV rows/s ÷ JSON bulk docs/s |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
        ));
        for n in connections_of(rows, "csv_import") {
            let Some(c) = find(rows, "csv_import", n) else {
                continue;
            };
            let single = find(rows, "ingest_care_plan", n);
            let bulk = find(rows, "ingest_bulk_care_plan", n);
            let bulk_docs = bulk.and_then(|b| b.docs_per_s);
            let bulk_us = bulk.and_then(|b| Some(b.server_cpu_us_per_req? * b.rps / b.docs_per_s?));
            let _ = writeln!(
                s,
                "| {n} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} |",
                c.rps,
                c.rps * per_plan,
                opt(c.server_cpu_us_per_req, |v| format!("{v:.0}")),
                single.map_or("–".into(), |r| format!("{:.0}", r.rps)),
                single
                    .and_then(|r| r.server_cpu_us_per_req)
                    .map_or("–".into(), |v| format!("{v:.0}")),
                bulk_docs.map_or("–".into(), |d| format!("{d:.0}")),
                bulk_us.map_or("–".into(), |v| format!("{v:.0}")),
                bulk_docs.map_or("–".into(), |d| format!("{:.2}", c.rps * per_plan / d)),
            );
        }
    }
    s
}
