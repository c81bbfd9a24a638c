//! Postings inserts held back while a batch is applied and made at its end, grouped by word.
//! At a million products the words' bitmaps no longer fit in the caches: inserting each product's
//! words as it came took a cache miss a word, a third of indexing. Grouped, a word's bitmap is
//! visited once a batch, and its new slots, in order, join it as bitmaps of their own.

use super::pairs::Pairs;
use super::Postings;

/// Word numbers must fit in the 30 bits above a slot and a field (a billion words).
const WORD_BITS: u32 = 30;
/// Where the slot and the word start in an entry.
const SLOT_SHIFT: u32 = 2;
const WORD_SHIFT: u32 = 34;
/// Bits sorted a pass.
const DIGIT: u32 = 11;
/// Entries a buffer keeps room for between batches: a large batch's room is given back, as the
/// index's memory is measured with it.
const KEPT: usize = 4096;

#[derive(Clone, Default)]
pub struct Held {
    /// `word << WORD_SHIFT | slot << SLOT_SHIFT | field`.
    words: Vec<u64>,
    /// Where `sort_by_word_and_slot` puts each pass.
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
            .push(u64::from(word) << WORD_SHIFT | u64::from(slot) << SLOT_SHIFT | field as u64);
    }

    /// Holds the insert of `slot` into the slots of the word pair `pair`.
    pub fn pair(&mut self, pair: (u32, u32), slot: u32) {
        self.pairs.push((pair, slot));
    }

    /// Makes the held inserts, word by word and pair by pair, and holds none after.
    pub fn make(&mut self, words: &mut [(Box<str>, Postings)], pairs: &mut Pairs) {
        sort_by_word_and_slot(&mut self.words, &mut self.sorted);
        let word = |entry: u64| entry >> WORD_SHIFT;
        for run in self.words.chunk_by(|&a, &b| word(a) == word(b)) {
            let slots = run
                .iter()
                .map(|&entry| ((entry >> SLOT_SHIFT) as u32, (entry & 3) as usize));
            words[word(run[0]) as usize].1.add_sorted(slots);
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

/// Sorts `entries` by word, then slot: a radix sort from the lowest bit of the slot, `DIGIT` bits
/// a pass over the bits the largest slot and the largest word have; `scratch` takes each pass.
/// A few passes over the entries, where sorting them as numbers compared each a score of times.
fn sort_by_word_and_slot(entries: &mut Vec<u64>, scratch: &mut Vec<u64>) {
    let bits = |largest: u64| u64::BITS - largest.leading_zeros();
    let largest = |shift: u32, mask: u64| entries.iter().map(|e| e >> shift & mask).max();
    let slot_bits = bits(largest(SLOT_SHIFT, u32::MAX.into()).unwrap_or(0));
    let word_bits = bits(largest(WORD_SHIFT, u64::MAX).unwrap_or(0));
    let passes = (SLOT_SHIFT..SLOT_SHIFT + slot_bits).step_by(DIGIT as usize);
    let word_passes = (WORD_SHIFT..WORD_SHIFT + word_bits).step_by(DIGIT as usize);
    for shift in passes.chain(word_passes) {
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
    fn entries_sort_by_word_then_slot() {
        // Words and slots across several digits, the fields left as they come.
        let mut entries: Vec<u64> = (0..5_000u64)
            .map(|i| (i * 7_919 % 3_000_000) << WORD_SHIFT | (i * 31 % 997) << 2 | (i % 4))
            .chain((0..50).map(|i| 5 << WORD_SHIFT | (50 - i) << 2))
            .collect();
        let mut expected = entries.clone();
        expected.sort_by_key(|entry| entry >> SLOT_SHIFT);
        sort_by_word_and_slot(&mut entries, &mut Vec::new());
        assert_eq!(entries, expected);
        let mut none: Vec<u64> = Vec::new();
        sort_by_word_and_slot(&mut none, &mut Vec::new());
        assert!(none.is_empty());
    }
}
