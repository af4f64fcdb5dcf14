//! Integration tests: the real gateway binary, the real components, real mTLS.

mod care;
mod helpers;

mod concurrency;
mod consent;
mod csv;
mod database_tls;
mod documents;
mod edge;
mod progress;
mod proxy;
mod relay;
mod runtime;
mod scenario;
mod web;
mod webhooks;
