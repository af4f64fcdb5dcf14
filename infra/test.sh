#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUST_BACKTRACE=0
step() { printf '\n==> %s\n' "$*"; }

step "toolchain: wasm32-wasip2 target"
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

WASM_CRATES=(-p carehub-guest -p carehub-ingest -p carehub-read -p carehub-consent -p carehub-office-register -p carehub-progress -p carehub-relay -p carehub-webhooks -p carehub-probe)

step "format"
cargo fmt --all --check

step "clippy (host)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "clippy (wasm32-wasip2)"
cargo clippy --locked --target wasm32-wasip2 "${WASM_CRATES[@]}" -- -D warnings

step "build the components"
cargo build --locked --target wasm32-wasip2 --release "${WASM_CRATES[@]:2}"

step "webhooks: the independent Standard Webhooks verifier (PyPI standardwebhooks) for tests/api/webhooks.rs"
if [ ! -x target/webhooks-venv/bin/python ] || ! target/webhooks-venv/bin/python -c 'import standardwebhooks' 2>/dev/null; then
    python3 -m venv target/webhooks-venv
    target/webhooks-venv/bin/python -m pip install --quiet standardwebhooks
fi

step "tests (unit and integration)"
cargo test --locked --workspace --release
