//! A product id as checkout and fulfilment hold it: one reference-counted allocation that both
//! copies of a model (and checkout's maps) share, behind a thin pointer, so that a hash map slot
//! keyed by it is 8 bytes smaller than one keyed by an `Arc<str>`. Maps keyed by it are looked up
//! by `&str`: it hashes and compares as its text. `IdMap` is the map they are held in.

use crate::order_index::prefetch_lines;
use crate::snapshot::{self, Persist, Reader, Writer};
use hashbrown::HashTable;
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use triomphe::ThinArc;

#[derive(Clone)]
pub struct Id(ThinArc<(), u8>);

impl Id {
    pub fn new(id: &str) -> Id {
        Id(ThinArc::from_header_and_slice((), id.as_bytes()))
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
        IdMap::with_capacity(0)
    }
}

impl<V> IdMap<V> {
    pub fn with_capacity(capacity: usize) -> Self {
        IdMap {
            positions: HashTable::with_capacity(capacity),
            entries: Vec::with_capacity(capacity),
            hasher: ahash::RandomState::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, id: &str) -> Option<usize> {
        let entries = &self.entries;
        self.positions
            .find(self.hasher.hash_one(id), |&at| {
                entries[at as usize].0.as_str() == id
            })
            .map(|&at| at as usize)
    }

    pub fn get(&self, id: &str) -> Option<&V> {
        self.get_key_value(id).map(|(_, value)| value)
    }

    pub fn get_key_value(&self, id: &str) -> Option<(&Id, &V)> {
        let (key, value) = &self.entries[self.position(id)?];
        Some((key, value))
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        let at = self.position(id)?;
        Some(&mut self.entries[at].1)
    }

    /// Sets `id`'s value; an id held already keeps its key (as a `HashMap` does) and gives back
    /// the value it had.
    pub fn insert(&mut self, id: Id, value: V) -> Option<V> {
        if let Some(at) = self.position(&id) {
            return Some(std::mem::replace(&mut self.entries[at].1, value));
        }
        let at = u32::try_from(self.entries.len()).expect("fewer than 2^32 ids");
        let (entries, hasher) = (&self.entries, &self.hasher);
        let rehash = |&at: &u32| hasher.hash_one(entries[at as usize].0.as_str());
        self.positions
            .insert_unique(hasher.hash_one(id.as_str()), at, rehash);
        self.entries.push((id, value));
        None
    }

    /// The entries in the order their ids were first inserted.
    pub fn iter(&self) -> impl Iterator<Item = (&Id, &V)> {
        self.entries.iter().map(|(key, value)| (key, value))
    }
}

impl<V: Persist> IdMap<V> {
    /// Restores what `save` wrote, each id held under `key(its text)`: the allocation another
    /// map holds already, say, so that both share it.
    pub fn restore_keyed(
        input: &mut Reader<'_>,
        mut key: impl FnMut(&str) -> Id,
    ) -> snapshot::Result<Self> {
        let len = input.len(Id::MIN_BYTES + V::MIN_BYTES)?;
        let mut map = IdMap::with_capacity(len);
        for _ in 0..len {
            let id = key(input.str()?);
            if map.insert(id, V::restore(input)?).is_some() {
                return snapshot::refuse("a key appears twice");
            }
        }
        Ok(map)
    }
}

/// Saved as a map of strings to values: the format of the `HashMap` it replaced.
impl<V: Persist> Persist for IdMap<V> {
    const MIN_BYTES: usize = 4;
    fn save(&self, out: &mut Writer<'_>) {
        // What the entries point to (ids, products) may be anywhere: each would be a cache miss.
        // Loading them some entries ahead overlaps these.
        const AHEAD: usize = 8;
        out.len(self.len());
        let mut ahead = self.entries.iter().skip(AHEAD);
        for (key, value) in &self.entries {
            if let Some((key, value)) = ahead.next() {
                key.prefetch();
                value.prefetch();
            }
            key.save(out);
            value.save(out);
        }
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        IdMap::restore_keyed(input, Id::new)
    }
}

impl<V: fmt::Debug> fmt::Debug for IdMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{Id, IdMap};
    use crate::snapshot::{written, Persist, Reader};
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
        assert!(id.same(&id.clone()) && !id.same(&Id::new("p1")) && id == Id::new("p1"));
    }

    #[test]
    fn an_id_map_is_a_map_by_the_ids_text() {
        let mut map = IdMap::default();
        let first = Id::new("p0");
        for n in 0..10_000 {
            // Through every growth of the table: positions are rehashed from the entries.
            let id = if n == 0 {
                first.clone()
            } else {
                Id::new(&format!("p{n}"))
            };
            assert_eq!(map.insert(id, n), None);
        }
        assert_eq!(map.insert(Id::new("p0"), -1), Some(0));
        *map.get_mut("p7").unwrap() += 100;
        assert_eq!(
            (map.len(), map.get("p0"), map.get("p7")),
            (10_000, Some(&-1), Some(&107))
        );
        assert_eq!((map.get("p10000"), map.get("")), (None, None));
        // The key first inserted stays, as a `HashMap`'s does.
        assert!(map.get_key_value("p0").unwrap().0.same(&first));
        let summed: i64 = map.iter().map(|(_, n)| n).sum();
        assert_eq!(summed, (1..10_000).sum::<i64>() - 1 + 100);
    }

    #[test]
    fn an_id_map_is_saved_as_the_hash_map_it_replaced() {
        let map: IdMap<i64> =
            [("a", 1), ("bé", -2)]
                .into_iter()
                .fold(IdMap::default(), |mut map, (id, n)| {
                    map.insert(Id::new(id), n);
                    map
                });
        let bytes = written(|out| map.save(out));
        let as_hash_map = HashMap::<String, i64>::restore(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(
            as_hash_map,
            HashMap::from([("a".into(), 1), ("bé".into(), -2)])
        );
        let bytes = written(|out| as_hash_map.save(out));
        let restored = IdMap::<i64>::restore(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(
            (restored.len(), restored.get("a"), restored.get("bé")),
            (2, Some(&1), Some(&-2))
        );
        let twice = written(|out| {
            out.len(2);
            for n in [1, 2] {
                out.str("a");
                out.i64(n);
            }
        });
        let err = IdMap::<i64>::restore(&mut Reader::new(&twice)).unwrap_err();
        assert!(err.0.contains("twice"), "{err}");
    }
}
