"""The Rust checkout and fulfilment against the plain-Python reference, driven through the real flow:
pim_pub → checkout_internal, fulfilment_internal → fulfilment_pub → checkout_internal, checkout_pub →
fulfilment_internal, with the relay functions of core_rs, replayed bridge events and random batches."""

from __future__ import annotations

import json
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fixtures.reference_checkout import Cart, ReferenceCheckout, ReferenceFulfilment
from shop import _core
from shop._proto import checkout_pb2, fulfilment_pb2, pim_pb2
from tests.support.checkout_messages import (
    cart_item_set,
    order_placed,
    order_shipped,
    product_changed,
    stock_corrected,
)

PRODUCTS = ["p0", "p1", "p2", "p3"]
UNKNOWN_PRODUCT = "px"  # never in pim
ALL_PRODUCTS = [*PRODUCTS, UNKNOWN_PRODUCT]
CARTS = ["c0", "c1", "c2"]  # first carts of three shoppers
NAMES = st.sampled_from(["", "a", "b", "B", "é", "ab", "a b"])  # ties on purpose: the id breaks them
PRICES = st.integers(min_value=0, max_value=300)
QUANTITIES = st.sampled_from([1, 1, 1, 1, 1, 2, 2, 3, 0, 0, 0, 999, -1, 1000])
BATCH = st.integers(min_value=1, max_value=6)
RELAYS = [
    "bridge_pim",
    "apply_checkout_batch",
    "publish_checkout",
    "bridge_checkout",
    "apply_fulfilment_batch",
    "publish_fulfilment",
    "bridge_fulfilment",
]

# Public topics whose bridge the machine restarts (sending an already bridged message again).
REPLAYED_TOPICS = ["pim", "fulfilment", "checkout"]

Log = list[bytes]  # a topic: the offset is the index


# -- messages ----------------------------------------------------------------------------------


def parse_created(raw: bytes | None) -> checkout_pb2.PublicMessage | None:
    return None if raw is None else checkout_pb2.PublicMessage.FromString(raw)


def same_created(message: checkout_pb2.PublicMessage | None) -> Any:
    """An OrderCreated up to the order of its items (the rules do not fix it)."""
    if message is None:
        return None
    created = message.order_created
    items = sorted((item.product_id, item.quantity) for item in created.items)
    return message.WhichOneof("event"), created.order_id, items, message.internal_offset


# -- whole views of a checkout -----------------------------------------------------------------


def rust_view(
    checkout: Any, carts: list[str], orders: list[str], products: list[str], offsets: int
) -> dict[str, Any]:
    def outcome(order_id: str) -> tuple[str, list[str]] | None:
        found = checkout.outcome(order_id)
        return None if found is None else (found[0], list(found[1]))

    def order(order_id: str, cart_id: str) -> Any:
        raw = checkout.order(order_id, cart_id)
        return None if raw is None else json.loads(raw)

    return {
        "offsets": (checkout.offset, checkout.pim_offset, checkout.fulfilment_offset),
        "carts": {cart: json.loads(checkout.cart(cart)) for cart in carts},
        "versions": {cart: checkout.cart_version(cart) for cart in carts},
        "ordered": {cart: checkout.cart_ordered(cart) for cart in carts},
        "products": {product: checkout.product_state(product) for product in products},
        "outcomes": {order_id: outcome(order_id) for order_id in orders},
        "orders": {(order_id, cart): order(order_id, cart) for order_id in orders for cart in carts},
        "stock": {product: tuple(checkout.stock(product)) for product in products},
        "created": {offset: checkout.order_created(offset) for offset in range(offsets)},
    }


def reference_view(
    reference: ReferenceCheckout, carts: list[str], orders: list[str], products: list[str], offsets: int
) -> dict[str, Any]:
    return {
        "offsets": (reference.offset, reference.pim_offset, reference.fulfilment_offset),
        "carts": {cart: reference.cart(cart) for cart in carts},
        "versions": {cart: reference.cart_version(cart) for cart in carts},
        "ordered": {cart: reference.cart_ordered(cart) for cart in carts},
        "products": {product: reference.product_state(product) for product in products},
        "outcomes": {order_id: reference.outcome(order_id) for order_id in orders},
        "orders": {
            (order_id, cart): reference.order(order_id, cart) for order_id in orders for cart in carts
        },
        "stock": {product: reference.stock(product) for product in products},
        "created": {offset: same_created(reference.order_created(offset)) for offset in range(offsets)},
    }


def assert_same(rust: dict[str, Any], reference: dict[str, Any]) -> None:
    rust = {**rust, "created": {k: same_created(parse_created(v)) for k, v in rust["created"].items()}}
    for part, expected in reference.items():
        for key, value in expected.items() if isinstance(expected, dict) else [(part, expected)]:
            got = rust[part][key] if isinstance(expected, dict) else rust[part]
            assert got == value, f"{part} {key!r}: rust {got!r} != reference {value!r}"


# -- the state machine -------------------------------------------------------------------------


class CheckoutFlow(RuleBasedStateMachine):
    """Both projections, their relays and the reference, each topic a list with its cursors."""

    def __init__(self) -> None:
        super().__init__()
        self.checkout, self.fulfilment = _core.Checkout(), _core.Fulfilment()
        self.reference, self.reference_fulfilment = ReferenceCheckout(), ReferenceFulfilment()
        self.pim_pub: Log = []
        self.checkout_internal: Log = []
        self.checkout_pub: Log = []
        self.fulfilment_internal: Log = []
        self.fulfilment_pub: Log = []
        self.pim_bridged = 0  # pim_pub messages bridged into checkout_internal
        self.checkout_published = 0  # applied checkout_internal offsets the publisher went through
        self.checkout_bridged = 0  # checkout_pub messages bridged into fulfilment_internal
        self.fulfilment_published = 0
        self.fulfilment_bridged = 0
        # What the fulfilment decides after each fulfilment_internal offset (its on hand), however
        # far the projection is: the checkout's mirror must equal the entry of the offset it bridged.
        self.decided = ReferenceFulfilment()
        self.on_hand_after: list[dict[str, int]] = []
        self.placed: dict[str, str] = {}  # order id → the cart that first placed it
        self.next_carts: list[str] = []  # every next cart id drawn, accepted or not

    # -- helpers ---------------------------------------------------------------------------

    @property
    def checkout_applied(self) -> int:
        return self.reference.offset + 1

    def usable_carts(self) -> list[str]:
        """Carts a shopper can hold: the first ones and the next carts of accepted orders."""
        return CARTS + [cart for cart in self.next_carts if cart in self.reference.carts]

    def draw_cart(self, data: st.DataObject) -> str:
        """Mostly a cart not ordered yet (as far as the checkout applied), sometimes any."""
        usable = self.usable_carts()
        open_carts = [
            c for c in usable if c not in self.reference.carts or not self.reference.carts[c].ordered
        ]
        if open_carts and data.draw(st.integers(min_value=0, max_value=4)) > 0:
            return data.draw(st.sampled_from(open_carts))
        return data.draw(st.sampled_from(usable))

    def all_carts(self) -> list[str]:
        """The carts the views are compared on: every existing one, one refused next cart, one unknown."""
        refused = [cart for cart in self.next_carts if cart not in self.reference.carts][-1:]
        return [*self.usable_carts(), *refused, "nobody"]

    def all_orders(self) -> list[str]:
        return [*self.placed, "never"]

    def append_fulfilment(self, message: bytes) -> None:
        self.fulfilment_internal.append(message)
        self.decided.apply(len(self.fulfilment_internal) - 1, message)
        self.on_hand_after.append(dict(self.decided.on_hand))

    def view(self) -> dict[str, Any]:
        return rust_view(
            self.checkout,
            self.all_carts(),
            self.all_orders(),
            ALL_PRODUCTS,
            self.checkout_applied,
        )

    def apply_checkout(self, count: int) -> None:
        start = self.checkout_applied
        batch = list(enumerate(self.checkout_internal))[start : start + count]
        assert self.checkout.apply(batch) == []
        for offset, message in batch:
            assert self.reference.apply(offset, message) is None
            placed = checkout_pb2.InternalMessage.FromString(message)
            if placed.WhichOneof("event") == "order_placed":
                outcome = self.reference.outcome(placed.order_placed.order_id)
                event(f"order placed: {outcome[0] if outcome else None}")  # --hypothesis-show-statistics

    def apply_fulfilment(self, count: int) -> None:
        start = self.reference_fulfilment.offset + 1
        batch = list(enumerate(self.fulfilment_internal))[start : start + count]
        assert self.fulfilment.apply(batch) == []
        for offset, message in batch:
            assert self.reference_fulfilment.apply(offset, message) is None

    def bridge_pim_at(self, offset: int) -> None:
        bridged = _core.checkout_pim_bridge(self.pim_pub[offset], offset)
        product = pim_pb2.PublicMessage.FromString(self.pim_pub[offset]).product
        assert checkout_pb2.InternalMessage.FromString(bridged) == checkout_pb2.InternalMessage(
            product_changed=checkout_pb2.ProductChanged(
                product_id=product.id,
                price=product.price,
                name=product.name,
                small_image_url=product.small_image_url,
                disabled=product.disabled,
                pim_offset=offset,
            )
        )
        self.checkout_internal.append(bridged)

    def bridge_fulfilment_at(self, offset: int) -> None:
        bridged = _core.checkout_fulfilment_bridge(self.fulfilment_pub[offset], offset)
        public = fulfilment_pb2.PublicMessage.FromString(self.fulfilment_pub[offset])
        kind = public.WhichOneof("event")
        assert kind is not None
        expected = checkout_pb2.FulfilmentChanged(fulfilment_offset=offset)
        getattr(expected, kind).CopyFrom(getattr(public, kind))
        assert checkout_pb2.InternalMessage.FromString(bridged) == checkout_pb2.InternalMessage(
            fulfilment_changed=expected
        )
        self.checkout_internal.append(bridged)

    def bridge_checkout_at(self, offset: int) -> None:
        bridged = _core.fulfilment_checkout_bridge(self.checkout_pub[offset], offset)
        created = checkout_pb2.PublicMessage.FromString(self.checkout_pub[offset]).order_created
        assert fulfilment_pb2.InternalMessage.FromString(bridged) == fulfilment_pb2.InternalMessage(
            order_shipped=fulfilment_pb2.OrderShipped(
                order_id=created.order_id,
                items=[
                    fulfilment_pb2.OrderItem(product_id=item.product_id, quantity=item.quantity)
                    for item in created.items
                ],
                checkout_offset=offset,
            )
        )
        self.append_fulfilment(bridged)

    # -- pim -------------------------------------------------------------------------------

    @rule(
        product=st.sampled_from(PRODUCTS),
        name=NAMES,
        price=PRICES,
        url=st.sampled_from(["", "/s.png"]),
        disabled=st.sampled_from([False, False, False, True]),
    )
    def pim_product(self, product: str, name: str, price: int, url: str, disabled: bool) -> None:
        product_message = pim_pb2.Product(
            id=product, name=name, price=price, small_image_url=url, description="d", disabled=disabled
        )
        self.pim_pub.append(
            pim_pb2.PublicMessage(
                product=product_message, internal_offset=len(self.pim_pub)
            ).SerializeToString()
        )

    def bridge_pim(self, count: int) -> None:
        while count and self.pim_bridged < len(self.pim_pub):
            self.bridge_pim_at(self.pim_bridged)
            self.pim_bridged += 1
            count -= 1

    # -- fulfilment ------------------------------------------------------------------------

    @rule(product=st.sampled_from(PRODUCTS), absolute=st.integers(min_value=0, max_value=8))
    def import_stock(self, product: str, absolute: int) -> None:
        """`shop import-stock`: an absolute target turned into a delta against the projection."""
        change = absolute - self.fulfilment.on_hand(product)
        self.append_fulfilment(
            fulfilment_pb2.InternalMessage(
                stock_corrected=fulfilment_pb2.StockCorrected(product_id=product, quantity_change=change)
            ).SerializeToString()
        )

    @rule(product=st.sampled_from(PRODUCTS), change=st.integers(min_value=-4, max_value=4))
    def correct_stock(self, product: str, change: int) -> None:
        self.append_fulfilment(
            fulfilment_pb2.InternalMessage(
                stock_corrected=fulfilment_pb2.StockCorrected(product_id=product, quantity_change=change)
            ).SerializeToString()
        )

    def apply_fulfilment_batch(self, count: int) -> None:
        self.apply_fulfilment(count)

    def publish_fulfilment(self, count: int) -> None:
        while count and self.fulfilment_published < len(self.fulfilment_internal):
            offset = self.fulfilment_published
            internal = fulfilment_pb2.InternalMessage.FromString(self.fulfilment_internal[offset])
            public = _core.fulfilment_publish(self.fulfilment_internal[offset], offset)
            expected = fulfilment_pb2.PublicMessage(internal_offset=offset)
            kind = internal.WhichOneof("event")
            assert kind is not None
            getattr(expected, kind).CopyFrom(getattr(internal, kind))
            assert fulfilment_pb2.PublicMessage.FromString(public) == expected
            self.fulfilment_pub.append(public)
            self.fulfilment_published += 1
            count -= 1

    def bridge_fulfilment(self, count: int) -> None:
        while count and self.fulfilment_bridged < len(self.fulfilment_pub):
            self.bridge_fulfilment_at(self.fulfilment_bridged)
            self.fulfilment_bridged += 1
            count -= 1

    # -- checkout --------------------------------------------------------------------------

    @rule(data=st.data(), product=st.sampled_from(ALL_PRODUCTS), quantity=QUANTITIES)
    def set_cart_item(self, data: st.DataObject, product: str, quantity: int) -> None:
        cart = self.draw_cart(data)
        self.checkout_internal.append(cart_item_set(cart, product, quantity))

    @rule(
        data=st.data(),
        version_change=st.sampled_from([0, 0, 0, 1, -1]),
        applied_first=st.sampled_from([True, True, True, False]),
        created_at=st.integers(min_value=0, max_value=2**42),
    )
    def place_order(
        self, data: st.DataObject, version_change: int, applied_first: bool, created_at: int
    ) -> None:
        """The shopper orders the cart as last seen (a pending command may make the version stale)."""
        if applied_first:
            self.apply_checkout(len(self.checkout_internal))
        cart = self.draw_cart(data)
        if self.placed and data.draw(st.integers(min_value=0, max_value=5)) == 0:
            order_id = data.draw(st.sampled_from(sorted(self.placed)))  # a command sent twice
        else:
            order_id = f"o{len(self.placed)}"
        next_cart = f"n{len(self.next_carts)}"
        self.next_carts.append(next_cart)
        self.placed.setdefault(order_id, cart)
        version = self.reference.cart_version(cart) + version_change
        self.checkout_internal.append(order_placed(cart, order_id, version, next_cart, created_at))

    @rule(
        data=st.data(),
        lines=st.lists(
            st.tuples(st.sampled_from(PRODUCTS), st.integers(min_value=1, max_value=2)),
            min_size=1,
            max_size=3,
        ),
        clear=st.booleans(),
    )
    def shop_and_order(self, data: st.DataObject, lines: list[tuple[str, int]], clear: bool) -> None:
        """A whole visit: fill an open cart (maybe emptied first), see it applied, order it at its version."""
        self.apply_checkout(len(self.checkout_internal))
        open_carts = [
            cart for cart in self.usable_carts() if not self.reference.carts.get(cart, Cart("")).ordered
        ]
        cart = data.draw(st.sampled_from(open_carts))
        if clear and cart in self.reference.carts:
            for product in self.reference.carts[cart].items:
                self.checkout_internal.append(cart_item_set(cart, product, 0))
        for product, quantity in lines:
            self.checkout_internal.append(cart_item_set(cart, product, quantity))
        self.apply_checkout(len(self.checkout_internal))
        order_id, next_cart = f"o{len(self.placed)}", f"n{len(self.next_carts)}"
        self.placed[order_id] = cart
        self.next_carts.append(next_cart)
        self.checkout_internal.append(
            order_placed(cart, order_id, self.reference.cart_version(cart), next_cart)
        )

    def apply_checkout_batch(self, count: int) -> None:
        self.apply_checkout(count)

    def publish_checkout(self, count: int) -> None:
        while count and self.checkout_published < self.checkout_applied:
            created = self.checkout.order_created(self.checkout_published)
            if created is not None:
                self.checkout_pub.append(created)
            self.checkout_published += 1
            count -= 1

    def bridge_checkout(self, count: int) -> None:
        while count and self.checkout_bridged < len(self.checkout_pub):
            self.bridge_checkout_at(self.checkout_bridged)
            self.checkout_bridged += 1
            count -= 1

    # -- relays, duplicates and quiescence -------------------------------------------------

    @initialize(
        names=st.lists(NAMES, min_size=len(PRODUCTS), max_size=len(PRODUCTS)),
        stock=st.lists(st.integers(min_value=0, max_value=6), min_size=len(PRODUCTS), max_size=len(PRODUCTS)),
    )
    def open_the_shop(self, names: list[str], stock: list[int]) -> None:
        """Every product known and stocked, so that the first steps already shop."""
        for product, name, units in zip(PRODUCTS, names, stock, strict=True):
            self.pim_product(product, name, 100, "", disabled=False)
            self.import_stock(product, units)
        self.run_until_quiet()

    @rule(step=st.sampled_from(RELAYS), count=BATCH)
    def relay(self, step: str, count: int) -> None:
        """One relay or projection moves up to `count` messages (a projection: in one batch)."""
        getattr(self, step)(count)

    @rule(topic=st.sampled_from(REPLAYED_TOPICS), data=st.data())
    def bridge_again(self, topic: str, data: st.DataObject) -> None:
        """A bridge that restarted sends a message it had already sent (the same source offset)."""
        done = {
            "pim": self.pim_bridged,
            "fulfilment": self.fulfilment_bridged,
            "checkout": self.checkout_bridged,
        }
        if done[topic]:
            getattr(self, f"bridge_{topic}_at")(
                data.draw(st.integers(min_value=0, max_value=done[topic] - 1))
            )

    @rule(data=st.data())
    def duplicate_changes_nothing(self, data: st.DataObject) -> None:
        """An applied bridged event applied once more (same source offset) changes nothing."""
        self.apply_checkout(len(self.checkout_internal))
        bridged = [
            message
            for message in self.checkout_internal
            if checkout_pb2.InternalMessage.FromString(message).WhichOneof("event")
            in ("product_changed", "fulfilment_changed")
        ]
        if not bridged:
            return
        message = data.draw(st.sampled_from(bridged))
        before = self.view()
        self.checkout_internal.append(message)
        self.apply_checkout(1)
        after = self.view()
        assert after["offsets"][0] == before["offsets"][0] + 1
        assert after["created"].pop(after["offsets"][0]) is None
        assert {**after, "offsets": after["offsets"][1:]} == {**before, "offsets": before["offsets"][1:]}

    @rule()
    def run_until_quiet(self) -> None:
        """Every relay and projection catches up; then every unit is accounted for."""
        while True:
            lengths = [
                len(log) for log in (self.checkout_internal, self.checkout_pub, self.fulfilment_internal)
            ]
            self.bridge_pim(len(self.pim_pub))
            self.apply_checkout(len(self.checkout_internal))
            self.publish_checkout(self.checkout_applied)
            self.bridge_checkout(len(self.checkout_pub))
            self.apply_fulfilment(len(self.fulfilment_internal))
            self.publish_fulfilment(len(self.fulfilment_internal))
            self.bridge_fulfilment(len(self.fulfilment_pub))
            self.apply_checkout(len(self.checkout_internal))
            if lengths == [
                len(log) for log in (self.checkout_internal, self.checkout_pub, self.fulfilment_internal)
            ]:
                break
        reference = self.reference_fulfilment
        for product in ALL_PRODUCTS:
            on_hand = self.fulfilment.on_hand(product)
            assert on_hand == self.checkout.stock(product)[0], product
            assert on_hand == reference.imported.get(product, 0) - reference.shipped.get(product, 0), product
            # every accepted order has shipped or is backordered: nothing stays reserved
            assert self.checkout.stock(product)[1] == 0, product
        assert all(order.status != "accepted" for order in self.reference.orders.values())

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def after_every_step(self) -> None:
        view = self.view()  # computed once: the checks below all read it
        self.checkout_matches_reference(view)
        self.fulfilment_matches_reference()
        self.stock_is_consistent(view)
        self.checkout_mirrors_fulfilment(view)
        self.replay_gives_the_same_state(view)

    def checkout_matches_reference(self, view: dict[str, Any]) -> None:
        assert_same(
            view,
            reference_view(
                self.reference, self.all_carts(), self.all_orders(), ALL_PRODUCTS, self.checkout_applied
            ),
        )

    def fulfilment_matches_reference(self) -> None:
        reference = self.reference_fulfilment
        assert (self.fulfilment.offset, self.fulfilment.checkout_offset) == (
            reference.offset,
            reference.checkout_offset,
        )
        assert {p: n for p, n in self.fulfilment.stock().items() if n} == reference.stock()
        for order_id in self.all_orders():
            assert self.fulfilment.shipped(order_id) == reference.complete.get(order_id), order_id
        for product in ALL_PRODUCTS:
            on_hand = self.fulfilment.on_hand(product)
            assert on_hand == reference.on_hand.get(product, 0), product
            # every unit accounted for: what the corrections brought minus what shipped
            assert on_hand == reference.imported.get(product, 0) - reference.shipped.get(product, 0), product

    def stock_is_consistent(self, view: dict[str, Any]) -> None:
        """On hand and available never below 0; reserved is what accepted, unshipped orders hold."""
        held = dict.fromkeys(ALL_PRODUCTS, 0)
        for order_id, cart in self.placed.items():
            if view["outcomes"][order_id] == ("accepted", []):
                order = json.loads(self.checkout.order(order_id, cart) or b"null")
                for item in order["items"]:
                    held[item["product_id"]] += item["quantity"]
        for product, (on_hand, reserved, available) in view["stock"].items():
            assert on_hand >= 0 and available >= 0, product
            assert available == max(0, on_hand - reserved), product
            assert reserved == held[product], product

    def checkout_mirrors_fulfilment(self, view: dict[str, Any]) -> None:
        """The checkout's on hand is the fulfilment's after the last fulfilment offset it bridged."""
        bridged = self.checkout.fulfilment_offset
        expected = self.on_hand_after[bridged] if bridged >= 0 else {}
        for product, (on_hand, _, _) in view["stock"].items():
            assert on_hand == expected.get(product, 0), (
                f"{product}: checkout {on_hand}, fulfilment {expected}"
            )

    def replay_gives_the_same_state(self, view: dict[str, Any]) -> None:
        """A fresh Checkout fed the whole applied log in one batch reaches the same state."""
        fresh = _core.Checkout()
        assert fresh.apply(list(enumerate(self.checkout_internal))[: self.checkout_applied]) == []
        replayed = rust_view(fresh, self.all_carts(), self.all_orders(), ALL_PRODUCTS, self.checkout_applied)
        assert replayed == view


CheckoutFlow.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    report_multiple_bugs=False,  # shrink one failure, not every distinct one: long runs shrink slowly
    suppress_health_check=[HealthCheck.too_slow],
)
test_checkout_flow = CheckoutFlow.TestCase


# -- sharp cases -------------------------------------------------------------------------------


class Shop:
    """A Checkout and its reference fed the same checkout_internal messages, one batch per call."""

    def __init__(self) -> None:
        self.checkout, self.reference, self.offset = _core.Checkout(), ReferenceCheckout(), 0
        self.pim_offset = self.fulfilment_offset = 0

    def apply(self, *messages: bytes) -> None:
        batch = [(self.offset + i, message) for i, message in enumerate(messages)]
        self.offset += len(batch)
        assert self.checkout.apply(batch) == []
        for offset, message in batch:
            self.reference.apply(offset, message)

    def product(self, product_id: str, **fields: Any) -> None:
        self.apply(product_changed(self.pim_offset, product_id, **fields))
        self.pim_offset += 1

    def stock(self, product_id: str, change: int) -> None:
        self.apply(stock_corrected(self.fulfilment_offset, product_id, change))
        self.fulfilment_offset += 1

    def outcome(self, order_id: str) -> tuple[str, list[str]] | None:
        found = self.checkout.outcome(order_id)
        found = None if found is None else (found[0], list(found[1]))
        assert found == self.reference.outcome(order_id)
        return found

    def cart(self, cart_id: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.checkout.cart(cart_id))
        assert found == self.reference.cart(cart_id)
        return found

    def order(self, order_id: str, cart_id: str) -> dict[str, Any] | None:
        raw = self.checkout.order(order_id, cart_id)
        found = None if raw is None else json.loads(raw)
        assert found == self.reference.order(order_id, cart_id)
        return found


def test_the_last_unit_goes_to_exactly_one_of_two_carts() -> None:
    shop = Shop()
    shop.product("p", name="Pen", price=150)
    shop.stock("p", 1)
    shop.apply(cart_item_set("a", "p", 1), cart_item_set("b", "p", 1))
    assert shop.cart("a")["items"][0]["in_stock"] is True
    assert shop.cart("a")["items"][0]["more_in_stock"] is False
    shop.apply(order_placed("a", "oa", 1, "a2"), order_placed("b", "ob", 1, "b2"))
    assert shop.outcome("oa") == ("accepted", [])
    assert shop.outcome("ob") == ("stock", ["p"])
    assert shop.checkout.stock("p") == (1, 1, 0)
    assert shop.cart("b")["items"][0]["in_stock"] is False
    assert shop.checkout.order_created(4) is not None  # offsets: product 0, stock 1, carts 2-3, orders 4-5
    assert shop.checkout.order_created(5) is None
    # Checkout's publisher announces what order_created says, for every offset, from the offset alone.
    announce, offsets = shop.checkout.orders_published(), range(7)
    assert [announce(b"", o) for o in offsets] == [shop.checkout.order_created(o) for o in offsets]


def test_an_empty_cart_is_not_ordered() -> None:
    shop = Shop()
    shop.product("p")
    shop.stock("p", 5)
    shop.apply(order_placed("never-used", "o1", 0, "n1"))
    assert shop.outcome("o1") == ("empty", [])
    shop.apply(cart_item_set("a", "p", 2), cart_item_set("a", "p", 0))
    assert shop.cart("a") == {"version": 2, "items": [], "total_price": 0}
    shop.apply(order_placed("a", "o2", 2, "n2"))
    assert shop.outcome("o2") == ("empty", [])
    assert [shop.checkout.cart_version(cart) for cart in ("n1", "n2")] == [0, 0]  # refused: no next cart
    assert shop.checkout.stock("p") == (5, 0, 5)


def test_a_stale_version_is_refused() -> None:
    shop = Shop()
    shop.product("p", name="Pen", price=150)
    shop.stock("p", 5)
    shop.apply(cart_item_set("a", "p", 1), cart_item_set("a", "p", 2))
    shop.apply(order_placed("a", "o1", 1, "n1"))
    assert shop.outcome("o1") == ("version", [])
    shop.apply(order_placed("a", "o1", 2, "n1"))  # the same order id again: already decided
    assert shop.outcome("o1") == ("version", [])
    shop.apply(cart_item_set("a", "p", 2))  # the same quantity still bumps the version
    assert shop.cart("a")["version"] == 3
    shop.apply(order_placed("a", "o2", 3, "n2", created_at_ms=1_700_000_000_000))
    assert shop.outcome("o2") == ("accepted", [])
    assert shop.order("o2", "a") == {
        "id": "o2",
        "status": "accepted",
        "items": [
            {
                "product_id": "p",
                "name": "Pen",
                "price": 150,
                "small_image_url": "",
                "quantity": 2,
                "in_stock": False,
                "more_in_stock": False,
            }
        ],
        "total_price": 300,
        "created_at": 1_700_000_000_000,
    }


def test_a_cart_is_ordered_once() -> None:
    shop = Shop()
    shop.product("p", price=10)
    shop.stock("p", 5)
    shop.apply(cart_item_set("a", "p", 1))
    shop.apply(order_placed("a", "o1", 1, "a2"), order_placed("a", "o2", 1, "a3"))
    assert shop.outcome("o1") == ("accepted", [])
    assert shop.outcome("o2") == ("ordered", [])
    assert shop.checkout.stock("p") == (5, 1, 4)
    # an ordered cart takes no more changes; the shopper's next cart is empty and theirs
    shop.apply(cart_item_set("a", "p", 3))
    assert shop.cart("a")["version"] == 1
    assert shop.cart("a2") == {"version": 0, "items": [], "total_price": 0}
    assert shop.cart("a3") == {"version": 0, "items": [], "total_price": 0}
    assert shop.order("o1", "a2") is not None
    assert shop.order("o1", "a3") is None  # never created: no owner
    shop.apply(cart_item_set("b", "p", 1))
    assert shop.order("o1", "b") is None  # another shopper
    assert shop.order("o2", "a") is None  # refused orders have no view
    # the shopper's second order, from the next cart, is theirs too
    shop.apply(cart_item_set("a2", "p", 1), order_placed("a2", "o3", 1, "a4"))
    assert shop.outcome("o3") == ("accepted", [])
    assert shop.order("o3", "a") is not None
    assert shop.order("o1", "a4") is not None


def test_a_disabled_product_makes_the_cart_unavailable() -> None:
    shop = Shop()
    shop.product("p", name="Pen")
    shop.product("q", name="Quill")
    shop.stock("p", 5)
    shop.stock("q", 5)
    shop.apply(cart_item_set("a", "q", 1), cart_item_set("a", "p", 6))
    shop.product("q", name="Quill", disabled=True)
    cart = shop.cart("a")
    assert [(i["product_id"], i["in_stock"], i["more_in_stock"]) for i in cart["items"]] == [
        ("p", False, False),
        ("q", False, False),
    ]
    shop.apply(cart_item_set("a", "q", 2))  # no more of a disabled product …
    assert shop.cart("a")["version"] == 2
    shop.apply(order_placed("a", "o1", 2, "n1"))
    assert shop.outcome("o1") == ("unavailable", ["q"])  # decided before the short stock of p
    shop.apply(cart_item_set("a", "q", 0))  # … but it can be removed
    shop.apply(order_placed("a", "o2", 3, "n2"))
    assert shop.outcome("o2") == ("stock", ["p"])
    shop.apply(cart_item_set("a", "p", 5), order_placed("a", "o3", 4, "n3"))
    assert shop.outcome("o3") == ("accepted", [])
    assert shop.checkout.stock("p") == (5, 5, 0)
    shop.apply(cart_item_set("b", "q", 1), cart_item_set("b", "nope", 1))
    assert shop.cart("b") == {"version": 0, "items": [], "total_price": 0}
    shop.product("q", name="Quill")  # enabled again
    shop.apply(cart_item_set("b", "q", 1))
    assert shop.cart("b")["items"][0]["in_stock"] is True


def test_a_shipment_delivered_again_changes_nothing_and_the_order_keeps_the_first() -> None:
    """Fulfilment's bridge may relay an order twice; the copy, bridged at a later offset, is
    ignored: the order keeps the offset of the shipment that decided it (notification mails that
    one only)."""
    shop = Shop()
    shop.product("p", name="Pen")
    shop.stock("p", 3)
    shop.apply(cart_item_set("a", "p", 1), order_placed("a", "o1", 1, "a2"))
    assert shop.checkout.shipped_at("o1") == -1
    shipped_at = shop.fulfilment_offset
    for offset in (shipped_at, shipped_at + 1):
        shop.apply(order_shipped(offset, "o1", {"p": 1}, checkout_offset=0))
    assert shop.checkout.shipped_at("o1") == shipped_at
    assert shop.outcome("o1") == ("shipped", [])
    assert shop.checkout.stock("p") == (2, 0, 2)
    assert shop.checkout.shipped_at("unknown") is None


def test_a_recount_below_reservations_backorders_and_available_stays_at_zero() -> None:
    shop = Shop()
    shop.product("p", name="Pen")
    shop.product("q", name="Quill")
    shop.stock("p", 3)
    shop.stock("q", 3)
    shop.apply(cart_item_set("a", "p", 3), cart_item_set("a", "q", 1), order_placed("a", "o1", 2, "a2"))
    shop.stock("p", -2)  # a recount found only 1
    assert shop.checkout.stock("p") == (1, 3, 0)
    shop.apply(order_shipped(shop.fulfilment_offset, "o1", {"p": 3, "q": 1}, checkout_offset=0))
    assert shop.outcome("o1") == ("backordered", [])
    assert shop.checkout.stock("p") == (0, 0, 0)
    assert shop.checkout.stock("q") == (2, 0, 2)
    shop.stock("p", -5)
    assert shop.checkout.stock("p") == (0, 0, 0)


def test_the_protobuf_views_carry_the_same_data() -> None:
    shop = Shop()
    shop.product("p", name="Pen", price=150, small_image_url="/pen.png")
    shop.stock("p", 2)
    shop.apply(cart_item_set("a", "p", 2))
    cart = checkout_pb2.Cart.FromString(shop.checkout.cart("a", protobuf=True))
    assert (cart.version, cart.total_price) == (1, 300)
    assert [
        (i.product_id, i.name, i.price, i.small_image_url, i.quantity, i.in_stock, i.more_in_stock)
        for i in cart.items
    ] == [("p", "Pen", 150, "/pen.png", 2, True, False)]
    shop.apply(order_placed("a", "o1", 1, "a2", created_at_ms=42))
    order = checkout_pb2.Order.FromString(shop.checkout.order("o1", "a", protobuf=True) or b"")
    assert (order.id, order.status, order.total_price, order.created_at) == ("o1", "accepted", 300, 42)
    assert [(i.product_id, i.quantity, i.in_stock) for i in order.items] == [("p", 2, False)]
    assert shop.checkout.order("o1", "elsewhere", protobuf=True) is None


def test_undecodable_events_are_reported_and_change_nothing_but_the_offset() -> None:
    checkout, fulfilment = _core.Checkout(), _core.Fulfilment()
    poison = checkout.apply([(0, product_changed(0, "p")), (1, b"\xff\xff"), (2, b"")])
    assert [offset for offset, _ in poison] == [1, 2]
    assert all(error for _, error in poison)
    assert (checkout.offset, checkout.pim_offset, checkout.fulfilment_offset) == (2, 0, -1)
    assert [offset for offset, _ in fulfilment.apply([(0, b"\xff\xff"), (1, b"")])] == [0, 1]
    assert (fulfilment.offset, fulfilment.checkout_offset, fulfilment.stock()) == (1, -1, {})


def test_a_replayed_order_shipped_is_counted_once_by_the_checkout() -> None:
    """The checkout_pub → fulfilment_internal bridge restarts and sends an OrderCreated again. The
    fulfilment ignores the copy (checkout_offset already applied), but its publisher publishes every
    internal message, so the copy reaches the checkout as a new fulfilment_pub offset. The checkout's
    on hand must stay the fulfilment's: every unit accounted for once."""
    checkout, fulfilment = _core.Checkout(), _core.Fulfilment()
    checkout_internal: Log = [product_changed(0, "p", name="Pen"), cart_item_set("a", "p", 1)]
    fulfilment_internal: Log = [
        fulfilment_pb2.InternalMessage(
            stock_corrected=fulfilment_pb2.StockCorrected(product_id="p", quantity_change=5)
        ).SerializeToString()
    ]

    def bridge_fulfilment(first: int) -> None:
        for offset in range(first, len(fulfilment_internal)):
            public = _core.fulfilment_publish(fulfilment_internal[offset], offset)
            checkout_internal.append(_core.checkout_fulfilment_bridge(public, offset))

    bridge_fulfilment(0)
    checkout_internal.append(order_placed("a", "o1", 1, "a2"))
    checkout.apply(list(enumerate(checkout_internal)))
    created = checkout.order_created(3)
    assert created is not None
    fulfilment_internal.append(_core.fulfilment_checkout_bridge(created, 0))
    fulfilment_internal.append(_core.fulfilment_checkout_bridge(created, 0))  # the bridge restarted
    fulfilment.apply(list(enumerate(fulfilment_internal)))
    assert fulfilment.on_hand("p") == 4  # shipped once
    applied = len(checkout_internal)
    bridge_fulfilment(1)
    checkout.apply(list(enumerate(checkout_internal))[applied:])
    assert checkout.outcome("o1") == ("shipped", [])
    assert checkout.stock("p") == (fulfilment.on_hand("p"), 0, fulfilment.on_hand("p"))


def test_the_fulfilment_ships_a_replayed_order_once() -> None:
    fulfilment = _core.Fulfilment()
    created = checkout_pb2.PublicMessage(
        order_created=checkout_pb2.OrderCreated(
            order_id="o1", items=[checkout_pb2.OrderItem(product_id="p", quantity=2)]
        ),
        internal_offset=7,
    ).SerializeToString()
    stocked = fulfilment_pb2.InternalMessage(
        stock_corrected=fulfilment_pb2.StockCorrected(product_id="p", quantity_change=5)
    ).SerializeToString()
    shipped = _core.fulfilment_checkout_bridge(created, 3)
    assert fulfilment.apply([(0, stocked), (1, shipped)]) == []
    assert fulfilment.apply([(2, shipped), (3, _core.fulfilment_checkout_bridge(created, 2))]) == []
    assert (fulfilment.on_hand("p"), fulfilment.offset, fulfilment.checkout_offset) == (3, 3, 3)
    assert fulfilment.apply([(4, _core.fulfilment_checkout_bridge(created, 4))]) == []  # a new order
    assert fulfilment.on_hand("p") == 1
