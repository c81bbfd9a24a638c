//! The relays' writes: a whole consumed batch translated and produced in one call, its
//! acknowledgements counted by a Rust thread without the GIL. Done in Python, each message cost a
//! translate call, a produce call and a delivery callback that took the GIL (issue 26: about 4M
//! of each in a first start at 1M products).

use super::commands::{owned_headers, send_waiting, Headers, Served};
use super::error::client_error;
use crate::bindings::checkout::OrdersPublished;
use crate::bindings::relays::{OnlyEvents, Translation};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext};
use rdkafka::ClientContext;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The acknowledgements of one batch's writes.
#[derive(Default)]
struct Acks {
    state: Mutex<AckState>,
    changed: Condvar,
}

#[derive(Default)]
struct AckState {
    sent: usize,
    acknowledged: usize,
    last_offset: i64,
    failure: Option<String>,
}

impl Acks {
    fn sent(&self) {
        self.lock().sent += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AckState> {
        // A panic while holding this lock cannot leave the counts half-updated: keep using them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Serves the delivery reports of the relays' producer: counts them into their batch's Acks.
struct RelayAcks;

impl ClientContext for RelayAcks {}

impl ProducerContext for RelayAcks {
    type DeliveryOpaque = Arc<Acks>;

    fn delivery(&self, result: &DeliveryResult<'_>, acks: Arc<Acks>) {
        let mut state = acks.lock();
        state.acknowledged += 1;
        match result {
            Ok(message) => state.last_offset = state.last_offset.max(message.offset()),
            Err((err, message)) => {
                let failure = format!("{}: {err}", message.topic());
                state.failure.get_or_insert(failure);
            }
        }
        if state.acknowledged == state.sent {
            acks.changed.notify_all();
        }
    }
}

/// What one `RelayWriter.send` did: how many messages of its batch it translated (and sent,
/// unless translated to nothing), why the next one could not be, and their acknowledgements.
#[pyclass(module = "shop._core", name = "RelayBatch", frozen)]
pub struct RelayBatch {
    acks: Arc<Acks>,
    /// Messages of the batch translated, from its start: the rest begins with the refused one.
    #[pyo3(get)]
    translated: usize,
    /// Why the message after the translated ones could not be translated (None: all were).
    #[pyo3(get)]
    refused: Option<String>,
    /// Source offsets translated to nothing (not relayed).
    #[pyo3(get)]
    skipped: Vec<i64>,
}

#[pymethods]
impl RelayBatch {
    /// True once Kafka acknowledged every write, within `timeout` seconds (without the GIL).
    fn wait(&self, py: Python<'_>, timeout: f64) -> bool {
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        py.detach(|| {
            let state = self.acks.lock();
            let (state, _) = self
                .acks
                .changed
                .wait_timeout_while(state, timeout, |state| state.acknowledged < state.sent)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.acknowledged == state.sent
        })
    }

    /// The target offset of the last acknowledged write (-1: none yet).
    #[getter]
    fn last_offset(&self) -> i64 {
        let state = self.acks.lock();
        if state.acknowledged == 0 {
            -1
        } else {
            state.last_offset
        }
    }

    /// Why Kafka refused a write (None: it refused none so far).
    #[getter]
    fn failure(&self) -> Option<String> {
        self.acks.lock().failure.clone()
    }
}

/// The translation of one message: its output, nothing to relay, or why it cannot be translated.
enum Translated {
    Output(Vec<u8>),
    Nothing,
    Refused(String),
}

/// A relay's translation: one of the extension's own (no Python call per message) or any Python
/// callable `(message, offset) -> bytes | None` raising ValueError on garbage.
fn translate_with(translate: &Bound<'_, PyAny>, value: &[u8], offset: i64) -> PyResult<Translated> {
    if let Ok(native) = translate.cast::<Translation>() {
        return Ok(match native.get().apply(value, offset) {
            Ok(output) => Translated::Output(output),
            Err(err) => Translated::Refused(err.0),
        });
    }
    if let Ok(orders) = translate.cast::<OrdersPublished>() {
        return Ok(orders
            .get()
            .apply(offset)
            .map_or(Translated::Nothing, Translated::Output));
    }
    let py = translate.py();
    if let Ok(only) = translate.cast::<OnlyEvents>() {
        let only = only.get();
        if !only.wants(value) {
            return Ok(Translated::Nothing);
        }
        return translate_with(only.translate.bind(py), value, offset);
    }
    match translate.call1((PyBytes::new(py, value), offset)) {
        Ok(output) if output.is_none() => Ok(Translated::Nothing),
        Ok(output) => Ok(Translated::Output(
            output.cast::<PyBytes>()?.as_bytes().to_vec(),
        )),
        Err(err) if err.is_instance_of::<PyValueError>(py) => {
            Ok(Translated::Refused(err.value(py).to_string()))
        }
        Err(err) => Err(err),
    }
}

/// The producer of publishers and bridges (see shop/kafka/producer.py for its settings).
#[pyclass(module = "shop._core", name = "RelayWriter", frozen)]
pub struct RelayWriter {
    served: Served<RelayAcks>,
    closed: AtomicBool,
    /// How long a write may wait for room in the producer's queue (None: as long as it takes).
    queue_timeout: Option<Duration>,
}

#[pymethods]
impl RelayWriter {
    /// A producer with librdkafka `settings`; a write waits at most `queue_timeout` seconds for
    /// room in its queue (None: as long as it takes).
    #[new]
    #[pyo3(signature = (settings, queue_timeout=None))]
    fn new(
        py: Python<'_>,
        settings: HashMap<String, String>,
        queue_timeout: Option<f64>,
    ) -> PyResult<Self> {
        Ok(RelayWriter {
            served: Served::new(py, settings, |_closed| RelayAcks, "relay-dr")?,
            closed: AtomicBool::new(false),
            queue_timeout: queue_timeout.map(|seconds| Duration::from_secs_f64(seconds.max(0.0))),
        })
    }

    /// Translates the (offset, value) pairs of `batch` in order with `translate` and sends each
    /// output to partition 0 of `topic` (with `headers[offset]`, a traced message's trace
    /// context), up to the first message that cannot be translated. Raises KafkaClientError if a
    /// write could not be sent (those before it are in flight: flush before resuming).
    #[pyo3(signature = (topic, translate, batch, headers=None))]
    fn send(
        &self,
        py: Python<'_>,
        topic: &str,
        translate: &Bound<'_, PyAny>,
        batch: &Bound<'_, PyList>,
        headers: Option<HashMap<i64, Headers>>,
    ) -> PyResult<RelayBatch> {
        if self.closed.load(Ordering::Acquire) {
            return Err(client_error(
                py,
                format!("{topic}: the producer is closed (the shop is shutting down)"),
            ));
        }
        let acks = Arc::new(Acks::default());
        let (mut translated, mut refused, mut skipped) = (0, None, Vec::new());
        for item in batch.iter() {
            let (offset, value): (i64, Bound<'_, PyBytes>) = item.extract()?;
            match translate_with(translate, value.as_bytes(), offset)? {
                Translated::Output(output) => {
                    let trace = headers.as_ref().and_then(|all| all.get(&offset));
                    self.send_one(py, topic, &output, trace, &acks)?;
                }
                Translated::Nothing => skipped.push(offset),
                Translated::Refused(why) => {
                    refused = Some(why);
                    break;
                }
            }
            translated += 1;
        }
        Ok(RelayBatch {
            acks,
            translated,
            refused,
            skipped,
        })
    }

    /// Waits up to `timeout` seconds for every write; returns how many are still unacknowledged.
    fn flush(&self, py: Python<'_>, timeout: f64) -> i32 {
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        py.detach(|| self.served.flush(timeout))
    }

    /// Flushes within `timeout` seconds and stops the thread serving the producer; returns how
    /// many writes are still unacknowledged.
    fn close(&self, py: Python<'_>, timeout: f64) -> i32 {
        self.closed.store(true, Ordering::Release);
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        py.detach(|| self.served.close(timeout))
    }
}

impl RelayWriter {
    fn send_one(
        &self,
        py: Python<'_>,
        topic: &str,
        output: &[u8],
        headers: Option<&Headers>,
        acks: &Arc<Acks>,
    ) -> PyResult<()> {
        let mut record = BaseRecord::with_opaque_to(topic, acks.clone())
            .payload(output)
            .partition(0);
        if let Some(headers) = headers {
            record = record.headers(owned_headers(headers));
        }
        // Counted first: its acknowledgement may arrive before send_waiting returns.
        acks.sent();
        let deadline = self
            .queue_timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        if let Err(err) = send_waiting(py, &self.served.producer, record, topic, deadline) {
            acks.lock().sent -= 1; // never sent: never acknowledged
            return Err(err);
        }
        Ok(())
    }
}
