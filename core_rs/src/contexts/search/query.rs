//! Answering a search: which products match every query word, how they rank, the filters and
//! facets, and completions of what is typed so far.
//!
//! A query word matches a product word that is the same, that it starts (the last query word
//! only: one is still typing it), or that is within its typos (`text::max_typos`; the last word
//! also a start of a word within them). Of a product's matches of a query word the best counts:
//! fewest typos, then the best field (name, category, description, long text), then a whole
//! word over a prefix. Products rank by the sum of those over the query words, typos first, then
//! proximity (how many consecutive query words are not neighbours in the name or category), then
//! fields, then prefixes, then by id.

use super::chunks;
use super::text::{self, Match, QueryWord};
use super::{Doc, Search};
use roaring::RoaringBitmap;
use std::borrow::Cow;
use std::cmp::{Ordering, Reverse};

/// The orders of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchSort {
    Relevance,
    Price,
    Name,
}

pub const SEARCH_SORTS: [&str; 3] = ["relevance", "price", "name"];
/// Characters of a query, and its words.
pub const MAX_QUERY: usize = 200;
pub const MAX_WORDS: usize = 10;
pub const MAX_SEARCH_PER_PAGE: usize = 100;
/// Page numbers past the last page are clamped to it; this bounds what a request may name.
pub const MAX_SEARCH_PAGE: usize = 10_000;
/// Highest price a filter may name, in cents.
pub const MAX_PRICE: i64 = (1 << 40) - 1;
/// Characters of a category filter.
pub const MAX_CATEGORY: usize = 200;
/// Completions a suggestion answers at most.
pub const MAX_SUGGESTIONS: usize = 10;
/// Categories the facet lists at most, those with the most results (Algolia and Meilisearch cap
/// theirs too): a catalog may have thousands, and an answer listing them all is mostly facet.
pub const FACET_CATEGORIES: usize = 20;
/// The price facet's ranges in cents: [0, 1000), [1000, 2500), ..., [10000, ∞).
pub const PRICE_BUCKETS: [i64; 5] = [0, 1000, 2500, 5000, 10000];
/// Characters that query syntax elsewhere uses (phrases, fields, groups, wildcards, boosts): this
/// search has none, so a query holding them is refused rather than read differently than meant.
pub const OPERATORS: &str = "\"*:()[]{}^~\\|&<>=";

impl SearchSort {
    pub fn parse(name: &str) -> Option<SearchSort> {
        match name {
            "relevance" => Some(SearchSort::Relevance),
            "price" => Some(SearchSort::Price),
            "name" => Some(SearchSort::Name),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        SEARCH_SORTS[self as usize]
    }
}

/// Why a query cannot be searched, if it cannot.
pub fn query_problem(q: &str) -> Option<String> {
    if q.chars().count() > MAX_QUERY {
        return Some(format!("must be at most {MAX_QUERY} characters"));
    }
    if let Some(c) = q.chars().find(|&c| odd_character(c)) {
        return Some(format!(
            "must not hold control, format or private-use characters (found U+{:04X})",
            c as u32
        ));
    }
    if let Some(c) = q.chars().find(|&c| OPERATORS.contains(c)) {
        return Some(format!(
            "must be words only: search has no operators or quotes (found {c:?})"
        ));
    }
    if text::words(q).len() > MAX_WORDS {
        return Some(format!("must be at most {MAX_WORDS} words"));
    }
    None
}

/// Characters a shopper does not type: controls, invisible formatting, private use,
/// non-characters and the replacement character (what a broken encoding leaves).
pub fn odd_character(c: char) -> bool {
    let code = c as u32;
    c.is_control()
        || matches!(code, 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0xFEFF)
        || matches!(code, 0xE000..=0xF8FF | 0xF0000..=0x10FFFF)
        || matches!(code, 0xFDD0..=0xFDEF | 0xFFFD)
        || code & 0xFFFE == 0xFFFE
}

/// A search request, checked.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub q: &'a str,
    pub category: Option<&'a str>,
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub sort: SearchSort,
    pub page: usize,
    pub per_page: usize,
}

/// What a product scored: sums over the query words of their best match, and its proximity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Score {
    pub typos: u16,
    /// Consecutive query words that are not neighbours (in that order) in the name or category.
    pub apart: u16,
    pub fields: u16,
    pub prefixes: u16,
}

/// A match in a field, packed so that a smaller number is a better match: typos, field, prefix.
pub(super) fn rank(found: Match, field: usize) -> u8 {
    found.typos * 8 + (field as u8) * 2 + u8::from(found.prefix)
}

impl Score {
    pub(super) fn add(self, other: Score) -> Score {
        Score {
            typos: self.typos + other.typos,
            apart: self.apart + other.apart,
            fields: self.fields + other.fields,
            prefixes: self.prefixes + other.prefixes,
        }
    }
}

pub(super) fn unpack(rank: u8) -> Score {
    Score {
        typos: u16::from(rank / 8),
        apart: 0,
        fields: u16::from(rank % 8 / 2),
        prefixes: u16::from(rank % 2),
    }
}

/// The facet counts of a result: per category (the price filter applied, not the category's)
/// and per price range (the category filter applied, not the price's), so each facet shows what
/// choosing another value of it would give.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Facets<'a> {
    /// (category, count), most first, then by name: the first `FACET_CATEGORIES` of them, then
    /// the filtered category if it has results and is not among those (the shopper's choice shows).
    pub categories: Vec<(&'a str, u64)>,
    /// Categories with any result, listed or not.
    pub categories_total: usize,
    /// Count per range of `PRICE_BUCKETS`.
    pub prices: [u64; PRICE_BUCKETS.len()],
}

/// A page of results.
pub struct Hits<'a> {
    pub items: Vec<&'a Doc>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub facets: Facets<'a>,
    /// The query with each word replaced by the nearest indexed word, when nothing matched.
    pub did_you_mean: Option<String>,
    words: Vec<QueryWord>,
}

impl Hits<'_> {
    /// Where the query's words are in `text` (UTF-16 ranges): the product words they match.
    pub fn highlights(&self, text: &str) -> Vec<(u32, u32)> {
        text::words(text)
            .into_iter()
            .filter(|word| self.words.iter().any(|q| q.matches(&word.text).is_some()))
            .map(|word| (word.start, word.end))
            .collect()
    }
}

/// The query words of `q`. The last one also matches as a prefix while it is being typed: when
/// nothing (a space, say) follows it.
fn query_words(q: &str) -> Vec<QueryWord> {
    let terms: Vec<String> = text::terms(q).collect();
    let typing = q.chars().last().is_some_and(char::is_alphanumeric);
    let last = if typing {
        terms.len().wrapping_sub(1)
    } else {
        usize::MAX
    };
    terms
        .into_iter()
        .enumerate()
        .map(|(i, term)| QueryWord::new(term, i == last))
        .collect()
}

/// The dictionary's words (by number) a query word matches, and how.
pub(super) type Variants = Vec<(u32, Match)>;

impl Search {
    /// The slots of `slots` whose price is within `min..=max`: whole price ranges where they fit,
    /// a look at each product's price only in the ranges the bounds cut.
    fn priced(&self, slots: &RoaringBitmap, min: i64, max: i64) -> RoaringBitmap {
        let mut found = RoaringBitmap::new();
        for (bucket, in_bucket) in self.in_price.iter().enumerate() {
            let low = if bucket == 0 {
                i64::MIN
            } else {
                PRICE_BUCKETS[bucket]
            };
            let high = PRICE_BUCKETS
                .get(bucket + 1)
                .map_or(i64::MAX, |next| next - 1);
            if high < min || low > max {
                continue;
            }
            let here = slots & in_bucket;
            if min <= low && high <= max {
                found |= here;
            } else {
                found.extend(here.iter().filter(|&slot| {
                    self.doc(slot)
                        .is_some_and(|doc| (min..=max).contains(&doc.price))
                }));
            }
        }
        found
    }

    /// The dictionary's words `word` matches (by number), and how.
    pub(super) fn matching_words(&self, word: &QueryWord) -> Variants {
        if word.typos > 0 {
            let sorted = self.sorted.iter().map(|(term, &number)| (&**term, number));
            return text::typo_matches(word, sorted);
        }
        if word.last {
            return self
                .with_prefix(&word.text)
                .filter_map(|(number, term, _)| Some((number, word.matches(term)?)))
                .collect();
        }
        let exact = Match {
            typos: 0,
            prefix: false,
        };
        let number = self.word_numbers.get(word.text.as_str());
        number.map(|number| (number, exact)).into_iter().collect()
    }

    /// Page `request.page` of what `request` finds, with its facets.
    pub fn search(&self, request: &Request<'_>) -> Hits<'_> {
        let words = query_words(request.q);
        let matched = self.matched(&words);
        let all: &RoaringBitmap = &matched.all;
        let selected = request.category.and_then(|name| self.category_number(name));
        let in_category = request.category.map(|_| match selected {
            Some(n) => all & &self.in_category[n as usize],
            None => RoaringBitmap::new(),
        });
        let in_price = (request.price_min.is_some() || request.price_max.is_some()).then(|| {
            let min = request.price_min.unwrap_or(i64::MIN);
            let max = request.price_max.unwrap_or(i64::MAX);
            self.priced(all, min, max)
        });
        let category_ok = in_category.as_ref().unwrap_or(all);
        let price_ok = in_price.as_ref().unwrap_or(all);
        let facets = self.facets(category_ok, price_ok, selected);
        // Within the filters; None when there are none (every match, no bitmap made).
        let filtered =
            (in_category.is_some() || in_price.is_some()).then(|| category_ok & price_ok);
        let results = filtered.as_ref().unwrap_or(all);
        let total = results.len() as usize;
        let per_page = request.per_page.max(1);
        let pages = total.div_ceil(per_page);
        let page = request.page.clamp(1, pages.max(1));
        let skip = (page - 1) * per_page;
        let take = per_page.min(total.saturating_sub(skip));
        let items = match request.sort {
            SearchSort::Relevance => {
                let groups = matched.into_groups().map(|(score, slots)| match &filtered {
                    Some(within) => (score, slots & within),
                    None => (score, slots),
                });
                self.page_of(groups, request.sort, skip, take)
            }
            _ => self.page_of(
                std::iter::once((Score::default(), results.clone())),
                request.sort,
                skip,
                take,
            ),
        };
        let did_you_mean = (total == 0 && !words.is_empty())
            .then(|| self.nearest_spelling(&words))
            .flatten();
        Hits {
            items,
            total,
            page,
            pages,
            facets,
            did_you_mean,
            words,
        }
    }

    /// The facet counts: categories among the slots within the price filter, price ranges among
    /// those within the category filter.
    fn facets(
        &self,
        category_ok: &RoaringBitmap,
        price_ok: &RoaringBitmap,
        selected: Option<u32>,
    ) -> Facets<'_> {
        let counts = self.category_counts(price_ok);
        let (categories, categories_total) = self.top_categories(&counts, selected);
        let mut prices = [0; PRICE_BUCKETS.len()];
        for (count, slots) in prices.iter_mut().zip(&self.in_price) {
            *count = category_ok.intersection_len(slots);
        }
        Facets {
            categories,
            categories_total,
            prices,
        }
    }

    /// The `FACET_CATEGORIES` categories of `counts` (by number) with the most results, most first
    /// then by name, the `selected` one after them if it has results and is not among them; and
    /// how many have results. One pass, names read only by those that reach the list.
    fn top_categories(&self, counts: &[u64], selected: Option<u32>) -> (Vec<(&str, u64)>, usize) {
        let mut top: Vec<(&str, u64)> = Vec::with_capacity(FACET_CATEGORIES + 1);
        let mut total = 0;
        for (number, &count) in counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            total += 1;
            if top.len() == FACET_CATEGORIES && top[FACET_CATEGORIES - 1].1 > count {
                continue;
            }
            let name = self.category_name(number as u32);
            let at = top.partition_point(|&(n, c)| c > count || (c == count && n < name));
            if at < FACET_CATEGORIES {
                top.insert(at, (name, count));
                top.truncate(FACET_CATEGORIES);
            }
        }
        if let Some(number) = selected {
            let name = self.category_name(number);
            let count = counts[number as usize];
            if count > 0 && !top.iter().any(|&(n, _)| n == name) {
                top.push((name, count));
            }
        }
        (top, total)
    }

    /// How many of `slots` each category (by number) holds, counted by chunk of slots (a chunk
    /// holds one category's products): a step per chunk, not per slot, whatever the categories.
    pub(super) fn category_counts(&self, slots: &RoaringBitmap) -> Vec<u64> {
        let mut counts = vec![0; self.in_category.len()];
        chunks::per_chunk(slots, |chunk, n| {
            counts[self.chunks.category(chunk) as usize] += u64::from(n);
        });
        counts
    }

    /// The `take` products after the first `skip` of `groups` (in order, each group before the
    /// next), ordered within a group by the sort: only the groups the page reaches are read.
    fn page_of(
        &self,
        groups: impl Iterator<Item = (Score, RoaringBitmap)>,
        sort: SearchSort,
        mut skip: usize,
        take: usize,
    ) -> Vec<&Doc> {
        let order = |a: &Candidate, b: &Candidate| a.cmp(b, sort, self);
        let mut items = Vec::with_capacity(take);
        for (score, slots) in groups {
            if items.len() == take {
                break;
            }
            let len = slots.len() as usize;
            if skip >= len {
                skip -= len;
                continue;
            }
            let need = skip + take - items.len();
            // The best `need` kept as the group is read: a buffer of twice that, cut back to the
            // best half when full, rather than a candidate for each slot of a large group.
            let room = len.min(2 * need);
            let keep_best = |found: &mut Vec<Candidate>| {
                if need < found.len() {
                    found.select_nth_unstable_by(need - 1, order);
                    found.truncate(need);
                }
            };
            let mut found: Vec<Candidate> = Vec::with_capacity(room);
            // Once cut back, the worst kept: a candidate after it cannot make the page.
            let mut worst: Option<Candidate> = None;
            // By relevance a group's slots tie on the score: its first ids are in its first bands.
            let read = match sort {
                SearchSort::Relevance => self.id_bands.first(&slots, need),
                _ => Cow::Borrowed(&slots),
            };
            read.iter().for_each(|slot| {
                let candidate = Candidate::of(sort, self, slot, score);
                if worst.as_ref().is_some_and(|w| order(&candidate, w).is_ge()) {
                    return;
                }
                found.push(candidate);
                if found.len() == room {
                    keep_best(&mut found);
                    worst = found.iter().max_by(|a, b| order(a, b)).copied();
                }
            });
            keep_best(&mut found);
            found.sort_unstable_by(order);
            items.extend(
                found
                    .into_iter()
                    .skip(skip)
                    .map(|c| self.product_doc(c.slot)),
            );
            skip = 0;
        }
        items
    }

    /// The query with each word replaced by the indexed word nearest to it (within two typos,
    /// any length; the most frequent of the nearest), if that is another query.
    fn nearest_spelling(&self, words: &[QueryWord]) -> Option<String> {
        let mut spelled = Vec::with_capacity(words.len());
        for word in words {
            let chars: Vec<char> = word.text.chars().collect();
            let best = self
                .words()
                .filter(|(_, postings)| !postings.is_empty())
                .filter_map(|(term, postings)| {
                    let distance = text::bounded_distance(&chars, term, 2)?;
                    Some((distance, std::cmp::Reverse(postings.len()), term))
                })
                .min()?;
            spelled.push(best.2.to_string());
        }
        let same = spelled.iter().zip(words).all(|(s, w)| *s == w.text);
        (!same).then(|| spelled.join(" "))
    }

    /// Up to `MAX_SUGGESTIONS` completions of `q`: its text up to the last word, then an indexed
    /// word that the last word matches as it does in a search while typed (the start of it, or
    /// a start within its typos), among the products matching the words before it; fewest typos
    /// first, then the words found in most of those products, then in order.
    pub fn suggest(&self, q: &str) -> Vec<String> {
        let words = text::words(q);
        let Some(last) = words.last() else {
            return Vec::new();
        };
        let head: String = utf16_prefix(q, last.start);
        let within = (words.len() > 1).then(|| {
            let before: Vec<&str> = words[..words.len() - 1]
                .iter()
                .map(|w| w.text.as_str())
                .collect();
            // A space after the words: they are whole words, none taken as a prefix.
            self.matching(&query_words(&(before.join(" ") + " ")))
        });
        let found_in = |number: u32| {
            let postings = &self.words[number as usize].1;
            match &within {
                Some(slots) => postings.intersection_len(slots),
                None => postings.len(),
            }
        };
        // (typos, products, word number): completions without typos first; while they fill the
        // list, no word of the dictionary is checked for typos.
        let mut found: Vec<(u8, Reverse<u64>, u32)> = self
            .with_prefix(&last.text)
            .map(|(number, _, _)| (0, Reverse(found_in(number)), number))
            .collect();
        let typed = QueryWord::new(last.text.clone(), true);
        found.retain(|&(_, Reverse(count), _)| count > 0);
        if found.len() < MAX_SUGGESTIONS && typed.typos > 0 {
            let with_typos = self.matching_words(&typed).into_iter();
            found.extend(
                with_typos
                    .filter(|(_, how)| how.typos > 0)
                    .map(|(number, how)| (how.typos, Reverse(found_in(number)), number))
                    .filter(|&(_, Reverse(count), _)| count > 0),
            );
        }
        let term = |number: u32| &*self.words[number as usize].0;
        found.sort_unstable_by(|a, b| (a.0, a.1, term(a.2)).cmp(&(b.0, b.1, term(b.2))));
        found
            .into_iter()
            .take(MAX_SUGGESTIONS)
            .map(|(_, _, number)| format!("{head}{}", term(number)))
            .collect()
    }
}

/// The characters of `s` before UTF-16 position `at`.
fn utf16_prefix(s: &str, at: u32) -> String {
    let mut units = 0u32;
    s.chars()
        .take_while(|c| {
            units += c.len_utf16() as u32;
            units <= at
        })
        .collect()
}

/// The range of `PRICE_BUCKETS` a price falls in (a negative price: the first).
pub fn price_bucket(price: i64) -> usize {
    PRICE_BUCKETS
        .iter()
        .rposition(|&low| price >= low)
        .unwrap_or(0)
}

/// A result as it is ordered: its sort key and the first bytes of its id as numbers (the id's from
/// a dense array read in slot order), which decide most comparisons without reading its doc.
#[derive(Clone, Copy)]
struct Candidate {
    primary: u64,
    id_key: u64,
    slot: u32,
}

impl Candidate {
    fn of(sort: SearchSort, search: &Search, slot: u32, score: Score) -> Candidate {
        let primary = match sort {
            SearchSort::Relevance => {
                (u64::from(score.typos) << 48)
                    | (u64::from(score.apart) << 32)
                    | (u64::from(score.fields) << 16)
                    | u64::from(score.prefixes)
            }
            // Flipping the sign bit orders signed prices as unsigned numbers.
            SearchSort::Price => (search.product_doc(slot).price as u64) ^ (1 << 63),
            SearchSort::Name => search.product_doc(slot).name_key,
        };
        Candidate {
            primary,
            id_key: search.id_key(slot),
            slot,
        }
    }

    /// By the sort's key, then by id; a tie of the keys' first bytes reads the strings.
    fn cmp(&self, other: &Candidate, sort: SearchSort, search: &Search) -> Ordering {
        let product = |c: &Candidate| &search.product_doc(c.slot).product;
        self.primary
            .cmp(&other.primary)
            .then_with(|| match sort {
                SearchSort::Name => product(self).name().cmp(product(other).name()),
                _ => Ordering::Equal,
            })
            .then(self.id_key.cmp(&other.id_key))
            .then_with(|| product(self).id().cmp(product(other).id()))
    }
}
