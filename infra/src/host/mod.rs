//! The Spin host interfaces the components import, each its own piece with
//! the same three steps as Spin's factors: add to the linker, check the app
//! once at start, prepare per-instance state.

pub mod outbound;
pub mod pg;
pub mod sqlite;
pub mod variables;

/// Bindings generated from `infra/wit/spin.wit` (Spin's `fermyon:spin@2.0.0`).
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin/host",
        imports: {
            // PostgreSQL calls wait on the network: async, so a guest waiting
            // for a lock or a pooled connection never holds a worker thread.
            "fermyon:spin/postgres": async | trappable,
            default: trappable,
        },
        with: {
            "fermyon:spin/sqlite.connection": super::sqlite::SqliteConnection,
            "fermyon:spin/postgres.connection": super::pg::PgConnection,
        },
    });
}
