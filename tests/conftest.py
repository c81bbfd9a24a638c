"""Shared fixtures: one real broker per test session, a fresh topic prefix per test."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shop.config import Config
from tests.kafka_broker import Broker, single_broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = single_broker(Path(tmp_path_factory.mktemp("kafka")))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def fresh_config(broker: Broker) -> Config:
    """A configuration whose topics (and snapshot folder) no other test uses."""
    return Config(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        sample_rows=0,
        snapshot_dir=tempfile.mkdtemp(prefix="shop-snapshots-"),
    )


@pytest.fixture
def config(broker: Broker) -> Config:
    return fresh_config(broker)
