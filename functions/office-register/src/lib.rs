//! # carehub-office-register
//!
//! The office-register operation: an office registers as a person's
//! responsible office (担当事業所登録, DESIGN §5) after verifying their
//! identity. A Spin HTTP component on route `/api/office-register/...`:
//!
//! * `POST /registrations` — the calling office (care-manager, care-service,
//!   medical) registers for a person: verification method (`my_number_card`,
//!   or `other` with a description) and reference, start, optional end.
//!   `application/json`, ≤ 16 KiB; optional `Idempotency-Key`.
//! * `POST /registrations/{registration_id}/deregister` — the office ends it
//!   (`{"reason": …}`).
//! * `GET /registrations` — the persons the calling office is registered for.
//! * `GET /registrations/{registration_id}` — one of the office's own.
//! * `GET /persons/{insurer_number}/{insured_number}/registrations` — the
//!   person's responsible offices, for the person (portal) and their
//!   municipality.
//!
//! Policy is the domain's (`carehub_domain::registration`); [`handler`] is
//! plain Rust, tested natively against the real schema; only `component`
//! (wasm32) touches Spin.
#![deny(missing_docs)]

pub mod handler;

#[cfg(test)]
mod tests;

#[cfg(target_arch = "wasm32")]
// `http_component` expands to the component's export glue (`export_name`,
// unsafe ABI shims); this module holds nothing else.
#[allow(unsafe_code)]
mod component {
    use carehub_domain::Role;
    use carehub_guest::http::JSON;
    use carehub_guest::{Reply, clock, idempotency, routing, wasm};
    use spin_sdk::http::{IncomingRequest, ResponseOutparam};

    use crate::handler::{self, BODY_LIMIT, Endpoint, ROUTES};

    #[spin_sdk::http_component]
    async fn handle(req: IncomingRequest, out: ResponseOutparam) {
        let reply = serve(req).await;
        wasm::send(out, reply).await;
    }

    async fn serve(req: IncomingRequest) -> Reply {
        let head = wasm::head(&req);
        // Identity first: nothing else is looked at for an unidentified caller.
        let principal = match wasm::identify(&head) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let matched = match routing::route(ROUTES, &head) {
            Ok(m) => m,
            Err(reply) => return reply,
        };
        let now = clock::now_rfc3339();
        match matched.endpoint {
            Endpoint::Register | Endpoint::Deregister => {
                let id = if matched.endpoint == Endpoint::Deregister {
                    match handler::registration_id_from_path(matched.params[0]) {
                        Ok(id) => Some(id),
                        Err(reply) => return reply,
                    }
                } else {
                    None
                };
                let key = match idempotency::key(&head) {
                    Ok(k) => k,
                    Err(reply) => return reply,
                };
                let body = match wasm::read_body(req, &head, JSON, BODY_LIMIT).await {
                    Ok(b) => b,
                    Err(reply) => return reply,
                };
                let store = match wasm::open_store() {
                    Ok(s) => s,
                    Err(reply) => return reply,
                };
                match id {
                    Some(id) => handler::deregister(
                        &store,
                        &principal,
                        &id,
                        &head,
                        key.as_ref(),
                        &body,
                        &now,
                    ),
                    None => handler::register(&store, &principal, &head, key.as_ref(), &body, &now),
                }
            }
            Endpoint::One => {
                let id = match handler::registration_id_from_path(matched.params[0]) {
                    Ok(id) => id,
                    Err(reply) => return reply,
                };
                match wasm::open_store() {
                    Ok(store) => handler::one(&store, &principal, &id, &now),
                    Err(reply) => reply,
                }
            }
            Endpoint::ListOwn => {
                let page = match routing::page(&head.query) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                match wasm::open_store() {
                    Ok(store) => handler::office_registrations(&store, &principal, page, &now),
                    Err(reply) => reply,
                }
            }
            Endpoint::ListPerson => {
                let person = match routing::person_from_path(matched.params[0], matched.params[1]) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                let page = match routing::page(&head.query) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                // The portal lists only for the person its token names.
                let token_person = if principal.role() == Role::Portal {
                    match wasm::person(&head) {
                        Ok(t) => Some(t.person),
                        Err(reply) => return reply,
                    }
                } else {
                    None
                };
                match wasm::open_store() {
                    Ok(store) => handler::person_registrations(
                        &store,
                        &principal,
                        token_person.as_ref(),
                        &person,
                        page,
                        &now,
                    ),
                    Err(reply) => reply,
                }
            }
        }
    }
}
