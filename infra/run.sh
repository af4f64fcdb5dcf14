#!/usr/bin/env bash
# Runs the hub locally on the embedded default (SQLite), behind the mTLS edge.
# Builds the gateway and the components first; development certificates are
# generated into .carehub/pki on the first run. Extra arguments go to `carehub up`.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
exec cargo run --release --locked -p carehub -- up --build "$@"
