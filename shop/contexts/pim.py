"""pim: product master data. `shop import-products` appends to pim_internal; the publisher copies it
to pim_pub with the internal offset."""

from __future__ import annotations

from shop import _core
from shop.config import Config
from shop.kafka import admin
from shop.kafka.producer import Producer
from shop.kafka.relay import Relay

INTERNAL = "pim_internal"
PUBLIC = "pim_pub"
TOPICS = (INTERNAL, PUBLIC)


def publisher(config: Config, producer: Producer) -> Relay:
    def resume_from() -> int:
        last = admin.last_message(config, config.topic(PUBLIC))
        return 0 if last is None else _core.published_offset(last[1]) + 1

    return Relay(config, "pim-publisher", INTERNAL, PUBLIC, _core.pim_publish, resume_from, producer)
