//! HTTP query strings, read as the API reads them (`shop/api/http.py`, `query_params`): the
//! catalog's page requests are parsed here, in one call, rather than in Python on every page.

use std::borrow::Cow;

/// The (name, value) pairs of a query string as Python's `parse_qsl(keep_blank_values=True,
/// errors="strict")` reads it: split at every `&`, empty parts skipped, each part split at its
/// first `=` (none: an empty value), `+` a space, `%XX` escapes decoded and any other `%` kept.
/// None if the query is not ASCII or its decoded bytes are not UTF-8.
pub fn pairs(raw: &[u8]) -> Option<Vec<(Cow<'_, str>, Cow<'_, str>)>> {
    let text = std::str::from_utf8(raw)
        .ok()
        .filter(|text| text.is_ascii())?;
    text.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            Some((unquote(name)?, unquote(value)?))
        })
        .collect()
}

/// `text` (ASCII) with `+` as a space and its `%XX` escapes decoded; None if that is not UTF-8.
fn unquote(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains(['%', '+']) {
        return Some(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes[i] {
            b'%' => bytes.get(i + 1..i + 3).and_then(hex_byte),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, other) => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
}

/// Whether `text` is a whole number as the API takes one: 1 to 18 ASCII digits, nothing else.
pub fn whole_number(text: &str) -> Option<u64> {
    let digits = (1..=18).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().expect("at most 18 digits fit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: &str) -> Option<Vec<(String, String)>> {
        let found = pairs(raw.as_bytes())?;
        Some(
            found
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.into(), value.into())
    }

    #[test]
    fn pairs_split_as_parse_qsl_does() {
        assert_eq!(read(""), Some(vec![]));
        assert_eq!(
            read("a=1&&b&c=x=y&=z"),
            Some(vec![
                pair("a", "1"),
                pair("b", ""),
                pair("c", "x=y"),
                pair("", "z")
            ])
        );
    }

    #[test]
    fn escapes_and_plus_are_decoded_and_odd_percents_kept() {
        assert_eq!(
            read("so%72t=a+b%20c&p=%C3%A9&q=%zz%4&r=100%"),
            Some(vec![
                pair("sort", "a b c"),
                pair("p", "é"),
                pair("q", "%zz%4"),
                pair("r", "100%")
            ])
        );
        assert_eq!(read("p=%2B"), Some(vec![pair("p", "+")]));
    }

    #[test]
    fn a_query_not_ascii_or_escaping_bad_utf8_is_refused() {
        assert_eq!(pairs("p=é".as_bytes()), None);
        assert_eq!(pairs(b"p=\xff"), None);
        assert_eq!(read("p=%C3"), None);
        assert_eq!(read("p=%C3x%A9"), None);
    }

    #[test]
    fn whole_numbers_are_ascii_digits_only() {
        assert_eq!(whole_number("007"), Some(7));
        assert_eq!(whole_number(&"9".repeat(18)), Some(999_999_999_999_999_999));
        for bad in ["", "-1", "+1", " 1", "1_0", "١٢", "²", &"9".repeat(19)] {
            assert_eq!(whole_number(bad), None, "{bad:?}");
        }
    }
}
