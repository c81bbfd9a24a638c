//! The relays' translations between public and internal topics, as Python callables
//! `name(message: bytes, offset: int) -> bytes` that raise ValueError on garbage.

use crate::codec::DecodeError;
use crate::relay;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

type Translate = fn(&[u8], i64) -> Result<Vec<u8>, DecodeError>;

/// A relay's translation, `(message: bytes, offset: int) -> bytes`, raising ValueError on
/// garbage; `RelayWriter.send` applies it to a whole batch without a Python call per message.
#[pyclass(module = "shop._core", name = "Translation", frozen)]
pub struct Translation {
    name: &'static str,
    translate: Translate,
}

impl Translation {
    pub fn apply(&self, message: &[u8], offset: i64) -> Result<Vec<u8>, DecodeError> {
        (self.translate)(message, offset)
    }
}

#[pymethods]
impl Translation {
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        message: &[u8],
        offset: i64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.apply(message, offset)?))
    }

    fn __repr__(&self) -> String {
        format!("<shop._core.{}>", self.name)
    }
}

const fn named(name: &'static str, translate: Translate) -> Translation {
    Translation { name, translate }
}

/// Each translation, by the name it has in the module (see contexts/relay.rs for what it does).
const TRANSLATIONS: [Translation; 7] = [
    named("pim_publish", relay::pim_publish),
    named("catalog_bridge", relay::catalog_bridge),
    named("fulfilment_publish", relay::fulfilment_publish),
    named("cms_publish", relay::cms_publish),
    named("checkout_pim_bridge", relay::checkout_pim_bridge),
    named(
        "checkout_fulfilment_bridge",
        relay::checkout_fulfilment_bridge,
    ),
    named(
        "fulfilment_checkout_bridge",
        relay::fulfilment_checkout_bridge,
    ),
];

/// Offset of the internal message a public message was published from. Raises ValueError on garbage.
#[pyfunction]
fn published_offset(message: &[u8]) -> PyResult<i64> {
    Ok(relay::published_offset(message)?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Translation>()?;
    for translation in TRANSLATIONS {
        m.add(translation.name, translation)?;
    }
    m.add_function(wrap_pyfunction!(published_offset, m)?)
}
