"""The plain-Python reference checkout and fulfilment: what core_rs must answer, written as simply as
possible. Views are returned as plain data (dicts, tuples, protobuf messages), not bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from shop._proto import checkout_pb2, fulfilment_pb2

MAX_QUANTITY = 999


@dataclass
class Product:
    price: int
    name: str
    small_image_url: str
    disabled: bool


@dataclass
class Cart:
    owner: str
    items: dict[str, int] = field(default_factory=dict)
    version: int = 0
    ordered: bool = False


@dataclass
class Order:
    cart_id: str
    owner: str
    items: list[dict[str, Any]]  # views as at acceptance, sorted like the cart
    total_price: int
    created_at: int
    status: str = "accepted"  # accepted | shipped | backordered


def correct_stock(on_hand: dict[str, int], corrected: fulfilment_pb2.StockCorrected) -> None:
    product = corrected.product_id
    on_hand[product] = max(0, on_hand.get(product, 0) + corrected.quantity_change)


def ship(on_hand: dict[str, int], shipped: fulfilment_pb2.OrderShipped) -> bool:
    """Ships min(ordered, on hand) per item, in event order. True when every item shipped fully."""
    complete = True
    for item in shipped.items:
        units = min(item.quantity, on_hand.get(item.product_id, 0))
        on_hand[item.product_id] = on_hand.get(item.product_id, 0) - units
        complete = complete and units == item.quantity
    return complete


def item_view(product_id: str, product: Product, quantity: int, in_stock: bool, more: bool) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "name": product.name,
        "price": product.price,
        "small_image_url": product.small_image_url,
        "quantity": quantity,
        "in_stock": in_stock,
        "more_in_stock": more,
    }


def cart_order(item: dict[str, Any]) -> tuple[bytes, str]:
    return item["name"].encode(), item["product_id"]


@dataclass
class ReferenceCheckout:
    products: dict[str, Product] = field(default_factory=dict)
    on_hand: dict[str, int] = field(default_factory=dict)
    reserved: dict[str, int] = field(default_factory=dict)
    carts: dict[str, Cart] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    outcomes: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # rejections only
    created: dict[int, checkout_pb2.PublicMessage] = field(default_factory=dict)
    offset: int = -1
    pim_offset: int = -1
    fulfilment_offset: int = -1
    # checkout_pub offset of the last OrderShipped applied. Not in the rules of the brief: the
    # fulfilment publishes every internal event, also a shipment it ignored as bridged twice, so the
    # checkout ignores it by the same rule or it would ship those units a second time.
    shipped_checkout_offset: int = -1

    # -- events --------------------------------------------------------------------------------

    def apply(self, offset: int, message: bytes) -> str | None:
        """Applies one checkout_internal message; returns an error for an undecodable one."""
        self.offset = offset
        try:
            event = checkout_pb2.InternalMessage.FromString(message)
        except DecodeError as exc:
            return str(exc)
        kind = event.WhichOneof("event")
        if kind is None:
            return "no event"
        getattr(self, kind)(offset, getattr(event, kind))
        return None

    def product_changed(self, _offset: int, changed: checkout_pb2.ProductChanged) -> None:
        if changed.pim_offset <= self.pim_offset:
            return
        self.pim_offset = changed.pim_offset
        self.products[changed.product_id] = Product(
            changed.price, changed.name, changed.small_image_url, changed.disabled
        )

    def fulfilment_changed(self, _offset: int, changed: checkout_pb2.FulfilmentChanged) -> None:
        if changed.fulfilment_offset <= self.fulfilment_offset:
            return
        self.fulfilment_offset = changed.fulfilment_offset
        if changed.WhichOneof("change") == "stock_corrected":
            correct_stock(self.on_hand, changed.stock_corrected)
        elif changed.WhichOneof("change") == "order_shipped":
            shipped = changed.order_shipped
            if shipped.checkout_offset <= self.shipped_checkout_offset:
                return
            self.shipped_checkout_offset = shipped.checkout_offset
            complete = ship(self.on_hand, shipped)
            order = self.orders.get(shipped.order_id)
            if order is not None and order.status == "accepted":
                for item in order.items:
                    self.reserved[item["product_id"]] -= item["quantity"]
                order.status = "shipped" if complete else "backordered"

    def cart_item_set(self, _offset: int, command: checkout_pb2.CartItemSet) -> None:
        cart = self.carts.get(command.cart_id)
        product = self.products.get(command.product_id)
        if (
            not 0 <= command.quantity <= MAX_QUANTITY
            or (cart is not None and cart.ordered)
            or (command.quantity > 0 and (product is None or product.disabled))
        ):
            return
        if cart is None:
            cart = self.carts[command.cart_id] = Cart(owner=command.cart_id)
        if command.quantity == 0:
            cart.items.pop(command.product_id, None)
        else:
            cart.items[command.product_id] = command.quantity
        cart.version += 1

    def order_placed(self, offset: int, command: checkout_pb2.OrderPlaced) -> None:
        if command.order_id in self.outcomes or command.order_id in self.orders:
            return
        cart = self.carts.get(command.cart_id) or Cart(owner=command.cart_id)
        unavailable = sorted(p for p in cart.items if p not in self.products or self.products[p].disabled)
        short = sorted(p for p, quantity in cart.items.items() if quantity > self.available(p))
        if cart.ordered:
            self.outcomes[command.order_id] = ("ordered", [])
        elif command.cart_version != cart.version:
            self.outcomes[command.order_id] = ("version", [])
        elif not cart.items:
            self.outcomes[command.order_id] = ("empty", [])
        elif unavailable:
            self.outcomes[command.order_id] = ("unavailable", unavailable)
        elif short:
            self.outcomes[command.order_id] = ("stock", short)
        else:
            items = sorted(
                (
                    item_view(p, self.products[p], quantity, in_stock=False, more=False)
                    for p, quantity in cart.items.items()
                ),
                key=cart_order,
            )
            for item in items:
                self.reserved[item["product_id"]] = (
                    self.reserved.get(item["product_id"], 0) + item["quantity"]
                )
            self.orders[command.order_id] = Order(
                cart_id=command.cart_id,
                owner=cart.owner,
                items=items,
                total_price=sum(item["price"] * item["quantity"] for item in items),
                created_at=command.created_at_ms,
            )
            cart.ordered = True
            self.carts[command.next_cart_id] = Cart(owner=cart.owner)
            self.created[offset] = checkout_pb2.PublicMessage(
                order_created=checkout_pb2.OrderCreated(
                    order_id=command.order_id,
                    items=[
                        checkout_pb2.OrderItem(product_id=item["product_id"], quantity=item["quantity"])
                        for item in items
                    ],
                ),
                internal_offset=offset,
            )

    # -- reads ---------------------------------------------------------------------------------

    def available(self, product_id: str) -> int:
        return max(0, self.on_hand.get(product_id, 0) - self.reserved.get(product_id, 0))

    def stock(self, product_id: str) -> tuple[int, int, int]:
        return self.on_hand.get(product_id, 0), self.reserved.get(product_id, 0), self.available(product_id)

    def cart_version(self, cart_id: str) -> int:
        cart = self.carts.get(cart_id)
        return cart.version if cart else 0

    def cart_ordered(self, cart_id: str) -> bool:
        cart = self.carts.get(cart_id)
        return cart is not None and cart.ordered

    def product_state(self, product_id: str) -> str | None:
        product = self.products.get(product_id)
        return None if product is None else "disabled" if product.disabled else "enabled"

    def cart(self, cart_id: str) -> dict[str, Any]:
        cart = self.carts.get(cart_id) or Cart(owner=cart_id)
        items = []
        for product_id, quantity in cart.items.items():
            product = self.products[product_id]
            enabled, available = not product.disabled, self.available(product_id)
            items.append(
                item_view(
                    product_id,
                    product,
                    quantity,
                    in_stock=enabled and available >= quantity,
                    more=enabled and available > quantity,
                )
            )
        items.sort(key=cart_order)
        return {
            "version": cart.version,
            "items": items,
            "total_price": sum(item["price"] * item["quantity"] for item in items),
        }

    def order(self, order_id: str, cart_id: str) -> dict[str, Any] | None:
        order, cart = self.orders.get(order_id), self.carts.get(cart_id)
        if order is None or cart is None or cart.owner != order.owner:
            return None
        return {
            "id": order_id,
            "status": order.status,
            "items": order.items,
            "total_price": order.total_price,
            "created_at": order.created_at,
        }

    def outcome(self, order_id: str) -> tuple[str, list[str]] | None:
        if order_id in self.orders:
            return self.orders[order_id].status, []
        return self.outcomes.get(order_id)

    def order_created(self, offset: int) -> checkout_pb2.PublicMessage | None:
        return self.created.get(offset)


@dataclass
class ReferenceFulfilment:
    on_hand: dict[str, int] = field(default_factory=dict)
    offset: int = -1
    checkout_offset: int = -1
    imported: dict[str, int] = field(default_factory=dict)  # net units the corrections really changed
    shipped: dict[str, int] = field(default_factory=dict)
    complete: dict[str, bool] = field(default_factory=dict)  # order id → shipped in full

    def apply(self, offset: int, message: bytes) -> str | None:
        """Applies one fulfilment_internal message; returns an error for an undecodable one."""
        self.offset = offset
        try:
            event = fulfilment_pb2.InternalMessage.FromString(message)
        except DecodeError as exc:
            return str(exc)
        kind = event.WhichOneof("event")
        if kind == "stock_corrected":
            product = event.stock_corrected.product_id
            before = self.on_hand.get(product, 0)
            correct_stock(self.on_hand, event.stock_corrected)
            self.imported[product] = self.imported.get(product, 0) + self.on_hand[product] - before
        elif kind == "order_shipped":
            if event.order_shipped.checkout_offset <= self.checkout_offset:
                return None
            self.checkout_offset = event.order_shipped.checkout_offset
            stock_before = dict(self.on_hand)
            self.complete[event.order_shipped.order_id] = ship(self.on_hand, event.order_shipped)
            for product, units in self.on_hand.items():
                self.shipped[product] = self.shipped.get(product, 0) + stock_before.get(product, 0) - units
        else:
            return "no event"
        return None

    def stock(self) -> dict[str, int]:
        return {product: units for product, units in self.on_hand.items() if units}
