"""A slow, then broken network between the shop and its broker: a TCP proxy on loopback that the
broker advertises as its address, so every Kafka connection of the shop goes through it.

Latency: writes are slower and still succeed. Cut (open connections reset, new ones refused) and
blackhole (connections stay open, nothing moves): writes fail fast with 503 and Retry-After once
the breaker (or the broker watch) steps in, readiness fails, and once the network heals the shop
recovers by itself with every acknowledged write kept."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.host import free_port
from fixtures.kafka_broker import single_broker_behind
from fixtures.server import ShopProcess
from shop.config import Config
from tests.support.catalog import import_catalog
from tests.support.config import fresh_config
from tests.support.faults import (
    FAST_S,
    LATENCY_BOUND_S,
    Shopper,
    Write,
    assert_clear_failures,
    assert_nothing_acknowledged_lost,
    ready,
    start_shoppers,
    tight,
    wait_until_each,
)
from tests.support.polling import eventually
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.kafka, pytest.mark.faults, pytest.mark.timeout(300)]

LATENCY_S = 0.15  # added to every chunk, each way
# Readiness fails within the configured time plus a statistics interval and slack for a busy machine.
UNREADY_SLACK_S = 5.0


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[TcpProxy, Config]]:
    """A broker whose only advertised address is the proxy's; a tight configuration pointing there."""
    proxy_port = free_port()
    broker = single_broker_behind(tmp_path / "kafka", proxy_port)
    proxy = TcpProxy(proxy_port, broker.port).start()
    try:
        broker.start()
        yield proxy, dataclasses.replace(tight(fresh_config(broker)), kafka_bootstrap=proxy.address)
    finally:
        broker.stop()
        proxy.stop()


def test_latency_cuts_and_a_blackhole_fail_fast_and_heal_by_themselves(
    proxied: tuple[TcpProxy, Config], tmp_path: Path
) -> None:
    proxy, config = proxied
    shop = ShopProcess(config, tmp_path / "shop.log")
    shoppers: list[Shopper] = []
    try:
        products = import_catalog(config, 3, {0: 10})
        shop.start()
        shoppers = start_shoppers(shop, products, request_timeout=LATENCY_BOUND_S + 5)
        wait_until_each(shoppers, 3, timeout=60)

        slow_writes_succeed(proxy, shoppers)
        cut_fails_fast(proxy, shop, config, shoppers)
        heal_recovers(proxy, shop, shoppers)
        blackhole_fails_fast(proxy, shop, shoppers)
        heal_recovers(proxy, shop, shoppers)

        for shopper in shoppers:
            shopper.stop()
        assert_clear_failures(shoppers, LATENCY_BOUND_S)
        assert_nothing_acknowledged_lost(config, shop, shoppers, tmp_path / "fresh.log")
        assert shop.get("/healthz").status_code == 200, shop.get("/healthz").text
    finally:
        for shopper in shoppers:
            shopper.stop()
        shop.stop()


def slow_writes_succeed(proxy: TcpProxy, shoppers: list[Shopper]) -> None:
    """With latency on every chunk, writes take longer (produce, then the fetch that applies them)
    and still succeed: no write fails while it lasts."""
    failed_before = sum(len(s.failed()) for s in shoppers)
    since = len(_all_writes(shoppers))
    proxy.set_latency(LATENCY_S)
    wait_until_each(shoppers, 3, timeout=90)
    proxy.set_latency(0.0)
    slow = [w.seconds for w in _all_writes(shoppers)[since:] if w.acknowledged]
    assert sum(len(s.failed()) for s in shoppers) == failed_before
    assert statistics.median(slow) >= 2 * LATENCY_S, slow  # a produce round trip at least
    print(f"latency: {len(slow)} writes acknowledged, median {statistics.median(slow):.2f}s")


def cut_fails_fast(proxy: TcpProxy, shop: ShopProcess, config: Config, shoppers: list[Shopper]) -> None:
    """Every connection reset, every new one refused: once the shop sees no broker, writes are
    refused at once, and readiness fails after `broker_timeout`."""
    proxy.refuse()
    proxy.reset_connections()
    cut = time.monotonic()
    eventually(lambda: shop.get("/readyz").status_code == 503, config.broker_timeout + 30, "unready")
    unready_after = time.monotonic() - cut
    assert unready_after <= config.broker_timeout + UNREADY_SLACK_S, unready_after
    refused_from = time.monotonic() + 1.0  # the broker watch has certainly seen it by now
    eventually(lambda: _failed_since(shoppers, refused_from) >= 2 * len(shoppers), 30, "refusals")
    late = _writes_since(shoppers, refused_from)
    assert late and all(not w.acknowledged and w.seconds < FAST_S for w in late), late
    print(f"cut: unready after {unready_after:.1f}s, {len(late)} writes refused at once")


def blackhole_fails_fast(proxy: TcpProxy, shop: ShopProcess, shoppers: list[Shopper]) -> None:
    """Connections stay open and silent, so the client still counts the broker as up: writes wait
    out the produce timeout until enough failed in a row, then the open breaker refuses them at
    once (one probe per cooldown still waits), and readiness says the breaker is open."""
    proxy.blackhole()
    holed = time.monotonic()
    eventually(lambda: _breaker_open(shop), 60, "the breaker open", lambda: _state(shop, shoppers, holed))
    eventually(lambda: _fast_failures_since(shoppers, holed) >= len(shoppers), 30, "fast refusals")
    print(f"blackhole: breaker open after {time.monotonic() - holed:.1f}s")


def heal_recovers(proxy: TcpProxy, shop: ShopProcess, shoppers: list[Shopper]) -> None:
    proxy.heal()
    healed = time.monotonic()
    eventually(lambda: ready(shop), 90, "ready again by itself")
    print(f"healed: ready again after {time.monotonic() - healed:.1f}s")
    wait_until_each(shoppers, 3, timeout=60)


def _all_writes(shoppers: list[Shopper]) -> list[Write]:
    return sorted((w for s in shoppers for w in s.writes), key=lambda w: w.at)


def _writes_since(shoppers: list[Shopper], since: float) -> list[Write]:
    return [w for w in _all_writes(shoppers) if w.at >= since]


def _failed_since(shoppers: list[Shopper], since: float) -> int:
    return sum(1 for w in _writes_since(shoppers, since) if not w.acknowledged)


def _fast_failures_since(shoppers: list[Shopper], since: float) -> int:
    return sum(1 for w in _writes_since(shoppers, since) if not w.acknowledged and w.seconds < FAST_S)


def _state(shop: ShopProcess, shoppers: list[Shopper], since: float) -> str:
    """What a failed wait prints: readiness, the writes since `since`, and the shop's log."""
    try:
        readiness = shop.get("/readyz").text
    except httpx.HTTPError as error:  # a shop that no longer answers must not hide the timeout
        readiness = f"no answer: {error!r}"
    writes = _writes_since(shoppers, since)
    return f"/readyz: {readiness}\nwrites since: {writes[-20:]}\nshop log:\n{shop.log_tail()}"


def _breaker_open(shop: ShopProcess) -> bool:
    response = shop.get("/readyz")
    return response.status_code == 503 and str(response.json()["checks"].get("breaker")).startswith("open")
