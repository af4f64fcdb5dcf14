//! The load driver: hyper's HTTP/1.1 client over tokio-rustls (TLS 1.3,
//! client certificate) or plain TCP, one task per keep-alive connection
//! issuing requests back to back for a fixed time after a warm-up.

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The request body type of every benchmark request.
pub type Body = Full<Bytes>;

/// A request without an answer after this long counts as an error (and
/// its connection is replaced).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the next cell's request numbers start.
static NEXT_REQUEST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Builds request `i` of connection `conn`; `i` is unique within the run.
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> Request<Body> + Send + Sync>;

fn pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(rustls_pemfile::certs(&mut data.as_slice()).collect::<Result<Vec<_>, _>>()?)
}

fn pem_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    rustls_pemfile::private_key(&mut data.as_slice())?
        .with_context(|| format!("no key in {}", path.display()))
}

/// A TLS 1.3 client configuration trusting `ca` and presenting `cert`/`key`.
pub fn tls_config(ca: &Path, cert: &Path, key: &Path) -> Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in pem_certs(ca)? {
        roots.add(c)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(pem_certs(cert)?, pem_key(key)?)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Where requests go.
#[derive(Clone)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// TLS with this client identity, or plain HTTP when `None`.
    pub tls: Option<TlsConnector>,
}

impl Target {
    /// "https" or "http".
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// `GET path` on `target` (the builder, to add headers to).
pub fn get(target: &Target, path: &str) -> http::request::Builder {
    Request::builder()
        .method("GET")
        .uri(format!(
            "{}://localhost:{}{path}",
            target.scheme(),
            target.addr.port()
        ))
        .header("host", format!("localhost:{}", target.addr.port()))
}

/// An empty request body.
pub fn empty() -> Body {
    Body::new(Bytes::new())
}

/// Opens one keep-alive HTTP/1.1 connection.
pub async fn connect(target: &Target) -> Result<SendRequest<Body>> {
    let tcp = TcpStream::connect(target.addr).await?;
    tcp.set_nodelay(true)?;
    match &target.tls {
        Some(connector) => {
            let name = ServerName::try_from("localhost".to_owned())?;
            let tls = connector.connect(name, tcp).await?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(sender)
        }
        None => {
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(sender)
        }
    }
}

/// Sends one request and reads the whole answer.
pub async fn send(sender: &mut SendRequest<Body>, req: Request<Body>) -> Result<Response<Bytes>> {
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// One-off request on a fresh connection.
pub async fn once(target: &Target, req: Request<Body>) -> Result<Response<Bytes>> {
    let mut sender = connect(target).await?;
    send(&mut sender, req).await
}

/// A load cell: what to send, how, for how long.
pub struct Load {
    /// Where: connection `c` goes to `targets[c % targets.len()]` (two
    /// gateways on one database share the connections so).
    pub targets: Vec<Target>,
    /// Keep-alive connections, one task each.
    pub connections: usize,
    /// Not measured.
    pub warmup: Duration,
    /// Measured.
    pub duration: Duration,
    /// The requests.
    pub make: MakeRequest,
    /// The status every answer must have.
    pub expect: u16,
    /// For bulk answers: count this marker in each body (stored documents).
    pub count_marker: Option<&'static str>,
    /// Processes whose CPU time is sampled over the measured window (the
    /// gateways).
    pub server_pids: Vec<u32>,
    /// Processes whose children's CPU time counts too (PostgreSQL's
    /// postmaster, when the run started it).
    pub server_parents: Vec<u32>,
    /// The core the server is pinned to (its busy time is sampled too).
    pub server_core: Option<usize>,
}

/// What a load cell measured.
#[derive(Debug, Default, Clone)]
pub struct Measured {
    /// Requests answered as expected inside the window.
    pub ok: u64,
    /// Requests answered otherwise, or failed.
    pub errors: u64,
    /// The first unexpected answer, for the log.
    pub first_error: Option<String>,
    /// Latencies of the counted requests, nanoseconds, sorted.
    pub latencies: Vec<u64>,
    /// Response body bytes of the counted requests.
    pub body_bytes: u64,
    /// Markers counted (bulk: documents stored).
    pub items: u64,
    /// The measured window.
    pub window: Duration,
    /// Server CPU seconds over the window.
    pub server_cpu: Option<f64>,
    /// This process's CPU seconds over the window.
    pub client_cpu: Option<f64>,
    /// Busy fraction (0–1) of the server's core over the window, whoever ran.
    pub server_core_busy: Option<f64>,
}

impl Measured {
    /// Answers per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }
    /// A latency percentile, microseconds.
    pub fn pct_us(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i =
            ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        self.latencies[i] as f64 / 1000.0
    }
    /// The largest latency, microseconds.
    pub fn max_us(&self) -> f64 {
        self.latencies
            .last()
            .map_or(f64::NAN, |v| *v as f64 / 1000.0)
    }
}

#[derive(Default)]
struct TaskResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Vec<u64>,
    body_bytes: u64,
    items: u64,
}

fn count(hay: &[u8], needle: &[u8]) -> u64 {
    if needle.is_empty() || hay.len() < needle.len() {
        return 0;
    }
    hay.windows(needle.len()).filter(|w| *w == needle).count() as u64
}

/// Runs a load cell. Connections are opened first; all tasks then start
/// together, warm up, and count what completes inside the window; none
/// starts a request after it.
pub async fn run(load: Load, ticks: u64) -> Result<Measured> {
    if load.targets.is_empty() {
        anyhow::bail!("a load cell needs a target");
    }
    let mut senders = Vec::with_capacity(load.connections);
    for c in 0..load.connections {
        let target = &load.targets[c % load.targets.len()];
        senders.push(
            connect(target)
                .await
                .context("opening a benchmark connection")?,
        );
    }
    // Request numbers are unique across every cell of the run (and every
    // attempt of a repeated cell), so that writes never repeat a key.
    let first = NEXT_REQUEST.fetch_add(1 << 32, std::sync::atomic::Ordering::Relaxed);
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + load.warmup;
    let until = measure_from + load.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (c, mut sender) in senders.into_iter().enumerate() {
        let make = load.make.clone();
        let target = load.targets[c % load.targets.len()].clone();
        let marker = load.count_marker;
        let expect = load.expect;
        tasks.spawn(async move {
            let mut r = TaskResult::default();
            tokio::time::sleep_until(start.into()).await;
            let mut i = first;
            loop {
                let t = Instant::now();
                if t >= until {
                    break;
                }
                let req = make(c, i);
                i += 1;
                let result =
                    match tokio::time::timeout(REQUEST_TIMEOUT, send(&mut sender, req)).await {
                        Ok(r) => r,
                        Err(_) => Err(anyhow!("no answer within {REQUEST_TIMEOUT:?}")),
                    };
                let done = Instant::now();
                // Completions inside the window count (as wrk counts them),
                // whenever they started: with long requests (bulk, many
                // connections) "started and finished inside" would undercount.
                let counted = done >= measure_from && done <= until;
                match result {
                    Ok(resp) if resp.status().as_u16() == expect => {
                        if counted {
                            r.ok += 1;
                            r.latencies.push((done - t).as_nanos() as u64);
                            r.body_bytes += resp.body().len() as u64;
                            if let Some(m) = marker {
                                r.items += count(resp.body(), m.as_bytes());
                            }
                        }
                    }
                    Ok(resp) => {
                        r.errors += 1;
                        if r.first_error.is_none() {
                            let body = String::from_utf8_lossy(resp.body());
                            r.first_error = Some(format!(
                                "status {}: {}",
                                resp.status(),
                                body.chars().take(400).collect::<String>()
                            ));
                        }
                    }
                    Err(e) => {
                        r.errors += 1;
                        if r.first_error.is_none() {
                            r.first_error = Some(format!("{e:#}"));
                        }
                        // The connection may be gone: open another.
                        match connect(&target).await {
                            Ok(s) => sender = s,
                            Err(_) => break,
                        }
                    }
                }
            }
            r
        });
    }
    // CPU samples at the window's edges.
    let sample = || crate::sys::server_cpu(&load.server_pids, &load.server_parents, ticks);
    tokio::time::sleep_until(measure_from.into()).await;
    let s0 = sample();
    let c0 = crate::sys::cpu_seconds("self", ticks);
    let k0 = load.server_core.and_then(crate::sys::core_jiffies);
    tokio::time::sleep_until(until.into()).await;
    let s1 = sample();
    let c1 = crate::sys::cpu_seconds("self", ticks);
    let k1 = load.server_core.and_then(crate::sys::core_jiffies);

    let mut m = Measured {
        window: load.duration,
        server_cpu: crate::sys::cpu_between(&s0, &s1),
        client_cpu: c0.zip(c1).map(|(a, b)| b - a),
        server_core_busy: k0
            .zip(k1)
            .filter(|(a, b)| b.1 > a.1)
            .map(|(a, b)| (b.0 - a.0) as f64 / (b.1 - a.1) as f64),
        ..Measured::default()
    };
    while let Some(r) = tasks.join_next().await {
        let r = r.map_err(|e| anyhow!("a load task failed: {e}"))?;
        m.ok += r.ok;
        m.errors += r.errors;
        if m.first_error.is_none() {
            m.first_error = r.first_error;
        }
        m.latencies.extend(r.latencies);
        m.body_bytes += r.body_bytes;
        m.items += r.items;
    }
    m.latencies.sort_unstable();
    Ok(m)
}
