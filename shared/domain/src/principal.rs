//! Who is calling: roles, principals (the identity in a client certificate)
//! and the person a portal call acts for.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{
    IdError, InsuredNumber, InsurerNumber, MedicalInstitutionCode, OfficeNumber,
    reject_common_mistakes,
};
use crate::macros::{string_enum, string_newtype};

string_enum! {
    /// The role a principal acts in (DESIGN §2).
    pub enum Role as "role" {
        /// 市町村 — the insurer (保険者); code: insurer number.
        Municipality = "municipality",
        /// 居宅介護支援事業所 — a care-manager office; code: office number.
        CareManager = "care-manager",
        /// 介護事業所・施設 — a care-service office or facility; code: office number.
        CareService = "care-service",
        /// 医療機関 — a medical institution; code: medical institution code.
        Medical = "medical",
        /// The citizen portal, acting for a person named by a person token.
        Portal = "portal",
        /// The hub's operator (administration, never a reader of care data).
        Operator = "operator",
    }
}

/// The code of a portal or operator client: 1–64 characters of `[a-z0-9-]`,
/// not starting with `-`.
///
/// Lowercase only, so that one client cannot appear under two spellings in
/// the access log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    const ID: &'static str = "client_id";

    /// Parses a client id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        reject_common_mistakes(Self::ID, s)?;
        if s.len() > 64 {
            return Err(IdError::new(
                Self::ID,
                format!("must be at most 64 characters, got {}", s.len()),
            ));
        }
        if s.starts_with('-') {
            return Err(IdError::new(Self::ID, "must not start with '-'"));
        }
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(IdError::new(Self::ID, "must be lowercase"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(IdError::new(Self::ID, "may contain only a-z, 0-9 and '-'"));
        }
        Ok(ClientId(s.to_owned()))
    }
}

string_newtype!(ClientId, IdError);

/// A principal URN was malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// The text does not start with `urn:carehub:` followed by `<role>:<code>`.
    #[error("a principal must be a URN of the form urn:carehub:<role>:<code>")]
    NotCarehubUrn,
    /// The role segment names no role.
    #[error("unknown role {0:?} in principal URN")]
    UnknownRole(String),
    /// The code does not fit the role (e.g. a bad insurer number).
    #[error(transparent)]
    InvalidCode(#[from] IdError),
}

/// An authenticated caller, as named by its client certificate's URI SAN
/// `urn:carehub:<role>:<code>`.
///
/// The code's type follows from the role, so a municipality principal always
/// carries a valid insurer number and so on. Serializes as the URN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Principal {
    /// A municipality, by its insurer number.
    Municipality(InsurerNumber),
    /// A care-manager office, by its office number.
    CareManager(OfficeNumber),
    /// A care-service office or facility, by its office number.
    CareService(OfficeNumber),
    /// A medical institution, by its institution code.
    Medical(MedicalInstitutionCode),
    /// A citizen portal client.
    Portal(ClientId),
    /// An operator client.
    Operator(ClientId),
}

impl Principal {
    const PREFIX: &'static str = "urn:carehub:";

    /// Parses exactly `urn:carehub:<role>:<code>`.
    ///
    /// Strict on case although RFC 8141 makes the `urn` scheme and namespace
    /// case-insensitive: the URN is used as a key (access log, authorship),
    /// and one spelling per principal keeps those keys unique.
    pub fn parse_urn(s: &str) -> Result<Principal, PrincipalError> {
        let rest = s
            .strip_prefix(Self::PREFIX)
            .ok_or(PrincipalError::NotCarehubUrn)?;
        let (role, code) = rest.split_once(':').ok_or(PrincipalError::NotCarehubUrn)?;
        let role: Role = role
            .parse()
            .map_err(|_| PrincipalError::UnknownRole(role.chars().take(32).collect()))?;
        // No code type admits ':', so a URN with extra segments fails here.
        Ok(match role {
            Role::Municipality => Principal::Municipality(InsurerNumber::parse(code)?),
            Role::CareManager => Principal::CareManager(OfficeNumber::parse(code)?),
            Role::CareService => Principal::CareService(OfficeNumber::parse(code)?),
            Role::Medical => Principal::Medical(MedicalInstitutionCode::parse(code)?),
            Role::Portal => Principal::Portal(ClientId::parse(code)?),
            Role::Operator => Principal::Operator(ClientId::parse(code)?),
        })
    }

    /// The URN, `urn:carehub:<role>:<code>`.
    pub fn to_urn(&self) -> String {
        format!("{}{}:{}", Self::PREFIX, self.role().as_str(), self.code())
    }

    /// The role.
    pub fn role(&self) -> Role {
        match self {
            Principal::Municipality(_) => Role::Municipality,
            Principal::CareManager(_) => Role::CareManager,
            Principal::CareService(_) => Role::CareService,
            Principal::Medical(_) => Role::Medical,
            Principal::Portal(_) => Role::Portal,
            Principal::Operator(_) => Role::Operator,
        }
    }

    /// The code after the role, as text.
    pub fn code(&self) -> &str {
        match self {
            Principal::Municipality(n) => n.as_str(),
            Principal::CareManager(n) | Principal::CareService(n) => n.as_str(),
            Principal::Medical(n) => n.as_str(),
            Principal::Portal(n) | Principal::Operator(n) => n.as_str(),
        }
    }

    /// The insurer number, for a municipality.
    pub fn insurer_number(&self) -> Option<&InsurerNumber> {
        match self {
            Principal::Municipality(n) => Some(n),
            _ => None,
        }
    }

    /// The office number, for a care-manager or care-service office.
    pub fn office_number(&self) -> Option<&OfficeNumber> {
        match self {
            Principal::CareManager(n) | Principal::CareService(n) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}:{}",
            Self::PREFIX,
            self.role().as_str(),
            self.code()
        )
    }
}

impl std::str::FromStr for Principal {
    type Err = PrincipalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Principal::parse_urn(s)
    }
}

impl TryFrom<String> for Principal {
    type Error = PrincipalError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Principal::parse_urn(&s)
    }
}

impl From<Principal> for String {
    fn from(p: Principal) -> String {
        p.to_urn()
    }
}

/// The person a document, consent or registration is about: the insurer and
/// the number the insurer gave them. Both together, because an insured
/// number is unique only within its insurer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PersonRef {
    /// 保険者番号.
    pub insurer_number: InsurerNumber,
    /// 被保険者番号.
    pub insured_number: InsuredNumber,
}

impl PersonRef {
    /// Builds a reference from already-parsed numbers.
    pub fn new(insurer_number: InsurerNumber, insured_number: InsuredNumber) -> Self {
        PersonRef {
            insurer_number,
            insured_number,
        }
    }
}

string_enum! {
    /// Who holds a portal person token: the person, or a proxy (family
    /// member, guardian) acting for them.
    pub enum PersonActor as "person actor" {
        /// The person themself.
        Person = "person",
        /// Someone acting for the person.
        Proxy = "proxy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert_eq!(Role::CareManager.as_str(), "care-manager");
        let err = "care_manager".parse::<Role>().unwrap_err();
        assert!(
            err.to_string()
                .contains("expected one of: municipality, care-manager")
        );
    }

    #[test]
    fn urn_examples() {
        let p = Principal::parse_urn("urn:carehub:municipality:131016").unwrap();
        assert_eq!(p.role(), Role::Municipality);
        assert_eq!(p.insurer_number().unwrap().as_str(), "131016");
        assert_eq!(p.to_urn(), "urn:carehub:municipality:131016");
        assert_eq!(p.to_string(), p.to_urn());
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            "urn:carehub:municipality:131016"
        );

        let p = Principal::parse_urn("urn:carehub:care-manager:13A1234567").unwrap();
        assert_eq!(p.office_number().unwrap().as_str(), "13A1234567");
        assert!(matches!(
            Principal::parse_urn("urn:carehub:portal:mynaportal-1").unwrap(),
            Principal::Portal(_)
        ));

        use PrincipalError::*;
        assert_eq!(
            Principal::parse_urn("URN:carehub:municipality:131016"),
            Err(NotCarehubUrn)
        );
        assert_eq!(
            Principal::parse_urn("urn:carehub:municipality"),
            Err(NotCarehubUrn)
        );
        assert_eq!(
            Principal::parse_urn("urn:carehub:mayor:131016"),
            Err(UnknownRole("mayor".into()))
        );
        assert!(matches!(
            Principal::parse_urn("urn:carehub:municipality:481016"),
            Err(InvalidCode(_))
        ));
        assert!(matches!(
            Principal::parse_urn("urn:carehub:municipality:131016:x"),
            Err(InvalidCode(_))
        ));
        assert!(matches!(
            Principal::parse_urn("urn:carehub:medical:1371234567 "),
            Err(InvalidCode(_))
        ));
        assert!(matches!(
            Principal::parse_urn("urn:carehub:portal:-x"),
            Err(InvalidCode(_))
        ));
        assert!(matches!(
            Principal::parse_urn("urn:carehub:portal:Portal"),
            Err(InvalidCode(_))
        ));
    }

    #[test]
    fn person_ref_serde() {
        let v = serde_json::json!({"insurer_number": "131016", "insured_number": "H000000001"});
        let p: PersonRef = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&p).unwrap(), v);
        assert!(
            serde_json::from_value::<PersonRef>(serde_json::json!({
                "insurer_number": "131016", "insured_number": "h000000001"
            }))
            .is_err()
        );
        assert_eq!(serde_json::to_value(PersonActor::Proxy).unwrap(), "proxy");
    }

    const PREF: &str = "(0[1-9]|[1-3][0-9]|4[0-7])";

    fn re(s: &str) -> proptest::string::RegexGeneratorStrategy<String> {
        proptest::string::string_regex(s).unwrap()
    }

    fn any_valid_urn() -> impl Strategy<Value = String> {
        prop_oneof![
            re(&format!("urn:carehub:municipality:{PREF}[0-9]{{4}}")),
            re(&format!(
                "urn:carehub:care-manager:{PREF}[0-9A-Z][0-9]{{7}}"
            )),
            re(&format!(
                "urn:carehub:care-service:{PREF}[0-9A-Z][0-9]{{7}}"
            )),
            re("urn:carehub:medical:[0-9]{10}"),
            re("urn:carehub:portal:[a-z0-9][a-z0-9-]{0,63}"),
            re("urn:carehub:operator:[a-z0-9][a-z0-9-]{0,63}"),
        ]
    }

    proptest! {
        #[test]
        fn urn_round_trips(urn in any_valid_urn()) {
            let p = Principal::parse_urn(&urn).unwrap();
            prop_assert_eq!(p.to_urn(), urn.clone());
            let json = serde_json::to_string(&p).unwrap();
            prop_assert_eq!(serde_json::from_str::<Principal>(&json).unwrap(), p);
        }

        #[test]
        fn urn_near_misses(urn in any_valid_urn(), cut in 1usize..12) {
            prop_assert!(Principal::parse_urn(&urn.to_uppercase()).is_err());
            assert!(Principal::parse_urn(&format!("{urn}:x")).is_err());
            assert!(Principal::parse_urn(&format!(" {urn}")).is_err());
            prop_assert!(Principal::parse_urn(&urn[cut..]).is_err());
            prop_assert!(Principal::parse_urn(&urn.replacen("urn:carehub:", "urn:carehub::", 1)).is_err());
        }

        #[test]
        fn client_id_valid(s in "[a-z0-9][a-z0-9-]{0,63}") {
            let c = ClientId::parse(&s).unwrap();
            prop_assert_eq!(c.as_str(), s.as_str());
            prop_assert_eq!(serde_json::from_value::<ClientId>(serde_json::to_value(&c).unwrap()).unwrap(), c);
        }

        #[test]
        fn client_id_near_misses(s in "[a-z0-9][a-z0-9-]{0,63}", bad in "[A-Z_.:/ ]") {
            assert!(ClientId::parse(&format!("-{s}")).is_err());
            assert!(ClientId::parse(&format!("{s}{bad}")).is_err());
            assert!(ClientId::parse(&format!("{s}{}", "a".repeat(65 - s.len()))).is_err());
        }

        #[test]
        fn parse_urn_never_panics(s in "\\PC{0,48}") {
            let _ = Principal::parse_urn(&s);
            let _ = Principal::parse_urn(&format!("urn:carehub:{s}"));
        }
    }
}
