//! The PostgreSQL backend of the store: a [`Db`] that runs the store's SQL
//! on PostgreSQL.
//!
//! The store's statements (`sqlite`, `progress/sqlite`, `relay/sqlite`) are
//! written in the common subset of both dialects, with numbered `?N`
//! placeholders. This module adapts them at the one place they differ
//! mechanically:
//!
//! * `?N` becomes `$N` ([`rewrite_placeholders`]), outside quoted strings,
//!   quoted identifiers and comments;
//! * `BEGIN IMMEDIATE` (SQLite: take the database's write lock now) becomes
//!   a plain `BEGIN`: there is no hub-wide lock. A transaction serialises
//!   only on the [`crate::LockKey`]s it names, each a transaction-scoped
//!   advisory lock ([`Db::lock`]: `pg_advisory_xact_lock(id)`) taken right
//!   after `BEGIN` in ascending order and released at `COMMIT` or
//!   `ROLLBACK`. Under `READ COMMITTED` each statement after the lock sees
//!   everything the previous holder of the same key committed, so
//!   read-then-write sequences on that key (the next version number of a
//!   person's document, the stored answer of an idempotency key, a shard's
//!   previous hash) stay correct across processes, while writers of
//!   different persons never wait for each other.
//!
//! The schema is `shared/migrations/postgres/`, the twin of the SQLite one
//! (`BIGINT` integers, so every integer column reads back as an `int64`).

use std::borrow::Cow;

use super::{Db, DbError, Rows, Value};

/// What the store needs of a PostgreSQL connection: Spin's
/// `fermyon:spin/postgres` `query` and `execute`, with `$N` placeholders.
pub trait PgClient {
    /// Runs a statement and returns its rows (none for most writes).
    fn query(&self, sql: &str, params: Vec<Value>) -> Result<Rows, DbError>;
    /// Runs a statement and returns the number of rows it affected.
    fn execute(&self, sql: &str, params: Vec<Value>) -> Result<u64, DbError>;
}

/// The store's [`Db`] over a PostgreSQL connection.
pub struct PostgresDb<C: PgClient>(pub C);

impl<C: PgClient> Db for PostgresDb<C> {
    fn execute(&self, sql: &str, params: Vec<Value>) -> Result<Rows, DbError> {
        if sql.trim().eq_ignore_ascii_case("BEGIN IMMEDIATE") {
            self.0.execute("BEGIN", Vec::new())?;
            return Ok(Rows::default());
        }
        self.0.query(&rewrite_placeholders(sql), params)
    }

    fn lock(&self, id: i64) -> Result<(), DbError> {
        self.0
            .execute("SELECT pg_advisory_xact_lock($1)", vec![Value::Integer(id)])
            .map(drop)
    }
}

/// Rewrites SQLite's numbered placeholders `?N` into PostgreSQL's `$N`.
///
/// Text inside single-quoted strings (`'it''s ?1'`), double-quoted
/// identifiers and comments (`-- …`, `/* … */`) is copied unchanged, as is a
/// `?` not followed by a digit (PostgreSQL's JSON operators). The store
/// uses neither dollar-quoted nor `E'…'` strings.
pub fn rewrite_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        Str,
        Ident,
        LineComment,
        BlockComment,
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut state = State::Code;
    // Copy runs of bytes verbatim; only an ASCII `?` is ever replaced, so
    // every slice boundary is a character boundary.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match state {
            State::Code => match b {
                b'\'' => state = State::Str,
                b'"' => state = State::Ident,
                b'-' if next == Some(b'-') => {
                    state = State::LineComment;
                    i += 1;
                }
                b'/' if next == Some(b'*') => {
                    state = State::BlockComment;
                    i += 1;
                }
                b'?' if next.is_some_and(|n| n.is_ascii_digit()) => {
                    out.push_str(&sql[copied..i]);
                    out.push('$');
                    copied = i + 1;
                }
                _ => {}
            },
            State::Str if b == b'\'' => state = State::Code,
            State::Ident if b == b'"' => state = State::Code,
            State::LineComment if b == b'\n' => state = State::Code,
            State::BlockComment if b == b'*' && next == Some(b'/') => {
                state = State::Code;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn numbered_placeholders_become_dollars() {
        assert_eq!(
            rewrite_placeholders("SELECT a FROM t WHERE b = ?1 AND c IN (?2,?3) LIMIT ?10"),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2,$3) LIMIT $10"
        );
        assert_eq!(
            rewrite_placeholders("VALUES (?2,?3,1,?1,?1),(?4,?5,1,?1,?1)"),
            "VALUES ($2,$3,1,$1,$1),($4,$5,1,$1,$1)"
        );
        // Nothing to do: the same text, not even copied.
        assert!(matches!(
            rewrite_placeholders("COMMIT"),
            Cow::Borrowed("COMMIT")
        ));
    }

    #[test]
    fn quoted_text_and_comments_are_left_alone() {
        assert_eq!(
            rewrite_placeholders("SELECT '?1', 'it''s ?2', \"col?3\" FROM t WHERE x = ?4"),
            "SELECT '?1', 'it''s ?2', \"col?3\" FROM t WHERE x = $4"
        );
        assert_eq!(
            rewrite_placeholders("SELECT ?1 -- not ?2\n, ?3 /* nor ?4 */ + ?5"),
            "SELECT $1 -- not ?2\n, $3 /* nor ?4 */ + $5"
        );
        // A `?` without a number (PostgreSQL's jsonb operator) stays.
        assert_eq!(
            rewrite_placeholders("SELECT j ? 'k', j ?| array['a'] FROM t WHERE id = ?1"),
            "SELECT j ? 'k', j ?| array['a'] FROM t WHERE id = $1"
        );
        // Non-ASCII text around placeholders survives byte for byte.
        assert_eq!(
            rewrite_placeholders("SELECT '介護?1' AS 情報, ?1"),
            "SELECT '介護?1' AS 情報, $1"
        );
    }

    /// Records what reaches the connection.
    #[derive(Default)]
    struct Recorder(RefCell<Vec<(String, Vec<Value>, &'static str)>>);

    impl PgClient for Recorder {
        fn query(&self, sql: &str, params: Vec<Value>) -> Result<Rows, DbError> {
            self.0.borrow_mut().push((sql.to_owned(), params, "query"));
            Ok(Rows::default())
        }
        fn execute(&self, sql: &str, params: Vec<Value>) -> Result<u64, DbError> {
            self.0
                .borrow_mut()
                .push((sql.to_owned(), params, "execute"));
            Ok(0)
        }
    }

    #[test]
    fn begin_immediate_is_a_plain_begin_and_locks_are_per_key() {
        let db = PostgresDb(Recorder::default());
        db.execute("BEGIN IMMEDIATE", Vec::new()).unwrap();
        db.lock(42).unwrap();
        db.execute(
            "SELECT hash FROM access_log WHERE seq < ?1",
            vec![Value::Integer(5)],
        )
        .unwrap();
        db.execute("COMMIT", Vec::new()).unwrap();
        let seen = db.0.0.into_inner();
        assert_eq!(
            seen,
            vec![
                ("BEGIN".to_owned(), vec![], "execute"),
                (
                    "SELECT pg_advisory_xact_lock($1)".to_owned(),
                    vec![Value::Integer(42)],
                    "execute"
                ),
                (
                    "SELECT hash FROM access_log WHERE seq < $1".to_owned(),
                    vec![Value::Integer(5)],
                    "query"
                ),
                ("COMMIT".to_owned(), vec![], "query"),
            ]
        );
    }
}
