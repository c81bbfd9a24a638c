//! An order-statistic B+tree ("counted B-tree"): the sorted index behind the in-memory catalog.
//!
//! Pages of a sorted listing are answered by position ("items 40..60 by name"), and prefix
//! searches by rank ("how many names sort before `foo`"), so besides insert and remove the index
//! needs select and rank in O(log n). Why it is built the way it is:
//!
//! - Items live only in leaves, as sorted `Vec`s allocated once at full capacity: the bulk of the
//!   memory is the items themselves, and an insert never reallocates (no latency spikes, no
//!   allocator churn on the hot path).
//! - A branch stores the number of items under each child, so select (`get`, `iter_from`)
//!   descends by counts and rank (`count_while`) adds them up on the way down.
//! - A branch also stores, between each pair of children, a clone of the smallest item of the
//!   right child. Inserts, removals and `count_while` then pick a child by binary search without
//!   touching the children themselves. These separators are kept exact: when an item leaves the
//!   tree no clone of it stays behind, so with `Arc` items removal really releases the item.
//! - Beside its items a leaf keeps a cell of each (`Order::Cell`: a few bytes the order picks,
//!   such as a key cut short) in an array of their own, moved with the items: a walk over many
//!   items that needs only those bytes (`runs`) streams the cells, not the items. The array is
//!   inline in the leaf, so the cells of a branch's leaves lie side by side in its children.
//! - No parent or sibling pointers: the iterator carries its own path from the root.
//! - A full node first spills into a sibling that has room and splits only when none has. Nodes
//!   stay well filled for random inserts, and also for keys arriving in sorted order, which a
//!   plain half split would leave half empty.

use std::cmp::Ordering;
use std::fmt;
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::mem;
use std::ops::Range;

/// A total order over T, as a zero-sized type so comparisons dispatch statically.
pub trait Order<T> {
    /// What a leaf keeps of each of its items in a block of its own beside them (`runs`): the
    /// few bytes of an item that a walk over many items reads, so that it streams those and not
    /// the items. `()` for an order that needs none.
    type Cell: Cell;

    fn cmp(a: &T, b: &T) -> Ordering;

    /// The cell of `item`.
    fn cell(item: &T) -> Self::Cell;
}

/// How a leaf lays out its items' cells: a block of `CELLS` slots, inline in the leaf. A cell of
/// several parts may keep each part in a column of its own, so that a walk reading one part
/// streams only that part (`part`).
pub trait Cell: Copy + PartialEq + fmt::Debug {
    type Block: Copy;
    /// A block whose slots hold nothing yet.
    const EMPTY: Self::Block;
    fn get(block: &Self::Block, at: usize) -> Self;
    fn set(block: &mut Self::Block, at: usize, cell: Self);
    /// Moves the slots `from` to start at `to`, as `slice::copy_within` does.
    fn shift(block: &mut Self::Block, from: Range<usize>, to: usize);
    /// Copies the slots `from` of `source` into `block`, starting at `to`.
    fn copy(block: &mut Self::Block, to: usize, source: &Self::Block, from: Range<usize>);
    /// Where the memory of `block` is that a walk reading part `part` of its cells reads
    /// (`runs`), to load ahead: its start and its length in bytes.
    fn part(block: &Self::Block, part: usize) -> (*const u8, usize);
}

/// Cells of one part, laid out as an array.
macro_rules! array_cells {
    ($($cell:ty = $empty:expr),*) => {$(
        impl Cell for $cell {
            type Block = [$cell; CELLS];
            const EMPTY: Self::Block = [$empty; CELLS];
            fn get(block: &Self::Block, at: usize) -> Self {
                block[at]
            }
            fn set(block: &mut Self::Block, at: usize, cell: Self) {
                block[at] = cell;
            }
            fn shift(block: &mut Self::Block, from: Range<usize>, to: usize) {
                block.copy_within(from, to);
            }
            fn copy(block: &mut Self::Block, to: usize, source: &Self::Block, from: Range<usize>) {
                block[to..to + from.len()].copy_from_slice(&source[from]);
            }
            fn part(block: &Self::Block, _: usize) -> (*const u8, usize) {
                span_of(block)
            }
        }
    )*};
}

array_cells!(() = (), u32 = 0);

/// Where `value` is in memory: its start and its length in bytes (see `Cell::part`).
pub fn span_of<V>(value: &V) -> (*const u8, usize) {
    ((value as *const V).cast(), mem::size_of::<V>())
}

/// Items per leaf: 64 pointers make a 512-byte buffer, big enough to keep the tree shallow and
/// the per-leaf bookkeeping small, small enough that shifting items within a leaf stays cheap.
const LEAF_CAP: usize = 64;
/// Children per branch. With 64, a million items fit under three levels of branches.
const BRANCH_CAP: usize = 64;

// Below 4 a non-root node could shrink to a single entry and splits would produce underfull halves.
const _: () = assert!(LEAF_CAP >= 4 && BRANCH_CAP >= 4);

/// A sorted index of distinct items (distinct under `O`) with positional access.
///
/// Cloning copies the whole tree; `O` need not be `Clone`.
pub struct OrderIndex<T, O: Order<T>, const LEAF: usize = LEAF_CAP> {
    core: Core<T, O, LEAF, BRANCH_CAP>,
}

impl<T: Clone, O: Order<T>, const LEAF: usize> OrderIndex<T, O, LEAF> {
    pub fn new() -> Self {
        OrderIndex { core: Core::new() }
    }

    /// The index of `items`, which must be strictly increasing under O (None if they are not).
    /// Builds the tree bottom-up in O(n), with full nodes: much faster than n inserts.
    pub fn from_sorted(items: Vec<T>) -> Option<Self> {
        Some(OrderIndex {
            core: Core::from_sorted(items)?,
        })
    }

    pub fn len(&self) -> usize {
        self.core.len
    }

    pub fn is_empty(&self) -> bool {
        self.core.len == 0
    }

    /// Inserts item; returns false (and changes nothing) if an item equal under O already exists.
    pub fn insert(&mut self, item: T) -> bool {
        self.core.insert(item)
    }

    /// Inserts `items`, which must be strictly increasing under O, in one pass from left to
    /// right: each leaf is reached from the branch above the previous one instead of from the
    /// root, and takes every item that falls into it at once. An item equal under O to one
    /// already present is not inserted but appended to `present` (in order). Returns how many
    /// were inserted. The tree ends up as the same inserts one by one would leave it, up to
    /// where the items sit among the nodes.
    /// The position each inserted item took is appended to `ranks`: inserting the same items
    /// at those positions (`insert_at_ranks`) into an index with the same items as this one had
    /// does the same without comparing anything.
    pub fn insert_sorted(
        &mut self,
        items: Vec<T>,
        present: &mut Vec<T>,
        ranks: &mut Vec<usize>,
    ) -> usize {
        self.core.insert_sorted(items, present, ranks)
    }

    /// Inserts each item at its position, in order: the `ranks` an `insert_sorted` of these
    /// items recorded on an index holding the same items as this one. Descends by the counts
    /// alone, so the order is trusted, not checked.
    pub fn insert_at_ranks(&mut self, items: Vec<T>, ranks: &[usize]) {
        self.core.insert_at_ranks(items, ranks);
    }

    /// Removes and returns the item equal to `probe` under O, if any.
    pub fn remove(&mut self, probe: &T) -> Option<T> {
        self.core.remove(probe)
    }

    /// Puts `item` in the place of the item equal to it under O; false (and nothing changes) if
    /// there is none. One descent, nothing moves: cheaper than a removal and an insertion when
    /// what changed is not what the index orders by.
    pub fn replace(&mut self, item: T) -> bool {
        self.core.replace(item)
    }

    /// Number of items `x` with `below(x) == true`, where `below` is monotone over the order
    /// (true for a prefix of the sorted sequence, then false). Used for lower bounds with
    /// arbitrary probes, e.g. "items whose name < prefix". O(log n).
    pub fn count_while<F: Fn(&T) -> bool>(&self, below: F) -> usize {
        self.core.count_while(below)
    }

    /// The item at 0-based position k in order (select). O(log n).
    pub fn get(&self, k: usize) -> Option<&T> {
        self.core.get(k)
    }

    /// The item for which `probe` answers Equal, where `probe(x)` orders x against the wanted
    /// item consistently with O (so any key can be looked up, not only a whole item). O(log n).
    pub fn find<F: Fn(&T) -> Ordering>(&self, probe: F) -> Option<&T> {
        self.core.find(probe)
    }

    /// Heap bytes held by the nodes (allocator overhead and what items point to not included).
    pub fn heap_bytes(&self) -> usize {
        self.core.heap_bytes()
    }

    /// Iterator over items in order starting at position k (empty if k >= len).
    /// O(log n) to start, O(1) amortised per item.
    pub fn iter_from(&self, k: usize) -> Iter<'_, T, O> {
        self.core.iter_from(k)
    }

    /// Items [from, from + count) in order, as runs of adjacent items (part of a leaf each) with
    /// their cells: for loops over many items, which a call per item would slow. The walk reads
    /// part `part` of the cells (see `Cell::part`), which it loads ahead.
    pub fn runs(&self, from: usize, count: usize, part: usize) -> Runs<'_, T, O> {
        let mut items = self.iter_from(from);
        items.remaining = items.remaining.min(count);
        Runs { items, part }
    }

    pub fn iter(&self) -> Iter<'_, T, O> {
        self.core.iter_from(0)
    }
}

impl<T: Clone, O: Order<T>, const LEAF: usize> Default for OrderIndex<T, O, LEAF> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone, O: Order<T>, const LEAF: usize> Clone for OrderIndex<T, O, LEAF> {
    fn clone(&self) -> Self {
        OrderIndex {
            core: self.core.clone(),
        }
    }
}

impl<T: Clone + fmt::Debug, O: Order<T>, const LEAF: usize> fmt::Debug for OrderIndex<T, O, LEAF> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// In-order iterator; see [`OrderIndex::iter_from`].
pub struct Iter<'a, T, O: Order<T>> {
    /// The branches from the root down to the current leaf: each one's children and the index
    /// of the child being walked. Stands in for parent pointers, which the nodes don't have.
    path: Vec<(&'a [Node<T, O>], usize)>,
    /// What is left of the current leaf.
    leaf: std::slice::Iter<'a, T>,
    /// The current leaf (its cells: those of what is left are the last ones); None before any.
    current: Option<&'a Leaf<T, O>>,
    /// Items still to yield, for an exact `size_hint` and an early stop at the end.
    remaining: usize,
}

impl<'a, T, O: Order<T>> Iter<'a, T, O> {
    /// Moves to the first leaf right of the current one; false if there is none. Starts loading
    /// a leaf after it too: the next one's items, or for `Runs` the part `part` of the cells of
    /// the one `LEAVES_AHEAD` on. A leaf's items are an allocation of their own, so a long walk
    /// (a name prefix's matches) would otherwise wait for each leaf's first lines in turn.
    fn next_leaf(&mut self, cells_part: Option<usize>) -> bool {
        while let Some(top) = self.path.last_mut() {
            let (children, i) = *top;
            if i + 1 < children.len() {
                top.1 = i + 1;
                let ahead = if cells_part.is_some() {
                    LEAVES_AHEAD
                } else {
                    1
                };
                if let (Some(_), Some(farther)) = (cells_part, children.get(i + 1 + 2 * ahead)) {
                    // Its first line says whether it is a leaf, which is asked `ahead` leaves on:
                    // asked cold, the walk waited on that line at every leaf.
                    prefetch_lines((farther as *const Node<T, O>).cast(), 1);
                }
                if let Some(Node::Leaf(after)) = children.get(i + 1 + ahead) {
                    match cells_part {
                        Some(part) => {
                            let (start, len) = O::Cell::part(&after.cells, part);
                            prefetch_lines(start, len);
                        }
                        None => prefetch(&after.items),
                    }
                }
                self.descend_leftmost(&children[i + 1]);
                return true;
            }
            self.path.pop();
        }
        false
    }

    /// Makes the leftmost leaf under `node` current, recording the branches passed.
    fn descend_leftmost(&mut self, mut node: &'a Node<T, O>) {
        loop {
            match node {
                Node::Leaf(leaf) => {
                    self.leaf = leaf.items.iter();
                    self.current = Some(leaf);
                    return;
                }
                Node::Branch(branch) => {
                    self.path.push((&branch.children, 0));
                    node = &branch.children[0];
                }
            }
        }
    }
}

impl<'a, T, O: Order<T>> Iterator for Iter<'a, T, O> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        loop {
            if let Some(item) = self.leaf.next() {
                self.remaining -= 1;
                return Some(item);
            }
            if self.remaining == 0 || !self.next_leaf(None) {
                return None;
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T, O: Order<T>> ExactSizeIterator for Iter<'_, T, O> {}

/// Runs of adjacent items and their cells; see [`OrderIndex::runs`].
pub struct Runs<'a, T, O: Order<T>> {
    items: Iter<'a, T, O>,
    /// The part of the cells the walk reads, which it loads ahead.
    part: usize,
}

/// A run: adjacent items of a leaf, and their leaf's cells, of which the run's are the slots
/// from `at` on (one per item).
pub type CellRun<'a, T, C> = (&'a [T], &'a <C as Cell>::Block, usize);

impl<'a, T, O: Order<T>> Iterator for Runs<'a, T, O> {
    type Item = CellRun<'a, T, O::Cell>;

    fn next(&mut self) -> Option<Self::Item> {
        let items = &mut self.items;
        loop {
            if items.remaining == 0 {
                return None;
            }
            let rest = items.leaf.as_slice();
            if let (false, Some(leaf)) = (rest.is_empty(), items.current) {
                let len = rest.len().min(items.remaining);
                let (run, after) = rest.split_at(len);
                items.leaf = after.iter();
                items.remaining -= len;
                return Some((run, &leaf.cells, leaf.len() - rest.len()));
            }
            if !items.next_leaf(Some(self.part)) {
                return None;
            }
        }
    }
}

impl<T, O: Order<T>> FusedIterator for Iter<'_, T, O> {}

impl<T, O: Order<T>> Clone for Iter<'_, T, O> {
    fn clone(&self) -> Self {
        Iter {
            path: self.path.clone(),
            leaf: self.leaf.clone(),
            current: self.current,
            remaining: self.remaining,
        }
    }
}

/// A subtree. Children are stored inline in their parent's `children`, so a leaf costs its item
/// buffer plus one slot (the `Leaf`, its cells inline) in its parent.
enum Node<T, O: Order<T>> {
    Leaf(Leaf<T, O>),
    Branch(Box<Branch<T, O>>),
}

/// A leaf's items in order, and beside them their cells: slot i of `cells` holds
/// `O::cell(&items[i])` for each item (the slots after the last item hold nothing of use). The
/// cells are inline, so a branch's leaves keep theirs side by side in its `children`: a walk
/// over many leaves' cells streams one array instead of reaching into a buffer of its own per
/// leaf (each a cache miss and, on this machine's virtual memory, a page walk). Every change goes
/// through the methods below, which keep the two in step; items moved from a leaf to another take
/// their cells along.
///
/// Laid out in the order written: the items' buffer, which tells a leaf from a branch in a
/// `Node`, in its first line (see `Iter::next_leaf`).
#[repr(C)]
struct Leaf<T, O: Order<T>> {
    items: Vec<T>,
    cells: <O::Cell as Cell>::Block,
}

/// Cells a leaf has room for: the most items a leaf holds (`LEAF_CAP`, the largest `LEAF`).
pub const CELLS: usize = LEAF_CAP;

impl<T, O: Order<T>> Leaf<T, O> {
    /// A leaf without a buffer: the root of a new tree, which allocates on the first insert.
    fn unallocated() -> Self {
        Leaf {
            items: Vec::new(),
            cells: O::Cell::EMPTY,
        }
    }

    fn with_capacity(cap: usize) -> Self {
        debug_assert!(cap <= CELLS, "a leaf holds at most {CELLS} cells");
        Leaf {
            items: Vec::with_capacity(cap),
            cells: O::Cell::EMPTY,
        }
    }

    /// A leaf of `items` (at most `cap`), in order.
    fn of(items: impl Iterator<Item = T>, cap: usize) -> Self {
        let mut leaf = Leaf::with_capacity(cap);
        for item in items {
            O::Cell::set(&mut leaf.cells, leaf.items.len(), O::cell(&item));
            leaf.items.push(item);
        }
        leaf
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    /// Starts loading the items and the cells, as a search reads the items and an insert or a
    /// removal writes both.
    fn prefetch(&self) {
        prefetch(&self.items);
        let (start, len) = span_of(&self.cells);
        prefetch_lines(start, len);
    }

    /// Makes the buffer hold `cap` items: only the root leaf of a new tree starts without.
    fn reserve_to(&mut self, cap: usize) {
        if self.items.capacity() < cap {
            self.items.reserve_exact(cap - self.items.len());
        }
    }

    #[inline]
    fn insert(&mut self, at: usize, item: T) {
        O::Cell::shift(&mut self.cells, at..self.items.len(), at + 1);
        O::Cell::set(&mut self.cells, at, O::cell(&item));
        self.items.insert(at, item);
    }

    fn set(&mut self, at: usize, item: T) {
        O::Cell::set(&mut self.cells, at, O::cell(&item));
        self.items[at] = item;
    }

    fn remove(&mut self, at: usize) -> T {
        O::Cell::shift(&mut self.cells, at + 1..self.items.len(), at);
        self.items.remove(at)
    }

    /// Moves the first `k` items of `right` to the end of this leaf.
    fn take_front_of(&mut self, right: &mut Leaf<T, O>, k: usize) {
        O::Cell::copy(&mut self.cells, self.items.len(), &right.cells, 0..k);
        O::Cell::shift(&mut right.cells, k..right.items.len(), 0);
        self.items.extend(right.items.drain(..k));
    }

    /// Moves the items from `at` on to the front of `right`.
    fn give_back_to(&mut self, right: &mut Leaf<T, O>, at: usize) {
        let moved = self.len() - at;
        O::Cell::shift(&mut right.cells, 0..right.items.len(), moved);
        O::Cell::copy(&mut right.cells, 0, &self.cells, at..self.items.len());
        prepend(&mut right.items, self.items.drain(at..));
    }

    /// Moves every item of `right` to the end of this leaf.
    fn append(&mut self, right: &mut Leaf<T, O>) {
        O::Cell::copy(
            &mut self.cells,
            self.items.len(),
            &right.cells,
            0..right.items.len(),
        );
        self.items.append(&mut right.items);
    }

    /// The items from `at` on, moved to a new leaf of capacity `cap`.
    fn split_off(&mut self, at: usize, cap: usize) -> Leaf<T, O> {
        let mut right = Leaf::with_capacity(cap);
        O::Cell::copy(&mut right.cells, 0, &self.cells, at..self.items.len());
        right.items.extend(self.items.drain(at..));
        right
    }

    /// The items' buffer (the cells are inline, in the parent's children or the root).
    fn heap_bytes(&self) -> usize {
        self.items.capacity() * mem::size_of::<T>()
    }
}

impl<T: Clone, O: Order<T>> Clone for Leaf<T, O> {
    fn clone(&self) -> Self {
        Leaf {
            items: clone_with_capacity(&self.items),
            cells: self.cells,
        }
    }
}

/// An inner node. Its children are all leaves or all branches, all at the same depth.
struct Branch<T, O: Order<T>> {
    /// `keys[i]` is a clone of the smallest item under `children[i + 1]`.
    keys: Vec<T>,
    /// `counts[i]` is the number of items under `children[i]`.
    counts: Vec<usize>,
    children: Vec<Node<T, O>>,
}

/// What an insert into a subtree did.
enum Insert<T> {
    Done,
    /// An item equal under the order is present; the new one was dropped.
    Duplicate,
    /// The subtree's root is full and its parent must make room; the item is handed back.
    Full(T),
}

/// A sorted run being inserted: what is left of it, the items found present, and the
/// positions the inserted ones took.
struct Run<'a, T> {
    rest: &'a mut std::vec::IntoIter<T>,
    present: &'a mut Vec<T>,
    ranks: &'a mut Vec<usize>,
}

/// Items being inserted at their positions (ascending), and those positions.
struct Ranked<'a, T> {
    items: std::vec::IntoIter<T>,
    ranks: &'a [usize],
}

impl<T> Ranked<'_, T> {
    fn next(&mut self) -> T {
        self.ranks = &self.ranks[1..];
        self.items.next().expect("an item per rank")
    }
}

/// How many leaves ahead a walk over runs loads a leaf's cells (`Iter::next_leaf`): cells take
/// a leaf little time to read, and one ahead left most of a leaf's wait (a prefix's page by
/// price, 16-byte cells: 0.18-0.19 -> 0.17 ms; 12 ahead asked for more lines than the core can
/// have in flight, and was slower).
const LEAVES_AHEAD: usize = 4;

/// How many items on a sorted run's children are prefetched (see `insert_run_branch`).
const AHEAD: usize = 4;

impl<T, O: Order<T>> Node<T, O> {
    /// Starts loading what a search of this node reads, and an insert writes: a leaf's items
    /// and cells, or a branch's keys.
    fn prefetch(&self) {
        match self {
            Node::Leaf(leaf) => leaf.prefetch(),
            Node::Branch(branch) => prefetch(&branch.keys),
        }
    }

    /// Number of entries: items of a leaf, children of a branch.
    fn len(&self) -> usize {
        match self {
            Node::Leaf(leaf) => leaf.len(),
            Node::Branch(branch) => branch.children.len(),
        }
    }

    /// The smallest item below. Only called on non-empty subtrees (every non-root node is).
    fn first(&self) -> &T {
        let mut node = self;
        loop {
            match node {
                Node::Leaf(leaf) => return &leaf.items[0],
                Node::Branch(branch) => node = &branch.children[0],
            }
        }
    }
}

impl<T: Clone, O: Order<T>> Clone for Node<T, O> {
    fn clone(&self) -> Self {
        match self {
            Node::Leaf(leaf) => Node::Leaf(leaf.clone()),
            Node::Branch(branch) => Node::Branch(Box::new(Branch {
                keys: clone_with_capacity(&branch.keys),
                counts: clone_with_capacity(&branch.counts),
                children: clone_with_capacity(&branch.children),
            })),
        }
    }
}

/// `Vec::clone` trims capacity; nodes must keep theirs so that clones don't reallocate either.
fn clone_with_capacity<T: Clone>(v: &Vec<T>) -> Vec<T> {
    let mut copy = Vec::with_capacity(v.capacity());
    copy.extend_from_slice(v);
    copy
}

/// Asks the CPU to load every cache line of `items`. A binary search over a leaf that is not in
/// the cache waits for one miss after another (each probe depends on the last); loading the
/// whole leaf at once overlaps those misses, which is most of the time an update takes.
#[inline]
fn prefetch<T>(items: &[T]) {
    prefetch_lines(items.as_ptr().cast(), mem::size_of_val(items));
}

/// Asks the CPU to load every cache line that the `len` bytes from `start` touch (without reading
/// them: any address will do, a prefetch never faults).
#[inline]
pub fn prefetch_lines(start: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        const LINE: usize = 64;
        // Bytes that start mid-line end in the line after the one `len / LINE` lines on.
        let skew = start as usize % LINE;
        let first_line = start.wrapping_sub(skew);
        for offset in (0..skew + len).step_by(LINE) {
            // SAFETY: a prefetch has no effect on memory and never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(first_line.wrapping_add(offset).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, len);
}

/// Moves `added` (appended after the current contents) to the front, keeping its order.
fn prepend<T>(v: &mut Vec<T>, added: impl Iterator<Item = T>) {
    let before = v.len();
    v.extend(added);
    let added = v.len() - before;
    v.rotate_right(added);
}

impl<T: Clone, O: Order<T>> Branch<T, O> {
    fn with_capacity(cap: usize) -> Self {
        Branch {
            keys: Vec::with_capacity(cap - 1),
            counts: Vec::with_capacity(cap),
            children: Vec::with_capacity(cap),
        }
    }

    /// The child whose range holds `item`: the number of separators not greater than it.
    fn route(&self, item: &T) -> usize {
        self.keys
            .partition_point(|key| O::cmp(key, item) != Ordering::Greater)
    }

    /// `route` for an item known not to route left of child `from`: gallops from there, as the
    /// next item of a sorted run mostly goes to the same child or one close to it.
    fn route_from(&self, from: usize, item: &T) -> usize {
        let keys = &self.keys[from..];
        let goes_right = |key: &T| O::cmp(key, item) != Ordering::Greater;
        // keys[..lo] all go right; keys[hi] (if any) does not.
        let (mut lo, mut step) = (0, 1);
        let hi = loop {
            let probe = lo + step - 1;
            if probe >= keys.len() {
                break keys.len();
            }
            if !goes_right(&keys[probe]) {
                break probe;
            }
            lo = probe + 1;
            step *= 2;
        };
        from + lo + keys[lo..hi].partition_point(goes_right)
    }

    /// The child holding position `k` of this subtree, and the position within that child.
    fn locate(&self, mut k: usize) -> (usize, usize) {
        for (i, &count) in self.counts.iter().enumerate() {
            if k < count {
                return (i, k);
            }
            k -= count;
        }
        // Past the end (callers check bounds first): an index the leaf will reject.
        (
            self.counts.len() - 1,
            k + self.counts[self.counts.len() - 1],
        )
    }

    /// Children `i` and `i + 1` and the separator between them, all mutable at once.
    fn pair(&mut self, i: usize) -> (&mut Node<T, O>, &mut Node<T, O>, &mut T) {
        let (left, right) = self.children.split_at_mut(i + 1);
        (&mut left[i], &mut right[0], &mut self.keys[i])
    }

    /// Moves the first `k` entries of child `i + 1` to the end of child `i` (0 < k < its len).
    fn shift_left(&mut self, i: usize, k: usize) {
        let moved = match self.pair(i) {
            (Node::Leaf(left), Node::Leaf(right), sep) => {
                left.take_front_of(right, k);
                *sep = right.items[0].clone();
                k
            }
            (Node::Branch(left), Node::Branch(right), sep) => {
                let moved = right.counts[..k].iter().sum();
                left.counts.extend(right.counts.drain(..k));
                left.children.extend(right.children.drain(..k));
                // The old separator becomes left's key for the first moved child; the key of
                // the first child staying in `right` becomes the new separator.
                let mut keys = right.keys.drain(..k);
                let new_sep = keys.next_back().expect("k > 0");
                left.keys.push(mem::replace(sep, new_sep));
                left.keys.extend(keys);
                moved
            }
            _ => unreachable!("siblings have the same height"),
        };
        self.counts[i] += moved;
        self.counts[i + 1] -= moved;
    }

    /// Moves the last `k` entries of child `i` to the front of child `i + 1` (0 < k < its len).
    fn shift_right(&mut self, i: usize, k: usize) {
        let moved = match self.pair(i) {
            (Node::Leaf(left), Node::Leaf(right), sep) => {
                left.give_back_to(right, left.len() - k);
                *sep = right.items[0].clone();
                k
            }
            (Node::Branch(left), Node::Branch(right), sep) => {
                let at = left.children.len() - k;
                let moved = left.counts[at..].iter().sum();
                prepend(&mut right.counts, left.counts.drain(at..));
                prepend(&mut right.children, left.children.drain(at..));
                // The key of the first moved child becomes the separator; the other moved keys
                // and the old separator (now for right's old first child) go to `right`.
                let mut keys = left.keys.drain(at - 1..);
                let new_sep = keys.next().expect("k > 0");
                let old_sep = mem::replace(sep, new_sep);
                prepend(&mut right.keys, keys.chain(Some(old_sep)));
                moved
            }
            _ => unreachable!("siblings have the same height"),
        };
        self.counts[i] -= moved;
        self.counts[i + 1] += moved;
    }

    /// Appends child `i + 1` to child `i` and drops it (their entries must fit in one node).
    fn merge(&mut self, i: usize) {
        let right = self.children.remove(i + 1);
        let sep = self.keys.remove(i);
        let moved = self.counts.remove(i + 1);
        self.counts[i] += moved;
        match (&mut self.children[i], right) {
            (Node::Leaf(left), Node::Leaf(mut right)) => left.append(&mut right),
            (Node::Branch(left), Node::Branch(mut right)) => {
                left.keys.push(sep);
                left.keys.append(&mut right.keys);
                left.counts.append(&mut right.counts);
                left.children.append(&mut right.children);
            }
            _ => unreachable!("siblings have the same height"),
        }
    }

    /// Moves the upper half of child `i` into a new child `i + 1` (this branch must have room).
    fn split(&mut self, i: usize, leaf_cap: usize, branch_cap: usize) {
        let (right, sep, moved) = match &mut self.children[i] {
            Node::Leaf(left) => {
                let right = left.split_off(left.len() / 2, leaf_cap);
                let sep = right.items[0].clone();
                let moved = right.len();
                (Node::Leaf(right), sep, moved)
            }
            Node::Branch(left) => {
                let mid = left.children.len() / 2;
                let mut right = Branch::with_capacity(branch_cap);
                right.counts.extend(left.counts.drain(mid..));
                right.children.extend(left.children.drain(mid..));
                let mut keys = left.keys.drain(mid - 1..);
                let sep = keys.next().expect("a full branch has keys");
                right.keys.extend(keys);
                let moved = right.counts.iter().sum();
                (Node::Branch(Box::new(right)), sep, moved)
            }
        };
        self.counts[i] -= moved;
        self.counts.insert(i + 1, moved);
        self.keys.insert(i, sep);
        self.children.insert(i + 1, right);
    }
}

/// Sizes of the fewest nodes of at most `cap` entries that hold `len` (> cap) entries, as equal
/// as can be: each then holds more than cap / 2, as every non-root node must.
fn even_split(len: usize, cap: usize) -> impl Iterator<Item = usize> {
    let nodes = len.div_ceil(cap);
    let (base, extra) = (len / nodes, len % nodes);
    (0..nodes).map(move |i| base + usize::from(i < extra))
}

/// The tree proper, generic over node capacities so tests can grow deep trees from few items.
/// Leaves hold `LEAF / 2..=LEAF` items and branches `BRANCH / 2..=BRANCH` children, except the
/// root (a leaf of any size, or a branch with at least two children).
struct Core<T, O: Order<T>, const LEAF: usize, const BRANCH: usize> {
    root: Node<T, O>,
    len: usize,
    /// `fn() -> O` keeps `Core` `Send`, `Sync` and `Clone` whatever the marker type is.
    order: PhantomData<fn() -> O>,
}

impl<T: Clone, O: Order<T>, const LEAF: usize, const BRANCH: usize> Clone
    for Core<T, O, LEAF, BRANCH>
{
    fn clone(&self) -> Self {
        Core {
            root: self.root.clone(),
            len: self.len,
            order: PhantomData,
        }
    }
}

impl<T: Clone, O: Order<T>, const LEAF: usize, const BRANCH: usize> Core<T, O, LEAF, BRANCH> {
    const LEAF_FITS_ITS_CELLS: () = assert!(LEAF <= CELLS, "a leaf has room for LEAF_CAP cells");

    /// An empty tree; its root leaf allocates on the first insert.
    fn new() -> Self {
        let () = Self::LEAF_FITS_ITS_CELLS;
        Core {
            root: Node::Leaf(Leaf::unallocated()),
            len: 0,
            order: PhantomData,
        }
    }

    fn from_sorted(items: Vec<T>) -> Option<Self> {
        let () = Self::LEAF_FITS_ITS_CELLS;
        if items
            .windows(2)
            .any(|pair| O::cmp(&pair[0], &pair[1]) != Ordering::Less)
        {
            return None;
        }
        let len = items.len();
        if len <= LEAF {
            let root = if len == 0 {
                Leaf::unallocated()
            } else {
                Leaf::of(items.into_iter(), LEAF)
            };
            return Some(Core {
                root: Node::Leaf(root),
                len,
                order: PhantomData,
            });
        }
        let mut rest = items.into_iter();
        let mut level: Vec<(Node<T, O>, usize)> = even_split(len, LEAF)
            .map(|size| (Node::Leaf(Leaf::of(rest.by_ref().take(size), LEAF)), size))
            .collect();
        while level.len() > 1 {
            level = Self::branches_over(level);
        }
        let (root, _) = level.pop().expect("one root");
        Some(Core {
            root,
            len,
            order: PhantomData,
        })
    }

    /// The level above `children` (at least two): branches as full as the even split allows.
    fn branches_over(children: Vec<(Node<T, O>, usize)>) -> Vec<(Node<T, O>, usize)> {
        let mut rest = children.into_iter();
        let sizes: Vec<usize> = even_split(rest.len(), BRANCH).collect();
        sizes
            .into_iter()
            .map(|size| {
                let mut branch = Branch::with_capacity(BRANCH);
                for (child, count) in rest.by_ref().take(size) {
                    if !branch.children.is_empty() {
                        branch.keys.push(child.first().clone());
                    }
                    branch.counts.push(count);
                    branch.children.push(child);
                }
                let count = branch.counts.iter().sum();
                (Node::Branch(Box::new(branch)), count)
            })
            .collect()
    }

    /// Maximum entries of a node of `node`'s kind.
    fn cap(node: &Node<T, O>) -> usize {
        match node {
            Node::Leaf(_) => LEAF,
            Node::Branch(_) => BRANCH,
        }
    }

    fn insert(&mut self, mut item: T) -> bool {
        loop {
            match Self::insert_into(&mut self.root, item) {
                Insert::Done => {
                    self.len += 1;
                    return true;
                }
                Insert::Duplicate => return false,
                Insert::Full(back) => {
                    self.grow();
                    item = back;
                }
            }
        }
    }

    /// Puts a new root above the full one and splits the old root under it.
    fn grow(&mut self) {
        let old = mem::replace(&mut self.root, Node::Leaf(Leaf::unallocated()));
        let mut root = Branch::with_capacity(BRANCH);
        root.counts.push(self.len);
        root.children.push(old);
        root.split(0, LEAF, BRANCH);
        self.root = Node::Branch(Box::new(root));
    }

    fn insert_into(node: &mut Node<T, O>, item: T) -> Insert<T> {
        match node {
            Node::Leaf(leaf) => Self::insert_leaf(leaf, item),
            Node::Branch(branch) => Self::insert_branch(branch, item),
        }
    }

    /// Duplicates are detected before fullness, so a rejected insert never restructures.
    fn insert_leaf(leaf: &mut Leaf<T, O>, item: T) -> Insert<T> {
        leaf.prefetch();
        match leaf.items.binary_search_by(|x| O::cmp(x, &item)) {
            Ok(_) => Insert::Duplicate,
            Err(_) if leaf.len() == LEAF => Insert::Full(item),
            Err(at) => {
                leaf.reserve_to(LEAF);
                leaf.insert(at, item);
                Insert::Done
            }
        }
    }

    /// Inserts into the child holding `item`'s range; when that child is full, makes room in it
    /// and retries (which may now route to a neighbour).
    fn insert_branch(branch: &mut Branch<T, O>, mut item: T) -> Insert<T> {
        loop {
            let i = branch.route(&item);
            match Self::insert_into(&mut branch.children[i], item) {
                Insert::Done => {
                    branch.counts[i] += 1;
                    return Insert::Done;
                }
                Insert::Full(back) if Self::make_room(branch, i) => item = back,
                other => return other,
            }
        }
    }

    /// Frees room in the full child `i`: spills into a sibling with a quarter of its slots free
    /// (moving half of them, so both nodes keep room and the retried insert, wherever it now
    /// routes, cannot bounce back and forth), or else splits the child. False if splitting is
    /// needed but `branch` is full too. Spilling into a sibling with fewer free slots would fill
    /// nodes a little more, but each spill would then move few items and the same nodes spill
    /// again soon: much apply time for little memory (docs/design.md, "The catalog").
    fn make_room(branch: &mut Branch<T, O>, i: usize) -> bool {
        let cap = Self::cap(&branch.children[i]);
        let spare = |j: usize| cap - branch.children[j].len();
        let left_spare = if i > 0 { spare(i - 1) } else { 0 };
        let right_spare = if i + 1 < branch.children.len() {
            spare(i + 1)
        } else {
            0
        };
        let min_spare = (cap / 4).max(2);
        if left_spare >= min_spare {
            branch.shift_left(i - 1, left_spare / 2);
        } else if right_spare >= min_spare {
            branch.shift_right(i, right_spare / 2);
        } else if branch.children.len() < BRANCH {
            branch.split(i, LEAF, BRANCH);
        } else {
            return false;
        }
        true
    }

    fn insert_sorted(
        &mut self,
        items: Vec<T>,
        present: &mut Vec<T>,
        ranks: &mut Vec<usize>,
    ) -> usize {
        debug_assert!(items
            .windows(2)
            .all(|pair| O::cmp(&pair[0], &pair[1]) == Ordering::Less));
        let mut rest = items.into_iter();
        let mut inserted = 0;
        let mut run = Run {
            rest: &mut rest,
            present,
            ranks,
        };
        loop {
            let (added, full) = Self::insert_run(&mut self.root, &mut run, None, 0);
            inserted += added;
            self.len += added;
            if !full {
                return inserted;
            }
            self.grow();
        }
    }

    /// Whether `item` sorts below `upper` (None: no bound).
    fn below(item: &T, upper: Option<&T>) -> bool {
        match upper {
            Some(upper) => O::cmp(item, upper) == Ordering::Less,
            None => true,
        }
    }

    /// Inserts the items at the front of `rest` that sort below `upper` into the subtree, until
    /// the next one does not or the subtree's root is full (then true: its parent makes room and
    /// calls again). Returns how many were inserted.
    /// `base` is the position in the whole tree of the subtree's first item.
    fn insert_run(
        node: &mut Node<T, O>,
        run: &mut Run<'_, T>,
        upper: Option<&T>,
        base: usize,
    ) -> (usize, bool) {
        match node {
            Node::Leaf(leaf) => Self::insert_run_leaf(leaf, run, upper, base),
            Node::Branch(branch) => Self::insert_run_branch(branch, run, upper, base),
        }
    }

    fn insert_run_leaf(
        leaf: &mut Leaf<T, O>,
        run: &mut Run<'_, T>,
        upper: Option<&T>,
        base: usize,
    ) -> (usize, bool) {
        let rest = &mut *run.rest;
        leaf.prefetch();
        leaf.reserve_to(LEAF);
        let (mut inserted, mut from) = (0, 0);
        while let Some(next) = rest.as_slice().first() {
            if !Self::below(next, upper) {
                break;
            }
            // Duplicates are detected before fullness, as `insert_leaf` does.
            match leaf.items[from..].binary_search_by(|x| O::cmp(x, next)) {
                Ok(at) => {
                    run.present.extend(rest.next());
                    from += at + 1;
                }
                Err(_) if leaf.len() == LEAF => return (inserted, true),
                Err(at) => {
                    leaf.insert(from + at, rest.next().expect("peeked"));
                    run.ranks.push(base + from + at);
                    from += at + 1;
                    inserted += 1;
                }
            }
        }
        (inserted, false)
    }

    fn insert_run_branch(
        branch: &mut Branch<T, O>,
        run: &mut Run<'_, T>,
        upper: Option<&T>,
        base: usize,
    ) -> (usize, bool) {
        let (mut inserted, mut from) = (0, 0);
        while let Some(next) = run.rest.as_slice().first() {
            if !Self::below(next, upper) {
                break;
            }
            let i = branch.route_from(from, next);
            // The child of an item a few places on starts loading now, while this one is
            // inserted: a leaf not in the cache is most of the time an insert takes.
            if let Some(ahead) = run.rest.as_slice().get(AHEAD) {
                if Self::below(ahead, upper) {
                    branch.children[branch.route_from(i, ahead)].prefetch();
                }
            }
            let child_upper = branch.keys.get(i).or(upper);
            let child_base = base + branch.counts[..i].iter().sum::<usize>();
            let (added, full) =
                Self::insert_run(&mut branch.children[i], run, child_upper, child_base);
            branch.counts[i] += added;
            inserted += added;
            if full && !Self::make_room(branch, i) {
                return (inserted, true);
            }
            // Making room may have moved the child's first items into its left sibling.
            from = if full { i.saturating_sub(1) } else { i };
        }
        (inserted, false)
    }

    fn insert_at_ranks(&mut self, items: Vec<T>, ranks: &[usize]) {
        debug_assert_eq!(items.len(), ranks.len());
        debug_assert!(ranks.windows(2).all(|pair| pair[0] < pair[1]));
        let mut run = Ranked {
            items: items.into_iter(),
            ranks,
        };
        loop {
            let (added, full) = Self::insert_ranked(&mut self.root, &mut run, 0, false);
            self.len += added;
            if !full {
                return;
            }
            self.grow();
        }
    }

    /// Inserts the items at the front of `run` whose position falls in the subtree (from `base`
    /// to its end, or anywhere after `base` if not `bounded`): `insert_run` by positions. An
    /// item between two children joins the end of the left one, so no separator changes.
    fn insert_ranked(
        node: &mut Node<T, O>,
        run: &mut Ranked<'_, T>,
        base: usize,
        bounded: bool,
    ) -> (usize, bool) {
        match node {
            Node::Leaf(leaf) => {
                leaf.prefetch();
                leaf.reserve_to(LEAF);
                let mut inserted = 0;
                while let Some(&k) = run.ranks.first() {
                    if bounded && k > base + leaf.len() {
                        break;
                    }
                    if leaf.len() == LEAF {
                        return (inserted, true);
                    }
                    leaf.insert(k - base, run.next());
                    inserted += 1;
                }
                (inserted, false)
            }
            Node::Branch(branch) => Self::insert_ranked_branch(branch, run, base, bounded),
        }
    }

    fn insert_ranked_branch(
        branch: &mut Branch<T, O>,
        run: &mut Ranked<'_, T>,
        base: usize,
        bounded: bool,
    ) -> (usize, bool) {
        let mut last = branch.children.len() - 1;
        let mut total: usize = branch.counts.iter().sum();
        let (mut inserted, mut i, mut child_base) = (0, 0, base);
        while let Some(&k) = run.ranks.first() {
            if bounded && k > base + total {
                break;
            }
            while i < last && k > child_base + branch.counts[i] {
                child_base += branch.counts[i];
                i += 1;
            }
            if let Some(&ahead) = run.ranks.get(AHEAD) {
                let (mut j, mut at) = (i, child_base);
                while j < last && ahead > at + branch.counts[j] {
                    at += branch.counts[j];
                    j += 1;
                }
                branch.children[j].prefetch();
            }
            let child_bounded = i < last || bounded;
            let (added, full) =
                Self::insert_ranked(&mut branch.children[i], run, child_base, child_bounded);
            branch.counts[i] += added;
            total += added;
            inserted += added;
            if full {
                if !Self::make_room(branch, i) {
                    return (inserted, true);
                }
                // Making room moved items between children, or added one: start again from
                // the left.
                (i, child_base, last) = (0, base, branch.children.len() - 1);
            }
        }
        (inserted, false)
    }

    fn remove(&mut self, probe: &T) -> Option<T> {
        let removed = Self::remove_from(&mut self.root, probe)?;
        self.len -= 1;
        self.shrink_root();
        Some(removed)
    }

    fn replace(&mut self, item: T) -> bool {
        Self::replace_in(&mut self.root, item)
    }

    fn replace_in(node: &mut Node<T, O>, item: T) -> bool {
        match node {
            Node::Leaf(leaf) => match leaf.items.binary_search_by(|x| O::cmp(x, &item)) {
                Ok(at) => {
                    leaf.set(at, item);
                    true
                }
                Err(_) => false,
            },
            Node::Branch(branch) => {
                let i = branch.route(&item);
                // A separator equal to the item is a clone of the item being replaced (the
                // smallest under child i): it takes the new one, so no copy of the old stays.
                if i > 0 && O::cmp(&branch.keys[i - 1], &item) == Ordering::Equal {
                    branch.keys[i - 1] = item.clone();
                }
                Self::replace_in(&mut branch.children[i], item)
            }
        }
    }

    fn remove_from(node: &mut Node<T, O>, probe: &T) -> Option<T> {
        match node {
            Node::Leaf(leaf) => {
                leaf.prefetch();
                let at = leaf.items.binary_search_by(|x| O::cmp(x, probe)).ok()?;
                Some(leaf.remove(at))
            }
            Node::Branch(branch) => Self::remove_branch(branch, probe),
        }
    }

    fn remove_branch(branch: &mut Branch<T, O>, probe: &T) -> Option<T> {
        let i = branch.route(probe);
        let removed = Self::remove_from(&mut branch.children[i], probe)?;
        branch.counts[i] -= 1;
        // The removed item was child i's smallest, and our separator is a clone of it: replace
        // the clone so that no copy of a removed item stays in the tree.
        if i > 0 && O::cmp(&branch.keys[i - 1], probe) == Ordering::Equal {
            branch.keys[i - 1] = branch.children[i].first().clone();
        }
        if branch.children[i].len() < Self::cap(&branch.children[i]) / 2 {
            Self::rebalance(branch, i);
        }
        Some(removed)
    }

    /// Refills the underfull child `i`: borrows half the surplus of a sibling above the
    /// minimum, or else merges with a sibling (which then fits in one node).
    fn rebalance(branch: &mut Branch<T, O>, i: usize) {
        let min = Self::cap(&branch.children[i]) / 2;
        let len = |j: usize| branch.children[j].len();
        let have = len(i);
        let left = if i > 0 { len(i - 1) } else { 0 };
        let right = if i + 1 < branch.children.len() {
            len(i + 1)
        } else {
            0
        };
        if left > min {
            branch.shift_right(i - 1, (left - have) / 2);
        } else if right > min {
            branch.shift_left(i, (right - have) / 2);
        } else if i > 0 {
            branch.merge(i - 1);
        } else if right > 0 {
            branch.merge(i);
        }
    }

    /// A root branch left with one child is replaced by that child.
    fn shrink_root(&mut self) {
        while let Node::Branch(branch) = &mut self.root {
            if branch.children.len() > 1 {
                return;
            }
            let child = branch.children.pop().expect("a branch has children");
            self.root = child;
        }
    }

    fn count_while<F: Fn(&T) -> bool>(&self, below: F) -> usize {
        let mut node = &self.root;
        let mut count = 0;
        loop {
            match node {
                Node::Leaf(leaf) => return count + leaf.items.partition_point(&below),
                Node::Branch(branch) => {
                    // Children left of the first separator failing `below` are wholly below.
                    let i = branch.keys.partition_point(&below);
                    count += branch.counts[..i].iter().sum::<usize>();
                    node = &branch.children[i];
                }
            }
        }
    }

    fn find<F: Fn(&T) -> Ordering>(&self, probe: F) -> Option<&T> {
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(leaf) => {
                    let items = &leaf.items;
                    prefetch(items);
                    return items.binary_search_by(&probe).ok().map(|at| &items[at]);
                }
                Node::Branch(branch) => {
                    let i = branch
                        .keys
                        .partition_point(|key| probe(key) != Ordering::Greater);
                    node = &branch.children[i];
                }
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        fn walk<T, O: Order<T>>(node: &Node<T, O>) -> usize {
            match node {
                Node::Leaf(leaf) => leaf.heap_bytes(),
                Node::Branch(b) => {
                    mem::size_of::<Branch<T, O>>()
                        + b.keys.capacity() * mem::size_of::<T>()
                        + b.counts.capacity() * mem::size_of::<usize>()
                        + b.children.capacity() * mem::size_of::<Node<T, O>>()
                        + b.children.iter().map(walk).sum::<usize>()
                }
            }
        }
        walk(&self.root)
    }

    fn get(&self, mut k: usize) -> Option<&T> {
        if k >= self.len {
            return None;
        }
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(leaf) => return leaf.items.get(k),
                Node::Branch(branch) => {
                    let (i, rest) = branch.locate(k);
                    node = &branch.children[i];
                    k = rest;
                }
            }
        }
    }

    fn iter_from(&self, mut k: usize) -> Iter<'_, T, O> {
        let mut iter = Iter {
            path: Vec::new(),
            leaf: [].iter(),
            current: None,
            remaining: self.len.saturating_sub(k),
        };
        if iter.remaining == 0 {
            return iter;
        }
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(leaf) => {
                    iter.leaf = leaf.items[k..].iter();
                    iter.current = Some(leaf);
                    return iter;
                }
                Node::Branch(branch) => {
                    let (i, rest) = branch.locate(k);
                    iter.path.push((&branch.children, i));
                    node = &branch.children[i];
                    k = rest;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fmt::Debug;
    use std::hint::black_box;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::time::Instant;

    type Pair = (u32, u32);

    /// Orders pairs by key, then id: every distinct pair is a distinct item.
    struct ByKeyThenId;
    impl Order<Pair> for ByKeyThenId {
        /// The id: what the tests' walks read beside the items.
        type Cell = u32;
        fn cmp(a: &Pair, b: &Pair) -> Ordering {
            a.cmp(b)
        }
        fn cell(item: &Pair) -> u32 {
            item.1
        }
    }

    /// Orders pairs by key only: pairs sharing a key are duplicates, and the stored one wins.
    struct ByKey;
    impl Order<Pair> for ByKey {
        /// The id, which a replace changes in place.
        type Cell = u32;
        fn cmp(a: &Pair, b: &Pair) -> Ordering {
            a.0.cmp(&b.0)
        }
        fn cell(item: &Pair) -> u32 {
            item.1
        }
    }

    struct Natural;
    impl Order<u64> for Natural {
        type Cell = ();
        fn cmp(a: &u64, b: &u64) -> Ordering {
            a.cmp(b)
        }
        fn cell(_: &u64) {}
    }

    /// Compares through the pointer, like the catalog's `Arc<Product>` orders.
    struct Pointee;
    impl<P: std::ops::Deref<Target = u64>> Order<P> for Pointee {
        type Cell = ();
        fn cmp(a: &P, b: &P) -> Ordering {
            (**a).cmp(&**b)
        }
        fn cell(_: &P) {}
    }

    /// Smallest legal capacities: deep trees, and every split/spill/borrow/merge path, from a
    /// few dozen items.
    type Tiny<O> = Core<Pair, O, 4, 4>;
    /// Odd capacities, so halves differ in size.
    type Odd<O> = Core<Pair, O, 5, 7>;

    impl<T: Clone + Debug, O: Order<T>, const LEAF: usize, const BRANCH: usize>
        Core<T, O, LEAF, BRANCH>
    {
        /// Asserts every structural invariant and returns the items in order.
        fn check(&self) -> Vec<T> {
            let mut items = Vec::new();
            let mut leaf_depth = None;
            let count = self.check_node(&self.root, true, 0, &mut leaf_depth, &mut items);
            assert_eq!(count, self.len, "len");
            for pair in items.windows(2) {
                assert_eq!(O::cmp(&pair[0], &pair[1]), Ordering::Less, "{pair:?}");
            }
            items
        }

        /// Checks the subtree, appends its items to `out`, returns how many there are.
        fn check_node(
            &self,
            node: &Node<T, O>,
            is_root: bool,
            depth: usize,
            leaf_depth: &mut Option<usize>,
            out: &mut Vec<T>,
        ) -> usize {
            match node {
                Node::Leaf(leaf) => {
                    let items = &leaf.items;
                    assert_eq!(*leaf_depth.get_or_insert(depth), depth, "leaf depths");
                    assert!(items.len() <= LEAF, "leaf overfull");
                    assert!(is_root || items.len() >= LEAF / 2, "leaf underfull");
                    let unallocated_root = is_root && items.capacity() == 0;
                    assert!(
                        items.capacity() == LEAF || unallocated_root,
                        "leaf capacity"
                    );
                    for (at, item) in items.iter().enumerate() {
                        assert_eq!(O::Cell::get(&leaf.cells, at), O::cell(item), "cell {at}");
                    }
                    out.extend_from_slice(items);
                    items.len()
                }
                Node::Branch(branch) => self.check_branch(branch, is_root, depth, leaf_depth, out),
            }
        }

        fn check_branch(
            &self,
            branch: &Branch<T, O>,
            is_root: bool,
            depth: usize,
            leaf_depth: &mut Option<usize>,
            out: &mut Vec<T>,
        ) -> usize {
            let n = branch.children.len();
            assert_eq!(branch.counts.len(), n, "counts per child");
            assert_eq!(branch.keys.len() + 1, n, "keys per child");
            assert!(n <= BRANCH, "branch overfull");
            assert!(
                n >= if is_root { 2 } else { BRANCH / 2 },
                "branch underfull"
            );
            assert_eq!(branch.children.capacity(), BRANCH, "children capacity");
            assert_eq!(branch.counts.capacity(), BRANCH, "counts capacity");
            assert_eq!(branch.keys.capacity(), BRANCH - 1, "keys capacity");
            let mut total = 0;
            for (i, child) in branch.children.iter().enumerate() {
                let start = out.len();
                let count = self.check_node(child, false, depth + 1, leaf_depth, out);
                assert_eq!(count, branch.counts[i], "count of child {i}");
                if i > 0 {
                    let key = &branch.keys[i - 1];
                    assert_eq!(O::cmp(key, &out[start]), Ordering::Equal, "separator {i}");
                }
                total += count;
            }
            total
        }

        /// Levels of nodes, leaves included.
        fn depth(&self) -> usize {
            let mut node = &self.root;
            let mut depth = 1;
            while let Node::Branch(branch) = node {
                node = &branch.children[0];
                depth += 1;
            }
            depth
        }

        /// Number of leaves, and items per leaf slot over all leaves.
        fn leaf_fill(&self) -> (usize, f64) {
            fn leaves<T, O: Order<T>>(node: &Node<T, O>) -> usize {
                match node {
                    Node::Leaf(_) => 1,
                    Node::Branch(b) => b.children.iter().map(leaves).sum(),
                }
            }
            let n = leaves(&self.root);
            (n, self.len as f64 / (n * LEAF) as f64)
        }
    }

    /// xorshift64*: deterministic randomness without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn shuffle<T>(&mut self, v: &mut [T]) {
            for i in (1..v.len()).rev() {
                v.swap(i, self.below(i + 1));
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Pair),
        /// Items to insert with `insert_sorted` (sorted and deduplicated under the order first).
        InsertRun(Vec<Pair>),
        Remove(Pair),
        Get(usize),
        CountBelow(u32),
        IterFrom(usize, usize),
    }

    fn op(keys: u32, ids: u32, positions: usize) -> impl Strategy<Value = Op> {
        let pair = move || (0..keys, 0..ids);
        prop_oneof![
            5 => pair().prop_map(Op::Insert),
            1 => prop::collection::vec(pair(), 0..80).prop_map(Op::InsertRun),
            3 => pair().prop_map(Op::Remove),
            1 => (0..positions).prop_map(Op::Get),
            1 => (0..keys + 1).prop_map(Op::CountBelow),
            1 => (0..positions, 0..positions).prop_map(|(k, n)| Op::IterFrom(k, n)),
        ]
    }

    /// The model: a plain sorted Vec, searched with the same order.
    fn model_insert<O: Order<Pair>>(model: &mut Vec<Pair>, item: Pair) -> bool {
        match model.binary_search_by(|x| O::cmp(x, &item)) {
            Ok(_) => false,
            Err(at) => {
                model.insert(at, item);
                true
            }
        }
    }

    fn model_remove<O: Order<Pair>>(model: &mut Vec<Pair>, probe: &Pair) -> Option<Pair> {
        let at = model.binary_search_by(|x| O::cmp(x, probe)).ok()?;
        Some(model.remove(at))
    }

    /// Applies `ops` to a tree and to the model, comparing every answer and, after every
    /// operation, the invariants and the full contents.
    fn run_ops<O: Order<Pair>, const LEAF: usize, const BRANCH: usize>(
        ops: &[Op],
    ) -> Result<(), TestCaseError> {
        let mut tree = Core::<Pair, O, LEAF, BRANCH>::new();
        let mut model = Vec::new();
        for op in ops {
            match *op {
                Op::Insert(item) => {
                    let expected = model_insert::<O>(&mut model, item);
                    prop_assert_eq!(tree.insert(item), expected, "{:?}", op);
                }
                Op::InsertRun(ref items) => {
                    let mut items = items.clone();
                    items.sort_by(O::cmp);
                    items.dedup_by(|a, b| O::cmp(a, b).is_eq());
                    let mut expected = Vec::new();
                    for &item in &items {
                        if !model_insert::<O>(&mut model, item) {
                            expected.push(item);
                        }
                    }
                    let mut present = Vec::new();
                    let mut ranks = Vec::new();
                    // Another tree with the same items and another shape takes the same items
                    // at the recorded positions.
                    let before = tree.check();
                    let mut other = Core::<Pair, O, LEAF, BRANCH>::from_sorted(before).unwrap();
                    let inserted = tree.insert_sorted(items.clone(), &mut present, &mut ranks);
                    prop_assert_eq!(inserted, items.len() - expected.len(), "{:?}", op);
                    prop_assert_eq!(&present, &expected, "{:?}", op);
                    let new: Vec<Pair> = items
                        .iter()
                        .filter(|x| !present.contains(x))
                        .copied()
                        .collect();
                    other.insert_at_ranks(new, &ranks);
                    prop_assert_eq!(other.check(), model.clone(), "at ranks {:?}", op);
                }
                Op::Remove(probe) => {
                    let expected = model_remove::<O>(&mut model, &probe);
                    prop_assert_eq!(tree.remove(&probe), expected, "{:?}", op);
                }
                Op::Get(k) => {
                    prop_assert_eq!(tree.get(k), model.get(k), "{:?}", op);
                    if let Some(item) = model.get(k) {
                        prop_assert_eq!(tree.find(|x| O::cmp(x, item)), Some(item));
                    }
                    let absent = (k as u32 * 7 + 1000, 0);
                    let expected = model.iter().find(|x| O::cmp(x, &absent).is_eq());
                    prop_assert_eq!(tree.find(|x| O::cmp(x, &absent)), expected);
                }
                Op::CountBelow(key) => {
                    let expected = model.iter().take_while(|x| x.0 < key).count();
                    prop_assert_eq!(tree.count_while(|x| x.0 < key), expected, "{:?}", op);
                }
                Op::IterFrom(k, n) => {
                    let iter = tree.iter_from(k);
                    prop_assert_eq!(iter.len(), model.len().saturating_sub(k));
                    let got: Vec<_> = iter.take(n).collect();
                    let expected: Vec<_> = model.iter().skip(k).take(n).collect();
                    prop_assert_eq!(got, expected, "{:?}", op);
                }
            }
            prop_assert_eq!(tree.check(), model.clone(), "after {:?}", op);
        }
        Ok(())
    }

    /// Every separator of the subtree, in no particular order.
    fn separators<T: Clone, O: Order<T>>(node: &Node<T, O>, out: &mut Vec<T>) {
        if let Node::Branch(branch) = node {
            out.extend_from_slice(&branch.keys);
            for child in &branch.children {
                separators(child, out);
            }
        }
    }

    #[test]
    fn replace_puts_an_item_in_the_place_of_its_equal_and_leaves_no_copy_of_the_old() {
        let mut tree = OrderIndex::<Pair, ByKey, 4>::new();
        for key in 0..300 {
            assert!(tree.insert((key, 0)));
        }
        let mut keys: Vec<u32> = (0..300).collect();
        Rng(7).shuffle(&mut keys);
        for &key in &keys {
            assert!(tree.replace((key, 1)));
        }
        assert!(!tree.replace((300, 1)), "an absent item is not added");
        let expected: Vec<Pair> = (0..300).map(|key| (key, 1)).collect();
        assert_eq!(tree.core.check(), expected);
        let mut keys_left = Vec::new();
        separators(&tree.core.root, &mut keys_left);
        assert!(!keys_left.is_empty() && keys_left.iter().all(|&(_, payload)| payload == 1));
    }

    /// Inserts `items`, then removes them in the order given by `seed`, checking after each.
    fn fill_and_drain<const LEAF: usize, const BRANCH: usize>(items: &[Pair], seed: u64) {
        let mut tree = Core::<Pair, ByKeyThenId, LEAF, BRANCH>::new();
        let mut model = Vec::new();
        for &item in items {
            let expected = model_insert::<ByKeyThenId>(&mut model, item);
            assert_eq!(tree.insert(item), expected);
            assert_eq!(tree.check(), model);
        }
        let mut order = model.clone();
        Rng(seed | 1).shuffle(&mut order);
        for item in &order {
            assert_eq!(tree.remove(item), Some(*item));
            model_remove::<ByKeyThenId>(&mut model, item);
            assert_eq!(tree.check(), model);
        }
        assert!(tree.get(0).is_none());
        assert_eq!(tree.depth(), 1, "the root collapses back to a leaf");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn tiny_nodes_match_model(ops in prop::collection::vec(op(60, 3, 200), 0..600)) {
            run_ops::<ByKeyThenId, 4, 4>(&ops)?;
        }

        #[test]
        fn odd_nodes_match_model(ops in prop::collection::vec(op(60, 3, 200), 0..600)) {
            run_ops::<ByKeyThenId, 5, 7>(&ops)?;
        }

        #[test]
        fn partial_order_rejects_duplicates(ops in prop::collection::vec(op(80, 4, 100), 0..600)) {
            run_ops::<ByKey, 4, 4>(&ops)?;
        }

        #[test]
        fn fill_then_drain_in_any_order(
            items in prop::collection::vec((0..1000u32, 0..3u32), 0..300),
            seed in any::<u64>(),
        ) {
            fill_and_drain::<4, 4>(&items, seed);
            fill_and_drain::<5, 7>(&items, seed);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn full_size_nodes_match_model(ops in prop::collection::vec(op(3000, 2, 4000), 0..5000)) {
            run_ops::<ByKeyThenId, LEAF_CAP, BRANCH_CAP>(&ops)?;
        }
    }

    fn built_from_sorted<const LEAF: usize, const BRANCH: usize>(len: u32) {
        let items: Vec<Pair> = (0..len).map(|i| (i * 2, 0)).collect();
        let mut tree =
            Core::<Pair, ByKeyThenId, LEAF, BRANCH>::from_sorted(items.clone()).expect("sorted");
        assert_eq!(tree.check(), items, "{len} items");
        for (k, item) in items.iter().enumerate() {
            assert_eq!(tree.get(k), Some(item));
        }
        // The built tree takes inserts and removals like a grown one.
        for i in 0..len.min(50) {
            assert!(tree.insert((i * 2 + 1, 0)));
            assert_eq!(tree.remove(&(i * 2, 0)), Some((i * 2, 0)));
            tree.check();
        }
    }

    /// Runs join up to the items [from, from + count) that `iter_from` yields, from any start,
    /// each with its items' cells.
    #[test]
    fn runs_are_the_items_of_a_range_leaf_by_leaf() {
        let items: Vec<Pair> = (0..500).map(|i| (i, 1000 - i)).collect();
        let tree = OrderIndex::<Pair, ByKeyThenId, 4>::from_sorted(items.clone()).expect("sorted");
        for (from, count) in [
            (0, 0),
            (0, 500),
            (3, 1),
            (3, 9),
            (250, 1000),
            (499, 5),
            (600, 3),
        ] {
            let (runs, cells): (Vec<&[Pair]>, Vec<&[u32]>) = tree
                .runs(from, count, 0)
                .map(|(run, block, at)| (run, &block[at..at + run.len()]))
                .unzip();
            assert!(runs.iter().all(|run| !run.is_empty() && run.len() <= 4));
            let joined: Vec<Pair> = runs.concat();
            let ids: Vec<u32> = joined.iter().map(ByKeyThenId::cell).collect();
            assert_eq!(cells.concat(), ids, "cells from {from}, count {count}");
            let expected: Vec<Pair> = tree.iter_from(from).take(count).copied().collect();
            assert_eq!(joined, expected, "from {from}, count {count}");
        }
    }

    #[test]
    fn from_sorted_builds_a_valid_tree_of_any_size() {
        for len in (0..300).chain([1000, 4097]) {
            built_from_sorted::<4, 4>(len);
            built_from_sorted::<5, 7>(len);
        }
        for len in [0, 1, 64, 65, 4096, 4097, 300_000] {
            built_from_sorted::<LEAF_CAP, BRANCH_CAP>(len);
        }
    }

    #[test]
    fn from_sorted_refuses_unsorted_or_repeated_items() {
        assert!(OrderIndex::<Pair, ByKeyThenId>::from_sorted(vec![(2, 0), (1, 0)]).is_none());
        assert!(OrderIndex::<Pair, ByKeyThenId>::from_sorted(vec![(1, 0), (1, 0)]).is_none());
        assert!(OrderIndex::<Pair, ByKey>::from_sorted(vec![(1, 0), (1, 1)]).is_none());
    }

    #[test]
    fn empty_index() {
        let index = OrderIndex::<Pair, ByKeyThenId>::new();
        assert_eq!(index.len(), 0);
        assert!(index.is_empty());
        assert_eq!(index.get(0), None);
        assert_eq!(index.iter().next(), None);
        assert_eq!(index.iter_from(0).len(), 0);
        assert_eq!(index.iter_from(3).next(), None);
        assert_eq!(index.count_while(|_| true), 0);
        assert_eq!(index.clone().remove(&(1, 1)), None);
        assert_eq!(format!("{index:?}"), "[]");
        index.core.check();
    }

    #[test]
    fn single_item() {
        let mut index = OrderIndex::<Pair, ByKeyThenId>::default();
        assert!(index.insert((7, 1)));
        assert!(!index.insert((7, 1)));
        assert_eq!(index.len(), 1);
        assert_eq!(index.get(0), Some(&(7, 1)));
        assert_eq!(index.get(1), None);
        assert_eq!(index.iter().collect::<Vec<_>>(), [&(7, 1)]);
        assert_eq!(index.iter_from(1).next(), None);
        assert_eq!(index.count_while(|x| x.0 < 7), 0);
        assert_eq!(index.count_while(|x| x.0 <= 7), 1);
        assert_eq!(index.remove(&(7, 2)), None);
        assert_eq!(index.remove(&(7, 1)), Some((7, 1)));
        assert!(index.is_empty());
        assert_eq!(index.get(0), None);
        index.core.check();
    }

    #[test]
    fn duplicate_under_order_keeps_the_stored_item() {
        let mut index = OrderIndex::<Pair, ByKey>::new();
        assert!(index.insert((5, 1)));
        assert!(!index.insert((5, 2)));
        assert_eq!(index.get(0), Some(&(5, 1)));
        assert_eq!(
            index.remove(&(5, 9)),
            Some((5, 1)),
            "probe matches by key only"
        );
        assert!(index.is_empty());
    }

    /// Default capacities, enough items for four levels; every position and rank is checked,
    /// then everything is removed again.
    #[test]
    fn grows_to_several_levels_and_back() {
        let mut rng = Rng(42);
        let mut index = OrderIndex::<u64, Natural>::new();
        let mut keys: Vec<u64> = (0..300_000).map(|i| i * 2).collect();
        rng.shuffle(&mut keys);
        for (i, &key) in keys.iter().enumerate() {
            assert!(index.insert(key));
            if i % 10_000 == 0 {
                index.core.check();
            }
        }
        assert!(index.core.depth() >= 4, "depth {}", index.core.depth());
        assert_eq!(index.core.check().len(), keys.len());
        for k in (0..keys.len()).step_by(7) {
            assert_eq!(index.get(k), Some(&(k as u64 * 2)));
            assert_eq!(index.count_while(|&x| x < k as u64 * 2), k);
            assert_eq!(index.count_while(|&x| x <= k as u64 * 2), k + 1);
        }
        assert_eq!(index.get(keys.len()), None);
        assert_eq!(index.iter_from(keys.len()).next(), None);
        let tail: Vec<u64> = index.iter_from(keys.len() - 3).copied().collect();
        assert_eq!(tail, [599_994, 599_996, 599_998]);
        assert!(index.iter().copied().eq((0..300_000).map(|i| i * 2)));
        rng.shuffle(&mut keys);
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(index.remove(key), Some(*key));
            assert_eq!(index.remove(key), None);
            if i % 10_000 == 0 {
                index.core.check();
            }
        }
        assert!(index.is_empty());
        assert_eq!(index.core.depth(), 1);
        index.core.check();
    }

    /// Spilling into siblings keeps leaves well filled for sorted loads (a half split would give
    /// 50%) and above the ~69% of half splits for random ones.
    #[test]
    fn leaves_stay_well_filled() {
        let n = 100_000u64;
        let sorted: Vec<u64> = (0..n).collect();
        let reversed: Vec<u64> = (0..n).rev().collect();
        let mut random = sorted.clone();
        Rng(7).shuffle(&mut random);
        for (name, keys, min_fill) in [
            ("ascending", sorted, 0.85),
            ("descending", reversed, 0.85),
            ("random", random, 0.78),
        ] {
            let mut index = OrderIndex::<u64, Natural>::new();
            keys.into_iter().for_each(|k| assert!(index.insert(k)));
            let (leaves, fill) = index.core.leaf_fill();
            assert!(
                fill >= min_fill,
                "{name}: fill {fill:.3} over {leaves} leaves"
            );
            index.core.check();
        }
    }

    /// Sorted runs (random keys, a batch at a time, as the catalog inserts them) fill leaves as
    /// well as random inserts one by one do.
    #[test]
    fn sorted_runs_keep_leaves_filled() {
        let mut keys: Vec<u64> = (0..200_000).collect();
        Rng(5).shuffle(&mut keys);
        let mut index = OrderIndex::<u64, Natural>::new();
        let mut present = Vec::new();
        for batch in keys.chunks(10_000) {
            let mut batch = batch.to_vec();
            batch.sort_unstable();
            assert_eq!(
                index.insert_sorted(batch, &mut present, &mut Vec::new()),
                10_000
            );
        }
        assert!(present.is_empty());
        let (leaves, fill) = index.core.leaf_fill();
        assert!(fill >= 0.78, "fill {fill:.3} over {leaves} leaves");
        assert_eq!(index.core.check(), (0..200_000).collect::<Vec<u64>>());
    }

    /// A removed item must not survive as a separator clone: with `Rc` items its count drops
    /// back to the caller's handle alone.
    #[test]
    fn removed_items_leave_no_clones_behind() {
        let handles: Vec<Rc<u64>> = (0..500).map(Rc::new).collect();
        let mut order: Vec<usize> = (0..handles.len()).collect();
        let mut rng = Rng(3);
        rng.shuffle(&mut order);
        let mut tree = Core::<Rc<u64>, Pointee, 4, 4>::new();
        order
            .iter()
            .for_each(|&i| assert!(tree.insert(Rc::clone(&handles[i]))));
        rng.shuffle(&mut order);
        for &i in &order {
            let removed = tree.remove(&handles[i]).expect("present");
            drop(removed);
            assert_eq!(
                Rc::strong_count(&handles[i]),
                1,
                "item {i} still referenced"
            );
            tree.check();
        }
        assert!(tree.get(0).is_none());
    }

    #[test]
    fn clones_are_independent_and_keep_capacity() {
        let mut a = Tiny::<ByKeyThenId>::new();
        (0..200).for_each(|i| assert!(a.insert((i, 0))));
        let mut b = a.clone();
        b.check();
        (0..100).for_each(|i| assert_eq!(b.remove(&(i * 2, 0)), Some((i * 2, 0))));
        (200..260).for_each(|i| assert!(b.insert((i, 1))));
        assert_eq!(a.check(), (0..200).map(|i| (i, 0)).collect::<Vec<_>>());
        assert_eq!(b.check().len(), 160);
        let c = OrderIndex::<Pair, ByKeyThenId>::new().clone();
        c.core.check();
    }

    #[test]
    fn iterator_is_exact_and_fused() {
        let mut tree = Odd::<ByKeyThenId>::new();
        (0..100).for_each(|i| assert!(tree.insert((i, i))));
        for k in 0..=101 {
            let mut iter = tree.iter_from(k);
            let expected = 100usize.saturating_sub(k);
            assert_eq!(iter.size_hint(), (expected, Some(expected)));
            let copy = iter.clone();
            assert_eq!(iter.by_ref().count(), expected);
            assert_eq!(iter.next(), None);
            assert_eq!(iter.next(), None);
            assert_eq!(
                copy.map(|x| x.0 as usize).collect::<Vec<_>>(),
                (k..100).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn rank_of_every_item() {
        let mut tree = Tiny::<ByKeyThenId>::new();
        let mut rng = Rng(11);
        let mut model = Vec::new();
        for _ in 0..400 {
            let item = ((rng.next() % 1000) as u32, 0);
            if tree.insert(item) {
                model.push(item);
            }
        }
        model.sort();
        for (rank, item) in model.iter().enumerate() {
            assert_eq!(tree.count_while(|x| x < item), rank);
            assert_eq!(tree.get(rank), Some(item));
        }
        assert_eq!(tree.count_while(|_| true), model.len());
    }

    /// `cargo test --release -- --ignored --nocapture bench` prints per-operation timings at 10^6.
    #[test]
    #[ignore = "benchmark; run in release mode"]
    fn bench_million() {
        bench::<u64, Natural>("u64", |k| k, |x| *x);
        bench::<Arc<u64>, Pointee>("Arc<u64>", Arc::new, |x| **x);
    }

    fn bench<T: Clone + Debug, O: Order<T>>(
        name: &str,
        make: impl Fn(u64) -> T,
        key: impl Fn(&T) -> u64 + Copy,
    ) {
        const N: usize = 1_000_000;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut items: Vec<T> = (0..N).map(|_| make(rng.next())).collect();
        let probes: Vec<u64> = (0..N).map(|_| rng.next()).collect();
        let positions: Vec<usize> = (0..N).map(|_| rng.below(N)).collect();
        let mut index = OrderIndex::<T, O>::new();

        let insert = time(N, || {
            items.iter().for_each(|x| assert!(index.insert(x.clone())))
        });
        let get = time(N, || {
            positions.iter().for_each(|&k| _ = black_box(index.get(k)))
        });
        let count = time(N, || {
            let counts = probes.iter().map(|&p| index.count_while(|x| key(x) < p));
            black_box(counts.sum::<usize>());
        });
        let iter = time(N, || _ = black_box(index.iter().map(key).sum::<u64>()));
        let bytes = index.core.heap_bytes() as f64 / N as f64;
        let (leaves, fill) = index.core.leaf_fill();
        rng.shuffle(&mut items);
        let remove = time(N, || {
            items
                .iter()
                .for_each(|x| assert!(index.remove(x).is_some()))
        });
        println!(
            "{name}: insert {insert:.0} ns, get {get:.0} ns, count_while {count:.0} ns, \
             iter {iter:.1} ns/item, remove {remove:.0} ns (down to empty); \
             {bytes:.2} heap bytes/item, {leaves} leaves at {:.1}% fill",
            fill * 100.0
        );
    }

    /// Nanoseconds per operation of `ops` operations run by `f`.
    fn time(ops: usize, f: impl FnOnce()) -> f64 {
        let start = Instant::now();
        f();
        start.elapsed().as_nanos() as f64 / ops as f64
    }
}
