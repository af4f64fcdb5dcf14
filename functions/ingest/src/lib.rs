//! # carehub-ingest
//!
//! The ingest operation: municipalities and offices store documents,
//! idempotently and versioned. A Spin HTTP component on route
//! `/api/ingest/...`:
//!
//! * `POST /documents` — one document (`application/json`, ≤ 1 MiB);
//!   optional `Idempotency-Key`.
//! * `POST /documents:bulk` — up to 100,000 documents
//!   (`application/x-ndjson`, ≤ 64 MiB), one result line per input line.
//! * `POST /care-plans:csv` — one care plan as the ministry's standard CSV
//!   files in a zip (`application/zip`) or one file part each
//!   (`multipart/form-data`), ≤ 8 MiB, see [`csv`].
//!
//! [`envelope`] and [`handler`] are plain Rust, tested natively against the
//! real schema; only `component` (wasm32) touches Spin.
#![deny(missing_docs)]

pub mod bulk;
pub mod csv;
pub mod envelope;
pub mod handler;

#[cfg(test)]
mod tests;

#[cfg(target_arch = "wasm32")]
// `component!` expands to the component's export glue (`export_name`,
// unsafe ABI shims); this module holds nothing else.
#[allow(unsafe_code)]
mod component {
    use carehub_guest::Call;
    use carehub_guest::http::{JSON, NDJSON};
    use carehub_guest::{Reply, clock, wasm};
    use spin_sdk::http::IncomingRequest;

    use crate::bulk::{Bulk, LineSplitter};
    use crate::csv::{self as care_plan_csv, CSV_LIMIT, MULTIPART, Packing, ZIP};
    use crate::handler::{self, BULK_LIMIT, Endpoint, ROUTES, SINGLE_LIMIT};

    carehub_guest::component!(ROUTES, serve);

    async fn serve(req: IncomingRequest, call: Call<'_, Endpoint>) -> Result<Reply, Reply> {
        let (head, principal, matched) = (call.head, call.principal, call.matched);
        let endpoint = matched.endpoint;
        Ok(match endpoint {
            Endpoint::Single => {
                let key = handler::idempotency_key(head)?;
                let body = wasm::read_body(req, head, JSON, SINGLE_LIMIT).await?;
                let store = wasm::open_store()?;
                let now = clock::now_rfc3339();
                handler::single(&store, &principal, head, key.as_ref(), &body, &now)
            }
            Endpoint::Bulk => {
                handler::refuse_request_key(head)?;
                let store = wasm::open_store()?;
                let now = clock::now_rfc3339();
                // Lines are checked and written as the body streams in; an
                // early return drops `run`, which rolls the transaction back.
                let mut run = Bulk::new(&store, &principal, &now);
                let mut lines = LineSplitter::new();
                let streamed = wasm::stream_body(req, head, NDJSON, BULK_LIMIT, |chunk| {
                    lines.feed(chunk, |n, line| run.push(n, line))
                })
                .await;
                streamed.and_then(|()| lines.finish(|n, line| run.push(n, line)))?;
                run.finish()
            }
            Endpoint::CarePlansCsv => {
                let key = handler::idempotency_key(head)?;
                let packing = care_plan_csv::packing(head.header("content-type"))
                    .map_err(|p| Reply::problem(&p))?;
                let files = match packing {
                    Packing::Zip => {
                        let body = wasm::read_body(req, head, ZIP, CSV_LIMIT).await?;
                        care_plan_csv::unzip(&body)
                    }
                    Packing::Multipart(boundary) => {
                        let body = wasm::read_body(req, head, MULTIPART, CSV_LIMIT).await?;
                        care_plan_csv::multipart_files(body, &boundary).await
                    }
                };
                let store = wasm::open_store()?;
                let now = clock::now_rfc3339();
                care_plan_csv::import(&store, &principal, head, key.as_ref(), files, &now)
            }
        })
    }
}
