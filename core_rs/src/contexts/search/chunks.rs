//! Slots handed out by category, in chunks of `CHUNK` consecutive slots that each hold products of
//! one category: the category facet counts a result per chunk (the bits of a byte of its bitmap)
//! rather than per matching slot, whatever the order in which products arrive.

use roaring::RoaringBitmap;
use std::cell::RefCell;

/// Slots per chunk: one byte of a bitmap's word. Each category leaves at most one chunk partly
/// empty, so larger chunks waste more slots where categories are many and small.
pub const CHUNK: u32 = 8;
/// The free mask of a chunk with no product.
const EMPTY: u8 = u8::MAX;
const NONE: u32 = u32::MAX;

#[derive(Clone, Default)]
pub struct Chunks {
    /// The category of each chunk (any for an empty chunk).
    categories: Vec<u32>,
    /// The free slots of each chunk, bit i for its slot i.
    free: Vec<u8>,
    /// Per category, its chunks with a free slot and a product.
    open: Vec<Vec<u32>>,
    /// Where each chunk is in its category's `open` (NONE when it is not there).
    open_at: Vec<u32>,
    /// Chunks without a product, the last emptied taken first.
    empty: Vec<u32>,
}

impl Chunks {
    /// Slots of all chunks: the slots are numbered from 0 to this.
    pub fn slots(&self) -> usize {
        self.free.len() * CHUNK as usize
    }

    /// The category of the products in chunk `chunk`.
    pub fn category(&self, chunk: u32) -> u32 {
        self.categories[chunk as usize]
    }

    /// A free slot for a product of `category`: in one of its chunks if one has room, else in an
    /// empty chunk or a new one.
    pub fn take(&mut self, category: u32) -> u32 {
        let chunk = match self
            .open
            .get(category as usize)
            .and_then(|open| open.last())
        {
            Some(&chunk) => chunk,
            None => self.new_chunk(category),
        };
        let bits = &mut self.free[chunk as usize];
        let at = bits.trailing_zeros();
        *bits &= !(1 << at);
        if *bits == 0 {
            self.close(chunk);
        }
        chunk * CHUNK + at
    }

    /// Frees `slot`; its chunk empties with its last product.
    pub fn give_back(&mut self, slot: u32) {
        let chunk = slot / CHUNK;
        let bits = &mut self.free[chunk as usize];
        let was = *bits;
        *bits |= 1 << (slot % CHUNK);
        if was == 0 {
            self.reopen(chunk);
        } else if *bits == EMPTY {
            self.close(chunk);
            self.empty.push(chunk);
        }
    }

    /// The chunks of slots whose products are of `categories` (None for a free slot), as a
    /// snapshot holds them; None if a chunk holds two categories or the slots end inside a chunk.
    pub fn of_slots(categories: &[Option<u32>]) -> Option<Chunks> {
        if categories.len() % CHUNK as usize != 0 {
            return None;
        }
        let mut chunks = Chunks::default();
        for (chunk, slots) in (0u32..).zip(categories.chunks(CHUNK as usize)) {
            let (mut category, mut free) = (None, 0u8);
            for (at, slot) in slots.iter().enumerate() {
                match *slot {
                    None => free |= 1 << at,
                    Some(other) if category.is_some_and(|held| held != other) => return None,
                    Some(held) => category = Some(held),
                }
            }
            chunks.categories.push(category.unwrap_or(NONE));
            chunks.free.push(free);
            chunks.open_at.push(NONE);
            match category {
                None => chunks.empty.push(chunk),
                Some(_) if free != 0 => chunks.reopen(chunk),
                Some(_) => {}
            }
        }
        Some(chunks)
    }

    fn new_chunk(&mut self, category: u32) -> u32 {
        let chunk = self.empty.pop().unwrap_or_else(|| {
            self.categories.push(NONE);
            self.free.push(EMPTY);
            self.open_at.push(NONE);
            (self.free.len() - 1) as u32
        });
        self.categories[chunk as usize] = category;
        self.reopen(chunk);
        chunk
    }

    /// Lists `chunk` among its category's chunks with room.
    fn reopen(&mut self, chunk: u32) {
        let category = self.categories[chunk as usize] as usize;
        if self.open.len() <= category {
            self.open.resize_with(category + 1, Vec::new);
        }
        self.open_at[chunk as usize] = self.open[category].len() as u32;
        self.open[category].push(chunk);
    }

    /// Takes `chunk` out of its category's chunks with room.
    fn close(&mut self, chunk: u32) {
        let open = &mut self.open[self.categories[chunk as usize] as usize];
        let at = std::mem::replace(&mut self.open_at[chunk as usize], NONE) as usize;
        open.swap_remove(at);
        if let Some(&moved) = open.get(at) {
            self.open_at[moved as usize] = at as u32;
        }
    }
}

/// The cookie of roaring's portable format without run containers, the one this crate writes.
const NO_RUNS: u32 = 12346;
/// In that format a container of more values than this is a bitmap of 2^16 bits, else an array.
const ARRAY_MOST: usize = 4096;
const BITMAP_BYTES: usize = 1 << 13;

thread_local! {
    /// A bitmap serialized, kept between calls (a dense one takes 8 KiB per 65,536 slots).
    static BYTES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Calls `count(chunk, n)` for each chunk holding n of `slots` (a chunk may come more than once).
/// The bitmap's bits are read from roaring's portable format (github.com/RoaringBitmap/
/// RoaringFormatSpec), where a chunk is one byte: a dense result costs a step per chunk, not one
/// per slot.
pub fn per_chunk(slots: &RoaringBitmap, mut count: impl FnMut(u32, u32)) {
    BYTES.with_borrow_mut(|bytes| {
        bytes.clear();
        slots.serialize_into(&mut *bytes).expect("writes to memory");
        if read_u32(bytes, 0) != NO_RUNS {
            // A layout this reader does not know (a later roaring): slot by slot.
            return slots.iter().for_each(|slot| count(slot / CHUNK, 1));
        }
        let containers = read_u32(bytes, 4) as usize;
        let mut at = 8 + 8 * containers;
        for n in 0..containers {
            let key = u32::from(read_u16(bytes, 8 + 4 * n));
            let len = usize::from(read_u16(bytes, 10 + 4 * n)) + 1;
            let first = (key << 16) / CHUNK;
            if len > ARRAY_MOST {
                per_chunk_of_bits(&bytes[at..at + BITMAP_BYTES], first, &mut count);
                at += BITMAP_BYTES;
            } else {
                for value in bytes[at..at + 2 * len].chunks_exact(2) {
                    count(
                        first + u32::from(u16::from_le_bytes([value[0], value[1]])) / CHUNK,
                        1,
                    );
                }
                at += 2 * len;
            }
        }
    });
}

/// Calls `count(chunk, n)` for each chunk of a bitmap container's `bits` (a byte a chunk, the
/// first `first`) holding n slots; eight chunks at a time past those holding none.
fn per_chunk_of_bits(bits: &[u8], first: u32, count: &mut impl FnMut(u32, u32)) {
    for (eight, at) in bits.chunks_exact(8).zip((first..).step_by(8)) {
        if u64::from_le_bytes(eight.try_into().expect("eight bytes")) == 0 {
            continue;
        }
        for (chunk, &byte) in (at..).zip(eight) {
            if byte != 0 {
                count(chunk, byte.count_ones());
            }
        }
    }
}

fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The slots held and their categories, as the index keeps them.
    type Held = Vec<(u32, u32)>;

    /// Whether a chunk holding products of `category` had a free slot.
    fn room_in(held: &Held, chunks: &Chunks, category: u32) -> bool {
        let used = |chunk: u32| held.iter().filter(|h| h.0 / CHUNK == chunk).count();
        held.iter()
            .filter(|h| h.1 == category)
            .any(|h| used(h.0 / CHUNK) < CHUNK as usize && chunks.category(h.0 / CHUNK) == category)
    }

    /// Takes a slot for `category`, checking it was free and is in one of its chunks with room
    /// when it had one.
    fn take(chunks: &mut Chunks, held: &mut Held, category: u32) -> Result<(), TestCaseError> {
        let had_room = room_in(held, chunks, category);
        let slot = chunks.take(category);
        prop_assert!(
            held.iter().all(|h| h.0 != slot),
            "slot {} handed out twice",
            slot
        );
        let chunk_had_it = held.iter().any(|h| h.0 / CHUNK == slot / CHUNK);
        prop_assert!(!had_room || chunk_had_it, "a new chunk while one had room");
        prop_assert!((slot as usize) < chunks.slots());
        held.push((slot, category));
        Ok(())
    }

    proptest! {
        #[test]
        fn chunks_hold_one_category_and_fill_before_growing(
            steps in prop::collection::vec((0u32..4, 0u8..3, any::<prop::sample::Index>()), 0..400),
        ) {
            let mut chunks = Chunks::default();
            let mut held = Held::new();
            let mut most = 0;
            for (category, what, which) in steps {
                if what == 0 && !held.is_empty() {
                    let (slot, _) = held.swap_remove(which.index(held.len()));
                    chunks.give_back(slot);
                } else {
                    take(&mut chunks, &mut held, category)?;
                }
                for &(slot, category) in &held {
                    prop_assert_eq!(chunks.category(slot / CHUNK), category);
                }
                // A chunk is only added when every chunk holds a product.
                most = most.max(held.len());
                prop_assert!(chunks.slots() <= most * CHUNK as usize);
            }
            // Read back from the slots' categories, as a snapshot is, the chunks go on alike.
            let mut categories = vec![None; chunks.slots()];
            held.iter().for_each(|&(slot, category)| categories[slot as usize] = Some(category));
            let mut restored = Chunks::of_slots(&categories).expect("one category a chunk");
            for category in 0..4 {
                take(&mut restored, &mut held, category)?;
            }
        }

        #[test]
        fn counts_by_chunk_are_counts_by_slot(
            slots in prop::collection::btree_set(0u32..300_000, 0..40_000),
        ) {
            let bitmap: RoaringBitmap = slots.iter().copied().collect();
            let mut by_chunk = vec![0u32; 300_000 / CHUNK as usize];
            per_chunk(&bitmap, |chunk, n| by_chunk[chunk as usize] += n);
            let mut by_slot = vec![0u32; by_chunk.len()];
            slots.iter().for_each(|slot| by_slot[(slot / CHUNK) as usize] += 1);
            prop_assert_eq!(by_chunk, by_slot);
        }
    }

    #[test]
    fn a_chunk_of_two_categories_is_refused() {
        let mut categories = vec![None; 2 * CHUNK as usize];
        categories[9] = Some(1);
        assert!(Chunks::of_slots(&categories).is_some());
        categories[10] = Some(2);
        assert!(Chunks::of_slots(&categories).is_none());
        assert!(Chunks::of_slots(&categories[..9]).is_none());
    }
}
