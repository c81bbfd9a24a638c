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
//!
//! The table is open addressing with linear probing, each slot 16 bytes: the product and, beside
//! its version, the low bits of its id's hash, which place it and tell most other ids apart without
//! reading their products. A look-up reads one line of the table, and a decoder starts loading that
//! line a few messages ahead (`prefetch`); hashbrown's table read two lines one after the other
//! (control bytes, then the entry), which a decoder could not ask for early: at a million products
//! they were half of what interning a product cost. A snapshot load looks its products up a batch
//! at a time (`shared_all`, `held_all`), each shard locked once for the batch's products in it: a
//! lock taken per product made each look-up's cache misses wait for the last one's.

use super::Product;
use crate::order_index::prefetch_lines;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

/// Shards of the table: the catalog and search projections decode at the same time, rarely in
/// the same shard.
const SHARDS: usize = 64;
/// Low bits of an id's hash kept in its slot: a shard of up to 2^24 slots places its products
/// from them alone, when it grows and when one is removed.
const TAG_BITS: u32 = 24;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
/// Versions (pim offsets) are kept in the slot's other 40 bits; a larger one counts as this one,
/// which only decides which of two products of an id stays interned, never what a model holds.
const MAX_VERSION: i64 = (1 << (64 - TAG_BITS)) - 1;

/// A product and where it stands, or nothing.
#[derive(Default)]
struct Slot {
    product: Option<Product>,
    /// The version above `TAG_BITS`, the hash's low bits below.
    meta: u64,
}

// The table's memory is hashbrown's less a control byte a slot only while a slot is two words.
const _: () = assert!(std::mem::size_of::<Slot>() == 16);

impl Slot {
    fn new(hash: u64, product: Product, version: i64) -> Slot {
        let version = version.clamp(0, MAX_VERSION) as u64;
        Slot {
            product: Some(product),
            meta: version << TAG_BITS | hash & TAG_MASK,
        }
    }

    fn tag(&self) -> u64 {
        self.meta & TAG_MASK
    }

    fn version(&self) -> i64 {
        (self.meta >> TAG_BITS) as i64
    }

    fn raise_version(&mut self, version: i64) {
        let version = version.clamp(0, MAX_VERSION).max(self.version()) as u64;
        self.meta = version << TAG_BITS | self.tag();
    }

    /// Whether a model still holds the product (not only the table).
    fn in_use(&self) -> bool {
        self.product
            .as_ref()
            .is_some_and(|product| triomphe::ThinArc::strong_count(&product.0) > 1)
    }
}

/// One shard: slots in a power of two, at most seven eighths of them used, so that every probe
/// meets an empty one.
#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    len: usize,
}

impl Table {
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    fn home(&self, tag: u64) -> usize {
        tag as usize & self.mask()
    }

    /// Where product `id` is.
    fn find(&self, hash: u64, id: &str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let tag = hash & TAG_MASK;
        let mut at = self.home(tag);
        loop {
            let slot = &self.slots[at];
            let product = slot.product.as_ref()?;
            if slot.tag() == tag && product.id() == id {
                return Some(at);
            }
            at = (at + 1) & self.mask();
        }
    }

    /// Adds a product whose id is in no slot yet; its shard grows first if it is full (after
    /// dropping the products no model holds, if that frees enough).
    fn insert(&mut self, slot: Slot) {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.make_room();
        }
        self.place(slot);
        self.len += 1;
    }

    fn place(&mut self, slot: Slot) {
        let mut at = self.home(slot.tag());
        while self.slots[at].product.is_some() {
            at = (at + 1) & self.mask();
        }
        self.slots[at] = slot;
    }

    /// Drops the slots of products no model holds. If that freed less than a quarter of the
    /// shard, it doubles now, so that a shard of products in use is not swept again at every insert.
    fn make_room(&mut self) {
        let (before, full) = (self.len, self.slots.len() * 7 / 8);
        let kept: Vec<Slot> = std::mem::take(&mut self.slots)
            .into_iter()
            .filter(Slot::in_use)
            .collect();
        let room = match kept.len() * 4 > before * 3 {
            true => 2 * full,
            false => full,
        };
        self.rebuild(kept, room);
    }

    /// Room for `more` products beyond those held without growing.
    fn reserve(&mut self, more: usize) {
        let wanted = self.len + more;
        if wanted * 8 > self.slots.len() * 7 {
            let held: Vec<Slot> = std::mem::take(&mut self.slots)
                .into_iter()
                .filter(|slot| slot.product.is_some())
                .collect();
            self.rebuild(held, wanted);
        }
    }

    /// The table of `slots`, with room for `room` products (and at least one more than it holds):
    /// the fewest slots, a power of two, of which they use at most seven eighths.
    fn rebuild(&mut self, slots: Vec<Slot>, room: usize) {
        let size = (room.max(slots.len() + 1) * 8)
            .div_ceil(7)
            .next_power_of_two()
            .max(16);
        assert!(
            size as u64 <= 1 << TAG_BITS,
            "more products than a shard places"
        );
        self.slots = std::iter::repeat_with(Slot::default).take(size).collect();
        self.len = slots.len();
        slots.into_iter().for_each(|slot| self.place(slot));
    }

    /// Takes the slot at `at` out, moving the slots after it that probed past it back, so that
    /// every probe still meets its product before an empty slot.
    fn remove(&mut self, mut at: usize) -> Slot {
        let removed = std::mem::take(&mut self.slots[at]);
        self.len -= 1;
        let mut next = at;
        loop {
            next = (next + 1) & self.mask();
            if self.slots[next].product.is_none() {
                return removed;
            }
            let home = self.home(self.slots[next].tag());
            let stays = match at <= next {
                true => at < home && home <= next,
                false => at < home || home <= next,
            };
            if !stays {
                self.slots.swap(at, next);
                at = next;
            }
        }
    }
}

/// A shard's table, and where its slots are for `prefetch`, which reads no slot and takes no
/// lock: updated under the lock whenever the slots move.
#[derive(Default)]
struct Shard {
    table: Mutex<Table>,
    slots_at: AtomicUsize,
    mask: AtomicUsize,
}

/// A locked shard; publishes where its slots are when unlocked.
struct Locked<'a> {
    table: MutexGuard<'a, Table>,
    shard: &'a Shard,
}

impl std::ops::Deref for Locked<'_> {
    type Target = Table;
    fn deref(&self) -> &Table {
        &self.table
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Table {
        &mut self.table
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let (at, mask) = (self.table.slots.as_ptr() as usize, self.table.mask());
        if self.shard.slots_at.load(Ordering::Relaxed) != at {
            self.shard.slots_at.store(at, Ordering::Relaxed);
        }
        if self.shard.mask.load(Ordering::Relaxed) != mask {
            self.shard.mask.store(mask, Ordering::Relaxed);
        }
    }
}

struct Shared {
    shards: Vec<Shard>,
    hasher: ahash::RandomState,
}

static PRODUCTS: LazyLock<Shared> = LazyLock::new(|| Shared {
    shards: (0..SHARDS).map(|_| Shard::default()).collect(),
    hasher: ahash::RandomState::new(),
});

impl Shared {
    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// The shard of `hash`: bits 32-37 pick it, the low bits place the product in it.
    fn shard_of(&self, hash: u64) -> &Shard {
        &self.shards[self.shard_number(hash)]
    }

    fn shard_number(&self, hash: u64) -> usize {
        (hash >> 32) as usize % SHARDS
    }

    /// The shard of `hash`, locked.
    fn lock(&self, hash: u64) -> Locked<'_> {
        self.shard_of(hash).lock()
    }
}

impl Shard {
    fn lock(&self) -> Locked<'_> {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        Locked { table, shard: self }
    }
}

/// Starts loading the slot where product `id` would be, without waiting for it: a decoder calls
/// it a few messages ahead of decoding the one with this id.
pub fn prefetch(id: &str) {
    let hash = PRODUCTS.hash(id);
    let shard = PRODUCTS.shard_of(hash);
    let slots = shard.slots_at.load(Ordering::Relaxed) as *const Slot;
    let at = hash as usize & shard.mask.load(Ordering::Relaxed);
    // Stale or torn, the address is only prefetched, never read.
    prefetch_lines(slots.wrapping_add(at).cast(), std::mem::size_of::<Slot>());
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
    let held = {
        let table = PRODUCTS.lock(hash);
        table.find(hash, id).map(|at| {
            let slot = &table.slots[at];
            (slot.product.clone(), slot.version())
        })
    };
    if let Some((Some(product), held_version)) = held {
        if product.view() == view {
            if held_version < version {
                raise_version(hash, &product, version);
            }
            return product;
        }
    }
    intern(hash, build(), version)
}

/// `shared` for a batch of products (`items`: each one's id and view) at pim offset `version`,
/// in order; `build(at)` makes item `at`'s product when none is interned alike. Each shard is
/// locked once to find the batch's products and once to intern those built.
pub fn shared_all(
    items: &[(&str, &[u8])],
    version: i64,
    mut build: impl FnMut(usize) -> Product,
) -> Vec<Product> {
    let hashes: Vec<u64> = items.iter().map(|(id, _)| PRODUCTS.hash(id)).collect();
    let found = in_shards(&hashes, |table, at| {
        let slot = &table.slots[table.find(hashes[at], items[at].0)?];
        Some((slot.product.clone()?, slot.version()))
    });
    let mut built = Vec::new();
    let mut products: Vec<Option<Product>> = found
        .into_iter()
        .enumerate()
        .map(|(at, found)| match found {
            Some((product, held_version)) if product.view() == items[at].1 => {
                if held_version < version {
                    raise_version(hashes[at], &product, version);
                }
                Some(product)
            }
            _ => {
                built.push((at, build(at)));
                None
            }
        })
        .collect();
    let built_hashes: Vec<u64> = built.iter().map(|(at, _)| hashes[*at]).collect();
    let interned = in_shards(&built_hashes, |table, n| {
        Some(intern_in(
            table,
            built_hashes[n],
            built[n].1.clone(),
            version,
        ))
    });
    for ((at, _), product) in built.iter().zip(interned) {
        products[*at] = product;
    }
    products.into_iter().flatten().collect()
}

/// `look(table, at)` for each of `hashes`, in order, with its shard locked: once a shard.
fn in_shards<T>(
    hashes: &[u64],
    look: impl FnMut(&mut Table, usize) -> Option<T>,
) -> Vec<Option<T>> {
    let shard_of = |hash| PRODUCTS.shard_number(hash);
    crate::contexts::in_shards(hashes, shard_of, |hash| PRODUCTS.lock(hash), look)
}

/// The product interned for `id`, if any: the latest one the catalog or the search decoded.
pub fn held(id: &str) -> Option<Product> {
    let hash = PRODUCTS.hash(id);
    let table = PRODUCTS.lock(hash);
    let at = table.find(hash, id)?;
    table.slots[at].product.clone()
}

/// `held` for each of `ids`, in order, each shard locked once.
pub fn held_all(ids: &[&str]) -> Vec<Option<Product>> {
    let hashes: Vec<u64> = ids.iter().map(|id| PRODUCTS.hash(id)).collect();
    in_shards(&hashes, |table, at| {
        table.slots[table.find(hashes[at], ids[at])?]
            .product
            .clone()
    })
}

/// `product` (just built, bytes of pim offset `version`) in the table, or the one another thread
/// interned with the same bytes meanwhile.
fn intern(hash: u64, product: Product, version: i64) -> Product {
    intern_in(&mut PRODUCTS.lock(hash), hash, product, version)
}

/// `intern` in `table`, the product's shard, locked.
fn intern_in(table: &mut Table, hash: u64, product: Product, version: i64) -> Product {
    if let Some(at) = table.find(hash, product.id()) {
        let slot = &mut table.slots[at];
        if let Some(held) = slot
            .product
            .as_ref()
            .filter(|held| held.view() == product.view())
        {
            let held = held.clone();
            slot.raise_version(version);
            return held;
        }
        if slot.version() < version || !slot.in_use() {
            *slot = Slot::new(hash, product.clone(), version);
        }
        return product;
    }
    table.insert(Slot::new(hash, product.clone(), version));
    product
}

/// The interned `product` is also the one of pim offset `version`, if it is still interned.
fn raise_version(hash: u64, product: &Product, version: i64) {
    let mut table = PRODUCTS.lock(hash);
    if let Some(at) = table.find(hash, product.id()) {
        let slot = &mut table.slots[at];
        if slot.product.as_ref().is_some_and(|held| held.same(product)) {
            slot.raise_version(version);
        }
    }
}

/// Product `id` was disabled at pim offset `version`: the table lets go of it, unless it holds a
/// newer one (a model lagging behind the other decodes an older disable).
pub fn forget(id: &str, version: i64) {
    let hash = PRODUCTS.hash(id);
    let mut table = PRODUCTS.lock(hash);
    if let Some(at) = table.find(hash, id) {
        if table.slots[at].version() <= version.clamp(0, MAX_VERSION) {
            table.remove(at);
        }
    }
}

/// Room for `products` entries in all without growing: a snapshot load knows how many it brings.
pub fn reserve(products: usize) {
    let per_shard = products.div_ceil(SHARDS);
    for shard in &PRODUCTS.shards {
        let mut table = shard.lock();
        let more = per_shard.saturating_sub(table.len);
        table.reserve(more);
    }
}

#[cfg(test)]
fn holds_after_sweep(id: &str) -> bool {
    let hash = PRODUCTS.hash(id);
    let mut table = PRODUCTS.lock(hash);
    table.make_room();
    table.find(hash, id).is_some()
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

    proptest::proptest! {
        /// Inserts and removals in any order, on hashes from a small range so that products share
        /// their home slots and tags and probe past each other: every product held stays found,
        /// none removed is, through growth and the slots moved back by each removal.
        #[test]
        fn a_shard_finds_what_it_holds_whatever_collides(
            ops in proptest::collection::vec((0u8..60, 0u64..24, proptest::bool::ANY), 1..300)
        ) {
            let mut table = Table::default();
            let mut held = std::collections::HashMap::new();
            for (n, hash, insert) in ops {
                let id = format!("shard-{n}");
                let hash = held.get(&id).map_or(hash, |&(hash, _)| hash);
                match (insert, table.find(hash, &id)) {
                    (true, None) => {
                        let product = Product::from_pim(&pim::Product { id: id.clone(), ..Default::default() });
                        // Held here too, as a model would: the table keeps what is in use.
                        table.insert(Slot::new(hash, product.clone(), 1));
                        held.insert(id, (hash, product));
                    }
                    (false, Some(at)) => {
                        table.remove(at);
                        held.remove(&id);
                    }
                    _ => {}
                }
                proptest::prop_assert_eq!(table.len, held.len());
                for n in 0..60u8 {
                    let id = format!("shard-{n}");
                    let found = held.get(&id).and_then(|&(hash, _)| table.find(hash, &id));
                    proptest::prop_assert_eq!(found.is_some(), held.contains_key(&id));
                }
            }
        }
    }

    #[test]
    fn a_shard_in_use_doubles_when_full_and_a_sweep_makes_room_instead() {
        let product = |n: usize| {
            let id = format!("grow-{n}");
            (
                n as u64,
                Product::from_pim(&pim::Product {
                    id,
                    ..Default::default()
                }),
            )
        };
        let mut table = Table::default();
        let held: Vec<(u64, Product)> = (0..1000).map(product).collect();
        for (hash, product) in &held {
            table.insert(Slot::new(*hash, product.clone(), 1));
        }
        // The fewest slots that 1,000 fill to at most seven eighths, as hashbrown had.
        assert_eq!(table.slots.len(), 2048);
        drop(held);
        for (hash, product) in (1000..1800).map(product) {
            table.insert(Slot::new(hash, product, 1));
        }
        assert_eq!(
            table.slots.len(),
            2048,
            "the products nobody held made room"
        );
    }

    #[test]
    fn versions_beyond_the_slot_count_as_its_largest() {
        let product = Product::from_pim(&pim::Product {
            id: "slot-version".into(),
            ..Default::default()
        });
        let mut slot = Slot::new(u64::MAX, product, i64::MAX);
        assert_eq!((slot.version(), slot.tag()), (MAX_VERSION, TAG_MASK));
        slot.raise_version(-1);
        assert_eq!(slot.version(), MAX_VERSION);
    }

    #[test]
    fn a_batch_shares_and_interns_as_products_one_at_a_time_do() {
        let product = |id: &str, name: &str| {
            Product::from_pim(&pim::Product {
                id: id.into(),
                name: name.into(),
                price: 100, // as `decoded` makes them
                ..Default::default()
            })
        };
        let lamp = decoded("batch-held", "Lamp", 1);
        let renamed = decoded("batch-renamed", "Desk", 1);
        let built = [
            product("batch-held", "Lamp"),
            product("batch-new", "Rug"),
            product("batch-new", "Rug"),
            product("batch-renamed", "Desk II"),
        ];
        let views: Vec<Vec<u8>> = built.iter().map(|p| p.view().to_vec()).collect();
        let items: Vec<(&str, &[u8])> = built
            .iter()
            .zip(&views)
            .map(|(p, v)| (p.id(), &v[..]))
            .collect();
        let shared = shared_all(&items, 2, |at| built[at].clone());
        assert!(shared[0].same(&lamp), "held alike: the held allocation");
        assert!(
            shared[1].same(&shared[2]),
            "the same bytes twice in a batch: one allocation"
        );
        assert!(!shared[3].same(&renamed) && shared[3].name() == "Desk II");
        let ids = ["batch-held", "batch-new", "batch-renamed", "batch-none"];
        let found = held_all(&ids);
        assert!(found[0].as_ref().is_some_and(|p| p.same(&lamp)));
        assert!(found[1].as_ref().is_some_and(|p| p.same(&shared[1])));
        assert!(found[2].as_ref().is_some_and(|p| p.same(&shared[3])));
        assert!(found[3].is_none());
        assert!(ids.iter().zip(&found).all(|(id, found)| {
            held(id).map(|p| p.view().to_vec()) == found.as_ref().map(|p| p.view().to_vec())
        }));
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
