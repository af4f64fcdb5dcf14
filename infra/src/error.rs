//! The library's one error type, [`Error`]: why the gateway would not start
//! (a manifest, variable, route, proxy file, certificate or database it
//! cannot use), why a request got no component response, and the failures
//! of `carehub verify-log` and the development PKI.
//!
//! Each message names what was being done or what is wrong and, where
//! there is one, what to do about it; the cause is the error's `source`, so
//! the binary prints the whole chain (`anyhow`'s `Caused by:`) and the
//! gateway's logs use [`report`]. Nothing here is sent to a client: the
//! gateway answers with a problem+json of its own (`server::problem`).

use std::path::PathBuf;
use std::process::ExitStatus;

/// A cause that has no type of its own here (wasmtime's errors, which are
/// not `std::error::Error`, and the rare failure of a dependency).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the `carehub` library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // Files and the operating system.
    /// Reading, writing or creating a file or directory, or a socket
    /// operation, failed.
    #[error("{doing}")]
    Io {
        /// What was being done, naming the file or address.
        doing: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    // spin.toml.
    /// The manifest at `path` cannot be run; `source` says why.
    #[error("in manifest {}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong in it.
        #[source]
        source: Box<Error>,
    },
    /// A TOML document (the manifest, the proxy file) does not parse or has
    /// fields the gateway does not know.
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// The manifest is not a version 2 manifest.
    #[error("spin_manifest_version {0} is not supported (only 2)")]
    ManifestVersion(u32),
    /// A trigger names a component the manifest does not define.
    #[error("trigger for route {route} names component {component:?}, which is not defined")]
    UndefinedComponent {
        /// The trigger's route.
        route: String,
        /// The component it names.
        component: String,
    },
    /// A component variable's template refers to an application variable
    /// the manifest does not declare.
    #[error(
        "component {component} refers to application variable {variable:?}, which is not declared"
    )]
    UndeclaredVariable {
        /// The component.
        component: String,
        /// The undeclared variable.
        variable: String,
    },
    /// An application variable is declared both required and with a default.
    #[error("variable {0:?} is required and has a default; choose one")]
    RequiredWithDefault(String),
    /// A route uses syntax the router does not support.
    #[error("route {route:?}: {why}")]
    Route {
        /// The route as written.
        route: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Two triggers declare the same route.
    #[error("route {0:?} is declared twice")]
    DuplicateRoute(String),

    // Variables.
    /// A variable name breaks Spin's rule.
    #[error(
        "variable name {0:?} must be lowercase letters, digits and '_', starting with a letter"
    )]
    VariableName(String),
    /// A template opens `{{` and never closes it.
    #[error("unclosed '{{{{' in template {0:?}")]
    UnclosedTemplate(String),
    /// Required application variables have no value.
    #[error("required variables have no value: {} (set SPIN_VARIABLE_<NAME>)", .0.join(", "))]
    MissingVariables(Vec<String>),

    // Components.
    /// Loading one component of the manifest failed; `source` says why.
    #[error("component {id}")]
    Component {
        /// The component id.
        id: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// wasmtime refused: configuring the engine, linking a host interface,
    /// compiling or instantiating a component.
    #[error("{doing}")]
    Wasm {
        /// What was being done.
        doing: String,
        /// wasmtime's error.
        #[source]
        source: BoxError,
    },
    /// A component's `build` command failed.
    #[error("the build command of component {id} failed ({status})")]
    BuildFailed {
        /// The component id.
        id: String,
        /// How the command ended.
        status: ExitStatus,
    },
    /// A component may open a SQLite database that is not open.
    #[error("component {component}: sqlite database {label:?} is not open")]
    DatabaseNotOpen {
        /// The component id.
        component: String,
        /// The database label.
        label: String,
    },
    /// An `allowed_outbound_hosts` entry is malformed.
    #[error("allowed outbound host {entry:?} {why}")]
    OutboundHost {
        /// The entry, templates expanded.
        entry: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An `allowed_outbound_hosts` entry refers to an unset variable.
    #[error("component {component}: allowed outbound host {entry:?} refers to an unset variable")]
    UnsetOutboundVariable {
        /// The component id.
        component: String,
        /// The entry as written.
        entry: String,
    },

    // Serving a request.
    /// The component ran past the deadline and was stopped.
    #[error("the component exceeded its deadline")]
    Deadline,
    /// No instance slot was free in the pool.
    #[error("no instance slot free")]
    Exhausted,
    /// The component trapped or failed to answer: a bug.
    #[error("component failed")]
    ComponentFailed(#[source] BoxError),

    // The edge: TLS, keys, assertions.
    /// A TLS configuration could not be built from the certificates and keys.
    #[error("{doing}")]
    Tls {
        /// What was being done, naming the file.
        doing: String,
        /// rustls's error.
        #[source]
        source: BoxError,
    },
    /// A PEM file holds no certificate.
    #[error("no certificate in {}", .0.display())]
    NoCertificate(PathBuf),
    /// A PEM file holds no private key.
    #[error("no private key in {}", .0.display())]
    NoPrivateKey(PathBuf),
    /// A `--tls-crl` file holds no certificate revocation list.
    #[error("no certificate revocation list in {}", .0.display())]
    NoCrl(PathBuf),
    /// A `--tls-crl` file does not parse as a CRL.
    #[error("{} is not a certificate revocation list: {reason}", .path.display())]
    BadCrl {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `carehub dev revoke` / `issue` named a client the development PKI
    /// does not have.
    #[error("no development client {name:?} (one of: {known})")]
    NoDevClient {
        /// The name given.
        name: String,
        /// The names there are.
        known: String,
    },
    /// The manifest declares no `assertion_key` variable.
    #[error("the manifest declares no assertion_key variable")]
    NoAssertionKey,
    /// The `assertion_key` is too short to sign with.
    #[error("the assertion key must be at least 32 characters")]
    ShortAssertionKey,
    /// `person_token_public_key` is not a P-256 public key.
    #[error(transparent)]
    PersonTokenKey(#[from] carehub_guest::person_token::KeyError),
    /// A JWT (an assertion, a development person token) could not be made.
    #[error("{doing}")]
    Jwt {
        /// What was being done.
        doing: &'static str,
        /// jsonwebtoken's error.
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    /// A certificate or key of the development PKI could not be made or read.
    #[error("{doing}")]
    Certificate {
        /// What was being done.
        doing: String,
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
    /// The operating system gave no randomness.
    #[error("no randomness: {0}")]
    Randomness(getrandom::Error),

    // The store.
    /// `store_backend` is neither `sqlite` nor `postgres`.
    #[error("store_backend {0:?} is not known (sqlite or postgres)")]
    UnknownStoreBackend(String),
    /// `store_backend` is `postgres` and `database_url` is not set.
    #[error("store_backend is postgres but database_url is not set (SPIN_VARIABLE_DATABASE_URL)")]
    NoDatabaseUrl,
    /// `database_host`, which the components may reach, is not
    /// `database_url`'s server.
    #[error(
        "database_host {host:?} does not allow database_url's server {server}: set SPIN_VARIABLE_DATABASE_HOST to it"
    )]
    DatabaseHost {
        /// `database_host`'s value.
        host: String,
        /// `database_url`'s `host:port`.
        server: String,
    },
    /// `database_url` is not a PostgreSQL connection string.
    #[error("database_url is not a PostgreSQL connection string: {0}")]
    DatabaseUrl(String),
    /// The connection string's sslmode does not verify the server, and
    /// `CAREHUB_PG_ALLOW_UNVERIFIED=1` does not allow that.
    #[error(
        "the PostgreSQL connection string has sslmode={mode}: {why}. Use sslmode=verify-full with the server's CA bundle (sslrootcert=<file> in the connection string, or the database_ca variable, SPIN_VARIABLE_DATABASE_CA); for development only, CAREHUB_PG_ALLOW_UNVERIFIED=1 allows it"
    )]
    PgUnverified {
        /// The connection string's sslmode.
        mode: &'static str,
        /// What that mode leaves unchecked.
        why: &'static str,
    },
    /// `sslmode=verify-full` with no CA bundle to verify against.
    #[error(
        "the PostgreSQL connection string has sslmode=verify-full but no CA bundle: name the file with sslrootcert=<file> in it, or set the database_ca variable (SPIN_VARIABLE_DATABASE_CA, PEM)"
    )]
    PgNoCa,
    /// default.db and accesslog.db both hold access-log rows, and not the
    /// same ones: the gateway will not guess which is the log.
    #[error(
        "{default} and {accesslog} both hold access-log entries, and {default} more of them: move or remove one by hand (carehub verify-log checks each)"
    )]
    AccessLogInTwoFiles {
        /// The documents' file.
        default: String,
        /// The log's file.
        accesslog: String,
    },
    /// `carehub verify-log` found checkpoints but has no public key to check
    /// their signatures with.
    #[error(
        "the log has checkpoints but no public key was given: pass --public-key <SPKI PEM file> (default: <state dir>/pki/log-signing.pub.pem)"
    )]
    NoLogPublicKey,
    /// The access log's public key file is not an SPKI PEM Ed25519 key.
    #[error("{0} is not an SPKI PEM Ed25519 public key")]
    LogPublicKey(String),
    /// The `database_ca` variable is not a PEM CA bundle.
    #[error("database_ca (SPIN_VARIABLE_DATABASE_CA) is not a PEM CA bundle: {0}")]
    DatabaseCa(String),
    /// `CAREHUB_PG_ALLOW_UNVERIFIED` is neither unset, `0` nor `1`.
    #[error(
        "CAREHUB_PG_ALLOW_UNVERIFIED must be 1 (allow unverified PostgreSQL, development only), 0 or unset, not {0:?}"
    )]
    PgAllowUnverified(String),
    /// `CAREHUB_PG_MAX_CONNECTIONS` is not a positive integer.
    #[error("CAREHUB_PG_MAX_CONNECTIONS must be a positive integer")]
    PgMaxConnections,
    /// A SQLite statement failed (migrations, `verify-log`).
    #[error("{doing}")]
    Sqlite {
        /// What was being done.
        doing: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A PostgreSQL connection or statement failed (migrations,
    /// `verify-log`).
    #[error("{doing}")]
    Postgres {
        /// What was being done.
        doing: String,
        /// sqlx's error.
        #[source]
        source: sqlx::Error,
    },

    /// The `webhook_secret_key` variable is not 64 hex digits (needed to
    /// seal webhook secrets when migrating).
    #[error(
        "webhook_secret_key must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`"
    )]
    WebhookSecretKey,

    // `carehub backup` and `carehub restore`.
    /// A directory to back up or restore from holds no `*.db` file.
    #[error("no SQLite database (*.db) in {}", .0.display())]
    NothingToBackUp(PathBuf),
    /// The backup directory already holds databases.
    #[error("{} already holds a backup; choose a new directory", .0.display())]
    BackupExists(PathBuf),
    /// A gateway is serving the data directory a restore would replace.
    #[error("a running gateway serves {}; stop it before restoring", .0.display())]
    HubRunning(PathBuf),
    /// A restore would replace databases and was not forced.
    #[error("restoring would replace {files} in {}; pass --force to replace them", .dir.display())]
    RestoreWouldReplace {
        /// The data directory.
        dir: PathBuf,
        /// The databases that exist there.
        files: String,
    },
    /// A database failed `PRAGMA integrity_check`.
    #[error("{} is damaged: {verdict}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// `PRAGMA integrity_check`'s answer.
        verdict: String,
    },

    // Options of `carehub up`.
    /// Only some of `--tls-ca`, `--tls-cert` and `--tls-key` were given.
    #[error("--tls-ca, --tls-cert and --tls-key go together")]
    PartialTls,
    /// `--proxy` was given with `--no-edge`.
    #[error("--proxy is the mTLS edge in front of the components; it cannot run with --no-edge")]
    ProxyWithoutEdge,
    /// Proxy mode with real certificates and no shared assertion key.
    #[error(
        "in proxy mode set SPIN_VARIABLE_ASSERTION_KEY to the assertion_key the upstream components verify with"
    )]
    ProxyAssertionKey,

    // The proxy file.
    /// The proxy file at `path` cannot be used; `source` says why.
    #[error("in proxy file {}", path.display())]
    ProxyFile {
        /// The proxy file.
        path: PathBuf,
        /// What is wrong in it.
        #[source]
        source: Box<Error>,
    },
    /// The proxy file names components `spin.toml` does not define.
    #[error(
        "the proxy file names component(s) {} that spin.toml does not define (it defines: {})",
        .unknown.join(", "),
        .defined.join(", ")
    )]
    UnknownUpstreams {
        /// The ids spin.toml does not define.
        unknown: Vec<String>,
        /// The ids it does.
        defined: Vec<String>,
    },
    /// Routed components have no upstream in the proxy file.
    #[error("the proxy file gives no upstream for routed component(s): {}", .0.join(", "))]
    MissingUpstreams(Vec<String>),
    /// An upstream URL is not one the proxy can forward to.
    #[error("upstream of {id}: {url:?} {why}")]
    Upstream {
        /// The component id.
        id: String,
        /// The URL as written.
        url: String,
        /// What is wrong with it.
        why: &'static str,
        /// The URL parser's error, when it did not parse.
        #[source]
        source: Option<http::uri::InvalidUri>,
    },

    // The webhook schedule.
    /// No route serves a scheduled job (the webhook dispatcher, the
    /// checkpoint job).
    #[error("no route serves {0}")]
    NoDispatchRoute(&'static str),
    /// The gateway runs without the edge, so nothing signs the scheduler's
    /// assertion.
    #[error("no edge: nothing signs the scheduler's assertion")]
    NoEdge,

    /// A failure with no variant of its own, which no caller handles apart:
    /// what was being done and the cause.
    #[error("{doing}")]
    Unexpected {
        /// What was being done.
        doing: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Wraps an error in loading component `id`.
    pub(crate) fn in_component(id: &str) -> impl FnOnce(Error) -> Error + '_ {
        move |source| Error::Component {
            id: id.to_owned(),
            source: Box::new(source),
        }
    }

    /// An unexpected failure while `doing`.
    pub(crate) fn unexpected(doing: &'static str, source: impl Into<BoxError>) -> Error {
        Error::Unexpected {
            doing,
            source: source.into(),
        }
    }
}

/// What was being done when a dependency's error happened: turns the error
/// into the [`Error`] variant for its kind, with `doing` as the message.
pub(crate) trait Doing<T> {
    /// `doing` names what was being done (and the file, if any).
    fn doing(self, doing: impl FnOnce() -> String) -> Result<T>;
}

macro_rules! doing {
    ($source:ty => $variant:ident $(, $convert:expr)?) => {
        impl<T> Doing<T> for std::result::Result<T, $source> {
            fn doing(self, doing: impl FnOnce() -> String) -> Result<T> {
                self.map_err(|source| Error::$variant {
                    doing: doing(),
                    source: $( ($convert) )? (source),
                })
            }
        }
    };
}

doing!(std::io::Error => Io);
doing!(rusqlite::Error => Sqlite);
doing!(sqlx::Error => Postgres);
doing!(rcgen::Error => Certificate);
doing!(rustls::Error => Tls, BoxError::from);
doing!(rustls::server::VerifierBuilderError => Tls, BoxError::from);
doing!(wasmtime::Error => Wasm, wasmtime::Error::into_boxed_dyn_error);

/// An error and its causes, `: `-separated, for the log (as `anyhow`'s
/// `{:#}` prints them).
pub fn report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_the_source_and_the_report_names_the_whole_chain() {
        let err = Error::Manifest {
            path: PathBuf::from("spin.toml"),
            source: Box::new(Error::ManifestVersion(1)),
        };
        assert_eq!(err.to_string(), "in manifest spin.toml");
        assert_eq!(
            report(&err),
            "in manifest spin.toml: spin_manifest_version 1 is not supported (only 2)"
        );
        let missing = std::fs::read("/nonexistent/spin.toml")
            .doing(|| "reading manifest /nonexistent/spin.toml".into())
            .unwrap_err();
        assert!(matches!(missing, Error::Io { .. }));
        assert!(
            report(&missing).starts_with("reading manifest /nonexistent/spin.toml: "),
            "{missing}"
        );
    }

    #[test]
    fn wasmtime_errors_keep_their_context() {
        let err: Result<()> = Err(wasmtime::Error::msg("bad magic").context("decoding"))
            .doing(|| "compiling a.wasm".into());
        assert_eq!(
            report(&err.unwrap_err()),
            "compiling a.wasm: decoding: bad magic"
        );
    }
}
