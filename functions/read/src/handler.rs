//! The read operation, independent of Spin: routes, parameters, the two
//! reads and the access listing against any store. Every read and every
//! refused read is appended to the access log before the answer leaves.

use carehub_domain::careplan_csv;
use carehub_domain::policy::matrix::{decide, list_decision};
use carehub_domain::policy::read::{
    DocumentFacts, PersonFacts, Reader, facts_needed, read_context, readable_kinds,
};
use carehub_domain::policy::records::may_list_accesses;
use carehub_domain::{
    AccessAction, AccessLogEntry, AccessOutcome, ApplicationId, Decision, DenyReason, DocumentId,
    DocumentKind, PersonActor, PersonRef, Principal, ProblemType,
};
use carehub_guest::http::{Reply, RequestHead};
use carehub_guest::problem::{forbidden, internal, invalid_identifier, invalid_request};
use carehub_guest::routing::{Page, Route, paginate, parse_cursor, parse_limit, parse_query};
use carehub_store::{
    AccessLogStore, ConsentStore, DocumentForRead, DocumentRecord, DocumentStore, ListQuery,
    RegistrationStore, StoreError, VersionMeta, log_access, office_registration_state,
};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

pub use carehub_guest::routing::{DEFAULT_LIMIT, MAX_LIMIT};

/// Everything the read operation needs from the store.
pub trait ReadStore: DocumentStore + ConsentStore + RegistrationStore + AccessLogStore {}

impl<S: DocumentStore + ConsentStore + RegistrationStore + AccessLogStore + ?Sized> ReadStore
    for S
{
}

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /persons/{insurer_number}/{insured_number}/documents`.
    List,
    /// `GET /documents/{document_id}`.
    One,
    /// `GET /persons/{insurer_number}/{insured_number}/accesses`.
    Accesses,
    /// `GET /documents/{document_id}/standard-csv`: a care plan as the
    /// standard CSV files, zipped.
    ExportCsv,
    /// `GET /persons/{insurer_number}/{insured_number}/accesses/{seq}/proof`.
    AccessProof,
    /// `POST /checkpoints` (the checkpoint job).
    MakeCheckpoint,
    /// `GET /checkpoints/latest`.
    LatestCheckpoint,
    /// `GET /checkpoints/{number}`.
    Checkpoint,
    /// `GET /checkpoints/{number}/consistency`.
    Consistency,
}

impl Endpoint {
    /// Whether the endpoint is about the log's checkpoints, which any
    /// authenticated principal may fetch (no person token needed).
    pub fn is_checkpoint(self) -> bool {
        matches!(
            self,
            Endpoint::MakeCheckpoint
                | Endpoint::LatestCheckpoint
                | Endpoint::Checkpoint
                | Endpoint::Consistency
        )
    }
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
    Route {
        method: "GET",
        pattern: "/persons/{insurer_number}/{insured_number}/accesses",
        endpoint: Endpoint::Accesses,
    },
    Route {
        method: "GET",
        pattern: "/documents/{document_id}/standard-csv",
        endpoint: Endpoint::ExportCsv,
    },
    Route {
        method: "GET",
        pattern: "/persons/{insurer_number}/{insured_number}/accesses/{seq}/proof",
        endpoint: Endpoint::AccessProof,
    },
    Route {
        method: "POST",
        pattern: "/checkpoints",
        endpoint: Endpoint::MakeCheckpoint,
    },
    Route {
        method: "GET",
        pattern: "/checkpoints/latest",
        endpoint: Endpoint::LatestCheckpoint,
    },
    Route {
        method: "GET",
        pattern: "/checkpoints/{number}",
        endpoint: Endpoint::Checkpoint,
    },
    Route {
        method: "GET",
        pattern: "/checkpoints/{number}/consistency",
        endpoint: Endpoint::Consistency,
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
            "limit" => params.limit = parse_limit(&value)?,
            "cursor" => params.before_seq = Some(parse_cursor(&value)?),
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
    carehub_guest::routing::person_from_path(insurer, insured)
}

/// The document id of the `/documents/{document_id}` route.
pub fn document_id_from_path(id: &str) -> Result<DocumentId, Reply> {
    DocumentId::parse(id).map_err(|e| invalid_identifier("document_id", &e))
}

/// Consent and registration of `person` as they bear on `reader` at `now`.
/// Each is looked up only when the viewer's decisions depend on it
/// (`carehub_domain::policy::read::facts_needed`).
pub fn person_facts<S: ReadStore + ?Sized>(
    store: &S,
    reader: &Reader,
    person: &PersonRef,
    now: &str,
) -> Result<PersonFacts, StoreError> {
    let mut facts = PersonFacts::not_yet_known();
    let needed = facts_needed(reader.viewer);
    if needed.consent {
        facts.consent = store.consent_state(person)?;
    }
    if needed.registration {
        facts.registration = office_registration_state(store, &reader.principal, person, now)?;
    }
    Ok(facts)
}

/// One access-log entry for `principal` (and the portal's `actor`).
#[allow(clippy::too_many_arguments)]
fn access_entry(
    principal: &Principal,
    actor: Option<PersonActor>,
    subject: Option<&str>,
    person: Option<&PersonRef>,
    action: AccessAction,
    kind: Option<DocumentKind>,
    document_id: Option<&DocumentId>,
    document_ids: Vec<DocumentId>,
    decision: Decision,
    now: &str,
) -> AccessLogEntry {
    AccessLogEntry {
        at: now.to_owned(),
        principal: principal.clone(),
        actor,
        subject: subject.map(str::to_owned),
        person: person.cloned(),
        action,
        kind,
        document_id: document_id.cloned(),
        document_ids,
        application_id: None,
        application_ids: Vec::new(),
        outcome: if decision.is_allowed() {
            AccessOutcome::Allowed
        } else {
            AccessOutcome::Denied
        },
        deny_reason: decision.deny_reason(),
        request_id: None,
    }
}

/// Appends `entry`, then answers `reply`; an entry that cannot be written
/// turns the answer into a 500 (no read goes unlogged).
fn logged<S: AccessLogStore + ?Sized>(store: &S, entry: AccessLogEntry, reply: Reply) -> Reply {
    match log_access(store, &[entry]) {
        Ok(()) => reply,
        Err(e) => internal("access log append", &e),
    }
}

/// What an unreadable caller (the operator, which reads no care data) tried
/// to read.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A person's list, perhaps filtered to a kind.
    List(&'a PersonRef, Option<DocumentKind>),
    /// One document.
    Document(&'a DocumentId),
}

/// The refusal of a caller whose role reads no care data, logged like any
/// other refused read.
pub fn refuse_unreadable<S: ReadStore + ?Sized>(
    store: &S,
    principal: &Principal,
    target: Target<'_>,
    now: &str,
) -> Reply {
    let deny = Decision::Deny(DenyReason::NotMarkedForRole);
    let entry = match target {
        Target::List(person, kind) => access_entry(
            principal,
            None,
            None,
            Some(person),
            AccessAction::ListDocuments,
            kind,
            None,
            Vec::new(),
            deny,
            now,
        ),
        Target::Document(id) => match store.document(id) {
            Ok(record) => access_entry(
                principal,
                None,
                None,
                record.as_ref().map(|r| &r.person),
                AccessAction::ReadDocument,
                record.as_ref().map(|r| r.kind),
                Some(id),
                Vec::new(),
                if record.is_some() {
                    deny
                } else {
                    Decision::Deny(DenyReason::NoSuchDocument)
                },
                now,
            ),
            Err(e) => return internal("read document", &e),
        },
    };
    logged(store, entry, forbidden())
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
/// first. 403 when the reader may read nothing about this person. Logged:
/// one entry per request, with the documents it returned.
pub fn list<S: ReadStore + ?Sized>(
    store: &S,
    reader: &Reader,
    person: &PersonRef,
    params: &ListParams,
    now: &str,
) -> Reply {
    match try_list(store, reader, person, params, now) {
        Ok(reply) => reply,
        Err(e) => internal("read list", &e),
    }
}

fn try_list<S: ReadStore + ?Sized>(
    store: &S,
    reader: &Reader,
    person: &PersonRef,
    params: &ListParams,
    now: &str,
) -> Result<Reply, StoreError> {
    let facts = person_facts(store, reader, person, now)?;
    let readable = readable_kinds(reader, &facts, person);
    let entry = |decision: Decision, document_ids: Vec<DocumentId>| {
        access_entry(
            &reader.principal,
            reader.actor,
            reader.subject.as_deref(),
            Some(person),
            AccessAction::ListDocuments,
            params.kind,
            None,
            document_ids,
            decision,
            now,
        )
    };
    if readable.is_empty() {
        // Why: the most telling reason across the kinds (no consent, not
        // registered, …), for the log only.
        let decision = list_decision(DocumentKind::ALL.into_iter().map(|kind| {
            decide(&read_context(
                reader,
                &facts,
                &DocumentFacts {
                    person,
                    kind,
                    author: None,
                    content: None,
                },
            ))
        }));
        return Ok(logged(store, entry(decision, Vec::new()), forbidden()));
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
    let next_cursor = paginate(&mut rows, params.limit, |r| r.record.seq);

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
    let shown: Vec<(&_, &RawValue)> = rows
        .iter()
        .zip(&contents)
        .filter_map(|(row, content)| content.as_deref().map(|c| (row, c)))
        .collect();
    let document_ids = shown
        .iter()
        .map(|(row, _)| row.record.document_id.clone())
        .collect();
    let documents = shown
        .iter()
        .map(|(row, c)| DocumentView::new(&row.record, &row.current, c))
        .collect();
    let reply = Reply::json(
        200,
        &ListView {
            person,
            documents,
            next_cursor,
        },
    );
    Ok(logged(store, entry(Decision::Allow, document_ids), reply))
}

/// `GET /documents/{document_id}[?version=N]`: the current (or the given)
/// version with its content, and the version history. A document that does
/// not exist and one the reader may not read get the same 403; both are
/// logged.
pub fn one<S: ReadStore + ?Sized>(
    store: &S,
    reader: &Reader,
    id: &DocumentId,
    version: Option<i64>,
    now: &str,
) -> Reply {
    match try_one(store, reader, id, version, now) {
        Ok(reply) => reply,
        Err(e) => internal("read document", &e),
    }
}

fn read_entry(
    reader: &Reader,
    id: &DocumentId,
    record: Option<&DocumentRecord>,
    decision: Decision,
    now: &str,
) -> AccessLogEntry {
    access_entry(
        &reader.principal,
        reader.actor,
        reader.subject.as_deref(),
        record.map(|r| &r.person),
        AccessAction::ReadDocument,
        record.map(|r| r.kind),
        Some(id),
        Vec::new(),
        decision,
        now,
    )
}

/// A document version the reader may read.
struct Readable {
    record: DocumentRecord,
    /// The wanted version's content (JSON text).
    content: String,
    /// The wanted version's metadata.
    meta: VersionMeta,
    /// Every version's metadata, oldest first.
    versions: Vec<VersionMeta>,
}

/// The decision for reading one document (the current or the given
/// version): `Ok(Err(reply))` is the answer already, a refusal logged like
/// every refused read (a missing document and an unreadable one give the
/// same 403), or 404 for a version that does not exist. On `Ok(Ok(_))` the
/// caller answers and logs the read itself. The document, the two contents
/// and the versions come in one statement
/// ([`carehub_store::DocumentStore::document_for_read`]).
fn readable<S: ReadStore + ?Sized>(
    store: &S,
    reader: &Reader,
    id: &DocumentId,
    version: Option<i64>,
    now: &str,
) -> Result<Result<Readable, Reply>, StoreError> {
    let Some(found) = store.document_for_read(id, version)? else {
        let missing = read_entry(
            reader,
            id,
            None,
            Decision::Deny(DenyReason::NoSuchDocument),
            now,
        );
        return Ok(Err(logged(store, missing, forbidden())));
    };
    let DocumentForRead {
        record,
        current,
        other,
        versions,
    } = found;
    let facts = person_facts(store, reader, &record.person, now)?;
    let decide_for = |content: &str| -> Result<Decision, StoreError> {
        let decision_content = content_for_decision(record.kind, content)?;
        let doc = DocumentFacts {
            person: &record.person,
            kind: record.kind,
            author: Some(&record.author),
            content: decision_content.as_ref(),
        };
        Ok(decide(&read_context(reader, &facts, &doc)))
    };
    let decision = decide_for(&current)?;
    if !decision.is_allowed() {
        let entry = read_entry(reader, id, Some(&record), decision, now);
        return Ok(Err(logged(store, entry, forbidden())));
    }
    let wanted = version.unwrap_or(record.current_version);
    let content = if wanted == record.current_version {
        current
    } else {
        let Some(old) = other else {
            return Ok(Err(Reply::problem_of(
                ProblemType::NotFound,
                format!("This document has no version {wanted}; see its versions list."),
            )));
        };
        // An older version is shown only if it, too, may be read (its own
        // physician's box, for an opinion).
        let decision = decide_for(&old)?;
        if !decision.is_allowed() {
            let entry = read_entry(reader, id, Some(&record), decision, now);
            return Ok(Err(logged(store, entry, forbidden())));
        }
        old
    };
    let meta = versions
        .iter()
        .find(|v| v.version == wanted)
        .cloned()
        .ok_or_else(|| {
            StoreError::Corrupt(format!("{} lacks version {wanted} metadata", id.as_str()))
        })?;
    Ok(Ok(Readable {
        record,
        content,
        meta,
        versions,
    }))
}

fn try_one<S: ReadStore + ?Sized>(
    store: &S,
    reader: &Reader,
    id: &DocumentId,
    version: Option<i64>,
    now: &str,
) -> Result<Reply, StoreError> {
    let Readable {
        record,
        content,
        meta,
        versions,
    } = match readable(store, reader, id, version, now)? {
        Ok(readable) => readable,
        Err(reply) => return Ok(reply),
    };
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
    let reply = Reply::json(200, &view);
    let entry = read_entry(reader, id, Some(&record), Decision::Allow, now);
    Ok(logged(store, entry, reply))
}

/// `GET /documents/{document_id}/standard-csv[?version=N]`: a care plan as
/// the ministry's standard CSV files (`carehub_domain::careplan_csv::export`,
/// MS932, the spec's file names) in a zip. The same decision, the same
/// refusals and the same access-log entry as [`one`]: exporting is reading.
/// A readable document of another kind is 404 `not-found`; a plan holding a
/// character MS932 lacks is 422 `invalid-standard-csv` with its file, row
/// and column.
pub fn export_csv<S: ReadStore + ?Sized>(
    store: &S,
    reader: &Reader,
    id: &DocumentId,
    version: Option<i64>,
    now: &str,
) -> Reply {
    match try_export_csv(store, reader, id, version, now) {
        Ok(reply) => reply,
        Err(e) => internal("export care plan csv", &e),
    }
}

fn try_export_csv<S: ReadStore + ?Sized>(
    store: &S,
    reader: &Reader,
    id: &DocumentId,
    version: Option<i64>,
    now: &str,
) -> Result<Reply, StoreError> {
    let Readable {
        record,
        content,
        meta,
        ..
    } = match readable(store, reader, id, version, now)? {
        Ok(readable) => readable,
        Err(reply) => return Ok(reply),
    };
    let reply = if record.kind == DocumentKind::CarePlan {
        let stored_at = meta.stored_at;
        let value: Value = serde_json::from_str(&content)
            .map_err(|e| StoreError::Corrupt(format!("stored content is not JSON: {e}")))?;
        let timestamp = csv_timestamp(&stored_at);
        match careplan_csv::export(&value, &record.person, record.author.code(), &timestamp) {
            Ok(files) if files.is_empty() => {
                Reply::problem(&careplan_csv::problem(&[careplan_csv::CsvViolation {
                    file: String::new(),
                    row: 0,
                    column: 0,
                    item: None,
                    message: "the plan holds none of the standard tables".into(),
                }]))
            }
            Ok(files) => Reply::bytes(200, ZIP, zip_files(&files, &timestamp)).with_header(
                "content-disposition",
                format!(
                    "attachment; filename=\"{}.zip\"",
                    files
                        .first()
                        .map_or("care-plan", |f| f.name.trim_end_matches(".CSV"))
                ),
            ),
            Err(violations) => Reply::problem(&careplan_csv::problem(&violations)),
        }
    } else {
        Reply::problem_of(
            ProblemType::NotFound,
            "Only a care plan exports as the standard CSV files; this document is another kind.",
        )
    };
    let entry = read_entry(reader, id, Some(&record), Decision::Allow, now);
    Ok(logged(store, entry, reply))
}

/// The media type of the export.
pub const ZIP: &str = "application/zip";

/// `stored_at` (RFC 3339 UTC) as the file names' YYYYMMDDHHMMSS, in Japan
/// time (UTC+9, no daylight saving), for a plan stored as JSON. Falls back
/// to the digits as written should the text not parse.
pub fn csv_timestamp(stored_at: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let jst = time::UtcOffset::from_hms(9, 0, 0).expect("+09:00 is a valid offset");
    match time::OffsetDateTime::parse(stored_at, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(jst);
            format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        Err(_) => stored_at
            .chars()
            .filter(char::is_ascii_digit)
            .chain(std::iter::repeat('0'))
            .take(14)
            .collect(),
    }
}

/// The files in a zip (deflated), each dated by its name's timestamp
/// (ファイル連番, YYYYMMDDHHMMSS), or by `timestamp` when the name has none.
pub fn zip_files(files: &[careplan_csv::ExportedFile], timestamp: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for file in files {
        let stamp = careplan_csv::FileName::parse(&file.name)
            .map(|n| n.timestamp)
            .unwrap_or_else(|_| timestamp.to_owned());
        let options = zip::write::SimpleFileOptions::default().last_modified_time(zip_date(&stamp));
        w.start_file(file.name.as_str(), options)
            .and_then(|()| w.write_all(&file.bytes).map_err(Into::into))
            .expect("writing a zip to memory");
    }
    w.finish().expect("writing a zip to memory").into_inner()
}

/// YYYYMMDDHHMMSS as a zip entry's date (1980-01-01 when out of the zip's range).
fn zip_date(stamp: &str) -> zip::DateTime {
    let n = |from: usize, to: usize| stamp.get(from..to).and_then(|s| s.parse::<u16>().ok());
    match (n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14)) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) => {
            let b = |v: u16| u8::try_from(v).unwrap_or(u8::MAX);
            zip::DateTime::from_date_and_time(y, b(mo), b(d), b(h), b(mi), b(s)).unwrap_or_default()
        }
        _ => zip::DateTime::default(),
    }
}

/// One access as the person and the municipality see it: who, what, when,
/// allowed or not. The refusal's reason stays in the log (it is internal).
#[derive(Serialize)]
struct AccessView<'a> {
    /// The entry's number: what its inclusion proof is asked by.
    seq: i64,
    /// Its chained hash: the Merkle leaf's data.
    hash: &'a str,
    at: &'a str,
    principal: &'a Principal,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<PersonActor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    action: AccessAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<DocumentKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document_id: Option<&'a DocumentId>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    document_ids: &'a [DocumentId],
    #[serde(skip_serializing_if = "Option::is_none")]
    application_id: Option<&'a ApplicationId>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    application_ids: &'a [ApplicationId],
    outcome: AccessOutcome,
    /// The request's id, linking the entry to the operator's request log.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

#[derive(Serialize)]
struct AccessList<'a> {
    person: &'a PersonRef,
    accesses: Vec<AccessView<'a>>,
    next_cursor: Option<String>,
}

/// `GET /persons/{insurer_number}/{insured_number}/accesses`: every read
/// and refused read of the person's data, newest first. For the person
/// (portal, token naming them) and their municipality; the generic refusal
/// for everyone else.
pub fn accesses<S: ReadStore + ?Sized>(
    store: &S,
    principal: &Principal,
    token_person: Option<&PersonRef>,
    person: &PersonRef,
    page: Page,
) -> Reply {
    if !may_list_accesses(principal, person, token_person) {
        return forbidden();
    }
    let mut rows = match store.person_accesses(person, page.before_seq, page.limit + 1) {
        Ok(rows) => rows,
        Err(e) => return internal("access list", &e),
    };
    let next_cursor = paginate(&mut rows, page.limit, |r| r.seq);
    let accesses = rows
        .iter()
        .map(|r| AccessView {
            seq: r.seq,
            hash: &r.hash,
            at: &r.entry.at,
            principal: &r.entry.principal,
            actor: r.entry.actor,
            subject: r.entry.subject.as_deref(),
            action: r.entry.action,
            kind: r.entry.kind,
            document_id: r.entry.document_id.as_ref(),
            document_ids: &r.entry.document_ids,
            application_id: r.entry.application_id.as_ref(),
            application_ids: &r.entry.application_ids,
            outcome: r.entry.outcome,
            request_id: r.entry.request_id.as_deref(),
        })
        .collect();
    Reply::json(
        200,
        &AccessList {
            person,
            accesses,
            next_cursor,
        },
    )
}
