"""A background thread that works until stopped; if it dies, the reason stays for /healthz."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from shop.threads import name_this_thread

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.failure: str | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._guarded, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop_soon(self) -> None:
        """Asks the thread to stop without waiting for it (so that several stop at once)."""
        self._stopping.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def stopping(self) -> threading.Event:
        """Set once the worker is asked to stop: waits that share the worker's life watch it."""
        return self._stopping

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.failure is None

    def work(self) -> None:
        """The thread's work: return once `self._stopping` is set."""
        raise NotImplementedError

    def acknowledged(self, future: Future[int]) -> int | None:
        """The offset Kafka gave a background write, however long the broker takes to come back
        (the relay producer never gives up on a message); None if the worker is stopped meanwhile."""
        while not self._stopping.is_set():
            try:
                return future.result(timeout=0.2)
            except FutureTimeout:
                continue
        return None

    def _guarded(self) -> None:
        name_this_thread()
        try:
            self.work()
        except Exception as exc:  # a dead worker must show in /healthz, not vanish
            self.failure = f"{type(exc).__name__}: {exc}"
            log.exception("%s stopped", self.name)
