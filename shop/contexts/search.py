"""search: the full-text index of the enabled products. A bridge copies pim_pub into
search_internal (the catalog's translation: the same events); the Rust projection answers searches
and suggestions from it."""

from __future__ import annotations

import threading

from shop import _core
from shop._proto import search_pb2
from shop.config import Config
from shop.contexts import pim
from shop.kafka.producer import Producer
from shop.kafka.projection import ProjectionLoop
from shop.kafka.relay import bridge

INTERNAL = "search_internal"
EVENTS = {INTERNAL: search_pb2.InternalMessage}
TOPICS = tuple(EVENTS)


class SearchContext:
    def __init__(self, config: Config, producer: Producer, pim_published: threading.Event) -> None:
        self.model = _core.Search()
        self.projection = ProjectionLoop(config, INTERNAL, self.model, producer)
        self.bridge = bridge(
            config,
            "search-bridge",
            pim.PUBLIC,
            INTERNAL,
            _core.catalog_bridge,
            lambda: self.model.pim_offset,
            producer,
            self.projection.loaded,
            upstream=(pim_published,),
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
