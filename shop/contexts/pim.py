"""pim: product master data. `shop import-products` appends to pim_internal; the publisher copies it
to pim_pub with the internal offset."""

from __future__ import annotations

from typing import Protocol

from shop import _core
from shop._proto import pim_pb2
from shop.config import Config
from shop.kafka.producer import Producer
from shop.kafka.projection import Projection, ProjectionLoop
from shop.kafka.relay import Relay, bridge, publisher

INTERNAL = "pim_internal"
PUBLIC = "pim_pub"
# Each topic and the protobuf message its events are (collected in shop.service.EVENT_TYPES).
EVENTS = {INTERNAL: pim_pb2.InternalMessage, PUBLIC: pim_pb2.PublicMessage}
TOPICS = tuple(EVENTS)


def pim_publisher(config: Config, producer: Producer) -> Relay:
    return publisher(config, "pim", _core.pim_publish, producer)


class ProductsModel(Projection, Protocol):
    """A projection of pim's products: it knows the last pim_pub offset it applied."""

    @property
    def offset(self) -> int: ...
    @property
    def pim_offset(self) -> int: ...


class ProductsContext:
    """A context whose projection holds pim's products (catalog, search): its internal topic is fed
    by a bridge from pim_pub with the catalog's translation (each event carries its pim_pub offset,
    so one bridged twice changes nothing), which resumes after the model's last pim_pub offset and
    runs beside pim's `publisher`."""

    def __init__(
        self,
        config: Config,
        internal: str,
        model: ProductsModel,
        producer: Producer,
        publisher: Relay,
    ) -> None:
        self.model = model
        self.projection = ProjectionLoop(config, internal, model, producer)
        self.bridge = bridge(
            config,
            internal.removesuffix("_internal") + "-bridge",
            PUBLIC,
            internal,
            _core.catalog_bridge,
            lambda: self.model.pim_offset,
            producer,
            self.projection,
            upstream=(publisher,),
        )

    def start(self) -> None:
        self.projection.start()
        self.bridge.start()

    def stop(self) -> None:
        self.bridge.stop()
        self.projection.stop()

    def ready(self) -> bool:
        """Loaded, and everything pim had published at start is applied."""
        return self.projection.loaded.is_set() and self.bridge.settled(self.model.offset)
