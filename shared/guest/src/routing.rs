//! Routing on `spin-path-info` and the method, and query-string parsing.
//!
//! A component declares its routes as a table; [`route`] answers 404
//! `not-found` for a path no route has, and 405 `method-not-allowed` with an
//! `Allow` header for a known path with another method.

use carehub_domain::{Cursor, InsuredNumber, InsurerNumber, PersonRef, ProblemType};

use crate::http::{Reply, RequestHead};
use crate::problem::{invalid_identifier, invalid_request};

/// One route: a method and a path pattern whose `{name}` segments capture.
#[derive(Debug, Clone, Copy)]
pub struct Route<E> {
    /// Upper-case method.
    pub method: &'static str,
    /// e.g. `/persons/{insurer_number}/{insured_number}/documents`.
    pub pattern: &'static str,
    /// What the component does for it.
    pub endpoint: E,
}

/// A matched route and its captured path segments, in pattern order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a, E> {
    /// The endpoint.
    pub endpoint: E,
    /// The `{…}` segments.
    pub params: Vec<&'a str>,
}

fn match_pattern<'a>(pattern: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut params = Vec::new();
    let mut pat = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (pat.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(g)) => {
                if p.starts_with('{') && p.ends_with('}') {
                    if g.is_empty() {
                        return None;
                    }
                    params.push(g);
                } else if p != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Finds the route for `head`, or the 404/405 reply.
pub fn route<'a, E: Copy>(
    routes: &[Route<E>],
    head: &'a RequestHead,
) -> Result<Matched<'a, E>, Reply> {
    let path = if head.path_info.is_empty() {
        "/"
    } else {
        head.path_info.as_str()
    };
    let mut allowed: Vec<&'static str> = Vec::new();
    for r in routes {
        if let Some(params) = match_pattern(r.pattern, path) {
            if r.method.eq_ignore_ascii_case(&head.method) {
                return Ok(Matched {
                    endpoint: r.endpoint,
                    params,
                });
            }
            if !allowed.contains(&r.method) {
                allowed.push(r.method);
            }
        }
    }
    if allowed.is_empty() {
        Err(Reply::problem_of(
            ProblemType::NotFound,
            "No such route. See /openapi.json.",
        ))
    } else {
        let allow = allowed.join(", ");
        Err(Reply::problem_of(
            ProblemType::MethodNotAllowed,
            format!("This route accepts only {allow}."),
        )
        .with_header("allow", allow))
    }
}

/// Parses a query string into decoded `(name, value)` pairs, refusing any
/// name not in `known` and any repeated name with a 400 `invalid-request`.
pub fn parse_query(query: &str, known: &[&str]) -> Result<Vec<(String, String)>, Reply> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name).ok_or_else(|| {
            crate::problem::invalid_request(
                "",
                "the query string is not valid percent-encoded UTF-8",
            )
        })?;
        let value = percent_decode(value).ok_or_else(|| {
            crate::problem::invalid_request(&name, "not valid percent-encoded UTF-8")
        })?;
        if !known.contains(&name.as_str()) {
            let name_shown: String = name.chars().take(40).collect();
            return Err(crate::problem::invalid_request(
                &name_shown,
                format!("unknown query parameter; accepted: {}", known.join(", ")),
            ));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(crate::problem::invalid_request(
                &name,
                "given more than once",
            ));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// The person named by a route's `{insurer_number}/{insured_number}`
/// segments; 400 `invalid-identifier` naming the segment.
pub fn person_from_path(insurer: &str, insured: &str) -> Result<PersonRef, Reply> {
    let insurer =
        InsurerNumber::parse(insurer).map_err(|e| invalid_identifier("insurer_number", &e))?;
    let insured =
        InsuredNumber::parse(insured).map_err(|e| invalid_identifier("insured_number", &e))?;
    Ok(PersonRef::new(insurer, insured))
}

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest accepted `limit`.
pub const MAX_LIMIT: u32 = 200;

/// A page of a list, newest first: at most `limit` items with a sequence
/// number below `before_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Page size, 1–200.
    pub limit: u32,
    /// Continue after this sequence number (from `cursor`).
    pub before_seq: Option<i64>,
}

/// `limit` (1–200): 400 `invalid-request` otherwise.
pub fn parse_limit(value: &str) -> Result<u32, Reply> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            invalid_request("limit", format!("must be an integer from 1 to {MAX_LIMIT}"))
        })
}

/// `cursor`: 400 `invalid-cursor` unless the hub issued it.
pub fn parse_cursor(value: &str) -> Result<i64, Reply> {
    Cursor::decode(value)
        .map_err(|e| Reply::problem_of(ProblemType::InvalidCursor, format!("cursor: {e}")))
}

/// Parses a query of only `?limit=&cursor=`.
pub fn page(query: &str) -> Result<Page, Reply> {
    let mut page = Page {
        limit: DEFAULT_LIMIT,
        before_seq: None,
    };
    for (name, value) in parse_query(query, &["limit", "cursor"])? {
        match name.as_str() {
            "limit" => page.limit = parse_limit(&value)?,
            _ => page.before_seq = Some(parse_cursor(&value)?),
        }
    }
    Ok(page)
}

/// Trims a page fetched with `limit + 1` rows to `limit`, and gives the
/// cursor of the next page when there is one. `seq` reads an item's
/// sequence number.
pub fn paginate<T>(items: &mut Vec<T>, limit: u32, seq: impl Fn(&T) -> i64) -> Option<String> {
    if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|item| Cursor::encode(seq(item)))
    } else {
        None
    }
}

/// Decodes `%XX` escapes and `+` (as space, per HTML forms). `None` when an
/// escape is malformed or the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum E {
        List,
        One,
        Bulk,
    }

    const ROUTES: &[Route<E>] = &[
        Route {
            method: "GET",
            pattern: "/persons/{a}/{b}/documents",
            endpoint: E::List,
        },
        Route {
            method: "GET",
            pattern: "/documents/{id}",
            endpoint: E::One,
        },
        Route {
            method: "POST",
            pattern: "/documents:bulk",
            endpoint: E::Bulk,
        },
    ];

    fn head(method: &str, path: &str) -> RequestHead {
        RequestHead::new(method, path, "", Vec::new())
    }

    #[test]
    fn matches_and_captures() {
        let h = head("GET", "/persons/131016/0000012345/documents");
        let m = route(ROUTES, &h).unwrap();
        assert_eq!(m.endpoint, E::List);
        assert_eq!(m.params, ["131016", "0000012345"]);
        let h = head("POST", "/documents:bulk");
        assert_eq!(route(ROUTES, &h).unwrap().endpoint, E::Bulk);
    }

    #[test]
    fn unknown_path_is_404_wrong_method_is_405() {
        for p in [
            "/",
            "",
            "/documents",
            "/documents/",
            "/persons/1/2/documents/x",
            "/documents:bulkx",
        ] {
            let h = head("GET", p);
            assert_eq!(route(ROUTES, &h).unwrap_err().status, 404, "{p}");
        }
        let h = head("DELETE", "/documents/doc_1");
        let r = route(ROUTES, &h).unwrap_err();
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET"));
        let h = head("GET", "/documents:bulk");
        assert_eq!(route(ROUTES, &h).unwrap_err().header("allow"), Some("POST"));
    }

    #[test]
    fn query_parsing() {
        let q = parse_query(
            "kind=care_plan&limit=10&cursor=AQ%3D",
            &["kind", "limit", "cursor"],
        )
        .unwrap();
        assert_eq!(
            q,
            [
                ("kind".to_owned(), "care_plan".to_owned()),
                ("limit".to_owned(), "10".to_owned()),
                ("cursor".to_owned(), "AQ=".to_owned())
            ]
        );
        assert_eq!(parse_query("", &["kind"]).unwrap(), []);
        assert_eq!(parse_query("kinds=x", &["kind"]).unwrap_err().status, 400);
        assert_eq!(
            parse_query("kind=a&kind=b", &["kind"]).unwrap_err().status,
            400
        );
        assert_eq!(parse_query("kind=%zz", &["kind"]).unwrap_err().status, 400);
        assert_eq!(percent_decode("a+b%20c"), Some("a b c".into()));
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%2"), None);
    }

    #[test]
    fn pages() {
        assert_eq!(
            page("").unwrap(),
            Page {
                limit: DEFAULT_LIMIT,
                before_seq: None
            }
        );
        assert_eq!(
            page("limit=2&cursor=AQAAAAAAAAAq").unwrap(),
            Page {
                limit: 2,
                before_seq: Some(42)
            }
        );
        assert_eq!(page("limit=0").unwrap_err().status, 400);
        assert_eq!(page("cursor=x").unwrap_err().status, 400);
        assert_eq!(page("kind=x").unwrap_err().status, 400);
        let mut items = vec![5, 4, 3];
        assert_eq!(paginate(&mut items, 2, |i| *i), Some(Cursor::encode(4)));
        assert_eq!(items, [5, 4]);
        assert_eq!(paginate(&mut items, 2, |i| *i), None);
        assert!(person_from_path("131016", "0000012345").is_ok());
        assert_eq!(
            person_from_path("13101", "0000012345").unwrap_err().status,
            400
        );
    }
}
