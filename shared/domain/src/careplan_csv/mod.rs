//! The ministry's standard care-plan CSV files (ケアプラン標準仕様:
//! 「居宅介護支援事業所と訪問介護などのサービス提供事業所間における情報連携の
//! 標準仕様」, as revised by 介護保険最新情報 vol.1156), read into the
//! `care_plan` document and written back. `docs/care-plan-csv.md` lists
//! the version implemented and every item mapped.
//!
//! * [`items`] — the item list of each table, as data.
//! * [`ms932`] — strict MS932 decoding and encoding.
//! * [`import`] / [`export`] — files → document → files. Text is NFC in
//!   the document; the source files' SHA-256 and the CSV version are kept
//!   in `standard_csv`.
//!
//! Pure: no I/O. The ingest and read components do the HTTP and the zip.

pub mod items;
pub mod ms932;

mod convert;

pub use convert::{ExportedFile, Imported, SourceFile, export, import};
pub use items::{CSV_VERSIONS, Format, Item, Scope, Table};

use serde::Serialize;

use crate::ids::OfficeNumber;
use crate::problem::{Problem, ProblemType};

/// The 422 `invalid-standard-csv` problem listing `violations` in its
/// `csv_violations` member (file, row, column, item, message).
pub fn problem(violations: &[CsvViolation]) -> Problem {
    let detail = match violations.len() {
        1 => "The files break 1 rule of the standard CSV specification.".to_owned(),
        n => format!("The files break {n} rules of the standard CSV specification."),
    };
    Problem::new(ProblemType::InvalidStandardCsv, detail).with_extension(
        "csv_violations",
        serde_json::to_value(violations).expect("violations serialize"),
    )
}

/// One thing wrong with the files, where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsvViolation {
    /// The file's name ("" for the set of files).
    pub file: String,
    /// 1-based record number; 0 for the whole file.
    pub row: usize,
    /// 1-based item (column) number; 0 for the whole row.
    pub column: usize,
    /// The spec's item name, when the violation is about one item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// What is wrong, in English. Never echoes the value.
    pub message: String,
}

/// A standard file name: `<PREFIX>[_YYYYMM]_<from office>_<to office>_<YYYYMMDDHHMMSS>.CSV`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// The table the prefix names.
    pub table: Table,
    /// 対象年月 (第6表, 第7表).
    pub month: Option<String>,
    /// 送信元の事業所番号.
    pub from: OfficeNumber,
    /// 送信先の事業所番号.
    pub to: OfficeNumber,
    /// YYYYMMDDHHMMSS: the set's ファイル連番.
    pub timestamp: String,
}

impl FileName {
    /// Parses a file name; `Err` says what is wrong.
    pub fn parse(name: &str) -> Result<FileName, String> {
        let stem = name
            .strip_suffix(".CSV")
            .ok_or("a standard file name ends in .CSV")?;
        let parts: Vec<&str> = stem.split('_').collect();
        let table = parts
            .first()
            .and_then(|p| Table::from_prefix(p))
            .ok_or_else(|| {
                let prefixes: Vec<_> = Table::ALL.iter().map(|t| t.prefix()).collect();
                format!(
                    "unknown file kind; expected one of: {}",
                    prefixes.join(", ")
                )
            })?;
        let expected = if table.monthly() { 5 } else { 4 };
        if parts.len() != expected {
            return Err(if table.monthly() {
                format!(
                    "expected {}_YYYYMM_<from>_<to>_<YYYYMMDDHHMMSS>.CSV",
                    table.prefix()
                )
            } else {
                format!(
                    "expected {}_<from>_<to>_<YYYYMMDDHHMMSS>.CSV",
                    table.prefix()
                )
            });
        }
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        let month = if table.monthly() {
            if !digits(parts[1], 6) {
                return Err("the target month must be YYYYMM".into());
            }
            Some(parts[1].to_owned())
        } else {
            None
        };
        let at = expected - 3;
        let from = OfficeNumber::parse(parts[at]).map_err(|e| format!("sender: {e}"))?;
        let to = OfficeNumber::parse(parts[at + 1]).map_err(|e| format!("receiver: {e}"))?;
        if !digits(parts[at + 2], 14) {
            return Err("the timestamp must be YYYYMMDDHHMMSS".into());
        }
        Ok(FileName {
            table,
            month,
            from,
            to,
            timestamp: parts[at + 2].to_owned(),
        })
    }

    /// Builds a file name.
    pub fn build(table: Table, month: &str, from: &str, to: &str, timestamp: &str) -> String {
        if table.monthly() {
            format!("{}_{month}_{from}_{to}_{timestamp}.CSV", table.prefix())
        } else {
            format!("{}_{from}_{to}_{timestamp}.CSV", table.prefix())
        }
    }
}

#[cfg(test)]
mod tests;
