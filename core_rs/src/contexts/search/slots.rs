//! Slots by product id without a copy of the ids: the table holds slot numbers only, hashed and
//! compared by the id in the product view their slot holds. A map from owned ids cost each of the
//! model's two copies about 100 bytes a product (the table's keys and an allocation per id).

use super::Doc;
use hashbrown::HashTable;

#[derive(Clone, Default)]
pub struct Slots {
    table: HashTable<u32>,
    hasher: ahash::RandomState,
}

/// The id of the product in `slot`; every slot of the table holds one.
fn id_in(docs: &[Option<Doc>], slot: u32) -> &str {
    docs[slot as usize]
        .as_ref()
        .map_or("", |doc| doc.product.id())
}

impl Slots {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The slot of product `id`.
    pub fn get(&self, docs: &[Option<Doc>], id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.table
            .find(hash, |&slot| id_in(docs, slot) == id)
            .copied()
    }

    /// Adds `slot`, whose product `docs` holds (its id is in no other slot).
    pub fn insert(&mut self, docs: &[Option<Doc>], slot: u32) {
        let hash = self.hasher.hash_one(id_in(docs, slot));
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, slot, |&other| hasher.hash_one(id_in(docs, other)));
    }

    /// Room for `more` slots without growing: a snapshot knows how many it holds, and each growth
    /// rehashes every slot by reading its product's id (a cache miss each).
    pub fn reserve(&mut self, docs: &[Option<Doc>], more: usize) {
        let hasher = &self.hasher;
        self.table
            .reserve(more, |&slot| hasher.hash_one(id_in(docs, slot)));
    }

    /// Takes out the slot of product `id`, whose product `docs` still holds.
    pub fn remove(&mut self, docs: &[Option<Doc>], id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        let entry = self
            .table
            .find_entry(hash, |&slot| id_in(docs, slot) == id)
            .ok()?;
        Some(entry.remove().0)
    }
}
