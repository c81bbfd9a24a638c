//! Translations done by publishers and bridges: one message in, one message out, each carrying
//! the offset it came from so that the receiver can resume and deduplicate.

use crate::checkout::Order;
use crate::codec::{
    checkout, cms, fulfilment, pim, put_bytes_field, put_int64_field, put_varint, DecodeError,
    Field, FieldReader,
};
use prost::Message;

/// pim_internal message at `offset` → pim_pub message.
pub fn pim_publish(internal: &[u8], offset: i64) -> Result<Vec<u8>, DecodeError> {
    if pim::InternalMessage::decode(internal)?.event.is_none() {
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
    let message = pim::PublicMessage::decode(public)?;
    if message.event.is_none() {
        return Err(DecodeError("pim_pub message has no event".into()));
    }
    let product = product_bytes(public);
    let mut changed = Vec::with_capacity(product.len() + 16);
    put_bytes_field(&mut changed, 1, product);
    put_int64_field(&mut changed, 2, offset);
    let mut out = Vec::with_capacity(changed.len() + 4);
    put_bytes_field(&mut out, catalog_event_number(), &changed);
    Ok(out)
}

/// pim_pub message at `offset` → checkout_internal `ProductChanged`.
pub fn checkout_pim_bridge(public: &[u8], offset: i64) -> Result<Vec<u8>, DecodeError> {
    let Some(pim::public_message::Event::Product(product)) =
        pim::PublicMessage::decode(public)?.event
    else {
        return Err(DecodeError("pim_pub message has no product".into()));
    };
    let changed = checkout::ProductChanged {
        product_id: product.id,
        price: product.price,
        name: product.name,
        small_image_url: product.small_image_url,
        disabled: product.disabled,
        pim_offset: offset,
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
    }
}
