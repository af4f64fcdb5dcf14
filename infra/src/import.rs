//! `carehub import`: a batch client that sends documents to a hub over
//! mTLS, in bulk, with progress, a per-line report, Ctrl-C safety and
//! `--resume`.
//!
//! Inputs, by file name:
//!
//! * `*.ndjson`, `*.jsonl` — one document envelope per line, as for
//!   `POST /api/ingest/documents:bulk`;
//! * `*.json` — one envelope (as for `POST /api/ingest/documents`) or an
//!   array of envelopes; each becomes one bulk line;
//! * `*.CSV` — the ministry's standard care-plan files; the files sharing
//!   sender, receiver and timestamp (ファイル連番) are one plan, sent to
//!   `POST /api/ingest/care-plans:csv` as `multipart/form-data`;
//! * a directory — its files, in name order.
//!
//! Every line gets an idempotency key derived from its input (SHA-256 of
//! the file's name and the line's bytes, `imp-…`) unless it carries its
//! own `idempotency_key`; a plan's key covers its files' names and bytes.
//! The report (NDJSON) gets one line per input line or plan, flushed to
//! disk after every request: `source`, `line` (or `files`),
//! `idempotency_key`, `status`, and `document_id` or `problem`. `--resume`
//! skips what the report shows stored (200/201). A line whose answer the
//! report lost (a kill between the hub's commit and the report's write)
//! is sent again with the same key and the hub replays its stored answer,
//! so a resumed run never stores a line twice.
//!
//! Ctrl-C (SIGINT) lets the request in flight finish, writes its results,
//! and exits with status 130; a second Ctrl-C exits at once. Exit status: 0
//! when everything was stored, 2 when some lines were refused (see the
//! report), 130 when interrupted, 1 on an error (nothing of the failed
//! request is reported; `--resume` sends it again).

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use carehub_domain::careplan_csv::FileName;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The bulk route's own limits (functions/ingest: 100,000 lines, 64 MiB);
/// the client stays well below them by default.
const HUB_MAX_LINES: usize = 100_000;
const HUB_MAX_BYTES: usize = 64 << 20;
/// Attempts for a request that failed in transit or with 5xx/429.
const ATTEMPTS: u32 = 5;

/// `carehub import` options.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Files to send (`.ndjson`/`.jsonl`, `.json`, standard `.CSV` files) or
    /// directories of them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The hub's base URL, e.g. https://localhost:3443.
    #[arg(long, env = "CAREHUB_URL")]
    pub url: String,
    /// Client certificate (PEM) naming the sending principal.
    #[arg(long)]
    pub cert: PathBuf,
    /// The client certificate's private key (PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// CA bundle (PEM) the hub's server certificate must chain to.
    #[arg(long)]
    pub cacert: PathBuf,
    /// The report: one NDJSON line per input line (or plan).
    #[arg(long, default_value = "carehub-import-report.ndjson")]
    pub report: PathBuf,
    /// Continue a run: skip what the report shows stored and append to it.
    /// Without it an existing non-empty report is refused.
    #[arg(long)]
    pub resume: bool,
    /// Lines per bulk request (at most 100,000).
    #[arg(long, default_value_t = 5_000)]
    pub batch_lines: usize,
    /// Bytes per bulk request (at most 64 MiB; the hub checks up to 24 MiB
    /// whole before it writes).
    #[arg(long, default_value_t = 16 << 20)]
    pub batch_bytes: usize,
    /// Seconds between plain progress lines when stderr is not a terminal
    /// (on a terminal a progress bar is drawn instead).
    #[arg(long, default_value_t = 5)]
    pub progress_every: u64,
    /// Seconds to wait for one request's answer.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// One thing to send: a bulk line, or the files of one plan.
enum Unit {
    Line {
        source: String,
        line: usize,
        key: Option<String>,
        body: Vec<u8>,
    },
    Plan {
        source: String,
        files: Vec<(String, Vec<u8>)>,
        key: String,
    },
}

impl Unit {
    fn key(&self) -> Option<&str> {
        match self {
            Unit::Line { key, .. } => key.as_deref(),
            Unit::Plan { key, .. } => Some(key),
        }
    }
}

/// Counts for the summary.
#[derive(Default)]
struct Tally {
    created: u64,
    unchanged: u64,
    refused: u64,
    skipped: u64,
}

/// The idempotency key of `bytes` read from the file named `name`.
pub fn derive_key(name: &str, bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"carehub-import\0");
    h.update(name.as_bytes());
    h.update(b"\0");
    h.update(bytes);
    format!("imp-{}", hex::encode(h.finalize()))
}

/// A bulk line with its idempotency key: the line's own, or one derived
/// from `name` and the line, spliced in after the object's `{` (the rest of
/// the bytes unchanged). A line that is not a JSON object is sent as it is
/// (the hub refuses it) with no key.
pub fn keyed_line(name: &str, raw: &[u8]) -> (Option<String>, Vec<u8>) {
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(raw) else {
        return (None, raw.to_vec());
    };
    match obj.get("idempotency_key") {
        Some(Value::String(k)) => (Some(k.clone()), raw.to_vec()),
        Some(Value::Null) => {
            // `"idempotency_key": null`: the object written again with the key.
            let key = derive_key(name, raw);
            obj.insert("idempotency_key".into(), Value::String(key.clone()));
            (
                Some(key),
                serde_json::to_vec(&obj).expect("JSON serializes"),
            )
        }
        Some(_) => (None, raw.to_vec()),
        None => {
            let key = derive_key(name, raw);
            let start = raw.iter().position(|&b| b == b'{').expect("a JSON object");
            let mut body = Vec::with_capacity(raw.len() + key.len() + 24);
            body.extend_from_slice(&raw[..=start]);
            body.extend_from_slice(format!("\"idempotency_key\":\"{key}\"").as_bytes());
            if !obj.is_empty() {
                body.push(b',');
            }
            body.extend_from_slice(&raw[start + 1..]);
            (Some(key), body)
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

enum Input {
    Ndjson(PathBuf),
    Json(PathBuf),
    Plan(Vec<PathBuf>),
}

/// The inputs, directories expanded, CSV files grouped into plans.
fn inputs(paths: &[PathBuf]) -> Result<Vec<Input>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            entries.retain(|e| e.is_file());
            entries.sort();
            files.extend(entries);
        } else {
            files.push(p.clone());
        }
    }
    let mut out = Vec::new();
    let mut plans: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        let name = file_name(&f);
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
            out.push(Input::Ndjson(f));
        } else if lower.ends_with(".json") {
            out.push(Input::Json(f));
        } else if lower.ends_with(".csv") {
            let group = match FileName::parse(&name) {
                Ok(n) => format!("{}_{}_{}", n.from.as_str(), n.to.as_str(), n.timestamp),
                // The hub names what is wrong with the name.
                Err(_) => name.clone(),
            };
            plans.entry(group).or_default().push(f);
        } else {
            bail!(
                "{}: not an input carehub import knows (.ndjson, .jsonl, .json, .CSV)",
                f.display()
            );
        }
    }
    out.extend(plans.into_values().map(Input::Plan));
    Ok(out)
}

/// Non-empty lines of an NDJSON file, counted without keeping them.
fn count_lines(path: &Path) -> Result<u64> {
    let mut n = 0;
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        if !line?.iter().all(u8::is_ascii_whitespace) {
            n += 1;
        }
    }
    Ok(n)
}

fn count_json(path: &Path) -> Result<u64> {
    Ok(match read_json(path)? {
        Value::Array(a) => a.len() as u64,
        _ => 1,
    })
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", path.display()))
}

/// What the report says is stored: the keys of its 200/201 lines.
fn stored_keys(report: &Path) -> Result<HashSet<String>> {
    let mut keys = HashSet::new();
    let Ok(file) = File::open(report) else {
        return Ok(keys);
    };
    for line in BufReader::new(file).lines() {
        let line = line?;
        // A line cut short by a kill is not a record.
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if matches!(v["status"].as_u64(), Some(200 | 201))
            && let Some(k) = v["idempotency_key"].as_str()
        {
            keys.insert(k.to_owned());
        }
    }
    Ok(keys)
}

/// Whether the file's last byte is not a newline (a torn last line).
fn ends_torn(path: &Path) -> Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    if f.metadata()?.len() == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

struct Client {
    http: reqwest::blocking::Client,
    base: String,
}

impl Client {
    fn new(args: &ImportArgs) -> Result<Client> {
        let mut pem = std::fs::read(&args.cert)
            .with_context(|| format!("reading {}", args.cert.display()))?;
        pem.push(b'\n');
        pem.extend(
            std::fs::read(&args.key).with_context(|| format!("reading {}", args.key.display()))?,
        );
        let identity =
            reqwest::Identity::from_pem(&pem).context("the client certificate or key")?;
        let ca = reqwest::Certificate::from_pem(
            &std::fs::read(&args.cacert)
                .with_context(|| format!("reading {}", args.cacert.display()))?,
        )
        .context("the CA bundle")?;
        let http = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .identity(identity)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(args.timeout))
            .build()
            .context("building the HTTPS client")?;
        Ok(Client {
            http,
            base: args.url.trim_end_matches('/').to_owned(),
        })
    }

    /// Sends with retries (a transport error, 5xx or 429 is tried again,
    /// up to [`ATTEMPTS`] times with doubling pauses; a bulk request is one
    /// transaction and every line carries its key, so a retry stores
    /// nothing twice); the answer's status and body.
    fn send(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::blocking::RequestBuilder,
    ) -> Result<(u16, Vec<u8>)> {
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=ATTEMPTS {
            let outcome = match build().send() {
                Err(e) => Err(format!("{e}")),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.bytes() {
                        Err(e) => Err(format!("reading the answer: {e}")),
                        Ok(body) => {
                            let text = || String::from_utf8_lossy(&body).into_owned();
                            if status == 429 || status >= 500 {
                                Err(format!("{status}: {}", text()))
                            } else {
                                Ok((status, body.to_vec()))
                            }
                        }
                    }
                }
            };
            match outcome {
                Ok(answer) => return Ok(answer),
                Err(m) if attempt == ATTEMPTS => {
                    bail!("{what}: failed {ATTEMPTS} times, last: {m}")
                }
                Err(m) => {
                    eprintln!("carehub import: {what}: {m}; retrying in {delay:?}");
                    std::thread::sleep(delay);
                    delay *= 2;
                }
            }
        }
        unreachable!("the loop returns or bails on its last attempt")
    }

    /// One bulk request; the hub's result line for each of `lines`.
    fn bulk(&self, lines: &[&Unit]) -> Result<Vec<Value>> {
        let mut body = Vec::new();
        for unit in lines {
            if let Unit::Line { body: b, .. } = unit {
                body.extend_from_slice(b);
                body.push(b'\n');
            }
        }
        let url = format!("{}/api/ingest/documents:bulk", self.base);
        let (status, answer) = self.send("bulk request", || {
            self.http
                .post(&url)
                .header("content-type", "application/x-ndjson")
                .body(body.clone())
        })?;
        if status != 200 {
            bail!(
                "the hub refused the bulk request: {status} {}",
                String::from_utf8_lossy(&answer)
            );
        }
        let mut results = vec![Value::Null; lines.len()];
        for line in answer.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_slice(line).context("a bulk result line")?;
            let n = v["line"].as_u64().unwrap_or(0) as usize;
            if n == 0 || n > lines.len() {
                bail!(
                    "the hub answered for line {n} of a {}-line request",
                    lines.len()
                );
            }
            results[n - 1] = v;
        }
        if let Some(missing) = results.iter().position(Value::is_null) {
            bail!(
                "the hub gave no result for line {} of the request",
                missing + 1
            );
        }
        Ok(results)
    }

    /// One plan's files as multipart; the answer as a result object.
    fn plan(&self, files: &[(String, Vec<u8>)], key: &str) -> Result<Value> {
        let url = format!("{}/api/ingest/care-plans:csv", self.base);
        let (status, answer) = self.send("care-plan CSV request", || {
            let mut form = reqwest::blocking::multipart::Form::new();
            for (i, (name, bytes)) in files.iter().enumerate() {
                let part = reqwest::blocking::multipart::Part::bytes(bytes.clone())
                    .file_name(name.clone())
                    .mime_str("text/csv")
                    .expect("text/csv is a media type");
                form = form.part(format!("file{}", i + 1), part);
            }
            self.http
                .post(&url)
                .header("idempotency-key", key)
                .multipart(form)
        })?;
        let mut v: Value = serde_json::from_slice(&answer)
            .unwrap_or_else(|_| json!({"detail": String::from_utf8_lossy(&answer).into_owned()}));
        if !(200..300).contains(&status) {
            v = json!({ "problem": v });
        }
        if let Value::Object(o) = &mut v {
            o.insert("status".into(), json!(status));
        }
        Ok(v)
    }
}

/// The report line for `unit` and the hub's result for it.
fn report_line(unit: &Unit, result: &Value) -> Value {
    let mut line = Map::new();
    match unit {
        Unit::Line {
            source, line: n, ..
        } => {
            line.insert("source".into(), json!(source));
            line.insert("line".into(), json!(n));
        }
        Unit::Plan { source, files, .. } => {
            line.insert("source".into(), json!(source));
            line.insert(
                "files".into(),
                json!(files.iter().map(|(n, _)| n).collect::<Vec<_>>()),
            );
        }
    }
    line.insert("idempotency_key".into(), json!(unit.key()));
    line.insert("status".into(), result["status"].clone());
    if let Some(id) = result.get("document_id") {
        line.insert("document_id".into(), id.clone());
        for field in ["version", "document_key"] {
            if let Some(v) = result.get(field) {
                line.insert(field.into(), v.clone());
            }
        }
    }
    if let Some(p) = result.get("problem") {
        line.insert("problem".into(), p.clone());
    }
    Value::Object(line)
}

/// Progress: a bar on a terminal, plain lines every few seconds otherwise.
struct Progress {
    bar: ProgressBar,
    plain: bool,
    total: u64,
    /// Documents sent and answered in this run.
    done: u64,
    /// Documents skipped as stored.
    skipped: u64,
    /// Skips since the last send (the rate restarts after them).
    fresh: bool,
    started: Instant,
    last_line: Instant,
    every: Duration,
}

impl Progress {
    fn new(total: u64, every: Duration) -> Progress {
        let plain = !std::io::stderr().is_terminal();
        let bar = if plain {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
        } else {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} documents, {per_sec}, ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar
        };
        Progress {
            bar,
            plain,
            total,
            done: 0,
            skipped: 0,
            fresh: false,
            started: Instant::now(),
            last_line: Instant::now(),
            every,
        }
    }

    /// Lines skipped as stored: they move the bar but not the rate.
    fn skip(&mut self, n: u64) {
        self.skipped += n;
        self.bar.inc(n);
        self.fresh = true;
    }

    fn inc(&mut self, n: u64) {
        if self.fresh {
            // The skipped lines took no time: estimate from here on.
            self.fresh = false;
            self.bar.reset_eta();
        }
        self.done += n;
        self.bar.inc(n);
        if self.plain && self.last_line.elapsed() >= self.every {
            self.last_line = Instant::now();
            self.line();
        }
    }

    fn line(&self) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.done as f64 / secs;
        let at = self.done + self.skipped;
        let left = self.total.saturating_sub(at);
        let eta = if rate > 0.0 {
            format!("{:.0} s", left as f64 / rate)
        } else {
            "unknown".into()
        };
        eprintln!(
            "carehub import: {at}/{} documents ({:.1} %), {:.0} documents/s, ETA {eta}",
            self.total,
            if self.total == 0 {
                100.0
            } else {
                at as f64 * 100.0 / self.total as f64
            },
            rate
        );
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
        if self.plain {
            self.line();
        }
    }
}

struct Run<'a> {
    client: &'a Client,
    report: BufWriter<File>,
    tally: Tally,
    progress: Progress,
    stop: Arc<AtomicBool>,
}

impl Run<'_> {
    fn record(&mut self, unit: &Unit, result: &Value) -> Result<()> {
        match result["status"].as_u64() {
            Some(201) => self.tally.created += 1,
            Some(200) => self.tally.unchanged += 1,
            _ => self.tally.refused += 1,
        }
        serde_json::to_writer(&mut self.report, &report_line(unit, result))?;
        self.report.write_all(b"\n")?;
        Ok(())
    }

    /// Writes the report to disk (after every request).
    fn flush(&mut self) -> Result<()> {
        self.report.flush()?;
        self.report.get_ref().sync_data()?;
        Ok(())
    }

    fn send_lines(&mut self, batch: &mut Vec<Unit>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let units: Vec<&Unit> = batch.iter().collect();
        let results = self.client.bulk(&units)?;
        for (unit, result) in batch.iter().zip(&results) {
            self.record(unit, result)?;
        }
        self.flush()?;
        self.progress.inc(batch.len() as u64);
        batch.clear();
        Ok(())
    }

    fn interrupted(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// Runs `carehub import`; the process's exit status.
pub fn run(args: &ImportArgs) -> Result<i32> {
    if args.batch_lines == 0 || args.batch_lines > HUB_MAX_LINES {
        bail!("--batch-lines must be 1 to {HUB_MAX_LINES}");
    }
    if args.batch_bytes == 0 || args.batch_bytes > HUB_MAX_BYTES {
        bail!("--batch-bytes must be 1 to {HUB_MAX_BYTES}");
    }
    let inputs = inputs(&args.inputs)?;
    let existing = std::fs::metadata(&args.report)
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    if existing && !args.resume {
        bail!(
            "the report {} exists: pass --resume to continue that run, or remove it",
            args.report.display()
        );
    }
    let stored = if args.resume {
        stored_keys(&args.report)?
    } else {
        HashSet::new()
    };
    let mut total = 0;
    for input in &inputs {
        total += match input {
            Input::Ndjson(p) => count_lines(p)?,
            Input::Json(p) => count_json(p)?,
            Input::Plan(_) => 1,
        };
    }
    let client = Client::new(args)?;
    let mut report = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.report)
        .with_context(|| format!("opening the report {}", args.report.display()))?;
    if ends_torn(&args.report)? {
        // A line cut short by a kill: end it, so the next record starts on
        // its own line (the torn one is ignored by the next --resume).
        report.write_all(b"\n")?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                eprintln!("carehub import: interrupted again, exiting now");
                std::process::exit(130);
            }
            eprintln!(
                "carehub import: interrupted; finishing the request in flight (Ctrl-C again to exit now)"
            );
        })
        .context("installing the Ctrl-C handler")?;
    }
    let mut run = Run {
        client: &client,
        report: BufWriter::new(report),
        tally: Tally::default(),
        progress: Progress::new(total, Duration::from_secs(args.progress_every.max(1))),
        stop,
    };
    let outcome = send_all(&mut run, args, &inputs, &stored);
    run.flush()?;
    run.progress.finish();
    let t = &run.tally;
    eprintln!(
        "carehub import: {} stored ({} created or replayed, {} unchanged), {} refused, {} skipped as stored; report: {}",
        t.created + t.unchanged,
        t.created,
        t.unchanged,
        t.refused,
        t.skipped,
        args.report.display()
    );
    outcome?;
    Ok(if run.interrupted() {
        eprintln!("carehub import: interrupted; run again with --resume to continue");
        130
    } else if t.refused > 0 {
        2
    } else {
        0
    })
}

fn send_all(
    run: &mut Run<'_>,
    args: &ImportArgs,
    inputs: &[Input],
    stored: &HashSet<String>,
) -> Result<()> {
    let mut batch: Vec<Unit> = Vec::new();
    let mut batch_bytes = 0usize;
    let skip = |run: &mut Run<'_>, unit: &Unit| -> bool {
        if unit.key().is_some_and(|k| stored.contains(k)) {
            run.tally.skipped += 1;
            run.progress.skip(1);
            true
        } else {
            false
        }
    };
    for input in inputs {
        if run.interrupted() {
            return Ok(());
        }
        let mut lines: Box<dyn Iterator<Item = Result<Unit>>> =
            match input {
                Input::Ndjson(path) => {
                    let name = file_name(path);
                    let source = path.display().to_string();
                    let reader = BufReader::new(
                        File::open(path).with_context(|| format!("opening {}", path.display()))?,
                    );
                    Box::new(reader.split(b'\n').enumerate().filter_map(
                        move |(i, line)| match line {
                            Err(e) => Some(Err(e.into())),
                            Ok(mut raw) => {
                                if raw.last() == Some(&b'\r') {
                                    raw.pop();
                                }
                                if raw.iter().all(u8::is_ascii_whitespace) {
                                    return None;
                                }
                                let (key, body) = keyed_line(&name, &raw);
                                Some(Ok(Unit::Line {
                                    source: source.clone(),
                                    line: i + 1,
                                    key,
                                    body,
                                }))
                            }
                        },
                    ))
                }
                Input::Json(path) => {
                    let name = file_name(path);
                    let source = path.display().to_string();
                    let items = match read_json(path)? {
                        Value::Array(a) => a,
                        v => vec![v],
                    };
                    Box::new(items.into_iter().enumerate().map(move |(i, v)| {
                        let raw = serde_json::to_vec(&v).expect("JSON serializes");
                        let (key, body) = keyed_line(&name, &raw);
                        Ok(Unit::Line {
                            source: source.clone(),
                            line: i + 1,
                            key,
                            body,
                        })
                    }))
                }
                Input::Plan(paths) => {
                    let mut files = Vec::new();
                    for p in paths {
                        let bytes =
                            std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                        files.push((file_name(p), bytes));
                    }
                    let mut h = Sha256::new();
                    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
                    sorted.sort_by(|a, b| a.0.cmp(&b.0));
                    for (name, bytes) in sorted {
                        h.update(name.as_bytes());
                        h.update(b"\0");
                        h.update(Sha256::digest(bytes));
                    }
                    let key = format!("imp-csv-{}", hex::encode(h.finalize()));
                    let source = paths[0]
                        .parent()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    Box::new(std::iter::once(Ok(Unit::Plan { source, files, key })))
                }
            };
        for unit in &mut lines {
            let unit = unit?;
            if skip(run, &unit) {
                continue;
            }
            match &unit {
                Unit::Plan { files, key, .. } => {
                    run.send_lines(&mut batch)?;
                    batch_bytes = 0;
                    if run.interrupted() {
                        return Ok(());
                    }
                    let result = run.client.plan(files, key)?;
                    run.record(&unit, &result)?;
                    run.flush()?;
                    run.progress.inc(1);
                }
                Unit::Line { body, .. } => {
                    if !batch.is_empty()
                        && (batch.len() == args.batch_lines
                            || batch_bytes + body.len() + 1 > args.batch_bytes)
                    {
                        run.send_lines(&mut batch)?;
                        batch_bytes = 0;
                        if run.interrupted() {
                            return Ok(());
                        }
                    }
                    batch_bytes += body.len() + 1;
                    batch.push(unit);
                }
            }
        }
    }
    if !run.interrupted() {
        run.send_lines(&mut batch)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_spliced_in_and_stable() {
        let raw = br#"{"kind":"x","content":{}}"#;
        let (key, body) = keyed_line("a.ndjson", raw);
        let key = key.unwrap();
        assert_eq!(key, derive_key("a.ndjson", raw));
        assert!(key.starts_with("imp-") && key.len() == 68);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["idempotency_key"], key.as_str());
        assert_eq!(v["kind"], "x");
        assert_eq!(keyed_line("a.ndjson", raw), (Some(key.clone()), body));
        assert_ne!(keyed_line("b.ndjson", raw).0.unwrap(), key);

        let own = br#"{"idempotency_key":"mine","kind":"x"}"#;
        assert_eq!(keyed_line("a", own), (Some("mine".into()), own.to_vec()));
        for bad in [
            &b"{not json"[..],
            b"[1,2]",
            b"\"text\"",
            br#"{"idempotency_key":5}"#,
        ] {
            assert_eq!(keyed_line("a", bad), (None, bad.to_vec()));
        }
        let (k, body) = keyed_line("a", b" {} ");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"idempotency_key": k.unwrap()}));
        let (k, body) = keyed_line("a", br#"{"idempotency_key":null,"kind":"x"}"#);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"idempotency_key": k.unwrap(), "kind": "x"}));
    }

    #[test]
    fn the_report_s_stored_keys_ignore_refusals_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.ndjson");
        std::fs::write(
            &path,
            "{\"idempotency_key\":\"a\",\"status\":201}\n\
             {\"idempotency_key\":\"b\",\"status\":200}\n\
             {\"idempotency_key\":\"c\",\"status\":422}\n\
             {\"idempotency_key\":null,\"status\":400}\n\
             {\"idempotency_key\":\"d\",\"sta",
        )
        .unwrap();
        let keys = stored_keys(&path).unwrap();
        assert_eq!(keys, HashSet::from(["a".to_owned(), "b".to_owned()]));
        assert!(stored_keys(&dir.path().join("none")).unwrap().is_empty());
    }
}
