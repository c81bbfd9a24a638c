//! On-hand stock, kept by fulfilment and mirrored by checkout with the very same rules, so both
//! count every unit the same way.

use super::id::{Id, IdMap};
use crate::codec::fulfilment::OrderShipped;
use crate::snapshot::{self, Persist, Reader, Writer};

/// The level of an id that has none yet (an entry made for what else a model holds of it): stock
/// never goes below zero.
const NO_LEVEL: i64 = -1;

/// Stock levels by product id, and beside each what else the model holds of the product (`T`:
/// nothing in fulfilment, the product in checkout), so that one map by id serves both: at a
/// million products one map takes half of what two do.
#[derive(Debug, Clone)]
pub struct OnHand<T = ()> {
    /// By product id (an allocation shared with the other copy of the model): what else is held,
    /// and the stock level or `NO_LEVEL`.
    entries: IdMap<(T, i64)>,
    /// Entries with a level.
    levels: usize,
    /// checkout_pub offset of the last order shipped: an order bridged twice ships once.
    shipped_through: i64,
}

impl<T> Default for OnHand<T> {
    fn default() -> Self {
        OnHand {
            entries: IdMap::default(),
            levels: 0,
            shipped_through: -1,
        }
    }
}

impl<T: Default> OnHand<T> {
    pub fn get(&self, product_id: &str) -> i64 {
        self.entries
            .get(product_id)
            .map_or(0, |&(_, units)| units.max(0))
    }

    /// The checkout_pub offset of the last order shipped (-1: none yet).
    pub fn shipped_through(&self) -> i64 {
        self.shipped_through
    }

    /// Applies a correction; stock never goes below zero. A product new here is held under
    /// `key()`.
    pub fn correct(&mut self, product_id: &str, change: i64, key: impl FnOnce() -> Id) {
        let (_, units) = self
            .entries
            .get_or_insert_with(product_id, key, || (T::default(), NO_LEVEL));
        if *units == NO_LEVEL {
            (*units, self.levels) = (0, self.levels + 1);
        }
        *units = units.saturating_add(change).max(0);
    }

    /// What else is held of `product_id`, if anything was.
    pub fn held(&self, product_id: &str) -> Option<&T> {
        self.entries.get(product_id).map(|(held, _)| held)
    }

    pub fn held_mut(&mut self, product_id: &str) -> Option<&mut T> {
        self.entries.get_mut(product_id).map(|(held, _)| held)
    }

    /// Holds `value` for `id` beside its stock level (a new entry has none), and gives back
    /// what was held before.
    pub fn hold(&mut self, id: &Id, value: T) -> T {
        let (held, _) =
            self.entries
                .get_or_insert_with(id, || id.clone(), || (T::default(), NO_LEVEL));
        std::mem::replace(held, value)
    }

    /// Every entry's id and what else is held of it.
    pub fn held_iter(&self) -> impl Iterator<Item = (&Id, &T)> {
        self.entries.iter().map(|(id, (held, _))| (id, held))
    }

    /// Makes room for `total` ids here and in the process's table of ids, before a load.
    pub fn reserve(&mut self, total: usize) {
        Id::reserve(total);
        self.entries.reserve(total);
    }

    /// Products with a stock level.
    pub fn len(&self) -> usize {
        self.levels
    }

    pub fn is_empty(&self) -> bool {
        self.levels == 0
    }

    /// Every stock level by product id.
    pub fn iter(&self) -> impl Iterator<Item = (&Id, i64)> {
        self.entries
            .iter()
            .filter(|(_, &(_, units))| units != NO_LEVEL)
            .map(|(id, &(_, units))| (id, units))
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

    /// Restores the levels `save` wrote into these entries (what else is held restored first):
    /// an id held already keeps its key.
    pub fn restore_levels(&mut self, input: &mut Reader<'_>) -> snapshot::Result<()> {
        let len = input.len(Id::MIN_BYTES + i64::MIN_BYTES)?;
        self.reserve(len);
        // Levels are saved in the order of the entries, as are the products loaded before them:
        // the entry after the last one's is looked at first.
        // With no entries before them (fulfilment's), each level makes its id: those are made a
        // batch at a time (`Id::new_all`).
        let fresh = self.entries.is_empty();
        let mut next = 0;
        snapshot::in_batches(input, len, saved_level, |saved| {
            let texts: Vec<&str> = saved.iter().map(|&(id, _)| id).collect();
            let mut made = if fresh {
                Id::new_all(&texts)
            } else {
                Vec::new()
            }
            .into_iter();
            for (id, level) in saved {
                let made = made.next();
                let (at, (_, units)) = self.entries.get_or_insert_at(
                    next,
                    id,
                    || made.unwrap_or_else(|| Id::new(id)),
                    || (T::default(), NO_LEVEL),
                );
                next = at + 1;
                if *units != NO_LEVEL || level < 0 {
                    return snapshot::refuse(format!(
                        "stock level {level} of {id:?} twice or below 0"
                    ));
                }
                *units = level;
            }
            Ok(())
        })?;
        self.levels = len;
        self.shipped_through = Persist::restore(input)?;
        Ok(())
    }
}

/// A saved stock level: its product's id and the level.
fn saved_level<'a>(input: &mut Reader<'a>) -> snapshot::Result<(&'a str, i64)> {
    Ok((input.str()?, i64::restore(input)?))
}

/// Saved as the levels alone (what else is held is the model's to save): a map of ids to levels
/// and the last order shipped, the format of the map of levels it replaced.
impl<T: Default> Persist for OnHand<T> {
    const MIN_BYTES: usize = 4 + 8;
    fn save(&self, out: &mut Writer<'_>) {
        out.len(self.levels);
        for (id, units) in self.iter() {
            id.save(out);
            units.save(out);
        }
        self.shipped_through.save(out);
    }
    fn restore(input: &mut Reader<'_>) -> snapshot::Result<Self> {
        let mut on_hand = OnHand::default();
        on_hand.restore_levels(input)?;
        Ok(on_hand)
    }
}

#[cfg(test)]
mod tests {
    use super::OnHand;
    use crate::contexts::id::Id;
    use crate::snapshot::{written, Persist, Reader};
    use std::collections::HashMap;

    #[test]
    fn levels_are_saved_as_the_map_of_levels_they_were_held_in() {
        let mut on_hand = OnHand::<Option<i64>>::default();
        on_hand.correct("a", 3, || Id::new("a"));
        on_hand.hold(&Id::new("held, no level"), Some(7));
        on_hand.correct("bé", -2, || Id::new("bé"));
        let bytes = written(|out| on_hand.save(out));
        let mut input = Reader::new(&bytes);
        let levels = HashMap::<String, i64>::restore(&mut input).unwrap();
        let shipped_through = i64::restore(&mut input).unwrap();
        assert_eq!(levels, HashMap::from([("a".into(), 3), ("bé".into(), 0)]));
        assert_eq!(shipped_through, -1);
        let bytes = written(|out| {
            levels.save(out);
            5i64.save(out);
        });
        let restored = OnHand::<()>::restore(&mut Reader::new(&bytes)).unwrap();
        let got = (
            restored.len(),
            restored.get("a"),
            restored.get("bé"),
            restored.get("c"),
        );
        assert_eq!((got, restored.shipped_through()), ((2, 3, 0, 0), 5));
    }
}
