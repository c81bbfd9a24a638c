"""Waiting for a projection to reach an offset, from asyncio handlers or from plain threads."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from typing import Any, TypeVar

from shop import _core

# A write acknowledged by Kafka and waiting to be applied: its offset, the future that answers it
# with that offset, and the event loop the future belongs to.
Held = tuple[int, asyncio.Future[int], asyncio.AbstractEventLoop]
# A request waiting for an offset: the offset, its future and its event loop.
Waiting = tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]
T = TypeVar("T", bound=tuple[int, "asyncio.Future[Any]", asyncio.AbstractEventLoop])
# What OffsetSignal.want is told when no event loop waits.
NOBODY = 2**63 - 1


class NotApplied(Exception):
    """A write Kafka acknowledged that the projection did not apply in time."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"offset {offset} is not applied yet")
        self.offset = offset


class OffsetWatch:
    """The applied offset of one projection, kept by Rust (`_core.OffsetSignal`): the thread that
    applies batches publishes it there without the GIL, threads wait for it on a condition
    variable, and each event loop that waits for it reads an eventfd that Rust writes once an
    offset at or past the lowest one wanted is applied. Futures are only ever answered on their
    own loop."""

    def __init__(self) -> None:
        self.signal = _core.OffsetSignal()
        self._lock = threading.Lock()
        self._waiters: list[Waiting] = []
        # Long-lived followers (cart event streams): released like waiters, not counted as commands.
        self._followers: list[Waiting] = []
        # Writes handed over by the producer's poll thread as Kafka acknowledged them (see `hold`).
        self._held: list[Held] = []
        self._wakers: dict[asyncio.AbstractEventLoop, int] = {}

    @property
    def applied(self) -> int:
        return int(self.signal.applied)

    def advance(self, offset: int) -> None:
        """Publishes `offset` as applied (a loaded snapshot; batches are published by Rust)."""
        self.signal.advance(offset)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """On `loop`'s thread, before anything on it waits: gives the loop an eventfd to be woken
        through. Loops that are closed meanwhile give theirs back."""
        if loop in self._wakers:
            return
        for closed in [other for other in self._wakers if other.is_closed()]:
            self.signal.remove_waker(self._wakers.pop(closed))
        fd = self.signal.add_waker()
        loop.add_reader(fd, self._woken, loop, fd)
        self._wakers[loop] = fd

    def hold(self, offset: int, future: asyncio.Future[int], loop: asyncio.AbstractEventLoop) -> bool:
        """From any thread: keeps the write at `offset` until it is applied, then answers `future`
        with the offset on `loop` (attached). False if it is applied already (the caller answers it
        then). The write's acknowledgement thus wakes no event loop: only its application does."""
        with self._lock:
            if self.applied >= offset:
                return False
            self._held.append((offset, future, loop))
            self._want()
        return True

    def forget(self, future: asyncio.Future[int]) -> None:
        """A held write whose request gave up (timed out, cancelled) is no longer waited for."""
        with self._lock:
            self._held = [entry for entry in self._held if entry[1] is not future]
            self._want()

    def _want(self, wake: bool = True) -> None:
        """With the lock held: tells Rust the lowest offset waited for, then (`wake`) wakes the
        loops at once if it is applied already: Rust may have published it before it saw the
        wish. A loop that was just woken need not: the offset it read is at most the one Rust
        compared against the lower wish before."""
        lowest = min(
            (entry[0] for entries in (self._held, self._waiters, self._followers) for entry in entries),
            default=NOBODY,
        )
        self.signal.want(lowest)
        if wake and lowest != NOBODY and self.applied >= lowest:
            self.signal.wake()

    def _woken(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        """On `loop`: answers its writes and waiters that the applied offset covers."""
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(fd)
        applied = self.applied
        with self._lock:
            held, self._held = _split(self._held, applied, loop)
            waiters, self._waiters = _split(self._waiters, applied, loop)
            followers, self._followers = _split(self._followers, applied, loop)
            self._want(wake=False)
        for offset, future, _loop in held:
            if not future.done():
                future.set_result(offset)
        for _offset, waiter, _loop in waiters + followers:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, offset: int, timeout: float) -> bool:
        """True once `offset` is applied; False after `timeout` seconds."""
        return await self._wait(self._waiters, offset, timeout)

    async def follow(self, offset: int, timeout: float) -> bool:
        """True once an offset after `offset` is applied; False after `timeout` seconds. For streams
        that follow the projection for as long as a client listens: not counted in `waiting`."""
        return await self._wait(self._followers, offset + 1, timeout)

    async def _wait(self, waiters: list[Waiting], offset: int, timeout: float) -> bool:
        if self.applied >= offset:
            return True
        loop = asyncio.get_running_loop()
        self.attach(loop)
        future: asyncio.Future[None] = loop.create_future()
        entry = (offset, future, loop)
        with self._lock:
            waiters.append(entry)
            self._want()
        try:
            async with asyncio.timeout(timeout):  # no extra task, unlike wait_for
                await future
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                if entry in waiters:  # timed out or cancelled: a follower must not pile up entries
                    waiters.remove(entry)
                    self._want()

    def wait_blocking(self, offset: int, timeout: float) -> bool:
        """From a plain thread (never an event loop's): True once `offset` is applied."""
        return bool(self.signal.wait(offset, timeout))

    @property
    def waiting(self) -> int:
        return len(self._waiters) + len(self._held)


def _split(entries: list[T], applied: int, loop: asyncio.AbstractEventLoop) -> tuple[list[T], list[T]]:
    """(the entries of `loop` that `applied` covers, the others)."""
    if not entries:
        return [], entries
    due = [e for e in entries if e[0] <= applied and e[2] is loop]
    if not due:
        return [], entries
    return due, [e for e in entries if not (e[0] <= applied and e[2] is loop)]
