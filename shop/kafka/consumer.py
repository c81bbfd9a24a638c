"""Consuming with confluent_kafka from Python: the settings every consumer shares, and the reads of the
relays and of the tools that replay a topic once. Projections consume in Rust (see projection.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from shop.config import Config
from shop.kafka import client_settings
from shop.kafka.admin import watermarks

log = logging.getLogger(__name__)


def consumer_settings(config: Config, group: str) -> dict[str, object]:
    return {
        **client_settings(config.kafka_bootstrap),
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
        # A fetch that leaves more than `queued.min.messages` (100,000) in the local queue held the
        # next one back for a second (librdkafka's default): loading 2,000,000 small messages took
        # 12 s of mostly waiting. Only a load fills the queue so; an up-to-date consumer never does.
        "fetch.queue.backoff.ms": 10,
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
                for m in consume_available(consumer, config.consume_batch, 1.0)
                if m.error() is None
            ]
            if batch:
                apply(batch)
                offset = batch[-1][0]
        return int(high)
    finally:
        consumer.close()
