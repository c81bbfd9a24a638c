"""Timeouts, load shedding, the circuit breaker and graceful shutdown, on a real broker and a real
shop process. A request is held in flight by sending its head and not yet its body."""

from __future__ import annotations

import asyncio
import collections
import io
import os
import signal
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from fixtures.host import stat_fields
from fixtures.kafka_broker import Broker, single_broker
from fixtures.server import ShopProcess, process_group
from shop.api.cart import BEYOND_END_WAIT_S
from shop.config import Config
from shop.contexts import pim_csv, stock_csv
from shop.kafka.producer import ACK_MARGIN_S
from tests.support.config import fresh_config
from tests.support.polling import eventually
from tests.support.replay import checkout_state

# HTTP and scheduling on a shared machine, on top of a documented bound.
ANSWER_SLACK_S = 1.0

pytestmark = pytest.mark.timeout(240)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class HeldRequest:
    """An HTTP/1.1 request written by hand: the head goes at once, the body when the test says."""

    def __init__(self, port: int, method: str, path: str, body_length: int, cookie: str = "") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {body_length}\r\nConnection: close\r\n"
        )
        if cookie:
            head += f"Cookie: {cookie}\r\n"
        self.sock.sendall((head + "\r\n").encode())

    def send(self, body: bytes) -> None:
        self.sock.sendall(body)

    def response(self) -> Response:
        data = b""
        while chunk := self.sock.recv(65536):
            data += chunk
        self.sock.close()
        return parse_response(data)

    def close(self) -> None:
        self.sock.close()


def parse_response(data: bytes) -> Response:
    """An HTTP/1.1 answer read up to the closed connection."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(lines[0].split()[1]), headers, body)


def import_sample(config: Config, products: int) -> list[str]:
    csv_text = io.StringIO()
    pim_csv.fake_products(products, 5, csv_text)
    pim_csv.import_products(config, io.StringIO(csv_text.getvalue()), progress=False)
    ids = [line.split(",")[0] for line in csv_text.getvalue().splitlines()[1:]]
    stock = "product_id,quantity\n" + "".join(f"{i},50\n" for i in ids)
    stock_csv.import_stock(config, io.StringIO(stock), progress=False)
    return ids


@pytest.fixture(scope="module")
def strict(
    broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ShopProcess, list[str]]]:
    """A shop with tight limits: one write at a time, 1 s for the headers, 2 s for a body."""
    config = replace(fresh_config(broker), header_timeout=1, body_timeout=2, max_commands=1)
    ids = import_sample(config, 3)
    shop = ShopProcess(config, Path(tmp_path_factory.mktemp("shop")) / "shop.log").start()
    yield shop, ids
    shop.stop()


def put(shop: ShopProcess, client: httpx.Client, product_id: str, quantity: int) -> httpx.Response:
    """A shop that does not answer fails the test with its log and its threads' stacks."""
    try:
        return client.put(f"{shop.url}/api/v1/cart/items/{product_id}", json={"quantity": quantity})
    except httpx.TimeoutException:
        raise AssertionError(f"no answer in time\n{shop.stacks()}\nshop log:\n{shop.log_tail(40)}") from None


def assert_503(response: httpx.Response | Response, kind: str) -> None:
    assert response.status == 503 if isinstance(response, Response) else response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    body = response.body if isinstance(response, Response) else response.content
    assert f'"/problems/{kind}"' in body.decode()


def test_a_body_that_does_not_arrive_in_time_gets_408(strict: tuple[ShopProcess, list[str]]) -> None:
    shop, ids = strict
    request = HeldRequest(shop.config.http_port, "PUT", f"/api/v1/cart/items/{ids[0]}", 20)
    request.send(b'{"quan')
    started = time.monotonic()
    response = request.response()
    assert response.status == 408, response.body
    assert response.headers["content-type"] == "application/problem+json"
    assert 1.5 < time.monotonic() - started < 30


def test_headers_that_do_not_arrive_in_time_close_the_connection(
    strict: tuple[ShopProcess, list[str]],
) -> None:
    shop, _ids = strict
    with socket.create_connection(("127.0.0.1", shop.config.http_port), timeout=30) as sock:
        sock.sendall(b"GET /api/v1/products HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no end of headers
        started = time.monotonic()
        answer = sock.recv(65536)
        assert answer == b""  # Granian closes it
        assert 0.5 < time.monotonic() - started < 20


def test_writes_beyond_max_commands_are_shed_with_503(
    strict: tuple[ShopProcess, list[str]], broker: Broker
) -> None:
    """A write past its body that waits for Kafka (frozen here) holds the only write slot: the next
    write is shed. (One whose body has not arrived holds none: test_slow_bodies_take_no_write_slot.)
    The broker is frozen first: the held body must go within the strict shop's 2 s body timeout."""
    shop, ids = strict
    broker.signal(signal.SIGSTOP)
    try:
        held = HeldRequest(shop.config.http_port, "PUT", f"/api/v1/cart/items/{ids[0]}", 15)
        eventually(lambda: shop.metric("shop_commands_in_flight") == 1, timeout=10)
        held.send(b'{"quantity": 2}')
        eventually(lambda: shop.metric("shop_commands_writing") == 1, timeout=10)
        with httpx.Client(timeout=30) as client:
            shed = put(shop, client, ids[1], 1)
            assert_503(shed, "overloaded")
            assert client.get(shop.url + "/api/v1/products").status_code == 200  # reads are not shed
    finally:
        broker.signal(signal.SIGCONT)
    response = held.response()
    assert response.status == 200, response.body
    assert shop.metric("shop_commands_shed_total") >= 1


def test_the_breaker_opens_on_failed_writes_fails_fast_and_closes_on_recovery(tmp_path: Path) -> None:
    """A frozen broker (SIGSTOP: up, connected, answering nothing) makes writes time out; an
    unreachable one (SIGKILL) makes them fail fast at once. Both pass by themselves."""
    broker = single_broker(tmp_path / "kafka")
    broker.start()
    config = replace(fresh_config(broker), produce_timeout=1, breaker_failures=2, breaker_cooldown=2)
    ids = import_sample(config, 2)
    shop = ShopProcess(config, tmp_path / "shop.log")
    try:
        shop.start()
        with httpx.Client(timeout=30) as client:
            assert put(shop, client, ids[0], 1).status_code == 200
            broker.signal(signal.SIGSTOP)
            try:
                assert_breaker_opens(shop, client, ids[0])
            finally:
                broker.signal(signal.SIGCONT)
            eventually(lambda: put(shop, client, ids[0], 3).status_code == 200, timeout=60)
            assert shop.metric("shop_breaker_state", {"state": "closed"}) == 1
            assert client.get(shop.url + "/readyz").json()["checks"]["breaker"] is True

            broker.kill()
            eventually(lambda: shop.metric("shop_breaker_state", {"state": "open"}) == 1, timeout=30)
            started = time.monotonic()
            refused = put(shop, client, ids[0], 5)
            assert_503(refused, "breaker-open")
            assert "no Kafka broker is reachable" in refused.json()["detail"]
            assert time.monotonic() - started < 0.9
            broker.start()
            eventually(lambda: put(shop, client, ids[0], 6).status_code == 200, timeout=90)
            cart = client.get(shop.url + "/api/v1/cart").json()
            assert [item["quantity"] for item in cart["items"]] == [6]
    finally:
        shop.stop()
        broker.stop()


def assert_breaker_opens(shop: ShopProcess, client: httpx.Client, product_id: str) -> None:
    """The first write waits out the produce timeout (1 s) and fails (or its fate is unknown).
    The breaker then opens: after the second such failure, or as soon as librdkafka reconnects to
    the frozen broker and reports it not up, whichever comes first. Then writes are refused at once.
    A refused write is answered within the produce timeout and its margin (README: Timeouts)."""
    started = time.monotonic()
    assert_503(put(shop, client, product_id, 7), "write-failed")
    assert time.monotonic() - started < shop.config.produce_timeout + ACK_MARGIN_S + ANSWER_SLACK_S
    kinds = []
    for _ in range(3):
        started = time.monotonic()
        response = put(shop, client, product_id, 7)
        kinds.append(response.json()["type"])
        if kinds[-1] == "/problems/breaker-open":
            assert_503(response, "breaker-open")
            assert time.monotonic() - started < 0.9  # at once, not after the produce timeout
            assert int(response.headers["retry-after"]) <= 2
            break
        assert_503(response, "write-failed")
    assert kinds[-1] == "/problems/breaker-open", kinds
    assert shop.metric("shop_breaker_state", {"state": "open"}) == 1


@pytest.fixture
def shop(config: Config, tmp_path: Path) -> Iterator[ShopProcess]:
    import_sample(config, 2)
    shop = ShopProcess(replace(config, body_timeout=60), tmp_path / "shop.log")
    yield shop.start()
    shop.stop()


def test_sigterm_finishes_the_request_in_flight_and_flushes_the_producer(shop: ShopProcess) -> None:
    assert shop.process is not None
    product = shop.get("/api/v1/products").json()["items"][0]["id"]
    held = HeldRequest(shop.config.http_port, "PUT", f"/api/v1/cart/items/{product}", 15)
    eventually(lambda: shop.metric("shop_commands_in_flight") == 1, timeout=10)
    os.killpg(shop.process.pid, signal.SIGTERM)
    eventually(lambda: "Shutting down granian" in shop.log_tail(200), timeout=10)
    held.send(b'{"quantity": 4}')
    response = held.response()
    assert response.status == 200, response.body
    assert shop.process.wait(60) == 0
    assert "shutdown: producer flushed, every write acknowledged" in shop.log_tail(200)
    cart_id = response.headers["set-cookie"].split(";")[0].split("=")[1]
    cart = checkout_state(shop.config).cart(cart_id)
    assert b'"quantity":4' in cart  # acknowledged before the answer, so in Kafka after the stop


def test_a_worker_whose_server_process_is_killed_shuts_down_by_itself(shop: ShopProcess) -> None:
    """SIGKILL to `shop serve` alone, not its process group: its Granian worker, which holds the
    shop, is not left running as an orphan but shuts down as on SIGTERM, flushing its producer."""
    assert shop.process is not None
    group = shop.process.pid
    workers = [pid for pid in process_group(group) if pid != group]
    assert workers, "no worker process"
    try:
        os.kill(shop.process.pid, signal.SIGKILL)
        shop.process.wait(10)
        gone = lambda: not any(running(pid) for pid in workers)  # noqa: E731
        eventually(gone, shop.config.shutdown_timeout + 30, "the orphaned worker gone", shop.log_tail)
        assert "shutdown: producer flushed, every write acknowledged" in shop.log_tail(200)
    finally:
        if any(running(pid) for pid in workers):
            os.killpg(group, signal.SIGKILL)


def running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie waiting for its new parent to reap it."""
    return stat_fields(pid)[:1] not in ([], ["Z"])


# More requests for an offset no instance wrote than the server works on at once
# (SHOP_HTTP_BACKPRESSURE, 512 by default).
FLOOD = 600
FAR_FUTURE = 10**15
READS = 20
# A catalog read during the flood: a read alone takes milliseconds.
READ_BOUND_S = 1.0
# Far more than any flood answer may take: a missing answer fails the test, it does not hang it.
GIVE_UP_S = 10.0


Timed = tuple[Response | None, float]


async def exchange(
    port: int, request: bytes, give_up: float, sent: Callable[[], None] = lambda: None
) -> Timed:
    """Sends `request` on a new connection (then calls `sent`) and reads up to its close: the
    answer (None if none came within `give_up` seconds) and the seconds it took."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(give_up):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(request)
                await writer.drain()
                sent()
                data = await reader.read()
            finally:
                writer.close()
        return parse_response(data), time.monotonic() - started
    except TimeoutError:
        return None, time.monotonic() - started


async def flood_and_read(port: int) -> tuple[list[Timed], list[Timed]]:
    """FLOOD requests with a far-future Shop-Min-Offset at once; once all are sent, READS catalog
    reads one after the other. The answers of both."""
    far = (
        f"GET /api/v1/cart HTTP/1.1\r\nHost: x\r\nShop-Min-Offset: {FAR_FUTURE}\r\nConnection: close\r\n\r\n"
    )
    read = b"GET /api/v1/products?per_page=10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    all_sent = asyncio.Event()
    count = collections.Counter[str]()

    def sent() -> None:
        count["sent"] += 1
        if count["sent"] == FLOOD:
            all_sent.set()

    flood = [asyncio.create_task(exchange(port, far.encode(), GIVE_UP_S, sent)) for _ in range(FLOOD)]
    async with asyncio.timeout(GIVE_UP_S):
        await all_sent.wait()
    reads = [await exchange(port, read, GIVE_UP_S / 2) for _ in range(READS)]
    return await asyncio.gather(*flood), reads


def test_far_future_min_offsets_are_refused_quickly_and_leave_reads_alone(shop: ShopProcess) -> None:
    """Offsets past the end of the topic wait at most a moment (another instance may have just
    written them) before their 400, and requests waiting for an offset have a limit of their own:
    beyond it 503 at once. Catalog reads meanwhile are answered at once."""
    flood, reads = asyncio.run(flood_and_read(shop.config.http_port))
    read_ms = sorted(1000 * seconds for _answer, seconds in reads)
    flood_ms = sorted(1000 * seconds for _answer, seconds in flood)
    statuses = collections.Counter(answer.status if answer else None for answer, _seconds in flood)
    print(
        f"\nreads under the flood: median {statistics.median(read_ms):.1f} ms, max {read_ms[-1]:.1f} ms;"
        f" flood: median {statistics.median(flood_ms):.0f} ms, max {flood_ms[-1]:.0f} ms, {dict(statuses)}"
    )
    assert [answer.status if answer else None for answer, _seconds in reads] == [200] * READS
    assert read_ms[-1] < 1000 * READ_BOUND_S
    assert set(statuses) <= {400, 503} and statuses[400] >= 1, statuses
    for answer, _seconds in flood:
        assert answer is not None
        if answer.status == 400:
            assert b"Shop-Min-Offset" in answer.body
        else:
            assert_503(answer, "overloaded")
    assert flood_ms[-1] < 1000 * (BEYOND_END_WAIT_S + 2 * ANSWER_SLACK_S)


def test_an_offset_past_the_end_waits_briefly_for_a_write_then_is_refused(shop: ShopProcess) -> None:
    """An offset past the end of the topic waits a moment: another instance may have just written
    it (written here while the read waits), and then it is answered. Nobody writes it: a 400 after
    that moment, not after the ready timeout."""
    product = shop.get("/api/v1/products").json()["items"][0]["id"]
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        ahead = (
            int(client.put(f"/api/v1/cart/items/{product}", json={"quantity": 1}).headers["shop-offset"]) + 1
        )
        with ThreadPoolExecutor(1) as pool:
            read = pool.submit(httpx.get, shop.url + "/api/v1/cart", headers={"shop-min-offset": str(ahead)})
            eventually(lambda: shop.metric("shop_commands_waiting") == 1, timeout=5, what="the read waiting")
            written = client.put(f"/api/v1/cart/items/{product}", json={"quantity": 2})
            assert int(written.headers["shop-offset"]) >= ahead
            answer = read.result(timeout=30)
        assert answer.status_code == 200, answer.text
        assert int(answer.headers["shop-offset"]) >= ahead

        started = time.monotonic()
        refused = client.get("/api/v1/cart", headers={"shop-min-offset": str(FAR_FUTURE)})
        seconds = time.monotonic() - started
    assert refused.status_code == 400, refused.text
    assert 0.9 * BEYOND_END_WAIT_S <= seconds < BEYOND_END_WAIT_S + ANSWER_SLACK_S


SLOW_BODIES = 300  # more than SHOP_MAX_COMMANDS (256 by default)


def test_slow_bodies_take_no_write_slot(shop: ShopProcess) -> None:
    """Writes whose bodies trickle in are counted in flight, but a write slot is taken only once
    the body is in: a few hundred of them do not turn an honest write into a 503."""
    product = shop.get("/api/v1/products").json()["items"][0]["id"]
    path = f"/api/v1/cart/items/{product}"
    held = [HeldRequest(shop.config.http_port, "PUT", path, 15) for _ in range(SLOW_BODIES)]
    try:
        eventually(
            lambda: shop.metric("shop_commands_in_flight") >= shop.config.max_commands,
            timeout=20,
            what="slow bodies in flight",
        )
        with httpx.Client(timeout=30) as client:
            response = put(shop, client, product, 2)
        assert response.status_code == 200, response.text
        eventually(lambda: shop.metric("shop_commands_in_flight") == SLOW_BODIES, timeout=20)
        assert shop.metric("shop_commands_shed_total") == 0
    finally:
        for request in held:
            request.close()
    eventually(lambda: shop.metric("shop_commands_in_flight") == 0, timeout=20)
