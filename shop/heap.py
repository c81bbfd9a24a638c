"""Giving the heap's free memory back to the system. glibc's malloc keeps what a thread frees in
that thread's arena, for its next allocations, and most of what the shop frees it frees once: the
consumers' fetch buffers and the relays' batches while the projections catch up at start. At
1,000,000 products a shop that had just relayed everything held 3,091 MiB; `malloc_trim(0)` gave
600 MiB of it back in about 0.4 s, without slowing reads after it (bench/results/
heap-trim-2026-12-03.md). So once the shop is ready it trims, and then every `heap_trim_interval`
seconds, which costs next to nothing when little was freed since (Linux with glibc; elsewhere a
no-op). Between those, it trims as soon as the process holds GROWTH_TRIGGER more resident bytes
than after the last trim: a start from snapshots frees 60-120 MiB after its first writes (cloning
each projection's second copy, checkout taking the catalog's products), which would otherwise stay
resident until the next interval (bench/results/heap-trim-2026-12-04.md). malloc's own count of
free bytes (`mallinfo2`) cannot tell: it counts the free bytes a trim gave back already too."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from shop.huge_pages import collapse_resident
from shop.kafka.worker import Worker
from shop.libc import LIBC, ON_GLIBC

log = logging.getLogger(__name__)

POLL_S = 1.0
GROWTH_TRIGGER = 32 << 20  # resident bytes more than after the last trim: worth a trim now
GROWTH_GAP_S = 5.0  # the least time between trims for growth: a growing model costs one in that time
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def trim() -> None:
    """Returns the free memory of every arena to the system (whole pages within free chunks, not
    only a heap's top)."""
    if ON_GLIBC and LIBC is not None:
        LIBC.malloc_trim(0)


def resident_bytes() -> int:
    """This process's resident memory (0 where there is no /proc)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except OSError:
        return 0


def trim_and_collapse(resident: Callable[[], int] = resident_bytes) -> tuple[int, int]:
    """Trims, then puts what stays resident onto huge pages (`collapse_resident`): the trimmer's
    pass. Returns the resident bytes right after the trim (the collapse takes seconds once loaded,
    and what is allocated meanwhile is not the trim's) and the bytes on huge pages."""
    trim()
    trimmed = resident()
    return trimmed, collapse_resident()


class HeapTrimmer(Worker):
    """Trims the heap once `ready()` (polled every POLL_S), then every `interval` seconds, and
    whenever `resident()` has grown by GROWTH_TRIGGER since the last trim, at least GROWTH_GAP_S
    after it; each pass also puts what stays resident onto huge pages (`trim_and_collapse`)."""

    def __init__(
        self, interval: float, ready: Callable[[], bool], resident: Callable[[], int] = resident_bytes
    ) -> None:
        super().__init__("heap-trimmer")
        self.interval = interval
        self.ready = ready
        self.resident = resident
        self.trims = 0  # how many trims ran (for tests and the curious)

    def work(self) -> None:
        poll = min(POLL_S, self.interval)
        while not self.ready():
            if self.stopping.wait(poll):
                return
        resident_after, huge = self._trim()
        log.info("ready: freed heap memory given back to the system, %d MiB on huge pages", huge >> 20)
        last = time.monotonic()
        while not self.stopping.wait(poll):
            since = time.monotonic() - last
            grown = self.resident() - resident_after if since >= GROWTH_GAP_S else 0
            if grown >= GROWTH_TRIGGER or since >= self.interval:
                resident_after, _ = self._trim()
                last = time.monotonic()
                log.debug("trimmed: %d MiB resident, %d MiB more before", resident_after >> 20, grown >> 20)

    def _trim(self) -> tuple[int, int]:
        """The resident bytes right after the trim, and the bytes on huge pages."""
        passed = trim_and_collapse(self.resident)
        self.trims += 1
        return passed
