"""pim: product master data. `shop import-products` appends to pim_internal; the publisher copies it
to pim_pub with the internal offset."""

from __future__ import annotations

from shop import _core
from shop.config import Config
from shop.kafka.producer import Producer
from shop.kafka.relay import Relay, publisher

INTERNAL = "pim_internal"
PUBLIC = "pim_pub"
TOPICS = (INTERNAL, PUBLIC)


def pim_publisher(config: Config, producer: Producer) -> Relay:
    return publisher(config, "pim", _core.pim_publish, producer)
