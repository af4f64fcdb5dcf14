//! The gateway's Prometheus metrics (`prometheus-client`), served as
//! OpenMetrics text on a listener of their own (`--metrics-listen`, plain
//! HTTP, never the mTLS port): requests and their latency per component
//! and status class, requests in flight and queued, instance creation
//! time, guests stopped, TLS handshake failures, connections, rate-limit
//! refusals, and, read from the store on each scrape, the database pools,
//! the webhook outbox and the access log.

use crate::error::{Doing, Result};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// The OpenMetrics text media type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long the store's figures may take to read on a scrape.
const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// A name from the manifest (a component id) as a label value, shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(pub Arc<str>);

impl EncodeLabelValue for Name {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(&self.0)
    }
}

/// Labels of a request: the component that served it (`gateway` for the
/// gateway's own answers) and the status class (`2xx` … `5xx`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The component.
    pub component: Name,
    /// The status class.
    pub class: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ComponentLabels {
    component: Name,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GuestLabels {
    component: Name,
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RoleLabels {
    role: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolLabels {
    backend: &'static str,
    state: &'static str,
}

/// The status class of `status`.
pub fn class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Where the store's figures are read from on a scrape.
#[derive(Clone)]
pub enum Store {
    /// The `default` SQLite database.
    Sqlite(Arc<crate::host::sqlite::Pool>),
    /// The PostgreSQL database at this connection string.
    Postgres(String),
    /// No store here (nothing to read).
    None,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Sqlite(pool) => write!(f, "Sqlite({})", pool.path().display()),
            // The connection string may hold a password.
            Store::Postgres(_) => f.write_str("Postgres"),
            Store::None => f.write_str("None"),
        }
    }
}

/// Every metric the gateway keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    queued: Gauge,
    instance_creation: Family<ComponentLabels, Histogram, fn() -> Histogram>,
    guests_stopped: Family<GuestLabels, Counter>,
    tls_failures: Family<ReasonLabels, Counter>,
    connections_open: Gauge,
    connections_refused: Family<ReasonLabels, Counter>,
    rate_limited: Family<RoleLabels, Counter>,
    pool: Family<PoolLabels, Gauge>,
    outbox_pending: Gauge,
    outbox_oldest_age: Gauge<f64, AtomicU64>,
    store_up: Gauge,
    access_log: Arc<AccessLogAppends>,
    store: Store,
}

/// The access log's appends so far (its newest `seq`), read on a scrape: a
/// counter the registry encodes from the last reading.
#[derive(Debug, Default)]
struct AccessLogAppends(Mutex<Option<u64>>);

impl Collector for AccessLogAppends {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let Some(value) = *self.0.lock().expect("access log figure lock") else {
            return Ok(());
        };
        let counter = ConstCounter::new(value);
        let metric = encoder.encode_descriptor(
            "access_log_appends",
            "Entries appended to the access log (its newest sequence number; PostgreSQL may skip numbers)",
            None,
            counter.metric_type(),
        )?;
        counter.encode(metric)
    }
}

/// Latency buckets: 0.5 ms to about 33 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0005, 2.0, 17)
}

impl Metrics {
    /// A fresh set of metrics; `store` is read on each scrape.
    pub fn new(store: Store) -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("carehub");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by component and status class",
            requests.clone(),
        );
        let duration = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            (|| Histogram::new(latency_buckets())) as fn() -> Histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time from the request head to the end of the response body",
            duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Requests being served now",
            in_flight.clone(),
        );
        let queued = Gauge::default();
        registry.register(
            "requests_queued",
            "Requests waiting for a free component slot (--max-concurrent)",
            queued.clone(),
        );
        let instance_creation =
            Family::<ComponentLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                (|| Histogram::new(exponential_buckets(0.00001, 2.0, 16))) as fn() -> Histogram,
            );
        registry.register(
            "instance_creation_seconds",
            "Time to create a fresh component instance for a request",
            instance_creation.clone(),
        );
        let guests_stopped = Family::<GuestLabels, Counter>::default();
        registry.register(
            "guests_stopped",
            "Guest runs that ended without an answer: deadline (timed out), trap (failed), exhausted (no instance slot)",
            guests_stopped.clone(),
        );
        let tls_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed, by reason",
            tls_failures.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Client connections open now",
            connections_open.clone(),
        );
        let connections_refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections closed at once because a cap was reached (total, per_ip)",
            connections_refused.clone(),
        );
        let rate_limited = Family::<RoleLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429 by the per-principal rate limit, by role",
            rate_limited.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database connections held by the gateway's pools (state: open, idle), read on scrape",
            pool.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register(
            "webhook_outbox_pending",
            "Webhook messages not yet delivered, read on scrape",
            outbox_pending.clone(),
        );
        let outbox_oldest_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "webhook_outbox_oldest_pending_age_seconds",
            "Age of the oldest undelivered webhook message (0 when none), read on scrape",
            outbox_oldest_age.clone(),
        );
        let store_up = Gauge::default();
        registry.register(
            "store_up",
            "Whether the last scrape could read the store's figures (1) or not (0)",
            store_up.clone(),
        );
        let access_log = Arc::new(AccessLogAppends::default());
        registry.register_collector(Box::new(access_log.clone()));
        Arc::new(Metrics {
            registry,
            requests,
            duration,
            in_flight,
            queued,
            instance_creation,
            guests_stopped,
            tls_failures,
            connections_open,
            connections_refused,
            rate_limited,
            pool,
            outbox_pending,
            outbox_oldest_age,
            store_up,
            access_log,
            store,
        })
    }

    /// One answered request.
    pub fn observe_request(&self, component: &Name, status: u16, seconds: f64) {
        let labels = RequestLabels {
            component: component.clone(),
            class: class(status),
        };
        self.requests.get_or_create(&labels).inc();
        self.duration.get_or_create(&labels).observe(seconds);
    }

    /// The requests-in-flight gauge.
    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// The queued-requests gauge.
    pub fn queued(&self) -> &Gauge {
        &self.queued
    }

    /// A component instance was created in `seconds`.
    pub fn observe_instance_creation(&self, component: &Name, seconds: f64) {
        self.instance_creation
            .get_or_create(&ComponentLabels {
                component: component.clone(),
            })
            .observe(seconds);
    }

    /// A guest run ended without an answer (`deadline`, `trap`, `exhausted`).
    pub fn guest_stopped(&self, component: &Name, reason: &'static str) {
        self.guests_stopped
            .get_or_create(&GuestLabels {
                component: component.clone(),
                reason,
            })
            .inc();
    }

    /// A TLS handshake failed.
    pub fn tls_failure(&self, reason: &'static str) {
        self.tls_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// The open-connections gauge.
    pub fn connections_open(&self) -> &Gauge {
        &self.connections_open
    }

    /// A connection was refused at a cap.
    pub fn connection_refused(&self, reason: &'static str) {
        self.connections_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// A request was refused by the rate limit.
    pub fn rate_limited(&self, role: &'static str) {
        self.rate_limited.get_or_create(&RoleLabels { role }).inc();
    }

    /// Reads the store's figures, then encodes every metric.
    pub async fn scrape(&self) -> String {
        let figures = match tokio::time::timeout(STORE_TIMEOUT, read_store(&self.store)).await {
            Ok(Ok(f)) => Some(f),
            Ok(Err(e)) => {
                tracing::warn!("metrics: reading the store's figures failed: {e}");
                None
            }
            Err(_) => {
                tracing::warn!("metrics: reading the store's figures took over {STORE_TIMEOUT:?}");
                None
            }
        };
        self.store_up.set(i64::from(figures.is_some()));
        if let Some(f) = &figures {
            self.outbox_pending.set(f.outbox_pending);
            self.outbox_oldest_age.set(f.outbox_oldest_age_seconds);
            *self.access_log.0.lock().expect("access log figure lock") = Some(f.access_log_appends);
        }
        for (backend, state, value) in pool_figures(&self.store) {
            self.pool
                .get_or_create(&PoolLabels { backend, state })
                .set(value);
        }
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!("metrics: encoding failed: {e}");
        }
        text
    }
}

/// What a scrape reads from the store.
#[derive(Debug, Default)]
struct StoreFigures {
    outbox_pending: i64,
    outbox_oldest_age_seconds: f64,
    access_log_appends: u64,
}

/// The pending webhook messages, when the oldest was created, and the
/// newest access-log entry's `seq`. The same SQL on both backends.
const OUTBOX_SQL: &str =
    "SELECT COUNT(*), MIN(created_at) FROM webhook_messages WHERE state = 'pending'";
const LOG_SQL: &str = "SELECT COALESCE(MAX(seq), 0) FROM log_entries";

async fn read_store(store: &Store) -> std::result::Result<StoreFigures, String> {
    let (pending, oldest, appends) = match store {
        Store::None => return Ok(StoreFigures::default()),
        Store::Sqlite(pool) => {
            let path = pool.path().to_owned();
            // The access log lives in its own file beside default.db (the
            // `accesslog` label) once the hub has one.
            let log_path = path.with_file_name(format!("{}.db", crate::ACCESSLOG_LABEL));
            tokio::task::spawn_blocking(move || -> rusqlite::Result<(i64, Option<String>, i64)> {
                let open = |p: &std::path::Path| -> rusqlite::Result<rusqlite::Connection> {
                    let conn = rusqlite::Connection::open_with_flags(
                        p,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    conn.busy_timeout(Duration::from_secs(2))?;
                    Ok(conn)
                };
                let conn = open(&path)?;
                let (pending, oldest) = conn.query_row(OUTBOX_SQL, [], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
                })?;
                let log = if log_path.exists() {
                    open(&log_path)?
                } else {
                    conn
                };
                let appends = log.query_row(LOG_SQL, [], |r| r.get::<_, i64>(0))?;
                Ok((pending, oldest, appends))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
        }
        Store::Postgres(url) => {
            let pool = crate::host::pg::shared_pool(url).map_err(|e| crate::error::report(&e))?;
            let (pending, oldest): (i64, Option<String>) = sqlx::query_as(OUTBOX_SQL)
                .fetch_one(&pool)
                .await
                .map_err(|e| e.to_string())?;
            let appends: i64 = sqlx::query_scalar(LOG_SQL)
                .fetch_one(&pool)
                .await
                .map_err(|e| e.to_string())?;
            (pending, oldest, appends)
        }
    };
    Ok(StoreFigures {
        outbox_pending: pending,
        outbox_oldest_age_seconds: oldest.as_deref().map_or(0.0, age_seconds),
        access_log_appends: u64::try_from(appends).unwrap_or(0),
    })
}

/// Seconds since an RFC 3339 time (0 for one in the future or unreadable).
fn age_seconds(rfc3339: &str) -> f64 {
    let Ok(then) =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
    else {
        return 0.0;
    };
    (time::OffsetDateTime::now_utc() - then)
        .as_seconds_f64()
        .max(0.0)
}

/// The pools' connections now: (backend, state, count).
fn pool_figures(store: &Store) -> Vec<(&'static str, &'static str, i64)> {
    match store {
        Store::Sqlite(pool) => vec![("sqlite", "idle", pool.idle_count() as i64)],
        Store::None => Vec::new(),
        Store::Postgres(_) => {
            let (open, idle) = crate::host::pg::pool_connections();
            vec![
                ("postgres", "open", i64::from(open)),
                ("postgres", "idle", idle as i64),
            ]
        }
    }
}

/// Serves `GET /metrics` on `listener` (plain HTTP/1.1) until the process
/// ends; anything else is 404.
pub fn spawn_listener(metrics: Arc<Metrics>, listener: TcpListener) {
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("metrics: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(answer(&metrics, &req).await) }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10));
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

async fn answer(metrics: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) =
        if req.method() == Method::GET && req.uri().path() == "/metrics" {
            (StatusCode::OK, CONTENT_TYPE, metrics.scrape().await)
        } else {
            (
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found: the metrics are at GET /metrics\n".to_owned(),
            )
        };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Binds the metrics listener.
pub async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .doing(|| format!("binding the metrics listener {addr}"))
}
