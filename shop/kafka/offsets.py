"""Waiting for a projection to reach an offset, from asyncio handlers or from plain threads."""

from __future__ import annotations

import asyncio
import threading


class OffsetWatch:
    """The applied offset of one projection. The consumer thread advances it; readers wait on it."""

    def __init__(self) -> None:
        self.applied = -1
        self._cond = threading.Condition()
        self._waiters: list[tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]] = []

    def advance(self, offset: int) -> None:
        """Called by the consumer thread after a batch is published."""
        with self._cond:
            self.applied = offset
            self._cond.notify_all()
        if self._waiters:
            for loop in {loop for _, _, loop in self._waiters}:
                loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        applied = self.applied
        keep = []
        for offset, future, loop in self._waiters:
            if offset <= applied:
                if not future.done():
                    future.set_result(None)
            elif not future.done():
                keep.append((offset, future, loop))
        self._waiters = keep

    async def wait(self, offset: int, timeout: float) -> bool:
        """True once `offset` is applied; False after `timeout` seconds."""
        if self.applied >= offset:
            return True
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append((offset, future, loop))
        if self.applied >= offset:  # advanced between the first check and the append
            self._release()
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False

    def wait_blocking(self, offset: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.applied >= offset, timeout)

    @property
    def waiting(self) -> int:
        return len(self._waiters)
