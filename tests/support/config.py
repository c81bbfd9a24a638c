"""A configuration of its own for each test: its topics and snapshots are not shared."""

from __future__ import annotations

import tempfile
import uuid

from fixtures.kafka_broker import Broker
from shop.config import Config


def fresh_config(broker: Broker) -> Config:
    """A configuration whose topics (and snapshot folder) no other test uses."""
    return Config(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        sample_rows=0,
        snapshot_dir=tempfile.mkdtemp(prefix="shop-snapshots-"),
    )
