"""Cart and order routes: commands are produced to checkout_internal, and each answer comes from the
model once it applied the command (read-your-writes)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import Counter

from shop import _core, metrics, shoppers
from shop._proto.checkout_pb2 import Order
from shop._proto.shoppers_pb2 import ShopperDetails
from shop.api import http, inputs
from shop.api.http import Receive, Scope
from shop.api.problems import Problem, invalid, not_ready, unavailable
from shop.config import Config
from shop.contexts.checkout import CheckoutContext, new_id
from shop.kafka.breaker import BreakerOpen, CircuitBreaker
from shop.kafka.offsets import NotApplied, ProduceError
from shop.kafka.projection import ProjectionLoop
from shop.shoppers import NoMasterKey

T = TypeVar("T")

COOKIE = "cart"
COOKIE_MAX_AGE = 365 * 24 * 3600
MAX_BODY = 1024
# An order's body: the shopper's details, each field within its length (shoppers.MAX_LENGTH).
MAX_ORDER_BODY = 4096
# A stock request names the products of a catalog page at most: ids of up to 1000 bytes each.
MAX_STOCK_BODY = 1024 * _core.MAX_PER_PAGE
# How long a Shop-Min-Offset past the end of the topic (as this instance last saw it) waits before
# its 400: another instance may have just written it.
BEYOND_END_WAIT_S = 1.0
WRITES_BUSY = "the shop is busy: {} writes are under way; nothing was written"
OFFSET_WAITS_BUSY = "the shop is busy: {} requests wait for their Shop-Min-Offset; retry"
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


class Slots:
    """Load shedding: at most `limit` holders at once; the next ones get 503 `overloaded` at once
    rather than queueing. `busy` is the 503's detail, formatted with the slots taken. Metrics read
    `taken` when scraped: no metric update (and its lock) per request. Event loop thread only."""

    def __init__(self, limit: int, shed: Counter, busy: str) -> None:
        self.limit = limit
        self.taken = 0
        self._shed = shed
        self._busy = busy

    def __enter__(self) -> None:
        if self.taken >= self.limit:
            self._shed.inc()
            raise unavailable(self._busy.format(self.taken), 1, "overloaded")
        self.taken += 1

    def __exit__(self, *exc_info: object) -> None:
        self.taken -= 1


def offset_wait_slots(config: Config) -> Slots:
    return Slots(config.max_offset_waits, metrics.OFFSET_WAITS_SHED, OFFSET_WAITS_BUSY)


class Handling:
    """Counts the requests inside it, without a limit."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> None:
        self.count += 1

    def __exit__(self, *exc_info: object) -> None:
        self.count -= 1


class CartRoutes:
    def __init__(
        self,
        config: Config,
        checkout: CheckoutContext,
        breaker: CircuitBreaker,
        offset_waits: Slots | None = None,
    ) -> None:
        """`offset_waits`: the reads waiting for a Shop-Min-Offset, if shared with other routes."""
        self.config = config
        self.checkout = checkout
        self.model = checkout.model
        self.breaker = breaker
        self.trusted_proxies = frozenset(p.strip() for p in config.trusted_proxies.split(",") if p.strip())
        # Writes from the route's start, their body still arriving or not (shop_commands_in_flight);
        # a write slot (of max_commands) is taken only once the body is in: clients that trickle
        # bodies (each for body_timeout at most) cannot crowd out honest writes.
        self.handling = Handling()
        self.slots = Slots(config.max_commands, metrics.COMMANDS_SHED, WRITES_BUSY)
        metrics.COMMANDS_IN_FLIGHT.set_function(lambda: self.handling.count)
        metrics.COMMANDS_WRITING.set_function(lambda: self.slots.taken)
        # Reads waiting for their Shop-Min-Offset: a limit of their own, below the server's
        # (http_backpressure), so that requests for offsets not applied here cannot take every
        # server slot and queue reads behind them.
        self.offset_waits = offset_waits or offset_wait_slots(config)

    def ready(self) -> None:
        if not self.checkout.ready():
            raise not_ready("checkout")

    async def get_cart(self, scope: Scope) -> Answer:
        cart_id, cookie = self._cart_id(scope)
        await self._wait_min_offset(scope)
        return self._cart(scope, cart_id, cookie)

    async def set_item(self, scope: Scope, receive: Receive, product_id: str, quantity: int | None) -> Answer:
        with self.handling:
            cart_id, cookie = self._cart_id(scope)
            if quantity is None:
                body = await http.read_body(scope, receive, MAX_BODY, self.config.body_timeout)
                quantity = _quantity(body)
            with self.slots:
                # A command the model would refuse now is not written; one that is written gets the
                # model's decision when it was applied (the product may have changed meanwhile).
                refusal = self.model.item_refusal(cart_id, product_id, quantity)
                if refusal is not None:
                    raise _refused(refusal, product_id)
                item = quantity
                offset = await self._produce(lambda: self.checkout.set_item(cart_id, product_id, item))
                return self._cart(scope, cart_id, cookie, product_id, written_at=offset)

    async def place_order(self, scope: Scope, receive: Receive) -> Answer:
        with self.handling:
            body = await http.read_body(scope, receive, MAX_ORDER_BODY, self.config.body_timeout)
            shopper = _shopper(body)  # checked before anything is written: a refusal orders nothing
            with self.slots:
                return await self._place_order(scope, shopper)

    async def _place_order(self, scope: Scope, shopper: ShopperDetails) -> Answer:
        cart_id, cookie = self._cart_id(scope)
        version = _if_match(scope)
        sealed = await self._seal(shopper)
        order_id, next_cart_id = await self._produce(
            lambda: self.checkout.place_order(cart_id, version, sealed)
        )
        decided = self.model.decision_answer(order_id, cart_id, http.wants_protobuf(scope))
        if decided is None:  # cannot happen once the offset is applied; never answer from nothing
            raise unavailable("the order was written but not yet decided; retry", 1, "not-applied")
        reason = decided.status
        if decided.order_id is not None and decided.next_cart_id is not None:
            # Ordered already (a retry whose first answer was lost): lead to that order and on.
            headers = self._to_order(scope, decided.order_id, decided.next_cart_id)
            extensions: dict[str, object] = {"order_id": decided.order_id}
            raise Problem(409, OUTCOME_DETAIL[reason], headers=headers, extensions=extensions)
        if reason in OUTCOME_STATUS:
            positions = [{"name": product, "reason": reason} for product in decided.products]
            raise Problem(OUTCOME_STATUS[reason], OUTCOME_DETAIL[reason], positions)
        headers = [
            *self._to_order(scope, order_id, next_cart_id),
            (b"shop-offset", str(decided.offset).encode()),
        ]
        body = self._with_shopper(scope, order_id, decided.body or b"")
        return Answer(201, body, _content_type(scope), headers + cookie)

    async def get_order(self, scope: Scope, order_id: str) -> Answer:
        cart_id, _cookie = self._cart_id(scope)
        await self._wait_min_offset(scope)
        offset, body = self.model.order_answer(order_id, cart_id, http.wants_protobuf(scope))
        if body is None:
            raise Problem(404, "no such order for this cart")
        body = self._with_shopper(scope, order_id, body)
        return Answer(200, body, _content_type(scope), [(b"shop-offset", str(offset).encode())])

    async def _seal(self, shopper: ShopperDetails) -> bytes:
        try:
            return await self.checkout.vault.seal(shopper)
        except NoMasterKey as exc:
            raise Problem(
                503, f"the shop cannot keep personal data now ({exc}); nothing was ordered"
            ) from None
        except (RuntimeError, TimeoutError) as exc:
            detail = f"the shopper's key was not written ({exc}); nothing was ordered, retry"
            raise unavailable(detail, 1, "write-failed") from None

    def _with_shopper(self, scope: Scope, order_id: str, body: bytes) -> bytes:
        """The order's body with its shopper's details, opened here (never in the model, its
        snapshots or its replays): absent when none were given or the shopper was forgotten."""
        shopper = self.checkout.vault.open(self.model.order_shopper(order_id) or b"")
        if shopper is None:
            return body
        if http.wants_protobuf(scope):  # a message's fields may come in any order: field 6 appended
            return body + Order(shopper=shopper).SerializeToString()
        details = {name: getattr(shopper, name) for name in shoppers.FIELDS}
        return body[:-1] + b',"shopper":' + json.dumps(details, separators=(",", ":")).encode() + b"}"

    async def stock(self, scope: Scope, receive: Receive) -> Answer:
        """Units for sale of the products named, from one copy (no cart needed, nothing written)."""
        body = await http.read_body(scope, receive, MAX_STOCK_BODY, self.config.body_timeout)
        return Answer(200, self.model.stock_levels(_product_ids(body)), http.JSON, [])

    def _cart(
        self,
        scope: Scope,
        cart_id: str,
        cookie: list[tuple[bytes, bytes]],
        product_id: str = "",
        written_at: int | None = None,
    ) -> Answer:
        """The cart, its ETag and the offset it shows, from one published copy; with `written_at`,
        a problem instead if the model refused the CartItemSet applied at that offset."""
        view = self.model.cart_answer(cart_id, http.wants_protobuf(scope), written_at)
        if view.refusal is not None:
            raise _refused(view.refusal, product_id)
        headers = [
            (b"etag", f'"{view.version}"'.encode()),
            (b"shop-offset", str(view.offset).encode()),
            (b"cache-control", b"no-store"),
        ]
        if view.order_id is not None and view.next_cart_id is not None:
            # An ordered cart (its order's answer may have been lost): its order, and the next cart.
            headers += self._to_order(scope, view.order_id, view.next_cart_id)
        return Answer(200, view.body, _content_type(scope), headers + cookie)

    def _to_order(self, scope: Scope, order_id: str, next_cart_id: str) -> list[tuple[bytes, bytes]]:
        """Where an ordered cart leads: its order, and the shopper's next cart (as the cookie)."""
        location = (b"location", f"/api/v1/orders/{order_id}".encode())
        return [location, _set_cookie(scope, next_cart_id, self.trusted_proxies)]

    def _cart_id(self, scope: Scope) -> tuple[str, list[tuple[bytes, bytes]]]:
        """The cart of the cookie, or a new one with the header that sets it."""
        cart_id = inputs.cart_id(http.cookie(scope, COOKIE))
        if cart_id is not None:
            return cart_id, []
        cart_id = new_id()
        return cart_id, [_set_cookie(scope, cart_id, self.trusted_proxies)]

    async def _produce(self, command: Callable[[], Awaitable[T]]) -> T:
        """Produces through the circuit breaker and waits until the write is applied (its answer
        shows it: read-your-writes); refused at once while the breaker is open; each outcome
        is reported to it. A failed write is not retried here (see README: retries)."""
        try:
            self.breaker.before_write()
        except BreakerOpen as exc:
            detail = f"writes fail fast for now: {exc.reason}; nothing was written"
            raise unavailable(detail, exc.retry_after, "breaker-open") from None
        try:
            result = await command()
        except ProduceError as exc:
            self.breaker.failed()
            detail = (
                f"the write was not acknowledged by Kafka ({exc}); it may or may not have been "
                "written: retrying is safe (a quantity is set, not added; a cart is ordered once)"
            )
            raise unavailable(detail, self.breaker.retry_after(), "write-failed") from None
        except NotApplied as exc:
            self.breaker.succeeded()  # Kafka took the write; this instance is behind
            detail = f"offset {exc.offset} is not applied yet on this instance; the write is durable, retry"
            raise unavailable(detail, 1, "not-applied") from None
        except BaseException:
            self.breaker.abandoned()
            raise
        self.breaker.succeeded()
        return result

    async def _wait_min_offset(self, scope: Scope) -> None:
        # Without the header, the projection is not looked at (routes over a model alone have none).
        offset = http.min_offset(scope)
        if offset is not None:
            projection = self.checkout.projection
            await wait_min_offset(offset, projection, self.offset_waits, self.config.ready_timeout)


async def wait_min_offset(offset: int, projection: ProjectionLoop, waits: Slots, timeout: float) -> None:
    """Waits for a client's `Shop-Min-Offset` of `projection`, in one of `waits` (503 when all
    are taken). One past the end of the topic as this instance last fetched it waits only
    BEYOND_END_WAIT_S (another instance may have just written it; the consumer learns of it
    within a fetch), and if it is still past the end then, it is no offset any instance handed
    out: 400, not a 503 that invites retrying forever. One within the topic that this instance
    has not applied yet waits up to `timeout` seconds, then 503."""
    if projection.watch.applied >= offset:
        return
    with waits:
        if offset > projection.end_offset:
            brief = min(BEYOND_END_WAIT_S, timeout)
            if await projection.watch.wait(offset, brief):
                return
            end = projection.end_offset
            if offset > end:
                raise invalid("Shop-Min-Offset", f"{offset} is past the last offset written ({end})")
            timeout -= brief
        if await projection.watch.wait(offset, timeout):
            return
    raise unavailable(f"offset {offset} is not applied yet on this instance; retry", 1, "not-applied")


def _refused(refusal: str, product_id: str) -> Problem:
    """The answer to a CartItemSet the checkout model refused (see `_core.Checkout.cart_answer`)."""
    if refusal == "not-for-sale":
        return Problem(404, f"no product with id {product_id!r} is for sale")
    if refusal == "ordered":
        return Problem(409, "this cart was ordered already; fetch the cart to get a new one")
    if refusal == "not-in-cart":
        return Problem(404, f"no product with id {product_id!r} is in the cart; nothing was written")
    if refusal == "quantity":
        return _quantity_problem()
    detail = "the write was applied, but too many refusals came after it to tell its own; fetch the cart"
    return unavailable(detail, 1, "not-applied")


def _quantity_problem() -> Problem:
    return invalid("quantity", f"must be a whole number from 0 to {_core.MAX_QUANTITY}")


def _content_type(scope: Scope) -> bytes:
    return http.PROTOBUF if http.wants_protobuf(scope) else http.JSON


def _set_cookie(scope: Scope, cart_id: str, trusted_proxies: frozenset[str]) -> tuple[bytes, bytes]:
    """The cart cookie: script cannot read it, other sites do not send it along, and over https
    it never travels in clear."""
    secure = "; Secure" if http.scheme(scope, trusted_proxies) == "https" else ""
    value = f"{COOKIE}={cart_id}; Path=/; Max-Age={COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax{secure}"
    return (b"set-cookie", value.encode())


def _quantity(body: bytes) -> int:
    document = inputs.json_body(body, MAX_BODY, '{"quantity": 2}')
    if not isinstance(document, dict) or "quantity" not in document:
        raise invalid("quantity", 'is missing: send {"quantity": n}')
    unknown = set(document) - {"quantity"}
    if unknown:
        raise invalid(sorted(unknown)[0], "unknown field")
    quantity = document["quantity"]
    if type(quantity) is not int or not 0 <= quantity <= _core.MAX_QUANTITY:
        raise _quantity_problem()
    return quantity


def _shopper(body: bytes) -> ShopperDetails:
    """The shopper's details of an order's body: required, so an empty body is refused like an
    empty object (422 naming each missing field)."""
    if not body.strip():
        return shoppers.details({})
    like = '{"email": "a@example.com", "name": "A", "street": "S 1", "postcode": "1", "city": "C", "country": "DE"}'  # noqa: E501
    return shoppers.details(inputs.json_body(body, MAX_ORDER_BODY, like))


def _product_ids(body: bytes) -> list[str]:
    document = inputs.json_body(body, MAX_STOCK_BODY, '{"product_ids": ["a", "b"]}')
    if not isinstance(document, dict) or set(document) != {"product_ids"}:
        raise invalid("product_ids", 'send {"product_ids": [...]} and nothing else')
    ids = document["product_ids"]
    if not isinstance(ids, list) or len(ids) > _core.MAX_PER_PAGE or not all(isinstance(i, str) for i in ids):
        raise invalid("product_ids", f"must be a list of at most {_core.MAX_PER_PAGE} product ids (strings)")
    return [inputs.text_id(i, "product_ids") for i in ids]


def _if_match(scope: Scope) -> int:
    raw = http.header(scope, b"if-match")
    if raw is None:
        raise Problem(428, 'send If-Match with the cart version you saw (its ETag, e.g. "3")')
    return inputs.etag(raw)
