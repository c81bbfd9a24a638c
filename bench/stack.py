"""The benchmark's own Kafka broker (free ports, a fresh folder, stopped at the end) and the shop's
data in it: products and stock imported with the shop's importers, then relayed by a first start."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bench import data
from bench.processes import Server, shop_server
from fixtures.host import REPO, free_port
from fixtures.kafka_broker import Broker
from shop.config import Config
from shop.contexts import fulfilment, pim, pim_csv, stock_csv
from shop.shoppers import write_master_key

log = logging.getLogger("bench")

BROKER_HEAP = "1g"
READY_TIMEOUT_S = 900.0
# What the importers write: a first start relays all of it through every context.
IMPORTED_TOPICS = (pim.INTERNAL, fulfilment.INTERNAL)


@dataclass
class Stack:
    folder: Path
    broker: Broker
    config: Config

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    @property
    def snapshots(self) -> Path:
        """Where its shops with snapshots on load and write them."""
        return self.folder / "snapshots"

    def shop(self, cpus: str | None, snapshots: bool, name: str, topic_prefix: str = "") -> Server:
        """A shop process on this broker; with `snapshots` it loads and writes them in one folder;
        another `topic_prefix` gives it topics of its own."""
        snapshot_dir = str(self.snapshots) if snapshots else ""
        config = replace(
            self.config, snapshot_dir=snapshot_dir, topic_prefix=topic_prefix or self.config.topic_prefix
        )
        return shop_server(config, cpus, self.logs / f"{name}.log")

    def stop(self) -> None:
        self.broker.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_stack(run_name: str) -> Stack:
    folder = data.DATA / run_name
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "logs").mkdir(parents=True)
    broker = Broker(folder / "kafka", free_port(), free_port(), {"KAFKA_HEAP": BROKER_HEAP})
    broker.start()
    # Orders carry sealed shopper details (required): the stack's shops share a master key.
    master_key = folder / "master.key"
    write_master_key(str(master_key))
    config = Config(
        kafka_bootstrap=broker.bootstrap, sample_rows=0, log_level="INFO", master_key_file=str(master_key)
    )
    return Stack(folder, broker, config)


@dataclass(frozen=True)
class Loaded:
    first_start_s: float  # relaying everything that was imported, until ready
    raw_consume_s: float  # raw confluent-kafka reading what was imported: that start's floor
    payload_bytes: int  # the bytes of the imported events, what every piece of state comes from


def load(stack: Stack, rows: int, on_start: Callable[[int], object] | None = None) -> Loaded:
    """Imports `rows` products and a stock level for each, then starts the shop once so that its
    publishers and bridges relay everything; `on_start` gets the pid of its worker (a profiler)."""
    import_data(stack, rows)
    raw, payload = raw_consume(stack, IMPORTED_TOPICS)
    # Its snapshots, written as it stops, are the ones the snapshot startup loads.
    shop = stack.shop(cpus=None, snapshots=True, name="first-start").start()
    try:
        if on_start is not None:
            on_start(worker_pid(shop))
        seconds = shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
    finally:
        shop.stop()
    log.info("first start (relaying everything): %.1fs; raw consume of the imports %.1fs", seconds, raw)
    return Loaded(seconds, raw, payload)


def import_data(stack: Stack, rows: int) -> None:
    """`rows` products and a stock level for each into the stack's pim and fulfilment topics."""
    with open(data.products_csv(rows), newline="", encoding="utf-8") as stream:
        log.info("import-products: %s", pim_csv.import_products(stack.config, stream, progress=False))
    with open(data.stock_csv_for(rows), newline="", encoding="utf-8") as stream:
        log.info("import-stock: %s", stock_csv.import_stock(stack.config, stream, progress=False))


def worker_pid(shop: Server, timeout: float = 10.0) -> int:
    """The pid of the shop's worker once Granian started it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return shop.worker_pid()
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def raw_consume(stack: Stack, topics: tuple[str, ...]) -> tuple[float, int]:
    """Seconds from exec to exit of bench.raw_consume over `topics`, and the bytes it read."""
    argv = [sys.executable, "-m", "bench.raw_consume", stack.config.kafka_bootstrap, *topics]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, check=True, capture_output=True, text=True, timeout=READY_TIMEOUT_S)
    seconds = time.perf_counter() - started
    return seconds, int(json.loads(done.stdout.strip().splitlines()[-1])["bytes"])
