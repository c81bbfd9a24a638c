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
        # Long-lived followers (cart event streams): released like waiters, not counted as commands.
        self._followers: list[tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]] = []

    def advance(self, offset: int) -> None:
        """Called by the consumer thread after a batch is published."""
        with self._cond:
            self.applied = offset
            self._cond.notify_all()
        if self._waiters or self._followers:
            for loop in {loop for _, _, loop in self._waiters + self._followers}:
                loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        self._release_from(self._waiters)
        self._release_from(self._followers)

    def _release_from(
        self, waiters: list[tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]]
    ) -> None:
        applied = self.applied
        keep = []
        for offset, future, loop in waiters:
            if offset <= applied:
                if not future.done():
                    future.set_result(None)
            elif not future.done():
                keep.append((offset, future, loop))
        waiters[:] = keep  # in place: a waiter being added holds this very list

    async def wait(self, offset: int, timeout: float) -> bool:
        """True once `offset` is applied; False after `timeout` seconds."""
        return await self._wait(self._waiters, offset, timeout)

    async def follow(self, offset: int, timeout: float) -> bool:
        """True once an offset after `offset` is applied; False after `timeout` seconds. For streams
        that follow the projection for as long as a client listens: not counted in `waiting`."""
        return await self._wait(self._followers, offset + 1, timeout)

    async def _wait(
        self,
        waiters: list[tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]],
        offset: int,
        timeout: float,
    ) -> bool:
        if self.applied >= offset:
            return True
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (offset, future, loop)
        waiters.append(entry)
        if self.applied >= offset:  # advanced between the first check and the append
            self._release()
        try:
            async with asyncio.timeout(timeout):  # no extra task, unlike wait_for
                await future
            return True
        except TimeoutError:
            return False
        finally:
            if entry in waiters:  # timed out or cancelled: a follower must not pile up entries
                waiters.remove(entry)

    def wait_blocking(self, offset: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.applied >= offset, timeout)

    @property
    def waiting(self) -> int:
        return len(self._waiters)
