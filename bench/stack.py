"""The benchmark's own Kafka broker (free ports, a fresh folder, stopped at the end) and the shop's
data in it: products and stock imported with the shop's importers, then relayed by a first start."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from bench import data
from bench.processes import Server, shop_server
from fixtures.host import free_port
from fixtures.kafka_broker import Broker
from shop.config import Config
from shop.contexts import pim_csv, stock_csv

log = logging.getLogger("bench")

BROKER_HEAP = "1g"
READY_TIMEOUT_S = 900.0


@dataclass
class Stack:
    folder: Path
    broker: Broker
    config: Config

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    def shop(self, cpus: str | None, snapshots: bool, name: str) -> Server:
        """A shop process on this broker; with `snapshots` it loads and writes them in one folder."""
        snapshot_dir = str(self.folder / "snapshots") if snapshots else ""
        config = replace(self.config, snapshot_dir=snapshot_dir)
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
    config = Config(kafka_bootstrap=broker.bootstrap, sample_rows=0, log_level="INFO")
    return Stack(folder, broker, config)


def load(stack: Stack, rows: int) -> float:
    """Imports `rows` products and a stock level for each, then starts the shop once so that its
    publishers and bridges relay everything; returns the seconds that first start took."""
    with open(data.products_csv(rows), newline="", encoding="utf-8") as stream:
        log.info("import-products: %s", pim_csv.import_products(stack.config, stream, progress=False))
    with open(data.stock_csv_for(rows), newline="", encoding="utf-8") as stream:
        log.info("import-stock: %s", stock_csv.import_stock(stack.config, stream, progress=False))
    # Its snapshots, written as it stops, are the ones the snapshot startup loads.
    shop = stack.shop(cpus=None, snapshots=True, name="first-start").start()
    try:
        seconds = shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
    finally:
        shop.stop()
    log.info("first start (relaying everything): %.1fs", seconds)
    return seconds
