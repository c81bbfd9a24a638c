"""What the fault tests share: shoppers that keep writing their carts and remember what the shop
acknowledged, and the checks that nothing acknowledged was lost."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fixtures.server import ShopProcess
from shop._proto import checkout_pb2
from shop.config import Config
from shop.contexts import checkout
from shop.kafka.consumer import replay
from tests.support.polling import eventually

SHOPPERS = 4
# Tight timeouts, so that a fault shows in seconds: Kafka has 2 s to acknowledge a write, three
# failed writes in a row open the breaker for 2 s, readiness fails 2 s after the last broker left.
PRODUCE_TIMEOUT_S = 2
# An acknowledged write waits this long at most to be applied here (then 503 not-applied).
READY_TIMEOUT_S = 3
# How long a write may take while Kafka is out of reach: the produce timeout, the wait to apply
# it, and slack for a busy machine; it must fail, not hang.
LATENCY_BOUND_S = PRODUCE_TIMEOUT_S + READY_TIMEOUT_S + 5.0
# An answer this quick did not wait for Kafka (the machine is busy: generous).
FAST_S = 1.0
# A pause between two writes of one shopper: the machine is shared, the point is overlap, not load.
WRITE_PAUSE_S = 0.02
# After a 503 a shopper waits a little (a polite client would wait Retry-After; this one wants to
# see several answers while a fault lasts).
RETRY_PAUSE_S = 0.2


@dataclass(frozen=True)
class Write:
    """One PUT of a cart quantity and what came back."""

    product_id: str
    quantity: int
    status: int  # 0: no HTTP answer at all (connection failed or timed out)
    seconds: float
    content_type: str = ""
    retry_after: str | None = None
    version: int | None = None  # the cart version of a 2xx answer (its ETag)
    problem: str = ""  # the problem type of an error answer
    at: float = 0.0  # time.monotonic() when it was sent

    @property
    def fast(self) -> bool:
        """Refused at once rather than after waiting for Kafka."""
        return self.seconds < FAST_S

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Shopper:
    """A client with its own cart that sets quantities over and over. Write k sets product
    k % len(products) to k // len(products) + 1: every product's quantity only grows, so the final
    quantity of a product is at least the last one acknowledged (a write that failed may still
    have been durable, and then it is a larger one)."""

    url: str
    products: list[str]
    request_timeout: float
    writes: list[Write] = field(default_factory=list)
    cart_id: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Shopper:
        self._thread = threading.Thread(target=self._run, name="shopper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.request_timeout + 10)
            assert not self._thread.is_alive(), "a shopper is stuck in a request"

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=self.request_timeout) as client:
            client.get("/api/v1/cart")  # the cart cookie, before anything can fail
            self.cart_id = client.cookies["cart"]
            for k in range(999 * len(self.products)):
                if self._stop.is_set():
                    return
                product = self.products[k % len(self.products)]
                write = _put(client, product, k // len(self.products) + 1)
                self.writes.append(write)
                time.sleep(WRITE_PAUSE_S if write.acknowledged else RETRY_PAUSE_S)

    def acknowledged(self) -> list[Write]:
        return [w for w in self.writes if w.acknowledged]

    def failed(self) -> list[Write]:
        return [w for w in self.writes if not w.acknowledged]

    def last_acknowledged(self) -> dict[str, int]:
        """Per product, the last quantity the shop acknowledged."""
        return {w.product_id: w.quantity for w in self.writes if w.acknowledged}

    def last_attempted(self) -> dict[str, int]:
        return {w.product_id: w.quantity for w in self.writes}


def _put(client: httpx.Client, product: str, quantity: int) -> Write:
    started = time.monotonic()
    try:
        response = client.put(f"/api/v1/cart/items/{product}", json={"quantity": quantity})
    except httpx.TransportError:
        return Write(product, quantity, 0, time.monotonic() - started, at=started)
    version = response.headers.get("etag", "").strip('"')
    problem = (
        response.json().get("type", "") if "problem+json" in response.headers.get("content-type", "") else ""
    )
    return Write(
        product,
        quantity,
        response.status_code,
        time.monotonic() - started,
        response.headers.get("content-type", ""),
        response.headers.get("retry-after"),
        int(version) if response.is_success and version.isdigit() else None,
        problem,
        started,
    )


def tight(config: Config) -> Config:
    """`config` with the short timeouts above: faults show, and heal, within seconds."""
    return dataclasses.replace(
        config,
        produce_timeout=PRODUCE_TIMEOUT_S,
        breaker_failures=3,
        breaker_cooldown=2,
        broker_timeout=2,
        ready_timeout=READY_TIMEOUT_S,
    )


def start_shoppers(shop: ShopProcess, products: list[str], request_timeout: float) -> list[Shopper]:
    return [Shopper(shop.url, products, request_timeout).start() for _ in range(SHOPPERS)]


def wait_until_each(shoppers: list[Shopper], more_acknowledged: int, timeout: float) -> None:
    """Until every shopper has `more_acknowledged` more acknowledged writes than now."""
    targets = [len(s.acknowledged()) + more_acknowledged for s in shoppers]
    eventually(
        lambda: all(len(s.acknowledged()) >= t for s, t in zip(shoppers, targets, strict=True)),
        timeout,
        f"{more_acknowledged} more acknowledged writes per shopper",
    )


def assert_nothing_acknowledged_lost(
    config: Config, shop: ShopProcess, shoppers: list[Shopper], log: Path
) -> None:
    """Through the shop that lived through the fault, through Kafka itself, and through a fresh
    instance that replays every topic from scratch: the same carts, with every acknowledged write."""
    assert_acknowledged_in_log(config, shoppers)
    offset = int(shop.get("/api/v1/cart").headers["shop-offset"])
    survivor = {s.cart_id: cart_quantities(shop.url, str(s.cart_id)) for s in shoppers}
    for shopper in shoppers:
        assert_acknowledged_in_cart(shopper, survivor[shopper.cart_id])
    fresh = ShopProcess(from_scratch(config), log).start(wait_ready=120)
    try:
        replayed = {s.cart_id: cart_quantities(fresh.url, str(s.cart_id), offset) for s in shoppers}
    finally:
        fresh.stop()
    assert replayed == survivor


def ready(shop: ShopProcess) -> bool:
    try:
        return shop.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def from_scratch(config: Config) -> Config:
    """The same shop without snapshots: a clean replay of every topic from its first offset."""
    return dataclasses.replace(config, snapshot_dir="")


# Why a write may fail while Kafka is unreachable (README, "Timeouts, the circuit breaker..."):
# not acknowledged in time, refused by the open breaker, or acknowledged but not applied in time.
KAFKA_PROBLEMS = frozenset({"/problems/write-failed", "/problems/breaker-open", "/problems/not-applied"})


def assert_clear_failures(shoppers: list[Shopper], latency_bound: float) -> None:
    """Every write that was not acknowledged got a 503 problem+json with Retry-After saying why,
    and no write took longer than `latency_bound` seconds."""
    for shopper in shoppers:
        for write in shopper.failed():
            assert write.status == 503, write
            assert write.problem in KAFKA_PROBLEMS, write
            assert write.retry_after is not None and write.retry_after.isdigit(), write
    slowest = max(w.seconds for s in shoppers for w in s.writes)
    assert slowest < latency_bound, f"a write took {slowest:.1f}s, more than {latency_bound}s"


def cart_quantities(url: str, cart_id: str, min_offset: int = -1) -> dict[str, int]:
    """The cart's quantities by product, and its version under the key "version"."""
    headers = {"shop-min-offset": str(min_offset)} if min_offset >= 0 else {}
    response = httpx.get(url + "/api/v1/cart", cookies={"cart": cart_id}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    cart = response.json()
    return {"version": cart["version"], **{item["product_id"]: item["quantity"] for item in cart["items"]}}


def assert_acknowledged_in_cart(shopper: Shopper, quantities: dict[str, int]) -> None:
    """The cart holds, per product, at least the last acknowledged quantity and at most the last
    attempted one (a write that failed may have been durable all the same); its version is at
    least that of every acknowledged answer."""
    versions = [w.version for w in shopper.acknowledged() if w.version is not None]
    assert versions and quantities["version"] >= max(versions), (quantities["version"], max(versions))
    attempted = shopper.last_attempted()
    for product, acknowledged in shopper.last_acknowledged().items():
        assert acknowledged <= quantities.get(product, 0) <= attempted[product], (
            product,
            acknowledged,
            quantities.get(product),
            attempted[product],
        )


def logged_cart_writes(config: Config) -> set[tuple[str, str, int]]:
    """(cart, product, quantity) of every CartItemSet in checkout_internal, read from Kafka."""
    found: set[tuple[str, str, int]] = set()

    def collect(batch: list[tuple[int, bytes]]) -> None:
        for _offset, value in batch:
            message = checkout_pb2.InternalMessage.FromString(value)
            if message.WhichOneof("event") == "cart_item_set":
                item = message.cart_item_set
                found.add((item.cart_id, item.product_id, item.quantity))

    replay(config, checkout.INTERNAL, collect)
    return found


def assert_acknowledged_in_log(config: Config, shoppers: list[Shopper]) -> None:
    """Every acknowledged write is an event in Kafka: what any replay starts from."""
    logged = logged_cart_writes(config)
    for shopper in shoppers:
        assert shopper.cart_id is not None
        for write in shopper.acknowledged():
            assert (shopper.cart_id, write.product_id, write.quantity) in logged, write
