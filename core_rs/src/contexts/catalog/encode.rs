//! Response bodies, built straight from the stored product bytes: JSON (the default) and protobuf.

use crate::catalog::{Page, Product, Sort};
use crate::codec::{put_bytes_field, put_int64_field, Field, FieldReader};
use crate::json::{json_int, json_string, paging_json, put_bytes};

/// JSON keys of a product view, by protobuf field number (1..=8), as written before a value: a
/// key needs no escape, so none is looked for at every item. Price (2) is the only number.
const VIEW_KEYS: [&[u8]; 8] = [
    b"\"id\":",
    b"\"price\":",
    b"\"name\":",
    b"\"description\":",
    b"\"longtext\":",
    b"\"category\":",
    b"\"small_image_url\":",
    b"\"large_image_url\":",
];
/// The order keys are written in: the API's documented order.
const JSON_ORDER: [usize; 8] = [0, 2, 1, 3, 4, 5, 6, 7];
/// The fields of a listing's item (`ProductSummary`), in the same order: what a card shows.
/// Description, long text and the large image are for the product's own page; they were four
/// fifths of a listing's bytes.
const SUMMARY_ORDER: [usize; 5] = [0, 2, 1, 5, 6];

/// Appends one product as a JSON object; absent proto3 fields get their default.
pub fn product_json(out: &mut Vec<u8>, view: &[u8]) {
    view_json(out, view, &JSON_ORDER);
}

/// Appends a listing's item (a product card's fields) as a JSON object, in `SUMMARY_ORDER`: the
/// id, name and price from the keys, the category and small image from the card's bytes, so the
/// long texts between them are neither walked nor loaded.
pub fn summary_json(out: &mut Vec<u8>, product: &Product) {
    let mut strings: [&[u8]; 8] = [b""; 8];
    strings[0] = product.id().as_bytes();
    strings[2] = product.name().as_bytes();
    for (number, field) in FieldReader::new(product.card_bytes()) {
        if let (6 | 7, Field::Bytes(bytes)) = (number, field) {
            strings[number as usize - 1] = bytes;
        }
    }
    fields_json(out, &SUMMARY_ORDER, &strings, product.price());
}

/// Appends the fields `order` names of a product view as a JSON object.
fn view_json(out: &mut Vec<u8>, view: &[u8], order: &[usize]) {
    let mut strings: [&[u8]; 8] = [b""; 8];
    let mut price = 0i64;
    for (number, field) in FieldReader::new(view) {
        match (number, field) {
            (2, Field::Varint(value)) => price = value as i64,
            (1..=8, Field::Bytes(bytes)) => strings[number as usize - 1] = bytes,
            _ => {}
        }
    }
    fields_json(out, order, &strings, price);
}

/// Appends a JSON object of the fields `order` names (by field number less one): `price` for
/// the price, else the field's string. Inlined, a constant `order` unrolls: called, a listing's
/// summaries took 30% longer from the cache.
#[inline(always)]
fn fields_json(out: &mut Vec<u8>, order: &[usize], strings: &[&[u8]; 8], price: i64) {
    for (i, &field) in order.iter().enumerate() {
        out.push(if i == 0 { b'{' } else { b',' });
        put_bytes(out, VIEW_KEYS[field]);
        if field == 1 {
            json_int(out, price);
        } else {
            json_string(out, strings[field]);
        }
    }
    out.push(b'}');
}

/// A catalog page as JSON; its items are summaries.
pub fn page_json(page: &Page<'_>, per_page: usize, sort: Sort, prefix: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(page.items.len() * SUMMARY_JSON_GUESS + 160 + prefix.len());
    out.extend_from_slice(b"{\"items\":[");
    for (i, product) in page.items.iter().enumerate() {
        prefetch_ahead(&page.items, i);
        if i > 0 {
            out.push(b',');
        }
        summary_json(&mut out, product);
    }
    out.push(b']');
    let &Page {
        total,
        page: number,
        pages,
        ..
    } = page;
    paging_json(&mut out, total, number, pages, per_page, sort.name());
    out.extend_from_slice(b",\"prefix\":");
    json_string(&mut out, prefix.as_bytes());
    out.push(b'}');
    out
}

/// Products of a page are scattered in memory and a summary reads two places of each: its start
/// (keys, id, name) and its card's bytes. While product `i` is encoded, the start of product
/// `i + 8` and the card of product `i + 4` are loaded, so the misses of several products overlap
/// instead of coming one after another.
fn prefetch_ahead(items: &[&Product], i: usize) {
    if i == 0 {
        items.iter().take(HEAD_AHEAD).for_each(|p| p.prefetch());
        items
            .iter()
            .take(TAIL_AHEAD)
            .for_each(|p| p.prefetch_card());
    }
    if let Some(product) = items.get(i + HEAD_AHEAD) {
        product.prefetch();
    }
    if let Some(product) = items.get(i + TAIL_AHEAD) {
        product.prefetch_card();
    }
}

const HEAD_AHEAD: usize = 8;
const TAIL_AHEAD: usize = 4;

/// Room for one summary's JSON, most of the time: keys, an id, a name, a category and an URL.
const SUMMARY_JSON_GUESS: usize = 192;

/// A catalog page as a protobuf `shop.catalog.Page`: each item a `ProductSummary`, the summary's
/// fields copied from the stored view (the two messages share their field numbers).
pub fn page_protobuf(page: &Page<'_>, per_page: usize, sort: Sort, prefix: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(page.items.len() * SUMMARY_JSON_GUESS + 48 + prefix.len());
    let mut summary = Vec::with_capacity(SUMMARY_JSON_GUESS);
    for product in &page.items {
        summary.clear();
        summary_protobuf(&mut summary, product.view());
        put_bytes_field(&mut out, 1, &summary);
    }
    put_int64_field(&mut out, 2, page.total as i64);
    put_int64_field(&mut out, 3, page.page as i64);
    put_int64_field(&mut out, 4, page.pages as i64);
    put_int64_field(&mut out, 5, per_page as i64);
    put_bytes_field(&mut out, 6, sort.name().as_bytes());
    if !prefix.is_empty() {
        put_bytes_field(&mut out, 7, prefix.as_bytes());
    }
    out
}

/// The summary's fields of a stored view, copied as they are encoded (canonical, in order).
fn summary_protobuf(out: &mut Vec<u8>, view: &[u8]) {
    for (number, field) in FieldReader::new(view) {
        let wanted = SUMMARY_ORDER.iter().any(|&i| i + 1 == number as usize);
        match (wanted, field) {
            (true, Field::Varint(value)) => put_int64_field(out, number, value as i64),
            (true, Field::Bytes(bytes)) => put_bytes_field(out, number, bytes),
            _ => {}
        }
    }
}

/// How often shoppers viewed a product and added it to a cart (the web events' projection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Popularity {
    pub views: i64,
    pub add_to_carts: i64,
}

/// `ProductView.popularity`'s field number.
const POPULARITY_FIELD: u32 = 10;

/// One product's own answer as JSON: its view, then its popularity when given.
pub fn single_json(product: &Product, popularity: Option<Popularity>) -> Vec<u8> {
    let mut out = Vec::with_capacity(product.view().len() + 200);
    product_json(&mut out, product.view());
    if let Some(popularity) = popularity {
        out.pop(); // the view's closing brace
        out.extend_from_slice(b",\"popularity\":{\"views\":");
        json_int(&mut out, popularity.views);
        out.extend_from_slice(b",\"add_to_carts\":");
        json_int(&mut out, popularity.add_to_carts);
        out.extend_from_slice(b"}}");
    }
    out
}

/// One product's own answer as a protobuf `shop.catalog.ProductView`: the stored view (fields
/// 1-8, in order), then its popularity when given, which comes last.
pub fn single_protobuf(product: &Product, popularity: Option<Popularity>) -> Vec<u8> {
    let mut out = Vec::with_capacity(product.view().len() + 24);
    out.extend_from_slice(product.view());
    if let Some(popularity) = popularity {
        let mut counts = Vec::with_capacity(20);
        put_int64_field(&mut counts, 1, popularity.views);
        put_int64_field(&mut counts, 2, popularity.add_to_carts);
        put_bytes_field(&mut out, POPULARITY_FIELD, &counts);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::pim;

    #[test]
    fn product_json_has_every_key_in_order_with_defaults() {
        let product = Product::from_pim(&pim::Product {
            id: "x".into(),
            name: "N".into(),
            ..Default::default()
        });
        let json = String::from_utf8(single_json(&product, None)).unwrap();
        assert_eq!(
            json,
            r#"{"id":"x","name":"N","price":0,"description":"","longtext":"","category":"","small_image_url":"","large_image_url":""}"#
        );
    }

    #[test]
    fn a_products_own_answer_carries_its_popularity_in_json_and_protobuf() {
        use crate::codec::{catalog::ProductView, web};
        use prost::Message;
        let product = Product::from_pim(&pim::Product {
            id: "x".into(),
            name: "N".into(),
            price: 250,
            ..Default::default()
        });
        let popularity = Popularity {
            views: 300,
            add_to_carts: 7,
        };
        let json = String::from_utf8(single_json(&product, Some(popularity))).unwrap();
        assert!(
            json.ends_with(r#""large_image_url":"","popularity":{"views":300,"add_to_carts":7}}"#),
            "{json}"
        );
        let view = ProductView::decode(&*single_protobuf(&product, Some(popularity))).unwrap();
        assert_eq!((view.id.as_str(), view.price), ("x", 250));
        assert_eq!(
            view.popularity,
            Some(web::Popularity {
                views: 300,
                add_to_carts: 7
            })
        );
        // Counted nothing yet: present, with zeros.
        let none_yet = single_protobuf(&product, Some(Popularity::default()));
        let view = ProductView::decode(&*none_yet).unwrap();
        assert_eq!(view.popularity, Some(web::Popularity::default()));
        assert_eq!(single_protobuf(&product, None), product.view());
    }

    /// A summary read from the keys and the card's bytes is the view's summary fields, whichever
    /// fields are absent (empty) and whatever the texts hold.
    #[test]
    fn a_summary_from_the_card_is_the_views_summary() {
        use proptest::prelude::*;
        let text = crate::codec::any_text;
        let fields = (
            text(),
            text(),
            any::<i64>(),
            text(),
            text(),
            text(),
            text(),
            text(),
        );
        proptest!(|((id, name, price, description, longtext, category, small, large) in fields)| {
            let product = Product::from_pim(&pim::Product {
                id,
                name,
                price,
                description,
                longtext,
                category,
                small_image_url: small,
                large_image_url: large,
                ..Default::default()
            });
            let (mut from_card, mut from_view) = (Vec::new(), Vec::new());
            summary_json(&mut from_card, &product);
            view_json(&mut from_view, product.view(), &SUMMARY_ORDER);
            prop_assert_eq!(from_card, from_view);
        });
    }

    #[test]
    fn a_summary_has_the_listing_fields_in_order_and_decodes_as_one() {
        use prost::Message;
        let product = Product::from_pim(&pim::Product {
            id: "x".into(),
            name: "N".into(),
            price: 250,
            description: "long".into(),
            longtext: "longer".into(),
            category: "c".into(),
            small_image_url: "s".into(),
            large_image_url: "l".into(),
            ..Default::default()
        });
        let mut json = Vec::new();
        summary_json(&mut json, &product);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"id":"x","name":"N","price":250,"category":"c","small_image_url":"s"}"#
        );
        let mut bytes = Vec::new();
        summary_protobuf(&mut bytes, product.view());
        let summary = crate::codec::catalog::ProductSummary::decode(bytes.as_slice()).unwrap();
        assert_eq!(
            summary,
            crate::codec::catalog::ProductSummary {
                id: "x".into(),
                price: 250,
                name: "N".into(),
                category: "c".into(),
                small_image_url: "s".into(),
            }
        );
    }
}
