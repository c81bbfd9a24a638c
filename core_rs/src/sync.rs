//! The synchronisation primitives of `swap` and `signal`: std's, or loom's with the `loom` feature
//! (`make test-loom`), so the model checker explores every interleaving of the same code. In a
//! normal build this module only re-exports std and adds nothing to any path.

#[cfg(feature = "loom")]
pub(crate) use loom::{
    hint::spin_loop,
    sync::{
        atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering},
        Condvar, Mutex, MutexGuard,
    },
    thread::yield_now,
};
#[cfg(not(feature = "loom"))]
pub(crate) use std::{
    hint::spin_loop,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Condvar, Mutex, MutexGuard,
    },
    thread::yield_now,
};

use std::time::Duration;

/// Locks `mutex`; a panic while it was held leaves plain data behind: go on with it.
pub(crate) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `Condvar::wait_timeout_while`, returning whether it timed out. Loom has no such method and does
/// not model time (its timed wait waits for a notification), so there this is the same loop over
/// `wait`: a missed notification shows as a deadlock.
pub(crate) fn wait_timeout_while<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
    condition: impl FnMut(&mut T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    #[cfg(not(feature = "loom"))]
    {
        let (guard, result) = condvar
            .wait_timeout_while(guard, timeout, condition)
            .unwrap_or_else(|e| e.into_inner());
        (guard, result.timed_out())
    }
    #[cfg(feature = "loom")]
    {
        let _ = timeout;
        let (mut guard, mut condition) = (guard, condition);
        while condition(&mut *guard) {
            guard = condvar.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        (guard, false)
    }
}

/// Nothing in a normal build. Loom treats a `SeqCst` load or store as merely acquire/release (see
/// its README, "Unsupported features") but models `fence(SeqCst)`: placed between a `SeqCst` store
/// and a later `SeqCst` load of another atomic, it gives the model the order those accesses have in
/// the real build (a store-buffering pair: one side sees the other's store), without false alarms.
#[inline(always)]
pub(crate) fn seq_cst_between_store_and_load() {
    #[cfg(feature = "loom")]
    loom::sync::atomic::fence(Ordering::SeqCst);
}
