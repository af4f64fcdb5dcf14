//! Request bodies: media type, size caps, JSON parsing with a position in
//! the error, canonical JSON and its digest.

use carehub_domain::ProblemType;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::http::{Reply, RequestHead};

/// 415 unless the request's `Content-Type` is `expected` (parameters such as
/// `charset=utf-8` are allowed; the media type compares case-insensitively).
pub fn require_content_type(head: &RequestHead, expected: &str) -> Result<(), Reply> {
    let ok = head
        .header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(expected));
    if ok {
        Ok(())
    } else {
        Err(Reply::problem_of(
            ProblemType::UnsupportedMediaType,
            format!("This endpoint accepts only Content-Type: {expected}."),
        ))
    }
}

/// The 413 answer for a body over `limit` bytes.
pub fn too_large(limit: usize) -> Reply {
    Reply::problem_of(
        ProblemType::PayloadTooLarge,
        format!("The body exceeds this endpoint's limit of {limit} bytes."),
    )
}

/// 413 when the declared `Content-Length` already exceeds `limit`, so that
/// an oversized body is refused without being read.
pub fn check_declared_length(head: &RequestHead, limit: usize) -> Result<(), Reply> {
    match head.content_length() {
        Some(n) if n > limit as u64 => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// Parses JSON; a syntax error becomes 400 `malformed-json` whose detail
/// carries serde's line and column (never any of the input).
pub fn parse_json(bytes: &[u8]) -> Result<Value, Reply> {
    parse_json_value(bytes).map_err(|detail| Reply::problem_of(ProblemType::MalformedJson, detail))
}

/// [`parse_json`] returning only the detail text, for callers (bulk lines)
/// that build their own problem.
///
/// Every string in the value — member names too — comes back in Unicode
/// NFC ([`nfc`]): the API promises UTF-8 NFC, so text a client sent
/// decomposed (カ followed by U+3099 for ガ) is stored, hashed, compared and
/// read back composed. Every component parses its JSON bodies here.
pub fn parse_json_value(bytes: &[u8]) -> Result<Value, String> {
    let mut value = serde_json::from_slice(bytes).map_err(|e| {
        // serde_json's syntax and EOF messages name the expectation and the
        // position, never the input; parsing into `Value` raises no data
        // errors (the kind that quote values).
        format!("The body is not valid JSON: {e}.")
    })?;
    nfc(&mut value);
    Ok(value)
}

/// Normalises every string in `value` (member names included) to Unicode
/// NFC, in place; strings already in NFC (all ASCII, most Japanese text)
/// are left untouched without being copied. Two member names that differ
/// only in normalisation become one, the later value winning, as a
/// duplicate name does in `serde_json`.
pub fn nfc(value: &mut Value) {
    match value {
        Value::String(s) => nfc_string(s),
        Value::Array(items) => items.iter_mut().for_each(nfc),
        Value::Object(map) => {
            if map.keys().all(|k| is_nfc(k)) {
                map.values_mut().for_each(nfc);
            } else {
                let members = std::mem::take(map);
                for (mut k, mut v) in members {
                    nfc_string(&mut k);
                    nfc(&mut v);
                    map.insert(k, v);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn is_nfc(s: &str) -> bool {
    use unicode_normalization::{IsNormalized, is_nfc_quick};
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => true,
        IsNormalized::No => false,
        IsNormalized::Maybe => unicode_normalization::is_nfc(s),
    }
}

fn nfc_string(s: &mut String) {
    use unicode_normalization::UnicodeNormalization;
    if !is_nfc(s) {
        *s = s.nfc().collect();
    }
}

/// The canonical form of stored JSON: object keys sorted (serde_json's map
/// is ordered), no insignificant whitespace. Two contents that differ only
/// in key order or formatting have the same canonical form, hence the same
/// digest, hence no new version.
pub fn canonical_json(value: &Value) -> String {
    serde_json::to_string(value).expect("a JSON value always serializes")
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_with(ct: Option<&str>, len: Option<&str>) -> RequestHead {
        let mut h = Vec::new();
        if let Some(ct) = ct {
            h.push(("content-type".to_owned(), ct.as_bytes().to_vec()));
        }
        if let Some(len) = len {
            h.push(("content-length".to_owned(), len.as_bytes().to_vec()));
        }
        RequestHead::new("POST", "/documents", "", h)
    }

    #[test]
    fn strings_and_member_names_come_back_in_nfc() {
        // カ + U+3099 (combining voiced mark) is ガ; e + U+0301 is é.
        let body = "{\"name\": \"\u{30AB}\u{3099}\", \"ke\u{0301}y\": [\"e\u{0301}\", 1, null], \"ascii\": \"plain\"}";
        let v = parse_json(body.as_bytes()).unwrap();
        assert_eq!(v["name"], "\u{30AC}");
        assert_eq!(v["k\u{00E9}y"][0], "\u{00E9}");
        assert_eq!(v["ascii"], "plain");
        assert!(v.get("ke\u{0301}y").is_none());
        // Escaped in JSON, the same.
        let v = parse_json(br#"{"a": "\u30ab\u3099"}"#).unwrap();
        assert_eq!(v["a"], "\u{30AC}");
        // Already NFC: unchanged, including compatibility characters NFC
        // keeps (half-width katakana, the spacing voiced mark U+309B).
        let v = parse_json("{\"a\": \"\u{FF76}\u{FF9E} \u{309B} 介護\"}".as_bytes()).unwrap();
        assert_eq!(v["a"], "\u{FF76}\u{FF9E} \u{309B} 介護");
    }

    #[test]
    fn content_type() {
        assert!(
            require_content_type(
                &head_with(Some("application/json"), None),
                "application/json"
            )
            .is_ok()
        );
        assert!(
            require_content_type(
                &head_with(Some("Application/JSON; charset=utf-8"), None),
                "application/json"
            )
            .is_ok()
        );
        for bad in [
            None,
            Some("text/plain"),
            Some("application/jsonx"),
            Some("application/x-ndjson"),
        ] {
            let r = require_content_type(&head_with(bad, None), "application/json").unwrap_err();
            assert_eq!(r.status, 415);
        }
    }

    #[test]
    fn declared_length() {
        assert!(check_declared_length(&head_with(None, Some("10")), 10).is_ok());
        assert_eq!(
            check_declared_length(&head_with(None, Some("11")), 10)
                .unwrap_err()
                .status,
            413
        );
        assert!(check_declared_length(&head_with(None, None), 10).is_ok());
    }

    #[test]
    fn malformed_json_has_position_and_no_input() {
        let r = parse_json(b"{\"insured_number\": \"0000012345\",\n  oops}").unwrap_err();
        assert_eq!(r.status, 400);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["type"], "urn:carehub:problem:malformed-json");
        let detail = v["detail"].as_str().unwrap();
        assert!(detail.contains("line 2 column 3"), "{detail}");
        assert!(!detail.contains("0000012345"));
        assert!(parse_json(b"").is_err());
        assert!(parse_json(b"{} x").is_err());
    }

    #[test]
    fn canonical_form_ignores_order_and_whitespace() {
        let a: Value =
            serde_json::from_str("{ \"b\": 1, \"a\": {\"y\": [1, 2], \"x\": null} }").unwrap();
        let b: Value = serde_json::from_str("{\"a\":{\"x\":null,\"y\":[1,2]},\"b\":1}").unwrap();
        assert_eq!(
            canonical_json(&a),
            "{\"a\":{\"x\":null,\"y\":[1,2]},\"b\":1}"
        );
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
