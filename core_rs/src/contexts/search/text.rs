//! The matching rules of search, written once: how a text becomes words, how many typos a word
//! may have, and when a query word matches a word of a product. tests/support/reference_search.py
//! follows them in plain Python.

use crate::catalog;

/// A word of a text: lowercased letters and digits, and where it stood in UTF-16 code units
/// (what the storefront's JavaScript strings index by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub start: u32,
    pub end: u32,
}

/// The words of `text`: maximal runs of alphanumeric characters, each lowercased. Anything
/// else (spaces, punctuation, symbols) separates words.
pub fn words(text: &str) -> Vec<Word> {
    let mut found = Vec::new();
    for_each_word(text, |term, start, end| {
        found.push(Word {
            text: term.to_string(),
            start,
            end,
        })
    });
    found
}

/// The words of `text` alone, without positions.
pub fn terms(text: &str) -> impl Iterator<Item = String> {
    words(text).into_iter().map(|word| word.text)
}

/// Calls `visit(word, start, end)` with each of the `words` of `text` in order (indexing reads
/// about a hundred words a product, most of them words it has seen).
pub fn for_each_word(text: &str, visit: impl FnMut(&str, u32, u32)) {
    if catalog::is_ascii(text.as_bytes()) {
        for_each_ascii_word(text, visit);
    } else {
        for_each_any_word(text, visit);
    }
}

/// `for_each_word` of any text: each word made in one reused buffer, a character at a time.
fn for_each_any_word(text: &str, mut visit: impl FnMut(&str, u32, u32)) {
    let mut current = String::new();
    let (mut start, mut at) = (0u32, 0u32);
    for c in text.chars() {
        if c.is_alphanumeric() {
            if current.is_empty() {
                start = at;
            }
            if c.is_ascii() {
                current.push(c.to_ascii_lowercase());
            } else {
                current.extend(c.to_lowercase());
            }
        } else if !current.is_empty() {
            visit(&current, start, at);
            current.clear();
        }
        at += c.len_utf16() as u32;
    }
    if !current.is_empty() {
        visit(&current, start, at);
    }
}

/// What each ASCII byte is to a word: a separator, part of a word, or a capital (part of a word,
/// to lower).
const SEPARATOR: u8 = 0;
const PART: u8 = 1;
const CAPITAL: u8 = 2;
const ASCII_CLASS: [u8; 128] = {
    let mut class = [SEPARATOR; 128];
    let mut byte = 0;
    while byte < 128 {
        let b = byte as u8;
        if b.is_ascii_uppercase() {
            class[byte] = CAPITAL;
        } else if b.is_ascii_alphanumeric() {
            class[byte] = PART;
        }
        byte += 1;
    }
    class
};

/// `for_each_word` of an ASCII text (most product texts), a byte at a time, each looked up once
/// in `ASCII_CLASS`: a word in lower case already is visited where it stands, one with capitals
/// lowered in a buffer. A byte is a UTF-16 unit here.
fn for_each_ascii_word(text: &str, mut visit: impl FnMut(&str, u32, u32)) {
    let mut lowered = String::new();
    let mut visit_word = |start: usize, end: usize, capitals: bool| {
        let word = &text[start..end];
        let word = if capitals {
            lowered.clear();
            lowered.push_str(word);
            lowered.make_ascii_lowercase();
            &lowered
        } else {
            word
        };
        visit(word, start as u32, end as u32);
    };
    let (mut start, mut capitals) = (None, false);
    for (at, &byte) in text.as_bytes().iter().enumerate() {
        match (ASCII_CLASS[usize::from(byte & 0x7f)], start) {
            (SEPARATOR, Some(from)) => {
                visit_word(from, at, capitals);
                start = None;
            }
            (SEPARATOR, None) => {}
            (class, None) => (start, capitals) = (Some(at), class == CAPITAL),
            (class, Some(_)) => capitals |= class == CAPITAL,
        }
    }
    if let Some(from) = start {
        visit_word(from, text.len(), capitals);
    }
}

/// Typos a query word of `len` characters may have: none below 5, one from 5, two from 9.
pub fn max_typos(len: usize) -> u8 {
    match len {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// How a query word matched a product's word: typos first, then whether only as the start of it
/// (the last query word, as one types). Lower is better; `Match::rank` packs it with the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Match {
    pub typos: u8,
    pub prefix: bool,
}

/// A query word ready for matching: its characters, and whether it is the last one.
pub struct QueryWord {
    pub text: String,
    chars: Vec<char>,
    pub last: bool,
    pub typos: u8,
}

impl QueryWord {
    pub fn new(text: String, last: bool) -> QueryWord {
        let chars: Vec<char> = text.chars().collect();
        let typos = max_typos(chars.len());
        QueryWord {
            text,
            chars,
            last,
            typos,
        }
    }

    /// How this query word matches the product word `term`, if it does: the same word, the
    /// start of it (last word only), or within the typos its length allows, the last word
    /// also as the start of it (`sheoh` starts "shoehorn" with one typo). The best way counts.
    pub fn matches(&self, term: &str) -> Option<Match> {
        if term == self.text {
            return Some(Match {
                typos: 0,
                prefix: false,
            });
        }
        if self.last && term.starts_with(self.text.as_str()) {
            return Some(Match {
                typos: 0,
                prefix: true,
            });
        }
        if self.typos == 0 {
            return None;
        }
        let found = bounded_distances(&self.chars, term, self.typos);
        let whole = found.whole.map(|typos| Match {
            typos,
            prefix: false,
        });
        let start = found.prefix.filter(|_| self.last).map(|typos| Match {
            typos,
            prefix: true,
        });
        whole.into_iter().chain(start).min()
    }
}

/// How a query word with typos (`QueryWord::typos` > 0) matches each of `sorted` (words in
/// order, with their numbers) that it matches, as `QueryWord::matches` would say. The words are
/// walked as a trie: a row of the distance table per character, shared by the words that start
/// alike, and no row past a start whose row is beyond the typos (no longer start comes within
/// them: such words match only as a start already within them, if at all).
pub fn typo_matches<'a>(
    word: &QueryWord,
    sorted: impl Iterator<Item = (&'a str, u32)>,
) -> Vec<(u32, Match)> {
    let mut table = TypoTable::new(&word.chars, usize::from(word.typos));
    let mut found = Vec::new();
    for (term, number) in sorted {
        let (whole, start) = table.distances(term);
        let whole = whole.map(|typos| Match {
            typos,
            prefix: false,
        });
        let start = start.filter(|_| word.last).map(|typos| Match {
            typos,
            prefix: true,
        });
        if let Some(best) = whole.into_iter().chain(start).min() {
            found.push((number, best));
        }
    }
    found
}

/// The optimal string alignment table from a query word to the word walked last: row k holds the
/// distances from the word's first k characters to each start of the query word.
struct TypoTable<'q> {
    query: &'q [char],
    most: usize,
    /// The rows, one after another (`query.len() + 1` cells each): row 0, then a row per
    /// character of `chars`.
    rows: Vec<usize>,
    /// The characters of the rows past row 0 (the rows stop at the first beyond `most`).
    chars: Vec<char>,
    /// Per row, the least distance from the whole query word to a start of the word so far.
    nearest_start: Vec<usize>,
}

impl<'q> TypoTable<'q> {
    fn new(query: &'q [char], most: usize) -> TypoTable<'q> {
        TypoTable {
            query,
            most,
            rows: (0..=query.len()).collect(),
            chars: Vec::new(),
            nearest_start: vec![query.len()],
        }
    }

    /// The distances from the query word to `term` and to its nearest start, each if within
    /// the typos.
    fn distances(&mut self, term: &str) -> (Option<u8>, Option<u8>) {
        let width = self.query.len() + 1;
        let shared = self
            .chars
            .iter()
            .zip(term.chars())
            .take_while(|(a, b)| **a == *b);
        let shared = shared.count();
        self.chars.truncate(shared);
        self.rows.truncate((shared + 1) * width);
        self.nearest_start.truncate(shared + 1);
        let mut whole = true;
        for c in term.chars().skip(shared) {
            let last = &self.rows[self.rows.len() - width..];
            if last.iter().min().is_some_and(|&least| least > self.most) {
                whole = false; // every longer start is further still
                break;
            }
            self.push_row(c);
        }
        let within = |distance: usize| (distance <= self.most).then_some(distance as u8);
        let whole = (whole && self.chars.len() == term.chars().count())
            .then(|| self.rows[self.rows.len() - 1])
            .and_then(within);
        let start = self.nearest_start.last().copied().and_then(within);
        (whole, start)
    }

    /// Adds the row of one more character of the word.
    fn push_row(&mut self, c: char) {
        let (width, k) = (self.query.len() + 1, self.chars.len() + 1);
        self.chars.push(c);
        let before = self.chars.get(k.wrapping_sub(2)).copied();
        self.rows.push(k);
        for i in 1..width {
            let (up, diagonal) = ((k - 1) * width + i, (k - 1) * width + i - 1);
            let cost = usize::from(self.query[i - 1] != c);
            let mut value = (self.rows[up] + 1)
                .min(self.rows[k * width + i - 1] + 1)
                .min(self.rows[diagonal] + cost);
            if i > 1 && Some(self.query[i - 1]) == before && self.query[i - 2] == c {
                value = value.min(self.rows[(k - 2) * width + i - 2] + 1);
            }
            self.rows.push(value);
        }
        let nearest = self.nearest_start[k - 1].min(self.rows[self.rows.len() - 1]);
        self.nearest_start.push(nearest);
    }
}

/// The optimal string alignment distance between `a` and `b` (insertions, deletions,
/// substitutions and swaps of neighbours, each one typo), if it is at most `most`.
pub fn bounded_distance(a: &[char], b: &str, most: u8) -> Option<u8> {
    bounded_distances(a, b, most).whole
}

/// Distances from a query word to a product word, each if within the typos allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Distances {
    /// To the whole word.
    pub whole: Option<u8>,
    /// To the nearest start of it (the whole word included).
    pub prefix: Option<u8>,
}

/// The optimal string alignment distances from `a` to `b` and to the nearest prefix of `b`, each
/// if at most `most`: one table, whose last row holds the distance to every prefix of `b`.
pub fn bounded_distances(a: &[char], b: &str, most: u8) -> Distances {
    let none = Distances {
        whole: None,
        prefix: None,
    };
    let most = most as usize;
    // A prefix longer than `a` by more than `most` is too far, and so is the rest of `b`.
    let b: Vec<char> = b.chars().take(a.len() + most + 1).collect();
    if b.len() + most < a.len() {
        return none;
    }
    let width = b.len() + 1;
    let mut rows = vec![0usize; 3 * width];
    for (j, cell) in rows[..width].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        let (row, prev, prev2) = (
            (i % 3) * width,
            ((i - 1) % 3) * width,
            ((i + 1) % 3) * width,
        );
        rows[row] = i;
        let mut best = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut value = (rows[prev + j] + 1)
                .min(rows[row + j - 1] + 1)
                .min(rows[prev + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                value = value.min(rows[prev2 + j - 2] + 1);
            }
            rows[row + j] = value;
            best = best.min(value);
        }
        // The rows' least cells never decrease: past `most`, no row below comes within it.
        if best > most {
            return none;
        }
    }
    let last = &rows[(a.len() % 3) * width..][..width];
    let within = |distance: usize| (distance <= most).then_some(distance as u8);
    // Cut at a.len() + most + 1 characters, `b` was whole if it is at most a.len() + most long.
    let whole = (b.len() <= a.len() + most).then(|| last[b.len()]);
    Distances {
        whole: whole.and_then(within),
        prefix: last.iter().copied().min().and_then(within),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distance(a: &str, b: &str) -> Option<u8> {
        bounded_distance(&a.chars().collect::<Vec<_>>(), b, 2)
    }

    #[test]
    fn words_are_lowercased_runs_with_utf16_positions() {
        let found = words("Blue-Shoe, größe 42 😀x");
        let texts: Vec<&str> = found.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["blue", "shoe", "größe", "42", "x"]);
        assert_eq!((found[1].start, found[1].end), (5, 9));
        // The emoji takes two UTF-16 units.
        assert_eq!((found[4].start, found[4].end), (22, 23));
    }

    #[test]
    fn distances_count_swaps_as_one() {
        assert_eq!(distance("shoe", "shoe"), Some(0));
        assert_eq!(distance("shoe", "hsoe"), Some(1));
        assert_eq!(distance("shoe", "sho"), Some(1));
        assert_eq!(distance("shoe", "shirt"), None);
        assert_eq!(distance("kitten", "sitting"), None);
        assert_eq!(distance("kitten", "sittin"), Some(2));
    }

    #[test]
    fn the_last_word_matches_starts_within_its_typos() {
        let chars: Vec<char> = "sheoh".chars().collect();
        let found = bounded_distances(&chars, "shoehorn", 1);
        assert_eq!((found.whole, found.prefix), (None, Some(1)));
        let typed = |text: &str, last: bool| QueryWord::new(text.into(), last);
        let one = Match {
            typos: 1,
            prefix: true,
        };
        assert_eq!(typed("sheoh", true).matches("shoehorn"), Some(one));
        assert_eq!(typed("sheoh", false).matches("shoehorn"), None);
        // Two edits from "shoeh": too many for five letters; nine allow them.
        assert_eq!(typed("sheoo", true).matches("shoehorn"), None);
        let two = typed("wtaerprofo", true).matches("waterproofing");
        assert_eq!(two.map(|m| (m.typos, m.prefix)), Some((2, true)));
        // The whole word with a typo beats a start with as many.
        let whole = typed("boots", true).matches("boot");
        assert_eq!(whole.map(|m| (m.typos, m.prefix)), Some((1, false)));
        assert_eq!(typed("shoe", true).matches("sheohorn"), None);
    }

    proptest::proptest! {
        #[test]
        fn an_ascii_text_has_the_words_a_character_at_a_time_finds(text in "[a-zA-Z0-9 ,.'_~\\x00-]{0,60}") {
            let (mut ascii, mut any) = (Vec::new(), Vec::new());
            for_each_ascii_word(&text, |word, start, end| ascii.push((word.to_owned(), start, end)));
            for_each_any_word(&text, |word, start, end| any.push((word.to_owned(), start, end)));
            proptest::prop_assert_eq!(ascii, any);
        }

        #[test]
        fn terms_are_the_alphanumeric_runs_lowercased(text in "[a-zA-Z0-9 ,.'ÄöÉßİΣ\u{2028}-]{0,40}") {
            // Lowercased a character at a time (a word's last Σ is σ, not ς).
            let runs: Vec<String> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|run| !run.is_empty())
                .map(|run| run.chars().flat_map(char::to_lowercase).collect())
                .collect();
            proptest::prop_assert_eq!(terms(&text).collect::<Vec<_>>(), runs);
        }

        #[test]
        fn a_walk_of_sorted_words_matches_as_each_word_does(
            query in "[abc]{5,10}",
            last in proptest::bool::ANY,
            words in proptest::collection::btree_set("[abc]{0,12}", 0..60),
        ) {
            let word = QueryWord::new(query, last);
            let numbered = words.iter().map(String::as_str).zip(0u32..);
            let one_by_one: Vec<(u32, Match)> = numbered
                .clone()
                .filter_map(|(term, number)| Some((number, word.matches(term)?)))
                .collect();
            proptest::prop_assert_eq!(typo_matches(&word, numbered), one_by_one);
        }
    }

    #[test]
    fn typo_budget_grows_with_length() {
        let short = QueryWord::new("shoe".into(), false);
        assert_eq!(short.matches("shoo"), None);
        let five = QueryWord::new("boots".into(), false);
        assert_eq!(five.matches("boats").map(|m| m.typos), Some(1));
        assert_eq!(five.matches("bats"), None);
        let nine = QueryWord::new("jumpsuits".into(), false);
        assert_eq!(nine.matches("jumpsiut").map(|m| m.typos), Some(2));
        let last = QueryWord::new("sh".into(), true);
        assert_eq!(
            last.matches("shoe"),
            Some(Match {
                typos: 0,
                prefix: true
            })
        );
    }
}
