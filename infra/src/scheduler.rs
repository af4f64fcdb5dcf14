//! The scheduled jobs: `carehub up` calls the webhook dispatcher
//! (`POST /api/webhooks/dispatch`) every `--dispatch-interval-ms`, the
//! retention job (`POST /api/webhooks/purge`) every `--purge-interval-ms`
//! and the access log's checkpoint job (`POST /api/read/checkpoints`) every
//! `--checkpoint-interval-ms` itself, in process, as the internal operator principal
//! `urn:carehub:operator:scheduler` — with an identity assertion the edge
//! signs, exactly as for a client presenting that principal's certificate.
//! The component refuses every other caller (403).
//!
//! On a Spin platform or SpinKube, where no gateway runs the schedule, a
//! cron job calls the same route through the mTLS edge with a client
//! certificate naming the same principal (see ARCHITECTURE.md, Webhooks).
//!
//! A run is one request: it counts against the concurrency limit and the
//! component deadline like any other. Runs never overlap here (the next
//! starts after the previous answered); overlapping runs from elsewhere are
//! safe, because the component claims messages under a lease inside a write
//! transaction.

use crate::edge::ASSERTION_HEADER;
use crate::error::{Error, Result, report};
use crate::server::Gateway;
use bytes::Bytes;
use carehub_domain::Principal;
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// The route a dispatcher run calls.
pub const DISPATCH_PATH: &str = "/api/webhooks/dispatch";
/// The route a retention run calls.
pub const PURGE_PATH: &str = "/api/webhooks/purge";
/// The route a checkpoint run calls.
pub const CHECKPOINT_PATH: &str = "/api/read/checkpoints";
/// The principal a run asserts: the one the policy lets dispatch.
pub const SCHEDULER_URN: &str = carehub_domain::policy::webhooks::SCHEDULER;

/// Starts the job calling `path` every `interval` on the current runtime,
/// the first call at once; it runs until aborted or the process ends.
/// `None` when there is nothing to schedule: no route serves `path`, or no
/// edge signs assertions (`--no-edge`).
pub fn spawn_job(
    gateway: Arc<Gateway>,
    path: &'static str,
    interval: Duration,
    what: &'static str,
) -> Option<tokio::task::JoinHandle<()>> {
    gateway.router.route(path)?;
    gateway.asserter.as_ref()?;
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match run(&gateway, path).await {
                Ok((200, body)) if path == PURGE_PATH => {
                    tracing::info!(body = %String::from_utf8_lossy(&body), "{what} run")
                }
                Ok((200, _)) => {}
                Ok((status, body)) => {
                    tracing::warn!(status, body = %String::from_utf8_lossy(&body), "{what} run failed")
                }
                Err(e) => tracing::warn!("{what} run failed: {}", report(&e)),
            }
        }
    }))
}

/// One dispatcher run: the status and body the component answered.
pub async fn run_once(gateway: &Gateway) -> Result<(u16, Bytes)> {
    run(gateway, DISPATCH_PATH).await
}

/// One run of the job at `path`: the status and body the component answered.
pub async fn run(gateway: &Gateway, path: &'static str) -> Result<(u16, Bytes)> {
    let matched = gateway
        .router
        .route(path)
        .ok_or(Error::NoDispatchRoute(path))?;
    let index = *matched.target;
    let asserter = gateway.asserter.as_ref().ok_or(Error::NoEdge)?;
    let principal = Principal::parse_urn(SCHEDULER_URN)
        .map_err(|e| Error::unexpected("reading the scheduler's principal", e))?;
    let assertion = HeaderValue::try_from(asserter.assert(&principal)?)
        .map_err(|e| Error::unexpected("the scheduler's assertion header", e))?;
    let raw_route = matched.raw_route.to_owned();
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("http://carehub.internal{path}"))
        .header(ASSERTION_HEADER, assertion)
        .header("spin-full-url", format!("http://carehub.internal{path}"))
        .header("spin-path-info", matched.path_info)
        .header("spin-matched-route", raw_route.as_str())
        .header("spin-component-route", matched.component_route)
        .header("spin-raw-component-route", raw_route.as_str())
        .header("spin-base-path", "/")
        .header("spin-client-addr", "127.0.0.1:0")
        .body(
            Full::new(Bytes::new())
                .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} }),
        )
        .map_err(|e| Error::unexpected("building the scheduled request", e))?;
    req.headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    let _permit = gateway
        .concurrency
        .acquire()
        .await
        .map_err(|e| Error::unexpected("waiting for a free slot", e))?;
    let resp = gateway
        .runtime
        .handle_in(crate::runtime::Lane::Background, index, req)
        .await?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Error::unexpected("reading the answer", e))?
        .to_bytes();
    Ok((status, body))
}
