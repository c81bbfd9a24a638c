//! A window of cells tested against a run of the name index's cells four at a time: which of a
//! run's cells lie below the window, and which in it. A name prefix's page by id or price tests
//! every match's cell (a one-letter prefix, tens of thousands); one at a time, the count and the
//! comparisons did not fit in registers and each match cost about a nanosecond.

use super::{Sort, SortKeys};
use std::ops::RangeInclusive;

/// The most cells `Window::test` takes at once: one bit each in its answer.
pub const RUN: usize = 64;

/// A window of cells in one sort's order (id, price or price descending).
#[derive(Clone, Copy, Debug)]
pub struct Window {
    sort: Sort,
    first: u32,
    last: u32,
}

/// What `Window::test` found in a run: how many cells lie below the window, and a bit for each
/// cell in it (bit i: the run's i-th cell).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tested {
    pub below: usize,
    pub inside: u64,
}

impl Window {
    pub fn new(sort: Sort, window: &RangeInclusive<u32>) -> Window {
        debug_assert!(sort != Sort::Name, "a name range is in name order already");
        debug_assert!(
            window.start() <= window.end(),
            "windows are ranges of cells at increasing ranks"
        );
        Window {
            sort,
            first: *window.start(),
            last: *window.end(),
        }
    }

    /// The cells of `run` (at most `RUN`) below the window and in it.
    #[inline]
    pub fn test(&self, run: &[SortKeys]) -> Tested {
        assert!(run.len() <= RUN, "a run of at most {RUN} cells");
        // SAFETY: SSE2 is part of x86-64 itself: every such CPU has it.
        #[cfg(target_arch = "x86_64")]
        return unsafe {
            match self.sort {
                Sort::Id => self.test_sse2::<false>(run),
                _ => self.test_sse2::<true>(run),
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        return self.test_one_by_one(run, 0);
    }

    /// `test` one cell at a time, from the run's cell `from` on: the reference the four-wide
    /// test is checked against, and its tail.
    fn test_one_by_one(&self, run: &[SortKeys], from: usize) -> Tested {
        let span = self.last - self.first;
        let mut tested = Tested {
            below: 0,
            inside: 0,
        };
        for (i, keys) in run.iter().enumerate().skip(from) {
            let cell = keys.by(self.sort);
            tested.below += usize::from(cell < self.first);
            // One comparison for first <= cell <= last: below `first` the difference wraps.
            tested.inside |= u64::from(cell.wrapping_sub(self.first) <= span) << i;
        }
        tested
    }

    /// `test` four cells at a time with SSE2 (every x86-64 has it). The cells of four entries
    /// are two loads, one shuffle picks the sort's four, and with their sign bits flipped the
    /// signed comparisons order them as unsigned ones; a price descending also flips the others
    /// (its cell is the price's negated).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse2")]
    #[inline]
    fn test_sse2<const PRICE: bool>(&self, run: &[SortKeys]) -> Tested {
        use std::arch::x86_64::*;
        const SIGN: u32 = 1 << 31;
        let negate = if self.sort == Sort::PriceDesc { !0 } else { 0 };
        let flip = _mm_set1_epi32((SIGN ^ negate) as i32);
        let first = _mm_set1_epi32((self.first ^ SIGN) as i32);
        let last = _mm_set1_epi32((self.last ^ SIGN) as i32);
        let mut below = _mm_setzero_si128();
        let mut outside = 0u64;
        let fours = run.chunks_exact(4);
        let tail = run.len() - fours.remainder().len();
        for (i, four) in fours.enumerate() {
            let at = four.as_ptr().cast::<__m128i>();
            // SAFETY: `four` is 4 cells of 8 bytes (`SortKeys` is repr(C), two u32): two
            // unaligned 16-byte loads read exactly its 32 bytes.
            let (a, b) = unsafe { (_mm_loadu_si128(at), _mm_loadu_si128(at.add(1))) };
            let (a, b) = (_mm_castsi128_ps(a), _mm_castsi128_ps(b));
            // Lanes 0 and 2 of each load are the ids, 1 and 3 the prices.
            let cells = match PRICE {
                false => _mm_shuffle_ps::<0b10_00_10_00>(a, b),
                true => _mm_shuffle_ps::<0b11_01_11_01>(a, b),
            };
            let cells = _mm_xor_si128(_mm_castps_si128(cells), flip);
            let is_below = _mm_cmplt_epi32(cells, first);
            let is_above = _mm_cmpgt_epi32(cells, last);
            below = _mm_sub_epi32(below, is_below); // a lane that is below is -1
            let out = _mm_movemask_ps(_mm_castsi128_ps(_mm_or_si128(is_below, is_above)));
            outside |= u64::from(out as u32) << (4 * i);
        }
        let mut lanes = [0u32; 4];
        // SAFETY: `lanes` is 16 bytes; an unaligned store writes exactly those.
        unsafe { _mm_storeu_si128(lanes.as_mut_ptr().cast(), below) };
        let rest = self.test_one_by_one(run, tail);
        let fours_mask = if tail == RUN { !0 } else { (1u64 << tail) - 1 };
        Tested {
            below: lanes.iter().map(|&n| n as usize).sum::<usize>() + rest.below,
            inside: (!outside & fours_mask) | rest.inside,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(id: u32, price: u32) -> SortKeys {
        SortKeys { id, price }
    }

    fn sort() -> impl Strategy<Value = Sort> {
        prop_oneof![Just(Sort::Id), Just(Sort::Price), Just(Sort::PriceDesc)]
    }

    /// Cells near the window's bounds and at the ends of u32, where the sign flips would show.
    fn cell() -> impl Strategy<Value = u32> {
        prop_oneof![
            any::<u32>(),
            0u32..8,
            (u32::MAX - 8)..=u32::MAX,
            ((1u32 << 31) - 4)..((1u32 << 31) + 4),
        ]
    }

    #[test]
    fn a_run_is_tested_cell_by_cell() {
        let run = [
            keys(5, 10),
            keys(1, 30),
            keys(9, 20),
            keys(3, 40),
            keys(7, 25),
        ];
        let window = Window::new(Sort::Price, &(20..=30));
        // Prices 20, 30 and 25 are in the window, 10 below it.
        let expected = Tested {
            below: 1,
            inside: 0b10110,
        };
        assert_eq!(window.test(&run), expected);
        let by_id = Window::new(Sort::Id, &(3..=7)).test(&run);
        assert_eq!(
            by_id,
            Tested {
                below: 1,
                inside: 0b11001
            }
        );
        // Descending, a cell is the price negated: 40 and 30 come first.
        let top = Window::new(Sort::PriceDesc, &(!30..=!25)).test(&run);
        assert_eq!(
            top,
            Tested {
                below: 1,
                inside: 0b10010
            }
        );
    }

    proptest! {
        #[test]
        fn four_at_a_time_finds_what_one_at_a_time_does(
            run in prop::collection::vec((cell(), cell()).prop_map(|(id, price)| keys(id, price)), 0..=RUN),
            sort in sort(),
            bounds in (cell(), cell()),
        ) {
            let window = Window::new(sort, &(bounds.0.min(bounds.1)..=bounds.0.max(bounds.1)));
            prop_assert_eq!(window.test(&run), window.test_one_by_one(&run, 0));
        }
    }
}
