"""catalog: the product listing. A bridge copies pim_pub into catalog_internal; the Rust projection serves
pages from it."""

from __future__ import annotations

from shop import _core
from shop._proto import catalog_pb2
from shop.config import Config
from shop.contexts import pim
from shop.kafka.producer import Producer
from shop.kafka.relay import Relay

INTERNAL = "catalog_internal"
EVENTS = {INTERNAL: catalog_pb2.InternalMessage}
TOPICS = tuple(EVENTS)


class CatalogContext(pim.ProductsContext):
    model: _core.Catalog

    def __init__(self, config: Config, producer: Producer, pim_publisher: Relay) -> None:
        super().__init__(config, INTERNAL, _core.Catalog(), producer, pim_publisher)
