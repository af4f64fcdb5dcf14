//! The codes that identify insurers, insured persons, offices and medical
//! institutions.
//!
//! Each is parsed once, at the edge of a handler, into a type that cannot
//! hold anything else. Parsing is exact: no trimming, no case folding, no
//! full-width-to-ASCII conversion. A municipality system that sends `０１…`
//! has a bug the hub should surface, not paper over, because the same
//! person under two spellings would split their record in two.

use serde::{Deserialize, Serialize};

use crate::macros::string_newtype;

/// An identifier was malformed.
///
/// Carries which identifier and why, but never the rejected value: insured
/// numbers are personal data and error messages end up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {identifier}: {reason}")]
pub struct IdError {
    /// Which identifier, as its snake_case field name, e.g. "insurer_number".
    pub identifier: &'static str,
    /// Why it was refused, e.g. "prefecture code 48 is not 01–47".
    pub reason: String,
}

impl IdError {
    pub(crate) fn new(identifier: &'static str, reason: impl Into<String>) -> Self {
        IdError {
            identifier,
            reason: reason.into(),
        }
    }

    /// Which identifier was refused.
    pub fn identifier(&self) -> &'static str {
        self.identifier
    }

    /// Why it was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Refuses the mistakes a human or a legacy system most often makes, with a
/// message that names the mistake rather than a generic "must be digits".
pub(crate) fn reject_common_mistakes(identifier: &'static str, s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::new(identifier, "must not be empty"));
    }
    for c in s.chars() {
        let reason = if ('\u{FF10}'..='\u{FF19}').contains(&c) {
            "contains a full-width digit; only ASCII digits 0-9 are accepted"
        } else if ('\u{FF21}'..='\u{FF3A}').contains(&c) || ('\u{FF41}'..='\u{FF5A}').contains(&c) {
            "contains a full-width letter; only ASCII characters are accepted"
        } else if c.is_whitespace() {
            "contains whitespace; identifiers are taken exactly as sent, without trimming"
        } else if c.is_control() {
            "contains a control character"
        } else if !c.is_ascii() {
            "contains a non-ASCII character"
        } else {
            continue;
        };
        return Err(IdError::new(identifier, reason));
    }
    Ok(())
}

/// Checks a two-digit prefecture code (JIS X 0401: 01 Hokkaido … 47 Okinawa).
fn check_prefecture(identifier: &'static str, two: &str) -> Result<u8, IdError> {
    // The caller has established that both characters are ASCII digits.
    let code: u8 = two
        .parse()
        .map_err(|_| IdError::new(identifier, "the prefecture code must be two digits"))?;
    if (1..=47).contains(&code) {
        Ok(code)
    } else {
        Err(IdError::new(
            identifier,
            format!("prefecture code {two} is not 01–47"),
        ))
    }
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// 保険者番号 — the insurer (municipality or regional union) number: six ASCII
/// digits, the first two a prefecture code 01–47.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InsurerNumber(String);

impl InsurerNumber {
    const ID: &'static str = "insurer_number";

    /// Parses an insurer number.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        reject_common_mistakes(Self::ID, s)?;
        if !all_digits(s) {
            return Err(IdError::new(Self::ID, "must be 6 digits (0-9)"));
        }
        if s.len() != 6 {
            return Err(IdError::new(
                Self::ID,
                format!("must be 6 digits, got {}", s.len()),
            ));
        }
        check_prefecture(Self::ID, &s[..2])?;
        Ok(InsurerNumber(s.to_owned()))
    }

    /// The prefecture code (1–47) the number starts with.
    pub fn prefecture_code(&self) -> u8 {
        self.0[..2].parse().expect("checked at parse")
    }
}

string_newtype!(InsurerNumber, IdError);

/// 被保険者番号 — the insured person's number: ten ASCII digits, or `H`
/// followed by nine digits for public-assistance recipients (生活保護受給者,
/// who are covered by public assistance rather than by the insurance).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InsuredNumber(String);

impl InsuredNumber {
    const ID: &'static str = "insured_number";
    const SHAPE: &'static str = "must be 10 characters: 10 digits, or H followed by 9 digits";

    /// Parses an insured number.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        reject_common_mistakes(Self::ID, s)?;
        let digits = match s.as_bytes()[0] {
            b'H' => &s[1..],
            b'h' => {
                return Err(IdError::new(
                    Self::ID,
                    "the public-assistance prefix must be an uppercase H",
                ));
            }
            _ => s,
        };
        if !all_digits(digits) {
            return Err(IdError::new(
                Self::ID,
                format!("{}; a letter is allowed only as a leading H", Self::SHAPE),
            ));
        }
        if s.len() != 10 {
            return Err(IdError::new(
                Self::ID,
                format!("{}, got {} characters", Self::SHAPE, s.len()),
            ));
        }
        Ok(InsuredNumber(s.to_owned()))
    }

    /// Whether this is a public-assistance recipient's number (`H…`).
    pub fn is_public_assistance(&self) -> bool {
        self.0.starts_with('H')
    }
}

string_newtype!(InsuredNumber, IdError);

/// 介護事業所番号 — a care office number: ten characters, prefecture code
/// 01–47 (2 digits), category (1 character: a digit or an ASCII uppercase
/// letter), area (2 digits), serial (4 digits) and a check digit (1 digit).
///
/// The check digit is **not** verified: the algorithm is not published in
/// the materials the hub is built from, and refusing a real office on a
/// guessed algorithm would be worse than accepting a typo that the
/// registration step (an office registers itself) catches anyway.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OfficeNumber(String);

impl OfficeNumber {
    const ID: &'static str = "office_number";

    /// Parses an office number.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        reject_common_mistakes(Self::ID, s)?;
        // From here on every character is printable ASCII, so bytes are characters.
        if s.len() != 10 {
            return Err(IdError::new(
                Self::ID,
                format!("must be 10 characters, got {}", s.len()),
            ));
        }
        if !all_digits(&s[..2]) {
            return Err(IdError::new(
                Self::ID,
                "the first two characters (prefecture code) must be digits",
            ));
        }
        check_prefecture(Self::ID, &s[..2])?;
        let category = s.as_bytes()[2];
        if !(category.is_ascii_digit() || category.is_ascii_uppercase()) {
            return Err(IdError::new(
                Self::ID,
                "the 3rd character (category) must be a digit or an uppercase letter A-Z",
            ));
        }
        if !all_digits(&s[3..]) {
            return Err(IdError::new(
                Self::ID,
                "characters 4–10 (area, serial number, check digit) must be digits",
            ));
        }
        Ok(OfficeNumber(s.to_owned()))
    }

    /// The prefecture code (1–47).
    pub fn prefecture_code(&self) -> u8 {
        self.0[..2].parse().expect("checked at parse")
    }

    /// The category character (3rd position).
    pub fn category(&self) -> char {
        char::from(self.0.as_bytes()[2])
    }
}

string_newtype!(OfficeNumber, IdError);

/// 医療機関コード — a medical institution code: ten ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MedicalInstitutionCode(String);

impl MedicalInstitutionCode {
    const ID: &'static str = "medical_institution_code";

    /// Parses a medical institution code.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        reject_common_mistakes(Self::ID, s)?;
        if !all_digits(s) {
            return Err(IdError::new(Self::ID, "must be 10 digits (0-9)"));
        }
        if s.len() != 10 {
            return Err(IdError::new(
                Self::ID,
                format!("must be 10 digits, got {}", s.len()),
            ));
        }
        Ok(MedicalInstitutionCode(s.to_owned()))
    }
}

string_newtype!(MedicalInstitutionCode, IdError);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A valid prefecture code, as a regex literal usable in `concat!`.
    macro_rules! pref {
        () => {
            "(0[1-9]|[1-3][0-9]|4[0-7])"
        };
    }

    fn reason<T: std::fmt::Debug>(r: Result<T, IdError>) -> String {
        r.unwrap_err().reason
    }

    #[test]
    fn insurer_number_examples() {
        assert_eq!(InsurerNumber::parse("131016").unwrap().as_str(), "131016");
        assert_eq!(
            InsurerNumber::parse("131016").unwrap().prefecture_code(),
            13
        );
        assert_eq!(
            reason(InsurerNumber::parse("481016")),
            "prefecture code 48 is not 01–47"
        );
        assert_eq!(
            reason(InsurerNumber::parse("001016")),
            "prefecture code 00 is not 01–47"
        );
        assert_eq!(
            reason(InsurerNumber::parse("13101")),
            "must be 6 digits, got 5"
        );
        assert_eq!(reason(InsurerNumber::parse("")), "must not be empty");
        assert!(reason(InsurerNumber::parse("１３１０１６")).contains("full-width digit"));
        assert!(reason(InsurerNumber::parse(" 131016")).contains("whitespace"));
        assert!(reason(InsurerNumber::parse("13101A")).contains("6 digits"));
        let err = InsurerNumber::parse("13101A").unwrap_err();
        assert_eq!(err.identifier(), "insurer_number");
        assert_eq!(
            err.to_string(),
            "invalid insurer_number: must be 6 digits (0-9)"
        );
    }

    #[test]
    fn insured_number_examples() {
        assert!(
            !InsuredNumber::parse("0000123456")
                .unwrap()
                .is_public_assistance()
        );
        assert!(
            InsuredNumber::parse("H000123456")
                .unwrap()
                .is_public_assistance()
        );
        assert!(reason(InsuredNumber::parse("h000123456")).contains("uppercase H"));
        assert!(reason(InsuredNumber::parse("H0001234567")).contains("got 11"));
        assert!(reason(InsuredNumber::parse("A000123456")).contains("leading H"));
        assert!(reason(InsuredNumber::parse("00001234H6")).contains("leading H"));
        assert!(reason(InsuredNumber::parse("000012345６")).contains("full-width"));
    }

    #[test]
    fn office_number_examples() {
        let o = OfficeNumber::parse("1371234567").unwrap();
        assert_eq!((o.prefecture_code(), o.category()), (13, '7'));
        assert_eq!(OfficeNumber::parse("13A1234567").unwrap().category(), 'A');
        assert!(reason(OfficeNumber::parse("13a1234567")).contains("uppercase"));
        assert_eq!(
            reason(OfficeNumber::parse("5071234567")),
            "prefecture code 50 is not 01–47"
        );
        assert!(reason(OfficeNumber::parse("137123456")).contains("got 9"));
        assert!(reason(OfficeNumber::parse("13712345X7")).contains("characters 4–10"));
    }

    #[test]
    fn medical_institution_code_examples() {
        assert!(MedicalInstitutionCode::parse("1312345678").is_ok());
        assert!(reason(MedicalInstitutionCode::parse("131234567")).contains("got 9"));
        assert!(reason(MedicalInstitutionCode::parse("131234567X")).contains("10 digits"));
    }

    #[test]
    fn serde_is_the_string_and_refuses_bad_values() {
        let n: InsurerNumber = serde_json::from_str("\"271004\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"271004\"");
        let e = serde_json::from_str::<InsurerNumber>("\"991004\"").unwrap_err();
        assert!(e.to_string().contains("prefecture code 99"));
    }

    /// A valid string with one character replaced by its full-width twin.
    fn widen(s: &str, at: usize) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                if i == at && c.is_ascii_alphanumeric() {
                    char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap()
                } else {
                    c
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn insurer_valid_round_trips(s in concat!(pref!(), "[0-9]{4}")) {
            let n = InsurerNumber::parse(&s).unwrap();
            prop_assert_eq!(n.as_str(), s.as_str());
            prop_assert_eq!(n.to_string().parse::<InsurerNumber>().unwrap(), n.clone());
            let json = serde_json::to_string(&n).unwrap();
            prop_assert_eq!(serde_json::from_str::<InsurerNumber>(&json).unwrap(), n);
        }

        #[test]
        fn insurer_bad_prefecture(s in "(00|4[89]|[5-9][0-9])[0-9]{4}") {
            prop_assert!(InsurerNumber::parse(&s).unwrap_err().reason.contains("prefecture code"));
        }

        #[test]
        fn insurer_near_misses(s in concat!(pref!(), "[0-9]{4}"), cut in 0usize..6, at in 0usize..6) {
            prop_assert!(InsurerNumber::parse(&s[..cut]).is_err());
            assert!(InsurerNumber::parse(&format!("{s}0")).is_err());
            assert!(InsurerNumber::parse(&format!("{s} ")).is_err());
            prop_assert!(InsurerNumber::parse(&widen(&s, at)).unwrap_err().reason.contains("full-width"));
        }

        #[test]
        fn insured_valid_round_trips(s in "(H[0-9]{9}|[0-9]{10})") {
            let n = InsuredNumber::parse(&s).unwrap();
            prop_assert_eq!(n.as_str(), s.as_str());
            prop_assert_eq!(n.is_public_assistance(), s.starts_with('H'));
            let json = serde_json::to_string(&n).unwrap();
            prop_assert_eq!(serde_json::from_str::<InsuredNumber>(&json).unwrap(), n);
        }

        #[test]
        fn insured_near_misses(s in "[0-9]{10}", at in 0usize..10, letter in "[A-GI-Za-z]") {
            prop_assert!(InsuredNumber::parse(&s[..9]).is_err());
            assert!(InsuredNumber::parse(&format!("{s}1")).is_err());
            assert!(InsuredNumber::parse(&format!("H{s}")).is_err());
            assert!(InsuredNumber::parse(&format!("h{}", &s[1..])).is_err());
            let mut replaced = s.clone();
            replaced.replace_range(at..at + 1, &letter);
            prop_assert!(InsuredNumber::parse(&replaced).is_err());
            prop_assert!(InsuredNumber::parse(&widen(&s, at)).is_err());
        }

        #[test]
        fn office_valid_round_trips(s in concat!(pref!(), "[0-9A-Z][0-9]{7}")) {
            let n = OfficeNumber::parse(&s).unwrap();
            prop_assert_eq!(n.as_str(), s.as_str());
            let json = serde_json::to_string(&n).unwrap();
            prop_assert_eq!(serde_json::from_str::<OfficeNumber>(&json).unwrap(), n);
        }

        #[test]
        fn office_near_misses(
            s in concat!(pref!(), "[0-9A-Z][0-9]{7}"),
            bad_pref in "(00|4[89]|[5-9][0-9])",
            lower in "[a-z]",
            at in 3usize..10,
            letter in "[A-Z]",
        ) {
            prop_assert!(OfficeNumber::parse(&s[..9]).is_err());
            assert!(OfficeNumber::parse(&format!("{s}0")).is_err());
            assert!(OfficeNumber::parse(&format!("{bad_pref}{}", &s[2..])).is_err());
            assert!(OfficeNumber::parse(&format!("{}{lower}{}", &s[..2], &s[3..])).is_err());
            let mut replaced = s.clone();
            replaced.replace_range(at..at + 1, &letter);
            prop_assert!(OfficeNumber::parse(&replaced).is_err());
        }

        #[test]
        fn medical_valid_round_trips(s in "[0-9]{10}") {
            let n = MedicalInstitutionCode::parse(&s).unwrap();
            prop_assert_eq!(n.as_str(), s.as_str());
            let json = serde_json::to_string(&n).unwrap();
            prop_assert_eq!(serde_json::from_str::<MedicalInstitutionCode>(&json).unwrap(), n);
        }

        #[test]
        fn medical_near_misses(s in "[0-9]{10}", at in 0usize..10, letter in "[A-Za-z]") {
            prop_assert!(MedicalInstitutionCode::parse(&s[..9]).is_err());
            assert!(MedicalInstitutionCode::parse(&format!("{s}0")).is_err());
            let mut replaced = s.clone();
            replaced.replace_range(at..at + 1, &letter);
            prop_assert!(MedicalInstitutionCode::parse(&replaced).is_err());
            prop_assert!(MedicalInstitutionCode::parse(&widen(&s, at)).is_err());
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,16}") {
            let _ = InsurerNumber::parse(&s);
            let _ = InsuredNumber::parse(&s);
            let _ = OfficeNumber::parse(&s);
            let _ = MedicalInstitutionCode::parse(&s);
        }
    }
}
