//! The edge's identity assertion (CONTRACTS.md, "Edge -> component").
//!
//! The gateway terminates mTLS, drops any client-sent `carehub-assertion`,
//! and adds its own: an HS256 JWT whose `sub` is the principal URN from the
//! client certificate. A component verifies it before anything else — before
//! routing, before reading the body — and trusts no other identity header.

use carehub_domain::{Principal, Problem, ProblemType};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::http::RequestHead;
use crate::jwt;
use crate::person_token::EdgePersonToken;

/// The header the gateway sets.
pub const HEADER: &str = "carehub-assertion";
/// The only accepted `iss`.
pub const ISSUER: &str = "carehub-edge";
/// The only accepted `aud`.
pub const AUDIENCE: &str = "carehub-components";
/// Clock skew tolerated on `exp` and `iat`, seconds.
pub const LEEWAY_SECS: u64 = 5;
/// The longest lifetime (`exp - iat`) the gateway issues, seconds.
pub const MAX_LIFETIME_SECS: u64 = 60;

/// Why an assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionError {
    /// No `carehub-assertion` header.
    Missing,
    /// Present but not acceptable; the reason is for the log only.
    Invalid(String),
}

impl AssertionError {
    /// The 401 problem: `assertion-missing` or `assertion-invalid`. The
    /// detail does not say what was wrong with an invalid assertion.
    pub fn to_problem(&self) -> Problem {
        match self {
            AssertionError::Missing => Problem::new(
                ProblemType::AssertionMissing,
                "No identity assertion: call the hub through its mTLS edge.",
            ),
            AssertionError::Invalid(_) => Problem::new(
                ProblemType::AssertionInvalid,
                "The identity assertion is invalid or expired.",
            ),
        }
    }
}

/// The claims read here; `iss` and `aud` are matched by `jsonwebtoken`.
#[derive(Deserialize)]
struct Claims {
    /// A single string (`jsonwebtoken` would also take an array holding it).
    #[serde(rename = "iss")]
    _iss: String,
    sub: String,
    #[serde(deserialize_with = "jwt::numeric_date")]
    iat: u64,
    #[serde(deserialize_with = "jwt::numeric_date")]
    exp: u64,
    #[serde(default, deserialize_with = "jwt::opt_numeric_date")]
    nbf: Option<u64>,
    jti: String,
    /// Set by the edge for a portal call: what it found verifying the
    /// person token ([`EdgePersonToken`]).
    #[serde(default)]
    person_token: Option<EdgePersonToken>,
}

/// A verified assertion: the principal and, for a portal call behind an edge
/// that verifies person tokens, the outcome of that verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asserted {
    /// The caller.
    pub principal: Principal,
    /// The edge's person-token verdict, when the assertion carries one.
    pub person_token: Option<EdgePersonToken>,
}

/// Verifies the request's assertion with `key` (the UTF-8 bytes of the
/// `assertion_key` variable) at time `now` (Unix seconds) and returns the
/// principal it names.
pub fn verify(head: &RequestHead, key: &[u8], now: u64) -> Result<Principal, AssertionError> {
    verify_asserted(head, key, now).map(|a| a.principal)
}

/// [`verify`], also returning the edge's person-token verdict.
pub fn verify_asserted(
    head: &RequestHead,
    key: &[u8],
    now: u64,
) -> Result<Asserted, AssertionError> {
    let token = match head.single_header(HEADER) {
        Ok(Some(t)) => t.trim(),
        Ok(None) => return Err(AssertionError::Missing),
        Err(()) => {
            return Err(AssertionError::Invalid(
                "repeated or non-UTF-8 assertion header".into(),
            ));
        }
    };
    verify_asserted_token(token, key, now)
}

/// Verifies one assertion token.
pub fn verify_token(token: &str, key: &[u8], now: u64) -> Result<Principal, AssertionError> {
    verify_asserted_token(token, key, now).map(|a| a.principal)
}

/// [`verify_token`], also returning the edge's person-token verdict.
pub fn verify_asserted_token(
    token: &str,
    key: &[u8],
    now: u64,
) -> Result<Asserted, AssertionError> {
    let invalid = |why: String| AssertionError::Invalid(why);
    if key.is_empty() {
        return Err(invalid("empty assertion key".into()));
    }
    let data = jwt::decode::<Claims>(
        token,
        &DecodingKey::from_secret(key),
        &jwt::validation(Algorithm::HS256, ISSUER, AUDIENCE),
    )
    .map_err(invalid)?;
    if let Some(typ) = &data.header.typ
        && !typ.eq_ignore_ascii_case("JWT")
    {
        return Err(invalid(format!("unexpected typ {typ:?}")));
    }
    let c = data.claims;
    jwt::check_time(c.exp, Some(c.iat), c.nbf, now, LEEWAY_SECS).map_err(invalid)?;
    if c.exp < c.iat || c.exp - c.iat > MAX_LIFETIME_SECS {
        return Err(invalid("lifetime longer than the edge issues".into()));
    }
    if c.jti.is_empty() {
        return Err(invalid("empty jti".into()));
    }
    let principal = Principal::parse_urn(&c.sub).map_err(|e| invalid(format!("sub: {e}")))?;
    Ok(Asserted {
        principal,
        person_token: c.person_token,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::EncodingKey;
    use serde_json::json;

    pub(crate) const KEY: &[u8] =
        b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_764_000_000;

    pub(crate) fn sign(claims: &serde_json::Value, key: &[u8]) -> String {
        crate::jwt::tests::encode(Algorithm::HS256, claims, &EncodingKey::from_secret(key))
    }

    pub(crate) fn claims(sub: &str, iat: u64) -> serde_json::Value {
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": iat, "exp": iat + 60, "jti": "ab12"})
    }

    /// Signs `claims` under a hand-made header, with [`KEY`].
    fn sign_with_header(header: serde_json::Value, claims: &serde_json::Value) -> String {
        use base64::Engine as _;
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let input = format!("{}.{}", b64(&header), b64(claims));
        crate::jwt::install();
        let sig = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(KEY),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{input}.{sig}")
    }

    fn head(token: Option<&str>) -> RequestHead {
        let headers = token
            .map(|t| vec![(HEADER.to_owned(), t.as_bytes().to_vec())])
            .unwrap_or_default();
        RequestHead::new("GET", "/", "", headers)
    }

    #[test]
    fn accepts_a_good_assertion() {
        let t = sign(&claims("urn:carehub:municipality:131016", NOW), KEY);
        let p = verify(&head(Some(&t)), KEY, NOW + 30).unwrap();
        assert_eq!(p.to_urn(), "urn:carehub:municipality:131016");
        // Within leeway after expiry.
        assert!(verify(&head(Some(&t)), KEY, NOW + 64).is_ok());
        // `aud` may be an array holding ours; `nbf` may be present.
        let mut c = claims("urn:carehub:municipality:131016", NOW);
        c["aud"] = json!(["someone-else", AUDIENCE]);
        c["nbf"] = json!(NOW);
        assert!(verify(&head(Some(&sign(&c, KEY))), KEY, NOW).is_ok());
    }

    #[test]
    fn refuses_missing_and_bad_assertions() {
        assert_eq!(verify(&head(None), KEY, NOW), Err(AssertionError::Missing));
        let good = claims("urn:carehub:municipality:131016", NOW);
        let cases: Vec<(String, &str)> = vec![
            (sign(&good, b"another key"), "wrong key"),
            (
                sign(&claims("urn:carehub:municipality:131016", NOW - 120), KEY),
                "expired",
            ),
            (
                sign(&claims("urn:carehub:municipality:131016", NOW + 60), KEY),
                "future",
            ),
            (
                sign(
                    &json!({"iss": "x", "aud": AUDIENCE, "sub": "urn:carehub:portal:p", "iat": NOW, "exp": NOW + 60, "jti": "a"}),
                    KEY,
                ),
                "iss",
            ),
            (
                sign(
                    &json!({"iss": ISSUER, "aud": "carehub", "sub": "urn:carehub:portal:p", "iat": NOW, "exp": NOW + 60, "jti": "a"}),
                    KEY,
                ),
                "aud",
            ),
            (
                sign(
                    &json!({"iss": ISSUER, "sub": "urn:carehub:portal:p", "iat": NOW, "exp": NOW + 60, "jti": "a"}),
                    KEY,
                ),
                "no aud",
            ),
            (
                sign(
                    &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "urn:carehub:portal:p", "iat": NOW, "exp": NOW + 3600, "jti": "a"}),
                    KEY,
                ),
                "too long",
            ),
            (
                sign(
                    &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "urn:carehub:portal:p", "iat": NOW, "exp": NOW + 60}),
                    KEY,
                ),
                "no jti",
            ),
            (
                sign(&claims("urn:carehub:municipality:999999", NOW), KEY),
                "bad principal",
            ),
            (sign(&claims("someone", NOW), KEY), "not a urn"),
            ("not.a.jwt".to_owned(), "garbage"),
            (
                sign(
                    &json!({"iss": [ISSUER], "aud": AUDIENCE, "sub": "urn:carehub:portal:p", "iat": NOW, "exp": NOW + 60, "jti": "a"}),
                    KEY,
                ),
                "iss array",
            ),
            (
                sign(
                    &json!({"iss": ISSUER, "aud": [AUDIENCE], "sub": "urn:carehub:portal:p", "iat": NOW, "exp": NOW + 60, "nbf": NOW + 30, "jti": "a"}),
                    KEY,
                ),
                "not yet valid",
            ),
            // A person token (ES256) where the edge's HS256 is expected.
            (crate::person_token::tests::sign(&good), "ES256"),
            (
                crate::jwt::tests::encode(Algorithm::HS512, &good, &EncodingKey::from_secret(KEY)),
                "HS512",
            ),
            (
                sign_with_header(json!({"alg": "HS256", "typ": "at+jwt"}), &good),
                "typ",
            ),
            (
                sign_with_header(
                    json!({"alg": "HS256", "crit": ["b64"], "b64": false}),
                    &good,
                ),
                "crit",
            ),
        ];
        for (token, why) in cases {
            match verify(&head(Some(&token)), KEY, NOW) {
                Err(AssertionError::Invalid(_)) => {}
                other => panic!("{why}: {other:?}"),
            }
        }
        // An unsigned token ("alg": "none") is refused.
        let none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                good.to_string()
            )
        );
        assert!(matches!(
            verify(&head(Some(&none)), KEY, NOW),
            Err(AssertionError::Invalid(_))
        ));
        // Two assertion headers: refused, not "first wins".
        let t = sign(&good, KEY);
        let h = RequestHead::new(
            "GET",
            "/",
            "",
            vec![
                (HEADER.to_owned(), t.as_bytes().to_vec()),
                (HEADER.to_owned(), t.as_bytes().to_vec()),
            ],
        );
        assert!(matches!(
            verify(&h, KEY, NOW),
            Err(AssertionError::Invalid(_))
        ));
    }

    #[test]
    fn carries_the_edges_person_token_verdict_only_when_signed() {
        let verdict = json!({"status": "verified", "sub": "idp-user-1",
            "insurer_number": "131016", "insured_number": "0000012345", "actor": "proxy"});
        let mut c = claims("urn:carehub:portal:mynaportal", NOW);
        c["person_token"] = verdict;
        let a = verify_asserted(&head(Some(&sign(&c, KEY))), KEY, NOW).unwrap();
        let token = a.person_token.unwrap().to_result().unwrap();
        assert_eq!(token.person.insured_number.as_str(), "0000012345");
        assert_eq!(token.actor, carehub_domain::PersonActor::Proxy);
        assert_eq!(token.subject, "idp-user-1");
        for (status, missing) in [("missing", true), ("invalid", false)] {
            c["person_token"] = json!({ "status": status });
            let a = verify_asserted(&head(Some(&sign(&c, KEY))), KEY, NOW).unwrap();
            match a.person_token.unwrap().to_result() {
                Err(crate::person_token::PersonTokenError::Missing) => assert!(missing),
                Err(crate::person_token::PersonTokenError::Invalid(_)) => assert!(!missing),
                Ok(t) => panic!("{status}: {t:?}"),
            }
        }
        // Without the claim: no verdict (the component verifies the token).
        let plain = sign(&claims("urn:carehub:portal:mynaportal", NOW), KEY);
        assert_eq!(
            verify_asserted(&head(Some(&plain)), KEY, NOW)
                .unwrap()
                .person_token,
            None
        );
        // A verdict under another key, or malformed, refuses the assertion.
        c["person_token"] = json!({"status": "verified", "sub": "x"});
        assert!(matches!(
            verify_asserted(&head(Some(&sign(&c, KEY))), KEY, NOW),
            Err(AssertionError::Invalid(_))
        ));
        c["person_token"] = json!({"status": "missing"});
        assert!(matches!(
            verify_asserted(&head(Some(&sign(&c, b"another key"))), KEY, NOW),
            Err(AssertionError::Invalid(_))
        ));
        // A verdict naming an invalid person is refused as an invalid token.
        let bad = crate::person_token::EdgePersonToken::Verified {
            sub: "x".into(),
            insurer_number: "481016".into(),
            insured_number: "0000012345".into(),
            actor: "person".into(),
        };
        assert!(matches!(
            bad.to_result(),
            Err(crate::person_token::PersonTokenError::Invalid(_))
        ));
    }

    #[test]
    fn problems_are_401() {
        assert_eq!(AssertionError::Missing.to_problem().status(), 401);
        let p = AssertionError::Invalid("secret detail".into()).to_problem();
        assert_eq!(p.type_, ProblemType::AssertionInvalid);
        assert!(!p.detail.contains("secret"));
    }
}
