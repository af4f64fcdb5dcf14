//! The HTTP side of the gateway: accept loop, TLS, routing to components,
//! the request limits, the gateway's own problem answers, graceful shutdown.

use crate::edge::{ASSERTION_HEADER, Asserter, PeerIdentity, is_identity_header};
use crate::error::{Doing, Error, Result, report};
use crate::limits::{Admitted, ConnectionCap, ConnectionLimits, Guarded, InFlight, RateLimiter};
use crate::metrics::Metrics;
use crate::routes::{Matched, Router};
use crate::runtime::{Lane, Runtime, full_body};
use crate::telemetry::{Exchange, Observed, REQUEST_ID, Routed, TrustedForRequestId};
use bytes::Bytes;
use carehub_domain::Principal;
use carehub_domain::problem::{Problem, ProblemType};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// After a 413 for a declared over-limit body, how much of the body is
/// still read and discarded (lingering close, as nginx's
/// `lingering_close`), so that the client, still sending, reads the answer
/// instead of a reset connection.
const LINGER_BYTES: u64 = 64 * 1024 * 1024;

/// How long the lingering read may take at most.
const LINGER_TIME: Duration = Duration::from_secs(5);

/// What the accept loop and the request wrapper apply to every connection
/// and request, in both modes: the connection limits, the rate limit, the
/// request id, the request log and the metrics.
#[derive(Debug)]
pub struct Serving {
    /// Timeouts, caps and HTTP/2 limits.
    pub limits: ConnectionLimits,
    /// Open connections, counted against the caps.
    pub cap: Arc<ConnectionCap>,
    /// The per-principal rate limit; `None`: no limit.
    pub rate: Option<Arc<RateLimiter>>,
    /// Who may set `x-request-id`.
    pub trusted_request_id: TrustedForRequestId,
    /// The metrics, when a metrics listener is configured.
    pub metrics: Option<Arc<Metrics>>,
    /// Write the request log.
    pub log: bool,
}

impl Serving {
    /// From the limits and the rest; the cap is made from the limits.
    pub fn new(
        limits: ConnectionLimits,
        rate: Option<Arc<RateLimiter>>,
        trusted_request_id: TrustedForRequestId,
        metrics: Option<Arc<Metrics>>,
        log: bool,
    ) -> Serving {
        Serving {
            cap: ConnectionCap::new(limits.max_connections, limits.max_connections_per_ip),
            limits,
            rate,
            trusted_request_id,
            metrics,
            log,
        }
    }
}

/// Everything a request needs, shared by all connections.
pub struct Gateway {
    /// The components.
    pub runtime: Runtime,
    /// Routes to component indices.
    pub router: Router<usize>,
    /// Signs identity assertions; `None` when serving without the edge.
    pub asserter: Option<Asserter>,
    /// Requests allowed inside components at once.
    pub concurrency: Arc<Semaphore>,
    /// How long a request may wait for a free slot.
    pub queue_timeout: Duration,
    /// Largest request body the gateway accepts.
    pub max_body_bytes: usize,
    /// The OpenAPI document served at `/openapi.json`.
    pub openapi: Bytes,
    /// Answer `GET /_carehub/floor` natively after the identity check (the
    /// benchmarks' edge-cost floor); off unless asked for.
    pub floor_route: bool,
}

/// The fixed 200-byte JSON body of the benchmark floors (the probe
/// component's `/fixed` answers the same bytes).
pub const FLOOR_BODY: &[u8] = br#"{"status":"ok","component":"probe","padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;

/// What is known about one connection.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The caller, from its certificate; `None` without the edge.
    pub identity: Option<PeerIdentity>,
    /// The client's address.
    pub client_addr: SocketAddr,
    /// `spin-client-addr`: the client's address as a header value, made
    /// once per connection.
    pub client_addr_header: HeaderValue,
    /// "https" with the edge, "http" without.
    pub scheme: &'static str,
    /// The local address, for URLs when the client sent no Host.
    pub local_addr: SocketAddr,
}

/// What the gateway answers with: a component's response or its own.
type Answer = Response<HyperOutgoingBody>;

/// The gateway's own answer from a step that refused to hand the request
/// on (boxed: the error path stays small).
type Refused = Box<Answer>;

impl Connection {
    /// A connection from `client_addr` to `local_addr`; `identity` is `None`
    /// without the edge.
    pub fn new(
        identity: Option<PeerIdentity>,
        client_addr: SocketAddr,
        local_addr: SocketAddr,
    ) -> Connection {
        Connection {
            scheme: if identity.is_some() { "https" } else { "http" },
            identity,
            client_addr,
            client_addr_header: addr_header(client_addr),
            local_addr,
        }
    }
}

impl Gateway {
    /// Serves one request: the gateway's own routes, the caller's identity,
    /// the route, the body under its limit, the request as the component
    /// sees it (identity asserted, Spin's headers), then the component
    /// under the concurrency limit. Each step either hands the request on
    /// or answers it.
    pub async fn serve(&self, req: Request<Incoming>, conn: &Connection) -> Answer {
        let path = req.uri().path();
        if let Some(answer) = own_route(req.method(), path, &self.openapi) {
            return answer;
        }
        let principal = match caller(conn) {
            Ok(principal) => principal,
            Err(answer) => return *answer,
        };
        if self.floor_route && path == "/_carehub/floor" && principal.is_some() {
            return json(StatusCode::OK, Bytes::from_static(FLOOR_BODY));
        }
        let Some(matched) = self.router.route(path) else {
            return problem(ProblemType::NotFound, format!("no route for {path}"));
        };
        let index = *matched.target;
        let route = RouteHeaders::of(&matched);
        let routed = Routed {
            route: Arc::from(matched.raw_route),
            component: self.runtime.name(index).clone(),
        };
        let mut answer = self.serve_routed(req, conn, principal, index, route).await;
        answer.extensions_mut().insert(routed);
        answer
    }

    /// Serves a routed request: the body, the request as the component
    /// sees it, the component.
    async fn serve_routed(
        &self,
        req: Request<Incoming>,
        conn: &Connection,
        principal: Option<&Principal>,
        index: usize,
        route: RouteHeaders,
    ) -> Answer {
        if declared_too_large(req.headers(), self.max_body_bytes) {
            return refuse_too_large(req, self.max_body_bytes);
        }
        let (mut parts, body) = req.into_parts();
        let body = match collect_body(body, self.max_body_bytes).await {
            Ok(body) => body,
            Err(answer) => return *answer,
        };
        drop_client_identity(&mut parts.headers, principal.is_some());
        // Room for the assertion and the seven Spin headers added below.
        parts.headers.reserve(8);
        if let (Some(p), Some(asserter)) = (principal, &self.asserter)
            && let Err(answer) = assert_identity(asserter, p, &mut parts.headers)
        {
            return *answer;
        }
        if let Err(answer) = spin_request(&mut parts, conn, route) {
            return *answer;
        }
        self.call_component(index, parts, body).await
    }

    /// Runs the component on the request once a slot is free and maps why
    /// it gave no response to a problem.
    async fn call_component(
        &self,
        index: usize,
        parts: http::request::Parts,
        body: Bytes,
    ) -> Answer {
        let metrics = self.runtime.metrics();
        // A free slot is taken at once; only a full gateway arms the timer.
        let permit = match self.concurrency.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                if let Some(m) = metrics {
                    m.queued().inc();
                }
                let waited =
                    tokio::time::timeout(self.queue_timeout, self.concurrency.acquire()).await;
                if let Some(m) = metrics {
                    m.queued().dec();
                }
                match waited {
                    Ok(Ok(p)) => p,
                    _ => {
                        return problem(
                            ProblemType::Overloaded,
                            "too many requests in progress; retry shortly",
                        );
                    }
                }
            }
        };
        let body = Full::new(body)
            .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} });
        let lane = lane_of(parts.uri.path());
        let result = self
            .runtime
            .handle_in(lane, index, Request::from_parts(parts, body))
            .await;
        drop(permit);
        if let (Some(m), Err(e)) = (metrics, &result) {
            let reason = match e {
                Error::Deadline => "deadline",
                Error::Exhausted => "exhausted",
                _ => "trap",
            };
            m.guest_stopped(self.runtime.name(index), reason);
        }
        match result {
            Ok(resp) => resp,
            Err(Error::Deadline) => problem(
                ProblemType::DeadlineExceeded,
                "the operation did not finish within the deadline and was stopped",
            ),
            Err(Error::Exhausted) => problem(ProblemType::Overloaded, "no capacity; retry shortly"),
            Err(e) => internal(report(&e)),
        }
    }
}

/// The lane a request's guest runs in: the bulk endpoints (`…:bulk`, a
/// whole load in one request) in the background lane, everything else in
/// the interactive one.
pub fn lane_of(path: &str) -> Lane {
    if path.ends_with(":bulk") {
        Lane::Background
    } else {
        Lane::Interactive
    }
}

/// The caller of a connection: its principal with the edge (a connection
/// without a certificate, or with one naming no principal, is answered
/// here), `None` without it.
fn caller(conn: &Connection) -> Result<Option<&Principal>, Refused> {
    match &conn.identity {
        None => Ok(None),
        Some(PeerIdentity::Anonymous) => Err(Box::new(problem(
            ProblemType::ClientCertificateRequired,
            "present a client certificate issued by the hub's CA",
        ))),
        Some(PeerIdentity::Unrecognised(why)) => Err(Box::new(problem(
            ProblemType::UnknownPrincipal,
            why.clone(),
        ))),
        Some(PeerIdentity::Principal(p)) => Ok(Some(p)),
    }
}

/// The matched route as Spin's header values, made at once, one copy each
/// (the matched and raw component routes share theirs), before the request
/// is taken apart.
struct RouteHeaders {
    raw_route: Option<HeaderValue>,
    component_route: Option<HeaderValue>,
    path_info: Option<HeaderValue>,
}

impl RouteHeaders {
    fn of(matched: &Matched<'_, '_, usize>) -> RouteHeaders {
        RouteHeaders {
            raw_route: HeaderValue::from_str(matched.raw_route).ok(),
            component_route: HeaderValue::from_str(matched.component_route).ok(),
            path_info: HeaderValue::from_str(matched.path_info).ok(),
        }
    }
}

/// Whether the request's `Content-Length` already says its body is over
/// the limit.
pub(crate) fn declared_too_large(headers: &HeaderMap, max_body_bytes: usize) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > max_body_bytes as u64)
}

/// 413 for a request whose `Content-Length` is over the limit. Over
/// HTTP/1 the connection then closes, but only after the body the client is
/// still sending has been read and discarded (up to [`LINGER_BYTES`], for
/// at most [`LINGER_TIME`]), so that the client reads the 413 rather than a
/// reset. Not when the client waits for `100 Continue` (it sends nothing),
/// and not over HTTP/2, where the stream is simply reset after the answer.
pub(crate) fn refuse_too_large(req: Request<Incoming>, max_body_bytes: usize) -> Answer {
    let mut answer = too_large(max_body_bytes);
    let http1 = req.version() < http::Version::HTTP_2;
    let expects_continue = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if http1 {
        answer
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        if !expects_continue {
            tokio::spawn(linger(req.into_body()));
        }
    }
    answer
}

/// Reads and discards `body` up to [`LINGER_BYTES`] or [`LINGER_TIME`].
async fn linger(mut body: Incoming) {
    let deadline = tokio::time::sleep(LINGER_TIME);
    tokio::pin!(deadline);
    let mut read = 0u64;
    while read <= LINGER_BYTES {
        tokio::select! {
            frame = body.frame() => match frame {
                Some(Ok(frame)) => {
                    read += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                _ => return,
            },
            () = &mut deadline => return,
        }
    }
}

/// The whole request body, at most `max_body_bytes` of it.
async fn collect_body(body: Incoming, max_body_bytes: usize) -> Result<Bytes, Refused> {
    // A request without a body (most reads) skips the collection.
    if http_body::Body::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    match Limited::new(body, max_body_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Box::new(too_large(max_body_bytes)))
        }
        Err(e) => Err(Box::new(problem(
            ProblemType::InvalidRequest,
            format!("reading the request body failed: {e}"),
        ))),
    }
}

/// Removes what the client sent that could speak for its identity (when
/// the edge names the caller) or pose as Spin.
fn drop_client_identity(headers: &mut HeaderMap, has_principal: bool) {
    let forged: Vec<_> = headers
        .keys()
        .filter(|name| {
            (has_principal && is_identity_header(name.as_str()))
                || name.as_str().starts_with("spin-")
        })
        .cloned()
        .collect();
    for name in forged {
        headers.remove(name);
    }
}

/// Adds the edge's assertion of `principal` to the request's headers.
fn assert_identity(
    asserter: &Asserter,
    principal: &Principal,
    headers: &mut HeaderMap,
) -> Result<(), Refused> {
    match asserter
        .assert_request(principal, headers)
        .map(HeaderValue::try_from)
    {
        Ok(Ok(v)) => {
            headers.insert(ASSERTION_HEADER, v);
            Ok(())
        }
        Ok(Err(e)) => Err(Box::new(internal(format!("assertion header: {e}")))),
        Err(e) => Err(Box::new(internal(format!(
            "signing the assertion: {}",
            report(&e)
        )))),
    }
}

/// The request as a Spin component sees it: an absolute URL and Spin's
/// `spin-*` headers.
fn spin_request(
    parts: &mut http::request::Parts,
    conn: &Connection,
    route: RouteHeaders,
) -> Result<(), Refused> {
    let uri = absolute_uri(parts, conn)?;
    // `Uri`'s display is exactly scheme://authority/path?query.
    let full_url = HeaderValue::try_from(uri.to_string());
    parts.uri = uri;
    let headers = &mut parts.headers;
    if let Ok(v) = full_url {
        headers.insert("spin-full-url", v);
    }
    let route_headers = [
        ("spin-path-info", route.path_info),
        ("spin-matched-route", route.raw_route.clone()),
        ("spin-component-route", route.component_route),
        ("spin-raw-component-route", route.raw_route),
    ];
    for (name, value) in route_headers {
        if let Some(v) = value {
            headers.insert(name, v);
        }
    }
    headers.insert("spin-client-addr", conn.client_addr_header.clone());
    headers.insert("spin-base-path", HeaderValue::from_static("/"));
    Ok(())
}

/// The request's absolute URL, built from the parts already parsed (the
/// authority, from the target, `Host` or the local address, is the only one
/// parsed here), not formatted and parsed.
fn absolute_uri(parts: &http::request::Parts, conn: &Connection) -> Result<Uri, Refused> {
    let authority = match parts.uri.authority() {
        Some(a) => Ok(a.clone()),
        None => match parts.headers.get(header::HOST).map(|h| h.to_str()) {
            Some(Ok(host)) => Authority::try_from(host),
            _ => Authority::try_from(conn.local_addr.to_string()),
        },
    };
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(if conn.scheme == "https" {
        Scheme::HTTPS
    } else {
        Scheme::HTTP
    });
    uri.authority = authority.ok();
    uri.path_and_query = Some(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    Uri::from_parts(uri).map_err(|_| {
        Box::new(problem(
            ProblemType::InvalidRequest,
            "the request target is not a valid URL",
        ))
    })
}

// The gateway's own answers, shared with proxy mode.

/// The routes the gateway answers itself, without a client certificate:
/// `GET /healthz` and `GET /openapi.json`.
pub(crate) fn own_route(method: &Method, path: &str, openapi: &Bytes) -> Option<Answer> {
    if method != Method::GET {
        return None;
    }
    match path {
        "/healthz" => Some(json(
            StatusCode::OK,
            Bytes::from_static(br#"{"status":"ok"}"#),
        )),
        "/openapi.json" => Some(json(StatusCode::OK, openapi.clone())),
        _ => None,
    }
}

/// A problem+json answer made by the gateway itself.
pub fn problem(kind: ProblemType, detail: impl Into<String>) -> Answer {
    let body = Problem::new(kind, detail).to_json().to_string();
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() =
        StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

fn json(status: StatusCode, body: Bytes) -> Answer {
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// 413: the request body is over the limit.
pub(crate) fn too_large(max: usize) -> Answer {
    problem(
        ProblemType::PayloadTooLarge,
        format!("the request body is larger than {max} bytes"),
    )
}

/// 429: the caller is over its rate; `Retry-After` in whole seconds.
pub(crate) fn rate_limited(wait: Duration) -> Answer {
    let secs = crate::limits::retry_after_secs(wait);
    let mut answer = problem(
        ProblemType::RateLimited,
        format!("too many requests from this caller; retry after {secs} s"),
    );
    answer
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    answer
}

/// 500, with `log` in the log and nothing of it in the answer.
pub(crate) fn internal(log: String) -> Answer {
    tracing::error!("internal error: {log}");
    problem(
        ProblemType::Internal,
        "an internal error occurred; it has been logged",
    )
}

/// A socket address as a header value.
fn addr_header(addr: SocketAddr) -> HeaderValue {
    HeaderValue::try_from(addr.to_string()).expect("a socket address is a valid header value")
}

/// What the accept loop hands each request to: the [`Gateway`] running the
/// components in process, or the proxy (`crate::proxy`) forwarding them.
pub trait Serve: Send + Sync + 'static {
    /// Answers one request.
    fn serve(
        &self,
        req: Request<Incoming>,
        conn: &Connection,
    ) -> impl Future<Output = Response<HyperOutgoingBody>> + Send;
}

impl Serve for Gateway {
    fn serve(
        &self,
        req: Request<Incoming>,
        conn: &Connection,
    ) -> impl Future<Output = Response<HyperOutgoingBody>> + Send {
        Gateway::serve(self, req, conn)
    }
}

/// Accepts connections until `shutdown` resolves, then lets in-flight
/// requests finish (up to `drain`). A connection over a cap of `serving`
/// is closed at once; those already open are served on.
pub async fn run(
    gateway: Arc<impl Serve>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    serving: Arc<Serving>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> Result<()> {
    let graceful = GracefulShutdown::new();
    let local_addr = listener
        .local_addr()
        .doing(|| "reading the listening address".into())?;
    tokio::pin!(shutdown);
    loop {
        let (stream, client_addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let admitted = match serving.cap.admit(client_addr.ip()) {
            Ok(a) => a,
            Err(refusal) => {
                if let Some(m) = &serving.metrics {
                    m.connection_refused(refusal.label());
                }
                tracing::info!(%client_addr, cap = refusal.label(), "connection refused: too many open connections");
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            gateway.clone(),
            tls.clone(),
            serving.clone(),
            Accepted {
                stream,
                client_addr,
                local_addr,
                admitted,
            },
            graceful.watcher(),
        ));
    }
    shut_down(graceful, drain).await;
    Ok(())
}

/// One accepted connection, holding its place under the caps.
struct Accepted {
    stream: TcpStream,
    client_addr: SocketAddr,
    local_addr: SocketAddr,
    admitted: Admitted,
}

/// Keeps the open-connections gauge while a connection lives.
struct OpenConnection(Option<Arc<Metrics>>);

impl OpenConnection {
    fn new(metrics: Option<Arc<Metrics>>) -> OpenConnection {
        if let Some(m) = &metrics {
            m.connections_open().inc();
        }
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if let Some(m) = &self.0 {
            m.connections_open().dec();
        }
    }
}

/// One accepted connection: the TLS handshake and the caller's identity
/// with the edge, then HTTP until the connection ends.
async fn serve_connection(
    gateway: Arc<impl Serve>,
    tls: Option<TlsAcceptor>,
    serving: Arc<Serving>,
    accepted: Accepted,
    watcher: Watcher,
) {
    let Accepted {
        stream,
        client_addr,
        local_addr,
        admitted,
    } = accepted;
    let _open = OpenConnection::new(serving.metrics.clone());
    match tls {
        Some(acceptor) => {
            let Some(stream) =
                handshake(&acceptor, stream, client_addr, serving.metrics.as_deref()).await
            else {
                return;
            };
            let session = stream.get_ref().1;
            let identity = crate::edge::identify(session.peer_certificates());
            let protocol = match session.alpn_protocol() {
                Some(b"h2") => Protocol::Http2,
                Some(_) => Protocol::Http1,
                None => Protocol::Either,
            };
            let conn = Connection::new(Some(identity), client_addr, local_addr);
            serve_http(gateway, serving, conn, protocol, stream, watcher).await;
        }
        None => {
            let conn = Connection::new(None, client_addr, local_addr);
            serve_http(gateway, serving, conn, Protocol::Either, stream, watcher).await;
        }
    }
    drop(admitted);
}

/// The HTTP version of a connection: from ALPN with TLS, found from the
/// first bytes without (or when the client named none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
    Either,
}

/// The TLS handshake, within [`HANDSHAKE_TIMEOUT`]; `None` (logged and
/// counted by reason) when it fails or takes too long.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    client_addr: SocketAddr,
    metrics: Option<&Metrics>,
) -> Option<TlsStream<TcpStream>> {
    let reason = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => return Some(s),
        Ok(Err(e)) => {
            tracing::info!(%client_addr, "TLS handshake refused: {e}");
            handshake_failure(&e)
        }
        Err(_) => {
            tracing::info!(%client_addr, "TLS handshake timed out");
            "timeout"
        }
    };
    if let Some(m) = metrics {
        m.tls_failure(reason);
    }
    None
}

/// Why a handshake failed, as a metric label.
fn handshake_failure(e: &std::io::Error) -> &'static str {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "eof",
            _ => "io",
        };
    };
    match tls {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Expired) => {
            "certificate_expired"
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked) => {
            "certificate_revoked"
        }
        rustls::Error::InvalidCertificate(_) => "certificate_invalid",
        rustls::Error::NoCertificatesPresented => "no_certificate",
        rustls::Error::PeerIncompatible(_) => "incompatible",
        rustls::Error::AlertReceived(_) => "alert_received",
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => "protocol",
        _ => "other",
    }
}

/// The response body as the wrapper returns it: the answer's, observed.
fn observed(resp: Answer, exchange: Exchange) -> Answer {
    let (parts, body) = resp.into_parts();
    let body = Observed::new(body, &parts.headers, exchange);
    Response::from_parts(parts, UnsyncBoxBody::new(body))
}

/// Keeps the in-flight gauge while a request lives.
pub struct InFlightGauge(Arc<Metrics>);

impl InFlightGauge {
    /// Counts one more request in flight until dropped.
    pub fn start(metrics: Arc<Metrics>) -> InFlightGauge {
        metrics.in_flight().inc();
        InFlightGauge(metrics)
    }
}

impl Drop for InFlightGauge {
    fn drop(&mut self) {
        self.0.in_flight().dec();
    }
}

/// One request through the steps every request takes, in both modes: the
/// request id, the rate limit, the gateway (or proxy), then the id on the
/// answer and the log line and metrics when its body ends.
async fn serve_request(
    gateway: &impl Serve,
    serving: &Serving,
    conn: &Arc<Connection>,
    in_flight: &Arc<InFlight>,
    mut req: Request<Incoming>,
) -> Answer {
    let started = Instant::now();
    let busy = in_flight.start();
    let gauge = serving.metrics.clone().map(InFlightGauge::start);
    let principal = match &conn.identity {
        Some(PeerIdentity::Principal(p)) => Some(p),
        _ => None,
    };
    let sender = match conn.identity {
        None => crate::telemetry::Sender::BehindAnEdge,
        Some(_) => crate::telemetry::Sender::Client(principal),
    };
    let request_id =
        crate::telemetry::request_id(req.headers(), sender, &serving.trusted_request_id);
    req.headers_mut().insert(REQUEST_ID, request_id.clone());
    let method = req.method().clone();
    let limited = match (&serving.rate, principal) {
        (Some(rate), Some(p)) => rate.check(p).err().map(|wait| (wait, p.role())),
        _ => None,
    };
    let mut resp = match limited {
        Some((wait, role)) => {
            if let Some(m) = &serving.metrics {
                m.rate_limited(role.as_str());
            }
            rate_limited(wait)
        }
        None => gateway.serve(req, conn).await,
    };
    resp.headers_mut().insert(REQUEST_ID, request_id.clone());
    if !serving.log && serving.metrics.is_none() {
        return resp;
    }
    let routed = resp.extensions_mut().remove::<Routed>();
    let exchange = Exchange {
        conn: conn.clone(),
        request_id,
        method,
        routed,
        status: resp.status().as_u16(),
        started,
        log: serving.log,
        metrics: serving.metrics.clone(),
        guards: Box::new((busy, gauge)),
    };
    observed(resp, exchange)
}

/// HTTP/1.1 or HTTP/2 on one connection, each request handed to `gateway`,
/// until the client closes it, it stays idle too long, or shutdown drains it.
async fn serve_http<S>(
    gateway: Arc<impl Serve>,
    serving: Arc<Serving>,
    conn: Connection,
    protocol: Protocol,
    io: S,
    watcher: Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let client_addr = conn.client_addr;
    let conn = Arc::new(conn);
    let in_flight = Arc::new(InFlight::default());
    let io = Guarded::new(io, serving.limits.idle_timeout, in_flight.clone());
    let limits = serving.limits.clone();
    let service = hyper::service::service_fn(move |req| {
        let gateway = gateway.clone();
        let serving = serving.clone();
        let conn = conn.clone();
        let in_flight = in_flight.clone();
        async move {
            Ok::<_, Infallible>(serve_request(&*gateway, &serving, &conn, &in_flight, req).await)
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_pending_accept_reset_streams(limits.h2_max_pending_accept_reset_streams)
        .max_local_error_reset_streams(limits.h2_max_local_error_reset_streams);
    let builder = match protocol {
        Protocol::Http1 => builder.http1_only(),
        Protocol::Http2 => builder.http2_only(),
        Protocol::Either => builder,
    };
    let connection = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(%client_addr, "connection ended: {e}");
    }
}

/// Graceful shutdown: no new connections are accepted (the caller has left
/// the accept loop); open ones finish their requests, for up to `drain`.
async fn shut_down(graceful: GracefulShutdown, drain: Duration) {
    tracing::info!("shutting down: no new connections; draining in-flight requests");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {drain:?}; closing them");
    }
}
