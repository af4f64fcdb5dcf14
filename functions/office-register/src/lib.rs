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
        let now = clock::now_rfc3339();
        Ok(match matched.endpoint {
            Endpoint::Register | Endpoint::Deregister => {
                let id = if matched.endpoint == Endpoint::Deregister {
                    Some(handler::registration_id_from_path(matched.params[0])?)
                } else {
                    None
                };
                let key = idempotency::key(head)?;
                let body = wasm::read_body(req, head, JSON, BODY_LIMIT).await?;
                let store = wasm::open_store()?;
                match id {
                    Some(id) => handler::deregister(
                        &store,
                        &principal,
                        &id,
                        head,
                        key.as_ref(),
                        &body,
                        &now,
                    ),
                    None => handler::register(&store, &principal, head, key.as_ref(), &body, &now),
                }
            }
            Endpoint::One => {
                let id = handler::registration_id_from_path(matched.params[0])?;
                handler::one(&wasm::open_store()?, &principal, &id, &now)
            }
            Endpoint::ListOwn => {
                let page = routing::page(&head.query)?;
                handler::office_registrations(&wasm::open_store()?, &principal, page, &now)
            }
            Endpoint::ListPerson => {
                let person = routing::person_from_path(matched.params[0], matched.params[1])?;
                let page = routing::page(&head.query)?;
                // The portal lists only for the person its token names.
                let caller = wasm::caller(head, principal)?;
                handler::person_registrations(
                    &wasm::open_store()?,
                    &caller.principal,
                    caller.token_person(),
                    &person,
                    page,
                    &now,
                )
            }
        })
    }
}
