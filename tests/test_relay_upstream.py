"""A bridge runs beside the publisher that writes its source (a first start overlaps the two), and
is caught up only once that publisher is and the bridge relayed what the publisher had written by
then: readiness still means "everything pim had at start is applied"."""

from __future__ import annotations

import threading
import time

import pytest

from shop import _core
from shop._proto import pim_pb2
from shop.config import Config
from shop.contexts import catalog, pim
from shop.kafka import admin
from shop.kafka.dead_letters import dead_topic
from shop.kafka.producer import relay_producer
from shop.kafka.relay import bridge
from tests.support.polling import eventually

pytestmark = pytest.mark.kafka

PRODUCTS = 500


def pim_event(number: int) -> bytes:
    product = pim_pb2.Product(id=f"p{number:04d}", name=f"Product {number}", price=100 + number)
    return pim_pb2.InternalMessage(product=product).SerializeToString()


def test_a_bridge_is_caught_up_only_with_everything_its_publisher_relayed(config: Config) -> None:
    topics = (pim.INTERNAL, pim.PUBLIC, catalog.INTERNAL)
    admin.ensure_topics(config, (*topics, *map(dead_topic, topics)))
    producer = relay_producer(config)
    for number in range(PRODUCTS):
        producer.produce(config.topic(pim.INTERNAL), pim_event(number))
    assert producer.flush(30) == 0
    publisher = pim.pim_publisher(config, producer)
    loaded = threading.Event()
    loaded.set()
    relay = bridge(
        config,
        "catalog-bridge",
        pim.PUBLIC,
        catalog.INTERNAL,
        _core.catalog_bridge,
        lambda: -1,
        producer,
        loaded,
        upstream=(publisher,),
    )
    try:
        relay.start()
        eventually(lambda: relay.assigned, what="the bridge assigned pim_pub")
        time.sleep(0.5)  # several polls of an empty pim_pub
        assert not relay.caught_up.is_set()  # its publisher has not even started

        publisher.start()
        assert relay.caught_up.wait(30)
        assert publisher.caught_up.is_set()
        assert publisher.reached == PRODUCTS - 1  # pim_pub offsets 0..PRODUCTS-1
        assert relay.position == PRODUCTS - 1
    finally:
        relay.stop()
        publisher.stop()
        producer.close()
