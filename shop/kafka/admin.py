"""Topics: created by the shop itself, idempotently, with the settings a source of truth needs."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]

from shop import _core
from shop.config import Config
from shop.kafka import client_settings
from shop.retry import retry

log = logging.getLogger(__name__)

# One partition: the order of a context's events is its truth. History is never deleted.
PARTITIONS = 1
RETENTION_MS = "-1"
TIMEOUT_S = 30.0
# How long a client's first answer is awaited before the question is asked again (see answered).
FIRST_ANSWER_S = 0.1
# Topics that keep the last message per key instead of every message: the shoppers' keys, where a
# tombstone must erase the key it replaces (shop/shoppers.py). Named here so that every creator of
# the shop's topics (the shop, `shop topics`, the tools) creates it so.
COMPACTED = ("shopper_keys",)
# Answers a broker gives for a partition whose leadership is still settling (a new topic, a failover).
LEADERSHIP_ERRORS = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_PARTITION,
    }
)


# A request that got no answer in its time: sent (_TIMED_OUT) or still queued for its broker, whose
# connection was not up yet (_TIMED_OUT_QUEUE).
TIMED_OUT_ERRORS = frozenset({KafkaError._TIMED_OUT, KafkaError._TIMED_OUT_QUEUE})
# Errors of a broker that is down, restarting or unreachable for now: worth another try.
UNREACHABLE_ERRORS = TIMED_OUT_ERRORS | {
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._MSG_TIMED_OUT,
}


def transient(exc: Exception) -> bool:
    """True for a failure that may pass by itself (a broker starting, a leader moving), from
    confluent-kafka's clients or from the extension's own (the same librdkafka codes)."""
    if isinstance(exc, TimeoutError):
        return True
    error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    if isinstance(error, KafkaError) and error.retriable():
        return True
    return error_code(exc) in UNREACHABLE_ERRORS | LEADERSHIP_ERRORS


def error_code(exc: Exception) -> int | None:
    """librdkafka's error number of a failure of confluent-kafka's clients or the extension's own."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return int(exc.args[0].code())
    if isinstance(exc, _core.KafkaClientError):
        return exc.code
    return None


class TopicMismatch(RuntimeError):
    """A topic exists with settings the shop cannot run on."""


def admin_client(config: Config) -> AdminClient:
    return _admin_client(config.kafka_bootstrap, os.getpid())


@functools.cache
def _admin_client(bootstrap: str, pid: int) -> AdminClient:
    """One admin client per cluster for the life of the process. Admin results arrive on librdkafka's
    background thread; a client left to the garbage collector could be freed there, which librdkafka
    forbids (it aborts the process), so none is ever freed. Keyed by process too: a forked server
    worker must not use its parent's client, whose threads did not survive the fork."""
    return AdminClient(client_settings(bootstrap))


def ensure_topics(config: Config, names: Iterable[str], compacted: Iterable[str] = COMPACTED) -> None:
    """Creates the missing topics; checks that existing ones have one partition and infinite retention.
    The `compacted` ones (of `names`) keep only the last message per key (shopper keys: a tombstone
    there must erase what it replaces)."""
    admin = admin_client(config)
    topics = [config.topic(name) for name in names]
    wanted = {
        "retention.ms": RETENTION_MS,
        "min.insync.replicas": str(config.min_insync_replicas),
    }
    compact = {config.topic(name) for name in compacted}
    new = [
        NewTopic(t, PARTITIONS, config.replication_factor, config={**wanted, **_cleanup(t in compact)})
        for t in topics
    ]
    for topic, future in admin.create_topics(new, request_timeout=TIMEOUT_S).items():
        try:
            future.result()
            log.info("created topic %s", topic)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    _wait_for_leaders(admin, topics)
    # In a cluster a broker may not know a topic the controller just created: asked again.
    retrying(lambda: _check_existing(admin, topics))


def _cleanup(compacted: bool) -> dict[str, str]:
    return {"cleanup.policy": "compact"} if compacted else {}


def _wait_for_leaders(admin: AdminClient, topics: list[str]) -> None:
    """A topic just created is missing from metadata, then has no leader, for a moment."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        metadata = admin.list_topics(timeout=TIMEOUT_S)
        leaderless = [
            t
            for t in topics
            if t not in metadata.topics or any(p.leader < 0 for p in metadata.topics[t].partitions.values())
        ]
        if not leaderless:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no partition leader for {', '.join(leaderless)} after {TIMEOUT_S}s")
        time.sleep(0.05)


T = TypeVar("T")


def retrying(call: Callable[[], T], what: str = "a metadata request") -> T:
    """`call()`, retried with backoff and jitter while the broker is unreachable or answers that
    leadership is still settling: metadata requests change nothing, so repeating them is safe."""
    return retry(call, what, transient, TIMEOUT_S)


def watermarks(consumer: Consumer, topic: str) -> tuple[int, int]:
    """(low, high) offsets of partition 0, retrying while the broker has no leader for it yet."""

    def fetch() -> tuple[int, int]:
        low, high = answered(
            lambda timeout: consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout)
        )
        return int(low), int(high)

    return retrying(fetch)


def answered(ask: Callable[[float], T]) -> T:
    """`ask(timeout)` of a client that may be new, its first answer awaited FIRST_ANSWER_S only. A
    new librdkafka client drops its bootstrap connection once it has learned the brokers, failing a
    metadata request in flight there, and asks again only 0.7 s later (one new client in ten with
    both cores busy, as at a start); asked again at once, it is answered at once. A first question
    still queued when its time is up (the connection not up yet) is asked again alike."""
    try:
        return ask(FIRST_ANSWER_S)
    except (KafkaException, _core.KafkaClientError) as exc:
        if error_code(exc) not in TIMED_OUT_ERRORS:
            raise
    return ask(TIMEOUT_S)


@dataclasses.dataclass(frozen=True)
class TopicIdentity:
    """Which topic of which cluster: a topic deleted and created again under its name gets a new id."""

    topic: str
    topic_id: str
    cluster_id: str


def topic_identity(config: Config, topic: str) -> TopicIdentity:
    """The topic's id and its cluster's id, as the brokers report them."""
    admin = admin_client(config)

    def describe() -> TopicIdentity:
        found = admin.describe_topics(TopicCollection([topic]), request_timeout=TIMEOUT_S)[topic].result()
        cluster = admin.describe_cluster(request_timeout=TIMEOUT_S).result()
        return TopicIdentity(topic, str(found.topic_id), str(cluster.cluster_id))

    return retrying(describe)


def _check_existing(admin: AdminClient, topics: list[str]) -> None:
    metadata = admin.list_topics(timeout=TIMEOUT_S)
    unknown = [topic for topic in topics if topic not in metadata.topics]
    if unknown:  # this broker has not learned of them yet: transient, asked again
        raise TimeoutError(f"{', '.join(unknown)} not yet in this broker's metadata")
    problems = []
    for topic in topics:
        partitions = len(metadata.topics[topic].partitions)
        if partitions != PARTITIONS:
            problems.append(f"{topic} has {partitions} partitions, the shop needs exactly {PARTITIONS}")
    resources = [ConfigResource(ConfigResource.Type.TOPIC, topic) for topic in topics]
    for resource, future in admin.describe_configs(resources, request_timeout=TIMEOUT_S).items():
        retention = future.result()["retention.ms"].value
        if retention != RETENTION_MS:
            problems.append(
                f"{resource.name} has retention.ms={retention}, the shop needs {RETENTION_MS} "
                "(its events are the only copy of the state)"
            )
    if problems:
        raise TopicMismatch("; ".join(problems))


def end_offset(config: Config, topic: str) -> int:
    """The offset the next message of partition 0 will get (0 for an empty topic)."""
    consumer = reader(config, "shop-watermarks")
    try:
        return watermarks(consumer, topic)[1]
    finally:
        consumer.close()


def reader(config: Config, group: str) -> Consumer:
    """A consumer for reading ranges it assigns itself: it commits nothing."""
    return Consumer(
        {**client_settings(config.kafka_bootstrap), "group.id": group, "enable.auto.commit": False}
    )


def read_range(consumer: Consumer, topic: str, start: int, end: int) -> list[tuple[int, bytes]]:
    """(offset, value) of the messages of partition 0 from `start` up to, not including, `end`."""
    consumer.assign([TopicPartition(topic, 0, start)])
    found: list[tuple[int, bytes]] = []
    while start < end:
        message = consumer.poll(TIMEOUT_S)
        if message is None:
            raise TimeoutError(f"no answer reading {topic} at offset {start}")
        if message.error():
            raise KafkaException(message.error())
        start = int(message.offset() or 0) + 1
        if start <= end:
            found.append((start - 1, bytes(message.value() or b"")))
    return found
