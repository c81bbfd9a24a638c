//! The slots a query matches, grouped by score best first, each group made when a page reads it:
//! a first page mostly reads the best few groups of a result of hundreds of thousands of slots, so
//! the pairs of groups and buckets that make the rest are never combined.
//!
//! Proximity is a level too, the first: its buckets are the matching slots by how many consecutive
//! query words are not neighbours (`Score::apart`), made at once from the few slots of the word
//! pairs. First, because its best buckets are small: every group above them is an intersection
//! with a side that small, so the groups of a first page cost little even when a word's buckets
//! are most of the catalog (as a word's long-text bucket is).

use super::query::{rank, unpack, Score, Variants};
use super::text::{Match, QueryWord};
use super::Search;
use roaring::{MultiOps, RoaringBitmap};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// A group: the slots of one score.
type Group<'a> = (Score, Cow<'a, RoaringBitmap>);

/// One query word's slots by the rank of their best match of it, best first, each rank's bucket
/// made when it is read. A slot is in the bucket of its best rank only. (Proximity's buckets are
/// all made at once: no ranks.)
struct Buckets<'a> {
    /// Per rank, ascending, the postings holding its slots.
    ranks: Vec<(u8, Vec<&'a RoaringBitmap>)>,
    /// The buckets made so far, best first (an empty one where better ranks took every slot).
    made: Vec<Group<'a>>,
    /// The slots of the ranks made so far, when the word matched several indexed words (their
    /// postings overlap); None for one word, whose postings by best field are the buckets.
    seen: Option<RoaringBitmap>,
    /// Every slot of each indexed word matched (`Postings::any`).
    words: Vec<&'a RoaringBitmap>,
}

impl<'a> Buckets<'a> {
    /// Every slot the word matches: the index's own bitmap for one matched word, else a union.
    fn all(&self) -> Cow<'a, RoaringBitmap> {
        match self.words[..] {
            [one] => Cow::Borrowed(one),
            _ => Cow::Owned(self.words.iter().copied().union()),
        }
    }

    /// The score of bucket `i`, known before it is made.
    fn score(&self, i: usize) -> Option<Score> {
        match self.made.get(i) {
            Some((score, _)) => Some(*score),
            None => self.ranks.get(i).map(|(rank, _)| unpack(*rank)),
        }
    }

    /// The slots of `lower` in bucket `i`: looked up slot by slot when `lower` is small beside the
    /// postings that would make the bucket (a first page mostly pairs a few slots with a long
    /// text's bucket, and making it, a union less the better ranks, reads all of them), else from
    /// the bucket, made if need be.
    fn and(&mut self, i: usize, lower: &RoaringBitmap) -> Option<RoaringBitmap> {
        if self.made.len() <= i && self.seen.is_some() {
            let (_, postings) = self.ranks.get(i)?;
            let making: u64 = postings.iter().map(|slots| slots.len()).sum();
            if lower.len() * LOOK_UP_FROM < making {
                return Some(self.look_up(i, lower));
            }
        }
        Some(intersect(lower, &self.get(i)?.1))
    }

    /// The slots of `lower` whose best rank is rank `i`'s: in one of its postings, in none of a
    /// better rank's.
    fn look_up(&self, i: usize, lower: &RoaringBitmap) -> RoaringBitmap {
        let (better, this) = (&self.ranks[..i], &self.ranks[i].1);
        let holds = |postings: &[&RoaringBitmap], slot| postings.iter().any(|p| p.contains(slot));
        let found = lower.iter().filter(|&slot| {
            holds(this, slot) && !better.iter().any(|(_, postings)| holds(postings, slot))
        });
        RoaringBitmap::from_sorted_iter(found).expect("a bitmap's slots ascend")
    }

    /// Bucket `i`, made if need be.
    fn get(&mut self, i: usize) -> Option<&mut Group<'a>> {
        while self.made.len() <= i {
            let (rank, postings) = self.ranks.get(self.made.len())?;
            let slots = match &mut self.seen {
                None => Cow::Borrowed(postings[0]),
                Some(seen) => {
                    let mut slots = postings.iter().copied().union();
                    slots -= &*seen;
                    *seen |= &slots;
                    Cow::Owned(slots)
                }
            };
            self.made.push((unpack(*rank), slots));
        }
        self.made.get_mut(i)
    }
}

/// The groups of the query's words up to one of them, best first. A group of this word's level is
/// the union of (a group of the level below) ∩ (a bucket of this word) over the pairs whose scores
/// sum to its score; the pairs are visited in score order from a heap (after (i, j) come (i, j+1)
/// and, from (i, 0), (i+1, 0): each pair once, none before a pair scoring less).
struct Level<'a> {
    word: Buckets<'a>,
    groups: Vec<Group<'a>>,
    pairs: BinaryHeap<Reverse<(Score, usize, usize)>>,
    started: bool,
}

/// Group `i` of the last of `levels` (the first level's groups are its word's buckets).
fn group<'s, 'a>(levels: &'s mut [Level<'a>], i: usize) -> Option<&'s mut Group<'a>> {
    let (here, below) = levels.split_last_mut()?;
    if below.is_empty() {
        return here.word.get(i);
    }
    while here.groups.len() <= i {
        if !here.make_group(below) {
            return None;
        }
    }
    here.groups.get_mut(i)
}

impl<'a> Level<'a> {
    fn new(word: Buckets<'a>) -> Level<'a> {
        Level {
            word,
            groups: Vec::new(),
            pairs: BinaryHeap::new(),
            started: false,
        }
    }

    /// Makes the next non-empty group; false when there is none.
    fn make_group(&mut self, below: &mut [Level<'a>]) -> bool {
        if !std::mem::replace(&mut self.started, true) {
            self.push_pair(below, 0, 0);
        }
        while let Some(&Reverse((score, _, _))) = self.pairs.peek() {
            // The pairs' parts are disjoint and mostly few and small: added in place, not by a
            // union of them all (which turns every container into a bitmap and back).
            let mut slots = RoaringBitmap::new();
            while let Some(&Reverse((same, i, j))) = self.pairs.peek() {
                if same != score {
                    break;
                }
                self.pairs.pop();
                let lower = &group(below, i).expect("a queued pair's group").1;
                let part = self.word.and(j, lower).expect("a queued pair's bucket");
                match slots.is_empty() {
                    true => slots = part,
                    false => slots |= part,
                }
                self.push_pair(below, i, j + 1);
                if j == 0 {
                    self.push_pair(below, i + 1, 0);
                }
            }
            if !slots.is_empty() {
                self.groups.push((score, Cow::Owned(slots)));
                return true;
            }
        }
        false
    }

    /// Queues the pair (group `i` below, bucket `j`) if both exist.
    fn push_pair(&mut self, below: &mut [Level<'a>], i: usize, j: usize) {
        let (Some(low), Some(high)) = (group(below, i).map(|g| g.0), self.word.score(j)) else {
            return;
        };
        self.pairs.push(Reverse((low.add(high), i, j)));
    }
}

/// Roaring intersects two arrays of a container by walking both, whatever their sizes: a side this
/// many times smaller than the other is looked up in it slot by slot instead.
const LOOK_UP_FROM: u64 = 32;

/// The slots in both `a` and `b`.
fn intersect(a: &RoaringBitmap, b: &RoaringBitmap) -> RoaringBitmap {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.len() * LOOK_UP_FROM >= large.len() {
        return small & large;
    }
    let found = small.iter().filter(|&slot| large.contains(slot));
    RoaringBitmap::from_sorted_iter(found).expect("a bitmap's slots ascend")
}

/// The slots in all of `sets`, intersected smallest first (each step then costs at most the
/// smaller side, and an empty one ends it); None for no sets.
fn intersection<'a>(mut sets: Vec<Cow<'a, RoaringBitmap>>) -> Option<Cow<'a, RoaringBitmap>> {
    sets.sort_unstable_by_key(|set| set.len());
    let mut sets = sets.into_iter();
    let smallest = sets.next()?;
    let mut rest = sets.peekable();
    if rest.peek().is_none() {
        return Some(smallest);
    }
    let mut all = smallest.into_owned();
    for set in rest {
        if all.is_empty() {
            break;
        }
        all &= &*set;
    }
    Some(Cow::Owned(all))
}

/// What a query matches: every slot matching all its words, and their groups by score.
pub struct Matched<'a> {
    pub all: Cow<'a, RoaringBitmap>,
    /// A level per query word; none for no words.
    levels: Vec<Level<'a>>,
}

impl<'a> Matched<'a> {
    /// The slots of `all` by score, best first, each group made when it is read.
    pub fn into_groups(self) -> impl Iterator<Item = (Score, RoaringBitmap)> + 'a {
        let Matched { all, mut levels } = self;
        let mut whole = levels.is_empty().then(|| all.into_owned());
        let mut next = 0;
        std::iter::from_fn(move || {
            if let Some(all) = whole.take() {
                return Some((Score::default(), all));
            }
            // The top level's groups are read once: taken, not copied.
            let (score, slots) = group(&mut levels, next)?;
            next += 1;
            Some((*score, std::mem::take(slots).into_owned()))
        })
    }
}

impl Search {
    /// What `words` match (every product for none).
    pub fn matched(&self, words: &[QueryWord]) -> Matched<'_> {
        let variants: Vec<Variants> = words.iter().map(|w| self.matching_words(w)).collect();
        let mut levels: Vec<Level<'_>> = variants
            .iter()
            .map(|variants| Level::new(self.buckets(variants)))
            .collect();
        let sets: Vec<Cow<'_, RoaringBitmap>> = levels.iter().map(|l| l.word.all()).collect();
        let all = intersection(sets).unwrap_or(Cow::Borrowed(self.all_slots()));
        if levels.len() > 1 {
            // Its buckets are cut to the matches: so is every group above them.
            let proximity = Level::new(self.proximity(&variants, &all));
            levels.insert(0, proximity);
        }
        Matched { all, levels }
    }

    /// The slots matching every one of `words` (none for no words), without their scores.
    pub(super) fn matching(&self, words: &[QueryWord]) -> RoaringBitmap {
        let sets = words
            .iter()
            .map(|word| self.buckets(&self.matching_words(word)).all());
        intersection(sets.collect()).map_or_else(RoaringBitmap::new, Cow::into_owned)
    }

    /// The postings a query word matches (its `variants`), by the rank of the match (`rank`),
    /// best first.
    fn buckets(&self, variants: &[(u32, Match)]) -> Buckets<'_> {
        let mut by_rank: BTreeMap<u8, Vec<&RoaringBitmap>> = BTreeMap::new();
        let mut words = Vec::with_capacity(variants.len());
        for &(number, found) in variants {
            let postings = &self.words[number as usize].1;
            words.push(postings.any());
            for (field, slots) in postings.fields().iter().enumerate() {
                if !slots.is_empty() {
                    by_rank.entry(rank(found, field)).or_default().push(slots);
                }
            }
        }
        Buckets {
            ranks: by_rank.into_iter().collect(),
            made: Vec::new(),
            // A word's postings are split by the best field holding it already: one matched word
            // needs no work, several a union per rank less the slots of better ranks.
            seen: (variants.len() > 1).then(RoaringBitmap::new),
            words,
        }
    }

    /// The slots of `all` by proximity, best first: by how many consecutive query words (their
    /// `variants`, two words at least) are not neighbours. The slots with any neighbours are few
    /// (those of a few word pairs); the rest, with none, is `all` less them.
    fn proximity(&self, variants: &[Variants], all: &RoaringBitmap) -> Buckets<'_> {
        let exactly = self.near_counts(variants);
        let pairs = exactly.len();
        let apart = |apart: usize| Score {
            apart: apart as u16,
            ..Score::default()
        };
        let mut rest = all.clone();
        let mut made = Vec::with_capacity(pairs + 1);
        for (c, near) in exactly.iter().enumerate().rev() {
            let slots = near & all;
            rest -= &slots;
            made.push((apart(pairs - (c + 1)), Cow::Owned(slots)));
        }
        made.push((apart(pairs), Cow::Owned(rest)));
        Buckets {
            ranks: Vec::new(),
            made,
            seen: None,
            words: Vec::new(),
        }
    }

    /// The slots where exactly c of the consecutive pairs of query words (their `variants`) are
    /// neighbours, in that order, in the name or category, at [c - 1]; each from the few slots of
    /// the word pairs that a pair's variants make.
    fn near_counts(&self, variants: &[Variants]) -> Vec<RoaringBitmap> {
        let numbers = |variants: &Variants| {
            let mut numbers: Vec<u32> = variants.iter().map(|&(number, _)| number).collect();
            numbers.sort_unstable();
            numbers
        };
        let pairs = variants.len() - 1;
        // First [c - 1]: the slots where c or more of the pairs are neighbours.
        let mut counts = vec![RoaringBitmap::new(); pairs];
        for two in variants.windows(2) {
            let near = self.pairs.near(&numbers(&two[0]), &numbers(&two[1]));
            for c in (1..pairs).rev() {
                let more = &counts[c - 1] & &near;
                counts[c] |= more;
            }
            counts[0] |= near;
        }
        for c in 1..pairs {
            let (fewer, more) = counts.split_at_mut(c);
            fewer[c - 1] -= &more[0];
        }
        counts
    }
}
