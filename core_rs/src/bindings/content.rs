//! Content as a Python class: entries shown at a given time, with the featured products the
//! catalog sells now, read wait-free from both projections.

use super::catalog::PyCatalog;
use super::{new_projection, PyProjection};
use crate::catalog::Catalog;
use crate::content::{self, render, Content, KINDS, MAX_SLUG};
use crate::projection::Projection;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Arc;

/// A body and its entity tag.
type Tagged<'py> = (Bound<'py, PyBytes>, String);

/// The content projection with wait-free reads.
#[pyclass(module = "shop._core", name = "Content", extends = PyProjection, frozen)]
pub struct PyContent {
    projection: Arc<Projection<Content>>,
}

#[pymethods]
impl PyContent {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        let (base, projection) = new_projection::<Content>();
        base.add_subclass(PyContent { projection })
    }

    /// The entry `slug` as JSON with its ETag, if it is shown at `now_ms` (milliseconds since the
    /// epoch); its featured products are those `catalog` sells now. None when unknown, not
    /// published or scheduled later.
    fn entry<'py>(
        &self,
        py: Python<'py>,
        slug: &str,
        now_ms: i64,
        catalog: PyRef<'py, PyCatalog>,
    ) -> Option<Tagged<'py>> {
        let model = self.projection.read();
        let entry = model.visible(slug, now_ms)?;
        let catalog: &Catalog = &catalog.projection.read();
        let mut body = Vec::with_capacity(entry.rendered.head.len() + 512);
        content::entry_json(&mut body, entry, catalog);
        Some(tagged(py, &body))
    }

    /// The entries shown at `now_ms`, of `kind` (any when None), by position then slug, as JSON
    /// `{"items": [...]}` with its ETag. ValueError for an unknown kind.
    #[pyo3(signature = (kind, now_ms, catalog))]
    fn list<'py>(
        &self,
        py: Python<'py>,
        kind: Option<&str>,
        now_ms: i64,
        catalog: PyRef<'py, PyCatalog>,
    ) -> PyResult<Tagged<'py>> {
        if let Some(kind) = kind.filter(|kind| !KINDS.contains(kind)) {
            let why = format!("unknown kind {kind:?}: one of {}", KINDS.join(", "));
            return Err(PyValueError::new_err(why));
        }
        let model = self.projection.read();
        let catalog: &Catalog = &catalog.projection.read();
        let body = content::list_json(&model.list(kind, now_ms), catalog);
        Ok(tagged(py, &body))
    }
}

fn tagged<'py>(py: Python<'py>, body: &[u8]) -> Tagged<'py> {
    (PyBytes::new(py, body), content::etag(body))
}

/// Whether `slug` can name an entry (lowercase letters, digits, inner hyphens; MAX_SLUG at most).
#[pyfunction]
fn valid_slug(slug: &str) -> bool {
    content::valid_slug(slug)
}

/// The sanitized HTML of a Markdown text, as entries are rendered.
#[pyfunction]
fn render_markdown(py: Python<'_>, markdown: &str) -> String {
    py.detach(|| render::html(markdown))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CONTENT_KINDS", KINDS.to_vec())?;
    m.add("MAX_SLUG", MAX_SLUG)?;
    m.add_function(wrap_pyfunction!(valid_slug, m)?)?;
    m.add_function(wrap_pyfunction!(render_markdown, m)?)?;
    m.add_class::<PyContent>()
}
