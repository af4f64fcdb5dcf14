//! A [`Db`] over rusqlite, for native tests of the real SQL against the real
//! schema (feature `native-sqlite`; never part of a component).

use std::path::PathBuf;

use rusqlite::types::ValueRef;

use super::{Db, DbError, Rows, Value};

/// An in-process SQLite connection.
pub struct NativeDb(pub rusqlite::Connection);

impl NativeDb {
    /// A fresh in-memory database with every file of
    /// `shared/migrations/sqlite` applied in name order, as the gateway does.
    pub fn migrated() -> Self {
        let conn = rusqlite::Connection::open_in_memory().expect("open in-memory SQLite");
        // As the gateway opens its connections.
        conn.pragma_update(None, "foreign_keys", "ON")
            .expect("foreign_keys");
        for (name, sql) in migrations() {
            conn.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("migration {name} failed: {e}"));
        }
        NativeDb(conn)
    }
}

/// The SQLite migrations, `(file name, SQL)`, in the order they apply.
pub fn migrations() -> Vec<(String, String)> {
    migrations_of("sqlite")
}

/// The migrations of one directory of `shared/migrations` (`sqlite`,
/// `sqlite-accesslog`), `(file name, SQL)`, in the order they apply.
pub fn migrations_of(set: &str) -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(set);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let sql = std::fs::read_to_string(&p).expect("read migration");
            (name, sql)
        })
        .collect()
}

impl Db for NativeDb {
    fn execute(&self, sql: &str, params: Vec<Value>) -> Result<Rows, DbError> {
        let err = |e: rusqlite::Error| DbError(e.to_string());
        let mut stmt = self.0.prepare_cached(sql).map_err(err)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let params = params.into_iter().map(|v| match v {
            Value::Null => rusqlite::types::Value::Null,
            Value::Integer(i) => rusqlite::types::Value::Integer(i),
            Value::Real(f) => rusqlite::types::Value::Real(f),
            Value::Text(s) => rusqlite::types::Value::Text(s),
            Value::Blob(b) => rusqlite::types::Value::Blob(b),
        });
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut values = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                values.push(match row.get_ref(i).map_err(err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Integer(i),
                    ValueRef::Real(f) => Value::Real(f),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(values);
        }
        Ok(Rows { columns, rows: out })
    }
}
