//! `POST /care-plans:csv`: a care-manager office sends one plan as the
//! ministry's standard CSV files (`carehub_domain::careplan_csv`), zipped.
//!
//! The zip is read in memory; every `.CSV` entry is one standard file (a
//! folder inside the zip is ignored, anything else is refused). The files
//! become one `care_plan` envelope, which goes through the same checks
//! and the same versioned, idempotent write as `POST /documents`
//! ([`crate::handler::prepare`], the registration check inside the write
//! transaction, `Idempotency-Key` optional). A bad row refuses the whole
//! plan with 422 `invalid-standard-csv`; nothing is stored.

use std::io::{Cursor, Read};

use carehub_domain::careplan_csv::{self, CsvViolation, SourceFile};
use carehub_domain::{DocumentKey, DocumentKind, IdempotencyKey, Principal, Problem};
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

/// Reads the zip into the envelope of one `care_plan`.
pub fn envelope(principal: &Principal, body: &[u8]) -> Result<Envelope, Problem> {
    let files = unzip(body)?;
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

/// `POST /care-plans:csv`. `body` has passed the media-type and size
/// checks; `now` is RFC 3339 UTC.
pub fn import<S: RegistrationStore + ?Sized>(
    store: &S,
    principal: &Principal,
    head: &RequestHead,
    key: Option<&IdempotencyKey>,
    body: &[u8],
    now: &str,
) -> Reply {
    write_once(
        store,
        &WriteRequest::new(principal, head, key, body, now),
        "ingest care-plan csv",
        || {
            envelope(principal, body)
                .and_then(|e| prepare(principal, e))
                .map_err(|problem| Reply::problem(&problem))
        },
        |s, item| write_one(s, principal, item, now),
    )
}
