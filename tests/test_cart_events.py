"""GET /api/v1/cart/events: the cart pushed over a WebSocket, on a real shop and broker."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from fixtures.kafka_broker import Broker
from fixtures.server import ShopProcess
from fixtures.shopper import DETAILS
from shop.contexts import pim_csv, stock_csv
from tests.support.config import fresh_config

WAIT_S = 20  # generous: the machine is shared; a push normally arrives in milliseconds


@pytest.fixture(scope="module")
def catalog(
    broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ShopProcess, list[str]]]:
    """Two products with 5 units each."""
    config = fresh_config(broker)
    products = io.StringIO()
    pim_csv.fake_products(2, 31, products)
    ids = [row.split(",")[0] for row in products.getvalue().splitlines()[1:]]
    pim_csv.import_products(config, io.StringIO(products.getvalue()), progress=False)
    stock_csv.import_stock(
        config, io.StringIO(f"product_id,quantity\n{ids[0]},5\n{ids[1]},5\n"), progress=False
    )
    shop = ShopProcess(config, Path(tmp_path_factory.mktemp("shop")) / "shop.log").start()
    yield shop, ids
    shop.stop()


@pytest.fixture
def shop(catalog: tuple[ShopProcess, list[str]]) -> ShopProcess:
    return catalog[0]


@pytest.fixture
def ids(catalog: tuple[ShopProcess, list[str]]) -> list[str]:
    return catalog[1]


@pytest.fixture
def client(shop: ShopProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        assert client.get("/api/v1/cart").status_code == 200  # gets a cart cookie
        yield client


def ws_url(shop: ShopProcess, path: str = "/api/v1/cart/events") -> str:
    return shop.url.replace("http://", "ws://") + path


def open_stream(shop: ShopProcess, client: httpx.Client, **headers: str) -> ClientConnection:
    cookie = f"cart={client.cookies['cart']}"
    return connect(ws_url(shop), additional_headers={"cookie": cookie, **headers}, open_timeout=WAIT_S)


def refused(shop: ShopProcess, path: str = "/api/v1/cart/events", **headers: str) -> int:
    with pytest.raises(InvalidStatus) as refusal:
        connect(ws_url(shop, path), additional_headers=headers, open_timeout=WAIT_S).close()
    return refusal.value.response.status_code


def test_the_stream_sends_the_cart_then_every_change(
    shop: ShopProcess, client: httpx.Client, ids: list[str]
) -> None:
    with open_stream(shop, client) as stream:
        assert json.loads(stream.recv(WAIT_S)) == client.get("/api/v1/cart").json()
        changed = client.put(f"/api/v1/cart/items/{ids[0]}", json={"quantity": 2}).json()
        assert json.loads(stream.recv(WAIT_S)) == changed
        assert changed["items"][0]["quantity"] == 2
        removed = client.delete(f"/api/v1/cart/items/{ids[0]}").json()
        assert json.loads(stream.recv(WAIT_S)) == removed


def test_another_carts_change_is_not_sent(shop: ShopProcess, client: httpx.Client, ids: list[str]) -> None:
    with open_stream(shop, client) as stream, httpx.Client(base_url=shop.url, timeout=30) as other:
        stream.recv(WAIT_S)
        other.put(f"/api/v1/cart/items/{ids[1]}", json={"quantity": 1})  # another shopper's cart
        mine = client.put(f"/api/v1/cart/items/{ids[0]}", json={"quantity": 1}).json()
        assert json.loads(stream.recv(WAIT_S)) == mine  # the next message is this cart's own change


def test_ping_is_answered_and_anything_else_closes_with_1008(shop: ShopProcess, client: httpx.Client) -> None:
    with open_stream(shop, client) as stream:
        stream.recv(WAIT_S)
        stream.send("ping")
        assert stream.recv(WAIT_S) == "pong"
        stream.send("hello")
        with pytest.raises(ConnectionClosed):
            stream.recv(WAIT_S)
        assert stream.close_code == 1008


def test_an_ordered_cart_closes_its_stream_with_4001(
    shop: ShopProcess, client: httpx.Client, ids: list[str]
) -> None:
    cart = client.put(f"/api/v1/cart/items/{ids[1]}", json={"quantity": 1})
    with open_stream(shop, client) as stream:
        stream.recv(WAIT_S)
        order = client.post("/api/v1/cart/order", headers={"if-match": cart.headers["etag"]}, json=DETAILS)
        assert order.status_code == 201, order.text
        with pytest.raises(ConnectionClosed):
            stream.recv(WAIT_S)
        assert stream.close_code == 4001


def test_no_cookie_or_a_malformed_one_is_refused(shop: ShopProcess) -> None:
    assert refused(shop) == 403
    assert refused(shop, cookie="cart=not-a-cart-id") == 403


def test_a_foreign_origin_is_refused_and_the_shops_own_is_accepted(
    shop: ShopProcess, client: httpx.Client
) -> None:
    cookie = f"cart={client.cookies['cart']}"
    refusals = shop.metric("shop_cart_streams_refused_total", {"status": "403"}, default=0.0)
    assert refused(shop, cookie=cookie, origin="http://evil.example") == 403
    assert shop.metric("shop_cart_streams_refused_total", {"status": "403"}, default=0.0) == refusals + 1
    with open_stream(shop, client, origin=shop.url) as stream:
        assert json.loads(stream.recv(WAIT_S))["items"] == client.get("/api/v1/cart").json()["items"]
        assert shop.metric("shop_cart_streams", default=0.0) >= 1


def test_a_websocket_elsewhere_is_refused(shop: ShopProcess, client: httpx.Client) -> None:
    assert refused(shop, "/api/v1/cart/elsewhere", cookie=f"cart={client.cookies['cart']}") in (403, 404)


def test_shutdown_ends_open_streams(broker: Broker, tmp_path: Path) -> None:
    """The client learns at once that the stream ended, so it reconnects (with backoff). Granian ends
    connections before it tells the app of the shutdown, so the close is 1006, or 1001 when the app
    was in time."""
    shop = ShopProcess(fresh_config(broker), tmp_path / "shop.log").start()
    try:
        with httpx.Client(base_url=shop.url, timeout=30) as client:
            client.get("/api/v1/cart")
            with open_stream(shop, client) as stream:
                stream.recv(WAIT_S)
                shop.stop()
                with pytest.raises(ConnectionClosed):
                    stream.recv(WAIT_S)
                assert stream.close_code in (1001, 1006)
    finally:
        shop.stop()


def test_streams_take_at_most_half_the_servers_slots(broker: Broker, tmp_path: Path) -> None:
    config = dataclasses.replace(fresh_config(broker), http_backpressure=4)
    shop = ShopProcess(config, tmp_path / "shop.log").start()
    try:
        with httpx.Client(base_url=shop.url, timeout=30) as client:
            client.get("/api/v1/cart")
            with open_stream(shop, client) as first, open_stream(shop, client) as second:
                first.recv(WAIT_S)
                second.recv(WAIT_S)
                assert refused(shop, cookie=f"cart={client.cookies['cart']}") == 503
                assert client.get("/api/v1/cart").status_code == 200  # requests still find room
            # Closed streams free their slots (once the server saw the close: retry briefly until then).
            deadline = time.monotonic() + WAIT_S
            while True:
                try:
                    with open_stream(shop, client) as third:
                        assert json.loads(third.recv(WAIT_S))["version"] == 0
                    break
                except InvalidStatus:
                    assert time.monotonic() < deadline, "the closed streams never freed their slots"
                    time.sleep(0.1)
    finally:
        shop.stop()
