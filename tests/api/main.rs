//! Integration tests: the real gateway binary, the real components, real mTLS.

mod helpers;

mod edge;
mod runtime;
