//! One copy of each product's bytes in the process: the catalog and the search models decode the
//! same bridged events (and load snapshots of the same products), and each took its own copy.
//! Decoding a product looks here first: bytes equal to the product last interned under its id
//! give that product back (another reference to its allocation) instead of a new one.
//!
//! Checkout's products use it too: a product checkout shows as the catalog holds it (the same
//! name, price and image) is the catalog's allocation (`checkout::Product::listed`).
//!
//! Only decoding, applying and snapshot loads use the table (on the projections' threads), never
//! a read. It holds a strong reference to the latest product of each id with the pim offset it is
//! at; the entries no model holds any more (only the table does) are dropped before a shard grows,
//! and a disable forgets its product at once.

use super::Product;
use hashbrown::HashTable;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

/// Shards of the table: the catalog and search projections decode at the same time, rarely in
/// the same shard.
const SHARDS: usize = 64;

struct Entry {
    product: Product,
    /// The pim offset of the change that gave the product (a snapshot's, if loaded from one).
    version: i64,
}

impl Entry {
    /// Whether a model still holds the product (not only the table).
    fn in_use(&self) -> bool {
        triomphe::ThinArc::strong_count(&self.product.0) > 1
    }
}

struct Shared {
    shards: Vec<Mutex<HashTable<Entry>>>,
    hasher: ahash::RandomState,
}

static PRODUCTS: LazyLock<Shared> = LazyLock::new(|| Shared {
    shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
    hasher: ahash::RandomState::new(),
});

type Table = HashTable<Entry>;

impl Shared {
    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// The shard of `hash`, locked. Bits 32-37 pick it: the table uses the lowest bits for the
    /// bucket and the highest 7 for its tags.
    fn lock(&self, hash: u64) -> MutexGuard<'_, Table> {
        let shard = &self.shards[(hash >> 32) as usize % SHARDS];
        shard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The hash of `id` and its shard, locked.
    fn shard(&self, id: &str) -> (u64, MutexGuard<'_, Table>) {
        let hash = self.hash(id);
        (hash, self.lock(hash))
    }

    fn rehash(&self, entry: &Entry) -> u64 {
        self.hash(entry.product.id())
    }
}

/// Product `id` with the bytes `view` at pim offset `version`: the interned product if its
/// view is the same, else `build()`, which is interned unless the interned product is newer and
/// still in use (a model lagging behind the other decodes an older product).
///
/// A shard stays locked for lookups and inserts only, not while a product is built or a found
/// product's bytes are compared with `view`: the catalog's and the search's snapshots load at once
/// beside other projections, on fewer cores than threads, and a thread preempted holding a lock
/// would stall the other at its shard.
pub fn shared(id: &str, view: &[u8], version: i64, build: impl FnOnce() -> Product) -> Product {
    let hash = PRODUCTS.hash(id);
    let held = PRODUCTS
        .lock(hash)
        .find(hash, |entry| entry.product.id() == id)
        .map(|entry| (entry.product.clone(), entry.version));
    if let Some((product, held_version)) = held {
        if product.view() == view {
            if held_version < version {
                raise_version(hash, &product, version);
            }
            return product;
        }
    }
    intern(hash, build(), version)
}

/// The product interned for `id`, if any: the latest one the catalog or the search decoded.
pub fn held(id: &str) -> Option<Product> {
    let (hash, table) = PRODUCTS.shard(id);
    table
        .find(hash, |entry| entry.product.id() == id)
        .map(|entry| entry.product.clone())
}

/// `product` (just built, bytes of pim offset `version`) in the table, or the one another thread
/// interned with the same bytes meanwhile.
fn intern(hash: u64, product: Product, version: i64) -> Product {
    let mut table = PRODUCTS.lock(hash);
    let id = product.id();
    if let Some(entry) = table.find_mut(hash, |entry| entry.product.id() == id) {
        if entry.product.view() == product.view() {
            entry.version = entry.version.max(version);
            return entry.product.clone();
        }
        if entry.version < version || !entry.in_use() {
            *entry = Entry {
                product: product.clone(),
                version,
            };
        }
        return product;
    }
    if table.len() == table.capacity() {
        sweep(&mut table);
    }
    let entry = Entry {
        product: product.clone(),
        version,
    };
    table.insert_unique(hash, entry, |entry| PRODUCTS.rehash(entry));
    product
}

/// The interned `product` is also the one of pim offset `version`, if it is still interned.
fn raise_version(hash: u64, product: &Product, version: i64) {
    let mut table = PRODUCTS.lock(hash);
    let id = product.id();
    if let Some(entry) = table.find_mut(hash, |entry| entry.product.id() == id) {
        if entry.product.same(product) {
            entry.version = entry.version.max(version);
        }
    }
}

/// Product `id` was disabled at pim offset `version`: the table lets go of it, unless it holds a
/// newer one (a model lagging behind the other decodes an older disable).
pub fn forget(id: &str, version: i64) {
    let (hash, mut table) = PRODUCTS.shard(id);
    if let Ok(entry) = table.find_entry(hash, |entry| entry.product.id() == id) {
        if entry.get().version <= version {
            entry.remove();
        }
    }
}

/// Room for `products` entries in all without growing: a snapshot load knows how many it brings,
/// and each growth rehashes every entry by reading its product's id (a cache miss each).
pub fn reserve(products: usize) {
    let per_shard = products.div_ceil(SHARDS);
    for shard in &PRODUCTS.shards {
        let mut table = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let more = per_shard.saturating_sub(table.len());
        table.reserve(more, |entry| PRODUCTS.rehash(entry));
    }
}

/// Drops the entries of products no model holds. If that freed less than a quarter of the
/// shard, it grows now, so that a shard of products in use is not swept again at every insert.
fn sweep(table: &mut Table) {
    let before = table.len();
    table.retain(|entry| entry.in_use());
    if table.len() * 4 > before * 3 {
        table.reserve(table.len(), |entry| PRODUCTS.rehash(entry));
    }
}

/// Whether the table holds a product of `id`, after a sweep of its shard.
#[cfg(test)]
fn holds_after_sweep(id: &str) -> bool {
    let (hash, mut table) = PRODUCTS.shard(id);
    table.retain(|entry| entry.in_use());
    table.find(hash, |entry| entry.product.id() == id).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::pim;

    /// A product decoded from a bridged event; ids are unique per test, as the table is shared.
    fn decoded(id: &str, name: &str, version: i64) -> Product {
        let product = Product::from_pim(&pim::Product {
            id: id.into(),
            name: name.into(),
            price: 100,
            ..Default::default()
        });
        let view = product.view().to_vec();
        shared(id, &view, version, || product)
    }

    #[test]
    fn equal_bytes_share_one_allocation() {
        let catalog = decoded("interned-equal", "Lamp", 1);
        let search = decoded("interned-equal", "Lamp", 1);
        assert!(catalog.same(&search));
    }

    #[test]
    fn changed_bytes_do_not_share() {
        let old = decoded("interned-changed", "Lamp", 1);
        let new = decoded("interned-changed", "Lamp II", 2);
        assert!(!old.same(&new));
        assert!(decoded("interned-changed", "Lamp II", 2).same(&new));
    }

    #[test]
    fn an_older_product_does_not_displace_a_newer_one_in_use() {
        let newer = decoded("interned-lagging", "Chair v2", 5);
        let older = decoded("interned-lagging", "Chair v1", 3);
        assert!(!older.same(&newer));
        assert!(decoded("interned-lagging", "Chair v2", 5).same(&newer));
    }

    #[test]
    fn an_older_product_displaces_a_newer_one_nobody_holds() {
        drop(decoded("interned-unheld", "Desk v2", 5));
        let older = decoded("interned-unheld", "Desk v1", 3);
        assert!(decoded("interned-unheld", "Desk v1", 3).same(&older));
    }

    #[test]
    fn a_dropped_product_frees_its_entry() {
        let product = decoded("interned-dropped", "Sofa", 1);
        assert!(holds_after_sweep("interned-dropped"));
        drop(product);
        assert!(!holds_after_sweep("interned-dropped"));
    }

    #[test]
    fn a_disable_forgets_the_product_unless_a_newer_one_is_interned() {
        let _held = decoded("interned-disabled", "Rug", 4);
        forget("interned-disabled", 3);
        assert!(holds_after_sweep("interned-disabled"));
        forget("interned-disabled", 4);
        assert!(!holds_after_sweep("interned-disabled"));
    }

    #[test]
    fn threads_decoding_the_same_products_share_them() {
        let decode_all = || {
            (0..2000)
                .map(|i| decoded(&format!("interned-thread-{i}"), "Stool", 1))
                .collect::<Vec<_>>()
        };
        let (first, second) = std::thread::scope(|scope| {
            let first = scope.spawn(decode_all);
            let second = scope.spawn(decode_all);
            (first.join().unwrap(), second.join().unwrap())
        });
        assert!(first.iter().zip(&second).all(|(a, b)| a.same(b)));
    }
}
