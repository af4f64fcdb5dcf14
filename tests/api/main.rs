//! Integration tests: the real gateway binary, the real components, real mTLS.

mod helpers;

mod documents;
mod edge;
mod runtime;
