#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUST_BACKTRACE=0
step() { printf '\n==> %s\n' "$*"; }

step "toolchain: wasm32-wasip2 target"
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

WASM_CRATES=(-p carehub-guest -p carehub-ingest -p carehub-read -p carehub-consent -p carehub-office-register -p carehub-progress -p carehub-relay -p carehub-probe)

step "format"
cargo fmt --all --check

step "clippy (host)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "clippy (wasm32-wasip2)"
cargo clippy --locked --target wasm32-wasip2 "${WASM_CRATES[@]}" -- -D warnings

step "build the components"
cargo build --locked --target wasm32-wasip2 --release "${WASM_CRATES[@]:2}"

step "tests (unit and integration)"
cargo test --locked --workspace --release
