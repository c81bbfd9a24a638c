//! The catalog projection: enabled products and their order indexes by id, (price, id) and
//! (name, id). Products are shared between the two copies of the swap, so only indexes are doubled,
//! and with the search model (`interned`).
//!
//! Why it is laid out as it is (apply rate and memory at a million products):
//! - A product is one allocation: a reference count, where its id and name sit, and its encoded
//!   `ProductView`, which is served as is. An index entry is a thin pointer to it plus the first
//!   bytes of its sort key, so that comparisons in the B+tree rarely follow the pointer (a cache
//!   miss each time) and the tree's nodes hold the keys they are searched by.
//! - There is no hash map beside the indexes: the id index finds a product by id.
//! - A bridged product encoded the way prost encodes it (fields in order, no default values, no
//!   unknown fields) is taken without decoding: its bytes are the view. Anything else is decoded
//!   with prost and the view encoded again, which gives the same bytes for the same product.

pub mod encode;
pub mod fold;
pub mod interned;
mod window;

use crate::codec::{catalog, pim, varint_len, DecodeError, Field, FieldReader};
use crate::order_index::{prefetch_lines, span_of, Cell, Order, OrderIndex, Runs, CELLS};
use crate::projection::Model;
use crate::snapshot::{self, Reader, Snapshot, SnapshotError, Writer};
use crate::swap::Apply;
use fold::fold;
use prost::Message;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Arc;
use triomphe::ThinArc;
use window::Window;

/// Where the sort keys of a product are, besides its price: positions in its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Keys {
    price: i64,
    id_at: u32,
    id_len: u32,
    name_at: u32,
    name_len: u32,
    /// The folded name is these bytes with ASCII lowered: the name's own bytes (at `name_at`)
    /// when that is all folding does, as for every ASCII name; else `fold(name)`, stored after
    /// the view.
    folded_at: u32,
    folded_len: u32,
    /// The view's bytes that hold a listing card's last fields, the category and the small image
    /// (fields 6 and 7, adjacent): with the id, price and name the keys point at, all a card
    /// shows, read without walking past the description and long text.
    card_at: u32,
    card_len: u32,
}

/// One enabled product: its encoded `ProductView` (then its folded name, if stored) and where
/// its keys are, in one shared allocation. Cloning shares it.
#[derive(Clone)]
pub struct Product(ThinArc<Keys, u8>);

impl Product {
    /// Builds a product from a view whose fields were checked: `keys` point at UTF-8 in it.
    fn new(mut keys: Keys, view: &[u8]) -> Product {
        (keys.folded_at, keys.folded_len) = (keys.name_at, keys.name_len);
        let name = &view[keys.name_at as usize..(keys.name_at + keys.name_len) as usize];
        if is_ascii(name) {
            return Product(ThinArc::from_header_and_slice(keys, view));
        }
        // SAFETY: `canonical_keys` checked that the name is UTF-8.
        let folded = fold(unsafe { std::str::from_utf8_unchecked(name) });
        if Folded(name) == Folded(folded.as_bytes()) {
            return Product(ThinArc::from_header_and_slice(keys, view));
        }
        (keys.folded_at, keys.folded_len) = (view.len() as u32, folded.len() as u32);
        let mut bytes = Vec::with_capacity(view.len() + folded.len());
        bytes.extend_from_slice(view);
        bytes.extend_from_slice(folded.as_bytes());
        Product(ThinArc::from_header_and_slice(keys, &bytes))
    }

    /// The product `keys` and `view` describe, changed at pim offset `version`: the one
    /// interned for the process if its bytes are the same (`interned`), else a new one.
    fn shared(keys: Keys, view: &[u8], version: i64) -> Product {
        let id = &view[keys.id_at as usize..(keys.id_at + keys.id_len) as usize];
        // SAFETY: `canonical_keys` checked that the id is UTF-8.
        let id = unsafe { std::str::from_utf8_unchecked(id) };
        interned::shared(id, view, version, || Product::new(keys, view))
    }

    /// Builds the stored form from a pim product: its fields 1-8 are the view.
    pub fn from_pim(product: &pim::Product) -> Product {
        let view = pim_view(product);
        let keys = canonical_keys(&view, Text::All).expect("prost encodes a view canonically");
        Product::new(keys.keys, &view)
    }

    /// Rebuilds products from views saved in a snapshot taken at pim offset `version`, in order:
    /// each must be encoded as prost encodes it, with an id. Only the id and the name, which are
    /// compared as strings, are checked to be UTF-8: the snapshot's checksum already vouches for
    /// the bytes that were written, which were checked when their event was applied, and that is
    /// most of the time a load takes. The products are looked up and interned a shard at a time
    /// (`interned::shared_all`).
    pub fn from_views(views: &[&[u8]], version: i64) -> Result<Vec<Product>, DecodeError> {
        let keys = views
            .iter()
            .map(|view| match canonical_keys(view, Text::Keys) {
                Some(found) if !found.disabled && found.keys.id_len > 0 => Ok(found.keys),
                _ => Err(DecodeError("not a product view".into())),
            })
            .collect::<Result<Vec<Keys>, _>>()?;
        let items: Vec<(&str, &[u8])> = keys
            .iter()
            .zip(views)
            .map(|(keys, view)| {
                let id = &view[keys.id_at as usize..(keys.id_at + keys.id_len) as usize];
                // SAFETY: `canonical_keys` checked that the id is UTF-8.
                (unsafe { std::str::from_utf8_unchecked(id) }, *view)
            })
            .collect();
        Ok(interned::shared_all(&items, version, |at| {
            Product::new(keys[at], views[at])
        }))
    }

    /// The encoded `shop.catalog.ProductView`.
    pub fn view(&self) -> &[u8] {
        let keys = &self.0.header.header;
        let stored_fold = keys.folded_at != keys.name_at;
        match stored_fold {
            true => &self.0.slice[..keys.folded_at as usize],
            false => &self.0.slice,
        }
    }

    /// The name as the name order and filter see it.
    fn folded_name(&self) -> Folded<'_> {
        let keys = &self.0.header.header;
        let at = keys.folded_at as usize;
        Folded(&self.0.slice[at..at + keys.folded_len as usize])
    }

    pub fn price(&self) -> i64 {
        self.0.header.header.price
    }

    pub fn id(&self) -> &str {
        let keys = &self.0.header.header;
        self.text(keys.id_at, keys.id_len)
    }

    pub fn name(&self) -> &str {
        let keys = &self.0.header.header;
        self.text(keys.name_at, keys.name_len)
    }

    fn text(&self, at: u32, len: u32) -> &str {
        let bytes = &self.view()[at as usize..(at + len) as usize];
        // SAFETY: `canonical_keys` checked that these bytes are UTF-8 before the product was built,
        // and the view never changes.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Starts loading the product's first bytes (its keys and the start of its view, where the
    /// id is) into the cache, without waiting for them.
    pub fn prefetch(&self) {
        prefetch_lines(self.0.ptr().cast(), 128);
    }

    /// Starts loading the bytes of a card's last fields (`card_bytes`) into the cache. Reads the
    /// keys, so the product's first line should be on its way already (`prefetch`).
    pub fn prefetch_card(&self) {
        let card = self.card_bytes();
        prefetch_lines(card.as_ptr(), card.len());
    }

    /// The encoded fields 6 and 7 (category, small image) of the view, as they are stored.
    pub fn card_bytes(&self) -> &[u8] {
        let keys = &self.0.header.header;
        &self.0.slice[keys.card_at as usize..(keys.card_at + keys.card_len) as usize]
    }

    /// The small image's URL (field 7), from the card's bytes; empty if it has none. UTF-8 if the
    /// product was decoded from an event; a snapshot's views are vouched for by its checksum.
    pub fn small_image_url(&self) -> &[u8] {
        small_image_in(self.card_bytes())
    }

    /// The same allocation: the same product, as long as `self` is held.
    pub fn same(&self, other: &Product) -> bool {
        self.0.ptr() == other.0.ptr()
    }

    /// Bytes of its allocation: the count, the keys, the length, the view and a stored fold.
    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<usize>() * 2 + std::mem::size_of::<Keys>() + self.0.slice.len()
    }
}

impl PartialEq for Product {
    fn eq(&self, other: &Product) -> bool {
        self.same(other) || self.view() == other.view()
    }
}

impl Eq for Product {}

impl std::fmt::Debug for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Product")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("price", &self.price())
            .finish()
    }
}

/// A pim product's fields 1-8, encoded as a `ProductView`.
fn pim_view(product: &pim::Product) -> Vec<u8> {
    catalog::ProductView {
        id: product.id.clone(),
        price: product.price,
        name: product.name.clone(),
        description: product.description.clone(),
        longtext: product.longtext.clone(),
        category: product.category.clone(),
        small_image_url: product.small_image_url.clone(),
        large_image_url: product.large_image_url.clone(),
        popularity: None,
    }
    .encode_to_vec()
}

/// Field 7 (the small image's URL) of a card's bytes (`Keys::card_at`); empty if absent.
fn small_image_in(card: &[u8]) -> &[u8] {
    FieldReader::new(card)
        .find_map(|(number, field)| match (number, field) {
            (7, Field::Bytes(bytes)) => Some(bytes),
            _ => None,
        })
        .unwrap_or_default()
}

/// A pim `Product` encoded as prost encodes it, its texts UTF-8 (so prost would decode it), read
/// in place: the relays check and read the products they carry so, without the allocation of each
/// of its texts that decoding them took.
pub struct CanonicalProduct<'a> {
    bytes: &'a [u8],
    found: Found,
}

impl<'a> CanonicalProduct<'a> {
    /// None for any other encoding (prost decides then).
    pub fn read(bytes: &'a [u8]) -> Option<CanonicalProduct<'a>> {
        let found = canonical_keys(bytes, Text::All)?;
        Some(CanonicalProduct { bytes, found })
    }

    /// The encoded product, as it was read.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn id(&self) -> &'a str {
        let keys = &self.found.keys;
        self.text(keys.id_at, keys.id_len)
    }

    pub fn name(&self) -> &'a str {
        let keys = &self.found.keys;
        self.text(keys.name_at, keys.name_len)
    }

    pub fn price(&self) -> i64 {
        self.found.keys.price
    }

    pub fn small_image_url(&self) -> &'a str {
        let keys = &self.found.keys;
        let card = &self.bytes[keys.card_at as usize..(keys.card_at + keys.card_len) as usize];
        // SAFETY: `canonical_keys` checked every text to be UTF-8 (`Text::All`).
        unsafe { std::str::from_utf8_unchecked(small_image_in(card)) }
    }

    pub fn disabled(&self) -> bool {
        self.found.disabled
    }

    fn text(&self, at: u32, len: u32) -> &'a str {
        // SAFETY: `canonical_keys` checked every text to be UTF-8 (`Text::All`).
        unsafe { std::str::from_utf8_unchecked(&self.bytes[at as usize..(at + len) as usize]) }
    }
}

/// Which string fields `canonical_keys` checks to be UTF-8.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Text {
    All,
    /// The id and the name only.
    Keys,
}

/// What `canonical_keys` found in a product's bytes.
struct Found {
    keys: Keys,
    disabled: bool,
}

/// The keys of a pim `Product` (or a `ProductView`) encoded exactly as prost encodes it: fields in
/// increasing order, each of the right type and not its default value, strings UTF-8, varints and
/// lengths in their shortest form, `disabled` (9) only as true. None for any other encoding.
fn canonical_keys(bytes: &[u8], text_checked: Text) -> Option<Found> {
    let mut keys = Keys {
        price: 0,
        id_at: 0,
        id_len: 0,
        name_at: 0,
        name_len: 0,
        folded_at: 0,
        folded_len: 0,
        card_at: 0,
        card_len: 0,
    };
    let mut disabled = false;
    let mut last = 0;
    let mut canonical_len = 0;
    let mut fields = FieldReader::new(bytes);
    for (number, field) in fields.by_ref() {
        if number <= last {
            return None;
        }
        last = number;
        let field_at = canonical_len;
        canonical_len += 1; // the key: field numbers up to 15 take one byte
        match (number, field) {
            (2, Field::Varint(value)) if value != 0 => {
                keys.price = value as i64;
                canonical_len += varint_len(value);
            }
            (9, Field::Varint(1)) => {
                disabled = true;
                canonical_len += 1;
            }
            (1 | 3..=8, Field::Bytes(text)) if !text.is_empty() => {
                if (text_checked == Text::All || number == 1 || number == 3) && !is_utf8(text) {
                    return None;
                }
                canonical_len += varint_len(text.len() as u64) + text.len();
                let at = (text.as_ptr() as usize - bytes.as_ptr() as usize) as u32;
                match number {
                    1 => (keys.id_at, keys.id_len) = (at, text.len() as u32),
                    3 => (keys.name_at, keys.name_len) = (at, text.len() as u32),
                    6 | 7 => {
                        if keys.card_len == 0 {
                            keys.card_at = field_at as u32;
                        }
                        keys.card_len = (canonical_len - keys.card_at as usize) as u32;
                    }
                    _ => {}
                }
            }
            _ => return None,
        }
    }
    let whole = fields.at_end() && canonical_len == bytes.len() && bytes.len() <= u32::MAX as usize;
    whole.then_some(Found { keys, disabled })
}

/// Whether `bytes` are UTF-8. Texts are mostly ASCII, which is checked several times faster.
fn is_utf8(bytes: &[u8]) -> bool {
    is_ascii(bytes) || std::str::from_utf8(bytes).is_ok()
}

/// Whether `bytes` are ASCII: all of them OR-ed eight at a time (a loop the compiler vectorises),
/// the last eight read once more for a length that is not a multiple of eight. The standard
/// library's check goes byte by byte after its 64-byte blocks: with a product's texts, that tail
/// took a quarter of `canonical_keys` (perf of the apply).
pub(crate) fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let Some(last) = bytes.len().checked_sub(8) else {
        return bytes.iter().fold(0, |any, byte| any | byte) < 0x80;
    };
    let word = |eight: &[u8]| u64::from_ne_bytes(eight.try_into().expect("eight bytes"));
    let words = bytes.chunks_exact(8).map(word).fold(0, |any, w| any | w);
    (words | word(&bytes[last..])) & HIGH_BITS == 0
}

/// The first 8 bytes of `s`, zero-padded, as a number that orders like the bytes do. Equal keys
/// say nothing (a shorter string, or one with NUL bytes): the full strings decide then.
pub(crate) fn sort_key(s: &str) -> u64 {
    key_of(s.as_bytes())
}

/// A folded name: bytes that read as `fold(name)` once ASCII is lowered (see `Keys`), so that an
/// ASCII name is its own folded name and needs no copy.
#[derive(Clone, Copy)]
struct Folded<'a>(&'a [u8]);

/// Bytes of a folded name that its key (`Folded::key`) holds.
const KEY_BYTES: usize = 24;

impl<'a> Folded<'a> {
    fn bytes(self) -> impl Iterator<Item = u8> + 'a {
        self.0.iter().map(u8::to_ascii_lowercase)
    }

    /// The first 24 bytes as three numbers that order like the bytes do. Neighbours in the name
    /// index share their first words (a leaf of a million names holds names that agree on two
    /// words or more), and a tie sends the comparison to the strings: a cache miss per
    /// comparison. 24 bytes mostly decide.
    fn key(self) -> [u64; 3] {
        let mut buffer = [0u8; KEY_BYTES];
        for (to, from) in buffer.iter_mut().zip(self.bytes()) {
            *to = from;
        }
        let word = |at: usize| u64::from_be_bytes(buffer[at..at + 8].try_into().expect("8 bytes"));
        [word(0), word(8), word(16)]
    }

    fn starts_with(self, prefix: Folded<'_>) -> bool {
        self.0.len() >= prefix.0.len() && Folded(&self.0[..prefix.0.len()]) == prefix
    }

    /// Whether `key` holds all of it: it fits, and holds no NUL byte (the key's padding would
    /// make it ambiguous).
    fn fits_key(self) -> bool {
        self.0.len() <= KEY_BYTES && !self.0.contains(&0)
    }

    /// As a name's key cut to its length (`KeyPrefix`), if it fits in a key (`fits_key`).
    fn key_prefix(self) -> Option<KeyPrefix> {
        self.fits_key().then(|| {
            let mask = Folded(&[b'\xff'; KEY_BYTES][..self.0.len()]).key();
            KeyPrefix {
                key: self.key(),
                mask,
            }
        })
    }
}

/// A folded prefix of 24 bytes or fewer, without NUL bytes, as a name's key (`Folded::key`) has
/// it: a name's key cut to the prefix's length (`mask`) orders against it as the name does (a
/// name shorter than the prefix has zeros where the prefix has none), so a name entry is
/// compared with it without reading its product.
struct KeyPrefix {
    key: [u64; 3],
    mask: [u64; 3],
}

impl KeyPrefix {
    fn cmp(&self, entry: &NameEntry) -> Ordering {
        let cut = |at: usize| entry.key[at] & self.mask[at];
        (cut(0), cut(1), cut(2)).cmp(&(self.key[0], self.key[1], self.key[2]))
    }
}

impl PartialEq for Folded<'_> {
    fn eq(&self, other: &Folded<'_>) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl PartialOrd for Folded<'_> {
    fn partial_cmp(&self, other: &Folded<'_>) -> Option<Ordering> {
        Some(self.bytes().cmp(other.bytes()))
    }
}

/// Price and the first 3 bytes of the id in one number that orders like (price, id) does, for
/// prices from 0 to 2^40 - 1 cents (any price a CSV import allows). A price below that range gets
/// the smallest number and one above it the largest, whatever the id: those tie with each other
/// (and the full comparison decides) but never order wrongly against a price in range.
fn price_key(price: i64, id: &str) -> u64 {
    const PRICE_BITS: u32 = 40;
    const MAX_PRICE: i64 = (1 << PRICE_BITS) - 1;
    match price {
        ..0 => 0,
        0..=MAX_PRICE => {
            ((price as u64) << (64 - PRICE_BITS)) | (key_of(id.as_bytes()) >> PRICE_BITS)
        }
        _ => u64::MAX,
    }
}

fn key_of(bytes: &[u8]) -> u64 {
    let mut buffer = [0u8; 8];
    let len = bytes.len().min(8);
    buffer[..len].copy_from_slice(&bytes[..len]);
    u64::from_be_bytes(buffer)
}

/// An entry of the id index: the id's first bytes and the product.
#[derive(Clone)]
pub struct IdEntry {
    key: u64,
    product: Product,
}

/// An entry of the price index.
#[derive(Clone)]
pub struct PriceEntry {
    key: u64,
    product: Product,
}

/// An entry of the name index, which orders by folded name, then id. Names repeat (a million
/// names of three words out of a hundred), so it also carries the id's first bits and whether
/// the key holds the whole folded name: two whole folded names with equal keys are equal, and
/// the ids decide without following the pointers. And the price's cell, so that the entry's
/// cells (`SortKeys`) are made from it alone.
#[derive(Clone)]
pub struct NameEntry {
    key: [u64; 3],
    /// The id's cell (its first 31 bits), then a last bit of 1 if `key` is the whole folded name.
    id_and_whole: u32,
    /// The price key's cell.
    price: u32,
    product: Product,
}

impl NameEntry {
    /// The key `sort` (id or price) orders this entry's product by, as the sort's own index has
    /// it: equal keys are told apart by the products. Read from the product: where cells tie.
    fn key(&self, sort: Sort) -> u64 {
        let product = &self.product;
        match sort {
            Sort::Id => sort_key(product.id()),
            Sort::Price => price_key(product.price(), product.id()),
            Sort::PriceDesc => !price_key(product.price(), product.id()),
            Sort::Name => unreachable!("a name range is in name order already"),
        }
    }
}

/// What the name index keeps of each entry beside the entries (its cells): the entry's id and
/// price keys, each cut to 32 bits (`SortKeys::cell`). A name prefix's page by id or price walks
/// every match of the prefix; it reads the 4 bytes of each that its sort orders by (a leaf keeps
/// the ids and the prices in columns: `SortKeysBlock`), not the 40-byte entry, and so streams a
/// tenth of the memory (which bounds the walk). A cell orders like its key but coarser: where two
/// cells are equal, the keys decide.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct SortKeys {
    id: u32,
    price: u32,
}

/// A name leaf's cells: a column of the ids' and one of the prices'.
#[derive(Clone, Copy)]
pub struct SortKeysBlock {
    ids: [u32; CELLS],
    prices: [u32; CELLS],
}

impl SortKeysBlock {
    /// The column `sort` orders by (a price descending: the prices, which its cells negate).
    fn column(&self, sort: Sort) -> &[u32; CELLS] {
        match SortKeys::part(sort) {
            SortKeys::ID_PART => &self.ids,
            _ => &self.prices,
        }
    }
}

impl Cell for SortKeys {
    type Block = SortKeysBlock;
    const EMPTY: SortKeysBlock = SortKeysBlock {
        ids: [0; CELLS],
        prices: [0; CELLS],
    };

    fn get(block: &SortKeysBlock, at: usize) -> SortKeys {
        SortKeys {
            id: block.ids[at],
            price: block.prices[at],
        }
    }

    fn set(block: &mut SortKeysBlock, at: usize, cell: SortKeys) {
        block.ids[at] = cell.id;
        block.prices[at] = cell.price;
    }

    fn shift(block: &mut SortKeysBlock, from: std::ops::Range<usize>, to: usize) {
        u32::shift(&mut block.ids, from.clone(), to);
        u32::shift(&mut block.prices, from, to);
    }

    fn copy(
        block: &mut SortKeysBlock,
        to: usize,
        source: &SortKeysBlock,
        from: std::ops::Range<usize>,
    ) {
        u32::copy(&mut block.ids, to, &source.ids, from.clone());
        u32::copy(&mut block.prices, to, &source.prices, from);
    }

    fn part(block: &SortKeysBlock, part: usize) -> (*const u8, usize) {
        match part {
            SortKeys::ID_PART => span_of(&block.ids),
            _ => span_of(&block.prices),
        }
    }
}

impl SortKeys {
    /// The parts of a cell, as a walk names the one it reads (`OrderIndex::runs`).
    const ID_PART: usize = 0;
    const PRICE_PART: usize = 1;

    /// The part `sort` (id or price) orders by.
    fn part(sort: Sort) -> usize {
        match sort {
            Sort::Id => SortKeys::ID_PART,
            Sort::Price | Sort::PriceDesc => SortKeys::PRICE_PART,
            Sort::Name => unreachable!("a name range is in name order already"),
        }
    }

    /// The cell in `sort`'s order of a value of the part it orders by: the value itself, or for
    /// a price descending the price's cell negated.
    #[inline(always)]
    fn in_order(sort: Sort, value: u32) -> u32 {
        match sort {
            Sort::PriceDesc => !value,
            _ => value,
        }
    }

    /// The cell of `key` in `sort`'s order: a function that never decreases as the key grows,
    /// so a cell below another's says the key is below too. An id keeps its first 31 bits; a
    /// price key is written as a float is, its length in bits and then its 26 bits after the
    /// leading one: any price keeps all its bits and the id's first ones, so that prices
    /// rarely tie (a tie is decided by reading the products).
    #[inline]
    fn cell(sort: Sort, key: u64) -> u32 {
        match sort {
            Sort::Id => (key >> 32) as u32 & !1,
            Sort::Price if key == 0 => 0,
            Sort::Price => {
                let zeros = key.leading_zeros();
                let after_leading_one = ((key << zeros << 1) >> 38) as u32;
                ((63 - zeros) << 26) | after_leading_one
            }
            Sort::PriceDesc => !SortKeys::cell(Sort::Price, !key),
            Sort::Name => unreachable!("a name range is in name order already"),
        }
    }
}

impl IdEntry {
    fn of(product: &Product) -> IdEntry {
        IdEntry {
            key: sort_key(product.id()),
            product: product.clone(),
        }
    }
}

impl PriceEntry {
    fn of(product: &Product) -> PriceEntry {
        PriceEntry {
            key: price_key(product.price(), product.id()),
            product: product.clone(),
        }
    }
}

impl NameEntry {
    fn of(product: &Product) -> NameEntry {
        let name = product.folded_name();
        let whole = name.fits_key();
        NameEntry {
            key: name.key(),
            id_and_whole: SortKeys::cell(Sort::Id, sort_key(product.id())) | u32::from(whole),
            price: SortKeys::cell(Sort::Price, price_key(product.price(), product.id())),
            product: product.clone(),
        }
    }
}

pub struct ById;
pub struct ByPrice;
pub struct ByName;

/// Two products by id, once their key prefixes tied.
fn cmp_ids(a: &Product, b: &Product) -> Ordering {
    if a.same(b) {
        Ordering::Equal
    } else {
        a.id().cmp(b.id())
    }
}

impl Order<IdEntry> for ById {
    type Cell = ();

    fn cell(_: &IdEntry) {}

    fn cmp(a: &IdEntry, b: &IdEntry) -> Ordering {
        a.key
            .cmp(&b.key)
            .then_with(|| cmp_ids(&a.product, &b.product))
    }
}

/// Two products by price, then id, once their price keys tied.
fn cmp_prices(a: &Product, b: &Product) -> Ordering {
    a.price().cmp(&b.price()).then_with(|| cmp_ids(a, b))
}

impl Order<PriceEntry> for ByPrice {
    type Cell = ();

    fn cell(_: &PriceEntry) {}

    fn cmp(a: &PriceEntry, b: &PriceEntry) -> Ordering {
        a.key
            .cmp(&b.key)
            .then_with(|| cmp_prices(&a.product, &b.product))
    }
}

impl Order<NameEntry> for ByName {
    type Cell = SortKeys;

    /// Made from the entry alone, which holds both cells (an insert reads no product).
    fn cell(entry: &NameEntry) -> SortKeys {
        SortKeys {
            id: entry.id_and_whole & !1,
            price: entry.price,
        }
    }

    /// The keys mostly decide, compared inline where entries are sorted and searched; a tie goes
    /// to a call.
    #[inline]
    fn cmp(a: &NameEntry, b: &NameEntry) -> Ordering {
        let [a0, a1, a2] = a.key;
        let [b0, b1, b2] = b.key;
        a0.cmp(&b0)
            .then(a1.cmp(&b1))
            .then(a2.cmp(&b2))
            .then_with(|| ByName::tie(a, b))
    }
}

impl ByName {
    /// Two entries whose name keys are equal.
    #[inline(never)]
    fn tie(a: &NameEntry, b: &NameEntry) -> Ordering {
        if a.product.same(&b.product) {
            return Ordering::Equal;
        }
        if a.id_and_whole & b.id_and_whole & 1 == 1 {
            // Equal whole folded names: the ids decide, their first bytes mostly.
            return a
                .id_and_whole
                .cmp(&b.id_and_whole)
                .then_with(|| a.product.id().cmp(b.product.id()));
        }
        let (a, b) = (&a.product, &b.product);
        a.folded_name()
            .bytes()
            .cmp(b.folded_name().bytes())
            .then_with(|| a.id().cmp(b.id()))
    }
}

/// What one event of catalog_internal does.
#[derive(Debug, Clone)]
pub enum Change {
    Upsert(Product),
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
    if let Some(op) = decode_canonical(offset, bytes) {
        return Ok(op);
    }
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
        interned::forget(&product.id, changed.pim_offset);
        Change::Disable(product.id.as_str().into())
    } else {
        let view = pim_view(&product);
        let keys = canonical_keys(&view, Text::All).expect("prost encodes a view canonically");
        Change::Upsert(Product::shared(keys.keys, &view, changed.pim_offset))
    };
    Ok(Op {
        offset,
        pim_offset: changed.pim_offset,
        change,
    })
}

/// Starts loading the interned slot of the product a catalog_internal message changes (the one
/// `decode` looks up), if the message is laid out as `decode_canonical` expects.
pub fn prefetch(bytes: &[u8]) {
    if let Some(view) = first_bytes(bytes).and_then(first_bytes) {
        prefetch_view(view);
    }
}

/// Starts loading the interned slot of the product of `view` (a `ProductView`: its id is field 1),
/// the one `Product::from_view` looks up.
pub fn prefetch_view(view: &[u8]) {
    if let Some(id) = first_bytes(view).and_then(|id| std::str::from_utf8(id).ok()) {
        interned::prefetch(id);
    }
}

/// The bytes of field 1 if it comes first, as prost puts it.
fn first_bytes(bytes: &[u8]) -> Option<&[u8]> {
    match FieldReader::new(bytes).next() {
        Some((1, Field::Bytes(inner))) => Some(inner),
        _ => None,
    }
}

/// The common case, with one allocation: a message holding one `ProductChanged` whose product is
/// encoded canonically; its bytes are the view. None for anything else (then prost decides).
fn decode_canonical(offset: i64, bytes: &[u8]) -> Option<Op> {
    let mut message = FieldReader::new(bytes);
    let Some((1, Field::Bytes(changed))) = message.next() else {
        return None;
    };
    if message.next().is_some() || !message.at_end() {
        return None;
    }
    let mut fields = FieldReader::new(changed);
    let Some((1, Field::Bytes(product))) = fields.next() else {
        return None;
    };
    let pim_offset = match fields.next() {
        None => 0,
        Some((2, Field::Varint(value))) => value as i64,
        Some(_) => return None,
    };
    if fields.next().is_some() || !fields.at_end() {
        return None;
    }
    let found = canonical_keys(product, Text::All)?;
    let (at, len) = (found.keys.id_at as usize, found.keys.id_len as usize);
    if len == 0 {
        return None;
    }
    let change = if found.disabled {
        let id = std::str::from_utf8(&product[at..at + len]).ok()?;
        interned::forget(id, pim_offset);
        Change::Disable(id.into())
    } else {
        Change::Upsert(Product::shared(found.keys, product, pim_offset))
    };
    Some(Op {
        offset,
        pim_offset,
        change,
    })
}

/// The sort orders a page can be read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Id,
    Price,
    /// Price high to low: the price order read backwards (ties by id, from the last).
    PriceDesc,
    Name,
}

/// What a page request may ask for: every listing's limits, exported to the API and its spec.
pub const SORTS: [&str; 4] = ["id", "price", "price_desc", "name"];
pub const MAX_PER_PAGE: usize = 1000;
/// Page numbers past the last page are clamped to it; this bounds what a request may name.
pub const MAX_PAGE: usize = 1_000_000_000;
/// Characters of a name prefix.
pub const MAX_PREFIX: usize = 100;

impl Sort {
    pub fn parse(name: &str) -> Option<Sort> {
        match name {
            "id" => Some(Sort::Id),
            "price" => Some(Sort::Price),
            "price_desc" => Some(Sort::PriceDesc),
            "name" => Some(Sort::Name),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Sort::Id => "id",
            Sort::Price => "price",
            Sort::PriceDesc => "price_desc",
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
    by_id: OrderIndex<IdEntry, ById>,
    by_price: OrderIndex<PriceEntry, ByPrice>,
    /// 64 entries a leaf, as the others: a prefix's walk reads a leaf's cells (8 bytes an
    /// entry) and waits on each leaf's first lines, and 32 made it slower (docs/design.md).
    by_name: OrderIndex<NameEntry, ByName>,
    /// Last applied offset of catalog_internal (-1: nothing applied).
    offset: i64,
    /// Last applied pim_pub offset; bridged events at or below it are duplicates.
    pim_offset: i64,
}

/// What a batch did to a copy of the catalog, for the other copy: each index's removals and
/// insertions, sorted in its order, where the insertions went, and the offsets after it. The
/// entries carry their keys and the insertions their positions, so the replay reads no product,
/// sorts nothing and inserts without a comparison.
pub struct Plan {
    offset: i64,
    pim_offset: i64,
    /// New products, first; then the products that changed.
    by_id: [Changes<IdEntry>; 2],
    by_price: Changes<PriceEntry>,
    by_name: Changes<NameEntry>,
}

/// Entries an index lost, then gained, in a batch, each sorted in its order; the positions
/// the gained ones took (None: not recorded, they are inserted by comparison); and the entries
/// that took the place of an entry with the same key (a product changed in what this index
/// does not order by: a new price leaves the id and name entries where they are).
struct Changes<E> {
    removed: Vec<E>,
    added: Vec<E>,
    ranks: Option<Vec<usize>>,
    replaced: Vec<E>,
}

impl<E> Default for Changes<E> {
    fn default() -> Self {
        Changes {
            removed: Vec::new(),
            added: Vec::new(),
            ranks: None,
            replaced: Vec::new(),
        }
    }
}

impl<E: Clone> Changes<E> {
    /// Replaces `replaced`, removes `removed` one by one, then inserts `added` at their
    /// positions or else in one sorted pass.
    fn apply_to<O: Order<E>, const LEAF: usize>(self, index: &mut OrderIndex<E, O, LEAF>) {
        for entry in self.replaced {
            let found = index.replace(entry);
            debug_assert!(found, "a replayed replacement was absent");
        }
        for old in &self.removed {
            index.remove(old);
        }
        match self.ranks {
            Some(ranks) => index.insert_at_ranks(self.added, &ranks),
            None => {
                let mut present = Vec::new();
                index.insert_sorted(self.added, &mut present, &mut Vec::new());
                debug_assert!(present.is_empty(), "a replayed insert was present");
            }
        }
    }

    /// `replaced` in place, then `removed` and `added` sorted in `O`'s order, applied to `index`.
    fn of<O: Order<E>, const LEAF: usize>(
        index: &mut OrderIndex<E, O, LEAF>,
        (mut removed, mut added, replaced): (Vec<E>, Vec<E>, Vec<E>),
    ) -> Changes<E> {
        for entry in &replaced {
            let found = index.replace(entry.clone());
            debug_assert!(found, "a changed product's entry was absent");
        }
        removed.sort_unstable_by(O::cmp);
        added.sort_unstable_by(O::cmp);
        for old in &removed {
            index.remove(old);
        }
        let mut present = Vec::new();
        let mut ranks = Vec::with_capacity(added.len());
        index.insert_sorted(added.clone(), &mut present, &mut ranks);
        debug_assert!(
            present.is_empty(),
            "an index kept an entry of a changed product"
        );
        Changes {
            removed,
            added,
            ranks: Some(ranks),
            replaced,
        }
    }

    /// How `old` becomes `new` in an index ordered by `O`: in place if their keys are equal,
    /// else a removal and an insertion.
    fn sort_into<O: Order<E>>(old: E, new: E, (removed, added, replaced): &mut Moves<E>) {
        if O::cmp(&old, &new).is_eq() {
            replaced.push(new);
        } else {
            removed.push(old);
            added.push(new);
        }
    }
}

/// An index's removals, insertions and replacements, as they are gathered.
type Moves<E> = (Vec<E>, Vec<E>, Vec<E>);

/// Of `changes` (each a product's id and its change, in the batch's order), the last of each
/// product, in id order. Sorted as integers, each the id's key and then the change's position
/// (half the instructions of a stable sort of the tuples); only where keys tie are the ids
/// compared, in a stable sort that keeps a product's changes in the batch's order.
fn last_change_of_each<'a>(changes: &[(&str, &'a Change)]) -> Vec<&'a Change> {
    let mut order: Vec<u128> = changes
        .iter()
        .enumerate()
        .map(|(at, (id, _))| u128::from(sort_key(id)) << 64 | at as u128)
        .collect();
    order.sort_unstable();
    let id_at = |position: u128| changes[position as u64 as usize].0;
    for tied in order.chunk_by_mut(|a, b| a >> 64 == b >> 64) {
        if tied.len() > 1 {
            tied.sort_by_key(|&position| id_at(position));
        }
    }
    // Different keys are different ids: the ids (in the products' memory) are read only on a tie.
    let same_product = |a: u128, b: u128| a >> 64 == b >> 64 && id_at(a) == id_at(b);
    let last_of_each = |i: usize| {
        !order
            .get(i + 1)
            .is_some_and(|&next| same_product(next, order[i]))
    };
    (0..order.len())
        .filter(|&i| last_of_each(i))
        .map(|i| changes[order[i] as u64 as usize].1)
        .collect()
}

/// A product's price and name entries.
fn price_and_name(product: &Product) -> (PriceEntry, NameEntry) {
    (PriceEntry::of(product), NameEntry::of(product))
}

impl Apply for Catalog {
    type Op = Op;
    type Replay = Plan;

    fn apply(&mut self, op: &Op) {
        self.apply_batch(std::slice::from_ref(op));
    }

    fn apply_batch(&mut self, ops: &[Op]) {
        self.apply_recorded(ops.to_vec());
    }

    /// Only the last change of each product in a batch counts (readers never see a batch in part),
    /// so the batch becomes one change per product; each index then takes its removals and its
    /// insertions sorted in its own order, inserted in one pass from left to right (the path of
    /// the previous insert still in the cache) instead of one descent from the root each.
    fn apply_recorded(&mut self, ops: Vec<Op>) -> Plan {
        if let Some(last) = ops.last() {
            self.offset = last.offset;
        }
        let mut changes = Vec::with_capacity(ops.len());
        for op in &ops {
            if op.pim_offset <= self.pim_offset {
                continue; // bridged twice
            }
            let id = match &op.change {
                Change::Upsert(product) => product.id(),
                Change::Disable(id) => id,
                Change::Poison => continue,
            };
            changes.push((id, &op.change));
            self.pim_offset = op.pim_offset;
        }
        let changes = last_change_of_each(&changes);
        // New products (the common case) go into the id index in one pass, which hands back
        // those whose id is there already. The changes are in id order, and so are those.
        // Every entry of a product from one read of it (it is rarely still in the cache: it is
        // loaded a few products ahead).
        const AHEAD: usize = 8;
        let mut upserts = Vec::with_capacity(changes.len());
        let mut others = Vec::with_capacity(changes.len());
        for (i, change) in changes.iter().enumerate() {
            if let Some(Change::Upsert(ahead)) = changes.get(i + AHEAD) {
                ahead.prefetch();
            }
            if let Change::Upsert(product) = change {
                upserts.push(IdEntry::of(product));
                others.push(price_and_name(product));
            }
        }
        let mut present = Vec::new();
        let mut ranks = Vec::with_capacity(upserts.len());
        self.by_id
            .insert_sorted(upserts.clone(), &mut present, &mut ranks);
        // Sized for the common case, every change a new product (each growth copies them all).
        let mut new = Changes {
            added: Vec::with_capacity(changes.len()),
            ranks: Some(ranks),
            ..Changes::default()
        };
        let mut present = present.into_iter().peekable();
        let mut upserts = upserts.into_iter().zip(others);
        let mut by_id = Changes::default();
        let mut by_price: Moves<PriceEntry> = Default::default();
        let mut by_name: Moves<NameEntry> = Default::default();
        by_price.1.reserve(changes.len());
        by_name.1.reserve(changes.len());
        for change in changes {
            // The product a change replaces, and the entries of its replacement.
            let (old, replacement) = match change {
                Change::Upsert(product) => {
                    let (entry, others) = upserts.next().expect("entries per upsert");
                    if present.next_if(|p| p.product.same(product)).is_none() {
                        new.added.push(entry);
                        by_price.1.push(others.0);
                        by_name.1.push(others.1);
                        continue;
                    }
                    let old = self.get(product.id()).expect("present").clone();
                    if old == *product {
                        continue; // the same product again: nothing changes
                    }
                    (Some(old), Some((entry, others)))
                }
                Change::Disable(id) => (self.get(id).cloned(), None),
                Change::Poison => continue,
            };
            let Some(old) = old else { continue };
            let (old_price, old_name) = price_and_name(&old);
            match replacement {
                // The same id: its entry stays where it is, and so does any other whose key the
                // change left alone.
                Some((entry, (price, name))) => {
                    self.by_id.replace(entry.clone());
                    by_id.replaced.push(entry);
                    Changes::sort_into::<ByPrice>(old_price, price, &mut by_price);
                    Changes::sort_into::<ByName>(old_name, name, &mut by_name);
                }
                None => {
                    let entry = IdEntry::of(&old);
                    self.by_id.remove(&entry);
                    by_id.removed.push(entry);
                    by_price.0.push(old_price);
                    by_name.0.push(old_name);
                }
            }
        }
        Plan {
            offset: self.offset,
            pim_offset: self.pim_offset,
            by_id: [new, by_id],
            by_price: Changes::of(&mut self.by_price, by_price),
            by_name: Changes::of(&mut self.by_name, by_name),
        }
    }

    fn replay(&mut self, plan: Plan) {
        self.offset = plan.offset;
        self.pim_offset = plan.pim_offset;
        let [new, changed] = plan.by_id;
        new.apply_to(&mut self.by_id);
        changed.apply_to(&mut self.by_id);
        plan.by_price.apply_to(&mut self.by_price);
        plan.by_name.apply_to(&mut self.by_name);
    }
}

impl Default for Catalog {
    /// Empty, with nothing applied: both offsets are -1 so that offset 0 is the first applied.
    fn default() -> Self {
        Catalog {
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
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn offset(&self) -> i64 {
        self.offset
    }

    pub fn pim_offset(&self) -> i64 {
        self.pim_offset
    }

    pub fn get(&self, id: &str) -> Option<&Product> {
        let key = sort_key(id);
        self.by_id
            .find(|entry| entry.key.cmp(&key).then_with(|| entry.product.id().cmp(id)))
            .map(|entry| &entry.product)
    }

    /// Heap bytes of this copy's indexes, and of the products (shared by both copies).
    pub fn heap_bytes(&self) -> (usize, usize) {
        let indexes =
            self.by_id.heap_bytes() + self.by_price.heap_bytes() + self.by_name.heap_bytes();
        let products = self.by_id.iter().map(|e| e.product.heap_bytes()).sum();
        (indexes, products)
    }

    /// Page `page` (from 1, clamped into range) of `per_page` (>= 1) products whose folded name
    /// starts with the folded `prefix` (case and accents make no difference), in `sort` order. Without a prefix, or sorted by name, this costs
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
                Sort::Id => collect(self.by_id.iter_from(skip).map(|e| &e.product), take),
                Sort::Price => collect(self.by_price.iter_from(skip).map(|e| &e.product), take),
                Sort::PriceDesc => {
                    // The same products as the ascending page mirrored at the end, backwards.
                    let from = total - skip - take;
                    let mut items =
                        collect(self.by_price.iter_from(from).map(|e| &e.product), take);
                    items.reverse();
                    items
                }
                Sort::Name => collect(self.by_name.iter_from(skip).map(|e| &e.product), take),
            }
        } else if sort == Sort::Name {
            collect(self.by_name.iter_from(lo + skip).map(|e| &e.product), take)
        } else {
            self.select_range(lo, total, sort, skip, take)
        };
        Page {
            items,
            total,
            page,
            pages,
        }
    }

    /// Items [skip, skip + take) of the name range [lo, lo + total) in `sort` order (id or price),
    /// without ordering all of its products. Most pages are found in one pass that keeps only the
    /// matches whose keys lie in the window the page is likely in (`likely_window`); should the
    /// page not lie wholly inside it, an exact second pass finds it (`select_by_buckets`). Either
    /// way the cost is a walk over the range's cells (the 4 bytes of an entry that the sort
    /// orders by, tested four at a time by `Window`; no entry or product read): the memory they
    /// stream from is most of what a one-letter prefix's page costs.
    fn select_range(
        &self,
        lo: usize,
        total: usize,
        sort: Sort,
        skip: usize,
        take: usize,
    ) -> Vec<&Product> {
        if take == 0 {
            return Vec::new();
        }
        let window = self.likely_window(sort, total, skip, take);
        self.select_in_window(lo, total, sort, skip, take, window)
            .unwrap_or_else(|| self.select_by_buckets(lo, total, sort, skip, take))
    }

    /// The cells of the keys `sort` gives matches ranked [skip, skip + take) among `total`
    /// matches, with room to spare, if the matches' keys are spread like every product's: a
    /// uniform sample of m products has its k-th smallest key near the sort's key at rank k n / m,
    /// within a few times sqrt(m) ranks. The window allows 8 standard deviations on each side; a
    /// prefix whose keys are spread otherwise (its products all cheap, say) misses it and costs a
    /// second pass.
    fn likely_window(
        &self,
        sort: Sort,
        total: usize,
        skip: usize,
        take: usize,
    ) -> RangeInclusive<u32> {
        let slack = 4 * (total as f64).sqrt() as usize + 16;
        let (first, end) = (skip.saturating_sub(slack), skip + take + slack);
        let len = self.len();
        // The key at rank `rank` of the whole catalog in `sort` order, as the name entries have it.
        let key_at = |rank: usize| -> Option<u64> {
            match sort {
                Sort::Id => Some(self.by_id.get(rank)?.key),
                Sort::Price => Some(self.by_price.get(rank)?.key),
                Sort::PriceDesc => Some(!self.by_price.get(len.checked_sub(rank + 1)?)?.key),
                Sort::Name => unreachable!("a name range is in name order already"),
            }
        };
        let low = match first {
            0 => None,
            _ => key_at(first * len / total),
        };
        let high = match end >= total {
            true => None,
            false => key_at((end * len).div_ceil(total)),
        };
        let cell = |key| SortKeys::cell(sort, key);
        low.map_or(u32::MIN, cell)..=high.map_or(u32::MAX, cell)
    }

    /// Items [skip, skip + take) of the name range [lo, lo + total) in `sort` order, found among
    /// the matches whose cells are in `window` in one pass over the range; None if they are not
    /// all in it. A match whose cell is below the window comes before every match in it, one
    /// above after, so the matches in it are a run of the sort's order.
    fn select_in_window(
        &self,
        lo: usize,
        total: usize,
        sort: Sort,
        skip: usize,
        take: usize,
        window: RangeInclusive<u32>,
    ) -> Option<Vec<&Product>> {
        let runs = self.by_name.runs(lo, total, SortKeys::part(sort));
        let (below, mut kept) = in_window(runs, Window::new(sort, &window));
        let found = below <= skip && below + kept.len() >= skip + take;
        found.then(|| page_of(&mut kept, sort, skip - below, take))
    }

    /// Items [skip, skip + take) of the name range [lo, lo + total) in `sort` order, in two
    /// passes: one counts the range's cells into buckets that split the sort's span evenly, the
    /// other keeps the matches of the buckets that hold ranks `skip` and `skip + take - 1`.
    fn select_by_buckets(
        &self,
        lo: usize,
        total: usize,
        sort: Sort,
        skip: usize,
        take: usize,
    ) -> Vec<&Product> {
        let buckets = self.key_buckets(sort);
        let mut counts = vec![0u32; buckets.len()];
        for (entries, cells, at) in self.by_name.runs(lo, total, SortKeys::part(sort)) {
            for &value in &cells.column(sort)[at..at + entries.len()] {
                counts[buckets.of(u64::from(SortKeys::in_order(sort, value)))] += 1;
            }
        }
        // The buckets span cells: their bounds are cells too, the last one's end the largest.
        let near = buckets.holding(&counts, skip, skip + take - 1);
        let cell = |bound: u64| u32::try_from(bound).unwrap_or(u32::MAX);
        let near = cell(*near.start())..=cell(*near.end());
        self.select_in_window(lo, total, sort, skip, take, near)
            .expect("the buckets hold the page")
    }

    /// Buckets over every cell `sort` gives an entry of the name index, from the sort's own
    /// index: the cells of its first and last entries bound them.
    fn key_buckets(&self, sort: Sort) -> Buckets {
        let last = self.len().saturating_sub(1);
        let ids = || Some((self.by_id.get(0)?.key, self.by_id.get(last)?.key));
        let prices = || Some((self.by_price.get(0)?.key, self.by_price.get(last)?.key));
        let (low, high) = match sort {
            Sort::Id => ids(),
            Sort::Price => prices(),
            Sort::PriceDesc => prices().map(|(low, high)| (!high, !low)),
            Sort::Name => unreachable!("a name range is in name order already"),
        }
        .unwrap_or((0, 0));
        let cell = |key| u64::from(SortKeys::cell(sort, key));
        Buckets::spanning(cell(low), cell(high))
    }

    /// Positions [lo, hi) in the name index of the names whose folded form starts with the
    /// folded `prefix`: a range, since the index is in folded order.
    fn name_range(&self, prefix: &str) -> (usize, usize) {
        if prefix.is_empty() {
            return (0, self.by_name.len());
        }
        let folded = fold(prefix);
        let prefix = Folded(folded.as_bytes());
        match prefix.key_prefix() {
            Some(prefix) => self.name_range_by_keys(&prefix),
            None => self.name_range_by_names(prefix),
        }
    }

    /// `name_range` by the entries' keys, without a miss on each product compared (a name prefix
    /// of browse has one to three letters: a descent compared a score of products).
    fn name_range_by_keys(&self, prefix: &KeyPrefix) -> (usize, usize) {
        let lo = self.by_name.count_while(|e| prefix.cmp(e).is_lt());
        let hi = self.by_name.count_while(|e| prefix.cmp(e).is_le());
        (lo, hi)
    }

    /// `name_range` by the products' folded names.
    fn name_range_by_names(&self, prefix: Folded<'_>) -> (usize, usize) {
        let lo = self
            .by_name
            .count_while(|e| e.product.folded_name() < prefix);
        let hi = self.by_name.count_while(|e| {
            let name = e.product.folded_name();
            name < prefix || name.starts_with(prefix)
        });
        (lo, hi)
    }
}

/// Saved as: the offsets, the product views in id order, then for the price and the name order
/// the position in id order of each product. Loading then sorts nothing: each index is built
/// bottom-up from its order, after checking that the order is right.
impl Model for Catalog {
    /// Hundreds of MB: streamed to its file rather than held in memory twice.
    const SNAPSHOT_IN_MEMORY: bool = false;

    fn decode(offset: i64, bytes: &[u8]) -> Result<Op, DecodeError> {
        decode(offset, bytes)
    }

    fn prefetch(bytes: &[u8]) {
        prefetch(bytes)
    }

    fn poison(offset: i64) -> Op {
        Op {
            offset,
            pim_offset: i64::MIN,
            change: Change::Poison,
        }
    }

    fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![("products", self.len())]
    }
}

impl Snapshot for Catalog {
    const KIND: &'static str = "catalog";

    fn offset(&self) -> i64 {
        self.offset
    }

    fn save(&self, out: &mut Writer<'_>) {
        out.i64(self.offset);
        out.i64(self.pim_offset);
        out.len(self.len());
        let mut rank: HashMap<*const std::ffi::c_void, u32, ahash::RandomState> =
            HashMap::with_capacity_and_hasher(self.len(), ahash::RandomState::default());
        for (position, entry) in self.by_id.iter().enumerate() {
            out.blob(entry.product.view());
            rank.insert(entry.product.0.ptr(), position as u32);
        }
        for entry in self.by_price.iter() {
            out.u32(rank[&entry.product.0.ptr()]);
        }
        for entry in self.by_name.iter() {
            out.u32(rank[&entry.product.0.ptr()]);
        }
    }

    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Catalog> {
        let offset = input.i64()?;
        let pim_offset = input.i64()?;
        let saved = SavedEntries::read(input, pim_offset)?;
        let by_price = in_saved_order(input, saved.by_price)?;
        let by_name = in_saved_order(input, saved.by_name)?;
        let unsorted = |order: &str| SnapshotError(format!("products are not in {order} order"));
        Ok(Catalog {
            by_id: OrderIndex::from_sorted(saved.by_id).ok_or_else(|| unsorted("id"))?,
            by_price: OrderIndex::from_sorted(by_price).ok_or_else(|| unsorted("price"))?,
            by_name: OrderIndex::from_sorted(by_name).ok_or_else(|| unsorted("name"))?,
            offset,
            pim_offset,
        })
    }
}

/// The entries of every product of a snapshot, in id order; the price and name entries are each
/// taken once, in their own order, by `in_saved_order`.
struct SavedEntries {
    by_id: Vec<IdEntry>,
    by_price: Vec<Option<PriceEntry>>,
    by_name: Vec<Option<NameEntry>>,
}

impl SavedEntries {
    /// Rebuilds the saved products and all their entries in one pass. An entry is made while its
    /// product is in the cache, having just been built: made later, in price or name order, each
    /// would wait for its product to come from memory (a cache miss per entry).
    /// Its products are interned at the snapshot's `pim_offset`.
    fn read(input: &mut Reader<'_>, pim_offset: i64) -> snapshot::Result<SavedEntries> {
        let len = input.len(4 + 8)?;
        interned::reserve(len);
        let mut saved = SavedEntries {
            by_id: Vec::with_capacity(len),
            by_price: Vec::with_capacity(len),
            by_name: Vec::with_capacity(len),
        };
        snapshot::in_batches(input, len, Reader::blob, |views| {
            let products =
                Product::from_views(&views, pim_offset).map_err(|err| SnapshotError(err.0))?;
            for product in products {
                saved.by_price.push(Some(PriceEntry::of(&product)));
                saved.by_name.push(Some(NameEntry::of(&product)));
                saved.by_id.push(IdEntry {
                    key: sort_key(product.id()),
                    product,
                });
            }
            Ok(())
        })?;
        Ok(saved)
    }
}

/// The entries of `by_id` (one per product, in id order) in the order of the saved positions,
/// each taken exactly once. The entries lie in memory in id order, so those a few positions on
/// are prefetched while one is taken.
fn in_saved_order<E>(
    input: &mut Reader<'_>,
    mut by_id: Vec<Option<E>>,
) -> snapshot::Result<Vec<E>> {
    const AHEAD: usize = 16;
    let positions: Vec<usize> = input
        .take(by_id.len() * 4)?
        .chunks_exact(4)
        .map(|chunk| u32::from_le_bytes(chunk.try_into().expect("4 bytes")) as usize)
        .collect();
    let mut ordered = Vec::with_capacity(by_id.len());
    for (i, &position) in positions.iter().enumerate() {
        if let Some(ahead) = positions.get(i + AHEAD).and_then(|&p| by_id.get(p)) {
            prefetch_lines((ahead as *const Option<E>).cast(), std::mem::size_of::<E>());
        }
        match by_id.get_mut(position).and_then(Option::take) {
            Some(entry) => ordered.push(entry),
            None => return Err(SnapshotError("an order is not a permutation".into())),
        }
    }
    Ok(ordered)
}

/// How many of `runs`' entries have a cell below `window`, and those whose cell is in it (with
/// their cells), from the entries' cells alone: the entries are not read.
fn in_window<'a>(
    runs: Runs<'a, NameEntry, ByName>,
    window: Window,
) -> (usize, Vec<(u32, &'a NameEntry)>) {
    let sort = window.sort();
    let mut below = 0;
    let mut kept = Vec::new();
    for (entries, cells, at) in runs {
        let column = cells.column(sort);
        let tested = window.test(column, at, entries.len());
        below += tested.below;
        let mut inside = tested.inside;
        while inside != 0 {
            let slot = inside.trailing_zeros() as usize;
            inside &= inside - 1;
            kept.push((SortKeys::in_order(sort, column[slot]), &entries[slot - at]));
        }
    }
    (below, kept)
}

fn collect<'a>(iter: impl Iterator<Item = &'a Product>, take: usize) -> Vec<&'a Product> {
    iter.take(take).collect()
}

/// Items [skip, skip + take) of `kept` in `sort` order (by cell, equal cells by key, equal keys
/// as the sort's own index orders them), ordering only those: `kept` holds at least skip + take
/// items.
fn page_of<'a>(
    kept: &mut [(u32, &'a NameEntry)],
    sort: Sort,
    skip: usize,
    take: usize,
) -> Vec<&'a Product> {
    let cmp = |a: &(u32, &NameEntry), b: &(u32, &NameEntry)| by_cell(a, b, sort);
    if skip > 0 {
        kept.select_nth_unstable_by(skip, cmp);
    }
    let rest = &mut kept[skip..];
    if take < rest.len() {
        rest.select_nth_unstable_by(take, cmp);
    }
    let page = &mut rest[..take];
    page.sort_unstable_by(cmp);
    page.iter().map(|&(_, entry)| &entry.product).collect()
}

/// Two kept entries in `sort` order: by cell, inlined into the selection's loops (called, it
/// was a quarter of a prefix page's time); the rare tie by what the cells leave out.
#[inline(always)]
fn by_cell(a: &(u32, &NameEntry), b: &(u32, &NameEntry), sort: Sort) -> Ordering {
    match a.0.cmp(&b.0) {
        Ordering::Equal => by_key(a.1, b.1, sort),
        unequal => unequal,
    }
}

/// Two entries whose cells tie, by key, then as the sort's own index orders equal keys.
#[inline(never)]
fn by_key(a: &NameEntry, b: &NameEntry, sort: Sort) -> Ordering {
    let (a_product, b_product) = (&a.product, &b.product);
    a.key(sort).cmp(&b.key(sort)).then_with(|| match sort {
        Sort::Id => cmp_ids(a_product, b_product),
        Sort::Price => cmp_prices(a_product, b_product),
        _ => cmp_prices(b_product, a_product),
    })
}

/// Buckets that split a span of keys [low, high] evenly into at most 2,048 (their counters stay
/// in the first-level cache): every key of a bucket is below every key of the next.
struct Buckets {
    low: u64,
    shift: u32,
    len: usize,
}

impl Buckets {
    const BITS: u32 = 11;

    fn spanning(low: u64, high: u64) -> Buckets {
        let span_bits = u64::BITS - (low ^ high).leading_zeros();
        let shift = span_bits.saturating_sub(Self::BITS);
        let len = ((high >> shift) - (low >> shift)) as usize + 1;
        Buckets { low, shift, len }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The bucket of a key; a key out of the span goes to the nearest end, which keeps the
    /// buckets in key order.
    #[inline]
    fn of(&self, key: u64) -> usize {
        let bucket = (key >> self.shift).saturating_sub(self.low >> self.shift) as usize;
        bucket.min(self.len - 1)
    }

    /// The keys of the buckets that hold ranks `first..=last` of the keys `counts` counted
    /// (ranks from 0, `last` below their number).
    fn holding(&self, counts: &[u32], first: usize, last: usize) -> RangeInclusive<u64> {
        let (mut seen, mut from) = (0, None);
        for (bucket, &count) in counts.iter().enumerate() {
            seen += count as usize;
            if from.is_none() && seen > first {
                from = Some(bucket);
            }
            if seen > last {
                return self.first_key(from.unwrap_or(bucket))..=self.last_key(bucket);
            }
        }
        unreachable!("rank {last} is beyond the {seen} keys counted")
    }

    /// The smallest key `of` puts in `bucket`.
    fn first_key(&self, bucket: usize) -> u64 {
        match bucket {
            0 => u64::MIN,
            _ => ((self.low >> self.shift) + bucket as u64) << self.shift,
        }
    }

    /// The largest key `of` puts in `bucket`.
    fn last_key(&self, bucket: usize) -> u64 {
        match bucket + 1 == self.len {
            true => u64::MAX,
            false => self.first_key(bucket + 1) - 1,
        }
    }
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
            change: Change::Upsert(Product::from_pim(&product)),
        }
    }

    fn ids(page: &Page<'_>) -> Vec<String> {
        product_ids(&page.items)
    }

    fn product_ids(products: &[&Product]) -> Vec<String> {
        products.iter().map(|p| p.id().to_string()).collect()
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
        assert_eq!(
            ids(&catalog.page(Sort::PriceDesc, "", 1, 10)),
            ["c", "a", "d", "b"]
        );
        assert_eq!(
            ids(&catalog.page(Sort::PriceDesc, "", 1, 3)),
            ["c", "a", "d"]
        );
        assert_eq!(ids(&catalog.page(Sort::PriceDesc, "", 2, 3)), ["b"]);
    }

    #[test]
    fn prefix_selects_a_name_range_in_any_sort() {
        let catalog = sample();
        assert_eq!(ids(&catalog.page(Sort::Name, "ap", 1, 10)), ["a", "b"]);
        assert_eq!(ids(&catalog.page(Sort::Price, "ap", 1, 10)), ["b", "a"]);
        assert_eq!(ids(&catalog.page(Sort::Price, "ap", 2, 1)), ["a"]);
        assert_eq!(ids(&catalog.page(Sort::PriceDesc, "ap", 1, 10)), ["a", "b"]);
        assert_eq!(ids(&catalog.page(Sort::PriceDesc, "ap", 2, 1)), ["b"]);
        assert_eq!(catalog.page(Sort::Id, "zz", 1, 10).total, 0);
    }

    proptest! {
        /// The word-at-a-time ASCII check says what the standard library's does, at every
        /// length and wherever a byte above 0x7f lies (the overlapping last word included).
        #[test]
        fn is_ascii_is_the_standard_check(
            mut bytes in prop::collection::vec(0..0x80u8, 0..150),
            high in prop::option::of((any::<prop::sample::Index>(), 0x80..=0xffu8)),
        ) {
            if let (Some((at, byte)), false) = (high, bytes.is_empty()) {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
            prop_assert_eq!(is_ascii(&bytes), bytes.is_ascii());
        }
    }

    proptest! {
        /// A prefix's page in id or price order is that sort's whole order cut to the prefix's
        /// matches, with keys that tie (ids alike in their first bytes, equal prices), keys
        /// spread over their whole span (prices beyond the key's range) and names whose first
        /// letter folds ("É", "ß"), at every page.
        #[test]
        fn a_prefix_page_is_its_sort_cut_to_the_matches(
            products in prop::collection::vec(
                (0..500u32, any::<bool>(), 0..8usize, prop_oneof![0..4i64, 0..1i64 << 45, Just(i64::MAX)]),
                1..300,
            ),
            per_page in 1..40usize,
            window in (any::<u32>(), any::<u32>()),
        ) {
            let names = ["apple", "Apricot", "apfel", "banana", "b", "AP", "Éclat", "ße"];
            let mut catalog = Catalog::new();
            for (i, &(n, alike, name, price)) in products.iter().enumerate() {
                let id = if alike { format!("product-{n}") } else { format!("{n}") };
                catalog.apply(&upsert(i as i64, &id, names[name], price));
            }
            for prefix in ["", "a", "ap", "B", "apr", "zz", "é", "S", "ss"] {
                let matching = ids(&catalog.page(Sort::Name, prefix, 1, usize::MAX));
                for sort in [Sort::Id, Sort::Price, Sort::PriceDesc] {
                    let expected: Vec<String> = ids(&catalog.page(sort, "", 1, usize::MAX))
                        .into_iter()
                        .filter(|id| matching.contains(id))
                        .collect();
                    let (lo, hi) = catalog.name_range(prefix);
                    for (page, chunk) in expected.chunks(per_page).enumerate() {
                        prop_assert_eq!(ids(&catalog.page(sort, prefix, page + 1, per_page)), chunk);
                        // Each way to the page, whatever the window: right, or None.
                        let (skip, take) = (page * per_page, chunk.len());
                        let by_buckets = catalog.select_by_buckets(lo, hi - lo, sort, skip, take);
                        prop_assert_eq!(product_ids(&by_buckets), chunk);
                        let window = window.0.min(window.1)..=window.0.max(window.1);
                        if let Some(found) = catalog.select_in_window(lo, hi - lo, sort, skip, take, window) {
                            prop_assert_eq!(product_ids(&found), chunk);
                        }
                    }
                }
            }
        }
    }

    /// A deterministic stream of pseudo-random numbers (xorshift64) from `seed`.
    fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// A prefix whose prices are spread like every product's has each of its pages in the window
    /// the whole catalog's prices predict (one pass); one whose products are the cheapest misses
    /// it, and its pages are found all the same.
    #[test]
    fn a_prefix_page_is_mostly_found_in_one_pass() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        let mut catalog = Catalog::new();
        for i in 0..20_000 {
            let r = next();
            let (name, price) = match i % 50 {
                0 => ("zz cheap", (r % 100) as i64 + 1),
                _ => (
                    ["apple", "banana", "cherry", "date"][r as usize % 4],
                    (r % 100_000) as i64 + 1_000,
                ),
            };
            catalog.apply(&upsert(i, &format!("{r:x}"), name, price));
        }
        for (prefix, sort, spread_alike) in [
            ("b", Sort::Price, true),
            ("c", Sort::Id, true),
            ("ap", Sort::PriceDesc, true),
            ("zz", Sort::PriceDesc, false),
            ("zz", Sort::Price, false),
        ] {
            let (lo, hi) = catalog.name_range(prefix);
            let whole: Vec<String> = ids(&catalog.page(sort, "", 1, usize::MAX))
                .into_iter()
                .filter(|id| {
                    catalog
                        .get(id)
                        .is_some_and(|p| p.name().starts_with(prefix))
                })
                .collect();
            assert_eq!(whole.len(), hi - lo);
            let per_page = 48;
            let mut in_window = 0;
            for (page, chunk) in whole.chunks(per_page).enumerate() {
                let (skip, take) = (page * per_page, chunk.len());
                let window = catalog.likely_window(sort, hi - lo, skip, take);
                in_window += usize::from(
                    catalog
                        .select_in_window(lo, hi - lo, sort, skip, take, window)
                        .is_some(),
                );
                assert_eq!(ids(&catalog.page(sort, prefix, page + 1, per_page)), chunk);
            }
            let pages = whole.len().div_ceil(per_page);
            match spread_alike {
                true => assert_eq!(in_window, pages, "{prefix}"),
                false => assert!(in_window < pages, "{prefix}: {in_window} of {pages}"),
            }
        }
    }

    /// A prefix that fits in a key finds by the entries' keys the range it finds by the names,
    /// whatever the names and prefixes hold (NUL bytes, cases, accents) and however long.
    #[test]
    fn a_short_prefix_finds_by_keys_the_range_of_the_names() {
        use proptest::prelude::*;
        let names = prop::collection::vec("[abAB\0é]{0,30}", 1..60);
        let prefixes = prop::collection::vec("[abAB\0é]{1,28}", 1..8);
        proptest!(|(names in names, prefixes in prefixes)| {
            let mut catalog = Catalog::new();
            let ops: Vec<Op> = names
                .iter()
                .enumerate()
                .map(|(i, name)| upsert(i as i64, &format!("p{i}"), name, 1))
                .collect();
            catalog.apply_batch(&ops);
            let short = names.iter().map(|name| name.chars().take(3).collect::<String>());
            for prefix in prefixes.iter().cloned().chain(short) {
                let prefix = prefix.as_str();
                let folded = fold(prefix);
                let folded = Folded(folded.as_bytes());
                if let Some(by_key) = folded.key_prefix() {
                    prop_assert_eq!(
                        catalog.name_range_by_keys(&by_key),
                        catalog.name_range_by_names(folded),
                        "{:?}",
                        prefix
                    );
                }
            }
        });
    }

    #[test]
    fn a_prefix_finds_names_whatever_their_case_and_accents() {
        let mut catalog = Catalog::new();
        for (i, name) in [
            "Lorem ipsum",
            "lörem",
            "LOREM",
            "Lo\u{308}rem",
            "Loré",
            "Lor",
            "Straße",
        ]
        .iter()
        .enumerate()
        {
            catalog.apply(&upsert(i as i64, &format!("p{i}"), name, 10 - i as i64));
        }
        for prefix in ["lorem", "Lörem", "LOREM", "lo\u{308}REM"] {
            assert_eq!(
                ids(&catalog.page(Sort::Name, prefix, 1, 10)),
                ["p1", "p2", "p3", "p0"],
                "{prefix}"
            );
            assert_eq!(
                ids(&catalog.page(Sort::Price, prefix, 1, 10)),
                ["p3", "p2", "p1", "p0"]
            );
        }
        assert_eq!(ids(&catalog.page(Sort::Id, "LORE", 1, 10)).len(), 5);
        assert_eq!(ids(&catalog.page(Sort::Id, "strass", 1, 10)), ["p6"]);
        assert_eq!(ids(&catalog.page(Sort::Id, "STRAẞE", 1, 10)), ["p6"]);
        assert_eq!(catalog.page(Sort::Id, "lorems", 1, 10).total, 0);
    }

    /// A folded name is stored only when ASCII lowering does not make it.
    #[test]
    fn only_names_that_folding_changes_beyond_ascii_case_store_a_fold() {
        let extra = |name: &str| {
            let product = match upsert(0, "id", name, 1).change {
                Change::Upsert(product) => product,
                _ => unreachable!(),
            };
            let loaded = Product::from_views(&[product.view()], 0).unwrap();
            assert_eq!(loaded, std::slice::from_ref(&product));
            product.0.slice.len() - product.view().len()
        };
        assert_eq!(extra("Lorem Ipsum"), 0);
        assert_eq!(extra("σισυφοσ"), 0);
        assert_eq!(extra("Lörem"), "lorem".len());
    }

    #[test]
    fn cells_never_order_against_their_keys() {
        let mut next = xorshift(7);
        let mut keys: Vec<u64> = (0..20_000)
            .map(|i| next() >> (i % 64))
            .chain([0, 1, 2, 3, u64::MAX, u64::MAX - 1, 1 << 40])
            .collect();
        keys.sort_unstable();
        for sort in [Sort::Id, Sort::Price, Sort::PriceDesc] {
            let cells: Vec<u32> = keys.iter().map(|&key| SortKeys::cell(sort, key)).collect();
            let ordered = cells.windows(2).all(|pair| pair[0] <= pair[1]);
            assert!(ordered, "{sort:?}: a greater key has a smaller cell");
        }
        // A price key keeps a price's bits and the id's first ones.
        let cell = |price| SortKeys::cell(Sort::Price, price_key(price, "5f3a"));
        assert!(cell(4_999) < cell(5_000));
        assert_ne!(
            cell(5_000),
            SortKeys::cell(Sort::Price, price_key(5_000, "6f3a"))
        );
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
            "E",
            "Abcdefghijklmnopqrstuvwxyz0",
            "abcdefghijklmnopqrstuvwxyZ",
            "ABCDEFGHIJKLMNOPQRSTUVWXYÉ",
            "abcdefghijklmnopqrstuvwxÿ1",
            "Straße",
            "STRASSE",
        ];
        let mut catalog = Catalog::new();
        let mut expected = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let id = format!("{:0>9}", 99 - i);
            catalog.apply(&upsert(i as i64, &id, name, 1));
            expected.push((fold(name).into_owned(), id));
        }
        let page = catalog.page(Sort::Name, "", 1, 100);
        let got: Vec<(String, String)> = page
            .items
            .iter()
            .map(|p| (fold(p.name()).into_owned(), p.id().to_string()))
            .collect();
        expected.sort();
        assert_eq!(got, expected);
        let by_id = catalog.page(Sort::Id, "", 1, 100);
        assert!(by_id.items.windows(2).all(|w| w[0].id() < w[1].id()));
    }

    fn test_identity() -> snapshot::Identity {
        snapshot::Identity {
            topic: "catalog_internal".into(),
            topic_id: "t".into(),
            cluster_id: "c".into(),
        }
    }

    fn saved(catalog: &Catalog, name: &str) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("catalog-snapshot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}-{}.snapshot", catalog.len()));
        snapshot::write(&path, &test_identity(), catalog).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        bytes
    }

    fn round_trip(catalog: &Catalog) -> Catalog {
        let bytes = saved(catalog, "round-trip");
        snapshot::read(&bytes, &test_identity(), catalog.offset()).unwrap()
    }

    /// A saved order that names a product twice (and so leaves another out) is refused, even
    /// with a checksum that matches.
    #[test]
    fn a_saved_order_that_repeats_a_product_is_refused() {
        let catalog = sample();
        let mut bytes = saved(&catalog, "repeated");
        // The file ends with the price positions, the name positions and the checksum.
        let len = bytes.len();
        let price_positions = len - 4 - 8 * catalog.len();
        let first: [u8; 4] = bytes[price_positions..price_positions + 4]
            .try_into()
            .unwrap();
        bytes[price_positions + 4..price_positions + 8].copy_from_slice(&first);
        let crc = crc32c::crc32c(&bytes[..len - 4]);
        bytes[len - 4..].copy_from_slice(&crc.to_le_bytes());
        let refused = snapshot::read::<Catalog>(&bytes, &test_identity(), catalog.offset());
        assert_eq!(
            refused.err(),
            Some(SnapshotError("an order is not a permutation".into()))
        );
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
    fn prices_out_of_the_key_range_still_order_by_price_then_id() {
        let mut catalog = Catalog::new();
        let prices = [
            i64::MIN,
            -1,
            0,
            1,
            (1 << 40) - 1,
            1 << 40,
            i64::MAX,
            -1,
            1 << 41,
        ];
        for (i, price) in prices.iter().enumerate() {
            catalog.apply(&upsert(i as i64, &format!("{}", 9 - i), "n", *price));
        }
        let page = catalog.page(Sort::Price, "", 1, 100);
        let got: Vec<(i64, &str)> = page.items.iter().map(|p| (p.price(), p.id())).collect();
        let mut expected = got.clone();
        expected.sort();
        assert_eq!(got, expected);
        assert_eq!(got.len(), prices.len());
    }

    use crate::swap::LeftRight;
    use proptest::prelude::*;

    /// An op of a small world: few ids, names and prices, so that changes collide; pim offsets
    /// that sometimes go back (a bridge that ran twice); disables and poison.
    fn any_op() -> impl Strategy<Value = (u8, u8, u8, i64, i64)> {
        (0..4u8, 0..12u8, 0..5u8, -2..4i64, -1..3i64)
    }

    /// Half of the small world's ids share their first 8 bytes (their sort key), which then
    /// ties and the ids themselves decide.
    fn id_of(n: u8) -> String {
        if n < 6 {
            format!("id{n}")
        } else {
            format!("same-key{n}")
        }
    }

    fn make_op(
        offset: i64,
        pim_offset: i64,
        (kind, id, name, price, _): (u8, u8, u8, i64, i64),
    ) -> Op {
        let id = id_of(id);
        let change = match kind {
            0 => Change::Disable(id.as_str().into()),
            1 => Change::Poison,
            _ => {
                let names = [
                    "apple",
                    "apricot",
                    "apple pie with a very long name",
                    "",
                    "b",
                ];
                let product = pim::Product {
                    id,
                    name: names[name as usize].into(),
                    price,
                    description: format!("{kind}"),
                    ..Default::default()
                };
                Change::Upsert(Product::from_pim(&product))
            }
        };
        Op {
            offset,
            pim_offset,
            change,
        }
    }

    proptest! {
        /// Applying a batch at once (one change per product, sorted per index) ends in the state
        /// that applying its ops one by one does.
        #[test]
        fn a_batch_equals_its_ops_one_by_one(
            raw in prop::collection::vec(any_op(), 0..120),
            cuts in prop::collection::vec(0..120usize, 0..6),
        ) {
            let mut pim_offset = 0;
            let ops: Vec<Op> = raw
                .iter()
                .enumerate()
                .map(|(i, raw)| {
                    pim_offset += raw.4;
                    make_op(i as i64, pim_offset, *raw)
                })
                .collect();
            let mut one_by_one = Catalog::new();
            // Batches go through the swap too: every other batch reaches the published copy by
            // the replay of what the other copy did, and each must show the same state.
            let swap = LeftRight::<Catalog>::default();
            let mut batched = Catalog::new();
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c < ops.len()).collect();
            cuts.sort_unstable();
            let mut start = 0;
            for cut in cuts.into_iter().chain([ops.len()]) {
                let batch = &ops[start..cut.max(start)];
                batch.iter().for_each(|op| one_by_one.apply(op));
                batched.apply_batch(batch);
                swap.write(batch.to_vec());
                start = cut.max(start);
                let published = swap.read();
                prop_assert_eq!(every_page(&published), every_page(&one_by_one));
                prop_assert_eq!(published.offset(), one_by_one.offset());
                prop_assert_eq!(published.pim_offset(), one_by_one.pim_offset());
            }
            // One more (empty) batch publishes the copy that took the last replay.
            swap.write(Vec::new());
            let replayed = swap.read();
            for catalog in [&batched, &**replayed] {
                prop_assert_eq!(every_page(catalog), every_page(&one_by_one));
                prop_assert_eq!(catalog.offset(), one_by_one.offset());
                prop_assert_eq!(catalog.pim_offset(), one_by_one.pim_offset());
                for id in 0..12 {
                    let id = id_of(id);
                    prop_assert_eq!(catalog.get(&id), one_by_one.get(&id));
                }
            }
        }
    }

    /// Enough products for trees of several levels: batches through the swap (sorted runs and
    /// replays) end where the ops one by one do, in every order.
    #[test]
    fn large_batches_through_the_swap_equal_ops_one_by_one() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        let ops: Vec<Op> = (0..30_000)
            .map(|i| {
                let r = next();
                let kind = if r % 10 == 0 { 0 } else { 2 };
                let raw = (kind, 0, (r >> 8) as u8 % 5, (r >> 16) as i64 % 50, 0);
                let mut op = make_op(i, i, raw);
                let id = format!("p{}", (r >> 24) % 8000);
                op.change = match op.change {
                    Change::Upsert(product) => Change::Upsert(Product::from_pim(&pim::Product {
                        id,
                        name: format!("{} {}", product.name(), r % 97),
                        price: product.price(),
                        ..Default::default()
                    })),
                    _ => Change::Disable(id.as_str().into()),
                };
                op
            })
            .collect();
        let mut one_by_one = Catalog::new();
        let swap = LeftRight::<Catalog>::default();
        let all = |catalog: &Catalog| {
            [Sort::Id, Sort::Price, Sort::Name].map(|sort| ids(&catalog.page(sort, "", 1, 100_000)))
        };
        for batch in ops.chunks(2_500) {
            batch.iter().for_each(|op| one_by_one.apply(op));
            swap.write(batch.to_vec());
            assert_eq!(all(&swap.read()), all(&one_by_one));
        }
        swap.write(Vec::new());
        assert_eq!(all(&swap.read()), all(&one_by_one));
        assert!(one_by_one.len() > 5_000, "{}", one_by_one.len());
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
        assert_eq!(catalog.get("a").unwrap().name(), "apple");
        assert_eq!(
            ids(&catalog.page(Sort::Name, "", 1, 10)),
            ["a", "b", "d", "c"]
        );
    }

    /// The bench's catalog events (`python -m bench` writes them under data/bench/), or None.
    fn bench_events(rows: usize) -> Option<Vec<u8>> {
        let path = format!(
            "{}/data/bench/catalog-events-{rows}-0.bin",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).ok()
    }

    /// The (offset, message) pairs of a length-prefixed events file.
    fn framed(bytes: &[u8]) -> Vec<(i64, &[u8])> {
        let mut messages = Vec::new();
        let mut rest = bytes;
        while let Some((len, tail)) = rest.split_first_chunk::<4>() {
            let len = u32::from_le_bytes(*len) as usize;
            messages.push((messages.len() as i64, &tail[..len]));
            rest = &tail[len..];
        }
        messages
    }

    /// `BENCH_ROWS=1000000 cargo test --release --no-default-features --lib -- --ignored
    /// --nocapture apply_and_load_bench_data`: the bench's catalog events decoded and applied to
    /// both copies in the shop's batches (what bench/pages.py times), then the model saved
    /// and loaded back from a snapshot, each timed. `BENCH_PHASE=load` only loads (the snapshot
    /// of an earlier run) and `BENCH_PHASE=apply` only applies, for a profile of either alone.
    /// `BENCH_EVENTS=N` applies the first N events only (for callgrind, say).
    #[test]
    #[ignore = "benchmark; needs the bench data"]
    fn apply_and_load_bench_data() {
        let rows: usize = std::env::var("BENCH_ROWS").map_or(50_000, |r| r.parse().unwrap());
        let path = std::env::temp_dir().join(format!("catalog-bench-{rows}.snapshot"));
        let identity = test_identity();
        let phase = std::env::var("BENCH_PHASE").unwrap_or_default();
        if phase != "load" {
            let Some(events) = bench_events(rows) else {
                eprintln!("no bench data for {rows} rows");
                return;
            };
            let mut messages = framed(&events);
            if let Ok(events) = std::env::var("BENCH_EVENTS") {
                messages.truncate(events.parse().unwrap());
            }
            // The two copies of the swap, side by side: what each step takes is timed apart.
            let (mut first, mut second) = (Catalog::new(), Catalog::new());
            let mut seconds = [0.0; 3];
            let mut timed = |step: usize, started: std::time::Instant| {
                seconds[step] += started.elapsed().as_secs_f64();
            };
            for batch in messages.chunks(10_000) {
                let started = std::time::Instant::now();
                let ops = batch
                    .iter()
                    .map(|&(offset, bytes)| decode(offset, bytes).expect("a catalog event"))
                    .collect();
                timed(0, started);
                let started = std::time::Instant::now();
                let plan = first.apply_recorded(ops);
                timed(1, started);
                let started = std::time::Instant::now();
                second.replay(plan);
                timed(2, started);
            }
            let [decoding, applying, replaying] = seconds;
            let total = decoding + applying + replaying;
            println!(
                "apply: {} events in {total:.3} s, {:.0} events/s (decode {decoding:.3} s, \
                 first copy {applying:.3} s, replay {replaying:.3} s)",
                messages.len(),
                messages.len() as f64 / total
            );
            assert_eq!(every_page(&first), every_page(&second));
            let (indexes, products) = first.heap_bytes();
            println!(
                "heap: {:.3} x the event bytes",
                (2 * indexes + products) as f64
                    / messages.iter().map(|(_, bytes)| bytes.len()).sum::<usize>() as f64
            );
            if phase == "apply" {
                // Not dropped: a profile of the apply then shows only the apply.
                std::mem::forget((first, second));
                return;
            }
            snapshot::write(&path, &identity, &first).unwrap();
        }
        let file = std::fs::File::open(&path).unwrap();
        let started = std::time::Instant::now();
        // Mapped, as the projection loads it.
        // SAFETY: nothing else writes this file while it is read.
        let bytes = unsafe { memmap2::Mmap::map(&file).unwrap() };
        let loaded: Catalog = snapshot::read(&bytes, &identity, i64::MAX).unwrap();
        println!(
            "load: {} products in {:.3} s",
            loaded.len(),
            started.elapsed().as_secs_f64()
        );
        // Not dropped: a profile of the load then shows only the load.
        std::mem::forget(loaded);
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
