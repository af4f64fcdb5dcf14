//! The fields each kind requires and the optional ones the validator
//! checks, each with its Japanese term and meaning: the lists the module
//! documentation summarises and the OpenAPI description prints in full.

use crate::kinds::DocumentKind;

type Fields = &'static [(&'static str, &'static str)];

/// The six room types of a cost-limit certificate's
/// `housing_cost_daily_limits`, each a daily limit in yen.
pub(super) const HOUSING_COST_ROOMS: Fields = &[
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_docs_list_every_field() {
        let source = include_str!("mod.rs");
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
}
