//! core_rs: the hot path of Event Thingy Store, built as the Python extension `shop._core`.

pub mod catalog;
pub mod checkout;
mod checkout_view;
mod client_error;
pub mod codec;
mod commands;
pub mod encode;
mod feed;
pub mod fulfilment;
pub mod order_index;
mod projection;
mod py_catalog;
mod py_checkout;
pub mod relay;
pub mod snapshot;
pub mod stock;
pub mod swap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

impl From<codec::DecodeError> for PyErr {
    fn from(err: codec::DecodeError) -> PyErr {
        PyValueError::new_err(err.0)
    }
}

/// Exposes a relay translation (`fn(&[u8], i64) -> Result<Vec<u8>, DecodeError>`) to Python as
/// `name(message: bytes, offset: int) -> bytes`, raising ValueError on garbage.
macro_rules! relay_function {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[pyfunction]
        fn $name<'py>(py: Python<'py>, message: &[u8], offset: i64) -> PyResult<Bound<'py, PyBytes>> {
            Ok(PyBytes::new(py, &relay::$name(message, offset)?))
        }
    };
}

relay_function!(
    /// pim_internal message → pim_pub message carrying `offset`.
    pim_publish
);
relay_function!(
    /// pim_pub message → catalog_internal ProductChanged carrying `offset`.
    catalog_bridge
);
relay_function!(
    /// fulfilment_internal message → fulfilment_pub message carrying `offset`.
    fulfilment_publish
);
relay_function!(
    /// pim_pub message → checkout_internal ProductChanged carrying `offset`.
    checkout_pim_bridge
);
relay_function!(
    /// fulfilment_pub message → checkout_internal FulfilmentChanged carrying `offset`.
    checkout_fulfilment_bridge
);
relay_function!(
    /// checkout_pub message → fulfilment_internal OrderShipped carrying `offset`.
    fulfilment_checkout_bridge
);

/// Offset of the internal message a public message was published from. Raises ValueError on garbage.
#[pyfunction]
fn published_offset(message: &[u8]) -> PyResult<i64> {
    relay::published_offset(message).map_err(PyErr::from)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "KafkaClientError",
        m.py().get_type::<client_error::KafkaClientError>(),
    )?;
    m.add(
        "SnapshotError",
        m.py().get_type::<projection::SnapshotError>(),
    )?;
    m.add_class::<projection::SavedSnapshot>()?;
    m.add_class::<feed::OffsetSignal>()?;
    m.add_class::<feed::Feed>()?;
    m.add_class::<commands::Commands>()?;
    m.add_class::<py_catalog::PyCatalog>()?;
    m.add_class::<py_catalog::PageMark>()?;
    m.add_class::<py_checkout::PyCheckout>()?;
    m.add_class::<py_checkout::PyFulfilment>()?;
    m.add_function(wrap_pyfunction!(fulfilment_publish, m)?)?;
    m.add_function(wrap_pyfunction!(checkout_pim_bridge, m)?)?;
    m.add_function(wrap_pyfunction!(checkout_fulfilment_bridge, m)?)?;
    m.add_function(wrap_pyfunction!(fulfilment_checkout_bridge, m)?)?;
    m.add_function(wrap_pyfunction!(pim_publish, m)?)?;
    m.add_function(wrap_pyfunction!(catalog_bridge, m)?)?;
    m.add_function(wrap_pyfunction!(published_offset, m)?)?;
    Ok(())
}
