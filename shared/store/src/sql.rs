//! The SQLite dialect: every statement the store runs against SQLite.
//!
//! The schema is `shared/migrations/sqlite/`; this module only reads and
//! writes it. Writes are batched into multi-row statements (one upsert for
//! the documents of a chunk, one insert for their versions), because each
//! statement crosses the component boundary and is prepared by the host:
//! a bulk ingest of 100,000 documents costs a few thousand statements, not
//! hundreds of thousands.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use carehub_domain::{
    AccessLogEntry, ConsentEvent, ConsentState, DocumentId, DocumentKey, DocumentKind,
    GENESIS_HASH, InsuredNumber, InsurerNumber, PersonRef, Principal, RegistrationId,
    VerificationMethod, canonical_json, chain_hash, shard_of, shard_of_person,
};

use carehub_domain::webhook::{Event, EventFacts, RegistrationChange};

use super::outbox::OutboxStore;
use super::{
    AccessLogStore, ConsentRecord, ConsentStore, Db, Deregistration, DocumentForRead,
    DocumentRecord, DocumentStore, IdempotencyRecord, ListQuery, ListedDocument, LockKey,
    LoggedAccess, NewRegistration, NewVersion, RegistrationRecord, RegistrationStore, RowReader,
    StoreError, Value, VersionMeta, WriteOutcome, Written, lock_order, take_text,
};

/// Documents per multi-row statement. 8 parameters per document row keeps a
/// chunk far below SQLite's 32,766-parameter limit.
const WRITE_CHUNK: usize = 256;
/// Keys per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 500;

/// The store over a SQLite connection.
pub struct SqlStore<D: Db> {
    db: D,
    idempotency_valid_from: Option<String>,
    /// The access log's own database, when it has one (SQLite's
    /// `accesslog` label); else the log lives in `db`.
    log: Option<D>,
    /// The request this store serves, for the access log's entries.
    request_id: Option<String>,
}

impl<D: Db> SqlStore<D> {
    /// Wraps a connection to a database migrated with
    /// `shared/migrations/sqlite` (the access log in it too).
    pub fn new(db: D) -> Self {
        SqlStore {
            db,
            idempotency_valid_from: None,
            log: None,
            request_id: None,
        }
    }

    /// Idempotency records created before `from` (RFC 3339 UTC, the stored
    /// format) have expired: [`DocumentStore::find_idempotency`] no longer
    /// finds them, so the key answers as new, and
    /// [`DocumentStore::put_idempotency`] replaces them. Without it records
    /// never expire. The purge job deletes them later
    /// ([`crate::retention`]).
    pub fn with_idempotency_valid_from(mut self, from: String) -> Self {
        self.idempotency_valid_from = Some(from);
        self
    }

    /// Wraps a connection to the documents' database and one to the access
    /// log's own (`shared/migrations/sqlite-accesslog`): the log's
    /// statements and transactions ([`AccessLogStore`],
    /// [`crate::CheckpointStore`]) run on `log`, everything else on `db`.
    pub fn with_log(db: D, log: D) -> Self {
        SqlStore {
            db,
            idempotency_valid_from: None,
            log: Some(log),
            request_id: None,
        }
    }

    /// The request this store serves: its id (`x-request-id`, as the edge
    /// set it) goes into every access-log entry written through this store.
    /// An id that [`carehub_domain::is_request_id`] refuses is not recorded.
    pub fn with_request_id(mut self, id: Option<&str>) -> Self {
        self.request_id = id
            .filter(|id| carehub_domain::is_request_id(id))
            .map(str::to_owned);
        self
    }

    /// The underlying connection.
    pub fn db(&self) -> &D {
        &self.db
    }

    /// The connection the access log lives on: its own, or [`Self::db`].
    pub fn log_db(&self) -> &D {
        self.log.as_ref().unwrap_or(&self.db)
    }

    fn exec(&self, sql: &str, params: Vec<Value>) -> Result<super::Rows, StoreError> {
        Ok(self.db.execute(sql, params)?)
    }

    fn log_exec(&self, sql: &str, params: Vec<Value>) -> Result<super::Rows, StoreError> {
        Ok(self.log_db().execute(sql, params)?)
    }
}

/// Appends `(?a, ?b, …)` groups: `rows` groups of `width` numbered
/// placeholders starting at `first`, with `fixed` text spliced in after the
/// per-row placeholders (e.g. a shared `?1`).
pub(crate) fn push_value_rows(
    sql: &mut String,
    rows: usize,
    width: usize,
    first: usize,
    tail: &str,
) {
    let mut n = first;
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push(',');
            }
            let _ = write!(sql, "?{n}");
            n += 1;
        }
        sql.push_str(tail);
        sql.push(')');
    }
}

fn push_placeholders(sql: &mut String, count: usize, first: usize) {
    for i in 0..count {
        if i > 0 {
            sql.push(',');
        }
        let _ = write!(sql, "?{}", first + i);
    }
}

/// Splits `items` into runs of at most [`WRITE_CHUNK`] in which no document
/// appears twice, so that one multi-row upsert per run can be matched back
/// to its items by document id.
fn chunks_without_repeats(items: &[NewVersion]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let id = item.document_id.as_str();
        if i - start == WRITE_CHUNK || seen.contains(id) {
            ranges.push(start..i);
            start = i;
            seen.clear();
        }
        seen.insert(id);
    }
    if start < items.len() {
        ranges.push(start..items.len());
    }
    ranges
}

const DOCUMENT_COLUMNS: &str = "d.seq, d.document_id, d.insurer_number, d.insured_number, d.kind, d.author, d.document_key, d.current_version";

fn document_record(row: &[Value], base: usize) -> Result<DocumentRecord, StoreError> {
    let r = RowReader::new(row, "documents");
    Ok(DocumentRecord {
        seq: r.int(base)?,
        document_id: r.parse(base + 1, DocumentId::parse)?,
        person: PersonRef::new(
            r.parse(base + 2, InsurerNumber::parse)?,
            r.parse(base + 3, InsuredNumber::parse)?,
        ),
        kind: r.parse(base + 4, str::parse::<DocumentKind>)?,
        author: r.parse(base + 5, Principal::parse_urn)?,
        document_key: r.parse(base + 6, DocumentKey::parse)?,
        current_version: r.int(base + 7)?,
    })
}

const VERSION_COLUMNS: &str = "v.version, v.supersedes, v.content_sha256, v.stored_at";

fn version_meta(row: &[Value], base: usize) -> Result<VersionMeta, StoreError> {
    let r = RowReader::new(row, "document_versions");
    Ok(VersionMeta {
        version: r.int(base)?,
        supersedes: r.opt_int(base + 1)?,
        content_sha256: r.text(base + 2)?.to_owned(),
        stored_at: r.text(base + 3)?.to_owned(),
    })
}

impl<D: Db> SqlStore<D> {
    /// Writes one chunk (no repeated document) and returns its results in
    /// item order.
    fn write_chunk(
        &self,
        items: &[NewVersion],
        stored_at: &str,
    ) -> Result<Vec<Written>, StoreError> {
        // 1. One upsert for all document rows. A row whose content equals the
        //    current version's is left alone and returns nothing. The stored
        //    row's columns are qualified (`documents.`): PostgreSQL refuses
        //    them bare next to `excluded`, SQLite accepts both.
        let mut sql = String::with_capacity(300 + items.len() * 48);
        sql.push_str(
            "INSERT INTO documents (document_id, insurer_number, insured_number, kind, author, \
             document_key, current_sha256, current_version, created_at, updated_at) VALUES ",
        );
        push_value_rows(&mut sql, items.len(), 7, 2, ",1,?1,?1");
        sql.push_str(
            " ON CONFLICT (document_id) DO UPDATE SET \
             current_version = documents.current_version + 1, \
             current_sha256 = excluded.current_sha256, \
             updated_at = excluded.updated_at \
             WHERE documents.current_sha256 <> excluded.current_sha256 \
             RETURNING document_id, seq, current_version",
        );
        let mut params = Vec::with_capacity(1 + items.len() * 7);
        params.push(Value::from(stored_at));
        for it in items {
            params.push(it.document_id.as_str().into());
            params.push(it.person.insurer_number.as_str().into());
            params.push(it.person.insured_number.as_str().into());
            params.push(it.kind.as_str().into());
            params.push(it.author.to_urn().into());
            params.push(it.document_key.as_str().into());
            params.push(it.content_sha256.as_str().into());
        }
        let returned = self.exec(&sql, params)?;
        let mut changed: HashMap<String, (i64, i64)> = HashMap::with_capacity(returned.rows.len());
        for row in &returned.rows {
            let r = RowReader::new(row, "documents upsert");
            changed.insert(r.text(0)?.to_owned(), (r.int(1)?, r.int(2)?));
        }

        // 2. One insert for the new versions.
        let mut results: Vec<Option<Written>> = vec![None; items.len()];
        let news: Vec<(usize, i64, i64)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| {
                changed
                    .get(it.document_id.as_str())
                    .map(|&(seq, version)| (i, seq, version))
            })
            .collect();
        if !news.is_empty() {
            let mut sql = String::with_capacity(200 + news.len() * 40);
            sql.push_str(
                "INSERT INTO document_versions (document_seq, version, supersedes, content, \
                 content_sha256, stored_at) VALUES ",
            );
            push_value_rows(&mut sql, news.len(), 5, 2, ",?1");
            let mut params = Vec::with_capacity(1 + news.len() * 5);
            params.push(Value::from(stored_at));
            for &(i, seq, version) in &news {
                let it = &items[i];
                let supersedes = (version > 1).then(|| version - 1);
                params.push(seq.into());
                params.push(version.into());
                params.push(supersedes.into());
                params.push(it.content.as_str().into());
                params.push(it.content_sha256.as_str().into());
                results[i] = Some(Written {
                    outcome: if version == 1 {
                        WriteOutcome::Created
                    } else {
                        WriteOutcome::NewVersion
                    },
                    version: VersionMeta {
                        version,
                        supersedes,
                        content_sha256: it.content_sha256.clone(),
                        stored_at: stored_at.to_owned(),
                    },
                });
            }
            self.exec(&sql, params)?;
            // Their events, in the same transaction (store::outbox).
            let events: Vec<Event> = news
                .iter()
                .map(|&(i, _, version)| Event {
                    person: items[i].person.clone(),
                    facts: EventFacts::DocumentStored {
                        document_id: items[i].document_id.clone(),
                        kind: items[i].kind,
                        version,
                        supersedes: (version > 1).then(|| version - 1),
                    },
                })
                .collect();
            OutboxStore::emit(self, &events, stored_at)?;
        }

        // 3. The unchanged ones: report their current version.
        let unchanged: Vec<usize> = (0..items.len()).filter(|&i| results[i].is_none()).collect();
        if !unchanged.is_empty() {
            let mut sql = format!(
                "SELECT d.document_id, {VERSION_COLUMNS} FROM documents d \
                 JOIN document_versions v ON v.document_seq = d.seq AND v.version = d.current_version \
                 WHERE d.document_id IN ("
            );
            push_placeholders(&mut sql, unchanged.len(), 1);
            sql.push(')');
            let params = unchanged
                .iter()
                .map(|&i| Value::from(items[i].document_id.as_str()))
                .collect();
            let rows = self.exec(&sql, params)?;
            let mut current: HashMap<String, VersionMeta> = HashMap::with_capacity(rows.rows.len());
            for row in &rows.rows {
                let r = RowReader::new(row, "documents current");
                current.insert(r.text(0)?.to_owned(), version_meta(row, 1)?);
            }
            for i in unchanged {
                let meta = current
                    .remove(items[i].document_id.as_str())
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "document {} neither changed nor has a current version",
                            items[i].document_id.as_str()
                        ))
                    })?;
                results[i] = Some(Written {
                    outcome: WriteOutcome::Unchanged,
                    version: meta,
                });
            }
        }
        Ok(results
            .into_iter()
            .map(|w| w.expect("every item answered above"))
            .collect())
    }
}

impl<D: Db> DocumentStore for SqlStore<D> {
    fn begin_write(&self) -> Result<(), StoreError> {
        self.exec("BEGIN IMMEDIATE", Vec::new()).map(drop)
    }

    fn lock(&self, keys: &[LockKey]) -> Result<(), StoreError> {
        for id in lock_order(keys) {
            self.db.lock(id)?;
        }
        Ok(())
    }

    fn commit(&self) -> Result<(), StoreError> {
        self.exec("COMMIT", Vec::new()).map(drop)
    }

    fn rollback(&self) -> Result<(), StoreError> {
        self.exec("ROLLBACK", Vec::new()).map(drop)
    }

    fn find_idempotency(
        &self,
        principal: &Principal,
        keys: &[&str],
    ) -> Result<Vec<IdempotencyRecord>, StoreError> {
        let mut found = Vec::new();
        let urn = principal.to_urn();
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let mut sql = String::from(
                "SELECT idempotency_key, fingerprint, status, location, body \
                 FROM idempotency_records WHERE principal = ?1 AND idempotency_key IN (",
            );
            push_placeholders(&mut sql, chunk.len(), 2);
            sql.push(')');
            let mut params = Vec::with_capacity(chunk.len() + 2);
            params.push(Value::from(urn.as_str()));
            params.extend(chunk.iter().map(|k| Value::from(*k)));
            if let Some(from) = &self.idempotency_valid_from {
                let _ = write!(sql, " AND created_at >= ?{}", chunk.len() + 2);
                params.push(Value::from(from.as_str()));
            }
            let mut rows = self.exec(&sql, params)?;
            for row in &mut rows.rows {
                let body = take_text(row, 4, "idempotency_records")?;
                let r = RowReader::new(row, "idempotency_records");
                let status = u16::try_from(r.int(2)?)
                    .map_err(|_| StoreError::Corrupt("idempotency_records: status".into()))?;
                found.push(IdempotencyRecord {
                    key: r.text(0)?.to_owned(),
                    fingerprint: r.text(1)?.to_owned(),
                    status,
                    location: r.opt_text(3)?.map(str::to_owned),
                    body,
                });
            }
        }
        Ok(found)
    }

    fn put_idempotency(
        &self,
        principal: &Principal,
        records: &[IdempotencyRecord],
        created_at: &str,
    ) -> Result<(), StoreError> {
        let urn = principal.to_urn();
        if let Some(from) = &self.idempotency_valid_from {
            // An expired record of the same key gives way to the new one.
            for chunk in records.chunks(LOOKUP_CHUNK) {
                let mut sql = String::from(
                    "DELETE FROM idempotency_records WHERE principal = ?1 AND created_at < ?2 \
                     AND idempotency_key IN (",
                );
                push_placeholders(&mut sql, chunk.len(), 3);
                sql.push(')');
                let mut params = Vec::with_capacity(chunk.len() + 2);
                params.push(Value::from(urn.as_str()));
                params.push(Value::from(from.as_str()));
                params.extend(chunk.iter().map(|r| Value::from(r.key.as_str())));
                self.exec(&sql, params)?;
            }
        }
        for chunk in records.chunks(WRITE_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO idempotency_records (idempotency_key, fingerprint, status, location, \
                 body, principal, created_at) VALUES ",
            );
            push_value_rows(&mut sql, chunk.len(), 5, 3, ",?1,?2");
            let mut params = Vec::with_capacity(2 + chunk.len() * 5);
            params.push(Value::from(urn.as_str()));
            params.push(Value::from(created_at));
            for rec in chunk {
                params.push(rec.key.as_str().into());
                params.push(rec.fingerprint.as_str().into());
                params.push(i64::from(rec.status).into());
                params.push(rec.location.clone().into());
                params.push(rec.body.as_str().into());
            }
            self.exec(&sql, params)?;
        }
        Ok(())
    }

    fn write_versions(
        &self,
        items: &[NewVersion],
        stored_at: &str,
    ) -> Result<Vec<Written>, StoreError> {
        let mut out = Vec::with_capacity(items.len());
        for range in chunks_without_repeats(items) {
            out.extend(self.write_chunk(&items[range], stored_at)?);
        }
        Ok(out)
    }

    fn document(&self, id: &DocumentId) -> Result<Option<DocumentRecord>, StoreError> {
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.document_id = ?1");
        let rows = self.exec(&sql, vec![id.as_str().into()])?;
        rows.rows
            .first()
            .map(|row| document_record(row, 0))
            .transpose()
    }

    fn versions(&self, seq: i64) -> Result<Vec<VersionMeta>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM document_versions v WHERE v.document_seq = ?1 ORDER BY v.version"
        );
        let rows = self.exec(&sql, vec![seq.into()])?;
        rows.rows.iter().map(|row| version_meta(row, 0)).collect()
    }

    fn version_content(&self, seq: i64, version: i64) -> Result<Option<String>, StoreError> {
        let mut rows = self.exec(
            "SELECT content FROM document_versions WHERE document_seq = ?1 AND version = ?2",
            vec![seq.into(), version.into()],
        )?;
        rows.rows
            .first_mut()
            .map(|row| take_text(row, 0, "document_versions"))
            .transpose()
    }

    fn document_for_read(
        &self,
        id: &DocumentId,
        version: Option<i64>,
    ) -> Result<Option<DocumentForRead>, StoreError> {
        // A row per version; the content only of the two wanted (0 is no
        // version: they count from 1).
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS}, {VERSION_COLUMNS}, \
             CASE WHEN v.version = d.current_version OR v.version = ?2 THEN v.content END \
             FROM documents d JOIN document_versions v ON v.document_seq = d.seq \
             WHERE d.document_id = ?1 ORDER BY v.version"
        );
        let mut rows = self.exec(&sql, vec![id.as_str().into(), version.unwrap_or(0).into()])?;
        let Some(first) = rows.rows.first() else {
            return Ok(None);
        };
        let record = document_record(first, 0)?;
        let (mut current, mut other) = (None, None);
        let mut versions = Vec::with_capacity(rows.rows.len());
        for row in &mut rows.rows {
            let meta = version_meta(row, 8)?;
            if meta.version == record.current_version {
                current = Some(take_text(row, 12, "document_versions")?);
            } else if Some(meta.version) == version {
                other = Some(take_text(row, 12, "document_versions")?);
            }
            versions.push(meta);
        }
        let current = current.ok_or_else(|| {
            StoreError::Corrupt(format!("{} has no current version", id.as_str()))
        })?;
        Ok(Some(DocumentForRead {
            record,
            current,
            other,
            versions,
        }))
    }

    fn person_documents(
        &self,
        person: &PersonRef,
        query: &ListQuery<'_>,
    ) -> Result<Vec<ListedDocument>, StoreError> {
        if query.kinds.is_empty() && query.authored_by.is_none() {
            return Ok(Vec::new());
        }
        let mut sql = format!(
            "SELECT {DOCUMENT_COLUMNS}, {VERSION_COLUMNS}, v.content FROM documents d \
             JOIN document_versions v ON v.document_seq = d.seq AND v.version = d.current_version \
             WHERE d.insurer_number = ?1 AND d.insured_number = ?2 AND d.seq < ?3 AND ("
        );
        let mut params: Vec<Value> = vec![
            person.insurer_number.as_str().into(),
            person.insured_number.as_str().into(),
            query.before_seq.unwrap_or(i64::MAX).into(),
            i64::from(query.limit).into(),
        ];
        // ?4 is the limit; kinds and author follow.
        let mut alternatives = Vec::new();
        if !query.kinds.is_empty() {
            let mut s = String::from("d.kind IN (");
            push_placeholders(&mut s, query.kinds.len(), params.len() + 1);
            s.push(')');
            alternatives.push(s);
            params.extend(query.kinds.iter().map(|k| Value::from(k.as_str())));
        }
        if let Some(author) = query.authored_by {
            alternatives.push(format!("d.author = ?{}", params.len() + 1));
            params.push(author.to_urn().into());
        }
        sql.push_str(&alternatives.join(" OR "));
        sql.push(')');
        if let Some(kind) = query.only_kind {
            let _ = write!(sql, " AND d.kind = ?{}", params.len() + 1);
            params.push(kind.as_str().into());
        }
        sql.push_str(" ORDER BY d.seq DESC LIMIT ?4");
        let mut rows = self.exec(&sql, params)?;
        rows.rows
            .iter_mut()
            .map(|row| {
                let content = take_text(row, 12, "document_versions")?;
                Ok(ListedDocument {
                    record: document_record(row, 0)?,
                    current: version_meta(row, 8)?,
                    content,
                })
            })
            .collect()
    }
}

fn person_params(person: &PersonRef) -> [Value; 2] {
    [
        person.insurer_number.as_str().into(),
        person.insured_number.as_str().into(),
    ]
}

fn person_of(r: &RowReader<'_>, insurer: usize, insured: usize) -> Result<PersonRef, StoreError> {
    Ok(PersonRef::new(
        r.parse(insurer, InsurerNumber::parse)?,
        r.parse(insured, InsuredNumber::parse)?,
    ))
}

fn json_column<T: serde::de::DeserializeOwned>(
    r: &RowReader<'_>,
    i: usize,
) -> Result<T, StoreError> {
    r.parse(i, |s| serde_json::from_str::<T>(s))
}

fn consent_record(row: &[Value]) -> Result<ConsentRecord, StoreError> {
    let r = RowReader::new(row, "consent_events");
    Ok(ConsentRecord {
        seq: r.int(0)?,
        event: json_column(&r, 1)?,
        recorded_at: r.text(2)?.to_owned(),
    })
}

impl<D: Db> ConsentStore for SqlStore<D> {
    fn consent_history(&self, person: &PersonRef) -> Result<Vec<ConsentRecord>, StoreError> {
        let rows = self.exec(
            "SELECT seq, body, recorded_at FROM consent_events \
             WHERE insurer_number = ?1 AND insured_number = ?2 ORDER BY seq",
            person_params(person).into(),
        )?;
        rows.rows.iter().map(|row| consent_record(row)).collect()
    }

    fn consent_state(&self, person: &PersonRef) -> Result<ConsentState, StoreError> {
        let rows = self.exec(
            "SELECT seq, body, recorded_at FROM consent_events \
             WHERE insurer_number = ?1 AND insured_number = ?2 ORDER BY seq DESC LIMIT 1",
            person_params(person).into(),
        )?;
        Ok(match rows.rows.first() {
            Some(row) => consent_record(row)?.event.resulting_state(),
            None => ConsentState::None,
        })
    }

    fn append_consent(
        &self,
        person: &PersonRef,
        event: &ConsentEvent,
        recorded_by: &Principal,
        recorded_at: &str,
    ) -> Result<i64, StoreError> {
        let body = serde_json::to_value(event)
            .map_err(|e| StoreError::Corrupt(format!("consent event does not serialize: {e}")))?;
        let [insurer, insured] = person_params(person);
        let rows = self.exec(
            "INSERT INTO consent_events (insurer_number, insured_number, event, body, \
             recorded_by, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING seq",
            vec![
                insurer,
                insured,
                event.name().into(),
                canonical_json(&body).into(),
                recorded_by.to_urn().into(),
                recorded_at.into(),
            ],
        )?;
        let row = rows
            .rows
            .first()
            .ok_or_else(|| StoreError::Corrupt("consent insert returned no seq".into()))?;
        let seq = RowReader::new(row, "consent_events insert").int(0)?;
        OutboxStore::emit(
            self,
            &[Event {
                person: person.clone(),
                facts: EventFacts::ConsentChanged {
                    event: event.name().to_owned(),
                    state: event.resulting_state(),
                },
            }],
            recorded_at,
        )?;
        Ok(seq)
    }
}

const REGISTRATION_COLUMNS: &str = "r.seq, r.registration_id, r.office, r.insurer_number, \
     r.insured_number, r.verification_method, r.verification_reference, r.start_at, r.end_at, \
     r.registered_at, d.deregistered_at, d.deregistered_by, d.reason";

const REGISTRATION_FROM: &str =
    "office_registrations r LEFT JOIN office_deregistrations d ON d.registration_seq = r.seq";

fn registration_record(row: &[Value]) -> Result<RegistrationRecord, StoreError> {
    let r = RowReader::new(row, "office_registrations");
    let deregistration = match r.opt_text(10)? {
        None => None,
        Some(at) => Some(Deregistration {
            at: at.to_owned(),
            by: r.parse(11, Principal::parse_urn)?,
            reason: r.text(12)?.to_owned(),
        }),
    };
    Ok(RegistrationRecord {
        seq: r.int(0)?,
        registration: NewRegistration {
            registration_id: r.parse(1, RegistrationId::parse)?,
            office: r.parse(2, Principal::parse_urn)?,
            person: person_of(&r, 3, 4)?,
            verification_method: json_column::<VerificationMethod>(&r, 5)?,
            verification_reference: r.text(6)?.to_owned(),
            start: r.text(7)?.to_owned(),
            end: r.opt_text(8)?.map(str::to_owned),
        },
        registered_at: r.text(9)?.to_owned(),
        deregistration,
    })
}

impl<D: Db> SqlStore<D> {
    fn registrations_where(
        &self,
        condition: &str,
        params: Vec<Value>,
        order: &str,
    ) -> Result<Vec<RegistrationRecord>, StoreError> {
        let sql = format!(
            "SELECT {REGISTRATION_COLUMNS} FROM {REGISTRATION_FROM} WHERE {condition} {order}"
        );
        let rows = self.exec(&sql, params)?;
        rows.rows
            .iter()
            .map(|row| registration_record(row))
            .collect()
    }
}

impl<D: Db> RegistrationStore for SqlStore<D> {
    fn office_registrations_for(
        &self,
        office: &Principal,
        person: &PersonRef,
    ) -> Result<Vec<RegistrationRecord>, StoreError> {
        let [insurer, insured] = person_params(person);
        self.registrations_where(
            "r.office = ?1 AND r.insurer_number = ?2 AND r.insured_number = ?3",
            vec![office.to_urn().into(), insurer, insured],
            "ORDER BY r.seq",
        )
    }

    fn registration(&self, id: &RegistrationId) -> Result<Option<RegistrationRecord>, StoreError> {
        Ok(self
            .registrations_where("r.registration_id = ?1", vec![id.as_str().into()], "")?
            .pop())
    }

    fn add_registration(
        &self,
        registration: &NewRegistration,
        registered_at: &str,
    ) -> Result<RegistrationRecord, StoreError> {
        let method = serde_json::to_value(&registration.verification_method).map_err(|e| {
            StoreError::Corrupt(format!("verification method does not serialize: {e}"))
        })?;
        let [insurer, insured] = person_params(&registration.person);
        let rows = self.exec(
            "INSERT INTO office_registrations (registration_id, office, insurer_number, \
             insured_number, verification_method, verification_reference, start_at, end_at, \
             registered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING seq",
            vec![
                registration.registration_id.as_str().into(),
                registration.office.to_urn().into(),
                insurer,
                insured,
                canonical_json(&method).into(),
                registration.verification_reference.as_str().into(),
                registration.start.as_str().into(),
                registration.end.clone().into(),
                registered_at.into(),
            ],
        )?;
        let row = rows
            .rows
            .first()
            .ok_or_else(|| StoreError::Corrupt("registration insert returned no seq".into()))?;
        OutboxStore::emit(
            self,
            &[Event {
                person: registration.person.clone(),
                facts: EventFacts::RegistrationChanged {
                    registration_id: registration.registration_id.clone(),
                    office: registration.office.clone(),
                    change: RegistrationChange::Registered,
                },
            }],
            registered_at,
        )?;
        Ok(RegistrationRecord {
            seq: RowReader::new(row, "office_registrations insert").int(0)?,
            registration: registration.clone(),
            registered_at: registered_at.to_owned(),
            deregistration: None,
        })
    }

    fn deregister(&self, seq: i64, deregistration: &Deregistration) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO office_deregistrations (registration_seq, deregistered_at, \
             deregistered_by, reason) VALUES (?1, ?2, ?3, ?4)",
            vec![
                seq.into(),
                deregistration.at.as_str().into(),
                deregistration.by.to_urn().into(),
                deregistration.reason.as_str().into(),
            ],
        )?;
        let registered = self
            .registrations_where("r.seq = ?1", vec![seq.into()], "")?
            .pop()
            .ok_or_else(|| StoreError::Corrupt(format!("deregistered {seq}: no registration")))?;
        OutboxStore::emit(
            self,
            &[Event {
                person: registered.registration.person,
                facts: EventFacts::RegistrationChanged {
                    registration_id: registered.registration.registration_id,
                    office: registered.registration.office,
                    change: RegistrationChange::Deregistered,
                },
            }],
            &deregistration.at,
        )
    }

    fn person_registrations(
        &self,
        person: &PersonRef,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RegistrationRecord>, StoreError> {
        let [insurer, insured] = person_params(person);
        self.registrations_where(
            "r.insurer_number = ?1 AND r.insured_number = ?2 AND r.seq < ?3",
            vec![
                insurer,
                insured,
                before_seq.unwrap_or(i64::MAX).into(),
                i64::from(limit).into(),
            ],
            "ORDER BY r.seq DESC LIMIT ?4",
        )
    }

    fn office_registrations(
        &self,
        office: &Principal,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RegistrationRecord>, StoreError> {
        self.registrations_where(
            "r.office = ?1 AND r.seq < ?2",
            vec![
                office.to_urn().into(),
                before_seq.unwrap_or(i64::MAX).into(),
                i64::from(limit).into(),
            ],
            "ORDER BY r.seq DESC LIMIT ?3",
        )
    }
}

impl<D: Db> AccessLogStore for SqlStore<D> {
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    fn begin_log(&self) -> Result<(), StoreError> {
        self.log_exec("BEGIN IMMEDIATE", Vec::new()).map(drop)
    }

    fn lock_log(&self, keys: &[LockKey]) -> Result<(), StoreError> {
        for id in lock_order(keys) {
            self.log_db().lock(id)?;
        }
        Ok(())
    }

    fn commit_log(&self) -> Result<(), StoreError> {
        self.log_exec("COMMIT", Vec::new()).map(drop)
    }

    fn rollback_log(&self) -> Result<(), StoreError> {
        self.log_exec("ROLLBACK", Vec::new()).map(drop)
    }

    fn append_access(&self, entries: &[AccessLogEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        // Each entry chains after its shard's head, read under the
        // shard's lock (log_access takes it): no other appender of the
        // shard can come between this read and the insert, and the unique
        // (shard, shard_seq) refuses a fork should one try.
        for entry in entries {
            let shard = shard_of(entry);
            let (prev, shard_seq) = self.log_head(&shard)?;
            let row = LogRow::new(entry, shard, shard_seq, prev);
            self.log_exec(
                "INSERT INTO log_entries (shard, shard_seq, insurer_number, insured_number, \
                 entry, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                row.params(),
            )?;
        }
        Ok(())
    }

    fn append_one_access(&self, entry: &AccessLogEntry) -> Result<(), StoreError> {
        let shard = shard_of(entry);
        let text = entry.canonical_json();
        for _ in 0..crate::APPEND_TRIES {
            let (prev, shard_seq) = self.log_head(&shard)?;
            let row = LogRow::with_text(entry, shard.clone(), shard_seq, prev, text.clone());
            let inserted = self.log_exec(
                "INSERT INTO log_entries (shard, shard_seq, insurer_number, insured_number, \
                 entry, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (shard, shard_seq) DO NOTHING RETURNING seq",
                row.params(),
            )?;
            if !inserted.rows.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Db(super::DbError(format!(
            "access log shard {shard}: {} appends in a row lost the race for its next place",
            crate::APPEND_TRIES
        ))))
    }

    fn person_accesses(
        &self,
        person: &PersonRef,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LoggedAccess>, StoreError> {
        // The person's own shard, newest first (within a shard seq and
        // shard_seq rise together, so the shard's index gives seq order),
        // and the person's entries of the pre-sharding shard, which the
        // partial index holds; merged, newest first.
        let before = before_seq.unwrap_or(i64::MAX);
        let shard = shard_of_person(person);
        let own = self.log_exec(
            OWN_ACCESSES_SQL,
            vec![shard.into(), before.into(), i64::from(limit).into()],
        )?;
        let [insurer, insured] = person_params(person);
        let legacy = self.log_exec(
            LEGACY_ACCESSES_SQL,
            vec![insurer, insured, before.into(), i64::from(limit).into()],
        )?;
        let mut list = own
            .rows
            .iter()
            .chain(&legacy.rows)
            .map(|row| {
                let r = RowReader::new(row, "log_entries");
                Ok(LoggedAccess {
                    seq: r.int(0)?,
                    entry: json_column(&r, 1)?,
                    hash: r.text(2)?.to_owned(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        list.sort_unstable_by_key(|a| std::cmp::Reverse(a.seq));
        list.truncate(limit as usize);
        Ok(list)
    }
}

/// A person's entries in their own shard, newest first: within a shard
/// `seq` and `shard_seq` rise together, so `log_entries_by_shard` gives the
/// order without a sort.
const OWN_ACCESSES_SQL: &str = "SELECT seq, entry, hash FROM log_entries \
     WHERE shard = ?1 AND seq < ?2 ORDER BY shard_seq DESC LIMIT ?3";

/// A person's entries of the pre-sharding shard, newest first. The shard
/// is a literal, not a parameter, so that SQLite plans the statement with
/// the partial index that holds that shard's entries
/// (`log_entries_legacy_by_person`).
const LEGACY_ACCESSES_SQL: &str = "SELECT seq, entry, hash FROM log_entries \
     WHERE shard = 'legacy' AND insurer_number = ?1 AND insured_number = ?2 AND seq < ?3 \
     ORDER BY seq DESC LIMIT ?4";

impl<D: Db> SqlStore<D> {
    /// The hash and number a new entry of `shard` chains after: the
    /// shard's last row's hash and the next `shard_seq` (the genesis hash
    /// and 1 for a new shard).
    fn log_head(&self, shard: &str) -> Result<(String, i64), StoreError> {
        let rows = self.log_exec(
            "SELECT hash, shard_seq FROM log_entries WHERE shard = ?1 \
             ORDER BY shard_seq DESC LIMIT 1",
            vec![shard.into()],
        )?;
        match rows.rows.first() {
            Some(row) => {
                let r = RowReader::new(row, "log_entries");
                Ok((r.text(0)?.to_owned(), r.int(1)? + 1))
            }
            None => Ok((GENESIS_HASH.to_owned(), 1)),
        }
    }
}

/// One `log_entries` row to insert: the entry chained after `prev`.
struct LogRow {
    shard: String,
    shard_seq: i64,
    insurer: Value,
    insured: Value,
    text: String,
    prev: String,
    hash: String,
}

impl LogRow {
    fn new(entry: &AccessLogEntry, shard: String, shard_seq: i64, prev: String) -> LogRow {
        let text = entry.canonical_json();
        LogRow::with_text(entry, shard, shard_seq, prev, text)
    }

    fn with_text(
        entry: &AccessLogEntry,
        shard: String,
        shard_seq: i64,
        prev: String,
        text: String,
    ) -> LogRow {
        let hash = chain_hash(&prev, &text);
        let (insurer, insured) = match &entry.person {
            Some(p) => (
                Value::from(p.insurer_number.as_str()),
                Value::from(p.insured_number.as_str()),
            ),
            None => (Value::Null, Value::Null),
        };
        LogRow {
            shard,
            shard_seq,
            insurer,
            insured,
            text,
            prev,
            hash,
        }
    }

    /// `?1`…`?7` of the insert.
    fn params(self) -> Vec<Value> {
        vec![
            self.shard.into(),
            self.shard_seq.into(),
            self.insurer,
            self.insured,
            self.text.into(),
            self.prev.into(),
            self.hash.into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log database on which another appender takes the place a single
    /// append read, between its read of the shard's head and its insert
    /// (the first `tries` inserts).
    #[cfg(feature = "native-sqlite")]
    struct Racing {
        db: crate::native::NativeDb,
        rivals: std::cell::Cell<usize>,
    }

    #[cfg(feature = "native-sqlite")]
    impl Db for Racing {
        fn execute(
            &self,
            sql: &str,
            params: Vec<Value>,
        ) -> Result<super::super::Rows, super::super::DbError> {
            if sql.starts_with("INSERT INTO log_entries") && self.rivals.get() > 0 {
                self.rivals.set(self.rivals.get() - 1);
                // The rival chains after the head as it is now, in the
                // place the append has just read as free.
                let Value::Text(shard) = &params[0] else {
                    panic!("shard")
                };
                let head = self.db.execute(
                    "SELECT hash, shard_seq FROM log_entries WHERE shard = ?1 \
                     ORDER BY shard_seq DESC LIMIT 1",
                    vec![shard.as_str().into()],
                )?;
                let (prev, next) = match head.rows.first() {
                    Some(r) => match (&r[0], &r[1]) {
                        (Value::Text(h), Value::Integer(n)) => (h.clone(), n + 1),
                        _ => panic!("head row"),
                    },
                    None => (GENESIS_HASH.to_owned(), 1),
                };
                let text = format!("{{\"rival\":{next}}}");
                let hash = chain_hash(&prev, &text);
                self.db.execute(
                    "INSERT INTO log_entries (shard, shard_seq, entry, prev_hash, hash) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    vec![
                        shard.as_str().into(),
                        next.into(),
                        text.into(),
                        prev.into(),
                        hash.into(),
                    ],
                )?;
            }
            self.db.execute(sql, params)
        }
    }

    #[cfg(feature = "native-sqlite")]
    fn racing_store(rivals: usize) -> SqlStore<Racing> {
        SqlStore::new(Racing {
            db: crate::native::NativeDb::migrated(),
            rivals: std::cell::Cell::new(rivals),
        })
    }

    #[cfg(feature = "native-sqlite")]
    fn entry() -> AccessLogEntry {
        AccessLogEntry::listing(
            "2026-12-03T15:00:00Z",
            Principal::parse_urn("urn:carehub:care-manager:1371234567").unwrap(),
            PersonRef::new(
                InsurerNumber::parse("131016").unwrap(),
                InsuredNumber::parse("0000012345").unwrap(),
            ),
        )
    }

    /// Every row of `shard`, in chain order: (shard_seq, prev_hash, hash, entry).
    #[cfg(feature = "native-sqlite")]
    fn chain(s: &SqlStore<Racing>, shard: &str) -> Vec<(i64, String, String, String)> {
        let rows = s
            .log_exec(
                "SELECT shard_seq, prev_hash, hash, entry FROM log_entries WHERE shard = ?1 \
                 ORDER BY shard_seq",
                vec![shard.into()],
            )
            .unwrap();
        rows.rows
            .iter()
            .map(|r| {
                let r = RowReader::new(r, "log_entries");
                (
                    r.int(0).unwrap(),
                    r.text(1).unwrap().to_owned(),
                    r.text(2).unwrap().to_owned(),
                    r.text(3).unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// An access-log database as it was before migration 0003, holding
    /// a pre-sharding (`legacy`) chain of three entries about `p` and one
    /// about `q` between them, then migrated to the current schema.
    #[cfg(feature = "native-sqlite")]
    fn upgraded_log(p: &PersonRef, q: &PersonRef) -> SqlStore<crate::native::NativeDb> {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let (old, new): (Vec<_>, Vec<_>) = crate::native::migrations_of("sqlite-accesslog")
            .into_iter()
            .partition(|(name, _)| name.as_str() < "0003");
        assert_eq!(old.len(), 2);
        for (_, sql) in &old {
            conn.execute_batch(sql).unwrap();
        }
        let mut prev = GENESIS_HASH.to_owned();
        for (i, who) in [p, p, q, p].into_iter().enumerate() {
            let e = AccessLogEntry::listing(
                format!("2025-01-0{}T00:00:00Z", i + 1),
                Principal::parse_urn("urn:carehub:municipality:131016").unwrap(),
                who.clone(),
            )
            .canonical_json();
            let h = chain_hash(&prev, &e);
            conn.execute(
                "INSERT INTO log_entries (shard, shard_seq, insurer_number, insured_number, \
                 entry, prev_hash, hash) VALUES ('legacy', ?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    i as i64 + 1,
                    who.insurer_number.as_str(),
                    who.insured_number.as_str(),
                    e,
                    prev,
                    h
                ],
            )
            .unwrap();
            prev = h;
        }
        for (_, sql) in &new {
            conn.execute_batch(sql).unwrap();
        }
        SqlStore::new(crate::native::NativeDb(conn))
    }

    #[cfg(feature = "native-sqlite")]
    fn person(insured: &str) -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse(insured).unwrap(),
        )
    }

    /// After migration 0003 (no person index, no hash index) a person's
    /// access list is still their pre-sharding entries and their own
    /// shard's, newest first, in pages; nobody else's.
    #[cfg(feature = "native-sqlite")]
    #[test]
    fn a_persons_access_list_merges_their_legacy_entries_and_their_shard_newest_first() {
        let (p, q) = (person("0000000001"), person("0000000002"));
        let s = upgraded_log(&p, &q);
        let principal = Principal::parse_urn("urn:carehub:care-manager:1371234567").unwrap();
        for day in 1..=2 {
            for who in [&p, &q] {
                let e = AccessLogEntry::listing(
                    format!("2026-02-0{day}T00:00:00Z"),
                    principal.clone(),
                    who.clone(),
                );
                crate::log_access(&s, std::slice::from_ref(&e)).unwrap();
            }
        }
        let at = |list: &[LoggedAccess]| -> Vec<String> {
            list.iter().map(|a| a.entry.at.clone()).collect()
        };
        let all = s.person_accesses(&p, None, 10).unwrap();
        assert_eq!(
            at(&all),
            [
                "2026-02-02T00:00:00Z",
                "2026-02-01T00:00:00Z",
                "2025-01-04T00:00:00Z",
                "2025-01-02T00:00:00Z",
                "2025-01-01T00:00:00Z"
            ]
        );
        assert!(all.windows(2).all(|w| w[0].seq > w[1].seq));
        // Pages of two, each starting below the last one's oldest entry,
        // cross from the shard into the legacy entries.
        let first = s.person_accesses(&p, None, 2).unwrap();
        let second = s.person_accesses(&p, Some(first[1].seq), 2).unwrap();
        let third = s.person_accesses(&p, Some(second[1].seq), 2).unwrap();
        assert_eq!(
            [at(&first), at(&second), at(&third)].concat(),
            at(&all),
            "the pages are the whole list, once"
        );
        assert_eq!(s.person_accesses(&q, None, 10).unwrap().len(), 3);
    }

    /// The list's two statements are index lookups, not scans of the log.
    #[cfg(feature = "native-sqlite")]
    #[test]
    fn a_persons_access_list_reads_through_the_shard_and_legacy_indexes() {
        let s = upgraded_log(&person("0000000001"), &person("0000000002"));
        let plan = |sql: &str, n: usize| -> String {
            let rows = s
                .log_exec(
                    &format!("EXPLAIN QUERY PLAN {sql}"),
                    vec!["x".into(), "y".into(), 1.into(), 1.into()][..n].to_vec(),
                )
                .unwrap();
            rows.rows
                .iter()
                .map(|r| match &r[3] {
                    Value::Text(t) => t.clone(),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let own = plan(OWN_ACCESSES_SQL, 3);
        assert!(
            own.contains("USING INDEX log_entries_by_shard") && !own.contains("TEMP B-TREE"),
            "{own}"
        );
        let legacy = plan(LEGACY_ACCESSES_SQL, 4);
        assert!(
            legacy.contains("USING INDEX log_entries_legacy_by_person")
                && !legacy.contains("TEMP B-TREE"),
            "{legacy}"
        );
        assert!(
            LEGACY_ACCESSES_SQL.contains(&format!("shard = '{}'", carehub_domain::LEGACY_SHARD))
        );
    }

    #[cfg(feature = "native-sqlite")]
    #[test]
    fn a_single_append_that_loses_its_place_chains_after_the_one_that_took_it() {
        let s = racing_store(3);
        let e = entry();
        crate::log_access(&s, std::slice::from_ref(&e)).unwrap();
        let rows = chain(&s, &shard_of(&e));
        // Three rivals took places 1, 2 and 3; the append is the fourth,
        // after the third, and the chain is one line from the genesis hash.
        assert_eq!(rows.len(), 4);
        let mut prev = GENESIS_HASH.to_owned();
        for (i, (seq, p, h, text)) in rows.iter().enumerate() {
            assert_eq!(*seq, i as i64 + 1);
            assert_eq!(p, &prev, "row {seq} chains after the row before it");
            assert_eq!(h, &chain_hash(p, text), "row {seq}'s hash");
            prev = h.clone();
        }
        assert_eq!(rows[3].3, e.canonical_json());
    }

    #[cfg(feature = "native-sqlite")]
    #[test]
    fn a_single_append_that_keeps_losing_its_place_fails_and_leaves_the_chain_whole() {
        let s = racing_store(crate::APPEND_TRIES);
        let e = entry();
        let err = crate::log_access(&s, std::slice::from_ref(&e)).unwrap_err();
        assert!(err.to_string().contains("lost the race"), "{err}");
        let rows = chain(&s, &shard_of(&e));
        assert_eq!(rows.len(), crate::APPEND_TRIES, "only the rivals' rows");
        assert!(rows.iter().all(|r| r.3.contains("rival")));
    }

    #[test]
    fn value_rows_are_numbered() {
        let mut s = String::new();
        push_value_rows(&mut s, 2, 3, 2, ",?1");
        assert_eq!(s, "(?2,?3,?4,?1),(?5,?6,?7,?1)");
        let mut s = String::new();
        push_placeholders(&mut s, 3, 4);
        assert_eq!(s, "?4,?5,?6");
    }
}
