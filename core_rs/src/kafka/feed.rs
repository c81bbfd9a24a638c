//! Consuming a projection's topic without the GIL: a Kafka consumer (librdkafka, through the
//! rdkafka crate) polled by the projection's thread in Rust, each batch applied to the model as it
//! arrives, and event loops woken through an eventfd once an offset one of them waits for is
//! applied. No Python runs per batch: a consumer in Python would make the GIL change hands two
//! or three times per applied write on the shop's one core.
//!
//! A traced feed also hands back, per batch, the trace context (`traceparent`, `tracestate`
//! headers) of the messages that carry one, with the wall-clock start and end of the batch's
//! apply: Python records the apply's span through the same exporter as every other span
//! (docs/tracing.md). Untraced, no header is read.

use super::error::kafka_error;
use crate::bindings::PyProjection;
use crate::projection::{Poison, Projected};
use crate::signal::{OffsetSignal, SignalState};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A traced message applied: its offset, `traceparent` and `tracestate` (empty if none), and the
/// start and end of its batch's apply in seconds since the epoch.
type Traced = (i64, String, String, f64, f64);

/// What one `pump` did: events applied, seconds each batch took to apply, the poison met (offset,
/// message, why), the consumer's errors, and the traced messages applied (when traced).
type Pumped = (
    usize,
    Vec<f64>,
    Vec<(i64, Py<PyBytes>, String)>,
    Vec<String>,
    Vec<Traced>,
);

/// Partition 0 of one topic, consumed into a projection.
#[pyclass(module = "shop._core", name = "Feed", frozen)]
pub struct Feed {
    consumer: BaseConsumer,
    topic: String,
    signal: Py<OffsetSignal>,
    traced: bool,
}

#[pymethods]
impl Feed {
    /// A consumer of partition 0 of `topic` with librdkafka `settings`, publishing what it
    /// applies to `signal`; `traced`, it reports the trace context of the messages it applies.
    #[new]
    #[pyo3(signature = (settings, topic, signal, traced=false))]
    fn new(
        py: Python<'_>,
        settings: HashMap<String, String>,
        topic: String,
        signal: Py<OffsetSignal>,
        traced: bool,
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
            traced,
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
    fn pump(&self, py: Python<'_>, model: &Bound<'_, PyAny>, most: usize, wait: f64) -> Pumped {
        let sink = Sink::of(model);
        let signal = &self.signal.get().state;
        let (events, seconds, poison, errors, traced) =
            py.detach(|| self.run(&sink, signal, most.max(1), wait));
        let poison = poison
            .into_iter()
            .map(|(offset, bytes, why)| (offset, PyBytes::new(py, &bytes).unbind(), why))
            .collect();
        (events, seconds, poison, errors, traced)
    }
}

/// What batches are applied to: a projection of this crate, without the GIL; or any Python
/// object with `apply(batch) -> poison` (a test's wrapper), with it.
enum Sink {
    Projection(Arc<dyn Projected>),
    Python(Py<PyAny>),
}

impl Sink {
    fn of(model: &Bound<'_, PyAny>) -> Sink {
        match model.cast::<PyProjection>() {
            Ok(projection) => Sink::Projection(Arc::clone(&projection.get().projected)),
            Err(_) => Sink::Python(model.clone().unbind()),
        }
    }

    /// Whether offset `last`, just applied, is published (not while a load catches up alone).
    fn published(&self, last: i64) -> bool {
        match self {
            Sink::Projection(projected) => projected.offset() >= last,
            Sink::Python(_) => true,
        }
    }

    fn apply(&self, batch: &[(i64, &[u8])]) -> Poison {
        match self {
            Sink::Projection(projected) => projected.apply_raw(batch),
            Sink::Python(model) => Python::attach(|py| {
                let batch: Vec<(i64, Bound<'_, PyBytes>)> = batch
                    .iter()
                    .map(|(offset, bytes)| (*offset, PyBytes::new(py, bytes)))
                    .collect();
                model
                    .call_method1(py, "apply", (batch,))
                    .and_then(|poison| poison.extract(py))
                    .unwrap_or_else(|err| {
                        // A model that raises is a bug: shown, and its batch counted as applied.
                        err.print(py);
                        Vec::new()
                    })
            }),
        }
    }
}

type Run = (
    usize,
    Vec<f64>,
    Vec<(i64, Vec<u8>, String)>,
    Vec<String>,
    Vec<Traced>,
);

/// The `traceparent` and `tracestate` (empty if none) of a message, if it carries a traceparent.
fn trace_context<M: Message>(message: &M) -> Option<(String, String)> {
    let headers = message.headers()?;
    let text = |key: &str| {
        headers
            .iter()
            .find(|header| header.key == key)
            .and_then(|header| header.value)
            .map(|value| String::from_utf8_lossy(value).into_owned())
    };
    Some((text("traceparent")?, text("tracestate").unwrap_or_default()))
}

fn epoch_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

impl Feed {
    fn run(&self, model: &Sink, signal: &SignalState, most: usize, wait: f64) -> Run {
        let deadline = Instant::now() + Duration::from_secs_f64(wait.max(0.0));
        let (mut events, mut seconds, mut errors, mut traced) =
            (0, Vec::new(), Vec::new(), Vec::new());
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
                let (started, wall) = (Instant::now(), SystemTime::now());
                let failed = model.apply(&batch);
                let took = started.elapsed();
                seconds.push(took.as_secs_f64());
                events += batch.len();
                if model.published(last) {
                    signal.publish(last);
                }
                if self.traced {
                    let (start, end) = (epoch_seconds(wall), epoch_seconds(wall + took));
                    traced.extend(messages.iter().filter_map(|m| {
                        let (parent, state) = trace_context(m)?;
                        Some((m.offset(), parent, state, start, end))
                    }));
                }
                if !failed.is_empty() {
                    let bytes: HashMap<i64, &[u8]> = batch.iter().copied().collect();
                    let poison = failed
                        .into_iter()
                        .map(|(offset, why)| (offset, bytes[&offset].to_vec(), why))
                        .collect();
                    return (events, seconds, poison, errors, traced);
                }
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        (events, seconds, Vec::new(), errors, traced)
    }
}

#[cfg(test)]
mod tests {
    use super::trace_context;
    use crate::kafka::commands::owned_headers;
    use rdkafka::message::{OwnedMessage, Timestamp};

    /// A message with `headers` as the command producer writes them.
    fn message(headers: &[(&str, &str)]) -> OwnedMessage {
        let pairs: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.as_bytes().to_vec()))
            .collect();
        let headers = (!pairs.is_empty()).then(|| owned_headers(&pairs));
        OwnedMessage::new(
            None,
            None,
            "t".into(),
            Timestamp::NotAvailable,
            0,
            7,
            headers,
        )
    }

    #[test]
    fn a_message_s_trace_context_is_its_traceparent_and_tracestate() {
        let parent = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01";
        let both = message(&[
            ("shop-x", "1"),
            ("tracestate", "a=b"),
            ("traceparent", parent),
        ]);
        assert_eq!(
            trace_context(&both),
            Some((parent.to_owned(), "a=b".to_owned()))
        );
        let alone = message(&[("traceparent", parent)]);
        assert_eq!(
            trace_context(&alone),
            Some((parent.to_owned(), String::new()))
        );
    }

    #[test]
    fn a_message_without_a_traceparent_has_no_trace_context() {
        assert_eq!(trace_context(&message(&[])), None);
        assert_eq!(trace_context(&message(&[("tracestate", "a=b")])), None);
    }
}
