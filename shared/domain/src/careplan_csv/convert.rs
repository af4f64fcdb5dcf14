//! Standard files → `care_plan` document, and back.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use super::items::{CSV_VERSIONS, CURRENT_CSV_VERSION, Format, Item, Scope, Table};
use super::ms932;
use super::{CsvViolation, FileName};
use crate::ids::{InsuredNumber, InsurerNumber, OfficeNumber};
use crate::principal::PersonRef;

/// One uploaded file.
#[derive(Debug, Clone, Copy)]
pub struct SourceFile<'a> {
    /// Its name (`UP1KYO_…CSV`).
    pub name: &'a str,
    /// Its bytes (MS932).
    pub bytes: &'a [u8],
}

/// A plan read from standard files: who it is about, its key and the
/// `care_plan` content (still to be checked by `content::validate_content`).
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The person every row names.
    pub person: PersonRef,
    /// `csv-plan-<作成(変更)日 YYYYMMDD>`: one document per plan date.
    pub document_key: String,
    /// The document content.
    pub content: Value,
}

struct Reader {
    violations: Vec<CsvViolation>,
    version: Option<(String, String)>,
    insurer: Option<String>,
    insured: Option<String>,
    plan: Map<String, Value>,
    /// Where each plan-scope value was first seen (file name).
    plan_seen: Map<String, Value>,
}

impl Reader {
    fn push(&mut self, file: &str, row: usize, column: usize, item: &Item, message: String) {
        self.violations.push(CsvViolation {
            file: file.to_owned(),
            row,
            column,
            item: Some(item.name.to_owned()),
            message,
        });
    }
}

/// Reads one item's text into its document value (`Ok(None)`: empty).
fn read_value(item: &Item, text: &str) -> Result<Option<Value>, String> {
    if text.is_empty() {
        return if item.required {
            Err("required".into())
        } else {
            Ok(None)
        };
    }
    let digits = |n: usize| text.len() == n && text.bytes().all(|b| b.is_ascii_digit());
    let value = match item.format {
        Format::Version => {
            if !CSV_VERSIONS.contains(&text) {
                return Err(format!(
                    "unknown CSV version; accepted: {}",
                    CSV_VERSIONS.join(", ")
                ));
            }
            Value::String(text.into())
        }
        Format::Insurer => {
            InsurerNumber::parse(text).map_err(|e| e.to_string())?;
            Value::String(text.into())
        }
        Format::Insured => {
            InsuredNumber::parse(text).map_err(|e| e.to_string())?;
            Value::String(text.into())
        }
        Format::Office => {
            OfficeNumber::parse(text).map_err(|e| e.to_string())?;
            Value::String(text.into())
        }
        Format::Date => {
            if !digits(8) || !real_date(&text[..4], &text[4..6], &text[6..]) {
                return Err("must be a date written YYYYMMDD".into());
            }
            Value::String(format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..]))
        }
        Format::YearMonth => {
            if !digits(6) || !real_date(&text[..4], &text[4..], "01") {
                return Err("must be a month written YYYYMM".into());
            }
            Value::String(format!("{}-{}", &text[..4], &text[4..]))
        }
        Format::Time => {
            let ok = digits(4)
                && text[..2].parse::<u8>().is_ok_and(|h| h < 24)
                && text[2..].parse::<u8>().is_ok_and(|m| m < 60);
            if !ok {
                return Err("must be a time written HHMM (0000–2359)".into());
            }
            Value::String(format!("{}:{}", &text[..2], &text[2..]))
        }
        Format::Code(codes) => match codes.iter().find(|(code, _)| *code == text) {
            Some((_, value)) => Value::String((*value).into()),
            None => {
                let list: Vec<_> = codes.iter().map(|(c, _)| *c).collect();
                return Err(format!(
                    "unknown code; expected one of: {}",
                    list.join(", ")
                ));
            }
        },
        Format::Flag => match text {
            "1" => Value::Bool(true),
            "0" => Value::Bool(false),
            _ => return Err("must be 1 or 0".into()),
        },
        Format::Text(max) => {
            let n = text.chars().count();
            if n > max {
                return Err(format!("at most {max} characters, got {n}"));
            }
            if text.trim().is_empty() {
                return Err("must not be blank".into());
            }
            Value::String(text.into())
        }
        Format::Count => {
            let canonical = text == "0" || (!text.starts_with('0') && text.len() <= 9);
            match text.parse::<u32>() {
                Ok(n) if canonical && text.bytes().all(|b| b.is_ascii_digit()) => json!(n),
                _ => {
                    return Err(
                        "must be a non-negative integer without leading zeros or signs".into(),
                    );
                }
            }
        }
        Format::ServiceCode => {
            let ok = text.len() == 6
                && text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
            if !ok {
                return Err("must be 6 characters: service type (2) and item (4)".into());
            }
            Value::String(text.into())
        }
        Format::UnitPrice => {
            let b = text.as_bytes();
            let ok =
                b.len() == 5 && b[2] == b'.' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit());
            if !ok {
                return Err("must be yen per unit written NN.NN".into());
            }
            Value::String(text.into())
        }
    };
    Ok(Some(value))
}

fn real_date(y: &str, m: &str, d: &str) -> bool {
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i32>(), m.parse::<u8>(), d.parse::<u8>()) else {
        return false;
    };
    let Ok(month) = time::Month::try_from(m) else {
        return false;
    };
    y >= 1900 && time::Date::from_calendar_date(y, month, d).is_ok()
}

/// Writes a document value back as the item's text.
fn write_value(item: &Item, value: Option<&Value>) -> String {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return String::new();
    };
    match (item.format, value) {
        (Format::Date | Format::YearMonth | Format::Time, Value::String(s)) => {
            s.replace(['-', ':'], "")
        }
        (Format::Code(codes), Value::String(s)) => codes
            .iter()
            .find(|(_, v)| v == s)
            .map(|(c, _)| (*c).to_owned())
            .unwrap_or_default(),
        (Format::Flag, Value::Bool(b)) => if *b { "1" } else { "0" }.into(),
        (Format::Count, Value::Number(n)) => n.to_string(),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// Sets `map[key]` unless it already holds another value (then `false`).
fn agree(map: &mut Map<String, Value>, key: &str, value: Option<Value>) -> bool {
    let value = value.unwrap_or(Value::Null);
    match map.get(key) {
        Some(existing) => *existing == value,
        None => {
            map.insert(key.to_owned(), value);
            true
        }
    }
}

fn strip_nulls(map: &mut Map<String, Value>) {
    map.retain(|_, v| !v.is_null());
}

/// Reads a set of standard files of one plan, sent by office `sender`.
///
/// Every file must be named per the spec with `sender` as the sending
/// office and the same timestamp; 第1表 and 第2表 are required, 第3表,
/// 第6表 and 第7表 optional, each at most once. Every violation found is
/// returned, each naming its file, row and column (0 = the whole file or
/// row).
pub fn import(files: &[SourceFile<'_>], sender: &str) -> Result<Imported, Vec<CsvViolation>> {
    let mut r = Reader {
        violations: Vec::new(),
        version: None,
        insurer: None,
        insured: None,
        plan: Map::new(),
        plan_seen: Map::new(),
    };
    let whole = |file: &str, message: String| CsvViolation {
        file: file.to_owned(),
        row: 0,
        column: 0,
        item: None,
        message,
    };
    let mut named: Vec<(FileName, &SourceFile<'_>)> = Vec::new();
    for f in files {
        match FileName::parse(f.name) {
            Err(message) => r.violations.push(whole(f.name, message)),
            Ok(name) => {
                if name.from.as_str() != sender {
                    r.violations.push(whole(
                        f.name,
                        "the sending office in the file name is not the caller's office".into(),
                    ));
                }
                if let Some((first, _)) = named.first()
                    && first.timestamp != name.timestamp
                {
                    r.violations.push(whole(
                        f.name,
                        "files of one plan must carry the same timestamp (ファイル連番)".into(),
                    ));
                }
                if named.iter().any(|(n, _)| n.table == name.table) {
                    r.violations.push(whole(
                        f.name,
                        format!("a second {} file", name.table.japanese_name()),
                    ));
                    continue;
                }
                named.push((name, f));
            }
        }
    }
    for table in [Table::Table1, Table::Table2] {
        if !named.iter().any(|(n, _)| n.table == table) {
            r.violations.push(whole(
                "",
                format!("a plan needs its {} file", table.japanese_name()),
            ));
        }
    }
    named.sort_by_key(|(n, _)| n.table);

    let mut content = Map::new();
    content.insert("plan_type".into(), json!("home"));
    let mut file_entries = Vec::new();
    for (name, f) in &named {
        let (table_value, file_meta) = read_table(&mut r, name.table, f);
        if let Some(v) = table_value {
            content.insert(name.table.key().into(), v);
        }
        let mut entry = Map::new();
        entry.insert("table".into(), json!(name.table.key()));
        entry.insert("name".into(), json!(f.name));
        entry.insert("sha256".into(), json!(hex::encode(Sha256::digest(f.bytes))));
        entry.extend(file_meta);
        file_entries.push(Value::Object(entry));
    }
    if !r.violations.is_empty() {
        return Err(r.violations);
    }
    let (Some(insurer), Some(insured), Some((version, _))) = (r.insurer, r.insured, r.version)
    else {
        return Err(vec![whole("", "the files hold no rows".into())]);
    };
    let person = PersonRef::new(
        InsurerNumber::parse(&insurer).expect("checked per row"),
        InsuredNumber::parse(&insured).expect("checked per row"),
    );
    strip_nulls(&mut r.plan);
    let created = r
        .plan
        .get("created_date")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .replace('-', "");
    for (k, v) in r.plan {
        content.insert(k, v);
    }
    content.insert(
        "standard_csv".into(),
        json!({"version": version, "files": file_entries}),
    );
    Ok(Imported {
        person,
        document_key: format!("csv-plan-{created}"),
        content: Value::Object(content),
    })
}

/// Reads one file: the table's document value and its file-scope items.
fn read_table(
    r: &mut Reader,
    table: Table,
    f: &SourceFile<'_>,
) -> (Option<Value>, Map<String, Value>) {
    let file = f.name;
    let text = match ms932::decode(f.bytes) {
        Ok(t) => t,
        Err(offset) => {
            let (row, column) = ms932::position(f.bytes, offset);
            r.violations.push(CsvViolation {
                file: file.into(),
                row,
                column,
                item: table.items().get(column - 1).map(|i| i.name.to_owned()),
                message: "a byte sequence outside MS932 (Shift_JIS, Windows-31J)".into(),
            });
            return (None, Map::new());
        }
    };
    let items = table.items();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut file_meta = Map::new();
    let mut table_obj = Map::new();
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    let mut goals: Vec<(Map<String, Value>, Vec<Value>)> = Vec::new();
    let mut n = 0;
    for record in reader.records() {
        n += 1;
        let record = match record {
            Ok(rec) => rec,
            Err(_) => {
                r.violations.push(CsvViolation {
                    file: file.into(),
                    row: n,
                    column: 0,
                    item: None,
                    message: "not a well-formed CSV record".into(),
                });
                break;
            }
        };
        if record.len() != items.len() {
            r.violations.push(CsvViolation {
                file: file.into(),
                row: n,
                column: 0,
                item: None,
                message: format!(
                    "has {} items; {} has {}",
                    record.len(),
                    table.japanese_name(),
                    items.len()
                ),
            });
            continue;
        }
        let mut row_obj = Map::new();
        let mut group = Map::new();
        for (i, (item, raw)) in items.iter().zip(record.iter()).enumerate() {
            let column = i + 1;
            let text: String = raw.nfc().collect();
            if let Some(c) = text.chars().find(|&c| {
                ms932::forbidden(c)
                    || ((c == '\r' || c == '\n') && !matches!(item.format, Format::Text(_)))
            }) {
                let what = if ('\u{E000}'..='\u{F8FF}').contains(&c) {
                    "a user-defined character (外字), which the spec forbids".to_owned()
                } else {
                    format!(
                        "a control character U+{:04X}, which the spec forbids",
                        c as u32
                    )
                };
                r.push(file, n, column, item, what);
                continue;
            }
            let value = match read_value(item, &text) {
                Ok(v) => v,
                Err(message) => {
                    r.push(file, n, column, item, message);
                    continue;
                }
            };
            match item.scope {
                Scope::Common => {
                    let text = text.clone();
                    let (slot, what) = match item.key {
                        "csv_version" => {
                            let first = r
                                .version
                                .get_or_insert_with(|| (text.clone(), file.to_owned()));
                            (first.0 == text, "CSV version")
                        }
                        "insurer_number" => (
                            r.insurer.get_or_insert_with(|| text.clone()) == &text,
                            "insurer (保険者番号)",
                        ),
                        _ => (
                            r.insured.get_or_insert_with(|| text.clone()) == &text,
                            "insured person (被保険者番号)",
                        ),
                    };
                    if !slot {
                        r.push(
                            file,
                            n,
                            column,
                            item,
                            format!("names another {what} than the plan's first row"),
                        );
                    }
                }
                Scope::Plan => {
                    let before = r.plan_seen.contains_key(item.key);
                    if !agree(&mut r.plan, item.key, value) {
                        r.push(
                            file,
                            n,
                            column,
                            item,
                            "differs from the same item elsewhere in the plan".into(),
                        );
                    } else if !before {
                        r.plan_seen.insert(item.key.into(), json!(file));
                    }
                }
                Scope::File => {
                    if !agree(&mut file_meta, item.key, value) {
                        r.push(
                            file,
                            n,
                            column,
                            item,
                            "differs from row 1 of the file".into(),
                        );
                    }
                }
                Scope::Table => {
                    if !agree(&mut table_obj, item.key, value) {
                        r.push(
                            file,
                            n,
                            column,
                            item,
                            "differs from row 1 of the file".into(),
                        );
                    }
                }
                Scope::Group => {
                    group.insert(item.key.into(), value.unwrap_or(Value::Null));
                }
                Scope::Row => {
                    if let Some(v) = value {
                        row_obj.insert(item.key.into(), v);
                    }
                }
            }
        }
        if table == Table::Table2 {
            let same_goal = |g: &Map<String, Value>| {
                g.get("need_no") == group.get("need_no") && g.get("goal_no") == group.get("goal_no")
            };
            match goals.last_mut() {
                Some((g, services)) if same_goal(g) => {
                    if *g != group {
                        r.violations.push(CsvViolation {
                            file: file.into(),
                            row: n,
                            column: 0,
                            item: None,
                            message: "a row of a goal (課題NO, 援助目標NO) whose texts differ from the goal's first row".into(),
                        });
                    }
                    services.push(Value::Object(row_obj));
                }
                _ => {
                    if goals.iter().any(|(g, _)| same_goal(g)) {
                        r.violations.push(CsvViolation {
                            file: file.into(),
                            row: n,
                            column: 0,
                            item: None,
                            message:
                                "the rows of one goal (課題NO, 援助目標NO) must be consecutive"
                                    .into(),
                        });
                    }
                    goals.push((group, vec![Value::Object(row_obj)]));
                }
            }
        } else {
            rows.push(row_obj);
        }
    }
    if n == 0 {
        r.violations.push(CsvViolation {
            file: file.into(),
            row: 0,
            column: 0,
            item: None,
            message: "the file holds no rows".into(),
        });
    }
    if table == Table::Table1 && n > 1 {
        r.violations.push(CsvViolation {
            file: file.into(),
            row: 2,
            column: 0,
            item: None,
            message: "第1表 holds one row per plan".into(),
        });
    }
    strip_nulls(&mut file_meta);
    strip_nulls(&mut table_obj);
    let value = match table {
        Table::Table1 => {
            let mut obj = table_obj;
            if let Some(row) = rows.pop() {
                obj.extend(row);
            }
            Value::Object(obj)
        }
        Table::Table2 => Value::Array(
            goals
                .into_iter()
                .map(|(mut g, services)| {
                    strip_nulls(&mut g);
                    g.insert("services".into(), Value::Array(services));
                    Value::Object(g)
                })
                .collect(),
        ),
        Table::Table6 => Value::Array(rows.into_iter().map(Value::Object).collect()),
        _ => {
            let mut obj = table_obj;
            let key = table.rows_key().expect("row tables have a rows key");
            obj.insert(
                key.into(),
                Value::Array(rows.into_iter().map(Value::Object).collect()),
            );
            Value::Object(obj)
        }
    };
    (Some(value), file_meta)
}

/// A JSON object.
type Object = Map<String, Value>;

/// One exported file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFile {
    /// The spec's file name.
    pub name: String,
    /// The file, MS932.
    pub bytes: Vec<u8>,
}

/// Writes a stored `care_plan` as the standard files, one per table the
/// plan holds. Names and file-level items come from `standard_csv` when
/// the plan was imported from files; otherwise the file names are built
/// from `office` (sender and receiver) and `timestamp` (YYYYMMDDHHMMSS).
///
/// Rows are written canonically — every item quoted, CRLF after every
/// row — so files in that form come back byte for byte. `Err` names each
/// item holding a character MS932 lacks (a plan stored as JSON may).
pub fn export(
    content: &Value,
    person: &PersonRef,
    office: &str,
    timestamp: &str,
) -> Result<Vec<ExportedFile>, Vec<CsvViolation>> {
    let empty = Map::new();
    let doc = content.as_object().unwrap_or(&empty);
    let provenance = doc.get("standard_csv").and_then(Value::as_object);
    let version = provenance
        .and_then(|p| p.get("version"))
        .and_then(Value::as_str)
        .unwrap_or(CURRENT_CSV_VERSION);
    let files_meta: Vec<&Map<String, Value>> = provenance
        .and_then(|p| p.get("files"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut violations = Vec::new();
    for table in Table::ALL {
        let Some(table_value) = doc.get(table.key()).filter(|v| !v.is_null()) else {
            continue;
        };
        let meta = files_meta
            .iter()
            .find(|m| m.get("table").and_then(Value::as_str) == Some(table.key()))
            .copied();
        let table_obj = table_value.as_object().unwrap_or(&empty);
        // (group, row) per CSV row.
        let rows: Vec<(&Object, &Object)> = match table {
            Table::Table1 => vec![(&empty, table_obj)],
            Table::Table2 => table_value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|goal| {
                    goal.get("services")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_object)
                        .map(move |s| (goal, s))
                })
                .collect(),
            Table::Table6 => table_value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .map(|row| (&empty, row))
                .collect(),
            _ => table_obj
                .get(table.rows_key().expect("row tables have a rows key"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .map(|row| (&empty, row))
                .collect(),
        };
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let first_row = table_value.as_array().and_then(|a| a.first());
                let month = table_obj
                    .get("month")
                    .or_else(|| first_row.and_then(|r| r.get("month")))
                    .and_then(Value::as_str)
                    .map(|m| m.replace('-', ""))
                    .unwrap_or_else(|| timestamp[..6.min(timestamp.len())].to_owned());
                FileName::build(table, &month, office, office, timestamp)
            });
        let mut writer = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::Always)
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        for (group, row) in rows {
            let fields: Vec<String> = table
                .items()
                .iter()
                .map(|item| {
                    let value = match item.scope {
                        Scope::Common => {
                            return match item.key {
                                "csv_version" => version.to_owned(),
                                "insurer_number" => person.insurer_number.as_str().to_owned(),
                                _ => person.insured_number.as_str().to_owned(),
                            };
                        }
                        Scope::File => meta
                            .and_then(|m| m.get(item.key))
                            .or_else(|| doc.get("created_date")),
                        Scope::Plan => doc.get(item.key),
                        Scope::Table => table_obj.get(item.key),
                        Scope::Group => group.get(item.key),
                        Scope::Row => row.get(item.key),
                    };
                    write_value(item, value)
                })
                .collect();
            writer.write_record(&fields).expect("writing to memory");
        }
        let text = String::from_utf8(writer.into_inner().expect("writing to memory"))
            .expect("csv writes the UTF-8 it was given");
        match ms932::encode(&text) {
            Ok(bytes) => out.push(ExportedFile { name, bytes }),
            Err(c) => {
                let at = text.find(c).unwrap_or(0);
                let (row, column) = ms932::position_in(text.as_bytes(), at, false);
                violations.push(CsvViolation {
                    file: name,
                    row,
                    column,
                    item: table.items().get(column - 1).map(|i| i.name.to_owned()),
                    message: format!("U+{:04X} has no MS932 code", c as u32),
                });
            }
        }
    }
    if violations.is_empty() {
        Ok(out)
    } else {
        Err(violations)
    }
}
