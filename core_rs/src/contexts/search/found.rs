//! The search index's replay shortcut (`Apply::Replay`): applying a batch to the first copy of
//! the swap records each product's words and pairs by number as it indexes or unindexes it, the
//! words the batch added, and the postings' inserts as it made them; the second copy takes them
//! in the same order and tokenizes, looks up and sorts nothing (finding a product's words was a
//! third of indexing, done in both copies).

use super::held::Made;
use crate::catalog::Op;

/// A product's distinct words by number with the fields holding each (bit i: `FIELDS[i]`), and
/// its word pairs by numbers.
#[derive(Clone, Default)]
pub struct Terms {
    pub words: Vec<(u32, u8)>,
    pub pairs: Vec<(u32, u32)>,
}

/// What a batch found on the first copy, for the second.
pub struct Found {
    pub ops: Vec<Op>,
    /// The words the batch added to the dictionary, in number order.
    pub new_words: Vec<Box<str>>,
    /// The terms of each product indexed or unindexed, in that order.
    pub terms: Vec<Terms>,
    /// The held inserts as each make of the batch made them, in that order.
    pub made: Vec<Made>,
}

/// Where a copy's products' terms come from while it applies a batch.
#[derive(Default)]
pub enum Log {
    /// Found from the products' texts, and not kept.
    #[default]
    Off,
    /// Found from the texts and kept, in order, for the other copy, with the inserts made.
    Recording(Vec<Terms>, Vec<Made>),
    /// Taken, in order, from what the other copy found and made.
    Replaying(std::vec::IntoIter<Terms>, std::vec::IntoIter<Made>),
}

impl Log {
    /// The next product's terms if replaying.
    pub fn replayed(&mut self) -> Option<Terms> {
        match self {
            Log::Replaying(terms, _) => {
                Some(terms.next().expect("a replay indexes as its record did"))
            }
            _ => None,
        }
    }

    /// The next inserts made if replaying.
    pub fn replayed_made(&mut self) -> Option<Made> {
        match self {
            Log::Replaying(_, made) => Some(made.next().expect("a replay makes as its record did")),
            _ => None,
        }
    }

    /// Keeps `terms`, just used, if recording.
    pub fn keep(&mut self, terms: Terms) {
        if let Log::Recording(kept, _) = self {
            kept.push(terms);
        }
    }

    /// Keeps `made`, just joined, if recording.
    pub fn keep_made(&mut self, made: Made) {
        if let Log::Recording(_, kept) = self {
            kept.push(made);
        }
    }

    /// Ends a recording or a replay: the terms and inserts recorded (none if it was not
    /// recording).
    pub fn end(&mut self) -> (Vec<Terms>, Vec<Made>) {
        match std::mem::take(self) {
            Log::Recording(terms, made) => (terms, made),
            Log::Replaying(mut terms, mut made) => {
                let done = terms.next().is_none() && made.next().is_none();
                assert!(done, "a replay indexes as its record did");
                Default::default()
            }
            Log::Off => Default::default(),
        }
    }
}

/// A copy of the index holds no log: a copy is made between batches, when it is off.
impl Clone for Log {
    fn clone(&self) -> Log {
        Log::Off
    }
}
