//! The portal's person token (CONTRACTS.md): which person a portal call acts
//! for, and whether the holder is the person or a proxy.
//!
//! `Authorization: Bearer <JWT>`, ES256, verified with the PEM public key in
//! the `person_token_public_key` variable; `iss` must equal the
//! `person_token_issuer` variable and `aud` must be `carehub`.

use base64::Engine as _;
use carehub_domain::{InsuredNumber, InsurerNumber, PersonActor, PersonRef, Problem, ProblemType};
use serde::Deserialize;

use crate::http::RequestHead;
use crate::jwt::{self, Audience};

/// The only accepted `aud`.
pub const AUDIENCE: &str = "carehub";
/// The issuer when the `person_token_issuer` variable is not set.
pub const DEFAULT_ISSUER: &str = "carehub-dev-idp";
/// Clock skew tolerated between the portal's identity provider and the hub.
pub const LEEWAY_SECS: u64 = 30;

/// The DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey,
/// prime256v1, 66-byte BIT STRING): what every P-256 "PUBLIC KEY" PEM starts
/// with. What follows is the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The verified person token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonToken {
    /// The person the call acts for.
    pub person: PersonRef,
    /// The person, or a proxy.
    pub actor: PersonActor,
    /// The identity provider's opaque subject (for the access log).
    pub subject: String,
}

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

/// How to verify person tokens: the key and the expected issuer.
#[derive(Clone, Debug)]
pub struct Verifier {
    key: p256::ecdsa::VerifyingKey,
    issuer: String,
}

impl Verifier {
    /// From the PEM text of a P-256 public key (`-----BEGIN PUBLIC KEY-----`)
    /// and the expected issuer. Literal `\n` sequences (as a key pasted into
    /// an environment variable often has) are accepted as line breaks.
    pub fn from_pem(pem: &str, issuer: &str) -> Result<Verifier, KeyError> {
        let pem = pem.replace("\\n", "\n");
        let mut lines = pem.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some("-----BEGIN PUBLIC KEY-----") {
            return Err(KeyError("expected -----BEGIN PUBLIC KEY-----"));
        }
        let mut b64 = String::new();
        let mut ended = false;
        for line in lines {
            if line == "-----END PUBLIC KEY-----" {
                ended = true;
                break;
            }
            b64.push_str(line);
        }
        if !ended {
            return Err(KeyError("expected -----END PUBLIC KEY-----"));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| KeyError("the PEM body is not base64"))?;
        let point = der
            .strip_prefix(&P256_SPKI_PREFIX[..])
            .filter(|p| p.len() == 65 && p[0] == 0x04)
            .ok_or(KeyError("not a P-256 (ES256) public key"))?;
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .map_err(|_| KeyError("not a point on P-256"))?;
        Ok(Verifier {
            key,
            issuer: issuer.to_owned(),
        })
    }

    /// Verifies the request's bearer token at time `now` (Unix seconds).
    pub fn verify(&self, head: &RequestHead, now: u64) -> Result<PersonToken, PersonTokenError> {
        let value = match head.single_header("authorization") {
            Ok(Some(v)) => v.trim(),
            Ok(None) => return Err(PersonTokenError::Missing),
            Err(()) => {
                return Err(PersonTokenError::Invalid(
                    "repeated or non-UTF-8 Authorization header".into(),
                ));
            }
        };
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(PersonTokenError::Missing),
        };
        self.verify_token(token, now)
    }

    /// Verifies one token.
    pub fn verify_token(&self, token: &str, now: u64) -> Result<PersonToken, PersonTokenError> {
        let invalid = |why: String| PersonTokenError::Invalid(why);
        let (c, _typ): (Claims, _) =
            jwt::verify(token, jwt::Key::Es256(&self.key)).map_err(|e| invalid(e.to_string()))?;
        if c.iss != self.issuer {
            return Err(invalid("wrong iss".into()));
        }
        if !c.aud.contains(AUDIENCE) {
            return Err(invalid("wrong aud".into()));
        }
        jwt::check_time(c.exp, c.iat, c.nbf, now, LEEWAY_SECS).map_err(invalid)?;
        let insurer =
            InsurerNumber::parse(&c.insurer_number).map_err(|e| invalid(e.to_string()))?;
        let insured =
            InsuredNumber::parse(&c.insured_number).map_err(|e| invalid(e.to_string()))?;
        let actor = c
            .actor
            .parse::<PersonActor>()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(PersonToken {
            person: PersonRef::new(insurer, insured),
            actor,
            subject: c.sub,
        })
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
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
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::json;

    /// A throwaway P-256 key pair (generated with openssl for these tests).
    pub(crate) const PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxLArcJZ8qNy8u4VH
nR57wAoLu6qFsC36k7va1rI5406hRANCAASO0+KSkJZwA2zuwUIB1o6Q8riTFYck
Tqnotzp7e0OX9xADEEYnk30b7qqWuUTxuEkI7RWZxEFQtmeMhe8qVUhY
-----END PRIVATE KEY-----
";
    /// Its public half.
    pub(crate) const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjtPikpCWcANs7sFCAdaOkPK4kxWH
JE6p6Lc6e3tDl/cQAxBGJ5N9G+6qlrlE8bhJCO0VmcRBULZnjIXvKlVIWA==
-----END PUBLIC KEY-----
";
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
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &key).unwrap()
    }

    pub(crate) fn claims(insurer: &str, insured: &str, iat: u64) -> serde_json::Value {
        json!({
            "iss": DEFAULT_ISSUER, "aud": AUDIENCE, "sub": "idp-user-1",
            "insurer_number": insurer, "insured_number": insured, "actor": "person",
            "iat": iat, "exp": iat + 600
        })
    }

    fn head(auth: Option<&str>) -> RequestHead {
        let headers = auth
            .map(|a| vec![("Authorization".to_owned(), a.as_bytes().to_vec())])
            .unwrap_or_default();
        RequestHead::new("GET", "/", "", headers)
    }

    #[test]
    fn accepts_a_good_token() {
        let v = Verifier::from_pem(PUBLIC_PEM, DEFAULT_ISSUER).unwrap();
        let t = sign(&claims("131016", "0000012345", NOW));
        let got = v
            .verify(&head(Some(&format!("Bearer {t}"))), NOW + 10)
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
        assert_eq!(v.verify(&head(None), NOW), Err(PersonTokenError::Missing));
        assert_eq!(
            v.verify(&head(Some("Basic abc")), NOW),
            Err(PersonTokenError::Missing)
        );
        let mut wrong_iss = claims("131016", "0000012345", NOW);
        wrong_iss["iss"] = json!("evil-idp");
        let mut wrong_aud = claims("131016", "0000012345", NOW);
        wrong_aud["aud"] = json!("carehub-components");
        let mut bad_actor = claims("131016", "0000012345", NOW);
        bad_actor["actor"] = json!("robot");
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
        ];
        for (t, why) in cases {
            match v.verify(&head(Some(&format!("Bearer {t}"))), NOW) {
                Err(PersonTokenError::Invalid(_)) => {}
                other => panic!("{why}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_bad_keys() {
        assert!(Verifier::from_pem("", DEFAULT_ISSUER).is_err());
        assert!(Verifier::from_pem(PRIVATE_PEM, DEFAULT_ISSUER).is_err());
        let truncated = PUBLIC_PEM.replace("-----END PUBLIC KEY-----", "");
        assert!(Verifier::from_pem(&truncated, DEFAULT_ISSUER).is_err());
    }
}
