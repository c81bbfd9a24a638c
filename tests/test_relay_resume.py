"""A relay resumes after what it relayed: after the source offset its last output carries, or after
the position it committed to its consumer group, whichever is later. A relay that drops most of
what it reads (checkout's publisher, the notifications) has few outputs to resume after."""

from __future__ import annotations

import pytest

from shop.config import Config
from shop.contexts import catalog, pim
from shop.kafka import admin
from shop.kafka.dead_letters import dead_topic
from shop.kafka.producer import Producer, relay_producer
from shop.kafka.relay import Relay, believed_start
from tests.support.polling import eventually

pytestmark = pytest.mark.kafka

SOURCE, TARGET = pim.PUBLIC, catalog.INTERNAL
MESSAGES = 300


def produce(config: Config, producer: Producer, numbers: range) -> None:
    for number in numbers:
        producer.produce(config.topic(SOURCE), b"message %d" % number)
    assert producer.flush(30) == 0


def run_until_caught_up(relay: Relay, last: int) -> None:
    relay.start()
    try:
        assert relay.caught_up.wait(30)
        eventually(lambda: relay.committed == last, what=f"{relay.name} committed offset {last}")
    finally:
        relay.stop()


def test_a_relay_that_relays_nothing_resumes_where_it_stopped_not_from_the_start(config: Config) -> None:
    admin.ensure_topics(config, (SOURCE, TARGET, dead_topic(SOURCE)))
    producer = relay_producer(config)
    read: list[int] = []

    def drop(_value: bytes, offset: int) -> bytes | None:
        read.append(offset)
        return None

    def dropping(resume_from: int) -> Relay:
        return Relay(config, "dropping", SOURCE, TARGET, drop, lambda: resume_from, producer)

    try:
        produce(config, producer, range(MESSAGES))
        run_until_caught_up(dropping(0), MESSAGES - 1)
        assert read == list(range(MESSAGES))

        read.clear()
        produce(config, producer, range(MESSAGES, MESSAGES + 10))
        run_until_caught_up(dropping(0), MESSAGES + 9)
        assert read == list(range(MESSAGES, MESSAGES + 10))  # not the first MESSAGES again

        read.clear()  # an output carrying a later source offset wins over the committed position
        produce(config, producer, range(MESSAGES + 10, MESSAGES + 20))
        run_until_caught_up(dropping(MESSAGES + 15), MESSAGES + 19)
        assert read == list(range(MESSAGES + 15, MESSAGES + 20))
    finally:
        producer.close()


@pytest.mark.parametrize(
    ("offset", "written", "high", "target_end", "start"),
    [
        (-1, -1, 500, 40, 0),  # nothing committed
        (300, 39, 500, 40, 300),  # the target holds offset 39: believed
        (300, -1, 500, 0, 300),  # nothing written by then (a relay that drops everything)
        (300, 39, 500, 39, 0),  # the target lost offset 39 (made again): relay again
        (300, 39, 299, 40, 0),  # past the source's end (made again)
    ],
)
def test_a_committed_position_is_believed_only_while_source_and_target_bear_it_out(
    offset: int, written: int, high: int, target_end: int, start: int
) -> None:
    assert believed_start(offset, written, high, target_end) == start
