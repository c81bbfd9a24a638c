"""cms: the content the storefront shows (pages, the home page's hero, teasers). `shop
import-content` and `shop content revert` append to cms_internal; the Rust projection renders each
entry once and serves it; the publisher copies cms_internal to cms_pub for other contexts."""

from __future__ import annotations

from shop import _core
from shop._proto import cms_pb2
from shop.config import Config
from shop.kafka.producer import Producer
from shop.kafka.projection import ProjectionLoop
from shop.kafka.relay import Relay, publisher

INTERNAL = "cms_internal"
PUBLIC = "cms_pub"
# Each topic and the protobuf message its events are (collected in shop.service.EVENT_TYPES).
EVENTS = {INTERNAL: cms_pb2.InternalMessage, PUBLIC: cms_pb2.PublicMessage}
TOPICS = tuple(EVENTS)


class ContentContext:
    def __init__(self, config: Config, producer: Producer) -> None:
        self.model = _core.Content()
        self.projection = ProjectionLoop(config, INTERNAL, self.model, producer)
        self.publisher = publisher(config, "cms", _core.cms_publish, producer)

    @property
    def relays(self) -> dict[str, Relay]:
        return {"cms-publisher": self.publisher}

    def start(self) -> None:
        self.projection.start()
        self.publisher.start()

    def stop(self) -> None:
        self.publisher.stop()
        self.projection.stop()

    def ready(self) -> bool:
        """Loaded: every entry written before the start is applied."""
        return self.projection.loaded.is_set()
