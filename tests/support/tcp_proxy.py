"""A TCP proxy on 127.0.0.1 for network fault tests: it forwards to one target port and can delay
every chunk, reset every open connection, refuse new ones, or stall all traffic (a blackhole: bytes
are held back, not lost, as TCP would retransmit them once the network heals).

It runs an asyncio loop in a thread of its own; every method may be called from any thread."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any

CHUNK = 65536


class TcpProxy:
    def __init__(self, listen_port: int, target_port: int) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.latency = 0.0  # seconds added to every chunk, each way
        self.refusing = False
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.listen_port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds

    def reset_connections(self) -> None:
        """Every open connection, both sides, ends with a TCP reset, as when a route dies."""
        self._call(self._reset_all())

    def refuse(self) -> None:
        """New connections are reset as soon as they arrive; open ones are left alone."""
        self.refusing = True

    def blackhole(self) -> None:
        """No byte moves in either direction, on open and new connections, until heal()."""
        self._call(self._set_flowing(False))

    def heal(self) -> None:
        """Back to a plain, fast proxy: held bytes flow again, new connections are accepted."""
        self.refusing = False
        self.latency = 0.0
        self._call(self._set_flowing(True))

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _listen(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.listen_port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset_all()

    async def _set_flowing(self, flowing: bool) -> None:
        assert self._flowing is not None
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _reset_all(self) -> None:
        for writer in list(self._connections):
            _reset(writer)
        self._connections.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.refusing:
            _reset(client_writer)
            return
        try:
            target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            _reset(client_writer)  # the target is down: the client sees what it would see without us
            return
        self._connections.update((client_writer, target_writer))
        await asyncio.gather(
            self._pipe(client_reader, target_writer, client_writer),
            self._pipe(target_reader, client_writer, target_writer),
        )

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, source_writer: asyncio.StreamWriter
    ) -> None:
        """Copies one direction until either side ends; then ends both."""
        assert self._flowing is not None
        try:
            while chunk := await source.read(CHUNK):
                await self._flowing.wait()
                if self.latency:
                    await asyncio.sleep(self.latency)
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for writer in (sink, source_writer):
                self._connections.discard(writer)
                if not writer.is_closing():
                    writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Closes with RST instead of FIN (SO_LINGER 0): the peer learns at once that it is gone."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
