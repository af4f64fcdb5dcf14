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
    DocumentId, DocumentKey, DocumentKind, InsuredNumber, InsurerNumber, PersonRef, Principal,
};

use super::{
    Db, DocumentRecord, DocumentStore, IdempotencyRecord, ListQuery, ListedDocument, NewVersion,
    RowReader, StoreError, Value, VersionMeta, WriteOutcome, Written, take_text,
};

/// Documents per multi-row statement. 8 parameters per document row keeps a
/// chunk far below SQLite's 32,766-parameter limit.
const WRITE_CHUNK: usize = 256;
/// Keys per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 500;

/// The store over a SQLite connection.
pub struct SqliteStore<D: Db> {
    db: D,
}

impl<D: Db> SqliteStore<D> {
    /// Wraps a connection to a database migrated with
    /// `shared/migrations/sqlite`.
    pub fn new(db: D) -> Self {
        SqliteStore { db }
    }

    /// The underlying connection.
    pub fn db(&self) -> &D {
        &self.db
    }

    fn exec(&self, sql: &str, params: Vec<Value>) -> Result<super::Rows, StoreError> {
        Ok(self.db.execute(sql, params)?)
    }
}

/// Appends `(?a, ?b, …)` groups: `rows` groups of `width` numbered
/// placeholders starting at `first`, with `fixed` text spliced in after the
/// per-row placeholders (e.g. a shared `?1`).
fn push_value_rows(sql: &mut String, rows: usize, width: usize, first: usize, tail: &str) {
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

impl<D: Db> SqliteStore<D> {
    /// Writes one chunk (no repeated document) and returns its results in
    /// item order.
    fn write_chunk(
        &self,
        items: &[NewVersion],
        stored_at: &str,
    ) -> Result<Vec<Written>, StoreError> {
        // 1. One upsert for all document rows. A row whose content equals the
        //    current version's is left alone and returns nothing.
        let mut sql = String::with_capacity(300 + items.len() * 48);
        sql.push_str(
            "INSERT INTO documents (document_id, insurer_number, insured_number, kind, author, \
             document_key, current_sha256, current_version, created_at, updated_at) VALUES ",
        );
        push_value_rows(&mut sql, items.len(), 7, 2, ",1,?1,?1");
        sql.push_str(
            " ON CONFLICT (document_id) DO UPDATE SET \
             current_version = current_version + 1, \
             current_sha256 = excluded.current_sha256, \
             updated_at = excluded.updated_at \
             WHERE current_sha256 <> excluded.current_sha256 \
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

impl<D: Db> DocumentStore for SqliteStore<D> {
    fn begin_write(&self) -> Result<(), StoreError> {
        self.exec("BEGIN IMMEDIATE", Vec::new()).map(drop)
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
            let mut params = Vec::with_capacity(chunk.len() + 1);
            params.push(Value::from(urn.as_str()));
            params.extend(chunk.iter().map(|k| Value::from(*k)));
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

#[cfg(test)]
mod tests {
    use super::*;

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
