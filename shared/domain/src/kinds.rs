//! The kinds of document the hub stores (DOCUMENT-KINDS.md). Who may store
//! each is `crate::policy::ingest`.

use crate::macros::string_enum;

string_enum! {
    /// A kind of document. The wire name is snake_case.
    pub enum DocumentKind as "document kind" {
        /// 認定調査票 — certification survey.
        CertificationSurvey = "certification_survey",
        /// 主治医意見書 — attending physician's opinion.
        PhysicianOpinion = "physician_opinion",
        /// 介護保険被保険者証 — insurance certificate.
        InsuranceCertificate = "insurance_certificate",
        /// 介護保険負担割合証 — burden ratio certificate.
        BurdenRatioCertificate = "burden_ratio_certificate",
        /// 介護保険負担限度額認定証 — cost limit certificate.
        CostLimitCertificate = "cost_limit_certificate",
        /// 要介護認定申請書 — certification application.
        CertificationApplication = "certification_application",
        /// LIFE 利用者フィードバック票 — LIFE feedback.
        LifeFeedback = "life_feedback",
        /// ケアプラン — care plan.
        CarePlan = "care_plan",
        /// 住宅改修費 — housing renovation benefit.
        HousingRenovation = "housing_renovation",
        /// 福祉用具購入費 — welfare equipment purchase benefit.
        WelfareEquipmentPurchase = "welfare_equipment_purchase",
    }
}

impl DocumentKind {
    /// Whether the person has at most one logical document of this kind: the
    /// certificates. Each new certificate is a new version of the same
    /// document, so readers see the current one and its history rather than
    /// a pile of unrelated certificates.
    pub const fn is_singleton(self) -> bool {
        matches!(
            self,
            DocumentKind::InsuranceCertificate
                | DocumentKind::BurdenRatioCertificate
                | DocumentKind::CostLimitCertificate
        )
    }

    /// The kind's name on the form.
    pub const fn japanese_name(self) -> &'static str {
        match self {
            DocumentKind::CertificationSurvey => "認定調査票",
            DocumentKind::PhysicianOpinion => "主治医意見書",
            DocumentKind::InsuranceCertificate => "介護保険被保険者証",
            DocumentKind::BurdenRatioCertificate => "介護保険負担割合証",
            DocumentKind::CostLimitCertificate => "介護保険負担限度額認定証",
            DocumentKind::CertificationApplication => "要介護認定申請書",
            DocumentKind::LifeFeedback => "LIFE利用者フィードバック票",
            DocumentKind::CarePlan => "ケアプラン",
            DocumentKind::HousingRenovation => "住宅改修費",
            DocumentKind::WelfareEquipmentPurchase => "福祉用具購入費",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_snake_case_and_round_trip() {
        assert_eq!(DocumentKind::ALL.len(), 10);
        for kind in DocumentKind::ALL {
            assert_eq!(kind.as_str().parse::<DocumentKind>().unwrap(), kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert!(
                kind.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert!(!kind.japanese_name().is_empty());
        }
    }

    #[test]
    fn singletons_are_the_certificates() {
        let singletons: Vec<_> = DocumentKind::ALL
            .into_iter()
            .filter(|k| k.is_singleton())
            .collect();
        assert_eq!(
            singletons,
            [
                DocumentKind::InsuranceCertificate,
                DocumentKind::BurdenRatioCertificate,
                DocumentKind::CostLimitCertificate
            ]
        );
    }

    proptest! {
        #[test]
        fn unknown_names_are_refused(s in "\\PC{0,40}") {
            prop_assume!(!DocumentKind::NAMES.contains(&s.as_str()));
            prop_assert!(s.parse::<DocumentKind>().is_err());
            prop_assert!(serde_json::from_value::<DocumentKind>(serde_json::Value::String(s)).is_err());
        }

        #[test]
        fn near_misses_are_refused(i in 0usize..10) {
            let name = DocumentKind::ALL[i].as_str();
            prop_assert!(name.to_uppercase().parse::<DocumentKind>().is_err());
            prop_assert!(name.replace('_', "-").parse::<DocumentKind>().is_err() || !name.contains('_'));
            assert!(format!("{name} ").parse::<DocumentKind>().is_err());
        }
    }
}
