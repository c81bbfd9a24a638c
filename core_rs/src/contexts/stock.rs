//! On-hand stock, kept by fulfilment and mirrored by checkout with the very same rules, so both
//! count every unit the same way.

use super::id::{Id, IdMap};
use crate::codec::fulfilment::OrderShipped;
use crate::snapshot::{self, Persist, Reader, Writer};

#[derive(Debug, Clone)]
pub struct OnHand {
    /// By product id: an allocation shared with the other copy of the model (and, in checkout,
    /// with its products), not one per copy and map.
    units: IdMap<i64>,
    /// checkout_pub offset of the last order shipped: an order bridged twice ships once.
    shipped_through: i64,
}

impl Default for OnHand {
    fn default() -> Self {
        OnHand {
            units: IdMap::default(),
            shipped_through: -1,
        }
    }
}

impl OnHand {
    pub fn get(&self, product_id: &str) -> i64 {
        self.units.get(product_id).copied().unwrap_or(0)
    }

    /// The checkout_pub offset of the last order shipped (-1: none yet).
    pub fn shipped_through(&self) -> i64 {
        self.shipped_through
    }

    /// The key `product_id` is held under, to share with another map.
    pub fn key(&self, product_id: &str) -> Option<&Id> {
        self.units.get_key_value(product_id).map(|(key, _)| key)
    }

    /// Applies a correction; stock never goes below zero. A product new here is held under
    /// `key()`.
    pub fn correct(&mut self, product_id: &str, change: i64, key: impl FnOnce() -> Id) {
        match self.units.get_mut(product_id) {
            Some(units) => *units = units.saturating_add(change).max(0),
            None => {
                self.units.insert(key(), change.max(0));
            }
        }
    }

    /// Restores what `save` wrote, each product held under `key(its id)`.
    pub fn restore_keyed(
        input: &mut Reader<'_>,
        key: impl FnMut(&str) -> Id,
    ) -> snapshot::Result<Self> {
        Ok(OnHand {
            units: IdMap::restore_keyed(input, key)?,
            shipped_through: Persist::restore(input)?,
        })
    }

    /// Products with a stock level.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Id, &i64)> {
        self.units.iter()
    }

    /// Ships an order from stock: per item, in order, as much as is on hand. Some(true) when every
    /// item shipped in full (what is missing is backordered); None for an order already shipped
    /// (its checkout offset is not past the last one), which changes nothing.
    pub fn ship(&mut self, order: &OrderShipped) -> Option<bool> {
        if order.checkout_offset <= self.shipped_through {
            return None;
        }
        self.shipped_through = order.checkout_offset;
        let mut complete = true;
        for item in &order.items {
            let shipped = item.quantity.clamp(0, self.get(&item.product_id));
            complete &= shipped == item.quantity;
            self.correct(&item.product_id, -shipped, || Id::new(&item.product_id));
        }
        Some(complete)
    }
}

impl Persist for OnHand {
    const MIN_BYTES: usize = 4 + 8;
    fn save(&self, out: &mut Writer<'_>) {
        self.units.save(out);
        self.shipped_through.save(out);
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        OnHand::restore_keyed(input, Id::new)
    }
}
