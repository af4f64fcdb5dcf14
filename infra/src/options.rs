//! The options of `carehub up`, apart from the code that acts on them, so
//! that proxy mode (`crate::proxy`) can take them without importing the
//! crate root that starts it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `carehub up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Path of `spin.toml`.
    pub manifest: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// State directory (dev PKI, databases, compiled cache); default `<manifest dir>/.carehub`.
    pub state_dir: Option<PathBuf>,
    /// Run each component's build command first.
    pub build: bool,
    /// CA bundle that client certificates are verified against.
    pub tls_ca: Option<PathBuf>,
    /// Server certificate chain.
    pub tls_cert: Option<PathBuf>,
    /// Server private key.
    pub tls_key: Option<PathBuf>,
    /// Certificate revocation lists (PEM or DER) client certificates are
    /// checked against (`crate::tls`); with the development PKI its own CRL
    /// is checked too.
    pub tls_crl: Vec<PathBuf>,
    /// How often the TLS files are checked for changes (and reloaded);
    /// `None`: only on SIGHUP.
    pub tls_reload_interval: Option<Duration>,
    /// Serve plain HTTP without the mTLS edge (as `spin up` does).
    pub no_edge: bool,
    /// Per-request deadline inside a component.
    pub deadline: Duration,
    /// Requests inside components at once.
    pub max_concurrent: u32,
    /// Linear memory cap per instance.
    pub max_instance_memory: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Reuse compiled components across starts.
    pub cache: bool,
    /// Where compiled components are cached (default: `<state dir>/cache`).
    pub cache_dir: Option<PathBuf>,
    /// Time allowed to drain in-flight requests on shutdown.
    pub drain: Duration,
    /// Serve the benchmark floor route `/_carehub/floor`.
    pub floor_route: bool,
    /// Run the webhook dispatcher (`POST /api/webhooks/dispatch`) this
    /// often, in process (`scheduler`); `None` leaves it to an outside cron.
    pub dispatch_interval: Option<Duration>,
    /// Run the retention job (`POST /api/webhooks/purge`) this often, in
    /// process (`scheduler`); `None` leaves it to an outside cron.
    pub purge_interval: Option<Duration>,
    /// Run the access log's checkpoint job (`POST /api/read/checkpoints`)
    /// this often, in process; `None` leaves it to an outside cron.
    pub checkpoint_interval: Option<Duration>,
    /// Proxy mode: forward each route to the upstream this file names for
    /// its component instead of running the components here.
    pub proxy: Option<PathBuf>,
    /// Timeouts, connection caps, HTTP/2 limits.
    pub limits: crate::limits::ConnectionLimits,
    /// The per-principal rate limit's rules (`--rate-limit`).
    pub rate_limits: Vec<crate::limits::RateRule>,
    /// Principal URNs or roles whose `x-request-id` is taken.
    pub trust_request_id: Vec<String>,
    /// Serve Prometheus metrics on this address; `None`: no metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// Write the request log (`--log-format` is not `off`).
    pub request_log: bool,
    /// Scheduling priority (nice, 1–19) of the background lane's threads,
    /// where bulk loads and scheduled jobs run; 0: no lane of their own.
    pub background_nice: i32,
}
