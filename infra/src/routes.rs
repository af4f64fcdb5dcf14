//! Spin's HTTP routing, for the route syntax carehub uses: `/exact` and
//! `/prefix/...` (the trailing wildcard). Exact routes win over wildcards and a
//! longer prefix wins over a shorter one, as in Spin's router.

use crate::error::{Error, Result};

/// One parsed route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Matches this path only.
    Exact(String),
    /// Matches this path and everything below it (`/prefix/...`).
    Prefix(String),
}

impl Route {
    /// Parses a manifest route.
    pub fn parse(route: &str) -> Result<Route> {
        let refuse = |why| {
            Err(Error::Route {
                route: route.to_owned(),
                why,
            })
        };
        if !route.starts_with('/') {
            return refuse("must start with '/'");
        }
        if route.contains(':') || route.contains('*') {
            return refuse("only `/exact` and `/prefix/...` routes are supported");
        }
        if let Some(prefix) = route.strip_suffix("/...") {
            if prefix.contains("...") {
                return refuse("`...` may only end the route");
            }
            return Ok(Route::Prefix(prefix.trim_end_matches('/').to_owned()));
        }
        if route == "/..." {
            return Ok(Route::Prefix(String::new()));
        }
        if route.contains("...") {
            return refuse("`...` may only end the route");
        }
        let trimmed = route.trim_end_matches('/');
        Ok(Route::Exact(if trimmed.is_empty() {
            "/".to_owned()
        } else {
            trimmed.to_owned()
        }))
    }

    /// The path info (what follows the route) if `path` matches.
    pub fn matches<'p>(&self, path: &'p str) -> Option<&'p str> {
        match self {
            Route::Exact(exact) => {
                let p = if path.len() > 1 {
                    path.trim_end_matches('/')
                } else {
                    path
                };
                (p == exact).then_some("")
            }
            Route::Prefix(prefix) => {
                let rest = path.strip_prefix(prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then_some(rest)
            }
        }
    }

    /// The route without its wildcard, as Spin reports it in `spin-component-route`.
    pub fn base(&self) -> &str {
        match self {
            Route::Exact(p) | Route::Prefix(p) => p,
        }
    }

    fn rank(&self) -> (u8, usize) {
        match self {
            Route::Exact(p) => (1, p.len()),
            Route::Prefix(p) => (0, p.len()),
        }
    }
}

/// A routing table from routes to some target (a component index).
#[derive(Debug, Clone)]
pub struct Router<T> {
    entries: Vec<(Route, String, T)>,
}

/// The outcome of routing one request path.
#[derive(Debug)]
pub struct Matched<'r, 'p, T> {
    /// What the route leads to.
    pub target: &'r T,
    /// The route as written in the manifest.
    pub raw_route: &'r str,
    /// The route without its wildcard.
    pub component_route: &'r str,
    /// The part of the path after the route.
    pub path_info: &'p str,
}

impl<T> Router<T> {
    /// Builds a router; refuses two triggers on the same route.
    pub fn new(routes: impl IntoIterator<Item = (String, T)>) -> Result<Router<T>> {
        let mut entries: Vec<(Route, String, T)> = Vec::new();
        for (raw, target) in routes {
            let route = Route::parse(&raw)?;
            if entries.iter().any(|(r, _, _)| *r == route) {
                return Err(Error::DuplicateRoute(raw));
            }
            entries.push((route, raw, target));
        }
        // Most specific first: exact before prefix, longer before shorter.
        entries.sort_by_key(|e| std::cmp::Reverse(e.0.rank()));
        Ok(Router { entries })
    }

    /// Finds the most specific route for `path`.
    pub fn route<'r, 'p>(&'r self, path: &'p str) -> Option<Matched<'r, 'p, T>> {
        self.entries.iter().find_map(|(route, raw, target)| {
            route.matches(path).map(|path_info| Matched {
                target,
                raw_route: raw,
                component_route: route.base(),
                path_info,
            })
        })
    }

    /// All routes with their targets, most specific first.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &T)> {
        self.entries.iter().map(|(_, raw, t)| (raw.as_str(), t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router<&'static str> {
        Router::new([
            ("/api/ingest/...".to_owned(), "ingest"),
            ("/api/read/...".to_owned(), "read"),
            ("/api/read/special".to_owned(), "special"),
            ("/api/...".to_owned(), "api"),
        ])
        .unwrap()
    }

    #[test]
    fn prefix_routes_give_the_rest_as_path_info() {
        let r = router();
        let m = r.route("/api/ingest/documents").unwrap();
        assert_eq!(
            (*m.target, m.path_info, m.component_route),
            ("ingest", "/documents", "/api/ingest")
        );
        let m = r.route("/api/ingest").unwrap();
        assert_eq!((*m.target, m.path_info), ("ingest", ""));
    }

    #[test]
    fn a_prefix_matches_whole_segments_only() {
        let r = router();
        assert_eq!(*r.route("/api/ingestion").unwrap().target, "api");
        assert!(r.route("/apix").is_none());
    }

    #[test]
    fn exact_beats_prefix_and_longer_beats_shorter() {
        let r = router();
        assert_eq!(*r.route("/api/read/special").unwrap().target, "special");
        assert_eq!(*r.route("/api/read/special/x").unwrap().target, "read");
        assert_eq!(*r.route("/api/other").unwrap().target, "api");
    }

    #[test]
    fn refuses_duplicates_and_unsupported_syntax() {
        assert!(Router::new([("/a".to_owned(), 1), ("/a".to_owned(), 2)]).is_err());
        assert!(Route::parse("/a/:id").is_err());
        assert!(Route::parse("a").is_err());
        assert!(Route::parse("/a/.../b").is_err());
    }
}
