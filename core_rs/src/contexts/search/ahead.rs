//! A large batch's terms found ahead, on two threads. Splitting a product's texts into words and
//! looking each word up is two fifths of indexing, and needs nothing but the product and the
//! dictionary: a second thread finds the terms of half of a run of the batch's products while this
//! one finds the other half's, then the run is applied as before, each product it indexes taking
//! its terms from here. A loading projection (10,000 products a batch) spends most of a start so.
//!
//! A word the dictionary did not hold has a provisional number until its product is indexed, and
//! is numbered then, in the order the product's words were first met: as finding them in place
//! numbers them, so that both ways make the same index.

use super::dictionary::Dictionary;
use super::found::Terms;
use super::{unpacked, Search, TermsFinder};
use crate::catalog::{Change, Op};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

/// Batches of fewer ops find their terms in place, on the applying thread alone: a live shop's
/// (about 200 ops at 2,000 updates/s, applied in a fraction of a millisecond) gain nothing worth
/// a thread; a load's (10,000, tens of milliseconds) do.
pub const MIN_OPS: usize = 1024;
/// Ops found ahead at once: their terms (about a kilobyte a product) stay in the caches until
/// indexed (a whole batch's did not, and indexing them took as long as finding them in place).
pub const RUN: usize = 2048;
/// The helper thread's name: its projection's thread is proj-search (shop/threads.py).
const HELPER: &str = "proj-search-2";
/// A provisional number: this bit, the half of the run that met the word (`SECOND_HALF`), and
/// the word's place among that half's new words. Real numbers are below 2^30 (`held`).
const PROVISIONAL: u32 = 1 << 31;
const SECOND_HALF: u32 = 1 << 30;

/// The terms of a run of ops found ahead, each half's in tables of its own; kept from one run of
/// a batch to the next.
#[derive(Default)]
pub struct Ahead {
    halves: [Half; 2],
    /// The next op's half and place in it.
    next: (usize, usize),
}

#[derive(Default)]
struct Half {
    /// Where each op's terms are in `words` and `pairs`: none for an op that indexes nothing new.
    found: Vec<Option<(Range<u32>, Range<u32>)>>,
    words: Vec<(u32, u8)>,
    /// Packed as `TermsFinder` packs them.
    pairs: Vec<u64>,
    /// The words the dictionary did not hold, by provisional place, with the number each was
    /// given once its first product was indexed.
    new_words: Vec<(Box<str>, Option<u32>)>,
}

/// One product's terms found ahead, to be numbered where provisional (`numbered`).
pub struct FoundAhead<'a> {
    half: &'a mut Half,
    words: Range<u32>,
    pairs: Range<u32>,
}

impl Ahead {
    /// Whether `ops` are a batch whose terms are found ahead (a large one, with a core to spare).
    pub fn worth_it(ops: &[Op]) -> bool {
        ops.len() >= MIN_OPS && several_cores()
    }

    /// Finds the terms of the products `run` upserts into `search`, but those it holds with the
    /// same texts (repriced, not indexed), on two threads.
    pub fn find(&mut self, run: &[Op], search: &Search) {
        let (first, second) = run.split_at(run.len() / 2);
        let [first_half, second_half] = &mut self.halves;
        std::thread::scope(|scope| {
            // Named after its projection's thread, for profiles and the benchmarks' CPU by thread.
            let helper = std::thread::Builder::new().name(HELPER.into());
            let mut half = std::mem::take(second_half);
            let found = helper.spawn_scoped(scope, move || {
                half.find(second, search, SECOND_HALF);
                half
            });
            first_half.find(first, search, 0);
            match found {
                Ok(found) => *second_half = found.join().expect("finding terms does not panic"),
                // No thread to be had (the process's limit): this one finds them too.
                Err(_) => second_half.find(second, search, SECOND_HALF),
            }
        });
        self.next = (0, 0);
    }

    /// What was found for the next op of the run (ops are taken in order, one call each).
    pub fn next(&mut self) -> Option<FoundAhead<'_>> {
        let (mut half, mut at) = self.next;
        if at == self.halves[half].found.len() {
            (half, at) = (1, 0);
        }
        self.next = (half, at + 1);
        let half = &mut self.halves[half];
        let (words, pairs) = half.found.get(at)?.clone()?;
        Some(FoundAhead { half, words, pairs })
    }
}

impl Half {
    /// The terms of `ops`' products, their new words' numbers provisional with `half` set.
    fn find(&mut self, ops: &[Op], search: &Search, half: u32) {
        self.found.clear();
        self.words.clear();
        self.pairs.clear();
        self.new_words.clear();
        let mut new: HashMap<Box<str>, u32, ahash::RandomState> = HashMap::default();
        let mut finder = TermsFinder::new();
        for op in ops {
            let found = match &op.change {
                Change::Upsert(product) if !search.holds_same_texts(product) => {
                    finder.find(product, |word| {
                        numbered(&search.word_numbers, &mut new, word, half)
                    });
                    Some((
                        extend(&mut self.words, &finder.words.words),
                        extend(&mut self.pairs, &finder.pairs),
                    ))
                }
                _ => None,
            };
            self.found.push(found);
        }
        let mut by_place: Vec<(Box<str>, u32)> = new.into_iter().collect();
        by_place.sort_unstable_by_key(|&(_, number)| number);
        let words = by_place.into_iter().map(|(word, _)| (word, None));
        self.new_words.extend(words);
    }

    /// The real number of `word`: `number` gives a provisional one's, once.
    fn number(&mut self, word: u32, number: &mut impl FnMut(&str) -> u32) -> u32 {
        if word & PROVISIONAL == 0 {
            return word;
        }
        let (text, numbered) = &mut self.new_words[(word & (SECOND_HALF - 1)) as usize];
        *numbered.get_or_insert_with(|| number(text))
    }
}

/// Appends `items` to `to`; where they are in it.
fn extend<T: Copy>(to: &mut Vec<T>, items: &[T]) -> Range<u32> {
    let start = to.len() as u32;
    to.extend_from_slice(items);
    start..to.len() as u32
}

impl FoundAhead<'_> {
    /// The product's terms, each provisional number replaced by what `number` gives its word
    /// (called once a word, in the order the product's words were first met).
    pub fn numbered(self, mut number: impl FnMut(&str) -> u32) -> Terms {
        let FoundAhead { half, words, pairs } = self;
        let range = |r: Range<u32>| r.start as usize..r.end as usize;
        let mut terms = Terms {
            words: half.words[range(words)].to_vec(),
            pairs: half.pairs[range(pairs)]
                .iter()
                .copied()
                .map(unpacked)
                .collect(),
        };
        if terms.words.iter().any(|&(word, _)| word & PROVISIONAL != 0) {
            let mut real = |word: u32| half.number(word, &mut number);
            terms
                .words
                .iter_mut()
                .for_each(|(word, _)| *word = real(*word));
            for (first, second) in &mut terms.pairs {
                (*first, *second) = (real(*first), real(*second));
            }
        }
        terms
    }
}

/// `word`'s number in `dictionary`, or its provisional one among `new_words` (`half` set).
fn numbered(
    dictionary: &Dictionary,
    new_words: &mut HashMap<Box<str>, u32, ahash::RandomState>,
    word: &str,
    half: u32,
) -> u32 {
    if let Some(number) = dictionary
        .get(word)
        .or_else(|| new_words.get(word).copied())
    {
        return number;
    }
    let number = PROVISIONAL | half | new_words.len() as u32;
    new_words.insert(word.into(), number);
    number
}

/// Whether this process may run on more than one core (its affinity, as `taskset` sets it).
fn several_cores() -> bool {
    static SEVERAL: OnceLock<bool> = OnceLock::new();
    *SEVERAL.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}
