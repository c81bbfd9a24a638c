//! The checkout projection: products and stock bridged from pim and fulfilment, carts, orders.
//! Every decision (is a quantity accepted, is an order accepted) is taken here, while the event is
//! applied, so every replica and every replay decides the same way.

use crate::codec::checkout::{self as pb, fulfilment_changed::Change, internal_message::Event};
use crate::codec::fulfilment::OrderShipped;
use crate::codec::DecodeError;
use crate::stock::OnHand;
use crate::swap::Apply;
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;

pub const MAX_QUANTITY: i64 = 999;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub price: i64,
    pub name: String,
    pub small_image_url: String,
    pub disabled: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Cart {
    pub items: HashMap<String, i64>,
    pub version: i64,
    pub ordered: bool,
    /// The shopper: the first cart's id, handed on to each next cart. Orders are visible to it.
    pub owner: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub product_id: String,
    pub name: String,
    pub price: i64,
    pub small_image_url: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Accepted,
    Shipped,
    Backordered,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Shipped => "shipped",
            Status::Backordered => "backordered",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Order {
    pub owner: Arc<str>,
    pub lines: Vec<Line>,
    pub created_at_ms: i64,
    pub status: Status,
}

impl Order {
    pub fn total_price(&self) -> i64 {
        total_price(&self.lines)
    }
}

/// Σ price × quantity; saturating, though imported prices are bounded so that it never needs to.
pub fn total_price(lines: &[Line]) -> i64 {
    lines.iter().fold(0i64, |sum, l| {
        sum.saturating_add(l.price.saturating_mul(l.quantity))
    })
}

/// What became of an OrderPlaced command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// The cart was ordered already.
    Ordered,
    /// The cart changed since the shopper saw it (its version differs).
    Version,
    Empty,
    /// Products that are unknown or disabled.
    Unavailable(Vec<String>),
    /// Products whose available stock does not cover the quantity.
    Stock(Vec<String>),
}

#[derive(Debug, Clone)]
pub enum Effect {
    Product {
        id: String,
        product: Product,
    },
    Stock {
        product_id: String,
        change: i64,
    },
    Shipped(OrderShipped),
    SetItem {
        cart_id: String,
        product_id: String,
        quantity: i64,
    },
    Place(pb::OrderPlaced),
    Poison,
}

/// One checkout_internal event; bridged ones carry their source offset for deduplication.
#[derive(Debug, Clone)]
pub struct Op {
    pub offset: i64,
    pub pim_offset: Option<i64>,
    pub fulfilment_offset: Option<i64>,
    pub effect: Effect,
}

pub fn decode(offset: i64, bytes: &[u8]) -> Result<Op, DecodeError> {
    let event = pb::InternalMessage::decode(bytes)?
        .event
        .ok_or_else(|| DecodeError("checkout_internal message has no event".into()))?;
    let mut op = Op {
        offset,
        pim_offset: None,
        fulfilment_offset: None,
        effect: Effect::Poison,
    };
    op.effect = match event {
        Event::ProductChanged(p) => {
            non_empty(&p.product_id, "product_id")?;
            op.pim_offset = Some(p.pim_offset);
            let product = Product {
                price: p.price,
                name: p.name,
                small_image_url: p.small_image_url,
                disabled: p.disabled,
            };
            Effect::Product {
                id: p.product_id,
                product,
            }
        }
        Event::FulfilmentChanged(f) => {
            op.fulfilment_offset = Some(f.fulfilment_offset);
            match f.change {
                Some(Change::StockCorrected(s)) => {
                    non_empty(&s.product_id, "product_id")?;
                    Effect::Stock {
                        product_id: s.product_id,
                        change: s.quantity_change,
                    }
                }
                Some(Change::OrderShipped(shipped)) => Effect::Shipped(shipped),
                None => return Err(DecodeError("FulfilmentChanged has no change".into())),
            }
        }
        Event::CartItemSet(c) => {
            non_empty(&c.cart_id, "cart_id")?;
            non_empty(&c.product_id, "product_id")?;
            Effect::SetItem {
                cart_id: c.cart_id,
                product_id: c.product_id,
                quantity: c.quantity,
            }
        }
        Event::OrderPlaced(o) => {
            non_empty(&o.cart_id, "cart_id")?;
            non_empty(&o.order_id, "order_id")?;
            non_empty(&o.next_cart_id, "next_cart_id")?;
            Effect::Place(o)
        }
    };
    Ok(op)
}

fn non_empty(value: &str, name: &str) -> Result<(), DecodeError> {
    if value.is_empty() {
        Err(DecodeError(format!("{name} is empty")))
    } else {
        Ok(())
    }
}

pub struct Checkout {
    products: HashMap<String, Product>,
    on_hand: OnHand,
    reserved: HashMap<String, i64>,
    carts: HashMap<String, Cart>,
    orders: HashMap<String, Order>,
    outcomes: HashMap<String, Outcome>,
    /// checkout_internal offset of each accepted OrderPlaced → its order id (for the publisher).
    accepted_at: HashMap<i64, String>,
    offset: i64,
    pim_offset: i64,
    fulfilment_offset: i64,
}

impl Default for Checkout {
    fn default() -> Self {
        Checkout {
            products: HashMap::new(),
            on_hand: OnHand::default(),
            reserved: HashMap::new(),
            carts: HashMap::new(),
            orders: HashMap::new(),
            outcomes: HashMap::new(),
            accepted_at: HashMap::new(),
            offset: -1,
            pim_offset: -1,
            fulfilment_offset: -1,
        }
    }
}

impl Apply for Checkout {
    type Op = Op;

    fn apply(&mut self, op: &Op) {
        self.offset = op.offset;
        if let Some(source) = op.pim_offset {
            if source <= self.pim_offset {
                return;
            }
            self.pim_offset = source;
        }
        if let Some(source) = op.fulfilment_offset {
            if source <= self.fulfilment_offset {
                return;
            }
            self.fulfilment_offset = source;
        }
        match &op.effect {
            Effect::Product { id, product } => {
                self.products.insert(id.clone(), product.clone());
            }
            Effect::Stock { product_id, change } => self.on_hand.correct(product_id, *change),
            Effect::Shipped(shipped) => self.ship(shipped),
            Effect::SetItem {
                cart_id,
                product_id,
                quantity,
            } => self.set_item(cart_id, product_id, *quantity),
            Effect::Place(placed) => self.place(op.offset, placed),
            Effect::Poison => {}
        }
    }
}

impl Checkout {
    pub fn offset(&self) -> i64 {
        self.offset
    }
    pub fn pim_offset(&self) -> i64 {
        self.pim_offset
    }
    pub fn fulfilment_offset(&self) -> i64 {
        self.fulfilment_offset
    }

    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.get(id)
    }

    pub fn cart(&self, id: &str) -> Option<&Cart> {
        self.carts.get(id)
    }

    pub fn order(&self, id: &str) -> Option<&Order> {
        self.orders.get(id)
    }

    pub fn outcome(&self, order_id: &str) -> Option<&Outcome> {
        self.outcomes.get(order_id)
    }

    pub fn order_accepted_at(&self, offset: i64) -> Option<(&str, &Order)> {
        let id = self.accepted_at.get(&offset)?;
        Some((id, self.orders.get(id)?))
    }

    pub fn on_hand(&self, product_id: &str) -> i64 {
        self.on_hand.get(product_id)
    }

    pub fn reserved(&self, product_id: &str) -> i64 {
        self.reserved.get(product_id).copied().unwrap_or(0)
    }

    /// Units that can still be ordered: on hand minus open reservations, never below zero
    /// (a recount can lower the stock under the open orders; those ship as backorders).
    pub fn available(&self, product_id: &str) -> i64 {
        (self.on_hand(product_id) - self.reserved(product_id)).max(0)
    }

    /// The lines of a cart in display order: by name, then product id.
    pub fn lines(&self, cart: &Cart) -> Vec<Line> {
        let mut lines: Vec<Line> = cart
            .items
            .iter()
            .map(|(product_id, &quantity)| {
                let product = self.products.get(product_id);
                Line {
                    product_id: product_id.clone(),
                    name: product.map(|p| p.name.clone()).unwrap_or_default(),
                    price: product.map_or(0, |p| p.price),
                    small_image_url: product
                        .map(|p| p.small_image_url.clone())
                        .unwrap_or_default(),
                    quantity,
                }
            })
            .collect();
        lines.sort_by(|a, b| (&a.name, &a.product_id).cmp(&(&b.name, &b.product_id)));
        lines
    }

    fn enabled(&self, product_id: &str) -> bool {
        self.products.get(product_id).is_some_and(|p| !p.disabled)
    }

    fn set_item(&mut self, cart_id: &str, product_id: &str, quantity: i64) {
        if !(0..=MAX_QUANTITY).contains(&quantity) {
            return;
        }
        if quantity > 0 && !self.enabled(product_id) {
            return;
        }
        let cart = self
            .carts
            .entry(cart_id.to_owned())
            .or_insert_with(|| Cart {
                owner: cart_id.into(),
                ..Cart::default()
            });
        if cart.ordered {
            return;
        }
        if quantity == 0 {
            cart.items.remove(product_id);
        } else {
            cart.items.insert(product_id.to_owned(), quantity);
        }
        cart.version += 1;
    }

    fn decide(&self, placed: &pb::OrderPlaced) -> Outcome {
        let Some(cart) = self.carts.get(&placed.cart_id) else {
            return if placed.cart_version != 0 {
                Outcome::Version
            } else {
                Outcome::Empty
            };
        };
        if cart.ordered {
            return Outcome::Ordered;
        }
        if cart.version != placed.cart_version {
            return Outcome::Version;
        }
        if cart.items.is_empty() {
            return Outcome::Empty;
        }
        let unavailable = sorted_ids(cart.items.keys().filter(|id| !self.enabled(id)));
        if !unavailable.is_empty() {
            return Outcome::Unavailable(unavailable);
        }
        let short = sorted_ids(
            cart.items
                .iter()
                .filter(|(id, &quantity)| quantity > self.available(id))
                .map(|(id, _)| id),
        );
        if !short.is_empty() {
            return Outcome::Stock(short);
        }
        Outcome::Accepted
    }

    fn place(&mut self, offset: i64, placed: &pb::OrderPlaced) {
        if self.outcomes.contains_key(&placed.order_id) {
            return; // a retried command: decided once
        }
        let outcome = self.decide(placed);
        if outcome == Outcome::Accepted {
            let cart = self
                .carts
                .get(&placed.cart_id)
                .expect("decide found the cart");
            let lines = self.lines(cart);
            let owner = Arc::clone(&cart.owner);
            for line in &lines {
                *self.reserved.entry(line.product_id.clone()).or_insert(0) += line.quantity;
            }
            self.carts.get_mut(&placed.cart_id).expect("cart").ordered = true;
            self.carts.insert(
                placed.next_cart_id.clone(),
                Cart {
                    owner: Arc::clone(&owner),
                    ..Cart::default()
                },
            );
            self.orders.insert(
                placed.order_id.clone(),
                Order {
                    owner,
                    lines,
                    created_at_ms: placed.created_at_ms,
                    status: Status::Accepted,
                },
            );
            self.accepted_at.insert(offset, placed.order_id.clone());
        }
        self.outcomes.insert(placed.order_id.clone(), outcome);
    }

    fn ship(&mut self, shipped: &OrderShipped) {
        // The fulfilment publishes every internal event, a shipment it ignored as a duplicate too:
        // the same rule ignores it here, so on-hand stock stays the fulfilment's.
        let Some(complete) = self.on_hand.ship(shipped) else {
            return;
        };
        let Some(order) = self.orders.get_mut(&shipped.order_id) else {
            return;
        };
        if order.status != Status::Accepted {
            return;
        }
        for line in &order.lines {
            if let Some(reserved) = self.reserved.get_mut(&line.product_id) {
                *reserved -= line.quantity;
            }
        }
        order.status = if complete {
            Status::Shipped
        } else {
            Status::Backordered
        };
    }
}

fn sorted_ids<'a>(ids: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.cloned().collect();
    ids.sort();
    ids
}
