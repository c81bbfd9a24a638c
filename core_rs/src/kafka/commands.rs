//! The shoppers' writes (carts, orders), produced from Rust. Kafka's acknowledgement of each one is
//! served by a thread of this module without the GIL and handed to the projection's
//! `OffsetSignal`, which holds it until the projection applied it (read-your-writes) and then
//! wakes the event loop that waits. Served in Python, every delivery report would cost a Python
//! thread a wakeup and the GIL changing hands on the server's one core.

use super::error::{client_error, kafka_error};
use crate::signal::{OffsetSignal, SignalState};
use pyo3::prelude::*;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What travels with a write through librdkafka: whose signal answers it, and its id there.
struct Pending {
    signal: Arc<SignalState>,
    id: u64,
    topic: String,
}

/// Serves a producer's events: delivery reports (no GIL) and statistics (handed to Python).
struct ProducerEvents {
    on_stats: Option<Py<PyAny>>,
    /// Set once the producer is closed: no more statistics for Python, which may be exiting.
    closed: Arc<AtomicBool>,
}

impl ClientContext for ProducerEvents {
    fn stats_raw(&self, statistics: &[u8]) {
        let Some(on_stats) = &self.on_stats else {
            return;
        };
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        Python::attach(|py| {
            let text = String::from_utf8_lossy(statistics);
            if let Err(err) = on_stats.call1(py, (text.as_ref(),)) {
                err.print(py);
            }
        });
    }
}

impl ProducerContext for ProducerEvents {
    type DeliveryOpaque = Box<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Box<Pending>) {
        let outcome = match result {
            Ok(message) => Ok(message.offset()),
            Err((err, _)) => Err(describe(&pending.topic, err)),
        };
        pending.signal.acknowledged(pending.id, outcome);
    }
}

/// Kafka headers as Python hands them over: (name, value) pairs, in order.
pub(super) type Headers = Vec<(String, Vec<u8>)>;

/// Kafka headers from (name, value) pairs, in order.
pub(super) fn owned_headers(headers: &[(String, Vec<u8>)]) -> OwnedHeaders {
    headers.iter().fold(
        OwnedHeaders::new_with_capacity(headers.len()),
        |owned, (key, value)| {
            owned.insert(Header {
                key,
                value: Some(value),
            })
        },
    )
}

fn describe(topic: &str, err: &KafkaError) -> String {
    match err.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageTimedOut) => {
            format!("{topic}: not acknowledged within the produce timeout")
        }
        _ => format!("{topic}: {err}"),
    }
}

/// Sends `record` to `topic`, waiting while the producer's queue is full until `deadline` (None:
/// for as long as it takes). Raises KafkaClientError if it could not be sent.
pub(super) fn send_waiting<C: ProducerContext>(
    py: Python<'_>,
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, [u8], [u8], C::DeliveryOpaque>,
    topic: &str,
    deadline: Option<Instant>,
) -> PyResult<()> {
    loop {
        // With the GIL held: a send takes microseconds, and releasing the GIL would let
        // another thread take it, costing this one a thread switch to get it back.
        match producer.send::<[u8], [u8]>(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                if deadline.is_none() || deadline.is_some_and(|at| Instant::now() < at) =>
            {
                record = back;
                py.detach(|| std::thread::sleep(Duration::from_millis(10)));
            }
            Err((err @ KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                return Err(kafka_error(
                    py,
                    &format!("{topic}: the producer's queue stayed full"),
                    &err,
                ));
            }
            Err((err, _)) => return Err(kafka_error(py, topic, &err)),
        }
    }
}

/// One librdkafka producer with the thread that serves its events (shared with the relays' writer).
pub(super) struct Served<C: ProducerContext + 'static> {
    pub(super) producer: Arc<BaseProducer<C>>,
    stop: Arc<AtomicBool>,
}

/// How long the thread serving a producer's events waits per poll.
const POLL_WINDOW: Duration = Duration::from_secs(1);

impl<C: ProducerContext + 'static> Served<C> {
    /// A producer with `settings` whose events `context` serves; `context` is made with the flag
    /// that is set once the producer is closed.
    pub(super) fn new(
        py: Python<'_>,
        settings: HashMap<String, String>,
        context: impl FnOnce(Arc<AtomicBool>) -> C,
        name: &str,
    ) -> PyResult<Self> {
        let mut config = ClientConfig::new();
        for (key, value) in settings {
            config.set(key, value);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let producer: BaseProducer<C> = config
            .create_with_context(context(stop.clone()))
            .map_err(|err| kafka_error(py, &format!("the producer {name}"), &err))?;
        let producer = Arc::new(producer);
        // This thread serves every delivery report: a write is answered only through it.
        std::thread::Builder::new().name(name.into()).spawn({
            let (producer, stop) = (producer.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::Acquire) {
                    // rdkafka's poll waits out its whole window, and spins through its last
                    // fraction of a millisecond: a long window makes that spin negligible.
                    producer.poll(POLL_WINDOW);
                }
            }
        })?;
        Ok(Served { producer, stop })
    }

    /// Waits up to `timeout` for every write to be acknowledged; returns how many are still
    /// unacknowledged.
    pub(super) fn flush(&self, timeout: Duration) -> i32 {
        let _ = self.producer.flush(timeout);
        self.producer.in_flight_count()
    }

    /// Flushes within `timeout`, then lets the thread stop (it does within POLL_WINDOW, freeing
    /// the producer); returns how many writes are still unacknowledged.
    pub(super) fn close(&self, timeout: Duration) -> i32 {
        let remaining = self.flush(timeout);
        self.stop.store(true, Ordering::Release);
        remaining
    }
}

impl<C: ProducerContext + 'static> Drop for Served<C> {
    fn drop(&mut self) {
        // Never closed: the thread stops within a poll and frees the producer itself.
        self.stop.store(true, Ordering::Release);
    }
}

/// The shoppers' writes: a producer that sends at once for a write with no other in flight, and
/// one that lingers for writes that can share a request (see shop/kafka/producer.py).
#[pyclass(module = "shop._core", name = "Commands", frozen)]
pub struct Commands {
    lone: Served<ProducerEvents>,
    shared: Served<ProducerEvents>,
    closed: AtomicBool,
    timeout: Duration,
}

#[pymethods]
impl Commands {
    /// Two producers with librdkafka settings `lone` and `shared`; `on_stats` receives the shared
    /// one's statistics (JSON) when it has `statistics.interval.ms`. A write's queue may stay full
    /// for at most `timeout` seconds.
    #[new]
    #[pyo3(signature = (lone, shared, timeout, on_stats=None))]
    fn new(
        py: Python<'_>,
        lone: HashMap<String, String>,
        shared: HashMap<String, String>,
        timeout: f64,
        on_stats: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let events = |on_stats| move |closed| ProducerEvents { on_stats, closed };
        Ok(Commands {
            lone: Served::new(py, lone, events(None), "cmd-lone-dr")?,
            shared: Served::new(py, shared, events(on_stats), "cmd-shared-dr")?,
            closed: AtomicBool::new(false),
            timeout: Duration::from_secs_f64(timeout.max(0.0)),
        })
    }

    /// Sends `value` with `headers` (the trace context of a traced write) to partition 0 of
    /// `topic` (through the lingering producer if `shared`); returns the write's id in `signal`,
    /// whose event loops are woken when it is done. Raises KafkaClientError if it could not be
    /// sent.
    #[pyo3(signature = (topic, value, signal, shared, headers=None))]
    fn send(
        &self,
        py: Python<'_>,
        topic: &str,
        value: &[u8],
        signal: &OffsetSignal,
        shared: bool,
        headers: Option<Headers>,
    ) -> PyResult<u64> {
        if self.closed.load(Ordering::Acquire) {
            return Err(client_error(
                py,
                format!("{topic}: the producer is closed (the shop is shutting down)"),
            ));
        }
        let state = signal.state.clone();
        let id = state.new_write();
        let pending = Box::new(Pending {
            signal: state,
            id,
            topic: topic.to_owned(),
        });
        let served = if shared { &self.shared } else { &self.lone };
        let deadline = Instant::now() + self.timeout;
        let mut record = BaseRecord::with_opaque_to(topic, pending)
            .payload(value)
            .partition(0);
        if let Some(headers) = headers {
            record = record.headers(owned_headers(&headers));
        }
        send_waiting(py, &served.producer, record, topic, Some(deadline))?;
        Ok(id)
    }

    /// Flushes both producers within `timeout` seconds in all and stops their threads; returns
    /// how many writes are still unacknowledged.
    fn close(&self, py: Python<'_>, timeout: f64) -> i32 {
        self.closed.store(true, Ordering::Release);
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
        py.detach(|| {
            let mut remaining = 0;
            for served in [&self.lone, &self.shared] {
                let left = deadline.saturating_duration_since(Instant::now());
                remaining += served.close(left);
            }
            remaining
        })
    }
}
