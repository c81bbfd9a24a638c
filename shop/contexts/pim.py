"""pim: product master data. `shop import-products` appends to pim_internal; the publisher copies it
to pim_pub with the internal offset."""

from __future__ import annotations

from shop import _core
from shop._proto import pim_pb2
from shop.config import Config
from shop.kafka.producer import Producer
from shop.kafka.relay import Relay, publisher

INTERNAL = "pim_internal"
PUBLIC = "pim_pub"
# Each topic and the protobuf message its events are (collected in shop.service.EVENT_TYPES).
EVENTS = {INTERNAL: pim_pb2.InternalMessage, PUBLIC: pim_pb2.PublicMessage}
TOPICS = tuple(EVENTS)


def pim_publisher(config: Config, producer: Producer) -> Relay:
    return publisher(config, "pim", _core.pim_publish, producer)
