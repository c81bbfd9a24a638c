"""A cart answer is read from one published copy of the checkout model, and the model decides the fate
of every cart command when it applies it: the API answers from that decision."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from types import SimpleNamespace
from typing import Any

from shop import _core
from shop.api.cart import CartRoutes
from shop.config import Config
from shop.kafka.breaker import CircuitBreaker
from tests.support.checkout_messages import cart_item_set, order_placed, product_changed, stock_corrected

CART = "c" * 32
NEXT = "d" * 32
EMPTY_CART = {"version": 0, "items": [], "total_price": 0}
RACE_SECONDS = 2.0


def routes_over(model: _core.Checkout) -> CartRoutes:
    """The cart routes over `model` alone: reads need nothing else of the checkout context."""
    checkout: Any = SimpleNamespace(model=model)
    return CartRoutes(Config(), checkout, CircuitBreaker(failures=5, cooldown=1.0))


def cart_scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/cart",
        "headers": [(b"cookie", f"cart={CART}".encode())],
    }


def test_a_cart_answer_never_mixes_two_copies_under_concurrent_writes() -> None:
    """The ETag, Shop-Offset and body of one answer show one state, while another thread applies a
    write to the same cart after every read (each publishes a new copy, with the GIL released)."""
    model = _core.Checkout()
    model.apply([(0, product_changed(0, "p"))])
    stop = threading.Event()

    def write_forever() -> None:
        offset = 1
        while not stop.is_set():
            model.apply([(offset, cart_item_set(CART, "p", 1 + offset % 2))])
            offset += 1

    writer = threading.Thread(target=write_forever)
    writer.start()
    routes = routes_over(model)
    mixed: list[tuple[int, int, int]] = []
    try:
        deadline = time.monotonic() + RACE_SECONDS
        while time.monotonic() < deadline and not mixed:
            answer = asyncio.run(routes.get_cart(cart_scope()))
            headers = dict(answer.headers)
            etag = int(headers[b"etag"].strip(b'"'))
            offset = int(headers[b"shop-offset"])
            version = json.loads(answer.body)["version"]
            # Each write from offset 1 on bumps the version once: version == offset.
            if not etag == version == offset:
                mixed.append((etag, version, offset))
    finally:
        stop.set()
        writer.join()
    assert mixed == []


def test_the_model_records_why_it_refused_a_cart_command() -> None:
    model = _core.Checkout()
    model.apply(
        [
            (0, product_changed(0, "p")),
            (1, product_changed(1, "off", disabled=True)),
            (2, cart_item_set(CART, "p", 1)),
            (3, cart_item_set(CART, "off", 1)),
            (4, cart_item_set(CART, "unknown", 2)),
            (5, cart_item_set(CART, "p", _core.MAX_QUANTITY + 1)),
            (6, cart_item_set(CART, "off", 0)),  # not in the cart: nothing to remove
            (7, cart_item_set(CART, "p", 0)),
        ]
    )
    fates = [model.cart_answer(CART, written_at=offset).refusal for offset in range(2, 8)]
    assert fates == [None, "not-for-sale", "not-for-sale", "quantity", "not-in-cart", None]
    assert model.cart_answer(CART).version == 2  # the two accepted commands


def test_a_product_disabled_after_the_check_gets_the_models_refusal() -> None:
    """The check before producing passes; the product is disabled before the command is applied:
    the answer is the refusal, not a cart silently without the item."""
    model = _core.Checkout()
    model.apply([(0, product_changed(0, "p"))])
    assert model.item_refusal(CART, "p", 1) is None
    model.apply([(1, product_changed(1, "p", disabled=True)), (2, cart_item_set(CART, "p", 1))])
    view = model.cart_answer(CART, written_at=2)
    assert (view.refusal, view.version, view.offset) == ("not-for-sale", 0, 2)
    assert json.loads(view.body)["items"] == []
    assert model.item_refusal(CART, "p", 1) == "not-for-sale"


def test_an_ordered_cart_refuses_changes_and_leads_to_its_order_and_the_next_cart() -> None:
    model = _core.Checkout()
    model.apply(
        [(0, product_changed(0, "p")), (1, stock_corrected(0, "p", 5)), (2, cart_item_set(CART, "p", 1))]
    )
    model.apply([(3, order_placed(CART, "o", 1, NEXT)), (4, cart_item_set(CART, "p", 2))])
    assert model.outcome("o") == ("accepted", [])
    view = model.cart_answer(CART, written_at=4)
    assert (view.refusal, view.order_id, view.next_cart_id) == ("ordered", "o", NEXT)
    assert json.loads(view.body)["order_id"] == "o"
    assert model.item_refusal(CART, "p", 2) == "ordered"
    # The order retried (its answer was lost): refused as ordered, naming the order and next cart.
    model.apply([(5, order_placed(CART, "o-retry", 1, "m" * 32))])
    decided = model.decision_answer("o-retry", CART)
    assert decided is not None
    assert (decided.status, decided.order_id, decided.next_cart_id) == ("ordered", "o", NEXT)
    assert decided.body is None
    accepted = model.decision_answer("o", CART)
    assert accepted is not None and accepted.order_id is None and accepted.body is not None
    assert json.loads(accepted.body)["id"] == "o"
    fresh = model.cart_answer(NEXT)
    assert (fresh.order_id, fresh.version, json.loads(fresh.body)) == (None, 0, EMPTY_CART)
