"""web: what shoppers do in the storefront. POST /api/v1/events hands each accepted batch to
`WebEventsContext.offer`, which never waits: the batch goes into the producer's bounded queue or,
when Kafka is slow and the queue is full, is dropped and counted. A projection replays web_events
and counts views and add-to-carts per product (the popularity of GET /api/v1/products/{id})."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from google.protobuf.message import DecodeError

from shop import metrics
from shop._proto import web_pb2
from shop.config import Config
from shop.kafka import POLL_S, admin
from shop.kafka.consumer import consume_available, consumer_settings, readable
from shop.kafka.dead_letters import DeadLetters
from shop.kafka.producer import Producer
from shop.kafka.relay import MAX_RESTART_DELAY_S, RESTARTABLE
from shop.kafka.worker import Worker
from shop.retry import backoff

log = logging.getLogger(__name__)

TOPIC = "web_events"
EVENTS = {TOPIC: web_pb2.InternalMessage}
TOPICS = tuple(EVENTS)
KINDS = ("page_view", "search", "add_to_cart", "order")
# Batches waiting for Kafka at most; beyond that a batch is dropped, not queued (the shop never
# waits on browser events, and never holds them without bound).
QUEUE_BATCHES = 1000
# A batch Kafka has not acknowledged by then is dropped (counted) too.
DELIVERY_TIMEOUT_MS = 5000


class WebEventsContext(Worker):
    def __init__(self, config: Config, dead_letter_producer: Producer) -> None:
        super().__init__(f"projection-{TOPIC}")
        self.config = config
        self.topic = config.topic(TOPIC)
        self.producer = Producer(
            config,
            extra={
                "queue.buffering.max.messages": QUEUE_BATCHES,
                "message.timeout.ms": DELIVERY_TIMEOUT_MS,
                "linger.ms": 50,
            },
        )
        self.dead_letters = DeadLetters(config, self.topic, self.name, dead_letter_producer)
        # product id → [views, add-to-carts]; replaced by the projection's thread only.
        self.counts: dict[str, list[int]] = {}
        self.offset = -1
        self.loaded = threading.Event()

    def offer(self, batch: web_pb2.Batch) -> bool:
        """Hands `batch` to Kafka without waiting; False (and counted) when it was dropped."""
        message = web_pb2.InternalMessage(batch=batch).SerializeToString()
        if self.producer.offer(self.topic, message, self._delivered):
            return True
        metrics.WEB_EVENT_BATCHES.labels("dropped").inc()
        return False

    @staticmethod
    def _delivered(err: KafkaError | None, message: Any) -> None:
        metrics.WEB_EVENT_BATCHES.labels("dropped" if err is not None else "written").inc()

    def popularity(self, product_id: str) -> tuple[int, int]:
        views, adds = self.counts.get(product_id, (0, 0))
        return views, adds

    def most_viewed(self, most: int) -> list[tuple[str, tuple[int, int]]]:
        top = heapq.nlargest(most, list(self.counts.items()), key=lambda item: item[1][0])
        return [(product, (views, adds)) for product, (views, adds) in top]

    def totals(self) -> tuple[int, int]:
        counts = list(self.counts.values())
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    def close(self, timeout: float) -> int:
        return self.producer.close(timeout)

    def work(self) -> None:
        """Counts on from the last offset counted, after any failure a relay recovers from too
        (a broker away or moving leaders)."""
        delays = backoff(cap=MAX_RESTART_DELAY_S)
        while not self._stopping.is_set():
            try:
                self._count()
            except RESTARTABLE as exc:
                delay = next(delays)
                log.warning("%s failed (%s): restarting in %.1fs", self.name, exc, delay)
                self._stopping.wait(delay)

    def _count(self) -> None:
        self.dead_letters.resume()
        consumer = Consumer(consumer_settings(self.config, f"shop-{TOPIC}"))
        try:
            _low, high = admin.watermarks(consumer, self.topic)
            consumer.assign([TopicPartition(self.topic, 0, self.offset + 1)])
            while not self._stopping.is_set():
                if self.offset >= high - 1:
                    self.loaded.set()  # everything there was at start is counted
                batch = readable(consume_available(consumer, self.config.consume_batch, POLL_S), self.name)
                for offset, value in batch:
                    self._apply(offset, value)
        finally:
            consumer.close()

    def _apply(self, offset: int, value: bytes) -> None:
        message = web_pb2.InternalMessage()
        try:
            message.ParseFromString(value)
            if message.WhichOneof("event") is None:
                raise ValueError("a web_events message without event")
        except (DecodeError, ValueError) as exc:
            self.dead_letters.copy(offset, value, str(exc), self.acknowledged)
            self.offset = offset
            return
        for event in message.batch.events:
            if event.product_id and event.kind in ("page_view", "add_to_cart"):
                counts = self.counts.setdefault(event.product_id, [0, 0])
                counts[0 if event.kind == "page_view" else 1] += 1
        self.offset = offset


def batch_of(events: list[tuple[str, str, str]]) -> web_pb2.Batch:
    """A batch of (kind, product id, query) as received now."""
    return web_pb2.Batch(
        events=[web_pb2.WebEvent(kind=k, product_id=p, query=q) for k, p, q in events],
        received_at_ms=int(time.time() * 1000),
    )
