"""Waiting for a projection to reach an offset, or to apply a command, from asyncio handlers or
from plain threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence

from confluent_kafka import Message

# The header that carries a command's id: the projection that applies the command answers the
# request that wrote it, without waiting for Kafka's delivery report (see Producer.produce_command).
COMMAND_HEADER = "shop-command"

# A request waiting for its command to be applied: the future that answers it, and its event loop.
Expected = tuple[asyncio.Future[None], asyncio.AbstractEventLoop]


class NotApplied(Exception):
    """A write Kafka reported no failure for, that the projection did not apply in time."""

    def __init__(self) -> None:
        super().__init__("the write is not applied yet")


def command_ids(messages: Iterable[Message]) -> list[bytes]:
    """The command ids that `messages` carry (commands written by any instance)."""
    ids = []
    for message in messages:
        headers = message.headers()  # a consumed message's are a list of (name, bytes)
        for name, value in headers if isinstance(headers, list) else ():
            if name == COMMAND_HEADER and isinstance(value, bytes):
                ids.append(value)
    return ids


class OffsetWatch:
    """The applied offset of one projection. The consumer thread advances it; readers wait on it."""

    def __init__(self) -> None:
        self.applied = -1
        self._cond = threading.Condition()
        self._waiters: list[tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]] = []
        # Long-lived followers (cart event streams): released like waiters, not counted as commands.
        self._followers: list[tuple[int, asyncio.Future[None], asyncio.AbstractEventLoop]] = []
        # Commands written by this instance, by id, waiting to be applied (see `expect`).
        self._commands: dict[bytes, Expected] = {}

    def advance(self, offset: int, commands: Sequence[bytes] = ()) -> None:
        """Called by the consumer thread after a batch is published; `commands` are the ids the
        batch carried."""
        with self._cond:
            self.applied = offset
            self._cond.notify_all()
            applied = [self._commands.pop(c) for c in commands if c in self._commands]
        # Only loops with a waiter this offset releases are woken: the checkout projection
        # advances with every catalog change too, and a wakeup of a busy loop costs a thread switch.
        due = {loop for waiting, _, loop in self._waiters + self._followers if waiting <= offset}
        for loop in due | {loop for _, loop in applied}:
            loop.call_soon_threadsafe(self._release, [future for future, own in applied if own is loop])

    def expect(self, command: bytes, future: asyncio.Future[None], loop: asyncio.AbstractEventLoop) -> None:
        """From any thread, before the command is written: answers `future` on `loop` once a batch
        carrying `command` is applied."""
        with self._cond:
            self._commands[command] = (future, loop)

    def forget(self, command: bytes) -> None:
        """The command's request is answered or gave up (timed out, cancelled, failed)."""
        with self._cond:
            self._commands.pop(command, None)

    @property
    def expecting(self) -> bool:
        """Whether a batch's command ids are worth reading (a read of the dict, no lock)."""
        return bool(self._commands)

    def _release(self, applied: list[asyncio.Future[None]] | None = None) -> None:
        for future in applied or ():
            if not future.done():
                future.set_result(None)
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
        return len(self._waiters) + len(self._commands)
