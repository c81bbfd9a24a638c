"""Order placement is safe to retry, under faults, with two shop instances on the same topics.

A shopper whose order was accepted but who never got the answer retries with the same cookie on
the other instance: the retry leads to that order (409 with `order_id` and `Location`) and to the
next cart (`Set-Cookie`), and so does `GET /api/v1/cart` with the ordered cart's cookie, on either
instance. Whatever the fault, a fresh replay of checkout_internal shows exactly one accepted order
for the cart, its stock reserved once, and checkout_pub announces it once.

A: the answer is lost on the way back: a proxy resets the connection at the first byte of the 201.
B: the instance dies while it handles the order (SIGKILL of its process group): at once after the
   request is sent (as a rule before anything is written), once the order is on the topic but not
   yet answered (the instance runs in short slices, frozen in between, until the order shows on the
   topic), or after a short blind delay (either). The retry finds the order (409) or places it (201).
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer

from fixtures.host import free_port
from fixtures.server import ShopProcess
from fixtures.shopper import DETAILS, DETAILS_BODY
from shop import _core
from shop._proto import checkout_pb2
from shop.config import Config
from shop.contexts import checkout
from shop.kafka import admin
from shop.kafka.consumer import replay
from tests.support.catalog import import_catalog
from tests.support.polling import eventually
from tests.support.replay import checkout_state
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

STOCK = 20
ACCEPTED = frozenset({"accepted", "shipped", "backordered"})
# Where scenario B kills the instance handling the order, one round each (each round costs about
# 8 s; a second round of the same points was dropped to keep `make test` within its budget).
KILL_POINTS = ("at-once", "once-written", "after-3ms")
SLICE_S = 0.0005  # the frozen instance runs this long at a time (time.sleep makes it 1-2 ms)
SETTLE_S = 0.05  # once it is frozen again: what it sent has reached the broker's log
WAIT_WRITTEN_S = 60.0  # the most the order may take to reach the topic, slices included
START_S = 120.0  # a (re)start on a busy machine
PUBLISHED_S = 120.0  # a killed relay holder's session expires (librdkafka's default: 45 s) first


class AnswerCutter(TcpProxy):
    """Forwards the request to the shop; when the shop's answer starts to come back, resets both
    connections instead of passing on a byte: the shop answered, the client never hears of it."""

    def __init__(self, listen_port: int, target_port: int) -> None:
        super().__init__(listen_port, target_port)
        self.cut = 0  # answers that started and were cut

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._connections.update((client_writer, target_writer))
        forward = asyncio.create_task(self._pipe(client_reader, target_writer, client_writer))
        try:
            if await target_reader.read(1):
                self.cut += 1
        finally:
            for writer in (client_writer, target_writer):
                self._connections.discard(writer)
                reset(writer)
            forward.cancel()
            await asyncio.gather(forward, return_exceptions=True)


def reset(writer: asyncio.StreamWriter) -> None:
    """Closes with RST (SO_LINGER 0), as a dropped route would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class RawOrder:
    """POST /api/v1/cart/order on a socket of its own: sent at once; whatever answer came back is
    read after the fault."""

    def __init__(self, port: int, cart_id: str, etag: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(
            (
                "POST /api/v1/cart/order HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Cookie: cart={cart_id}\r\nIf-Match: {etag}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(DETAILS_BODY)}\r\nConnection: close\r\n\r\n"
            ).encode()
            + DETAILS_BODY
        )

    def answering(self) -> bool:
        """The first bytes of an answer have arrived (without reading them)."""
        readable, _, _ = select.select([self.sock], [], [], 0)  # (the socket's timeout ignores DONTWAIT)
        try:
            return bool(readable) and bool(self.sock.recv(1, socket.MSG_PEEK))
        except OSError:  # reset
            return False

    def status(self) -> int | None:
        """The status of the answer that arrived before the connection ended, if one did."""
        data = b""
        try:
            while chunk := self.sock.recv(65536):
                data += chunk
        except OSError:
            pass  # reset by the dying instance's kernel
        finally:
            self.sock.close()
        return int(data.split()[1]) if data.startswith(b"HTTP/1.1 ") else None


class OrderWatch:
    """Reads checkout_internal as it grows, for the OrderPlaced of one cart. The end is asked on a
    connection of its own: behind a fetch that waits for data it would wait as long."""

    def __init__(self, config: Config) -> None:
        self.topic = config.topic(checkout.INTERNAL)
        settings = {"bootstrap.servers": config.kafka_bootstrap, "enable.auto.commit": False}
        self.ends = Consumer({**settings, "group.id": "order-watch-ends"})
        self.reader = Consumer({**settings, "group.id": "order-watch", "fetch.wait.max.ms": 10})
        self.position = admin.watermarks(self.ends, self.topic)[1]

    def placed(self, cart_id: str) -> bool:
        """An OrderPlaced for `cart_id` was written since the last look (or the first)."""
        end = admin.watermarks(self.ends, self.topic)[1]
        if end == self.position:
            return False
        found = False
        for _offset, value in admin.read_range(self.reader, self.topic, self.position, end):
            message = checkout_pb2.InternalMessage.FromString(value)
            found |= message.WhichOneof("event") == "order_placed" and message.order_placed.cart_id == cart_id
        self.reader.unassign()
        self.position = end
        return found

    def close(self) -> None:
        self.ends.close()
        self.reader.close()


@pytest.fixture
def shops(config: Config, tmp_path: Path) -> Iterator[tuple[ShopProcess, ShopProcess]]:
    """Two instances on one configuration (each on its own HTTP port), started."""
    a = ShopProcess(config, tmp_path / "a.log")
    b = ShopProcess(config, tmp_path / "b.log")
    try:
        a.start(wait_ready=START_S)
        b.start(wait_ready=START_S)
        yield a, b
    finally:
        for shop in (a, b):
            thaw(shop)  # a SIGTERM to a frozen group would wait for the SIGKILL
            shop.stop()


def freeze(shop: ShopProcess) -> None:
    assert shop.process is not None
    os.killpg(shop.process.pid, signal.SIGSTOP)


def thaw(shop: ShopProcess) -> None:
    if shop.process is not None and shop.process.poll() is None:
        os.killpg(shop.process.pid, signal.SIGCONT)


def wait_stocked(config: Config, shops: tuple[ShopProcess, ShopProcess], products: list[str]) -> None:
    """Until checkout holds the imported products (for sale) and their stock, in Kafka and on both
    instances. Stock and products reach checkout_internal by two bridges, in either order."""

    def stocked() -> bool:
        state = checkout_state(config)
        return all(
            state.stock(p) == (STOCK, 0, STOCK) and state.product_state(p) == "enabled" for p in products
        )

    eventually(stocked, 60, "the catalog and stock imports bridged to checkout")
    last = str(admin.end_offset(config, config.topic(checkout.INTERNAL)) - 1)
    for shop in shops:
        applied = shop.get("/api/v1/cart", headers={"shop-min-offset": last})
        assert applied.status_code == 200, applied.text


def fill_cart(shop: ShopProcess, product_id: str, quantity: int) -> tuple[str, str]:
    """A new cart holding `quantity` of `product_id`: its id and its ETag."""
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        cart = client.put(f"/api/v1/cart/items/{product_id}", json={"quantity": quantity})
        assert cart.status_code == 200, cart.text
        return client.cookies["cart"], cart.headers["etag"]


def retry_order(shop: ShopProcess, cart_id: str, etag: str) -> httpx.Response:
    """The shopper's retry: the same cookie and If-Match, on `shop`."""
    with httpx.Client(base_url=shop.url, cookies={"cart": cart_id}, timeout=30) as client:
        return client.post("/api/v1/cart/order", headers={"if-match": etag}, json=DETAILS)


def cookie_set(response: httpx.Response) -> str:
    """The cart id of the answer's Set-Cookie."""
    return response.headers["set-cookie"].split(";")[0].removeprefix("cart=")


def order_commands(config: Config, cart_id: str) -> list[checkout_pb2.OrderPlaced]:
    """Every OrderPlaced written for `cart_id`, in the order of checkout_internal."""
    found: list[checkout_pb2.OrderPlaced] = []

    def collect(batch: list[tuple[int, bytes]]) -> None:
        for _offset, value in batch:
            message = checkout_pb2.InternalMessage.FromString(value)
            if message.WhichOneof("event") == "order_placed" and message.order_placed.cart_id == cart_id:
                found.append(message.order_placed)

    replay(config, checkout.INTERNAL, collect)
    return found


def the_accepted_order(state: _core.Checkout, commands: list[checkout_pb2.OrderPlaced]) -> int:
    """The index in `commands` of the one accepted order; every other one was refused as ordered."""
    outcomes = [state.outcome(command.order_id) for command in commands]
    accepted = [i for i, outcome in enumerate(outcomes) if outcome is not None and outcome[0] in ACCEPTED]
    assert len(accepted) == 1, outcomes
    assert all(o is not None and o[0] == "ordered" for i, o in enumerate(outcomes) if i != accepted[0]), (
        outcomes
    )
    return accepted[0]


def assert_leads_to_order(response: httpx.Response, order: checkout_pb2.OrderPlaced) -> None:
    """A 409 to a repeated order: the order and the next cart."""
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["order_id"] == order.order_id, response.text
    assert response.headers["location"] == f"/api/v1/orders/{order.order_id}"
    assert cookie_set(response) == order.next_cart_id


def assert_placed(
    response: httpx.Response, order: checkout_pb2.OrderPlaced, product_id: str, quantity: int
) -> None:
    """A 201: the order, where it is, and the next cart."""
    assert response.status_code == 201, response.text
    assert response.json()["id"] == order.order_id
    assert [(i["product_id"], i["quantity"]) for i in response.json()["items"]] == [(product_id, quantity)]
    assert response.headers["location"] == f"/api/v1/orders/{order.order_id}"
    assert cookie_set(response) == order.next_cart_id


def assert_ordered_cart_leads_to_order(
    shop: ShopProcess, cart_id: str, order: checkout_pb2.OrderPlaced, product_id: str, quantity: int
) -> None:
    """On `shop`, the ordered cart's GET leads to the order and the next cart; with the next cart's
    cookie, the shopper sees the order and its items at `Location`, and an empty cart."""
    seen = httpx.get(shop.url + "/api/v1/cart", cookies={"cart": cart_id}, timeout=30)
    assert seen.status_code == 200, seen.text
    assert seen.json()["order_id"] == order.order_id, seen.text
    assert seen.headers["location"] == f"/api/v1/orders/{order.order_id}"
    assert cookie_set(seen) == order.next_cart_id
    with httpx.Client(base_url=shop.url, cookies={"cart": order.next_cart_id}, timeout=30) as moved_on:
        found = moved_on.get(seen.headers["location"])
        assert found.status_code == 200, found.text
        assert found.json()["id"] == order.order_id
        assert found.json()["status"] in ACCEPTED
        assert [(i["product_id"], i["quantity"]) for i in found.json()["items"]] == [(product_id, quantity)]
        assert moved_on.get("/api/v1/cart").json() == {"version": 0, "items": [], "total_price": 0}


def assert_reserved_once(state: _core.Checkout, product_id: str, quantity: int) -> None:
    """The order's units left the available stock once (reserved, or shipped since)."""
    _on_hand, _reserved, available = state.stock(product_id)
    assert available == STOCK - quantity, (product_id, state.stock(product_id))


def published_orders(config: Config) -> list[str]:
    """The id of every OrderCreated in checkout_pub, duplicates included."""
    ids: list[str] = []

    def collect(batch: list[tuple[int, bytes]]) -> None:
        ids.extend(checkout_pb2.PublicMessage.FromString(value).order_created.order_id for _o, value in batch)

    replay(config, checkout.PUBLIC, collect)
    return ids


def assert_published_once(config: Config, order_ids: list[str]) -> None:
    """checkout_pub announces each accepted order once (fulfilment reserves and ships it once)."""

    def each_once() -> bool:
        published = published_orders(config)
        return all(published.count(order_id) == 1 for order_id in order_ids)

    eventually(each_once, PUBLISHED_S, "each accepted order in checkout_pub")
    published = published_orders(config)
    assert len(published) == len(set(published)), "an order was published twice"


@pytest.mark.timeout(180)
def test_an_order_whose_answer_was_lost_is_found_on_retry_on_the_other_instance(
    config: Config, shops: tuple[ShopProcess, ShopProcess]
) -> None:
    a, b = shops
    (product,) = import_catalog(config, 1, {0: STOCK})
    wait_stocked(config, shops, [product])
    cutter = AnswerCutter(free_port(), a.config.http_port)
    cutter.start()
    try:
        cart_id, etag = fill_cart(a, product, 2)
        with (
            httpx.Client(cookies={"cart": cart_id}, timeout=30) as client,
            pytest.raises(httpx.TransportError),
        ):
            client.post(
                f"http://{cutter.address}/api/v1/cart/order", headers={"if-match": etag}, json=DETAILS
            )
        assert cutter.cut == 1, "the shop never started to answer"
    finally:
        cutter.stop()
    (lost,) = order_commands(config, cart_id)  # the order whose answer was lost is written

    retried = retry_order(b, cart_id, etag)
    assert_leads_to_order(retried, lost)
    for shop in (a, b):
        assert_ordered_cart_leads_to_order(shop, cart_id, lost, product, 2)
    commands = order_commands(config, cart_id)
    state = checkout_state(config)
    assert commands[the_accepted_order(state, commands)] == lost
    assert len(commands) == 2  # the lost one and the retry, refused as ordered
    assert_reserved_once(state, product, 2)
    assert_published_once(config, [lost.order_id])


@dataclass
class Round:
    kill_point: str
    answered: int | None  # the status the killed instance got out before it died, if any
    written: bool  # the killed instance's OrderPlaced reached the topic (before or after the retry)
    retry_status: int

    @property
    def branch(self) -> str:
        return "found on retry (409)" if self.retry_status == 409 else "placed on retry (201)"


def kill_while_ordering(
    shop: ShopProcess, kill_point: str, order: RawOrder, watch: OrderWatch, cart_id: str
) -> None:
    """SIGKILLs `shop`'s process group at `kill_point` of handling `order`."""
    if kill_point == "at-once":
        shop.kill()
    elif kill_point.startswith("after-"):
        time.sleep(int(kill_point.removeprefix("after-").removesuffix("ms")) / 1000)
        shop.kill()
    else:  # once written: runs in slices until the order is on the topic, then dies frozen
        assert kill_point == "once-written"
        deadline = time.monotonic() + WAIT_WRITTEN_S
        freeze(shop)
        try:
            while True:
                time.sleep(SETTLE_S)
                if watch.placed(cart_id) or order.answering():
                    break
                assert time.monotonic() < deadline, "the order never reached the topic"
                thaw(shop)
                time.sleep(SLICE_S)
                freeze(shop)
        finally:
            shop.kill()  # SIGKILL ends a stopped process too


@pytest.mark.timeout(420)
def test_an_instance_killed_while_ordering_leaves_one_order_the_retry_finds_or_places(
    config: Config, shops: tuple[ShopProcess, ShopProcess]
) -> None:
    a, b = shops
    products = import_catalog(config, len(KILL_POINTS), dict.fromkeys(range(len(KILL_POINTS)), STOCK))
    wait_stocked(config, shops, products)
    rounds: list[Round] = []
    accepted: list[str] = []
    started = time.monotonic()
    for k, kill_point in enumerate(KILL_POINTS):
        product, quantity = products[k], 1 + k % 3
        cart_id, etag = fill_cart(a, product, quantity)
        watch = OrderWatch(config)
        try:
            order = RawOrder(a.config.http_port, cart_id, etag)
            kill_while_ordering(a, kill_point, order, watch, cart_id)
        finally:
            watch.close()
        answered = order.status()

        retried = retry_order(b, cart_id, etag)  # the shopper tries again, on the instance alive
        a.start(wait_ready=START_S)
        commands = order_commands(config, cart_id)
        state = checkout_state(config)
        order_placed = commands[the_accepted_order(state, commands)]
        if retried.status_code == 409:  # the killed instance wrote the order: the retry finds it
            assert_leads_to_order(retried, order_placed)
            assert commands[0] == order_placed and len(commands) == 2
        else:  # it did not, or too late: the retry places it, the late one is refused as ordered
            assert_placed(retried, order_placed, product, quantity)
            assert 1 <= len(commands) <= 2 and commands[0] == order_placed
        if answered is not None:  # it answered before it died: the order it reported is the one
            assert answered == 201 and retried.status_code == 409, (kill_point, answered, retried.text)
        for shop in (a, b):
            assert_ordered_cart_leads_to_order(shop, cart_id, order_placed, product, quantity)
        assert_reserved_once(state, product, quantity)
        written = len(commands) == 2
        rounds.append(Round(kill_point, answered, written, retried.status_code))
        accepted.append(order_placed.order_id)

    assert_published_once(config, accepted)
    for r in rounds:
        print(f"{r.kill_point}: {r.branch}; the killed one answered {r.answered}, wrote it {r.written}")
    branches = {branch: sum(r.branch == branch for r in rounds) for branch in {r.branch for r in rounds}}
    print(f"{len(rounds)} kills in {time.monotonic() - started:.0f}s: {branches}")
