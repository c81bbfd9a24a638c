//! What every projection class shares: decode a batch with the GIL held, apply it to the two
//! copies with the GIL released, and publish the applied offset.

use crate::codec::DecodeError;
use crate::order_index::prefetch_lines;
use crate::snapshot::{self, Identity, Snapshot};
use crate::swap::{Apply, LeftRight};
use arc_swap::Guard;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

create_exception!(
    _core,
    SnapshotError,
    PyValueError,
    "A snapshot that cannot be used: damaged, of another format version, or of another topic."
);

/// Undecodable messages of a batch: (offset, why).
pub type Poison = Vec<(i64, String)>;

/// Each (offset, bytes) decoded into an op; an undecodable one becomes `poison(offset)` and is
/// listed with why.
fn decode_all<Op>(
    batch: &[(i64, &[u8])],
    decode: impl Fn(i64, &[u8]) -> Result<Op, DecodeError>,
    poison: impl Fn(i64) -> Op,
) -> (Vec<Op>, Poison) {
    const AHEAD: usize = 4;
    let mut failed = Vec::new();
    let ops = batch
        .iter()
        .enumerate()
        .map(|(i, (offset, bytes))| {
            // The messages lie all over the heap: the next ones start loading while this one
            // is decoded.
            if let Some((_, ahead)) = batch.get(i + AHEAD) {
                prefetch_lines(ahead.as_ptr(), ahead.len());
            }
            decode(*offset, bytes).unwrap_or_else(|err| {
                failed.push((*offset, err.0));
                poison(*offset)
            })
        })
        .collect();
    (ops, failed)
}

pub struct Projection<M: Apply> {
    model: LeftRight<M>,
    /// Offset of the published copy, readable without touching the model.
    offset: AtomicI64,
}

impl<M: Apply> Default for Projection<M> {
    fn default() -> Self {
        Projection {
            model: LeftRight::default(),
            offset: AtomicI64::new(-1),
        }
    }
}

impl<M: Apply> Projection<M>
where
    M::Op: Send + Sync,
    M: Send + Sync,
{
    /// Decodes each (offset, bytes) with the GIL held (the bytes are Python's), then applies
    /// them with it released; an undecodable one becomes `poison(offset)` (it advances the
    /// offset and changes nothing else) and is reported.
    pub fn apply(
        &self,
        py: Python<'_>,
        batch: &[(i64, Bound<'_, PyBytes>)],
        decode: impl Fn(i64, &[u8]) -> Result<M::Op, DecodeError>,
        poison: impl Fn(i64) -> M::Op,
    ) -> Poison {
        let raw: Vec<(i64, &[u8])> = batch.iter().map(|(o, b)| (*o, b.as_bytes())).collect();
        let (ops, failed) = decode_all(&raw, decode, poison);
        if let Some((last, _)) = raw.last() {
            py.detach(|| self.publish(ops, *last));
        }
        failed
    }

    /// As `apply`, for bytes that are not Python's: from a thread that does not hold the GIL.
    pub fn apply_raw(
        &self,
        batch: &[(i64, &[u8])],
        decode: impl Fn(i64, &[u8]) -> Result<M::Op, DecodeError>,
        poison: impl Fn(i64) -> M::Op,
    ) -> Poison {
        let (ops, failed) = decode_all(batch, decode, poison);
        if let Some((last, _)) = batch.last() {
            self.publish(ops, *last);
        }
        failed
    }

    fn publish(&self, ops: Vec<M::Op>, last: i64) {
        self.model.write(ops);
        self.offset.store(last, Ordering::Release);
    }

    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Acquire)
    }

    pub fn read(&self) -> Guard<Arc<M>> {
        self.model.read()
    }
}

impl<M: Apply + Snapshot> Projection<M>
where
    M::Op: Send + Sync,
    M: Send + Sync,
{
    /// Writes the published copy to `path` (atomically, with the GIL released), streaming it;
    /// returns the offset it covers. It holds the copy it saves until the file is synced, and the
    /// batch after next waits for that copy: call it from the thread that applies batches, for a
    /// model too large to serialize into memory (`save_snapshot` holds the copy for less).
    pub fn write_snapshot(&self, py: Python<'_>, path: &str, identity: Identity) -> PyResult<i64> {
        let model = self.model.read_full();
        py.detach(|| {
            snapshot::write(Path::new(path), &identity, &*model)?;
            Ok(model.offset())
        })
    }

    /// Serializes the published copy into memory (with the GIL released) and lets go of it: the
    /// batch after next would wait for it. Writing the bytes to a file is left to the caller,
    /// which may do it from another thread while batches go on.
    pub fn save_snapshot(&self, py: Python<'_>, identity: Identity) -> SavedSnapshot {
        let model = self.model.read_full();
        py.detach(move || SavedSnapshot {
            offset: model.offset(),
            bytes: snapshot::serialize(&identity, &*model),
        })
    }

    /// Publishes the snapshot at `path` (the second copy follows at the next batch) if it is valid
    /// for `identity` and covers no offset past `end_offset`; returns the offset it covers. Raises
    /// SnapshotError (and changes nothing) otherwise. Only a projection that applied nothing yet
    /// can load one.
    pub fn load_snapshot(
        &self,
        py: Python<'_>,
        path: &str,
        identity: Identity,
        end_offset: i64,
    ) -> PyResult<i64> {
        if self.offset() >= 0 {
            return Err(SnapshotError::new_err(
                "the projection has applied events already",
            ));
        }
        let model = py.detach(|| {
            let file = std::fs::File::open(path)?;
            // SAFETY: a snapshot file is never changed in place (the next one is written beside
            // it and renamed over it), so the mapped bytes stay as they are while they are read.
            let bytes = unsafe { memmap2::Mmap::map(&file)? };
            snapshot::read::<M>(&bytes, &identity, end_offset)
                .map_err(|err| SnapshotError::new_err(err.0))
        })?;
        let offset = model.offset();
        py.detach(|| self.model.install(model));
        self.offset.store(offset, Ordering::Release);
        Ok(offset)
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
