"""Readiness follows the broker: it fails while no broker has been reachable for longer than the
configured time, and the shop becomes ready again by itself once the broker is back. Relaying, on
the other hand, does not make a ready shop unready."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fixtures.kafka_broker import single_broker
from fixtures.server import ShopProcess
from shop.config import Config
from shop.service import Shop
from tests.support.config import fresh_config
from tests.support.polling import eventually


def test_readiness_fails_while_the_broker_is_down_and_recovers(tmp_path: Path) -> None:
    broker = single_broker(tmp_path / "kafka")
    broker.start()
    config = dataclasses.replace(fresh_config(broker), broker_timeout=2)
    shop = ShopProcess(config, tmp_path / "shop.log")
    try:
        shop.start()
        assert shop.get("/readyz").json()["checks"]["kafka"] is True
        broker.kill()

        def unready() -> bool:
            response = shop.get("/readyz")
            return response.status_code == 503 and "no broker" in str(response.json()["checks"]["kafka"])

        eventually(unready, timeout=30)
        assert shop.get("/healthz").status_code == 200  # the shop itself is fine: no restart needed
        assert shop.get("/api/v1/products").status_code == 200  # reads go on from the model
        broker.start()
        eventually(lambda: shop.get("/readyz").status_code == 200, timeout=60)
    finally:
        shop.stop()
        broker.stop()


def test_a_ready_shop_stays_ready_while_its_bridges_relay(config: Config) -> None:
    """Between a batch a bridge relayed and its projection applying it there is a moment of lag.
    Under 2,000 product changes a second that moment failed 15 of 800 probes of /readyz, and a load
    balancer would take a healthy instance out. Ready stays ready: lag is for shop_lag_events and
    /healthz. (Here every bridge is made to look a batch ahead of its projection.)"""
    shop = Shop(config)
    shop.start()
    try:
        eventually(lambda: shop.readiness().ok, timeout=60)
        # Checkout's snapshot loads after the catalog's: its products are the catalog's then.
        assert shop.checkout.projection.restore_after == (shop.catalog.projection.restored,)
        for relay in shop.relays.values():
            relay.last_produced = 2**62  # relayed and acknowledged, not yet applied
        assert shop.readiness().ok, shop.readiness().checks
    finally:
        shop.stop()
