//! The standard files' item lists, as data: one [`Item`] per column, in
//! column order. `docs/care-plan-csv.md` states where each list comes from.

/// One of the standard files carehub reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// 居宅サービス計画書(1) — 第1表.
    Table1,
    /// 居宅サービス計画書(2) — 第2表.
    Table2,
    /// 週間サービス計画表 — 第3表.
    Table3,
    /// サービス利用票(兼居宅サービス計画) — 第6表 (予定).
    Table6,
    /// サービス利用票別表 — 第7表.
    Table7,
}

impl Table {
    /// Every table, in the order files are written.
    pub const ALL: [Table; 5] = [
        Table::Table1,
        Table::Table2,
        Table::Table3,
        Table::Table6,
        Table::Table7,
    ];

    /// The table's key in the `care_plan` document (`table1`, …).
    pub const fn key(self) -> &'static str {
        match self {
            Table::Table1 => "table1",
            Table::Table2 => "table2",
            Table::Table3 => "table3",
            Table::Table6 => "table6",
            Table::Table7 => "table7",
        }
    }

    /// The file-name prefix (`UP1KYO_…`, `UPPLAN_…`).
    pub const fn prefix(self) -> &'static str {
        match self {
            Table::Table1 => "UP1KYO",
            Table::Table2 => "UP2KYO",
            Table::Table3 => "UP3KYO",
            Table::Table6 => "UPPLAN",
            Table::Table7 => "UPBEPPYO",
        }
    }

    /// Whether the file name carries the target month (`_YYYYMM_`).
    pub const fn monthly(self) -> bool {
        matches!(self, Table::Table6 | Table::Table7)
    }

    /// The table's Japanese name.
    pub const fn japanese_name(self) -> &'static str {
        match self {
            Table::Table1 => "居宅サービス計画書(1) 第1表",
            Table::Table2 => "居宅サービス計画書(2) 第2表",
            Table::Table3 => "週間サービス計画表 第3表",
            Table::Table6 => "サービス利用票 第6表",
            Table::Table7 => "サービス利用票別表 第7表",
        }
    }

    /// The table with this file-name prefix.
    pub fn from_prefix(prefix: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.prefix() == prefix)
    }

    /// The key of the array holding one object per row, for the tables
    /// whose document value is an object (`None` for 第1表, one row;
    /// 第2表, an array of goals; 第6表, an array of rows).
    pub const fn rows_key(self) -> Option<&'static str> {
        match self {
            Table::Table1 | Table::Table2 | Table::Table6 => None,
            Table::Table3 => Some("entries"),
            Table::Table7 => Some("services"),
        }
    }

    /// The table's items, in column order.
    pub fn items(self) -> &'static [Item] {
        match self {
            Table::Table1 => TABLE1,
            Table::Table2 => TABLE2,
            Table::Table3 => TABLE3,
            Table::Table6 => &TABLE6,
            Table::Table7 => TABLE7,
        }
    }
}

/// What an item holds, and how it reads into the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSVバージョン: one of [`CSV_VERSIONS`].
    Version,
    /// 保険者番号 (6 digits, prefecture 01–47).
    Insurer,
    /// 被保険者番号 (10 characters).
    Insured,
    /// 介護事業所番号 (10 characters).
    Office,
    /// `YYYYMMDD` in the file, `YYYY-MM-DD` in the document.
    Date,
    /// `YYYYMM` in the file, `YYYY-MM` in the document.
    YearMonth,
    /// `HHMM` in the file, `HH:MM` in the document.
    Time,
    /// A closed code list: (code in the file, value in the document).
    Code(&'static [(&'static str, &'static str)]),
    /// `1` (true) or `0` (false).
    Flag,
    /// Free text of at most this many characters (line breaks allowed).
    Text(usize),
    /// A non-negative integer written without leading zeros.
    Count,
    /// サービスコード: service type (2) + item (4), digits and capitals.
    ServiceCode,
    /// 単位数単価: `NN.NN` yen per unit.
    UnitPrice,
}

/// Where an item's value lives in the `care_plan` document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Items 1–3 of every file: the CSV version (kept in
    /// `standard_csv.version`) and the person (the document's envelope).
    /// Every row of every file must agree.
    Common,
    /// `standard_csv.files[].<key>`: the same on every row of the file.
    File,
    /// A top-level field of the document: the same on every row of every
    /// file that carries it.
    Plan,
    /// A field of the table's object: the same on every row of the table.
    Table,
    /// 第2表 only: a field of the goal (課題 + 援助目標) the row belongs to.
    Group,
    /// A field of the row's own object.
    Row,
}

/// One column of a standard file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// The spec's Japanese item name.
    pub name: &'static str,
    /// The field name in the document.
    pub key: &'static str,
    /// What it holds.
    pub format: Format,
    /// Where it goes.
    pub scope: Scope,
    /// Whether a row without it is refused.
    pub required: bool,
}

const fn item(
    name: &'static str,
    key: &'static str,
    format: Format,
    scope: Scope,
    required: bool,
) -> Item {
    Item {
        name,
        key,
        format,
        scope,
        required,
    }
}

/// The CSV versions carehub reads and writes (item 1 of every file).
pub const CSV_VERSIONS: &[&str] = &["202306"];
/// The version carehub writes when a plan did not come from CSV files.
pub const CURRENT_CSV_VERSION: &str = "202306";

const PLAN_CATEGORY: &[(&str, &str)] = &[("1", "first"), ("2", "referred"), ("3", "continuing")];
const CERTIFICATION_STATUS: &[(&str, &str)] = &[("1", "certified"), ("2", "pending")];
const CARE_LEVEL: &[(&str, &str)] = &[
    ("01", "01"),
    ("06", "06"),
    ("11", "11"),
    ("12", "12"),
    ("13", "13"),
    ("21", "21"),
    ("22", "22"),
    ("23", "23"),
    ("24", "24"),
    ("25", "25"),
];
const HOUSEWORK_REASON: &[(&str, &str)] = &[
    ("1", "living_alone"),
    ("2", "family_disabled_or_ill"),
    ("3", "other"),
];
const WEEKLY_ENTRY: &[(&str, &str)] = &[
    ("1", "weekly_service"),
    ("2", "daily_activity"),
    ("3", "other_service"),
];
const WEEKDAY: &[(&str, &str)] = &[
    ("1", "monday"),
    ("2", "tuesday"),
    ("3", "wednesday"),
    ("4", "thursday"),
    ("5", "friday"),
    ("6", "saturday"),
    ("7", "sunday"),
];

use Format::*;
use Scope::*;

const VERSION: Item = item("CSVバージョン", "csv_version", Version, Common, true);
const INSURER: Item = item("保険者番号", "insurer_number", Insurer, Common, true);
const INSURED: Item = item("被保険者番号", "insured_number", Insured, Common, true);
const CREATED: Item = item(
    "居宅サービス計画作成(変更)日",
    "created_date",
    Date,
    Plan,
    true,
);
const VENDOR: Item = item("更新業者コード", "vendor_code", Text(20), Row, false);
const RECORD_ID: Item = item("識別子", "record_id", Text(64), Row, false);

static TABLE1: &[Item] = &[
    VERSION,
    INSURER,
    INSURED,
    item("作成年月日", "written_date", Date, File, true),
    item(
        "利用者郵便番号",
        "person_postal_code",
        Text(8),
        Table,
        false,
    ),
    item("利用者住所1", "person_address_1", Text(100), Table, false),
    item("利用者住所2", "person_address_2", Text(100), Table, false),
    item(
        "居宅サービス計画作成者氏名",
        "care_manager_name",
        Text(50),
        Plan,
        true,
    ),
    item("介護支援事業者名", "office_name", Text(100), Table, true),
    item(
        "介護支援事業者郵便番号",
        "office_postal_code",
        Text(8),
        Table,
        false,
    ),
    item(
        "介護支援事業者住所1",
        "office_address_1",
        Text(100),
        Table,
        false,
    ),
    item(
        "介護支援事業者住所2",
        "office_address_2",
        Text(100),
        Table,
        false,
    ),
    item("介護支援事業者コード", "office_number", Office, Plan, true),
    CREATED,
    item(
        "初回居宅サービス計画作成日",
        "first_created_date",
        Date,
        Table,
        false,
    ),
    item(
        "初回・紹介・継続",
        "plan_category",
        Code(PLAN_CATEGORY),
        Plan,
        true,
    ),
    item(
        "認定済・申請中",
        "certification_status",
        Code(CERTIFICATION_STATUS),
        Plan,
        true,
    ),
    item("認定日", "certification_date", Date, Table, false),
    item(
        "認定の有効期間(開始)",
        "validity_start_date",
        Date,
        Plan,
        false,
    ),
    item(
        "認定の有効期間(終了)",
        "validity_end_date",
        Date,
        Plan,
        false,
    ),
    item(
        "要介護状態区分",
        "care_level",
        Code(CARE_LEVEL),
        Plan,
        false,
    ),
    item(
        "利用者及び家族の生活に対する意向を踏まえた課題分析の結果",
        "user_and_family_wishes",
        Text(4000),
        Table,
        true,
    ),
    item(
        "介護認定審査会の意見及びサービスの種類の指定",
        "committee_opinion",
        Text(4000),
        Table,
        false,
    ),
    item(
        "総合的な援助の方針",
        "overall_support_policy",
        Text(4000),
        Table,
        true,
    ),
    item(
        "生活援助中心型の算定理由",
        "housework_reason_code",
        Code(HOUSEWORK_REASON),
        Table,
        false,
    ),
    item(
        "生活援助中心型の算定理由(その他)",
        "housework_reason",
        Text(200),
        Table,
        false,
    ),
    item("更新業者コード", "vendor_code", Text(20), Table, false),
    item("識別子", "record_id", Text(64), Table, false),
];

static TABLE2: &[Item] = &[
    VERSION,
    INSURER,
    INSURED,
    item("居宅計画書作成年月日", "written_date", Date, File, true),
    CREATED,
    item("課題NO", "need_no", Count, Group, true),
    item("課題", "need", Text(1000), Group, true),
    item("援助目標NO", "goal_no", Count, Group, true),
    item("長期目標", "long_term_goal", Text(1000), Group, true),
    item("短期目標", "short_term_goal", Text(1000), Group, true),
    item("長期期間", "long_term_goal_period", Text(100), Group, false),
    item(
        "短期期間",
        "short_term_goal_period",
        Text(100),
        Group,
        false,
    ),
    item("援助内容NO", "service_no", Count, Row, true),
    item("サービス内容", "content", Text(1000), Row, true),
    item("保険対象区分", "insurance_covered", Flag, Row, false),
    item("サービス種別", "service_type", Text(100), Row, false),
    item(
        "サービス事業者コード",
        "provider_office_number",
        Office,
        Row,
        false,
    ),
    item("サービス事業所名", "provider", Text(100), Row, false),
    item("頻度", "frequency", Text(100), Row, false),
    item("実施期間", "period", Text(100), Row, false),
    VENDOR,
    RECORD_ID,
];

static TABLE3: &[Item] = &[
    VERSION,
    INSURER,
    INSURED,
    item("作成年月日", "written_date", Date, File, true),
    CREATED,
    item("区分", "entry_type", Code(WEEKLY_ENTRY), Row, true),
    item("曜日", "weekday", Code(WEEKDAY), Row, false),
    item("開始時刻", "start_time", Time, Row, false),
    item("終了時刻", "end_time", Time, Row, false),
    item("内容", "content", Text(200), Row, true),
    item("サービス事業所名", "provider", Text(100), Row, false),
    VENDOR,
    RECORD_ID,
];

const DAY_KEYS: [&str; 31] = [
    "day_01", "day_02", "day_03", "day_04", "day_05", "day_06", "day_07", "day_08", "day_09",
    "day_10", "day_11", "day_12", "day_13", "day_14", "day_15", "day_16", "day_17", "day_18",
    "day_19", "day_20", "day_21", "day_22", "day_23", "day_24", "day_25", "day_26", "day_27",
    "day_28", "day_29", "day_30", "day_31",
];
const DAY_NAMES: [&str; 31] = [
    "1日", "2日", "3日", "4日", "5日", "6日", "7日", "8日", "9日", "10日", "11日", "12日", "13日",
    "14日", "15日", "16日", "17日", "18日", "19日", "20日", "21日", "22日", "23日", "24日", "25日",
    "26日", "27日", "28日", "29日", "30日", "31日",
];

const fn table6() -> [Item; 46] {
    let head = [
        VERSION,
        INSURER,
        INSURED,
        item("対象年月", "month", YearMonth, Row, true),
        CREATED,
        item(
            "予定実績区分",
            "plan_or_actual",
            Code(&[("1", "planned"), ("2", "actual")]),
            Row,
            true,
        ),
        item("開始時刻", "start_time", Time, Row, false),
        item("終了時刻", "end_time", Time, Row, false),
        item("サービス内容", "service_name", Text(100), Row, true),
        item(
            "サービス事業者コード",
            "provider_office_number",
            Office,
            Row,
            true,
        ),
        item("サービス事業所名", "provider", Text(100), Row, false),
        item("サービスコード", "service_code", ServiceCode, Row, true),
    ];
    let mut out = [VERSION; 46];
    let mut i = 0;
    while i < head.len() {
        out[i] = head[i];
        i += 1;
    }
    let mut d = 0;
    while d < 31 {
        out[12 + d] = item(DAY_NAMES[d], DAY_KEYS[d], Count, Row, false);
        d += 1;
    }
    out[43] = item("合計回数", "total_count", Count, Row, true);
    out[44] = VENDOR;
    out[45] = RECORD_ID;
    out
}

static TABLE6: [Item; 46] = table6();

static TABLE7: &[Item] = &[
    VERSION,
    INSURER,
    INSURED,
    item("対象年月", "month", YearMonth, Table, true),
    CREATED,
    item(
        "サービス事業者コード",
        "provider_office_number",
        Office,
        Row,
        true,
    ),
    item("サービス事業所名", "provider", Text(100), Row, false),
    item("サービス内容/種類", "service_name", Text(100), Row, true),
    item("サービスコード", "service_code", ServiceCode, Row, true),
    item("単位数", "unit_units", Count, Row, true),
    item("回数", "count", Count, Row, true),
    item("サービス単位/金額", "service_units", Count, Row, true),
    item(
        "種類支給限度基準を超える単位数",
        "type_over_limit_units",
        Count,
        Row,
        false,
    ),
    item(
        "区分支給限度基準を超える単位数",
        "over_limit_units",
        Count,
        Row,
        false,
    ),
    item(
        "区分支給限度基準内単位数",
        "within_limit_units",
        Count,
        Row,
        false,
    ),
    item("単位数単価", "unit_price", UnitPrice, Row, false),
    item("費用総額", "total_cost_yen", Count, Row, false),
    item("給付率", "benefit_rate_percent", Count, Row, false),
    item("保険給付額", "insurance_benefit_yen", Count, Row, false),
    item(
        "利用者負担(保険対象分)",
        "person_share_yen",
        Count,
        Row,
        false,
    ),
    item(
        "利用者負担(全額負担分)",
        "full_share_yen",
        Count,
        Row,
        false,
    ),
    VENDOR,
    RECORD_ID,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_table_starts_with_version_and_person_and_keys_are_unique() {
        for table in Table::ALL {
            let items = table.items();
            assert_eq!(&items[..3], &[VERSION, INSURER, INSURED], "{table:?}");
            let keys: HashSet<_> = items.iter().map(|i| i.key).collect();
            assert_eq!(keys.len(), items.len(), "{table:?} repeats a key");
            assert_eq!(Table::from_prefix(table.prefix()), Some(table));
            for i in items {
                let group_ok = i.scope != Scope::Group || table == Table::Table2;
                assert!(group_ok, "{table:?}.{}", i.key);
            }
        }
        assert_eq!(TABLE1.len(), 28);
        assert_eq!(TABLE2.len(), 22);
        assert_eq!(TABLE3.len(), 13);
        assert_eq!(TABLE6.len(), 46);
        assert_eq!(TABLE7.len(), 23);
        assert_eq!(TABLE6[12].name, "1日");
        assert_eq!(TABLE6[42].key, "day_31");
    }
}
