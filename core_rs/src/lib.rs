//! core_rs: the hot path of Event Thingy Store, built as the Python extension `shop._core`.

pub mod catalog;
pub mod checkout;
mod checkout_view;
pub mod codec;
pub mod encode;
pub mod fulfilment;
pub mod order_index;
mod projection;
mod py_catalog;
mod py_checkout;
pub mod relay;
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

/// fulfilment_internal message → fulfilment_pub message carrying `offset`.
#[pyfunction]
fn fulfilment_publish<'py>(
    py: Python<'py>,
    message: &[u8],
    offset: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(
        py,
        &relay::fulfilment_publish(message, offset)?,
    ))
}

/// pim_pub message → checkout_internal ProductChanged carrying `offset`.
#[pyfunction]
fn checkout_pim_bridge<'py>(
    py: Python<'py>,
    message: &[u8],
    offset: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(
        py,
        &relay::checkout_pim_bridge(message, offset)?,
    ))
}

/// fulfilment_pub message → checkout_internal FulfilmentChanged carrying `offset`.
#[pyfunction]
fn checkout_fulfilment_bridge<'py>(
    py: Python<'py>,
    message: &[u8],
    offset: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(
        py,
        &relay::checkout_fulfilment_bridge(message, offset)?,
    ))
}

/// checkout_pub message → fulfilment_internal OrderShipped carrying `offset`.
#[pyfunction]
fn fulfilment_checkout_bridge<'py>(
    py: Python<'py>,
    message: &[u8],
    offset: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(
        py,
        &relay::fulfilment_checkout_bridge(message, offset)?,
    ))
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
