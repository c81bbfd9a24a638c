//! librdkafka's failures as Python sees them, with the code that tells a transient one (a broker
//! away, a leader moving) from a lasting one.

use pyo3::create_exception;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use rdkafka::error::KafkaError;

create_exception!(
    _core,
    KafkaClientError,
    PyRuntimeError,
    "A failure of the extension's own Kafka clients. `code` is librdkafka's error number (those \
     confluent_kafka.KafkaError names), or None for a failure librdkafka did not report."
);

/// `err` as KafkaClientError: "`what`: `err`", with librdkafka's code.
pub fn kafka_error(py: Python<'_>, what: &str, err: &KafkaError) -> PyErr {
    let code = err.rdkafka_error_code().map(|code| code as i32);
    with_code(py, format!("{what}: {err}"), code)
}

/// A failure librdkafka did not report (the client closed): no code.
pub fn client_error(py: Python<'_>, message: String) -> PyErr {
    with_code(py, message, None)
}

fn with_code(py: Python<'_>, message: String, code: Option<i32>) -> PyErr {
    let err = KafkaClientError::new_err(message);
    // Setting an attribute on a fresh exception instance cannot fail short of memory exhaustion.
    let _ = err.value(py).setattr("code", code);
    err
}
