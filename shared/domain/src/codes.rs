//! Codes used across document kinds (DOCUMENT-KINDS.md, "Codes used across
//! kinds"), as types so that the progress and relay operations can share
//! them with content validation.

use crate::macros::string_enum;

string_enum! {
    /// 要介護状態区分 — care level, by its code on claims data.
    pub enum CareLevel as "care level" {
        /// 01 非該当 — not certified as needing support or care.
        NotApplicable = "01",
        /// 06 事業対象者 — eligible for the municipal comprehensive programme.
        ProgrammeEligible = "06",
        /// 11 経過的要介護 — transitional category from the 2006 reform.
        Transitional = "11",
        /// 12 要支援1.
        Support1 = "12",
        /// 13 要支援2.
        Support2 = "13",
        /// 21 要介護1.
        Care1 = "21",
        /// 22 要介護2.
        Care2 = "22",
        /// 23 要介護3.
        Care3 = "23",
        /// 24 要介護4.
        Care4 = "24",
        /// 25 要介護5.
        Care5 = "25",
    }
}

impl CareLevel {
    /// The claims code, e.g. "21" (same as `as_str`).
    pub const fn code(self) -> &'static str {
        self.as_str()
    }

    /// The level's Japanese name.
    pub const fn japanese_name(self) -> &'static str {
        match self {
            CareLevel::NotApplicable => "非該当",
            CareLevel::ProgrammeEligible => "事業対象者",
            CareLevel::Transitional => "経過的要介護",
            CareLevel::Support1 => "要支援1",
            CareLevel::Support2 => "要支援2",
            CareLevel::Care1 => "要介護1",
            CareLevel::Care2 => "要介護2",
            CareLevel::Care3 => "要介護3",
            CareLevel::Care4 => "要介護4",
            CareLevel::Care5 => "要介護5",
        }
    }

    /// Whether the level results from a certification (要介護認定) and so has
    /// a certification date and validity period: 11, 12–13, 21–25.
    pub const fn is_certified(self) -> bool {
        !matches!(
            self,
            CareLevel::NotApplicable | CareLevel::ProgrammeEligible
        )
    }

    /// 区分支給限度基準額 — the national monthly benefit limit in units (since
    /// October 2019). A municipality may set a higher limit (上乗せ, LTCI Act
    /// art. 43(3)), never a lower one. `None` for 01, 06 and 11, which have no
    /// current national figure.
    pub const fn national_monthly_limit_units(self) -> Option<u32> {
        match self {
            CareLevel::Support1 => Some(5_032),
            CareLevel::Support2 => Some(10_531),
            CareLevel::Care1 => Some(16_765),
            CareLevel::Care2 => Some(19_705),
            CareLevel::Care3 => Some(27_048),
            CareLevel::Care4 => Some(30_938),
            CareLevel::Care5 => Some(36_217),
            CareLevel::NotApplicable | CareLevel::ProgrammeEligible | CareLevel::Transitional => {
                None
            }
        }
    }
}

string_enum! {
    /// 申請区分 — the type of a certification application.
    pub enum ApplicationType as "application type" {
        /// 新規.
        New = "new",
        /// 更新.
        Renewal = "renewal",
        /// 区分変更.
        ChangeOfCategory = "change_of_category",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn care_level_codes() {
        let codes: Vec<_> = CareLevel::ALL.iter().map(|l| l.code()).collect();
        assert_eq!(
            codes,
            ["01", "06", "11", "12", "13", "21", "22", "23", "24", "25"]
        );
        assert_eq!("23".parse::<CareLevel>().unwrap(), CareLevel::Care3);
        assert!("2".parse::<CareLevel>().is_err());
        assert!("26".parse::<CareLevel>().is_err());
        assert_eq!(
            CareLevel::Care5.national_monthly_limit_units(),
            Some(36_217)
        );
        assert_eq!(CareLevel::Transitional.national_monthly_limit_units(), None);
        assert!(CareLevel::Transitional.is_certified());
        assert!(!CareLevel::ProgrammeEligible.is_certified());
        assert_eq!(serde_json::to_value(CareLevel::Support1).unwrap(), "12");
    }

    #[test]
    fn application_types() {
        assert_eq!(
            ApplicationType::NAMES,
            ["new", "renewal", "change_of_category"]
        );
    }
}
