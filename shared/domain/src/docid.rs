//! Document ids, document keys, idempotency keys and request fingerprints.
//!
//! A document id is derived, not allocated: the same person, kind, author and
//! key always give the same id, so a retried or replayed ingest lands on the
//! same logical document (as a new version) instead of creating a twin, and
//! every component computes it without a database round trip.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{IdError, reject_common_mistakes};
use crate::kinds::DocumentKind;
use crate::macros::{prefixed_id, string_newtype};
use crate::principal::{PersonRef, Principal};

/// Separates this hash's inputs from any other use of SHA-256 in the hub.
const DOCUMENT_ID_DOMAIN: &[u8] = b"carehub/document-id/v1";

/// SHA-256 over `parts`, each prefixed by its length as a big-endian u64, so
/// that no two different part lists hash the same input (`["ab","c"]` vs
/// `["a","bc"]`). Every derived id hashes its fields this way.
pub(crate) fn length_prefixed_digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Hex SHA-256 over length-prefixed `parts`: compare two requests made with
/// the same idempotency key (method, path, principal, body…).
pub fn fingerprint(parts: &[&[u8]]) -> String {
    hex::encode(length_prefixed_digest(parts))
}

prefixed_id! {
    /// A document id: `doc_` followed by 32 lowercase hex digits.
    pub struct DocumentId("doc_") as "document_id", reject_common_mistakes;
}

impl DocumentId {
    /// The id of the logical document `key` of `kind` about `person` by
    /// `author`: the first 16 bytes of SHA-256 over a versioned domain tag
    /// and the length-prefixed fields (insurer number, insured number, kind,
    /// author URN, key).
    pub fn derive(
        person: &PersonRef,
        kind: DocumentKind,
        author: &Principal,
        key: &DocumentKey,
    ) -> DocumentId {
        let author = author.to_urn();
        DocumentId::from_bytes(&length_prefixed_digest(&[
            DOCUMENT_ID_DOMAIN,
            person.insurer_number.as_str().as_bytes(),
            person.insured_number.as_str().as_bytes(),
            kind.as_str().as_bytes(),
            author.as_bytes(),
            key.as_str().as_bytes(),
        ]))
    }
}

/// The author's name for a logical document, unique per person, kind and
/// author: 1–128 characters of `[A-Za-z0-9._:-]` (e.g. a plan number
/// `2025-04`, or `current` for a certificate).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentKey(String);

impl DocumentKey {
    const ID: &'static str = "document_key";

    /// Parses a document key.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        reject_common_mistakes(Self::ID, s)?;
        if s.len() > 128 {
            return Err(IdError::new(
                Self::ID,
                format!("must be at most 128 characters, got {}", s.len()),
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        {
            return Err(IdError::new(
                Self::ID,
                "may contain only A-Z, a-z, 0-9, '.', '_', ':' and '-'",
            ));
        }
        Ok(DocumentKey(s.to_owned()))
    }

    /// The key used when the caller gives none: `current` for singleton
    /// kinds (each new certificate is a new version of the one document);
    /// `None` for other kinds, whose caller must name the document.
    pub fn default_for(kind: DocumentKind) -> Option<DocumentKey> {
        kind.is_singleton()
            .then(|| DocumentKey("current".to_owned()))
    }
}

string_newtype!(DocumentKey, IdError);

/// The `Idempotency-Key` header: 1–255 visible ASCII characters (0x21–0x7E).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    const ID: &'static str = "idempotency_key";

    /// Parses an idempotency key.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        reject_common_mistakes(Self::ID, s)?;
        if s.len() > 255 {
            return Err(IdError::new(
                Self::ID,
                format!("must be at most 255 characters, got {}", s.len()),
            ));
        }
        if !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(IdError::new(
                Self::ID,
                "may contain only visible ASCII characters (0x21-0x7E)",
            ));
        }
        Ok(IdempotencyKey(s.to_owned()))
    }
}

string_newtype!(IdempotencyKey, IdError);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{InsuredNumber, InsurerNumber};
    use proptest::prelude::*;

    fn person(insured: &str) -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse(insured).unwrap(),
        )
    }

    #[test]
    fn derive_is_stable_and_separates_inputs() {
        let author = Principal::parse_urn("urn:carehub:municipality:131016").unwrap();
        let key = DocumentKey::default_for(DocumentKind::InsuranceCertificate).unwrap();
        let id = DocumentId::derive(
            &person("0000123456"),
            DocumentKind::InsuranceCertificate,
            &author,
            &key,
        );
        // Pinned: ids are stored; changing the derivation orphans documents.
        assert_eq!(id.as_str(), "doc_e8867895422b119692631db2c5beb242");
        assert_eq!(DocumentId::parse(id.as_str()).unwrap(), id);
        let other = DocumentId::derive(
            &person("0000123457"),
            DocumentKind::InsuranceCertificate,
            &author,
            &key,
        );
        assert_ne!(id, other);
        let other = DocumentId::derive(
            &person("0000123456"),
            DocumentKind::BurdenRatioCertificate,
            &author,
            &key,
        );
        assert_ne!(id, other);
    }

    #[test]
    fn fingerprint_is_length_prefixed() {
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
        assert_ne!(fingerprint(&[b"abc"]), fingerprint(&[b"abc", b""]));
        assert_eq!(fingerprint(&[b"x"]).len(), 64);
    }

    #[test]
    fn default_keys() {
        for kind in DocumentKind::ALL {
            assert_eq!(
                DocumentKey::default_for(kind).map(String::from),
                kind.is_singleton().then(|| "current".to_owned())
            );
        }
    }

    #[test]
    fn examples() {
        assert!(DocumentId::parse("doc_0123456789abcdef0123456789ABCDEF").is_err());
        assert!(DocumentId::parse("DOC_0123456789abcdef0123456789abcdef").is_err());
        assert!(DocumentKey::parse("plan/2025").is_err());
        assert!(DocumentKey::parse("UPPLAN_202504_1371234567:v2.1").is_ok());
        assert!(IdempotencyKey::parse("a b").is_err());
        assert!(IdempotencyKey::parse("0f3c-\"quoted\"-{ok}").is_ok());
    }

    proptest! {
        #[test]
        fn document_id_round_trips(s in "doc_[0-9a-f]{32}") {
            let id = DocumentId::parse(&s).unwrap();
            prop_assert_eq!(id.as_str(), s.as_str());
            prop_assert_eq!(serde_json::from_value::<DocumentId>(serde_json::to_value(&id).unwrap()).unwrap(), id);
        }

        #[test]
        fn document_id_near_misses(hex in "[0-9a-f]{32}", upper in "[A-F]", at in 0usize..32) {
            prop_assert!(DocumentId::parse(&hex).is_err());
            assert!(DocumentId::parse(&format!("doc_{}", &hex[1..])).is_err());
            assert!(DocumentId::parse(&format!("doc_{hex}0")).is_err());
            let mut bad = hex.clone();
            bad.replace_range(at..at + 1, &upper);
            assert!(DocumentId::parse(&format!("doc_{bad}")).is_err());
        }

        #[test]
        fn derived_ids_parse(insured in "[0-9]{10}", key in "[A-Za-z0-9._:-]{1,128}") {
            let author = Principal::parse_urn("urn:carehub:care-manager:1371234567").unwrap();
            let key = DocumentKey::parse(&key).unwrap();
            let id = DocumentId::derive(&person(&insured), DocumentKind::CarePlan, &author, &key);
            prop_assert!(DocumentId::parse(id.as_str()).is_ok());
        }

        #[test]
        fn document_key_round_trips(s in "[A-Za-z0-9._:-]{1,128}") {
            let k = DocumentKey::parse(&s).unwrap();
            prop_assert_eq!(k.as_str(), s.as_str());
            prop_assert_eq!(serde_json::from_value::<DocumentKey>(serde_json::to_value(&k).unwrap()).unwrap(), k);
        }

        #[test]
        fn document_key_near_misses(s in "[A-Za-z0-9._:-]{1,127}", bad in "[/ #?%@+]") {
            assert!(DocumentKey::parse(&format!("{s}{bad}")).is_err());
            assert!(DocumentKey::parse(&format!("{s}{}", "x".repeat(129 - s.len()))).is_err());
            prop_assert!(DocumentKey::parse("").is_err());
        }

        #[test]
        fn idempotency_key_round_trips(s in "[!-~]{1,255}") {
            let k = IdempotencyKey::parse(&s).unwrap();
            prop_assert_eq!(k.as_str(), s.as_str());
            prop_assert_eq!(serde_json::from_value::<IdempotencyKey>(serde_json::to_value(&k).unwrap()).unwrap(), k);
        }

        #[test]
        fn idempotency_key_near_misses(s in "[!-~]{1,254}", bad in "[ \t\u{7f}é]") {
            assert!(IdempotencyKey::parse(&format!("{s}{bad}")).is_err());
            assert!(IdempotencyKey::parse(&format!("{s}{}", "x".repeat(256 - s.len()))).is_err());
        }
    }
}
