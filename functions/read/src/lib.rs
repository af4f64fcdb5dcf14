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
        let reply = serve(&req).unwrap_or_else(|r| r);
        wasm::send(out, reply).await;
    }

    fn serve(req: &IncomingRequest) -> Result<Reply, Reply> {
        let head = wasm::head(req);
        // Identity first: nothing else is looked at for an unidentified caller.
        let principal = wasm::identify(&head)?;
        let matched = routing::route(ROUTES, &head)?;
        // The portal reads only for the person its token names.
        let (token_person, actor, subject) = if principal.role() == Role::Portal {
            let token = wasm::person(&head)?;
            (Some(token.person), Some(token.actor), Some(token.subject))
        } else {
            (None, None, None)
        };
        let now = clock::now_rfc3339();
        Ok(match matched.endpoint {
            Endpoint::List => {
                let person = handler::person_from_path(matched.params[0], matched.params[1])?;
                let params = handler::list_params(&head)?;
                let store = wasm::open_store()?;
                match Reader::new(principal.clone(), token_person) {
                    Some(reader) => handler::list(
                        &store,
                        &reader.with_actor(actor).with_subject(subject),
                        &person,
                        &params,
                        &now,
                    ),
                    None => handler::refuse_unreadable(
                        &store,
                        &principal,
                        Target::List(&person, params.kind),
                        &now,
                    ),
                }
            }
            Endpoint::One => {
                let id = handler::document_id_from_path(matched.params[0])?;
                let version = handler::version_param(&head)?;
                let store = wasm::open_store()?;
                match Reader::new(principal.clone(), token_person) {
                    Some(reader) => handler::one(
                        &store,
                        &reader.with_actor(actor).with_subject(subject),
                        &id,
                        version,
                        &now,
                    ),
                    None => {
                        handler::refuse_unreadable(&store, &principal, Target::Document(&id), &now)
                    }
                }
            }
            Endpoint::Accesses => {
                let person = handler::person_from_path(matched.params[0], matched.params[1])?;
                let page = routing::page(&head.query)?;
                let store = wasm::open_store()?;
                handler::accesses(&store, &principal, token_person.as_ref(), &person, page)
            }
        })
    }
}
