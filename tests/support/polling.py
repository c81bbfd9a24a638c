"""Waiting for what happens asynchronously (a consumer applying, a process restarting)."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(
    check: Callable[[], bool],
    timeout: float = 30.0,
    what: str = "the condition",
    detail: Callable[[], str] | None = None,
) -> None:
    """Polls `check()` until it is true; fails naming `what` after `timeout` seconds, with what
    `detail()` tells of the state at that moment (a log's tail, say)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            message = f"{what}: not reached in {timeout:.0f}s"
            raise AssertionError(f"{message}\n{detail()}" if detail else message)
        time.sleep(0.1)
