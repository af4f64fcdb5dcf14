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

/// The Spin entry point every component shares: `component!(serve)`
/// declares the `#[spin_sdk::http_component]` handler that answers with
/// `serve(req).await` (`async fn serve(IncomingRequest) -> Result<Reply,
/// Reply>`, an `Err` being a refusal) through `wasm::send`.
///
/// Use it inside the component's `#[cfg(target_arch = "wasm32")]` module,
/// which needs `#[allow(unsafe_code)]`: `http_component` expands to the
/// export glue (`export_name`, unsafe ABI shims).
#[macro_export]
macro_rules! component {
    ($serve:ident) => {
        #[::spin_sdk::http_component]
        async fn handle(
            req: ::spin_sdk::http::IncomingRequest,
            out: ::spin_sdk::http::ResponseOutparam,
        ) {
            let reply = $serve(req).await.unwrap_or_else(|r| r);
            $crate::wasm::send(out, reply).await;
        }
    };
}
