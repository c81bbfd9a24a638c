//! Protobuf messages generated from proto/ at build time, and the borrowed field reader the
//! response encoders use to read stored product bytes without allocating.

#[allow(clippy::all, clippy::pedantic)]
pub mod pim {
    include!(concat!(env!("OUT_DIR"), "/shop.pim.rs"));
}

#[allow(clippy::all, clippy::pedantic)]
pub mod catalog {
    include!(concat!(env!("OUT_DIR"), "/shop.catalog.rs"));
}

#[allow(clippy::all, clippy::pedantic)]
pub mod fulfilment {
    include!(concat!(env!("OUT_DIR"), "/shop.fulfilment.rs"));
}

#[allow(clippy::all, clippy::pedantic)]
pub mod cms {
    include!(concat!(env!("OUT_DIR"), "/shop.cms.rs"));
}

#[allow(clippy::all, clippy::pedantic)]
pub mod shoppers {
    include!(concat!(env!("OUT_DIR"), "/shop.shoppers.rs"));
}

#[allow(clippy::all, clippy::pedantic)]
pub mod web {
    include!(concat!(env!("OUT_DIR"), "/shop.web.rs"));
}

#[allow(clippy::all, clippy::pedantic)]
pub mod checkout {
    include!(concat!(env!("OUT_DIR"), "/shop.checkout.rs"));
}

/// Why bytes could not be turned into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<prost::DecodeError> for DecodeError {
    fn from(err: prost::DecodeError) -> Self {
        DecodeError(err.to_string())
    }
}

/// One field of a protobuf message, borrowed from the encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    Varint(u64),
    /// Length-delimited: a string, bytes or an embedded message.
    Bytes(&'a [u8]),
    /// Fixed 64 or 32 bits.
    Fixed(&'a [u8]),
}

/// Iterates the top-level fields of an encoded message; stops at the end or at the first
/// malformed byte (stored bytes were validated by prost when they were decoded).
pub struct FieldReader<'a> {
    rest: &'a [u8],
}

impl<'a> FieldReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        FieldReader { rest: bytes }
    }

    /// The bytes not read yet.
    #[cfg(test)]
    pub fn unread(&self) -> &'a [u8] {
        self.rest
    }

    /// True once every byte was read; false after a malformed field stopped the iteration.
    pub fn at_end(&self) -> bool {
        self.rest.is_empty()
    }

    fn varint(&mut self) -> Option<u64> {
        // Field keys and the lengths of short strings, most varints read, take one byte.
        if let Some((&byte, rest)) = self.rest.split_first() {
            if byte < 0x80 {
                self.rest = rest;
                return Some(u64::from(byte));
            }
        }
        self.long_varint()
    }

    fn long_varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.rest.split_first()?;
            self.rest = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    fn skip(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(head)
    }
}

impl<'a> Iterator for FieldReader<'a> {
    type Item = (u32, Field<'a>);

    /// Inlined: called, a field came back through memory, and a listing's summaries waited on
    /// reading it back (a quarter of encoding a page from the cache). A malformed field is left
    /// unread, so that `at_end` tells it from the end even when it is the last byte.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let start = self.rest;
        let field = self.field();
        if field.is_none() {
            self.rest = start;
        }
        field
    }
}

impl<'a> FieldReader<'a> {
    #[inline(always)]
    fn field(&mut self) -> Option<(u32, Field<'a>)> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).ok()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => Field::Fixed(self.skip(8)?),
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                Field::Bytes(self.skip(len)?)
            }
            5 => Field::Fixed(self.skip(4)?),
            _ => return None,
        };
        Some((number, field))
    }
}

/// Appends `value` as a protobuf varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a length-delimited field.
pub fn put_bytes_field(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_varint(out, (u64::from(number) << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Bytes `value` takes as a varint.
pub fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends a varint field, omitting it when zero as proto3 does.
pub fn put_int64_field(out: &mut Vec<u8>, number: u32, value: i64) {
    if value != 0 {
        put_varint(out, u64::from(number) << 3);
        put_varint(out, value as u64);
    }
}

/// Texts a product's fields hold in property tests: empty (absent), or a few letters among which
/// a quote, an accent and a newline may be.
#[cfg(test)]
pub fn any_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![Just(String::new()), "[a-z\"é\n]{1,12}"]
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn field_reader_reads_what_prost_writes() {
        let product = pim::Product {
            id: "p1".into(),
            price: -5,
            name: "Näme".into(),
            disabled: true,
            ..Default::default()
        };
        let bytes = product.encode_to_vec();
        let fields: Vec<_> = FieldReader::new(&bytes).collect();
        assert_eq!(
            fields,
            vec![
                (1, Field::Bytes(b"p1")),
                (2, Field::Varint((-5i64) as u64)),
                (3, Field::Bytes("Näme".as_bytes())),
                (9, Field::Varint(1)),
            ]
        );
    }

    /// A field cut short, even at the message's last bytes, is not the message's end.
    #[test]
    fn a_field_cut_short_is_not_the_end() {
        let whole = pim::Product {
            id: "p1".into(),
            price: 300,
            ..Default::default()
        }
        .encode_to_vec();
        let mut reader = FieldReader::new(&whole);
        assert_eq!(reader.by_ref().count(), 2);
        assert!(reader.at_end());
        // A key without its value, a varint without its last byte, a string without its end.
        for cut in [
            &whole[..whole.len() - 2],
            &whole[..whole.len() - 1],
            &whole[..3],
        ] {
            let mut reader = FieldReader::new(cut);
            reader.by_ref().count();
            assert!(!reader.at_end(), "{cut:?}");
        }
    }

    #[test]
    fn varint_len_matches_put_varint() {
        for value in [0, 1, 127, 128, 16_383, 16_384, u64::MAX >> 1, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(varint_len(value), out.len(), "{value}");
        }
    }

    #[test]
    fn field_reader_stops_on_truncated_input() {
        assert_eq!(FieldReader::new(&[0x0a, 0x05, b'a']).count(), 0);
        assert_eq!(FieldReader::new(&[0x10, 0xff]).count(), 0);
    }

    #[test]
    fn put_helpers_round_trip_through_prost() {
        let mut out = Vec::new();
        put_bytes_field(&mut out, 1, b"id-1");
        put_int64_field(&mut out, 2, 1234);
        put_int64_field(&mut out, 9, 0);
        let view = catalog::ProductView::decode(out.as_slice()).unwrap();
        assert_eq!(view.id, "id-1");
        assert_eq!(view.price, 1234);
    }
}
