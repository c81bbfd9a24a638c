"""Relays: bridges (another context's public topic → own internal topic) and publishers (own
internal topic → own public topic). Each output message carries its source offset, so a relay
resumes exactly after the last message it delivered and a receiver can drop duplicates. A relay
also commits how far it got to its consumer group, for relays whose outputs are rare (see
COMMIT_INTERVAL_S)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from shop import _core, metrics, tracing
from shop.config import Config
from shop.kafka import POLL_S, admin
from shop.kafka.consumer import consume_available, consumer_settings, readable
from shop.kafka.dead_letters import DeadLetters
from shop.kafka.offsets import ProduceError
from shop.kafka.producer import Producer, Translate
from shop.kafka.worker import Worker
from shop.retry import backoff

if TYPE_CHECKING:
    from shop.kafka.projection import ProjectionLoop

log = logging.getLogger(__name__)

# Failures a relay recovers from by starting again from Kafka's position: the broker is away or
# moving leaders, or a wait for the projection (checkout's publisher) timed out.
RESTARTABLE = (KafkaException, ProduceError, TimeoutError)
MAX_RESTART_DELAY_S = 10.0
# Relays fetch as projections do (answered at the first new message, an idle one held 500 ms): a
# fetch waiting for 256 KiB or 50 ms cost each catalog change two waits (p50 107 ms, now 32 with
# RELAY_LINGER_MS) and an idle shop's broker 11-16% of a core (now 8-12%; bench/relay_latency.py).
# Checkout's publisher reads every cart write to publish only orders: it waits for a batch instead,
# or each cart write would wake its Python thread on the server's core.
BATCHED_FETCH = {"fetch.min.bytes": 262_144, "fetch.wait.max.ms": 100}

# How often a relay waiting for Kafka's acknowledgements looks at its stop flag.
WAIT_S = 0.2
# A relay that drops most of what it reads (checkout's publisher keeps only orders, the
# notifications only what asks for an email) has few outputs to resume after: it also commits how
# far it got to its consumer group, at most this often, and resumes after whichever is later.
# Without it every start read a million stock levels again, in Python, on the server's core.
COMMIT_INTERVAL_S = 1.0


class Relay(Worker):
    """Copies `source` into `target` through `translate`. Only one instance in the consumer group
    `shop-relay-<name>` holds the source partition, so several shops never relay twice."""

    def __init__(
        self,
        config: Config,
        name: str,
        source: str,
        target: str,
        translate: Translate,
        resume_from: Callable[[], int],
        producer: Producer,
        after: Sequence[threading.Event] = (),
        before_batch: Callable[[int], None] | None = None,
        upstream: Sequence[Relay] = (),
        batched_fetch: bool = False,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        """`before_batch(last)`, if given, is called with a batch's last source offset before its
        messages are translated (checkout's publisher waits there for its projection, once per
        batch rather than once per message). `upstream`: the relays writing `source` that run
        beside this one (a bridge's publisher); this one is caught up once they are and it relayed
        what they had written by then. `batched_fetch`: see BATCHED_FETCH. `before_commit`, if
        given, returns once what `translate` did besides its output is durable (the emails'
        records): only then is the position committed (see COMMIT_INTERVAL_S)."""
        self.config = config
        super().__init__(name)
        self.source = config.topic(source)
        self.target = config.topic(target)
        self.translate = translate
        self.resume_from = resume_from
        self.producer = producer
        self.after = after
        self.before_batch = before_batch
        self.before_commit = before_commit
        self.upstream = upstream
        self.fetch = BATCHED_FETCH if batched_fetch else {}
        # Set once this instance relayed everything present when it was assigned the source (and
        # what its upstream relays wrote until they caught up), or learned that another instance
        # holds it.
        self.caught_up = threading.Event()
        self.reached = -1  # last_produced when caught up: what a relay downstream must relay
        # Set once `settled`: afterwards a batch relayed and not yet applied is lag, not unreadiness,
        # or a stream of changes would make readiness probes flap.
        self._settled = False
        self.assigned = False
        self.end_at_assign = -1
        self.position = -1  # last source offset translated and acknowledged
        self.last_produced = -1  # target offset of the last acknowledged message
        self.committed = -1  # last source offset committed to the consumer group as relayed
        self._committed_at = 0.0
        self._written_before = -1  # last target offset written, as the commit resumed after says
        self.dead_letters = DeadLetters(config, self.source, name, producer)
        self.restarts = 0

    def work(self) -> None:
        for event in self.after:
            while not event.wait(0.1):
                if self._stopping.is_set():
                    return
        delays = backoff(cap=MAX_RESTART_DELAY_S)
        while not self._stopping.is_set():
            try:
                self._relay()
            except RESTARTABLE as exc:
                self._restart_after(exc, next(delays))

    def _restart_after(self, exc: Exception, delay: float) -> None:
        """A broker that went away, a leader that moved, a wait that timed out: start again from
        the position Kafka holds, once everything relayed so far is acknowledged (background
        writes never time out, so nothing is lost; resuming earlier would relay twice)."""
        self.restarts += 1
        metrics.RELAY_RESTARTS.labels(self.name).inc()
        log.warning("relay %s failed (%s): restarting in %.1fs", self.name, exc, delay)
        while self.producer.flush(1.0) and not self._stopping.is_set():
            pass
        self._stopping.wait(delay)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not partitions:
            self.assigned = False
            self.caught_up.set()
            return
        _low, high = admin.watermarks(consumer, self.source)
        _low, target_end = admin.watermarks(consumer, self.target)
        committed, written = committed_position(consumer, self.source)
        believed = believed_start(committed, written, high, target_end)
        self._written_before = written if believed else -1
        start = max(self.resume_from(), believed)
        self.end_at_assign = high - 1
        self.position = self.committed = start - 1
        self.assigned = True
        self._catch_up_if_done()
        log.info("relay %s: %s from offset %d to %s", self.name, self.source, start, self.target)
        for partition in partitions:
            partition.offset = start
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned = False
        consumer.unassign()

    def _relay(self) -> None:
        settings: dict[str, Any] = consumer_settings(self.config, f"shop-relay-{self.name}")
        settings["partition.assignment.strategy"] = "range"
        # A crashed instance holds its relays until its session expires: keep that short, so
        # another instance (or its own restart) takes over within seconds.
        settings["session.timeout.ms"] = 6000
        settings["heartbeat.interval.ms"] = 1500
        settings.update(self.fetch)
        self.dead_letters.resume()
        consumer = Consumer(settings)
        consumer.subscribe([self.source], on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not self._stopping.is_set():
                messages = consume_available(consumer, self.config.consume_batch, POLL_S)
                if not self._relay_batch(messages):
                    return  # stopping: the rest is relayed again by whoever resumes
                self._catch_up_if_done()
                self._commit(consumer)
        finally:
            consumer.close()

    def _commit(self, consumer: Consumer) -> None:
        """Commits the position (asynchronously: it is only a hint) when it moved and the last
        commit is COMMIT_INTERVAL_S old."""
        now = time.monotonic()
        if self.position <= self.committed or now - self._committed_at < COMMIT_INTERVAL_S:
            return
        position = self.position
        if self.before_commit is not None:
            self.before_commit()
        # With the last target offset written by then (here or before): see believed_start.
        written = str(max(self.last_produced, self._written_before))
        consumer.commit(offsets=[TopicPartition(self.source, 0, position + 1, written)], asynchronous=True)
        self.committed, self._committed_at = position, now

    def _catch_up_if_done(self) -> None:
        if self.caught_up.is_set() or not self.assigned:
            return
        if not all(relay.caught_up.is_set() for relay in self.upstream):
            return
        if self.position >= max([self.end_at_assign, *(relay.reached for relay in self.upstream)]):
            self.reached = self.last_produced
            self.caught_up.set()

    def _relay_batch(self, messages: list[Message]) -> bool:
        """Translates and produces `messages`, then waits until Kafka acknowledged them all; a
        poison message is copied to the dead letters in order, after what precedes it. False if
        the relay was stopped meanwhile. A traced message's hop is a span, its output a child."""
        hops = tracing.RelayHops(self.name, self.source, self.target, messages)
        try:
            return self._relay_each(messages, hops)
        finally:
            hops.end()

    def _relay_each(self, messages: list[Message], hops: tracing.RelayHops) -> bool:
        batch = readable(messages, f"relay {self.name}")
        if self.before_batch is not None and batch:
            self.before_batch(batch[-1][0])
        spans = hops.start_traced()
        headers = {offset: tracing.headers_of(span) for offset, span in spans.items()} or None
        while batch:
            sent = self.producer.relay(self.target, self.translate, batch, headers)
            for offset in sent.skipped:
                if offset in spans:
                    spans[offset].set_attribute("shop.relayed", False)
            if not self._settle(sent, batch[sent.translated - 1][0] if sent.translated else None):
                return False
            if sent.refused is None:
                return True
            offset, value = batch[sent.translated]
            if offset in spans:
                spans[offset].record_exception(ValueError(sent.refused))
            if not self.dead_letters.copy(offset, value, sent.refused, self.acknowledged):
                return False
            self.position, batch = offset, batch[sent.translated + 1 :]
        return True

    def _settle(self, sent: _core.RelayBatch, last: int | None) -> bool:
        """Waits until Kafka acknowledged `sent`; then everything up to source offset `last` is
        relayed."""
        while not sent.wait(WAIT_S):
            if self._stopping.is_set():
                return False
        if sent.failure is not None:
            raise ProduceError(sent.failure)
        if sent.last_offset >= 0:
            self.last_produced = sent.last_offset
        if last is not None:
            self.position = last
        return True

    def settled(self, applied_offset: int) -> bool:
        """Caught up, and the receiving projection (at `applied_offset`) has applied what was
        relayed; once true, true for good, like `caught_up`."""
        self._settled = self._settled or (
            self.caught_up.is_set() and (not self.assigned or applied_offset >= self.last_produced)
        )
        return self._settled


def publisher(
    config: Config,
    context: str,
    translate: Translate,
    producer: Producer,
    after: Sequence[threading.Event] = (),
    before_batch: Callable[[int], None] | None = None,
    batched_fetch: bool = False,
) -> Relay:
    """The relay `<context>_internal` → `<context>_pub`. It resumes after the internal offset that
    the last public message carries, so nothing is published twice or skipped."""
    internal, public = f"{context}_internal", f"{context}_pub"

    def resume_from() -> int:
        return last_published_offset(config, config.topic(public)) + 1

    name = f"{context}-publisher"
    return Relay(
        config,
        name,
        internal,
        public,
        translate,
        resume_from,
        producer,
        after,
        before_batch,
        batched_fetch=batched_fetch,
    )


def bridge(
    config: Config,
    name: str,
    source: str,
    target: str,
    translate: Translate,
    last_source_offset: Callable[[], int],
    producer: Producer,
    projection: ProjectionLoop,
    upstream: Sequence[Relay] = (),
) -> Relay:
    """The relay from another context's public topic `source` into the internal topic `target`,
    one of the bridges of the `projection` of `target`. It starts once that projection loaded
    its own topic, beside the `upstream` publishers that write `source`, and resumes after the
    last source offset that projection applied."""
    relay = Relay(
        config,
        name,
        source,
        target,
        translate,
        lambda: last_source_offset() + 1,
        producer,
        after=(projection.loaded,),
        upstream=upstream,
    )
    projection.bridges.append(relay)
    return relay


def caught_up_end(relays: Sequence[Relay]) -> int | None:
    """The last target offset `relays` had written when each caught up (-1: none); None until
    every one has."""
    if not all(relay.caught_up.is_set() for relay in relays):
        return None
    return max((relay.reached for relay in relays), default=-1)


def committed_position(consumer: Consumer, topic: str) -> tuple[int, int]:
    """The offset `consumer`'s group committed for partition 0 of `topic` (everything before it was
    relayed and acknowledged) and the last target offset written by then; (-1, -1) for none or
    for a commit that does not say what it wrote."""
    [committed] = consumer.committed([TopicPartition(topic, 0)], timeout=admin.TIMEOUT_S)
    try:
        return int(committed.offset), int(committed.metadata or "")
    except ValueError:
        return -1, -1


def believed_start(offset: int, written: int, high: int, target_end: int) -> int:
    """`offset` committed after writing target offset `written`, or 0 unless the source still
    reaches it (ends at `high`) and the target still holds `written` (ends at `target_end`): a topic
    deleted and made again is relayed again, never skipped."""
    return offset if 0 <= offset <= high and written < target_end else 0


def last_published_offset(config: Config, public: str) -> int:
    """The internal offset the last valid message of `public` carries (-1 for none)."""
    return last_carried(config, public, _core.published_offset)


def last_carried(config: Config, topic: str, carried: Callable[[bytes], int | None]) -> int:
    """The source offset the last message of `topic` carries (-1 for none), as `carried` reads it
    from a message: None for a message of another source. Messages that are not valid (garbage
    someone wrote there; `carried` raises ValueError) are stepped over, backwards, in growing
    windows: a relay must not stop on them, nor start again from the beginning."""
    consumer = admin.reader(config, "shop-last")
    try:
        low, end = admin.watermarks(consumer, topic)
        window = 16
        while end > low:
            start = max(low, end - window)
            for offset, value in reversed(admin.read_range(consumer, topic, start, end)):
                try:
                    found = carried(value)
                except ValueError as exc:
                    log.warning("%s offset %d is not a valid message (%s): stepped over", topic, offset, exc)
                    continue
                if found is not None:
                    return found
            end, window = start, window * 2
        return -1
    finally:
        consumer.close()
