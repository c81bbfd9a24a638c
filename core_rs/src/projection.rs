//! A projection: a model kept by applying its topic's events to two copies (`swap.rs`), with the
//! offset it has applied and its snapshots. `Projected` is what the Kafka feed and the Python
//! bindings need of any projection, whatever its model, so neither knows the concrete classes.

use crate::codec::DecodeError;
use crate::order_index::prefetch_lines;
use crate::snapshot::{self, Identity, Snapshot, SnapshotError};
use crate::swap::{Apply, LeftRight};
use arc_swap::Guard;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Undecodable messages of a batch: (offset, why).
pub type Poison = Vec<(i64, String)>;

/// A projection's state: built only by applying the events of its topic, in order.
pub trait Model: Apply + Snapshot + Send + Sync + 'static
where
    Self::Op: Send + Sync,
{
    /// Whether a snapshot of the published copy is small enough to be serialized into memory
    /// (holding the copy for less time) rather than streamed to its file.
    const SNAPSHOT_IN_MEMORY: bool;

    /// One message of the topic as an operation.
    fn decode(offset: i64, bytes: &[u8]) -> Result<Self::Op, DecodeError>;

    /// Starts loading what decoding the message `bytes` reads besides them, without waiting:
    /// called a few messages before it is decoded. Nothing, unless a model says what.
    fn prefetch(_bytes: &[u8]) {}

    /// What an undecodable message becomes: it advances the offset and changes nothing else.
    fn poison(offset: i64) -> Self::Op;

    /// How many items of each kind the model holds (for metrics and snapshot sizes).
    fn sizes(&self) -> Vec<(&'static str, usize)>;
}

/// Any projection, as the feed and the bindings see it.
pub trait Projected: Send + Sync {
    /// Decodes and applies a batch of (offset, message) in order and publishes it; returns the
    /// poison met.
    fn apply_raw(&self, batch: &[(i64, &[u8])]) -> Poison;
    /// The offset of the published copy (-1 before any).
    fn offset(&self) -> i64;
    /// Until offset `end` is applied, applies each batch to one copy only and publishes none (the
    /// batch that reaches `end` publishes them all): a projection loading its topic from nothing,
    /// not ready until loaded, whose readers meanwhile see it empty. Called again with a lower
    /// end (a first start holds with `i64::MAX` until its bridges know theirs), it publishes at
    /// once what was applied if that reaches the new end. Ignored once anything is published
    /// (after a snapshot the second copy is one clone; catching up alone would add one).
    fn catch_up_to(&self, end: i64);
    fn sizes(&self) -> Vec<(&'static str, usize)>;
    fn snapshot_in_memory(&self) -> bool;
    /// Streams the published copy to `path` atomically; returns the offset it covers.
    fn write_snapshot(&self, path: &Path, identity: &Identity) -> io::Result<i64>;
    /// Serializes the published copy into memory: (offset, the whole file).
    fn save_snapshot(&self, identity: &Identity) -> (i64, Vec<u8>);
    /// Publishes the snapshot at `path` if it is valid for `identity` and covers no offset past
    /// `end_offset`; returns the offset it covers.
    fn load_snapshot(&self, path: &Path, identity: &Identity, end_offset: i64) -> LoadResult;
}

/// Why a snapshot was not loaded: unusable (the caller replays the topic), or unreadable.
pub enum LoadError {
    Refused(SnapshotError),
    Io(io::Error),
}

pub type LoadResult = Result<i64, LoadError>;

pub struct Projection<M: Model>
where
    M::Op: Send + Sync,
{
    model: LeftRight<M>,
    /// Offset of the published copy, readable without touching the model.
    offset: AtomicI64,
    /// Batches ending before it are applied to one copy, unpublished (`catch_up_to`).
    catch_up_end: AtomicI64,
    /// The last offset so applied (-1 before any).
    alone_offset: AtomicI64,
}

impl<M: Model> Default for Projection<M>
where
    M::Op: Send + Sync,
{
    fn default() -> Self {
        Projection {
            model: LeftRight::default(),
            offset: AtomicI64::new(-1),
            catch_up_end: AtomicI64::new(-1),
            alone_offset: AtomicI64::new(-1),
        }
    }
}

impl<M: Model> Projection<M>
where
    M::Op: Send + Sync,
{
    /// The published copy. Hold the guard for one read only: every answer built from one guard
    /// shows one state.
    pub fn read(&self) -> Guard<Arc<M>> {
        self.model.read()
    }
}

/// Each (offset, bytes) decoded into an op; an undecodable one becomes `M::poison(offset)` and is
/// listed with why.
fn decode_all<M: Model>(batch: &[(i64, &[u8])]) -> (Vec<M::Op>, Poison)
where
    M::Op: Send + Sync,
{
    const BYTES_AHEAD: usize = 8;
    const DECODE_AHEAD: usize = 4;
    let mut failed = Vec::new();
    let ops = batch
        .iter()
        .enumerate()
        .map(|(i, (offset, bytes))| {
            // The messages lie all over the heap: the next ones start loading while this one
            // is decoded, and once loaded, what decoding them will read.
            if let Some((_, ahead)) = batch.get(i + BYTES_AHEAD) {
                prefetch_lines(ahead.as_ptr(), ahead.len());
            }
            if let Some((_, ahead)) = batch.get(i + DECODE_AHEAD) {
                M::prefetch(ahead);
            }
            M::decode(*offset, bytes).unwrap_or_else(|err| {
                failed.push((*offset, err.0));
                M::poison(*offset)
            })
        })
        .collect();
    (ops, failed)
}

impl<M: Model> Projected for Projection<M>
where
    M::Op: Send + Sync,
{
    fn apply_raw(&self, batch: &[(i64, &[u8])]) -> Poison {
        let (ops, failed) = decode_all::<M>(batch);
        if let Some(&(last, _)) = batch.last() {
            if last < self.catch_up_end.load(Ordering::Relaxed) {
                self.model.write_alone(ops);
                self.alone_offset.store(last, Ordering::Relaxed);
            } else {
                self.model.write(ops);
                self.offset.store(last, Ordering::Release);
            }
        }
        failed
    }

    fn offset(&self) -> i64 {
        self.offset.load(Ordering::Acquire)
    }

    fn catch_up_to(&self, end: i64) {
        if self.offset() >= 0 {
            return;
        }
        self.catch_up_end.store(end, Ordering::Relaxed);
        let alone = self.alone_offset.load(Ordering::Relaxed);
        if alone >= 0 && alone >= end {
            self.model.write(Vec::new());
            self.offset.store(alone, Ordering::Release);
        }
    }

    fn sizes(&self) -> Vec<(&'static str, usize)> {
        self.read().sizes()
    }

    fn snapshot_in_memory(&self) -> bool {
        M::SNAPSHOT_IN_MEMORY
    }

    /// Holds the copy it saves until the file is synced, and the batch after next waits for that
    /// copy: for a model too large to serialize into memory.
    fn write_snapshot(&self, path: &Path, identity: &Identity) -> io::Result<i64> {
        let model = self.model.read_full();
        snapshot::write(path, identity, &*model)?;
        Ok(model.offset())
    }

    /// Lets go of the copy once serialized: writing the bytes to a file is left to the caller,
    /// which may do it from another thread while batches go on.
    fn save_snapshot(&self, identity: &Identity) -> (i64, Vec<u8>) {
        let model = self.model.read_full();
        (model.offset(), snapshot::serialize(identity, &*model))
    }

    /// Only a projection that applied nothing yet can load one; the second copy follows at the
    /// next batch.
    fn load_snapshot(&self, path: &Path, identity: &Identity, end_offset: i64) -> LoadResult {
        if self.offset() >= 0 {
            let why = "the projection has applied events already";
            return Err(LoadError::Refused(SnapshotError(why.into())));
        }
        let file = std::fs::File::open(path).map_err(LoadError::Io)?;
        // SAFETY: a snapshot file is never changed in place (the next one is written beside it
        // and renamed over it), so the mapped bytes stay as they are while they are read.
        let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(LoadError::Io)?;
        let model =
            snapshot::read::<M>(&bytes, identity, end_offset).map_err(LoadError::Refused)?;
        let offset = model.offset();
        self.model.install(model);
        self.offset.store(offset, Ordering::Release);
        Ok(offset)
    }
}
