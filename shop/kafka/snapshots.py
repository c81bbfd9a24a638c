"""Snapshots of a projection: loaded at start, written now and then and at shutdown.

A snapshot is a cache that shortens a restart: the projection loads it and replays only the events
after the offset it covers. Kafka stays the truth. A snapshot that is missing, of another format
version, damaged, or of another topic (another topic id or cluster id, or covering offsets the
topic does not have) is logged and ignored, and the projection replays its whole topic. The file
is written and checked in Rust (core_rs/src/snapshot.rs): a checksum over everything, written to a
temporary file, synced, and renamed over the previous one.

Writing a snapshot holds the projection's published copy, and the batch after next waits for that
copy. Projections small enough to serialize into memory (checkout, fulfilment) therefore hold it
only while they serialize, in the thread that applies batches; the file is written and synced by a
background thread while batches go on. The catalog (hundreds of MB) streams to the file instead.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from confluent_kafka import KafkaException

from shop import _core
from shop.config import Config
from shop.kafka import admin
from shop.threads import name_this_thread

log = logging.getLogger(__name__)


class Snapshotting(Protocol):
    """What core_rs projections offer for snapshots."""

    @property
    def offset(self) -> int: ...

    def write_snapshot(self, path: str, topic: str, topic_id: str, cluster_id: str) -> int: ...

    def sizes(self) -> dict[str, int]: ...

    def load_snapshot(
        self, path: str, topic: str, topic_id: str, cluster_id: str, end_offset: int
    ) -> int: ...

    @property
    def snapshot_in_memory(self) -> bool:
        """Small enough to be serialized into memory (`save_snapshot`) rather than streamed."""
        ...

    def save_snapshot(self, topic: str, topic_id: str, cluster_id: str) -> _core.SavedSnapshot: ...


def snapshot_path(config: Config, topic: str) -> Path | None:
    """Where the snapshot of `topic` (with its prefix) lives; None when snapshots are off."""
    return Path(config.snapshot_dir) / f"{topic}.snapshot" if config.snapshot_dir else None


class Snapshots:
    """The snapshots of one projection, applied from `topic` (the full name, prefix included)."""

    # After a failed write, the next one waits this long: a full disk would otherwise cost a
    # serialization after every batch.
    retry_s = 10.0

    def __init__(self, config: Config, topic: str, projection: Snapshotting) -> None:
        self.config = config
        self.topic = topic
        self.projection = projection
        self.path = snapshot_path(config, topic)
        self.identity: admin.TopicIdentity | None = None
        # Offset covered by the snapshot last loaded or written (durably); set by the thread that
        # writes it, read by the thread that applies batches once that one is done.
        self.covered = -1
        self.taken_at = time.monotonic()
        self.failed_at: float | None = None
        self._persisting: threading.Thread | None = None

    def identify(self) -> None:
        """Learns the topic's identity, which a snapshot must carry to be loaded and which a
        snapshot written carries; without it (logged) no snapshot is loaded or written."""
        if self.path is None:
            return
        try:
            self.identity = admin.topic_identity(self.config, self.topic)
        except KafkaException as exc:
            log.warning("snapshots of %s are off: cannot learn the topic's identity (%s)", self.topic, exc)

    def restore(self, end_offset: int) -> None:
        """Loads the snapshot if it is valid for the topic as it is now (`end_offset` is its last
        offset, `identify` told its identity); logs why not otherwise."""
        identity = self.identity
        if self.path is None or identity is None:
            return
        if not self.path.exists():
            log.warning("no snapshot of %s at %s: replaying the whole topic", self.topic, self.path)
            return
        started = time.monotonic()
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
        """Enough events applied, or enough time passed with some applied, since the last snapshot;
        none is being written, and the last attempt did not just fail. Enough events is
        SHOP_SNAPSHOT_EVENTS, or as many as the model holds items if that is more: a snapshot costs
        time in proportion to the model (in the applying thread, and read-your-writes answers wait
        for it), so it is taken no more often than the replay it saves would cost."""
        applied = self.projection.offset - self.covered
        if self.path is None or applied <= 0 or self.persisting:
            return False
        now = time.monotonic()
        if self.failed_at is not None and now - self.failed_at < self.retry_s:
            return False
        events = self.config.snapshot_events
        if events > 0 and applied >= events and applied >= self._items():
            return True
        interval = self.config.snapshot_interval
        return interval > 0 and now - self.taken_at >= interval

    def _items(self) -> int:
        return sum(self.projection.sizes().values())

    @property
    def persisting(self) -> bool:
        """A snapshot is being written by the background thread."""
        return self._persisting is not None and self._persisting.is_alive()

    def write(self, reason: str) -> None:
        """Writes a snapshot if anything was applied since the last one. A projection that saves
        into memory has it written in the background, unless `reason` is "shutdown": that one
        waits for the background write, then writes the last snapshot before returning. A failure
        is logged, not raised: a full disk must not stop the projection, only make the next start
        slower."""
        if reason == "shutdown":
            self.wait()
        elif self.persisting:
            return  # one at a time: the next is due again once this one is written
        if self.path is None or self.identity is None or self.projection.offset <= self.covered:
            return
        if self.projection.snapshot_in_memory:
            self._save(self.projection, self.identity, reason)
        else:
            self._stream(self.identity, reason)

    def wait(self) -> None:
        """Returns once no snapshot is being written in the background."""
        if self._persisting is not None:
            self._persisting.join()

    def _save(self, projection: Snapshotting, identity: admin.TopicIdentity, reason: str) -> None:
        """Serializes here (the only part that holds the model), then persists in the background,
        or here at shutdown."""
        started = time.monotonic()
        saved = projection.save_snapshot(identity.topic, identity.topic_id, identity.cluster_id)
        serialize_s = time.monotonic() - started

        if reason == "shutdown":
            self._persist(saved, reason, started, serialize_s)
            return

        def persist() -> None:
            name_this_thread()
            self._persist(saved, reason, started, serialize_s)

        self._persisting = threading.Thread(target=persist, name=f"snapshot-{self.topic}", daemon=True)
        self._persisting.start()

    def _persist(self, saved: _core.SavedSnapshot, reason: str, started: float, serialize_s: float) -> None:
        """Writes the serialized snapshot to its file durably."""
        assert self.path is not None
        persist_started = time.monotonic()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            saved.write(str(self.path))
        except OSError as exc:
            self._failed(exc)
            return
        persist_s = time.monotonic() - persist_started
        self._written(
            saved.offset,
            reason,
            started,
            f"{len(saved)} bytes serialized in {serialize_s:.2f}s, persisted in {persist_s:.2f}s",
        )

    def _stream(self, identity: admin.TopicIdentity, reason: str) -> None:
        """Writes the snapshot straight to its file, holding the model throughout."""
        assert self.path is not None
        started = time.monotonic()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            offset = self.projection.write_snapshot(
                str(self.path), identity.topic, identity.topic_id, identity.cluster_id
            )
        except OSError as exc:
            self._failed(exc)
            return
        self._written(offset, reason, started, "streamed")

    def _written(self, offset: int, reason: str, started: float, how: str) -> None:
        self.covered = offset
        self.taken_at = time.monotonic()
        self.failed_at = None
        log.info(
            "wrote the snapshot of %s at offset %d (%s) in %.2fs (%s)",
            self.topic,
            offset,
            reason,
            self.taken_at - started,
            how,
        )

    def _failed(self, exc: OSError) -> None:
        self.failed_at = time.monotonic()
        log.error("cannot write the snapshot of %s to %s: %s", self.topic, self.path, exc)
