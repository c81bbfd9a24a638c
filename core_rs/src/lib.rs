//! core_rs: the hot path of Event Thingy Store, built as the Python extension `shop._core`.

pub mod catalog;
pub mod codec;
pub mod encode;
pub mod order_index;
mod py_catalog;
pub mod relay;
pub mod swap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

impl From<codec::DecodeError> for PyErr {
    fn from(err: codec::DecodeError) -> PyErr {
        PyValueError::new_err(err.0)
    }
}

/// pim_internal message → pim_pub message carrying `offset`. Raises ValueError on garbage.
#[pyfunction]
fn pim_publish<'py>(py: Python<'py>, message: &[u8], offset: i64) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &relay::pim_publish(message, offset)?))
}

/// pim_pub message → catalog_internal message carrying `offset`. Raises ValueError on garbage.
#[pyfunction]
fn catalog_bridge<'py>(
    py: Python<'py>,
    message: &[u8],
    offset: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &relay::catalog_bridge(message, offset)?))
}

/// Offset of the internal message a public message was published from. Raises ValueError on garbage.
#[pyfunction]
fn published_offset(message: &[u8]) -> PyResult<i64> {
    relay::published_offset(message).map_err(PyErr::from)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<py_catalog::PyCatalog>()?;
    m.add_function(wrap_pyfunction!(pim_publish, m)?)?;
    m.add_function(wrap_pyfunction!(catalog_bridge, m)?)?;
    m.add_function(wrap_pyfunction!(published_offset, m)?)?;
    Ok(())
}
