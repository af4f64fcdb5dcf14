//! The request head and the reply, as plain data.
//!
//! Handlers work on these rather than on Spin's types, so that everything
//! from routing to response shaping is testable natively; `crate::wasm`
//! converts at the component boundary.

use carehub_domain::problem::PROBLEM_CONTENT_TYPE;
use carehub_domain::{Problem, ProblemType};
use serde::Serialize;

use crate::person_token::EdgePersonToken;

/// `application/json`.
pub const JSON: &str = "application/json";
/// `application/x-ndjson`.
pub const NDJSON: &str = "application/x-ndjson";

/// The method, Spin path-info, query and headers of a request — everything
/// but the body, which is read only after the caller is identified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// The path after the component's route prefix (`spin-path-info`),
    /// e.g. `/documents` for `/api/ingest/documents`.
    pub path_info: String,
    /// The raw query string, without `?` (empty when none).
    pub query: String,
    /// Headers with lower-case names, in arrival order.
    headers: Vec<(String, Vec<u8>)>,
    /// The edge's person-token verdict from the verified identity assertion
    /// (set once, by `wasm::identify`, after it verified the assertion).
    edge_person_token: std::cell::OnceCell<Option<EdgePersonToken>>,
}

impl RequestHead {
    /// Builds a head; header names are lower-cased.
    pub fn new(
        method: impl Into<String>,
        path_info: impl Into<String>,
        query: impl Into<String>,
        headers: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Self {
        RequestHead {
            method: method.into(),
            path_info: path_info.into(),
            query: query.into(),
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            edge_person_token: std::cell::OnceCell::new(),
        }
    }

    /// Records the person-token verdict of this request's verified assertion.
    /// Only the first call counts.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn set_edge_person_token(&self, verdict: Option<EdgePersonToken>) {
        let _ = self.edge_person_token.set(verdict);
    }

    /// The verdict recorded by [`RequestHead::set_edge_person_token`]:
    /// `None` before the assertion was verified or when it carries none.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn edge_person_token(&self) -> Option<&EdgePersonToken> {
        self.edge_person_token.get().and_then(Option::as_ref)
    }

    /// Every value of header `name` (case-insensitive), as bytes.
    pub fn header_values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The header's value when it is present exactly once and is UTF-8.
    /// `Err(())` when it is repeated or not UTF-8 — callers treat that as
    /// malformed rather than guessing which copy counts.
    #[allow(clippy::result_unit_err)]
    pub fn single_header(&self, name: &str) -> Result<Option<&str>, ()> {
        let mut values = self.header_values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(());
        }
        first
            .map(|v| std::str::from_utf8(v).map_err(|_| ()))
            .transpose()
    }

    /// The first value of a header, if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name)
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The declared `Content-Length`, if present and numeric.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }
}

/// A complete answer: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// Further body bytes, sent in order after `body`. Large answers (bulk
    /// results) are built in parts so that they are never copied into one
    /// buffer inside the component's memory cap.
    pub body_parts: Vec<Vec<u8>>,
}

impl Reply {
    /// A reply with a body of the given media type.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
            body_parts: Vec::new(),
        }
    }

    /// A JSON reply.
    pub fn json(status: u16, value: &impl Serialize) -> Reply {
        let body = serde_json::to_vec(value).expect("reply bodies are plain JSON data");
        Reply::bytes(status, JSON, body)
    }

    /// An RFC 9457 problem reply.
    pub fn problem(problem: &Problem) -> Reply {
        let body = serde_json::to_vec(&problem.to_json()).expect("problems serialize");
        Reply::bytes(problem.status(), PROBLEM_CONTENT_TYPE, body)
    }

    /// A problem of type `type_` with `detail`.
    pub fn problem_of(type_: ProblemType, detail: impl Into<String>) -> Reply {
        Reply::problem(&Problem::new(type_, detail))
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The whole body in one buffer (tests and small answers).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut all = self.body.clone();
        for part in &self.body_parts {
            all.extend_from_slice(part);
        }
        all
    }

    /// The value of a header of this reply.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_case_insensitive_and_single() {
        let head = RequestHead::new(
            "GET",
            "/x",
            "",
            [
                ("Content-Type".to_owned(), b"application/json".to_vec()),
                ("X-Twice".to_owned(), b"a".to_vec()),
                ("x-twice".to_owned(), b"b".to_vec()),
                ("Content-Length".to_owned(), b"12".to_vec()),
            ],
        );
        assert_eq!(head.header("content-type"), Some("application/json"));
        assert_eq!(
            head.single_header("CONTENT-TYPE"),
            Ok(Some("application/json"))
        );
        assert_eq!(head.single_header("x-twice"), Err(()));
        assert_eq!(head.single_header("absent"), Ok(None));
        assert_eq!(head.content_length(), Some(12));
    }

    #[test]
    fn problem_reply_is_problem_json() {
        let r = Reply::problem_of(ProblemType::NotFound, "No such route.");
        assert_eq!(r.status, 404);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["type"], "urn:carehub:problem:not-found");
        assert_eq!(v["detail"], "No such route.");
    }
}
