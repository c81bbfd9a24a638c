"""The circuit breaker's states, on a clock the test moves (no sleeping)."""

from __future__ import annotations

import pytest

from shop.kafka.breaker import CLOSED, HALF_OPEN, OPEN, BreakerOpen, CircuitBreaker
from shop.retry import backoff


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, down: list[bool] | None = None) -> CircuitBreaker:
    flag = down if down is not None else [False]
    return CircuitBreaker(3, 5.0, broker_down=lambda: flag[0], clock=clock)


def test_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(2):
        b.before_write()
        b.failed()
    b.before_write()
    b.succeeded()  # a success in between resets the count
    for _ in range(2):
        b.before_write()
        b.failed()
    assert b.state == CLOSED
    b.before_write()
    b.failed()
    assert b.state == OPEN
    with pytest.raises(BreakerOpen) as refused:
        b.before_write()
    assert refused.value.retry_after == 5
    assert "3 writes in a row" in refused.value.reason
    assert b.rejected == 1
    assert b.describe() != True  # noqa: E712 - readiness shows the open breaker as a reason


def test_half_open_lets_one_probe_through_and_closes_on_its_success() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failed()
    clock.now += 2
    with pytest.raises(BreakerOpen) as refused:
        b.before_write()
    assert refused.value.retry_after == 3  # the rest of the cooldown
    clock.now += 3
    assert b.state == HALF_OPEN
    assert b.describe() is True
    b.before_write()  # the probe
    with pytest.raises(BreakerOpen) as refused:
        b.before_write()  # only one probe at a time
    assert refused.value.retry_after == 1
    b.succeeded()
    assert b.state == CLOSED
    b.before_write()


def test_a_failed_probe_opens_again_for_a_full_cooldown() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failed()
    clock.now += 5
    b.before_write()
    b.failed()
    assert b.state == OPEN
    clock.now += 4.5
    with pytest.raises(BreakerOpen):
        b.before_write()


def test_an_abandoned_probe_frees_the_probe() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failed()
    clock.now += 5
    b.before_write()
    b.abandoned()
    b.before_write()  # another probe may go


def test_an_unreachable_broker_fails_writes_fast_in_any_state() -> None:
    clock = Clock()
    down = [True]
    b = breaker(clock, down)
    assert b.state == OPEN
    with pytest.raises(BreakerOpen) as refused:
        b.before_write()
    assert "no Kafka broker is reachable" in refused.value.reason
    assert b.describe() is True  # readiness judges the broker itself, after broker_timeout
    down[0] = False
    assert b.state == CLOSED
    b.before_write()


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    delays = backoff(first=0.1, cap=1.0)
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    samples = [next(delays) for _ in ceilings]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(samples, ceilings, strict=True))
    assert len(set(samples)) > 1  # jittered, not a fixed schedule
