"""Poison events: a message that a projection or relay cannot decode or apply is copied to
`<topic>_dead` with headers saying where it came from and why, counted, and skipped.

Each copy carries `shop-source-topic`, `shop-source-offset`, `shop-error` and `shop-consumer` (the
projection or relay that refused it). A consumer replaying its topic after a restart meets the same
poison again: it learns at start which offsets it already copied and does not copy them twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition

from shop import metrics
from shop.config import Config
from shop.kafka import admin
from shop.kafka.producer import Producer

log = logging.getLogger(__name__)

SOURCE_TOPIC = "shop-source-topic"
SOURCE_OFFSET = "shop-source-offset"
ERROR = "shop-error"
CONSUMER = "shop-consumer"
MAX_ERROR_BYTES = 1000
DEAD_SUFFIX = "_dead"
# Waits for a background write as long as it takes; None once its consumer is stopping.
Acknowledged = Callable[[Future[int]], int | None]


@dataclass
class DeadLetter:
    offset: int
    error: str


class DeadLetters:
    def __init__(self, config: Config, source: str, consumer: str, producer: Producer) -> None:
        """`source` is the full topic name; `consumer` names the projection or relay."""
        self.config = config
        self.source = source
        self.topic = dead_topic(source)
        self.consumer = consumer
        self.producer = producer
        self.count = 0  # source offsets this consumer copied, in this run and earlier ones
        self.last: DeadLetter | None = None
        self.copied_through = -1  # highest source offset already in the dead-letter topic

    def resume(self) -> None:
        """Reads what this consumer copied before, so that a replay copies nothing twice."""
        offsets = copied_offsets(self.config, self.topic, self.consumer)
        self.count = len(offsets)
        self.copied_through = max(offsets, default=-1)

    def copy(self, offset: int, value: bytes, error: str, acknowledged: Acknowledged) -> bool:
        """Copies the message at `offset`; True once Kafka acknowledged the copy (or it was there
        already), False if the consumer was stopped first (`acknowledged` answered None)."""
        metrics.DEAD_LETTERS.labels(self.source).inc()
        self.last = DeadLetter(offset, error)
        if offset <= self.copied_through:
            log.warning("%s offset %d cannot be applied (%s); copied before", self.source, offset, error)
            return True
        log.error(
            "%s offset %d cannot be applied by %s (%s): copied to %s",
            self.source,
            offset,
            self.consumer,
            error,
            self.topic,
        )
        headers: list[tuple[str, str | bytes | None]] = [
            (SOURCE_TOPIC, self.source),
            (SOURCE_OFFSET, str(offset)),
            (ERROR, error.encode()[:MAX_ERROR_BYTES]),
            (CONSUMER, self.consumer),
        ]
        if acknowledged(self.producer.produce(self.topic, value, headers)) is None:
            return False
        self.copied_through = offset
        self.count += 1
        return True

    def report(self) -> dict[str, object]:
        """For /readyz: how many, and the last one seen in this run."""
        report: dict[str, object] = {"topic": self.topic, "count": self.count}
        if self.last is not None:
            report.update({"last_offset": self.last.offset, "last_error": self.last.error})
        return report


def dead_topic(topic: str) -> str:
    """The dead-letter topic beside `topic`."""
    return topic + DEAD_SUFFIX


def copied_offsets(config: Config, dead_topic: str, consumer_name: str) -> set[int]:
    """Source offsets that `consumer_name` copied to `dead_topic` (read from their headers)."""
    consumer = admin.reader(config, "shop-dead-letters")
    try:
        low, high = admin.watermarks(consumer, dead_topic)
        offsets: set[int] = set()
        if high <= low:
            return offsets
        consumer.assign([TopicPartition(dead_topic, 0, low)])
        position = low
        while position < high:
            message = consumer.poll(admin.TIMEOUT_S)
            if message is None:
                raise TimeoutError(f"no answer reading {dead_topic}")
            if message.error():
                raise KafkaException(message.error())
            position = int(message.offset() or 0) + 1
            headers = dict(message.headers() or [])
            if headers.get(CONSUMER) == consumer_name.encode():
                offsets.add(int(headers.get(SOURCE_OFFSET) or b"-1"))
        return offsets
    finally:
        consumer.close()
