//! The tamper-evident access log (DESIGN §3 rule 4).
//!
//! Every read and every refused read appends an entry. Each entry's hash is
//! `SHA-256(previous hash (64 hex chars, as ASCII) || 0x1E || entry JSON)`,
//! starting from [`GENESIS_HASH`]; changing, removing or reordering any
//! entry breaks every later link, which [`verify_chain`] reports.
//!
//! The entry JSON hashed is the exact text stored. Produce it with
//! [`canonical_json`] (keys sorted, no whitespace) so that re-serializing a
//! stored entry gives back the same bytes whatever serde_json features the
//! rest of the build enables.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::docid::DocumentId;
use crate::kinds::DocumentKind;
use crate::macros::string_enum;
use crate::policy::matrix::DenyReason;
use crate::principal::{PersonActor, PersonRef, Principal};
use crate::progress::ApplicationId;

/// The "previous hash" of the first entry: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// ASCII record separator, between the previous hash and the entry. Neither
/// a hex digest nor the start of a JSON text contains it, so the split is
/// unambiguous.
const SEPARATOR: u8 = 0x1e;

/// The hash of an entry chained after `prev_hash_hex`: hex SHA-256 over the
/// previous hash's 64 hex characters, 0x1E, and the entry's JSON text.
pub fn chain_hash(prev_hash_hex: &str, entry_canonical_json: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash_hex.as_bytes());
    hasher.update([SEPARATOR]);
    hasher.update(entry_canonical_json.as_bytes());
    hex::encode(hasher.finalize())
}

/// Checks a whole chain from the genesis: `entries` are (entry JSON, stored
/// hash) in append order. On a break, the index of the first entry whose
/// stored hash does not match.
pub fn verify_chain(entries: &[(String, String)]) -> Result<(), usize> {
    verify_chain_from(GENESIS_HASH, entries)
}

/// Checks a segment of a chain whose preceding stored hash is `prev_hash_hex`
/// (for paging through a long log). Indices are relative to `entries`.
pub fn verify_chain_from(prev_hash_hex: &str, entries: &[(String, String)]) -> Result<(), usize> {
    let mut prev = prev_hash_hex.to_owned();
    for (i, (entry, stored)) in entries.iter().enumerate() {
        if chain_hash(&prev, entry) != *stored {
            return Err(i);
        }
        prev.clone_from(stored);
    }
    Ok(())
}

/// The shard that held the single pre-upgrade chain: entries written
/// before the log was sharded keep their hashes and their order there.
pub const LEGACY_SHARD: &str = "legacy";

/// The shard an entry chains in: the person's own chain for a read about a
/// person (`person:<insurer>:<insured>`), the caller's for a read that
/// names no person (`principal:<urn>`, a probe of an id that names
/// nothing). Per person, not a fixed number of hashed shards, so that a
/// person's access list is one whole chain they can check end to end, and
/// appends for different persons never share a chain head (and so never a
/// lock).
pub fn shard_of(entry: &AccessLogEntry) -> String {
    match &entry.person {
        Some(p) => shard_of_person(p),
        None => format!("principal:{}", entry.principal.to_urn()),
    }
}

/// The shard of the entries about `person` (see [`shard_of`]).
pub fn shard_of_person(person: &PersonRef) -> String {
    format!(
        "person:{}:{}",
        person.insurer_number.as_str(),
        person.insured_number.as_str()
    )
}

/// A JSON text with object keys sorted (by UTF-8 bytes) and no whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

string_enum! {
    /// What a logged access tried to do.
    pub enum AccessAction as "access action" {
        /// Read one document.
        ReadDocument = "read_document",
        /// List a person's documents.
        ListDocuments = "list_documents",
        /// Read a document's version history.
        ReadHistory = "read_history",
        /// Read one certification application's progress (stage, timeline).
        ReadProgress = "read_progress",
        /// List a person's certification applications (the person's list,
        /// or the municipality's list of open applications: one entry per
        /// person listed).
        ListProgress = "list_progress",
    }
}

string_enum! {
    /// Whether a logged access was allowed.
    pub enum AccessOutcome as "access outcome" {
        /// Allowed.
        Allowed = "allowed",
        /// Refused.
        Denied = "denied",
    }
}

/// One access-log entry: who accessed what about whom, when, and whether it
/// was allowed. The person lists these to see who read what about them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLogEntry {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who: the caller's principal.
    pub principal: Principal,
    /// For portal reads: whether the person or a proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<PersonActor>,
    /// For portal reads: the portal user, the person token's `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// About whom. `None` only for a read of a document id that names no
    /// document (refused like any other, and logged so that probing shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<PersonRef>,
    /// What was attempted.
    pub action: AccessAction,
    /// The kind, when one document or kind was concerned (for a list: the
    /// kind it was filtered to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DocumentKind>,
    /// The document, when one was concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<DocumentId>,
    /// For an allowed list: the documents it returned, so that the person
    /// sees which documents were read, not only that a list was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub document_ids: Vec<DocumentId>,
    /// The certification application, when one was concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<ApplicationId>,
    /// For an allowed progress list: the applications it returned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub application_ids: Vec<ApplicationId>,
    /// Allowed or denied.
    pub outcome: AccessOutcome,
    /// Why it was denied (internal; never shown to the reader who was refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_reason: Option<DenyReason>,
    /// The request's id (`x-request-id`, set by the edge): links this entry
    /// to the operator's request log and a support call. Left out of the
    /// canonical JSON when absent, so entries written before it hash as
    /// they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Whether `id` may be recorded as a request id: 1–128 characters of
/// `A–Z a–z 0–9 . _ : @ / + = -` (a UUID, a ULID, a trace id; the set
/// the edge keeps from a trusted caller). Anything else is not
/// recorded, so a request id can neither bloat the log nor smuggle text
/// into it.
pub fn is_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'_' | b':' | b'@' | b'/' | b'+' | b'=' | b'-')
        })
}

impl AccessLogEntry {
    /// An allowed list of `person`'s documents by `principal` at `at` that
    /// returned none: the plainest entry, as tests and tools write one.
    pub fn listing(at: impl Into<String>, principal: Principal, person: PersonRef) -> Self {
        AccessLogEntry {
            at: at.into(),
            principal,
            actor: None,
            subject: None,
            person: Some(person),
            action: AccessAction::ListDocuments,
            kind: None,
            document_id: None,
            document_ids: Vec::new(),
            application_id: None,
            application_ids: Vec::new(),
            outcome: AccessOutcome::Allowed,
            deny_reason: None,
            request_id: None,
        }
    }

    /// The canonical JSON text to store and hash: the same text as
    /// [`canonical_json`] of the entry's JSON value, written directly (every
    /// read and refused read makes one, inside the component).
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(&Canonical::of(self)).expect("entries serialize")
    }
}

/// An entry with its fields declared in the canonical (sorted) key order and
/// the same omissions, so that serde writes the canonical text without a
/// JSON value in between.
#[derive(Serialize)]
struct Canonical<'a> {
    action: AccessAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<PersonActor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    application_id: Option<&'a ApplicationId>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    application_ids: &'a [ApplicationId],
    at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deny_reason: Option<DenyReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document_id: Option<&'a DocumentId>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    document_ids: &'a [DocumentId],
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<DocumentKind>,
    outcome: AccessOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    person: Option<CanonicalPerson<'a>>,
    principal: &'a Principal,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
}

/// [`PersonRef`]'s fields in sorted key order.
#[derive(Serialize)]
struct CanonicalPerson<'a> {
    insured_number: &'a crate::ids::InsuredNumber,
    insurer_number: &'a crate::ids::InsurerNumber,
}

impl<'a> Canonical<'a> {
    fn of(entry: &'a AccessLogEntry) -> Self {
        // Every field named, no `..`: a field added to the entry does not
        // compile here until it is placed in the canonical order above.
        let AccessLogEntry {
            at,
            principal,
            actor,
            subject,
            person,
            action,
            kind,
            document_id,
            document_ids,
            application_id,
            application_ids,
            outcome,
            deny_reason,
            request_id,
        } = entry;
        Canonical {
            action: *action,
            actor: *actor,
            application_id: application_id.as_ref(),
            application_ids,
            at,
            deny_reason: *deny_reason,
            document_id: document_id.as_ref(),
            document_ids,
            kind: *kind,
            outcome: *outcome,
            person: person.as_ref().map(|p| CanonicalPerson {
                insured_number: &p.insured_number,
                insurer_number: &p.insurer_number,
            }),
            principal,
            request_id: request_id.as_deref(),
            subject: subject.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(entries: &[&str]) -> Vec<(String, String)> {
        let mut prev = GENESIS_HASH.to_owned();
        entries
            .iter()
            .map(|e| {
                let h = chain_hash(&prev, e);
                prev = h.clone();
                ((*e).to_owned(), h)
            })
            .collect()
    }

    #[test]
    fn genesis_and_known_vector() {
        assert_eq!(GENESIS_HASH.len(), 64);
        assert!(GENESIS_HASH.bytes().all(|b| b == b'0'));
        // Independent computation: sha256("0"*64 + "\x1e" + "{}").
        let mut h = Sha256::new();
        h.update([b'0'; 64]);
        h.update(b"\x1e{}");
        assert_eq!(chain_hash(GENESIS_HASH, "{}"), hex::encode(h.finalize()));
    }

    #[test]
    fn request_ids_are_short_plain_tokens() {
        for good in [
            "0b6f6d2c-3c1e-4a55-9d1e-8f0c2a8e7b11",
            "support-call-4711",
            "01J:a.b_c",
            "a/b+c=d@e",
        ] {
            assert!(is_request_id(good), "{good}");
        }
        let long = "a".repeat(129);
        for bad in [
            "",
            "has space",
            "new\nline",
            "é",
            "a;b",
            "<x>",
            long.as_str(),
        ] {
            assert!(!is_request_id(bad), "{bad:?}");
        }
        assert!(is_request_id(&"a".repeat(128)));
    }

    #[test]
    fn verify_detects_every_kind_of_tampering() {
        let good = chain(&[r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#, r#"{"n":4}"#]);
        assert_eq!(verify_chain(&good), Ok(()));
        assert_eq!(verify_chain(&[]), Ok(()));

        let mut edited = good.clone();
        edited[2].0 = r#"{"n":30}"#.into();
        assert_eq!(verify_chain(&edited), Err(2));

        let mut removed = good.clone();
        removed.remove(1);
        assert_eq!(verify_chain(&removed), Err(1));

        let mut swapped = good.clone();
        swapped.swap(0, 1);
        assert_eq!(verify_chain(&swapped), Err(0));

        let mut rehashed_one = good.clone();
        rehashed_one[1].0 = r#"{"n":20}"#.into();
        rehashed_one[1].1 = chain_hash(&good[0].1, &rehashed_one[1].0);
        // Recomputing the edited entry's hash still breaks the next link.
        assert_eq!(verify_chain(&rehashed_one), Err(2));

        assert_eq!(verify_chain_from(&good[1].1, &good[2..]), Ok(()));
        assert_eq!(verify_chain_from(GENESIS_HASH, &good[2..]), Err(0));
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": [{"y": 2, "x": "é\""}], "c": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"z":[{"x":"é\"","y":2}]},"b":1}"#
        );
    }

    /// Every combination of the optional fields, with every action,
    /// outcome and a subject that needs escaping: the directly written text
    /// is the canonical JSON of the entry's value, byte for byte.
    #[test]
    fn the_direct_canonical_text_is_the_canonical_json_of_the_value() {
        let person: PersonRef = serde_json::from_value(
            json!({"insurer_number": "131016", "insured_number": "0000123456"}),
        )
        .unwrap();
        let doc = DocumentId::parse("doc_0123456789abcdef0123456789abcdef").unwrap();
        let app = ApplicationId::derive(&person, crate::ApplicationType::New, "t", "f");
        let mut checked = 0;
        for bits in 0u32..1 << 10 {
            let on = |i: u32| bits & (1 << i) != 0;
            let action = AccessAction::ALL[bits as usize % AccessAction::ALL.len()];
            let outcome = AccessOutcome::ALL[(bits as usize / 7) % AccessOutcome::ALL.len()];
            let entry = AccessLogEntry {
                at: "2025-04-01T00:00:00.123456Z".into(),
                principal: Principal::parse_urn("urn:carehub:portal:mynaportal").unwrap(),
                actor: on(0).then_some(PersonActor::Proxy),
                subject: on(1).then(|| "家族 \"7\"\\\u{1}\u{7f}\u{2028}".to_owned()),
                person: on(2).then(|| person.clone()),
                action,
                kind: on(3).then_some(DocumentKind::CarePlan),
                document_id: on(4).then(|| doc.clone()),
                document_ids: if on(5) {
                    vec![doc.clone(), doc.clone()]
                } else {
                    Vec::new()
                },
                application_id: on(6).then(|| app.clone()),
                application_ids: if on(7) { vec![app.clone()] } else { Vec::new() },
                outcome,
                deny_reason: on(8).then_some(DenyReason::NoConsent),
                request_id: on(9).then(|| "0b6f6d2c-3c1e-4a55-9d1e-8f0c2a8e7b11".to_owned()),
            };
            let reference = canonical_json(&serde_json::to_value(&entry).unwrap());
            assert_eq!(entry.canonical_json(), reference, "fields {bits:010b}");
            checked += 1;
        }
        assert_eq!(checked, 1024);
    }

    #[test]
    fn entry_round_trips_through_its_canonical_form() {
        let entry = AccessLogEntry {
            at: "2025-04-01T00:00:00Z".into(),
            principal: Principal::parse_urn("urn:carehub:medical:1312345678").unwrap(),
            actor: None,
            subject: None,
            person: Some(
                serde_json::from_value(
                    json!({"insurer_number": "131016", "insured_number": "0000123456"}),
                )
                .unwrap(),
            ),
            action: AccessAction::ReadDocument,
            kind: Some(DocumentKind::BurdenRatioCertificate),
            document_id: None,
            document_ids: Vec::new(),
            application_id: None,
            application_ids: Vec::new(),
            outcome: AccessOutcome::Denied,
            deny_reason: Some(DenyReason::NotMarkedForRole),
            request_id: None,
        };
        let text = entry.canonical_json();
        assert!(text.starts_with(r#"{"action":"read_document","at":"#));
        assert_eq!(
            serde_json::from_str::<AccessLogEntry>(&text).unwrap(),
            entry
        );
        assert_eq!(canonical_json(&serde_json::from_str(&text).unwrap()), text);
    }

    #[test]
    fn entries_written_before_the_progress_fields_keep_their_bytes() {
        // An entry as stored before `subject` and the application fields
        // existed: it parses, and re-serializes to the very text hashed.
        let old = r#"{"action":"list_documents","at":"2025-04-01T00:00:00Z","document_ids":["doc_0123456789abcdef0123456789abcdef"],"outcome":"allowed","person":{"insured_number":"0000123456","insurer_number":"131016"},"principal":"urn:carehub:care-manager:1371234567"}"#;
        let entry: AccessLogEntry = serde_json::from_str(old).unwrap();
        assert_eq!(entry.subject, None);
        assert_eq!(entry.application_id, None);
        assert!(entry.application_ids.is_empty());
        assert_eq!(entry.canonical_json(), old);
    }

    #[test]
    fn a_portal_progress_read_names_the_portal_user_and_the_application() {
        let person: PersonRef = serde_json::from_value(
            json!({"insurer_number": "131016", "insured_number": "0000123456"}),
        )
        .unwrap();
        let app = ApplicationId::derive(&person, crate::ApplicationType::New, "t", "f");
        let entry = AccessLogEntry {
            at: "2025-04-01T00:00:00Z".into(),
            principal: Principal::parse_urn("urn:carehub:portal:mynaportal").unwrap(),
            actor: Some(PersonActor::Proxy),
            subject: Some("family-member-7".into()),
            person: Some(person),
            action: AccessAction::ReadProgress,
            kind: None,
            document_id: None,
            document_ids: Vec::new(),
            application_id: Some(app.clone()),
            application_ids: Vec::new(),
            outcome: AccessOutcome::Allowed,
            deny_reason: None,
            request_id: None,
        };
        let text = entry.canonical_json();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["action"], "read_progress");
        assert_eq!(v["actor"], "proxy");
        assert_eq!(v["subject"], "family-member-7");
        assert_eq!(v["application_id"], app.as_str());
        assert!(v.get("application_ids").is_none());
        assert_eq!(
            serde_json::from_str::<AccessLogEntry>(&text).unwrap(),
            entry
        );
        assert_eq!(
            "list_progress".parse::<AccessAction>().unwrap(),
            AccessAction::ListProgress
        );
    }
}
