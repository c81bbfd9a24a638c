//! The relays' translations between public and internal topics, as Python callables
//! `name(message: bytes, offset: int) -> bytes` that raise ValueError on garbage.

use crate::codec::{DecodeError, FieldReader};
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

/// A relay's translation for a topic of which it wants only some events: `translate` (any
/// translation) is called for a message that holds one of the top-level fields `events` (the
/// oneof's numbers of the wanted events), or that is not well-formed protobuf (`translate` then
/// refuses it); any other message is relayed as nothing, without a Python call. The notifications
/// read every stock change of fulfilment_pub for its shipments: a million calls in a first start.
#[pyclass(module = "shop._core", name = "OnlyEvents", frozen)]
pub struct OnlyEvents {
    events: Vec<u32>,
    pub(crate) translate: Py<PyAny>,
}

impl OnlyEvents {
    /// Whether `message` goes to `translate`: it holds a wanted event, or it is not well-formed.
    pub fn wants(&self, message: &[u8]) -> bool {
        let mut fields = FieldReader::new(message);
        let wanted = fields
            .by_ref()
            .any(|(number, _)| self.events.contains(&number));
        wanted || !fields.at_end()
    }
}

#[pymethods]
impl OnlyEvents {
    #[new]
    fn new(events: Vec<u32>, translate: Py<PyAny>) -> Self {
        OnlyEvents { events, translate }
    }

    fn __call__(&self, py: Python<'_>, message: &[u8], offset: i64) -> PyResult<Py<PyAny>> {
        if !self.wants(message) {
            return Ok(py.None());
        }
        self.translate
            .call1(py, (PyBytes::new(py, message), offset))
    }

    fn __repr__(&self) -> String {
        format!("<shop._core.OnlyEvents {:?}>", self.events)
    }
}

/// Offset of the internal message a public message was published from. Raises ValueError on garbage.
#[pyfunction]
fn published_offset(message: &[u8]) -> PyResult<i64> {
    Ok(relay::published_offset(message)?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Translation>()?;
    m.add_class::<OnlyEvents>()?;
    for translation in TRANSLATIONS {
        m.add(translation.name, translation)?;
    }
    m.add_function(wrap_pyfunction!(published_offset, m)?)
}
