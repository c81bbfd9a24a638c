"""Poison events: garbage written to every topic the shop consumes ends in that topic's dead-letter
topic (with its source offset and the error, per consumer), the shop keeps serving and stays
correct, and a restart that replays everything copies nothing twice."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from fixtures.server import ShopProcess
from fixtures.shopper import DETAILS
from shop._proto import checkout_pb2
from shop.config import Config
from shop.contexts import catalog, checkout, fulfilment, pim
from shop.kafka import admin
from shop.kafka.dead_letters import CONSUMER, ERROR, SOURCE_OFFSET, SOURCE_TOPIC
from shop.kafka.producer import Producer
from tests.support.catalog import import_catalog
from tests.support.polling import eventually
from tests.support.replay import checkout_state

pytestmark = pytest.mark.timeout(240)

GARBAGE = b"\xff\xfe\x00 not an event"
# Which consumers read each topic: every one of them refuses the garbage on its own.
CONSUMERS = {
    pim.INTERNAL: {"pim-publisher"},
    pim.PUBLIC: {"catalog-bridge", "checkout-pim-bridge", "search-bridge"},
    catalog.INTERNAL: {f"projection-{catalog.INTERNAL}"},
    checkout.INTERNAL: {f"projection-{checkout.INTERNAL}"},  # its publisher reads the model only
    checkout.PUBLIC: {"fulfilment-bridge", "notification-checkout"},
    fulfilment.INTERNAL: {f"projection-{fulfilment.INTERNAL}", "fulfilment-publisher"},
    fulfilment.PUBLIC: {"checkout-fulfilment-bridge", "notification-fulfilment"},
}


def text(header: str | bytes | None) -> str:
    """A header's value as the shop writes it: UTF-8 bytes."""
    assert isinstance(header, bytes), header
    return header.decode()


def dead_letters(config: Config, topic: str) -> list[dict[str, str | bytes]]:
    """The headers of every message in `<topic>_dead`, decoded, and its value (under "value")."""
    dead = config.topic(topic + "_dead")
    consumer = Consumer({"bootstrap.servers": config.kafka_bootstrap, "group.id": "test-dead"})
    try:
        _low, high = admin.watermarks(consumer, dead)
        consumer.assign([TopicPartition(dead, 0, 0)])
        found: list[dict[str, str | bytes]] = []
        while len(found) < high:
            message = consumer.poll(10)
            assert message is not None and message.error() is None
            headers = dict(message.headers() or {})  # a consumed message's: a list of (key, value)
            found.append({**{k: text(v) for k, v in headers.items()}, "value": message.value() or b""})
        return found
    finally:
        consumer.close()


def write_garbage(config: Config) -> dict[str, int]:
    """Garbage into every consumed topic, and into checkout_internal also a well-formed command
    that names no cart; returns the offset of the garbage per topic."""
    producer = Producer(config)
    offsets = {topic: producer.produce(config.topic(topic), GARBAGE).result(30) for topic in CONSUMERS}
    no_cart = checkout_pb2.CartItemSet(cart_id="", product_id="x", quantity=1)
    message = checkout_pb2.InternalMessage(cart_item_set=no_cart).SerializeToString()
    offsets["no-cart"] = producer.produce(config.topic(checkout.INTERNAL), message).result(30)
    producer.close()
    return offsets


def assert_each_consumer_copied_it_once(config: Config, offsets: dict[str, int]) -> None:
    for topic, consumers in CONSUMERS.items():
        letters = dead_letters(config, topic)
        garbage = [d for d in letters if d["value"] == GARBAGE]
        assert {d[CONSUMER] for d in garbage} == consumers, (topic, letters)
        assert len(garbage) == len(consumers), (topic, letters)  # once per consumer
        for letter in garbage:
            assert letter[SOURCE_TOPIC] == config.topic(topic)
            assert int(letter[SOURCE_OFFSET]) == offsets[topic]
            assert letter[ERROR]
    no_cart = [d for d in dead_letters(config, checkout.INTERNAL) if d["value"] != GARBAGE]
    assert [(int(d[SOURCE_OFFSET]), d[ERROR]) for d in no_cart] == [(offsets["no-cart"], "cart_id is empty")]


def order_one(shop: ShopProcess, product: str) -> str:
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        cart = client.put(f"/api/v1/cart/items/{product}", json={"quantity": 2})
        assert cart.status_code == 200, cart.text
        order = client.post("/api/v1/cart/order", headers={"if-match": cart.headers["etag"]}, json=DETAILS)
        assert order.status_code == 201, order.text
        return str(order.json()["id"])


def test_garbage_in_every_topic_is_dead_lettered_and_the_shop_stays_correct(
    config: Config, tmp_path: Path
) -> None:
    config = dataclasses.replace(config, snapshot_dir="")  # a restart replays every topic
    ids = import_catalog(config, 3, {0: 10, 1: 10, 2: 10})
    shop = ShopProcess(config, tmp_path / "shop.log")
    try:
        shop.start()
        offsets = write_garbage(config)
        first = order_one(shop, ids[0])  # through every relay, after the garbage

        eventually(lambda: checkout_state(config).stock(ids[0]) == (8, 0, 8), timeout=60)
        eventually(lambda: len(dead_letters(config, fulfilment.INTERNAL)) == 2, timeout=60)
        assert_each_consumer_copied_it_once(config, offsets)
        ready = shop.get("/readyz")
        assert ready.status_code == 200, ready.text  # reported, not failed on
        reported = ready.json()["dead_letters"]
        assert reported[f"projection-{checkout.INTERNAL}"]["count"] == 2
        assert reported["pim-publisher"]["last_offset"] == offsets[pim.INTERNAL]
        assert shop.get("/healthz").status_code == 200
        assert 'shop_dead_letter_events{consumer="catalog-bridge"' in shop.get("/metrics").text
        assert shop.get("/api/v1/products").json()["total"] == 3

        shop.stop()
        shop.start()  # replays every topic from the start: the garbage again, copied no more
        second = order_one(shop, ids[1])
        eventually(lambda: checkout_state(config).stock(ids[1]) == (8, 0, 8), timeout=60)
        assert_each_consumer_copied_it_once(config, offsets)
        assert shop.get("/readyz").json()["dead_letters"]["pim-publisher"]["count"] == 1
        with httpx.Client(base_url=shop.url, timeout=30) as client:
            assert client.get("/api/v1/products").json()["total"] == 3
        state = checkout_state(config)
        assert state.stock(ids[0]) == (8, 0, 8) and state.stock(ids[2]) == (10, 0, 10)
        assert state.outcome(first) == ("shipped", []) and state.outcome(second) == ("shipped", [])
    finally:
        shop.stop()
