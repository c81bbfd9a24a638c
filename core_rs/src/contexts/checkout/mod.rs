//! The checkout projection: products and stock bridged from pim and fulfilment, carts, orders.
//! Every decision (is a quantity accepted, is an order accepted) is taken here, while the event is
//! applied, so every replica and every replay decides the same way.

pub mod view;

use crate::codec::checkout::{self as pb, fulfilment_changed::Change, internal_message::Event};
use crate::codec::fulfilment::OrderShipped;
use crate::codec::{pim, DecodeError};
use crate::contexts::catalog;
use crate::contexts::id::Id;
use crate::projection::Model;
use crate::snapshot::{self, Persist, Reader, Snapshot, SnapshotError, Writer};
use crate::stock::OnHand;
use crate::swap::{replay_by_reapplying, Apply};
use prost::Message;
use std::fmt;
/// Hash maps keyed by ids: ahash, much faster than SipHash, and still keyed at random per
/// process, so that ids a client picks (a cart cookie) cannot be aimed at one bucket.
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
type HashSet<K> = std::collections::HashSet<K, ahash::RandomState>;
use std::collections::VecDeque;
use std::sync::Arc;

pub const MAX_QUANTITY: i64 = 999;

/// A product as checkout needs it: its price, its name and its small image's URL, in the
/// catalog's form, which both copies of the model share. When the catalog holds the product with
/// the same three (interned for the process), it is that allocation: a cart shows what the catalog
/// and the search hold anyway (checkout's own copy of the three was 128 bytes a product at 10^6).
/// Whether it is for sale is the model's (`Checkout::disabled`).
#[derive(Clone)]
pub struct Product(catalog::Product);

impl Product {
    /// Checkout's own product: a view of the three fields only.
    pub fn new(price: i64, name: &str, small_image_url: &str) -> Product {
        Product(catalog::Product::from_pim(&pim::Product {
            price,
            name: name.into(),
            small_image_url: small_image_url.into(),
            ..Default::default()
        }))
    }

    /// Product `id` with these three: the catalog's allocation if it is for sale and the catalog
    /// holds it alike, else checkout's own (`new`; a disabled one keeps no catalog allocation
    /// alive). Looking first builds nothing a product the catalog holds: a snapshot's million
    /// products, or the events of a catalog that is ahead.
    pub fn of(id: &str, price: i64, name: &str, small_image_url: &str, disabled: bool) -> Product {
        Product::of_listed(
            catalog::interned::held(id),
            price,
            name,
            small_image_url,
            disabled,
        )
    }

    /// `of`, given what the catalog holds of the product's id (`listed`).
    fn of_listed(
        listed: Option<catalog::Product>,
        price: i64,
        name: &str,
        small_image_url: &str,
        disabled: bool,
    ) -> Product {
        let image = small_image_url.as_bytes();
        listed
            .filter(|listed| !disabled && Product::shows(listed, price, name, image))
            .map_or_else(|| Product::new(price, name, small_image_url), Product)
    }

    /// This product of id `id` as the catalog holds it, if it does with the same price, name
    /// and image.
    pub fn listed(&self, id: &str) -> Option<Product> {
        catalog::interned::held(id)
            .filter(|listed| Product::shows_as(&self.0, listed))
            .map(Product)
    }

    /// Whether this is checkout's own allocation, not the catalog's: only the catalog's products
    /// have an id (every product it holds has one).
    fn is_own(&self) -> bool {
        self.0.id().is_empty()
    }

    /// Whether a cart shows `a` as it shows `b`.
    fn shows_as(a: &catalog::Product, b: &catalog::Product) -> bool {
        Product::shows(b, a.price(), a.name(), a.small_image_url())
    }

    /// Whether a cart shows `product` with this price, name and image.
    fn shows(product: &catalog::Product, price: i64, name: &str, image: &[u8]) -> bool {
        product.price() == price && product.name() == name && product.small_image_url() == image
    }

    /// The same allocation.
    pub fn same(&self, other: &Product) -> bool {
        self.0.same(&other.0)
    }

    pub fn price(&self) -> i64 {
        self.0.price()
    }

    pub fn name(&self) -> &str {
        self.0.name()
    }

    pub fn small_image_url(&self) -> &str {
        // SAFETY: checkout's own product was built from a `str`; the catalog's, when taken, had
        // the same bytes (`listed`).
        unsafe { std::str::from_utf8_unchecked(self.0.small_image_url()) }
    }
}

/// Equal as a cart shows them, however stored.
impl PartialEq for Product {
    fn eq(&self, other: &Product) -> bool {
        Product::shows_as(&self.0, &other.0)
    }
}

impl Eq for Product {}

impl fmt::Debug for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Product")
            .field("price", &self.price())
            .field("name", &self.name())
            .field("small_image_url", &self.small_image_url())
            .finish()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Cart {
    pub items: HashMap<String, i64>,
    pub version: i64,
    /// Set once the cart was ordered: it takes no more changes, and leads to its order.
    pub ordered: Option<Ordered>,
    /// The shopper: the first cart's id, handed on to each next cart. Orders are visible to it.
    pub owner: Arc<str>,
}

/// Where an ordered cart leads its shopper: the order, and the cart that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ordered {
    pub order_id: String,
    pub next_cart_id: String,
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
    /// The fulfilment_pub offset of the shipment that decided its status (-1 while accepted): a
    /// shipment delivered again is ignored, and whoever mails shipments sends one email per order.
    pub shipped_at: i64,
    /// The shopper's details as a serialized, sealed `shoppers.Sealed` (empty: none given). Kept
    /// unread: only the holder of the shopper's key can open it, so forgetting that key forgets
    /// them here too, in every replay and snapshot.
    pub shopper: Vec<u8>,
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

/// Why a CartItemSet changed nothing. Decided here when the command is applied, so the answer to
/// the shopper is the decision every replica and replay takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The quantity is outside 0..=MAX_QUANTITY.
    Quantity,
    /// The product is unknown or disabled (and the quantity is not 0).
    NotForSale,
    /// The cart was ordered already: it takes no more changes.
    Ordered,
    /// A removal (quantity 0) of a product the cart does not hold.
    NotInCart,
}

impl Refusal {
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Quantity => "quantity",
            Refusal::NotForSale => "not-for-sale",
            Refusal::Ordered => "ordered",
            Refusal::NotInCart => "not-in-cart",
        }
    }
}

/// The refused CartItemSet commands of the last REFUSALS_KEPT refusals, by offset: enough for a
/// writer to learn its command's fate right after it was applied. Not part of snapshots: nobody
/// waits for a command applied before the process started.
#[derive(Debug, Clone, Default)]
pub struct Refusals {
    by_offset: std::collections::BTreeMap<i64, Refusal>,
    /// The lowest offset whose fate is still known: refusals before it were let go.
    known_from: i64,
}

const REFUSALS_KEPT: usize = 4096;

/// The fate of the command at one offset, as far as the model still knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Applied,
    Refused(Refusal),
    /// Too long ago: more than REFUSALS_KEPT refusals came after it.
    Forgotten,
}

impl Refusals {
    /// No refusal known, and none before `offset` knowable (a model restored from a snapshot).
    fn since(offset: i64) -> Refusals {
        Refusals {
            by_offset: Default::default(),
            known_from: offset,
        }
    }

    fn record(&mut self, offset: i64, refusal: Refusal) {
        self.by_offset.insert(offset, refusal);
        if self.by_offset.len() > REFUSALS_KEPT {
            if let Some((oldest, _)) = self.by_offset.pop_first() {
                self.known_from = oldest + 1;
            }
        }
    }

    pub fn fate(&self, offset: i64) -> Fate {
        match self.by_offset.get(&offset) {
            Some(refusal) => Fate::Refused(*refusal),
            None if offset < self.known_from => Fate::Forgotten,
            None => Fate::Applied,
        }
    }
}

/// What became of an OrderPlaced command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
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
    /// Ids and products as the two copies of the model share them.
    Product {
        id: Id,
        product: Product,
        disabled: bool,
    },
    Stock {
        product_id: Id,
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
            Effect::Product {
                product: Product::of(
                    &p.product_id,
                    p.price,
                    &p.name,
                    &p.small_image_url,
                    p.disabled,
                ),
                id: p.product_id.into(),
                disabled: p.disabled,
            }
        }
        Event::FulfilmentChanged(f) => {
            op.fulfilment_offset = Some(f.fulfilment_offset);
            match f.change {
                Some(Change::StockCorrected(s)) => {
                    non_empty(&s.product_id, "product_id")?;
                    Effect::Stock {
                        product_id: s.product_id.into(),
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

#[derive(Clone)]
pub struct Checkout {
    /// Stock levels and products by id, one entry each (a product's id is one allocation, in
    /// both copies).
    on_hand: OnHand<Option<Product>>,
    /// Entries of `on_hand` that hold a product.
    product_count: usize,
    /// Products not for sale.
    disabled: HashSet<Id>,
    /// Products for sale held as checkout's own that the catalog may come to hold alike: its
    /// projection runs beside this one, often behind it. Tried again after each batch.
    unlisted: VecDeque<Id>,
    reserved: HashMap<String, i64>,
    carts: HashMap<String, Cart>,
    orders: HashMap<String, Order>,
    decisions: HashMap<String, Decision>,
    /// checkout_internal offset of each accepted OrderPlaced → its order id (for the publisher).
    accepted_at: HashMap<i64, String>,
    refusals: Refusals,
    offset: i64,
    pim_offset: i64,
    fulfilment_offset: i64,
}

impl Default for Checkout {
    fn default() -> Self {
        Checkout {
            on_hand: OnHand::default(),
            product_count: 0,
            disabled: HashSet::default(),
            unlisted: VecDeque::new(),
            reserved: HashMap::default(),
            carts: HashMap::default(),
            orders: HashMap::default(),
            decisions: HashMap::default(),
            accepted_at: HashMap::default(),
            refusals: Refusals::default(),
            offset: -1,
            pim_offset: -1,
            fulfilment_offset: -1,
        }
    }
}

impl Apply for Checkout {
    type Op = Op;
    replay_by_reapplying!(Op);

    fn apply_batch(&mut self, ops: &[Op]) {
        ops.iter().for_each(|op| self.apply(op));
        self.list_unlisted(ops.len().max(16));
    }

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
            Effect::Product {
                id,
                product,
                disabled,
            } => self.hold_product(id, product, *disabled),
            Effect::Stock { product_id, change } => {
                self.on_hand
                    .correct(product_id, *change, || product_id.clone());
            }
            Effect::Shipped(shipped) => self.ship(shipped, op.fulfilment_offset.unwrap_or(-1)),
            Effect::SetItem {
                cart_id,
                product_id,
                quantity,
            } => self.set_item(op.offset, cart_id, product_id, *quantity),
            Effect::Place(placed) => self.place(op.offset, placed),
            Effect::Poison => {}
        }
    }
}

impl Checkout {
    /// Holds `product` for `id` (made by `Product::of`: the catalog's allocation if it held the
    /// same then), for sale or not. One for sale held as checkout's own is queued, and tried
    /// again after the batch (`list_unlisted`), not looked for again now.
    fn hold_product(&mut self, id: &Id, product: &Product, disabled: bool) {
        if disabled {
            self.disabled.insert(id.clone());
        } else {
            self.disabled.remove(id.as_str());
            if product.is_own() {
                self.unlisted.push_back(id.clone());
            }
        }
        if self.on_hand.hold(id, Some(product.clone())).is_none() {
            self.product_count += 1;
        }
    }

    /// Takes the catalog's allocation for the products queued in `unlisted` that it now holds
    /// alike, oldest first, until `tries` were not (each goes last: a product the catalog never
    /// takes does not hold up the rest). A batch tries as many as it had ops, and at least a
    /// few: at most one lookup more an op.
    fn list_unlisted(&mut self, tries: usize) {
        let mut failed = 0;
        while failed < tries.min(self.unlisted.len()) {
            let Some(id) = self.unlisted.pop_front() else {
                return;
            };
            if self.disabled.contains(id.as_str()) {
                continue;
            }
            let Some(Some(product)) = self.on_hand.held_mut(&id) else {
                continue;
            };
            if !product.is_own() {
                continue; // the catalog's already (a later change, `Product::of`)
            }
            match product.listed(&id) {
                Some(listed) => *product = listed,
                None => {
                    self.unlisted.push_back(id);
                    failed += 1;
                }
            }
        }
        if self.unlisted.is_empty() {
            self.unlisted = VecDeque::new(); // a first start queued up to every product
        }
    }

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
        self.on_hand.held(id)?.as_ref()
    }

    pub fn cart(&self, id: &str) -> Option<&Cart> {
        self.carts.get(id)
    }

    pub fn order(&self, id: &str) -> Option<&Order> {
        self.orders.get(id)
    }

    pub fn decision(&self, order_id: &str) -> Option<&Decision> {
        self.decisions.get(order_id)
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

    /// Units a shopper may still order: what is available of a product for sale, else none.
    pub fn for_sale(&self, product_id: &str) -> i64 {
        if self.enabled(product_id) {
            self.available(product_id)
        } else {
            0
        }
    }

    /// The lines of a cart in display order: by name, then product id.
    pub fn lines(&self, cart: &Cart) -> Vec<Line> {
        let mut lines: Vec<Line> = cart
            .items
            .iter()
            .map(|(product_id, &quantity)| {
                let product = self.product(product_id);
                Line {
                    product_id: product_id.clone(),
                    name: product.map(|p| p.name().to_owned()).unwrap_or_default(),
                    price: product.map_or(0, Product::price),
                    small_image_url: product
                        .map(|p| p.small_image_url().to_owned())
                        .unwrap_or_default(),
                    quantity,
                }
            })
            .collect();
        lines.sort_by(|a, b| (&a.name, &a.product_id).cmp(&(&b.name, &b.product_id)));
        lines
    }

    fn enabled(&self, product_id: &str) -> bool {
        self.product(product_id).is_some() && !self.disabled(product_id)
    }

    /// Whether the product is not for sale (disabled in pim).
    pub fn disabled(&self, product_id: &str) -> bool {
        self.disabled.contains(product_id)
    }

    /// Why setting `quantity` of `product_id` in `cart_id` would change nothing, if it would not.
    pub fn refusal(&self, cart_id: &str, product_id: &str, quantity: i64) -> Option<Refusal> {
        if !(0..=MAX_QUANTITY).contains(&quantity) {
            return Some(Refusal::Quantity);
        }
        if quantity > 0 && !self.enabled(product_id) {
            return Some(Refusal::NotForSale);
        }
        let cart = self.carts.get(cart_id);
        if cart.is_some_and(|c| c.ordered.is_some()) {
            return Some(Refusal::Ordered);
        }
        if quantity == 0 && !cart.is_some_and(|c| c.items.contains_key(product_id)) {
            return Some(Refusal::NotInCart);
        }
        None
    }

    /// The fate of the command applied at `offset`.
    pub fn fate(&self, offset: i64) -> Fate {
        self.refusals.fate(offset)
    }

    fn set_item(&mut self, offset: i64, cart_id: &str, product_id: &str, quantity: i64) {
        if let Some(refusal) = self.refusal(cart_id, product_id, quantity) {
            self.refusals.record(offset, refusal);
            return;
        }
        let cart = self
            .carts
            .entry(cart_id.to_owned())
            .or_insert_with(|| Cart {
                owner: cart_id.into(),
                ..Cart::default()
            });
        if quantity == 0 {
            cart.items.remove(product_id);
        } else {
            cart.items.insert(product_id.to_owned(), quantity);
        }
        cart.version += 1;
    }

    fn decide(&self, placed: &pb::OrderPlaced) -> Decision {
        let Some(cart) = self.carts.get(&placed.cart_id) else {
            return if placed.cart_version != 0 {
                Decision::Version
            } else {
                Decision::Empty
            };
        };
        if cart.ordered.is_some() {
            return Decision::Ordered;
        }
        if cart.version != placed.cart_version {
            return Decision::Version;
        }
        if cart.items.is_empty() {
            return Decision::Empty;
        }
        let unavailable = sorted_ids(cart.items.keys().filter(|id| !self.enabled(id)));
        if !unavailable.is_empty() {
            return Decision::Unavailable(unavailable);
        }
        let short = sorted_ids(
            cart.items
                .iter()
                .filter(|(id, &quantity)| quantity > self.available(id))
                .map(|(id, _)| id),
        );
        if !short.is_empty() {
            return Decision::Stock(short);
        }
        Decision::Accepted
    }

    fn place(&mut self, offset: i64, placed: &pb::OrderPlaced) {
        if self.decisions.contains_key(&placed.order_id) {
            return; // a retried command: decided once
        }
        let decision = self.decide(placed);
        if decision == Decision::Accepted {
            let cart = self
                .carts
                .get(&placed.cart_id)
                .expect("decide found the cart");
            let lines = self.lines(cart);
            let owner = Arc::clone(&cart.owner);
            for line in &lines {
                *self.reserved.entry(line.product_id.clone()).or_insert(0) += line.quantity;
            }
            self.carts.get_mut(&placed.cart_id).expect("cart").ordered = Some(Ordered {
                order_id: placed.order_id.clone(),
                next_cart_id: placed.next_cart_id.clone(),
            });
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
                    shipped_at: -1,
                    shopper: placed.shopper.clone(),
                },
            );
            self.accepted_at.insert(offset, placed.order_id.clone());
        }
        self.decisions.insert(placed.order_id.clone(), decision);
    }

    /// Applies the shipment bridged from fulfilment_pub offset `at`.
    fn ship(&mut self, shipped: &OrderShipped, at: i64) {
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
        order.shipped_at = at;
    }
}

fn sorted_ids<'a>(ids: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.cloned().collect();
    ids.sort();
    ids
}

/// Saved as its three fields (`Checkout::save_products` writes the id before and whether it is
/// disabled after them).
impl Product {
    const MIN_BYTES: usize = 8 + 4 + 4;

    fn save(&self, out: &mut Writer<'_>) {
        self.price().save(out);
        out.str(self.name());
        out.str(self.small_image_url());
    }

    /// The price, name and image `save` wrote.
    fn saved<'a>(input: &mut Reader<'a>) -> snapshot::Result<(i64, &'a str, &'a str)> {
        Ok((Persist::restore(input)?, input.str()?, input.str()?))
    }
}

impl Persist for Ordered {
    const MIN_BYTES: usize = 4 + 4;
    fn save(&self, out: &mut Writer<'_>) {
        self.order_id.save(out);
        self.next_cart_id.save(out);
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        Ok(Ordered {
            order_id: Persist::restore(input)?,
            next_cart_id: Persist::restore(input)?,
        })
    }
}

impl Persist for Cart {
    const MIN_BYTES: usize = 4 + 8 + 1 + 4;
    fn save(&self, out: &mut Writer<'_>) {
        self.items.save(out);
        self.version.save(out);
        self.ordered.save(out);
        self.owner.save(out);
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        Ok(Cart {
            items: Persist::restore(input)?,
            version: Persist::restore(input)?,
            ordered: Persist::restore(input)?,
            owner: Persist::restore(input)?,
        })
    }
}

impl Persist for Line {
    const MIN_BYTES: usize = 4 + 4 + 8 + 4 + 8;
    fn save(&self, out: &mut Writer<'_>) {
        self.product_id.save(out);
        self.name.save(out);
        self.price.save(out);
        self.small_image_url.save(out);
        self.quantity.save(out);
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        Ok(Line {
            product_id: Persist::restore(input)?,
            name: Persist::restore(input)?,
            price: Persist::restore(input)?,
            small_image_url: Persist::restore(input)?,
            quantity: Persist::restore(input)?,
        })
    }
}

impl Persist for Status {
    const MIN_BYTES: usize = 1;
    fn save(&self, out: &mut Writer<'_>) {
        out.u8(match self {
            Status::Accepted => 0,
            Status::Shipped => 1,
            Status::Backordered => 2,
        });
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        match input.u8()? {
            0 => Ok(Status::Accepted),
            1 => Ok(Status::Shipped),
            2 => Ok(Status::Backordered),
            other => Err(SnapshotError(format!("{other} is not an order status"))),
        }
    }
}

impl Persist for Order {
    const MIN_BYTES: usize = 4 + 4 + 8 + 1 + 8 + 4;
    fn save(&self, out: &mut Writer<'_>) {
        self.owner.save(out);
        self.lines.save(out);
        self.created_at_ms.save(out);
        self.status.save(out);
        self.shipped_at.save(out);
        out.blob(&self.shopper);
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        Ok(Order {
            owner: Persist::restore(input)?,
            lines: Persist::restore(input)?,
            created_at_ms: Persist::restore(input)?,
            status: Persist::restore(input)?,
            shipped_at: Persist::restore(input)?,
            shopper: input.blob()?.to_vec(),
        })
    }
}

impl Persist for Decision {
    const MIN_BYTES: usize = 1 + 4;
    fn save(&self, out: &mut Writer<'_>) {
        let (tag, ids): (u8, &[String]) = match self {
            Decision::Accepted => (0, &[]),
            Decision::Ordered => (1, &[]),
            Decision::Version => (2, &[]),
            Decision::Empty => (3, &[]),
            Decision::Unavailable(ids) => (4, ids),
            Decision::Stock(ids) => (5, ids),
        };
        out.u8(tag);
        out.len(ids.len());
        ids.iter().for_each(|id| id.save(out));
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        let tag = input.u8()?;
        let ids = Vec::<String>::restore(input)?;
        match (tag, ids.is_empty()) {
            (0, true) => Ok(Decision::Accepted),
            (1, true) => Ok(Decision::Ordered),
            (2, true) => Ok(Decision::Version),
            (3, true) => Ok(Decision::Empty),
            (4, false) => Ok(Decision::Unavailable(ids)),
            (5, false) => Ok(Decision::Stock(ids)),
            _ => Err(SnapshotError(format!("{tag} is not an order decision"))),
        }
    }
}

/// Saved field by field; the order of the hash maps is whatever it is, loading does not care.
/// `accepted_at` is kept whole: the publisher may resume before the snapshot's offset and still
/// asks which order was accepted at each offset after the last one it announced.
impl Model for Checkout {
    const SNAPSHOT_IN_MEMORY: bool = true;

    fn decode(offset: i64, bytes: &[u8]) -> Result<Op, DecodeError> {
        decode(offset, bytes)
    }

    fn poison(offset: i64) -> Op {
        Op {
            offset,
            pim_offset: None,
            fulfilment_offset: None,
            effect: Effect::Poison,
        }
    }

    fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("products", self.product_count),
            ("stock_levels", self.on_hand.len()),
            ("carts", self.carts.len()),
            ("orders", self.orders.len()),
        ]
    }
}

/// A product as `save_products` wrote it: its id, price, name and image, and whether disabled.
type SavedProduct<'a> = (&'a str, (i64, &'a str, &'a str), bool);

fn saved_product<'a>(input: &mut Reader<'a>) -> snapshot::Result<SavedProduct<'a>> {
    Ok((input.str()?, Product::saved(input)?, bool::restore(input)?))
}

/// Saved products with their ids and, where the catalog holds one alike, its allocation.
fn looked_up(saved: Vec<SavedProduct<'_>>) -> Vec<(Id, Product, bool)> {
    let texts: Vec<&str> = saved.iter().map(|(id, ..)| *id).collect();
    let listed = catalog::interned::held_all(&texts);
    let ids = Id::new_all(&texts);
    ids.into_iter()
        .zip(listed)
        .zip(saved)
        .map(|((id, listed), (_, (price, name, image), disabled))| {
            (
                id,
                Product::of_listed(listed, price, name, image, disabled),
                disabled,
            )
        })
        .collect()
}

/// Products are saved as a map of ids to products, then the stock levels (`OnHand`'s own format):
/// the format of the two maps they were held in before.
impl Checkout {
    fn save_products(&self, out: &mut Writer<'_>) {
        out.len(self.product_count);
        for (id, product) in self.on_hand.held_iter() {
            if let Some(product) = product {
                id.save(out);
                product.save(out);
                self.disabled(id).save(out);
            }
        }
    }

    /// Holds the products `save_products` wrote, as applying them would: each product's id and
    /// the catalog's allocation are looked up a batch ahead, on another thread.
    fn restore_products(&mut self, input: &mut Reader<'_>) -> snapshot::Result<()> {
        let len = input.len(Id::MIN_BYTES + Product::MIN_BYTES + 1)?;
        self.on_hand.reserve(len);
        snapshot::in_batches_ahead(input, len, saved_product, looked_up, |products| {
            for (id, product, disabled) in products {
                if self.product(&id).is_some() {
                    return snapshot::refuse(format!("product {id:?} twice"));
                }
                self.hold_product(&id, &product, disabled);
            }
            Ok(())
        })
    }
}

impl Snapshot for Checkout {
    const KIND: &'static str = "checkout";

    fn offset(&self) -> i64 {
        self.offset
    }

    fn save(&self, out: &mut Writer<'_>) {
        self.offset.save(out);
        self.pim_offset.save(out);
        self.fulfilment_offset.save(out);
        self.save_products(out);
        self.on_hand.save(out);
        self.reserved.save(out);
        self.carts.save(out);
        self.orders.save(out);
        self.decisions.save(out);
        self.accepted_at.save(out);
    }

    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        let offset: i64 = Persist::restore(input)?;
        let pim_offset = Persist::restore(input)?;
        let fulfilment_offset = Persist::restore(input)?;
        let mut products = Checkout::default();
        products.restore_products(input)?;
        products.on_hand.restore_levels(input)?;
        Ok(Checkout {
            offset,
            pim_offset,
            fulfilment_offset,
            reserved: Persist::restore(input)?,
            carts: Persist::restore(input)?,
            orders: Persist::restore(input)?,
            decisions: Persist::restore(input)?,
            accepted_at: Persist::restore(input)?,
            refusals: Refusals::since(offset + 1),
            ..products
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::fulfilment::OrderItem;
    use crate::fulfilment::{self, Fulfilment};
    use crate::snapshot::{read, serialize, write, written, Identity};

    fn identity() -> Identity {
        Identity {
            topic: "checkout_internal".into(),
            topic_id: "t".into(),
            cluster_id: "c".into(),
        }
    }

    fn round_trip<M: Snapshot>(model: &M, name: &str) -> M {
        let dir = std::env::temp_dir().join(format!("checkout-snapshot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        write(&path, &identity(), model).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            bytes,
            serialize(&identity(), model),
            "in memory as in the file"
        );
        read(&bytes, &identity(), model.offset()).unwrap()
    }

    fn op(offset: i64, effect: Effect) -> Op {
        Op {
            offset,
            pim_offset: None,
            fulfilment_offset: None,
            effect,
        }
    }

    fn product(price: i64) -> Effect {
        Effect::Product {
            id: format!("p{price}").into(),
            product: Product::new(price, &format!("name {price}"), "u"),
            disabled: false,
        }
    }

    fn set(cart: &str, product: &str, quantity: i64) -> Effect {
        Effect::SetItem {
            cart_id: cart.into(),
            product_id: product.into(),
            quantity,
        }
    }

    fn place(cart: &str, order: &str, version: i64) -> Effect {
        Effect::Place(pb::OrderPlaced {
            cart_id: cart.into(),
            order_id: order.into(),
            cart_version: version,
            next_cart_id: format!("{cart}-next"),
            created_at_ms: 7,
            shopper: b"sealed".to_vec(),
        })
    }

    /// Products, stock, carts; orders refused for their version and for stock, accepted, shipped.
    fn sample() -> Vec<Op> {
        let shipped = OrderShipped {
            order_id: "o2".into(),
            items: vec![OrderItem {
                product_id: "p1".into(),
                quantity: 2,
            }],
            checkout_offset: 0,
        };
        let mut ops = vec![
            op(0, product(1)),
            op(1, product(2)),
            op(
                2,
                Effect::Stock {
                    product_id: "p1".into(),
                    change: 5,
                },
            ),
            op(3, set("c1", "p1", 2)),
            op(4, set("c1", "p2", 1)),
            op(5, place("c1", "o0", 1)),
            op(6, place("c1", "o1", 2)),
            op(7, set("c1", "p2", 0)),
            op(8, place("c1", "o2", 3)),
            op(9, Effect::Shipped(shipped)),
            op(10, set("c1-next", "p1", 3)),
            op(11, place("c1-next", "o3", 1)),
        ];
        ops[0].pim_offset = Some(10);
        ops[1].pim_offset = Some(11);
        ops[2].fulfilment_offset = Some(20);
        ops[9].fulfilment_offset = Some(21);
        ops
    }

    /// Every answer the API and the relays get from the model.
    fn answers(model: &Checkout) -> String {
        let mut out = format!(
            "{} {} {}",
            model.offset(),
            model.pim_offset(),
            model.fulfilment_offset()
        );
        for cart in ["c1", "c1-next", "c1-next-next"] {
            let cart = model.cart(cart);
            out += &String::from_utf8(view::cart_json(model, cart)).unwrap();
        }
        for order in ["o0", "o1", "o2", "o3"] {
            out += &format!("{:?}", model.decision(order));
            if let Some(o) = model.order(order) {
                out += &String::from_utf8(view::order_json(order, o)).unwrap();
            }
        }
        for offset in 0..12 {
            out += &format!("{:?}", model.order_accepted_at(offset).map(|(id, _)| id));
        }
        for p in ["p1", "p2"] {
            out += &format!(
                "{:?}",
                (model.on_hand(p), model.reserved(p), model.product(p))
            );
        }
        out
    }

    #[test]
    fn snapshot_round_trip_answers_alike_now_and_after_more_events() {
        let ops = sample();
        let mut original = Checkout::default();
        ops[..6].iter().for_each(|op| original.apply(op));
        let mut loaded = round_trip(&original, "checkout");
        assert_eq!(answers(&loaded), answers(&original));
        for op in &ops[6..] {
            original.apply(op);
            loaded.apply(op);
        }
        assert_eq!(answers(&loaded), answers(&original));
        assert_eq!(
            answers(&round_trip(&original, "checkout")),
            answers(&original)
        );
    }

    #[test]
    fn stock_levels_count_what_is_available_for_sale() {
        let mut model = Checkout::default();
        sample()[..9].iter().for_each(|op| model.apply(op)); // o2 reserved 2 of p1's 5
        let levels = view::stock_json(&model, ["p1", "p2", "unknown"]);
        assert_eq!(
            String::from_utf8(levels).unwrap(),
            r#"{"items":[{"product_id":"p1","available":3},{"product_id":"p2","available":0},{"product_id":"unknown","available":0}]}"#
        );
    }

    /// The key `id`'s entry is held under.
    fn key(model: &Checkout, id: &str) -> Id {
        let mut found = model
            .on_hand
            .held_iter()
            .filter(|(key, _)| key.as_str() == id);
        found.next().unwrap().0.clone()
    }

    #[test]
    fn a_product_and_its_stock_are_one_entry_whose_id_both_copies_share() {
        let stock = |offset: i64, id: &str| Op {
            fulfilment_offset: Some(offset),
            ..op(
                offset,
                Effect::Stock {
                    product_id: id.into(),
                    change: 1,
                },
            )
        };
        let mut ops = [
            op(0, product(1)),
            stock(1, "p1"),
            stock(2, "p2"),
            op(3, product(2)),
        ];
        ops[0].pim_offset = Some(0);
        ops[3].pim_offset = Some(3);
        let (mut copy, mut other) = (Checkout::default(), Checkout::default());
        ops.iter().for_each(|op| copy.apply(op));
        ops.iter().for_each(|op| other.apply(op));
        let loaded = round_trip(&copy, "one-entry");
        for model in [&copy, &loaded] {
            let entries = model.on_hand.held_iter().count();
            assert_eq!(
                (entries, model.on_hand.len(), model.product_count),
                (2, 2, 2)
            );
        }
        for id in ["p1", "p2"] {
            assert!(key(&copy, id).same(&key(&other, id)));
            assert!(copy.product(id).unwrap().same(other.product(id).unwrap()));
            assert_eq!(
                (loaded.on_hand(id), loaded.product(id)),
                (1, copy.product(id))
            );
        }
    }

    /// The catalog's product of `id` at pim offset 1, interned for the process as if decoded.
    fn in_catalog(id: &str, price: i64, name: &str) -> catalog::Product {
        let pim = crate::codec::pim::Product {
            id: id.into(),
            price,
            name: name.into(),
            small_image_url: "u".into(),
            ..Default::default()
        };
        let listed = catalog::Product::from_pim(&pim);
        catalog::Product::from_views(&[listed.view()], 1)
            .unwrap()
            .remove(0)
    }

    /// Whether the model holds the catalog's allocation of product `id`.
    fn listed(model: &Checkout, id: &str) -> bool {
        let held = model.product(id).unwrap();
        catalog::interned::held(id).is_some_and(|p| held.same(&Product(p)))
    }

    #[test]
    fn a_product_the_catalog_holds_alike_shares_its_bytes() {
        let _held = [
            in_catalog("checkout-listed", 1, "Lamp"),
            in_catalog("checkout-repriced", 3, "Desk"),
            in_catalog("checkout-renamed", 1, "Chair"),
        ];
        let changed = |offset: i64, id: &str, price: i64, name: &str, disabled: bool| Op {
            pim_offset: Some(offset),
            ..op(
                offset,
                Effect::Product {
                    id: id.into(),
                    product: Product::of(id, price, name, "u", disabled),
                    disabled,
                },
            )
        };
        let ops = [
            changed(0, "checkout-listed", 1, "Lamp", false),
            changed(1, "checkout-repriced", 2, "Desk", false),
            changed(2, "checkout-renamed", 1, "Stool", false),
            changed(3, "checkout-unknown", 1, "Rug", false),
        ];
        let mut model = Checkout::default();
        ops.iter().for_each(|op| model.apply(op));
        let ids = [
            "checkout-listed",
            "checkout-repriced",
            "checkout-renamed",
            "checkout-unknown",
        ];
        let all_listed = |model: &Checkout| ids.map(|id| listed(model, id));
        assert_eq!(all_listed(&model), [true, false, false, false]);
        let loaded = round_trip(&model, "listed");
        assert_eq!(all_listed(&loaded), all_listed(&model));
        assert_eq!(answers(&loaded), answers(&model));
        let shown = model.product("checkout-listed").unwrap();
        assert_eq!(
            (shown.price(), shown.name(), shown.small_image_url()),
            (1, "Lamp", "u")
        );
        assert!(model.enabled("checkout-listed"));
        model.apply(&changed(4, "checkout-listed", 1, "Lamp", true));
        assert!(!listed(&model, "checkout-listed") && !model.enabled("checkout-listed"));
        assert!(round_trip(&model, "disabled").disabled("checkout-listed"));

        // The catalog comes to hold one alike: the next batch lists it, in a loaded copy too.
        let _later = in_catalog("checkout-unknown", 1, "Rug");
        let mut loaded = round_trip(&model, "unlisted");
        for model in [&mut model, &mut loaded] {
            model.apply_batch(&[changed(5, "checkout-other", 1, "Vase", false)]);
            assert!(listed(model, "checkout-unknown"));
        }
    }

    /// A product event or a snapshot's product the catalog holds alike is the catalog's
    /// allocation from the start: checkout builds none of its own for it.
    #[test]
    fn a_product_the_catalog_holds_alike_is_decoded_as_its_allocation() {
        let held = in_catalog("checkout-decoded", 7, "Lamp");
        let event = |name: &str, disabled: bool| {
            let message = pb::InternalMessage {
                event: Some(Event::ProductChanged(pb::ProductChanged {
                    product_id: "checkout-decoded".into(),
                    price: 7,
                    name: name.into(),
                    small_image_url: "u".into(),
                    disabled,
                    pim_offset: 1,
                })),
            };
            match decode(0, &message.encode_to_vec()).unwrap().effect {
                Effect::Product { product, .. } => product,
                other => panic!("not a product: {other:?}"),
            }
        };
        assert!(event("Lamp", false).same(&Product(held.clone())));
        assert!(!event("Lamp", false).is_own());
        let renamed = event("Lamp II", false);
        assert!(renamed.is_own() && renamed.name() == "Lamp II");
        // A disabled product keeps no catalog allocation alive (the catalog lets go of it).
        assert!(event("Lamp", true).is_own());

        let snapshot = |disabled: bool| {
            let products = written(|out| {
                out.len(1);
                out.str("checkout-decoded");
                Product::new(7, "Lamp", "u").save(out);
                disabled.save(out);
            });
            let mut model = Checkout::default();
            model.restore_products(&mut Reader::new(&products)).unwrap();
            model.product("checkout-decoded").unwrap().clone()
        };
        assert!(snapshot(false).same(&Product(held)));
        assert!(snapshot(true).is_own());
    }

    /// A snapshot with a product or a stock level twice is refused: each is one entry.
    #[test]
    fn a_snapshot_with_an_id_twice_is_refused() {
        let products = written(|out| {
            out.len(2);
            for _ in 0..2 {
                out.str("p1");
                Product::new(1, "name", "u").save(out);
                false.save(out);
            }
        });
        let err = Checkout::default()
            .restore_products(&mut Reader::new(&products))
            .unwrap_err();
        assert!(err.0.contains("twice"), "{err}");
        let levels = written(|out| {
            out.len(2);
            for units in [1i64, 2] {
                out.str("p1");
                out.i64(units);
            }
            out.i64(-1);
        });
        let err = OnHand::<()>::restore(&mut Reader::new(&levels)).unwrap_err();
        assert!(err.0.contains("twice"), "{err}");
    }

    #[test]
    fn fulfilment_snapshot_round_trip() {
        let mut model = Fulfilment::default();
        let corrected = fulfilment::Op {
            offset: 0,
            effect: fulfilment::Effect::Corrected {
                product_id: "p".into(),
                change: 4,
            },
        };
        let shipped = fulfilment::Op {
            offset: 1,
            effect: fulfilment::Effect::Shipped(OrderShipped {
                order_id: "o".into(),
                items: vec![OrderItem {
                    product_id: "p".into(),
                    quantity: 9,
                }],
                checkout_offset: 3,
            }),
        };
        model.apply(&corrected);
        model.apply(&shipped);
        let loaded = round_trip(&model, "fulfilment");
        assert_eq!(loaded.offset(), 1);
        assert_eq!(loaded.checkout_offset(), 3);
        assert_eq!(loaded.on_hand().get("p"), 0);
        assert_eq!(loaded.shipped("o"), Some(false));
    }
}
