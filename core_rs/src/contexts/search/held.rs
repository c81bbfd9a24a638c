//! Postings inserts held back while a batch is applied and made at its end, grouped by word.
//! At a million products the words' bitmaps no longer fit in the caches: inserting each product's
//! words as it came took a cache miss a word, a third of indexing. Grouped, a word's bitmap is
//! visited once a batch, and its new slots, in order, join it as bitmaps of their own (`Made`).
//! Those are the same in both copies of the index: the copy that records makes them, the other
//! joins what it made (sorting the entries and making their bitmaps were a sixth of indexing).

use super::pairs::Pairs;
use super::{Postings, FIELDS};
use roaring::RoaringBitmap;

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

    /// The held inserts, sorted and made into bitmaps word by word; holds none after.
    pub fn take(&mut self) -> Made {
        sort_by_word_and_slot(&mut self.words, &mut self.sorted);
        let word = |entry: u64| (entry >> WORD_SHIFT) as u32;
        let words = self
            .words
            .chunk_by(|&a, &b| word(a) == word(b))
            .map(|run| (word(run[0]), NewSlots::of(run)))
            .collect();
        self.pairs.sort_unstable();
        let made = Made {
            words,
            pairs: std::mem::take(&mut self.pairs),
        };
        self.discard();
        made
    }

    /// Forgets the held inserts: the other copy made them (`Made`), in the same order.
    pub fn discard(&mut self) {
        for buffer in [&mut self.words, &mut self.sorted] {
            buffer.clear();
            buffer.shrink_to(KEPT);
        }
        self.pairs.clear();
        self.pairs.shrink_to(KEPT);
    }
}

/// The slots a batch adds to one word, by the best field holding the word there, and all of them.
pub struct NewSlots {
    pub fields: [RoaringBitmap; FIELDS.len()],
    pub any: RoaringBitmap,
}

impl NewSlots {
    /// The slots of a run of held entries of one word, in slot order.
    fn of(run: &[u64]) -> NewSlots {
        let slot = |entry: &u64| (entry >> SLOT_SHIFT) as u32;
        let bitmap = |slots: &mut dyn Iterator<Item = u32>| {
            RoaringBitmap::from_sorted_iter(slots).expect("slots in order, once each")
        };
        let in_field = |field: u64| bitmap(&mut run.iter().filter(|&e| e & 3 == field).map(slot));
        NewSlots {
            fields: [0, 1, 2, 3].map(in_field),
            any: bitmap(&mut run.iter().map(slot)),
        }
    }
}

/// Held inserts made: each word's new slots (`NewSlots`), and the word pairs' new slots, sorted
/// by pair and slot.
pub struct Made {
    words: Vec<(u32, NewSlots)>,
    pairs: Vec<((u32, u32), u32)>,
}

impl Made {
    /// Adds the new slots to the postings of their words and pairs.
    pub fn join(&self, words: &mut [(Box<str>, Postings)], pairs: &mut Pairs) {
        for (word, new) in &self.words {
            words[*word as usize].1.join(new);
        }
        for run in self.pairs.chunk_by(|a, b| a.0 == b.0) {
            pairs.insert_all(run[0].0, run.iter().map(|&(_, slot)| slot));
        }
    }
}

/// Sorts `entries` by word, then slot. They come in runs of one slot (a product's words, held
/// together): the runs are put in slot order (a sort of the batch's products, not of their
/// entries), then the entries radix sorted by word, `DIGIT` bits a pass over the bits the largest
/// word has, each pass keeping the order it found; `scratch` takes each pass. Two passes over the
/// entries where sorting by slot too took four.
fn sort_by_word_and_slot(entries: &mut Vec<u64>, scratch: &mut Vec<u64>) {
    let slot = |entry: u64| entry >> SLOT_SHIFT & u64::from(u32::MAX);
    let mut runs: Vec<&[u64]> = entries.chunk_by(|&a, &b| slot(a) == slot(b)).collect();
    runs.sort_by_key(|run| slot(run[0]));
    scratch.clear();
    runs.iter().for_each(|run| scratch.extend_from_slice(run));
    std::mem::swap(entries, scratch);
    let largest_word = entries.iter().map(|e| e >> WORD_SHIFT).max().unwrap_or(0);
    let word_bits = u64::BITS - largest_word.leading_zeros();
    for shift in (WORD_SHIFT..WORD_SHIFT + word_bits).step_by(DIGIT as usize) {
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
        // As indexing holds them: each product's words together, the products' slots in any order.
        let mut held: Vec<u64> = (0..300u64)
            .flat_map(|product| {
                let slot = product * 7_919 % 1_000;
                (0..40u64)
                    .map(move |i| ((i * 31 + product) % 2_500) << WORD_SHIFT | slot << 2 | (i % 4))
            })
            .collect();
        let mut expected = held.clone();
        expected.sort_by_key(|entry| entry >> SLOT_SHIFT);
        sort_by_word_and_slot(&mut held, &mut Vec::new());
        assert_eq!(held, expected);
        let mut none: Vec<u64> = Vec::new();
        sort_by_word_and_slot(&mut none, &mut Vec::new());
        assert!(none.is_empty());
    }
}
