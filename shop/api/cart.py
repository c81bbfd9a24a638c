"""Cart and order routes: commands are produced to checkout_internal, and each answer comes from the
model once it applied the command (read-your-writes)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from shop.api import http
from shop.api.http import Receive, Scope
from shop.api.problems import Problem, invalid, not_ready
from shop.config import Config
from shop.contexts.checkout import CheckoutContext, new_id
from shop.kafka.producer import ProduceError

COOKIE = "cart"
COOKIE_MAX_AGE = 365 * 24 * 3600
CART_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_BODY = 1024
MAX_QUANTITY = 999
OUTCOME_STATUS = {"stock": 409, "unavailable": 409, "ordered": 409, "version": 412, "empty": 422}
OUTCOME_DETAIL = {
    "stock": "the stock does not cover these positions; nothing was ordered",
    "unavailable": "these products are no longer sold; remove them to order",
    "ordered": "this cart was ordered already",
    "version": "the cart changed since you saw it; look at it again, then order",
    "empty": "the cart is empty",
}


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: bytes
    headers: list[tuple[bytes, bytes]]


class CartRoutes:
    def __init__(self, config: Config, checkout: CheckoutContext) -> None:
        self.config = config
        self.checkout = checkout
        self.model = checkout.model

    def ready(self) -> None:
        if not self.checkout.ready():
            raise not_ready("checkout")

    async def get_cart(self, scope: Scope) -> Answer:
        cart_id, cookie = self._cart_id(scope)
        await self._wait(http.min_offset(scope))
        return self._cart(scope, cart_id, 200, cookie)

    async def set_item(self, scope: Scope, receive: Receive, product_id: str, quantity: int | None) -> Answer:
        cart_id, cookie = self._cart_id(scope)
        if quantity is None:
            quantity = _quantity(await http.read_body(receive, MAX_BODY))
        if quantity > 0 and self.model.product_state(product_id) != "enabled":
            raise Problem(404, f"no product with id {product_id!r} is for sale")
        if self.model.cart_ordered(cart_id):
            raise Problem(409, "this cart was ordered already; fetch the cart to get a new one")
        offset = await self._produce(self.checkout.set_item(cart_id, product_id, quantity))
        await self._wait(offset)
        return self._cart(scope, cart_id, 200, cookie)

    async def place_order(self, scope: Scope) -> Answer:
        cart_id, cookie = self._cart_id(scope)
        version = _if_match(scope)
        order_id, next_cart_id, offset = await self._produce(self.checkout.place_order(cart_id, version))
        await self._wait(offset)
        outcome = self.model.outcome(order_id)
        if outcome is None:  # cannot happen once the offset is applied; never answer from nothing
            raise Problem(503, "the order was written but not yet decided; retry", headers=_retry())
        reason, products = outcome
        if reason in OUTCOME_STATUS:
            positions = [{"name": product, "reason": reason} for product in products]
            raise Problem(OUTCOME_STATUS[reason], OUTCOME_DETAIL[reason], positions)
        body = self.model.order(order_id, cart_id, http.wants_protobuf(scope)) or b""
        headers = [
            (b"location", f"/api/v1/orders/{order_id}".encode()),
            _set_cookie(scope, next_cart_id),
            (b"shop-offset", str(self.model.offset).encode()),
        ]
        return Answer(201, body, _content_type(scope), headers + cookie)

    async def get_order(self, scope: Scope, order_id: str) -> Answer:
        cart_id, _cookie = self._cart_id(scope)
        await self._wait(http.min_offset(scope))
        body = self.model.order(order_id, cart_id, http.wants_protobuf(scope))
        if body is None:
            raise Problem(404, "no such order for this cart")
        return Answer(200, body, _content_type(scope), [(b"shop-offset", str(self.model.offset).encode())])

    def _cart(self, scope: Scope, cart_id: str, status: int, cookie: list[tuple[bytes, bytes]]) -> Answer:
        version = self.model.cart_version(cart_id)
        headers = [
            (b"etag", f'"{version}"'.encode()),
            (b"shop-offset", str(self.model.offset).encode()),
            (b"cache-control", b"no-store"),
        ]
        body = self.model.cart(cart_id, http.wants_protobuf(scope))
        return Answer(status, body, _content_type(scope), headers + cookie)

    def _cart_id(self, scope: Scope) -> tuple[str, list[tuple[bytes, bytes]]]:
        """The cart of the cookie, or a new one with the header that sets it."""
        cart_id = http.cookie(scope, COOKIE)
        if cart_id is not None and CART_ID.match(cart_id):
            return cart_id, []
        cart_id = new_id()
        return cart_id, [_set_cookie(scope, cart_id)]

    async def _produce(self, command: Any) -> Any:
        try:
            return await command
        except ProduceError as exc:
            raise Problem(503, f"the write was not acknowledged by Kafka: {exc}", headers=_retry()) from None

    async def _wait(self, offset: int | None) -> None:
        if offset is None:
            return
        if not await self.checkout.projection.watch.wait(offset, self.config.ready_timeout):
            raise Problem(
                503,
                f"offset {offset} is not applied yet on this instance; the write is durable, retry",
                headers=_retry(),
            )


def _retry() -> list[tuple[bytes, bytes]]:
    return [(b"retry-after", b"1")]


def _content_type(scope: Scope) -> bytes:
    return http.PROTOBUF if http.wants_protobuf(scope) else http.JSON


def _set_cookie(scope: Scope, cart_id: str) -> tuple[bytes, bytes]:
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    value = f"{COOKIE}={cart_id}; Path=/; Max-Age={COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax{secure}"
    return (b"set-cookie", value.encode())


def _quantity(body: bytes) -> int:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise invalid("body", 'must be JSON like {"quantity": 2}') from None
    if not isinstance(document, dict) or "quantity" not in document:
        raise invalid("quantity", 'is missing: send {"quantity": n}')
    unknown = set(document) - {"quantity"}
    if unknown:
        raise invalid(sorted(unknown)[0], "unknown field")
    quantity = document["quantity"]
    if type(quantity) is not int or not 0 <= quantity <= MAX_QUANTITY:
        raise invalid("quantity", f"must be a whole number from 0 to {MAX_QUANTITY}")
    return quantity


def _if_match(scope: Scope) -> int:
    raw = http.header(scope, b"if-match")
    if raw is None:
        raise Problem(428, 'send If-Match with the cart version you saw (its ETag, e.g. "3")')
    text = raw.decode("latin-1").strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit() or len(text) > 18:
        raise invalid("If-Match", "must be the cart's ETag, a quoted whole number")
    return int(text)
