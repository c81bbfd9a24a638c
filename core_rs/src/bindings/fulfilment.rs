//! Fulfilment as a Python class: stock on hand and shipments.

use super::{new_projection, PyProjection};
use crate::fulfilment::Fulfilment;
use crate::projection::Projection;
use pyo3::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

#[pyclass(module = "shop._core", name = "Fulfilment", extends = PyProjection, frozen)]
pub struct PyFulfilment {
    projection: Arc<Projection<Fulfilment>>,
}

#[pymethods]
impl PyFulfilment {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        let (base, projection) = new_projection::<Fulfilment>();
        base.add_subclass(PyFulfilment { projection })
    }

    /// Last applied checkout_pub offset: the checkout bridge resumes after it.
    #[getter]
    fn checkout_offset(&self) -> i64 {
        self.projection.read().checkout_offset()
    }

    fn on_hand(&self, product_id: &str) -> i64 {
        self.projection.read().on_hand().get(product_id)
    }

    /// Every product's on-hand stock.
    fn stock(&self) -> HashMap<String, i64> {
        let model = self.projection.read();
        model
            .on_hand()
            .iter()
            .map(|(id, units)| (id.to_string(), units))
            .collect()
    }

    /// None if the order was not shipped; else whether it shipped in full.
    fn shipped(&self, order_id: &str) -> Option<bool> {
        self.projection.read().shipped(order_id)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFulfilment>()
}
