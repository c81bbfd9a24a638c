//! JSON output helpers shared by every response encoder.

/// Appends `bytes` (valid UTF-8) as a JSON string, escaping only what JSON requires.
///
/// Product texts rarely need an escape: each sixteen-byte chunk is copied and checked in the same
/// step, so a clean string is written without a second pass or a call to copy it; only a string
/// with an escape is written again, byte by byte from its first dirty chunk. (Checking byte by
/// byte took 40% of an uncached catalog page; checking a word at a time, then copying, still
/// took 60% of a listing's encoding.)
pub fn json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    let at = out.len();
    // SAFETY: the reserve above leaves room for `"`, `bytes` and `"`; the length is set only
    // over bytes written.
    unsafe {
        let start = out.as_mut_ptr().add(at);
        start.write(b'"');
        match copy_clean(bytes, start.add(1)) {
            None => {
                start.add(1 + bytes.len()).write(b'"');
                out.set_len(at + bytes.len() + 2);
            }
            Some(from) => {
                out.set_len(at + 1);
                escaped(out, bytes, from);
                out.push(b'"');
            }
        }
    }
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

/// Copies `bytes` to `to` a chunk at a time while looking for a byte to escape: None if there
/// is none, else where the first chunk with one starts. A string of a chunk or more ends with
/// the chunk of its last sixteen bytes (overlapping the one before); a shorter one is copied
/// in pieces (`copy_short`). No call to copy: most texts are short, and a call per text was a
/// sixth of encoding a listing.
///
/// # Safety
/// `to` must be valid for `bytes.len()` bytes of writes.
#[inline(always)]
unsafe fn copy_clean(bytes: &[u8], to: *mut u8) -> Option<usize> {
    let len = bytes.len();
    if len < CHUNK {
        // SAFETY: as this function's.
        return unsafe { copy_short(bytes, to) }.then_some(0);
    }
    let copy = |from: usize| {
        let chunk: [u8; CHUNK] = bytes[from..from + CHUNK].try_into().expect("a chunk");
        // SAFETY: `from + CHUNK` is at most `len`.
        unsafe { to.add(from).cast::<[u8; CHUNK]>().write_unaligned(chunk) };
        needs_escape(Chunk::from_le_bytes(chunk))
    };
    let whole = len - len % CHUNK;
    if let Some(dirty) = (0..whole).step_by(CHUNK).find(|&from| copy(from)) {
        return Some(dirty);
    }
    let last = len - CHUNK;
    (whole < len && copy(last)).then_some(last)
}

/// Copies a string shorter than a chunk (`copy_pieces`) and checks, on a chunk of its pieces
/// padded with spaces (which need no escape), whether it needs an escape.
///
/// # Safety
/// `to` must be valid for `bytes.len()` bytes of writes.
#[inline(always)]
unsafe fn copy_short(bytes: &[u8], to: *mut u8) -> bool {
    let mut checked = [b' '; CHUNK];
    // SAFETY: as this function's.
    unsafe { copy_pieces(bytes, to, &mut checked) };
    needs_escape(Chunk::from_le_bytes(checked))
}

/// Copies `bytes` (fewer than 2 CHUNK) to `to` without a call: as its first and its last 16, 8
/// or 4 bytes, which overlap, or byte by byte under 4. The pieces of a string shorter than a
/// chunk are also put side by side at the start of `seen`.
///
/// # Safety
/// `to` must be valid for `bytes.len()` bytes of writes.
#[inline(always)]
unsafe fn copy_pieces(bytes: &[u8], to: *mut u8, seen: &mut [u8; CHUNK]) {
    // SAFETY: as this function's.
    unsafe {
        match bytes.len() {
            CHUNK.. => {
                copy_ends::<CHUNK>(bytes, to);
            }
            8.. => {
                let (head, tail) = copy_ends::<8>(bytes, to);
                seen[..8].copy_from_slice(&head);
                seen[8..].copy_from_slice(&tail);
            }
            4.. => {
                let (head, tail) = copy_ends::<4>(bytes, to);
                seen[..4].copy_from_slice(&head);
                seen[4..8].copy_from_slice(&tail);
            }
            _ => {
                for (i, &byte) in bytes.iter().enumerate() {
                    to.add(i).write(byte);
                    seen[i] = byte;
                }
            }
        }
    }
}

/// Copies the first and the last `N` bytes of `bytes` (N <= len <= 2 N) to `to`, and returns
/// them.
///
/// # Safety
/// `to` must be valid for `bytes.len()` bytes of writes.
#[inline(always)]
unsafe fn copy_ends<const N: usize>(bytes: &[u8], to: *mut u8) -> ([u8; N], [u8; N]) {
    let last = bytes.len() - N;
    let head: [u8; N] = bytes[..N].try_into().expect("N bytes");
    let tail: [u8; N] = bytes[last..].try_into().expect("N bytes");
    // SAFETY: both pieces lie within the first `bytes.len()` bytes of `to`.
    unsafe {
        to.cast::<[u8; N]>().write_unaligned(head);
        to.add(last).cast::<[u8; N]>().write_unaligned(tail);
    }
    (head, tail)
}

/// Appends `bytes` as they are; short ones (a key, a number) are copied without a call, which
/// cost more than the copy.
#[inline(always)]
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() >= 2 * CHUNK {
        return out.extend_from_slice(bytes);
    }
    out.reserve(bytes.len());
    let at = out.len();
    // SAFETY: the reserve above leaves room for `bytes`; the length is set over them once
    // written.
    unsafe {
        copy_pieces(bytes, out.as_mut_ptr().add(at), &mut [0; CHUNK]);
        out.set_len(at + bytes.len());
    }
}

/// What `copy_clean` copies and checks at once: sixteen bytes, as one integer (two registers
/// where the target has no wider ones).
type Chunk = u128;
const CHUNK: usize = std::mem::size_of::<Chunk>();
const ONES: Chunk = Chunk::MAX / 0xff;
const HIGHS: Chunk = ONES * 0x80;

/// Whether any byte of `word` is below `n` (n <= 128): nonzero exactly then (the classic bit
/// trick; only which bytes it flags can be off, never whether one is flagged).
const fn any_byte_below(word: Chunk, n: u8) -> bool {
    word.wrapping_sub(ONES * n as Chunk) & !word & HIGHS != 0
}

/// Whether any byte of `word` is a control byte, a quote or a backslash.
const fn needs_escape(word: Chunk) -> bool {
    any_byte_below(word, 0x20)
        || any_byte_below(word ^ (ONES * b'"' as Chunk), 1)
        || any_byte_below(word ^ (ONES * b'\\' as Chunk), 1)
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
    put_bytes(out, itoa::Buffer::new().format(value).as_bytes());
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

    /// The chunked copy and check agree with a byte-by-byte escape for any text, after any output.
    #[test]
    fn json_string_matches_escaping_byte_by_byte() {
        use proptest::prelude::*;
        let texts = proptest::collection::vec(
            // Mostly clean, as product texts are: long clean runs, an escape now and then.
            prop_oneof![
                1 => Just(b'"'),
                1 => Just(b'\\'),
                1 => 0u8..0x20,
                30 => 0x20u8..0x7f,
                10 => 0x7fu8..=0xff
            ],
            0..60,
        );
        proptest!(|(text in texts, before in 0usize..20)| {
            let mut fast = vec![b'x'; before];
            json_string(&mut fast, &text);
            let mut slow = vec![b'x'; before];
            slow.push(b'"');
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
    fn put_bytes_appends_any_bytes_as_they_are() {
        for len in 0..80 {
            let bytes: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
            let mut out = b"before".to_vec();
            put_bytes(&mut out, &bytes);
            assert_eq!(out, [b"before".as_slice(), &bytes].concat(), "{len} bytes");
        }
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
