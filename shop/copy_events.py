"""`shop copy-events`: a shop's topics copied from one cluster to another (production to a laptop).

Offsets are the shop's references: relayed events carry the offset of their source event
(`internal_offset`, `pim_offset`, `fulfilment_offset`, `checkout_offset`), relays resume from them,
and dead letters name their source offset in a header. So the copy keeps every offset as it is:
each topic is copied in order, by one idempotent producer, into a destination topic that holds
exactly a prefix of the source topic; each acknowledged offset is checked against the source's.
A destination that is not such a prefix (other events, more events, a shop that ran on it and
wrote) is refused, never patched. Running the copy again resumes at the destination's end after
checking that the messages it holds are the source's: nothing is copied twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka import Producer as KafkaProducer
from google.protobuf.message import Message as Event

from shop.config import Config
from shop.event_log import Poison, decode, message_headers
from shop.kafka import admin
from shop.kafka.consumer import consume_available, consumer_settings
from shop.kafka.producer import IMPORT_TIMEOUT_S, producer_settings
from shop.progress import Progress
from shop.service import PERSONAL_FIELDS, all_topics, event_type

log = logging.getLogger(__name__)
BATCH = 10_000
# One idempotent producer (producer_settings) sends each topic in order; batched for throughput.
COPY_PRODUCER = {"linger.ms": 20, "batch.size": 1_000_000, "message.timeout.ms": IMPORT_TIMEOUT_S * 1000}


class CopyRefused(RuntimeError):
    """The destination cannot become an offset-for-offset copy of the source."""


@dataclass(frozen=True)
class Copied:
    """What a message is in both clusters: compared where the copies overlap."""

    key: bytes | None
    value: bytes | None  # None: a tombstone (a forgotten shopper's key), copied as one
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int


@dataclass
class Summary:
    copied: dict[str, int] = field(default_factory=dict)
    unscrubbed: int = 0  # messages --scrub could not decode: copied as they are

    def __str__(self) -> str:
        total = sum(self.copied.values())
        changed = ", ".join(f"{topic} {n}" for topic, n in self.copied.items() if n)
        text = f"copied {total} messages" + (f" ({changed})" if changed else "; every topic was up to date")
        if self.unscrubbed:
            text += f"; {self.unscrubbed} undecodable messages copied unscrubbed"
        return text


class Scrubber:
    """Replaces the values of personal fields (full protobuf field names, per event type) by
    stable fakes: the same value becomes the same fake in every run and every topic, so an order
    and its shopper still match after the copy. The fakes are keyed hashes (key: the source
    cluster's id), not reversible by hashing guesses without that id."""

    def __init__(self, fields: Iterable[str], key: str) -> None:
        self.fields = frozenset(fields)
        self.key = hashlib.blake2b(key.encode(), digest_size=32).digest()
        self.undecodable = 0

    def fake(self, value: str) -> str:
        return "scrubbed-" + hashlib.blake2b(value.encode(), key=self.key, digest_size=8).hexdigest()

    def __call__(self, topic: str, value: bytes) -> bytes:
        """`value` of `topic` with its personal fields replaced; the same bytes when it has none."""
        if not self.fields:
            return value
        event_class = event_type(topic)
        assert event_class is not None, topic
        try:
            event = decode(event_class, value)
        except Poison:
            self.undecodable += 1
            return value
        return event.SerializeToString() if self._scrub(event) else value

    def _scrub(self, event: Event) -> bool:
        changed = False
        for descriptor, value in event.ListFields():
            if descriptor.message_type is not None:
                items = value if descriptor.is_repeated else [value]
                changed = any([self._scrub(item) for item in items]) or changed
            elif descriptor.full_name in self.fields and descriptor.type == descriptor.TYPE_STRING:
                if descriptor.is_repeated:
                    value[:] = [self.fake(item) for item in value]
                else:
                    setattr(event, descriptor.name, self.fake(value))
                changed = True
        return changed


@dataclass
class Plan:
    """One topic: the destination holds the source's offsets [0, start); [start, end) is copied."""

    topic: str
    start: int
    end: int


@dataclass
class Clusters:
    source: Config
    destination: Config
    scrub: Scrubber | None

    def __post_init__(self) -> None:
        self.readers = {
            name: Consumer(reader_settings(config))
            for name, config in (("source", self.source), ("destination", self.destination))
        }

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()

    def full(self, side: str, topic: str) -> str:
        """`topic`'s name in the `side` cluster (each has its own prefix)."""
        return (self.source if side == "source" else self.destination).topic(topic)

    def watermarks(self, side: str, topic: str) -> tuple[int, int]:
        return admin.watermarks(self.readers[side], self.full(side, topic))

    def message(self, side: str, topic: str, offset: int) -> Copied:
        """The message at `offset` of `topic` in the `side` cluster, as the copy writes it."""
        full = self.full(side, topic)
        reader = self.readers[side]
        reader.assign([TopicPartition(full, 0, offset)])
        found = reader.poll(admin.TIMEOUT_S)
        reader.unassign()  # no fetch may hold up the next request (see reader_settings)
        if found is None:
            raise TimeoutError(f"no answer reading {full} at offset {offset} in the {side} cluster")
        if found.error():
            raise KafkaException(found.error())
        return self.as_copied(topic, found) if side == "source" else copied(found)

    def as_copied(self, topic: str, message: Message) -> Copied:
        """The source's `message` as the destination must hold it: scrubbed if asked."""
        original = copied(message)
        if self.scrub is None or original.value is None:
            return original
        return dataclasses.replace(original, value=self.scrub(topic, original.value))


def reader_settings(config: Config) -> dict[str, object]:
    """A reader of known ranges: it never waits for new messages. A fetch held open at the end of a
    topic (the consumers' 500 ms) would hold up the next watermark request on its connection."""
    return {**consumer_settings(config, "shop-copy-events"), "fetch.wait.max.ms": 10}


def copied(message: Message) -> Copied:
    headers = tuple(message_headers(message))
    key = message.key()
    return Copied(
        None if key is None else bytes(key),
        None if message.value() is None else bytes(message.value() or b""),
        headers,
        int(message.timestamp()[1]),
    )


def plan(clusters: Clusters, topic: str, since_ms: int | None) -> Plan:
    """Where the copy of `topic` resumes, once the destination is checked to be a prefix of the
    source (its first and last messages are the source's at the same offsets)."""
    full = clusters.full("destination", topic)
    source_low, source_high = clusters.watermarks("source", topic)
    destination_low, start = clusters.watermarks("destination", topic)
    if source_low != 0 or destination_low != 0:
        raise CopyRefused(
            f"{full} starts at offset {source_low} in the source and {destination_low} in the "
            "destination: offsets can only be kept from offset 0 on"
        )
    if start > source_high:
        raise CopyRefused(
            f"{full} holds {start} messages in the destination but {source_high} in the source: "
            "the destination is not a copy of this source (or a shop wrote to it)"
        )
    for offset in sorted({0, start - 1}) if start else ():
        if clusters.message("destination", topic, offset) != clusters.message("source", topic, offset):
            raise CopyRefused(
                f"{full} offset {offset} differs between the destination and the source: the "
                "destination is not a copy of this source (another shop, or copied with other --scrub)"
            )
    if since_ms is not None:
        first = clusters.readers["source"].offsets_for_times(
            [TopicPartition(clusters.full("source", topic), 0, since_ms)], timeout=admin.TIMEOUT_S
        )[0]
        needed = source_high if first.offset < 0 else int(first.offset)
        if start < needed:
            raise CopyRefused(
                f"{full}: the destination ends at offset {start}, the events before --since begin "
                f"at {needed}; offsets must stay the same, so copy offsets {start}-{needed - 1} too "
                "(run without --since)"
            )
    return Plan(topic, start, source_high)


def check_topics(source: Config, topics: Iterable[str]) -> list[str]:
    """`topics`, each a topic of the shop present in the source cluster; CopyRefused otherwise."""
    known = all_topics()
    unknown = [topic for topic in topics if topic not in known]
    if unknown:
        raise CopyRefused(f"the shop has no topic {', '.join(unknown)}; its topics are {', '.join(known)}")
    present = admin.admin_client(source).list_topics(timeout=admin.TIMEOUT_S).topics
    missing = [source.topic(topic) for topic in topics if source.topic(topic) not in present]
    if missing:
        raise CopyRefused(f"the source cluster {source.kafka_bootstrap} has no topic {', '.join(missing)}")
    return list(topics)


def copy_events(
    source: Config,
    destination: Config,
    topics: Iterable[str] | None = None,
    since_ms: int | None = None,
    scrub: bool = False,
    progress: TextIO | None = None,
    personal_fields: Iterable[str] = PERSONAL_FIELDS,
) -> Summary:
    """Copies `topics` (all of the shop's) from `source` to `destination`, offset for offset;
    returns how many messages of each were copied. CopyRefused when it cannot keep the offsets."""
    names = check_topics(source, all_topics() if topics is None else topics)
    admin.ensure_topics(destination, names)
    scrubber = Scrubber(personal_fields, cluster_id(source)) if scrub else None
    clusters, summary = Clusters(source, destination, scrubber), Summary()
    try:
        plans = [plan(clusters, topic, since_ms) for topic in names]  # every topic checked first
        bar = Progress("copy-events", sum(p.end - p.start for p in plans), progress) if progress else None
        producer = KafkaProducer(producer_settings(destination, COPY_PRODUCER))
        try:
            for topic_plan in plans:
                summary.copied[topic_plan.topic] = _copy(clusters, producer, topic_plan, bar)
        finally:
            producer.flush(IMPORT_TIMEOUT_S)
            if bar is not None:
                bar.close()
    finally:
        clusters.close()
    summary.unscrubbed = scrubber.undecodable if scrubber else 0
    log.info("copy-events: %s", summary)
    return summary


def _copy(clusters: Clusters, producer: KafkaProducer, topic_plan: Plan, bar: Progress | None) -> int:
    """Copies [start, end) of one topic in order; returns once every copy is acknowledged at the
    offset it has in the source."""
    if topic_plan.start >= topic_plan.end:
        return 0
    full, target = clusters.full("source", topic_plan.topic), clusters.full("destination", topic_plan.topic)
    failures: list[str] = []

    def delivered(expected: int) -> Any:
        def report(err: KafkaError | None, message: Message) -> None:
            if err is not None:
                failures.append(f"offset {expected}: {err.str()}")
            elif message.offset() != expected:
                failures.append(f"source offset {expected} landed at offset {message.offset()}")
            if bar is not None:
                bar.advance()

        return report

    reader = clusters.readers["source"]
    reader.assign([TopicPartition(full, 0, topic_plan.start)])
    position = topic_plan.start
    while position < topic_plan.end:
        for message in consume_available(reader, BATCH, admin.TIMEOUT_S):
            if message.error():
                raise KafkaException(message.error())
            offset = int(message.offset() or 0)
            if offset >= topic_plan.end:
                break
            if offset != position:
                raise CopyRefused(f"{full}: offset {position} is missing in the source (found {offset})")
            _produce(producer, target, clusters.as_copied(topic_plan.topic, message), delivered(offset))
            position = offset + 1
        producer.poll(0)
    reader.unassign()
    if producer.flush(IMPORT_TIMEOUT_S):
        raise CopyRefused(f"{target}: the destination did not acknowledge every copy")
    if failures:
        raise CopyRefused(
            f"{target}: the copy did not keep the source's offsets ({'; '.join(failures[:3])}): does "
            "something else write to the destination?"
        )
    return topic_plan.end - topic_plan.start


def _produce(producer: KafkaProducer, topic: str, message: Copied, delivered: Any) -> None:
    while True:
        try:
            producer.produce(
                topic,
                message.value,
                message.key,
                partition=0,
                headers=list(message.headers),
                timestamp=message.timestamp_ms,
                on_delivery=delivered,
            )
            return
        except BufferError:  # the local queue is full: let deliveries drain
            producer.poll(0.05)


def cluster_id(config: Config) -> str:
    admin_client = admin.admin_client(config)
    return str(
        admin.retrying(
            lambda: admin_client.describe_cluster(request_timeout=admin.TIMEOUT_S).result()
        ).cluster_id
    )
