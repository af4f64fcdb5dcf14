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
            // SQLite statements run inline, but one that must wait for a
            // database's write lock waits asynchronously (see
            // `sqlite::HostConnection::execute`), so a writer queued behind
            // another never holds a worker thread.
            "fermyon:spin/sqlite": async | trappable,
            default: trappable,
        },
        with: {
            "fermyon:spin/sqlite.connection": super::sqlite::SqliteConnection,
            "fermyon:spin/postgres.connection": super::pg::PgConnection,
        },
    });
}
