//! The mTLS edge: TLS 1.3 only, client certificates verified against the
//! configured CA bundle, the principal read from the certificate's URI SAN,
//! identity headers from the client dropped, and a short-lived signed
//! assertion of the principal handed to the component instead.

use anyhow::{Context, Result, bail};
use carehub_domain::Principal;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Header carrying the edge's assertion to the component.
pub const ASSERTION_HEADER: &str = "carehub-assertion";

/// Lifetime of one assertion.
pub const ASSERTION_TTL_SECS: u64 = 60;

/// Request headers a client may not set: they would claim an identity.
/// Compared lowercase; anything starting with `x-carehub-` or `spin-` goes too.
pub const IDENTITY_HEADERS: &[&str] = &[
    ASSERTION_HEADER,
    "carehub-principal",
    "x-forwarded-client-cert",
    "ssl-client-cert",
    "x-ssl-client-cert",
    "x-client-cert",
    "x-client-verify",
    "x-ssl-client-verify",
    "x-ssl-client-s-dn",
];

/// Whether a request header must be removed before the component sees it.
pub fn is_identity_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    IDENTITY_HEADERS.contains(&name.as_str())
        || name.starts_with("x-carehub-")
        || name.starts_with("carehub-")
        || name.starts_with("spin-")
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut data.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificates in {}", path.display()))?;
    if certs.is_empty() {
        bail!("no certificate in {}", path.display());
    }
    Ok(certs)
}

fn read_pem_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    rustls_pemfile::private_key(&mut data.as_slice())
        .with_context(|| format!("parsing {}", path.display()))?
        .with_context(|| format!("no private key in {}", path.display()))
}

/// The TLS server configuration: TLS 1.3 only; a client certificate is
/// verified against `ca_bundle` when presented (a certificate from another
/// CA fails the handshake); a connection without one is let through so that
/// it gets a clear 401 problem instead of a bare handshake failure.
pub fn server_config(ca_bundle: &Path, cert: &Path, key: &Path) -> Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_pem_certs(ca_bundle)? {
        roots
            .add(ca)
            .with_context(|| format!("adding a CA from {}", ca_bundle.display()))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .context("building the client-certificate verifier")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(read_pem_certs(cert)?, read_pem_key(key)?)
        .context("loading the server certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// What the edge knows about the caller of one connection.
#[derive(Debug, Clone)]
pub enum PeerIdentity {
    /// No client certificate was presented.
    Anonymous,
    /// A valid certificate that names no carehub principal.
    Unrecognised(String),
    /// A carehub principal.
    Principal(Principal),
}

/// Reads the principal from a verified client certificate: exactly one URI
/// SAN of the form `urn:carehub:<role>:<code>`.
pub fn identify(certs: Option<&[CertificateDer<'_>]>) -> PeerIdentity {
    let Some(leaf) = certs.and_then(|c| c.first()) else {
        return PeerIdentity::Anonymous;
    };
    let parsed = match x509_parser::parse_x509_certificate(leaf.as_ref()) {
        Ok((_, cert)) => cert,
        Err(e) => return PeerIdentity::Unrecognised(format!("unreadable certificate: {e}")),
    };
    let sans = match parsed.subject_alternative_name() {
        Ok(Some(ext)) => ext.value.general_names.clone(),
        Ok(None) => Vec::new(),
        Err(e) => return PeerIdentity::Unrecognised(format!("bad subjectAltName: {e}")),
    };
    let uris: Vec<&str> = sans
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::URI(u) if u.starts_with("urn:carehub:") => {
                Some(*u)
            }
            _ => None,
        })
        .collect();
    match uris.as_slice() {
        [one] => match Principal::parse_urn(one) {
            Ok(p) => PeerIdentity::Principal(p),
            Err(e) => PeerIdentity::Unrecognised(format!("{one}: {e}")),
        },
        [] => PeerIdentity::Unrecognised("the certificate names no urn:carehub: principal".into()),
        _ => PeerIdentity::Unrecognised("the certificate names more than one principal".into()),
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

/// Signs assertions of the principal for the components.
pub struct Asserter {
    key: EncodingKey,
    header: Header,
    nonce_prefix: String,
    counter: AtomicU64,
}

impl Asserter {
    /// `key` is the shared `assertion_key` variable's value.
    pub fn new(key: &str) -> Result<Asserter> {
        if key.len() < 32 {
            bail!("the assertion key must be at least 32 characters");
        }
        let mut prefix = [0u8; 8];
        getrandom::fill(&mut prefix).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Ok(Asserter {
            key: EncodingKey::from_secret(key.as_bytes()),
            header: Header::new(Algorithm::HS256),
            nonce_prefix: hex::encode(prefix),
            counter: AtomicU64::new(0),
        })
    }

    /// A fresh assertion for one request.
    pub fn assert(&self, principal: &Principal) -> Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let claims = Claims {
            iss: "carehub-edge",
            aud: "carehub-components",
            sub: &principal.to_urn(),
            iat: now,
            exp: now + ASSERTION_TTL_SECS,
            jti: format!(
                "{}{:x}",
                self.nonce_prefix,
                self.counter.fetch_add(1, Ordering::Relaxed)
            ),
        };
        Ok(jsonwebtoken::encode(&self.header, &claims, &self.key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_are_recognised_case_insensitively() {
        for h in [
            "carehub-assertion",
            "Carehub-Assertion",
            "X-Carehub-Role",
            "x-forwarded-client-cert",
            "spin-path-info",
            "SSL-Client-Cert",
        ] {
            assert!(is_identity_header(h), "{h}");
        }
        for h in ["authorization", "idempotency-key", "content-type"] {
            assert!(!is_identity_header(h), "{h}");
        }
    }

    #[test]
    fn short_assertion_keys_are_refused() {
        assert!(Asserter::new("short").is_err());
        assert!(Asserter::new(&"k".repeat(64)).is_ok());
    }
}
