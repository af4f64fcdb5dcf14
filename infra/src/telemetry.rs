//! The request log and the request id.
//!
//! Every request the gateway answers gives one line on standard output
//! (target `carehub::request`, level INFO), human-readable by default or
//! JSON (`--log-format json`), when the response body has been sent (or
//! the client went away): request id, principal URN, method, route,
//! component, status, problem type, duration, bytes sent. Never the person
//! token, the query string or any document content. Filtering follows
//! `CAREHUB_LOG` (else `RUST_LOG`; default `info`), as
//! `tracing_subscriber::EnvFilter` reads it, e.g.
//! `CAREHUB_LOG=warn,carehub::request=info`. The gateway's other
//! diagnostics go to standard error.
//!
//! The request line is formatted on the thread that served the request and
//! handed to a writer thread of its own (`tracing-appender`'s non-blocking
//! writer, buffered, flushed whenever its queue runs empty): a slow or full
//! standard output (a pipe nobody reads fast enough) never stalls a worker.
//! It is not lossy: when [`QUEUED_LINES`] lines wait unwritten, serving
//! waits for the writer rather than drop one. [`init`]'s guard flushes what
//! is queued when the gateway exits.
//!
//! The request id is the caller's `x-request-id` only when the caller is
//! trusted for it (`--trust-request-id`, or any caller under `--no-edge`,
//! where the edge in front set it) and the value is short and plain;
//! otherwise a fresh UUID v4. It is sent to the component as
//! `x-request-id`, returned to the client in the same header, and logged.

use crate::metrics::{Metrics, Name};
use crate::server::Connection;
use bytes::Bytes;
use carehub_domain::Principal;
use carehub_domain::problem::ProblemType;
use http::{HeaderMap, HeaderValue, Method, header};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The target of the request log's events.
pub const REQUEST_TARGET: &str = "carehub::request";

/// The request id header, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// How the request log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per request (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
    /// No request log (diagnostics still go to standard error).
    Off,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            "off" => Ok(LogFormat::Off),
            other => Err(format!("{other:?}: expected text, json or off")),
        }
    }
}

/// Request-log lines that may wait for the writer thread before serving
/// waits for it.
pub const QUEUED_LINES: usize = 65_536;

/// Flushes the request log's queued lines when dropped: keep it until exit.
pub struct LogGuard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

/// Standard output, written in large pieces: the writer thread fills the
/// buffer from its queue and flushes it when the queue runs empty.
fn buffered_stdout() -> std::io::BufWriter<Box<dyn std::io::Write + Send>> {
    use std::os::fd::AsFd as _;
    // A `File` on a duplicate of fd 1, so that the buffer is written with
    // one `write` each time (`Stdout` would split it at every newline's
    // line buffering and take its lock); `Stdout` itself if that fails.
    let out: Box<dyn std::io::Write + Send> = match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(std::fs::File::from(fd)),
        Err(_) => Box::new(std::io::stdout()),
    };
    std::io::BufWriter::with_capacity(64 << 10, out)
}

/// Installs the global subscriber: the request log on standard output in
/// `format`, everything else on standard error (JSON too with `json`),
/// both under the `CAREHUB_LOG` / `RUST_LOG` filter.
pub fn init(format: LogFormat) -> LogGuard {
    let (subscriber, guard) = subscriber(format, env_filter(), buffered_stdout());
    // Also turns dependencies' `log` records into tracing events.
    let _ = subscriber.try_init();
    guard
}

/// The filter of `CAREHUB_LOG`, else `RUST_LOG`, else `info`.
fn env_filter() -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    EnvFilter::try_from_env("CAREHUB_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The gateway's subscriber: the request log written to `out` in `format`
/// by a writer thread of its own (see the module's documentation),
/// everything else on standard error, both under `filter`. [`init`]
/// installs it over standard output; the benchmark times one request's
/// line through it.
pub fn subscriber(
    format: LogFormat,
    filter: tracing_subscriber::EnvFilter,
    out: impl std::io::Write + Send + 'static,
) -> (impl tracing::Subscriber + Send + Sync + 'static, LogGuard) {
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::fmt;
    let is_request = |m: &tracing::Metadata<'_>| m.target() == REQUEST_TARGET;
    let (writer, guard) = match format {
        LogFormat::Off => (None, None),
        _ => {
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .lossy(false)
                .buffered_lines_limit(QUEUED_LINES)
                .thread_name("carehub-request-log")
                .finish(out);
            (Some(writer), Some(guard))
        }
    };
    let requests = match (format, writer) {
        (LogFormat::Text, Some(w)) => Some(
            fmt::layer()
                .with_writer(w)
                .with_target(false)
                .with_filter(filter_fn(is_request))
                .boxed(),
        ),
        (LogFormat::Json, Some(w)) => Some(
            fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_writer(w)
                .with_filter(filter_fn(is_request))
                .boxed(),
        ),
        _ => None,
    };
    let diagnostics = match format {
        LogFormat::Json => fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter_fn(move |m| !is_request(m)))
            .boxed(),
        _ => fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter_fn(move |m| !is_request(m)))
            .boxed(),
    };
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(requests)
        .with(diagnostics);
    (subscriber, LogGuard(guard))
}

/// Whether request-log lines are written at all (the filter and
/// `--log-format off` decide; cached by `tracing` per call site).
pub fn request_log_enabled() -> bool {
    tracing::enabled!(target: REQUEST_TARGET, tracing::Level::INFO)
}

/// Who may set the request id: principals by URN, or whole roles.
#[derive(Debug, Clone, Default)]
pub struct TrustedForRequestId {
    entries: Vec<String>,
}

impl TrustedForRequestId {
    /// From `--trust-request-id` values: principal URNs or role names.
    pub fn new(entries: Vec<String>) -> TrustedForRequestId {
        TrustedForRequestId { entries }
    }

    fn trusts(&self, principal: &Principal) -> bool {
        !self.entries.is_empty()
            && self
                .entries
                .iter()
                .any(|e| e == principal.role().as_str() || principal.to_urn() == e.as_str())
    }
}

/// Whether a caller's request id is usable: 1–128 characters of
/// `[A-Za-z0-9._:@/+=-]`.
fn plain_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._:@/+=-".contains(c))
}

/// Who sent a request, as far as the request id is concerned.
#[derive(Debug, Clone, Copy)]
pub enum Sender<'a> {
    /// Without the edge (`--no-edge`, behind another edge, e.g. carehub's
    /// proxy mode): the edge in front set the id; it is kept.
    BehindAnEdge,
    /// With the edge: the certificate's principal, if any.
    Client(Option<&'a Principal>),
}

/// The request's id: the caller's when trusted for it, else fresh.
pub fn request_id(
    headers: &HeaderMap,
    sender: Sender<'_>,
    trusted: &TrustedForRequestId,
) -> HeaderValue {
    if let Some(v) = headers.get(REQUEST_ID)
        && plain_id(v)
        && match sender {
            Sender::BehindAnEdge => true,
            Sender::Client(Some(p)) => trusted.trusts(p),
            Sender::Client(None) => false,
        }
    {
        return v.clone();
    }
    let mut buf = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).expect("a UUID is a valid header value")
}

/// Which route and component answered: set by the gateway (or the proxy)
/// on the response's extensions; absent for the gateway's own answers.
#[derive(Debug, Clone)]
pub struct Routed {
    /// The spin.toml route, e.g. `/api/read/...`.
    pub route: Arc<str>,
    /// The component id.
    pub component: Name,
}

/// The component label of the gateway's own answers.
pub fn gateway_name() -> Name {
    static GATEWAY: std::sync::LazyLock<Name> =
        std::sync::LazyLock::new(|| Name(Arc::from("gateway")));
    GATEWAY.clone()
}

/// What the log line and the metrics need of one request, written when the
/// response body ends or is dropped.
pub struct Exchange {
    /// The connection (its principal).
    pub conn: Arc<Connection>,
    /// The request id.
    pub request_id: HeaderValue,
    /// The method.
    pub method: Method,
    /// The route and component, when one answered.
    pub routed: Option<Routed>,
    /// The response status.
    pub status: u16,
    /// When the request head arrived.
    pub started: Instant,
    /// Whether to write the log line.
    pub log: bool,
    /// Where to count it.
    pub metrics: Option<Arc<Metrics>>,
    /// Held until the end (the in-flight count, the connection's idle timer).
    pub guards: Box<dyn Send + Sync>,
}

/// A response body that counts its bytes, picks the problem type out of a
/// problem+json answer's first frame, and writes the request's log line and
/// metrics once, when it ends or is dropped.
pub struct Observed<B> {
    inner: B,
    exchange: Option<Exchange>,
    bytes: u64,
    /// Still to look for the problem type in the next data frame.
    peek_problem: bool,
    problem: Option<&'static str>,
}

impl<B> Observed<B> {
    /// Wraps `inner`, the body of a response whose `headers` are given.
    pub fn new(inner: B, headers: &HeaderMap, exchange: Exchange) -> Observed<B> {
        let peek_problem = exchange.status >= 400
            && headers
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
        Observed {
            inner,
            exchange: Some(exchange),
            bytes: 0,
            peek_problem,
            problem: None,
        }
    }

    fn finish(&mut self) {
        let Some(x) = self.exchange.take() else {
            return;
        };
        let elapsed = x.started.elapsed();
        let component = x
            .routed
            .as_ref()
            .map_or_else(gateway_name, |r| r.component.clone());
        if let Some(m) = &x.metrics {
            m.observe_request(&component, x.status, elapsed.as_secs_f64());
        }
        if x.log {
            let principal = match &x.conn.identity {
                Some(crate::edge::PeerIdentity::Principal(p)) => Some(p),
                _ => None,
            };
            tracing::info!(
                target: REQUEST_TARGET,
                request_id = x.request_id.to_str().unwrap_or("-"),
                principal = principal.map(tracing::field::display),
                client = %x.conn.client_addr.ip(),
                method = x.method.as_str(),
                route = x.routed.as_ref().map(|r| &*r.route),
                component = &*component.0,
                status = x.status,
                problem = self.problem,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                bytes = self.bytes,
                "request"
            );
        }
        drop(x.guards);
    }
}

/// The slug of `urn:carehub:problem:<slug>` in a problem body's text.
pub fn problem_slug(body: &[u8]) -> Option<&'static str> {
    const PREFIX: &[u8] = b"urn:carehub:problem:";
    let at = body.windows(PREFIX.len()).position(|w| w == PREFIX)? + PREFIX.len();
    let rest = &body[at..];
    let end = rest
        .iter()
        .position(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-'))
        .unwrap_or(rest.len());
    let slug = std::str::from_utf8(&rest[..end]).ok()?;
    ProblemType::from_slug(slug).map(ProblemType::slug)
}

impl<B> Drop for Observed<B> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Observed<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                    if self.peek_problem && !data.is_empty() {
                        self.peek_problem = false;
                        self.problem = problem_slug(data);
                    }
                }
                if self.inner.is_end_stream() {
                    self.finish();
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_problem_type_is_read_from_a_problem_body() {
        assert_eq!(
            problem_slug(br#"{"type":"urn:carehub:problem:rate-limited","status":429}"#),
            Some("rate-limited")
        );
        assert_eq!(
            problem_slug(br#"{"status":403, "type": "urn:carehub:problem:forbidden"}"#),
            Some("forbidden")
        );
        assert_eq!(
            problem_slug(br#"{"type":"urn:carehub:problem:no-such-thing"}"#),
            None
        );
        assert_eq!(problem_slug(b"{}"), None);
    }

    #[test]
    fn a_request_id_is_taken_only_from_a_trusted_caller_and_only_when_plain() {
        let muni = Principal::parse_urn("urn:carehub:municipality:131016").unwrap();
        let op = Principal::parse_urn("urn:carehub:operator:ops").unwrap();
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_static("support-call-42"));
        let trusted = TrustedForRequestId::new(vec!["operator".into()]);
        let client = |p| Sender::Client(Some(p));
        assert_eq!(request_id(&h, client(&op), &trusted), "support-call-42");
        assert_eq!(
            request_id(&h, Sender::BehindAnEdge, &TrustedForRequestId::default()),
            "support-call-42"
        );
        let fresh = request_id(&h, client(&muni), &trusted);
        assert_ne!(fresh, "support-call-42");
        assert_eq!(fresh.len(), 36);
        let by_urn = TrustedForRequestId::new(vec!["urn:carehub:municipality:131016".into()]);
        assert_eq!(request_id(&h, client(&muni), &by_urn), "support-call-42");
        assert_ne!(
            request_id(&h, Sender::Client(None), &by_urn),
            "support-call-42"
        );
        h.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        assert_ne!(request_id(&h, client(&op), &trusted), "has space");
        assert_ne!(
            request_id(&HeaderMap::new(), client(&op), &trusted),
            request_id(&HeaderMap::new(), client(&op), &trusted)
        );
    }
}
