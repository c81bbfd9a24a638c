//! Word numbers by word. Indexing looks up about a hundred words a product, most of them a few
//! letters long: a word of up to 16 bytes is kept as one 128-bit number (its bytes, zero-padded:
//! a word holds no NUL), hashed and compared as that number, with no string to follow and no
//! `memcmp` call (looking words up in a map of strings was a fifth of indexing). Longer words
//! stay in a map of strings.

use hashbrown::HashTable;
use std::collections::HashMap;

/// The longest word kept as a number.
const SHORT: usize = 16;

#[derive(Clone, Default)]
pub struct Dictionary {
    short: HashTable<(u128, u32)>,
    long: HashMap<Box<str>, u32, ahash::RandomState>,
    hasher: ahash::RandomState,
}

/// `word` as a number, if it is short enough: its bytes as a little-endian number, read in two
/// overlapping loads (copied into a zeroed buffer first, reading the buffer back waited on the
/// copy's stores: a third of a look-up).
fn short_key(word: &str) -> Option<u128> {
    let bytes = word.as_bytes();
    let len = bytes.len();
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let key = match len {
        0..=3 => bytes
            .iter()
            .rev()
            .fold(0, |key, &byte| key << 8 | u128::from(byte)),
        4..=7 => u128::from(u32_at(0)) | u128::from(u32_at(len - 4)) << (8 * (len - 4)),
        8..=SHORT => u128::from(u64_at(0)) | u128::from(u64_at(len - 8)) << (8 * (len - 8)),
        _ => return None,
    };
    Some(key)
}

impl Dictionary {
    /// The number of `word`, if it has one.
    pub fn get(&self, word: &str) -> Option<u32> {
        match short_key(word) {
            Some(key) => self
                .short
                .find(self.hasher.hash_one(key), |&(k, _)| k == key)
                .map(|&(_, number)| number),
            None => self.long.get(word).copied(),
        }
    }

    /// Numbers `word`; false (and nothing changes) if it has a number already.
    pub fn insert(&mut self, word: &str, number: u32) -> bool {
        if self.get(word).is_some() {
            return false;
        }
        match short_key(word) {
            Some(key) => {
                let hasher = &self.hasher;
                let hash = hasher.hash_one(key);
                self.short
                    .insert_unique(hash, (key, number), |&(k, _)| hasher.hash_one(k));
            }
            None => _ = self.long.insert(word.into(), number),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_word_is_its_bytes_zero_padded() {
        let text = "abcdefghijklmnopq";
        for len in 0..=SHORT {
            let mut padded = [0u8; SHORT];
            padded[..len].copy_from_slice(&text.as_bytes()[..len]);
            assert_eq!(
                short_key(&text[..len]),
                Some(u128::from_le_bytes(padded)),
                "{len}"
            );
        }
        assert_eq!(short_key(text), None);
    }

    #[test]
    fn words_short_and_long_keep_their_numbers() {
        let words = [
            "a",
            "ab",
            "abc1",
            "eightchr",
            "fifteen-chars-x",
            "sixteen-chars-xy",
            "seventeen-chars-z",
            "ünïcödé",
            "a much longer word than sixteen bytes",
        ];
        let mut dictionary = Dictionary::default();
        for (number, word) in (0..).zip(words) {
            assert!(dictionary.insert(word, number));
        }
        assert!(!dictionary.insert("ab", 99), "a word numbered twice");
        for (number, word) in (0..).zip(words) {
            assert_eq!(dictionary.get(word), Some(number), "{word}");
        }
        // Prefixes and extensions of short words are other words.
        for absent in [
            "",
            "abc",
            "abc12",
            "eightch",
            "eightchrs",
            "sixteen-chars-x",
        ] {
            assert_eq!(dictionary.get(absent), None, "{absent}");
        }
    }
}
