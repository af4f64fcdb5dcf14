//! # carehub-guest
//!
//! What every carehub component shares inside wasm:
//!
//! * [`assertion`] — the edge's identity assertion → [`carehub_domain::Principal`],
//!   verified first in every handler;
//! * [`person_token`] — the portal's person token → person and actor;
//! * [`http`], [`problem`], [`routing`], [`body`] — the request head, replies,
//!   RFC 9457 problems, routing on `spin-path-info`, body limits and JSON;
//! * [`fields`] — reading JSON request objects member by member;
//! * [`idempotency`] — `Idempotency-Key` on writes: replay or refuse a
//!   repeated key, store the answer with the write (through `carehub_store`,
//!   the store every component shares);
//! * `wasm` (only on `wasm32`) — the Spin boundary: the only module that
//!   touches `spin-sdk`; it opens the store over Spin's SQLite or PostgreSQL
//!   interface.
//!
//! Everything outside `wasm` is plain Rust with native unit tests; on the
//! host this crate compiles without `spin-sdk`.
#![deny(missing_docs)]

pub mod assertion;
pub mod body;
pub mod clock;
pub mod fields;
pub mod http;
pub mod idempotency;
pub mod jwt;
pub mod person_token;
pub mod problem;
pub mod routing;
#[cfg(test)]
mod test_keys;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use http::{Reply, RequestHead};

/// A request as a component's `serve` receives it from [`component!`]: the
/// head, the principal the edge's assertion names (verified), and the
/// matched route.
#[derive(Debug)]
pub struct Call<'a, E> {
    /// Method, path-info, query and headers.
    pub head: &'a RequestHead,
    /// Who is calling.
    pub principal: carehub_domain::Principal,
    /// The route and its `{…}` segments.
    pub matched: routing::Matched<'a, E>,
}

/// The Spin entry point every component shares: `component!(ROUTES,
/// serve)` declares the `#[spin_sdk::http_component]` handler, which reads
/// the request head, verifies the edge's identity assertion first (nothing
/// else is looked at for an unidentified caller), routes on
/// `spin-path-info` against `ROUTES`, and answers with `serve(req,
/// [`Call`]).await` — `async fn serve(IncomingRequest, Call<'_, Endpoint>)
/// -> Result<Reply, Reply>`, an `Err` being a refusal — through
/// `wasm::send`.
///
/// `component!(ROUTES, serve, refused)` also passes the refusals made
/// before `serve` (identity, 404, 405) through `refused: fn(Reply) ->
/// Reply`: the web screens render them as an HTML page with the same
/// problem type.
///
/// Use it inside the component's `#[cfg(target_arch = "wasm32")]` module,
/// which needs `#[allow(unsafe_code)]`: `http_component` expands to the
/// export glue (`export_name`, unsafe ABI shims).
#[macro_export]
macro_rules! component {
    ($routes:expr, $serve:ident) => {
        $crate::component!($routes, $serve, ::core::convert::identity);
    };
    ($routes:expr, $serve:ident, $refused:path) => {
        #[::spin_sdk::http_component]
        async fn handle(
            req: ::spin_sdk::http::IncomingRequest,
            out: ::spin_sdk::http::ResponseOutparam,
        ) {
            let head = $crate::wasm::head(&req);
            let reply = match $crate::wasm::identify(&head)
                .and_then(|principal| Ok((principal, $crate::routing::route($routes, &head)?)))
            {
                Ok((principal, matched)) => {
                    let call = $crate::Call {
                        head: &head,
                        principal,
                        matched,
                    };
                    $serve(req, call).await.unwrap_or_else(|r| r)
                }
                Err(refused) => $refused(refused),
            };
            $crate::wasm::send(out, reply).await;
        }
    };
}
