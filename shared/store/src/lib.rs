//! # carehub-store
//!
//! The store: typed functions over documents, their versions, idempotency
//! records, consent events, office registrations, the access log,
//! certification applications, relay submissions and the webhook outbox.
//! Plain Rust over a [`Db`] trait: no Spin and no database driver here
//! (the components' `carehub_guest::wasm` implements [`Db`] over Spin's
//! SQLite and PostgreSQL interfaces; `native` over rusqlite for tests).
//!
//! Three layers, so that a second database can be added without touching
//! the handlers:
//!
//! * [`Db`] — the one call every backend offers: run a statement with
//!   positional parameters and get rows back. Implemented over Spin's SQLite
//!   and PostgreSQL interfaces inside wasm (`carehub_guest::wasm`) and over rusqlite
//!   in native tests (`native`, feature `native-sqlite`).
//! * [`DocumentStore`] (with transactions and idempotency records),
//!   [`ConsentStore`], [`RegistrationStore`], [`AccessLogStore`] — the
//!   typed, backend-neutral operations the handlers call. Inputs and outputs
//!   are domain types; no SQL leaks out.
//! * the statements ([`sql`], and `sql.rs` under `outbox`, `progress`,
//!   `relay`), written once in the subset SQLite and PostgreSQL share, with
//!   numbered `?N` placeholders, run by one [`sql::SqlStore`] over either.
//!   [`postgres::PostgresDb`] adapts them for PostgreSQL (`?N` → `$N`,
//!   `BEGIN IMMEDIATE` → `BEGIN` + a transaction-scoped advisory lock); the
//!   `store_backend` variable picks the backend (`carehub_guest::wasm::open_store`).
//!
//! Errors carry database text for the log only; handlers turn any
//! [`StoreError`] into a generic 500 problem.
#![deny(missing_docs)]

use std::fmt;

use carehub_domain::{
    AccessLogEntry, ConsentEvent, ConsentState, DocumentId, DocumentKey, DocumentKind, PersonRef,
    Principal, RegistrationId, RegistrationState, VerificationMethod, registration_state,
};

pub mod checkpoint;
pub mod lock;
#[cfg(feature = "native-sqlite")]
pub mod native;
pub mod outbox;
pub mod postgres;
pub mod progress;
pub mod relay;
pub mod retention;
pub mod sql;

pub use checkpoint::{CheckpointRun, CheckpointStore, EntryLeaf, NewLeaf, make_checkpoint};
pub use lock::{LockKey, lock_order};
pub use outbox::{
    AttemptRecord, Delivery, MessageRecord, MessageState, NewSubscription, OutboxPosition,
    OutboxStore, SubscriptionRecord, claim_due, fan_out, record_result,
};
pub use progress::{
    ApplicationRecord, NewApplication, ProgressStore, StepRecord, advance, progress_of,
};
pub use relay::{NewSubmission, RelayEvent, RelayStore, SubmissionRecord};

/// A value bound to, or read from, a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Integer(i)
    }
}

impl From<Option<i64>> for Value {
    fn from(i: Option<i64>) -> Self {
        i.map_or(Value::Null, Value::Integer)
    }
}

impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Self {
        s.map_or(Value::Null, Value::Text)
    }
}

/// The rows a statement returned (none for most writes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names, in select order.
    pub columns: Vec<String>,
    /// One vector per row, in the order of `columns`.
    pub rows: Vec<Vec<Value>>,
}

/// A database connection that runs one statement at a time.
///
/// Statements of one connection see each other's uncommitted writes, so a
/// transaction is `BEGIN IMMEDIATE`, statements, `COMMIT` on one `Db`.
pub trait Db {
    /// Runs `sql` with positional parameters `?1`, `?2`, … bound to `params`.
    fn execute(&self, sql: &str, params: Vec<Value>) -> Result<Rows, DbError>;

    /// Takes the transaction-scoped lock `id` (a [`LockKey::id`]), held
    /// until `COMMIT` or `ROLLBACK`. A no-op where the transaction already
    /// excludes every other writer (SQLite's `BEGIN IMMEDIATE`).
    fn lock(&self, id: i64) -> Result<(), DbError> {
        let _ = id;
        Ok(())
    }
}

/// A database error. The text is for the log, never for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError(pub String);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbError {}

/// Why a store operation failed. Every variant is a 500 for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The database refused or failed a statement.
    Db(DbError),
    /// A stored row did not hold what the schema promises (a bad identifier,
    /// a missing column): the database was changed behind the hub's back.
    Corrupt(String),
    /// The configured backend is not available in this build.
    Unsupported(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Db(e) => write!(f, "database error: {e}"),
            StoreError::Corrupt(what) => write!(f, "corrupt row: {what}"),
            StoreError::Unsupported(what) => write!(f, "unsupported store: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        StoreError::Db(e)
    }
}

/// One version to store: the document it belongs to and its content.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// `DocumentId::derive(person, kind, author, key)`.
    pub document_id: DocumentId,
    /// Who the document is about.
    pub person: PersonRef,
    /// Its kind.
    pub kind: DocumentKind,
    /// Who stores it.
    pub author: Principal,
    /// The author's key for the logical document.
    pub document_key: DocumentKey,
    /// The content in canonical JSON form (`serde_json::to_string` of the parsed value: keys sorted).
    pub content: String,
    /// Lower-case hex SHA-256 of `content`.
    pub content_sha256: String,
}

/// What storing a [`NewVersion`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A new document, version 1.
    Created,
    /// A new version of an existing document, superseding the previous one.
    NewVersion,
    /// The content equals the current version's: nothing stored.
    Unchanged,
}

/// The version a write produced (or, when unchanged, the current one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// What happened.
    pub outcome: WriteOutcome,
    /// The version's metadata.
    pub version: VersionMeta,
}

/// One version's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    /// 1, 2, …
    pub version: i64,
    /// The version this one superseded (`version - 1`), or `None` for 1.
    pub supersedes: Option<i64>,
    /// Lower-case hex SHA-256 of the version's canonical content.
    pub content_sha256: String,
    /// When it was stored, RFC 3339 UTC.
    pub stored_at: String,
}

/// A document's identity and where its history stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    /// The store's internal sequence number: list order and cursor.
    pub seq: i64,
    /// The public id.
    pub document_id: DocumentId,
    /// Who it is about.
    pub person: PersonRef,
    /// Its kind.
    pub kind: DocumentKind,
    /// Who stored it.
    pub author: Principal,
    /// The author's key.
    pub document_key: DocumentKey,
    /// The current version number.
    pub current_version: i64,
}

/// One document as [`DocumentStore::document_for_read`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentForRead {
    /// The document.
    pub record: DocumentRecord,
    /// Its current version's content.
    pub current: String,
    /// The content of the version asked for, when that is not the current
    /// one and exists.
    pub other: Option<String>,
    /// Every version's metadata, oldest first.
    pub versions: Vec<VersionMeta>,
}

/// A document in a person's list: its record, current version and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDocument {
    /// The document.
    pub record: DocumentRecord,
    /// Its current version.
    pub current: VersionMeta,
    /// The current version's canonical JSON content.
    pub content: String,
}

/// Which of a person's documents to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery<'a> {
    /// Kinds to include whoever wrote them.
    pub kinds: &'a [DocumentKind],
    /// Also include documents of any kind this principal wrote.
    pub authored_by: Option<&'a Principal>,
    /// Whatever the above, only this kind.
    pub only_kind: Option<DocumentKind>,
    /// Only documents with a sequence number below this (the cursor).
    pub before_seq: Option<i64>,
    /// At most this many rows.
    pub limit: u32,
}

/// A stored answer to an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The caller's `Idempotency-Key`.
    pub key: String,
    /// `fingerprint(method, path, body)` of the request that stored it.
    pub fingerprint: String,
    /// The answer's status.
    pub status: u16,
    /// The answer's `Location`, if any.
    pub location: Option<String>,
    /// The answer's body, byte for byte.
    pub body: String,
}

/// The typed operations the components need, whatever the database.
///
/// Write operations must run between [`DocumentStore::begin_write`] and
/// [`DocumentStore::commit`]; use [`in_transaction`].
pub trait DocumentStore {
    /// Starts a write transaction that holds the write lock from the start
    /// (SQLite `BEGIN IMMEDIATE`), so read-then-write sequences inside it
    /// cannot interleave with another writer.
    fn begin_write(&self) -> Result<(), StoreError>;
    /// Takes the locks of `keys` inside the open transaction, in
    /// [`lock_order`] (see [`lock`]).
    fn lock(&self, keys: &[LockKey]) -> Result<(), StoreError>;
    /// Commits the transaction.
    fn commit(&self) -> Result<(), StoreError>;
    /// Rolls the transaction back.
    fn rollback(&self) -> Result<(), StoreError>;

    /// The stored answers for `keys` of `principal` (any order, missing and
    /// expired keys omitted).
    fn find_idempotency(
        &self,
        principal: &Principal,
        keys: &[&str],
    ) -> Result<Vec<IdempotencyRecord>, StoreError>;

    /// Stores answers for new keys of `principal`. The keys must not exist,
    /// or only as expired records (which this replaces).
    fn put_idempotency(
        &self,
        principal: &Principal,
        records: &[IdempotencyRecord],
        created_at: &str,
    ) -> Result<(), StoreError>;

    /// Stores each item as the next version of its document (creating the
    /// document at version 1), unless its content equals the current
    /// version's. Items are applied in order, so the same document may
    /// appear more than once. Returns one [`Written`] per item, in order.
    fn write_versions(
        &self,
        items: &[NewVersion],
        stored_at: &str,
    ) -> Result<Vec<Written>, StoreError>;

    /// The document with this id.
    fn document(&self, id: &DocumentId) -> Result<Option<DocumentRecord>, StoreError>;

    /// Every version of the document with sequence number `seq`, oldest
    /// first.
    fn versions(&self, seq: i64) -> Result<Vec<VersionMeta>, StoreError>;

    /// One version's canonical JSON content.
    fn version_content(&self, seq: i64, version: i64) -> Result<Option<String>, StoreError>;

    /// What reading one document needs: the document with this id, the
    /// content of its current version and of version `version` (when that
    /// is another and exists), and every version's metadata, oldest first.
    /// One statement (each statement crosses the component boundary); the
    /// same as [`Self::document`], [`Self::version_content`] and
    /// [`Self::versions`] together.
    fn document_for_read(
        &self,
        id: &DocumentId,
        version: Option<i64>,
    ) -> Result<Option<DocumentForRead>, StoreError>;

    /// A person's documents with their current versions, newest document
    /// first (descending sequence number).
    fn person_documents(
        &self,
        person: &PersonRef,
        query: &ListQuery<'_>,
    ) -> Result<Vec<ListedDocument>, StoreError>;
}

/// One recorded consent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// The store's sequence number (the order of recording).
    pub seq: i64,
    /// The event as recorded.
    pub event: ConsentEvent,
    /// When the hub recorded it, RFC 3339 UTC.
    pub recorded_at: String,
}

/// A person's consent history: append-only, the latest event decides.
pub trait ConsentStore: DocumentStore {
    /// Every event about `person`, oldest first.
    fn consent_history(&self, person: &PersonRef) -> Result<Vec<ConsentRecord>, StoreError>;

    /// The state the latest event about `person` left (`None` without one).
    fn consent_state(&self, person: &PersonRef) -> Result<ConsentState, StoreError>;

    /// Appends an event; run it in a write transaction after checking the
    /// transition against [`ConsentStore::consent_state`] read in the same
    /// transaction. Returns the event's sequence number.
    fn append_consent(
        &self,
        person: &PersonRef,
        event: &ConsentEvent,
        recorded_by: &Principal,
        recorded_at: &str,
    ) -> Result<i64, StoreError>;
}

/// A registration to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRegistration {
    /// `RegistrationId::derive(office, person, registered_at)`.
    pub registration_id: RegistrationId,
    /// The registering office (care-manager, care-service or medical).
    pub office: Principal,
    /// The person it is responsible for.
    pub person: PersonRef,
    /// How the office verified the person's identity.
    pub verification_method: VerificationMethod,
    /// The record of that check.
    pub verification_reference: String,
    /// From when (RFC 3339, as sent).
    pub start: String,
    /// Until when, if known (RFC 3339, as sent).
    pub end: Option<String>,
}

/// The end of a registration by deregistration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deregistration {
    /// When (RFC 3339 UTC).
    pub at: String,
    /// Who ended it.
    pub by: Principal,
    /// Why (e.g. the contract ended).
    pub reason: String,
}

/// A registration as stored, with its deregistration if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRecord {
    /// The store's sequence number: list order and cursor.
    pub seq: i64,
    /// What was registered.
    pub registration: NewRegistration,
    /// When the hub recorded it, RFC 3339 UTC.
    pub registered_at: String,
    /// Its deregistration, if it was deregistered.
    pub deregistration: Option<Deregistration>,
}

impl RegistrationRecord {
    /// The registration's state at `now` (`carehub_domain::registration_state`).
    pub fn state(&self, now: &str) -> RegistrationState {
        registration_state(
            &self.registration.start,
            self.registration.end.as_deref(),
            self.deregistration.as_ref().map(|d| d.at.as_str()),
            now,
        )
    }
}

/// Offices' registrations as persons' responsible offices.
pub trait RegistrationStore: DocumentStore {
    /// Every registration of `office` for `person`, oldest first.
    fn office_registrations_for(
        &self,
        office: &Principal,
        person: &PersonRef,
    ) -> Result<Vec<RegistrationRecord>, StoreError>;

    /// The registration with this id.
    fn registration(&self, id: &RegistrationId) -> Result<Option<RegistrationRecord>, StoreError>;

    /// Records a registration (in a write transaction).
    fn add_registration(
        &self,
        registration: &NewRegistration,
        registered_at: &str,
    ) -> Result<RegistrationRecord, StoreError>;

    /// Records the deregistration of the registration with sequence number
    /// `seq` (in a write transaction). It must not have one yet.
    fn deregister(&self, seq: i64, deregistration: &Deregistration) -> Result<(), StoreError>;

    /// A person's registrations, newest first, below `before_seq`.
    fn person_registrations(
        &self,
        person: &PersonRef,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RegistrationRecord>, StoreError>;

    /// An office's registrations, newest first, below `before_seq`.
    fn office_registrations(
        &self,
        office: &Principal,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RegistrationRecord>, StoreError>;
}

/// The state of `office`'s registration for `person` at `now`, over all its
/// registrations (`carehub_domain::combined_state`). Roles that do not
/// register (municipality, portal, operator) are never registered.
pub fn office_registration_state<S: RegistrationStore + ?Sized>(
    store: &S,
    office: &Principal,
    person: &PersonRef,
    now: &str,
) -> Result<RegistrationState, StoreError> {
    if !carehub_domain::policy::registration::may_register(office) {
        return Ok(RegistrationState::None);
    }
    let records = store.office_registrations_for(office, person)?;
    Ok(carehub_domain::combined_state(
        records.iter().map(|r| r.state(now)),
    ))
}

/// One access-log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedAccess {
    /// The store's sequence number: chain order and cursor.
    pub seq: i64,
    /// The entry.
    pub entry: AccessLogEntry,
    /// Its chained hash.
    pub hash: String,
}

/// The tamper-evident access log: one hash chain per shard
/// (`carehub_domain::shard_of`: the person's, or the caller's for a read
/// that names no person).
pub trait AccessLogStore: DocumentStore {
    /// Starts a write transaction on the log's database (which may be a
    /// database of its own, see `SqlStore::with_log`); use
    /// [`in_log_transaction`].
    fn begin_log(&self) -> Result<(), StoreError>;
    /// Takes the locks of `keys` inside the log's open transaction.
    fn lock_log(&self, keys: &[LockKey]) -> Result<(), StoreError>;
    /// Commits the log's transaction.
    fn commit_log(&self) -> Result<(), StoreError>;
    /// Rolls the log's transaction back.
    fn rollback_log(&self) -> Result<(), StoreError>;

    /// Appends entries, each to its shard's chain, hashed over the shard's
    /// previous hash. Must run inside a write transaction holding the
    /// shards' locks ([`LockKey::LogShard`]) from reading the previous
    /// hash to the insert, so that concurrent appenders keep each chain
    /// linear; use [`log_access`].
    fn append_access(&self, entries: &[AccessLogEntry]) -> Result<(), StoreError>;

    /// Appends one entry without a transaction of its own: the shard's head
    /// is read, then the entry is inserted after it in one statement that
    /// inserts nothing if another appender has taken that place in the
    /// chain meanwhile (the unique `(shard, shard_seq)`), and then the head
    /// is read again and the entry chained after the new one. So the
    /// chain stays linear without a lock held across statements, and a
    /// read's append costs two statements, not four (`BEGIN`, the head, the
    /// insert, `COMMIT`), with the database's write lock held only for the
    /// insert. Gives up with an error after [`APPEND_TRIES`] places taken
    /// in a row. [`log_access`] uses it for a single entry.
    fn append_one_access(&self, entry: &AccessLogEntry) -> Result<(), StoreError>;

    /// The id of the request this store serves (`x-request-id`), which
    /// [`log_access`] writes into every entry that names none.
    fn request_id(&self) -> Option<&str> {
        None
    }

    /// Accesses to `person`'s data, newest first, below `before_seq`.
    fn person_accesses(
        &self,
        person: &PersonRef,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LoggedAccess>, StoreError>;
}

/// How often [`AccessLogStore::append_one_access`] reads a shard's head
/// again because another appender of the same shard came first.
pub const APPEND_TRIES: usize = 32;

/// Appends `entries` to the access log: one entry with
/// [`AccessLogStore::append_one_access`], several in a transaction of their
/// own, locking only the shards they chain in.
pub fn log_access<S: AccessLogStore + ?Sized>(
    store: &S,
    entries: &[AccessLogEntry],
) -> Result<(), StoreError> {
    let with_id: Option<Vec<AccessLogEntry>> = match store.request_id() {
        Some(id) if entries.iter().any(|e| e.request_id.is_none()) => Some(
            entries
                .iter()
                .cloned()
                .map(|mut e| {
                    e.request_id.get_or_insert_with(|| id.to_owned());
                    e
                })
                .collect(),
        ),
        _ => None,
    };
    let entries = with_id.as_deref().unwrap_or(entries);
    match entries {
        [one] => store.append_one_access(one),
        _ => {
            let mut shards: Vec<LockKey> = entries
                .iter()
                .map(|e| LockKey::LogShard(carehub_domain::shard_of(e)))
                .collect();
            shards.dedup();
            in_log_transaction(store, &shards, |s| s.append_access(entries))
        }
    }
}

/// [`in_transaction`] on the access log's database: the log's own
/// transaction, whatever database the documents live in.
pub fn in_log_transaction<S, T, E>(
    store: &S,
    locks: &[LockKey],
    f: impl FnOnce(&S) -> Result<T, E>,
) -> Result<T, E>
where
    S: AccessLogStore + ?Sized,
    E: From<StoreError>,
{
    transaction(
        store,
        Steps {
            begin: S::begin_log,
            lock: S::lock_log,
            commit: S::commit_log,
            rollback: S::rollback_log,
        },
        locks,
        f,
    )
}

/// How a transaction begins, locks, commits and rolls back.
struct Steps<S: ?Sized> {
    begin: fn(&S) -> Result<(), StoreError>,
    lock: fn(&S, &[LockKey]) -> Result<(), StoreError>,
    commit: fn(&S) -> Result<(), StoreError>,
    rollback: fn(&S) -> Result<(), StoreError>,
}

/// Runs `f` inside a write transaction that holds the locks of `locks`
/// (and only those, see [`lock`]): committed when `f` returns `Ok`, rolled
/// back when it returns `Err` (whatever the error), so that nothing is
/// half-stored.
pub fn in_transaction<S, T, E>(
    store: &S,
    locks: &[LockKey],
    f: impl FnOnce(&S) -> Result<T, E>,
) -> Result<T, E>
where
    S: DocumentStore + ?Sized,
    E: From<StoreError>,
{
    transaction(
        store,
        Steps {
            begin: S::begin_write,
            lock: S::lock,
            commit: S::commit,
            rollback: S::rollback,
        },
        locks,
        f,
    )
}

fn transaction<S, T, E>(
    store: &S,
    steps: Steps<S>,
    locks: &[LockKey],
    f: impl FnOnce(&S) -> Result<T, E>,
) -> Result<T, E>
where
    S: ?Sized,
    E: From<StoreError>,
{
    (steps.begin)(store)?;
    if let Err(e) = (steps.lock)(store, locks) {
        if let Err(r) = (steps.rollback)(store) {
            eprintln!("carehub-guest: rollback after failed lock failed: {r}");
        }
        return Err(e.into());
    }
    match f(store) {
        Ok(value) => match (steps.commit)(store) {
            Ok(()) => Ok(value),
            Err(e) => {
                if let Err(r) = (steps.rollback)(store) {
                    eprintln!("carehub-guest: rollback after failed commit failed: {r}");
                }
                Err(e.into())
            }
        },
        Err(e) => {
            if let Err(r) = (steps.rollback)(store) {
                eprintln!("carehub-guest: rollback failed: {r}");
            }
            Err(e)
        }
    }
}

/// Reads typed columns from a row, reporting a corrupt row instead of
/// panicking.
pub(crate) struct RowReader<'a> {
    row: &'a [Value],
    what: &'static str,
}

impl<'a> RowReader<'a> {
    pub(crate) fn new(row: &'a [Value], what: &'static str) -> Self {
        RowReader { row, what }
    }

    fn corrupt(&self, i: usize, expected: &str) -> StoreError {
        StoreError::Corrupt(format!("{}: column {i} is not {expected}", self.what))
    }

    pub(crate) fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.row.get(i) {
            Some(Value::Integer(v)) => Ok(*v),
            _ => Err(self.corrupt(i, "an integer")),
        }
    }

    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.row.get(i) {
            Some(Value::Integer(v)) => Ok(Some(*v)),
            Some(Value::Null) => Ok(None),
            _ => Err(self.corrupt(i, "an integer or null")),
        }
    }

    pub(crate) fn text(&self, i: usize) -> Result<&'a str, StoreError> {
        match self.row.get(i) {
            Some(Value::Text(v)) => Ok(v),
            _ => Err(self.corrupt(i, "text")),
        }
    }

    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<&'a str>, StoreError> {
        match self.row.get(i) {
            Some(Value::Text(v)) => Ok(Some(v)),
            Some(Value::Null) => Ok(None),
            _ => Err(self.corrupt(i, "text or null")),
        }
    }

    /// Parses a text column into a domain type; a parse failure is a corrupt row.
    pub(crate) fn parse<T, E: fmt::Display>(
        &self,
        i: usize,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, StoreError> {
        let s = self.text(i)?;
        parse(s).map_err(|e| StoreError::Corrupt(format!("{}: column {i}: {e}", self.what)))
    }
}

/// Takes a text value out of a row without copying it.
pub(crate) fn take_text(row: &mut [Value], i: usize, what: &str) -> Result<String, StoreError> {
    match row.get_mut(i) {
        Some(v @ Value::Text(_)) => match std::mem::replace(v, Value::Null) {
            Value::Text(s) => Ok(s),
            _ => unreachable!("matched Text above"),
        },
        _ => Err(StoreError::Corrupt(format!(
            "{what}: column {i} is not text"
        ))),
    }
}
