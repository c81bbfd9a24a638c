//! The catalog projection: enabled products and their order indexes by id, (price, id) and
//! (name, id). Products are shared between the two copies of the swap, so only indexes are doubled.

use crate::codec::{catalog, pim, DecodeError, Field, FieldReader};
use crate::order_index::{Order, OrderIndex};
use crate::snapshot::{self, Reader, Snapshot, SnapshotError, Writer};
use crate::swap::Apply;
use prost::Message;
use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// One enabled product: the sort keys, and the encoded `ProductView` served as is.
#[derive(Debug, PartialEq, Eq)]
pub struct Product {
    pub id: Box<str>,
    pub name: Box<str>,
    pub price: i64,
    /// The first 8 bytes of id and name as big-endian numbers: most comparisons end here,
    /// without following the pointer to the string.
    id_key: u64,
    name_key: u64,
    pub view: Box<[u8]>,
}

/// The first 8 bytes of `s`, zero-padded, as a number that orders like the bytes do. Equal keys
/// say nothing (a shorter string, or one with NUL bytes): the full strings decide then.
fn sort_key(s: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let len = s.len().min(8);
    bytes[..len].copy_from_slice(&s.as_bytes()[..len]);
    u64::from_be_bytes(bytes)
}

pub type Handle = Arc<Product>;

impl Product {
    /// Builds the stored form from a pim product: its bytes without `disabled` are the view.
    pub fn from_pim(product: &pim::Product) -> Product {
        let view = catalog::ProductView {
            id: product.id.clone(),
            price: product.price,
            name: product.name.clone(),
            description: product.description.clone(),
            longtext: product.longtext.clone(),
            category: product.category.clone(),
            small_image_url: product.small_image_url.clone(),
            large_image_url: product.large_image_url.clone(),
        };
        Product {
            id: product.id.as_str().into(),
            name: product.name.as_str().into(),
            price: product.price,
            id_key: sort_key(&product.id),
            name_key: sort_key(&product.name),
            view: view.encode_to_vec().into_boxed_slice(),
        }
    }
}

impl Product {
    /// Rebuilds a product from its stored view (as saved in a snapshot), checking that the view
    /// is well-formed protobuf whose strings are UTF-8 and whose id is not empty.
    pub fn from_view(view: &[u8]) -> Result<Product, DecodeError> {
        let (mut id, mut name, mut price) = ("", "", 0i64);
        let mut reader = FieldReader::new(view);
        for (number, field) in reader.by_ref() {
            match (number, field) {
                (2, Field::Varint(value)) => price = value as i64,
                (1 | 3..=8, Field::Bytes(bytes)) => {
                    let text = std::str::from_utf8(bytes)
                        .map_err(|_| DecodeError(format!("field {number} is not UTF-8")))?;
                    match number {
                        1 => id = text,
                        3 => name = text,
                        _ => {}
                    }
                }
                _ => return Err(DecodeError(format!("unexpected field {number}"))),
            }
        }
        if !reader.at_end() || id.is_empty() {
            return Err(DecodeError("not a product view".into()));
        }
        Ok(Product {
            id: id.into(),
            name: name.into(),
            price,
            id_key: sort_key(id),
            name_key: sort_key(name),
            view: view.into(),
        })
    }
}

pub struct ById;
pub struct ByPrice;
pub struct ByName;

impl Product {
    fn cmp_id(&self, other: &Product) -> std::cmp::Ordering {
        self.id_key
            .cmp(&other.id_key)
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl Order<Handle> for ById {
    fn cmp(a: &Handle, b: &Handle) -> std::cmp::Ordering {
        a.cmp_id(b)
    }
}

impl Order<Handle> for ByPrice {
    fn cmp(a: &Handle, b: &Handle) -> std::cmp::Ordering {
        a.price.cmp(&b.price).then_with(|| a.cmp_id(b))
    }
}

impl Order<Handle> for ByName {
    fn cmp(a: &Handle, b: &Handle) -> std::cmp::Ordering {
        a.name_key
            .cmp(&b.name_key)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.cmp_id(b))
    }
}

/// A product in the id lookup set, hashed and compared by id alone.
#[derive(Clone)]
struct Keyed(Handle);

impl Hash for Keyed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}
impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}
impl Eq for Keyed {}
impl Borrow<str> for Keyed {
    fn borrow(&self) -> &str {
        &self.0.id
    }
}

/// What one event of catalog_internal does.
#[derive(Debug, Clone)]
pub enum Change {
    Upsert(Handle),
    Disable(Arc<str>),
    /// Undecodable; kept so the offset still advances (the event goes to the dead-letter topic).
    Poison,
}

#[derive(Debug, Clone)]
pub struct Op {
    pub offset: i64,
    pub pim_offset: i64,
    pub change: Change,
}

/// Decodes one catalog_internal message.
pub fn decode(offset: i64, bytes: &[u8]) -> Result<Op, DecodeError> {
    let message = catalog::InternalMessage::decode(bytes)?;
    let Some(catalog::internal_message::Event::ProductChanged(changed)) = message.event else {
        return Err(DecodeError("catalog_internal message has no event".into()));
    };
    let product = changed
        .product
        .ok_or_else(|| DecodeError("ProductChanged has no product".into()))?;
    if product.id.is_empty() {
        return Err(DecodeError("product has an empty id".into()));
    }
    let change = if product.disabled {
        Change::Disable(product.id.as_str().into())
    } else {
        Change::Upsert(Arc::new(Product::from_pim(&product)))
    };
    Ok(Op {
        offset,
        pim_offset: changed.pim_offset,
        change,
    })
}

/// The sort orders a page can be read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Id,
    Price,
    Name,
}

impl Sort {
    pub fn parse(name: &str) -> Option<Sort> {
        match name {
            "id" => Some(Sort::Id),
            "price" => Some(Sort::Price),
            "name" => Some(Sort::Name),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Sort::Id => "id",
            Sort::Price => "price",
            Sort::Name => "name",
        }
    }
}

/// A page as answered: the clamped page number, and the products on it in order.
pub struct Page<'a> {
    pub items: Vec<&'a Product>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
}

#[derive(Clone)]
pub struct Catalog {
    products: HashSet<Keyed, ahash::RandomState>,
    by_id: OrderIndex<Handle, ById>,
    by_price: OrderIndex<Handle, ByPrice>,
    by_name: OrderIndex<Handle, ByName>,
    /// Last applied offset of catalog_internal (-1: nothing applied).
    offset: i64,
    /// Last applied pim_pub offset; bridged events at or below it are duplicates.
    pim_offset: i64,
}

impl Apply for Catalog {
    type Op = Op;

    fn apply(&mut self, op: &Op) {
        self.offset = op.offset;
        if op.pim_offset <= self.pim_offset {
            return;
        }
        match &op.change {
            Change::Upsert(product) => self.upsert(product),
            Change::Disable(id) => {
                self.remove(id);
            }
            Change::Poison => return,
        }
        self.pim_offset = op.pim_offset;
    }
}

impl Default for Catalog {
    /// Empty, with nothing applied: both offsets are -1 so that offset 0 is the first applied.
    fn default() -> Self {
        Catalog {
            products: HashSet::default(),
            by_id: OrderIndex::new(),
            by_price: OrderIndex::new(),
            by_name: OrderIndex::new(),
            offset: -1,
            pim_offset: -1,
        }
    }
}

impl Catalog {
    pub fn new() -> Catalog {
        Catalog::default()
    }

    pub fn len(&self) -> usize {
        self.products.len()
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    pub fn offset(&self) -> i64 {
        self.offset
    }

    pub fn pim_offset(&self) -> i64 {
        self.pim_offset
    }

    pub fn get(&self, id: &str) -> Option<&Product> {
        self.products.get(id).map(|keyed| &*keyed.0)
    }

    fn upsert(&mut self, product: &Handle) {
        if self.get(&product.id) == Some(product) {
            return;
        }
        self.remove(&product.id);
        self.products.insert(Keyed(Arc::clone(product)));
        self.by_id.insert(Arc::clone(product));
        self.by_price.insert(Arc::clone(product));
        self.by_name.insert(Arc::clone(product));
    }

    fn remove(&mut self, id: &str) -> Option<Handle> {
        let Keyed(old) = self.products.take(id)?;
        self.by_id.remove(&old);
        self.by_price.remove(&old);
        self.by_name.remove(&old);
        Some(old)
    }

    /// Page `page` (from 1, clamped into range) of `per_page` (>= 1) products whose name starts
    /// with `prefix`, in `sort` order. Without a prefix, or sorted by name, this costs
    /// O(log n + per_page). A prefix with another sort costs O(log n + m + per_page log per_page)
    /// for m matches: they form a range of the name index that is not ordered by that sort.
    pub fn page(&self, sort: Sort, prefix: &str, page: usize, per_page: usize) -> Page<'_> {
        let per_page = per_page.max(1);
        let (lo, hi) = self.name_range(prefix);
        let total = hi - lo;
        let pages = total.div_ceil(per_page);
        let page = page.clamp(1, pages.max(1));
        let skip = (page - 1) * per_page;
        let take = per_page.min(total.saturating_sub(skip));
        let items = if prefix.is_empty() {
            match sort {
                Sort::Id => collect(self.by_id.iter_from(skip), take),
                Sort::Price => collect(self.by_price.iter_from(skip), take),
                Sort::Name => collect(self.by_name.iter_from(skip), take),
            }
        } else if sort == Sort::Name {
            collect(self.by_name.iter_from(lo + skip), take)
        } else {
            let matches: Vec<&Product> = self
                .by_name
                .iter_from(lo)
                .take(total)
                .map(|p| &**p)
                .collect();
            select_range(matches, sort, skip, take)
        };
        Page {
            items,
            total,
            page,
            pages,
        }
    }

    /// Positions [lo, hi) in the name index of the names that start with `prefix`.
    fn name_range(&self, prefix: &str) -> (usize, usize) {
        if prefix.is_empty() {
            return (0, self.by_name.len());
        }
        let lo = self.by_name.count_while(|p| &*p.name < prefix);
        let hi = self
            .by_name
            .count_while(|p| &*p.name < prefix || p.name.starts_with(prefix));
        (lo, hi)
    }
}

/// Saved as: the offsets, the product views in id order, then for the price and the name order
/// the position in id order of each product. Loading then sorts nothing: each index is built
/// bottom-up from its order, after checking that the order is right.
impl Snapshot for Catalog {
    const KIND: &'static str = "catalog";

    fn offset(&self) -> i64 {
        self.offset
    }

    fn save(&self, out: &mut Writer) {
        out.i64(self.offset);
        out.i64(self.pim_offset);
        out.len(self.len());
        let mut rank: HashMap<*const Product, u32, ahash::RandomState> =
            HashMap::with_capacity_and_hasher(self.len(), ahash::RandomState::default());
        for (position, product) in self.by_id.iter().enumerate() {
            out.blob(&product.view);
            rank.insert(Arc::as_ptr(product), position as u32);
        }
        for product in self.by_price.iter() {
            out.u32(rank[&Arc::as_ptr(product)]);
        }
        for product in self.by_name.iter() {
            out.u32(rank[&Arc::as_ptr(product)]);
        }
    }

    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Catalog> {
        let offset = input.i64()?;
        let pim_offset = input.i64()?;
        let len = input.len(4 + 8)?;
        let mut by_id = Vec::with_capacity(len);
        for _ in 0..len {
            let product = Product::from_view(input.blob()?).map_err(|err| SnapshotError(err.0))?;
            by_id.push(Arc::new(product));
        }
        let by_price = in_saved_order(input, &by_id)?;
        let by_name = in_saved_order(input, &by_id)?;
        let unsorted = |order: &str| SnapshotError(format!("products are not in {order} order"));
        Ok(Catalog {
            products: by_id.iter().map(|p| Keyed(Arc::clone(p))).collect(),
            by_id: OrderIndex::from_sorted(by_id).ok_or_else(|| unsorted("id"))?,
            by_price: OrderIndex::from_sorted(by_price).ok_or_else(|| unsorted("price"))?,
            by_name: OrderIndex::from_sorted(by_name).ok_or_else(|| unsorted("name"))?,
            offset,
            pim_offset,
        })
    }
}

/// The products of `by_id` in the order of the saved positions, each position exactly once.
fn in_saved_order(input: &mut Reader<'_>, by_id: &[Handle]) -> snapshot::Result<Vec<Handle>> {
    let positions = input.take(by_id.len() * 4)?;
    let mut seen = vec![false; by_id.len()];
    positions
        .chunks_exact(4)
        .map(|chunk| {
            let position = u32::from_le_bytes(chunk.try_into().expect("4 bytes")) as usize;
            match seen.get_mut(position) {
                Some(seen) if !*seen => {
                    *seen = true;
                    Ok(Arc::clone(&by_id[position]))
                }
                _ => Err(SnapshotError("an order is not a permutation".into())),
            }
        })
        .collect()
}

fn collect<'a>(iter: impl Iterator<Item = &'a Handle>, take: usize) -> Vec<&'a Product> {
    iter.take(take).map(|handle| &**handle).collect()
}

/// Items [skip, skip + take) of `matches` in `sort` order, without sorting all of them.
fn select_range(mut matches: Vec<&Product>, sort: Sort, skip: usize, take: usize) -> Vec<&Product> {
    if take == 0 {
        return Vec::new();
    }
    let cmp = |a: &&Product, b: &&Product| match sort {
        Sort::Id => a.id.cmp(&b.id),
        Sort::Price => (a.price, &a.id).cmp(&(b.price, &b.id)),
        Sort::Name => (&a.name, &a.id).cmp(&(&b.name, &b.id)),
    };
    if skip > 0 {
        matches.select_nth_unstable_by(skip, cmp);
    }
    let rest = &mut matches[skip..];
    if take < rest.len() {
        rest.select_nth_unstable_by(take, cmp);
    }
    let page = &mut rest[..take];
    page.sort_unstable_by(cmp);
    page.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(offset: i64, id: &str, name: &str, price: i64) -> Op {
        let product = pim::Product {
            id: id.into(),
            name: name.into(),
            price,
            ..Default::default()
        };
        Op {
            offset,
            pim_offset: offset,
            change: Change::Upsert(Arc::new(Product::from_pim(&product))),
        }
    }

    fn ids(page: &Page<'_>) -> Vec<String> {
        page.items.iter().map(|p| p.id.to_string()).collect()
    }

    fn sample() -> Catalog {
        let mut catalog = Catalog::new();
        for op in [
            upsert(0, "c", "pear", 300),
            upsert(1, "a", "apple", 200),
            upsert(2, "b", "apricot", 100),
            upsert(3, "d", "banana", 100),
        ] {
            catalog.apply(&op);
        }
        catalog
    }

    #[test]
    fn pages_follow_each_sort() {
        let catalog = sample();
        assert_eq!(
            ids(&catalog.page(Sort::Id, "", 1, 10)),
            ["a", "b", "c", "d"]
        );
        assert_eq!(
            ids(&catalog.page(Sort::Price, "", 1, 10)),
            ["b", "d", "a", "c"]
        );
        assert_eq!(
            ids(&catalog.page(Sort::Name, "", 1, 10)),
            ["a", "b", "d", "c"]
        );
    }

    #[test]
    fn prefix_selects_a_name_range_in_any_sort() {
        let catalog = sample();
        assert_eq!(ids(&catalog.page(Sort::Name, "ap", 1, 10)), ["a", "b"]);
        assert_eq!(ids(&catalog.page(Sort::Price, "ap", 1, 10)), ["b", "a"]);
        assert_eq!(ids(&catalog.page(Sort::Price, "ap", 2, 1)), ["a"]);
        assert_eq!(catalog.page(Sort::Id, "zz", 1, 10).total, 0);
    }

    #[test]
    fn key_prefixes_order_like_the_full_names() {
        let names = [
            "",
            "a",
            "a\0",
            "a\0b",
            "ab",
            "abcdefgh",
            "abcdefghb",
            "abcdefgha",
            "é",
            "\u{1}",
        ];
        let mut catalog = Catalog::new();
        for (i, name) in names.iter().enumerate() {
            catalog.apply(&upsert(i as i64, &format!("{:0>9}", 9 - i), name, 1));
        }
        let page = catalog.page(Sort::Name, "", 1, 100);
        let got: Vec<&str> = page.items.iter().map(|p| &*p.name).collect();
        let mut expected = names.to_vec();
        expected.sort();
        assert_eq!(got, expected);
        let by_id = catalog.page(Sort::Id, "", 1, 100);
        assert!(by_id.items.windows(2).all(|w| w[0].id < w[1].id));
    }

    fn round_trip(catalog: &Catalog) -> Catalog {
        let dir = std::env::temp_dir().join(format!("catalog-snapshot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.snapshot", catalog.len()));
        let identity = snapshot::Identity {
            topic: "catalog_internal".into(),
            topic_id: "t".into(),
            cluster_id: "c".into(),
        };
        snapshot::write(&path, &identity, catalog).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        snapshot::read(&bytes, &identity, catalog.offset()).unwrap()
    }

    fn every_page(catalog: &Catalog) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        for sort in [Sort::Id, Sort::Price, Sort::Name] {
            for prefix in ["", "a", "ap", "p", "zz"] {
                pages.push(ids(&catalog.page(sort, prefix, 1, 1000)));
            }
        }
        pages
    }

    #[test]
    fn snapshot_round_trip_keeps_every_order_and_offset() {
        let mut catalog = sample();
        for i in 0..500 {
            let name = ["apple", "apricot", "pear", "banana"][i % 4];
            catalog.apply(&upsert(
                4 + i as i64,
                &format!("id{}", i * 7919 % 500),
                name,
                (i % 13) as i64,
            ));
        }
        let loaded = round_trip(&catalog);
        assert_eq!(every_page(&loaded), every_page(&catalog));
        assert_eq!(
            (loaded.offset(), loaded.pim_offset()),
            (catalog.offset(), catalog.pim_offset())
        );
        assert_eq!(loaded.get("id3"), catalog.get("id3"));
        // The loaded catalog goes on exactly like the original.
        let (mut a, mut b) = (catalog, loaded);
        for op in [
            upsert(600, "id3", "zebra", 1),
            upsert(601, "new", "apple", 5),
        ] {
            a.apply(&op);
            b.apply(&op);
        }
        assert_eq!(every_page(&a), every_page(&b));
        assert_eq!(round_trip(&Catalog::new()).len(), 0);
    }

    #[test]
    fn page_is_clamped() {
        let catalog = sample();
        let page = catalog.page(Sort::Id, "", 9, 3);
        assert_eq!(
            (page.page, page.pages, ids(&page)),
            (2, 2, vec!["d".to_string()])
        );
        assert_eq!(catalog.page(Sort::Id, "", 0, 3).page, 1);
        let catalog = Catalog::new();
        let empty = catalog.page(Sort::Name, "", 5, 3);
        assert_eq!((empty.page, empty.pages, empty.total), (1, 0, 0));
    }

    #[test]
    fn disable_removes_and_duplicates_are_ignored() {
        let mut catalog = sample();
        catalog.apply(&Op {
            offset: 4,
            pim_offset: 4,
            change: Change::Disable("a".into()),
        });
        catalog.apply(&upsert(5, "a", "apple", 200));
        let mut replay = upsert(6, "a", "zebra", 1);
        replay.pim_offset = 5;
        catalog.apply(&replay);
        assert_eq!(catalog.offset(), 6);
        assert_eq!(catalog.pim_offset(), 5);
        assert_eq!(&*catalog.get("a").unwrap().name, "apple");
        assert_eq!(
            ids(&catalog.page(Sort::Name, "", 1, 10)),
            ["a", "b", "d", "c"]
        );
    }

    #[test]
    fn a_change_moves_the_product_in_every_index() {
        let mut catalog = sample();
        catalog.apply(&upsert(4, "a", "zucchini", 1));
        assert_eq!(
            ids(&catalog.page(Sort::Name, "", 1, 10)),
            ["b", "d", "c", "a"]
        );
        assert_eq!(
            ids(&catalog.page(Sort::Price, "", 1, 10)),
            ["a", "b", "d", "c"]
        );
        assert_eq!(catalog.len(), 4);
    }
}
