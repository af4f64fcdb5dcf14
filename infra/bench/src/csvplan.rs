//! The standard care-plan CSV files (`tests/fixtures/csv/full`, MS932) as
//! one zip a request for `POST /api/ingest/care-plans:csv`: the fixture's
//! person replaced by a person of the dataset, and its 識別子 (第1表
//! record id) by a number unique in the run, so that every import is a new
//! version of that person's plan.

use anyhow::{Context, Result, bail};
use std::io::Write as _;
use std::path::Path;

/// The fixture's CSV version, insurer and insured number, as every row
/// starts.
const FIXTURE_PERSON: &[u8] = br#""202306","131011","0000012345""#;
/// The fixture's 第1表 識別子 (`record_id`).
const FIXTURE_RECORD_ID: &[u8] = br#""P-0001""#;

/// One plan's standard files, ready to be sent again for other persons.
pub struct CsvPlan {
    files: Vec<(String, Vec<u8>)>,
    /// CSV records (rows) in all files together.
    pub rows: usize,
    /// The files' total size, bytes.
    pub bytes: usize,
}

impl CsvPlan {
    /// Reads the fixture set in `dir`.
    pub fn load(dir: &Path) -> Result<CsvPlan> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .context("a fixture name")?
                .to_owned();
            if name.to_ascii_uppercase().ends_with(".CSV") {
                files.push((name, std::fs::read(&path)?));
            }
        }
        files.sort();
        if !files
            .iter()
            .any(|(_, b)| find(b, FIXTURE_RECORD_ID).is_some())
        {
            bail!(
                "{}: no file holds the record id {}",
                dir.display(),
                String::from_utf8_lossy(FIXTURE_RECORD_ID)
            );
        }
        let rows = files.iter().map(|(_, b)| records(b)).sum();
        let bytes = files.iter().map(|(_, b)| b.len()).sum();
        Ok(CsvPlan { files, rows, bytes })
    }

    /// The zip (stored, not deflated: the load generator's core is the
    /// scarce one) of the files for person `insured` of `insurer`, with
    /// record id `record_id`.
    pub fn zip(&self, insurer: &str, insured: &str, record_id: &str) -> Vec<u8> {
        let person = format!(r#""202306","{insurer}","{insured}""#);
        let record = format!(r#""{record_id}""#);
        let mut w =
            zip::ZipWriter::new(std::io::Cursor::new(Vec::with_capacity(self.bytes + 1024)));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in &self.files {
            let bytes = replace(bytes, FIXTURE_PERSON, person.as_bytes());
            let bytes = replace(&bytes, FIXTURE_RECORD_ID, record.as_bytes());
            w.start_file(name.as_str(), options).expect("zip entry");
            w.write_all(&bytes).expect("zip write");
        }
        w.finish().expect("zip").into_inner()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `from` replaced by `to` everywhere. Byte-wise is safe in MS932: `"` and
/// ASCII digits are never the second byte of a double-byte character.
fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len() + 64);
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// CSV records: CRLF (or LF) line ends outside double quotes.
fn records(bytes: &[u8]) -> usize {
    let mut quoted = false;
    let mut n = 0;
    let mut in_record = false;
    for &b in bytes {
        match b {
            b'"' => {
                quoted = !quoted;
                in_record = true;
            }
            b'\n' if !quoted => {
                if in_record {
                    n += 1;
                }
                in_record = false;
            }
            b'\r' => {}
            _ => in_record = true,
        }
    }
    n + usize::from(in_record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/csv/full")
    }

    #[test]
    fn records_count_quoted_line_breaks_as_text() {
        assert_eq!(records(b"\"a\",\"b\"\r\n\"c\r\nd\",\"e\"\r\n"), 2);
        assert_eq!(records(b"\"a\"\r\n\"b\""), 2);
        assert_eq!(records(b""), 0);
    }

    #[test]
    fn the_fixture_plan_is_seven_rows_and_takes_another_person() {
        let plan = CsvPlan::load(&fixtures()).unwrap();
        assert_eq!(plan.files.len(), 5);
        // 第1表 1, 第2表 2, 第3表 2, 第6表 1, 第7表 1.
        assert_eq!(plan.rows, 7);
        let zip = plan.zip("131016", "0000000042", "B-1-2");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.len(), 5);
        let mut all = Vec::new();
        for i in 0..archive.len() {
            std::io::Read::read_to_end(&mut archive.by_index(i).unwrap(), &mut all).unwrap();
        }
        assert!(find(&all, FIXTURE_PERSON).is_none());
        assert!(find(&all, FIXTURE_RECORD_ID).is_none());
        assert!(find(&all, br#""202306","131016","0000000042""#).is_some());
        assert!(find(&all, br#""B-1-2""#).is_some());
    }
}
