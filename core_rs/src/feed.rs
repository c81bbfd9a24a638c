//! Consuming a projection's topic without the GIL: a Kafka consumer (librdkafka, through the
//! rdkafka crate) polled by the projection's thread in Rust, each batch applied to the model as it
//! arrives, and event loops woken through an eventfd once an offset one of them waits for is
//! applied. No Python runs per batch: with a consumer in Python every applied write cost the GIL
//! changing hands two or three times on the shop's one core.

use crate::client_error::kafka_error;
use crate::projection::Poison;
use crate::py_catalog::PyCatalog;
use crate::py_checkout::{PyCheckout, PyFulfilment};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A model that applies batches of (offset, message) from a thread without the GIL.
pub trait Consume: Sync {
    fn apply_raw(&self, batch: &[(i64, &[u8])]) -> Poison;
}

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
pub type Outcome = Result<i64, String>;

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
    done: Vec<(u64, Outcome)>,
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
    pub(crate) fn acknowledged(&self, id: u64, outcome: Outcome) {
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

/// What one `pump` did: events applied, seconds each batch took to apply, the poison met (offset,
/// message, why), and the consumer's errors.
type Pumped = (
    usize,
    Vec<f64>,
    Vec<(i64, Py<PyBytes>, String)>,
    Vec<String>,
);

/// Partition 0 of one topic, consumed into a projection.
#[pyclass(module = "shop._core", name = "Feed", frozen)]
pub struct Feed {
    consumer: BaseConsumer,
    topic: String,
    signal: Py<OffsetSignal>,
}

/// The three projections, as the thread that applies batches sees them; any other object with
/// `apply(batch) -> poison` (a test's model) is called with the GIL.
enum Target {
    Catalog(Py<PyCatalog>),
    Checkout(Py<PyCheckout>),
    Fulfilment(Py<PyFulfilment>),
    Python(Py<PyAny>),
}

impl Consume for Py<PyAny> {
    fn apply_raw(&self, batch: &[(i64, &[u8])]) -> Poison {
        Python::attach(|py| {
            let batch: Vec<(i64, Bound<'_, PyBytes>)> = batch
                .iter()
                .map(|(offset, bytes)| (*offset, PyBytes::new(py, bytes)))
                .collect();
            self.call_method1(py, "apply", (batch,))
                .and_then(|poison| poison.extract(py))
                .unwrap_or_else(|err| {
                    // A model that raises is a bug: shown, and its batch counted as applied.
                    err.print(py);
                    Vec::new()
                })
        })
    }
}

impl Target {
    fn of(model: &Bound<'_, PyAny>) -> PyResult<Target> {
        if let Ok(m) = model.extract::<Py<PyCatalog>>() {
            return Ok(Target::Catalog(m));
        }
        if let Ok(m) = model.extract::<Py<PyCheckout>>() {
            return Ok(Target::Checkout(m));
        }
        if let Ok(m) = model.extract::<Py<PyFulfilment>>() {
            return Ok(Target::Fulfilment(m));
        }
        if model.hasattr("apply")? {
            return Ok(Target::Python(model.clone().unbind()));
        }
        Err(PyValueError::new_err(
            "a feed applies to a model with `apply`",
        ))
    }

    fn model(&self) -> &dyn Consume {
        match self {
            Target::Catalog(m) => m.get(),
            Target::Checkout(m) => m.get(),
            Target::Fulfilment(m) => m.get(),
            Target::Python(m) => m,
        }
    }
}

#[pymethods]
impl Feed {
    /// A consumer of partition 0 of `topic` with librdkafka `settings`, publishing what it
    /// applies to `signal`.
    #[new]
    fn new(
        py: Python<'_>,
        settings: HashMap<String, String>,
        topic: String,
        signal: Py<OffsetSignal>,
    ) -> PyResult<Self> {
        let mut config = ClientConfig::new();
        for (key, value) in settings {
            config.set(key, value);
        }
        let consumer: BaseConsumer = config
            .create()
            .map_err(|err| kafka_error(py, &format!("a consumer of {topic}"), &err))?;
        Ok(Feed {
            consumer,
            topic,
            signal,
        })
    }

    /// (low, high) offsets of partition 0, asked of the broker.
    fn watermarks(&self, py: Python<'_>, timeout: f64) -> PyResult<(i64, i64)> {
        py.detach(|| {
            self.consumer
                .fetch_watermarks(&self.topic, 0, Duration::from_secs_f64(timeout))
        })
        .map_err(|err| kafka_error(py, &format!("the offsets of {}", self.topic), &err))
    }

    /// The high watermark learned with the last fetch (-1 before any): no request.
    fn cached_high(&self) -> i64 {
        let (mut low, mut high) = (-1i64, -1i64);
        let Ok(topic) = CString::new(self.topic.as_str()) else {
            return -1;
        };
        // SAFETY: the client pointer lives as long as the consumer; librdkafka only reads the
        // topic name and writes the two integers.
        unsafe {
            rdkafka_sys::rd_kafka_get_watermark_offsets(
                self.consumer.client().native_ptr(),
                topic.as_ptr(),
                0,
                &mut low,
                &mut high,
            );
        }
        high
    }

    /// Starts consuming at `offset`.
    fn assign(&self, py: Python<'_>, offset: i64) -> PyResult<()> {
        let mut partitions = TopicPartitionList::new();
        partitions
            .add_partition_offset(&self.topic, 0, Offset::Offset(offset))
            .and_then(|()| self.consumer.assign(&partitions))
            .map_err(|err| kafka_error(py, &format!("assigning {}", self.topic), &err))
    }

    /// Consumes and applies to `model` for `wait` seconds, in batches of at most `most` events,
    /// with the GIL released; returns early after a batch with poison (the caller copies it to
    /// the dead letters before going on).
    fn pump(
        &self,
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        most: usize,
        wait: f64,
    ) -> PyResult<Pumped> {
        let target = Target::of(model)?;
        let signal = &self.signal.get().state;
        let (events, seconds, poison, errors) =
            py.detach(|| self.run(target.model(), signal, most.max(1), wait));
        let poison = poison
            .into_iter()
            .map(|(offset, bytes, why)| (offset, PyBytes::new(py, &bytes).unbind(), why))
            .collect();
        Ok((events, seconds, poison, errors))
    }
}

type Run = (usize, Vec<f64>, Vec<(i64, Vec<u8>, String)>, Vec<String>);

impl Feed {
    fn run(&self, model: &dyn Consume, signal: &SignalState, most: usize, wait: f64) -> Run {
        let deadline = Instant::now() + Duration::from_secs_f64(wait.max(0.0));
        let (mut events, mut seconds, mut errors) = (0, Vec::new(), Vec::new());
        loop {
            // Whole milliseconds, and none once less than one is left: librdkafka waits in
            // milliseconds, and rdkafka polls again at once for a fraction of one, spinning.
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_millis();
            if left == 0 {
                break;
            }
            let Some(first) = self.consumer.poll(Duration::from_millis(left as u64)) else {
                break;
            };
            let mut messages = Vec::new();
            let mut next = Some(first);
            while let Some(result) = next.take() {
                match result {
                    Ok(message) => messages.push(message),
                    Err(err) => errors.push(err.to_string()),
                }
                if messages.len() < most {
                    next = self.consumer.poll(Duration::ZERO);
                }
            }
            let batch: Vec<(i64, &[u8])> = messages
                .iter()
                .map(|m| (m.offset(), m.payload().unwrap_or_default()))
                .collect();
            if let Some(&(last, _)) = batch.last() {
                let started = Instant::now();
                let failed = model.apply_raw(&batch);
                seconds.push(started.elapsed().as_secs_f64());
                events += batch.len();
                signal.publish(last);
                if !failed.is_empty() {
                    let bytes: HashMap<i64, &[u8]> = batch.iter().copied().collect();
                    let poison = failed
                        .into_iter()
                        .map(|(offset, why)| (offset, bytes[&offset].to_vec(), why))
                        .collect();
                    return (events, seconds, poison, errors);
                }
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        (events, seconds, Vec::new(), errors)
    }
}
