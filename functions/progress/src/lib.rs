//! # carehub-progress
//!
//! Certification progress (要介護認定の進捗, DESIGN §6). A Spin HTTP
//! component on route `/api/progress/...`:
//!
//! * `POST /applications` — the person's municipality records a new,
//!   renewal or change-of-category application (stage `received`);
//! * `POST /applications/{application_id}/steps` — the municipality moves
//!   it on (`{"step": "survey_scheduled", "survey_date": …}`); a step the
//!   machine does not allow answers 409 `invalid-transition` with
//!   `allowed_next`; a `decided` step also stores the next version of the
//!   person's insurance certificate in the same transaction;
//! * `GET /applications/{application_id}` — the current stage and the
//!   timeline, for the municipality, the person (portal) and a care-manager
//!   office registered for the person while consent is in force;
//! * `GET /persons/{insurer_number}/{insured_number}/applications` — the
//!   person's applications, for the same readers;
//! * `GET /applications?stage=&limit=&cursor=` — the municipality's open
//!   applications, newest first, optionally at one stage.
//!
//! Every read and every refused read is appended to the access log that
//! `carehub-read` keeps (action `read_progress` / `list_progress`, with the
//! application ids), so the person sees it in their access list.
//!
//! Writes take an optional `Idempotency-Key`. The machine and the rules are
//! the domain's (`carehub_domain::progress`); [`handler`] is plain Rust,
//! tested natively against the real schema; only `component` touches Spin.
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
    use carehub_guest::{Reply, clock, idempotency, wasm};
    use spin_sdk::http::IncomingRequest;

    use crate::handler::{self, BODY_LIMIT, Endpoint, ROUTES};

    carehub_guest::component!(ROUTES, serve);

    async fn serve(req: IncomingRequest, call: Call<'_, Endpoint>) -> Result<Reply, Reply> {
        let (head, principal, matched) = (call.head, call.principal, call.matched);
        // The portal reads only for the person its token names.
        let caller = wasm::caller(head, principal)?;
        let store = wasm::open_logging_store(head)?;
        let now = clock::now_rfc3339();
        Ok(match matched.endpoint {
            Endpoint::Create | Endpoint::Step => {
                let key = idempotency::key(head)?;
                let body = wasm::read_body(req, head, JSON, BODY_LIMIT).await?;
                if matched.endpoint == Endpoint::Create {
                    handler::create(&store, &caller, head, key.as_ref(), &body, &now)
                } else {
                    handler::step(
                        &store,
                        &caller,
                        matched.params[0],
                        head,
                        key.as_ref(),
                        &body,
                        &now,
                    )
                }
            }
            Endpoint::Show => handler::show(&store, &caller, matched.params[0], &now),
            Endpoint::PersonList => handler::person_list(
                &store,
                &caller,
                matched.params[0],
                matched.params[1],
                &head.query,
                &now,
            ),
            Endpoint::OpenList => handler::open_list(&store, &caller, &head.query, &now),
        })
    }
}
