//! The catalog as a Python class: encoded pages and products, read wait-free.

use super::{new_projection, PyProjection};
use crate::catalog::encode::Popularity;
use crate::catalog::{
    encode, Catalog, Page, Product, Sort, MAX_PAGE, MAX_PER_PAGE, MAX_PREFIX, SORTS,
};
use crate::projection::Projection;
use crate::query;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::borrow::Cow;
use std::sync::Arc;

/// The catalog projection with wait-free reads.
#[pyclass(module = "shop._core", name = "Catalog", extends = PyProjection, frozen)]
pub struct PyCatalog {
    pub(crate) projection: Arc<Projection<Catalog>>,
}

#[pymethods]
impl PyCatalog {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        let (base, projection) = new_projection::<Catalog>();
        base.add_subclass(PyCatalog { projection })
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
        let sort = parse_page_request(sort, prefix, per_page)?;
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
        let sort = parse_page_request(sort, prefix, per_page)?;
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

    /// One enabled product, JSON or protobuf (`shop.catalog.ProductView`), with its popularity
    /// (views, add-to-carts) when given; None when unknown.
    #[pyo3(signature = (id, protobuf = false, popularity = None))]
    fn product<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        protobuf: bool,
        popularity: Option<(i64, i64)>,
    ) -> Option<Bound<'py, PyBytes>> {
        let model = self.projection.read();
        let product = model.get(id)?;
        let popularity = popularity.map(|(views, add_to_carts)| Popularity {
            views,
            add_to_carts,
        });
        Some(if protobuf {
            PyBytes::new(py, &encode::single_protobuf(product, popularity))
        } else {
            PyBytes::new(py, &encode::single_json(product, popularity))
        })
    }
}

/// A page request within the limits every listing shares (exported as SORTS, MAX_PER_PAGE and
/// MAX_PREFIX); ValueError otherwise.
fn parse_page_request(sort: &str, prefix: &str, per_page: usize) -> PyResult<Sort> {
    let sort = Sort::parse(sort).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown sort {sort:?}: one of {}",
            SORTS.join(", ")
        ))
    })?;
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        let why = format!("per_page must be from 1 to {MAX_PER_PAGE}");
        return Err(PyValueError::new_err(why));
    }
    if prefix.chars().count() > MAX_PREFIX {
        let why = format!("prefix must be at most {MAX_PREFIX} characters");
        return Err(PyValueError::new_err(why));
    }
    Ok(sort)
}

/// The parameters of a catalog page's query, in the order `page_request` checks them.
const PAGE_PARAMS: [&str; 4] = ["sort", "prefix", "page", "per_page"];

/// A catalog page's raw query string as the API reads it: (sort, prefix, page, per_page), each
/// one not given at its default (id, none, 1, 100). Raises ValueError((name, reason)) for a
/// parameter that is unknown, given twice or out of range, and ValueError((None, reason)) for a
/// query that is not percent-encoded UTF-8: the 400 the API answers with. The same rules as
/// `shop.api.http.query_params` and `inputs.whole_number`, in one call on every uncached page.
#[pyfunction]
fn page_request(query: &[u8]) -> PyResult<(&'static str, String, u64, u64)> {
    let refused = |name: Option<&str>, reason: String| {
        PyValueError::new_err((name.map(str::to_owned), reason))
    };
    let pairs = query::pairs(query).ok_or_else(|| {
        let reason = "the query string is not valid percent-encoded UTF-8";
        refused(None, reason.into())
    })?;
    let mut given: [Option<Cow<'_, str>>; 4] = Default::default();
    for (name, value) in pairs {
        let Some(at) = PAGE_PARAMS.iter().position(|known| *known == name) else {
            let mut known = PAGE_PARAMS;
            known.sort_unstable();
            let reason = format!("unknown parameter; known: {}", known.join(", "));
            return Err(refused(Some(&name), reason));
        };
        if given[at].replace(value).is_some() {
            return Err(refused(Some(&name), "given more than once".into()));
        }
    }
    let [sort, prefix, page, per_page] = given;
    let sort = match sort.as_deref().map_or(Some(Sort::Id), Sort::parse) {
        Some(sort) => sort.name(),
        None => {
            return Err(refused(
                Some("sort"),
                format!("must be one of {}", SORTS.join(", ")),
            ))
        }
    };
    let prefix = prefix.unwrap_or_default();
    if prefix.chars().count() > MAX_PREFIX {
        let reason = format!("must be at most {MAX_PREFIX} characters");
        return Err(refused(Some("prefix"), reason));
    }
    let number = |name: &str, given: Option<&str>, default: u64, high: usize| {
        let Some(text) = given else {
            return Ok(default);
        };
        query::whole_number(text)
            .filter(|n| (1..=high as u64).contains(n))
            .ok_or_else(|| {
                refused(
                    Some(name),
                    format!("must be a whole number from 1 to {high}"),
                )
            })
    };
    let page = number("page", page.as_deref(), 1, MAX_PAGE)?;
    let per_page = number("per_page", per_page.as_deref(), 100, MAX_PER_PAGE)?;
    Ok((sort, prefix.into_owned(), page, per_page))
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SORTS", SORTS.to_vec())?;
    m.add("MAX_PAGE", MAX_PAGE)?;
    m.add("MAX_PER_PAGE", MAX_PER_PAGE)?;
    m.add("MAX_PREFIX", MAX_PREFIX)?;
    m.add_function(wrap_pyfunction!(page_request, m)?)?;
    m.add_class::<PyCatalog>()?;
    m.add_class::<PageMark>()
}
