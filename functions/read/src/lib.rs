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
//! * `GET /persons/{insurer_number}/{insured_number}/accesses?limit=&cursor=`
//!   — who read (or tried to read) what about the person, when: for the
//!   person (portal) and their municipality.
//!
//! Every decision goes through `carehub_domain::decide` via
//! [`policy::read_context`], fed with the person's consent and the reader's
//! registration as recorded now; every read and every refused read is
//! appended to the hash-chained access log. [`handler`] and [`policy`] are
//! plain Rust, tested natively against the real schema; only `component`
//! (wasm32) touches Spin.
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
    use carehub_guest::{Reply, clock, routing, wasm};
    use spin_sdk::http::{IncomingRequest, ResponseOutparam};

    use crate::handler::{self, Endpoint, ROUTES, Target};
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
        let token = if principal.role() == Role::Portal {
            match wasm::person(&head) {
                Ok(token) => Some((token.person, token.actor)),
                Err(reply) => return reply,
            }
        } else {
            None
        };
        let now = clock::now_rfc3339();
        let (token_person, actor) = match token {
            Some((p, a)) => (Some(p), Some(a)),
            None => (None, None),
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
                let store = match wasm::open_store() {
                    Ok(s) => s,
                    Err(reply) => return reply,
                };
                match Reader::new(principal.clone(), token_person) {
                    Some(reader) => {
                        handler::list(&store, &reader.with_actor(actor), &person, &params, &now)
                    }
                    None => handler::refuse_unreadable(
                        &store,
                        &principal,
                        Target::List(&person, params.kind),
                        &now,
                    ),
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
                let store = match wasm::open_store() {
                    Ok(s) => s,
                    Err(reply) => return reply,
                };
                match Reader::new(principal.clone(), token_person) {
                    Some(reader) => {
                        handler::one(&store, &reader.with_actor(actor), &id, version, &now)
                    }
                    None => {
                        handler::refuse_unreadable(&store, &principal, Target::Document(&id), &now)
                    }
                }
            }
            Endpoint::Accesses => {
                let person = match handler::person_from_path(matched.params[0], matched.params[1]) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                let page = match routing::page(&head.query) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                match wasm::open_store() {
                    Ok(store) => {
                        handler::accesses(&store, &principal, token_person.as_ref(), &person, page)
                    }
                    Err(reply) => reply,
                }
            }
        }
    }
}
