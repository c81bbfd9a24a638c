//! The fulfilment projection: on-hand stock and the orders it shipped.

use super::id::Id;
use crate::codec::fulfilment::{internal_message::Event, InternalMessage, OrderShipped};
use crate::codec::DecodeError;
use crate::projection::Model;
use crate::snapshot::{self, Persist, Reader, Snapshot, Writer};
use crate::stock::OnHand;
use crate::swap::{replay_by_reapplying, Apply};
use prost::Message;
/// Hash maps keyed by ids: ahash, much faster than SipHash, and still keyed at random per
/// process, so that ids a client picks (a cart cookie) cannot be aimed at one bucket.
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

#[derive(Debug, Clone)]
pub enum Effect {
    Corrected { product_id: Id, change: i64 },
    Shipped(OrderShipped),
    Poison,
}

#[derive(Debug, Clone)]
pub struct Op {
    pub offset: i64,
    pub effect: Effect,
}

pub fn decode(offset: i64, bytes: &[u8]) -> Result<Op, DecodeError> {
    let effect = match InternalMessage::decode(bytes)?.event {
        Some(Event::StockCorrected(s)) if !s.product_id.is_empty() => Effect::Corrected {
            product_id: s.product_id.into(),
            change: s.quantity_change,
        },
        Some(Event::StockCorrected(_)) => return Err(DecodeError("product_id is empty".into())),
        Some(Event::OrderShipped(o)) if !o.order_id.is_empty() => Effect::Shipped(o),
        Some(Event::OrderShipped(_)) => return Err(DecodeError("order_id is empty".into())),
        None => {
            return Err(DecodeError(
                "fulfilment_internal message has no event".into(),
            ))
        }
    };
    Ok(Op { offset, effect })
}

#[derive(Clone)]
pub struct Fulfilment {
    on_hand: OnHand,
    /// Orders shipped, with whether each shipped in full.
    shipped: HashMap<String, bool>,
    offset: i64,
}

impl Default for Fulfilment {
    fn default() -> Self {
        Fulfilment {
            on_hand: OnHand::default(),
            shipped: HashMap::default(),
            offset: -1,
        }
    }
}

impl Apply for Fulfilment {
    type Op = Op;
    replay_by_reapplying!(Op);

    fn apply(&mut self, op: &Op) {
        self.offset = op.offset;
        match &op.effect {
            Effect::Corrected { product_id, change } => {
                self.on_hand
                    .correct(product_id, *change, || product_id.clone());
            }
            Effect::Shipped(order) => {
                if let Some(complete) = self.on_hand.ship(order) {
                    self.shipped.insert(order.order_id.clone(), complete);
                }
            }
            Effect::Poison => {}
        }
    }
}

impl Fulfilment {
    pub fn offset(&self) -> i64 {
        self.offset
    }
    pub fn checkout_offset(&self) -> i64 {
        self.on_hand.shipped_through()
    }

    pub fn on_hand(&self) -> &OnHand {
        &self.on_hand
    }
    pub fn shipped(&self, order_id: &str) -> Option<bool> {
        self.shipped.get(order_id).copied()
    }
}

impl Model for Fulfilment {
    const SNAPSHOT_IN_MEMORY: bool = true;

    fn decode(offset: i64, bytes: &[u8]) -> Result<Op, DecodeError> {
        decode(offset, bytes)
    }

    fn poison(offset: i64) -> Op {
        Op {
            offset,
            effect: Effect::Poison,
        }
    }

    fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("stock_levels", self.on_hand.len()),
            ("shipped_orders", self.shipped.len()),
        ]
    }
}

impl Snapshot for Fulfilment {
    const KIND: &'static str = "fulfilment";

    fn offset(&self) -> i64 {
        self.offset
    }

    fn save(&self, out: &mut Writer<'_>) {
        self.offset.save(out);
        self.on_hand.save(out);
        self.shipped.save(out);
    }

    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        Ok(Fulfilment {
            offset: Persist::restore(input)?,
            on_hand: Persist::restore(input)?,
            shipped: Persist::restore(input)?,
        })
    }
}
