//! The wait-free model swap (left-right with two copies).
//!
//! Readers load the published copy with one atomic operation and never wait. The single writer
//! applies a batch to the other copy, publishes it with an atomic swap, and replays the same batch
//! on the copy it just retired at the start of the next batch, by which time readers have let go
//! of it. A reader therefore sees either the state before a batch or after it, never a part.
//! The replay need not redo the batch: applying it to the first copy records what it did (see
//! `Apply::Replay`), which the second copy, in the same state before it, takes as it is.
//! A load that catches up from nothing applies its batches to one copy alone, unpublished
//! (`write_alone`), and the next `write` publishes them at once; the other copy is then cloned.

use crate::sync::{locked, spin_loop, yield_now, Mutex};
use arc_swap::{ArcSwap, Guard};
use std::ops::Deref;
use std::sync::Arc;

/// A state that changes only by applying operations, in order, deterministically.
pub trait Apply: Default + Clone {
    type Op: Clone;
    /// What applying a batch to one copy did, enough to bring the other copy from the same state
    /// before the batch to the same state after it without redoing the work (decoding, sorting,
    /// searching). A model without a shortcut keeps the ops themselves.
    type Replay: Send;

    fn apply(&mut self, op: &Self::Op);

    /// Applies `ops` like `apply_batch` and returns what `replay` needs to do the same.
    fn apply_recorded(&mut self, ops: Vec<Self::Op>) -> Self::Replay;

    /// Does to this copy what the `apply_recorded` that returned `replay` did to the other one,
    /// which was in the same state as this one before.
    fn replay(&mut self, replay: Self::Replay);

    /// Applies `ops` in order. A model may do it faster than one by one (sorting the changes so
    /// that index updates walk the trees in order, say) but must reach the same state.
    fn apply_batch(&mut self, ops: &[Self::Op]) {
        ops.iter().for_each(|op| self.apply(op));
    }
}

/// The `Apply` items of a model without a replay shortcut: the ops are the record, and the second
/// copy applies them again.
macro_rules! replay_by_reapplying {
    ($op:ty) => {
        type Replay = Vec<$op>;

        fn apply_recorded(&mut self, ops: Vec<$op>) -> Vec<$op> {
            self.apply_batch(&ops);
            ops
        }

        fn replay(&mut self, ops: Vec<$op>) {
            self.apply_batch(&ops);
        }
    };
}
pub(crate) use replay_by_reapplying;

/// Where the published copy lives, and the counted handle to a copy that readers hold and the
/// writer checks: `ArcSwap` over std's `Arc` in the shop, a loom model of it in `loom_tests`.
/// `LeftRight` is written once against this, so the model check runs the shop's own `write`.
pub trait Published<M>: Sized {
    /// A counted handle to one copy.
    type Copy: Deref<Target = M> + Clone;
    /// A handle for the duration of one read.
    type Guard: Deref<Target = Self::Copy>;

    fn wrap(model: M) -> Self::Copy;
    fn new(copy: Self::Copy) -> Self;
    fn load(&self) -> Self::Guard;
    fn load_full(&self) -> Self::Copy;
    /// Publishes `copy` and returns the copy it replaces, every reader's handle to which counts
    /// from then on (`get_mut` sees it).
    fn swap(&self, copy: Self::Copy) -> Self::Copy;
    fn store(&self, copy: Self::Copy);
    /// The copy to mutate, if no other handle to it is left.
    fn get_mut(copy: &mut Self::Copy) -> Option<&mut M>;
}

impl<M> Published<M> for ArcSwap<M> {
    type Copy = Arc<M>;
    type Guard = Guard<Arc<M>>;

    #[inline]
    fn wrap(model: M) -> Arc<M> {
        Arc::new(model)
    }
    #[inline]
    fn new(copy: Arc<M>) -> Self {
        ArcSwap::new(copy)
    }
    #[inline]
    fn load(&self) -> Guard<Arc<M>> {
        ArcSwap::load(self)
    }
    #[inline]
    fn load_full(&self) -> Arc<M> {
        ArcSwap::load_full(self)
    }
    #[inline]
    fn swap(&self, copy: Arc<M>) -> Arc<M> {
        ArcSwap::swap(self, copy)
    }
    #[inline]
    fn store(&self, copy: Arc<M>) {
        ArcSwap::store(self, copy)
    }
    #[inline]
    fn get_mut(copy: &mut Arc<M>) -> Option<&mut M> {
        Arc::get_mut(copy)
    }
}

struct Standby<M: Apply, P: Published<M>> {
    copy: P::Copy,
    /// What the published copy did and the standby copy has not yet.
    behind: Option<M::Replay>,
    /// After an install the standby copy is a placeholder: the next write makes it a clone of the
    /// published copy. A start from a snapshot is then ready before it pays for the second copy.
    twin_pending: bool,
    /// The standby copy holds batches not yet published (`write_alone`).
    ahead: bool,
}

impl<M: Apply, P: Published<M>> Standby<M, P> {
    /// The standby copy, once it has what the published copy has (cloned or replayed), for
    /// mutation.
    fn caught_up(&mut self, published: &P) -> &mut M {
        if self.twin_pending {
            // Only the writer changes the published copy, so it is the state to clone.
            self.copy = P::wrap(M::clone(&published.load()));
            self.twin_pending = false;
        }
        let copy = exclusive::<M, P>(&mut self.copy);
        if let Some(behind) = self.behind.take() {
            copy.replay(behind);
        }
        copy
    }
}

pub struct LeftRight<M: Apply, P: Published<M> = ArcSwap<M>> {
    published: P,
    /// Held only by the writer; readers never touch it.
    standby: Mutex<Standby<M, P>>,
}

impl<M: Apply, P: Published<M>> Default for LeftRight<M, P> {
    fn default() -> Self {
        LeftRight {
            published: P::new(P::wrap(M::default())),
            standby: Mutex::new(Standby {
                copy: P::wrap(M::default()),
                behind: None,
                twin_pending: false,
                ahead: false,
            }),
        }
    }
}

impl<M: Apply, P: Published<M>> LeftRight<M, P> {
    /// The current copy. Hold the guard only for the duration of one read.
    pub fn read(&self) -> P::Guard {
        self.published.load()
    }

    /// The current copy, to hold for longer than a read (while it is saved, say): the writer
    /// waits for it before mutating that copy again, at the batch after next.
    pub fn read_full(&self) -> P::Copy {
        self.published.load_full()
    }

    /// Applies `ops` to the standby copy, publishes it, and retires the previous copy.
    /// Writers are serialised; each waits (never a reader) until no reader holds the copy it mutates.
    /// After `write_alone`, publishes this batch with those before it at once; the copy left
    /// behind is dropped and cloned from the published one at the next write, as after `install`.
    pub fn write(&self, ops: Vec<M::Op>) {
        let mut standby = locked(&self.standby);
        let standby = &mut *standby;
        let ahead = standby.ahead;
        let copy = standby.caught_up(&self.published);
        if ahead {
            copy.apply_batch(&ops);
            let ahead = std::mem::replace(&mut standby.copy, P::wrap(M::default()));
            self.published.store(ahead);
            standby.ahead = false;
            standby.twin_pending = true;
            return;
        }
        let replay = copy.apply_recorded(ops);
        let fresh = P::Copy::clone(&standby.copy);
        standby.copy = self.published.swap(fresh);
        standby.behind = Some(replay);
    }

    /// Applies `ops` to the standby copy only, unpublished: readers keep the published state
    /// until the next `write`, which publishes them all. A load catching up on its topic from
    /// nothing applies each batch once instead of to both copies; the second copy is cloned once,
    /// after (`write`).
    pub fn write_alone(&self, ops: Vec<M::Op>) {
        let mut standby = locked(&self.standby);
        let standby = &mut *standby;
        standby.caught_up(&self.published).apply_batch(&ops);
        standby.ahead = true;
    }

    /// Replaces the state with `model` (a snapshot, say), dropping anything not yet replayed. The
    /// second copy is made at the next write.
    pub fn install(&self, model: M) {
        let mut standby = locked(&self.standby);
        standby.copy = P::wrap(M::default());
        standby.behind = None;
        standby.twin_pending = true;
        standby.ahead = false;
        self.published.store(P::wrap(model));
    }
}

/// Waits until the last reader dropped its handle, then returns the copy for mutation.
fn exclusive<M, P: Published<M>>(copy: &mut P::Copy) -> &mut M {
    let mut spins = 0u32;
    while P::get_mut(copy).is_none() {
        spins += 1;
        if spins < 64 {
            spin_loop();
        } else {
            yield_now();
        }
    }
    P::get_mut(copy).expect("no reader holds the standby copy")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Two counters that every op moves together, so a torn read shows as a difference.
    #[derive(Default, Clone)]
    struct Pair {
        a: u64,
        b: u64,
    }

    impl Apply for Pair {
        type Op = u64;
        replay_by_reapplying!(u64);
        fn apply(&mut self, op: &u64) {
            self.a += op;
            self.b += op;
        }
    }

    #[test]
    fn both_copies_converge_on_the_same_state() {
        let lr = LeftRight::<Pair>::default();
        lr.write(vec![1, 2]);
        lr.write(vec![3]);
        lr.write(vec![]);
        assert_eq!(lr.read().a, 6);
        lr.write(vec![4]);
        assert_eq!((lr.read().a, lr.read().b), (10, 10));
    }

    #[derive(Default, Clone)]
    struct Sum(u64);

    impl Apply for Sum {
        type Op = u64;
        replay_by_reapplying!(u64);
        fn apply(&mut self, op: &u64) {
            self.0 += op;
        }
    }

    #[test]
    fn installed_state_is_in_both_copies() {
        let lr = LeftRight::<Sum>::default();
        lr.write(vec![5]);
        lr.install(Sum(100));
        assert_eq!(lr.read().0, 100);
        lr.write(vec![1]);
        lr.write(vec![2]);
        assert_eq!(
            lr.read().0,
            103,
            "the batch before the install is not replayed"
        );
        lr.write(vec![]);
        assert_eq!(lr.read().0, 103);
    }

    #[test]
    fn batches_written_alone_are_published_by_the_next_write_and_the_copies_converge() {
        let lr = LeftRight::<Pair>::default();
        lr.write(vec![1]);
        lr.write_alone(vec![2]);
        lr.write_alone(vec![3]);
        assert_eq!(lr.read().a, 1, "not published yet");
        lr.write(vec![4]);
        assert_eq!(lr.read().a, 10);
        for (batch, sum) in [(vec![5], 15), (vec![], 15), (vec![6], 21), (vec![], 21)] {
            lr.write(batch);
            assert_eq!((lr.read().a, lr.read().b), (sum, sum));
        }
        lr.install(Pair { a: 100, b: 100 });
        lr.write_alone(vec![1]);
        assert_eq!(lr.read().a, 100);
        lr.write(vec![]);
        lr.write(vec![]);
        assert_eq!((lr.read().a, lr.read().b), (101, 101));
    }

    #[test]
    fn readers_never_see_a_half_applied_batch() {
        let lr = Arc::new(LeftRight::<Pair>::default());
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (lr, done) = (Arc::clone(&lr), Arc::clone(&done));
                std::thread::spawn(move || {
                    let mut last = 0;
                    while !done.load(Ordering::Relaxed) {
                        let copy = lr.read();
                        assert_eq!(copy.a, copy.b, "torn read");
                        assert!(copy.a >= last, "went back in time");
                        assert_eq!(copy.a % 10, 0, "half-applied batch");
                        last = copy.a;
                    }
                })
            })
            .collect();
        for _ in 0..20_000 {
            lr.write(vec![3, 7]);
        }
        done.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.join().unwrap();
        }
        assert_eq!(lr.read().a, 200_000);
    }
}

/// The swap's protocol model-checked (`make test-loom`): loom runs each model below under every
/// interleaving of its threads (and the older values a weak load may return), over the shop's own
/// `write`, `install`, `read`, `read_full` and `exclusive`, with loom's `Mutex`, `Arc` and cells.
///
/// What it checks: a reader sees the state before a batch or after it, never a part; the writer
/// never mutates a copy a reader still holds (the models' fields are loom cells, so a mutation not
/// ordered after every read of that copy, through the `Arc` count that `get_mut` checks, fails the
/// model); no batch is lost or applied twice across `write`, `install` and `read_full`, in either
/// copy.
///
/// What it cannot: `ArcSwap` is built on std atomics loom does not see, so `Slot` stands in for it
/// with its contract: `load`, `swap` and `store` each take one indivisible step, and once `swap`
/// returns every reader's handle to the old copy counts in that copy's `Arc` (arc-swap pays its
/// readers' debts before it returns). That arc-swap keeps this contract is tested by arc-swap, and
/// that `Arc`'s count is exact by std: loom's `Arc` never shows a stale count.
#[cfg(all(test, feature = "loom"))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::{Arc, Mutex};
    use loom::thread;

    /// `ArcSwap`'s contract on loom's primitives.
    struct Slot<M>(Mutex<Arc<M>>);

    impl<M> Published<M> for Slot<M> {
        type Copy = Arc<M>;
        type Guard = Box<Arc<M>>;

        fn wrap(model: M) -> Arc<M> {
            Arc::new(model)
        }
        fn new(copy: Arc<M>) -> Self {
            Slot(Mutex::new(copy))
        }
        fn load(&self) -> Box<Arc<M>> {
            Box::new(self.load_full())
        }
        fn load_full(&self) -> Arc<M> {
            Arc::clone(&self.0.lock().unwrap())
        }
        fn swap(&self, copy: Arc<M>) -> Arc<M> {
            std::mem::replace(&mut *self.0.lock().unwrap(), copy)
        }
        fn store(&self, copy: Arc<M>) {
            let old = self.swap(copy);
            drop(old);
        }
        fn get_mut(copy: &mut Arc<M>) -> Option<&mut M> {
            Arc::get_mut(copy)
        }
    }

    /// Two counters that every op moves together, in cells loom watches: a torn read shows as a
    /// difference, a read racing a write as a failed model.
    struct Pair {
        a: UnsafeCell<u64>,
        b: UnsafeCell<u64>,
    }

    // SAFETY: shared only through `LeftRight`, whose protocol is what loom checks here: every
    // access goes through the cells, and loom fails the model on any access racing a write.
    unsafe impl Sync for Pair {}

    impl Pair {
        fn new(value: u64) -> Self {
            Pair {
                a: UnsafeCell::new(value),
                b: UnsafeCell::new(value),
            }
        }

        fn get(&self) -> (u64, u64) {
            // SAFETY: a plain read; loom checks it is ordered after every write to the cell.
            let a = self.a.with(|a| unsafe { *a });
            let b = self.b.with(|b| unsafe { *b });
            (a, b)
        }

        /// The value, asserting the read is not torn.
        fn value(&self) -> u64 {
            let (a, b) = self.get();
            assert_eq!(a, b, "torn read");
            a
        }
    }

    impl Default for Pair {
        fn default() -> Self {
            Pair::new(0)
        }
    }

    impl Clone for Pair {
        fn clone(&self) -> Self {
            Pair::new(self.value())
        }
    }

    impl Apply for Pair {
        type Op = u64;
        replay_by_reapplying!(u64);
        fn apply(&mut self, op: &u64) {
            // SAFETY: loom checks that no read of this copy races the write.
            self.a.with_mut(|a| unsafe { *a += op });
            self.b.with_mut(|b| unsafe { *b += op });
        }
    }

    type Model = LeftRight<Pair, Slot<Pair>>;

    fn spawn(lr: &Arc<Model>, f: impl FnOnce(&Model) + 'static) -> thread::JoinHandle<()> {
        let lr = Arc::clone(lr);
        thread::spawn(move || f(&lr))
    }

    /// Writes nothing twice and reads after each: each write publishes the other copy, so the two
    /// reads see both copies, which must agree.
    fn assert_both_copies(lr: &Model, value: u64) {
        for _ in 0..2 {
            lr.write(vec![]);
            assert_eq!(lr.read().value(), value, "the copies disagree");
        }
    }

    #[test]
    fn a_reader_sees_whole_batches_and_no_copy_it_holds_is_mutated() {
        loom::model(|| {
            let lr = Arc::new(Model::default());
            let reader = spawn(&lr, |lr| {
                let mut last = 0;
                for _ in 0..2 {
                    let copy = lr.read();
                    let value = copy.value();
                    assert_eq!(value % 10, 0, "part of a batch");
                    assert!(value >= last, "went back in time");
                    last = value;
                }
            });
            for _ in 0..3 {
                lr.write(vec![3, 7]);
            }
            reader.join().unwrap();
            assert_eq!(lr.read().value(), 30);
            assert_both_copies(&lr, 30);
        });
    }

    #[test]
    fn two_readers_on_different_copies_each_see_whole_batches() {
        loom::model(|| {
            let lr = Arc::new(Model::default());
            let readers = [(); 2].map(|_| {
                spawn(&lr, |lr| {
                    let value = lr.read().value();
                    assert_eq!(value % 10, 0, "part of a batch");
                })
            });
            for _ in 0..3 {
                lr.write(vec![3, 7]);
            }
            for reader in readers {
                reader.join().unwrap();
            }
            assert_both_copies(&lr, 30);
        });
    }

    #[test]
    fn a_copy_held_by_read_full_is_not_mutated_until_let_go() {
        loom::model(|| {
            let lr = Arc::new(Model::default());
            let saver = spawn(&lr, |lr| {
                let held = lr.read_full();
                let before = held.value();
                thread::yield_now();
                assert_eq!(held.value(), before, "a held copy changed");
            });
            lr.write(vec![1]);
            lr.write(vec![2]);
            lr.write(vec![4]);
            saver.join().unwrap();
            assert_eq!(lr.read().value(), 7);
            assert_both_copies(&lr, 7);
        });
    }

    #[test]
    fn an_install_racing_a_write_and_a_read_loses_no_batch() {
        loom::model(|| {
            let lr = Arc::new(Model::default());
            let installer = spawn(&lr, |lr| lr.install(Pair::new(100)));
            let reader = spawn(&lr, |lr| {
                let value = lr.read().value();
                assert!([0, 1, 100, 101].contains(&value), "read {value}");
            });
            lr.write(vec![1]);
            installer.join().unwrap();
            reader.join().unwrap();
            // The install replaced the state either before the write (101) or after it (100).
            let installed = lr.read().value();
            assert!(installed == 100 || installed == 101, "read {installed}");
            lr.write(vec![2]);
            assert_eq!(lr.read().value(), installed + 2);
            assert_both_copies(&lr, installed + 2);
        });
    }
}
