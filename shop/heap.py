"""Giving the heap's free memory back to the system. glibc's malloc keeps what a thread frees in
that thread's arena, for its next allocations, and most of what the shop frees it frees once: the
consumers' fetch buffers and the relays' batches while the projections catch up at start. At
1,000,000 products a shop that had just relayed everything held 3,091 MiB; `malloc_trim(0)` gave
600 MiB of it back in about 0.4 s, without slowing reads after it (bench/results/
heap-trim-2026-12-03.md). So once the shop is ready it trims, and then every `heap_trim_interval`
seconds (Linux with glibc; elsewhere a no-op). 10 by default: a pass that finds little to give back
takes about a millisecond at 10^6 products, and a start from snapshots frees 60-120 MiB more after
its first writes (each projection's second copy cloned, checkout's own products replaced by the
catalog's), which stays resident until the next pass (bench/results/heap-trim-2026-12-04.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from shop.huge_pages import collapse_resident
from shop.kafka.worker import Worker
from shop.libc import LIBC, ON_GLIBC

log = logging.getLogger(__name__)

READY_POLL_S = 1.0


def trim() -> None:
    """Returns the free memory of every arena to the system (whole pages within free chunks, not
    only a heap's top)."""
    if ON_GLIBC and LIBC is not None:
        LIBC.malloc_trim(0)


def trim_and_collapse() -> int:
    """Trims, then puts what stays resident onto huge pages (`collapse_resident`): the trimmer's
    pass. Returns the bytes on huge pages."""
    trim()
    return collapse_resident()


class HeapTrimmer(Worker):
    """Trims the heap once `ready()` (polled every READY_POLL_S), then every `interval` seconds;
    each pass also puts what stays resident onto huge pages (`trim_and_collapse`)."""

    def __init__(self, interval: float, ready: Callable[[], bool]) -> None:
        super().__init__("heap-trimmer")
        self.interval = interval
        self.ready = ready
        self.trims = 0  # how many trims ran (for tests and the curious)

    def work(self) -> None:
        while not self.ready():
            if self.stopping.wait(READY_POLL_S):
                return
        huge = self._trim()
        log.info("ready: freed heap memory given back to the system, %d MiB on huge pages", huge >> 20)
        while not self.stopping.wait(self.interval):
            self._trim()

    def _trim(self) -> int:
        """Bytes on huge pages after the trim."""
        huge = trim_and_collapse()
        self.trims += 1
        return huge
