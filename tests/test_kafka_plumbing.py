"""Topic admin and the projection loop on a real broker: settings checks, load detection without
off-by-one, and undecodable events kept in a dead-letter topic."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import pytest
from confluent_kafka import Consumer, Message, TopicPartition
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from shop import _core
from shop.config import Config
from shop.contexts import catalog
from shop.kafka import admin
from shop.kafka.consumer import ProjectionLoop, consumer_settings, replay
from shop.kafka.offsets import NotApplied, OffsetWatch, command_ids
from shop.kafka.producer import ProduceError, Producer
from tests.reference import product_changed
from tests.test_catalog_integration import eventually


def test_topics_are_created_idempotently_with_the_settings_of_a_source_of_truth(config: Config) -> None:
    admin.ensure_topics(config, ["a", "b"])
    admin.ensure_topics(config, ["a", "b"])
    client = admin.admin_client(config)
    metadata = client.list_topics(timeout=10)
    assert len(metadata.topics[config.topic("a")].partitions) == 1


@pytest.mark.parametrize(
    ("partitions", "settings", "complaint"),
    [(2, {}, "has 2 partitions"), (1, {"retention.ms": "1000"}, "retention.ms=1000")],
)
def test_a_topic_with_other_settings_is_reported(
    config: Config, partitions: int, settings: dict[str, str], complaint: str
) -> None:
    client = admin.admin_client(config)
    topic = config.topic("odd")
    for future in client.create_topics([NewTopic(topic, partitions, 1, config=settings)]).values():
        future.result()
    with pytest.raises(admin.TopicMismatch, match=complaint):
        admin.ensure_topics(config, ["odd"])


def run_loop(config: Config, producer: Producer) -> tuple[ProjectionLoop, _core.Catalog]:
    model = _core.Catalog()
    loop = ProjectionLoop(config, catalog.INTERNAL, model, producer)
    loop.start()
    return loop, model


def test_an_empty_topic_is_loaded_at_once(config: Config) -> None:
    admin.ensure_topics(config, [catalog.INTERNAL, catalog.INTERNAL + "_dead"])
    producer = Producer(config)
    loop, model = run_loop(config, producer)
    assert loop.loaded.wait(30)
    assert (loop.end_at_start, model.offset) == (-1, -1)
    loop.stop()
    producer.close()


def test_one_message_is_loaded_only_once_offset_zero_is_applied(config: Config) -> None:
    admin.ensure_topics(config, [catalog.INTERNAL, catalog.INTERNAL + "_dead"])
    producer = Producer(config)
    _, message = product_changed(0, 0, id="p", name="Pear", price=3)
    producer.produce(config.topic(catalog.INTERNAL), message).result(30)
    loop, model = run_loop(config, producer)
    assert loop.loaded.wait(30)
    assert (loop.end_at_start, model.offset, len(model)) == (0, 0, 1)
    loop.stop()
    producer.close()


def test_an_undecodable_event_goes_to_the_dead_letter_topic_and_the_loop_goes_on(config: Config) -> None:
    admin.ensure_topics(config, [catalog.INTERNAL, catalog.INTERNAL + "_dead"])
    producer = Producer(config)
    topic = config.topic(catalog.INTERNAL)
    producer.produce(topic, product_changed(0, 0, id="a", name="A")[1]).result(30)
    producer.produce(topic, b"\xff garbage").result(30)
    producer.produce(topic, product_changed(0, 1, id="b", name="B")[1]).result(30)
    loop, model = run_loop(config, producer)
    assert loop.loaded.wait(30)
    eventually(lambda: loop.dead_letters.count == 1)
    assert loop.alive
    assert (model.offset, len(model)) == (2, 2)
    dead: list[bytes] = []
    eventually(
        lambda: replay(config, catalog.INTERNAL + "_dead", lambda b: dead.extend(v for _, v in b)) == 1
    )
    assert dead == [b"\xff garbage"]
    loop.stop()
    producer.close()


class StuckCatalog:
    """A catalog whose apply blocks until released: a consumer stuck in its work."""

    def __init__(self) -> None:
        self.model = _core.Catalog()
        self.release = threading.Event()

    @property
    def offset(self) -> int:
        return self.model.offset

    def apply(self, batch: list[tuple[int, bytes]]) -> list[tuple[int, str]]:
        self.release.wait(60)
        return self.model.apply(batch)


def test_a_stuck_consumer_is_reported_until_it_moves_again(config: Config) -> None:
    admin.ensure_topics(config, [catalog.INTERNAL, catalog.INTERNAL + "_dead"])
    producer = Producer(config)
    stuck = StuckCatalog()
    loop = ProjectionLoop(config, catalog.INTERNAL, stuck, producer)
    loop.start()
    assert loop.loaded.wait(30)
    assert loop.stalled(1.0) is None
    producer.produce(config.topic(catalog.INTERNAL), product_changed(0, 0, id="a", name="A")[1]).result(30)
    eventually(lambda: loop.stalled(1.0) is not None, timeout=20)
    stuck.release.set()
    eventually(lambda: stuck.offset == 0 and loop.stalled(1.0) is None, timeout=20)
    loop.stop()
    producer.close()


def written(config: Config, topic: str, offset: int) -> Message:
    """The message at `offset` of `topic`, read back from the broker."""
    consumer = Consumer(consumer_settings(config, "shop-test-read"))
    try:
        consumer.assign([TopicPartition(topic, 0, offset)])
        while (message := consumer.poll(10)) is None or message.error() is not None:
            pass
        return message
    finally:
        consumer.close()


def test_a_command_is_answered_once_a_batch_carrying_it_is_applied_and_not_before(config: Config) -> None:
    """The projection answers a command when it applied a batch that carried the command's id: an
    applied offset alone answers nothing, and Kafka reports no success to wait for."""
    admin.ensure_topics(config, [catalog.INTERNAL])
    topic = config.topic(catalog.INTERNAL)
    producer = Producer(config, failures_only=True)
    watch = OffsetWatch()
    _, message = product_changed(0, 0, id="p", name="Pear", price=3)

    async def write() -> None:
        task = asyncio.ensure_future(producer.produce_command(topic, message, watch, 30))
        while watch.waiting == 0:
            await asyncio.sleep(0.01)
        carried = await asyncio.to_thread(written, config, topic, 0)
        assert command_ids([carried]) and carried.value() == message
        watch.advance(0)  # applied, but by a batch that did not carry the command (as far as it says)
        await asyncio.sleep(0.2)
        assert not task.done()
        threading.Thread(target=watch.advance, args=(0, command_ids([carried]))).start()
        await task

    try:
        asyncio.run(write())
        assert watch.waiting == 0
    finally:
        producer.close()


def test_command_ids_differ_between_producers_so_no_instance_answers_for_another(config: Config) -> None:
    admin.ensure_topics(config, [catalog.INTERNAL])
    topic = config.topic(catalog.INTERNAL)
    _, message = product_changed(0, 0, id="p", name="Pear", price=3)
    producers = [
        Producer(dataclasses.replace(config, produce_timeout=1), failures_only=True) for _ in range(2)
    ]
    watch = OffsetWatch()
    try:
        for producer in producers:
            with pytest.raises(NotApplied):
                asyncio.run(producer.produce_command(topic, message, watch, 0.2))
        ids = command_ids([written(config, topic, 0), written(config, topic, 1)])
        assert len(ids) == 2 and ids[0] != ids[1]
    finally:
        for producer in producers:
            producer.close()


def test_a_command_not_applied_in_time_raises_not_applied_and_is_no_longer_expected(config: Config) -> None:
    admin.ensure_topics(config, [catalog.INTERNAL])
    producer = Producer(dataclasses.replace(config, produce_timeout=1), failures_only=True)
    _, message = product_changed(0, 0, id="p", name="Pear", price=3)
    watch = OffsetWatch()
    try:
        with pytest.raises(NotApplied):
            asyncio.run(producer.produce_command(config.topic(catalog.INTERNAL), message, watch, 0.5))
        assert watch.waiting == 0 and not watch.expecting
    finally:
        producer.close()


def test_a_command_kafka_fails_to_take_raises_produce_error(config: Config) -> None:
    """A failure is the one delivery report such a producer gets: the request learns of it at once
    (a topic that does not exist times out after the 1 s produce timeout, long before 30 s)."""
    producer = Producer(dataclasses.replace(config, produce_timeout=1), failures_only=True)
    watch = OffsetWatch()
    _, message = product_changed(0, 0, id="p", name="Pear", price=3)

    async def write() -> float:
        started = time.monotonic()
        with pytest.raises(ProduceError):
            await producer.produce_command(config.topic("no_such_topic"), message, watch, 30)
        return time.monotonic() - started

    try:
        assert asyncio.run(write()) < 15
        assert not watch.expecting
    finally:
        producer.close()


def test_a_producer_that_reports_failures_only_writes_nothing_but_commands(config: Config) -> None:
    producer = Producer(config, failures_only=True)
    try:
        with pytest.raises(TypeError):
            producer.produce(config.topic(catalog.INTERNAL), b"")
    finally:
        producer.close()
