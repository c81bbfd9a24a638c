//! A product id as checkout and fulfilment hold it: one reference-counted allocation that both
//! copies of both models share, behind a thin pointer, so that a hash map slot keyed by it is 8
//! bytes smaller than one keyed by an `Arc<str>`. Maps keyed by it are looked up by `&str`: it
//! hashes and compares as its text. `IdMap` is the map they are held in.

use crate::order_index::prefetch_lines;
use crate::snapshot::{self, Persist, Reader, Writer};
use hashbrown::HashTable;
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use triomphe::ThinArc;

#[derive(Clone)]
pub struct Id(ThinArc<(), u8>);

impl Id {
    /// The process's allocation of `id`: checkout and fulfilment decode the same products' ids
    /// from their own topics, and each took its own (64 bytes a product at a million).
    pub fn new(id: &str) -> Id {
        HELD.id(id)
    }

    /// The process's allocations of `ids`, in order: as `new` each, but each shard is locked
    /// once for all its ids, so that their look-ups overlap (behind a lock taken per id, each
    /// look-up's cache misses waited for the last one's).
    pub fn new_all(ids: &[&str]) -> Vec<Id> {
        HELD.ids(ids)
    }

    /// Makes room for `total` ids in the process's table before a snapshot load makes that many,
    /// so that it does not grow step by step (each step rehashes every id, reading each one's
    /// allocation: a cache miss an id).
    pub fn reserve(total: usize) {
        HELD.reserve(total);
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: built from a `str` and never changed.
        unsafe { std::str::from_utf8_unchecked(&self.0.slice) }
    }

    /// Whether both are the same allocation.
    pub fn same(&self, other: &Id) -> bool {
        self.0.ptr() == other.0.ptr()
    }
}

/// Every id some model holds, once, in shards that the projections' apply threads (the only
/// callers of `Id::new` but tests) rarely meet in. An id only the table holds is dropped before
/// its shard grows.
struct Held {
    shards: Vec<Mutex<HashTable<Id>>>,
    hasher: ahash::RandomState,
}

static HELD: LazyLock<Held> = LazyLock::new(|| Held {
    shards: (0..16).map(|_| Mutex::default()).collect(),
    hasher: ahash::RandomState::new(),
});

impl Held {
    fn reserve(&self, total: usize) {
        let per_shard = total.div_ceil(self.shards.len()) * 9 / 8;
        for shard in &self.shards {
            let mut table = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let more = per_shard.saturating_sub(table.len());
            table.reserve(more, self.rehash());
        }
    }

    fn id(&self, id: &str) -> Id {
        let hash = self.hasher.hash_one(id);
        self.held_in(&mut self.lock(hash), hash, id)
    }

    fn ids(&self, ids: &[&str]) -> Vec<Id> {
        let hashes: Vec<u64> = ids.iter().map(|id| self.hasher.hash_one(id)).collect();
        let shard_of = |hash| self.shard_number(hash);
        super::in_shards(
            &hashes,
            shard_of,
            |hash| self.lock(hash),
            |table, at| Some(self.held_in(table, hashes[at], ids[at])),
        )
        .into_iter()
        .flatten()
        .collect()
    }

    /// Bits 32 and up pick the shard: the table uses the lowest for the slot, the highest 7 for
    /// its tags.
    fn shard_number(&self, hash: u64) -> usize {
        (hash >> 32) as usize % self.shards.len()
    }

    /// The shard of `hash`, locked.
    fn lock(&self, hash: u64) -> MutexGuard<'_, HashTable<Id>> {
        self.shards[self.shard_number(hash)]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `id` (of hash `hash`) as `table`, its shard, holds it; made and held there if it is not.
    fn held_in(&self, table: &mut HashTable<Id>, hash: u64, id: &str) -> Id {
        if let Some(held) = table.find(hash, |held| held.as_str() == id) {
            return held.clone();
        }
        if table.len() == table.capacity() {
            table.retain(|held| ThinArc::strong_count(&held.0) > 1);
        }
        let made = Id(ThinArc::from_header_and_slice((), id.as_bytes()));
        table.insert_unique(hash, made.clone(), self.rehash());
        made
    }

    /// How a shard's table hashes an id it holds when it grows.
    fn rehash(&self) -> impl Fn(&Id) -> u64 + '_ {
        |held| self.hasher.hash_one(held.as_str())
    }
}

impl From<&str> for Id {
    fn from(id: &str) -> Id {
        Id::new(id)
    }
}

impl From<String> for Id {
    fn from(id: String) -> Id {
        Id::new(&id)
    }
}

impl Deref for Id {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Id {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// As `str` hashes, which `Borrow<str>` requires.
impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Id) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Id {}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_str().fmt(f)
    }
}

/// Saved as a string: the snapshot format of an id held as a `String` before.
impl Persist for Id {
    const MIN_BYTES: usize = 4;
    fn save(&self, out: &mut Writer<'_>) {
        out.str(self);
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        Ok(Id::new(input.str()?))
    }
    fn prefetch(&self) {
        prefetch_lines(self.as_ptr(), self.len());
    }
}

/// A map from product ids, laid out for a million of them: the entries side by side in a vector
/// and a hash table of their 4-byte positions. A hash map of the entries themselves (16 bytes for
/// an id and a stock level) holds 2,097,152 slots for a million, which it reached at 917,504
/// (7/8 of 2^20): 35 MB, where positions and entries take 27. Ids are never removed (a product
/// disabled or out of stock stays), so positions never move.
#[derive(Clone)]
pub struct IdMap<V> {
    positions: HashTable<u32>,
    entries: Vec<(Id, V)>,
    hasher: ahash::RandomState,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            positions: HashTable::new(),
            entries: Vec::new(),
            hasher: ahash::RandomState::new(),
        }
    }
}

impl<V> IdMap<V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&V> {
        Some(&self.entries[self.position(id)?].1)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        let at = self.position(id)?;
        Some(&mut self.entries[at].1)
    }

    /// `id`'s value, first set to `value()` under the key `key()` (an `Id` of the same text,
    /// shared with another map, say) if `id` has none.
    pub fn get_or_insert_with(
        &mut self,
        id: &str,
        key: impl FnOnce() -> Id,
        value: impl FnOnce() -> V,
    ) -> &mut V {
        self.get_or_insert_at(usize::MAX, id, key, value).1
    }

    /// As `get_or_insert_with`, after checking first whether `id` is the entry at position `hint`
    /// (no hashing, no probe: loading entries saved in this map's order, the next one usually
    /// is); with `id`'s position.
    pub fn get_or_insert_at(
        &mut self,
        hint: usize,
        id: &str,
        key: impl FnOnce() -> Id,
        value: impl FnOnce() -> V,
    ) -> (usize, &mut V) {
        let at = match self.entries.get(hint) {
            Some((held, _)) if held.as_str() == id => hint,
            _ => match self.position(id) {
                Some(at) => at,
                None => {
                    let key = key();
                    debug_assert_eq!(key.as_str(), id);
                    self.push(key, value())
                }
            },
        };
        (at, &mut self.entries[at].1)
    }

    /// Makes room for `total` entries, so that loading that many does not grow the map step by
    /// step (each step rehashes every position, reading its entry's id).
    pub fn reserve(&mut self, total: usize) {
        let more = total.saturating_sub(self.len());
        self.positions
            .reserve(more, rehash(&self.entries, &self.hasher));
        self.entries.reserve(more);
    }

    /// The entries in the order their ids were first inserted.
    pub fn iter(&self) -> impl Iterator<Item = (&Id, &V)> {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    fn position(&self, id: &str) -> Option<usize> {
        let entries = &self.entries;
        let same = |&at: &u32| entries[at as usize].0.as_str() == id;
        let at = self.positions.find(self.hasher.hash_one(id), same)?;
        Some(*at as usize)
    }

    /// Adds an entry for an id not held yet; its position.
    fn push(&mut self, id: Id, value: V) -> usize {
        let at = self.entries.len();
        let position = u32::try_from(at).expect("fewer than 2^32 ids");
        let hash = self.hasher.hash_one(id.as_str());
        self.positions
            .insert_unique(hash, position, rehash(&self.entries, &self.hasher));
        self.entries.push((id, value));
        at
    }
}

/// How a map's table of positions hashes a position when it grows: by its entry's id.
fn rehash<'a, V>(
    entries: &'a [(Id, V)],
    hasher: &'a ahash::RandomState,
) -> impl Fn(&u32) -> u64 + 'a {
    |&at| hasher.hash_one(entries[at as usize].0.as_str())
}

impl<V: fmt::Debug> fmt::Debug for IdMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{Id, IdMap};
    use std::collections::HashMap;

    #[test]
    fn a_map_keyed_by_ids_is_looked_up_by_their_text() {
        let map: HashMap<Id, i64> = [(Id::new("p1"), 1), (Id::new("ü2"), 2)]
            .into_iter()
            .collect();
        assert_eq!(
            (map.get("p1"), map.get("ü2"), map.get("p3")),
            (Some(&1), Some(&2), None)
        );
        let id = Id::new("p1");
        assert!(id.same(&id.clone()) && id == Id::new("p1") && id != Id::new("p2"));
    }

    #[test]
    fn an_id_map_is_a_map_by_the_ids_text() {
        let mut map = IdMap::default();
        let first = Id::new("p0");
        for n in 0..10_000 {
            // Through every growth of the table: positions are rehashed from the entries.
            let id = format!("p{n}");
            let key = || if n == 0 { first.clone() } else { Id::new(&id) };
            assert_eq!(*map.get_or_insert_with(&id, key, || n), n);
        }
        *map.get_or_insert_with("p7", || unreachable!(), || unreachable!()) += 100;
        assert_eq!(
            (map.len(), map.get("p0"), map.get("p7")),
            (10_000, Some(&0), Some(&107))
        );
        assert_eq!((map.get("p10000"), map.get("")), (None, None));
        // The entry keeps the key it was made with.
        assert!(map.iter().next().unwrap().0.same(&first));
        let summed: i64 = map.iter().map(|(_, n)| n).sum();
        assert_eq!(summed, (0..10_000).sum::<i64>() + 100);
    }

    #[test]
    fn a_hint_is_checked_before_the_look_up_and_a_wrong_one_changes_nothing() {
        let mut map = IdMap::default();
        for (n, id) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(map.get_or_insert_at(n, id, || Id::new(id), || n).0, n);
        }
        let mut found = |hint, id: &str| {
            let (at, value) = map.get_or_insert_at(hint, id, || Id::new(id), || 9);
            (at, *value)
        };
        assert_eq!(found(1, "b"), (1, 1), "the hinted entry");
        assert_eq!(found(0, "c"), (2, 2), "a wrong hint: looked up");
        assert_eq!(found(usize::MAX, "a"), (0, 0), "a hint past the end");
        assert_eq!(found(0, "d"), (3, 9), "a new id: pushed");
        assert_eq!((map.len(), map.get("d")), (4, Some(&9)));
    }

    #[test]
    fn ids_made_a_batch_at_a_time_are_those_made_one_at_a_time() {
        let held = Id::new("batch-held");
        let texts: Vec<String> = (0..3000).map(|n| format!("batch-{}", n % 1500)).collect();
        let mut texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        texts.push("batch-held");
        let made = Id::new_all(&texts);
        assert_eq!(made.len(), texts.len());
        assert!(made
            .iter()
            .zip(&texts)
            .all(|(id, text)| id.as_str() == *text));
        assert!(made
            .iter()
            .zip(&texts)
            .all(|(id, text)| id.same(&Id::new(text))));
        assert!(
            made[7].same(&made[1507]),
            "the same text twice in a batch: one allocation"
        );
        assert!(made[3000].same(&held));
    }

    #[test]
    fn an_id_is_one_allocation_while_held_and_dropped_after() {
        let id = Id::new("one allocation");
        assert!(Id::new("one allocation").same(&id));
        for n in 0..100_000 {
            Id::new(&format!("dropped at once {n}"));
        }
        // Each held by the table alone, dropped as its shard filled: few are left. Only this
        // test's are counted, and loosely: tests running beside it hold ids of their own in the
        // same process-wide table, which makes its shards larger (12,194 entries in all seen).
        let held: usize = super::HELD
            .shards
            .iter()
            .map(|s| {
                let shard = s.lock().unwrap();
                shard
                    .iter()
                    .filter(|id| id.as_str().starts_with("dropped at once"))
                    .count()
            })
            .sum();
        assert!(held < 25_000, "{held}");
        assert!(Id::new("one allocation").same(&id));
    }
}
