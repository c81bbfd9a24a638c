//! The search projection: a full-text index of the enabled products, kept by applying
//! search_internal (the catalog's `ProductChanged` events, bridged from pim_pub the same way).
//!
//! Each product takes a slot (a small number, reused after a product is disabled), in a chunk of
//! slots of its category (`chunks`). Every word of
//! the index has four compressed bitmaps of slots, by the best field holding it (name, category,
//! description, long text): a word's matches are unions of bitmaps, a query's the intersection of
//! its words'. The neighbouring words of the names and categories are indexed as pairs
//! (`pairs.rs`): proximity ranks by them.
//! Dictionary lookups go through a hash map; a sorted copy of the words serves prefixes.

mod ahead;
mod chunks;
mod dictionary;
pub mod encode;
mod found;
mod groups;
mod held;
mod id_bands;
mod pairs;
pub mod query;
mod slots;
pub mod text;

use crate::catalog::{self, Change, Op, Product};
use crate::codec::{DecodeError, Field, FieldReader};
use crate::projection::Model;
use crate::snapshot::{self, Reader, Snapshot, SnapshotError, Writer};
use crate::swap::Apply;
use ahead::{Ahead, FoundAhead};
use found::{Found, Log, Terms};
use roaring::{MultiOps, RoaringBitmap};
use std::collections::{BTreeMap, HashMap};

pub use query::{Facets, Hits, Request, SearchSort, PRICE_BUCKETS, SEARCH_SORTS};

/// The fields searched, best first: a match in the name ranks above one in the category, and so on.
pub const FIELDS: [&str; 4] = ["name", "category", "description", "longtext"];
/// The protobuf numbers of those fields in a product view.
const FIELD_NUMBERS: [u32; 4] = [3, 6, 4, 5];

/// One indexed product: the catalog's stored product (its view is what a result shows) and its
/// price, kept apart so filters read no product. Its category is its slot's chunk's (`Chunks`):
/// not kept here, 8 bytes a slot in each copy.
#[derive(Clone)]
pub struct Doc {
    pub product: Product,
    pub price: i64,
    /// The first bytes of the name as a number that orders as they do (`sort_key`): results
    /// are ordered by it without reading the product, mostly.
    pub name_key: u64,
}

impl Doc {
    fn new(product: Product) -> Doc {
        Doc {
            price: product.price(),
            name_key: catalog::sort_key(product.name()),
            product,
        }
    }
}

/// Slots holding a word, by the best field holding it (`FIELDS` order): a slot is in one of them,
/// as a match ranks by its best field only. Smaller than a bitmap per field, and a query word that
/// matches one word of the index finds its slots by rank already split.
#[derive(Clone, Default)]
pub struct Postings {
    fields: [RoaringBitmap; 4],
    /// The union of `fields`, kept rather than made per query (what a query intersects); not in
    /// snapshots, made again as one loads.
    any: RoaringBitmap,
}

impl Postings {
    /// Postings of the slots of each field (disjoint bitmaps, `FIELDS` order).
    fn of_fields(fields: [RoaringBitmap; 4]) -> Postings {
        let any = fields.iter().union();
        Postings { fields, any }
    }

    /// The slots holding the word, by the best field holding it.
    pub fn fields(&self) -> &[RoaringBitmap; 4] {
        &self.fields
    }

    /// Every slot holding the word.
    pub fn any(&self) -> &RoaringBitmap {
        &self.any
    }

    /// Adds a batch's new slots of the word (`held::NewSlots`), a container at a time (inserted
    /// one by one, each searched its container: a quarter of indexing).
    fn join(&mut self, new: &held::NewSlots) {
        for (bitmap, slots) in self.fields.iter_mut().zip(&new.fields) {
            *bitmap |= slots;
        }
        self.any |= &new.any;
    }

    fn remove(&mut self, slot: u32) {
        if self.any.remove(slot) {
            self.fields
                .iter_mut()
                .for_each(|bitmap| _ = bitmap.remove(slot));
        }
    }

    /// How many slots hold the word.
    pub fn len(&self) -> u64 {
        self.any.len()
    }

    /// How many of `slots` hold the word.
    pub fn intersection_len(&self, slots: &RoaringBitmap) -> u64 {
        self.any.intersection_len(slots)
    }

    pub fn is_empty(&self) -> bool {
        self.any.is_empty()
    }
}

#[derive(Clone)]
pub struct Search {
    /// Products by slot; None for a free slot.
    docs: Vec<Option<Doc>>,
    /// Which slots are free, and the category of each chunk of slots.
    chunks: chunks::Chunks,
    /// Slots by product id.
    slots: slots::Slots,
    /// Words by number, with their postings; a word whose postings emptied stays, empty.
    words: Vec<(Box<str>, Postings)>,
    word_numbers: dictionary::Dictionary,
    /// The words in order, for prefixes.
    sorted: BTreeMap<Box<str>, u32>,
    /// The slots of each two words next to each other in a name or category.
    pairs: pairs::Pairs,
    /// Inserts into the words' and pairs' postings not yet made: none but while a batch is applied.
    held: held::Held,
    /// Where products' terms come from while a batch is applied (`found`): off between batches.
    log: Log,
    /// Categories by number, as first met; never forgotten (a handful per catalog).
    categories: Vec<Box<str>>,
    /// Category numbers by name.
    category_numbers: HashMap<Box<str>, u32, ahash::RandomState>,
    /// Slots holding a product, those of each category (by number) and those of each price range
    /// (`PRICE_BUCKETS`): filters and facets are bitmap operations on them.
    live: RoaringBitmap,
    in_category: Vec<RoaringBitmap>,
    in_price: [RoaringBitmap; PRICE_BUCKETS.len()],
    /// The first bytes of each slot's product id as a number (`sort_key`; any for a free slot):
    /// a page orders a group by them, read in slot order from here rather than from each doc.
    id_keys: Vec<u64>,
    /// The live slots in bands by id key: a large group's first page is in its first bands.
    id_bands: id_bands::IdBands,
    offset: i64,
    pim_offset: i64,
}

impl Default for Search {
    fn default() -> Self {
        Search {
            docs: Vec::new(),
            chunks: chunks::Chunks::default(),
            slots: slots::Slots::default(),
            words: Vec::new(),
            word_numbers: dictionary::Dictionary::default(),
            sorted: BTreeMap::new(),
            pairs: pairs::Pairs::default(),
            held: held::Held::default(),
            log: Log::Off,
            categories: Vec::new(),
            category_numbers: HashMap::default(),
            live: RoaringBitmap::new(),
            in_category: Vec::new(),
            in_price: Default::default(),
            id_keys: Vec::new(),
            id_bands: id_bands::IdBands::default(),
            offset: -1,
            pim_offset: -1,
        }
    }
}

/// The strings of a product view's searched fields, in `FIELDS` order, and its category.
fn field_texts(view: &[u8]) -> [&str; 4] {
    let mut texts = [""; 4];
    for (number, field) in FieldReader::new(view) {
        if let (Some(at), Field::Bytes(bytes)) =
            (FIELD_NUMBERS.iter().position(|&n| n == number), field)
        {
            // Views are checked to be UTF-8 when their event is applied.
            texts[at] = std::str::from_utf8(bytes).unwrap_or_default();
        }
    }
    texts
}

/// Whether two products have the same searched texts (and so the same words and pairs).
fn same_texts(held: &Product, product: &Product) -> bool {
    field_texts(held.view()) == field_texts(product.view())
}

/// A product's terms: its distinct words, each by the number `number` gives it, with the fields
/// it is in (bit i: `FIELDS[i]`), in the order first met; and its distinct pairs of words next to
/// each other, in order, in the `pairs::PAIRED_FIELDS`, by the same numbers.
fn product_terms(product: &Product, number: impl FnMut(&str) -> u32) -> Terms {
    let mut finder = TermsFinder::new();
    finder.find(product, number);
    Terms {
        words: finder.words.words,
        pairs: finder.pairs.into_iter().map(unpacked).collect(),
    }
}

/// A word pair as one number, the first word's number high: pairs sort as these numbers.
fn packed((first, second): (u32, u32)) -> u64 {
    u64::from(first) << 32 | u64::from(second)
}

fn unpacked(pair: u64) -> (u32, u32) {
    ((pair >> 32) as u32, pair as u32)
}

/// Finds a product's terms (`product_terms`) into tables kept from one product to the next.
struct TermsFinder {
    words: DistinctWords,
    /// Each pair packed into one u64 (`packed`), so that pairs sort as plain numbers.
    pairs: Vec<u64>,
}

impl TermsFinder {
    fn new() -> TermsFinder {
        TermsFinder {
            words: DistinctWords::new(),
            pairs: Vec::with_capacity(16),
        }
    }

    /// Finds `product`'s terms in place of the last product's; words are read once.
    fn find(&mut self, product: &Product, mut number: impl FnMut(&str) -> u32) {
        self.words.clear();
        self.pairs.clear();
        for (field, text) in field_texts(product.view()).iter().enumerate() {
            let paired = pairs::PAIRED_FIELDS.contains(&field);
            let mut before: Option<u32> = None;
            text::for_each_word(text, |term, _, _| {
                let word = number(term);
                self.words.add(word, 1 << field);
                if paired {
                    if let Some(first) = before {
                        self.pairs.push(packed((first, word)));
                    }
                    before = Some(word);
                }
            });
        }
        self.pairs.sort_unstable();
        self.pairs.dedup();
    }
}

/// A product's distinct words with the fields holding each, in the order first met, and where each
/// is in them by its number (an open-addressed table, at most half full): sorting every word met,
/// to merge the repeated ones, took a sixth of indexing.
struct DistinctWords {
    words: Vec<(u32, u8)>,
    /// 1 + the word's index in `words`; 0 for an empty place.
    places: Vec<u32>,
    bits: u32,
}

impl DistinctWords {
    /// Places at first; a table grown past `KEPT_BITS` is made anew for the next product.
    const BITS: u32 = 8;
    const KEPT_BITS: u32 = 10;

    fn new() -> DistinctWords {
        DistinctWords {
            words: Vec::with_capacity(1 << (Self::BITS - 1)),
            places: vec![0; 1 << Self::BITS],
            bits: Self::BITS,
        }
    }

    fn clear(&mut self) {
        if self.bits > Self::KEPT_BITS {
            *self = DistinctWords::new();
        } else if !self.words.is_empty() {
            self.words.clear();
            self.places.fill(0);
        }
    }

    /// Where `word` is in `places`, or the empty place it would take.
    fn place(&self, word: u32) -> usize {
        let mask = self.places.len() - 1;
        let mut at = (word.wrapping_mul(0x9E37_79B9) >> (32 - self.bits)) as usize;
        loop {
            match self.places[at] {
                0 => return at,
                index if self.words[index as usize - 1].0 == word => return at,
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// `word`, in the fields `fields` too.
    fn add(&mut self, word: u32, fields: u8) {
        let at = self.place(word);
        match self.places[at] {
            0 => {
                self.words.push((word, fields));
                self.places[at] = self.words.len() as u32;
                if self.words.len() * 2 > self.places.len() {
                    self.grow();
                }
            }
            index => self.words[index as usize - 1].1 |= fields,
        }
    }

    fn grow(&mut self) {
        self.bits += 1;
        self.places = vec![0; 1 << self.bits];
        for index in 0..self.words.len() {
            let at = self.place(self.words[index].0);
            self.places[at] = index as u32 + 1;
        }
    }
}

impl Apply for Search {
    type Op = Op;
    type Replay = Found;

    fn apply(&mut self, op: &Op) {
        self.apply_batch(std::slice::from_ref(op));
    }

    /// Applies each op with its postings' inserts held back, then makes them word by word; a
    /// large batch's terms are found ahead, on two threads (`ahead`).
    fn apply_batch(&mut self, ops: &[Op]) {
        if matches!(self.log, Log::Replaying(..)) || !Ahead::worth_it(ops) {
            ops.iter().for_each(|op| self.apply_held(op, None));
        } else {
            let mut ahead = Ahead::default();
            for run in ops.chunks(ahead::RUN) {
                ahead.find(run, self);
                for op in run {
                    let found = ahead.next();
                    self.apply_held(op, found);
                }
            }
        }
        self.make_held();
    }

    fn apply_recorded(&mut self, ops: Vec<Op>) -> Found {
        let known = self.words.len();
        self.log = Log::Recording(Vec::new(), Vec::new());
        self.apply_batch(&ops);
        let (terms, made) = self.log.end();
        let new_words = self.words[known..].iter().map(|(word, _)| word.clone());
        Found {
            ops,
            new_words: new_words.collect(),
            terms,
            made,
        }
    }

    /// The words the batch added first (numbered as on the other copy), then the batch with the
    /// products' terms the other copy found.
    fn replay(&mut self, found: Found) {
        found
            .new_words
            .into_iter()
            .for_each(|word| _ = self.add_word(word));
        self.log = Log::Replaying(found.terms.into_iter(), found.made.into_iter());
        self.apply_batch(&found.ops);
        self.log.end();
    }
}

impl Search {
    /// Applies `op`, holding back the inserts into postings it makes (`held`); `found` the terms
    /// of its product if found ahead.
    fn apply_held(&mut self, op: &Op, found: Option<FoundAhead<'_>>) {
        self.offset = op.offset;
        if op.pim_offset <= self.pim_offset {
            return; // bridged twice (or poison, whose pim_offset is the least)
        }
        self.pim_offset = op.pim_offset;
        match &op.change {
            Change::Upsert(product) => self.upsert(product, found),
            Change::Disable(id) => self.remove(id),
            Change::Poison => {}
        }
    }

    pub fn offset(&self) -> i64 {
        self.offset
    }

    pub fn pim_offset(&self) -> i64 {
        self.pim_offset
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn doc(&self, slot: u32) -> Option<&Doc> {
        self.docs.get(slot as usize).and_then(Option::as_ref)
    }

    /// The doc of a slot known to hold a product (a matched one).
    pub fn product_doc(&self, slot: u32) -> &Doc {
        self.doc(slot).expect("a matched slot holds a product")
    }

    /// The first bytes of the id of the product in `slot` as a number.
    pub fn id_key(&self, slot: u32) -> u64 {
        self.id_keys[slot as usize]
    }

    /// The category of the product in `slot` (its chunk's).
    fn category_of(&self, slot: u32) -> u32 {
        self.chunks.category(slot / chunks::CHUNK)
    }

    pub fn category_name(&self, number: u32) -> &str {
        &self.categories[number as usize]
    }

    pub fn category_number(&self, name: &str) -> Option<u32> {
        self.category_numbers.get(name).copied()
    }

    /// Every slot holding a product.
    pub fn all_slots(&self) -> &RoaringBitmap {
        &self.live
    }

    /// Each word of the dictionary with its postings (empty ones included).
    pub fn words(&self) -> impl Iterator<Item = &(Box<str>, Postings)> {
        self.words.iter()
    }

    /// The words starting with `prefix`, in order, with their numbers and postings.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (u32, &'a str, &'a Postings)> + 'a {
        self.sorted
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(word, _)| word.starts_with(prefix))
            .map(|(word, &number)| (number, &**word, &self.words[number as usize].1))
    }

    fn upsert(&mut self, product: &Product, found: Option<FoundAhead<'_>>) {
        let category = self.category(field_texts(product.view())[1]);
        if let Some(slot) = self.slots.get(&self.docs, product.id()) {
            let held = self.product_doc(slot);
            let same = held.product == *product;
            let same_category = self.category_of(slot) == category;
            if same {
                return; // the same product again
            }
            if same_category && same_texts(&held.product, product) {
                self.reprice(slot, product);
                return;
            }
            if same_category {
                self.unindex(slot);
                self.index(slot, product, category, found);
                return;
            }
            // Another category: a slot in a chunk of that one.
            self.remove(product.id());
        }
        let slot = self.chunks.take(category);
        if self.docs.len() < self.chunks.slots() {
            self.docs.resize(self.chunks.slots(), None);
        }
        self.index(slot, product, category, found);
        self.slots.insert(&self.docs, slot);
    }

    /// Whether `product` is held with the same searched texts (a change that `reprice`s it).
    fn holds_same_texts(&self, product: &Product) -> bool {
        self.slots
            .get(&self.docs, product.id())
            .is_some_and(|slot| same_texts(&self.product_doc(slot).product, product))
    }

    /// A product whose words are the same (a new price or picture): its words, pairs, category
    /// and id stay, only its doc and price range change. Most changes a shop makes are of this kind.
    fn reprice(&mut self, slot: u32, product: &Product) {
        let doc = Doc::new(product.clone());
        let (was, is) = (self.product_doc(slot).price, doc.price);
        if query::price_bucket(was) != query::price_bucket(is) {
            self.in_price[query::price_bucket(was)].remove(slot);
            self.in_price[query::price_bucket(is)].insert(slot);
        }
        self.docs[slot as usize] = Some(doc);
    }

    fn remove(&mut self, id: &str) {
        if let Some(slot) = self.slots.remove(&self.docs, id) {
            self.unindex(slot);
            self.chunks.give_back(slot);
        }
    }

    fn index(
        &mut self,
        slot: u32,
        product: &Product,
        category: u32,
        found: Option<FoundAhead<'_>>,
    ) {
        let terms = match found {
            Some(found) => found.numbered(|word| self.word_number(word)),
            None => self.terms(product, Search::word_number),
        };
        for &(number, fields) in &terms.words {
            let best = fields.trailing_zeros() as usize;
            self.held.word(number, best, slot);
        }
        for &pair in &terms.pairs {
            self.held.pair(pair, slot);
        }
        self.log.keep(terms);
        self.place(slot, Doc::new(product.clone()), category);
    }

    /// The terms of `product`, its words numbered by `number`; those the other copy found if
    /// this one replays (`found`).
    fn terms(&mut self, product: &Product, number: fn(&mut Search, &str) -> u32) -> Terms {
        if let Some(terms) = self.log.replayed() {
            return terms;
        }
        product_terms(product, |term| number(self, term))
    }

    /// Puts `doc` in `slot` (as `hold`) and the slot in its id band, the bands made again when
    /// one outgrew them.
    fn place(&mut self, slot: u32, doc: Doc, category: u32) {
        self.hold(slot, doc, category);
        if self.id_bands.insert(slot, self.id_keys[slot as usize]) {
            self.id_bands = id_bands::IdBands::of(&self.id_keys, &self.live);
        }
    }

    /// Puts `doc` in `slot`, in the bitmaps of the live slots, its category and its price range.
    fn hold(&mut self, slot: u32, doc: Doc, category: u32) {
        self.live.insert(slot);
        self.in_category[category as usize].insert(slot);
        self.in_price[query::price_bucket(doc.price)].insert(slot);
        if self.id_keys.len() <= slot as usize {
            self.id_keys.resize(self.docs.len(), 0);
        }
        self.id_keys[slot as usize] = catalog::sort_key(doc.product.id());
        self.docs[slot as usize] = Some(doc);
    }

    fn unindex(&mut self, slot: u32) {
        let Some(doc) = self.docs[slot as usize].take() else {
            return;
        };
        if !self.held.is_empty() {
            // The slot's own inserts may be held: made first, removed below.
            self.make_held();
        }
        self.live.remove(slot);
        self.id_bands.remove(slot, self.id_keys[slot as usize]);
        let category = self.category_of(slot);
        self.in_category[category as usize].remove(slot);
        self.in_price[query::price_bucket(doc.price)].remove(slot);
        let terms = self.terms(&doc.product, |search, term| {
            search
                .word_numbers
                .get(term)
                .expect("an indexed word is numbered")
        });
        for &(number, _) in &terms.words {
            self.words[number as usize].1.remove(slot);
        }
        for &pair in &terms.pairs {
            self.pairs.remove(pair, slot);
        }
        self.log.keep(terms);
    }

    /// Makes the held inserts into the postings: sorted and made into bitmaps here, or, on the
    /// copy that replays, as the other copy made them at the same point of the batch.
    fn make_held(&mut self) {
        let made = match self.log.replayed_made() {
            Some(made) => {
                self.held.discard();
                made
            }
            None => self.held.take(),
        };
        made.join(&mut self.words, &mut self.pairs);
        self.log.keep_made(made);
    }

    fn word_number(&mut self, word: &str) -> u32 {
        match self.word_numbers.get(word) {
            Some(number) => number,
            None => self.add_word(word.into()),
        }
    }

    /// Adds a word to the dictionary, with no slots; its number.
    fn add_word(&mut self, word: Box<str>) -> u32 {
        let number = self.words.len() as u32;
        self.word_numbers.insert(&word, number);
        self.sorted.insert(word.clone(), number);
        self.words.push((word, Postings::default()));
        number
    }

    fn category(&mut self, name: &str) -> u32 {
        if let Some(&number) = self.category_numbers.get(name) {
            return number;
        }
        let number = self.categories.len() as u32;
        self.category_numbers.insert(name.into(), number);
        self.categories.push(name.into());
        self.in_category.push(RoaringBitmap::new());
        number
    }

    /// Bytes of the bitmaps of the words (their fields' and their union) and word pairs
    /// (serialized size, close to what they hold in memory).
    pub fn postings_bytes(&self) -> usize {
        let words: usize = self
            .words
            .iter()
            .flat_map(|(_, postings)| postings.fields.iter().chain([&postings.any]))
            .map(RoaringBitmap::serialized_size)
            .sum();
        words + self.pairs.bytes()
    }
}

impl Model for Search {
    const SNAPSHOT_IN_MEMORY: bool = false;

    /// search_internal carries the catalog's events, bridged from pim_pub the same way.
    fn decode(offset: i64, bytes: &[u8]) -> Result<Op, DecodeError> {
        catalog::decode(offset, bytes)
    }

    fn prefetch(bytes: &[u8]) {
        catalog::prefetch(bytes)
    }

    fn poison(offset: i64) -> Op {
        <catalog::Catalog as Model>::poison(offset)
    }

    fn sizes(&self) -> Vec<(&'static str, usize)> {
        let live = self.words.iter().filter(|(_, p)| !p.is_empty()).count();
        vec![("products", self.len()), ("words", live)]
    }
}

/// One slot as `Snapshot::save` wrote it: its product's view and category, if it holds one.
fn saved_slot<'a>(input: &mut Reader<'a>) -> snapshot::Result<Option<(&'a [u8], u32)>> {
    if input.u8()? == 0 {
        return Ok(None);
    }
    Ok(Some((input.blob()?, input.u32()?)))
}

/// Saved as: the offsets, the categories, each slot (its product view and category, or empty),
/// each word with its four bitmaps, then the word pairs. Loading tokenizes nothing; the chunks of
/// slots and their free slots are read from the slots' categories.
impl Snapshot for Search {
    const KIND: &'static str = "search";

    fn offset(&self) -> i64 {
        self.offset
    }

    fn save(&self, out: &mut Writer<'_>) {
        out.i64(self.offset);
        out.i64(self.pim_offset);
        out.len(self.categories.len());
        self.categories.iter().for_each(|name| out.str(name));
        out.len(self.docs.len());
        for (slot, doc) in (0..).zip(&self.docs) {
            match doc {
                Some(doc) => {
                    out.u8(1);
                    out.blob(doc.product.view());
                    out.u32(self.category_of(slot));
                }
                None => out.u8(0),
            }
        }
        out.len(self.words.len());
        let mut buffer = Vec::new();
        for (word, postings) in &self.words {
            out.str(word);
            for bitmap in &postings.fields {
                buffer.clear();
                bitmap
                    .serialize_into(&mut buffer)
                    .expect("writes to memory");
                out.blob(&buffer);
            }
        }
        self.pairs.save(out);
    }

    fn restore<'a>(input: &mut Reader<'a>) -> snapshot::Result<Search> {
        let refuse = |why: &str| SnapshotError(why.into());
        let mut search = Search {
            offset: input.i64()?,
            pim_offset: input.i64()?,
            ..Search::default()
        };
        for _ in 0..input.len(4)? {
            search.category(input.str()?);
        }
        let slots = input.len(1)?;
        catalog::interned::reserve(slots);
        search.docs.resize(slots, None);
        search.slots.reserve(&search.docs, slots);
        let mut categories: Vec<Option<u32>> = vec![None; slots];
        let mut next_slot = 0u32;
        let numbered = |input: &mut Reader<'a>| {
            let slot = next_slot;
            next_slot += 1;
            Ok(saved_slot(input)?.map(|(view, category)| (slot, view, category)))
        };
        snapshot::in_batches(input, slots, numbered, |saved| {
            let held: Vec<_> = saved.into_iter().flatten().collect();
            let views: Vec<&[u8]> = held.iter().map(|&(_, view, _)| view).collect();
            let products =
                Product::from_views(&views, search.pim_offset).map_err(|err| refuse(&err.0))?;
            for ((slot, _, category), product) in held.into_iter().zip(products) {
                if category as usize >= search.categories.len()
                    || search.slots.get(&search.docs, product.id()).is_some()
                {
                    return Err(refuse("a product's category or id is wrong"));
                }
                search.hold(slot, Doc::new(product), category);
                search.slots.insert(&search.docs, slot);
                categories[slot as usize] = Some(category);
            }
            Ok(())
        })?;
        search.id_bands = id_bands::IdBands::of(&search.id_keys, &search.live);
        search.chunks = chunks::Chunks::of_slots(&categories)
            .ok_or_else(|| refuse("a chunk of slots holds two categories"))?;
        for number in 0..input.len(4)? as u32 {
            let word: Box<str> = input.str()?.into();
            let mut fields: [RoaringBitmap; 4] = Default::default();
            for bitmap in &mut fields {
                *bitmap = RoaringBitmap::deserialize_from(input.blob()?)
                    .map_err(|_| refuse("a posting list is damaged"))?;
            }
            let postings = Postings::of_fields(fields);
            if !search.word_numbers.insert(&word, number) {
                return Err(refuse("a word is saved twice"));
            }
            search.sorted.insert(word.clone(), number);
            search.words.push((word, postings));
        }
        search.pairs = pairs::Pairs::restore(input, search.words.len())?;
        Ok(search)
    }
}

#[cfg(test)]
mod tests;
