//! JSON output helpers shared by every response encoder.

/// Appends `bytes` (valid UTF-8) as a JSON string, escaping only what JSON requires.
///
/// Product texts rarely need an escape: the whole string is checked first, a word at a time, and
/// copied in one piece when clean; only a string with an escape is written byte by byte from its
/// first one. (Checking byte by byte took 40% of an uncached catalog page, and a word at a time
/// with a copy per word still half of a listing's encoding.)
pub fn json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    match first_dirty_word(bytes) {
        None => out.extend_from_slice(bytes),
        Some(from) => escaped(out, bytes, from),
    }
    out.push(b'"');
}

/// Writes `bytes` escaped, copying the clean `..from` in one piece.
#[cold]
fn escaped(out: &mut Vec<u8>, bytes: &[u8], from: usize) {
    let mut start = 0;
    for (j, &byte) in bytes.iter().enumerate().skip(from) {
        if let Some(escape) = escape_of(byte) {
            out.extend_from_slice(&bytes[start..j]);
            push_escape(out, byte, escape);
            start = j + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Where the first eight-byte word with a byte to escape starts; None if there is none. The last
/// partial word is padded with spaces, which need no escape.
fn first_dirty_word(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    for (n, word) in words.by_ref().enumerate() {
        if needs_escape(u64::from_le_bytes(word.try_into().expect("eight bytes"))) {
            return Some(n * 8);
        }
    }
    let rest = words.remainder();
    let mut last = [b' '; 8];
    last[..rest.len()].copy_from_slice(rest);
    needs_escape(u64::from_le_bytes(last)).then(|| bytes.len() - rest.len())
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `word` is below `n` (n <= 128): nonzero exactly then (the classic bit
/// trick; only which bytes it flags can be off, never whether one is flagged).
const fn any_byte_below(word: u64, n: u8) -> bool {
    word.wrapping_sub(ONES * n as u64) & !word & HIGHS != 0
}

/// Whether any byte of `word` is a control byte, a quote or a backslash.
const fn needs_escape(word: u64) -> bool {
    any_byte_below(word, 0x20)
        || any_byte_below(word ^ (ONES * b'"' as u64), 1)
        || any_byte_below(word ^ (ONES * b'\\' as u64), 1)
}

/// How `byte` is written in a JSON string when not as itself; empty means `\u00XX`.
fn escape_of(byte: u8) -> Option<&'static [u8]> {
    match byte {
        b'"' => Some(b"\\\""),
        b'\\' => Some(b"\\\\"),
        b'\n' => Some(b"\\n"),
        b'\r' => Some(b"\\r"),
        b'\t' => Some(b"\\t"),
        0..=0x1f => Some(b""),
        _ => None,
    }
}

fn push_escape(out: &mut Vec<u8>, byte: u8, escape: &[u8]) {
    if escape.is_empty() {
        out.extend_from_slice(b"\\u00");
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 0xf)]);
    } else {
        out.extend_from_slice(escape);
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends a decimal integer.
pub fn json_int(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends where a page answer stands in its listing, as `,"total":…,"page":…,"pages":…,
/// "per_page":…,"sort":"…"`: the members after the items of every paged answer (a catalog page,
/// a page of search results), in the API's documented order, so a client pages through any of
/// them the same way.
pub fn paging_json(
    out: &mut Vec<u8>,
    total: usize,
    page: usize,
    pages: usize,
    per_page: usize,
    sort: &str,
) {
    out.extend_from_slice(b",\"total\":");
    json_int(out, total as i64);
    out.extend_from_slice(b",\"page\":");
    json_int(out, page as i64);
    out.extend_from_slice(b",\"pages\":");
    json_int(out, pages as i64);
    out.extend_from_slice(b",\"per_page\":");
    json_int(out, per_page as i64);
    out.extend_from_slice(b",\"sort\":");
    json_string(out, sort.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_only_what_it_must() {
        let mut out = Vec::new();
        json_string(&mut out, "a\"b\\c\nd\u{1}é€".as_bytes());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001é€\""
        );
    }

    /// The word-at-a-time check agrees with a byte-by-byte escape for any text, at any alignment.
    #[test]
    fn json_string_matches_escaping_byte_by_byte() {
        use proptest::prelude::*;
        let texts = proptest::collection::vec(
            prop_oneof![
                Just(b'"'),
                Just(b'\\'),
                0u8..0x20,
                0x20u8..0x7f,
                0x7fu8..=0xff
            ],
            0..40,
        );
        proptest!(|(text in texts)| {
            let mut fast = Vec::new();
            json_string(&mut fast, &text);
            let mut slow = vec![b'"'];
            for &byte in &text {
                match escape_of(byte) {
                    Some(escape) => push_escape(&mut slow, byte, escape),
                    None => slow.push(byte),
                }
            }
            slow.push(b'"');
            prop_assert_eq!(fast, slow);
        });
    }

    #[test]
    fn paging_fields_come_in_the_documented_order() {
        let mut out = Vec::new();
        paging_json(&mut out, 51, 3, 6, 10, "name");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#","total":51,"page":3,"pages":6,"per_page":10,"sort":"name""#
        );
    }
}
