//! # carehub-web (in progress: issue 14)
//!
//! The screens people use — the office web service, the municipality's
//! screens and the person's page — served by the hub as HTML. This commit
//! holds the browser-safety pieces the screens stand on; the routes, the
//! views and the Spin entry point are not written yet, and the crate is not
//! in `spin.toml`.
//!
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

pub mod csrf;
pub mod logstatus;
pub mod page;
