//! The read operation, independent of Spin: routes, parameters, and the two
//! reads against any [`DocumentStore`].

use carehub_domain::{
    Cursor, DocumentId, DocumentKind, InsuredNumber, InsurerNumber, PersonRef, ProblemType, decide,
};
use carehub_guest::http::{Reply, RequestHead};
use carehub_guest::problem::{forbidden, internal, invalid_identifier, invalid_request};
use carehub_guest::routing::{Route, parse_query};
use carehub_guest::store::{DocumentRecord, DocumentStore, ListQuery, StoreError, VersionMeta};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::policy::{DocumentFacts, PersonFacts, Reader, read_context, readable_kinds};

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest accepted `limit`.
pub const MAX_LIMIT: u32 = 200;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /persons/{insurer_number}/{insured_number}/documents`.
    List,
    /// `GET /documents/{document_id}`.
    One,
}

/// The component's routes (after the `/api/read` prefix).
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: "GET",
        pattern: "/persons/{insurer_number}/{insured_number}/documents",
        endpoint: Endpoint::List,
    },
    Route {
        method: "GET",
        pattern: "/documents/{document_id}",
        endpoint: Endpoint::One,
    },
];

/// The list's query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    /// Only this kind.
    pub kind: Option<DocumentKind>,
    /// Page size, 1–200.
    pub limit: u32,
    /// Continue after this sequence number (from `cursor`).
    pub before_seq: Option<i64>,
}

/// Parses `?kind=&limit=&cursor=`.
pub fn list_params(head: &RequestHead) -> Result<ListParams, Reply> {
    let mut params = ListParams {
        kind: None,
        limit: DEFAULT_LIMIT,
        before_seq: None,
    };
    for (name, value) in parse_query(&head.query, &["kind", "limit", "cursor"])? {
        match name.as_str() {
            "kind" => {
                params.kind = Some(value.parse().map_err(|_| {
                    invalid_request(
                        "kind",
                        format!(
                            "unknown document kind; expected one of: {}",
                            DocumentKind::NAMES.join(", ")
                        ),
                    )
                })?);
            }
            "limit" => {
                params.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        invalid_request(
                            "limit",
                            format!("must be an integer from 1 to {MAX_LIMIT}"),
                        )
                    })?;
            }
            "cursor" => {
                params.before_seq = Some(Cursor::decode(&value).map_err(|e| {
                    Reply::problem_of(ProblemType::InvalidCursor, format!("cursor: {e}"))
                })?);
            }
            _ => unreachable!("parse_query admits only the names above"),
        }
    }
    Ok(params)
}

/// Parses `?version=N`.
pub fn version_param(head: &RequestHead) -> Result<Option<i64>, Reply> {
    let mut version = None;
    for (_, value) in parse_query(&head.query, &["version"])? {
        version = Some(
            value
                .parse::<i64>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| invalid_request("version", "must be a positive integer"))?,
        );
    }
    Ok(version)
}

/// The person named by the list route's path segments.
pub fn person_from_path(insurer: &str, insured: &str) -> Result<PersonRef, Reply> {
    let insurer =
        InsurerNumber::parse(insurer).map_err(|e| invalid_identifier("insurer_number", &e))?;
    let insured =
        InsuredNumber::parse(insured).map_err(|e| invalid_identifier("insured_number", &e))?;
    Ok(PersonRef::new(insurer, insured))
}

/// The document id of the `/documents/{document_id}` route.
pub fn document_id_from_path(id: &str) -> Result<DocumentId, Reply> {
    DocumentId::parse(id).map_err(|e| invalid_identifier("document_id", &e))
}

/// Consent and registration of `person` as they bear on `reader`. Nothing
/// is recorded yet (the consent and office-register operations come next),
/// so nothing is in force; this is where their lookups will go.
pub fn person_facts<S: DocumentStore + ?Sized>(
    _store: &S,
    _reader: &Reader,
    _person: &PersonRef,
) -> Result<PersonFacts, StoreError> {
    Ok(PersonFacts::not_yet_known())
}

#[derive(Serialize)]
struct DocumentView<'a> {
    document_id: &'a str,
    kind: &'a str,
    person: &'a PersonRef,
    author: String,
    document_key: &'a str,
    version: i64,
    supersedes: Option<i64>,
    stored_at: &'a str,
    content_sha256: &'a str,
    content: &'a RawValue,
}

impl<'a> DocumentView<'a> {
    fn new(record: &'a DocumentRecord, meta: &'a VersionMeta, content: &'a RawValue) -> Self {
        DocumentView {
            document_id: record.document_id.as_str(),
            kind: record.kind.as_str(),
            person: &record.person,
            author: record.author.to_urn(),
            document_key: record.document_key.as_str(),
            version: meta.version,
            supersedes: meta.supersedes,
            stored_at: &meta.stored_at,
            content_sha256: &meta.content_sha256,
            content,
        }
    }
}

#[derive(Serialize)]
struct ListView<'a> {
    person: &'a PersonRef,
    documents: Vec<DocumentView<'a>>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct OneView<'a> {
    document_id: &'a str,
    kind: &'a str,
    person: &'a PersonRef,
    author: String,
    document_key: &'a str,
    version: i64,
    supersedes: Option<i64>,
    stored_at: &'a str,
    content_sha256: &'a str,
    content: &'a RawValue,
    current_version: i64,
    versions: Vec<VersionMetaView<'a>>,
}

/// One entry of a document's version history.
struct VersionMetaView<'a>(&'a VersionMeta);

impl Serialize for VersionMetaView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("Version", 4)?;
        st.serialize_field("version", &self.0.version)?;
        st.serialize_field("stored_at", &self.0.stored_at)?;
        st.serialize_field("content_sha256", &self.0.content_sha256)?;
        st.serialize_field("supersedes", &self.0.supersedes)?;
        st.end()
    }
}

fn raw(content: String) -> Result<Box<RawValue>, StoreError> {
    RawValue::from_string(content)
        .map_err(|e| StoreError::Corrupt(format!("stored content is not JSON: {e}")))
}

/// Content parsed only for the kinds whose read decision looks inside.
fn content_for_decision(kind: DocumentKind, content: &str) -> Result<Option<Value>, StoreError> {
    match kind {
        DocumentKind::PhysicianOpinion => serde_json::from_str(content)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("stored content is not JSON: {e}"))),
        _ => Ok(None),
    }
}

/// `GET /persons/{insurer_number}/{insured_number}/documents`: the person's
/// documents the reader may read, current version with content, newest
/// first. 403 when the reader may read nothing about this person.
pub fn list<S: DocumentStore + ?Sized>(
    store: &S,
    reader: &Reader,
    person: &PersonRef,
    params: &ListParams,
) -> Reply {
    match try_list(store, reader, person, params) {
        Ok(reply) => reply,
        Err(e) => internal("read list", &e),
    }
}

fn try_list<S: DocumentStore + ?Sized>(
    store: &S,
    reader: &Reader,
    person: &PersonRef,
    params: &ListParams,
) -> Result<Reply, StoreError> {
    let facts = person_facts(store, reader, person)?;
    let readable = readable_kinds(reader, &facts, person);
    if readable.is_empty() {
        return Ok(forbidden());
    }
    let kinds: Vec<DocumentKind> = readable
        .into_iter()
        .filter(|k| params.kind.is_none_or(|only| only == *k))
        .collect();
    // An author also reads what it wrote, of any kind (kept to the filter).
    let query = ListQuery {
        kinds: &kinds,
        authored_by: Some(&reader.principal),
        only_kind: params.kind,
        before_seq: params.before_seq,
        limit: params.limit + 1,
    };
    let mut rows = store.person_documents(person, &query)?;
    let next_cursor = if rows.len() > params.limit as usize {
        rows.truncate(params.limit as usize);
        rows.last().map(|r| Cursor::encode(r.record.seq))
    } else {
        None
    };

    let mut contents = Vec::with_capacity(rows.len());
    for row in &mut rows {
        let decision_content = content_for_decision(row.record.kind, &row.content)?;
        let doc = DocumentFacts {
            person: &row.record.person,
            kind: row.record.kind,
            author: Some(&row.record.author),
            content: decision_content.as_ref(),
        };
        let allowed = decide(&read_context(reader, &facts, &doc)).is_allowed();
        contents.push(
            allowed
                .then(|| raw(std::mem::take(&mut row.content)))
                .transpose()?,
        );
    }
    let documents = rows
        .iter()
        .zip(&contents)
        .filter_map(|(row, content)| {
            content
                .as_deref()
                .map(|c| DocumentView::new(&row.record, &row.current, c))
        })
        .collect();
    Ok(Reply::json(
        200,
        &ListView {
            person,
            documents,
            next_cursor,
        },
    ))
}

/// `GET /documents/{document_id}[?version=N]`: the current (or the given)
/// version with its content, and the version history. A document that does
/// not exist and one the reader may not read get the same 403.
pub fn one<S: DocumentStore + ?Sized>(
    store: &S,
    reader: &Reader,
    id: &DocumentId,
    version: Option<i64>,
) -> Reply {
    match try_one(store, reader, id, version) {
        Ok(reply) => reply,
        Err(e) => internal("read document", &e),
    }
}

fn try_one<S: DocumentStore + ?Sized>(
    store: &S,
    reader: &Reader,
    id: &DocumentId,
    version: Option<i64>,
) -> Result<Reply, StoreError> {
    let Some(record) = store.document(id)? else {
        return Ok(forbidden());
    };
    let facts = person_facts(store, reader, &record.person)?;
    let current = store
        .version_content(record.seq, record.current_version)?
        .ok_or_else(|| StoreError::Corrupt(format!("{} has no current version", id.as_str())))?;
    let may_read = |content: &str| -> Result<bool, StoreError> {
        let decision_content = content_for_decision(record.kind, content)?;
        let doc = DocumentFacts {
            person: &record.person,
            kind: record.kind,
            author: Some(&record.author),
            content: decision_content.as_ref(),
        };
        Ok(decide(&read_context(reader, &facts, &doc)).is_allowed())
    };
    if !may_read(&current)? {
        return Ok(forbidden());
    }
    let wanted = version.unwrap_or(record.current_version);
    let content = if wanted == record.current_version {
        current
    } else {
        let Some(old) = store.version_content(record.seq, wanted)? else {
            return Ok(Reply::problem_of(
                ProblemType::NotFound,
                format!("This document has no version {wanted}; see its versions list."),
            ));
        };
        // An older version is shown only if it, too, may be read (its own
        // physician's box, for an opinion).
        if !may_read(&old)? {
            return Ok(forbidden());
        }
        old
    };
    let versions = store.versions(record.seq)?;
    let meta = versions
        .iter()
        .find(|v| v.version == wanted)
        .ok_or_else(|| {
            StoreError::Corrupt(format!("{} lacks version {wanted} metadata", id.as_str()))
        })?;
    let content = raw(content)?;
    let view = OneView {
        document_id: record.document_id.as_str(),
        kind: record.kind.as_str(),
        person: &record.person,
        author: record.author.to_urn(),
        document_key: record.document_key.as_str(),
        version: meta.version,
        supersedes: meta.supersedes,
        stored_at: &meta.stored_at,
        content_sha256: &meta.content_sha256,
        content: &content,
        current_version: record.current_version,
        versions: versions.iter().map(VersionMetaView).collect(),
    };
    Ok(Reply::json(200, &view))
}
