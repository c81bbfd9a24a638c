"""Readiness follows the broker: it fails while no broker has been reachable for longer than the
configured time, and the shop becomes ready again by itself once the broker is back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.conftest import fresh_config
from tests.kafka_broker import single_broker
from tests.server import ShopProcess
from tests.test_catalog_integration import eventually


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
