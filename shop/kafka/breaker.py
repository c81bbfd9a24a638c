"""The circuit breaker on the broker: when writes keep failing, fail the next ones at once with 503
instead of letting every request wait out the produce timeout (and pile up) for the same answer.

    closed ── `failures` consecutive failed writes ──> open
    open ── `cooldown` seconds later, the next write goes through as a probe ──> half_open
    half_open ── the probe is acknowledged ──> closed;  the probe fails ──> open (a new cooldown)

While the broker watch reports no broker reachable, writes fail fast whatever the state is, and
no probe is sent: there is nothing to probe.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
STATES = (CLOSED, HALF_OPEN, OPEN)


class BreakerOpen(Exception):
    """A write refused without trying; retry after `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(
        self,
        failures: int,
        cooldown: float,
        broker_down: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = max(1, failures)
        self.cooldown = cooldown
        self.broker_down = broker_down
        self.clock = clock
        self.failures = 0  # consecutive failed writes
        self.opened_at = 0.0
        self.rejected = 0  # writes refused without trying
        self._state = CLOSED
        self._probing = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """The state as clients experience it: open while no broker is reachable."""
        if self.broker_down():
            return OPEN
        with self._lock:
            if self._state == OPEN and self._cooled_down():
                return HALF_OPEN
            return self._state

    def before_write(self) -> None:
        """Raises BreakerOpen when the write must not be tried; else lets it through (as the one
        probe when the breaker is half open)."""
        if self.broker_down():
            self._reject("no Kafka broker is reachable", self._retry_after())
        with self._lock:
            if self._state == CLOSED:
                return
            if self._state == OPEN and self._cooled_down():
                self._state = HALF_OPEN
            if self._state == HALF_OPEN and not self._probing:
                self._probing = True
                return
            retry_after = 1 if self._state == HALF_OPEN else self._retry_after()
            reason = f"{self.failures} writes in a row were not acknowledged by Kafka"
        self._reject(reason, retry_after)

    def succeeded(self) -> None:
        with self._lock:
            self.failures = 0
            self._state = CLOSED
            self._probing = False

    def failed(self) -> None:
        with self._lock:
            self.failures += 1
            if self._state == HALF_OPEN or self.failures >= self.threshold:
                self._state = OPEN
                self.opened_at = self.clock()
            self._probing = False

    def abandoned(self) -> None:
        """A write that ended without an answer (its request was cancelled): it proves nothing,
        but a probe must not stay taken, or the breaker would never probe again."""
        with self._lock:
            self._probing = False

    def describe(self) -> bool | str:
        """For /readyz: True unless writes fail fast because of their own failures."""
        with self._lock:
            if self._state == CLOSED or self._cooled_down():
                return True
            left = self.cooldown - (self.clock() - self.opened_at)
            return f"open: {self.failures} writes in a row failed; probing again in {left:.0f}s"

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the rest of the cooldown while open, else 1."""
        with self._lock:
            return self._retry_after() if self._state == OPEN else 1

    def _cooled_down(self) -> bool:
        return self.clock() - self.opened_at >= self.cooldown

    def _retry_after(self) -> int:
        left = self.cooldown - (self.clock() - self.opened_at) if self._state == OPEN else self.cooldown
        return max(1, math.ceil(left))

    def _reject(self, reason: str, retry_after: int) -> None:
        self.rejected += 1
        raise BreakerOpen(reason, retry_after)
