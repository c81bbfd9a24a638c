//! The catalog as a Python class: apply batches with the GIL released, read encoded pages.

use crate::catalog::{self, Catalog, Change, Op, Sort};
use crate::encode;
use crate::swap::LeftRight;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::atomic::{AtomicI64, Ordering};

/// The catalog projection with wait-free reads.
#[pyclass(module = "shop._core", name = "Catalog", frozen)]
pub struct PyCatalog {
    model: LeftRight<Catalog>,
    /// Offset of the published copy, readable without touching the model.
    offset: AtomicI64,
}

#[pymethods]
impl PyCatalog {
    #[new]
    fn new() -> Self {
        let model = LeftRight::default();
        model.write(Vec::new());
        PyCatalog {
            model,
            offset: AtomicI64::new(-1),
        }
    }

    /// Applies a batch of (offset, catalog_internal message) in order and publishes it at once.
    /// Returns (offset, error) of every message that could not be decoded; those advance the
    /// offset and change nothing else.
    fn apply(&self, py: Python<'_>, batch: Vec<(i64, Bound<'_, PyBytes>)>) -> Vec<(i64, String)> {
        let mut poison = Vec::new();
        let ops: Vec<Op> = batch
            .iter()
            .map(|(offset, bytes)| {
                catalog::decode(*offset, bytes.as_bytes()).unwrap_or_else(|err| {
                    poison.push((*offset, err.0));
                    Op {
                        offset: *offset,
                        pim_offset: i64::MIN,
                        change: Change::Poison,
                    }
                })
            })
            .collect();
        let Some(last) = ops.last().map(|op| op.offset) else {
            return poison;
        };
        py.detach(|| self.model.write(ops));
        self.offset.store(last, Ordering::Release);
        poison
    }

    /// Last applied offset of catalog_internal (-1 before the first).
    #[getter]
    fn offset(&self) -> i64 {
        self.offset.load(Ordering::Acquire)
    }

    /// Last applied pim_pub offset: the bridge resumes after it.
    #[getter]
    fn pim_offset(&self) -> i64 {
        self.model.read().pim_offset()
    }

    fn __len__(&self) -> usize {
        self.model.read().len()
    }

    /// A page of products, JSON or protobuf (`shop.catalog.Page`).
    #[pyo3(signature = (sort, prefix, page, per_page, protobuf = false))]
    fn page<'py>(
        &self,
        py: Python<'py>,
        sort: &str,
        prefix: &str,
        page: usize,
        per_page: usize,
        protobuf: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let sort = Sort::parse(sort).ok_or_else(|| {
            PyValueError::new_err(format!("unknown sort {sort:?}: id, price or name"))
        })?;
        if per_page == 0 {
            return Err(PyValueError::new_err("per_page must be at least 1"));
        }
        let model = self.model.read();
        let found = model.page(sort, prefix, page, per_page);
        let body = if protobuf {
            encode::page_protobuf(&found, per_page, sort, prefix)
        } else {
            encode::page_json(&found, per_page, sort, prefix)
        };
        Ok(PyBytes::new(py, &body))
    }

    /// One enabled product, JSON or protobuf (`shop.catalog.ProductView`); None when unknown.
    #[pyo3(signature = (id, protobuf = false))]
    fn product<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        protobuf: bool,
    ) -> Option<Bound<'py, PyBytes>> {
        let model = self.model.read();
        let product = model.get(id)?;
        Some(if protobuf {
            PyBytes::new(py, &product.view)
        } else {
            PyBytes::new(py, &encode::single_json(product))
        })
    }
}
