//! # carehub-read
//!
//! The read operation: every party reads what the sharing matrix, consent
//! and registration allow. A Spin HTTP component on route `/api/read/...`:
//!
//! * `GET /persons/{insurer_number}/{insured_number}/documents?kind=&limit=&cursor=`
//!   — a person's readable documents, current version with content, newest
//!   first, paged by an opaque cursor.
//! * `GET /documents/{document_id}[?version=N]` — one document with its
//!   version history.
//!
//! Every decision goes through `carehub_domain::decide` via
//! [`policy::read_context`]. [`handler`] and [`policy`] are plain Rust,
//! tested natively against the real schema; only `component` (wasm32)
//! touches Spin.
#![deny(missing_docs)]

pub mod handler;
pub mod policy;

#[cfg(test)]
mod tests;

#[cfg(target_arch = "wasm32")]
// `http_component` expands to the component's export glue (`export_name`,
// unsafe ABI shims); this module holds nothing else.
#[allow(unsafe_code)]
mod component {
    use carehub_domain::Role;
    use carehub_guest::{Reply, problem, routing, wasm};
    use spin_sdk::http::{IncomingRequest, ResponseOutparam};

    use crate::handler::{self, Endpoint, ROUTES};
    use crate::policy::Reader;

    #[spin_sdk::http_component]
    async fn handle(req: IncomingRequest, out: ResponseOutparam) {
        let reply = serve(&req);
        wasm::send(out, reply).await;
    }

    fn serve(req: &IncomingRequest) -> Reply {
        let head = wasm::head(req);
        // Identity first: nothing else is looked at for an unidentified caller.
        let principal = match wasm::identify(&head) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let matched = match routing::route(ROUTES, &head) {
            Ok(m) => m,
            Err(reply) => return reply,
        };
        // The portal reads only for the person its token names.
        let token_person = if principal.role() == Role::Portal {
            match wasm::person(&head) {
                Ok(token) => Some(token.person),
                Err(reply) => return reply,
            }
        } else {
            None
        };
        let Some(reader) = Reader::new(principal, token_person) else {
            return problem::forbidden();
        };
        match matched.endpoint {
            Endpoint::List => {
                let person = match handler::person_from_path(matched.params[0], matched.params[1]) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                let params = match handler::list_params(&head) {
                    Ok(q) => q,
                    Err(reply) => return reply,
                };
                match wasm::open_store() {
                    Ok(store) => handler::list(&store, &reader, &person, &params),
                    Err(reply) => reply,
                }
            }
            Endpoint::One => {
                let id = match handler::document_id_from_path(matched.params[0]) {
                    Ok(id) => id,
                    Err(reply) => return reply,
                };
                let version = match handler::version_param(&head) {
                    Ok(v) => v,
                    Err(reply) => return reply,
                };
                match wasm::open_store() {
                    Ok(store) => handler::one(&store, &reader, &id, version),
                    Err(reply) => reply,
                }
            }
        }
    }
}
