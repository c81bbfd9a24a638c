"""Retries with exponential backoff and full jitter, for calls that are safe to repeat: admin and
metadata requests, waits at start, a relay restarting from the position Kafka holds.

Full jitter (a random delay between 0 and the current cap) keeps many clients that failed together
from retrying together. Writes of commands are never retried here: see README "Retries".
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY_S = 0.05
MAX_DELAY_S = 2.0
# The shop's own generator: its background threads draw jitter without touching the global one,
# which a test or library may have seeded (Hypothesis warns when that state moves under it).
_jitter = random.Random()


def backoff(first: float = FIRST_DELAY_S, cap: float = MAX_DELAY_S) -> Iterator[float]:
    """Endless delays: each a random share of a ceiling that doubles from `first` up to `cap`."""
    ceiling = first
    while True:
        yield _jitter.uniform(0, ceiling)
        ceiling = min(ceiling * 2, cap)


def retry(
    call: Callable[[], T],
    what: str,
    transient: Callable[[Exception], bool],
    timeout: float,
    stopping: threading.Event | None = None,
) -> T:
    """`call()` until it returns, retrying transient failures with backoff for up to `timeout`
    seconds; the last failure is raised once the time is up (or at once if it is not transient).
    `stopping`, when set, ends the wait early with the last failure."""
    deadline = time.monotonic() + timeout
    delays = backoff()
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as exc:
            delay = next(delays)
            if not transient(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("%s failed (attempt %d, retrying in %.2fs): %s", what, attempt, delay, exc)
            if stopping is not None:
                if stopping.wait(delay):
                    raise
            else:
                time.sleep(delay)
