"""The shop as one process: every context with its projection, bridges and publishers."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from shop.config import Config
from shop.contexts import catalog, pim
from shop.kafka import admin
from shop.kafka.consumer import ProjectionLoop
from shop.kafka.producer import Producer
from shop.kafka.relay import Relay

log = logging.getLogger(__name__)

INTERNAL_TOPICS = (pim.INTERNAL, catalog.INTERNAL)
PUBLIC_TOPICS = (pim.PUBLIC,)


def all_topics() -> tuple[str, ...]:
    """Every topic the shop writes, with a dead-letter topic beside each one it reads."""
    read = INTERNAL_TOPICS + PUBLIC_TOPICS
    return read + tuple(f"{topic}_dead" for topic in read)


@dataclass
class Status:
    ok: bool
    checks: dict[str, bool | str] = field(default_factory=dict)


class Shop:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.producer = Producer(config)
        self.pim_publisher = pim.publisher(config, self.producer)
        self.catalog = catalog.CatalogContext(config, self.producer, self.pim_publisher.caught_up)
        self.started_at = time.monotonic()

    @property
    def projections(self) -> dict[str, ProjectionLoop]:
        return {"catalog": self.catalog.projection}

    @property
    def relays(self) -> dict[str, Relay]:
        return {"pim-publisher": self.pim_publisher, "catalog-bridge": self.catalog.bridge}

    def start(self) -> None:
        admin.ensure_topics(self.config, all_topics())
        self.pim_publisher.start()
        self.catalog.start()
        log.info("shop started: projections and relays running")

    def stop(self) -> None:
        for relay in self.relays.values():
            relay.stop()
        self.catalog.stop()
        remaining = self.producer.close()
        if remaining:
            log.error("%d writes were not acknowledged at shutdown", remaining)

    def readiness(self) -> Status:
        checks: dict[str, bool | str] = {"catalog": self.catalog.ready()}
        return Status(all(v is True for v in checks.values()), checks)

    def health(self) -> Status:
        checks: dict[str, bool | str] = {}
        for name, loop in self.projections.items():
            checks[name] = True if loop.alive else (loop.failure or "stopped")
        for name, relay in self.relays.items():
            checks[name] = True if relay.alive else (relay.failure or "stopped")
        return Status(all(v is True for v in checks.values()), checks)
