//! # carehub-consent
//!
//! The consent operation: the person's one-time comprehensive consent
//! (包括同意, DESIGN §4). A Spin HTTP component on route `/api/consent/...`:
//!
//! * `POST /persons/{insurer_number}/{insured_number}/events` — record an
//!   event (`application/json`, ≤ 64 KiB; optional `Idempotency-Key`):
//!   consent given (by the municipality, linked to the certification
//!   application, or by a registered care-manager office or facility on its
//!   behalf), could not be obtained (with the reason), or withdrawn (by the
//!   person or a proxy, through the municipality, a registered office or the
//!   portal with a person token). History is append-only; the latest event
//!   decides, and a withdrawal takes effect at once.
//! * `GET /persons/{insurer_number}/{insured_number}` — the current state
//!   and the history.
//!
//! Policy is the domain's (`carehub_domain::consent`); [`handler`] and
//! [`request`] are plain Rust, tested natively against the real schema;
//! only `component` (wasm32) touches Spin.
#![deny(missing_docs)]

pub mod handler;
pub mod request;

#[cfg(test)]
mod tests;

#[cfg(all(target_arch = "wasm32", feature = "component"))]
// `component!` expands to the component's export glue (`export_name`,
// unsafe ABI shims); this module holds nothing else.
#[allow(unsafe_code)]
mod component {
    use carehub_guest::Call;
    use carehub_guest::http::JSON;
    use carehub_guest::{Reply, clock, idempotency, routing, wasm};
    use spin_sdk::http::IncomingRequest;

    use crate::handler::{self, BODY_LIMIT, Endpoint, ROUTES};

    carehub_guest::component!(ROUTES, serve);

    async fn serve(req: IncomingRequest, call: Call<'_, Endpoint>) -> Result<Reply, Reply> {
        let (head, principal, matched) = (call.head, call.principal, call.matched);
        let person = routing::person_from_path(matched.params[0], matched.params[1])?;
        // The portal acts only for the person its token names.
        let caller = wasm::caller(head, principal)?;
        Ok(match matched.endpoint {
            Endpoint::Record => {
                let key = idempotency::key(head)?;
                let body = wasm::read_body(req, head, JSON, BODY_LIMIT).await?;
                let store = wasm::open_store()?;
                let now = clock::now_rfc3339();
                handler::record(&store, &caller, &person, head, key.as_ref(), &body, &now)
            }
            Endpoint::Show => {
                let store = wasm::open_store()?;
                handler::show(&store, &caller, &person, &clock::now_rfc3339())
            }
        })
    }
}
