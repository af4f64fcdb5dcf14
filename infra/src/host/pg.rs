//! `fermyon:spin/postgres@2.0.0` over sqlx: what spin-sdk 5.2's `pg` module
//! imports.
//!
//! * **Who may connect.** As in Spin, the database must be allowed by the
//!   component's `allowed_outbound_hosts` as `postgres://host:port`
//!   (templated in `spin.toml` from a variable); any other address is
//!   refused before a connection is made.
//! * **Pools.** One sqlx pool per connection address, for the whole
//!   process, created at the first `open` of that address. A guest's
//!   `connection` resource pins one pooled server connection for its
//!   lifetime, so `BEGIN` … `COMMIT` sent as separate statements run on the
//!   same session.
//! * **A connection handed back mid-transaction** (a guest that trapped, ran
//!   past its deadline, or forgot) is rolled back before it returns to the
//!   pool; if that fails it is closed instead. Nothing half-done survives an
//!   instance, and no advisory lock stays held.
//! * **Types.** Parameters bind as their own PostgreSQL types (`int64` →
//!   `int8`, `str` → `text`, …); `db-null` binds as an untyped NULL, which
//!   PostgreSQL types from the statement. Rows are decoded by each column's
//!   type (`int8` → `int64`, `text` → `str`, `bytea` → `binary`, …); a
//!   column of another type reads as `unsupported`. Columns are described
//!   from the first row, as Spin does: a statement that returns no rows
//!   returns no columns.
//!
//! * **TLS.** Only `sslmode=verify-full` against a configured CA bundle,
//!   for the host's connections and the migrations alike ([`tls`]).
//!
//! The calls are async: a guest waiting for a pooled connection, a row lock
//! or an advisory lock awaits on the executor without holding a worker
//! thread, so (unlike SQLite, see `SqliteCtx::in_transaction`) a guest
//! inside a PostgreSQL transaction may be yielded at epoch ticks: the
//! writers queued behind it do not stop it from resuming.

pub mod tls;

use super::bindings::fermyon::spin::postgres;
use super::bindings::fermyon::spin::rdbms_types::{
    self, Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};
use super::outbound::OutboundPolicy;
use crate::error::{Doing, Error as CarehubError, Result};
use sqlx::postgres::{
    PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgTypeInfo, Postgres,
};
use sqlx::query::Query;
use sqlx::{Column as _, ConnectOptions as _, Row as _, TypeInfo as _};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::Duration;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// Pool settings, set once by the gateway before the first connection.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Server connections per address (each live guest connection pins one).
    pub max_connections: u32,
    /// How long `open` waits for a free pooled connection.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 32,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

static SETTINGS: OnceLock<PoolSettings> = OnceLock::new();
static POOLS: LazyLock<Mutex<HashMap<String, PgPool>>> = LazyLock::new(Default::default);

/// Sets the pool settings; only the first call counts (later ones return
/// `false`).
pub fn configure(settings: PoolSettings) -> bool {
    SETTINGS.set(settings).is_ok()
}

/// Parses a connection string (`postgres://user:pass@host:port/db?…`) the
/// way the host and the migration runner do, with sqlx's statement logging
/// off (statements carry personal data).
pub fn connect_options(address: &str) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(PgConnectOptions::from_str(address)?.disable_statement_logging())
}

/// The pool for `address`, created on first use.
fn pool(address: &str, options: PgConnectOptions) -> PgPool {
    let mut pools = POOLS.lock().expect("pg pools lock");
    pools
        .entry(address.to_owned())
        .or_insert_with(|| {
            let s = SETTINGS.get().copied().unwrap_or_default();
            PgPoolOptions::new()
                .max_connections(s.max_connections)
                .min_connections(0)
                .acquire_timeout(s.acquire_timeout)
                .idle_timeout(Duration::from_secs(300))
                .connect_lazy_with(options)
        })
        .clone()
}

/// The gateway's own pool for `address` (the one the guests share),
/// connecting under the installed TLS policy; for its metrics.
pub fn shared_pool(address: &str) -> Result<PgPool> {
    let (options, _) = tls::policy().options(address)?;
    Ok(pool(address, options.disable_statement_logging()))
}

/// Server connections open in all pools, and how many of them are idle.
pub fn pool_connections() -> (u32, usize) {
    let pools = POOLS.lock().expect("pg pools lock");
    pools.values().fold((0, 0), |(open, idle), p| {
        (open + p.size(), idle + p.num_idle())
    })
}

/// The resource behind a guest's `connection` handle: one pooled server
/// connection, pinned until the guest drops the handle.
pub struct PgConnection {
    conn: Option<sqlx::pool::PoolConnection<Postgres>>,
    /// Whether a transaction the guest began may still be open.
    in_transaction: bool,
    /// A statement was sent and its answer not read (the guest was cut off
    /// at its deadline): the session's state is unknown.
    in_flight: bool,
}

impl PgConnection {
    /// Before a statement: notes a transaction it may open, and that a
    /// statement is under way.
    fn before(&mut self, statement: &str) -> Option<bool> {
        let effect = transaction_effect(statement);
        if effect == Some(true) {
            self.in_transaction = true;
        }
        self.in_flight = true;
        effect
    }

    /// After it: notes the transaction it closed, if it did.
    fn after(&mut self, effect: Option<bool>, succeeded: bool) {
        self.in_flight = false;
        if effect == Some(false) && succeeded {
            self.in_transaction = false;
        }
    }
}

impl Drop for PgConnection {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if self.in_flight {
            // Cut off mid-statement: never reuse it. Closing the session
            // makes the server roll back whatever it holds.
            conn.close_on_drop();
            return;
        }
        if !self.in_transaction {
            return; // back to the pool as it is
        }
        // Roll back before the pool may hand it to someone else; the pool
        // gets it back when the task drops it.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                        tracing::warn!(
                            "closing a PostgreSQL connection whose rollback failed: {e}"
                        );
                        conn.close_on_drop();
                    }
                });
            }
            // No runtime to roll back on: close it; the server rolls back.
            Err(_) => conn.close_on_drop(),
        }
    }
}

/// The view the generated host traits are implemented on.
pub struct PgView<'a> {
    /// The component's `allowed_outbound_hosts`.
    pub outbound: &'a OutboundPolicy,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

struct PgData;
impl HasData for PgData {
    type Data<'a> = PgView<'a>;
}

/// Adds `fermyon:spin/postgres` (and its `rdbms-types`) to a linker.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> PgView<'_>,
) -> Result<()> {
    rdbms_types::add_to_linker::<T, PgData>(linker, get)
        .doing(|| "adding fermyon:spin/rdbms-types to the linker".into())?;
    postgres::add_to_linker::<T, PgData>(linker, get)
        .doing(|| "adding fermyon:spin/postgres to the linker".into())
}

impl rdbms_types::Host for PgView<'_> {}
impl postgres::Host for PgView<'_> {}

/// Whether `options` points at a server the component may reach.
fn allowed(policy: &OutboundPolicy, options: &PgConnectOptions) -> bool {
    policy.allows_address("postgres", options.get_host(), options.get_port())
}

impl postgres::HostConnection for PgView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        // The gateway's TLS policy: verify-full against the configured CA.
        let options = match tls::policy().options(&address) {
            Ok((o, _)) => o,
            Err(e) => return Ok(Err(Error::ConnectionFailed(e.to_string()))),
        };
        if !allowed(self.outbound, &options) {
            return Ok(Err(Error::ConnectionFailed(format!(
                "postgres://{}:{} is not in the component's allowed_outbound_hosts",
                options.get_host(),
                options.get_port()
            ))));
        }
        let conn = match pool(&address, options).acquire().await {
            Ok(c) => c,
            Err(e) => return Ok(Err(Error::ConnectionFailed(e.to_string()))),
        };
        Ok(Ok(self.table.push(PgConnection {
            conn: Some(conn),
            in_transaction: false,
            in_flight: false,
        })?))
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let connection = self.table.get_mut(&connection)?;
        if connection.conn.is_none() {
            return Ok(Err(Error::Other("the connection is closed".into())));
        }
        let query = match bind(sqlx::query(&statement), params) {
            Ok(q) => q,
            Err(e) => return Ok(Err(e)),
        };
        let effect = connection.before(&statement);
        let conn = connection.conn.as_mut().expect("checked above");
        let result = query.fetch_all(&mut **conn).await;
        connection.after(effect, result.is_ok());
        Ok(match result {
            Ok(rows) => row_set(&rows),
            Err(e) => Err(Error::QueryFailed(e.to_string())),
        })
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let connection = self.table.get_mut(&connection)?;
        if connection.conn.is_none() {
            return Ok(Err(Error::Other("the connection is closed".into())));
        }
        let query = match bind(sqlx::query(&statement), params) {
            Ok(q) => q,
            Err(e) => return Ok(Err(e)),
        };
        let effect = connection.before(&statement);
        let conn = connection.conn.as_mut().expect("checked above");
        let result = query.execute(&mut **conn).await;
        connection.after(effect, result.is_ok());
        Ok(match result {
            Ok(done) => Ok(done.rows_affected()),
            Err(e) => Err(Error::QueryFailed(e.to_string())),
        })
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        // Dropping the table entry hands the connection back (see `Drop`).
        self.table.delete(connection)?;
        Ok(())
    }
}

/// What a statement does to the guest's transaction: `Some(true)` if it may
/// open one (`BEGIN`, `START`), `Some(false)` if, once it succeeds, none is
/// open (`COMMIT`, `END`, `ABORT`, `ROLLBACK` — not `ROLLBACK TO` a
/// savepoint, not `… AND CHAIN`), `None` otherwise. The connection errs on
/// the side of "open" (a failed `COMMIT` leaves it so): the price is one
/// needless `ROLLBACK` when it is handed back.
fn transaction_effect(statement: &str) -> Option<bool> {
    let words: Vec<String> = statement
        .split_whitespace()
        .take(4)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    match words.first().map(String::as_str).unwrap_or("") {
        "BEGIN" | "START" => Some(true),
        "COMMIT" | "END" | "ABORT" | "ROLLBACK" => {
            let to_savepoint = words.iter().any(|w| w == "TO");
            let chained = words.iter().any(|w| w == "CHAIN");
            (!to_savepoint && !chained).then_some(false)
        }
        _ => None,
    }
}

/// A NULL parameter without a type of its own: PostgreSQL infers it from
/// the statement (Spin's `db-null` says nothing about the column).
struct UntypedNull;

impl sqlx::Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        // OID 0: "unspecified", the server decides.
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

/// Binds the guest's parameters, each as its own PostgreSQL type.
fn bind<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    params: Vec<ParameterValue>,
) -> Result<Query<'q, Postgres, PgArguments>, Error> {
    for (i, p) in params.into_iter().enumerate() {
        query = match p {
            ParameterValue::Boolean(v) => query.bind(v),
            // PostgreSQL has no one-byte integer: the next wider type.
            ParameterValue::Int8(v) => query.bind(i16::from(v)),
            ParameterValue::Int16(v) => query.bind(v),
            ParameterValue::Int32(v) => query.bind(v),
            ParameterValue::Int64(v) => query.bind(v),
            ParameterValue::Uint8(v) => query.bind(i16::from(v)),
            ParameterValue::Uint16(v) => query.bind(i32::from(v)),
            ParameterValue::Uint32(v) => query.bind(i64::from(v)),
            ParameterValue::Uint64(v) => query.bind(i64::try_from(v).map_err(|_| {
                Error::BadParameter(format!(
                    "parameter {}: {v} does not fit PostgreSQL's bigint",
                    i + 1
                ))
            })?),
            ParameterValue::Floating32(v) => query.bind(v),
            ParameterValue::Floating64(v) => query.bind(v),
            ParameterValue::Str(v) => query.bind(v),
            ParameterValue::Binary(v) => query.bind(v),
            ParameterValue::DbNull => query.bind(UntypedNull),
        };
    }
    Ok(query)
}

/// The WIT type of a PostgreSQL column type (by sqlx's type name).
pub fn data_type(pg_type: &str) -> DbDataType {
    match pg_type {
        "BOOL" => DbDataType::Boolean,
        "INT2" => DbDataType::Int16,
        "INT4" => DbDataType::Int32,
        "INT8" => DbDataType::Int64,
        "FLOAT4" => DbDataType::Floating32,
        "FLOAT8" => DbDataType::Floating64,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => DbDataType::Str,
        "BYTEA" => DbDataType::Binary,
        _ => DbDataType::Other,
    }
}

fn row_set(rows: &[PgRow]) -> Result<RowSet, Error> {
    let Some(first) = rows.first() else {
        return Ok(RowSet {
            columns: Vec::new(),
            rows: Vec::new(),
        });
    };
    let columns: Vec<Column> = first
        .columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            data_type: data_type(c.type_info().name()),
        })
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            values.push(
                decode(row, i, c.data_type)
                    .map_err(|e| Error::ValueConversionFailed(format!("{}: {e}", c.name)))?,
            );
        }
        out.push(values);
    }
    Ok(RowSet { columns, rows: out })
}

fn decode(row: &PgRow, i: usize, ty: DbDataType) -> Result<DbValue, sqlx::Error> {
    fn or_null<T>(v: Option<T>, f: impl FnOnce(T) -> DbValue) -> DbValue {
        v.map_or(DbValue::DbNull, f)
    }
    Ok(match ty {
        DbDataType::Boolean => or_null(row.try_get(i)?, DbValue::Boolean),
        DbDataType::Int16 => or_null(row.try_get(i)?, DbValue::Int16),
        DbDataType::Int32 => or_null(row.try_get(i)?, DbValue::Int32),
        DbDataType::Int64 => or_null(row.try_get(i)?, DbValue::Int64),
        DbDataType::Floating32 => or_null(row.try_get(i)?, DbValue::Floating32),
        DbDataType::Floating64 => or_null(row.try_get(i)?, DbValue::Floating64),
        DbDataType::Str => or_null(row.try_get(i)?, DbValue::Str),
        DbDataType::Binary => or_null(row.try_get(i)?, DbValue::Binary),
        _ => {
            let raw = row.try_get_raw(i)?;
            if sqlx::ValueRef::is_null(&raw) {
                DbValue::DbNull
            } else {
                DbValue::Unsupported
            }
        }
    })
}

/// Prepares the store the application variables select, at gateway start:
/// for `store_backend = "postgres"`, takes the pool size from
/// `CAREHUB_PG_MAX_CONNECTIONS` (default 32 server connections per gateway
/// process), checks that `database_url` is set and
/// that `database_host` (what `spin.toml` templates into the components'
/// `allowed_outbound_hosts`) names the same server, that the connection
/// string passes the TLS policy (`tls`: `verify-full` with a CA bundle from
/// `sslrootcert` or `database_ca`), installs that policy for the components'
/// connections, then applies `shared/migrations/postgres`. SQLite (the default) needs nothing here.
pub async fn prepare_store(app_vars: &crate::variables::Values) -> Result<()> {
    let backend = app_vars
        .get("store_backend")
        .map(String::as_str)
        .filter(|b| !b.is_empty())
        .unwrap_or("sqlite");
    match backend {
        "sqlite" => return Ok(()),
        "postgres" => {}
        other => return Err(CarehubError::UnknownStoreBackend(other.to_owned())),
    }
    let url = app_vars
        .get("database_url")
        .filter(|u| !u.is_empty())
        .ok_or(CarehubError::NoDatabaseUrl)?;
    let options = connect_options(url).doing(|| "parsing database_url".into())?;
    if let Ok(n) = std::env::var("CAREHUB_PG_MAX_CONNECTIONS") {
        let max_connections = n
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(CarehubError::PgMaxConnections)?;
        configure(PoolSettings {
            max_connections,
            ..PoolSettings::default()
        });
    }
    if let Some(host) = app_vars.get("database_host") {
        let entry = format!("postgres://{host}");
        let allowed = super::outbound::AllowedHost::parse(&entry)
            .is_ok_and(|a| a.allows("postgres", options.get_host(), options.get_port()));
        if !allowed {
            return Err(CarehubError::DatabaseHost {
                host: host.clone(),
                server: format!("{}:{}", options.get_host(), options.get_port()),
            });
        }
    }
    let policy = tls::TlsPolicy::from_environment(app_vars)?;
    let (_, trust) = policy.options(url)?;
    tls::install(policy);
    if let tls::Trust::Unverified(mode) = trust {
        eprintln!(
            "carehub: WARNING: PostgreSQL with sslmode={mode}: the server is not verified ({}=1, for development only)",
            tls::ALLOW_UNVERIFIED_ENV
        );
    }
    let key = crate::sealing::key_of(app_vars)?;
    for name in migrate(url, crate::migrations::POSTGRES, Some(&key)).await? {
        eprintln!("carehub: applied migration {name} (PostgreSQL)");
    }
    eprintln!(
        "carehub: store backend postgres at {}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    );
    Ok(())
}

/// The advisory-lock key the migration runner holds while it migrates
/// ("carehubM" as a big-endian `i64`; the store's writers use another).
const MIGRATION_LOCK: i64 = 7_161_130_662_365_585_997;

/// Applies migration files in order, once each, recording them in
/// `carehub_migrations` as the SQLite runner does. Each file runs in its own
/// transaction; the whole run holds a session advisory lock, so two
/// gateways starting at once against one database apply each file once
/// (the second waits, then finds them recorded). The connection follows the
/// installed TLS policy ([`tls::policy`]).
pub async fn migrate(
    address: &str,
    migrations: &[(&str, &str)],
    webhook_secret_key: Option<&carehub_domain::sealed::SealingKey>,
) -> Result<Vec<String>> {
    use sqlx::Connection as _;
    let (options, trust) = tls::policy().options(address)?;
    let mut conn = sqlx::PgConnection::connect_with(&options).await.doing(|| {
        format!(
            "connecting to PostgreSQL at {}:{} ({trust})",
            options.get_host(),
            options.get_port()
        )
    })?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut conn)
        .await
        .doing(|| "taking the migration lock".into())?;
    let result = apply(&mut conn, migrations, webhook_secret_key).await;
    // Closing the session releases the lock in any case; unlock explicitly
    // so a pooled session would not keep it either.
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    let applied = result?;
    unlocked.doing(|| "releasing the migration lock".into())?;
    Ok(applied)
}

async fn apply(
    conn: &mut sqlx::PgConnection,
    migrations: &[(&str, &str)],
    webhook_secret_key: Option<&carehub_domain::sealed::SealingKey>,
) -> Result<Vec<String>> {
    use sqlx::Connection as _;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS carehub_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .doing(|| "creating carehub_migrations".into())?;
    let mut applied = Vec::new();
    for (name, sql) in migrations {
        let done: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM carehub_migrations WHERE name = $1)")
                .bind(*name)
                .fetch_one(&mut *conn)
                .await
                .doing(|| "reading carehub_migrations".into())?;
        if done {
            continue;
        }
        let applying = || format!("applying migration {name}");
        let mut tx = conn.begin().await.doing(applying)?;
        sqlx::raw_sql(sql).execute(&mut *tx).await.doing(applying)?;
        if *name == crate::sealing::MIGRATION {
            let key = webhook_secret_key.ok_or(CarehubError::WebhookSecretKey)?;
            crate::sealing::seal_postgres(&mut tx, key).await?;
        }
        sqlx::query(
            "INSERT INTO carehub_migrations (name, applied_at) \
             VALUES ($1, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
        )
        .bind(*name)
        .execute(&mut *tx)
        .await
        .doing(applying)?;
        tx.commit().await.doing(applying)?;
        applied.push((*name).to_owned());
    }
    Ok(applied)
}

/// Reads one page of the access log for `carehub verify-log`: rows with
/// `seq` above `after`, in `seq` order.
pub async fn access_log_page(
    conn: &mut sqlx::PgConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<crate::accesslog::Row>> {
    let sql = crate::accesslog::PAGE_SQL
        .replace("?1", "$1")
        .replace("?2", "$2");
    sqlx::query_as(&sql)
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await
        .doing(|| "reading log_entries (is this a carehub database, migrated?)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sqlite_migration_has_a_postgres_twin() {
        fn names(m: &[(&'static str, &'static str)]) -> Vec<&'static str> {
            m.iter().map(|(n, _)| *n).collect()
        }
        assert_eq!(
            names(crate::migrations::POSTGRES),
            names(crate::migrations::SQLITE)
        );
    }

    #[test]
    fn column_types_map_to_wit_types() {
        assert_eq!(data_type("INT8"), DbDataType::Int64);
        assert_eq!(data_type("INT4"), DbDataType::Int32);
        assert_eq!(data_type("INT2"), DbDataType::Int16);
        assert_eq!(data_type("TEXT"), DbDataType::Str);
        assert_eq!(data_type("VARCHAR"), DbDataType::Str);
        assert_eq!(data_type("BYTEA"), DbDataType::Binary);
        assert_eq!(data_type("FLOAT8"), DbDataType::Floating64);
        assert_eq!(data_type("FLOAT4"), DbDataType::Floating32);
        assert_eq!(data_type("BOOL"), DbDataType::Boolean);
        assert_eq!(data_type("VOID"), DbDataType::Other);
        assert_eq!(data_type("JSONB"), DbDataType::Other);
    }

    #[test]
    fn transactions_are_tracked_from_statements() {
        let mut c = PgConnection {
            conn: None,
            in_transaction: false,
            in_flight: false,
        };
        let run = |c: &mut PgConnection, sql: &str, ok: bool| {
            let effect = c.before(sql);
            assert!(c.in_flight);
            c.after(effect, ok);
            assert!(!c.in_flight);
            c.in_transaction
        };
        // Open from the moment BEGIN is sent, even if it never answers.
        assert_eq!(transaction_effect("BEGIN"), Some(true));
        assert!(run(&mut c, "BEGIN", true));
        assert!(run(&mut c, "SELECT pg_advisory_xact_lock($1)", true));
        assert!(run(&mut c, "ROLLBACK TO SAVEPOINT a", true));
        assert!(run(&mut c, "COMMIT AND CHAIN", true));
        // A failed COMMIT leaves it "open": handing it back rolls back.
        assert!(run(&mut c, "COMMIT", false));
        assert!(!run(&mut c, "  commit;", true));
        assert!(run(&mut c, "start transaction", true));
        assert!(!run(&mut c, "ROLLBACK", true));
        assert_eq!(transaction_effect("SELECT 1"), None);
    }

    #[test]
    fn only_allowed_servers_may_be_opened() {
        let policy = OutboundPolicy::new(&["postgres://db.internal:6432".to_owned()]).unwrap();
        let ok = connect_options("postgres://u:p@db.internal:6432/carehub").unwrap();
        assert!(allowed(&policy, &ok));
        let other_port = connect_options("postgres://u:p@db.internal/carehub").unwrap();
        assert!(!allowed(&policy, &other_port));
        let other_host = connect_options("postgres://u:p@elsewhere:6432/carehub").unwrap();
        assert!(!allowed(&policy, &other_host));
        assert!(!allowed(&OutboundPolicy::default(), &ok));
        let default_port = OutboundPolicy::new(&["postgres://db.internal".to_owned()]).unwrap();
        assert!(allowed(&default_port, &other_port));
    }
}
