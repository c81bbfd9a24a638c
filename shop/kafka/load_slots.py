"""When the projections load their snapshots at start.

A snapshot load is bound by the cores and by memory: more loads at once than there are cores only
time-slice each, the one a start waits for among them. On two cores, the four loads of 10^6
products three at a time made a start 0.3 s slower than two at a time
(bench/results/snapshot-start-2026-12-06.md). So at most one load a core runs at once."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

# How often a waiting load looks at the loads it follows: they say they are done by an event,
# which does not wake it (a slot given back does).
WAIT_S = 0.1


def usable_cores() -> int:
    """The cores this process may run on (its affinity, as `taskset` sets it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(eq=False)  # compared by identity: a place in the line
class _Waiting:
    after: tuple[threading.Event, ...]

    def may_go(self) -> bool:
        return all(event.is_set() for event in self.after)


class LoadSlots:
    """At most `slots` loads at once. A load waits for the loads it follows (`after`, each an
    event set once that load is done); a slot that frees goes first to a load that follows
    another, whose chain a start waits for longest (checkout after the catalog), then to the
    load that waited longest."""

    def __init__(self, slots: int) -> None:
        self._free = max(slots, 1)
        self._line: list[_Waiting] = []
        self._changed = threading.Condition()

    @property
    def waiting(self) -> int:
        """Loads in line for a turn."""
        with self._changed:
            return len(self._line)

    @contextmanager
    def turn(self, after: Sequence[threading.Event], stopping: threading.Event) -> Iterator[bool]:
        """Yields True once this load may run, holding a slot until the block ends; False if
        `stopping` is set first. A load that others follow sets its event inside the block, so
        that the slot it gives back goes to them."""
        taken = self._take(_Waiting(tuple(after)), stopping)
        try:
            yield taken
        finally:
            if taken:
                with self._changed:
                    self._free += 1
                    self._changed.notify_all()

    def _take(self, waiting: _Waiting, stopping: threading.Event) -> bool:
        with self._changed:
            self._line.append(waiting)
            try:
                while not (self._free > 0 and self._next() is waiting):
                    if stopping.is_set():
                        return False
                    self._changed.wait(WAIT_S)
                self._free -= 1
                return True
            finally:
                self._line.remove(waiting)
                self._changed.notify_all()  # the next in line may be another load now

    def _next(self) -> _Waiting | None:
        """The load a free slot goes to."""
        ready = [waiting for waiting in self._line if waiting.may_go()]
        return next((waiting for waiting in ready if waiting.after), next(iter(ready), None))


# One for the process: its loads share its cores.
SNAPSHOT_LOADS = LoadSlots(usable_cores())
