//! Outbound HTTP limited to `allowed_outbound_hosts`, as in Spin: each entry
//! is `scheme://host[:port]`, where scheme, host and port may be `*` and a
//! host may be `*.suffix`; a missing port means the scheme's default. A
//! request to anywhere else fails in the guest with `HTTP-request-denied`
//! before any connection is made.

use crate::error::{Error, Result};
use std::sync::Arc;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    Suffix(String),
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        _ => None,
    }
}

impl AllowedHost {
    /// Parses one `allowed_outbound_hosts` entry (templates already expanded).
    pub fn parse(entry: &str) -> Result<AllowedHost> {
        let refuse = |why| Error::OutboundHost {
            entry: entry.to_owned(),
            why,
        };
        let Some((scheme, rest)) = entry.split_once("://") else {
            return Err(refuse("must look like scheme://host[:port]"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(refuse("must not carry a path"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Suffix(format!(".{suffix}"))
        } else if host.is_empty() || host.contains('*') {
            return Err(refuse("has an invalid host"));
        } else {
            HostPattern::Exact(host)
        };
        let port = match port {
            Some("*") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| refuse("has an invalid port"))?,
            ),
            None => match &scheme {
                Some(s) => match default_port(s) {
                    Some(p) => Some(p),
                    None => return Err(refuse("needs a port")),
                },
                None => return Err(refuse("needs a port when the scheme is *")),
            },
        };
        Ok(AllowedHost { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && match &self.host {
                HostPattern::Any => true,
                HostPattern::Exact(h) => *h == host,
                HostPattern::Suffix(s) => host.ends_with(s.as_str()),
            }
            && self.port.is_none_or(|p| p == port)
    }
}

/// The outbound policy of one component.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Arc<Vec<AllowedHost>>,
}

impl OutboundPolicy {
    /// Builds the policy from `allowed_outbound_hosts` entries.
    pub fn new(entries: &[String]) -> Result<OutboundPolicy> {
        let allowed = entries
            .iter()
            .map(|e| AllowedHost::parse(e))
            .collect::<Result<Vec<_>>>()?;
        Ok(OutboundPolicy {
            allowed: Arc::new(allowed),
        })
    }

    /// Whether a connection to `scheme://host:port` may be made (e.g. a
    /// PostgreSQL server, `postgres://db:5432`).
    pub fn allows_address(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.allowed.iter().any(|a| a.allows(scheme, host, port))
    }

    /// Whether a request URI may be sent.
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        let Some(scheme) = uri.scheme_str() else {
            return false;
        };
        let Some(host) = uri.host() else {
            return false;
        };
        let Some(port) = uri.port_u16().or_else(|| default_port(scheme)) else {
            return false;
        };
        self.allowed.iter().any(|a| a.allows(scheme, host, port))
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        if !self.allows_uri(request.uri()) {
            tracing::warn!(uri = %request.uri(), "outbound request denied: not in allowed_outbound_hosts");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> OutboundPolicy {
        OutboundPolicy::new(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        assert!(!policy(&[]).allows_uri(&"https://example.com/".parse().unwrap()));
    }

    #[test]
    fn scheme_host_and_port_must_all_match() {
        let p = policy(&["https://hooks.example.com", "http://127.0.0.1:8080"]);
        assert!(p.allows_uri(&"https://hooks.example.com/x".parse().unwrap()));
        assert!(p.allows_uri(&"https://HOOKS.example.com:443/x".parse().unwrap()));
        assert!(!p.allows_uri(&"http://hooks.example.com/x".parse().unwrap()));
        assert!(!p.allows_uri(&"https://hooks.example.com:8443/x".parse().unwrap()));
        assert!(p.allows_uri(&"http://127.0.0.1:8080/".parse().unwrap()));
        assert!(!p.allows_uri(&"http://127.0.0.1:8081/".parse().unwrap()));
    }

    #[test]
    fn wildcards() {
        let p = policy(&["https://*.example.com", "*://api.test:*"]);
        assert!(p.allows_uri(&"https://a.example.com/".parse().unwrap()));
        assert!(!p.allows_uri(&"https://example.com.evil/".parse().unwrap()));
        assert!(!p.allows_uri(&"https://evilexample.com/".parse().unwrap()));
        assert!(p.allows_uri(&"http://api.test:1234/".parse().unwrap()));
    }

    #[test]
    fn refuses_malformed_entries() {
        for bad in [
            "example.com",
            "https://",
            "https://a/b",
            "https://a:x",
            "foo://a",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }
}
