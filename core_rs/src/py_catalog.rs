//! The catalog as a Python class: apply batches with the GIL released, read encoded pages.

use crate::catalog::{self, Catalog, Change, Op, Page, Product, Sort};
use crate::encode;
use crate::feed::Consume;
use crate::projection::{Poison, Projection};
use crate::snapshot::Identity;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::HashMap;
use std::sync::Arc;

fn poison(offset: i64) -> Op {
    Op {
        offset,
        pim_offset: i64::MIN,
        change: Change::Poison,
    }
}

impl Consume for PyCatalog {
    fn apply_raw(&self, batch: &[(i64, &[u8])]) -> Poison {
        self.projection.apply_raw(batch, catalog::decode, poison)
    }
}

/// The catalog projection with wait-free reads.
#[pyclass(module = "shop._core", name = "Catalog", frozen)]
#[derive(Default)]
pub struct PyCatalog {
    projection: Projection<Catalog>,
}

#[pymethods]
impl PyCatalog {
    #[new]
    fn new() -> Self {
        PyCatalog::default()
    }

    /// Applies a batch of (offset, catalog_internal message) in order and publishes it at once.
    fn apply(&self, py: Python<'_>, batch: Vec<(i64, Bound<'_, PyBytes>)>) -> Poison {
        self.projection.apply(py, &batch, catalog::decode, poison)
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

    /// Last applied offset of catalog_internal (-1 before the first).
    #[getter]
    fn offset(&self) -> i64 {
        self.projection.offset()
    }

    /// Last applied pim_pub offset: the bridge resumes after it.
    #[getter]
    fn pim_offset(&self) -> i64 {
        self.projection.read().pim_offset()
    }

    /// Heap bytes the model holds: (the indexes of both copies, the products they share). Item
    /// capacity of the tree nodes and the products' allocations, without allocator overhead.
    fn heap_bytes(&self) -> (usize, usize) {
        let (indexes, products) = self.projection.read().heap_bytes();
        (2 * indexes, products)
    }

    fn __len__(&self) -> usize {
        self.projection.read().len()
    }

    /// Counts of what the model holds, by kind (products), as checkout and fulfilment report them.
    fn sizes(&self) -> HashMap<&'static str, usize> {
        HashMap::from([("products", self.projection.read().len())])
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
        let sort = parse_page_request(sort, per_page)?;
        let model = self.projection.read();
        let found = model.page(sort, prefix, page, per_page);
        Ok(PyBytes::new(
            py,
            &encode_page(&found, per_page, sort, prefix, protobuf),
        ))
    }

    /// The page as `page` answers it, with a mark of what it shows; the body is None when `shown`
    /// marks a page that showed the very same products, so an answer cached with `shown` still
    /// holds. A catalog update elsewhere in the catalog then costs a cached page a look at its
    /// products' addresses instead of encoding it again.
    #[pyo3(signature = (sort, prefix, page, per_page, protobuf = false, shown = None))]
    #[allow(clippy::too_many_arguments)]
    fn page_unless_shown<'py>(
        &self,
        py: Python<'py>,
        sort: &str,
        prefix: &str,
        page: usize,
        per_page: usize,
        protobuf: bool,
        shown: Option<PyRef<'py, PageMark>>,
    ) -> PyResult<(PageMark, Option<Bound<'py, PyBytes>>)> {
        let sort = parse_page_request(sort, per_page)?;
        let model = self.projection.read();
        let found = model.page(sort, prefix, page, per_page);
        let offset = model.offset();
        if let Some(shown) = shown.filter(|shown| shown.products.same(&found)) {
            let products = Arc::clone(&shown.products);
            return Ok((PageMark { offset, products }, None));
        }
        let body = encode_page(&found, per_page, sort, prefix, protobuf);
        let products = Arc::new(ShownProducts::of(&found));
        Ok((PageMark { offset, products }, Some(PyBytes::new(py, &body))))
    }

    /// One enabled product, JSON or protobuf (`shop.catalog.ProductView`); None when unknown.
    #[pyo3(signature = (id, protobuf = false))]
    fn product<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        protobuf: bool,
    ) -> Option<Bound<'py, PyBytes>> {
        let model = self.projection.read();
        let product = model.get(id)?;
        Some(if protobuf {
            PyBytes::new(py, product.view())
        } else {
            PyBytes::new(py, &encode::single_json(product))
        })
    }
}

fn parse_page_request(sort: &str, per_page: usize) -> PyResult<Sort> {
    let sort = Sort::parse(sort).ok_or_else(|| {
        PyValueError::new_err(format!("unknown sort {sort:?}: id, price or name"))
    })?;
    if per_page == 0 {
        return Err(PyValueError::new_err("per_page must be at least 1"));
    }
    Ok(sort)
}

fn encode_page(
    found: &Page<'_>,
    per_page: usize,
    sort: Sort,
    prefix: &str,
    protobuf: bool,
) -> Vec<u8> {
    if protobuf {
        encode::page_protobuf(found, per_page, sort, prefix)
    } else {
        encode::page_json(found, per_page, sort, prefix)
    }
}

/// What a page showed, as of a catalog offset (see `Catalog.page_unless_shown`).
#[pyclass(module = "shop._core", frozen)]
pub struct PageMark {
    /// The catalog_internal offset the page was taken at.
    #[pyo3(get)]
    offset: i64,
    products: Arc<ShownProducts>,
}

/// The products of a page, their count and the page number after clamping: all a page's body
/// depends on besides the request. A product's bytes never change (an update stores a new
/// product), and holding a reference keeps its allocation alive, so no other product can take
/// its address while the mark exists: the same addresses are the same contents.
struct ShownProducts {
    items: Vec<Product>,
    total: usize,
    page: usize,
}

impl ShownProducts {
    fn of(found: &Page<'_>) -> ShownProducts {
        ShownProducts {
            items: found.items.iter().map(|&product| product.clone()).collect(),
            total: found.total,
            page: found.page,
        }
    }

    fn same(&self, found: &Page<'_>) -> bool {
        self.total == found.total
            && self.page == found.page
            && self.items.len() == found.items.len()
            && self
                .items
                .iter()
                .zip(&found.items)
                .all(|(held, now)| held.same(now))
    }
}
