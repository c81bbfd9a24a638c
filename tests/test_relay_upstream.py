"""A bridge runs beside the publisher that writes its source (a first start overlaps the two), and
is caught up only once that publisher is and the bridge relayed what the publisher had written by
then: readiness still means "everything pim had at start is applied". Its projection, loading a
first start, publishes what it applied only then."""

from __future__ import annotations

import time

import pytest

from shop import _core
from shop._proto import pim_pb2
from shop.config import Config
from shop.contexts import catalog, pim
from shop.kafka import admin
from shop.kafka.dead_letters import dead_topic
from shop.kafka.producer import Producer, relay_producer
from shop.kafka.projection import ProjectionLoop
from shop.kafka.relay import Relay, bridge
from tests.support.polling import eventually

pytestmark = pytest.mark.kafka

PRODUCTS = 500


def pim_event(number: int) -> bytes:
    product = pim_pb2.Product(id=f"p{number:04d}", name=f"Product {number}", price=100 + number)
    return pim_pb2.InternalMessage(product=product).SerializeToString()


def pim_producer(config: Config) -> Producer:
    """A relay producer, once pim's topics and the catalog's exist."""
    topics = (pim.INTERNAL, pim.PUBLIC, catalog.INTERNAL)
    admin.ensure_topics(config, (*topics, *map(dead_topic, topics)))
    return relay_producer(config)


def import_products(config: Config, producer: Producer, numbers: range) -> None:
    for number in numbers:
        producer.produce(config.topic(pim.INTERNAL), pim_event(number))
    assert producer.flush(30) == 0


def catalog_bridge(config: Config, producer: Producer, publisher: Relay) -> tuple[Relay, ProjectionLoop]:
    """The catalog's bridge from pim_pub beside `publisher`, and the catalog's projection, started."""
    model = _core.Catalog()
    projection = ProjectionLoop(config, catalog.INTERNAL, model, producer)
    relay = bridge(
        config,
        "catalog-bridge",
        pim.PUBLIC,
        catalog.INTERNAL,
        _core.catalog_bridge,
        lambda: model.pim_offset,
        producer,
        projection,
        upstream=(publisher,),
    )
    projection.start()
    assert projection.loaded.wait(30)  # its topic was empty
    relay.start()
    return relay, projection


def test_a_bridge_is_caught_up_only_with_everything_its_publisher_relayed(config: Config) -> None:
    producer = pim_producer(config)
    import_products(config, producer, range(PRODUCTS))
    publisher = pim.pim_publisher(config, producer)
    relay, projection = catalog_bridge(config, producer, publisher)
    try:
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
        projection.stop()
        producer.close()


def test_a_first_start_publishes_its_projection_once_its_bridges_caught_up(config: Config) -> None:
    """The catalog's topic is empty at start: what its bridge relays is applied to one copy and
    published only once the bridge caught up and all it relayed by then is applied."""
    producer = pim_producer(config)
    import_products(config, producer, range(PRODUCTS))  # pim_pub holds these: relayed earlier
    earlier = pim.pim_publisher(config, producer)
    earlier.start()
    assert earlier.caught_up.wait(30)
    earlier.stop()
    import_products(config, producer, range(PRODUCTS, 2 * PRODUCTS))  # these only pim_internal
    publisher = pim.pim_publisher(config, producer)
    relay, projection = catalog_bridge(config, producer, publisher)
    try:
        eventually(lambda: relay.position == PRODUCTS - 1, what="the bridge relayed pim_pub")
        eventually(lambda: projection.end_offset == PRODUCTS - 1, what="the projection fetched it")
        time.sleep(1.0)  # several polls: applied by now, and held
        assert (projection.projection.offset, projection.watch.applied) == (-1, -1)
        assert not projection.published.is_set() and not relay.caught_up.is_set()

        publisher.start()
        assert projection.published.wait(30)
        assert relay.caught_up.is_set() and relay.reached == 2 * PRODUCTS - 1
        assert projection.projection.offset == projection.watch.applied == relay.reached
        assert projection.projection.sizes()["products"] == 2 * PRODUCTS
    finally:
        relay.stop()
        publisher.stop()
        projection.stop()
        producer.close()
