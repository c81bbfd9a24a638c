//! The applied offset of one projection and everyone who waits for it: plain threads (a condition
//! variable), event loops (an eventfd each) and the shoppers' writes in flight, which Kafka
//! acknowledged and which are answered once the projection applied them (read-your-writes).

#[cfg(feature = "loom")]
use crate::sync::AtomicUsize;
use crate::sync::{
    locked, seq_cst_between_store_and_load, wait_timeout_while, AtomicI64, AtomicU64, Condvar,
    Mutex, Ordering,
};
use pyo3::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// The applied offset of one projection, and whoever waits for it: threads (on a condition
/// variable), event loops (each through an eventfd it reads, written once an offset at or past
/// the lowest one wanted is applied) and the shoppers' writes (`commands.rs`): acknowledged by
/// Kafka, held here until applied, then listed as done for their loop to answer.
#[pyclass(module = "shop._core", name = "OffsetSignal", frozen)]
#[derive(Default)]
pub struct OffsetSignal {
    pub(crate) state: Arc<SignalState>,
}

/// A write's outcome: its offset once acknowledged and applied, or why Kafka did not take it.
pub type WriteResult = Result<i64, String>;

pub struct SignalState {
    applied: AtomicI64,
    /// The lowest offset an event loop waits for; i64::MAX when none does.
    wanted: AtomicI64,
    wakers: Mutex<Vec<i32>>,
    lock: Mutex<()>,
    advanced: Condvar,
    /// Writes acknowledged and not yet applied, (offset, write id); and writes whose outcome
    /// their loop has not taken yet. One lock: a write is in at most one of the two.
    writes: Mutex<Writes>,
    next_write: AtomicU64,
    /// Under loom, `wake_all` counts here instead of writing eventfds.
    #[cfg(feature = "loom")]
    wakes: AtomicUsize,
}

#[derive(Default)]
struct Writes {
    held: Vec<(i64, u64)>,
    done: Vec<(u64, WriteResult)>,
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            applied: AtomicI64::new(-1),
            wanted: AtomicI64::new(i64::MAX),
            wakers: Mutex::new(Vec::new()),
            lock: Mutex::new(()),
            advanced: Condvar::new(),
            writes: Mutex::new(Writes::default()),
            next_write: AtomicU64::new(0),
            #[cfg(feature = "loom")]
            wakes: AtomicUsize::new(0),
        }
    }
}

impl SignalState {
    pub(crate) fn publish(&self, offset: i64) {
        {
            let _guard = locked(&self.lock);
            self.applied.store(offset, Ordering::SeqCst);
        }
        self.advanced.notify_all();
        let released = {
            let mut writes = locked(&self.writes);
            let before = writes.held.len();
            let mut due = Vec::new();
            writes.held.retain(|&(at, id)| {
                let keep = at > offset;
                if !keep {
                    due.push((id, Ok(at)));
                }
                keep
            });
            writes.done.extend(due);
            writes.held.len() != before
        };
        // SeqCst on both sides (this store then load; `want`'s store then the caller's load of
        // `applied`): either this sees the wanted offset, or the waiter sees the applied one.
        seq_cst_between_store_and_load();
        if released || self.wanted.load(Ordering::SeqCst) <= offset {
            self.wake_all();
        }
    }

    /// The last offset applied (-1 before any).
    pub(crate) fn applied(&self) -> i64 {
        self.applied.load(Ordering::SeqCst)
    }

    /// The lowest offset some event loop waits for from now on (i64::MAX: none). The caller
    /// reads `applied` afterwards and wakes the loops itself if it is there already.
    pub(crate) fn want(&self, offset: i64) {
        self.wanted.store(offset, Ordering::SeqCst);
        seq_cst_between_store_and_load();
    }

    /// True once `offset` is applied, false after `timeout`.
    pub(crate) fn wait(&self, offset: i64, timeout: Duration) -> bool {
        let guard = locked(&self.lock);
        let (_guard, timed_out) = wait_timeout_while(&self.advanced, guard, timeout, |_| {
            self.applied.load(Ordering::SeqCst) < offset
        });
        !timed_out || self.applied.load(Ordering::SeqCst) >= offset
    }

    /// A new id for a write about to be produced.
    pub(crate) fn new_write(&self) -> u64 {
        self.next_write.fetch_add(1, Ordering::Relaxed)
    }

    /// Kafka's answer to write `id`: held until its offset is applied, or done at once.
    pub(crate) fn acknowledged(&self, id: u64, outcome: WriteResult) {
        {
            let mut writes = locked(&self.writes);
            match outcome {
                Ok(offset) if self.applied.load(Ordering::SeqCst) < offset => {
                    writes.held.push((offset, id));
                    return;
                }
                outcome => writes.done.push((id, outcome)),
            }
        }
        self.wake_all();
    }

    #[cfg(feature = "loom")]
    fn wake_all(&self) {
        let _wakers = locked(&self.wakers);
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }

    #[cfg(not(feature = "loom"))]
    fn wake_all(&self) {
        let one: u64 = 1;
        for fd in locked(&self.wakers).iter() {
            // SAFETY: the fd is an eventfd this signal created and still owns (closed only by
            // `remove_waker` under the same lock); a full counter (EAGAIN) is awake already.
            unsafe { libc::write(*fd, (&one as *const u64).cast(), 8) };
        }
    }
}

#[pymethods]
impl OffsetSignal {
    #[new]
    fn new() -> Self {
        OffsetSignal::default()
    }

    /// The last offset applied (-1 before any).
    #[getter]
    fn applied(&self) -> i64 {
        self.state.applied()
    }

    /// Publishes `offset` as applied (a snapshot loaded, or a batch applied from Python).
    fn advance(&self, offset: i64) {
        self.state.publish(offset);
    }

    /// The lowest offset some event loop waits for from now on (i64::MAX: none). The caller
    /// reads `applied` afterwards and wakes the loops itself if it is there already.
    fn want(&self, offset: i64) {
        self.state.want(offset);
    }

    /// Writes every loop's eventfd now.
    fn wake(&self) {
        self.state.wake_all();
    }

    /// A new non-blocking eventfd, written whenever a wanted offset is applied or a write is
    /// done; the caller reads it (and must not close it: `remove_waker` does).
    fn add_waker(&self) -> PyResult<i32> {
        // SAFETY: plain syscall; the fd is owned by this signal from here on.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        locked(&self.state.wakers).push(fd);
        Ok(fd)
    }

    /// Closes a waker's eventfd (its loop is gone).
    fn remove_waker(&self, fd: i32) {
        let mut wakers = locked(&self.state.wakers);
        if let Some(at) = wakers.iter().position(|&w| w == fd) {
            wakers.swap_remove(at);
            // SAFETY: this signal created the fd and no longer lists it, so nothing writes it.
            unsafe { libc::close(fd) };
        }
    }

    /// From a plain thread: true once `offset` is applied, false after `timeout` seconds.
    fn wait(&self, py: Python<'_>, offset: i64, timeout: f64) -> bool {
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        py.detach(|| self.state.wait(offset, timeout))
    }

    /// The writes that are done, (id, offset) or (id, why Kafka did not take it), taken.
    fn take_done<'py>(&self, py: Python<'py>) -> PyResult<Vec<(u64, Bound<'py, PyAny>)>> {
        let done = std::mem::take(&mut locked(&self.state.writes).done);
        done.into_iter()
            .map(|(id, outcome)| {
                let answer = match outcome {
                    Ok(offset) => offset.into_pyobject(py)?.into_any(),
                    Err(why) => why.into_pyobject(py)?.into_any(),
                };
                Ok((id, answer))
            })
            .collect()
    }

    /// Writes acknowledged and waiting to be applied.
    #[getter]
    fn held(&self) -> usize {
        locked(&self.state.writes).held.len()
    }

    /// Write `id` is no longer waited for; returns its offset if Kafka acknowledged it.
    fn forget(&self, id: u64) -> Option<i64> {
        let mut writes = locked(&self.state.writes);
        let held = writes.held.iter().position(|&(_, w)| w == id);
        if let Some(at) = held {
            return Some(writes.held.swap_remove(at).0);
        }
        let done = writes.done.iter().position(|(w, _)| *w == id)?;
        writes.done.swap_remove(done).1.ok()
    }
}

impl Drop for SignalState {
    fn drop(&mut self) {
        for fd in self
            .wakers
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            // SAFETY: owned by this signal, which is going away.
            unsafe { libc::close(fd) };
        }
    }
}

/// The offset signal's wake-ups model-checked (`make test-loom`): loom runs each model under every
/// interleaving of its threads and the older values a weak load may return, over the shop's own
/// `publish`, `want`, `applied`, `acknowledged` and `wait`, with loom's atomics, mutexes and
/// condition variable; `wake_all` counts its wake-ups instead of writing eventfds.
///
/// What it checks: no lost wake-up between `want` (then the caller's look at `applied`, as in
/// shop/kafka/offsets.py `_want`) and `publish`; no write left held once its offset is applied,
/// and a wake-up after it is done; `wait` never misses a publish (a missed notification would
/// leave it waiting: loom reports the deadlock).
///
/// What it cannot: the eventfds and the Python loops that read them; time (loom's timed wait waits
/// for a notification, so the timeout path is not explored); `SeqCst` on loads and stores, which
/// loom weakens to acquire/release: `seq_cst_between_store_and_load` gives the model the order
/// the real build has (see `crate::sync`).
#[cfg(all(test, feature = "loom"))]
mod loom_tests {
    use super::*;
    use loom::thread;

    fn shared() -> Arc<SignalState> {
        Arc::new(SignalState::default())
    }

    fn spawn(
        state: &Arc<SignalState>,
        f: impl FnOnce(&SignalState) + Send + 'static,
    ) -> thread::JoinHandle<()> {
        let state = Arc::clone(state);
        thread::spawn(move || f(&state))
    }

    fn wakes(state: &SignalState) -> usize {
        state.wakes.load(Ordering::SeqCst)
    }

    /// What `_want` does: tell Rust the offset wanted, then look at `applied` (and wake the loops
    /// if it is there). True if the look found it applied.
    fn want_then_look(state: &SignalState, offset: i64) -> bool {
        state.want(offset);
        state.applied() >= offset
    }

    #[test]
    fn a_wanted_offset_published_concurrently_is_seen_or_woken() {
        for published in [1, 2] {
            loom::model(move || {
                let state = shared();
                let publisher = spawn(&state, move |state| state.publish(published));
                let seen = want_then_look(&state, 1);
                publisher.join().unwrap();
                assert!(seen || wakes(&state) > 0, "lost wake-up");
            });
        }
    }

    #[test]
    fn a_wanted_offset_reached_over_two_publishes_is_seen_or_woken() {
        loom::model(|| {
            let state = shared();
            let publisher = spawn(&state, |state| {
                state.publish(0);
                state.publish(1);
            });
            let seen = want_then_look(&state, 1);
            publisher.join().unwrap();
            assert!(seen || wakes(&state) > 0, "lost wake-up");
        });
    }

    #[test]
    fn a_write_acknowledged_while_its_offset_is_published_is_not_left_held() {
        for (acknowledged, published) in [(3, 3), (3, 5), (5, 3)] {
            loom::model(move || {
                let state = shared();
                let id = state.new_write();
                let publisher = spawn(&state, move |state| state.publish(published));
                state.acknowledged(id, Ok(acknowledged));
                publisher.join().unwrap();
                let writes = locked(&state.writes);
                if acknowledged <= published {
                    assert!(writes.held.is_empty(), "held though applied");
                    assert_eq!(writes.done, [(id, Ok(acknowledged))]);
                    assert!(wakes(&state) > 0, "done without a wake-up");
                } else {
                    assert_eq!(writes.held, [(acknowledged, id)]);
                    assert!(writes.done.is_empty());
                }
            });
        }
    }

    #[test]
    fn a_waiting_thread_never_misses_a_publish() {
        loom::model(|| {
            let state = shared();
            let waiter = spawn(&state, |state| {
                assert!(state.wait(1, Duration::from_secs(60)));
            });
            state.publish(0);
            state.publish(1);
            waiter.join().unwrap();
        });
    }

    #[test]
    fn two_waiters_for_different_offsets_are_both_released() {
        loom::model(|| {
            let state = shared();
            let first = spawn(&state, |state| {
                assert!(state.wait(1, Duration::from_secs(60)))
            });
            let second = spawn(&state, |state| {
                assert!(state.wait(2, Duration::from_secs(60)))
            });
            state.publish(2);
            first.join().unwrap();
            second.join().unwrap();
        });
    }
}
