"""Fuzzing with hypothesis: random and mutated bytes through every Rust decoder (the projections'
apply, the relay translations, the snapshot loaders), and random query strings, paths, headers and
bodies through the ASGI app of a real shop, in process. Nothing may raise anything but ValueError
from Rust (never a panic), and no request may get a 5xx or a body that is not what it says.

`make test` runs a short round; `make fuzz` a long one (SHOP_FUZZ_EXAMPLES)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from fixtures.kafka_broker import Broker
from fixtures.reference import product_changed
from shop import _core
from shop._proto import checkout_pb2, fulfilment_pb2, pim_pb2
from shop.api.app import App
from shop.kafka.projection import Projection
from tests.support.asgi import request, running_app
from tests.support.hostile import BODIES, FUZZ, HEADER_VALUES, QUERIES, TEXT, assert_well_answered

PRODUCT = pim_pb2.Product(
    id="p1", price=250, name="Pear", description="d", category="c/d", small_image_url="u"
)
PIM_INTERNAL = pim_pb2.InternalMessage(product=PRODUCT).SerializeToString()
STOCK = fulfilment_pb2.StockCorrected(product_id="p1", quantity_change=5)
SHIPPED = fulfilment_pb2.OrderShipped(
    order_id="o1", items=[fulfilment_pb2.OrderItem(product_id="p1", quantity=2)], checkout_offset=3
)
FULFILMENT_INTERNAL = [
    fulfilment_pb2.InternalMessage(stock_corrected=STOCK).SerializeToString(),
    fulfilment_pb2.InternalMessage(order_shipped=SHIPPED).SerializeToString(),
]
CHECKOUT_INTERNAL = [
    checkout_pb2.InternalMessage(
        cart_item_set=checkout_pb2.CartItemSet(cart_id="c1", product_id="p1", quantity=3)
    ).SerializeToString(),
    checkout_pb2.InternalMessage(
        order_placed=checkout_pb2.OrderPlaced(
            cart_id="c1", order_id="o1", cart_version=1, next_cart_id="c2", created_at_ms=1
        )
    ).SerializeToString(),
    _core.checkout_pim_bridge(_core.pim_publish(PIM_INTERNAL, 0), 0),
    _core.checkout_fulfilment_bridge(_core.fulfilment_publish(FULFILMENT_INTERNAL[0], 1), 1),
]
# Valid messages of every kind that the decoders read: mutations of them reach deep into each.
SEEDS = [
    PIM_INTERNAL,
    _core.pim_publish(PIM_INTERNAL, 7),
    product_changed(0, 0, id="p1", name="Pear", price=3)[1],
    _core.catalog_bridge(_core.pim_publish(PIM_INTERNAL, 7), 9),
    *FULFILMENT_INTERNAL,
    *(_core.fulfilment_publish(m, 4) for m in FULFILMENT_INTERNAL),
    *CHECKOUT_INTERNAL,
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid message with a few bytes flipped, inserted, deleted or cut, or random bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=200))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "cut", "varint"]))
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "cut":
            del data[at:]
        else:  # an overlong or huge varint, the usual trouble for length prefixes
            data[at:at] = draw(st.sampled_from([b"\xff" * 10, b"\x80" * 11, b"\xff\xff\xff\xff\x0f"]))
    return bytes(data)


BATCHES = st.lists(mutated(), min_size=1, max_size=8)
TRANSLATIONS = [
    _core.pim_publish,
    _core.catalog_bridge,
    _core.fulfilment_publish,
    _core.checkout_pim_bridge,
    _core.checkout_fulfilment_bridge,
    _core.fulfilment_checkout_bridge,
]


def apply_all(model: Any, batch: list[bytes]) -> list[tuple[int, str]]:
    poison: list[tuple[int, str]] = model.apply(list(enumerate(batch)))
    assert model.offset == len(batch) - 1  # poison advances the offset too
    assert all(isinstance(error, str) and error for _offset, error in poison)
    return poison


@FUZZ
@given(batch=BATCHES)
def test_catalog_decoding_never_fails_but_with_poison(batch: list[bytes]) -> None:
    catalog = _core.Catalog()
    apply_all(catalog, batch)
    for sort in ("id", "price", "name"):
        json.loads(catalog.page(sort, "", 1, 10))
        catalog.page(sort, "P", 1, 10, True)


@FUZZ
@given(batch=BATCHES)
def test_checkout_decoding_never_fails_but_with_poison(batch: list[bytes]) -> None:
    checkout = _core.Checkout()
    apply_all(checkout, batch)
    for cart in ("c1", "c2"):
        json.loads(checkout.cart(cart))
    checkout.order("o1", "c1")
    checkout.stock("p1")
    checkout.order_created(1)


@FUZZ
@given(batch=BATCHES)
def test_fulfilment_decoding_never_fails_but_with_poison(batch: list[bytes]) -> None:
    fulfilment = _core.Fulfilment()
    apply_all(fulfilment, batch)
    fulfilment.stock()
    fulfilment.shipped("o1")


@FUZZ
@given(message=mutated(), offset=st.integers(min_value=0, max_value=2**62))
def test_translations_answer_bytes_or_value_error(message: bytes, offset: int) -> None:
    for translate in TRANSLATIONS:
        try:
            assert isinstance(translate(message, offset), bytes)
        except ValueError as exc:
            assert str(exc)
    try:
        assert isinstance(_core.published_offset(message), int)
    except ValueError as exc:
        assert str(exc)


@FUZZ
@given(message=mutated(), offset=st.integers(min_value=0, max_value=2**62))
def test_every_shipment_reaches_a_notifiers_translation(message: bytes, offset: int) -> None:
    """The shipments' notifier wants order_shipped (2) of fulfilment_pub: each message that Python
    reads as one reaches its translation (once, with its offset); what it steps over holds no
    shipment (garbage in another event's bytes is for that event's readers to refuse)."""
    reached: list[tuple[bytes, int]] = []

    def mail(value: bytes, at: int) -> bytes:
        reached.append((value, at))
        return b"mailed"

    answer = _core.OnlyEvents([2], mail)(message, offset)
    assert (answer, reached) in ((b"mailed", [(message, offset)]), (None, []))
    try:
        event = fulfilment_pb2.PublicMessage.FromString(message).WhichOneof("event")
    except DecodeError:
        event = "not protobuf"
    if event == "order_shipped":
        assert reached


def test_a_notifiers_translation_steps_over_what_it_does_not_want_without_a_call() -> None:
    stock, shipped = (_core.fulfilment_publish(m, 4) for m in FULFILMENT_INTERNAL)
    only = _core.OnlyEvents([2], lambda value, at: value)
    assert only(stock, 1) is None
    assert only(shipped, 1) == shipped
    assert only(b"\xff\xfe\x00 not an event", 1) == b"\xff\xfe\x00 not an event"


@pytest.fixture(scope="module")
def snapshots() -> Iterator[dict[str, bytes]]:
    """A valid snapshot of each projection, written by the projection itself."""
    models: dict[str, Projection] = {
        "catalog": _core.Catalog(),
        "checkout": _core.Checkout(),
        "fulfilment": _core.Fulfilment(),
    }
    models["catalog"].apply([product_changed(0, 0, id="p1", name="Pear", price=3)])
    models["checkout"].apply(list(enumerate(CHECKOUT_INTERNAL)))
    models["fulfilment"].apply(list(enumerate(FULFILMENT_INTERNAL)))
    with tempfile.TemporaryDirectory() as folder:
        found = {}
        for name, model in models.items():
            path = Path(folder) / name
            model.write_snapshot(str(path), "t", "id", "cluster")
            found[name] = path.read_bytes()
        yield found


MODELS: dict[str, Callable[[], Projection]] = {
    "catalog": _core.Catalog,
    "checkout": _core.Checkout,
    "fulfilment": _core.Fulfilment,
}


@FUZZ
@given(data=st.data())
def test_a_damaged_snapshot_is_refused_with_a_value_error(
    data: st.DataObject, snapshots: dict[str, bytes]
) -> None:
    name = data.draw(st.sampled_from(sorted(MODELS)))
    damaged = bytearray(snapshots[name])
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(damaged)))
        if data.draw(st.booleans()) and at < len(damaged):
            damaged[at] ^= 1 << data.draw(st.integers(0, 7))
        else:
            del damaged[at:]
    with tempfile.NamedTemporaryFile() as file:
        file.write(bytes(damaged))
        file.flush()
        model = MODELS[name]()
        try:
            model.load_snapshot(file.name, "t", "id", "cluster", 10**6)
        except ValueError as exc:
            assert str(exc)


# HTTP: the real app and a real shop on the test broker, called in process through ASGI.


@pytest.fixture(scope="module")
def app(broker: Broker) -> Iterator[App]:
    with running_app(broker) as app:
        yield app


ROUTES = st.sampled_from(
    [
        ("GET", "/api/v1/products"),
        ("GET", "/api/v1/products/"),
        ("GET", "/api/v1/cart"),
        ("PUT", "/api/v1/cart/items/"),
        ("DELETE", "/api/v1/cart/items/"),
        ("POST", "/api/v1/cart/order"),
        ("POST", "/api/v1/stock"),
        ("GET", "/api/v1/orders/"),
        ("PATCH", "/api/v1/cart"),
        ("GET", "/"),
        ("OPTIONS", "/api/v1/products"),
    ]
)


@FUZZ
@given(
    route=ROUTES,
    tail=st.one_of(st.just(""), TEXT),
    query=QUERIES,
    headers=st.lists(
        st.tuples(
            st.sampled_from([b"if-match", b"shop-min-offset", b"cookie", b"accept", b"origin"]), HEADER_VALUES
        ),
        max_size=3,
    ),
    body=BODIES,
)
def test_http_parsing_answers_every_request_without_a_5xx(
    app: App,
    route: tuple[str, str],
    tail: str,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: list[bytes],
) -> None:
    method, path = route
    status, answer_headers, answer = request(app, method, path + tail, query, headers, body)
    assert_well_answered(status, answer_headers, answer)


@FUZZ
@given(product=st.integers(0, 3), body=BODIES)
def test_a_cart_write_with_any_body_is_a_cart_or_a_problem(app: App, product: int, body: list[bytes]) -> None:
    product_id = ["p"] + [pid for pid in _catalog_ids(app)]
    status, headers, answer = request(
        app, "PUT", f"/api/v1/cart/items/{product_id[product % len(product_id)]}", b"", [], body
    )
    assert_well_answered(status, headers, answer)
    if status == 200:
        assert set(json.loads(answer)) == {"version", "items", "total_price"}


def _catalog_ids(app: App) -> list[str]:
    assert app.shop is not None
    return [item["id"] for item in json.loads(app.shop.catalog.model.page("id", "", 1, 10))["items"]]
