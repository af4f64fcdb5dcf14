//! The portal's person token (CONTRACTS.md): which person a portal call acts
//! for, and whether the holder is the person or a proxy.
//!
//! `Authorization: Bearer <JWT>`, ES256, verified with the PEM public key in
//! the `person_token_public_key` variable; `iss` must equal the
//! `person_token_issuer` variable and `aud` must be `carehub`.

use carehub_domain::{InsuredNumber, InsurerNumber, PersonActor, PersonRef, Problem, ProblemType};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};

use crate::jwt;

/// The only accepted `aud`.
pub const AUDIENCE: &str = "carehub";
/// The issuer when the `person_token_issuer` variable is not set.
pub const DEFAULT_ISSUER: &str = "carehub-dev-idp";
/// Clock skew tolerated between the portal's identity provider and the hub.
pub const LEEWAY_SECS: u64 = 30;

/// The verified person token: the domain's, so that a verified token is
/// what the policy reads (`carehub_domain::policy::Caller`).
pub use carehub_domain::PersonToken;

/// Why a person token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonTokenError {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Present but not acceptable; the reason is for the log only.
    Invalid(String),
}

impl PersonTokenError {
    /// The 401 problem.
    pub fn to_problem(&self) -> Problem {
        match self {
            PersonTokenError::Missing => Problem::new(
                ProblemType::PersonTokenMissing,
                "A portal call must carry the person token: Authorization: Bearer <token>.",
            ),
            PersonTokenError::Invalid(_) => Problem::new(
                ProblemType::PersonTokenInvalid,
                "The person token is invalid or expired.",
            ),
        }
    }
}

/// The key was not a P-256 public key in PEM (SubjectPublicKeyInfo) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub &'static str);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "person_token_public_key: {}", self.0)
    }
}

impl std::error::Error for KeyError {}

const NOT_P256: &str = "not a P-256 (ES256) public key in PEM form (-----BEGIN PUBLIC KEY-----)";

/// How to verify person tokens: the key and the expected issuer.
#[derive(Clone, Debug)]
pub struct Verifier {
    /// The public key as an uncompressed SEC1 point on P-256.
    key: DecodingKey,
    issuer: String,
}

impl Verifier {
    /// From the PEM text of a P-256 public key (`-----BEGIN PUBLIC KEY-----`)
    /// and the expected issuer. Literal `\n` sequences (as a key pasted into
    /// an environment variable often has) are accepted as line breaks.
    pub fn from_pem(pem: &str, issuer: &str) -> Result<Verifier, KeyError> {
        use p256::pkcs8::DecodePublicKey as _;
        // Lines trimmed, as a key indented in a config file has them.
        let pem = pem.replace("\\n", "\n");
        let pem: Vec<&str> = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        // SubjectPublicKeyInfo with id-ecPublicKey and prime256v1: not a
        // certificate, not a private key, not another curve.
        let public = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem.join("\n"))
            .map_err(|_| KeyError(NOT_P256))?;
        // What the provider reads: the uncompressed SEC1 point.
        let key = DecodingKey::from_ec_der(public.to_encoded_point(false).as_bytes());
        Ok(Verifier {
            key,
            issuer: issuer.to_owned(),
        })
    }

    /// Verifies the bearer token of a request's `Authorization` header at
    /// time `now` (Unix seconds). `authorization` is the header as
    /// `RequestHead::single_header("authorization")` returns it ([`bearer`]).
    pub fn verify(
        &self,
        authorization: Result<Option<&str>, ()>,
        now: u64,
    ) -> Result<PersonToken, PersonTokenError> {
        self.verify_token(bearer(authorization)?, now)
    }

    /// Verifies one token.
    pub fn verify_token(&self, token: &str, now: u64) -> Result<PersonToken, PersonTokenError> {
        self.verify_token_with_expiry(token, now).map(|(t, _)| t)
    }

    /// [`Verifier::verify_token`], also returning the token's `exp`: the
    /// token stays acceptable until `exp` + [`LEEWAY_SECS`] (the edge caches
    /// a verified token until then).
    pub fn verify_token_with_expiry(
        &self,
        token: &str,
        now: u64,
    ) -> Result<(PersonToken, u64), PersonTokenError> {
        let invalid = |why: String| PersonTokenError::Invalid(why);
        let c = jwt::decode::<Claims>(
            token,
            &self.key,
            &jwt::validation(Algorithm::ES256, &self.issuer, AUDIENCE),
        )
        .map_err(invalid)?
        .claims;
        jwt::check_time(c.exp, c.iat, c.nbf, now, LEEWAY_SECS).map_err(invalid)?;
        let insurer =
            InsurerNumber::parse(&c.insurer_number).map_err(|e| invalid(e.to_string()))?;
        let insured =
            InsuredNumber::parse(&c.insured_number).map_err(|e| invalid(e.to_string()))?;
        let actor = c
            .actor
            .parse::<PersonActor>()
            .map_err(|e| invalid(e.to_string()))?;
        Ok((
            PersonToken {
                person: PersonRef::new(insurer, insured),
                actor,
                subject: c.sub,
            },
            c.exp,
        ))
    }
}

/// The token in an `Authorization` header, given as
/// `RequestHead::single_header` returns it: `Missing` without the header or
/// with another scheme than `Bearer`, `Invalid` when the header is repeated
/// or not UTF-8. The gateway applies the same rule at the edge.
pub fn bearer(authorization: Result<Option<&str>, ()>) -> Result<&str, PersonTokenError> {
    let value = match authorization {
        Ok(Some(v)) => v.trim(),
        Ok(None) => return Err(PersonTokenError::Missing),
        Err(()) => {
            return Err(PersonTokenError::Invalid(
                "repeated or non-UTF-8 Authorization header".into(),
            ));
        }
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        _ => Err(PersonTokenError::Missing),
    }
}

/// What the edge found when it verified a portal call's person token,
/// carried inside the identity assertion (claim `person_token`), so that a
/// component behind the edge neither parses the key nor runs ES256 in wasm.
/// The edge verifies with [`Verifier`] as a component would; a component
/// whose assertion lacks the claim (another edge) verifies the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EdgePersonToken {
    /// A valid token: its claims.
    Verified {
        /// The identity provider's subject.
        sub: String,
        /// The person's insurer.
        insurer_number: String,
        /// The person's insured number.
        insured_number: String,
        /// `person` or `proxy`.
        actor: String,
    },
    /// No bearer token (→ 401 `person-token-missing`).
    Missing,
    /// A token that failed verification (→ 401 `person-token-invalid`).
    Invalid,
}

impl EdgePersonToken {
    /// The edge's record of a verification result.
    pub fn from_result(result: &Result<PersonToken, PersonTokenError>) -> EdgePersonToken {
        match result {
            Ok(t) => EdgePersonToken::Verified {
                sub: t.subject.clone(),
                insurer_number: t.person.insurer_number.as_str().to_owned(),
                insured_number: t.person.insured_number.as_str().to_owned(),
                actor: t.actor.as_str().to_owned(),
            },
            Err(PersonTokenError::Missing) => EdgePersonToken::Missing,
            Err(PersonTokenError::Invalid(_)) => EdgePersonToken::Invalid,
        }
    }

    /// Back to the verification result, as the component uses it.
    pub fn to_result(&self) -> Result<PersonToken, PersonTokenError> {
        let invalid = |why: String| PersonTokenError::Invalid(why);
        match self {
            EdgePersonToken::Verified {
                sub,
                insurer_number,
                insured_number,
                actor,
            } => Ok(PersonToken {
                person: PersonRef::new(
                    InsurerNumber::parse(insurer_number).map_err(|e| invalid(e.to_string()))?,
                    InsuredNumber::parse(insured_number).map_err(|e| invalid(e.to_string()))?,
                ),
                actor: actor
                    .parse::<PersonActor>()
                    .map_err(|e| invalid(e.to_string()))?,
                subject: sub.clone(),
            }),
            EdgePersonToken::Missing => Err(PersonTokenError::Missing),
            EdgePersonToken::Invalid => Err(invalid(
                "refused by the edge (see the gateway's log)".into(),
            )),
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
    insurer_number: String,
    insured_number: String,
    actor: String,
    #[serde(default, deserialize_with = "jwt::opt_numeric_date")]
    iat: Option<u64>,
    #[serde(deserialize_with = "jwt::numeric_date")]
    exp: u64,
    #[serde(default, deserialize_with = "jwt::opt_numeric_date")]
    nbf: Option<u64>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_keys::{PRIVATE_PEM, PUBLIC_PEM};
    use base64::Engine as _;
    use jsonwebtoken::EncodingKey;
    use serde_json::json;

    /// Another key pair's private half, to forge with.
    const OTHER_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8T6iYi82ZmStLzwg
keAkr2vQrvh8mraJVW8bw2BUQ22hRANCAARTK894TfDfG+c2A+A5PxY5OHrNlX2b
sLJs5Qhnd0sv9SDhC90+goRJVJYSWRe4wWhusz/MJp8Rw1rORGFy9GNz
-----END PRIVATE KEY-----
";
    const NOW: u64 = 1_764_000_000;

    fn pkcs8_der(pem: &str) -> Vec<u8> {
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }

    /// Signs person-token claims with `PRIVATE_PEM`.
    pub(crate) fn sign(claims: &serde_json::Value) -> String {
        sign_with(claims, PRIVATE_PEM)
    }

    fn sign_with(claims: &serde_json::Value, pem: &str) -> String {
        let key = EncodingKey::from_ec_der(&pkcs8_der(pem));
        crate::jwt::tests::encode(Algorithm::ES256, claims, &key)
    }

    pub(crate) fn claims(insurer: &str, insured: &str, iat: u64) -> serde_json::Value {
        json!({
            "iss": DEFAULT_ISSUER, "aud": AUDIENCE, "sub": "idp-user-1",
            "insurer_number": insurer, "insured_number": insured, "actor": "person",
            "iat": iat, "exp": iat + 600
        })
    }

    /// An unsigned token, `"alg": "none"`.
    fn unsigned(claims: &serde_json::Value) -> String {
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(claims.clone())
        )
    }

    /// A request's one `Authorization` header (or none), as
    /// `RequestHead::single_header` gives it.
    fn head(auth: Option<&str>) -> Result<Option<&str>, ()> {
        Ok(auth)
    }

    #[test]
    fn accepts_a_good_token() {
        let v = Verifier::from_pem(PUBLIC_PEM, DEFAULT_ISSUER).unwrap();
        let t = sign(&claims("131016", "0000012345", NOW));
        let got = v
            .verify(head(Some(&format!("Bearer {t}"))), NOW + 10)
            .unwrap();
        assert_eq!(got.person.insurer_number.as_str(), "131016");
        assert_eq!(got.person.insured_number.as_str(), "0000012345");
        assert_eq!(got.actor, PersonActor::Person);
        assert_eq!(got.subject, "idp-user-1");
        // A key pasted into an env var with literal \n.
        let escaped = PUBLIC_PEM.replace('\n', "\\n");
        assert!(Verifier::from_pem(&escaped, DEFAULT_ISSUER).is_ok());
    }

    #[test]
    fn refuses_bad_tokens() {
        let v = Verifier::from_pem(PUBLIC_PEM, DEFAULT_ISSUER).unwrap();
        assert_eq!(v.verify(head(None), NOW), Err(PersonTokenError::Missing));
        assert_eq!(
            v.verify(head(Some("Basic abc")), NOW),
            Err(PersonTokenError::Missing)
        );
        let mut wrong_iss = claims("131016", "0000012345", NOW);
        wrong_iss["iss"] = json!("evil-idp");
        let mut wrong_aud = claims("131016", "0000012345", NOW);
        wrong_aud["aud"] = json!("carehub-components");
        let mut bad_actor = claims("131016", "0000012345", NOW);
        bad_actor["actor"] = json!("robot");
        let mut no_aud = claims("131016", "0000012345", NOW);
        no_aud.as_object_mut().unwrap().remove("aud");
        let mut iss_array = claims("131016", "0000012345", NOW);
        iss_array["iss"] = json!([DEFAULT_ISSUER]);
        let mut not_yet = claims("131016", "0000012345", NOW);
        not_yet["nbf"] = json!(NOW + 60);
        let cases = [
            (
                sign_with(&claims("131016", "0000012345", NOW), OTHER_PRIVATE_PEM),
                "forged",
            ),
            (sign(&claims("131016", "0000012345", NOW - 700)), "expired"),
            (sign(&claims("131016", "0000012345", NOW + 600)), "future"),
            (sign(&wrong_iss), "iss"),
            (sign(&wrong_aud), "aud"),
            (sign(&bad_actor), "actor"),
            (sign(&claims("481016", "0000012345", NOW)), "insurer"),
            (sign(&claims("131016", "12345", NOW)), "insured"),
            (
                crate::assertion::tests::sign(&claims("131016", "0000012345", NOW), b"k"),
                "HS256",
            ),
            // HS256 keyed with the public key: the classic confusion.
            (
                crate::assertion::tests::sign(
                    &claims("131016", "0000012345", NOW),
                    PUBLIC_PEM.as_bytes(),
                ),
                "HS256 with the public key",
            ),
            (unsigned(&claims("131016", "0000012345", NOW)), "alg none"),
            (sign(&no_aud), "no aud"),
            (sign(&iss_array), "iss array"),
            (sign(&not_yet), "nbf"),
        ];
        for (t, why) in cases {
            match v.verify(head(Some(&format!("Bearer {t}"))), NOW) {
                Err(PersonTokenError::Invalid(_)) => {}
                other => panic!("{why}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_edge_verdict_round_trips() {
        let v = Verifier::from_pem(PUBLIC_PEM, DEFAULT_ISSUER).unwrap();
        let t = sign(&claims("131016", "0000012345", NOW));
        let good = v.verify_token(&t, NOW);
        let verdict = EdgePersonToken::from_result(&good);
        let wire = serde_json::to_value(&verdict).unwrap();
        assert_eq!(wire["status"], "verified");
        assert_eq!(wire["insured_number"], "0000012345");
        let back: EdgePersonToken = serde_json::from_value(wire).unwrap();
        assert_eq!(back.to_result(), good);
        let missing = v.verify(head(None), NOW);
        assert_eq!(
            EdgePersonToken::from_result(&missing).to_result(),
            Err(PersonTokenError::Missing)
        );
        let forged = v.verify_token("a.b.c", NOW);
        assert!(matches!(
            EdgePersonToken::from_result(&forged).to_result(),
            Err(PersonTokenError::Invalid(_))
        ));
        assert_eq!(bearer(Ok(Some(" Bearer abc "))), Ok("abc"));
        assert_eq!(
            bearer(Ok(Some("Basic abc"))),
            Err(PersonTokenError::Missing)
        );
        assert!(matches!(bearer(Err(())), Err(PersonTokenError::Invalid(_))));
    }

    #[test]
    fn refuses_bad_keys() {
        assert!(Verifier::from_pem("", DEFAULT_ISSUER).is_err());
        assert!(Verifier::from_pem(PRIVATE_PEM, DEFAULT_ISSUER).is_err());
        let truncated = PUBLIC_PEM.replace("-----END PUBLIC KEY-----", "");
        assert!(Verifier::from_pem(&truncated, DEFAULT_ISSUER).is_err());
        // EC public keys on other curves: P-384 (ES384) and secp256k1.
        const P384_PEM: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEkrZq0R1cz68vnisdW0PwpaQ2GztwNAL6
tRClYVc32zZqd/NnSVX8ijCBuj/iR/PoXh4V2Fe9OBvOGrVERXQoKYY6QkFVaO2+
8GLR1Q7pfyx6MAumLPfpNJmE+7I+/gkq
-----END PUBLIC KEY-----
";
        const SECP256K1_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEm5+oEhnJTdsywh2J0Al5JPQR++weT4Uh
3DhW2T6CR/fJAVIeefrV1dCmV5fNT9/9LZ12T41FzwVlpF4QPGvDSg==
-----END PUBLIC KEY-----
";
        for other in [P384_PEM, SECP256K1_PEM] {
            assert_eq!(
                Verifier::from_pem(other, DEFAULT_ISSUER).unwrap_err(),
                KeyError(NOT_P256)
            );
        }
        // An indented key is fine.
        let indented: String = PUBLIC_PEM.lines().map(|l| format!("    {l}\n")).collect();
        assert!(Verifier::from_pem(&indented, DEFAULT_ISSUER).is_ok());
    }
}
