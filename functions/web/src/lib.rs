//! # carehub-web
//!
//! The screens people use — the office web service, the municipality's
//! screens and the person's page — served by the hub as HTML on route
//! `/web/...` (issue 14).
//!
//! * [`app`] — the routes and the screens: for offices (care-manager,
//!   care-service, medical) the persons they are registered for, register
//!   and end a registration, the person's page (the documents `decide` lets
//!   the office read, each rendered as its form by [`forms`]; for care
//!   managers the certification progress with its timeline, the
//!   居宅サービス計画作成依頼届出 form and the state and receipt of what
//!   they sent); for the municipality its open applications by stage, its
//!   inbox with acknowledge / reject and a person's consent history; for
//!   the person (portal) their documents, consent with a withdraw button
//!   behind a confirmation step, responsible offices, progress and the
//!   access log with its verification status;
//! * [`forms`] — documents as forms, never raw JSON; [`words`] — the
//!   Japanese words for the API's codes;
//! * [`csrf`] — the token every form POST carries (HMAC-SHA256 over the
//!   principal and an expiry, keyed with the secret Spin variable
//!   `web_csrf_key`) and the `Origin` / `Sec-Fetch-Site` check;
//! * [`page`] — the page shell (Japanese, no inline script or style), the
//!   headers every answer carries (`Content-Security-Policy` without
//!   `unsafe-inline`, `frame-ancestors 'none'`, `X-Frame-Options: DENY`,
//!   `Cache-Control: no-store`) and the problem page: an error renders as
//!   HTML with the API's status and stable problem type, never a trace;
//! * [`logstatus`] — the access log's verification status in plain words,
//!   the one function to repoint at the signed checkpoints of issue 12.
//!
//! Design (decided here, where the issue is silent):
//!
//! * The views call the operations' own handlers as a library
//!   (`carehub-read`, `-progress`, `-relay`, `-office-register`,
//!   `-consent`, built without their `component` feature so that only this
//!   crate exports `wasi:http/incoming-handler`), then render their JSON
//!   answers. So every rule, every access-log entry and every idempotent
//!   write is exactly the API's; a handler's problem becomes the problem
//!   page. Because cargo unifies features per invocation, carehub-web is
//!   built in a cargo invocation of its own.
//! * The person's token: the portal page posts it once in a form (with the
//!   CSRF token); the hub answers with a cookie `__Host-carehub-person`
//!   (`Secure; HttpOnly; SameSite=Strict; Path=/`, no `Max-Age`: the
//!   token's own `exp` bounds it, checked at every request). The component
//!   verifies the cookie's token itself with the same
//!   `carehub_guest::person_token::Verifier` the edge uses, since the edge
//!   reads only `Authorization`.
#![deny(missing_docs)]

pub mod app;
pub mod csrf;
pub mod forms;
pub mod logstatus;
pub mod page;
pub mod words;

#[cfg(target_arch = "wasm32")]
// `component!` expands to the component's export glue (`export_name`,
// unsafe ABI shims); this module holds nothing else.
#[allow(unsafe_code)]
mod component {
    use carehub_guest::person_token::{DEFAULT_ISSUER, Verifier};
    use carehub_guest::{Call, Reply, clock, problem, wasm};
    use spin_sdk::http::IncomingRequest;

    use crate::app::{self, Endpoint, FORM, FORM_LIMIT, Keys, ROUTES, Request};
    use crate::page;

    carehub_guest::component!(ROUTES, serve, page::refused);

    fn keys() -> Result<Keys, Reply> {
        let csrf = match wasm::variable("web_csrf_key") {
            Ok(Some(k)) if k.len() >= 32 => k.into_bytes(),
            Ok(_) => {
                return Err(problem::internal(
                    "web",
                    &"web_csrf_key is not set (at least 32 characters)",
                ));
            }
            Err(e) => return Err(problem::internal("web", &e)),
        };
        let pem = match wasm::variable("person_token_public_key") {
            Ok(Some(k)) if !k.trim().is_empty() => k,
            Ok(_) => {
                return Err(problem::internal(
                    "web",
                    &"person_token_public_key is not set",
                ));
            }
            Err(e) => return Err(problem::internal("web", &e)),
        };
        let issuer = match wasm::variable("person_token_issuer") {
            Ok(Some(i)) if !i.is_empty() => i,
            Ok(_) => DEFAULT_ISSUER.to_owned(),
            Err(e) => return Err(problem::internal("web", &e)),
        };
        let person = Verifier::from_pem(&pem, &issuer).map_err(|e| problem::internal("web", &e))?;
        Ok(Keys { csrf, person })
    }

    async fn serve(req: IncomingRequest, call: Call<'_, Endpoint>) -> Result<Reply, Reply> {
        let (head, principal, matched) = (call.head, call.principal, call.matched);
        if let Some(asset) = app::asset(matched.endpoint) {
            return Ok(asset);
        }
        let chrome = app::chrome(&principal);
        let result = async {
            let form = if head.method.eq_ignore_ascii_case("POST") {
                app::parse_form(&wasm::read_body(req, head, FORM, FORM_LIMIT).await?)
            } else {
                Vec::new()
            };
            let keys = keys()?;
            let store = wasm::open_logging_store(head)?;
            let request = Request {
                head,
                principal,
                endpoint: matched.endpoint,
                params: matched.params,
                form,
                now: clock::now_rfc3339(),
                unix: clock::unix_now(),
            };
            Ok::<Reply, Reply>(app::serve(&store, &keys, &request))
        }
        .await;
        Ok(result.unwrap_or_else(|r| page::from_reply(Some(&chrome), r)))
    }
}
