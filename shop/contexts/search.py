"""search: the full-text index of the enabled products. A bridge copies pim_pub into search_internal
(the catalog's translation: the same events); the Rust projection answers searches and suggestions
from it."""

from __future__ import annotations

from shop import _core
from shop._proto import search_pb2
from shop.config import Config
from shop.contexts import pim
from shop.kafka.producer import Producer
from shop.kafka.relay import Relay

INTERNAL = "search_internal"
EVENTS = {INTERNAL: search_pb2.InternalMessage}
TOPICS = tuple(EVENTS)


class SearchContext(pim.ProductsContext):
    model: _core.Search

    def __init__(self, config: Config, producer: Producer, pim_publisher: Relay) -> None:
        super().__init__(config, INTERNAL, _core.Search(), producer, pim_publisher)
