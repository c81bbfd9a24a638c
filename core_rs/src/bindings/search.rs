//! Search as a Python class: result pages and suggestions, read wait-free.

use super::{new_projection, PyProjection};
use crate::projection::Projection;
use crate::search::query::{
    query_problem, FACET_CATEGORIES, MAX_CATEGORY, MAX_PRICE, MAX_QUERY, MAX_SEARCH_PAGE,
    MAX_SEARCH_PER_PAGE, MAX_SUGGESTIONS, MAX_WORDS, OPERATORS,
};
use crate::search::{encode, Request, Search, SearchSort, PRICE_BUCKETS, SEARCH_SORTS};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Arc;

/// The search projection with wait-free reads.
#[pyclass(module = "shop._core", name = "Search", extends = PyProjection, frozen)]
pub struct PySearch {
    projection: Arc<Projection<Search>>,
}

#[pymethods]
impl PySearch {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        let (base, projection) = new_projection::<Search>();
        base.add_subclass(PySearch { projection })
    }

    /// Last applied pim_pub offset: the bridge resumes after it.
    #[getter]
    fn pim_offset(&self) -> i64 {
        self.projection.read().pim_offset()
    }

    fn __len__(&self) -> usize {
        self.projection.read().len()
    }

    /// Bytes of the posting lists (words and word pairs) of one copy (serialized size).
    fn postings_bytes(&self) -> usize {
        self.projection.read().postings_bytes()
    }

    /// A page of results as JSON, with facets, highlights and the offset it was read at.
    /// ValueError for a query `search_query_problem` refuses, a sort not in SEARCH_SORTS or a
    /// page size out of range.
    #[pyo3(signature = (q, category = None, price_min = None, price_max = None, sort = "relevance", page = 1, per_page = 24))]
    #[allow(clippy::too_many_arguments)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        q: &str,
        category: Option<&str>,
        price_min: Option<i64>,
        price_max: Option<i64>,
        sort: &str,
        page: usize,
        per_page: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if let Some(why) = query_problem(q) {
            return Err(PyValueError::new_err(format!("q {why}")));
        }
        let sort = SearchSort::parse(sort)
            .ok_or_else(|| PyValueError::new_err(format!("unknown sort {sort:?}")))?;
        if !(1..=MAX_SEARCH_PER_PAGE).contains(&per_page) {
            let why = format!("per_page must be from 1 to {MAX_SEARCH_PER_PAGE}");
            return Err(PyValueError::new_err(why));
        }
        let request = Request {
            q,
            category,
            price_min,
            price_max,
            sort,
            page,
            per_page,
        };
        let body = py.detach(|| {
            let model = self.projection.read();
            let hits = model.search(&request);
            encode::hits_json(&hits, q, sort, per_page, model.offset())
        });
        Ok(PyBytes::new(py, &body))
    }

    /// Up to MAX_SUGGESTIONS completions of `q` as JSON, with the offset they were read at.
    fn suggest<'py>(&self, py: Python<'py>, q: &str) -> PyResult<Bound<'py, PyBytes>> {
        if let Some(why) = query_problem(q) {
            return Err(PyValueError::new_err(format!("q {why}")));
        }
        let body = py.detach(|| {
            let model = self.projection.read();
            encode::suggestions_json(q, &model.suggest(q), model.offset())
        });
        Ok(PyBytes::new(py, &body))
    }
}

/// Why `q` cannot be searched (too long, odd characters, operators, too many words); None if it can.
#[pyfunction]
fn search_query_problem(q: &str) -> Option<String> {
    query_problem(q)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SEARCH_SORTS", SEARCH_SORTS.to_vec())?;
    m.add("MAX_QUERY", MAX_QUERY)?;
    m.add("MAX_QUERY_WORDS", MAX_WORDS)?;
    m.add("MAX_SEARCH_PER_PAGE", MAX_SEARCH_PER_PAGE)?;
    m.add("MAX_SEARCH_PAGE", MAX_SEARCH_PAGE)?;
    m.add("MAX_PRICE", MAX_PRICE)?;
    m.add("MAX_CATEGORY", MAX_CATEGORY)?;
    m.add("MAX_SUGGESTIONS", MAX_SUGGESTIONS)?;
    m.add("FACET_CATEGORIES", FACET_CATEGORIES)?;
    m.add("PRICE_BUCKETS", PRICE_BUCKETS.to_vec())?;
    m.add("SEARCH_OPERATORS", OPERATORS)?;
    m.add_function(wrap_pyfunction!(search_query_problem, m)?)?;
    m.add_class::<PySearch>()
}
