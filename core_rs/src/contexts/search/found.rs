//! The search index's replay shortcut (`Apply::Replay`): applying a batch to the first copy of
//! the swap records each product's words and pairs by number as it indexes or unindexes it, and
//! the words the batch added; the second copy takes them in the same order and tokenizes and
//! looks up nothing (finding a product's words was a third of indexing, done in both copies).

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
}

/// Where a copy's products' terms come from while it applies a batch.
#[derive(Default)]
pub enum Log {
    /// Found from the products' texts, and not kept.
    #[default]
    Off,
    /// Found from the texts and kept, in order, for the other copy.
    Recording(Vec<Terms>),
    /// Taken, in order, from what the other copy found.
    Replaying(std::vec::IntoIter<Terms>),
}

impl Log {
    /// The next product's terms if replaying.
    pub fn replayed(&mut self) -> Option<Terms> {
        match self {
            Log::Replaying(terms) => {
                Some(terms.next().expect("a replay indexes as its record did"))
            }
            _ => None,
        }
    }

    /// Keeps `terms`, just used, if recording.
    pub fn keep(&mut self, terms: Terms) {
        if let Log::Recording(kept) = self {
            kept.push(terms);
        }
    }

    /// Ends a recording or a replay: the terms recorded (none if it was not recording).
    pub fn end(&mut self) -> Vec<Terms> {
        match std::mem::take(self) {
            Log::Recording(kept) => kept,
            Log::Replaying(mut left) => {
                assert!(left.next().is_none(), "a replay indexes as its record did");
                Vec::new()
            }
            Log::Off => Vec::new(),
        }
    }
}

/// A copy of the index holds no log: a copy is made between batches, when it is off.
impl Clone for Log {
    fn clone(&self) -> Log {
        Log::Off
    }
}
