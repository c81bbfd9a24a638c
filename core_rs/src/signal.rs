//! The applied offset of one projection and everyone who waits for it: plain threads (a condition
//! variable), event loops (an eventfd each) and the shoppers' writes in flight, which Kafka
//! acknowledged and which are answered once the projection applied them (read-your-writes).

use pyo3::prelude::*;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
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
        }
    }
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind: go on with it.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
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
        if released || self.wanted.load(Ordering::SeqCst) <= offset {
            self.wake_all();
        }
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
        self.state.applied.load(Ordering::SeqCst)
    }

    /// Publishes `offset` as applied (a snapshot loaded, or a batch applied from Python).
    fn advance(&self, offset: i64) {
        self.state.publish(offset);
    }

    /// The lowest offset some event loop waits for from now on (i64::MAX: none). The caller
    /// reads `applied` afterwards and wakes the loops itself if it is there already.
    fn want(&self, offset: i64) {
        self.state.wanted.store(offset, Ordering::SeqCst);
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
        let state = &self.state;
        py.detach(|| {
            let guard = locked(&state.lock);
            let (_guard, result) = state
                .advanced
                .wait_timeout_while(guard, Duration::from_secs_f64(timeout.max(0.0)), |_| {
                    state.applied.load(Ordering::SeqCst) < offset
                })
                .unwrap_or_else(|e| e.into_inner());
            !result.timed_out() || state.applied.load(Ordering::SeqCst) >= offset
        })
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
