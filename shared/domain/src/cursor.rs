//! Opaque pagination cursors.
//!
//! A cursor is the sequence number of the last item of a page, encoded as
//! base64url (no padding) of a version byte followed by the number as eight
//! big-endian bytes. Opaque so that clients do not build cursors by hand and
//! the encoding can change (bump the version) without breaking them. Not
//! authenticated: a forged cursor only moves where a page starts, and every
//! item is still filtered by the sharing rules.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The current encoding version.
const VERSION: u8 = 1;
/// Version byte plus an i64.
const ENCODED_BYTES: usize = 1 + 8;
/// base64 of [`ENCODED_BYTES`] bytes; anything longer is refused unread.
const ENCODED_CHARS: usize = ENCODED_BYTES.div_ceil(3) * 4;

/// A cursor was not one the hub issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not canonical unpadded base64url of the right length.
    #[error("the cursor is not one the hub issued (bad encoding)")]
    Malformed,
    /// A version this hub does not know.
    #[error("the cursor is from an unsupported version {0}")]
    UnknownVersion(u8),
}

/// Namespace for encoding and decoding cursors.
#[derive(Debug)]
pub enum Cursor {}

impl Cursor {
    /// The cursor that continues after `after_seq`.
    pub fn encode(after_seq: i64) -> String {
        let mut bytes = [0u8; ENCODED_BYTES];
        bytes[0] = VERSION;
        bytes[1..].copy_from_slice(&after_seq.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The sequence number a cursor continues after.
    pub fn decode(cursor: &str) -> Result<i64, CursorError> {
        if cursor.len() != ENCODED_CHARS {
            return Err(CursorError::Malformed);
        }
        // The engine refuses padding and non-zero trailing bits, so each
        // value has exactly one accepted spelling.
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| CursorError::Malformed)?;
        let bytes: [u8; ENCODED_BYTES] = bytes.try_into().map_err(|_| CursorError::Malformed)?;
        if bytes[0] != VERSION {
            return Err(CursorError::UnknownVersion(bytes[0]));
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[1..]);
        Ok(i64::from_be_bytes(seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(Cursor::encode(0), "AQAAAAAAAAAA");
        assert_eq!(Cursor::decode("AQAAAAAAAAAA"), Ok(0));
        assert_eq!(Cursor::decode(&Cursor::encode(42)), Ok(42));
        assert_eq!(Cursor::decode(""), Err(CursorError::Malformed));
        assert_eq!(Cursor::decode("AQAAAAAAAAAA="), Err(CursorError::Malformed));
        assert_eq!(Cursor::decode("AQAAAAAAAAA+"), Err(CursorError::Malformed));
        assert_eq!(
            Cursor::decode("AgAAAAAAAAAA"),
            Err(CursorError::UnknownVersion(2))
        );
    }

    proptest! {
        #[test]
        fn round_trip(seq in any::<i64>()) {
            let c = Cursor::encode(seq);
            prop_assert_eq!(c.len(), ENCODED_CHARS);
            prop_assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            prop_assert_eq!(Cursor::decode(&c), Ok(seq));
        }

        #[test]
        fn garbage_is_refused(s in "\\PC{0,40}") {
            // Either refused, or it is exactly the canonical cursor of its value.
            if let Ok(seq) = Cursor::decode(&s) {
                prop_assert_eq!(Cursor::encode(seq), s);
            }
        }

        #[test]
        fn near_misses_are_refused(seq in any::<i64>(), at in 0usize..12, bad in "[+/=. ]") {
            let c = Cursor::encode(seq);
            let mut broken = c.clone();
            broken.replace_range(at..at + 1, &bad);
            prop_assert!(Cursor::decode(&broken).is_err());
            prop_assert!(Cursor::decode(&c[..11]).is_err());
            assert!(Cursor::decode(&format!("{c}A")).is_err());
        }
    }
}
