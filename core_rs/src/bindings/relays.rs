//! The relays' translations between public and internal topics, as Python functions
//! `name(message: bytes, offset: int) -> bytes` that raise ValueError on garbage.

use crate::relay;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

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
    /// cms_internal message → cms_pub message carrying `offset`.
    cms_publish
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
    Ok(relay::published_offset(message)?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pim_publish, m)?)?;
    m.add_function(wrap_pyfunction!(catalog_bridge, m)?)?;
    m.add_function(wrap_pyfunction!(fulfilment_publish, m)?)?;
    m.add_function(wrap_pyfunction!(cms_publish, m)?)?;
    m.add_function(wrap_pyfunction!(checkout_pim_bridge, m)?)?;
    m.add_function(wrap_pyfunction!(checkout_fulfilment_bridge, m)?)?;
    m.add_function(wrap_pyfunction!(fulfilment_checkout_bridge, m)?)?;
    m.add_function(wrap_pyfunction!(published_offset, m)?)
}
