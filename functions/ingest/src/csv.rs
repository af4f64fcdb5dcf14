//! `POST /care-plans:csv`: a care-manager office sends one plan as the
//! ministry's standard CSV files (`carehub_domain::careplan_csv`), zipped
//! (`application/zip`) or as `multipart/form-data` with one file part per
//! file.
//!
//! The body is read in memory; every zip entry or file part is one standard
//! file (a folder inside the zip is ignored; a name the spec does not know
//! is refused by the domain's import). The files become one `care_plan`
//! envelope, which goes through the same checks and the same versioned,
//! idempotent write as `POST /documents` ([`crate::handler::prepare`], the
//! registration check inside the write transaction, `Idempotency-Key`
//! optional). A bad row refuses the whole plan with 422
//! `invalid-standard-csv`; nothing is stored.
//!
//! The idempotency fingerprint is the files (names and SHA-256, in name
//! order), not the body's bytes: a retry whose multipart boundary or zip
//! packing differs is the same request.

use std::io::{Cursor, Read};

use carehub_domain::careplan_csv::{self, CsvViolation, SourceFile};
use carehub_domain::{DocumentKey, DocumentKind, IdempotencyKey, Principal, Problem, ProblemType};
use carehub_guest::body::sha256_hex;
use carehub_guest::http::{Reply, RequestHead};
use carehub_guest::idempotency::{WriteRequest, write_once};
use carehub_store::RegistrationStore;

use crate::envelope::Envelope;
use crate::handler::{prepare, write_one};

/// Body cap of `POST /care-plans:csv` (the zip).
pub const CSV_LIMIT: usize = 8 << 20;
/// Most bytes the zip's files may hold once inflated.
pub const CSV_INFLATED_LIMIT: u64 = 32 << 20;
/// The zip's media type.
pub const ZIP: &str = "application/zip";
/// The multipart media type (the boundary is its parameter).
pub const MULTIPART: &str = "multipart/form-data";

/// How the files arrive, from the request's `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packing {
    /// `application/zip`.
    Zip,
    /// `multipart/form-data` with this boundary.
    Multipart(String),
}

/// The packing the `Content-Type` names; 415 for any other media type, 400
/// `invalid-request` for a multipart type without a boundary.
pub fn packing(content_type: Option<&str>) -> Result<Packing, Problem> {
    let media = content_type
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if media.eq_ignore_ascii_case(ZIP) {
        Ok(Packing::Zip)
    } else if media.eq_ignore_ascii_case(MULTIPART) {
        multer::parse_boundary(content_type.unwrap_or(""))
            .map(Packing::Multipart)
            .map_err(|_| {
                carehub_guest::problem::invalid_request_problem(
                    "Content-Type",
                    "multipart/form-data needs its boundary parameter",
                )
            })
    } else {
        Err(Problem::new(
            ProblemType::UnsupportedMediaType,
            format!("This endpoint accepts only Content-Type: {ZIP} or {MULTIPART}."),
        ))
    }
}

/// The multipart body's files, as (name, bytes): every part must be a file
/// (a `filename`; only its last path segment is kept).
pub async fn multipart_files(
    body: Vec<u8>,
    boundary: &str,
) -> Result<Vec<(String, Vec<u8>)>, Problem> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut files = Vec::new();
    let mut total = 0u64;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return Err(refused("the body is not readable multipart/form-data")),
        };
        let name = field
            .file_name()
            .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| refused("every part must be a file (with a filename)"))?;
        let bytes = field
            .bytes()
            .await
            .map_err(|_| refused(format!("{name}: the part cannot be read")))?;
        total += bytes.len() as u64;
        if total > CSV_INFLATED_LIMIT {
            return Err(refused(format!(
                "the files hold more than {CSV_INFLATED_LIMIT} bytes"
            )));
        }
        files.push((name, bytes.to_vec()));
    }
    if files.is_empty() {
        return Err(refused("the form holds no files"));
    }
    Ok(files)
}

/// What the idempotency fingerprint covers: each file's name and SHA-256,
/// in name order.
pub fn files_fingerprint_body(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut entries: Vec<String> = files
        .iter()
        .map(|(name, bytes)| format!("{name}\0{}\n", sha256_hex(bytes)))
        .collect();
    entries.sort();
    entries.concat().into_bytes()
}

fn refused(message: impl Into<String>) -> Problem {
    careplan_csv::problem(&[CsvViolation {
        file: String::new(),
        row: 0,
        column: 0,
        item: None,
        message: message.into(),
    }])
}

/// The zip's standard files, as (name, bytes).
pub fn unzip(body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Problem> {
    let mut archive = zip::ZipArchive::new(Cursor::new(body))
        .map_err(|_| refused("the body is not a readable zip archive"))?;
    let mut files = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|_| refused("a zip entry cannot be read"))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .enclosed_name()
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
            .ok_or_else(|| refused("a zip entry has no usable name"))?;
        let mut bytes = Vec::new();
        let budget = CSV_INFLATED_LIMIT - total;
        (&mut entry)
            .take(budget + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| refused(format!("{name}: cannot be inflated")))?;
        total += bytes.len() as u64;
        if total > CSV_INFLATED_LIMIT {
            return Err(refused(format!(
                "the files hold more than {CSV_INFLATED_LIMIT} bytes"
            )));
        }
        files.push((name, bytes));
    }
    if files.is_empty() {
        return Err(refused("the zip holds no files"));
    }
    Ok(files)
}

/// Reads the files into the envelope of one `care_plan`.
pub fn envelope(principal: &Principal, files: &[(String, Vec<u8>)]) -> Result<Envelope, Problem> {
    let sources: Vec<SourceFile<'_>> = files
        .iter()
        .map(|(name, bytes)| SourceFile { name, bytes })
        .collect();
    let plan = careplan_csv::import(&sources, principal.code())
        .map_err(|violations| careplan_csv::problem(&violations))?;
    Ok(Envelope {
        person: plan.person,
        kind: DocumentKind::CarePlan,
        document_key: DocumentKey::parse(&plan.document_key)
            .expect("csv-plan-YYYYMMDD is a valid key"),
        content: plan.content,
    })
}

/// `POST /care-plans:csv` with the files already taken from the body
/// ([`unzip`], [`multipart_files`]; `Err` is their refusal); `now` is
/// RFC 3339 UTC.
pub fn import<S: RegistrationStore + ?Sized>(
    store: &S,
    principal: &Principal,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    files: Result<Vec<(String, Vec<u8>)>, Problem>,
    now: &str,
) -> Reply {
    let files = match files {
        Ok(files) => files,
        Err(problem) => return Reply::problem(&problem),
    };
    let fingerprinted = files_fingerprint_body(&files);
    write_once(
        store,
        &WriteRequest::new(principal, head, key, &fingerprinted, now),
        "ingest care-plan csv",
        || {
            envelope(principal, &files)
                .and_then(|e| prepare(principal, e))
                .map_err(|problem| Reply::problem(&problem))
        },
        |s, item| write_one(s, principal, item, now),
    )
}
