"""An idempotent, acks=all producer whose writes resolve to the offset Kafka gave them."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import Producer as _Producer

from shop import _core
from shop.config import Config
from shop.kafka import POLL_S, client_settings
from shop.kafka.health import STATS_INTERVAL_MS
from shop.kafka.offsets import OffsetWatch, ProduceError
from shop.progress import Progress
from shop.threads import name_this_thread
from shop.tracing import KafkaHeaders

# Turns a source message and its offset into the target message, or None when nothing is to be
# relayed for it; raises ValueError for a message that cannot be translated. The extension's own
# translations (_core.Translation) run without a Python call per message.
Translate = Callable[[bytes, int], bytes | None]
# Settings of the Python client only: the relays' writer reports no statistics.
STATS_SETTINGS = ("stats_cb", "statistics.interval.ms")

log = logging.getLogger(__name__)
IMPORT_TIMEOUT_S = 120
# A relay sends a consumed batch at once, so a short linger gathers it into one request; each hop
# lingering 20 ms put 30 ms into a catalog change's p50 (crossing two relays: 78 -> 32 ms at 5 ms).
RELAY_LINGER_MS = 5
# A request's write that finds others in flight waits this long for more to share its produce
# request: a request per write costs librdkafka's threads several times the CPU under load
# (docs/design.md). A lone write goes at once (see CommandProducer).
REQUEST_LINGER_MS = 1
# librdkafka fails a write that outlived its message timeout at its next timeout scan, once a
# second: a write not acknowledged by then is answered as failed, whatever librdkafka reports later.
ACK_MARGIN_S = 1.0


# A write's offset once Kafka acknowledged it, or why it was not.
DeliveryResult = int | ProduceError


def _delivery_result(topic: str, err: KafkaError | None, message: Any) -> DeliveryResult:
    if err is None:
        return int(message.offset())
    if err.code() == KafkaError._MSG_TIMED_OUT:
        return ProduceError(f"{topic}: not acknowledged within the produce timeout")
    return ProduceError(f"{topic}: {err.str()}")


def librdkafka_strings(settings: dict[str, Any]) -> dict[str, str]:
    """Settings as librdkafka takes them from Rust: strings, with "true" and "false" for booleans."""
    return {
        key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in settings.items()
    }


def producer_settings(config: Config, extra: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {
        **client_settings(config.kafka_bootstrap),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": REQUEST_LINGER_MS,
        # How long librdkafka keeps trying a write (its own retries are idempotent: no duplicates);
        # after that the write fails and its request answers 503. A shop request must not hang.
        "message.timeout.ms": config.produce_timeout * 1000,
        "compression.type": "none",
    }
    settings.update(extra)
    return settings


class Producer:
    """Thread-safe; a background thread serves delivery reports so callers only wait on futures.
    `on_stats` receives librdkafka's statistics (JSON) every second."""

    def __init__(
        self,
        config: Config,
        on_stats: Callable[[str], None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        extra = dict(extra or {})
        if on_stats is not None:
            extra.update({"stats_cb": on_stats, "statistics.interval.ms": STATS_INTERVAL_MS})
        settings = producer_settings(config, extra)
        # 0 is librdkafka's "no limit": such a producer waits for its queue as long as it takes.
        self.timeout = settings["message.timeout.ms"] / 1000 or math.inf
        self._producer = _Producer(settings)
        # The relays' writes, made in Rust with the same settings (but the statistics) at the
        # first relayed batch: a producer that relays nothing opens no second connection.
        relay_settings = {key: value for key, value in settings.items() if key not in STATS_SETTINGS}
        self._relay_settings = librdkafka_strings(relay_settings)
        self._relay_writer: _core.RelayWriter | None = None
        self._relay_writer_lock = threading.Lock()
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="delivery-reports", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        name_this_thread()
        # This thread serves every delivery report: if it died, every write would wait forever.
        while not self._closed.is_set():
            try:
                self._producer.poll(POLL_S)
            except Exception:
                log.exception("serving delivery reports")

    def produce(
        self, topic: str, value: bytes, headers: list[tuple[str, str | bytes | None]] | None = None
    ) -> Future[int]:
        """Sends `value` to partition 0 of `topic`; the future resolves to its offset once acked."""
        future: Future[int] = Future()

        def delivered(err: KafkaError | None, message: Any) -> None:
            if not future.set_running_or_notify_cancel():  # cancelled: nobody waits for the answer
                return
            result = _delivery_result(topic, err, message)
            if isinstance(result, ProduceError):
                future.set_exception(result)
            else:
                future.set_result(result)

        self._send(topic, value, headers, delivered)
        return future

    def offer(self, topic: str, value: bytes, delivered: Callable[[KafkaError | None, Any], None]) -> bool:
        """Sends `value` to partition 0 of `topic` unless the local queue is full or the producer
        closed: never waits. For writes worth less than the time of whoever sends them."""
        if self._closed.is_set():
            return False
        try:
            self._producer.produce(topic, value, partition=0, on_delivery=delivered)
        except (BufferError, KafkaException):
            return False
        return True

    def relay(
        self,
        topic: str,
        translate: Translate,
        batch: list[tuple[int, bytes]],
        headers: dict[int, KafkaHeaders] | None = None,
    ) -> _core.RelayBatch:
        """Translates `batch` in order and sends each output to partition 0 of `topic` (a traced
        message's with its `headers`), up to the first message that cannot be translated; one call
        for the whole batch (see _core.RelayWriter)."""
        try:
            return self._relays(topic).send(topic, translate, batch, headers)
        except _core.KafkaClientError as exc:
            raise ProduceError(str(exc)) from exc

    def _relays(self, topic: str) -> _core.RelayWriter:
        with self._relay_writer_lock:
            if self._closed.is_set():
                raise ProduceError(f"{topic}: the producer is closed (the shop is shutting down)")
            if self._relay_writer is None:
                queue_timeout = None if math.isinf(self.timeout) else self.timeout
                self._relay_writer = _core.RelayWriter(self._relay_settings, queue_timeout)
            return self._relay_writer

    def _send(
        self,
        topic: str,
        value: bytes,
        headers: list[tuple[str, str | bytes | None]] | None,
        delivered: Callable[[KafkaError | None, Any], None],
    ) -> None:
        if self._closed.is_set():
            raise ProduceError(f"{topic}: the producer is closed (the shop is shutting down)")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self._producer.produce(topic, value, partition=0, on_delivery=delivered, headers=headers)
                return
            except BufferError:
                # The local queue is full: let deliveries drain, then try again, within the timeout.
                if time.monotonic() > deadline:
                    raise ProduceError(f"{topic}: the producer's queue stayed full") from None
                self._producer.poll(0.01)
            except KafkaException as exc:
                raise ProduceError(f"{topic}: {exc}") from exc

    def flush(self, timeout: float = 30.0) -> int:
        """Waits for every outstanding write (relayed ones too, within `timeout` each); returns
        how many are still unacknowledged."""
        relays = self._relay_writer
        remaining = 0 if relays is None else int(relays.flush(timeout))
        return remaining + int(self._producer.flush(timeout))

    def close(self, timeout: float = 30.0) -> int:
        remaining = int(self._producer.flush(timeout))
        with self._relay_writer_lock:  # no relayed batch starts a writer after this
            self._closed.set()
            relays = self._relay_writer
        remaining += 0 if relays is None else int(relays.close(timeout))
        self._poller.join()
        # Free the client here, in this thread: left to the garbage collector it could be freed on a
        # librdkafka thread, which librdkafka forbids (it aborts the process).
        del self._producer
        return remaining


class CommandProducer:
    """The shoppers' writes, produced from Rust (`_core.Commands`): Kafka's acknowledgements are
    served there without the GIL and held by the projection's OffsetSignal until applied, so a
    write wakes the event loop once, when it can be answered. A write with no other in flight is
    sent at once, by a producer that does not linger: lingering would cost it 1 ms and a second
    wakeup of librdkafka's thread for nobody to share the request with. Writes that find others in
    flight go through a producer that lingers REQUEST_LINGER_MS, so that under load they share
    produce requests. Two writes in flight at once have no order a client could rely on (each
    waits for its own), so two producers keep every order that matters: a client's next write
    starts after its last one was applied. `on_stats` receives librdkafka's statistics (JSON)
    every second."""

    def __init__(self, config: Config, on_stats: Callable[[str], None] | None = None) -> None:
        shared: dict[str, Any] = {}
        if on_stats is not None:
            # The statistics say whether a broker is up: keep a connection open even while no
            # write is sent (the breaker sends none while no broker is up), or none would be again.
            shared.update({"statistics.interval.ms": STATS_INTERVAL_MS, "enable.sparse.connections": False})
        lone_settings = producer_settings(config, {"linger.ms": 0})
        # 0 is librdkafka's "no limit": such a write waits for its queue as long as it takes.
        self.timeout = lone_settings["message.timeout.ms"] / 1000 or math.inf
        self._commands = _core.Commands(
            librdkafka_strings(lone_settings),
            librdkafka_strings(producer_settings(config, shared)),
            min(self.timeout, IMPORT_TIMEOUT_S),
            on_stats,
        )
        self.sent = {"lone": 0, "shared": 0}  # writes through each producer (event loop's thread)

    async def produce_applied(
        self,
        topic: str,
        value: bytes,
        watch: OffsetWatch,
        timeout: float,
        headers: KafkaHeaders | None = None,
    ) -> int:
        """Sends `value` (with `headers`) to partition 0 of `topic`; returns its offset once Kafka
        acknowledged it and `watch`'s projection applied it (read-your-writes). Raises ProduceError
        if Kafka did not acknowledge the write within the produce timeout (and ACK_MARGIN_S),
        NotApplied if it did but the projection had not applied it within `timeout` seconds more."""
        lone = watch.writes_in_flight == 0
        self.sent["lone" if lone else "shared"] += 1

        def send(signal: _core.OffsetSignal) -> int:
            return self._commands.send(topic, value, signal, not lone, headers)

        return await watch.applied_write(send, topic, self.timeout + ACK_MARGIN_S, timeout)

    def close(self, timeout: float = 30.0) -> int:
        """Flushes and closes both within `timeout` seconds in all; returns how many writes are
        still unacknowledged."""
        return int(self._commands.close(timeout))


def relay_producer(config: Config) -> Producer:
    """The producer of publishers, bridges and dead letters: it never gives up on a message
    (no delivery timeout), it waits out a broker outage instead. A relay that gave up on message k
    while k+1 got through (librdkafka's timeouts can leave such a gap) would resume after k+1 and
    lose k for good; nobody waits on a relay's write, so waiting costs nothing."""
    return Producer(config, extra={"message.timeout.ms": 0, "linger.ms": RELAY_LINGER_MS})


class ImportProducer:
    """Produces an import's messages (idempotent, acks=all, batched for throughput: no one waits on
    a single message). Made before the import reads the topic's current state: a new idempotent
    client waits about 500 ms for its producer id (librdkafka retries that on a fixed timer once
    it learned the broker's id), and this way the wait overlaps the read instead of following it."""

    def __init__(self, config: Config) -> None:
        settings = {"linger.ms": 20, "batch.size": 1_000_000, "message.timeout.ms": IMPORT_TIMEOUT_S * 1000}
        self._producer: Producer | None = Producer(config, extra=settings)

    def __enter__(self) -> ImportProducer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._close()

    def _close(self) -> int:
        """Flushes and frees the client (once); returns the writes still unacknowledged."""
        producer, self._producer = self._producer, None
        return 0 if producer is None else producer.close(timeout=IMPORT_TIMEOUT_S)

    def produce_all(self, topic: str, messages: list[bytes], progress: Progress | None) -> None:
        """Produces every message to `topic` in order and returns once Kafka acknowledged them
        all; raises ProduceError otherwise. Once per import: the client is closed then."""
        assert self._producer is not None, "an ImportProducer produces once"
        futures = []
        for message in messages:
            future = self._producer.produce(topic, message)
            if progress is not None:
                future.add_done_callback(lambda _future: progress.advance())
            futures.append(future)
        unacknowledged = self._close()  # every delivery report served: the futures are done
        if progress is not None:
            progress.close()
        for future in futures:
            future.result(timeout=0)
        if unacknowledged:
            raise ProduceError(f"{unacknowledged} messages to {topic} were not acknowledged by Kafka")
