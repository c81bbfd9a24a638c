"""fulfilment: the warehouse. `shop import-stock` appends stock corrections; a bridge from
checkout_pub ships accepted orders; the publisher copies both to fulfilment_pub."""

from __future__ import annotations

from shop import _core
from shop._proto import fulfilment_pb2
from shop.config import Config
from shop.kafka.producer import Producer
from shop.kafka.projection import ProjectionLoop
from shop.kafka.relay import Relay, bridge, publisher

INTERNAL = "fulfilment_internal"
PUBLIC = "fulfilment_pub"
EVENTS = {INTERNAL: fulfilment_pb2.InternalMessage, PUBLIC: fulfilment_pb2.PublicMessage}
TOPICS = tuple(EVENTS)


class FulfilmentContext:
    def __init__(self, config: Config, producer: Producer, orders_topic: str) -> None:
        """`orders_topic` is checkout's public topic, where accepted orders are announced."""
        self.model = _core.Fulfilment()
        self.projection = ProjectionLoop(config, INTERNAL, self.model, producer)
        self.publisher = publisher(config, "fulfilment", _core.fulfilment_publish, producer)
        self.bridge = bridge(
            config,
            "fulfilment-bridge",
            orders_topic,
            INTERNAL,
            _core.fulfilment_checkout_bridge,
            lambda: self.model.checkout_offset,
            producer,
            self.projection,
        )

    @property
    def relays(self) -> dict[str, Relay]:
        return {"fulfilment-publisher": self.publisher, "fulfilment-bridge": self.bridge}

    def start(self) -> None:
        self.projection.start()
        self.publisher.start()
        self.bridge.start()

    def stop(self) -> None:
        for relay in self.relays.values():
            relay.stop()
        self.projection.stop()

    def ready(self) -> bool:
        """Loaded, and everything checkout had published at start is applied."""
        return self.projection.loaded.is_set() and self.bridge.settled(self.model.offset)
