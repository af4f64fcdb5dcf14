//! Strict MS932 (Windows-31J) decoding and encoding.
//!
//! `encoding_rs::SHIFT_JIS` is the WHATWG Shift_JIS, which is Microsoft's
//! code page 932: NEC special characters, NEC-selected and IBM extensions
//! (髙 U+9AD9, 﨑 U+FA11, …). Decoding never replaces: the first byte
//! sequence MS932 does not define is an error at its offset. The encoder
//! writes the IBM extension code of a character that also has an
//! NEC-selected one (as Windows does), so files written by Windows
//! software read back byte for byte.

use encoding_rs::{DecoderResult, EncoderResult, SHIFT_JIS};

/// Decodes MS932 bytes; `Err` is the byte offset of the first sequence
/// MS932 does not define.
pub fn decode(bytes: &[u8]) -> Result<String, usize> {
    let mut decoder = SHIFT_JIS.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(usize::MAX / 4);
    let mut out = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut out, true);
    match result {
        DecoderResult::InputEmpty => Ok(out),
        DecoderResult::Malformed(bad, after) => Err(read - after as usize - bad as usize),
        // The buffer was sized for the whole input.
        DecoderResult::OutputFull => Err(read),
    }
}

/// Encodes text as MS932; `Err` is the first character MS932 lacks.
pub fn encode(text: &str) -> Result<Vec<u8>, char> {
    let mut encoder = SHIFT_JIS.new_encoder();
    let capacity = encoder
        .max_buffer_length_from_utf8_without_replacement(text.len())
        .unwrap_or(usize::MAX / 4);
    let mut out = Vec::with_capacity(capacity);
    let (result, _) = encoder.encode_from_utf8_to_vec_without_replacement(text, &mut out, true);
    match result {
        EncoderResult::InputEmpty => Ok(out),
        EncoderResult::Unmappable(c) => Err(c),
        EncoderResult::OutputFull => Err('\u{FFFD}'),
    }
}

/// Whether the spec forbids `c` in an item even though MS932 can carry
/// it: 外字 (the user-defined area, decoded as private use), control
/// characters (line breaks are allowed in text items only, see
/// `allows_line_breaks`), and U+0080, which only the WHATWG decoder maps.
pub fn forbidden(c: char) -> bool {
    matches!(c, '\u{E000}'..='\u{F8FF}') || (c.is_control() && c != '\r' && c != '\n')
}

/// The 1-based row and column of byte `offset` of a CSV file: rows are
/// records (line breaks inside quotes do not count), columns are fields.
/// MS932 trail bytes are never `"`, `,`, CR or LF, so the bytes can be
/// scanned before they are decoded; `sjis` says the bytes are MS932
/// (false: UTF-8, whose multi-byte sequences hold no ASCII either).
pub fn position_in(bytes: &[u8], offset: usize, sjis: bool) -> (usize, usize) {
    let (mut row, mut column, mut quoted) = (1, 1, false);
    let mut i = 0;
    while i < offset.min(bytes.len()) {
        let b = bytes[i];
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && b == b',' {
            column += 1;
        } else if !quoted && b == b'\n' {
            row += 1;
            column = 1;
        } else if sjis && b >= 0x81 && !(0xA1..=0xDF).contains(&b) && i + 1 < offset {
            // A lead byte: skip its trail byte.
            i += 1;
        }
        i += 1;
    }
    (row, column)
}

/// [`position_in`] of MS932 bytes.
pub fn position(bytes: &[u8], offset: usize) -> (usize, usize) {
    position_in(bytes, offset, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itaiji_round_trip_through_their_ibm_codes() {
        // 髙 FB FC, 﨑 FA B1, ① 87 40, ｱ B1, ～ 81 60.
        let bytes = b"\xfb\xfc\xfa\xb1\x87\x40\xb1\x81\x60";
        let text = decode(bytes).unwrap();
        assert_eq!(text, "髙﨑①ｱ～");
        assert_eq!(encode(&text).unwrap(), bytes);
    }

    #[test]
    fn undefined_bytes_are_errors_at_their_offset() {
        assert_eq!(decode(b"ab\xa0cd"), Err(2));
        assert_eq!(decode(b"\x82\xa0\x82"), Err(2)); // truncated lead byte
        assert_eq!(decode(b"a\x81\x20"), Err(1)); // bad trail byte
        // UTF-8 is not MS932.
        assert!(decode("髙橋".as_bytes()).is_err());
    }

    #[test]
    fn gaiji_decode_to_private_use_and_are_forbidden() {
        let text = decode(b"\xf0\x40").unwrap();
        assert!(text.chars().all(forbidden));
        assert!(forbidden('\u{0080}') && forbidden('\t') && !forbidden('\n'));
        assert!(!forbidden('髙'));
    }

    #[test]
    fn characters_ms932_lacks_are_refused() {
        assert_eq!(encode("吉𠮷"), Err('𠮷'));
        assert_eq!(encode("ﾃｽﾄ😀"), Err('😀'));
        assert!(encode("髙﨑").is_ok());
    }

    #[test]
    fn positions_count_records_and_fields_outside_quotes() {
        let bytes: &[u8] = b"\"a\",\"b\"\r\n\"x,\ny\",\"\x82\xa0\"";
        assert_eq!(position(bytes, 0), (1, 1));
        assert_eq!(position(bytes, 5), (1, 2));
        let last = bytes.len() - 3;
        assert_eq!(position(bytes, last), (2, 2));
    }
}
