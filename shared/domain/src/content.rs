//! What each kind of document must contain (DOCUMENT-KINDS.md), and the
//! validator ingest runs before storing one.
//!
//! The validator checks the core of each form — required fields, their
//! types, the national codes, and the rules that hold within one document —
//! not every box of every form. Fields it does not know are kept as sent, so
//! a municipality can send more than the hub checks.
//!
//! # Rules for every kind
//!
//! * The content is a JSON object.
//! * `insured_number` / `insurer_number`, when present, equal the person's
//!   (the person is named outside the content; a mismatch is a misfiled
//!   document).
//! * Anywhere in the document, a key ending in `_date` holds an ISO 8601
//!   calendar date `YYYY-MM-DD` that exists, and a key ending in `_yen` or
//!   `_units` a non-negative integer. `null` counts as absent.
//! * Periods are ordered: `validity_start_date` ≤ `validity_end_date`,
//!   `start_date` ≤ `end_date` / `completion_date`, `admission_date` ≤
//!   `discharge_date`, and the other `*_start_date`/`*_end_date` pairs.
//! * Text fields are non-blank strings.
//!
//! # Fields per kind
//!
//! [`required_fields`] and [`optional_fields`] return, per kind, each field
//! with its Japanese term and meaning; this is the list that goes into the
//! OpenAPI description. In short:
//!
//! * **insurance_certificate** 被保険者証 — `insurer_name`, `name`,
//!   `name_kana`, `birth_date`, `sex`, `address`, `issue_date`,
//!   `care_level`; for certified levels (11–25) also `certification_date`,
//!   `validity_start_date`, `validity_end_date`,
//!   `monthly_benefit_limit_units` (at least the national figure for the
//!   level). Optional: `limit_period_start_date`, `limit_period_end_date`,
//!   `committee_opinion`, `designated_service_types`,
//!   `benefit_restrictions`, `care_manager_office`, `facility`.
//! * **burden_ratio_certificate** 負担割合証 — `name`, `issue_date`,
//!   `burden_ratio` (1–3), `validity_start_date`, `validity_end_date`.
//! * **cost_limit_certificate** 負担限度額認定証 — `name`, `issue_date`,
//!   `validity_start_date`, `validity_end_date`, `food_cost_daily_limit_yen`,
//!   `housing_cost_daily_limits` (six room types, each `_yen`).
//! * **certification_application** 要介護認定申請書 — `application_type`,
//!   `application_date`, `name`, `name_kana`, `birth_date`, `sex`,
//!   `address`, `attending_physician`, `consent_to_information_sharing`;
//!   `previous_care_level` for a renewal or change of category. Optional:
//!   `phone`, `previous_validity_start_date`, `previous_validity_end_date`,
//!   `hospital_stays`, `submitted_by`.
//! * **certification_survey** 認定調査票 — `survey_date`, `surveyor`,
//!   `basic_survey` (all 74 check items of the five groups and special
//!   medical care, see [`BASIC_SURVEY`]). Optional: `survey_place`,
//!   `overview`, `special_notes`.
//! * **physician_opinion** 主治医意見書 — `opinion_date`, `physician_name`,
//!   `institution`, `consent_to_care_planning` (同意する true / 同意しない
//!   false), `diagnoses` (1–3). Optional: `stability`, `bedridden_degree`,
//!   `dementia_independence`, `course_and_treatment`,
//!   `special_medical_care`, `remarks`, `application_ref`.
//! * **life_feedback** LIFE フィードバック票 — `office_number`,
//!   `service_type_code`, `assessment_date`, `adl` (Barthel index, 10
//!   items). Optional: `nutrition`, `oral_health`, `cognition`, `feedback`.
//! * **care_plan** ケアプラン — `plan_type`, `created_date`,
//!   `plan_category`, `certification_status`, `table1`, `table2`;
//!   `care_level` once certified. Optional: `validity_start_date`,
//!   `validity_end_date`, `office_number`, `care_manager_name`, `table3`,
//!   and for home care only `table6`, `table7`.
//! * **housing_renovation** 住宅改修費 — `application_date`, `work_types`,
//!   `cost_yen`, `paid_yen` (≤ cost, ≤ 180,000), `start_date`,
//!   `completion_date`, `contractor`. The 200,000-yen lifetime limit spans
//!   documents and is not checked here.
//! * **welfare_equipment_purchase** 福祉用具購入費 — `purchase_date`,
//!   `item_type`, `item_name`, `price_yen`, `paid_yen` (≤ price, ≤ 90,000),
//!   `seller`. The 100,000-yen annual limit spans documents and is not
//!   checked here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::codes::{ApplicationType, CareLevel};
use crate::ids::{MedicalInstitutionCode, OfficeNumber};
use crate::kinds::DocumentKind;
use crate::principal::PersonRef;

/// One rule a document breaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Violation {
    /// RFC 6901 JSON pointer to the offending value, e.g. "/care_level";
    /// "" for the whole document.
    pub pointer: String,
    /// What is wrong, in English.
    pub message: String,
}

impl Violation {
    /// A violation at `pointer`.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

type Fields = &'static [(&'static str, &'static str)];

const SEX: &[&str] = &["male", "female"];
const STABILITY: &[&str] = &["stable", "unstable", "unknown"];
const BEDRIDDEN_DEGREE: &[&str] = &[
    "independent",
    "J1",
    "J2",
    "A1",
    "A2",
    "B1",
    "B2",
    "C1",
    "C2",
];
const DEMENTIA_INDEPENDENCE: &[&str] =
    &["independent", "I", "IIa", "IIb", "IIIa", "IIIb", "IV", "M"];
const PLAN_TYPE: &[&str] = &["home", "facility"];
const PLAN_CATEGORY: &[&str] = &["first", "referred", "continuing"];
const CERTIFICATION_STATUS: &[&str] = &["certified", "pending"];
const WORK_TYPES: &[&str] = &[
    "handrails",
    "step_removal",
    "floor_material",
    "door_replacement",
    "toilet_replacement",
    "related_work",
];
const ITEM_TYPES: &[&str] = &[
    "toilet_seat",
    "automatic_excretion_parts",
    "excretion_prediction_device",
    "bathing_aid",
    "simple_bathtub",
    "lift_sling",
    "fixed_ramp",
    "walker",
    "walking_stick",
];
const HOUSING_COST_ROOMS: Fields = &[
    (
        "unit_private_room_yen",
        "ユニット型個室 — unit-type private room",
    ),
    (
        "unit_semi_private_room_yen",
        "ユニット型個室的多床室 — unit-type semi-private room",
    ),
    (
        "conventional_private_room_tokuyo_yen",
        "従来型個室（特養等） — conventional private room, 特養",
    ),
    (
        "conventional_private_room_roken_yen",
        "従来型個室（老健・医療院等） — conventional private room, 老健・介護医療院",
    ),
    (
        "multi_bed_room_tokuyo_yen",
        "多床室（特養等） — multi-bed room, 特養",
    ),
    (
        "multi_bed_room_roken_yen",
        "多床室（老健・医療院等） — multi-bed room, 老健・介護医療院",
    ),
];
/// Barthel index items and the scores each admits.
const BARTHEL: &[(&str, &[u64])] = &[
    ("feeding", &[0, 5, 10]),
    ("transfers", &[0, 5, 10, 15]),
    ("grooming", &[0, 5]),
    ("toilet_use", &[0, 5, 10]),
    ("bathing", &[0, 5]),
    ("mobility", &[0, 5, 10, 15]),
    ("stairs", &[0, 5, 10]),
    ("dressing", &[0, 5, 10]),
    ("bowels", &[0, 5, 10]),
    ("bladder", &[0, 5, 10]),
];
/// The most a single renovation can pay: 90% of the 200,000-yen limit.
const HOUSING_MAX_PAID_YEN: u64 = 180_000;
/// The most a single year's purchases can pay: 90% of the 100,000-yen limit.
const EQUIPMENT_MAX_PAID_YEN: u64 = 90_000;

/// `(start, end)` keys that form a period wherever they appear together.
const PERIODS: &[(&str, &str)] = &[
    ("validity_start_date", "validity_end_date"),
    ("limit_period_start_date", "limit_period_end_date"),
    ("previous_validity_start_date", "previous_validity_end_date"),
    ("long_term_goal_start_date", "long_term_goal_end_date"),
    ("short_term_goal_start_date", "short_term_goal_end_date"),
    ("start_date", "end_date"),
    ("start_date", "completion_date"),
    ("admission_date", "discharge_date"),
];

const INSURANCE_CERTIFICATE: Fields = &[
    ("insurer_name", "保険者の名称 — the insurer's name"),
    ("name", "氏名 — the person's name"),
    ("name_kana", "フリガナ — the name in katakana"),
    ("birth_date", "生年月日 — date of birth"),
    ("sex", "性別 — \"male\" (男) or \"female\" (女)"),
    ("address", "住所 — address"),
    ("issue_date", "交付年月日 — issue date"),
    (
        "care_level",
        "要介護状態区分等 — care level code: 01 非該当, 06 事業対象者, 11 経過的要介護, 12–13 要支援1–2, 21–25 要介護1–5",
    ),
    (
        "certification_date",
        "認定年月日 — certification date (required for care levels 11–25)",
    ),
    (
        "validity_start_date",
        "認定の有効期間（開始） — start of the certification's validity (required for care levels 11–25)",
    ),
    (
        "validity_end_date",
        "認定の有効期間（終了） — end of the certification's validity, not before the start (required for care levels 11–25)",
    ),
    (
        "monthly_benefit_limit_units",
        "区分支給限度基準額 — monthly benefit limit in units, at least the national figure for the level (要支援1 5032, 要支援2 10531, 要介護1 16765, 要介護2 19705, 要介護3 27048, 要介護4 30938, 要介護5 36217; required for care levels 11–25)",
    ),
];
const INSURANCE_CERTIFICATE_OPTIONAL: Fields = &[
    (
        "limit_period_start_date",
        "区分支給限度基準額の適用期間（開始） — start of the limit's period",
    ),
    (
        "limit_period_end_date",
        "区分支給限度基準額の適用期間（終了） — end of the limit's period",
    ),
    (
        "committee_opinion",
        "認定審査会の意見及びサービスの種類の指定 — the certification committee's opinion",
    ),
    (
        "designated_service_types",
        "サービスの種類の指定 — designated service types (strings)",
    ),
    (
        "benefit_restrictions",
        "給付制限 — benefit restrictions: [{content, start_date, end_date}]",
    ),
    (
        "care_manager_office",
        "居宅介護支援事業者又は介護予防支援事業者及びその事業所の名称 — notified care-manager office: {office_number, name, notification_date}",
    ),
    (
        "facility",
        "介護保険施設等 — the facility the person lives in: {type, name, admission_date, discharge_date}",
    ),
];

const BURDEN_RATIO_CERTIFICATE: Fields = &[
    ("name", "氏名 — the person's name"),
    ("issue_date", "交付年月日 — issue date"),
    (
        "burden_ratio",
        "利用者負担の割合 — the person's share in tenths: 1, 2 or 3 (割)",
    ),
    (
        "validity_start_date",
        "適用期間（開始） — start of the applicable period",
    ),
    (
        "validity_end_date",
        "適用期間（終了） — end of the applicable period",
    ),
];

const COST_LIMIT_CERTIFICATE: Fields = &[
    ("name", "氏名 — the person's name"),
    ("issue_date", "交付年月日 — issue date"),
    ("validity_start_date", "適用年月日 — valid from"),
    ("validity_end_date", "有効期限 — valid until"),
    (
        "food_cost_daily_limit_yen",
        "食費の負担限度額 — daily food-cost limit, yen",
    ),
    (
        "housing_cost_daily_limits",
        "居住費又は滞在費の負担限度額 — daily housing-cost limits, yen: {unit_private_room_yen, unit_semi_private_room_yen, conventional_private_room_tokuyo_yen, conventional_private_room_roken_yen, multi_bed_room_tokuyo_yen, multi_bed_room_roken_yen}",
    ),
];

const CERTIFICATION_APPLICATION: Fields = &[
    (
        "application_type",
        "申請区分 — \"new\" 新規, \"renewal\" 更新 or \"change_of_category\" 区分変更",
    ),
    ("application_date", "申請年月日 — application date"),
    ("name", "氏名 — the person's name"),
    ("name_kana", "フリガナ — the name in katakana"),
    ("birth_date", "生年月日 — date of birth"),
    ("sex", "性別 — \"male\" (男) or \"female\" (女)"),
    ("address", "住所 — address"),
    (
        "attending_physician",
        "主治医 — attending physician: {name, institution_name, medical_institution_code?, address?, phone?}",
    ),
    (
        "consent_to_information_sharing",
        "介護情報の共有に係る同意欄 — whether the person ticked the consent box (boolean)",
    ),
    (
        "previous_care_level",
        "前回の要介護状態区分 — previous care level code (required for renewal and change_of_category)",
    ),
];
const CERTIFICATION_APPLICATION_OPTIONAL: Fields = &[
    ("phone", "電話番号 — phone number"),
    (
        "previous_validity_start_date",
        "前回の有効期間（開始） — start of the previous validity",
    ),
    (
        "previous_validity_end_date",
        "前回の有効期間（終了） — end of the previous validity",
    ),
    (
        "hospital_stays",
        "過去6か月間の入院 — hospital stays in the last six months: [{institution_name, start_date, end_date}]",
    ),
    (
        "submitted_by",
        "提出代行者 — who submitted on the person's behalf: {name, relationship?, office_number?}",
    ),
];

const CERTIFICATION_SURVEY: Fields = &[
    ("survey_date", "実施日 — survey date"),
    ("surveyor", "記入者 — surveyor: {name, organization?}"),
    (
        "basic_survey",
        "基本調査 — basic survey: {physical_function, daily_life_function, cognitive_function, mental_behavioral_disorders, social_adaptation, special_medical_care}, each an object of item number → the form's choice number (see BASIC_SURVEY)",
    ),
];
const CERTIFICATION_SURVEY_OPTIONAL: Fields = &[
    ("survey_place", "実施場所 — survey place (e.g. 自宅)"),
    (
        "overview",
        "概況調査 — overview: services in use, family and housing situation",
    ),
    ("special_notes", "特記事項 — remarks per item group"),
];

const PHYSICIAN_OPINION: Fields = &[
    ("opinion_date", "記入日 — date of the opinion"),
    ("physician_name", "医師氏名 — physician's name"),
    (
        "institution",
        "医療機関 — institution: {name, medical_institution_code?, office_number?, address?, phone?}",
    ),
    (
        "consent_to_care_planning",
        "主治医意見書のケアプラン作成への利用 — the physician's consent to use for care planning: true 同意する, false 同意しない (care managers do not see the opinion when false)",
    ),
    (
        "diagnoses",
        "診断名 — 1 to 3 diagnoses: [{name, onset_date?}]",
    ),
];
const PHYSICIAN_OPINION_OPTIONAL: Fields = &[
    (
        "stability",
        "症状としての安定性 — \"stable\", \"unstable\" or \"unknown\"",
    ),
    (
        "bedridden_degree",
        "障害高齢者の日常生活自立度（寝たきり度） — \"independent\" (自立), J1, J2, A1, A2, B1, B2, C1, C2",
    ),
    (
        "dementia_independence",
        "認知症高齢者の日常生活自立度 — \"independent\" (自立), I, IIa, IIb, IIIa, IIIb, IV, M",
    ),
    (
        "course_and_treatment",
        "経過及び治療内容 — course and treatment",
    ),
    (
        "special_medical_care",
        "特別な医療 — special medical care (strings)",
    ),
    ("remarks", "その他特記すべき事項 — remarks"),
    (
        "application_ref",
        "申請 — the certification application this opinion answers",
    ),
];

const LIFE_FEEDBACK: Fields = &[
    (
        "office_number",
        "事業所番号 — the care-service office's number",
    ),
    (
        "service_type_code",
        "サービス種類コード — service type code, 2 digits (e.g. 15 通所介護)",
    ),
    ("assessment_date", "評価日 — assessment date"),
    (
        "adl",
        "ADL（Barthel Index） — {feeding, transfers, grooming, toilet_use, bathing, mobility, stairs, dressing, bowels, bladder}, each a Barthel score, and barthel_total? (the sum)",
    ),
];
const LIFE_FEEDBACK_OPTIONAL: Fields = &[
    (
        "nutrition",
        "栄養 — {height_cm, weight_kg, bmi}, positive numbers",
    ),
    ("oral_health", "口腔 — oral health items"),
    ("cognition", "認知症・行動 — cognition and behaviour items"),
    ("feedback", "フィードバック — the feedback comparisons"),
];

const CARE_PLAN: Fields = &[
    (
        "plan_type",
        "計画の種類 — \"home\" (居宅サービス計画) or \"facility\" (施設サービス計画)",
    ),
    ("created_date", "作成（変更）日 — date created or changed"),
    (
        "plan_category",
        "初回・紹介・継続 — \"first\", \"referred\" or \"continuing\"",
    ),
    (
        "certification_status",
        "認定済・申請中 — \"certified\" or \"pending\"",
    ),
    (
        "table1",
        "第1表 — {user_and_family_wishes (利用者及び家族の生活に対する意向), overall_support_policy (総合的な援助の方針), committee_opinion?, housework_reason?}",
    ),
    (
        "table2",
        "第2表 — needs: [{need (生活全般の解決すべき課題), long_term_goal, short_term_goal, services: [{content, insurance_covered?, service_type?, provider?, frequency?}]}]",
    ),
    (
        "care_level",
        "要介護状態区分 — care level code (required when certification_status is \"certified\")",
    ),
];
const CARE_PLAN_OPTIONAL: Fields = &[
    (
        "validity_start_date",
        "認定の有効期間（開始） — start of the certification's validity",
    ),
    (
        "validity_end_date",
        "認定の有効期間（終了） — end of the certification's validity",
    ),
    (
        "office_number",
        "居宅介護支援事業所番号 — the care-manager office's number",
    ),
    (
        "care_manager_name",
        "居宅サービス計画作成者氏名 — the care manager's name",
    ),
    ("table3", "第3表 — weekly schedule"),
    (
        "table6",
        "第6表 — monthly service use slip (home care only)",
    ),
    (
        "table7",
        "第7表 — limit management: {limit_units, total_units, over_limit_units, person_share_yen} (home care only)",
    ),
];

const HOUSING_RENOVATION: Fields = &[
    ("application_date", "申請日 — application date"),
    (
        "work_types",
        "改修の種類 — kinds of work: handrails 手すりの取付け, step_removal 段差の解消, floor_material 床又は通路面の材料の変更, door_replacement 引き戸等への扉の取替え, toilet_replacement 洋式便器等への便器の取替え, related_work 付帯工事",
    ),
    ("cost_yen", "改修費用 — cost of the work, yen"),
    (
        "paid_yen",
        "支給額 — amount paid, yen (at most the cost, and at most 180,000)",
    ),
    ("start_date", "着工日 — start of work"),
    ("completion_date", "完成日 — completion of work"),
    ("contractor", "施工業者 — contractor"),
];

const WELFARE_EQUIPMENT_PURCHASE: Fields = &[
    ("purchase_date", "購入日 — purchase date"),
    (
        "item_type",
        "種目 — toilet_seat 腰掛便座, automatic_excretion_parts 自動排泄処理装置の交換可能部品, excretion_prediction_device 排泄予測支援機器, bathing_aid 入浴補助用具, simple_bathtub 簡易浴槽, lift_sling 移動用リフトのつり具の部分, fixed_ramp 固定用スロープ, walker 歩行器, walking_stick 歩行補助つえ",
    ),
    ("item_name", "商品名 — product name"),
    ("price_yen", "購入金額 — price, yen"),
    (
        "paid_yen",
        "支給額 — amount paid, yen (at most the price, and at most 90,000)",
    ),
    ("seller", "販売事業者 — seller"),
];

/// The fields a kind requires, as (field, description with the Japanese
/// term). Some are required only in a stated case (e.g. the certification
/// fields of an insurance certificate only for certified care levels); the
/// description says when.
pub fn required_fields(kind: DocumentKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        DocumentKind::InsuranceCertificate => INSURANCE_CERTIFICATE,
        DocumentKind::BurdenRatioCertificate => BURDEN_RATIO_CERTIFICATE,
        DocumentKind::CostLimitCertificate => COST_LIMIT_CERTIFICATE,
        DocumentKind::CertificationApplication => CERTIFICATION_APPLICATION,
        DocumentKind::CertificationSurvey => CERTIFICATION_SURVEY,
        DocumentKind::PhysicianOpinion => PHYSICIAN_OPINION,
        DocumentKind::LifeFeedback => LIFE_FEEDBACK,
        DocumentKind::CarePlan => CARE_PLAN,
        DocumentKind::HousingRenovation => HOUSING_RENOVATION,
        DocumentKind::WelfareEquipmentPurchase => WELFARE_EQUIPMENT_PURCHASE,
    }
}

/// The optional fields the validator checks when present, as (field,
/// description). Other fields are accepted and kept unchecked, apart from
/// the `_date` / `_yen` / `_units` conventions.
pub fn optional_fields(kind: DocumentKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        DocumentKind::InsuranceCertificate => INSURANCE_CERTIFICATE_OPTIONAL,
        DocumentKind::CertificationApplication => CERTIFICATION_APPLICATION_OPTIONAL,
        DocumentKind::CertificationSurvey => CERTIFICATION_SURVEY_OPTIONAL,
        DocumentKind::PhysicianOpinion => PHYSICIAN_OPINION_OPTIONAL,
        DocumentKind::LifeFeedback => LIFE_FEEDBACK_OPTIONAL,
        DocumentKind::CarePlan => CARE_PLAN_OPTIONAL,
        DocumentKind::BurdenRatioCertificate
        | DocumentKind::CostLimitCertificate
        | DocumentKind::HousingRenovation
        | DocumentKind::WelfareEquipmentPurchase => &[],
    }
}

/// How one answer of the basic survey is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyAnswer {
    /// One of the form's choices, by its number 1..=n.
    Choice(u8),
    /// Any of the form's choices 1..=n, as an array; choice 1 (ない, none)
    /// only on its own.
    MultiChoice(u8),
    /// Whether the item applies (special medical care), a boolean.
    Flag,
}

/// One item of the basic survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyItem {
    /// The item number within its group, as the JSON key ("1", "2", …).
    pub key: &'static str,
    /// The item's name on the form.
    pub japanese_name: &'static str,
    /// How it is answered.
    pub answer: SurveyAnswer,
}

/// One group of the basic survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyGroup {
    /// The JSON key under `basic_survey`.
    pub key: &'static str,
    /// The group's name on the form.
    pub japanese_name: &'static str,
    /// Its items, in form order.
    pub items: &'static [SurveyItem],
}

macro_rules! survey_items {
    ($( $key:literal $name:literal $answer:expr ),+ $(,)?) => {
        &[ $( SurveyItem { key: $key, japanese_name: $name, answer: $answer } ),+ ]
    };
}

use SurveyAnswer::{Choice, Flag, MultiChoice};

/// The basic survey of the 認定調査票 (as revised in 2009): five groups and
/// special medical care, 67 keyed items. Paralysis (1-1) and contracture
/// (1-2) are multiple-choice items whose 5 and 4 body-part choices are
/// separate check items on the form, giving its 74 check items.
pub const BASIC_SURVEY: &[SurveyGroup] = &[
    SurveyGroup {
        key: "physical_function",
        japanese_name: "第1群 身体機能・起居動作",
        items: survey_items![
            "1" "麻痺等の有無（1.ない 2.左上肢 3.右上肢 4.左下肢 5.右下肢 6.その他）" MultiChoice(6),
            "2" "拘縮の有無（1.ない 2.肩関節 3.股関節 4.膝関節 5.その他）" MultiChoice(5),
            "3" "寝返り" Choice(3),
            "4" "起き上がり" Choice(3),
            "5" "座位保持" Choice(4),
            "6" "両足での立位保持" Choice(3),
            "7" "歩行" Choice(3),
            "8" "立ち上がり" Choice(3),
            "9" "片足での立位" Choice(3),
            "10" "洗身" Choice(4),
            "11" "つめ切り" Choice(3),
            "12" "視力" Choice(5),
            "13" "聴力" Choice(5),
        ],
    },
    SurveyGroup {
        key: "daily_life_function",
        japanese_name: "第2群 生活機能",
        items: survey_items![
            "1" "移乗" Choice(4),
            "2" "移動" Choice(4),
            "3" "えん下" Choice(3),
            "4" "食事摂取" Choice(4),
            "5" "排尿" Choice(4),
            "6" "排便" Choice(4),
            "7" "口腔清潔" Choice(3),
            "8" "洗顔" Choice(3),
            "9" "整髪" Choice(3),
            "10" "上衣の着脱" Choice(4),
            "11" "ズボン等の着脱" Choice(4),
            "12" "外出頻度" Choice(3),
        ],
    },
    SurveyGroup {
        key: "cognitive_function",
        japanese_name: "第3群 認知機能",
        items: survey_items![
            "1" "意思の伝達" Choice(4),
            "2" "毎日の日課を理解" Choice(2),
            "3" "生年月日や年齢を言う" Choice(2),
            "4" "短期記憶" Choice(2),
            "5" "自分の名前を言う" Choice(2),
            "6" "今の季節を理解する" Choice(2),
            "7" "場所の理解" Choice(2),
            "8" "常時の徘徊" Choice(3),
            "9" "外出すると戻れない" Choice(3),
        ],
    },
    SurveyGroup {
        key: "mental_behavioral_disorders",
        japanese_name: "第4群 精神・行動障害",
        items: survey_items![
            "1" "物を盗られたなどと被害的になる" Choice(3),
            "2" "作話" Choice(3),
            "3" "泣いたり、笑ったりして感情が不安定になる" Choice(3),
            "4" "昼夜の逆転がある" Choice(3),
            "5" "しつこく同じ話をする" Choice(3),
            "6" "大声をだす" Choice(3),
            "7" "介護に抵抗する" Choice(3),
            "8" "「家に帰る」等と言い落ち着きがない" Choice(3),
            "9" "一人で外に出たがり目が離せない" Choice(3),
            "10" "いろいろなものを集めたり、無断でもってくる" Choice(3),
            "11" "物を壊したり、衣類を破いたりする" Choice(3),
            "12" "ひどい物忘れ" Choice(3),
            "13" "意味もなく独り言や独り笑いをする" Choice(3),
            "14" "自分勝手に行動する" Choice(3),
            "15" "話がまとまらず、会話にならない" Choice(3),
        ],
    },
    SurveyGroup {
        key: "social_adaptation",
        japanese_name: "第5群 社会生活への適応",
        items: survey_items![
            "1" "薬の内服" Choice(3),
            "2" "金銭の管理" Choice(3),
            "3" "日常の意思決定" Choice(4),
            "4" "集団への不適応" Choice(3),
            "5" "買い物" Choice(4),
            "6" "簡単な調理" Choice(4),
        ],
    },
    SurveyGroup {
        key: "special_medical_care",
        japanese_name: "その他 過去14日間にうけた特別な医療",
        items: survey_items![
            "1" "点滴の管理" Flag,
            "2" "中心静脈栄養" Flag,
            "3" "透析" Flag,
            "4" "ストーマ（人工肛門）の処置" Flag,
            "5" "酸素療法" Flag,
            "6" "レスピレーター（人工呼吸器）" Flag,
            "7" "気管切開の処置" Flag,
            "8" "疼痛の看護" Flag,
            "9" "経管栄養" Flag,
            "10" "モニター測定（血圧、心拍、酸素飽和度等）" Flag,
            "11" "じょくそうの処置" Flag,
            "12" "カテーテル（コンドームカテーテル、留置カテーテル、ウロストーマ等）" Flag,
        ],
    },
];

/// How a listed top-level field is checked. Field names mean the same thing
/// in every kind, so the check depends on the name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Checked by the `_date` / `_yen` / `_units` naming convention.
    Convention,
    Text,
    Bool,
    Object,
    Array {
        min: usize,
        max: usize,
    },
    OneOf(&'static [&'static str]),
    CareLevel,
    BurdenRatio,
    OfficeNumber,
    TwoDigitCode,
}

fn field_check(name: &str) -> Option<Check> {
    if is_date_key(name) || is_amount_key(name) {
        return Some(Check::Convention);
    }
    Some(match name {
        "name"
        | "name_kana"
        | "address"
        | "phone"
        | "insurer_name"
        | "committee_opinion"
        | "survey_place"
        | "physician_name"
        | "course_and_treatment"
        | "remarks"
        | "application_ref"
        | "care_manager_name"
        | "contractor"
        | "item_name"
        | "seller" => Check::Text,
        "consent_to_information_sharing" | "consent_to_care_planning" => Check::Bool,
        "care_manager_office"
        | "facility"
        | "housing_cost_daily_limits"
        | "attending_physician"
        | "submitted_by"
        | "surveyor"
        | "basic_survey"
        | "overview"
        | "special_notes"
        | "institution"
        | "adl"
        | "nutrition"
        | "oral_health"
        | "cognition"
        | "feedback"
        | "table1"
        | "table3"
        | "table7" => Check::Object,
        "designated_service_types"
        | "benefit_restrictions"
        | "hospital_stays"
        | "special_medical_care"
        | "table6" => Check::Array {
            min: 0,
            max: usize::MAX,
        },
        "diagnoses" => Check::Array { min: 1, max: 3 },
        "table2" | "work_types" => Check::Array {
            min: 1,
            max: usize::MAX,
        },
        "sex" => Check::OneOf(SEX),
        "application_type" => Check::OneOf(&ApplicationType::NAMES),
        "stability" => Check::OneOf(STABILITY),
        "bedridden_degree" => Check::OneOf(BEDRIDDEN_DEGREE),
        "dementia_independence" => Check::OneOf(DEMENTIA_INDEPENDENCE),
        "plan_type" => Check::OneOf(PLAN_TYPE),
        "plan_category" => Check::OneOf(PLAN_CATEGORY),
        "certification_status" => Check::OneOf(CERTIFICATION_STATUS),
        "item_type" => Check::OneOf(ITEM_TYPES),
        "care_level" | "previous_care_level" => Check::CareLevel,
        "burden_ratio" => Check::BurdenRatio,
        "office_number" => Check::OfficeNumber,
        "service_type_code" => Check::TwoDigitCode,
        _ => return None,
    })
}

fn is_date_key(key: &str) -> bool {
    key.ends_with("_date")
}

fn is_amount_key(key: &str) -> bool {
    key.ends_with("_yen") || key.ends_with("_units")
}

/// Whether a required field is required for this particular document.
fn required_here(kind: DocumentKind, field: &str, doc: &Map<String, Value>) -> bool {
    let text = |k: &str| doc.get(k).and_then(Value::as_str);
    match (kind, field) {
        (
            DocumentKind::InsuranceCertificate,
            "certification_date"
            | "validity_start_date"
            | "validity_end_date"
            | "monthly_benefit_limit_units",
        ) => {
            // Only a certified level has a certification; an unreadable
            // level is reported on its own and does not excuse these.
            text("care_level")
                .and_then(|c| c.parse::<CareLevel>().ok())
                .is_none_or(CareLevel::is_certified)
        }
        (DocumentKind::CertificationApplication, "previous_care_level") => matches!(
            text("application_type").and_then(|t| t.parse::<ApplicationType>().ok()),
            Some(ApplicationType::Renewal | ApplicationType::ChangeOfCategory)
        ),
        (DocumentKind::CarePlan, "care_level") => text("certification_status") == Some("certified"),
        _ => true,
    }
}

/// Collects violations; every check appends and carries on, so a client
/// sees all problems of a document at once.
#[derive(Default)]
struct Report(Vec<Violation>);

impl Report {
    fn push(&mut self, pointer: &str, message: impl Into<String>) {
        self.0.push(Violation::new(pointer, message));
    }
}

/// `base` + "/" + `key`, escaped per RFC 6901.
fn child(base: &str, key: &str) -> String {
    let mut pointer = String::with_capacity(base.len() + key.len() + 1);
    pointer.push_str(base);
    push_segment(&mut pointer, key);
    pointer
}

/// Appends "/" + `key`, escaped per RFC 6901, to `pointer`.
fn push_segment(pointer: &mut String, key: &str) {
    pointer.push('/');
    if key.contains(['~', '/']) {
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
    } else {
        pointer.push_str(key);
    }
}

/// A calendar date `YYYY-MM-DD` that exists.
pub(crate) fn parse_date(s: &str) -> Option<time::Date> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !shaped {
        return None;
    }
    let year: i32 = s[..4].parse().ok()?;
    let month: u8 = s[5..7].parse().ok()?;
    let day: u8 = s[8..].parse().ok()?;
    let month = time::Month::try_from(month).ok()?;
    time::Date::from_calendar_date(year, month, day).ok()
}

/// Validates a document's content for its kind; all violations at once.
pub fn validate_content(
    kind: DocumentKind,
    person: &PersonRef,
    content: &Value,
) -> Result<(), Vec<Violation>> {
    let Some(doc) = content.as_object() else {
        return Err(vec![Violation::new("", "content must be a JSON object")]);
    };
    let mut r = Report::default();

    for (field, expected) in [
        ("insured_number", person.insured_number.as_str()),
        ("insurer_number", person.insurer_number.as_str()),
    ] {
        match doc.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == expected => {}
            Some(Value::String(_)) => r.push(
                &child("", field),
                format!("does not match the person's {field}"),
            ),
            Some(_) => r.push(&child("", field), "must be a string"),
        }
    }

    for (field, _) in required_fields(kind) {
        if required_here(kind, field, doc) && doc.get(*field).is_none_or(Value::is_null) {
            r.push(&child("", field), "is required");
        }
    }

    for (field, _) in required_fields(kind).iter().chain(optional_fields(kind)) {
        if let Some(value) = doc.get(*field).filter(|v| !v.is_null()) {
            let check = field_check(field).expect("every listed field has a check (tested)");
            check_value(check, value, &child("", field), &mut r);
        }
    }

    conventions(content, &mut String::new(), &mut r);

    match kind {
        DocumentKind::InsuranceCertificate => insurance_certificate(doc, &mut r),
        DocumentKind::BurdenRatioCertificate => {}
        DocumentKind::CostLimitCertificate => cost_limit_certificate(doc, &mut r),
        DocumentKind::CertificationApplication => certification_application(doc, &mut r),
        DocumentKind::CertificationSurvey => certification_survey(doc, &mut r),
        DocumentKind::PhysicianOpinion => physician_opinion(doc, &mut r),
        DocumentKind::LifeFeedback => life_feedback(doc, &mut r),
        DocumentKind::CarePlan => care_plan(doc, &mut r),
        DocumentKind::HousingRenovation => {
            work_types(doc, &mut r);
            paid_within(doc, "paid_yen", "cost_yen", HOUSING_MAX_PAID_YEN, &mut r);
        }
        DocumentKind::WelfareEquipmentPurchase => {
            paid_within(doc, "paid_yen", "price_yen", EQUIPMENT_MAX_PAID_YEN, &mut r);
        }
    }

    if r.0.is_empty() { Ok(()) } else { Err(r.0) }
}

fn check_value(check: Check, value: &Value, pointer: &str, r: &mut Report) {
    match check {
        Check::Convention => {}
        Check::Text => text_value(value, pointer, r),
        Check::Bool => {
            if !value.is_boolean() {
                r.push(pointer, "must be a boolean");
            }
        }
        Check::Object => {
            if !value.is_object() {
                r.push(pointer, "must be an object");
            }
        }
        Check::Array { min, max } => match value.as_array() {
            None => r.push(pointer, "must be an array"),
            Some(a) if a.len() < min => {
                r.push(pointer, format!("must have at least {min} entries"))
            }
            Some(a) if a.len() > max => r.push(pointer, format!("must have at most {max} entries")),
            Some(_) => {}
        },
        Check::OneOf(allowed) => {
            if !value.as_str().is_some_and(|s| allowed.contains(&s)) {
                r.push(pointer, format!("must be one of: {}", allowed.join(", ")));
            }
        }
        Check::CareLevel => {
            if value
                .as_str()
                .and_then(|s| s.parse::<CareLevel>().ok())
                .is_none()
            {
                r.push(
                    pointer,
                    format!(
                        "must be a care level code, one of: {}",
                        CareLevel::NAMES.join(", ")
                    ),
                );
            }
        }
        Check::BurdenRatio => {
            if !value.as_u64().is_some_and(|n| (1..=3).contains(&n)) {
                r.push(pointer, "must be the integer 1, 2 or 3");
            }
        }
        Check::OfficeNumber => match value.as_str() {
            None => r.push(pointer, "must be a string"),
            Some(s) => {
                if let Err(e) = OfficeNumber::parse(s) {
                    r.push(pointer, e.reason);
                }
            }
        },
        Check::TwoDigitCode => {
            if !value
                .as_str()
                .is_some_and(|s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            {
                r.push(pointer, "must be a 2-digit code");
            }
        }
    }
}

fn text_value(value: &Value, pointer: &str, r: &mut Report) {
    if value.as_str().is_none_or(|s| s.trim().is_empty()) {
        r.push(pointer, "must be a non-blank string");
    }
}

/// The naming conventions and period order, applied at every depth.
/// `pointer` is the value's JSON pointer: one buffer for the whole walk,
/// extended and cut back per level rather than a string per node.
fn conventions(value: &Value, pointer: &mut String, r: &mut Report) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let len = pointer.len();
                push_segment(pointer, key);
                if !v.is_null() {
                    if is_date_key(key) && v.as_str().and_then(parse_date).is_none() {
                        r.push(pointer, "must be a calendar date YYYY-MM-DD");
                    } else if is_amount_key(key) && v.as_u64().is_none() {
                        r.push(pointer, "must be a non-negative integer");
                    }
                }
                conventions(v, pointer, r);
                pointer.truncate(len);
            }
            for (start, end) in PERIODS {
                let date = |k: &str| map.get(k).and_then(Value::as_str).and_then(parse_date);
                if let (Some(s), Some(e)) = (date(start), date(end))
                    && e < s
                {
                    r.push(&child(pointer, end), format!("must not be before {start}"));
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = pointer.len();
                let _ = std::fmt::Write::write_fmt(pointer, format_args!("/{i}"));
                conventions(v, pointer, r);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Checks the fields of a nested object: `required` must be non-blank text,
/// `optional_text` non-blank when present.
fn nested_text(
    obj: &Map<String, Value>,
    pointer: &str,
    required: &[&str],
    optional_text: &[&str],
    r: &mut Report,
) {
    for key in required {
        match obj.get(*key).filter(|v| !v.is_null()) {
            None => r.push(&child(pointer, key), "is required"),
            Some(v) => text_value(v, &child(pointer, key), r),
        }
    }
    for key in optional_text {
        if let Some(v) = obj.get(*key).filter(|v| !v.is_null()) {
            text_value(v, &child(pointer, key), r);
        }
    }
}

/// Runs `f` on the object at `doc[field]`, if it is one (its type was
/// reported already otherwise).
fn with_object(
    doc: &Map<String, Value>,
    field: &str,
    r: &mut Report,
    f: impl FnOnce(&Map<String, Value>, &str, &mut Report),
) {
    if let Some(obj) = doc.get(field).and_then(Value::as_object) {
        f(obj, &child("", field), r);
    }
}

/// Runs `f` on every element of the array at `doc[field]`; non-object
/// elements are reported.
fn each_object(
    doc: &Map<String, Value>,
    field: &str,
    r: &mut Report,
    mut f: impl FnMut(&Map<String, Value>, &str, &mut Report),
) {
    if let Some(items) = doc.get(field).and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            let p = child(&child("", field), &i.to_string());
            match item.as_object() {
                Some(obj) => f(obj, &p, r),
                None => r.push(&p, "must be an object"),
            }
        }
    }
}

fn each_text(doc: &Map<String, Value>, field: &str, r: &mut Report) {
    if let Some(items) = doc.get(field).and_then(Value::as_array) {
        for (i, item) in items.iter().enumerate() {
            text_value(item, &child(&child("", field), &i.to_string()), r);
        }
    }
}

/// Checks an optional identifier inside a nested object with its parser.
fn optional_code<T>(
    obj: &Map<String, Value>,
    pointer: &str,
    key: &str,
    parse: fn(&str) -> Result<T, crate::ids::IdError>,
    r: &mut Report,
) {
    if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
        let p = child(pointer, key);
        match v.as_str() {
            None => r.push(&p, "must be a string"),
            Some(s) => {
                if let Err(e) = parse(s) {
                    r.push(&p, e.reason);
                }
            }
        }
    }
}

fn insurance_certificate(doc: &Map<String, Value>, r: &mut Report) {
    let level = doc
        .get("care_level")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<CareLevel>().ok());
    let limit = doc
        .get("monthly_benefit_limit_units")
        .and_then(Value::as_u64);
    if let (Some(level), Some(limit)) = (level, limit)
        && let Some(national) = level.national_monthly_limit_units()
        && limit < u64::from(national)
    {
        r.push(
            "/monthly_benefit_limit_units",
            format!(
                "must be at least the national limit of {national} units for {} ({}); a municipality may raise the limit, never lower it",
                level.japanese_name(),
                level.code()
            ),
        );
    }
    each_text(doc, "designated_service_types", r);
    each_object(doc, "benefit_restrictions", r, |o, p, r| {
        nested_text(o, p, &["content"], &[], r);
    });
    with_object(doc, "care_manager_office", r, |o, p, r| {
        nested_text(o, p, &["name"], &[], r);
        if o.get("office_number").is_none_or(Value::is_null) {
            r.push(&child(p, "office_number"), "is required");
        }
        optional_code(o, p, "office_number", OfficeNumber::parse, r);
    });
    with_object(doc, "facility", r, |o, p, r| {
        nested_text(o, p, &["name"], &["type"], r);
    });
}

fn cost_limit_certificate(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "housing_cost_daily_limits", r, |o, p, r| {
        for (room, _) in HOUSING_COST_ROOMS {
            // The type is checked by the `_yen` convention.
            if o.get(*room).is_none_or(Value::is_null) {
                r.push(&child(p, room), "is required");
            }
        }
    });
}

fn certification_application(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "attending_physician", r, |o, p, r| {
        nested_text(
            o,
            p,
            &["name", "institution_name"],
            &["address", "phone"],
            r,
        );
        optional_code(
            o,
            p,
            "medical_institution_code",
            MedicalInstitutionCode::parse,
            r,
        );
    });
    each_object(doc, "hospital_stays", r, |o, p, r| {
        nested_text(o, p, &["institution_name"], &[], r);
    });
    with_object(doc, "submitted_by", r, |o, p, r| {
        nested_text(o, p, &["name"], &["relationship"], r);
        optional_code(o, p, "office_number", OfficeNumber::parse, r);
    });
}

fn certification_survey(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "surveyor", r, |o, p, r| {
        nested_text(o, p, &["name"], &["organization"], r);
    });
    with_object(doc, "basic_survey", r, |survey, p, r| {
        for group in BASIC_SURVEY {
            let gp = child(p, group.key);
            let Some(answers) = survey.get(group.key).filter(|v| !v.is_null()) else {
                r.push(&gp, "is required");
                continue;
            };
            let Some(answers) = answers.as_object() else {
                r.push(&gp, "must be an object of item number to answer");
                continue;
            };
            for item in group.items {
                let ip = child(&gp, item.key);
                match answers.get(item.key) {
                    None | Some(Value::Null) => {
                        r.push(&ip, format!("is required ({})", item.japanese_name))
                    }
                    Some(v) => survey_answer(item.answer, v, &ip, r),
                }
            }
            for key in answers.keys() {
                if !group.items.iter().any(|i| i.key == key) {
                    r.push(&child(&gp, key), "is not an item of this group");
                }
            }
        }
        for key in survey.keys() {
            if !BASIC_SURVEY.iter().any(|g| g.key == key) {
                r.push(&child(p, key), "is not a group of the basic survey");
            }
        }
    });
}

fn survey_answer(answer: SurveyAnswer, v: &Value, pointer: &str, r: &mut Report) {
    let in_range = |v: &Value, n: u8| v.as_u64().is_some_and(|c| (1..=u64::from(n)).contains(&c));
    match answer {
        SurveyAnswer::Choice(n) => {
            if !in_range(v, n) {
                r.push(pointer, format!("must be a choice number 1–{n}"));
            }
        }
        SurveyAnswer::MultiChoice(n) => {
            let Some(choices) = v.as_array().filter(|a| !a.is_empty()) else {
                r.push(
                    pointer,
                    format!("must be a non-empty array of choice numbers 1–{n}"),
                );
                return;
            };
            if !choices.iter().all(|c| in_range(c, n)) {
                r.push(
                    pointer,
                    format!("must be a non-empty array of choice numbers 1–{n}"),
                );
            } else if choices.len() > 1 && choices.iter().any(|c| c.as_u64() == Some(1)) {
                r.push(
                    pointer,
                    "choice 1 (ない, none) cannot be combined with others",
                );
            } else if (1..choices.len()).any(|i| choices[..i].contains(&choices[i])) {
                r.push(pointer, "must not repeat a choice");
            }
        }
        SurveyAnswer::Flag => {
            if !v.is_boolean() {
                r.push(pointer, "must be a boolean");
            }
        }
    }
}

fn physician_opinion(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "institution", r, |o, p, r| {
        nested_text(o, p, &["name"], &["address", "phone"], r);
        optional_code(
            o,
            p,
            "medical_institution_code",
            MedicalInstitutionCode::parse,
            r,
        );
        optional_code(o, p, "office_number", OfficeNumber::parse, r);
    });
    each_object(doc, "diagnoses", r, |o, p, r| {
        nested_text(o, p, &["name"], &[], r);
    });
    each_text(doc, "special_medical_care", r);
}

fn life_feedback(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "adl", r, |adl, p, r| {
        let mut sum = Some(0u64);
        for (item, scores) in BARTHEL {
            let ip = child(p, item);
            match adl.get(*item).filter(|v| !v.is_null()) {
                None => {
                    r.push(&ip, "is required");
                    sum = None;
                }
                Some(v) => match v.as_u64().filter(|score| scores.contains(score)) {
                    Some(score) => sum = sum.map(|s| s + score),
                    None => {
                        let allowed: Vec<String> = scores.iter().map(u64::to_string).collect();
                        r.push(
                            &ip,
                            format!("must be a Barthel score, one of: {}", allowed.join(", ")),
                        );
                        sum = None;
                    }
                },
            }
        }
        if let Some(total) = adl.get("barthel_total").filter(|v| !v.is_null()) {
            match (total.as_u64(), sum) {
                (None, _) => r.push(&child(p, "barthel_total"), "must be a non-negative integer"),
                (Some(t), Some(s)) if t != s => r.push(
                    &child(p, "barthel_total"),
                    format!("must equal the sum of the items, {s}"),
                ),
                _ => {}
            }
        }
    });
    with_object(doc, "nutrition", r, |o, p, r| {
        for key in ["height_cm", "weight_kg", "bmi"] {
            if let Some(v) = o.get(key).filter(|v| !v.is_null())
                && !v.as_f64().is_some_and(|x| x > 0.0)
            {
                r.push(&child(p, key), "must be a positive number");
            }
        }
    });
}

fn care_plan(doc: &Map<String, Value>, r: &mut Report) {
    with_object(doc, "table1", r, |o, p, r| {
        nested_text(
            o,
            p,
            &["user_and_family_wishes", "overall_support_policy"],
            &["committee_opinion", "housework_reason"],
            r,
        );
    });
    each_object(doc, "table2", r, |need, p, r| {
        nested_text(
            need,
            p,
            &["need", "long_term_goal", "short_term_goal"],
            &[],
            r,
        );
        let sp = child(p, "services");
        match need.get("services").and_then(Value::as_array) {
            Some(services) if !services.is_empty() => {
                for (i, s) in services.iter().enumerate() {
                    let ip = child(&sp, &i.to_string());
                    let Some(s) = s.as_object() else {
                        r.push(&ip, "must be an object");
                        continue;
                    };
                    nested_text(
                        s,
                        &ip,
                        &["content"],
                        &["service_type", "provider", "frequency"],
                        r,
                    );
                    if s.get("insurance_covered")
                        .is_some_and(|v| !v.is_null() && !v.is_boolean())
                    {
                        r.push(&child(&ip, "insurance_covered"), "must be a boolean");
                    }
                }
            }
            _ => r.push(&sp, "must be a non-empty array of services"),
        }
    });
    if doc.get("plan_type").and_then(Value::as_str) == Some("facility") {
        for table in ["table6", "table7"] {
            if doc.get(table).is_some_and(|v| !v.is_null()) {
                r.push(&child("", table), "belongs to home care plans only");
            }
        }
    }
}

fn work_types(doc: &Map<String, Value>, r: &mut Report) {
    if let Some(types) = doc.get("work_types").and_then(Value::as_array) {
        for (i, t) in types.iter().enumerate() {
            let p = child("/work_types", &i.to_string());
            if !t.as_str().is_some_and(|s| WORK_TYPES.contains(&s)) {
                r.push(&p, format!("must be one of: {}", WORK_TYPES.join(", ")));
            } else if types[..i].contains(t) {
                r.push(&p, "must not repeat a kind of work");
            }
        }
    }
}

/// `paid` is at most `base` and at most `cap` (what the benefit can pay at
/// its highest rate, 90%, of its statutory limit).
fn paid_within(doc: &Map<String, Value>, paid: &str, base: &str, cap: u64, r: &mut Report) {
    let amount = |k: &str| doc.get(k).and_then(Value::as_u64);
    if let Some(p) = amount(paid) {
        if amount(base).is_some_and(|b| p > b) {
            r.push(&child("", paid), format!("must not exceed {base}"));
        }
        if p > cap {
            r.push(
                &child("", paid),
                format!("must not exceed {cap}, 90% of the statutory limit"),
            );
        }
    }
}

/// The physician's answer to "may this opinion be used for care planning"
/// (`consent_to_care_planning`), when the content carries it as a boolean.
pub fn physician_consent(content: &Value) -> Option<bool> {
    content.get("consent_to_care_planning")?.as_bool()
}

/// A valid, realistic example of each kind about `person` (fictitious names
/// and places). Used by tests, the API documentation and the data generator.
pub fn example_content(kind: DocumentKind, person: &PersonRef) -> Value {
    let mut doc = match kind {
        DocumentKind::InsuranceCertificate => json!({
            "insurer_name": "千代田区",
            "name": "介護 太郎",
            "name_kana": "カイゴ タロウ",
            "birth_date": "1943-05-12",
            "sex": "male",
            "address": "東京都千代田区霞が関一丁目2番2号",
            "issue_date": "2025-04-01",
            "care_level": "22",
            "certification_date": "2025-03-25",
            "validity_start_date": "2025-04-01",
            "validity_end_date": "2026-03-31",
            "monthly_benefit_limit_units": 19705,
            "limit_period_start_date": "2025-04-01",
            "limit_period_end_date": "2026-03-31",
            "committee_opinion": "なし",
            "designated_service_types": [],
            "benefit_restrictions": [],
            "care_manager_office": {
                "office_number": "1371234567",
                "name": "霞が関居宅介護支援事業所",
                "notification_date": "2025-04-03"
            }
        }),
        DocumentKind::BurdenRatioCertificate => json!({
            "name": "介護 太郎",
            "issue_date": "2025-07-15",
            "burden_ratio": 1,
            "validity_start_date": "2025-08-01",
            "validity_end_date": "2026-07-31"
        }),
        DocumentKind::CostLimitCertificate => json!({
            "name": "介護 太郎",
            "issue_date": "2025-07-20",
            "validity_start_date": "2025-08-01",
            "validity_end_date": "2026-07-31",
            "food_cost_daily_limit_yen": 390,
            "housing_cost_daily_limits": {
                "unit_private_room_yen": 880,
                "unit_semi_private_room_yen": 550,
                "conventional_private_room_tokuyo_yen": 480,
                "conventional_private_room_roken_yen": 550,
                "multi_bed_room_tokuyo_yen": 430,
                "multi_bed_room_roken_yen": 430
            }
        }),
        DocumentKind::CertificationApplication => json!({
            "application_type": "renewal",
            "application_date": "2025-01-20",
            "name": "介護 太郎",
            "name_kana": "カイゴ タロウ",
            "birth_date": "1943-05-12",
            "sex": "male",
            "address": "東京都千代田区霞が関一丁目2番2号",
            "phone": "03-0000-0000",
            "previous_care_level": "21",
            "previous_validity_start_date": "2024-04-01",
            "previous_validity_end_date": "2025-03-31",
            "attending_physician": {
                "name": "医師 一郎",
                "institution_name": "霞が関クリニック",
                "medical_institution_code": "1312345678",
                "phone": "03-0000-0001"
            },
            "hospital_stays": [],
            "consent_to_information_sharing": true
        }),
        DocumentKind::CertificationSurvey => json!({
            "survey_date": "2025-02-10",
            "survey_place": "自宅",
            "surveyor": {"name": "調査 花子", "organization": "千代田区高齢介護課"},
            "basic_survey": example_basic_survey(),
            "special_notes": {
                "physical_function": "1-7 歩行: 屋内は伝い歩き、屋外は杖を使用。"
            }
        }),
        DocumentKind::PhysicianOpinion => json!({
            "opinion_date": "2025-02-14",
            "physician_name": "医師 一郎",
            "institution": {
                "name": "霞が関クリニック",
                "medical_institution_code": "1312345678",
                "address": "東京都千代田区霞が関一丁目1番1号",
                "phone": "03-0000-0001"
            },
            "consent_to_care_planning": true,
            "diagnoses": [
                {"name": "脳梗塞後遺症", "onset_date": "2023-11-02"},
                {"name": "高血圧症", "onset_date": "2015-06-01"}
            ],
            "stability": "stable",
            "bedridden_degree": "A2",
            "dementia_independence": "IIa",
            "course_and_treatment": "左片麻痺が残存。降圧薬内服にて血圧は安定している。",
            "special_medical_care": [],
            "remarks": "転倒に注意。"
        }),
        DocumentKind::LifeFeedback => json!({
            "office_number": "1372345678",
            "service_type_code": "15",
            "assessment_date": "2025-03-31",
            "adl": {
                "feeding": 10, "transfers": 10, "grooming": 5, "toilet_use": 5, "bathing": 0,
                "mobility": 10, "stairs": 5, "dressing": 5, "bowels": 10, "bladder": 5,
                "barthel_total": 65
            },
            "nutrition": {"height_cm": 158.0, "weight_kg": 52.3, "bmi": 20.9},
            "feedback": {"barthel_change_from_previous": 5}
        }),
        DocumentKind::CarePlan => json!({
            "plan_type": "home",
            "created_date": "2025-04-05",
            "plan_category": "continuing",
            "certification_status": "certified",
            "care_level": "22",
            "validity_start_date": "2025-04-01",
            "validity_end_date": "2026-03-31",
            "office_number": "1371234567",
            "care_manager_name": "支援 次郎",
            "table1": {
                "user_and_family_wishes": "本人: 自宅で妻と暮らし続けたい。妻: 入浴の介助が負担なので手伝ってほしい。",
                "committee_opinion": "なし",
                "overall_support_policy": "転倒を防ぎ、入浴と外出の機会を確保して在宅生活を継続できるよう支援する。"
            },
            "table2": [{
                "need": "一人で安全に入浴できない",
                "long_term_goal": "週2回、安全に入浴できる",
                "long_term_goal_start_date": "2025-04-01",
                "long_term_goal_end_date": "2026-03-31",
                "short_term_goal": "介助を受けて浴槽をまたげる",
                "short_term_goal_start_date": "2025-04-01",
                "short_term_goal_end_date": "2025-09-30",
                "services": [{
                    "content": "入浴介助、機能訓練",
                    "insurance_covered": true,
                    "service_type": "通所介護",
                    "provider": "霞が関デイサービスセンター",
                    "frequency": "週2回",
                    "start_date": "2025-04-01",
                    "end_date": "2025-09-30"
                }]
            }],
            "table7": {
                "limit_units": 19705,
                "total_units": 12450,
                "over_limit_units": 0,
                "person_share_yen": 13500
            }
        }),
        DocumentKind::HousingRenovation => json!({
            "application_date": "2025-05-10",
            "work_types": ["handrails", "step_removal"],
            "cost_yen": 180000,
            "paid_yen": 162000,
            "start_date": "2025-05-20",
            "completion_date": "2025-05-25",
            "contractor": "株式会社霞が関リフォーム"
        }),
        DocumentKind::WelfareEquipmentPurchase => json!({
            "purchase_date": "2025-06-01",
            "item_type": "bathing_aid",
            "item_name": "シャワーチェア",
            "price_yen": 35000,
            "paid_yen": 31500,
            "seller": "霞が関福祉用具店"
        }),
    };
    let map = doc.as_object_mut().expect("examples are objects");
    map.insert(
        "insurer_number".into(),
        person.insurer_number.as_str().into(),
    );
    map.insert(
        "insured_number".into(),
        person.insured_number.as_str().into(),
    );
    doc
}

/// A complete basic survey with plausible answers for a person needing
/// moderate care.
fn example_basic_survey() -> Value {
    let mut survey = Map::new();
    for group in BASIC_SURVEY {
        let mut answers = Map::new();
        for (i, item) in group.items.iter().enumerate() {
            let answer = match item.answer {
                SurveyAnswer::Choice(n) => json!(1 + (i as u8 % 2).min(n - 1)),
                SurveyAnswer::MultiChoice(_) if i == 0 => json!([2]),
                SurveyAnswer::MultiChoice(_) => json!([1]),
                SurveyAnswer::Flag => json!(false),
            };
            answers.insert(item.key.into(), answer);
        }
        survey.insert(group.key.into(), Value::Object(answers));
    }
    Value::Object(survey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{InsuredNumber, InsurerNumber};
    use proptest::prelude::*;

    fn person() -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000123456").unwrap(),
        )
    }

    fn example(kind: DocumentKind) -> Value {
        example_content(kind, &person())
    }

    /// The violations of `kind`'s example after `edit`, as (pointer, message).
    fn refusals(kind: DocumentKind, edit: impl FnOnce(&mut Value)) -> Vec<(String, String)> {
        let mut doc = example(kind);
        edit(&mut doc);
        validate_content(kind, &person(), &doc)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.pointer, v.message))
            .collect()
    }

    fn pointers(kind: DocumentKind, edit: impl FnOnce(&mut Value)) -> Vec<String> {
        refusals(kind, edit).into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn every_example_validates() {
        for kind in DocumentKind::ALL {
            assert_eq!(
                validate_content(kind, &person(), &example(kind)),
                Ok(()),
                "{kind}"
            );
        }
    }

    #[test]
    fn examples_carry_all_required_fields() {
        for kind in DocumentKind::ALL {
            let doc = example(kind);
            for (field, _) in required_fields(kind) {
                assert!(doc.get(*field).is_some(), "{kind} example lacks {field}");
            }
        }
    }

    #[test]
    fn every_listed_field_has_a_check_and_a_description() {
        for kind in DocumentKind::ALL {
            let mut seen = std::collections::HashSet::new();
            for (field, description) in required_fields(kind).iter().chain(optional_fields(kind)) {
                assert!(field_check(field).is_some(), "{kind}.{field} has no check");
                assert!(seen.insert(*field), "{kind}.{field} listed twice");
                assert!(
                    description.contains(" — "),
                    "{kind}.{field}: Japanese term — meaning"
                );
                assert!(
                    !description.is_ascii(),
                    "{kind}.{field}: description lacks the Japanese term"
                );
            }
        }
    }

    #[test]
    fn module_docs_list_every_field() {
        let source = include_str!("content.rs");
        let docs: String = source
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .collect::<Vec<_>>()
            .join(" ");
        for kind in DocumentKind::ALL {
            assert!(docs.contains(&format!("**{}**", kind.as_str())), "{kind}");
            for (field, _) in required_fields(kind).iter().chain(optional_fields(kind)) {
                assert!(
                    docs.contains(&format!("`{field}`")),
                    "module docs lack {kind}.{field}"
                );
            }
        }
    }

    #[test]
    fn basic_survey_has_74_check_items() {
        let keyed: usize = BASIC_SURVEY.iter().map(|g| g.items.len()).sum();
        assert_eq!(keyed, 67);
        // 1-1 paralysis: 5 body parts; 1-2 contracture: 4 — each a check item.
        assert_eq!(keyed - 2 + 5 + 4, 74);
        let sizes: Vec<_> = BASIC_SURVEY.iter().map(|g| g.items.len()).collect();
        assert_eq!(sizes, [13, 12, 9, 15, 6, 12]);
    }

    #[test]
    fn not_an_object() {
        for v in [json!(null), json!([]), json!("x"), json!(1)] {
            assert_eq!(
                validate_content(DocumentKind::CarePlan, &person(), &v),
                Err(vec![Violation::new("", "content must be a JSON object")])
            );
        }
    }

    #[test]
    fn identity_must_match_the_person() {
        let got = refusals(DocumentKind::BurdenRatioCertificate, |d| {
            d["insured_number"] = json!("0000999999");
            d["insurer_number"] = json!(131016);
        });
        assert_eq!(
            got,
            [
                (
                    "/insured_number".into(),
                    "does not match the person's insured_number".into()
                ),
                ("/insurer_number".into(), "must be a string".into()),
            ]
        );
        // Absent is fine: the person is named outside the content.
        assert!(
            pointers(DocumentKind::BurdenRatioCertificate, |d| {
                d.as_object_mut().unwrap().remove("insured_number");
            })
            .is_empty()
        );
    }

    #[test]
    fn insurance_certificate_refusals() {
        use DocumentKind::InsuranceCertificate as K;
        assert_eq!(
            pointers(K, |d| d["care_level"] = json!("26")),
            ["/care_level"]
        );
        assert_eq!(
            pointers(K, |d| d["care_level"] = json!(22)),
            ["/care_level"]
        );
        let got = refusals(K, |d| d["monthly_benefit_limit_units"] = json!(19704));
        assert_eq!(got.len(), 1);
        assert!(
            got[0]
                .1
                .contains("national limit of 19705 units for 要介護2"),
            "{got:?}"
        );
        // Higher than the national figure (上乗せ) is allowed.
        assert!(pointers(K, |d| d["monthly_benefit_limit_units"] = json!(21000)).is_empty());
        assert_eq!(
            pointers(K, |d| d["monthly_benefit_limit_units"] = json!(-1)),
            ["/monthly_benefit_limit_units"]
        );
        assert_eq!(
            pointers(K, |d| d["monthly_benefit_limit_units"] = json!(19705.5)),
            ["/monthly_benefit_limit_units"]
        );
        assert_eq!(
            pointers(K, |d| d["validity_end_date"] = json!("2025-03-31")),
            ["/validity_end_date"]
        );
        assert_eq!(
            pointers(K, |d| d["issue_date"] = json!("2025-02-29")),
            ["/issue_date"]
        );
        assert_eq!(
            pointers(K, |d| d["issue_date"] = json!("2025/04/01")),
            ["/issue_date"]
        );
        assert_eq!(pointers(K, |d| d["sex"] = json!("男")), ["/sex"]);
        assert_eq!(pointers(K, |d| d["name"] = json!("  ")), ["/name"]);
        assert_eq!(
            pointers(K, |d| d["care_manager_office"]["office_number"] =
                json!("13712345")),
            ["/care_manager_office/office_number"]
        );
        // 非該当: no certification, so no certification fields are required.
        assert!(
            pointers(K, |d| {
                let m = d.as_object_mut().unwrap();
                m.insert("care_level".into(), json!("01"));
                for f in [
                    "certification_date",
                    "validity_start_date",
                    "validity_end_date",
                    "monthly_benefit_limit_units",
                ] {
                    m.remove(f);
                }
            })
            .is_empty()
        );
        // But a certified level needs them.
        assert_eq!(
            pointers(K, |d| {
                d.as_object_mut().unwrap().remove("certification_date");
            }),
            ["/certification_date"]
        );
        // 11 経過的要介護 has no national figure to compare with.
        assert!(
            pointers(K, |d| {
                d["care_level"] = json!("11");
                d["monthly_benefit_limit_units"] = json!(6150);
            })
            .is_empty()
        );
    }

    #[test]
    fn every_national_limit_is_enforced() {
        for level in CareLevel::ALL {
            if let Some(limit) = level.national_monthly_limit_units() {
                let at = |units: u32| {
                    pointers(DocumentKind::InsuranceCertificate, |d| {
                        d["care_level"] = json!(level.code());
                        d["monthly_benefit_limit_units"] = json!(units);
                    })
                };
                assert!(at(limit).is_empty(), "{level}");
                assert_eq!(at(limit - 1), ["/monthly_benefit_limit_units"], "{level}");
            }
        }
    }

    #[test]
    fn certificates_refusals() {
        use DocumentKind::{BurdenRatioCertificate as B, CostLimitCertificate as C};
        for bad in [json!(0), json!(4), json!("1"), json!(1.5)] {
            assert_eq!(pointers(B, |d| d["burden_ratio"] = bad), ["/burden_ratio"]);
        }
        assert_eq!(
            pointers(B, |d| {
                d.as_object_mut().unwrap().remove("validity_end_date");
            }),
            ["/validity_end_date"]
        );
        assert_eq!(
            pointers(C, |d| {
                d["housing_cost_daily_limits"]
                    .as_object_mut()
                    .unwrap()
                    .remove("multi_bed_room_roken_yen");
                d["food_cost_daily_limit_yen"] = json!("390");
            }),
            [
                "/food_cost_daily_limit_yen",
                "/housing_cost_daily_limits/multi_bed_room_roken_yen"
            ]
        );
    }

    #[test]
    fn application_refusals() {
        use DocumentKind::CertificationApplication as K;
        assert_eq!(
            pointers(K, |d| d["application_type"] = json!("update")),
            ["/application_type"]
        );
        assert_eq!(
            pointers(K, |d| {
                d.as_object_mut().unwrap().remove("previous_care_level");
            }),
            ["/previous_care_level"]
        );
        // A new application has no previous level.
        assert!(
            pointers(K, |d| {
                d["application_type"] = json!("new");
                let m = d.as_object_mut().unwrap();
                for f in [
                    "previous_care_level",
                    "previous_validity_start_date",
                    "previous_validity_end_date",
                ] {
                    m.remove(f);
                }
            })
            .is_empty()
        );
        assert_eq!(
            pointers(K, |d| d["consent_to_information_sharing"] = json!("yes")),
            ["/consent_to_information_sharing"]
        );
        assert_eq!(
            pointers(K, |d| {
                d["attending_physician"]
                    .as_object_mut()
                    .unwrap()
                    .remove("institution_name");
                d["attending_physician"]["medical_institution_code"] = json!("131234567８");
            }),
            [
                "/attending_physician/institution_name",
                "/attending_physician/medical_institution_code"
            ]
        );
    }

    #[test]
    fn survey_refusals() {
        use DocumentKind::CertificationSurvey as K;
        assert_eq!(
            pointers(K, |d| {
                d.as_object_mut().unwrap().remove("surveyor");
            }),
            ["/surveyor"]
        );
        assert_eq!(
            pointers(K, |d| {
                d["basic_survey"]
                    .as_object_mut()
                    .unwrap()
                    .remove("social_adaptation");
            }),
            ["/basic_survey/social_adaptation"]
        );
        assert_eq!(
            pointers(K, |d| d["basic_survey"]["cognitive_function"]["2"] =
                json!(3)),
            ["/basic_survey/cognitive_function/2"]
        );
        assert_eq!(
            pointers(K, |d| d["basic_survey"]["physical_function"]["1"] =
                json!([1, 2])),
            ["/basic_survey/physical_function/1"]
        );
        assert_eq!(
            pointers(K, |d| d["basic_survey"]["physical_function"]["1"] =
                json!([])),
            ["/basic_survey/physical_function/1"]
        );
        assert!(
            pointers(K, |d| d["basic_survey"]["physical_function"]["1"] =
                json!([2, 5, 6]))
            .is_empty()
        );
        assert_eq!(
            pointers(K, |d| d["basic_survey"]["special_medical_care"]["3"] =
                json!(1)),
            ["/basic_survey/special_medical_care/3"]
        );
        assert_eq!(
            pointers(K, |d| d["basic_survey"]["daily_life_function"]["13"] =
                json!(1)),
            ["/basic_survey/daily_life_function/13"]
        );
        assert_eq!(
            pointers(K, |d| {
                d["basic_survey"]["mental_behavioral_disorders"]
                    .as_object_mut()
                    .unwrap()
                    .remove("15");
            }),
            ["/basic_survey/mental_behavioral_disorders/15"]
        );
    }

    #[test]
    fn physician_opinion_refusals() {
        use DocumentKind::PhysicianOpinion as K;
        assert_eq!(
            pointers(K, |d| {
                d.as_object_mut()
                    .unwrap()
                    .remove("consent_to_care_planning");
            }),
            ["/consent_to_care_planning"]
        );
        assert_eq!(
            pointers(K, |d| d["consent_to_care_planning"] = json!("同意する")),
            ["/consent_to_care_planning"]
        );
        assert_eq!(pointers(K, |d| d["diagnoses"] = json!([])), ["/diagnoses"]);
        assert_eq!(
            pointers(
                K,
                |d| d["diagnoses"] =
                    json!([{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}])
            ),
            ["/diagnoses"]
        );
        assert_eq!(
            pointers(K, |d| d["diagnoses"][1] =
                json!({"onset_date": "2015-13-01"})),
            ["/diagnoses/1/onset_date", "/diagnoses/1/name"]
        );
        assert_eq!(
            pointers(K, |d| d["dementia_independence"] = json!("IIc")),
            ["/dementia_independence"]
        );
        assert_eq!(
            pointers(K, |d| d["bedridden_degree"] = json!("D1")),
            ["/bedridden_degree"]
        );
        assert_eq!(
            pointers(K, |d| d["institution"]["name"] = json!("")),
            ["/institution/name"]
        );

        assert_eq!(physician_consent(&example(K)), Some(true));
        assert_eq!(
            physician_consent(&json!({"consent_to_care_planning": false})),
            Some(false)
        );
        assert_eq!(
            physician_consent(&json!({"consent_to_care_planning": "false"})),
            None
        );
        assert_eq!(physician_consent(&json!({})), None);
        assert_eq!(physician_consent(&json!([])), None);
    }

    #[test]
    fn life_feedback_refusals() {
        use DocumentKind::LifeFeedback as K;
        assert_eq!(
            pointers(K, |d| d["adl"]["grooming"] = json!(10)),
            ["/adl/grooming"]
        );
        assert_eq!(
            pointers(K, |d| {
                d["adl"].as_object_mut().unwrap().remove("stairs");
            }),
            ["/adl/stairs"]
        );
        let got = refusals(K, |d| d["adl"]["barthel_total"] = json!(70));
        assert_eq!(
            got,
            [(
                "/adl/barthel_total".into(),
                "must equal the sum of the items, 65".into()
            )]
        );
        assert_eq!(
            pointers(K, |d| d["office_number"] = json!("1372345678 ")),
            ["/office_number"]
        );
        assert_eq!(
            pointers(K, |d| d["service_type_code"] = json!("015")),
            ["/service_type_code"]
        );
        assert_eq!(
            pointers(K, |d| d["nutrition"]["weight_kg"] = json!(0)),
            ["/nutrition/weight_kg"]
        );
    }

    #[test]
    fn care_plan_refusals() {
        use DocumentKind::CarePlan as K;
        assert_eq!(pointers(K, |d| d["table2"] = json!([])), ["/table2"]);
        assert_eq!(
            pointers(K, |d| d["table2"][0]["services"] = json!([])),
            ["/table2/0/services"]
        );
        assert_eq!(
            pointers(K, |d| d["table2"][0]["services"][0]["insurance_covered"] =
                json!("yes")),
            ["/table2/0/services/0/insurance_covered"]
        );
        assert_eq!(
            pointers(K, |d| {
                d["table1"]
                    .as_object_mut()
                    .unwrap()
                    .remove("overall_support_policy");
            }),
            ["/table1/overall_support_policy"]
        );
        assert_eq!(
            pointers(K, |d| d["plan_type"] = json!("facility")),
            ["/table7"]
        );
        assert_eq!(
            pointers(K, |d| d["table2"][0]["short_term_goal_end_date"] =
                json!("2025-03-31")),
            ["/table2/0/short_term_goal_end_date"]
        );
        // A pending certification has no care level yet.
        assert!(
            pointers(K, |d| {
                d["certification_status"] = json!("pending");
                d.as_object_mut().unwrap().remove("care_level");
            })
            .is_empty()
        );
        assert_eq!(
            pointers(K, |d| {
                d.as_object_mut().unwrap().remove("care_level");
            }),
            ["/care_level"]
        );
    }

    #[test]
    fn housing_and_equipment_refusals() {
        use DocumentKind::{HousingRenovation as H, WelfareEquipmentPurchase as W};
        assert_eq!(
            pointers(H, |d| d["paid_yen"] = json!(180001)),
            ["/paid_yen", "/paid_yen"]
        );
        assert_eq!(
            pointers(H, |d| {
                d["cost_yen"] = json!(250000);
                d["paid_yen"] = json!(200000);
            }),
            ["/paid_yen"]
        );
        assert_eq!(
            pointers(H, |d| d["work_types"] = json!(["handrails", "roof"])),
            ["/work_types/1"]
        );
        assert_eq!(
            pointers(H, |d| d["work_types"] = json!(["handrails", "handrails"])),
            ["/work_types/1"]
        );
        assert_eq!(
            pointers(H, |d| d["completion_date"] = json!("2025-05-19")),
            ["/completion_date"]
        );
        assert_eq!(pointers(W, |d| d["paid_yen"] = json!(35001)), ["/paid_yen"]);
        assert_eq!(
            pointers(W, |d| d["item_type"] = json!("wheelchair")),
            ["/item_type"]
        );
        assert_eq!(pointers(W, |d| d["price_yen"] = json!(-5)), ["/price_yen"]);
    }

    #[test]
    fn pointers_are_escaped() {
        let got = pointers(DocumentKind::WelfareEquipmentPurchase, |d| {
            d["odd/key~x_date"] = json!("tomorrow");
        });
        assert_eq!(got, ["/odd~1key~0x_date"]);
    }

    #[test]
    fn violation_serializes_as_pointer_and_message() {
        let v = Violation::new("/care_level", "unknown");
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            json!({"pointer": "/care_level", "message": "unknown"})
        );
    }

    proptest! {
        #[test]
        fn dates_accept_every_real_day(days in 0i32..200_000) {
            let d = time::Date::from_calendar_date(1900, time::Month::January, 1).unwrap()
                + time::Duration::days(i64::from(days));
            let s = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
            prop_assert_eq!(parse_date(&s), Some(d));
        }

        #[test]
        fn dates_reject_near_misses(y in 1900i32..2100, m in 1u8..=12, d in 1u8..=28) {
            let good = format!("{y:04}-{m:02}-{d:02}");
            prop_assert!(parse_date(&good).is_some());
            assert!(parse_date(&format!("{y:04}-{m:02}-32")).is_none());
            assert!(parse_date(&format!("{y:04}-13-{d:02}")).is_none());
            assert!(parse_date(&format!("{y:04}-{m}-{d:02}")).is_none() || m >= 10);
            assert!(parse_date(&format!("{y:04}/{m:02}/{d:02}")).is_none());
            assert!(parse_date(&format!("{good} ")).is_none());
            assert!(parse_date(&format!("{good}T00:00:00Z")).is_none());
            assert!(parse_date(&format!("+{good}")).is_none());
        }

        #[test]
        fn dates_never_panic(s in "\\PC{0,12}") {
            let _ = parse_date(&s);
        }

        #[test]
        fn validator_never_panics_on_edited_examples(
            kind_index in 0usize..10,
            field_index in 0usize..12,
            replacement in prop_oneof![
                Just(json!(null)), Just(json!(true)), Just(json!(-1)), Just(json!(1.5)),
                Just(json!("")), Just(json!("x")), Just(json!([])), Just(json!({})), Just(json!([1, "a", null])),
            ],
        ) {
            let kind = DocumentKind::ALL[kind_index];
            let fields = required_fields(kind);
            let field = fields[field_index % fields.len()].0;
            let mut doc = example(kind);
            doc[field] = replacement;
            let _ = validate_content(kind, &person(), &doc);
        }
    }
}
