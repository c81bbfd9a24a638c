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
from shop.libc import ON_GLIBC, ON_LINUX
from tests.support.asgi import running_app

MIB = 1 << 20
BLOCK = 64 * 1024  # below malloc's mmap threshold: taken from the thread's arena, not mapped
BLOCKS = 3_000
SIZE = BLOCKS * BLOCK


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def free_between_live_blocks(kept: list[bytes]) -> tuple[int, int]:
    """A thread writes BLOCKS blocks, each followed by a small one it keeps in `kept`, then frees
    the big ones: holes the heap cannot shrink over, resident until trimmed, as a consumer's fetch
    buffers are. Returns the resident bytes before and at the peak."""
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
    assert peak - start >= SIZE * 0.9, f"{(peak - start) / MIB:.0f} MiB resident of {SIZE / MIB:.0f}"
    return start, peak


def assert_given_back(start: int) -> None:
    after = rss_bytes(os.getpid())
    # Untrimmed, about two thirds stay resident here (the rest is the heap's shrunk top).
    assert after - start <= SIZE // 4, f"{(after - start) / MIB:.0f} MiB still resident of {SIZE / MIB:.0f}"


@pytest.mark.skipif(not ON_GLIBC, reason="malloc_trim is glibc's")
def test_trim_gives_back_what_a_thread_freed_between_live_blocks() -> None:
    kept: list[bytes] = []
    start, _ = free_between_live_blocks(kept)
    heap.trim()
    assert_given_back(start)
    assert len(kept) == BLOCKS


@pytest.mark.skipif(not ON_LINUX, reason="read from /proc")
def test_resident_bytes_is_the_process_resident_memory() -> None:
    assert abs(heap.resident_bytes() - rss_bytes(os.getpid())) < MIB


@pytest.mark.skipif(not ON_GLIBC, reason="malloc_trim is glibc's")
def test_the_trimmer_gives_back_what_was_freed_without_waiting_for_its_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(heap, "POLL_S", 0.05)
    # Longer than filling and freeing takes: a trim while the thread fills would give back nothing
    # and take the filled memory as its new baseline.
    monkeypatch.setattr(heap, "GROWTH_GAP_S", 3.0)
    trimmer = heap.HeapTrimmer(3600, lambda: True)
    trimmer.start()
    kept: list[bytes] = []
    try:
        wait_for(lambda: trimmer.trims == 1)
        start, _ = free_between_live_blocks(kept)
        wait_for(lambda: trimmer.trims == 2)
        assert_given_back(start)
        time.sleep(heap.GROWTH_GAP_S + 0.5)
        assert trimmer.trims == 2, "no growth since: no trim before the interval"
    finally:
        trimmer.stop()


def test_the_trimmer_waits_for_ready_then_trims_at_its_interval() -> None:
    ready = threading.Event()
    trimmer = heap.HeapTrimmer(0.05, ready.is_set)
    trimmer.start()
    try:
        time.sleep(heap.POLL_S * 1.5)
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


def test_the_trimmer_waits_until_the_process_grew_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "POLL_S", 0.05)
    monkeypatch.setattr(heap, "GROWTH_GAP_S", 0.1)
    resident = [0]
    trimmer = heap.HeapTrimmer(3600, lambda: True, lambda: resident[0])
    trimmer.start()
    try:
        wait_for(lambda: trimmer.trims == 1)
        resident[0] = heap.GROWTH_TRIGGER - 1
        time.sleep(0.5)
        assert trimmer.trims == 1, "too little growth for a trim"
        resident[0] = heap.GROWTH_TRIGGER
        wait_for(lambda: trimmer.trims == 2)
    finally:
        trimmer.stop()
