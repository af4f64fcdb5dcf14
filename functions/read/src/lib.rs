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
//!   person (portal) and their municipality; `…/accesses/{seq}/proof` an
//!   entry's inclusion proof in a signed checkpoint.
//! * `GET /documents/{document_id}/standard-csv[?version=N]` — a care plan
//!   as the ministry's standard CSV files (MS932, the spec's file names) in
//!   a zip; decided, refused and logged exactly as reading the document.
//! * `POST /checkpoints` (the scheduler), `GET /checkpoints/latest`,
//!   `GET /checkpoints/{number}[/consistency?from=m]` — the access log's
//!   signed tree heads and their consistency ([`checkpoints`]).
//!
//! Every decision is the domain's (`carehub_domain::policy::matrix::decide`
//! via `policy::read::read_context`), fed with the person's consent and the
//! reader's registration as recorded now; every read and every refused read
//! is appended to the hash-chained access log. [`handler`] is plain Rust,
//! tested natively against the real schema; only `component` (wasm32)
//! touches Spin.
#![deny(missing_docs)]

pub mod checkpoints;
pub mod handler;

#[cfg(test)]
mod tests;

#[cfg(all(target_arch = "wasm32", feature = "component"))]
// `component!` expands to the component's export glue (`export_name`,
// unsafe ABI shims); this module holds nothing else.
#[allow(unsafe_code)]
mod component {
    use carehub_domain::policy::read::Reader;
    use carehub_guest::Call;
    use carehub_guest::{Reply, clock, routing, wasm};
    use spin_sdk::http::IncomingRequest;

    use carehub_domain::CheckpointSigner;
    use carehub_guest::problem::internal;

    use crate::checkpoints;
    use crate::handler::{self, Endpoint, ROUTES, Target};

    carehub_guest::component!(ROUTES, serve);

    /// The hub's checkpoint key, from the secret variable `log_signing_key`.
    fn signer() -> Result<CheckpointSigner, Reply> {
        match wasm::variable("log_signing_key") {
            Ok(Some(pem)) if !pem.trim().is_empty() => CheckpointSigner::from_pem(&pem)
                .map_err(|e| internal("reading log_signing_key", &e)),
            Ok(_) => Err(internal("checkpoints", &"log_signing_key is not set")),
            Err(e) => Err(internal("checkpoints", &e)),
        }
    }

    async fn serve(_req: IncomingRequest, call: Call<'_, Endpoint>) -> Result<Reply, Reply> {
        let (head, principal, matched) = (call.head, call.principal, call.matched);
        if matched.endpoint.is_checkpoint() {
            let signer = signer()?;
            let key = signer.verifier();
            let store = wasm::open_logging_store(head)?;
            return Ok(match matched.endpoint {
                Endpoint::MakeCheckpoint => {
                    checkpoints::run(&store, &principal, &signer, &clock::now_rfc3339())
                }
                Endpoint::LatestCheckpoint => checkpoints::get(&store, &principal, None, &key),
                Endpoint::Checkpoint => {
                    checkpoints::get(&store, &principal, Some(matched.params[0]), &key)
                }
                _ => checkpoints::consistency(
                    &store,
                    &principal,
                    matched.params[0],
                    &head.query,
                    &key,
                ),
            });
        }
        // The portal reads only for the person its token names.
        let caller = wasm::caller(head, principal)?;
        let now = clock::now_rfc3339();
        Ok(match matched.endpoint {
            Endpoint::List => {
                let person = handler::person_from_path(matched.params[0], matched.params[1])?;
                let params = handler::list_params(head)?;
                let store = wasm::open_logging_store(head)?;
                match Reader::of(&caller) {
                    Some(reader) => handler::list(&store, &reader, &person, &params, &now),
                    None => handler::refuse_unreadable(
                        &store,
                        &caller.principal,
                        Target::List(&person, params.kind),
                        &now,
                    ),
                }
            }
            Endpoint::One => {
                let id = handler::document_id_from_path(matched.params[0])?;
                let version = handler::version_param(head)?;
                let store = wasm::open_logging_store(head)?;
                match Reader::of(&caller) {
                    Some(reader) => handler::one(&store, &reader, &id, version, &now),
                    None => handler::refuse_unreadable(
                        &store,
                        &caller.principal,
                        Target::Document(&id),
                        &now,
                    ),
                }
            }
            Endpoint::ExportCsv => {
                let id = handler::document_id_from_path(matched.params[0])?;
                let version = handler::version_param(head)?;
                let store = wasm::open_logging_store(head)?;
                match Reader::of(&caller) {
                    Some(reader) => handler::export_csv(&store, &reader, &id, version, &now),
                    None => handler::refuse_unreadable(
                        &store,
                        &caller.principal,
                        Target::Document(&id),
                        &now,
                    ),
                }
            }
            Endpoint::Accesses => {
                let person = handler::person_from_path(matched.params[0], matched.params[1])?;
                let page = routing::page(&head.query)?;
                let store = wasm::open_logging_store(head)?;
                handler::accesses(
                    &store,
                    &caller.principal,
                    caller.token_person(),
                    &person,
                    page,
                )
            }
            Endpoint::AccessProof => {
                let person = handler::person_from_path(matched.params[0], matched.params[1])?;
                let key = signer()?.verifier();
                let store = wasm::open_logging_store(head)?;
                checkpoints::inclusion(
                    &store,
                    &caller.principal,
                    caller.token_person(),
                    &person,
                    matched.params[2],
                    &head.query,
                    &key,
                )
            }
            Endpoint::MakeCheckpoint
            | Endpoint::LatestCheckpoint
            | Endpoint::Checkpoint
            | Endpoint::Consistency => unreachable!("answered above"),
        })
    }
}
