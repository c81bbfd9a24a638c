//! Checkout as a Python class. Every answer to a shopper is read from one published copy, so its
//! version, offset and body always agree.

use super::{new_projection, PyProjection};
use crate::checkout::{view, Checkout, Decision, Fate, MAX_QUANTITY};
use crate::projection::Projection;
use crate::relay;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Arc;

/// A cart as answered: (why the command at `written_at` changed nothing, or None; the cart's
/// version; the offset of the copy read; the body).
type CartAnswer<'py> = (Option<&'static str>, i64, i64, Bound<'py, PyBytes>);

/// An order as answered to its shopper: (the offset of the copy read; its status, or why it was
/// refused; the products concerned; the body, None unless accepted).
type OrderAnswer<'py> = (i64, String, Vec<String>, Option<Bound<'py, PyBytes>>);

#[pyclass(module = "shop._core", name = "Checkout", extends = PyProjection, frozen)]
pub struct PyCheckout {
    projection: Arc<Projection<Checkout>>,
}

#[pymethods]
impl PyCheckout {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        let (base, projection) = new_projection::<Checkout>();
        base.add_subclass(PyCheckout { projection })
    }

    /// Last applied pim_pub offset: the pim bridge resumes after it.
    #[getter]
    fn pim_offset(&self) -> i64 {
        self.projection.read().pim_offset()
    }

    /// Last applied fulfilment_pub offset: the fulfilment bridge resumes after it.
    #[getter]
    fn fulfilment_offset(&self) -> i64 {
        self.projection.read().fulfilment_offset()
    }

    /// The cart as JSON or protobuf `shop.checkout.Cart`; an unknown cart is empty at version 0.
    #[pyo3(signature = (cart_id, protobuf = false))]
    fn cart<'py>(&self, py: Python<'py>, cart_id: &str, protobuf: bool) -> Bound<'py, PyBytes> {
        let model = self.projection.read();
        PyBytes::new(py, &cart_body(&model, cart_id, protobuf))
    }

    /// The cart with its version and the offset it was read at, all from one copy; with
    /// `written_at`, also the fate of the CartItemSet applied at that offset: None when it was
    /// applied, the refusal's name ("quantity", "not-for-sale", "ordered"), or "forgotten".
    #[pyo3(signature = (cart_id, protobuf = false, written_at = None))]
    fn cart_answer<'py>(
        &self,
        py: Python<'py>,
        cart_id: &str,
        protobuf: bool,
        written_at: Option<i64>,
    ) -> CartAnswer<'py> {
        let model = self.projection.read();
        let refused = written_at.and_then(|offset| match model.fate(offset) {
            Fate::Applied => None,
            Fate::Refused(refusal) => Some(refusal.name()),
            Fate::Forgotten => Some("forgotten"),
        });
        let version = model.cart(cart_id).map_or(0, |c| c.version);
        let body = PyBytes::new(py, &cart_body(&model, cart_id, protobuf));
        (refused, version, model.offset(), body)
    }

    /// For a stream that showed the cart at `shown_version`: (ordered, version, the body if the
    /// version differs), from one copy.
    fn cart_change<'py>(
        &self,
        py: Python<'py>,
        cart_id: &str,
        shown_version: i64,
    ) -> (bool, i64, Option<Bound<'py, PyBytes>>) {
        let model = self.projection.read();
        let cart = model.cart(cart_id);
        let (ordered, version) = cart.map_or((false, 0), |c| (c.ordered, c.version));
        let body = (version != shown_version && !ordered)
            .then(|| PyBytes::new(py, &cart_body(&model, cart_id, false)));
        (ordered, version, body)
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

    /// Why setting this quantity would be refused now (as `cart_answer` names it), or None. A
    /// check before producing; the command's own fate is decided when it is applied.
    fn item_refusal(&self, cart_id: &str, product_id: &str, quantity: i64) -> Option<&'static str> {
        let model = self.projection.read();
        model
            .refusal(cart_id, product_id, quantity)
            .map(|r| r.name())
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
        order_body(&model, order_id, cart_id, protobuf).map(|body| PyBytes::new(py, &body))
    }

    /// (the offset of the copy read, the order as `order` answers it) from one copy.
    #[pyo3(signature = (order_id, cart_id, protobuf = false))]
    fn order_answer<'py>(
        &self,
        py: Python<'py>,
        order_id: &str,
        cart_id: &str,
        protobuf: bool,
    ) -> (i64, Option<Bound<'py, PyBytes>>) {
        let model = self.projection.read();
        let body = order_body(&model, order_id, cart_id, protobuf);
        (model.offset(), body.map(|body| PyBytes::new(py, &body)))
    }

    /// The decision on an OrderPlaced: (status or reason, product ids concerned); None if unknown.
    fn outcome(&self, order_id: &str) -> Option<(String, Vec<String>)> {
        let model = self.projection.read();
        Some(decision_names(&model, order_id, model.decision(order_id)?))
    }

    /// The decision on an OrderPlaced with the order as its shopper sees it, from one copy; None
    /// if no decision on it was applied.
    #[pyo3(signature = (order_id, cart_id, protobuf = false))]
    fn decision_answer<'py>(
        &self,
        py: Python<'py>,
        order_id: &str,
        cart_id: &str,
        protobuf: bool,
    ) -> Option<OrderAnswer<'py>> {
        let model = self.projection.read();
        let (status, products) = decision_names(&model, order_id, model.decision(order_id)?);
        let body = order_body(&model, order_id, cart_id, protobuf);
        let body = body.map(|body| PyBytes::new(py, &body));
        Some((model.offset(), status, products, body))
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

fn cart_body(model: &Checkout, cart_id: &str, protobuf: bool) -> Vec<u8> {
    let cart = model.cart(cart_id);
    if protobuf {
        view::cart_protobuf(model, cart)
    } else {
        view::cart_json(model, cart)
    }
}

/// The order's body, if it exists and `cart_id` is a cart of the shopper who placed it.
fn order_body(model: &Checkout, order_id: &str, cart_id: &str, protobuf: bool) -> Option<Vec<u8>> {
    let order = model.order(order_id)?;
    if model.cart(cart_id)?.owner != order.owner {
        return None;
    }
    Some(if protobuf {
        view::order_protobuf(order_id, order)
    } else {
        view::order_json(order_id, order)
    })
}

fn decision_names(model: &Checkout, order_id: &str, decision: &Decision) -> (String, Vec<String>) {
    let (name, products) = match decision {
        Decision::Accepted => {
            let status = model
                .order(order_id)
                .map_or("accepted", |o| o.status.name());
            (status, &[][..])
        }
        Decision::Ordered => ("ordered", &[][..]),
        Decision::Version => ("version", &[][..]),
        Decision::Empty => ("empty", &[][..]),
        Decision::Unavailable(ids) => ("unavailable", &ids[..]),
        Decision::Stock(ids) => ("stock", &ids[..]),
    };
    (name.to_owned(), products.to_vec())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MAX_QUANTITY", MAX_QUANTITY)?;
    m.add_class::<PyCheckout>()
}
