//! Boilerplate generators shared by the domain types.
//!
//! Every closed set of wire names (roles, kinds, viewers, …) must behave the
//! same way — `as_str`, `ALL`, `FromStr`, `Display`, serde as the same string —
//! and every identifier newtype must expose the same conversions. Writing those
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

pub(crate) use string_enum;
pub(crate) use string_newtype;
