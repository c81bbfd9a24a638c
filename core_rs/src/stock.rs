//! On-hand stock, kept by fulfilment and mirrored by checkout with the very same rules, so both
//! count every unit the same way.

use crate::codec::fulfilment::OrderShipped;
use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct OnHand(HashMap<String, i64>);

impl OnHand {
    pub fn get(&self, product_id: &str) -> i64 {
        self.0.get(product_id).copied().unwrap_or(0)
    }

    /// Applies a correction; stock never goes below zero.
    pub fn correct(&mut self, product_id: &str, change: i64) {
        let units = self.0.entry(product_id.to_owned()).or_insert(0);
        *units = units.saturating_add(change).max(0);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &i64)> {
        self.0.iter()
    }
}

/// Ships an order from stock: per item, in order, as much as is on hand. True when every item
/// shipped in full; what is missing is backordered.
pub fn ship(on_hand: &mut OnHand, order: &OrderShipped) -> bool {
    let mut complete = true;
    for item in &order.items {
        let have = on_hand.get(&item.product_id);
        let shipped = item.quantity.clamp(0, have);
        complete &= shipped == item.quantity;
        on_hand.correct(&item.product_id, -shipped);
    }
    complete
}
