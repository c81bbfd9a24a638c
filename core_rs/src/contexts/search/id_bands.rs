//! The slots split into bands by their products' ids (by `sort_key`, the ids' first bytes), each
//! band's ids all before the next band's: the first page of a large group of equal score (ordered
//! by id) is among the slots of its first bands, so a page reads a few hundredths of the group
//! rather than every slot of it (at 1M products a one-word query's best group holds tens of
//! thousands of slots, and reading each one's id key was a third of a search).
//!
//! Any split is correct; an even one is fast. The bounds are the keys at even ranks when the
//! bands are made, made again when one band grows to `GROWTH` times the size they were made for
//! (a catalog growing fourfold, or new ids all sorting after the others).

use roaring::RoaringBitmap;
use std::borrow::Cow;

/// Bands the slots are split into.
const BANDS: usize = 256;
/// A band may grow to this many times its size when made before the bands are made again.
const GROWTH: u64 = 4;
/// The least size a band is made for (a small catalog is not split finer than this).
const LEAST: u64 = 64;
/// A group is read by bands from this many times the page it must fill: its first few bands
/// then hold the page (below it, a band's intersection costs more than the slots it saves).
const FROM_PAGES: u64 = (BANDS / 4) as u64;

#[derive(Clone)]
pub struct IdBands {
    /// The least key of each band after the first, ascending (equal keys share a band).
    bounds: Vec<u64>,
    bands: Vec<RoaringBitmap>,
    /// The size at which a band is split again.
    most: u64,
}

impl Default for IdBands {
    fn default() -> Self {
        IdBands {
            bounds: Vec::new(),
            bands: vec![RoaringBitmap::new()],
            most: GROWTH * LEAST,
        }
    }
}

impl IdBands {
    /// The bands of the slots of `live`, whose id keys are `keys` (by slot), split at even ranks.
    pub fn of(keys: &[u64], live: &RoaringBitmap) -> IdBands {
        let mut sorted: Vec<u64> = live.iter().map(|slot| keys[slot as usize]).collect();
        sorted.sort_unstable();
        let size = (sorted.len() as u64 / BANDS as u64).max(LEAST);
        let mut bounds: Vec<u64> = sorted
            .iter()
            .skip(size as usize)
            .step_by(size as usize)
            .copied()
            .collect();
        bounds.dedup();
        let mut bands = vec![RoaringBitmap::new(); bounds.len() + 1];
        for slot in live {
            let band = band_of(&bounds, keys[slot as usize]);
            bands[band].push(slot);
        }
        IdBands {
            bounds,
            bands,
            most: GROWTH * size,
        }
    }

    /// Adds `slot`, whose product's id key is `key`; true when its band outgrew the split (make
    /// the bands again with `of`).
    pub fn insert(&mut self, slot: u32, key: u64) -> bool {
        let band = &mut self.bands[band_of(&self.bounds, key)];
        band.insert(slot);
        band.len() > self.most
    }

    pub fn remove(&mut self, slot: u32, key: u64) {
        self.bands[band_of(&self.bounds, key)].remove(slot);
    }

    /// The slots of `group` in its first bands holding `need` of them (all of a large group's first
    /// `need` by id are there), or the whole group when it is small beside `need`.
    pub fn first<'a>(&self, group: &'a RoaringBitmap, need: usize) -> Cow<'a, RoaringBitmap> {
        if group.len() < FROM_PAGES * need as u64 {
            return Cow::Borrowed(group);
        }
        let mut found = RoaringBitmap::new();
        for band in &self.bands {
            found |= group & band;
            if found.len() >= need as u64 {
                break;
            }
        }
        Cow::Owned(found)
    }
}

#[cfg(test)]
impl IdBands {
    /// Whether the bands hold exactly the slots of `live`, each in the band of its key (`keys`).
    pub fn hold_exactly(&self, keys: &[u64], live: &RoaringBitmap) -> bool {
        let held: u64 = self.bands.iter().map(RoaringBitmap::len).sum();
        held == live.len()
            && live
                .iter()
                .all(|slot| self.bands[band_of(&self.bounds, keys[slot as usize])].contains(slot))
    }
}

/// The band of the slots whose id key is `key`.
fn band_of(bounds: &[u64], key: u64) -> usize {
    bounds.partition_point(|&bound| bound <= key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_and_live(keys: &[u64]) -> RoaringBitmap {
        (0..keys.len() as u32).collect()
    }

    /// The `need` slots of `group` with the least keys, ties by slot.
    fn least(keys: &[u64], group: &RoaringBitmap, need: usize) -> Vec<u32> {
        let mut slots: Vec<u32> = group.iter().collect();
        slots.sort_by_key(|&slot| (keys[slot as usize], slot));
        slots.truncate(need);
        slots
    }

    #[test]
    fn the_first_bands_hold_a_groups_least_keys() {
        let keys: Vec<u64> = (0..100_000u64)
            .map(|n| n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 3)
            .collect();
        let bands = IdBands::of(&keys, &keys_and_live(&keys));
        for (every, need) in [(1, 24), (3, 100), (7, 5), (1, 1_000)] {
            let group: RoaringBitmap = (0..keys.len() as u32).step_by(every).collect();
            let first = bands.first(&group, need);
            assert!(first.len() < group.len(), "a large group is cut");
            let mut within = least(&keys, &first, need);
            within.sort_unstable();
            let mut expected = least(&keys, &group, need);
            expected.sort_unstable();
            assert_eq!(within, expected);
        }
    }

    #[test]
    fn equal_keys_share_a_band_and_small_groups_are_read_whole() {
        let keys: Vec<u64> = (0..50_000u64).map(|n| n / 1_000).collect();
        let bands = IdBands::of(&keys, &keys_and_live(&keys));
        for pair in bands.bounds.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        for (band, slots) in bands.bands.iter().enumerate() {
            for slot in slots {
                assert_eq!(band_of(&bands.bounds, keys[slot as usize]), band);
            }
        }
        let small: RoaringBitmap = (0..100).collect();
        assert!(matches!(bands.first(&small, 24), Cow::Borrowed(_)));
    }

    #[test]
    fn a_band_that_outgrows_the_split_asks_for_new_bands() {
        let mut bands = IdBands::default();
        let grown = (0..=GROWTH * LEAST).find(|&n| bands.insert(n as u32, n));
        assert_eq!(grown, Some(GROWTH * LEAST));
        let keys: Vec<u64> = (0..=GROWTH * LEAST).collect();
        let live = keys_and_live(&keys);
        let mut bands = IdBands::of(&keys, &live);
        assert!(bands.bands.len() > 1);
        bands.remove(3, 3);
        assert!(!bands.bands.iter().any(|band| band.contains(3)));
    }
}
