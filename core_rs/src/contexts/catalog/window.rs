//! A window of cells tested against a run of a name leaf's cells four at a time: which of the
//! run's cells lie below the window, and which in it. A name prefix's page by id or price tests
//! every match's cell (a one-letter prefix, tens of thousands); one at a time, the count and the
//! comparisons did not fit in registers and each match cost about a nanosecond.

use super::{Sort, SortKeys, CELLS};
use std::ops::RangeInclusive;

/// A window of cells in one sort's order (id, price or price descending).
#[derive(Clone, Copy, Debug)]
pub struct Window {
    sort: Sort,
    first: u32,
    last: u32,
}

/// What `Window::test` found in a run: how many cells lie below the window, and a bit for each
/// cell in it (bit i: the column's slot i).
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

    /// The sort whose cells the window holds.
    pub fn sort(&self) -> Sort {
        self.sort
    }

    /// The cells of slots [at, at + len) of `column` (a leaf's column of the sort's part: the
    /// prices for a price descending, whose cells are those negated) below the window and in it.
    #[inline]
    pub fn test(&self, column: &[u32; CELLS], at: usize, len: usize) -> Tested {
        assert!(at + len <= CELLS, "slots of the column");
        // SAFETY: SSE2 is part of x86-64 itself: every such CPU has it.
        #[cfg(target_arch = "x86_64")]
        return unsafe { self.test_sse2(column, at, len) };
        #[cfg(not(target_arch = "x86_64"))]
        return self.test_one_by_one(column, at, len);
    }

    /// The cell a column's value stands for in this window's sort.
    fn cell(&self, value: u32) -> u32 {
        SortKeys::in_order(self.sort, value)
    }

    /// `test` one cell at a time: the reference the four-wide test is checked against.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    fn test_one_by_one(&self, column: &[u32; CELLS], at: usize, len: usize) -> Tested {
        let span = self.last - self.first;
        let mut tested = Tested {
            below: 0,
            inside: 0,
        };
        for (slot, &value) in column.iter().enumerate().skip(at).take(len) {
            let cell = self.cell(value);
            tested.below += usize::from(cell < self.first);
            // One comparison for first <= cell <= last: below `first` the difference wraps.
            tested.inside |= u64::from(cell.wrapping_sub(self.first) <= span) << slot;
        }
        tested
    }

    /// `test` four slots at a time with SSE2 (every x86-64 has it), over the aligned fours that
    /// hold the run; the slots outside it are masked off after. With their sign bits flipped,
    /// signed comparisons order cells as unsigned ones; a price descending also flips the others
    /// (its cell is the price's negated).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse2")]
    #[inline]
    fn test_sse2(&self, column: &[u32; CELLS], at: usize, len: usize) -> Tested {
        use std::arch::x86_64::*;
        const SIGN: u32 = 1 << 31;
        let flip = _mm_set1_epi32((self.cell(0) ^ SIGN) as i32);
        let first = _mm_set1_epi32((self.first ^ SIGN) as i32);
        let last = _mm_set1_epi32((self.last ^ SIGN) as i32);
        let (mut below, mut outside) = (0u64, 0u64);
        for four in at / 4..(at + len).div_ceil(4) {
            // SAFETY: `four` < CELLS / 4, so the 16 bytes loaded are slots 4 four..4 four + 4.
            let cells = unsafe { _mm_loadu_si128(column.as_ptr().add(4 * four).cast()) };
            let cells = _mm_xor_si128(cells, flip);
            let is_below = _mm_castsi128_ps(_mm_cmplt_epi32(cells, first));
            let is_above = _mm_castsi128_ps(_mm_cmpgt_epi32(cells, last));
            below |= u64::from(_mm_movemask_ps(is_below) as u32) << (4 * four);
            outside |=
                u64::from(_mm_movemask_ps(_mm_or_ps(is_below, is_above)) as u32) << (4 * four);
        }
        let run = slots(at, len);
        Tested {
            below: (below & run).count_ones() as usize,
            inside: !outside & run,
        }
    }
}

/// A mask of slots [at, at + len).
fn slots(at: usize, len: usize) -> u64 {
    match len {
        0 => 0,
        _ => (!0u64 >> (64 - len)) << at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn column(values: &[u32]) -> [u32; CELLS] {
        let mut column = [0; CELLS];
        column[..values.len()].copy_from_slice(values);
        column
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
        let prices = column(&[10, 30, 20, 40, 25, 5]);
        let window = Window::new(Sort::Price, &(20..=30));
        // Prices 20, 30 and 25 are in the window, 10 below it; 5 is not in the run.
        let expected = Tested {
            below: 1,
            inside: 0b10110,
        };
        assert_eq!(window.test(&prices, 0, 5), expected);
        // From slot 1: 30, 20, 40 and 25 (10 and 5 are not in the run).
        let from_one = window.test(&prices, 1, 4);
        assert_eq!(
            from_one,
            Tested {
                below: 0,
                inside: 0b10110
            }
        );
        // Descending, a cell is the price negated: 40 and 30 come first.
        let top = Window::new(Sort::PriceDesc, &(!30..=!25)).test(&prices, 0, 6);
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
            values in prop::collection::vec(cell(), CELLS),
            run in (0..=CELLS).prop_flat_map(|len| (0..=CELLS - len, Just(len))),
            sort in sort(),
            bounds in (cell(), cell()),
        ) {
            let column = column(&values);
            let window = Window::new(sort, &(bounds.0.min(bounds.1)..=bounds.0.max(bounds.1)));
            let (at, len) = run;
            prop_assert_eq!(window.test(&column, at, len), window.test_one_by_one(&column, at, len));
        }
    }
}
