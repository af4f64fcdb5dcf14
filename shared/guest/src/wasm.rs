//! The Spin boundary: the only module that touches `spin-sdk`.
//!
//! Converts Spin's request into a [`RequestHead`], reads variables, reads
//! the body under a cap, opens the store and turns a [`Reply`] into Spin's
//! response. Nothing is cached between requests: each request runs in a
//! fresh instance, and keys are read from variables every time.

use carehub_domain::Principal;
use carehub_domain::policy::{self, Caller};
use futures::{SinkExt as _, StreamExt as _};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::sqlite;

use crate::body;
use crate::clock;
use crate::http::{Reply, RequestHead};
use crate::idempotency;
use crate::person_token::{self, PersonToken, Verifier};
use crate::problem;
use carehub_store::postgres::{PgClient, PostgresDb};
use carehub_store::sql::SqlStore;
use carehub_store::{Db, DbError, Rows, StoreError, Value};
use spin_sdk::pg;

/// The request's method, path-info, query and headers.
///
/// Routes on `spin-path-info` (set by Spin and by the gateway); falls back
/// to the full path when it is absent.
pub fn head(req: &IncomingRequest) -> RequestHead {
    let headers = req.headers().entries();
    let path_and_query = req.path_with_query().unwrap_or_default();
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query.as_str(), ""));
    let path_info = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("spin-path-info"))
        .and_then(|(_, v)| String::from_utf8(v.clone()).ok())
        .unwrap_or_else(|| path.to_owned());
    RequestHead::new(req.method().to_string(), path_info, query, headers)
}

/// A variable's value; `Ok(None)` when it is not defined.
pub fn variable(name: &str) -> Result<Option<String>, String> {
    match spin_sdk::variables::get(name) {
        Ok(v) => Ok(Some(v)),
        Err(spin_sdk::variables::Error::Undefined(_)) => Ok(None),
        Err(e) => Err(format!("variable {name}: {e}")),
    }
}

/// Verifies the edge's identity assertion: the first thing every handler
/// does. A missing `assertion_key` variable is a deployment error (500).
pub fn identify(head: &RequestHead) -> Result<Principal, Reply> {
    let key = match variable("assertion_key") {
        Ok(Some(k)) if !k.is_empty() => k,
        Ok(_) => return Err(problem::internal("identify", &"assertion_key is not set")),
        Err(e) => return Err(problem::internal("identify", &e)),
    };
    let asserted = crate::assertion::verify_asserted(head, key.as_bytes(), clock::unix_now())
        .map_err(|e| {
            if let crate::assertion::AssertionError::Invalid(why) = &e {
                eprintln!("carehub: assertion refused: {why}");
            }
            Reply::problem(&e.to_problem())
        })?;
    head.set_edge_person_token(asserted.person_token);
    Ok(asserted.principal)
}

/// A portal call's person token: the edge's verdict carried in the
/// assertion [`identify`] verified, or, when the assertion carries none (an
/// edge that does not verify person tokens), the token verified here.
pub fn person(head: &RequestHead) -> Result<PersonToken, Reply> {
    let result = match head.edge_person_token() {
        Some(verdict) => verdict.to_result(),
        None => verify_person_token(head)?,
    };
    result.map_err(|e| {
        if let person_token::PersonTokenError::Invalid(why) = &e {
            eprintln!("carehub: person token refused: {why}");
        }
        Reply::problem(&e.to_problem())
    })
}

/// The caller: `principal` and, when the policy says it speaks for a
/// person (the portal), its verified person token ([`person`]; 401
/// `person-token-missing` / `person-token-invalid` otherwise).
pub fn caller(head: &RequestHead, principal: Principal) -> Result<Caller, Reply> {
    if policy::speaks_for_a_person(&principal) {
        let token = person(head)?;
        Ok(Caller::with_token(principal, token))
    } else {
        Ok(Caller::new(principal))
    }
}

/// Verifies the bearer token in wasm, with the key and issuer variables.
fn verify_person_token(
    head: &RequestHead,
) -> Result<Result<PersonToken, person_token::PersonTokenError>, Reply> {
    let pem = match variable("person_token_public_key") {
        Ok(Some(k)) if !k.trim().is_empty() => k,
        Ok(_) => {
            return Err(problem::internal(
                "person token",
                &"person_token_public_key is not set",
            ));
        }
        Err(e) => return Err(problem::internal("person token", &e)),
    };
    let issuer = match variable("person_token_issuer") {
        Ok(Some(i)) if !i.is_empty() => i,
        Ok(_) => person_token::DEFAULT_ISSUER.to_owned(),
        Err(e) => return Err(problem::internal("person token", &e)),
    };
    let verifier =
        Verifier::from_pem(&pem, &issuer).map_err(|e| problem::internal("person token", &e))?;
    Ok(verifier.verify(head.single_header("authorization"), clock::unix_now()))
}

/// Checks the media type and reads the whole body, refusing with 413 as soon
/// as it exceeds `limit` (before reading at all when `Content-Length`
/// already says so).
pub async fn read_body(
    req: IncomingRequest,
    head: &RequestHead,
    content_type: &str,
    limit: usize,
) -> Result<Vec<u8>, Reply> {
    let capacity = head.content_length().map_or(0, |n| (n as usize).min(limit));
    let mut out = Vec::with_capacity(capacity);
    stream_body(req, head, content_type, limit, |chunk| {
        out.extend_from_slice(chunk);
        Ok(())
    })
    .await?;
    Ok(out)
}

/// Checks the media type and hands the body to `each` chunk by chunk, so
/// that a large body is never held whole; 413 as soon as it exceeds `limit`.
pub async fn stream_body(
    req: IncomingRequest,
    head: &RequestHead,
    content_type: &str,
    limit: usize,
    mut each: impl FnMut(&[u8]) -> Result<(), Reply>,
) -> Result<(), Reply> {
    body::require_content_type(head, content_type)?;
    body::check_declared_length(head, limit)?;
    let mut total = 0usize;
    let mut stream = req.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| problem::internal("reading the request body", &e))?;
        total += chunk.len();
        if total > limit {
            return Err(body::too_large(limit));
        }
        each(&chunk)?;
    }
    Ok(())
}

/// Sends a reply: status, headers, then the body and its parts in order.
pub async fn send(out: ResponseOutparam, reply: Reply) {
    let headers: Vec<(String, Vec<u8>)> = reply
        .headers
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    let fields = match Fields::from_list(&headers) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("carehub: invalid response headers: {e:?}");
            Fields::new()
        }
    };
    let response = OutgoingResponse::new(fields);
    if response.set_status_code(reply.status).is_err() {
        eprintln!("carehub: invalid response status {}", reply.status);
    }
    let mut sink = response.take_body();
    out.set(response);
    for part in std::iter::once(reply.body).chain(reply.body_parts) {
        if part.is_empty() {
            continue;
        }
        if let Err(e) = sink.send(part).await {
            eprintln!("carehub: writing the response body failed: {e:?}");
            return;
        }
    }
}

/// The SQLite database labelled `default`, through Spin's interface.
pub struct SpinSqlite(sqlite::Connection);

impl Db for SpinSqlite {
    fn execute(&self, sql: &str, params: Vec<Value>) -> Result<Rows, DbError> {
        let params: Vec<sqlite::Value> = params
            .into_iter()
            .map(|v| match v {
                Value::Null => sqlite::Value::Null,
                Value::Integer(i) => sqlite::Value::Integer(i),
                Value::Real(f) => sqlite::Value::Real(f),
                Value::Text(s) => sqlite::Value::Text(s),
                Value::Blob(b) => sqlite::Value::Blob(b),
            })
            .collect();
        let result = self
            .0
            .execute(sql, &params)
            .map_err(|e| DbError(format!("{e:?}")))?;
        let rows = result
            .rows
            .into_iter()
            .map(|row| {
                row.values
                    .into_iter()
                    .map(|v| match v {
                        sqlite::Value::Null => Value::Null,
                        sqlite::Value::Integer(i) => Value::Integer(i),
                        sqlite::Value::Real(f) => Value::Real(f),
                        sqlite::Value::Text(s) => Value::Text(s),
                        sqlite::Value::Blob(b) => Value::Blob(b),
                    })
                    .collect()
            })
            .collect();
        Ok(Rows {
            columns: result.columns,
            rows,
        })
    }
}

/// A PostgreSQL database through Spin's `fermyon:spin/postgres@2.0.0`
/// interface (the connection pins one pooled server connection in the
/// gateway for the instance's lifetime, so transactions work).
pub struct SpinPg(pg::Connection);

fn pg_params(params: Vec<Value>) -> Vec<pg::ParameterValue> {
    params
        .into_iter()
        .map(|v| match v {
            Value::Null => pg::ParameterValue::DbNull,
            Value::Integer(i) => pg::ParameterValue::Int64(i),
            Value::Real(f) => pg::ParameterValue::Floating64(f),
            Value::Text(s) => pg::ParameterValue::Str(s),
            Value::Blob(b) => pg::ParameterValue::Binary(b),
        })
        .collect()
}

/// A PostgreSQL value as the store sees it: integers of every width are
/// `Integer`, floats `Real`, booleans 0/1 (as SQLite stores them).
fn from_pg(v: pg::DbValue) -> Result<Value, DbError> {
    Ok(match v {
        pg::DbValue::DbNull => Value::Null,
        pg::DbValue::Boolean(b) => Value::Integer(i64::from(b)),
        pg::DbValue::Int8(i) => Value::Integer(i64::from(i)),
        pg::DbValue::Int16(i) => Value::Integer(i64::from(i)),
        pg::DbValue::Int32(i) => Value::Integer(i64::from(i)),
        pg::DbValue::Int64(i) => Value::Integer(i),
        pg::DbValue::Uint8(i) => Value::Integer(i64::from(i)),
        pg::DbValue::Uint16(i) => Value::Integer(i64::from(i)),
        pg::DbValue::Uint32(i) => Value::Integer(i64::from(i)),
        pg::DbValue::Uint64(i) => Value::Integer(
            i64::try_from(i).map_err(|_| DbError(format!("{i} does not fit an i64")))?,
        ),
        pg::DbValue::Floating32(f) => Value::Real(f64::from(f)),
        pg::DbValue::Floating64(f) => Value::Real(f),
        pg::DbValue::Str(s) => Value::Text(s),
        pg::DbValue::Binary(b) => Value::Blob(b),
        pg::DbValue::Unsupported => {
            return Err(DbError("a column of a type the store does not read".into()));
        }
    })
}

impl PgClient for SpinPg {
    fn query(&self, sql: &str, params: Vec<Value>) -> Result<Rows, DbError> {
        let set = self
            .0
            .query(sql, &pg_params(params))
            .map_err(|e| DbError(format!("{e:?}")))?;
        let rows = set
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(from_pg).collect())
            .collect::<Result<_, _>>()?;
        Ok(Rows {
            columns: set.columns.into_iter().map(|c| c.name).collect(),
            rows,
        })
    }

    fn execute(&self, sql: &str, params: Vec<Value>) -> Result<u64, DbError> {
        self.0
            .execute(sql, &pg_params(params))
            .map_err(|e| DbError(format!("{e:?}")))
    }
}

/// The database behind the store: SQLite or PostgreSQL, as `store_backend`
/// says. The store's SQL is the same for both (`carehub_store::postgres`).
pub enum SpinDb {
    /// The SQLite database labelled `default`.
    Sqlite(SpinSqlite),
    /// The PostgreSQL database at `database_url`.
    Postgres(PostgresDb<SpinPg>),
}

impl Db for SpinDb {
    fn execute(&self, sql: &str, params: Vec<Value>) -> Result<Rows, DbError> {
        match self {
            SpinDb::Sqlite(db) => db.execute(sql, params),
            SpinDb::Postgres(db) => db.execute(sql, params),
        }
    }

    fn lock(&self, id: i64) -> Result<(), DbError> {
        match self {
            SpinDb::Sqlite(db) => db.lock(id),
            SpinDb::Postgres(db) => db.lock(id),
        }
    }
}

fn store_error(e: impl std::fmt::Debug) -> Reply {
    problem::internal(
        "opening the store",
        &StoreError::Db(DbError(format!("{e:?}"))),
    )
}

/// The SQLite label of the access log's own database.
pub const ACCESSLOG_LABEL: &str = "accesslog";

/// [`open_store`] for a request whose reads are logged: the access log's
/// entries carry the request's id (`x-request-id`, which the edge sets).
pub fn open_logging_store(head: &RequestHead) -> Result<SqlStore<SpinDb>, Reply> {
    Ok(open_store()?.with_request_id(head.header(REQUEST_ID_HEADER)))
}

/// The header the edge passes the request's id in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Opens the store the `store_backend` variable selects: `sqlite` (the
/// default; the database labelled `default`, and the access log in the one
/// labelled `accesslog` when the component may open it) or `postgres` (the connection
/// string in `database_url`, whose host must be in the component's
/// `allowed_outbound_hosts`).
pub fn open_store() -> Result<SqlStore<SpinDb>, Reply> {
    let retention = variable(idempotency::RETENTION_VARIABLE)
        .and_then(|v| {
            idempotency::retention_secs(
                idempotency::RETENTION_VARIABLE,
                v.as_deref(),
                idempotency::DEFAULT_RETENTION_SECS,
            )
        })
        .map_err(|e| problem::internal("opening the store", &e))?;
    let valid_from = idempotency::valid_from(std::time::SystemTime::now(), retention);
    let backend = variable("store_backend")
        .map_err(|e| problem::internal("opening the store", &e))?
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "sqlite".to_owned());
    let db = match backend.as_str() {
        "sqlite" => {
            let db = SpinDb::Sqlite(SpinSqlite(
                sqlite::Connection::open("default").map_err(store_error)?,
            ));
            // The access log's own file, for the components granted it
            // (spin.toml `sqlite_databases`); the others have no log to
            // write and keep the one database.
            let store = match sqlite::Connection::open(ACCESSLOG_LABEL) {
                Ok(log) => SqlStore::with_log(db, SpinDb::Sqlite(SpinSqlite(log))),
                Err(sqlite::Error::AccessDenied | sqlite::Error::NoSuchDatabase) => {
                    SqlStore::new(db)
                }
                Err(e) => return Err(store_error(e)),
            };
            return Ok(store.with_idempotency_valid_from(valid_from));
        }
        "postgres" => {
            let url = match variable("database_url") {
                Ok(Some(u)) if !u.is_empty() => u,
                Ok(_) => {
                    return Err(problem::internal(
                        "opening the store",
                        &StoreError::Unsupported(
                            "store_backend is postgres but database_url is not set".into(),
                        ),
                    ));
                }
                Err(e) => return Err(problem::internal("opening the store", &e)),
            };
            SpinDb::Postgres(PostgresDb(SpinPg(
                pg::Connection::open(&url).map_err(store_error)?,
            )))
        }
        other => {
            return Err(problem::internal(
                "opening the store",
                &StoreError::Unsupported(format!("store_backend {other:?} is not known")),
            ));
        }
    };
    Ok(SqlStore::new(db).with_idempotency_valid_from(valid_from))
}
