//! Boilerplate generators shared by the domain types.
//!
//! Every closed set of wire names (roles, kinds, viewers, …) must behave the
//! same way — `as_str`, `ALL`, `FromStr`, `Display`, serde as the same string —
//! every identifier newtype must expose the same conversions, and every id the
//! hub issues (`doc_…`, `reg_…`, …) must parse the same way. Writing those
//! impls by hand for each type invites drift between, say, the serde name and
//! `as_str`, so they are generated from one list.

/// A fieldless enum whose wire form is one fixed string per variant.
///
/// Generates `ALL`, `NAMES`, `as_str`, `Display`, `FromStr` (error
/// [`crate::UnknownValue`]) and serde as that string.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident as $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The wire name of every variant, in declaration order.
            pub const NAMES: [&'static str; [$($text),+].len()] = [$($text),+];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($crate::UnknownValue::new($what, s, &$name::NAMES)),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <::std::string::String as ::serde::Deserialize>::deserialize(deserializer)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

/// The conversions every string newtype shares. The type must be a tuple
/// struct over `String` with an associated `parse(&str) -> Result<Self, $err>`.
macro_rules! string_newtype {
    ($name:ident, $err:ty) => {
        impl $name {
            /// The value exactly as it was accepted.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Gives up the wrapper, returning the accepted text.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }

        impl ::std::convert::TryFrom<String> for $name {
            type Error = $err;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::parse(&s)
            }
        }

        impl ::std::convert::TryFrom<&str> for $name {
            type Error = $err;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                $name::parse(s)
            }
        }

        impl ::std::convert::From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl ::std::convert::AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// An id the hub issues: a fixed prefix and 32 lowercase hex digits (16
/// bytes), such as `doc_0123456789abcdef0123456789abcdef`.
///
/// Generates the tuple struct over `String` (serde as that string, parsed
/// on the way in), its `PREFIX`, `parse`, a private `from_bytes` for the
/// type's own `derive` or `from_random`, and through [`string_newtype!`]
/// `as_str`, `into_string`, `Display`, `FromStr`, `TryFrom<String>`,
/// `TryFrom<&str>`, `AsRef<str>` and `From<_> for String`.
///
/// `parse` refuses, as an [`crate::IdError`] for the identifier named after
/// `as`, text without the prefix ("must start with doc_") and any other tail
/// ("must be doc_ followed by 32 lowercase hex digits"). Naming a function
/// of [`crate::ids`] after the comma (`reject_common_mistakes`) runs it
/// first, so that an id a person types or pastes is refused with the
/// mistake named (empty, whitespace, full-width digits, …).
macro_rules! prefixed_id {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($prefix:literal) as $what:literal $(, $first:ident)?;
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            const ID: &'static str = $what;
            const PREFIX: &'static str = $prefix;

            /// Parses an id: the prefix and 32 lowercase hex digits, exactly.
            pub fn parse(s: &str) -> Result<Self, $crate::ids::IdError> {
                $( $crate::ids::$first(Self::ID, s)?; )?
                let hex = s.strip_prefix(Self::PREFIX).ok_or_else(|| {
                    $crate::ids::IdError::new(Self::ID, concat!("must start with ", $prefix))
                })?;
                if hex.len() != 32 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err($crate::ids::IdError::new(
                        Self::ID,
                        concat!("must be ", $prefix, " followed by 32 lowercase hex digits"),
                    ));
                }
                Ok($name(s.to_owned()))
            }

            /// The id whose digits are the first 16 of `bytes` in hex: all of
            /// a random id's 16, the first half of a SHA-256 digest.
            fn from_bytes(bytes: &[u8]) -> Self {
                $name(format!("{}{}", Self::PREFIX, ::hex::encode(&bytes[..16])))
            }
        }

        $crate::macros::string_newtype!($name, $crate::ids::IdError);
    };
}

pub(crate) use prefixed_id;
pub(crate) use string_enum;
pub(crate) use string_newtype;

#[cfg(test)]
mod tests {
    use std::fmt::{Debug, Display};
    use std::str::FromStr;

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::{ApplicationId, DocumentId, IdError, RegistrationId, SubmissionId, SubscriptionId};

    /// What one `prefix` + 32 lowercase hex id type accepts and the exact
    /// error it gives for each kind of wrong text; `mistakes_first` for the
    /// types that name a common mistake (empty, whitespace, …) before
    /// looking at the prefix.
    fn check_prefixed_id<T>(prefix: &str, identifier: &str, mistakes_first: bool)
    where
        T: FromStr<Err = IdError>
            + TryFrom<String, Error = IdError>
            + AsRef<str>
            + Display
            + Debug
            + PartialEq
            + Serialize
            + DeserializeOwned,
    {
        let hex = "0123456789abcdef0123456789abcdef";
        let good = format!("{prefix}{hex}");
        let id: T = good.parse().unwrap();
        assert_eq!(id.as_ref(), good);
        assert_eq!(id.to_string(), good);
        assert_eq!(T::try_from(good.clone()), Ok(good.parse().unwrap()));
        let json = serde_json::to_value(&id).unwrap();
        assert_eq!(json, serde_json::Value::String(good.clone()));
        assert_eq!(serde_json::from_value::<T>(json).unwrap(), id);

        let reason = |s: &str| {
            let e = s.parse::<T>().unwrap_err();
            assert_eq!(e.identifier, identifier, "{s:?}");
            assert_eq!(T::try_from(s.to_owned()).unwrap_err(), e, "{s:?}");
            let de = serde_json::from_value::<T>(serde_json::Value::String(s.into()));
            assert_eq!(de.unwrap_err().to_string(), e.to_string(), "{s:?}");
            e.reason
        };
        let start = format!("must start with {prefix}");
        let shape = format!("must be {prefix} followed by 32 lowercase hex digits");
        let other = if prefix == "doc_" { "reg_" } else { "doc_" };
        assert_eq!(reason(&format!("{other}{hex}")), start);
        assert_eq!(reason(&format!("{}{hex}", prefix.to_uppercase())), start);
        assert_eq!(reason(hex), start);
        assert_eq!(reason(prefix), shape);
        assert_eq!(reason(&format!("{prefix}{}", &hex[1..])), shape);
        assert_eq!(reason(&format!("{good}0")), shape);
        assert_eq!(reason(&format!("{prefix}{}", hex.to_uppercase())), shape);
        assert_eq!(reason(&format!("{prefix}{}g", &hex[1..])), shape);
        if mistakes_first {
            assert_eq!(reason(""), "must not be empty");
            assert_eq!(
                reason(&format!("{good} ")),
                "contains whitespace; identifiers are taken exactly as sent, without trimming"
            );
            assert_eq!(
                reason(&format!("{prefix}０{}", &hex[1..])),
                "contains a full-width digit; only ASCII digits 0-9 are accepted"
            );
        } else {
            assert_eq!(reason(""), start);
            assert_eq!(reason(&format!("{good} ")), shape);
            assert_eq!(reason(&format!("{prefix}０{}", &hex[1..])), shape);
        }
    }

    #[test]
    fn prefixed_ids_accept_and_refuse_alike() {
        check_prefixed_id::<DocumentId>("doc_", "document_id", true);
        check_prefixed_id::<RegistrationId>("reg_", "registration_id", true);
        check_prefixed_id::<ApplicationId>("app_", "application_id", false);
        check_prefixed_id::<SubmissionId>("sub_", "submission_id", false);
        check_prefixed_id::<SubscriptionId>("ep_", "subscription_id", false);
    }
}
