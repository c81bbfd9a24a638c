//! Postings inserts held back while a batch is applied and made at its end, grouped by word.
//! At a million products the words' bitmaps no longer fit in the caches: inserting each product's
//! words as it came took a cache miss a word, a third of indexing. Grouped, a word's bitmap is
//! visited once a batch, its inserts in the order their slots were taken (mostly ascending).

use super::pairs::Pairs;
use super::Postings;

/// Word numbers must fit in the 30 bits above a slot and a field (a billion words).
const WORD_BITS: u32 = 30;
/// Where the word starts in an entry.
const WORD_SHIFT: u32 = 34;
/// Bits of the word sorted a pass.
const DIGIT: u32 = 11;
/// Entries a buffer keeps room for between batches: a large batch's room is given back, as the
/// index's memory is measured with it.
const KEPT: usize = 4096;

#[derive(Clone, Default)]
pub struct Held {
    /// `word << WORD_SHIFT | slot << 2 | field`.
    words: Vec<u64>,
    /// Where `sort_by_word` puts each pass.
    sorted: Vec<u64>,
    /// (first word, second word) and slot.
    pairs: Vec<((u32, u32), u32)>,
}

impl Held {
    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.pairs.is_empty()
    }

    /// Holds the insert of `slot` into the postings of `word`, its best field `field`.
    pub fn word(&mut self, word: u32, field: usize, slot: u32) {
        assert!(word >> WORD_BITS == 0, "more words than an index holds");
        self.words
            .push(u64::from(word) << WORD_SHIFT | u64::from(slot) << 2 | field as u64);
    }

    /// Holds the insert of `slot` into the slots of the word pair `pair`.
    pub fn pair(&mut self, pair: (u32, u32), slot: u32) {
        self.pairs.push((pair, slot));
    }

    /// Makes the held inserts, word by word and pair by pair, and holds none after.
    pub fn make(&mut self, words: &mut [(Box<str>, Postings)], pairs: &mut Pairs) {
        sort_by_word(&mut self.words, &mut self.sorted);
        let word = |entry: u64| entry >> WORD_SHIFT;
        for run in self.words.chunk_by(|&a, &b| word(a) == word(b)) {
            let postings = &mut words[word(run[0]) as usize].1;
            for &entry in run {
                postings.insert((entry & 3) as usize, (entry >> 2) as u32);
            }
        }
        self.pairs.sort_unstable();
        for run in self.pairs.chunk_by(|a, b| a.0 == b.0) {
            pairs.insert_all(run[0].0, run.iter().map(|&(_, slot)| slot));
        }
        for buffer in [&mut self.words, &mut self.sorted] {
            buffer.clear();
            buffer.shrink_to(KEPT);
        }
        self.pairs.clear();
        self.pairs.shrink_to(KEPT);
    }
}

/// Sorts `entries` by word and keeps the order of each word's entries (a stable LSD radix sort,
/// `DIGIT` bits a pass over the bits the largest word number has); `scratch` takes each pass.
/// Faster than sorting them as numbers, and the slots stay in the order they were taken.
fn sort_by_word(entries: &mut Vec<u64>, scratch: &mut Vec<u64>) {
    let largest = entries.iter().map(|e| e >> WORD_SHIFT).max().unwrap_or(0);
    let bits = u64::BITS - largest.leading_zeros();
    for shift in (WORD_SHIFT..WORD_SHIFT + bits).step_by(DIGIT as usize) {
        let digit = |entry: u64| (entry >> shift) as usize & ((1 << DIGIT) - 1);
        let mut starts = [0usize; 1 << DIGIT];
        entries.iter().for_each(|&entry| starts[digit(entry)] += 1);
        let mut at = 0;
        for start in &mut starts {
            (*start, at) = (at, at + *start);
        }
        scratch.resize(entries.len(), 0);
        for &entry in entries.iter() {
            scratch[starts[digit(entry)]] = entry;
            starts[digit(entry)] += 1;
        }
        std::mem::swap(entries, scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_by_word_keeps_each_words_entries_in_order() {
        // Words across several digits, each with entries out of slot order.
        let mut entries: Vec<u64> = (0..5_000u64)
            .map(|i| (i * 7_919 % 3_000_000) << WORD_SHIFT | (i * 31 % 997) << 2 | (i % 4))
            .chain((0..50).map(|i| 5 << WORD_SHIFT | (50 - i) << 2))
            .collect();
        let mut expected = entries.clone();
        expected.sort_by_key(|entry| entry >> WORD_SHIFT);
        sort_by_word(&mut entries, &mut Vec::new());
        assert_eq!(entries, expected);
        let mut none: Vec<u64> = Vec::new();
        sort_by_word(&mut none, &mut Vec::new());
        assert!(none.is_empty());
    }
}
