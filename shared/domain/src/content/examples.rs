//! A valid example document of every kind.

use serde_json::{Map, Value, json};

use super::survey::{BASIC_SURVEY, SurveyAnswer};
use crate::kinds::DocumentKind;
use crate::principal::PersonRef;

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
pub(super) mod tests {
    use super::*;
    use crate::content::{required_fields, validate_content};
    use crate::ids::{InsuredNumber, InsurerNumber};

    /// The person every example is about (shared with the validator's
    /// tests).
    pub(crate) fn person() -> PersonRef {
        PersonRef::new(
            InsurerNumber::parse("131016").unwrap(),
            InsuredNumber::parse("0000123456").unwrap(),
        )
    }

    /// `kind`'s example about [`person`].
    pub(crate) fn example(kind: DocumentKind) -> Value {
        example_content(kind, &person())
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
}
