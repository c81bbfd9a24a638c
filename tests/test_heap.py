"""The heap's freed memory goes back to the system: trim() on glibc, and the shop's trimmer once it
is ready and then at its interval."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest

from bench.processes import rss_bytes
from fixtures.kafka_broker import Broker
from shop import heap
from shop.libc import ON_GLIBC
from tests.support.asgi import running_app

MIB = 1 << 20
BLOCK = 64 * 1024  # below malloc's mmap threshold: taken from the thread's arena, not mapped
BLOCKS = 3_000


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.skipif(not ON_GLIBC, reason="malloc_trim is glibc's")
def test_trim_gives_back_what_a_thread_freed_between_live_blocks() -> None:
    """Blocks freed between blocks still in use are holes the heap cannot shrink over: they stay
    resident until trimmed, as a consumer's fetch buffers do."""
    kept: list[bytes] = []
    freed: list[bytes] = []
    filled = threading.Event()
    release = threading.Event()

    def fill_then_free() -> None:
        for i in range(BLOCKS):
            freed.append(bytes([i % 251]) * BLOCK)  # written: resident
            kept.append(bytes([i % 7]) * 64)  # keeps the next hole from joining the last
        filled.set()
        release.wait()
        freed.clear()

    start = rss_bytes(os.getpid())
    worker = threading.Thread(target=fill_then_free)
    worker.start()
    filled.wait()
    peak = rss_bytes(os.getpid())
    release.set()
    worker.join()
    heap.trim()
    after = rss_bytes(os.getpid())
    size = BLOCKS * BLOCK
    # Untrimmed, about two thirds stay resident here (the rest is the heap's shrunk top).
    assert peak - start >= size * 0.9, f"{(peak - start) / MIB:.0f} MiB resident of {size / MIB:.0f}"
    assert after - start <= size // 4, f"{(after - start) / MIB:.0f} MiB still resident of {size / MIB:.0f}"
    assert len(kept) == BLOCKS


def test_the_trimmer_waits_for_ready_then_trims_at_its_interval() -> None:
    ready = threading.Event()
    trimmer = heap.HeapTrimmer(0.05, ready.is_set)
    trimmer.start()
    try:
        time.sleep(heap.READY_POLL_S * 1.5)
        assert trimmer.trims == 0
        ready.set()
        wait_for(lambda: trimmer.trims >= 3)
    finally:
        trimmer.stop()
    stopped_at = trimmer.trims
    time.sleep(0.2)
    assert trimmer.trims == stopped_at


def test_a_shop_trims_once_it_is_ready(broker: Broker) -> None:
    with running_app(broker) as app:
        assert app.shop is not None
        wait_for(lambda: app.shop is not None and app.shop.heap_trimmer.trims >= 1, timeout=5)
