"""Shared fixtures: one real broker per test session, a fresh topic prefix per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.kafka_broker import Broker, single_broker
from shop.config import Config
from tests.support.config import fresh_config


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = single_broker(Path(tmp_path_factory.mktemp("kafka")))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def config(broker: Broker) -> Config:
    return fresh_config(broker)
