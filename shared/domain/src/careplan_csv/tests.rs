use super::*;
use crate::kinds::DocumentKind;
use serde_json::Value;

const OFFICE: &str = "1371234567";
const TO: &str = "1372345678";
const TS: &str = "20250405103000";

fn quoted(fields: &[&str]) -> String {
    let q: Vec<String> = fields
        .iter()
        .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
        .collect();
    format!("{}\r\n", q.join(","))
}

fn head() -> Vec<&'static str> {
    vec!["202306", "131011", "0000012345"]
}

fn table1() -> String {
    let mut f = head();
    f.extend([
        "20250405",
        "100-0013",
        "東京都千代田区霞が関1-2-2",
        "髙﨑ハイツ101",
        "支援 次郎",
        "霞が関居宅介護支援事業所",
        "100-8916",
        "東京都千代田区霞が関1-2-2",
        "",
        OFFICE,
        "20250405",
        "20230401",
        "3",
        "1",
        "20250320",
        "20250401",
        "20260331",
        "22",
        "本人: 自宅で妻と暮らし続けたい。\r\n妻: 入浴の介助が負担。",
        "なし",
        "転倒を防ぎ在宅生活を継続できるよう支援する。",
        "",
        "",
        "V001",
        "P-0001",
    ]);
    quoted(&f)
}

fn table2() -> String {
    let row = |need_no, goal_no, service_no, content: &'static str| {
        let mut f = head();
        f.extend([
            "20250405",
            "20250405",
            need_no,
            "一人で安全に入浴できない",
            goal_no,
            "週2回、安全に入浴できる",
            "介助を受けて浴槽をまたげる",
            "R7.4.1～R8.3.31",
            "R7.4.1～R7.9.30",
            service_no,
            content,
            "1",
            "通所介護",
            TO,
            "霞が関デイサービスセンター",
            "週2回",
            "R7.4.1～R7.9.30",
            "",
            "",
        ]);
        quoted(&f)
    };
    row("1", "1", "1", "入浴介助") + &row("1", "1", "2", "機能訓練")
}

fn table6() -> String {
    let mut f = head();
    f.extend([
        "202504",
        "20250405",
        "1",
        "0930",
        "1600",
        "通所介護",
        TO,
        "霞が関デイ",
        "151111",
    ]);
    for d in 1..=31 {
        f.push(if d % 7 == 1 { "1" } else { "" });
    }
    f.extend(["5", "", ""]);
    quoted(&f)
}

fn file(table: Table) -> (String, Vec<u8>) {
    let text = match table {
        Table::Table1 => table1(),
        Table::Table2 => table2(),
        Table::Table6 => table6(),
        _ => unreachable!(),
    };
    (
        FileName::build(table, "202504", OFFICE, TO, TS),
        ms932::encode(&text).unwrap(),
    )
}

fn set(tables: &[Table]) -> Vec<(String, Vec<u8>)> {
    tables.iter().map(|&t| file(t)).collect()
}

fn run(files: &[(String, Vec<u8>)]) -> Result<Imported, Vec<CsvViolation>> {
    let src: Vec<SourceFile<'_>> = files
        .iter()
        .map(|(name, bytes)| SourceFile { name, bytes })
        .collect();
    import(&src, OFFICE)
}

#[test]
fn a_full_set_imports_validates_and_exports_byte_identically() {
    let files = set(&[Table::Table1, Table::Table2, Table::Table6]);
    let plan = run(&files).unwrap();
    assert_eq!(plan.document_key, "csv-plan-20250405");
    assert_eq!(plan.person.insured_number.as_str(), "0000012345");
    let c = &plan.content;
    crate::content::validate_content(DocumentKind::CarePlan, &plan.person, c).unwrap();
    assert_eq!(c["care_level"], "22");
    assert_eq!(c["plan_category"], "continuing");
    assert_eq!(c["table1"]["person_address_2"], "髙﨑ハイツ101");
    assert_eq!(c["table2"][0]["services"][1]["content"], "機能訓練");
    assert_eq!(c["table2"][0]["services"][0]["insurance_covered"], true);
    assert_eq!(c["table6"][0]["month"], "2025-04");
    assert_eq!(c["table6"][0]["day_08"], 1);
    assert_eq!(c["standard_csv"]["version"], "202306");
    assert_eq!(c["standard_csv"]["files"].as_array().unwrap().len(), 3);
    let out = export(c, &plan.person, OFFICE, TS).unwrap();
    assert_eq!(out.len(), 3);
    for (exported, (name, bytes)) in out.iter().zip(&files) {
        assert_eq!(&exported.name, name);
        assert_eq!(&exported.bytes, bytes, "{name} differs");
    }
}

fn only(result: Result<Imported, Vec<CsvViolation>>) -> CsvViolation {
    let v = result.unwrap_err();
    assert_eq!(v.len(), 1, "{v:#?}");
    v.into_iter().next().unwrap()
}

fn replace(files: &mut [(String, Vec<u8>)], i: usize, from: &str, to: &[u8]) {
    let (name, bytes) = &files[i];
    let from = ms932::encode(from).unwrap();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_slice())
        .unwrap_or_else(|| panic!("{name}"));
    let mut b = bytes[..at].to_vec();
    b.extend_from_slice(to);
    b.extend_from_slice(&bytes[at + from.len()..]);
    files[i].1 = b;
}

#[test]
fn a_byte_outside_ms932_is_named_by_file_row_and_column() {
    let mut files = set(&[Table::Table1, Table::Table2]);
    // UTF-8 where MS932 belongs: 入浴介助 on row 2's content of 第2表.
    replace(&mut files, 1, "\"機能訓練\"", "\"機能訓練\"".as_bytes());
    let v = only(run(&files));
    assert_eq!((v.row, v.column), (2, 14), "{v:?}");
    assert!(v.file.starts_with("UP2KYO_"));
    assert_eq!(v.item.as_deref(), Some("サービス内容"));
    assert!(v.message.contains("outside MS932"));
}

#[test]
fn gaiji_and_control_characters_are_forbidden() {
    let mut files = set(&[Table::Table1, Table::Table2]);
    replace(&mut files, 0, "支援 次郎", b"\xf0\x40\x20\x8e\x9f\x98\x59");
    let v = only(run(&files));
    assert_eq!((v.row, v.column), (1, 8));
    assert!(v.message.contains("外字"), "{v:?}");
    let mut files = set(&[Table::Table1, Table::Table2]);
    replace(&mut files, 0, "\"V001\"", b"\"V\x01\"");
    let v = only(run(&files));
    assert_eq!((v.row, v.column), (1, 27));
}

#[test]
fn missing_required_items_and_bad_codes_are_refused() {
    let mut files = set(&[Table::Table1, Table::Table2]);
    replace(&mut files, 0, "\"霞が関居宅介護支援事業所\"", b"\"\"");
    let v = only(run(&files));
    assert_eq!((v.row, v.column, v.message.as_str()), (1, 9, "required"));

    let mut files = set(&[Table::Table1, Table::Table2]);
    replace(&mut files, 0, "\"22\"", b"\"29\"");
    let v = only(run(&files));
    assert_eq!((v.row, v.column), (1, 21));
    assert!(v.message.starts_with("unknown code"));

    let mut files = set(&[Table::Table1, Table::Table2]);
    replace(&mut files, 0, "\"20250320\"", b"\"20250230\"");
    assert_eq!(only(run(&files)).column, 18);
}

#[test]
fn a_row_about_another_person_or_insurer_is_refused() {
    let mut files = set(&[Table::Table1, Table::Table2]);
    // Row 2 of 第2表 names another insurer.
    let (name, bytes) = &files[1];
    let text = ms932::decode(bytes).unwrap();
    let mut lines: Vec<String> = text.split_inclusive("\r\n").map(str::to_owned).collect();
    lines[1] = lines[1].replacen("\"131011\"", "\"271004\"", 1);
    files[1] = (name.clone(), ms932::encode(&lines.concat()).unwrap());
    let v = only(run(&files));
    assert_eq!((v.row, v.column), (2, 2));
    assert!(v.message.contains("another insurer"));
}

#[test]
fn file_names_sender_and_set_are_checked() {
    let mut files = set(&[Table::Table1, Table::Table2]);
    files[1].0 = FileName::build(Table::Table2, "", TO, OFFICE, TS);
    let v = only(run(&files));
    assert_eq!((v.row, v.column), (0, 0));
    assert!(v.message.contains("sending office"));

    let files = set(&[Table::Table1]);
    assert!(only(run(&files)).message.contains("第2表"));

    let mut files = set(&[Table::Table1, Table::Table2]);
    files[0].0 = "plan.csv".into();
    let v = run(&files).unwrap_err();
    assert!(v.iter().any(|v| v.file == "plan.csv"));
    assert!(FileName::parse("UPPLAN_2025_1371234567_1372345678_20250405103000.CSV").is_err());
    let n = FileName::parse("UPPLAN_202504_1371234567_1372345678_20250405103000.CSV").unwrap();
    assert_eq!(
        (n.table, n.month.as_deref(), n.to.as_str()),
        (Table::Table6, Some("202504"), TO)
    );
}

#[test]
fn wrong_item_counts_and_leading_zeros_are_refused() {
    let mut files = set(&[Table::Table1, Table::Table2]);
    replace(&mut files, 0, ",\"P-0001\"", b"");
    let v = only(run(&files));
    assert_eq!((v.row, v.column), (1, 0));
    let mut files = set(&[Table::Table1, Table::Table2, Table::Table6]);
    replace(&mut files, 2, "\"5\"", b"\"05\"");
    assert_eq!(only(run(&files)).column, 44);
}

#[test]
fn text_is_nfc_in_the_document() {
    let mut files = set(&[Table::Table1, Table::Table2]);
    // 朗 U+F929 (IBM extension FA B1? no: FB 45) normalises to U+6717.
    let compat = ms932::encode("\u{F929}").unwrap();
    replace(&mut files, 0, "支援 次郎", &compat);
    let plan = run(&files).unwrap();
    assert_eq!(plan.content["care_manager_name"], "\u{6717}");
}

#[test]
fn a_plan_stored_as_json_exports_and_refuses_what_ms932_lacks() {
    let plan = run(&set(&[Table::Table1, Table::Table2])).unwrap();
    let mut content = plan.content.clone();
    content.as_object_mut().unwrap().remove("standard_csv");
    let out = export(&content, &plan.person, OFFICE, TS).unwrap();
    assert_eq!(
        out[0].name,
        FileName::build(Table::Table1, "", OFFICE, OFFICE, TS)
    );
    content["table1"]["office_name"] = Value::String("𠮷野屋".into());
    let v = export(&content, &plan.person, OFFICE, TS).unwrap_err();
    assert_eq!((v[0].row, v[0].column), (1, 9));
}

#[test]
fn violations_become_one_problem_naming_file_row_and_column() {
    let mut files = set(&[Table::Table1, Table::Table2]);
    replace(&mut files, 0, "\"22\"", b"\"29\"");
    let p = problem(&run(&files).unwrap_err());
    let body = p.to_json();
    assert_eq!(body["type"], "urn:carehub:problem:invalid-standard-csv");
    assert_eq!(body["status"], 422);
    assert_eq!(body["csv_violations"][0]["row"], 1);
    assert_eq!(body["csv_violations"][0]["column"], 21);
    assert_eq!(body["csv_violations"][0]["item"], "要介護状態区分");
}

#[test]
fn tables_3_and_7_round_trip() {
    let mut t3 = head();
    t3.extend([
        "20250405",
        "20250405",
        "1",
        "3",
        "0930",
        "1600",
        "通所介護",
        "霞が関デイ",
        "",
        "",
    ]);
    let mut t3b = head();
    t3b.extend([
        "20250405", "20250405", "2", "", "0700", "", "起床", "", "", "",
    ]);
    let mut t7 = head();
    t7.extend([
        "202504",
        "20250405",
        TO,
        "霞が関デイ",
        "通所介護22",
        "151111",
        "897",
        "5",
        "4485",
        "",
        "0",
        "4485",
        "10.90",
        "48886",
        "90",
        "43997",
        "4889",
        "0",
        "",
        "",
    ]);
    let mut files = set(&[Table::Table1, Table::Table2]);
    files.push((
        FileName::build(Table::Table3, "", OFFICE, TO, TS),
        ms932::encode(&(quoted(&t3) + &quoted(&t3b))).unwrap(),
    ));
    files.push((
        FileName::build(Table::Table7, "202504", OFFICE, TO, TS),
        ms932::encode(&quoted(&t7)).unwrap(),
    ));
    let plan = run(&files).unwrap();
    let c = &plan.content;
    crate::content::validate_content(DocumentKind::CarePlan, &plan.person, c).unwrap();
    assert_eq!(c["table3"]["entries"][1]["entry_type"], "daily_activity");
    assert_eq!(c["table7"]["services"][0]["person_share_yen"], 4889);
    assert_eq!(c["table7"]["month"], "2025-04");
    let out = export(c, &plan.person, OFFICE, TS).unwrap();
    let mut names: Vec<_> = files.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    let mut got: Vec<_> = out.iter().map(|f| f.name.clone()).collect();
    got.sort();
    assert_eq!(got, names);
    for f in out {
        let (_, bytes) = files.iter().find(|(n, _)| *n == f.name).unwrap();
        assert_eq!(&f.bytes, bytes, "{}", f.name);
    }
}

macro_rules! fixture {
    ($dir:literal, $name:literal) => {
        (
            $name,
            &include_bytes!(concat!("../../../../tests/fixtures/csv/", $dir, "/", $name))[..],
        )
    };
}

macro_rules! plan_files {
    ($dir:literal) => {
        [
            fixture!($dir, "UP1KYO_1371234567_1372345678_20250405103000.CSV"),
            fixture!($dir, "UP2KYO_1371234567_1372345678_20250405103000.CSV"),
        ]
    };
}

fn import_fixture(files: &[(&str, &[u8])]) -> Result<Imported, Vec<CsvViolation>> {
    let src: Vec<_> = files
        .iter()
        .map(|(name, bytes)| SourceFile { name, bytes })
        .collect();
    import(&src, OFFICE)
}

#[test]
fn the_fixtures_import_and_export_byte_identically() {
    let files = [
        fixture!("full", "UP1KYO_1371234567_1372345678_20250405103000.CSV"),
        fixture!("full", "UP2KYO_1371234567_1372345678_20250405103000.CSV"),
        fixture!("full", "UP3KYO_1371234567_1372345678_20250405103000.CSV"),
        fixture!(
            "full",
            "UPPLAN_202504_1371234567_1372345678_20250405103000.CSV"
        ),
        fixture!(
            "full",
            "UPBEPPYO_202504_1371234567_1372345678_20250405103000.CSV"
        ),
    ];
    let plan = import_fixture(&files).unwrap();
    crate::content::validate_content(DocumentKind::CarePlan, &plan.person, &plan.content).unwrap();
    assert_eq!(plan.content["care_manager_name"], "髙橋 﨑子");
    let out = export(&plan.content, &plan.person, OFFICE, TS).unwrap();
    assert_eq!(out.len(), files.len());
    for f in &out {
        let (_, bytes) = files.iter().find(|(n, _)| *n == f.name).unwrap();
        assert_eq!(&f.bytes[..], *bytes, "{}", f.name);
    }
}

#[test]
fn the_bad_fixtures_are_refused_at_their_item() {
    for (dir, files, message) in [
        ("utf8", plan_files!("utf8"), "outside MS932"),
        // 𠮷's UTF-8 bytes F0 A0 … begin with an MS932 user-defined code.
        ("lacks-ms932", plan_files!("lacks-ms932"), "外字"),
        ("gaiji", plan_files!("gaiji"), "外字"),
    ] {
        let v = import_fixture(&files).unwrap_err();
        let first = &v[0];
        assert!(first.file.starts_with("UP1KYO_"), "{dir}: {first:?}");
        assert!(first.message.contains(message), "{dir}: {first:?}");
        assert_eq!(first.row, 1, "{dir}");
    }
    let v = import_fixture(&plan_files!("gaiji")).unwrap_err();
    assert_eq!(
        (v[0].column, v[0].item.as_deref()),
        (8, Some("居宅サービス計画作成者氏名"))
    );
    let v = import_fixture(&plan_files!("lacks-ms932")).unwrap_err();
    assert_eq!(v[0].column, 8);
}
