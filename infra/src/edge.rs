//! The mTLS edge: TLS 1.3 only, client certificates verified against the
//! configured CA bundle and CRLs (`crate::tls`), the principal read from the certificate's URI SAN,
//! identity headers from the client dropped, and a short-lived signed
//! assertion of the principal handed to the component instead.

use crate::error::{Doing, Error, Result};
use carehub_domain::Principal;
use carehub_guest::person_token::{self, EdgePersonToken};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls::pki_types::CertificateDer;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
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
    let starts_with = |prefix: &str| {
        name.len() >= prefix.len()
            && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    IDENTITY_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
        || starts_with("x-carehub-")
        || starts_with("carehub-")
        || starts_with("spin-")
}

/// The certificates of a PEM file (at least one).
pub(crate) fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let data = std::fs::read(path).doing(|| format!("reading {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut data.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .doing(|| format!("parsing certificates in {}", path.display()))?;
    if certs.is_empty() {
        return Err(Error::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

/// The edge's TLS configuration of these files, without CRLs, as
/// [`crate::tls::Reloadable::load`] makes it (for tools that serve TLS the
/// gateway's way, e.g. the benchmarks; the gateway itself keeps the
/// `Reloadable` to reload it).
pub fn server_config(ca_bundle: &Path, cert: &Path, key: &Path) -> Result<rustls::ServerConfig> {
    let tls = crate::tls::Reloadable::load(crate::tls::TlsFiles {
        ca: ca_bundle.to_owned(),
        cert: cert.to_owned(),
        key: key.to_owned(),
        crls: Vec::new(),
    })?;
    Ok(tls.config().as_ref().clone())
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
    #[serde(skip_serializing_if = "Option::is_none")]
    person_token: Option<&'a EdgePersonToken>,
}

/// How many verified person tokens the edge remembers.
pub const PERSON_TOKEN_CACHE_ENTRIES: usize = 4096;

/// Verifies the portal's person tokens at the edge, natively, with the
/// components' own verifier (`carehub_guest::person_token::Verifier`), so
/// that the verdict can travel in the assertion instead of every component
/// instance parsing the key and running ES256 in wasm.
///
/// Verified tokens are remembered by their exact text until their `exp`
/// plus the verifier's leeway (after which the verifier itself would refuse
/// them), at most [`PERSON_TOKEN_CACHE_ENTRIES`]: when full, expired entries
/// go, and if none has expired the cache starts over. Refused tokens are not
/// remembered.
pub struct PersonTokens {
    verifier: person_token::Verifier,
    cache: Mutex<HashMap<Box<str>, (EdgePersonToken, u64)>>,
}

impl PersonTokens {
    /// From the `person_token_public_key` (PEM) and `person_token_issuer`
    /// variables' values.
    pub fn new(pem: &str, issuer: &str) -> Result<PersonTokens> {
        install_jwt_provider();
        Ok(PersonTokens {
            verifier: person_token::Verifier::from_pem(pem, issuer)?,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The verdict on the request's `Authorization` header at `now` (Unix
    /// seconds), by the rules a component applies (`person_token::bearer`).
    pub fn check(&self, headers: &http::HeaderMap, now: u64) -> EdgePersonToken {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        let authorization = match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(v), None) => v.to_str().map(Some).map_err(|_| ()),
            (Some(_), Some(_)) => Err(()),
        };
        let token = match person_token::bearer(authorization) {
            Ok(t) => t,
            Err(e) => return self.refused(Err(e)),
        };
        if let Some((verdict, exp)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            && now <= exp.saturating_add(person_token::LEEWAY_SECS)
        {
            return verdict.clone();
        }
        match self.verifier.verify_token_with_expiry(token, now) {
            Ok((verified, exp)) => {
                let verdict = EdgePersonToken::from_result(&Ok(verified));
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= PERSON_TOKEN_CACHE_ENTRIES {
                    cache
                        .retain(|_, (_, exp)| now <= exp.saturating_add(person_token::LEEWAY_SECS));
                    if cache.len() >= PERSON_TOKEN_CACHE_ENTRIES {
                        cache.clear();
                    }
                }
                cache.insert(token.into(), (verdict.clone(), exp));
                verdict
            }
            Err(e) => self.refused(Err(e)),
        }
    }

    fn refused(
        &self,
        result: Result<person_token::PersonToken, person_token::PersonTokenError>,
    ) -> EdgePersonToken {
        if let Err(person_token::PersonTokenError::Invalid(why)) = &result {
            tracing::info!("person token refused: {why}");
        }
        EdgePersonToken::from_result(&result)
    }

    /// Tokens remembered now (for tests).
    pub fn cached(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn unix_now() -> Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| Error::unexpected("reading the clock", e))?
        .as_secs())
}

/// `jsonwebtoken`'s process-wide provider for the gateway: `rust_crypto`,
/// which signs the assertions. Installed before anything verifies, so that
/// the components' verifier, run natively here, does not install its
/// verify-only provider first.
fn install_jwt_provider() {
    // Err only means a provider is already installed.
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// Signs assertions of the principal for the components.
pub struct Asserter {
    key: EncodingKey,
    header: Header,
    nonce_prefix: String,
    counter: AtomicU64,
    person_tokens: Option<PersonTokens>,
}

impl Asserter {
    /// The edge's asserter from the application's resolved variables:
    /// signed with `assertion_key`, and verifying the portal's person tokens
    /// here, once, not in wasm, when `person_token_public_key` is set (with
    /// `person_token_issuer`, or the default issuer). Used by the in-process
    /// gateway and by proxy mode alike.
    pub fn from_variables(vars: &crate::variables::Values) -> Result<Asserter> {
        let key = vars.get("assertion_key").ok_or(Error::NoAssertionKey)?;
        let mut asserter = Asserter::new(key)?;
        if let Some(pem) = vars
            .get("person_token_public_key")
            .filter(|k| !k.trim().is_empty())
        {
            let issuer = vars
                .get("person_token_issuer")
                .filter(|i| !i.is_empty())
                .map_or(person_token::DEFAULT_ISSUER, String::as_str);
            asserter = asserter.with_person_tokens(PersonTokens::new(pem, issuer)?);
        }
        Ok(asserter)
    }

    /// `key` is the shared `assertion_key` variable's value.
    pub fn new(key: &str) -> Result<Asserter> {
        if key.len() < 32 {
            return Err(Error::ShortAssertionKey);
        }
        install_jwt_provider();
        let mut prefix = [0u8; 8];
        getrandom::fill(&mut prefix).map_err(Error::Randomness)?;
        Ok(Asserter {
            key: EncodingKey::from_secret(key.as_bytes()),
            header: Header::new(Algorithm::HS256),
            nonce_prefix: hex::encode(prefix),
            counter: AtomicU64::new(0),
            person_tokens: None,
        })
    }

    /// Verifies portal callers' person tokens at the edge and carries the
    /// verdict in their assertions ([`Asserter::assert_request`]).
    pub fn with_person_tokens(mut self, person_tokens: PersonTokens) -> Asserter {
        self.person_tokens = Some(person_tokens);
        self
    }

    /// The assertion for one request: for a portal caller, with the verdict
    /// on the request's person token when this edge verifies them.
    pub fn assert_request(
        &self,
        principal: &Principal,
        headers: &http::HeaderMap,
    ) -> Result<String> {
        let verdict = match &self.person_tokens {
            Some(tokens) if principal.role() == carehub_domain::Role::Portal => {
                Some(tokens.check(headers, unix_now()?))
            }
            _ => None,
        };
        self.assert_with(principal, verdict.as_ref())
    }

    /// A fresh assertion for one request.
    pub fn assert(&self, principal: &Principal) -> Result<String> {
        self.assert_with(principal, None)
    }

    /// A fresh assertion for one request, carrying the edge's verdict on the
    /// portal's person token when there is one.
    pub fn assert_with(
        &self,
        principal: &Principal,
        person_token: Option<&EdgePersonToken>,
    ) -> Result<String> {
        let now = unix_now()?;
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
            person_token,
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key).map_err(|source| Error::Jwt {
            doing: "signing the assertion",
            source,
        })
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
    fn person_tokens_are_cached_until_they_expire_and_refusals_are_not() {
        let key = rcgen::KeyPair::generate().unwrap();
        let tokens = PersonTokens::new(&key.public_key_pem(), "idp").unwrap();
        let now = 1_764_000_000;
        let token = |iss: &str, exp: u64| {
            crate::devpki::person_token(
                &key.serialize_pem(),
                &crate::devpki::PersonClaims {
                    iss: iss.into(),
                    aud: "carehub".into(),
                    sub: "u".into(),
                    insurer_number: "131016".into(),
                    insured_number: "0000012345".into(),
                    actor: "person".into(),
                    iat: now,
                    exp,
                },
            )
            .unwrap()
        };
        let headers = |value: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::AUTHORIZATION, value.parse().unwrap());
            h
        };
        let good = headers(&format!("Bearer {}", token("idp", now + 600)));
        for _ in 0..2 {
            assert!(matches!(
                tokens.check(&good, now),
                EdgePersonToken::Verified { .. }
            ));
        }
        assert_eq!(tokens.cached(), 1);
        // Past `exp` + leeway the cached verdict is not used.
        let later = now + 600 + person_token::LEEWAY_SECS + 1;
        assert_eq!(tokens.check(&good, later), EdgePersonToken::Invalid);
        let other_issuer = headers(&format!("Bearer {}", token("other", now + 600)));
        assert_eq!(tokens.check(&other_issuer, now), EdgePersonToken::Invalid);
        assert_eq!(
            tokens.check(&http::HeaderMap::new(), now),
            EdgePersonToken::Missing
        );
        assert_eq!(
            tokens.check(&headers("Basic x"), now),
            EdgePersonToken::Missing
        );
        let mut twice = good.clone();
        twice.append(
            http::header::AUTHORIZATION,
            good[http::header::AUTHORIZATION].clone(),
        );
        assert_eq!(tokens.check(&twice, now), EdgePersonToken::Invalid);
        assert_eq!(tokens.cached(), 1);
        // Bounded: a full cache of live tokens starts over.
        for i in 0..PERSON_TOKEN_CACHE_ENTRIES as u64 {
            let h = headers(&format!("Bearer {}", token("idp", now + 600 + i)));
            assert!(matches!(
                tokens.check(&h, now),
                EdgePersonToken::Verified { .. }
            ));
        }
        assert!(tokens.cached() <= PERSON_TOKEN_CACHE_ENTRIES);
    }

    #[test]
    fn short_assertion_keys_are_refused() {
        assert!(Asserter::new("short").is_err());
        assert!(Asserter::new(&"k".repeat(64)).is_ok());
    }
}
