//! Translations done by publishers and bridges: one message in, one message out, each carrying
//! the offset it came from so that the receiver can resume and deduplicate.

use crate::catalog::CanonicalProduct;
use crate::checkout::Order;
use crate::codec::{
    checkout, cms, fulfilment, pim, put_bytes_field, put_int64_field, put_varint, DecodeError,
    Field, FieldReader,
};
use prost::Message;

/// pim_internal message at `offset` → pim_pub message.
pub fn pim_publish(internal: &[u8], offset: i64) -> Result<Vec<u8>, DecodeError> {
    if canonical_product(internal).is_none()
        && pim::InternalMessage::decode(internal)?.event.is_none()
    {
        return Err(DecodeError("pim_internal message has no event".into()));
    }
    Ok(with_internal_offset(internal, offset))
}

/// fulfilment_internal message at `offset` → fulfilment_pub message.
pub fn fulfilment_publish(internal: &[u8], offset: i64) -> Result<Vec<u8>, DecodeError> {
    if fulfilment::InternalMessage::decode(internal)?
        .event
        .is_none()
    {
        return Err(DecodeError(
            "fulfilment_internal message has no event".into(),
        ));
    }
    Ok(with_internal_offset(internal, offset))
}

/// cms_internal message at `offset` → cms_pub message.
pub fn cms_publish(internal: &[u8], offset: i64) -> Result<Vec<u8>, DecodeError> {
    if cms::InternalMessage::decode(internal)?.event.is_none() {
        return Err(DecodeError("cms_internal message has no event".into()));
    }
    Ok(with_internal_offset(internal, offset))
}

/// A public message is its internal message (the same oneof numbers) with `internal_offset`
/// (field 99) appended; callers decode first so that garbage is rejected, not published.
fn with_internal_offset(internal: &[u8], offset: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(internal.len() + 11);
    out.extend_from_slice(internal);
    // Written even when 0 (proto3 would omit it): the publisher must find it to resume.
    put_varint(&mut out, 99 << 3);
    put_varint(&mut out, offset as u64);
    out
}

/// pim_pub message at `offset` → catalog_internal `ProductChanged` carrying the product bytes
/// unchanged and `pim_offset = offset`.
pub fn catalog_bridge(public: &[u8], offset: i64) -> Result<Vec<u8>, DecodeError> {
    let product = match canonical_product(public) {
        Some(product) => product.bytes(),
        None if pim::PublicMessage::decode(public)?.event.is_none() => {
            return Err(DecodeError("pim_pub message has no event".into()));
        }
        None => product_bytes(public),
    };
    let mut changed = Vec::with_capacity(product.len() + 16);
    put_bytes_field(&mut changed, 1, product);
    put_int64_field(&mut changed, 2, offset);
    let mut out = Vec::with_capacity(changed.len() + 4);
    put_bytes_field(&mut out, catalog_event_number(), &changed);
    Ok(out)
}

/// pim_pub message at `offset` → checkout_internal `ProductChanged`.
pub fn checkout_pim_bridge(public: &[u8], offset: i64) -> Result<Vec<u8>, DecodeError> {
    let changed = match canonical_product(public) {
        Some(product) => checkout::ProductChanged {
            product_id: product.id().to_owned(),
            price: product.price(),
            name: product.name().to_owned(),
            small_image_url: product.small_image_url().to_owned(),
            disabled: product.disabled(),
            pim_offset: offset,
        },
        None => {
            let Some(pim::public_message::Event::Product(product)) =
                pim::PublicMessage::decode(public)?.event
            else {
                return Err(DecodeError("pim_pub message has no product".into()));
            };
            checkout::ProductChanged {
                product_id: product.id,
                price: product.price,
                name: product.name,
                small_image_url: product.small_image_url,
                disabled: product.disabled,
                pim_offset: offset,
            }
        }
    };
    Ok(checkout::InternalMessage {
        event: Some(checkout::internal_message::Event::ProductChanged(changed)),
    }
    .encode_to_vec())
}

/// fulfilment_pub message at `offset` → checkout_internal `FulfilmentChanged`.
pub fn checkout_fulfilment_bridge(public: &[u8], offset: i64) -> Result<Vec<u8>, DecodeError> {
    use checkout::fulfilment_changed::Change;
    use fulfilment::public_message::Event;
    let change = match fulfilment::PublicMessage::decode(public)?.event {
        Some(Event::StockCorrected(s)) => Change::StockCorrected(s),
        Some(Event::OrderShipped(o)) => Change::OrderShipped(o),
        None => return Err(DecodeError("fulfilment_pub message has no event".into())),
    };
    let changed = checkout::FulfilmentChanged {
        change: Some(change),
        fulfilment_offset: offset,
    };
    Ok(checkout::InternalMessage {
        event: Some(checkout::internal_message::Event::FulfilmentChanged(
            changed,
        )),
    }
    .encode_to_vec())
}

/// checkout_pub `OrderCreated` at `offset` → fulfilment_internal `OrderShipped` (to be shipped).
pub fn fulfilment_checkout_bridge(public: &[u8], offset: i64) -> Result<Vec<u8>, DecodeError> {
    let Some(checkout::public_message::Event::OrderCreated(created)) =
        checkout::PublicMessage::decode(public)?.event
    else {
        return Err(DecodeError("checkout_pub message has no event".into()));
    };
    let shipped = fulfilment::OrderShipped {
        order_id: created.order_id,
        items: created
            .items
            .into_iter()
            .map(|item| fulfilment::OrderItem {
                product_id: item.product_id,
                quantity: item.quantity,
            })
            .collect(),
        checkout_offset: offset,
    };
    Ok(fulfilment::InternalMessage {
        event: Some(fulfilment::internal_message::Event::OrderShipped(shipped)),
    }
    .encode_to_vec())
}

/// checkout_pub message for an accepted order placed at checkout_internal `offset`.
pub fn order_created(order_id: &str, order: &Order, offset: i64) -> Vec<u8> {
    let created = checkout::OrderCreated {
        order_id: order_id.to_owned(),
        items: order
            .lines
            .iter()
            .map(|line| checkout::OrderItem {
                product_id: line.product_id.clone(),
                quantity: line.quantity,
            })
            .collect(),
    };
    let internal = checkout::PublicMessage {
        event: Some(checkout::public_message::Event::OrderCreated(created)),
        internal_offset: 0,
    }
    .encode_to_vec();
    with_internal_offset(&internal, offset)
}

/// The `internal_offset` (field 99) of any public message: where its publisher resumes after.
pub fn published_offset(public: &[u8]) -> Result<i64, DecodeError> {
    let mut found = None;
    let mut reader = FieldReader::new(public);
    for (number, field) in reader.by_ref() {
        if let (99, Field::Varint(value)) = (number, field) {
            found = Some(value as i64);
        }
    }
    if !reader.at_end() {
        return Err(DecodeError("public message is not valid protobuf".into()));
    }
    found.ok_or_else(|| DecodeError("public message has no internal_offset".into()))
}

/// The product of a pim message holding one (field 1) encoded as prost encodes it, and nothing
/// else but (a public message's) `internal_offset`: such a message decodes, without prost, which
/// allocates each of the product's texts (a relay's most common message, checked and read in
/// place). None for any other message: prost decides.
fn canonical_product(message: &[u8]) -> Option<CanonicalProduct<'_>> {
    let mut fields = FieldReader::new(message);
    let Some((1, Field::Bytes(product))) = fields.next() else {
        return None;
    };
    match fields.next() {
        None | Some((99, Field::Varint(_))) => {}
        Some(_) => return None,
    }
    if fields.next().is_some() || !fields.at_end() {
        return None;
    }
    CanonicalProduct::read(product)
}

/// The bytes of field 1 (the product) of a decoded pim message.
fn product_bytes(message: &[u8]) -> &[u8] {
    FieldReader::new(message)
        .filter_map(|(number, field)| match (number, field) {
            (1, Field::Bytes(bytes)) => Some(bytes),
            _ => None,
        })
        .last()
        .unwrap_or_default()
}

const fn catalog_event_number() -> u32 {
    1 // catalog.InternalMessage.product_changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::catalog;

    fn internal() -> Vec<u8> {
        pim::InternalMessage {
            event: Some(pim::internal_message::Event::Product(pim::Product {
                id: "p".into(),
                price: 7,
                ..Default::default()
            })),
        }
        .encode_to_vec()
    }

    #[test]
    fn publish_then_bridge_keeps_the_product_and_both_offsets() {
        let public = pim_publish(&internal(), 41).unwrap();
        let decoded = pim::PublicMessage::decode(public.as_slice()).unwrap();
        assert_eq!(decoded.internal_offset, 41);
        assert_eq!(published_offset(&public), Ok(41));
        assert_eq!(
            published_offset(&pim_publish(&internal(), 0).unwrap()),
            Ok(0)
        );
        let bridged = catalog_bridge(&public, 9).unwrap();
        let message = catalog::InternalMessage::decode(bridged.as_slice()).unwrap();
        let Some(catalog::internal_message::Event::ProductChanged(changed)) = message.event else {
            panic!("no event");
        };
        assert_eq!(changed.pim_offset, 9);
        assert_eq!(changed.product.unwrap().price, 7);
    }

    #[test]
    fn garbage_and_empty_messages_are_errors() {
        assert!(pim_publish(b"\xff\xff\xff", 0).is_err());
        assert!(pim_publish(b"", 0).is_err());
        assert!(catalog_bridge(b"\x0a\x05ab", 0).is_err());
        // A product as prost writes it, then a key without its value: not a message.
        let mut cut = internal();
        cut.push(0x10);
        assert!(pim_publish(&cut, 0).is_err());
        let mut cut = pim_publish(&internal(), 3).unwrap();
        cut.push(0x10);
        assert!(catalog_bridge(&cut, 0).is_err());
        assert!(checkout_pim_bridge(&cut, 0).is_err());
    }

    /// What the quick path reads, prost reads alike: whatever bytes of a product message are
    /// changed, a message read in place decodes with prost, to the same product.
    #[test]
    fn a_message_read_in_place_is_one_prost_decodes() {
        use proptest::prelude::*;
        let product = pim::Product {
            id: "p1".into(),
            price: 250,
            name: "Pear".into(),
            description: "ripe".into(),
            category: "fruit".into(),
            small_image_url: "/p.svg".into(),
            ..Default::default()
        };
        let mut internal = Vec::new();
        put_bytes_field(&mut internal, 1, &product.encode_to_vec());
        let message = pim_publish(&internal, 3).unwrap();
        let edits = prop::collection::vec((0..message.len() + 1, any::<u8>(), 0..3u8), 1..4);
        proptest!(|(edits in edits)| {
            let mut changed = message.clone();
            for (at, byte, kind) in edits {
                let at = at.min(changed.len());
                match kind {
                    0 if at < changed.len() => changed[at] = byte,
                    1 => changed.insert(at, byte),
                    _ => changed.truncate(at),
                }
            }
            if let Some(product) = canonical_product(&changed) {
                let decoded = pim::PublicMessage::decode(changed.as_slice());
                let Ok(pim::PublicMessage { event: Some(pim::public_message::Event::Product(p)), .. }) = decoded else {
                    panic!("read in place, refused by prost: {changed:?}");
                };
                prop_assert_eq!(
                    (product.id(), product.name(), product.price(), product.small_image_url(), product.disabled()),
                    (p.id.as_str(), p.name.as_str(), p.price, p.small_image_url.as_str(), p.disabled)
                );
            }
        });
    }

    /// A product's fields in reverse order: a valid message that prost, not the quick path, reads.
    fn reversed(product: &pim::Product) -> Vec<u8> {
        let bytes = product.encode_to_vec();
        let mut fields: Vec<&[u8]> = Vec::new();
        let mut rest = bytes.as_slice();
        let mut reader = FieldReader::new(rest);
        while reader.next().is_some() {
            let left = reader.unread();
            fields.push(&rest[..rest.len() - left.len()]);
            rest = left;
        }
        fields.reverse();
        fields.concat()
    }

    /// Products read in place (as prost writes them) and by prost (any other encoding) bridge
    /// alike, whatever their fields hold; both published and bridged as they came.
    #[test]
    fn products_read_in_place_bridge_as_prost_reads_them() {
        use proptest::prelude::*;
        let text = crate::codec::any_text;
        let fields = (
            text(),
            text(),
            any::<i64>(),
            text(),
            text(),
            text(),
            any::<bool>(),
        );
        proptest!(|((id, name, price, description, category, small, disabled) in fields)| {
            let product = pim::Product {
                id, name, price, description, category, small_image_url: small, disabled,
                ..Default::default()
            };
            let expected = checkout::ProductChanged {
                product_id: product.id.clone(),
                price: product.price,
                name: product.name.clone(),
                small_image_url: product.small_image_url.clone(),
                disabled: product.disabled,
                pim_offset: 5,
            };
            let encoded = product.encode_to_vec();
            for bytes in [encoded.clone(), reversed(&product)] {
                let mut internal = Vec::new();
                put_bytes_field(&mut internal, 1, &bytes);
                let public = pim_publish(&internal, 4).unwrap();
                prop_assert_eq!(&public[..internal.len()], &internal[..]);
                let bridged = checkout_pim_bridge(&public, 5).unwrap();
                let message = checkout::InternalMessage::decode(bridged.as_slice()).unwrap();
                prop_assert_eq!(
                    message.event,
                    Some(checkout::internal_message::Event::ProductChanged(expected.clone()))
                );
                let catalog = catalog_bridge(&public, 5).unwrap();
                let message = crate::codec::catalog::InternalMessage::decode(catalog.as_slice()).unwrap();
                let Some(crate::codec::catalog::internal_message::Event::ProductChanged(changed)) = message.event else {
                    panic!("no event");
                };
                prop_assert_eq!(changed.product, Some(product.clone()));
            }
        });
    }
}
