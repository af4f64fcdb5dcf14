//! A test component for the gateway's own tests and benchmarks.
//!
//! It answers a fixed body (the isolation floor of the benchmarks), loops
//! forever (the deadline test), reports a per-instance counter (the state-leak
//! test: a fresh instance per request always answers 1), echoes what the edge
//! handed it (header stripping and the Spin headers), reads a variable, and
//! makes an outbound call (the `allowed_outbound_hosts` test). It is not part
//! of the product and is never in `spin.toml`.

#[cfg(target_arch = "wasm32")]
// `#[http_component]` expands to the component's export glue, which is `unsafe`.
#[allow(unsafe_code)]
mod component {
    use spin_sdk::http::{IntoResponse, Method, Request, Response};
    use spin_sdk::http_component;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Counts requests seen by this instance; a fresh instance starts at 0.
    static SEEN: AtomicU64 = AtomicU64::new(0);

    /// 200 bytes of JSON, the body the benchmark floors answer.
    const FIXED: &str = r#"{"status":"ok","component":"probe","padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;

    #[http_component]
    async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        let seen = SEEN.fetch_add(1, Ordering::SeqCst) + 1;
        let path = req
            .header("spin-path-info")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let json = |status: u16, body: String| {
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(body)
                .build()
        };
        Ok(match path.as_str() {
            "/fixed" => json(200, FIXED.to_owned()),
            "/counter" => json(200, format!(r#"{{"seen":{seen}}}"#)),
            "/loop" => {
                // Spin forever without yielding: only the epoch deadline stops this.
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "/headers" => {
                let mut map = serde_like_headers(&req);
                map.sort();
                json(200, format!("[{}]", map.join(",")))
            }
            "/variable" => {
                let name = req.query().strip_prefix("name=").unwrap_or("");
                match spin_sdk::variables::get(name) {
                    Ok(v) => json(200, format!(r#"{{"value":{}}}"#, quote(&v))),
                    Err(e) => json(404, format!(r#"{{"error":{}}}"#, quote(&e.to_string()))),
                }
            }
            "/fetch" => {
                let url = req.query().strip_prefix("url=").unwrap_or("").to_owned();
                let out = Request::builder().method(Method::Get).uri(url).build();
                match spin_sdk::http::send::<_, Response>(out).await {
                    Ok(resp) => json(200, format!(r#"{{"upstream_status":{}}}"#, resp.status())),
                    Err(e) => json(502, format!(r#"{{"error":{}}}"#, quote(&e.to_string()))),
                }
            }
            "/sqlite" => match spin_sdk::sqlite::Connection::open(req.query()) {
                Ok(_) => json(200, r#"{"opened":true}"#.to_owned()),
                Err(e) => json(403, format!(r#"{{"error":{}}}"#, quote(&e.to_string()))),
            },
            _ => json(404, r#"{"error":"no such probe"}"#.to_owned()),
        })
    }

    fn serde_like_headers(req: &Request) -> Vec<String> {
        req.headers()
            .map(|(k, v)| format!("[{},{}]", quote(k), quote(v.as_str().unwrap_or(""))))
            .collect()
    }

    fn quote(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}
