//! Signed checkpoints of the access log: a tree head in the style of
//! RFC 9162 §4.10 (tree size, root hash, timestamp) signed with the hub's
//! Ed25519 key, so a cut-off tail or a rewritten entry shows against any
//! checkpoint an outside party kept.
//!
//! What is signed is [`TreeHead::signed_text`], one field per line:
//!
//! ```text
//! carehub access-log checkpoint v1
//! <number>
//! <tree size>
//! <root hash, lower-case hex>
//! <timestamp, RFC 3339 UTC>
//! ```
//!
//! The key is a PKCS#8 PEM Ed25519 private key (`-----BEGIN PRIVATE
//! KEY-----`, as `openssl genpkey -algorithm ed25519` writes); the public
//! key an SPKI PEM (`-----BEGIN PUBLIC KEY-----`). Signatures are base64
//! (standard alphabet, padded).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The first line of every signed text: names the format and its version.
pub const CHECKPOINT_HEADER: &str = "carehub access-log checkpoint v1";

/// A tree head: what a checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    /// 1, 2, … in the order the checkpoints were made.
    pub number: i64,
    /// How many leaves (access-log entries) the tree holds.
    pub tree_size: u64,
    /// The RFC 9162 Merkle tree hash of those leaves, lower-case hex.
    pub root_hash: String,
    /// When it was made, RFC 3339 UTC.
    pub timestamp: String,
}

impl TreeHead {
    /// The exact bytes signed.
    pub fn signed_text(&self) -> String {
        format!(
            "{CHECKPOINT_HEADER}\n{}\n{}\n{}\n{}\n",
            self.number, self.tree_size, self.root_hash, self.timestamp
        )
    }
}

/// A tree head with its signature, as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// What is committed to.
    #[serde(flatten)]
    pub head: TreeHead,
    /// Base64 Ed25519 signature over [`TreeHead::signed_text`].
    pub signature: String,
}

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a PKCS#8 PEM Ed25519 private key.
    #[error("not a PKCS#8 PEM Ed25519 private key")]
    Private,
    /// Not an SPKI PEM Ed25519 public key.
    #[error("not an SPKI PEM Ed25519 public key")]
    Public,
}

/// The hub's checkpoint signing key.
pub struct CheckpointSigner(SigningKey);

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckpointSigner(..)")
    }
}

impl CheckpointSigner {
    /// Reads a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem.trim())
            .map(CheckpointSigner)
            .map_err(|_| KeyError::Private)
    }

    /// The key whose 32-byte secret is `seed` (the caller draws it, e.g.
    /// from the operating system: the domain has no randomness).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        CheckpointSigner(SigningKey::from_bytes(seed))
    }

    /// The key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as
    /// [`CheckpointSigner::from_pem`] reads it.
    pub fn to_pem(&self) -> String {
        self.0
            .to_pkcs8_pem(Default::default())
            .expect("an Ed25519 key always encodes")
            .to_string()
    }

    /// Signs `head`.
    pub fn sign(&self, head: TreeHead) -> Checkpoint {
        let signature = self.0.sign(head.signed_text().as_bytes());
        Checkpoint {
            head,
            signature: STANDARD.encode(signature.to_bytes()),
        }
    }

    /// The matching public key.
    pub fn verifier(&self) -> CheckpointVerifier {
        CheckpointVerifier(self.0.verifying_key())
    }
}

/// A checkpoint public key.
#[derive(Debug, Clone)]
pub struct CheckpointVerifier(VerifyingKey);

impl CheckpointVerifier {
    /// Reads an SPKI PEM public key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        VerifyingKey::from_public_key_pem(pem.trim())
            .map(CheckpointVerifier)
            .map_err(|_| KeyError::Public)
    }

    /// The key as SPKI PEM.
    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(Default::default())
            .expect("an Ed25519 public key always encodes")
    }

    /// The key's id: lower-case hex SHA-256 of its 32 raw public-key bytes
    /// (so a kept checkpoint names the key that signed it).
    pub fn key_id(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// Whether `checkpoint` carries a valid signature by this key.
    pub fn verify(&self, checkpoint: &Checkpoint) -> bool {
        let Ok(bytes) = STANDARD.decode(&checkpoint.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.0
            .verify(checkpoint.head.signed_text().as_bytes(), &signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A fixed test key (RFC 8410 §10.3's example private key).
    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC
-----END PRIVATE KEY-----";

    fn head() -> TreeHead {
        TreeHead {
            number: 3,
            tree_size: 17,
            root_hash: "ab".repeat(32),
            timestamp: "2026-01-01T00:00:00.000000Z".into(),
        }
    }

    #[test]
    fn the_signed_text_is_one_field_per_line() {
        assert_eq!(
            head().signed_text(),
            format!(
                "carehub access-log checkpoint v1\n3\n17\n{}\n2026-01-01T00:00:00.000000Z\n",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn a_signature_verifies_with_its_key_and_not_after_a_change() {
        let signer = CheckpointSigner::from_pem(KEY).unwrap();
        let cp = signer.sign(head());
        let verifier = CheckpointVerifier::from_pem(&signer.verifier().to_pem()).unwrap();
        assert!(verifier.verify(&cp));
        for change in [
            |c: &mut Checkpoint| c.head.tree_size -= 1,
            |c: &mut Checkpoint| c.head.number += 1,
            |c: &mut Checkpoint| c.head.root_hash = "cd".repeat(32),
            |c: &mut Checkpoint| c.head.timestamp = "2026-01-02T00:00:00.000000Z".into(),
            |c: &mut Checkpoint| c.signature = "AAAA".into(),
            |c: &mut Checkpoint| c.signature = "not base64!".into(),
        ] {
            let mut bad = cp.clone();
            change(&mut bad);
            assert!(!verifier.verify(&bad), "{bad:?}");
        }
        // Another key's signature is refused.
        let other = SigningKey::from_bytes(&[7u8; 32]);
        let forged = Checkpoint {
            head: head(),
            signature: STANDARD.encode(other.sign(head().signed_text().as_bytes()).to_bytes()),
        };
        assert!(!verifier.verify(&forged));
    }

    #[test]
    fn a_generated_key_round_trips_through_pem() {
        let signer = CheckpointSigner::from_seed(&[9u8; 32]);
        let again = CheckpointSigner::from_pem(&signer.to_pem()).unwrap();
        assert!(signer.to_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
        let cp = again.sign(head());
        assert!(signer.verifier().verify(&cp));
        assert_eq!(signer.verifier().key_id(), again.verifier().key_id());
        assert_eq!(signer.verifier().key_id().len(), 64);
        assert_ne!(
            signer.verifier().key_id(),
            CheckpointSigner::from_seed(&[8u8; 32]).verifier().key_id()
        );
        // The RFC 8410 example key is read as well (what openssl writes).
        assert!(CheckpointSigner::from_pem(KEY).is_ok());
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(
            CheckpointSigner::from_pem("nope").unwrap_err(),
            KeyError::Private
        );
        assert_eq!(
            CheckpointVerifier::from_pem(KEY).unwrap_err(),
            KeyError::Public
        );
    }

    #[test]
    fn checkpoints_serialize_flat() {
        let cp = CheckpointSigner::from_pem(KEY).unwrap().sign(head());
        let v = serde_json::to_value(&cp).unwrap();
        assert_eq!(v["number"], 3);
        assert_eq!(v["tree_size"], 17);
        assert!(v["signature"].is_string());
        assert_eq!(serde_json::from_value::<Checkpoint>(v).unwrap(), cp);
    }
}
