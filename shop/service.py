"""The shop as one process: every context with its projection, bridges and publishers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from google.protobuf.message import Message

from shop import shoppers, tracing
from shop.config import Config
from shop.contexts import catalog, checkout, cms, fulfilment, notification, pim, search, web
from shop.heap import HeapTrimmer
from shop.kafka import admin
from shop.kafka.breaker import CircuitBreaker
from shop.kafka.dead_letters import DEAD_SUFFIX, DeadLetters, dead_topic
from shop.kafka.health import BrokerWatch
from shop.kafka.producer import CommandProducer, relay_producer
from shop.kafka.projection import ProjectionLoop
from shop.kafka.relay import Relay
from shop.retry import retry

log = logging.getLogger(__name__)

# How long a stopping projection may take to write its snapshot (a million products: seconds).
SNAPSHOT_TIMEOUT_S = 60.0
WEB_EVENTS_FLUSH_S = 1.0

# Every topic of the shop and the protobuf message its events are: the one registry the tools
# that read topics (`shop events`, `shop copy-events`) decode with.
EVENT_TYPES: dict[str, type[Message]] = {
    **web.EVENTS,
    **pim.EVENTS,
    **catalog.EVENTS,
    **checkout.EVENTS,
    **fulfilment.EVENTS,
    **cms.EVENTS,
    **shoppers.EVENTS,
    **notification.EVENTS,
    **search.EVENTS,
}
TOPICS = tuple(EVENT_TYPES)
# The string fields of events that hold personal data (full protobuf names, so per event type),
# replaced by `shop copy-events --scrub`. None: an order's shopper details travel sealed with the
# shopper's own key (shop/shoppers.py), which `shop forget` erases.
PERSONAL_FIELDS: frozenset[str] = frozenset()


def all_topics() -> tuple[str, ...]:
    """Every topic of the shop, with a dead-letter topic beside each."""
    return TOPICS + tuple(dead_topic(topic) for topic in TOPICS)


def event_type(topic: str) -> type[Message] | None:
    """The message `topic`'s events are; a dead-letter topic holds its source's (refused) events.
    None for a topic that is not the shop's."""
    return EVENT_TYPES.get(topic.removesuffix(DEAD_SUFFIX) if topic in all_topics() else topic)


@dataclass
class Status:
    ok: bool
    checks: dict[str, bool | str] = field(default_factory=dict)
    # Shown, not judged: what the shop wants an operator to see without failing the probe.
    reports: dict[str, object] = field(default_factory=dict)


class Shop:
    def __init__(self, config: Config) -> None:
        self.config = config
        tracing.configure(config)
        self.broker = BrokerWatch()
        self.producer = CommandProducer(config, on_stats=self.broker.on_stats)
        self.breaker = CircuitBreaker(
            config.breaker_failures, config.breaker_cooldown, broker_down=self.broker.unreachable
        )
        # Background writes wait out an outage; shoppers' writes must not (see relay_producer).
        self.relay_producer = relay_producer(config)
        self.pim_publisher = pim.pim_publisher(config, self.relay_producer)
        self.catalog = catalog.CatalogContext(config, self.relay_producer, self.pim_publisher)
        self.fulfilment = fulfilment.FulfilmentContext(config, self.relay_producer, checkout.PUBLIC)
        self.checkout = checkout.CheckoutContext(
            config,
            self.producer,
            self.relay_producer,
            self.pim_publisher,
            self.fulfilment.publisher,
            self.catalog.projection.restored,
        )
        self.notification = notification.NotificationContext(
            config,
            self.relay_producer,
            self.checkout.model,
            self.checkout.projection.watch,
            self.checkout.vault,
            (self.checkout.projection.loaded, self.checkout.vault.loaded),
        )
        self.web = web.WebEventsContext(config, self.relay_producer)
        self.content = cms.ContentContext(config, self.relay_producer)
        self.search = search.SearchContext(config, self.relay_producer, self.pim_publisher)
        # Catching up frees much at once (fetch buffers, relayed batches): given back once ready.
        self.heap_trimmer = HeapTrimmer(config.heap_trim_interval, lambda: self.readiness().ok)

    @property
    def projections(self) -> dict[str, ProjectionLoop]:
        return {
            "catalog": self.catalog.projection,
            "checkout": self.checkout.projection,
            "fulfilment": self.fulfilment.projection,
            "cms": self.content.projection,
            "search": self.search.projection,
        }

    @property
    def relays(self) -> dict[str, Relay]:
        return {
            "pim-publisher": self.pim_publisher,
            "catalog-bridge": self.catalog.bridge,
            "search-bridge": self.search.bridge,
            **self.checkout.relays,
            **self.fulfilment.relays,
            **self.content.relays,
            **self.notification.relays,
        }

    def start(self) -> None:
        # A broker that is still starting (or restarting) is waited for, not a reason to die.
        retry(
            lambda: admin.ensure_topics(self.config, all_topics()),
            "creating and checking topics",
            admin.transient,
            self.config.startup_timeout,
        )
        self.pim_publisher.start()
        self.catalog.start()
        self.fulfilment.start()
        self.checkout.start()
        self.web.start()
        self.content.start()
        for relay in self.notification.relays.values():
            relay.start()
        self.search.start()
        if self.config.heap_trim_interval > 0:
            self.heap_trimmer.start()
        log.info(
            "shop started: %d projections and %d relays running", len(self.projections), len(self.relays)
        )

    def stop(self) -> None:
        """The end of a graceful shutdown. The HTTP server stopped accepting and finished its
        in-flight requests before this runs (the ASGI lifespan's shutdown comes after them)."""
        self.heap_trimmer.stop_soon()
        for relay in self.relays.values():  # all at once: each finishes its batch, acknowledged
            relay.stop_soon()
        for relay in self.relays.values():
            relay.stop(self.config.shutdown_timeout)
        # Each projection writes its snapshot as it stops: all at once, each in its own thread.
        self.web.stop_soon()
        for projection in self.projections.values():
            projection.stop_soon()
        for projection in self.projections.values():
            projection.stop(timeout=SNAPSHOT_TIMEOUT_S)
        self.checkout.vault.stop()
        self.notification.stop()
        self.web.stop()
        remaining = sum(p.close(self.config.shutdown_timeout) for p in (self.producer, self.relay_producer))
        # Browser events get a second, not the shutdown's wait: what is not sent by then is dropped.
        dropped = self.web.close(WEB_EVENTS_FLUSH_S)
        if dropped:
            log.warning("shutdown: %d browser event batches dropped", dropped)
        if remaining:
            log.error("shutdown: %d writes were not acknowledged by Kafka", remaining)
        else:
            log.info("shutdown: producer flushed, every write acknowledged")
        tracing.shutdown()

    def readiness(self) -> Status:
        checks: dict[str, bool | str] = {
            "catalog": self.catalog.ready(),
            "checkout": self.checkout.ready(),
            "fulfilment": self.fulfilment.ready(),
            "web_events": self.web.loaded.is_set(),
            "cms": self.content.ready(),
            "search": self.search.ready(),
        }
        down = self.broker.unreachable_for()
        if down > self.config.broker_timeout:
            checks["kafka"] = f"no broker reachable for {down:.0f}s"
        else:
            checks["kafka"] = True
        checks["breaker"] = self.breaker.describe()
        # Dead letters are reported, not failed on: every replica meets the same poison, so
        # failing readiness would take them all out of service for one bad event they skipped.
        dead = {name: d.report() for name, d in self.dead_letters.items() if d.count or d.last}
        return Status(all(v is True for v in checks.values()), checks, {"dead_letters": dead})

    @property
    def dead_letters(self) -> dict[str, DeadLetters]:
        """Per projection and relay, the events it could not decode or apply."""
        workers: list[ProjectionLoop | Relay | web.WebEventsContext] = [
            *self.projections.values(),
            *self.relays.values(),
            self.web,
        ]
        return {worker.name: worker.dead_letters for worker in workers}

    def health(self) -> Status:
        checks: dict[str, bool | str] = {}
        for name, loop in self.projections.items():
            stalled = loop.stalled(self.config.stall_timeout)
            checks[name] = True if loop.alive and stalled is None else (loop.failure or stalled or "stopped")
        for name, worker in {**self.relays, "web-events": self.web}.items():
            checks[name] = True if worker.alive else (worker.failure or "stopped")
        return Status(all(v is True for v in checks.values()), checks)
