//! JWT verification with `jsonwebtoken`, for exactly the two token types the
//! hub accepts: HS256 (the edge's assertion) and ES256 (the portal's person
//! token).
//!
//! `jsonwebtoken` does the JOSE work: the compact framing, the header, the
//! algorithm pinned by the [`Validation`] (the key decides the algorithm,
//! never the token: no `none`, no HS/ES confusion), the signature checked
//! before the payload is parsed, and the `iss`, `aud`, `sub` and `exp`
//! claims required and matched.
//!
//! Its `rust_crypto` provider is not linked into components: it brings RSA,
//! P-384 and Ed25519 along, more than doubling a component. [`PROVIDER`] is a
//! [`CryptoProvider`] on RustCrypto's `hmac` and `p256` (the crates
//! `rust_crypto` uses for these two algorithms) that verifies HS256 and ES256
//! and refuses every other algorithm and all signing; [`decode`] installs it
//! as the process default before the first decode.
//!
//! What this module adds around `jsonwebtoken::decode`: a length limit
//! ([`MAX_TOKEN_LEN`]), refusal of a `crit` header (we understand no
//! extensions), and the time checks ([`check_time`]), which take "now" from
//! the caller because `jsonwebtoken` can only read the system clock.

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, TokenData, Validation};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

/// Longest token accepted, in bytes. Real ones are a few hundred.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The carehub guest's `jsonwebtoken` crypto provider: verifies HS256
/// (`hmac`) and ES256 (`p256`, the key given as a SEC1 point) and nothing
/// else; signs nothing; supports no JWK operations.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: refuse_signing,
    verifier_factory: verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(unsupported()),
        rsa_pub_components_from_public_key: |_| Err(unsupported()),
        ec_pub_components_from_private_key: |_, _| Err(unsupported()),
        ed_pub_components_from_private_key: |_, _| Err(unsupported()),
        compute_digest: |_, _| Err(unsupported()),
    },
};

fn unsupported() -> Error {
    ErrorKind::UnsupportedAlgorithm.into()
}

fn refuse_signing(_: &Algorithm, _: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    Err(ErrorKind::Provider("the carehub guest verifies tokens and signs none".into()).into())
}

fn verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    match (alg, key.family()) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => {
            let mac = Hmac::<Sha256>::new_from_slice(key.try_get_as_bytes()?)
                .map_err(|_| ErrorKind::InvalidKeyFormat)?;
            Ok(Box::new(Hs256(mac)))
        }
        (Algorithm::ES256, AlgorithmFamily::Ec) => {
            let public = p256::ecdsa::VerifyingKey::from_sec1_bytes(key.try_get_as_bytes()?)
                .map_err(|_| ErrorKind::InvalidEcdsaKey)?;
            Ok(Box::new(Es256(public)))
        }
        (Algorithm::HS256 | Algorithm::ES256, _) => Err(ErrorKind::InvalidKeyFormat.into()),
        _ => Err(unsupported()),
    }
}

struct Hs256(Hmac<Sha256>);

impl signature::Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
        let mut mac = self.0.clone();
        mac.update(message);
        // Constant-time comparison.
        mac.verify_slice(tag).map_err(signature::Error::from_source)
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

struct Es256(p256::ecdsa::VerifyingKey);

impl signature::Verifier<Vec<u8>> for Es256 {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        // JWS ES256 signatures are the fixed-size r || s (RFC 7518, 3.4).
        let signature = p256::ecdsa::Signature::from_slice(signature)?;
        signature::Verifier::verify(&self.0, message, &signature)
    }
}

impl JwtVerifier for Es256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

/// Makes [`PROVIDER`] `jsonwebtoken`'s process default. [`decode`] calls it
/// every time; only the first call in a process (a wasm instance serves one
/// request) installs, later ones are no-ops. If a default was already chosen
/// (a native process that also links `rust_crypto` and used jsonwebtoken
/// first), that one stays: it verifies HS256 and ES256 alike, and the
/// [`Validation`] still pins the algorithm. In this crate's unit tests the
/// provider installed is [`PROVIDER`]'s verifier with `rust_crypto`'s signer.
pub fn install() {
    #[cfg(not(test))]
    let provider = &PROVIDER;
    #[cfg(test)]
    let provider = &tests::PROVIDER_SIGNING_FOR_TESTS;
    // Err only means a default is already installed.
    let _ = provider.install_default();
}

/// The validation every hub token gets: `alg` pinned to `alg`; `exp`, `iss`,
/// `aud` and `sub` required; `iss` must be `issuer` and `aud` must be or
/// contain `audience`. Times are not checked here (jsonwebtoken would use
/// the system clock): callers use [`check_time`] with their "now".
pub fn validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.validate_exp = false;
    v.validate_nbf = false;
    v
}

/// Decodes and verifies `token` with `key` under `validation`, after
/// installing [`PROVIDER`]. The error is for logs only.
pub fn decode<C: DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<TokenData<C>, String> {
    if token.len() > MAX_TOKEN_LEN {
        return Err("token too long".into());
    }
    install();
    let data = jsonwebtoken::decode::<C>(token, key, validation).map_err(|e| e.to_string())?;
    if data.header.crit.is_some() {
        return Err("crit header".into());
    }
    Ok(data)
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
pub(crate) mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    /// What [`install`] installs in this crate's tests: [`PROVIDER`]'s
    /// verifier (so every test verifies with it, whatever runs first) and
    /// `rust_crypto`'s signer, so that tests sign with `jsonwebtoken::encode`
    /// as the gateway does.
    pub(crate) static PROVIDER_SIGNING_FOR_TESTS: CryptoProvider = CryptoProvider {
        signer_factory: |alg, key| {
            (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.signer_factory)(alg, key)
        },
        verifier_factory: verifier,
        key_utils: KeyUtils::new_unimplemented(),
    };

    /// Signs `claims` with jsonwebtoken (after [`install`]).
    pub(crate) fn encode(alg: Algorithm, claims: &Value, key: &EncodingKey) -> String {
        install();
        jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), claims, key).unwrap()
    }

    fn hs(claims: &Value, key: &[u8]) -> String {
        encode(Algorithm::HS256, claims, &EncodingKey::from_secret(key))
    }

    fn forge(header: &Value, claims: &Value, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    fn claims() -> Value {
        json!({"iss": "i", "aud": "a", "sub": "s", "exp": 1})
    }

    fn hs_validation() -> Validation {
        validation(Algorithm::HS256, "i", "a")
    }

    /// The secret and public key of the person-token tests' key pair.
    fn es_keys() -> (EncodingKey, DecodingKey) {
        use crate::test_keys::{PRIVATE_PEM, PUBLIC_PEM};
        (
            EncodingKey::from_ec_pem(PRIVATE_PEM.as_bytes()).unwrap(),
            DecodingKey::from_ec_pem(PUBLIC_PEM.as_bytes()).unwrap(),
        )
    }

    const ALL: [AlgorithmFamily; 4] = [
        AlgorithmFamily::Hmac,
        AlgorithmFamily::Rsa,
        AlgorithmFamily::Ec,
        AlgorithmFamily::Ed,
    ];

    #[test]
    fn installed_default_verifies_with_our_provider() {
        install();
        // rust_crypto would verify HS384; ours refuses to.
        let e = jsonwebtoken::crypto::verify(
            "",
            b"m",
            &DecodingKey::from_secret(b"k"),
            Algorithm::HS384,
        )
        .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::UnsupportedAlgorithm);
    }

    #[test]
    fn provider_verifies_hs256_and_es256_only_and_signs_nothing() {
        let hmac = DecodingKey::from_secret(b"k");
        let (es_secret, ec) = es_keys();
        for family in ALL {
            for alg in family.algorithms() {
                let key = if family == AlgorithmFamily::Ec {
                    &ec
                } else {
                    &hmac
                };
                let got = (PROVIDER.verifier_factory)(alg, key);
                match alg {
                    Algorithm::HS256 | Algorithm::ES256 => {
                        assert_eq!(got.unwrap().algorithm(), *alg);
                    }
                    _ => assert_eq!(
                        got.err().unwrap().kind(),
                        &ErrorKind::UnsupportedAlgorithm,
                        "{alg:?}"
                    ),
                }
                let signer = (PROVIDER.signer_factory)(alg, &EncodingKey::from_secret(b"k"));
                assert!(signer.is_err(), "{alg:?}");
            }
        }
        assert!((PROVIDER.signer_factory)(&Algorithm::ES256, &es_secret).is_err());
        // The key's family must be the algorithm's.
        assert!((PROVIDER.verifier_factory)(&Algorithm::HS256, &ec).is_err());
        assert!((PROVIDER.verifier_factory)(&Algorithm::ES256, &hmac).is_err());
        assert!(
            (PROVIDER.verifier_factory)(&Algorithm::ES256, &DecodingKey::from_ec_der(b"x"))
                .is_err()
        );
        assert!(
            (PROVIDER.key_utils.compute_digest)(b"x", jsonwebtoken::jwk::ThumbprintHash::SHA256)
                .is_err()
        );
    }

    #[test]
    fn hs256_round_trip_and_tampering() {
        let c = claims();
        let t = hs(&c, b"secret");
        let got =
            decode::<Value>(&t, &DecodingKey::from_secret(b"secret"), &hs_validation()).unwrap();
        assert_eq!(got.claims, c);
        assert_eq!(got.header.typ.as_deref(), Some("JWT"));
        assert!(
            decode::<Value>(&t, &DecodingKey::from_secret(b"other"), &hs_validation()).is_err()
        );

        // Change the payload: the signature no longer matches.
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD
            .encode(json!({"iss": "i", "aud": "a", "sub": "t", "exp": 1}).to_string());
        assert!(
            decode::<Value>(
                &parts.join("."),
                &DecodingKey::from_secret(b"secret"),
                &hs_validation()
            )
            .is_err()
        );
    }

    #[test]
    fn es256_round_trip_and_tampering() {
        let (secret, public) = es_keys();
        let c = claims();
        let t = encode(Algorithm::ES256, &c, &secret);
        let v = validation(Algorithm::ES256, "i", "a");
        assert_eq!(decode::<Value>(&t, &public, &v).unwrap().claims, c);
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD
            .encode(json!({"iss": "i", "aud": "a", "sub": "t", "exp": 1}).to_string());
        assert!(decode::<Value>(&parts.join("."), &public, &v).is_err());
    }

    #[test]
    fn refuses_malformed_tokens_and_other_algorithms() {
        let k = DecodingKey::from_secret(b"k");
        let v = hs_validation();
        let c = claims();
        for bad in ["", "a.b", "a.b.c.d", "..", "a..c", "!!!.b.c"] {
            assert!(decode::<Value>(bad, &k, &v).is_err(), "{bad:?}");
        }
        let none = forge(&json!({"alg": "none"}), &c, b"");
        assert!(decode::<Value>(&none, &k, &v).is_err());
        let none = format!("{}.", &none[..none.len() - 1]);
        assert!(decode::<Value>(&none, &k, &v).is_err());
        let hs384 = encode(Algorithm::HS384, &c, &EncodingKey::from_secret(b"k"));
        assert!(decode::<Value>(&hs384, &k, &v).is_err());
        // A token claiming ES256 is never checked as HMAC, and vice versa.
        let es = forge(&json!({"alg": "ES256"}), &c, &[0; 64]);
        assert!(decode::<Value>(&es, &k, &v).is_err());
        let hs_token = hs(&c, b"k");
        let (_, public) = es_keys();
        assert!(
            decode::<Value>(&hs_token, &public, &validation(Algorithm::ES256, "i", "a")).is_err()
        );
        // Not even with the public key's bytes as the HMAC secret.
        let spki = crate::test_keys::PUBLIC_PEM;
        let confused = encode(
            Algorithm::HS256,
            &c,
            &EncodingKey::from_secret(spki.as_bytes()),
        );
        assert!(
            decode::<Value>(&confused, &public, &validation(Algorithm::ES256, "i", "a")).is_err()
        );

        let crit = hs_with_header(json!({"alg": "HS256", "crit": ["exp"]}), &c, b"k");
        assert_eq!(decode::<Value>(&crit, &k, &v).unwrap_err(), "crit header");
        let padded = format!("{}=", hs(&c, b"k"));
        assert!(decode::<Value>(&padded, &k, &v).is_err());
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(decode::<Value>(&long, &k, &v).is_err());
    }

    /// An HS256 token with a hand-made header, correctly signed.
    fn hs_with_header(header: Value, claims: &Value, key: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        install();
        let sig = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(key),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{input}.{sig}")
    }

    #[test]
    fn requires_and_matches_the_registered_claims() {
        let k = DecodingKey::from_secret(b"k");
        let v = hs_validation();
        assert!(decode::<Value>(&hs(&claims(), b"k"), &k, &v).is_ok());
        for (field, value) in [
            ("iss", json!("other")),
            ("iss", json!(null)),
            ("aud", json!("other")),
            ("aud", json!(["other", "x"])),
            ("aud", json!([])),
            ("aud", json!(null)),
            ("sub", json!(null)),
            ("exp", json!(null)),
            ("exp", json!("soon")),
        ] {
            let mut c = claims();
            if value.is_null() {
                c.as_object_mut().unwrap().remove(field);
            } else {
                c[field] = value.clone();
            }
            assert!(
                decode::<Value>(&hs(&c, b"k"), &k, &v).is_err(),
                "{field}: {value}"
            );
        }
        let mut c = claims();
        c["aud"] = json!(["x", "a"]);
        assert!(decode::<Value>(&hs(&c, b"k"), &k, &v).is_ok());
    }

    #[test]
    fn times() {
        assert!(check_time(100, Some(90), None, 104, 5).is_ok());
        assert!(check_time(100, Some(90), None, 106, 5).is_err());
        assert!(check_time(200, Some(110), None, 100, 5).is_err());
        assert!(check_time(200, None, Some(110), 100, 5).is_err());
        assert!(check_time(200, None, Some(104), 100, 5).is_ok());
    }
}
