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

step "docs: cargo doc without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --workspace

step "build the components"
cargo build --locked --target wasm32-wasip2 --release "${WASM_CRATES[@]:2}"

step "independent checkers (PyPI): standardwebhooks for tests/api/webhooks.rs, prometheus_client's OpenMetrics parser for tests/api/ops.rs"
if [ ! -x target/webhooks-venv/bin/python ] || ! target/webhooks-venv/bin/python -c 'import standardwebhooks, prometheus_client' 2>/dev/null; then
    [ -x target/webhooks-venv/bin/python ] || python3 -m venv target/webhooks-venv
    target/webhooks-venv/bin/python -m pip install --quiet standardwebhooks prometheus_client
fi

step "tests (unit and integration) — database: SQLite"
env -u CAREHUB_TEST_DATABASE_URL cargo test --locked --workspace --release

# The integration suite again on PostgreSQL (only the api target: the rest
# does not touch a database server). CAREHUB_TEST_DATABASE_URL names a
# server to use (postgres://user@host:port/postgres; each test creates and
# drops its own database there; the gateway accepts only sslmode=verify-full,
# e.g. ...?sslmode=verify-full&sslrootcert=ca.pem); without it, a throwaway
# TLS-only server is started here and stopped on exit.
if [ -z "${CAREHUB_TEST_DATABASE_URL:-}" ]; then
    step "PostgreSQL: starting a throwaway server"
    PG_BIN=$(dirname "$(command -v initdb || echo /usr/local/bin/initdb)")
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/carehub-pg.XXXXXX")
    PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # initdb refuses to run as root: run the server as the `postgres` user then.
    as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
    if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DIR"; fi
    stop_pg() {
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    }
    trap stop_pg EXIT
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$PG_DIR/initdb.log"
    # TLS only, verified: a test CA and a server certificate for 127.0.0.1
    # (carehub dev server-cert), `hostssl` the only way in (`hostnossl`
    # rejected), and the suite connects with sslmode=verify-full.
    cargo build --locked --release -p carehub --bin carehub
    target/release/carehub dev server-cert postgres --dns 127.0.0.1 --dns localhost --dir "$PG_DIR/tls" >/dev/null
    if [ "$(id -u)" = 0 ]; then chown -R postgres "$PG_DIR/tls"; chmod 644 "$PG_DIR/tls/ca.pem"; fi
    cat >"$PG_DIR/pg_hba.conf" <<'HBA'
local     all  all                trust
hostssl   all  all  127.0.0.1/32  trust
hostnossl all  all  0.0.0.0/0     reject
HBA
    if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DIR/pg_hba.conf"; fi
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 -c ssl=on -c ssl_cert_file=$PG_DIR/tls/postgres.pem -c ssl_key_file=$PG_DIR/tls/postgres.key -c hba_file=$PG_DIR/pg_hba.conf" start >/dev/null
    export CAREHUB_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=verify-full&sslrootcert=$PG_DIR/tls/ca.pem"
    echo "throwaway server: $("$PG_BIN/postgres" --version), 127.0.0.1:$PG_PORT, TLS only (stopped on exit)"
fi

step "integration tests again — database: PostgreSQL (with the two-gateway concurrency test)"
cargo test --locked --release -p carehub --test api -- --include-ignored
