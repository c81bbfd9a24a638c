"""Waiting for a projection to reach an offset, from asyncio handlers or from plain threads."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from shop import _core

# A request waiting for an offset: the offset, its future and its event loop.
Waiting = tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]
T = TypeVar("T", bound=tuple[int, "asyncio.Future[Any]", asyncio.AbstractEventLoop])
# What OffsetSignal.want is told when no event loop waits.
NOBODY = 2**63 - 1


class ProduceError(RuntimeError):
    """Kafka did not acknowledge a write."""


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
        # The shoppers' writes in flight, by their id in the signal: answered when Rust lists them done.
        self._writes: dict[int, tuple[asyncio.Future[int], asyncio.AbstractEventLoop]] = {}
        self._wakers: dict[asyncio.AbstractEventLoop, int] = {}

    @property
    def applied(self) -> int:
        return int(self.signal.applied)

    def advance(self, offset: int) -> None:
        """Publishes `offset` as applied (a loaded snapshot; batches are published by Rust)."""
        self.signal.advance(offset)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """On `loop`'s thread, before anything on it waits or writes: gives the loop an eventfd to
        be woken through. Loops that are closed meanwhile give theirs back."""
        if loop in self._wakers:
            return
        for closed in [other for other in self._wakers if other.is_closed()]:
            self.signal.remove_waker(self._wakers.pop(closed))
        fd = self.signal.add_waker()
        loop.add_reader(fd, self._woken, loop, fd)
        self._wakers[loop] = fd

    @property
    def writes_in_flight(self) -> int:
        """Writes sent and not yet answered."""
        return len(self._writes)

    async def applied_write(
        self, send: Callable[[_core.OffsetSignal], int], topic: str, ack_timeout: float, apply_timeout: float
    ) -> int:
        """Sends a write through `send` (which returns its id in this signal: `_core.Commands.send`)
        and returns its offset once Kafka acknowledged it and the projection applied it. Raises
        ProduceError if Kafka did not acknowledge it within `ack_timeout` seconds, NotApplied if it
        did but the projection had not applied it `apply_timeout` seconds later."""
        loop = asyncio.get_running_loop()
        self.attach(loop)
        future: asyncio.Future[int] = loop.create_future()
        try:
            write = send(self.signal)
        except _core.KafkaClientError as exc:
            raise ProduceError(str(exc)) from None
        # Nothing can answer it before this: only this loop's thread takes the done writes.
        self._writes[write] = (future, loop)
        try:
            async with asyncio.timeout(ack_timeout):
                return await future
        except TimeoutError:
            offset = self._forget(write)
        except asyncio.CancelledError:  # the request is gone: nobody waits for the answer
            self._forget(write)
            raise
        if offset is None:
            raise ProduceError(f"{topic}: not acknowledged within the produce timeout")
        # Acknowledged, durable, and not applied yet: wait for it as any reader would.
        if await self.wait(offset, apply_timeout):
            return offset
        raise NotApplied(offset)

    def _forget(self, write: int) -> int | None:
        """A write whose request gave up is no longer waited for; returns its offset if Kafka
        acknowledged it (it is durable, only not applied yet)."""
        self._writes.pop(write, None)
        offset = self.signal.forget(write)
        return None if offset is None else int(offset)

    def _want(self, wake: bool = True) -> None:
        """With the lock held: tells Rust the lowest offset waited for, then (`wake`) wakes the
        loops at once if it is applied already: Rust may have published it before it saw the
        wish. A loop that was just woken need not: the offset it read is at most the one Rust
        compared against the lower wish before."""
        lowest = min(
            (entry[0] for entries in (self._waiters, self._followers) for entry in entries),
            default=NOBODY,
        )
        self.signal.want(lowest)
        if wake and lowest != NOBODY and self.applied >= lowest:
            self.signal.wake()

    def _woken(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        """On `loop`: answers the writes that are done and the waiters the applied offset covers."""
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(fd)
        for write, outcome in self.signal.take_done():
            future, owner = self._writes.pop(write, (None, None))
            if future is None or owner is None:
                continue  # its request gave up
            if owner is loop:
                _answer(future, outcome)
            else:
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    owner.call_soon_threadsafe(_answer, future, outcome)
        applied = self.applied
        with self._lock:
            waiters, self._waiters = _split(self._waiters, applied, loop)
            followers, self._followers = _split(self._followers, applied, loop)
            self._want(wake=False)
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
        """Requests waiting for an offset, and writes acknowledged and waiting to be applied."""
        return len(self._waiters) + int(self.signal.held)


def _answer(future: asyncio.Future[int], outcome: int | str) -> None:
    """A write's answer: its offset, or ProduceError with why Kafka did not take it."""
    if future.done():
        return
    if isinstance(outcome, str):
        future.set_exception(ProduceError(outcome))
    else:
        future.set_result(outcome)


def _split(entries: list[T], applied: int, loop: asyncio.AbstractEventLoop) -> tuple[list[T], list[T]]:
    """(the entries of `loop` that `applied` covers, the others)."""
    if not entries:
        return [], entries
    due = [e for e in entries if e[0] <= applied and e[2] is loop]
    if not due:
        return [], entries
    return due, [e for e in entries if not (e[0] <= applied and e[2] is loop)]
