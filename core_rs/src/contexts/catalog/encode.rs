//! Response bodies, built straight from the stored product bytes: JSON (the default) and protobuf.

use crate::catalog::{Page, Product, Sort};
use crate::codec::{put_bytes_field, put_int64_field, Field, FieldReader};
use crate::json::{json_int, json_string};

/// JSON keys of a product view, by protobuf field number (1..=8); price (2) is the only number.
const VIEW_KEYS: [&str; 8] = [
    "id",
    "price",
    "name",
    "description",
    "longtext",
    "category",
    "small_image_url",
    "large_image_url",
];
/// The order keys are written in: the API's documented order.
const JSON_ORDER: [usize; 8] = [0, 2, 1, 3, 4, 5, 6, 7];

/// Appends one product as a JSON object; absent proto3 fields get their default.
pub fn product_json(out: &mut Vec<u8>, view: &[u8]) {
    let mut strings: [&[u8]; 8] = [b""; 8];
    let mut price = 0i64;
    for (number, field) in FieldReader::new(view) {
        match (number, field) {
            (2, Field::Varint(value)) => price = value as i64,
            (1..=8, Field::Bytes(bytes)) => strings[number as usize - 1] = bytes,
            _ => {}
        }
    }
    out.push(b'{');
    for (i, &field) in JSON_ORDER.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(out, VIEW_KEYS[field].as_bytes());
        out.push(b':');
        if field == 1 {
            json_int(out, price);
        } else {
            json_string(out, strings[field]);
        }
    }
    out.push(b'}');
}

/// A catalog page as JSON.
pub fn page_json(page: &Page<'_>, per_page: usize, sort: Sort, prefix: &str) -> Vec<u8> {
    let size: usize = page.items.iter().map(|p| p.view().len() + 160).sum();
    let mut out = Vec::with_capacity(size + 160 + prefix.len());
    out.extend_from_slice(b"{\"items\":[");
    for (i, product) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        product_json(&mut out, product.view());
    }
    out.extend_from_slice(b"],\"total\":");
    json_int(&mut out, page.total as i64);
    out.extend_from_slice(b",\"page\":");
    json_int(&mut out, page.page as i64);
    out.extend_from_slice(b",\"pages\":");
    json_int(&mut out, page.pages as i64);
    out.extend_from_slice(b",\"per_page\":");
    json_int(&mut out, per_page as i64);
    out.extend_from_slice(b",\"sort\":");
    json_string(&mut out, sort.name().as_bytes());
    out.extend_from_slice(b",\"prefix\":");
    json_string(&mut out, prefix.as_bytes());
    out.push(b'}');
    out
}

/// A catalog page as a protobuf `shop.catalog.Page`: each item is the stored view, copied.
pub fn page_protobuf(page: &Page<'_>, per_page: usize, sort: Sort, prefix: &str) -> Vec<u8> {
    let size: usize = page.items.iter().map(|p| p.view().len() + 4).sum();
    let mut out = Vec::with_capacity(size + 48 + prefix.len());
    for product in &page.items {
        put_bytes_field(&mut out, 1, product.view());
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

/// One product as JSON.
pub fn single_json(product: &Product) -> Vec<u8> {
    let mut out = Vec::with_capacity(product.view().len() + 160);
    product_json(&mut out, product.view());
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
        let json = String::from_utf8(single_json(&product)).unwrap();
        assert_eq!(
            json,
            r#"{"id":"x","name":"N","price":0,"description":"","longtext":"","category":"","small_image_url":"","large_image_url":""}"#
        );
    }
}
