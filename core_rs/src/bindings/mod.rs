//! The Python face of the crate: one file per context, each class a subclass of `Projection`,
//! which holds what every projection offers (applying batches, the offset, snapshots) once.

pub mod catalog;
pub mod checkout;
pub mod content;
pub mod fulfilment;
pub mod relays;
pub mod search;

use crate::projection::{LoadError, Model, Poison, Projected, Projection};
use crate::snapshot::{self, Identity};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

create_exception!(
    _core,
    SnapshotError,
    PyValueError,
    "A snapshot that cannot be used: damaged, of another format version, or of another topic."
);

impl From<crate::codec::DecodeError> for PyErr {
    fn from(err: crate::codec::DecodeError) -> PyErr {
        PyValueError::new_err(err.0)
    }
}

/// Any projection: the base class of Catalog, Checkout, Content, Fulfilment and Search, and what `Feed.pump`
/// applies batches to.
#[pyclass(module = "shop._core", name = "Projection", subclass, frozen)]
pub struct PyProjection {
    pub(crate) projected: Arc<dyn Projected>,
}

/// A new projection of model `M`: the base class's part, and the typed handle its subclass keeps
/// for the model's own reads.
pub(crate) fn new_projection<M: Model>() -> (PyClassInitializer<PyProjection>, Arc<Projection<M>>)
where
    M::Op: Send + Sync,
{
    let projection = Arc::new(Projection::<M>::default());
    let projected: Arc<dyn Projected> = projection.clone();
    (
        PyClassInitializer::from(PyProjection { projected }),
        projection,
    )
}

fn identity(topic: String, topic_id: String, cluster_id: String) -> Identity {
    Identity {
        topic,
        topic_id,
        cluster_id,
    }
}

#[pymethods]
impl PyProjection {
    /// Applies a batch of (offset, message) in order, with the GIL released, and publishes it at
    /// once; returns the undecodable ones, (offset, why), which advanced the offset only.
    fn apply(&self, py: Python<'_>, batch: Vec<(i64, Bound<'_, PyBytes>)>) -> Poison {
        let raw: Vec<(i64, &[u8])> = batch.iter().map(|(o, b)| (*o, b.as_bytes())).collect();
        py.detach(|| self.projected.apply_raw(&raw))
    }

    /// Until offset `end` is applied, applies batches to one copy only and publishes them with
    /// the batch that reaches it (a load from nothing), or at once if what was applied so reaches
    /// a lowered `end`; ignored once anything is published.
    fn catch_up_to(&self, end: i64) {
        self.projected.catch_up_to(end);
    }

    /// Last applied offset of the projection's topic (-1 before the first).
    #[getter]
    fn offset(&self) -> i64 {
        self.projected.offset()
    }

    /// Counts of what the model holds, by kind.
    fn sizes(&self) -> HashMap<&'static str, usize> {
        self.projected.sizes().into_iter().collect()
    }

    /// True when `save_snapshot` suits the model (small enough to serialize into memory); else
    /// `write_snapshot` streams it.
    #[getter]
    fn snapshot_in_memory(&self) -> bool {
        self.projected.snapshot_in_memory()
    }

    /// The published state serialized into memory (with the GIL released), to be written to a
    /// file later, from any thread, while batches are applied.
    fn save_snapshot(
        &self,
        py: Python<'_>,
        topic: String,
        topic_id: String,
        cluster_id: String,
    ) -> SavedSnapshot {
        let identity = identity(topic, topic_id, cluster_id);
        let (offset, bytes) = py.detach(|| self.projected.save_snapshot(&identity));
        SavedSnapshot { offset, bytes }
    }

    /// Writes the published state to `path` atomically (temporary file, fsync, rename), with the
    /// GIL released; returns the offset it covers.
    fn write_snapshot(
        &self,
        py: Python<'_>,
        path: &str,
        topic: String,
        topic_id: String,
        cluster_id: String,
    ) -> PyResult<i64> {
        let identity = identity(topic, topic_id, cluster_id);
        Ok(py.detach(|| self.projected.write_snapshot(Path::new(path), &identity))?)
    }

    /// Loads the snapshot at `path` if it is whole, of this format and of this topic, and covers
    /// no offset past `end_offset`; returns the offset it covers. Raises SnapshotError (the state
    /// unchanged) or OSError otherwise.
    fn load_snapshot(
        &self,
        py: Python<'_>,
        path: &str,
        topic: String,
        topic_id: String,
        cluster_id: String,
        end_offset: i64,
    ) -> PyResult<i64> {
        let identity = identity(topic, topic_id, cluster_id);
        py.detach(|| {
            self.projected
                .load_snapshot(Path::new(path), &identity, end_offset)
        })
        .map_err(|err| match err {
            LoadError::Refused(why) => SnapshotError::new_err(why.0),
            LoadError::Io(err) => err.into(),
        })
    }
}

/// A snapshot serialized in memory, not yet on disk: the whole file, checksum included.
#[pyclass(module = "shop._core", name = "SavedSnapshot", frozen)]
pub struct SavedSnapshot {
    offset: i64,
    bytes: Vec<u8>,
}

#[pymethods]
impl SavedSnapshot {
    /// The offset the snapshot covers.
    #[getter]
    fn offset(&self) -> i64 {
        self.offset
    }

    /// Bytes of the file.
    fn __len__(&self) -> usize {
        self.bytes.len()
    }

    /// Writes the file to `path` atomically (temporary file, fsync, rename, fsync of the
    /// directory) with the GIL released.
    fn write(&self, py: Python<'_>, path: &str) -> PyResult<()> {
        py.detach(|| snapshot::persist(Path::new(path), &self.bytes))?;
        Ok(())
    }
}

/// Registers every class, exception and function of the module: the one list of what Python sees.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "KafkaClientError",
        py.get_type::<crate::kafka::KafkaClientError>(),
    )?;
    m.add("SnapshotError", py.get_type::<SnapshotError>())?;
    m.add_class::<SavedSnapshot>()?;
    m.add_class::<PyProjection>()?;
    m.add_class::<crate::signal::OffsetSignal>()?;
    m.add_class::<crate::kafka::Feed>()?;
    m.add_class::<crate::kafka::Commands>()?;
    m.add_class::<crate::kafka::RelayWriter>()?;
    m.add_class::<crate::kafka::RelayBatch>()?;
    catalog::register(m)?;
    checkout::register(m)?;
    content::register(m)?;
    fulfilment::register(m)?;
    search::register(m)?;
    relays::register(m)
}
