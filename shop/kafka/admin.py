"""Topics: created by the shop itself, idempotently, with the settings a source of truth needs."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]

from shop.config import Config

log = logging.getLogger(__name__)

# One partition: the order of a context's events is its truth. History is never deleted.
PARTITIONS = 1
RETENTION_MS = "-1"
TIMEOUT_S = 30.0


class TopicMismatch(RuntimeError):
    """A topic exists with settings the shop cannot run on."""


def admin_client(config: Config) -> AdminClient:
    return AdminClient({"bootstrap.servers": config.kafka_bootstrap})


def ensure_topics(config: Config, names: Iterable[str]) -> None:
    """Creates the missing topics; checks that existing ones have one partition and infinite retention."""
    admin = admin_client(config)
    topics = [config.topic(name) for name in names]
    wanted = {
        "retention.ms": RETENTION_MS,
        "min.insync.replicas": str(config.min_insync_replicas),
    }
    new = [NewTopic(t, PARTITIONS, config.replication_factor, config=wanted) for t in topics]
    for topic, future in admin.create_topics(new, request_timeout=TIMEOUT_S).items():
        try:
            future.result()
            log.info("created topic %s", topic)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    _check_existing(admin, topics)


def _check_existing(admin: AdminClient, topics: list[str]) -> None:
    metadata = admin.list_topics(timeout=TIMEOUT_S)
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
    consumer = Consumer({"bootstrap.servers": config.kafka_bootstrap, "group.id": "shop-watermarks"})
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT_S)
        return int(high)
    finally:
        consumer.close()


def last_message(config: Config, topic: str) -> tuple[int, bytes] | None:
    """The offset and value of the last message of partition 0, or None for an empty topic."""
    consumer = Consumer(
        {"bootstrap.servers": config.kafka_bootstrap, "group.id": "shop-last", "enable.auto.commit": False}
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT_S)
        if high <= low:
            return None
        consumer.assign([TopicPartition(topic, 0, high - 1)])
        message = consumer.poll(TIMEOUT_S)
        if message is None:
            raise TimeoutError(f"no answer reading the last message of {topic}")
        if message.error():
            raise KafkaException(message.error())
        return int(message.offset() or 0), bytes(message.value() or b"")
    finally:
        consumer.close()
