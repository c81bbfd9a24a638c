"""The projection loop: one thread per context, consuming its internal topic in batches into Rust."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from shop import _core, metrics
from shop.config import Config
from shop.kafka import admin
from shop.kafka.admin import watermarks
from shop.kafka.dead_letters import DeadLetters
from shop.kafka.offsets import OffsetWatch
from shop.kafka.producer import Producer, librdkafka_strings
from shop.kafka.snapshots import Snapshots, Snapshotting
from shop.kafka.worker import Worker

log = logging.getLogger(__name__)

# How long an idle loop waits for the next message before it looks at its stop flag again.
POLL_S = 0.1


class Projection(Snapshotting, Protocol):
    """What core_rs projections offer to the loop."""

    def apply(self, batch: list[tuple[int, bytes]]) -> list[tuple[int, str]]: ...


def consumer_settings(config: Config, group: str) -> dict[str, object]:
    return {
        "bootstrap.servers": config.kafka_bootstrap,
        "group.id": config.topic(group),
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "auto.offset.reset": "earliest",
        # How long the broker holds a fetch that finds nothing new. New data answers it at once,
        # so this costs no latency; a short wait only wakes every idle consumer many times a second.
        "fetch.wait.max.ms": 500,
        "queued.max.messages.kbytes": 262_144,
        "fetch.max.bytes": 104_857_600,
        "max.partition.fetch.bytes": 16_777_216,
    }


def consume_available(consumer: Consumer, most: int, wait: float) -> list[Message]:
    """Up to `most` messages that are already fetched, at once; when there are none, waits at most
    `wait` seconds for the next one alone. (`consume(most, timeout)` waits until `most` messages
    arrived or the timeout passed: with a trickle of writes that put the whole timeout into every
    read-your-writes answer.)"""
    messages: list[Message] = consumer.consume(most, timeout=0)
    if messages:
        return messages
    first = consumer.poll(wait)
    if first is None:
        return []
    return [first, *consumer.consume(most - 1, timeout=0)] if most > 1 else [first]


def readable(messages: list[Message], reader: str) -> list[tuple[int, bytes]]:
    """(offset, value) of each message that carries one; errors are logged (but for the end of a
    partition, which is no error) and skipped."""
    batch = []
    for message in messages:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("%s: %s", reader, error.str())
            continue
        batch.append((int(message.offset() or 0), message.value() or b""))
    return batch


class ProjectionLoop(Worker):
    """Applies `topic` to `projection` from its next offset on; `loaded` is set once the offset found
    at start is applied (at once for an empty topic). It starts from the projection's snapshot when
    there is a valid one, writes one when due once loaded (in the background where the projection
    can serialize into memory: see snapshots.py), and a last one when stopped, after waiting for
    any background write."""

    def __init__(
        self,
        config: Config,
        topic: str,
        projection: Projection,
        producer: Producer,
    ) -> None:
        super().__init__(f"projection-{topic}")
        self.config = config
        self.topic = config.topic(topic)
        self.projection = projection
        self.dead_letters = DeadLetters(config, self.topic, self.name, producer)
        self.watch = OffsetWatch()
        self.loaded = threading.Event()
        self.end_at_start = -1
        self.end_offset = -1  # last offset of the topic, as of the last fetch
        self.last_progress = time.monotonic()
        self.last_poll = time.monotonic()
        self.snapshots = Snapshots(config, self.topic, projection)
        # This topic's metrics, looked up once: not a labelled lookup per applied batch.
        self._apply_seconds = metrics.APPLY_SECONDS.labels(self.topic)
        self._applied_events = metrics.APPLIED_EVENTS.labels(self.topic)

    def work(self) -> None:
        settings = consumer_settings(self.config, f"shop-projection-{self.topic}")
        feed = _core.Feed(librdkafka_strings(settings), self.topic, self.watch.signal)
        _low, high = admin.retrying(
            lambda: feed.watermarks(admin.TIMEOUT_S), f"reading the end of {self.topic}"
        )
        self.dead_letters.resume()
        self.end_at_start = self.end_offset = high - 1
        self.snapshots.restore(self.end_at_start)
        start = self.projection.offset + 1
        self.watch.advance(self.projection.offset)
        self._check_loaded()
        feed.assign(start)
        log.info("loading %s from offset %d to %d", self.topic, start, self.end_at_start)
        started = time.monotonic()
        while not self._stopping.is_set():
            events, seconds, poison, errors = feed.pump(self.projection, self.config.consume_batch, POLL_S)
            self.last_poll = time.monotonic()
            for error in errors:
                log.warning("consuming %s: %s", self.topic, error)
            self.end_offset = max(self.end_offset, feed.cached_high() - 1)
            if events:
                self._applied(events, seconds, poison)
                if not self.loaded.is_set() and self._check_loaded():
                    log.info(
                        "loaded %s up to offset %d in %.2fs",
                        self.topic,
                        self.end_at_start,
                        time.monotonic() - started,
                    )
            if self.loaded.is_set() and self.snapshots.due():
                self.snapshots.write("due")
        self.snapshots.write("shutdown")

    def stalled(self, timeout: float) -> str | None:
        """Why the loop looks stuck, or None: it stopped polling, or it has lag and applies nothing."""
        now = time.monotonic()
        if now - self.last_poll > timeout:
            return f"no poll for {now - self.last_poll:.0f}s"
        lag = self.end_offset - self.watch.applied
        if lag > 0 and now - self.last_progress > timeout:
            return f"lag {lag} and no progress for {now - self.last_progress:.0f}s"
        return None

    def _applied(self, events: int, seconds: list[float], poison: list[tuple[int, bytes, str]]) -> None:
        """Accounts for what a pump applied; copies its poison to the dead letters."""
        for batch_seconds in seconds:
            self._apply_seconds.observe(batch_seconds)
        self._applied_events.inc(events)
        for offset, value, error in poison:
            self._dead_letter(offset, value, error)
        self.last_progress = time.monotonic()

    def _check_loaded(self) -> bool:
        if self.projection.offset >= self.end_at_start:
            self.loaded.set()
        return self.loaded.is_set()

    def _dead_letter(self, offset: int, value: bytes, error: str) -> None:
        """Undecodable events are kept, not dropped: copied to `<topic>_dead` for inspection. The
        model skipped it already (its offset advanced, nothing else changed)."""
        self.dead_letters.copy(offset, value, error, self.acknowledged)


def replay(config: Config, topic: str, apply: Callable[[list[tuple[int, bytes]]], object]) -> int:
    """Feeds partition 0 of `topic`, from the start to the end found now, to `apply` in batches;
    returns how many messages there were. For tools that need a context's current state once."""
    topic = config.topic(topic)
    consumer = Consumer(consumer_settings(config, "shop-replay"))
    try:
        _low, high = watermarks(consumer, topic)
        if high == 0:
            return 0
        consumer.assign([TopicPartition(topic, 0, 0)])
        offset = -1
        while offset < high - 1:
            batch = [
                (int(m.offset() or 0), m.value() or b"")
                for m in consumer.consume(config.consume_batch, timeout=1.0)
                if m.error() is None
            ]
            if batch:
                apply(batch)
                offset = batch[-1][0]
        return int(high)
    finally:
        consumer.close()
