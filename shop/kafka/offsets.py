"""Waiting for a projection to reach an offset, from asyncio handlers or from plain threads."""

from __future__ import annotations

import asyncio
import threading

# A write acknowledged by Kafka and waiting to be applied: its offset, the future that answers it
# with that offset, and the event loop the future belongs to.
Held = tuple[int, asyncio.Future[int], asyncio.AbstractEventLoop]


class NotApplied(Exception):
    """A write Kafka acknowledged that the projection did not apply in time."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"offset {offset} is not applied yet")
        self.offset = offset


class OffsetWatch:
    """The applied offset of one projection. The consumer thread advances it; readers wait on it."""

    def __init__(self) -> None:
        self.applied = -1
        self._cond = threading.Condition()
        self._waiters: list[tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]] = []
        # Long-lived followers (cart event streams): released like waiters, not counted as commands.
        self._followers: list[tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]] = []
        # Writes handed over by the producer's poll thread as Kafka acknowledged them (see `hold`).
        self._held: list[Held] = []

    def advance(self, offset: int) -> None:
        """Called by the consumer thread after a batch is published."""
        with self._cond:
            self.applied = offset
            self._cond.notify_all()
            held, self._held = _split(self._held, offset)
        # Only loops with a waiter this offset releases are woken: the checkout projection
        # advances with every catalog change too, and a wakeup of a busy loop costs a thread switch.
        due = {loop for waiting, _, loop in self._waiters + self._followers if waiting <= offset}
        for loop in due | {loop for _, _, loop in held}:
            loop.call_soon_threadsafe(self._release, [entry for entry in held if entry[2] is loop])

    def hold(self, offset: int, future: asyncio.Future[int], loop: asyncio.AbstractEventLoop) -> bool:
        """From any thread: keeps the write at `offset` until it is applied, then answers `future`
        with the offset on `loop`. False if it is applied already (the caller answers it then).
        The write's acknowledgement thus wakes no event loop: only its application does."""
        with self._cond:
            if self.applied >= offset:
                return False
            self._held.append((offset, future, loop))
            return True

    def forget(self, future: asyncio.Future[int]) -> None:
        """A held write whose request gave up (timed out, cancelled) is no longer waited for."""
        with self._cond:
            self._held = [entry for entry in self._held if entry[1] is not future]

    def _release(self, held: list[Held] | None = None) -> None:
        for offset, future, _loop in held or ():
            if not future.done():
                future.set_result(offset)
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
        return len(self._waiters) + len(self._held)


def _split(held: list[Held], applied: int) -> tuple[list[Held], list[Held]]:
    """(the writes `applied` covers, the others)."""
    if not held:
        return [], held
    return [e for e in held if e[0] <= applied], [e for e in held if e[0] > applied]
