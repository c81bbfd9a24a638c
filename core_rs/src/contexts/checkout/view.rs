//! Response bodies of checkout: carts and orders, as JSON or protobuf.

use crate::checkout::{total_price, Cart, Checkout, Line, Order};
use crate::codec::checkout as pb;
use crate::json::{json_int, json_string};
use prost::Message;

/// A cart line with its stock flags as the shopper sees them.
struct CartLine<'a> {
    line: &'a Line,
    in_stock: bool,
    more_in_stock: bool,
}

fn cart_lines<'a>(model: &Checkout, lines: &'a [Line]) -> Vec<CartLine<'a>> {
    lines
        .iter()
        .map(|line| {
            let for_sale = model.for_sale(&line.product_id);
            CartLine {
                line,
                in_stock: for_sale >= line.quantity,
                more_in_stock: for_sale > line.quantity,
            }
        })
        .collect()
}

pub fn cart_json(model: &Checkout, cart: Option<&Cart>) -> Vec<u8> {
    let lines = cart.map(|c| model.lines(c)).unwrap_or_default();
    let mut out = Vec::with_capacity(64 + lines.len() * 200);
    out.extend_from_slice(b"{\"version\":");
    json_int(&mut out, cart.map_or(0, |c| c.version));
    out.extend_from_slice(b",\"items\":");
    items_json(&mut out, &cart_lines(model, &lines));
    out.extend_from_slice(b",\"total_price\":");
    json_int(&mut out, total_price(&lines));
    if let Some(ordered) = cart.and_then(|c| c.ordered.as_ref()) {
        out.extend_from_slice(b",\"order_id\":");
        json_string(&mut out, ordered.order_id.as_bytes());
    }
    out.push(b'}');
    out
}

/// The units available of each product, as the storefront shows them before anything is in the
/// cart: {"items": [{"product_id", "available"}]} in the order asked.
pub fn stock_json<'a>(model: &Checkout, product_ids: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"items\":[");
    for (i, id) in product_ids.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"product_id\":");
        json_string(&mut out, id.as_bytes());
        out.extend_from_slice(b",\"available\":");
        json_int(&mut out, model.for_sale(id));
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

pub fn cart_protobuf(model: &Checkout, cart: Option<&Cart>) -> Vec<u8> {
    let lines = cart.map(|c| model.lines(c)).unwrap_or_default();
    pb::Cart {
        version: cart.map_or(0, |c| c.version),
        items: cart_lines(model, &lines).iter().map(item_message).collect(),
        total_price: total_price(&lines),
        order_id: cart
            .and_then(|c| c.ordered.as_ref())
            .map(|o| o.order_id.clone())
            .unwrap_or_default(),
    }
    .encode_to_vec()
}

fn order_lines(order: &Order) -> Vec<CartLine<'_>> {
    order
        .lines
        .iter()
        .map(|line| CartLine {
            line,
            in_stock: false,
            more_in_stock: false,
        })
        .collect()
}

pub fn order_json(id: &str, order: &Order) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + order.lines.len() * 200);
    out.extend_from_slice(b"{\"id\":");
    json_string(&mut out, id.as_bytes());
    out.extend_from_slice(b",\"status\":");
    json_string(&mut out, order.status.name().as_bytes());
    out.extend_from_slice(b",\"items\":");
    items_json(&mut out, &order_lines(order));
    out.extend_from_slice(b",\"total_price\":");
    json_int(&mut out, order.total_price());
    out.extend_from_slice(b",\"created_at\":");
    json_int(&mut out, order.created_at_ms);
    out.push(b'}');
    out
}

pub fn order_protobuf(id: &str, order: &Order) -> Vec<u8> {
    pb::Order {
        id: id.to_owned(),
        status: order.status.name().to_owned(),
        items: order_lines(order).iter().map(item_message).collect(),
        total_price: order.total_price(),
        created_at: order.created_at_ms,
        shopper: None, // sealed: opened, if its key still exists, by the caller
    }
    .encode_to_vec()
}

fn items_json(out: &mut Vec<u8>, lines: &[CartLine<'_>]) {
    out.push(b'[');
    for (i, item) in lines.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"product_id\":");
        json_string(out, item.line.product_id.as_bytes());
        out.extend_from_slice(b",\"name\":");
        json_string(out, item.line.name.as_bytes());
        out.extend_from_slice(b",\"price\":");
        json_int(out, item.line.price);
        out.extend_from_slice(b",\"small_image_url\":");
        json_string(out, item.line.small_image_url.as_bytes());
        out.extend_from_slice(b",\"quantity\":");
        json_int(out, item.line.quantity);
        out.extend_from_slice(b",\"in_stock\":");
        out.extend_from_slice(if item.in_stock { b"true" } else { b"false" });
        out.extend_from_slice(b",\"more_in_stock\":");
        out.extend_from_slice(if item.more_in_stock {
            b"true"
        } else {
            b"false"
        });
        out.push(b'}');
    }
    out.push(b']');
}

fn item_message(item: &CartLine<'_>) -> pb::CartItem {
    pb::CartItem {
        product_id: item.line.product_id.clone(),
        name: item.line.name.clone(),
        price: item.line.price,
        small_image_url: item.line.small_image_url.clone(),
        quantity: item.line.quantity,
        in_stock: item.in_stock,
        more_in_stock: item.more_in_stock,
    }
}
