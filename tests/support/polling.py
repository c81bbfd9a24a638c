"""Waiting for what happens asynchronously (a consumer applying, a process restarting)."""

from __future__ import annotations

from collections.abc import Callable

from fixtures.host import NotReached, wait_until


def eventually(
    check: Callable[[], bool],
    timeout: float = 30.0,
    what: str = "the condition",
    detail: Callable[[], str] | None = None,
) -> None:
    """Polls `check()` until it is true; fails naming `what` after `timeout` seconds, with what
    `detail()` tells of the state at that moment (a log's tail, say)."""
    try:
        wait_until(check, what, timeout, every=0.1)
    except NotReached:
        message = f"{what}: not reached in {timeout:.0f}s"
        raise AssertionError(f"{message}\n{detail()}" if detail else message) from None
