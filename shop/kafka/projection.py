"""The projection loop: one thread per context, consuming its internal topic in batches into Rust."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from shop import _core, metrics, tracing
from shop.config import Config
from shop.kafka import POLL_S, admin
from shop.kafka.consumer import consumer_settings
from shop.kafka.dead_letters import DeadLetters
from shop.kafka.load_slots import SNAPSHOT_LOADS
from shop.kafka.offsets import OffsetWatch
from shop.kafka.producer import Producer, librdkafka_strings
from shop.kafka.relay import caught_up_end
from shop.kafka.snapshots import Snapshots, Snapshotting
from shop.kafka.worker import Worker

if TYPE_CHECKING:
    from shop.kafka.relay import Relay

log = logging.getLogger(__name__)


# What a first start's projection catches up to until its bridges know their end (see `_hold`).
UNTIL_TOLD = 2**63 - 1


class Projection(Snapshotting, Protocol):
    """What core_rs projections offer to the loop."""

    def apply(self, batch: list[tuple[int, bytes]]) -> list[tuple[int, str]]: ...

    def catch_up_to(self, end: int) -> None: ...


class ProjectionLoop(Worker):
    """Applies `topic` to `projection` from its next offset on; `loaded` is set once the offset found
    at start is applied (at once for an empty topic). It starts from the projection's snapshot when
    there is a valid one, writes one when due once loaded (in the background where the projection
    can serialize into memory: see snapshots.py), and a last one when stopped, after waiting for
    any background write. Its snapshot is loaded in its turn (`SNAPSHOT_LOADS`: one load a core), once
    every event of `restore_after` is set: `restored` is another loop's, set once that loop is past
    its snapshot: loaded, none to load, or failed or stopped before.

    In a first start (its topic empty, no snapshot) the `bridges` into its topic relay everything
    their sources hold: it applies that to one copy only and publishes it once they caught up
    and it applied what they relayed by then (`published`; `loaded` is set at once, so that they
    start)."""

    def __init__(
        self,
        config: Config,
        topic: str,
        projection: Projection,
        producer: Producer,
        restore_after: Sequence[threading.Event] = (),
    ) -> None:
        super().__init__(f"projection-{topic}")
        self.config = config
        self.topic = config.topic(topic)
        self.projection = projection
        self.dead_letters = DeadLetters(config, self.topic, self.name, producer)
        self.watch = OffsetWatch()
        self.loaded = threading.Event()
        # Set once what was loaded is published: with `loaded`, or in a first start once held.
        self.published = threading.Event()
        self.bridges: list[Relay] = []  # the relays into its topic (`relay.bridge` adds them)
        self._holding = False
        self.restored = threading.Event()
        self.restore_after = restore_after
        self.end_at_start = -1
        self.end_offset = -1  # last offset of the topic, as of the last fetch
        self.last_progress = time.monotonic()
        self.last_poll = time.monotonic()
        self.snapshots = Snapshots(config, self.topic, projection)
        # This topic's metrics, looked up once: not a labelled lookup per applied batch.
        self._apply_seconds = metrics.APPLY_SECONDS.labels(self.topic)
        self._applied_events = metrics.APPLIED_EVENTS.labels(self.topic)
        self._span_name = f"apply {topic}"

    def work(self) -> None:
        settings = consumer_settings(self.config, f"shop-projection-{self.topic}")
        feed = _core.Feed(librdkafka_strings(settings), self.topic, self.watch.signal, tracing.enabled())
        try:
            if not self._restore(feed):
                return
        finally:
            self.restored.set()  # whatever became of this load, a loop waiting for it goes on
        # Without a snapshot, the events up to the end found now go to one copy of the model.
        self.projection.catch_up_to(self.end_at_start)
        self._holding = self._hold()
        start = self.projection.offset + 1
        self.watch.advance(self.projection.offset)
        self._check_loaded()
        feed.assign(start)
        log.info("loading %s from offset %d to %d", self.topic, start, self.end_at_start)
        started = time.monotonic()
        while not self._stopping.is_set():
            events, seconds, poison, errors, traced = feed.pump(
                self.projection, self.config.consume_batch, POLL_S
            )
            self.last_poll = time.monotonic()
            for error in errors:
                log.warning("consuming %s: %s", self.topic, error)
            self.end_offset = max(self.end_offset, feed.cached_high() - 1)
            if traced:
                tracing.record_applied(self._span_name, traced)
            if self._holding:
                self._holding = self._held(started)
            if events:
                self._applied(events, seconds, poison)
                if not self.loaded.is_set() and self._check_loaded():
                    log.info(
                        "loaded %s up to offset %d in %.2fs",
                        self.topic,
                        self.end_at_start,
                        time.monotonic() - started,
                    )
            if self.published.is_set() and self.snapshots.due():
                self.snapshots.write("due")
        self.snapshots.write("shutdown")

    def _restore(self, feed: _core.Feed) -> bool:
        """Learns the topic's end and identity, and loads the snapshot in its turn; False if
        stopped before."""
        _low, high = admin.retrying(
            lambda: admin.answered(feed.watermarks), f"reading the end of {self.topic}"
        )
        self.dead_letters.resume()
        self.end_at_start = self.end_offset = high - 1
        self.snapshots.identify()
        with SNAPSHOT_LOADS.turn(self.restore_after, self._stopping) as turn:
            if not turn:
                return False
            self.snapshots.restore(self.end_at_start)
            self.restored.set()  # before the slot frees: a load that follows this one takes it
        return True

    def stalled(self, timeout: float) -> str | None:
        """Why the loop looks stuck, or None: it stopped polling, or it has lag and applies nothing."""
        now = time.monotonic()
        if now - self.last_poll > timeout:
            return f"no poll for {now - self.last_poll:.0f}s"
        lag = self.end_offset - self.watch.applied
        if lag > 0 and now - self.last_progress > timeout:
            return f"lag {lag} and no progress for {now - self.last_progress:.0f}s"
        return None

    def _applied(self, events: int, seconds: list[float], poison: list[tuple[int, bytes, str]]) -> None:
        """Accounts for what a pump applied; copies its poison to the dead letters."""
        for batch_seconds in seconds:
            self._apply_seconds.observe(batch_seconds)
        self._applied_events.inc(events)
        for offset, value, error in poison:
            self._dead_letter(offset, value, error)
        self.last_progress = time.monotonic()

    def _check_loaded(self) -> bool:
        if self.projection.offset >= self.end_at_start:
            self.loaded.set()
            if not self._holding:
                self.published.set()
        return self.loaded.is_set()

    def _hold(self) -> bool:
        """In a first start, holds everything applied (one copy, unpublished) until told the end
        (`_held`): each event applied once, not to both copies. True if so."""
        first_start = self.end_at_start < 0 and self.projection.offset < 0 and self.bridges
        if first_start:
            self.projection.catch_up_to(UNTIL_TOLD)
        return bool(first_start)

    def _held(self, started: float) -> bool:
        """Still holding: the bridges have not all caught up, or what they relayed by then is not
        all applied. Tells the projection their end once known; it publishes on reaching it."""
        end = caught_up_end(self.bridges)
        if end is None:
            return True
        self.projection.catch_up_to(end)  # publishes at once if applied so far
        if self.projection.offset < end:
            return True
        offset = self.projection.offset
        self.watch.advance(offset)
        self.published.set()
        log.info("published %s at offset %d after %.2fs", self.topic, offset, time.monotonic() - started)
        return False

    def _dead_letter(self, offset: int, value: bytes, error: str) -> None:
        """Undecodable events are kept, not dropped: copied to `<topic>_dead` for inspection. The
        model skipped it already (its offset advanced, nothing else changed)."""
        self.dead_letters.copy(offset, value, error, self.acknowledged)
