//! The gateway's PostgreSQL TLS policy, for its migrations and for every
//! connection its `fermyon:spin/postgres` host opens for a component.
//!
//! * **`sslmode=verify-full` only.** The server must present a certificate
//!   that chains to the configured CA bundle and names the host in the
//!   connection string. `disable`, `allow`, `prefer` and `require` (which
//!   encrypt, or not, without checking who answers) and `verify-ca` (which
//!   checks the CA but not the host name, so any server holding a
//!   certificate from the same CA passes — on RDS, every instance of the
//!   region) are refused at start, unless `CAREHUB_PG_ALLOW_UNVERIFIED=1`
//!   says this is development.
//! * **The CA bundle** is the `sslrootcert=<file>` of the connection string
//!   (or `PGSSLROOTCERT`) or, when it names none, the Spin variable
//!   `database_ca` (PEM text, e.g. from a Kubernetes Secret). sqlx trusts it
//!   in addition to the system roots. `verify-full` with neither is refused:
//!   the trusted CA is always a choice the operator made.
//! * No sslmode in the URL means sqlx's default, `prefer`: refused too.

use crate::error::{Error, Result};
use sqlx::ConnectOptions as _;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use std::sync::OnceLock;

/// The environment variable that lets a development setup connect without
/// verifying the server (any sslmode): `1` allows, unset or empty refuses.
pub const ALLOW_UNVERIFIED_ENV: &str = "CAREHUB_PG_ALLOW_UNVERIFIED";

/// What the gateway requires of a PostgreSQL connection.
#[derive(Debug, Clone, Default)]
pub struct TlsPolicy {
    /// The PEM CA bundle of `database_ca`, if set.
    ca: Option<Vec<u8>>,
    /// `CAREHUB_PG_ALLOW_UNVERIFIED=1`.
    allow_unverified: bool,
}

/// How one connection's server is checked, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// `verify-full` against the connection string's `sslrootcert`.
    RootCert(String),
    /// `verify-full` against the `database_ca` variable.
    DatabaseCa,
    /// Not verified (allowed for development), with the sslmode.
    Unverified(&'static str),
}

impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::RootCert(file) => write!(
                f,
                "sslmode=verify-full: its certificate must chain to the CA bundle in {file} and name the host"
            ),
            Trust::DatabaseCa => write!(
                f,
                "sslmode=verify-full: its certificate must chain to the CA bundle in database_ca and name the host"
            ),
            Trust::Unverified(mode) => write!(
                f,
                "sslmode={mode}, server NOT verified ({ALLOW_UNVERIFIED_ENV}=1)"
            ),
        }
    }
}

/// libpq's name of an sslmode.
pub fn mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

impl TlsPolicy {
    /// A policy trusting `database_ca` (PEM; empty means unset), allowing
    /// unverified connections only if `allow_unverified`.
    pub fn new(database_ca: Option<&str>, allow_unverified: bool) -> Result<TlsPolicy> {
        let ca = match database_ca.map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(pem) => {
                let certs = rustls_pemfile::certs(&mut pem.as_bytes())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::DatabaseCa(e.to_string()))?;
                if certs.is_empty() {
                    return Err(Error::DatabaseCa(
                        "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
                    ));
                }
                Some(pem.as_bytes().to_vec())
            }
        };
        Ok(TlsPolicy {
            ca,
            allow_unverified,
        })
    }

    /// The policy of this gateway: the application variable `database_ca`
    /// and the environment's `CAREHUB_PG_ALLOW_UNVERIFIED`.
    pub fn from_environment(app_vars: &crate::variables::Values) -> Result<TlsPolicy> {
        let allow = match std::env::var(ALLOW_UNVERIFIED_ENV) {
            Err(_) => false,
            Ok(v) if v.is_empty() || v == "0" => false,
            Ok(v) if v == "1" => true,
            Ok(other) => return Err(Error::PgAllowUnverified(other)),
        };
        TlsPolicy::new(app_vars.get("database_ca").map(String::as_str), allow)
    }

    /// The connection options for `address` under this policy, and how its
    /// server is checked; `Err` when the policy refuses the connection
    /// string. Statement logging is off (statements carry personal data).
    pub fn options(&self, address: &str) -> Result<(PgConnectOptions, Trust)> {
        let options =
            super::connect_options(address).map_err(|e| Error::DatabaseUrl(e.to_string()))?;
        let mode = options.get_ssl_mode();
        // sqlx keeps the root certificate private; its URL form shows it.
        let root_cert = options
            .to_url_lossy()
            .query_pairs()
            .find(|(k, _)| k == "sslrootcert")
            .map(|(_, v)| v.trim_start_matches("file: ").to_owned());
        if !matches!(mode, PgSslMode::VerifyFull) {
            if self.allow_unverified {
                return Ok((options, Trust::Unverified(mode_name(mode))));
            }
            return Err(Error::PgUnverified {
                mode: mode_name(mode),
                why: match mode {
                    PgSslMode::VerifyCa => {
                        "the server's certificate is checked against the CA but not its host name, so any server holding a certificate from that CA passes"
                    }
                    PgSslMode::Disable | PgSslMode::Allow => {
                        "the connection may be unencrypted and the server is not verified"
                    }
                    _ => {
                        "the connection may be encrypted but the server's certificate is not verified, so anyone in the path can answer"
                    }
                },
            });
        }
        match (root_cert, &self.ca) {
            (Some(file), _) => Ok((options, Trust::RootCert(file))),
            (None, Some(ca)) => Ok((
                options.ssl_root_cert_from_pem(ca.clone()),
                Trust::DatabaseCa,
            )),
            (None, None) => Err(Error::PgNoCa),
        }
    }
}

static POLICY: OnceLock<TlsPolicy> = OnceLock::new();

/// Sets the process's policy (at gateway start); only the first call counts.
pub fn install(policy: TlsPolicy) {
    let _ = POLICY.set(policy);
}

/// The process's policy: the installed one, else the strictest (no
/// `database_ca`, nothing unverified).
pub fn policy() -> &'static TlsPolicy {
    POLICY.get_or_init(TlsPolicy::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        crate::devpki::Authority::generate("test database CA")
            .unwrap()
            .cert_pem
    }

    #[test]
    fn only_verify_full_passes_a_strict_policy() {
        let strict = TlsPolicy::new(Some(&ca_pem()), false).unwrap();
        for mode in ["disable", "allow", "prefer", "require", "verify-ca"] {
            let url = format!("postgres://u@db.internal:5432/carehub?sslmode={mode}");
            let err = strict.options(&url).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::PgUnverified { .. }), "{mode}: {text}");
            assert!(text.contains(&format!("sslmode={mode}")), "{text}");
            assert!(text.contains("verify-full"), "{text}");
            assert!(text.contains(ALLOW_UNVERIFIED_ENV), "{text}");
        }
        // No sslmode at all: sqlx's default, prefer.
        let err = strict
            .options("postgres://u@db.internal:5432/carehub")
            .unwrap_err();
        assert!(err.to_string().contains("sslmode=prefer"), "{err}");
        // verify-full takes the CA from database_ca ...
        let (o, trust) = strict
            .options("postgres://u@db.internal:5432/carehub?sslmode=verify-full")
            .unwrap();
        assert_eq!(trust, Trust::DatabaseCa);
        assert!(matches!(o.get_ssl_mode(), PgSslMode::VerifyFull));
        // ... unless the URL names a file.
        let (_, trust) = strict
            .options(
                "postgres://u@db.internal/carehub?sslmode=verify-full&sslrootcert=/etc/db/ca.pem",
            )
            .unwrap();
        assert_eq!(trust, Trust::RootCert("/etc/db/ca.pem".into()));
    }

    #[test]
    fn verify_full_without_a_ca_is_refused() {
        let none = TlsPolicy::new(Some("  "), false).unwrap();
        let err = none
            .options("postgres://u@db.internal:5432/carehub?sslmode=verify-full")
            .unwrap_err();
        assert!(matches!(err, Error::PgNoCa), "{err}");
        assert!(err.to_string().contains("database_ca"), "{err}");
    }

    #[test]
    fn the_development_flag_allows_any_mode_and_says_so() {
        let dev = TlsPolicy::new(None, true).unwrap();
        let (o, trust) = dev
            .options("postgres://u@127.0.0.1:5432/carehub?sslmode=disable")
            .unwrap();
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Disable));
        assert_eq!(trust, Trust::Unverified("disable"));
        assert!(trust.to_string().contains("NOT verified"));
    }

    #[test]
    fn a_database_ca_that_is_no_certificate_is_refused() {
        let err = TlsPolicy::new(Some("not a certificate"), false).unwrap_err();
        assert!(matches!(err, Error::DatabaseCa(_)), "{err}");
        assert!(err.to_string().contains("database_ca"), "{err}");
    }
}
