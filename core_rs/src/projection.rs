//! What every projection class shares: decode a batch with the GIL held, apply it to the two
//! copies with the GIL released, and publish the applied offset.

use crate::codec::DecodeError;
use crate::swap::{Apply, LeftRight};
use arc_swap::Guard;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Undecodable messages of a batch: (offset, why).
pub type Poison = Vec<(i64, String)>;

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
    /// Decodes each (offset, bytes); an undecodable one becomes `poison(offset)` (it advances the
    /// offset and changes nothing else) and is reported.
    pub fn apply(
        &self,
        py: Python<'_>,
        batch: &[(i64, Bound<'_, PyBytes>)],
        decode: impl Fn(i64, &[u8]) -> Result<M::Op, DecodeError>,
        poison: impl Fn(i64) -> M::Op,
    ) -> Poison {
        let mut failed = Vec::new();
        let ops: Vec<M::Op> = batch
            .iter()
            .map(|(offset, bytes)| {
                decode(*offset, bytes.as_bytes()).unwrap_or_else(|err| {
                    failed.push((*offset, err.0));
                    poison(*offset)
                })
            })
            .collect();
        let Some((last, _)) = batch.last() else {
            return failed;
        };
        py.detach(|| self.model.write(ops));
        self.offset.store(*last, Ordering::Release);
        failed
    }

    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Acquire)
    }

    pub fn read(&self) -> Guard<Arc<M>> {
        self.model.read()
    }
}
