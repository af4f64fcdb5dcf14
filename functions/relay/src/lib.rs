//! # carehub-relay
//!
//! The submission relay (DESIGN §7): store-and-forward to the person's
//! municipality, with receipts. A Spin HTTP component on route
//! `/api/relay/...`:
//!
//! * `POST /submissions` (`Idempotency-Key` required) — a care-manager
//!   office sends a 居宅サービス計画作成依頼（変更）届出 (`care_plan_request`);
//!   a medical institution, or a care-service office (老健・介護医療院), sends
//!   the 主治医意見書 (`physician_opinion`) for an application awaiting it;
//! * `GET /submissions/{submission_id}` — state (accepted → delivered →
//!   acknowledged | rejected), answer and history, for the sender and the
//!   recipient;
//! * `GET /inbox?limit=&cursor=` — the municipality pulls its unanswered
//!   submissions, oldest first; pulling marks them delivered;
//! * `POST /submissions/{submission_id}/acknowledge` (`receipt_number`) and
//!   `…/reject` (`reason`) — the municipality's final answer.
//!
//! Rules are the domain's (`carehub_domain::relay`, `::progress`);
//! [`handler`] is plain Rust, tested natively against the real schema; only
//! `component` touches Spin.
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
        let store = wasm::open_store()?;
        let now = clock::now_rfc3339();
        Ok(match matched.endpoint {
            Endpoint::Show => handler::show(&store, &principal, matched.params[0]),
            Endpoint::Inbox => handler::inbox(&store, &principal, &head.query, &now),
            Endpoint::Submit | Endpoint::Acknowledge | Endpoint::Reject => {
                let key = idempotency::key(head)?;
                let body = wasm::read_body(req, head, JSON, BODY_LIMIT).await?;
                match matched.endpoint {
                    Endpoint::Submit => {
                        handler::submit(&store, &principal, head, key.as_ref(), &body, &now)
                    }
                    e => handler::answer(
                        &store,
                        &principal,
                        matched.params[0],
                        e == Endpoint::Acknowledge,
                        head,
                        key.as_ref(),
                        &body,
                        &now,
                    ),
                }
            }
        })
    }
}
