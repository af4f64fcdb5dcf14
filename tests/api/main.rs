//! Integration tests: the real gateway binary, the real components, real mTLS.

mod care;
mod helpers;

mod accesslog;
mod backup;
mod concurrency;
mod consent;
mod csv;
mod database_tls;
mod documents;
mod edge;
mod import;
mod nfc;
mod ops;
mod progress;
mod proxy;
mod relay;
mod retention;
mod revocation;
mod runtime;
mod scenario;
mod webhooks;
