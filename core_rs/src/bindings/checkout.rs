//! Checkout as a Python class. Every answer to a shopper is read from one published copy, so its
//! version, offset and body always agree.

use super::{new_projection, PyProjection};
use crate::checkout::{view, Cart, Checkout, Decision, Fate, MAX_QUANTITY};
use crate::projection::Projection;
use crate::relay;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Arc;

/// A cart as one published copy shows it.
#[pyclass(module = "shop._core", frozen, get_all)]
pub struct CartView {
    /// Why the CartItemSet applied at the offset asked about changed nothing (None: it changed
    /// the cart, or none was asked about).
    refusal: Option<&'static str>,
    version: i64,
    /// The offset of the copy read.
    offset: i64,
    body: Py<PyBytes>,
    /// Once the cart was ordered: its order, and the shopper's next cart.
    order_id: Option<String>,
    next_cart_id: Option<String>,
}

/// The decision on an OrderPlaced as one published copy shows it.
#[pyclass(module = "shop._core", frozen, get_all)]
pub struct OrderDecision {
    /// The offset of the copy read.
    offset: i64,
    /// The order's status once accepted, else why it was refused.
    status: String,
    /// The products a refusal concerns.
    products: Vec<String>,
    /// The order as its shopper sees it, None unless accepted.
    body: Option<Py<PyBytes>>,
    /// For a cart ordered already ("ordered"): that order, and the shopper's next cart.
    order_id: Option<String>,
    next_cart_id: Option<String>,
}

fn ordered_ids(cart: Option<&Cart>) -> (Option<String>, Option<String>) {
    match cart.and_then(|c| c.ordered.as_ref()) {
        Some(o) => (Some(o.order_id.clone()), Some(o.next_cart_id.clone())),
        None => (None, None),
    }
}

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
        PyBytes::new(py, &cart_body(&model, model.cart(cart_id), protobuf))
    }

    /// The cart from one copy; with `written_at`, also the fate of the CartItemSet applied at
    /// that offset: its refusal's name ("quantity", "not-for-sale", "ordered", "not-in-cart"), or
    /// "forgotten" when too many refusals came after it to tell.
    #[pyo3(signature = (cart_id, protobuf = false, written_at = None))]
    fn cart_answer(
        &self,
        py: Python<'_>,
        cart_id: &str,
        protobuf: bool,
        written_at: Option<i64>,
    ) -> CartView {
        let model = self.projection.read();
        let refusal = written_at.and_then(|offset| match model.fate(offset) {
            Fate::Applied => None,
            Fate::Refused(refusal) => Some(refusal.name()),
            Fate::Forgotten => Some("forgotten"),
        });
        let cart = model.cart(cart_id);
        let (order_id, next_cart_id) = ordered_ids(cart);
        CartView {
            refusal,
            version: cart.map_or(0, |c| c.version),
            offset: model.offset(),
            body: PyBytes::new(py, &cart_body(&model, cart, protobuf)).unbind(),
            order_id,
            next_cart_id,
        }
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
        let (ordered, version) = cart.map_or((false, 0), |c| (c.ordered.is_some(), c.version));
        let body = (version != shown_version && !ordered)
            .then(|| PyBytes::new(py, &cart_body(&model, cart, false)));
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
            .is_some_and(|c| c.ordered.is_some())
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
            .map(|_| match model.disabled(product_id) {
                true => "disabled",
                false => "enabled",
            })
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

    /// The decision on the OrderPlaced of `order_id` for `cart_id`, with the order as its
    /// shopper sees it, from one copy; None if no decision on it was applied.
    #[pyo3(signature = (order_id, cart_id, protobuf = false))]
    fn decision_answer(
        &self,
        py: Python<'_>,
        order_id: &str,
        cart_id: &str,
        protobuf: bool,
    ) -> Option<OrderDecision> {
        let model = self.projection.read();
        let decision = model.decision(order_id)?;
        let (status, products) = decision_names(&model, order_id, decision);
        let body = order_body(&model, order_id, cart_id, protobuf);
        let (earlier, next_cart_id) = match decision {
            Decision::Ordered => ordered_ids(model.cart(cart_id)),
            _ => (None, None),
        };
        Some(OrderDecision {
            offset: model.offset(),
            status,
            products,
            body: body.map(|body| PyBytes::new(py, &body).unbind()),
            order_id: earlier,
            next_cart_id,
        })
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

    /// JSON {"items": [{"product_id", "available"}]}: the units each product has for sale, all
    /// from one copy.
    fn stock_levels<'py>(&self, py: Python<'py>, product_ids: Vec<String>) -> Bound<'py, PyBytes> {
        let model = self.projection.read();
        PyBytes::new(
            py,
            &view::stock_json(&model, product_ids.iter().map(String::as_str)),
        )
    }

    /// The sealed shopper details of an order (a serialized `shoppers.Sealed`; empty when none
    /// were given), or None for an unknown order. Opened by the caller, who holds the keys.
    fn order_shopper<'py>(&self, py: Python<'py>, order_id: &str) -> Option<Bound<'py, PyBytes>> {
        let model = self.projection.read();
        Some(PyBytes::new(py, &model.order(order_id)?.shopper))
    }

    /// The fulfilment_pub offset of the shipment that decided the order's status (-1 while it is
    /// accepted); None for an unknown order.
    fn shipped_at(&self, order_id: &str) -> Option<i64> {
        Some(self.projection.read().order(order_id)?.shipped_at)
    }

    /// (status, the order's JSON as its shopper sees it, the sealed shopper) of an order, for
    /// whoever writes to the shopper (notification); None for an unknown order.
    fn order_notice<'py>(
        &self,
        py: Python<'py>,
        order_id: &str,
    ) -> Option<(&'static str, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let model = self.projection.read();
        let order = model.order(order_id)?;
        Some((
            order.status.name(),
            PyBytes::new(py, &view::order_json(order_id, order)),
            PyBytes::new(py, &order.shopper),
        ))
    }

    /// The checkout_pub message for the order accepted at `offset`, if one was.
    fn order_created<'py>(&self, py: Python<'py>, offset: i64) -> Option<Bound<'py, PyBytes>> {
        Some(PyBytes::new(py, &order_created(&self.projection, offset)?))
    }

    /// Checkout's publisher's translation (see `OrdersPublished`).
    fn orders_published(&self) -> OrdersPublished {
        OrdersPublished {
            projection: Arc::clone(&self.projection),
        }
    }
}

/// The checkout_pub message for the order the published copy accepted at `offset`, if one was.
fn order_created(projection: &Projection<Checkout>, offset: i64) -> Option<Vec<u8>> {
    let model = projection.read();
    let (id, order) = model.order_accepted_at(offset)?;
    Some(relay::order_created(id, order, offset))
}

/// Checkout's publisher's translation, `(message, offset) -> bytes | None`: the checkout_pub
/// message of the order accepted at the offset of a checkout_internal message, else nothing. The
/// projection decided when it applied the message, so the message itself is not read; the
/// publisher waits for that before each batch. `RelayWriter.send` calls it without Python: the
/// publisher reads every cart write and product checkout holds to find the orders among them.
#[pyclass(module = "shop._core", frozen)]
pub struct OrdersPublished {
    projection: Arc<Projection<Checkout>>,
}

impl OrdersPublished {
    pub fn apply(&self, offset: i64) -> Option<Vec<u8>> {
        order_created(&self.projection, offset)
    }
}

#[pymethods]
impl OrdersPublished {
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        _message: &[u8],
        offset: i64,
    ) -> Option<Bound<'py, PyBytes>> {
        Some(PyBytes::new(py, &self.apply(offset)?))
    }
}

fn cart_body(model: &Checkout, cart: Option<&Cart>, protobuf: bool) -> Vec<u8> {
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
    m.add_class::<PyCheckout>()?;
    m.add_class::<CartView>()?;
    m.add_class::<OrdersPublished>()?;
    m.add_class::<OrderDecision>()
}
