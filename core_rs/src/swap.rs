//! The wait-free model swap (left-right with two copies).
//!
//! Readers load the published copy with one atomic operation and never wait. The single writer
//! applies a batch to the other copy, publishes it with an atomic swap, and replays the same batch
//! on the copy it just retired at the start of the next batch, by which time readers have let go
//! of it. A reader therefore sees either the state before a batch or after it, never a part.
//! The replay need not redo the batch: applying it to the first copy records what it did (see
//! `Apply::Replay`), which the second copy, in the same state before it, takes as it is.

use arc_swap::{ArcSwap, Guard};
use std::sync::{Arc, Mutex};

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

struct Standby<M: Apply> {
    copy: Arc<M>,
    /// What the published copy did and the standby copy has not yet.
    behind: Option<M::Replay>,
    /// After an install the standby copy is a placeholder: the next write makes it a clone of the
    /// published copy. A start from a snapshot is then ready before it pays for the second copy.
    twin_pending: bool,
}

pub struct LeftRight<M: Apply> {
    published: ArcSwap<M>,
    /// Held only by the writer; readers never touch it.
    standby: Mutex<Standby<M>>,
}

impl<M: Apply> Default for LeftRight<M> {
    fn default() -> Self {
        LeftRight {
            published: ArcSwap::from_pointee(M::default()),
            standby: Mutex::new(Standby {
                copy: Arc::new(M::default()),
                behind: None,
                twin_pending: false,
            }),
        }
    }
}

impl<M: Apply> LeftRight<M> {
    /// The current copy. Hold the guard only for the duration of one read.
    pub fn read(&self) -> Guard<Arc<M>> {
        self.published.load()
    }

    /// The current copy, to hold for longer than a read (while it is saved, say): the writer
    /// waits for it before mutating that copy again, at the batch after next.
    pub fn read_full(&self) -> Arc<M> {
        self.published.load_full()
    }

    /// Applies `ops` to the standby copy, publishes it, and retires the previous copy.
    /// Writers are serialised; each waits (never a reader) until no reader holds the copy it mutates.
    pub fn write(&self, ops: Vec<M::Op>) {
        let mut standby = self
            .standby
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let standby = &mut *standby;
        if standby.twin_pending {
            // Only this writer changes the published copy, so it is the state to clone.
            standby.copy = Arc::new(M::clone(&self.published.load()));
            standby.twin_pending = false;
        }
        let copy = exclusive(&mut standby.copy);
        if let Some(behind) = standby.behind.take() {
            copy.replay(behind);
        }
        let replay = copy.apply_recorded(ops);
        let fresh = Arc::clone(&standby.copy);
        standby.copy = self.published.swap(fresh);
        standby.behind = Some(replay);
    }
}

impl<M: Apply> LeftRight<M> {
    /// Replaces the state with `model` (a snapshot, say), dropping anything not yet replayed. The
    /// second copy is made at the next write.
    pub fn install(&self, model: M) {
        let mut standby = self
            .standby
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        standby.copy = Arc::new(M::default());
        standby.behind = None;
        standby.twin_pending = true;
        self.published.store(Arc::new(model));
    }
}

/// Waits until the last reader dropped its reference, then returns the copy for mutation.
fn exclusive<M>(copy: &mut Arc<M>) -> &mut M {
    let mut spins = 0u32;
    while Arc::get_mut(copy).is_none() {
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    Arc::get_mut(copy).expect("no reader holds the standby copy")
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
