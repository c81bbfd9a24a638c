"""checkout_internal messages as the shop writes them (commands) and as its bridges do (products,
stock), for tests that apply them to the checkout model directly."""

from __future__ import annotations

from typing import Any

from shop._proto import checkout_pb2, fulfilment_pb2


def checkout_message(**event: Any) -> bytes:
    return checkout_pb2.InternalMessage(**event).SerializeToString()


def cart_item_set(cart_id: str, product_id: str, quantity: int) -> bytes:
    return checkout_message(
        cart_item_set=checkout_pb2.CartItemSet(cart_id=cart_id, product_id=product_id, quantity=quantity)
    )


def order_placed(
    cart_id: str, order_id: str, version: int, next_cart_id: str, created_at_ms: int = 0
) -> bytes:
    return checkout_message(
        order_placed=checkout_pb2.OrderPlaced(
            cart_id=cart_id,
            order_id=order_id,
            cart_version=version,
            next_cart_id=next_cart_id,
            created_at_ms=created_at_ms,
        )
    )


def product_changed(pim_offset: int, product_id: str, price: int = 100, name: str = "", **rest: Any) -> bytes:
    return checkout_message(
        product_changed=checkout_pb2.ProductChanged(
            product_id=product_id, price=price, name=name, pim_offset=pim_offset, **rest
        )
    )


def order_shipped(
    fulfilment_offset: int, order_id: str, items: dict[str, int], checkout_offset: int
) -> bytes:
    """Fulfilment's shipment of `items` (quantity ordered by product id), bridged into checkout."""
    shipped = fulfilment_pb2.OrderShipped(
        order_id=order_id,
        items=[fulfilment_pb2.OrderItem(product_id=p, quantity=q) for p, q in items.items()],
        checkout_offset=checkout_offset,
    )
    change = checkout_pb2.FulfilmentChanged(order_shipped=shipped, fulfilment_offset=fulfilment_offset)
    return checkout_message(fulfilment_changed=change)


def stock_corrected(fulfilment_offset: int, product_id: str, change: int) -> bytes:
    return checkout_message(
        fulfilment_changed=checkout_pb2.FulfilmentChanged(
            stock_corrected=fulfilment_pb2.StockCorrected(product_id=product_id, quantity_change=change),
            fulfilment_offset=fulfilment_offset,
        )
    )
