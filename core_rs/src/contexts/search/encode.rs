//! Search answers as JSON: a page of results in the listing's item shape, with highlights and
//! facets, and suggestions.

use super::query::{Hits, SearchSort, PRICE_BUCKETS};
use super::FIELDS;
use crate::catalog::encode::summary_json;
use crate::json::{json_int, json_string, paging_json};

/// The fields whose matches are highlighted: those a result card shows.
const HIGHLIGHTED: [usize; 2] = [0, 1];

/// A page of results as JSON. `highlights[i]` holds, per shown field of `items[i]`, the UTF-16
/// ranges [start, end) of the words the query matched.
pub fn hits_json(
    hits: &Hits<'_>,
    q: &str,
    sort: SearchSort,
    per_page: usize,
    offset: i64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(hits.items.len() * 256 + 512);
    out.extend_from_slice(b"{\"items\":[");
    for (i, doc) in hits.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        summary_json(&mut out, &doc.product);
    }
    out.extend_from_slice(b"],\"highlights\":[");
    for (i, doc) in hits.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let texts = super::field_texts(doc.product.view());
        out.push(b'{');
        for (n, &field) in HIGHLIGHTED.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            json_string(&mut out, FIELDS[field].as_bytes());
            out.extend_from_slice(b":[");
            for (k, (start, end)) in hits.highlights(texts[field]).into_iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                out.push(b'[');
                json_int(&mut out, i64::from(start));
                out.push(b',');
                json_int(&mut out, i64::from(end));
                out.push(b']');
            }
            out.push(b']');
        }
        out.push(b'}');
    }
    out.push(b']');
    let &Hits {
        total, page, pages, ..
    } = hits;
    paging_json(&mut out, total, page, pages, per_page, sort.name());
    out.extend_from_slice(b",\"q\":");
    json_string(&mut out, q.as_bytes());
    out.extend_from_slice(b",\"facets\":{\"category\":[");
    for (i, (name, count)) in hits.facets.categories.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"value\":");
        json_string(&mut out, name.as_bytes());
        out.extend_from_slice(b",\"count\":");
        json_int(&mut out, *count as i64);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"price\":[");
    for (i, count) in hits.facets.prices.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"min\":");
        json_int(&mut out, PRICE_BUCKETS[i]);
        out.extend_from_slice(b",\"max\":");
        match PRICE_BUCKETS.get(i + 1) {
            Some(next) => json_int(&mut out, next - 1),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"count\":");
        json_int(&mut out, *count as i64);
        out.push(b'}');
    }
    out.extend_from_slice(b"]},\"facet_categories_total\":");
    json_int(&mut out, hits.facets.categories_total as i64);
    out.extend_from_slice(b",\"did_you_mean\":");
    match &hits.did_you_mean {
        Some(spelled) => json_string(&mut out, spelled.as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"offset\":");
    json_int(&mut out, offset);
    out.push(b'}');
    out
}

/// Completions as JSON `{"q": ..., "suggestions": [...], "offset": ...}`.
pub fn suggestions_json(q: &str, suggestions: &[String], offset: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + suggestions.len() * 32);
    out.extend_from_slice(b"{\"q\":");
    json_string(&mut out, q.as_bytes());
    out.extend_from_slice(b",\"suggestions\":[");
    for (i, suggestion) in suggestions.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(&mut out, suggestion.as_bytes());
    }
    out.extend_from_slice(b"],\"offset\":");
    json_int(&mut out, offset);
    out.push(b'}');
    out
}
