"""Broker faults: the only broker crashes and comes back; one node of a three-node cluster dies.
Shoppers write all along; nothing the shop acknowledged may be lost."""

from __future__ import annotations

import dataclasses
import io
import time
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from fixtures.kafka_broker import cluster, single_broker
from fixtures.server import ShopProcess
from shop import _core
from shop.config import Config
from shop.contexts import catalog, checkout, pim_csv
from shop.kafka import admin
from shop.kafka.consumer import replay
from tests.support.catalog import import_catalog
from tests.support.config import fresh_config
from tests.support.faults import (
    LATENCY_BOUND_S,
    PRODUCE_TIMEOUT_S,
    Shopper,
    assert_clear_failures,
    assert_nothing_acknowledged_lost,
    ready,
    start_shoppers,
    tight,
    wait_until_each,
)
from tests.support.polling import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.faults, pytest.mark.timeout(240)]

RELAYED_PRODUCTS = 5_000
# Longer than librdkafka keeps trying a message (the produce timeout): whatever was in flight expires.
OUTAGE_S = 3 * PRODUCE_TIMEOUT_S
# How long a write may wait while a cluster replaces a dead partition leader.
FAILOVER_BOUND_S = 15.0


def test_broker_crash_loses_no_acknowledged_write_and_the_shop_recovers_by_itself(tmp_path: Path) -> None:
    broker = single_broker(tmp_path / "kafka")
    broker.start()
    config = tight(fresh_config(broker))
    shop = ShopProcess(config, tmp_path / "shop.log")
    shoppers: list[Shopper] = []
    try:
        products = import_catalog(config, 3, {0: 10})
        shop.start()
        shoppers = start_shoppers(shop, products, request_timeout=LATENCY_BOUND_S + 5)
        wait_until_each(shoppers, 5, timeout=60)

        broker.kill()
        killed = time.monotonic()
        # Refused at once: the breaker (or the broker watch) stops writes from piling up.
        eventually(lambda: all(any(w.fast for w in s.failed()) for s in shoppers), 60, "fast 503s")
        eventually(lambda: shop.get("/readyz").status_code == 503, 30, "readiness fails")
        assert shop.get("/api/v1/products").status_code == 200  # reads go on from the model

        broker.start()
        eventually(lambda: ready(shop), 90, "the shop ready again by itself")
        recovered = time.monotonic() - killed
        wait_until_each(shoppers, 5, timeout=60)
        for shopper in shoppers:
            shopper.stop()
        assert_clear_failures(shoppers, LATENCY_BOUND_S)
        assert_nothing_acknowledged_lost(config, shop, shoppers, tmp_path / "fresh.log")
        assert shop.get("/healthz").status_code == 200, shop.get("/healthz").text
        print(f"recovered {recovered:.1f}s after the kill; writes: {_summary(shoppers)}")
    finally:
        for shopper in shoppers:
            shopper.stop()
        shop.stop()
        broker.stop()


def test_relays_busy_when_the_broker_crashes_finish_by_themselves(tmp_path: Path) -> None:
    """The broker dies while the publisher and bridges relay a large import, and stays away longer
    than a write may take: once it is back, every relay goes on from where it was, by itself."""
    broker = single_broker(tmp_path / "kafka")
    broker.start()
    # Small batches: the bridges need many round trips to the broker, so the crash finds them busy.
    config = dataclasses.replace(tight(fresh_config(broker)), consume_batch=100)
    shop = ShopProcess(config, tmp_path / "shop.log")
    try:
        text = io.StringIO()
        pim_csv.fake_products(RELAYED_PRODUCTS, 5, text)
        text.seek(0)
        pim_csv.import_products(config, text, progress=False)
        shop.start(wait_ready=0)
        # Watched in Kafka: the catalog's routes answer only once its bridge has caught up.
        bridged = config.topic(catalog.INTERNAL)
        eventually(lambda: admin.end_offset(config, bridged) > 0, 60, "the catalog bridge at work")
        broker.kill()
        assert catalog_total(shop) == -1, "the bridges finished before the crash"
        time.sleep(OUTAGE_S)
        broker.start()
        eventually(lambda: catalog_total(shop) == RELAYED_PRODUCTS, 120, "the whole import in the catalog")
        eventually(lambda: ready(shop), 60, "the shop ready again")
        assert shop.get("/healthz").status_code == 200, shop.get("/healthz").text
        model = _core.Checkout()
        replay(config, checkout.INTERNAL, model.apply)
        ids = [line.split(",")[0] for line in text.getvalue().splitlines()[1:]]
        assert all(model.product_state(product_id) == "enabled" for product_id in ids)
    finally:
        shop.stop()
        broker.stop()


def catalog_total(shop: ShopProcess) -> int:
    try:
        response = shop.get("/api/v1/products?per_page=1")
    except httpx.TransportError:
        return -1
    return int(response.json()["total"]) if response.status_code == 200 else -1


def test_a_dead_node_of_a_three_node_cluster_loses_no_acknowledged_write(tmp_path: Path) -> None:
    nodes = cluster(tmp_path / "kafka", size=3, min_isr=2)
    nodes.start()
    config = Config(
        kafka_bootstrap=nodes.bootstrap,
        topic_prefix="cluster-",
        replication_factor=3,
        min_insync_replicas=2,
        sample_rows=0,
        snapshot_dir=str(tmp_path / "snapshots"),
    )
    shop = ShopProcess(config, tmp_path / "shop.log")
    shoppers: list[Shopper] = []
    try:
        products = import_catalog(config, 3, {0: 10})
        shop.start(wait_ready=120)
        shoppers = start_shoppers(shop, products, request_timeout=LATENCY_BOUND_S + 5)
        wait_until_each(shoppers, 5, timeout=60)

        # The worst node to lose: the leader of the topic every cart write goes to.
        leader = partition_leader(nodes.bootstrap, config.topic(checkout.INTERNAL))
        nodes.node(leader).kill()
        wait_until_each(shoppers, 20, timeout=90)
        for shopper in shoppers:
            shopper.stop()
        assert partition_leader(nodes.bootstrap, config.topic(checkout.INTERNAL)) != leader
        # Writes wait out the failover (the dead node's session timeout, then an election).
        assert_clear_failures(shoppers, FAILOVER_BOUND_S)
        assert_nothing_acknowledged_lost(config, shop, shoppers, tmp_path / "fresh.log")
        print(f"node {leader} killed; writes: {_summary(shoppers)}")
    finally:
        for shopper in shoppers:
            shopper.stop()
        shop.stop()
        nodes.stop()


def partition_leader(bootstrap: str, topic: str) -> int:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=30)
    return int(metadata.topics[topic].partitions[0].leader)


def _summary(shoppers: list[Shopper]) -> str:
    ok = sum(len(s.acknowledged()) for s in shoppers)
    failed = sum(len(s.failed()) for s in shoppers)
    slowest = max(w.seconds for s in shoppers for w in s.writes)
    return f"{ok} acknowledged, {failed} failed, slowest {slowest:.1f}s"
