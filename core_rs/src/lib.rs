//! core_rs: the hot path of Event Thingy Store, built as the Python extension `shop._core`.
//!
//! By area: `contexts/` holds the models (one module per bounded context) and the relays'
//! translations; `projection` keeps a model up to date over the wait-free `swap`, with
//! `snapshot`s; `signal` tells waiters what is applied; `kafka/` consumes topics into projections
//! and produces the shoppers' commands; `bindings/` is the Python face, one file per context.
//! See docs/architecture.md for the data paths through them.

pub mod bindings;
pub mod codec;
pub mod contexts;
pub mod json;
pub mod kafka;
pub mod order_index;
pub mod projection;
pub mod query;
pub mod signal;
pub mod snapshot;
pub mod swap;
mod sync;

pub use contexts::{catalog, checkout, content, fulfilment, relay, search, stock};

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    bindings::register(m)
}
