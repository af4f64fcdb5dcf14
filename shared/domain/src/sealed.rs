//! Secrets at rest: text sealed with ChaCha20-Poly1305 under a key from a
//! secret variable (`webhook_secret_key`), so that the database holds no
//! webhook signing secret in plain form.
//!
//! The stored form is `sealed:v1:<base64 of nonce ‖ ciphertext ‖ tag>`.
//! The nonce (12 bytes) is the caller's, drawn at random for every seal —
//! this crate reads no randomness. A `purpose` string is authenticated with
//! each value (associated data), so a value sealed for one column cannot be
//! passed off as another's.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// The prefix of a sealed value.
pub const SEALED_PREFIX: &str = "sealed:v1:";

/// What a webhook subscription's stored signing secret is sealed for.
pub const WEBHOOK_SECRET: &str = "carehub webhook signing secret";

/// What a stored idempotent answer that carries a secret is sealed for.
pub const IDEMPOTENT_ANSWER: &str = "carehub idempotent answer";

/// The length of a nonce.
pub const NONCE_LEN: usize = 12;

/// Why a stored value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The value is not in the sealed form.
    #[error("the value is not sealed")]
    NotSealed,
    /// The value is sealed, but not under this key and purpose, or was
    /// altered.
    #[error("the sealed value does not open with this key")]
    Unopenable,
}

/// A 256-bit sealing key.
#[derive(Clone)]
pub struct SealingKey(Key);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

impl SealingKey {
    /// From 64 hex digits (32 bytes), as `carehub up` generates it;
    /// surrounding whitespace is ignored. `None` for anything else.
    pub fn from_hex(text: &str) -> Option<SealingKey> {
        let bytes = hex::decode(text.trim()).ok()?;
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(SealingKey(Key::from(bytes)))
    }

    /// `plain` sealed for `purpose` with `nonce` (never reuse one).
    pub fn seal(&self, nonce: [u8; NONCE_LEN], purpose: &str, plain: &str) -> String {
        let cipher = ChaCha20Poly1305::new(&self.0);
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 seals any message shorter than 256 GiB");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("{SEALED_PREFIX}{}", STANDARD.encode(bytes))
    }

    /// The plain text of a value sealed for `purpose` with this key.
    pub fn open(&self, purpose: &str, stored: &str) -> Result<String, SealError> {
        let b64 = stored
            .strip_prefix(SEALED_PREFIX)
            .ok_or(SealError::NotSealed)?;
        let bytes = STANDARD.decode(b64).map_err(|_| SealError::Unopenable)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Unopenable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Unopenable)?;
        let plain = ChaCha20Poly1305::new(&self.0)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SealError::Unopenable)?;
        String::from_utf8(plain).map_err(|_| SealError::Unopenable)
    }
}

/// Whether a stored value is in the sealed form.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SealingKey {
        SealingKey::from_hex(&hex::encode([b; 32])).unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_purpose_and_bytes() {
        let k = key(7);
        let sealed = k.seal([1; NONCE_LEN], "webhook secret", "whsec_abc");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(k.open("webhook secret", &sealed).unwrap(), "whsec_abc");
        // Another nonce, another text; both open.
        let other = k.seal([2; NONCE_LEN], "webhook secret", "whsec_abc");
        assert_ne!(other, sealed);
        assert_eq!(k.open("webhook secret", &other).unwrap(), "whsec_abc");
        assert_eq!(
            key(8).open("webhook secret", &sealed),
            Err(SealError::Unopenable)
        );
        assert_eq!(
            k.open("idempotent answer", &sealed),
            Err(SealError::Unopenable)
        );
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            k.open("webhook secret", &String::from_utf8(altered).unwrap()),
            Err(SealError::Unopenable)
        );
        assert_eq!(
            k.open("webhook secret", "whsec_abc"),
            Err(SealError::NotSealed)
        );
        assert_eq!(
            k.open("webhook secret", "sealed:v1:AAAA"),
            Err(SealError::Unopenable)
        );
    }

    #[test]
    fn keys_are_64_hex_digits() {
        assert!(SealingKey::from_hex(&format!(" {} \n", "ab".repeat(32))).is_some());
        assert!(SealingKey::from_hex(&"ab".repeat(31)).is_none());
        assert!(SealingKey::from_hex(&"zz".repeat(32)).is_none());
        assert!(SealingKey::from_hex("").is_none());
    }
}
