//! Checkout and fulfilment as Python classes.

use crate::checkout::{self, Checkout, Effect, Outcome};
use crate::checkout_view;
use crate::feed::Consume;
use crate::fulfilment::{self, Fulfilment};
use crate::projection::{Poison, Projection, SavedSnapshot};
use crate::relay;
use crate::snapshot::Identity;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::HashMap;

fn checkout_poison(offset: i64) -> checkout::Op {
    checkout::Op {
        offset,
        pim_offset: None,
        fulfilment_offset: None,
        effect: Effect::Poison,
    }
}

fn fulfilment_poison(offset: i64) -> fulfilment::Op {
    fulfilment::Op {
        offset,
        effect: fulfilment::Effect::Poison,
    }
}

impl Consume for PyCheckout {
    fn apply_raw(&self, batch: &[(i64, &[u8])]) -> Poison {
        self.projection
            .apply_raw(batch, checkout::decode, checkout_poison)
    }
}

impl Consume for PyFulfilment {
    fn apply_raw(&self, batch: &[(i64, &[u8])]) -> Poison {
        self.projection
            .apply_raw(batch, fulfilment::decode, fulfilment_poison)
    }
}

#[pyclass(module = "shop._core", name = "Checkout", frozen)]
#[derive(Default)]
pub struct PyCheckout {
    projection: Projection<Checkout>,
}

#[pymethods]
impl PyCheckout {
    #[new]
    fn new() -> Self {
        PyCheckout::default()
    }

    /// Applies a batch of (offset, checkout_internal message); decisions are taken here.
    fn apply(&self, py: Python<'_>, batch: Vec<(i64, Bound<'_, PyBytes>)>) -> Poison {
        self.projection
            .apply(py, &batch, checkout::decode, checkout_poison)
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
        let identity = Identity {
            topic,
            topic_id,
            cluster_id,
        };
        self.projection.save_snapshot(py, identity)
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
        let identity = Identity {
            topic,
            topic_id,
            cluster_id,
        };
        self.projection.write_snapshot(py, path, identity)
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
        let identity = Identity {
            topic,
            topic_id,
            cluster_id,
        };
        self.projection
            .load_snapshot(py, path, identity, end_offset)
    }

    #[getter]
    fn offset(&self) -> i64 {
        self.projection.offset()
    }

    #[getter]
    fn pim_offset(&self) -> i64 {
        self.projection.read().pim_offset()
    }

    #[getter]
    fn fulfilment_offset(&self) -> i64 {
        self.projection.read().fulfilment_offset()
    }

    /// The cart as JSON or protobuf `shop.checkout.Cart`; an unknown cart is empty at version 0.
    #[pyo3(signature = (cart_id, protobuf = false))]
    fn cart<'py>(&self, py: Python<'py>, cart_id: &str, protobuf: bool) -> Bound<'py, PyBytes> {
        let model = self.projection.read();
        let cart = model.cart(cart_id);
        let body = if protobuf {
            checkout_view::cart_protobuf(&model, cart)
        } else {
            checkout_view::cart_json(&model, cart)
        };
        PyBytes::new(py, &body)
    }

    fn cart_version(&self, cart_id: &str) -> i64 {
        self.projection
            .read()
            .cart(cart_id)
            .map_or(0, |c| c.version)
    }

    /// True once the cart was ordered: it takes no more changes.
    fn cart_ordered(&self, cart_id: &str) -> bool {
        self.projection
            .read()
            .cart(cart_id)
            .is_some_and(|c| c.ordered)
    }

    /// "enabled", "disabled" or None for an unknown product.
    fn product_state(&self, product_id: &str) -> Option<&'static str> {
        let model = self.projection.read();
        model
            .product(product_id)
            .map(|p| if p.disabled { "disabled" } else { "enabled" })
    }

    /// An accepted order, to a cart of the shopper who placed it only.
    #[pyo3(signature = (order_id, cart_id, protobuf = false))]
    fn order<'py>(
        &self,
        py: Python<'py>,
        order_id: &str,
        cart_id: &str,
        protobuf: bool,
    ) -> Option<Bound<'py, PyBytes>> {
        let model = self.projection.read();
        let order = model.order(order_id)?;
        if model.cart(cart_id)?.owner != order.owner {
            return None;
        }
        let body = if protobuf {
            checkout_view::order_protobuf(order_id, order)
        } else {
            checkout_view::order_json(order_id, order)
        };
        Some(PyBytes::new(py, &body))
    }

    /// The decision on an OrderPlaced: (status or reason, product ids concerned); None if unknown.
    fn outcome(&self, order_id: &str) -> Option<(String, Vec<String>)> {
        let model = self.projection.read();
        let outcome = model.outcome(order_id)?;
        Some(match outcome {
            Outcome::Accepted => {
                let status = model
                    .order(order_id)
                    .map_or("accepted", |o| o.status.name());
                (status.to_owned(), Vec::new())
            }
            Outcome::Ordered => ("ordered".to_owned(), Vec::new()),
            Outcome::Version => ("version".to_owned(), Vec::new()),
            Outcome::Empty => ("empty".to_owned(), Vec::new()),
            Outcome::Unavailable(ids) => ("unavailable".to_owned(), ids.clone()),
            Outcome::Stock(ids) => ("stock".to_owned(), ids.clone()),
        })
    }

    /// Counts of what the model holds, by kind (products, stock_levels, carts, orders).
    fn sizes(&self) -> HashMap<&'static str, usize> {
        self.projection.read().sizes().into_iter().collect()
    }

    /// (on hand, reserved, available) of a product.
    fn stock(&self, product_id: &str) -> (i64, i64, i64) {
        let model = self.projection.read();
        (
            model.on_hand(product_id),
            model.reserved(product_id),
            model.available(product_id),
        )
    }

    /// The checkout_pub message for the order accepted at `offset`, if one was.
    fn order_created<'py>(&self, py: Python<'py>, offset: i64) -> Option<Bound<'py, PyBytes>> {
        let model = self.projection.read();
        let (id, order) = model.order_accepted_at(offset)?;
        Some(PyBytes::new(py, &relay::order_created(id, order, offset)))
    }
}

#[pyclass(module = "shop._core", name = "Fulfilment", frozen)]
#[derive(Default)]
pub struct PyFulfilment {
    projection: Projection<Fulfilment>,
}

#[pymethods]
impl PyFulfilment {
    #[new]
    fn new() -> Self {
        PyFulfilment::default()
    }

    fn apply(&self, py: Python<'_>, batch: Vec<(i64, Bound<'_, PyBytes>)>) -> Poison {
        self.projection
            .apply(py, &batch, fulfilment::decode, fulfilment_poison)
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
        let identity = Identity {
            topic,
            topic_id,
            cluster_id,
        };
        self.projection.save_snapshot(py, identity)
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
        let identity = Identity {
            topic,
            topic_id,
            cluster_id,
        };
        self.projection.write_snapshot(py, path, identity)
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
        let identity = Identity {
            topic,
            topic_id,
            cluster_id,
        };
        self.projection
            .load_snapshot(py, path, identity, end_offset)
    }

    #[getter]
    fn offset(&self) -> i64 {
        self.projection.offset()
    }

    #[getter]
    fn checkout_offset(&self) -> i64 {
        self.projection.read().checkout_offset()
    }

    fn on_hand(&self, product_id: &str) -> i64 {
        self.projection.read().on_hand().get(product_id)
    }

    /// Counts of what the model holds, by kind (stock_levels, shipped_orders).
    fn sizes(&self) -> HashMap<&'static str, usize> {
        self.projection.read().sizes().into_iter().collect()
    }

    /// Every product's on-hand stock.
    fn stock(&self) -> HashMap<String, i64> {
        let model = self.projection.read();
        model
            .on_hand()
            .iter()
            .map(|(id, units)| (id.clone(), *units))
            .collect()
    }

    /// None if the order was not shipped; else whether it shipped in full.
    fn shipped(&self, order_id: &str) -> Option<bool> {
        self.projection.read().shipped(order_id)
    }
}
