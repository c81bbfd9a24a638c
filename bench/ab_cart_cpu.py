"""Server CPU per cart read and per cart write of two builds of the shop, side by side on one broker.

    python -m bench.ab_cart_cpu OLD_TREE NEW_TREE [ROUNDS]

Each tree is a checkout with its extension built (`shop/_core.abi3.so`, `shop/_proto`,
`shop/static`); the shop is started from it with this venv. Per build and round: a fresh set of
topics with 50,000 products and stock, the shop's idle CPU over 10 s, then 15 s of 500 cart reads/s
and 15 s of 500 cart writes/s by bench.write_driver; the CPU of the shop's process group per
request, its idle share taken off. The builds alternate, so both see the same machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import data
from fixtures.kafka_broker import Broker, single_broker
from fixtures.server import ShopProcess
from shop.config import Config
from shop.contexts import pim_csv, stock_csv

ROWS = 50_000
RATE = 500
SECONDS = 15


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user and system) of the processes of group `pgid`."""
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def fresh_config(broker: Broker) -> Config:
    """Topics of their own: each build loads the same data into fresh topics."""
    prefix = f"ab{time.monotonic_ns()}-"
    return Config(kafka_bootstrap=broker.bootstrap, topic_prefix=prefix, sample_rows=0, snapshot_dir="")


def measure(tree: Path, broker: Broker) -> dict[str, float]:
    config = fresh_config(broker)
    with open(data.products_csv(ROWS)) as products, open(data.stock_csv_for(ROWS)) as stock:
        pim_csv.import_products(config, products, progress=False)
        stock_csv.import_stock(config, stock, progress=False)
    shop = ShopProcess(config, Path(tempfile.mkdtemp()) / "shop.log", tree).start()
    found: dict[str, float] = {}
    try:
        assert shop.process is not None
        pgid = os.getpgid(shop.process.pid)
        time.sleep(3)
        before, started = group_cpu_s(pgid), time.monotonic()
        time.sleep(10)
        idle = (group_cpu_s(pgid) - before) / (time.monotonic() - started)
        found["idle_pct"] = round(100 * idle, 1)
        for label, mode in (("cart_read", ["--cart-reads"]), ("cart_write", [])):
            driver = [sys.executable, "-m", "bench.write_driver", shop.url, broker.bootstrap, str(ROWS)]
            args = [*driver, str(RATE), "0", str(SECONDS), *mode]
            with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as process:
                assert process.stdout is not None and process.stdout.readline().strip() == "started"
                before, started = group_cpu_s(pgid), time.monotonic()
                result = json.loads(process.stdout.read().strip().splitlines()[-1])
            used = group_cpu_s(pgid) - before - idle * (time.monotonic() - started)
            found[f"{label}_us"] = round(1e6 * used / result["cart_writes"])
            found[f"{label}_p50_ms"] = round(result["cart_p50_ms"], 2)
    finally:
        shop.stop()
    return found


def main(old: Path, new: Path, rounds: int) -> None:
    broker = single_broker(Path(tempfile.mkdtemp(prefix="ab-kafka-")))
    broker.start()
    try:
        for round_number in range(rounds):
            for name, tree in (("old", old), ("new", new)):
                print(round_number, name, json.dumps(measure(tree, broker)), flush=True)
    finally:
        broker.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 2)
