//! JWS compact verification for exactly the two token types the hub accepts:
//! HS256 (the edge's assertion) and ES256 (the portal's person token).
//!
//! Why not `jsonwebtoken` here: its default crypto provider links every
//! algorithm it supports (RSA, P-384, Ed25519, their DER parsers), about
//! 40 % of a component's code, for two algorithms we use. The crypto itself
//! is RustCrypto's (`hmac`, `p256`), the same crates `jsonwebtoken` uses;
//! this module does only the JOSE framing, strictly:
//!
//! * three non-empty base64url (unpadded) segments, at most [`MAX_TOKEN_LEN`];
//! * the header's `alg` must be the one the caller expects — the key decides
//!   the algorithm, never the token (no `none`, no HS/ES confusion);
//! * a `crit` header is refused (we understand no extensions);
//! * the signature is checked before the payload is parsed.
//!
//! Claim checks (issuer, audience, times) are done by the callers with
//! [`check_time`] and [`Audience`]. Tests sign with `jsonwebtoken`, as the
//! gateway does, so interoperability is checked on every test run.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

/// Longest token accepted, in bytes. Real ones are a few hundred.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The key a token must be signed with; it fixes the algorithm.
#[derive(Clone, Copy)]
pub enum Key<'a> {
    /// HMAC-SHA-256 with this secret.
    Hs256(&'a [u8]),
    /// ECDSA P-256 SHA-256 with this public key.
    Es256(&'a p256::ecdsa::VerifyingKey),
}

/// Why a token was refused. For logs only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not a well-formed JWS compact token.
    Malformed(&'static str),
    /// The header names another algorithm than the key's.
    WrongAlgorithm,
    /// The signature does not verify.
    BadSignature,
    /// The payload is not the expected claims object.
    Claims(String),
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::Malformed(why) => write!(f, "malformed token: {why}"),
            JwtError::WrongAlgorithm => f.write_str("unexpected alg"),
            JwtError::BadSignature => f.write_str("bad signature"),
            JwtError::Claims(why) => write!(f, "claims: {why}"),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

fn b64(segment: &str, what: &'static str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Malformed(what))
}

/// Verifies `token` with `key` and returns its claims and header `typ`.
pub fn verify<C: DeserializeOwned>(
    token: &str,
    key: Key<'_>,
) -> Result<(C, Option<String>), JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed("too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("not three segments"));
    };
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(JwtError::Malformed("empty segment"));
    }
    let header: Header = serde_json::from_slice(&b64(h, "header encoding")?)
        .map_err(|_| JwtError::Malformed("header is not a JOSE header"))?;
    if header.crit.is_some() {
        return Err(JwtError::Malformed("crit header"));
    }
    let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
    let signature = b64(s, "signature encoding")?;
    match key {
        Key::Hs256(secret) => {
            if header.alg != "HS256" {
                return Err(JwtError::WrongAlgorithm);
            }
            let mut mac = Hmac::<Sha256>::new_from_slice(secret)
                .map_err(|_| JwtError::Malformed("hmac key"))?;
            mac.update(signing_input);
            // Constant-time comparison.
            mac.verify_slice(&signature)
                .map_err(|_| JwtError::BadSignature)?;
        }
        Key::Es256(public) => {
            if header.alg != "ES256" {
                return Err(JwtError::WrongAlgorithm);
            }
            let signature = p256::ecdsa::Signature::from_slice(&signature)
                .map_err(|_| JwtError::BadSignature)?;
            public
                .verify(signing_input, &signature)
                .map_err(|_| JwtError::BadSignature)?;
        }
    }
    let claims = serde_json::from_slice(&b64(p, "payload encoding")?)
        .map_err(|e| JwtError::Claims(e.to_string()))?;
    Ok((claims, header.typ))
}

/// An `aud` claim: one string or an array of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "x"`.
    One(String),
    /// `"aud": ["x", "y"]`.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `expected` is among the audiences.
    pub fn contains(&self, expected: &str) -> bool {
        match self {
            Audience::One(a) => a == expected,
            Audience::Many(all) => all.iter().any(|a| a == expected),
        }
    }
}

fn to_seconds<E: serde::de::Error>(f: f64) -> Result<u64, E> {
    // Finite, not before the epoch, before the year ~33,000.
    if (0.0..1e12).contains(&f) {
        Ok(f as u64)
    } else {
        Err(E::custom("not a NumericDate"))
    }
}

/// A NumericDate (RFC 7519): seconds since the epoch, possibly fractional.
pub fn numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    to_seconds(f64::deserialize(d)?)
}

/// [`numeric_date`] for optional claims.
pub fn opt_numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<f64>::deserialize(d)?.map(to_seconds).transpose()
}

/// Checks `exp` (not past), `iat` (not in the future) and `nbf` (reached)
/// against `now`, each with `leeway` seconds.
pub fn check_time(
    exp: u64,
    iat: Option<u64>,
    nbf: Option<u64>,
    now: u64,
    leeway: u64,
) -> Result<(), String> {
    if exp.saturating_add(leeway) < now {
        return Err("expired".into());
    }
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err("issued in the future".into());
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err("not yet valid".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn hs(claims: &Value, key: &[u8]) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .unwrap()
    }

    fn forge(header: &Value, claims: &Value, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    #[test]
    fn hs256_round_trip_and_tampering() {
        let claims = json!({"sub": "x", "n": 1});
        let t = hs(&claims, b"secret");
        let (got, typ): (Value, _) = verify(&t, Key::Hs256(b"secret")).unwrap();
        assert_eq!(got, claims);
        assert_eq!(typ.as_deref(), Some("JWT"));
        assert_eq!(
            verify::<Value>(&t, Key::Hs256(b"other")).unwrap_err(),
            JwtError::BadSignature
        );

        // Change one payload character: the signature no longer matches.
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(json!({"sub": "y", "n": 1}).to_string());
        assert_eq!(
            verify::<Value>(&parts.join("."), Key::Hs256(b"secret")).unwrap_err(),
            JwtError::BadSignature
        );
    }

    #[test]
    fn refuses_malformed_tokens_and_other_algorithms() {
        let claims = json!({"sub": "x"});
        for bad in ["", "a.b", "a.b.c.d", "..", "a..c", "!!!.b.c"] {
            assert!(
                matches!(
                    verify::<Value>(bad, Key::Hs256(b"k")),
                    Err(JwtError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        let none = forge(&json!({"alg": "none"}), &claims, b"");
        assert!(verify::<Value>(&none, Key::Hs256(b"k")).is_err());
        let none = format!("{}.", &none[..none.len() - 1]);
        assert!(verify::<Value>(&none, Key::Hs256(b"k")).is_err());
        let hs384 = forge(&json!({"alg": "HS384"}), &claims, &[0; 48]);
        assert_eq!(
            verify::<Value>(&hs384, Key::Hs256(b"k")).unwrap_err(),
            JwtError::WrongAlgorithm
        );
        // A token claiming ES256 is never checked as HMAC, and vice versa.
        let es = forge(&json!({"alg": "ES256"}), &claims, &[0; 64]);
        assert_eq!(
            verify::<Value>(&es, Key::Hs256(b"k")).unwrap_err(),
            JwtError::WrongAlgorithm
        );
        let crit = forge(&json!({"alg": "HS256", "crit": ["exp"]}), &claims, &[0; 32]);
        assert!(matches!(
            verify::<Value>(&crit, Key::Hs256(b"k")),
            Err(JwtError::Malformed(_))
        ));
        let padded = format!("{}=", hs(&claims, b"k"));
        assert!(verify::<Value>(&padded, Key::Hs256(b"k")).is_err());
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(verify::<Value>(&long, Key::Hs256(b"k")).is_err());
    }

    #[test]
    fn audiences_and_times() {
        let a: Audience = serde_json::from_value(json!("carehub")).unwrap();
        assert!(a.contains("carehub") && !a.contains("x"));
        let a: Audience = serde_json::from_value(json!(["x", "carehub"])).unwrap();
        assert!(a.contains("carehub"));
        assert!(check_time(100, Some(90), None, 104, 5).is_ok());
        assert!(check_time(100, Some(90), None, 106, 5).is_err());
        assert!(check_time(200, Some(110), None, 100, 5).is_err());
        assert!(check_time(200, None, Some(110), 100, 5).is_err());
    }
}
