"""Snapshots of a projection: loaded at start, written now and then and at shutdown.

A snapshot is a cache that shortens a restart: the projection loads it and replays only the events
after the offset it covers. Kafka stays the truth. A snapshot that is missing, of another format
version, damaged, or of another topic (another topic id or cluster id, or covering offsets the
topic does not have) is logged and ignored, and the projection replays its whole topic. The file
is written and checked in Rust (core_rs/src/snapshot.rs): a checksum over everything, written to a
temporary file, synced, and renamed over the previous one.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Protocol

from confluent_kafka import KafkaException

from shop import _core
from shop.config import Config
from shop.kafka import admin

log = logging.getLogger(__name__)


class Snapshotting(Protocol):
    """What core_rs projections offer for snapshots."""

    @property
    def offset(self) -> int: ...

    def write_snapshot(self, path: str, topic: str, topic_id: str, cluster_id: str) -> int: ...

    def load_snapshot(
        self, path: str, topic: str, topic_id: str, cluster_id: str, end_offset: int
    ) -> int: ...


def snapshot_path(config: Config, topic: str) -> Path | None:
    """Where the snapshot of `topic` (with its prefix) lives; None when snapshots are off."""
    return Path(config.snapshot_dir) / f"{topic}.snapshot" if config.snapshot_dir else None


class Snapshots:
    """The snapshots of one projection, applied from `topic` (the full name, prefix included)."""

    def __init__(self, config: Config, topic: str, projection: Snapshotting) -> None:
        self.config = config
        self.topic = topic
        self.projection = projection
        self.path = snapshot_path(config, topic)
        self.identity: admin.TopicIdentity | None = None
        self.covered = -1  # offset covered by the snapshot last loaded or written
        self.taken_at = time.monotonic()

    def restore(self, end_offset: int) -> None:
        """Loads the snapshot if it is valid for the topic as it is now (`end_offset` is its last
        offset); logs why not otherwise. Without the topic's identity no snapshot is loaded or written."""
        if self.path is None:
            return
        try:
            self.identity = admin.topic_identity(self.config, self.topic)
        except KafkaException as exc:
            log.warning("snapshots of %s are off: cannot learn the topic's identity (%s)", self.topic, exc)
            return
        if not self.path.exists():
            log.warning("no snapshot of %s at %s: replaying the whole topic", self.topic, self.path)
            return
        started = time.monotonic()
        identity = self.identity
        try:
            offset = self.projection.load_snapshot(
                str(self.path), identity.topic, identity.topic_id, identity.cluster_id, end_offset
            )
        except (_core.SnapshotError, OSError) as exc:
            log.warning("snapshot %s not used (%s): replaying the whole topic", self.path, exc)
            return
        self.covered = offset
        log.info(
            "loaded the snapshot of %s at offset %d in %.2fs", self.topic, offset, time.monotonic() - started
        )

    def due(self) -> bool:
        """Enough events applied, or enough time passed with some applied, since the last snapshot."""
        applied = self.projection.offset - self.covered
        if self.path is None or applied <= 0:
            return False
        if self.config.snapshot_events > 0 and applied >= self.config.snapshot_events:
            return True
        interval = self.config.snapshot_interval
        return interval > 0 and time.monotonic() - self.taken_at >= interval

    def write(self, reason: str) -> None:
        """Writes a snapshot if anything was applied since the last one. A failure is logged, not
        raised: a full disk must not stop the projection, only make the next start slower."""
        if self.path is None or self.identity is None or self.projection.offset <= self.covered:
            return
        started = time.monotonic()
        identity = self.identity
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            offset = self.projection.write_snapshot(
                str(self.path), identity.topic, identity.topic_id, identity.cluster_id
            )
        except OSError as exc:
            log.error("cannot write the snapshot of %s to %s: %s", self.topic, self.path, exc)
            return
        self.covered = offset
        self.taken_at = time.monotonic()
        log.info(
            "wrote the snapshot of %s at offset %d (%s) in %.2fs",
            self.topic,
            offset,
            reason,
            self.taken_at - started,
        )
