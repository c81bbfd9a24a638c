"""A configuration of its own for each test: its topics and snapshots are not shared."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from fixtures.kafka_broker import Broker
from shop.config import Config
from shop.shoppers import write_master_key


def fresh_config(broker: Broker) -> Config:
    """A configuration whose topics (and snapshot folder, and master key) no other test uses."""
    snapshots = tempfile.mkdtemp(prefix="shop-snapshots-")
    master_key = str(Path(snapshots).with_name(Path(snapshots).name + ".key"))
    write_master_key(master_key)
    return Config(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        sample_rows=0,
        snapshot_dir=snapshots,
        master_key_file=master_key,
    )
