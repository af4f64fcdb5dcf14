//! The HTTP side of the gateway: accept loop, TLS, routing to components,
//! the request limits, the gateway's own problem answers, graceful shutdown.

use crate::edge::{ASSERTION_HEADER, Asserter, PeerIdentity, is_identity_header};
use crate::routes::Router;
use crate::runtime::{HandleError, Runtime, full_body};
use bytes::Bytes;
use carehub_domain::problem::{Problem, ProblemType};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// A problem+json answer made by the gateway itself.
pub fn problem(kind: ProblemType, detail: impl Into<String>) -> Response<HyperOutgoingBody> {
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

fn json(status: StatusCode, body: Bytes) -> Response<HyperOutgoingBody> {
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

impl Gateway {
    /// Serves one request.
    pub async fn serve(
        &self,
        req: Request<Incoming>,
        conn: &Connection,
    ) -> Response<HyperOutgoingBody> {
        let path = req.uri().path();
        // The gateway's own routes answer without a client certificate.
        if req.method() == Method::GET {
            match path {
                "/healthz" => {
                    return json(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#));
                }
                "/openapi.json" => return json(StatusCode::OK, self.openapi.clone()),
                _ => {}
            }
        }
        let principal = match &conn.identity {
            None => None,
            Some(PeerIdentity::Anonymous) => {
                return problem(
                    ProblemType::ClientCertificateRequired,
                    "present a client certificate issued by the hub's CA",
                );
            }
            Some(PeerIdentity::Unrecognised(why)) => {
                return problem(ProblemType::UnknownPrincipal, why.clone());
            }
            Some(PeerIdentity::Principal(p)) => Some(p),
        };
        if self.floor_route && path == "/_carehub/floor" && principal.is_some() {
            return json(StatusCode::OK, Bytes::from_static(FLOOR_BODY));
        }
        let Some(matched) = self.router.route(path) else {
            return problem(ProblemType::NotFound, format!("no route for {path}"));
        };
        let index = *matched.target;
        // The route values become header values at once, one copy each (the
        // matched and raw component routes share theirs).
        let raw_route = HeaderValue::from_str(matched.raw_route).ok();
        let component_route = HeaderValue::from_str(matched.component_route).ok();
        let path_info = HeaderValue::from_str(matched.path_info).ok();

        if let Some(len) = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            && len > self.max_body_bytes as u64
        {
            return too_large(self.max_body_bytes);
        }
        let (mut parts, body) = req.into_parts();
        // A request without a body (most reads) skips the collection.
        let body = if http_body::Body::is_end_stream(&body) {
            Bytes::new()
        } else {
            match Limited::new(body, self.max_body_bytes).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return too_large(self.max_body_bytes);
                }
                Err(e) => {
                    return problem(
                        ProblemType::InvalidRequest,
                        format!("reading the request body failed: {e}"),
                    );
                }
            }
        };

        // Nothing the client sent may speak for its identity or pose as Spin.
        let forged: Vec<_> = parts
            .headers
            .keys()
            .filter(|name| {
                (principal.is_some() && is_identity_header(name.as_str()))
                    || name.as_str().starts_with("spin-")
            })
            .cloned()
            .collect();
        for name in forged {
            parts.headers.remove(name);
        }
        // Room for the assertion and the seven Spin headers added below.
        parts.headers.reserve(8);
        if let (Some(p), Some(asserter)) = (principal, &self.asserter) {
            match asserter
                .assert_request(p, &parts.headers)
                .map(HeaderValue::try_from)
            {
                Ok(Ok(v)) => {
                    parts.headers.insert(ASSERTION_HEADER, v);
                }
                Ok(Err(e)) => return internal(format!("assertion header: {e}")),
                Err(e) => return internal(format!("signing the assertion: {e:#}")),
            }
        }
        // The absolute URL is built from the parts already parsed (the
        // authority is the only one parsed here), not formatted and parsed.
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
        let Ok(uri) = Uri::from_parts(uri) else {
            return problem(
                ProblemType::InvalidRequest,
                "the request target is not a valid URL",
            );
        };
        // `Uri`'s display is exactly scheme://authority/path?query.
        let full_url = HeaderValue::try_from(uri.to_string());
        parts.uri = uri;
        if let Ok(v) = full_url {
            parts.headers.insert("spin-full-url", v);
        }
        let route_headers = [
            ("spin-path-info", path_info),
            ("spin-matched-route", raw_route.clone()),
            ("spin-component-route", component_route),
            ("spin-raw-component-route", raw_route),
        ];
        for (name, value) in route_headers {
            if let Some(v) = value {
                parts.headers.insert(name, v);
            }
        }
        parts
            .headers
            .insert("spin-client-addr", conn.client_addr_header.clone());
        parts
            .headers
            .insert("spin-base-path", HeaderValue::from_static("/"));

        // A free slot is taken at once; only a full gateway arms the timer.
        let permit = match self.concurrency.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                match tokio::time::timeout(self.queue_timeout, self.concurrency.acquire()).await {
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
        let result = self
            .runtime
            .handle(index, Request::from_parts(parts, body))
            .await;
        drop(permit);
        match result {
            Ok(resp) => resp,
            Err(HandleError::Deadline) => problem(
                ProblemType::DeadlineExceeded,
                "the operation did not finish within the deadline and was stopped",
            ),
            Err(HandleError::Exhausted) => {
                problem(ProblemType::Overloaded, "no capacity; retry shortly")
            }
            Err(HandleError::Failed(e)) => internal(format!("{e:#}")),
        }
    }
}

/// A socket address as a header value.
fn addr_header(addr: SocketAddr) -> HeaderValue {
    HeaderValue::try_from(addr.to_string()).expect("a socket address is a valid header value")
}

fn too_large(max: usize) -> Response<HyperOutgoingBody> {
    problem(
        ProblemType::PayloadTooLarge,
        format!("the request body is larger than {max} bytes"),
    )
}

fn internal(log: String) -> Response<HyperOutgoingBody> {
    tracing::error!("internal error: {log}");
    problem(
        ProblemType::Internal,
        "an internal error occurred; it has been logged",
    )
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
/// requests finish (up to `drain`).
pub async fn run(
    gateway: Arc<impl Serve>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> anyhow::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let local_addr = listener.local_addr()?;
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
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            match tls {
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::info!(%client_addr, "TLS handshake refused: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(%client_addr, "TLS handshake timed out");
                            return;
                        }
                    };
                    let identity = crate::edge::identify(stream.get_ref().1.peer_certificates());
                    let conn = Arc::new(Connection {
                        identity: Some(identity),
                        client_addr,
                        client_addr_header: addr_header(client_addr),
                        scheme: "https",
                        local_addr,
                    });
                    let service = hyper::service::service_fn(move |req| {
                        let gateway = gateway.clone();
                        let conn = conn.clone();
                        async move { Ok::<_, Infallible>(gateway.serve(req, &conn).await) }
                    });
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(connection).await {
                        tracing::debug!(%client_addr, "connection ended: {e}");
                    }
                }
                None => {
                    let conn = Arc::new(Connection {
                        identity: None,
                        client_addr,
                        client_addr_header: addr_header(client_addr),
                        scheme: "http",
                        local_addr,
                    });
                    let service = hyper::service::service_fn(move |req| {
                        let gateway = gateway.clone();
                        let conn = conn.clone();
                        async move { Ok::<_, Infallible>(gateway.serve(req, &conn).await) }
                    });
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(connection).await {
                        tracing::debug!(%client_addr, "connection ended: {e}");
                    }
                }
            }
        });
    }
    tracing::info!("shutting down: no new connections; draining in-flight requests");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {drain:?}; closing them");
    }
    Ok(())
}
