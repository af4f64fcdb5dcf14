//! Proxy mode (`carehub up --proxy <file>`): the same mTLS edge and identity
//! assertion as the in-process gateway, but each spin.toml route is forwarded
//! to its component's own upstream (a SpinApp on a cluster, or another
//! `carehub up --no-edge`) instead of running the component here.
//!
//! The route table is spin.toml's; the proxy file only says where each
//! component runs. Path and query are preserved; client identity headers and
//! hop-by-hop headers are dropped; the edge's `carehub-assertion` is added;
//! bodies stream both ways, the request body under the same size limit as the
//! gateway's. An upstream that cannot be reached answers 502
//! `upstream-unavailable`, one that does not answer in time 504
//! `deadline-exceeded`.

use crate::edge::{ASSERTION_HEADER, Asserter, PeerIdentity, is_identity_header};
use crate::error::{Doing, Error, Result, report};
use crate::manifest::Manifest;
use crate::routes::Router;
use crate::server::{
    Connection, Serve, Serving, declared_too_large, internal, own_route, problem, refuse_too_large,
    too_large,
};
use bytes::Bytes;
use carehub_domain::problem::ProblemType;
use http::header::{self, HeaderMap, HeaderName};
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The proxy file: where each spin.toml component runs.
///
/// ```toml
/// connect_timeout_ms = 5000      # optional
/// response_timeout_ms = 30000    # optional: until the upstream's response head
/// upstream_ca = "ca.pem"         # optional: CA bundle for https upstreams
///                                # (relative to this file; default: the system's roots)
/// [upstreams]
/// ingest = "http://carehub-ingest.carehub.svc.cluster.local"
/// read = "http://carehub-read.carehub.svc.cluster.local"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Component id → upstream base URL (`http://` or `https://`, optionally
    /// with a path prefix; no query).
    pub upstreams: BTreeMap<String, String>,
    /// How long connecting to an upstream may take.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How long an upstream may take to send its response head, counted
    /// from the start of forwarding (the request body included).
    #[serde(default = "default_response_timeout_ms")]
    pub response_timeout_ms: u64,
    /// CA bundle (PEM) that `https` upstreams are verified against.
    pub upstream_ca: Option<PathBuf>,
}

fn default_connect_timeout_ms() -> u64 {
    5_000
}

fn default_response_timeout_ms() -> u64 {
    30_000
}

impl ProxyConfig {
    /// Parses proxy-file text.
    pub fn parse(text: &str) -> Result<ProxyConfig> {
        Ok(toml::from_str(text)?)
    }

    /// Reads a proxy file; a relative `upstream_ca` resolves against its directory.
    pub fn load(path: &Path) -> Result<ProxyConfig> {
        let text = std::fs::read_to_string(path)
            .doing(|| format!("reading proxy file {}", path.display()))?;
        let mut config = Self::parse(&text).map_err(in_proxy_file(path))?;
        if let Some(ca) = &config.upstream_ca
            && ca.is_relative()
        {
            let dir = path.parent().unwrap_or(Path::new("."));
            config.upstream_ca = Some(dir.join(ca));
        }
        Ok(config)
    }

    /// Checks the file against the manifest and gives the routing plan:
    /// every routed component has an upstream, every upstream names a
    /// component, every URL is usable.
    pub fn plan(&self, manifest: &Manifest) -> Result<Plan> {
        let unknown: Vec<String> = self
            .upstreams
            .keys()
            .filter(|id| !manifest.components.contains_key(*id))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(Error::UnknownUpstreams {
                unknown,
                defined: manifest.components.keys().cloned().collect(),
            });
        }
        let missing: Vec<String> = manifest
            .triggers
            .iter()
            .filter(|t| !self.upstreams.contains_key(&t.component))
            .map(|t| format!("{} (route {})", t.component, t.route))
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingUpstreams(missing));
        }
        let mut upstreams = Vec::new();
        let mut index = BTreeMap::new();
        for (id, url) in &self.upstreams {
            let upstream = Upstream::parse(id, url)?;
            index.insert(id.clone(), upstreams.len());
            upstreams.push(upstream);
        }
        let router = Router::new(
            manifest
                .triggers
                .iter()
                .map(|t| (t.route.clone(), index[&t.component])),
        )?;
        Ok(Plan { router, upstreams })
    }
}

/// Routes to upstreams, checked against the manifest.
#[derive(Debug)]
pub struct Plan {
    /// spin.toml's routes, leading to indices into `upstreams`.
    pub router: Router<usize>,
    /// One per component in the proxy file.
    pub upstreams: Vec<Upstream>,
}

/// Where one component runs.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The spin.toml component id.
    pub id: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Host and port.
    pub authority: String,
    /// Path prefix put before the request's path ("" for none).
    pub base_path: String,
    /// The component id as a log and metric label.
    pub name: crate::metrics::Name,
}

impl Upstream {
    fn parse(id: &str, url: &str) -> Result<Upstream> {
        let refuse = |why, source| Error::Upstream {
            id: id.to_owned(),
            url: url.to_owned(),
            why,
            source,
        };
        let uri: Uri = url.parse().map_err(|e| refuse("is not a URL", Some(e)))?;
        let scheme = match uri.scheme_str() {
            Some(s @ ("http" | "https")) => s.to_owned(),
            _ => return Err(refuse("must start with http:// or https://", None)),
        };
        let Some(authority) = uri.authority() else {
            return Err(refuse("names no host", None));
        };
        if authority.as_str().contains('@') {
            return Err(refuse("must not carry credentials", None));
        }
        if uri.query().is_some() {
            return Err(refuse("must not have a query", None));
        }
        Ok(Upstream {
            id: id.to_owned(),
            name: crate::metrics::Name(Arc::from(id)),
            scheme,
            authority: authority.as_str().to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The upstream URL of a request for `path_and_query`.
    pub fn target(&self, path_and_query: &str) -> Result<Uri, http::uri::InvalidUri> {
        format!(
            "{}://{}{}{}",
            self.scheme, self.authority, self.base_path, path_and_query
        )
        .parse()
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded either way.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Forwarding headers the client may not set: the proxy sets its own.
const FORWARDING: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Removes hop-by-hop headers, those the `Connection` header names included.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// The request body as forwarded: the client's, streamed, cut at the limit.
type ForwardBody = Limited<Incoming>;

/// The gateway in proxy mode.
pub struct Proxy {
    plan: Plan,
    asserter: Asserter,
    client: Client<HttpsConnector<HttpConnector>, ForwardBody>,
    response_timeout: Duration,
    max_body_bytes: usize,
    openapi: Bytes,
}

impl Proxy {
    /// Builds the proxy: the plan from the proxy file and the manifest, the
    /// client to the upstreams.
    pub fn new(
        config: &ProxyConfig,
        manifest: &Manifest,
        asserter: Asserter,
        max_body_bytes: usize,
        openapi: Bytes,
    ) -> Result<Proxy> {
        let plan = config.plan(manifest)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .doing(|| "choosing TLS versions for the upstreams".into())?;
        let tls = if let Some(ca) = &config.upstream_ca {
            let mut roots = rustls::RootCertStore::empty();
            for cert in crate::edge::read_pem_certs(ca)? {
                roots
                    .add(cert)
                    .doing(|| format!("adding a CA from {}", ca.display()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        } else if plan.upstreams.iter().any(|u| u.scheme == "https") {
            builder
                .with_native_roots()
                .doing(|| {
                    "loading the system's CA roots for https upstreams (or set upstream_ca)".into()
                })?
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_millis(config.connect_timeout_ms)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Proxy {
            plan,
            asserter,
            client,
            response_timeout: Duration::from_millis(config.response_timeout_ms),
            max_body_bytes,
            openapi,
        })
    }

    /// Routes and their upstreams, most specific first, for the start banner.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &Upstream)> {
        self.plan
            .router
            .entries()
            .map(|(route, i)| (route, &self.plan.upstreams[*i]))
    }

    async fn forward(
        &self,
        req: Request<Incoming>,
        conn: &Connection,
    ) -> Response<HyperOutgoingBody> {
        let path = req.uri().path().to_owned();
        if let Some(answer) = own_route(req.method(), &path, &self.openapi) {
            return answer;
        }
        let principal = match &conn.identity {
            Some(PeerIdentity::Principal(p)) => p,
            Some(PeerIdentity::Unrecognised(why)) => {
                return problem(ProblemType::UnknownPrincipal, why.clone());
            }
            Some(PeerIdentity::Anonymous) | None => {
                return problem(
                    ProblemType::ClientCertificateRequired,
                    "present a client certificate issued by the hub's CA",
                );
            }
        };
        let Some(matched) = self.plan.router.route(&path) else {
            return problem(ProblemType::NotFound, format!("no route for {path}"));
        };
        let upstream = &self.plan.upstreams[*matched.target];
        let routed = crate::telemetry::Routed {
            route: Arc::from(matched.raw_route),
            component: upstream.name.clone(),
        };
        let mut answer = self.forward_to(upstream, req, conn, principal).await;
        answer.extensions_mut().insert(routed);
        answer
    }

    /// Forwards a routed request to `upstream`.
    async fn forward_to(
        &self,
        upstream: &Upstream,
        req: Request<Incoming>,
        conn: &Connection,
        principal: &carehub_domain::Principal,
    ) -> Response<HyperOutgoingBody> {
        if declared_too_large(req.headers(), self.max_body_bytes) {
            return refuse_too_large(req, self.max_body_bytes);
        }

        let (mut parts, body) = req.into_parts();
        let original_host = parts
            .uri
            .authority()
            .map(|a| a.to_string())
            .or_else(|| {
                parts
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| conn.local_addr.to_string());
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned());
        parts.uri = match upstream.target(&path_and_query) {
            Ok(uri) => uri,
            Err(_) => {
                return problem(
                    ProblemType::InvalidRequest,
                    "the request target is not a valid URL",
                );
            }
        };
        // The upstream speaks HTTP/1.1 or negotiates h2 itself.
        parts.version = http::Version::HTTP_11;
        let headers = &mut parts.headers;
        strip_hop_by_hop(headers);
        let forged: Vec<HeaderName> = headers
            .keys()
            .filter(|name| is_identity_header(name.as_str()) || FORWARDING.contains(&name.as_str()))
            .cloned()
            .collect();
        for name in forged {
            headers.remove(name);
        }
        // The client picks the upstream's Host from the URL.
        headers.remove(header::HOST);
        let assertion = match self
            .asserter
            .assert_request(principal, headers)
            .map(HeaderValue::try_from)
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return internal(format!("assertion header: {e}")),
            Err(e) => return internal(format!("signing the assertion: {}", report(&e))),
        };
        headers.insert(ASSERTION_HEADER, assertion);
        let forwarded = [
            ("x-forwarded-for", conn.client_addr.ip().to_string()),
            ("x-forwarded-proto", conn.scheme.to_owned()),
            ("x-forwarded-host", original_host),
        ];
        for (name, value) in forwarded {
            if let Ok(v) = HeaderValue::try_from(value) {
                headers.insert(name, v);
            }
        }

        let req = Request::from_parts(parts, Limited::new(body, self.max_body_bytes));
        let resp = match tokio::time::timeout(self.response_timeout, self.client.request(req)).await
        {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) if body_too_large(&e) => return too_large(self.max_body_bytes),
            Ok(Err(e)) => {
                tracing::warn!(component = %upstream.id, "upstream failed: {}", report(&e));
                return problem(
                    ProblemType::UpstreamUnavailable,
                    format!(
                        "the {} component could not be reached or broke off its answer; retry shortly",
                        upstream.id
                    ),
                );
            }
            Err(_) => {
                let waited = self.response_timeout;
                tracing::warn!(component = %upstream.id, "upstream gave no answer in {waited:?}");
                return problem(
                    ProblemType::DeadlineExceeded,
                    format!(
                        "the {} component did not answer within {} ms",
                        upstream.id,
                        self.response_timeout.as_millis()
                    ),
                );
            }
        };
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let body = body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync();
        Response::from_parts(parts, body)
    }
}

impl Serve for Proxy {
    fn serve(
        &self,
        req: Request<Incoming>,
        conn: &Connection,
    ) -> impl Future<Output = Response<HyperOutgoingBody>> + Send {
        self.forward(req, conn)
    }
}

/// Serves `carehub up --proxy <file>` until `shutdown` resolves.
// What `crate::up` has already resolved, handed on as it is.
#[allow(clippy::too_many_arguments)]
pub async fn up(
    opts: &crate::options::UpOptions,
    file: &Path,
    manifest: &Manifest,
    app_vars: &crate::variables::Values,
    dev: &crate::devpki::DevPaths,
    started: std::time::Instant,
    serving: Serving,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    if opts.no_edge {
        return Err(Error::ProxyWithoutEdge);
    }
    let files = crate::tls::TlsFiles::of(opts, dev);
    if opts.tls_ca.is_some() && std::env::var_os("SPIN_VARIABLE_ASSERTION_KEY").is_none() {
        // With real certificates this is a deployment: the components
        // upstream verify the assertion with their own `assertion_key`,
        // which a key generated here could never match.
        return Err(Error::ProxyAssertionKey);
    }
    let config = ProxyConfig::load(file)?;
    // With PostgreSQL the schema is migrated here, at the edge's start, as
    // the in-process gateway does: the components never create tables.
    crate::host::pg::prepare_store(app_vars).await?;
    let asserter = Asserter::from_variables(app_vars)?;
    let proxy = Proxy::new(
        &config,
        manifest,
        asserter,
        opts.max_body_bytes,
        Bytes::from_static(include_bytes!("../openapi.json")),
    )
    .map_err(in_proxy_file(file))?;
    let tls = crate::tls::Reloadable::load(files)?;
    tls.watch(opts.tls_reload_interval);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .doing(|| format!("binding {}", opts.listen))?;
    let addr = listener
        .local_addr()
        .doing(|| "reading the listening address".into())?;
    println!(
        "carehub: proxying {} component(s) on https://{addr} (ready in {} ms)",
        proxy.plan.upstreams.len(),
        started.elapsed().as_millis()
    );
    for (route, upstream) in proxy.routes() {
        println!(
            "carehub:   {route} -> {} at {}://{}{}",
            upstream.id, upstream.scheme, upstream.authority, upstream.base_path
        );
    }
    use std::io::Write;
    std::io::stdout()
        .flush()
        .doing(|| "writing to standard output".into())?;
    crate::server::run(
        Arc::new(proxy),
        listener,
        Some(tls.acceptor()),
        Arc::new(serving),
        shutdown,
        opts.drain,
    )
    .await
}

/// Whether forwarding failed because the client's body passed the limit.
fn body_too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Wraps an error in what is wrong with the proxy file at `path`.
fn in_proxy_file(path: &Path) -> impl FnOnce(Error) -> Error + '_ {
    move |source| Error::ProxyFile {
        path: path.to_owned(),
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn manifest() -> Manifest {
        Manifest::parse(
            r#"
spin_manifest_version = 2
[application]
name = "t"
[[trigger.http]]
route = "/api/a/..."
component = "a"
[[trigger.http]]
route = "/api/b"
component = "b"
[component.a]
source = "a.wasm"
[component.b]
source = "b.wasm"
[component.unrouted]
source = "u.wasm"
"#,
            PathBuf::from("."),
        )
        .unwrap()
    }

    fn config(upstreams: &str) -> ProxyConfig {
        ProxyConfig::parse(&format!("[upstreams]\n{upstreams}")).unwrap()
    }

    #[test]
    fn every_route_leads_to_its_components_upstream() {
        let plan = config("a = \"http://a.svc:8080\"\nb = \"https://b.example/base/\"")
            .plan(&manifest())
            .unwrap();
        let m = plan.router.route("/api/a/x/y").unwrap();
        let up = &plan.upstreams[*m.target];
        assert_eq!(up.id, "a");
        assert_eq!(
            up.target("/api/a/x/y?limit=2").unwrap().to_string(),
            "http://a.svc:8080/api/a/x/y?limit=2"
        );
        let up = &plan.upstreams[*plan.router.route("/api/b").unwrap().target];
        assert_eq!(
            up.target("/api/b").unwrap().to_string(),
            "https://b.example/base/api/b"
        );
        assert!(plan.router.route("/api/c").is_none());
    }

    #[test]
    fn a_routed_component_without_an_upstream_is_refused() {
        let err = config("a = \"http://a\"").plan(&manifest()).unwrap_err();
        assert!(err.to_string().contains("b (route /api/b)"), "{err}");
    }

    #[test]
    fn an_unknown_component_is_refused() {
        let err = config("a = \"http://a\"\nb = \"http://b\"\nz = \"http://z\"")
            .plan(&manifest())
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("z") && text.contains("a, b, unrouted"),
            "{text}"
        );
    }

    #[test]
    fn unusable_urls_are_refused() {
        for url in [
            "ftp://a",
            "a.svc:80",
            "/relative",
            "http://user:pw@a",
            "http://a/?x=1",
        ] {
            let err = config(&format!("a = {url:?}\nb = \"http://b\""))
                .plan(&manifest())
                .unwrap_err();
            assert!(err.to_string().contains("upstream of a"), "{url}: {err}");
        }
        assert!(ProxyConfig::parse("[upstreams]\na = \"http://a\"\nretries = 3").is_err());
    }

    #[test]
    fn hop_by_hop_headers_go_including_those_connection_names() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("content-type", "application/json"),
            ("authorization", "Bearer t"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut h);
        let left: BTreeSet<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, BTreeSet::from(["authorization", "content-type"]));
    }

    #[test]
    fn the_length_limit_is_found_among_causes() {
        let limit = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(Limited::new(http_body_util::Full::new(Bytes::from("abcd")), 2).collect())
            .unwrap_err();
        #[derive(Debug)]
        struct Wrapper(Box<dyn std::error::Error + Send + Sync>);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("sending failed")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&*self.0)
            }
        }
        assert!(body_too_large(&Wrapper(limit)));
        assert!(!body_too_large(&Wrapper("refused".into())));
    }
}
