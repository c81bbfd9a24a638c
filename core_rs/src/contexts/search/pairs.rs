//! The word pairs of the short fields (name, category): for each two words that stand next to
//! each other there, in that order, the slots whose product holds them so. Proximity ranks by
//! them with bitmap operations: the slots where consecutive query words are neighbours are a
//! union of a few pairs' slots, never a look at each matching product.

use crate::snapshot::{self, Reader, SnapshotError, Writer};
use roaring::{MultiOps, RoaringBitmap};
use std::collections::BTreeMap;

/// The fields whose neighbouring words are indexed (`FIELDS` positions): those a result card
/// shows. Pairs of the long texts would take more memory than the rest of the index.
pub const PAIRED_FIELDS: [usize; 2] = [0, 1];

/// Up to this many second words, a first word's pairs are looked up one by one; beyond, its
/// pairs are scanned (a short prefix typed last matches thousands of words).
const LOOKUPS: usize = 16;

#[derive(Clone, Default)]
pub struct Pairs {
    /// Slots by (first word, second word), the words by number; no pair holds an empty bitmap.
    slots: BTreeMap<(u32, u32), RoaringBitmap>,
}

impl Pairs {
    /// Inserts each of `slots` into the slots of `pair`: one look-up for them all.
    pub fn insert_all(&mut self, pair: (u32, u32), slots: impl IntoIterator<Item = u32>) {
        self.slots.entry(pair).or_default().extend(slots);
    }

    pub fn remove(&mut self, pair: (u32, u32), slot: u32) {
        if let Some(slots) = self.slots.get_mut(&pair) {
            slots.remove(slot);
            if slots.is_empty() {
                self.slots.remove(&pair);
            }
        }
    }

    /// The slots where one of the words `firsts` stands right before one of `seconds` (word
    /// numbers; `seconds` sorted).
    pub fn near(&self, firsts: &[u32], seconds: &[u32]) -> RoaringBitmap {
        let mut found: Vec<&RoaringBitmap> = Vec::new();
        for &first in firsts {
            if seconds.len() <= LOOKUPS {
                let pairs = seconds.iter().map(|&second| (first, second));
                found.extend(pairs.filter_map(|pair| self.slots.get(&pair)));
            } else {
                let after = self.slots.range((first, 0)..=(first, u32::MAX));
                found.extend(after.filter_map(|(&(_, second), slots)| {
                    seconds.binary_search(&second).is_ok().then_some(slots)
                }));
            }
        }
        found.union()
    }

    /// Bytes of the pairs' bitmaps (serialized size, close to what they hold in memory).
    pub fn bytes(&self) -> usize {
        self.slots
            .values()
            .map(RoaringBitmap::serialized_size)
            .sum()
    }

    /// Saved as: how many, then each pair's two word numbers and its bitmap.
    pub fn save(&self, out: &mut Writer<'_>) {
        out.len(self.slots.len());
        let mut buffer = Vec::new();
        for (&(first, second), slots) in &self.slots {
            out.u32(first);
            out.u32(second);
            buffer.clear();
            slots.serialize_into(&mut buffer).expect("writes to memory");
            out.blob(&buffer);
        }
    }

    /// The pairs `save` wrote, of words numbered below `words`.
    pub fn restore(input: &mut Reader<'_>, words: usize) -> snapshot::Result<Pairs> {
        let refuse = |why: &str| Err(SnapshotError(why.into()));
        let mut pairs = Pairs::default();
        for _ in 0..input.len(12)? {
            let pair = (input.u32()?, input.u32()?);
            let slots = RoaringBitmap::deserialize_from(input.blob()?);
            let Ok(slots) = slots else {
                return refuse("a word pair's slots are damaged");
            };
            if pair.0 as usize >= words || pair.1 as usize >= words || slots.is_empty() {
                return refuse("a word pair names an unknown word or no slot");
            }
            if pairs.slots.insert(pair, slots).is_some() {
                return refuse("a word pair is saved twice");
            }
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_and_scans_find_the_same_pairs() {
        let mut pairs = Pairs::default();
        for second in 0..40 {
            pairs.insert_all((1, second), [second]);
        }
        pairs.insert_all((2, 5), [100]);
        let seconds: Vec<u32> = (0..40).step_by(2).collect();
        assert!(seconds.len() > LOOKUPS);
        let scanned = pairs.near(&[1, 2], &seconds);
        let looked_up: RoaringBitmap = seconds
            .chunks(4)
            .map(|few| pairs.near(&[1, 2], few))
            .union();
        assert_eq!(scanned, looked_up);
        assert_eq!(scanned, seconds.iter().copied().collect::<RoaringBitmap>());
        pairs.remove((2, 5), 100);
        assert!(
            !pairs.slots.contains_key(&(2, 5)),
            "an emptied pair is dropped"
        );
    }
}
