"""What the relays cost and how fast a change crosses them (issue 26), in one run on a broker of its own:

    python -m bench.relay_latency [ROWS] [--idle-s S] [--writes-s S] [--rate R]

1. the first start at ROWS products and stock levels (every publisher and bridge relays everything),
   against a raw consume of the imports (stack.load);
2. the broker's CPU over `--idle-s` seconds, first with no shop, then beside the loaded shop doing
   nothing (what its consumers' idle fetches cost), and the shop's own;
3. propagation: bench.write_driver's catalog updates at `--rate` a second into pim_internal for
   `--writes-s` seconds, with its probes (a price change, then the ms until the product's page shows
   it: through the pim publisher, the catalog bridge and the catalog projection), and the broker's
   CPU meanwhile.

Prints one JSON line. The shop is not pinned (as in a first start); the write driver runs on core 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from bench import cpu, stack
from bench.http_load import WriteLoad, start_driver
from bench.processes import Server
from bench.stats import percentile

log = logging.getLogger("bench")

# Time for a started shop's consumers and producers to settle before the idle CPU is sampled.
SETTLE_S = 5.0


def broker_share(kafka: stack.Stack, seconds: float, shop: Server | None = None) -> dict[str, float]:
    """Shares of a core the broker (and the shop's processes) used over `seconds`."""
    processes = {"broker": [kafka.broker.pid()], **({"shop": shop.pids()} if shop else {})}
    with cpu.Window(processes, "children") as window:
        time.sleep(seconds)
    return {name: round(share, 3) for name, share in window.shares.items() if name != "children"}


def propagation(
    kafka: stack.Stack, shop: Server, rows: int, seconds: float, rate: float
) -> dict[str, object]:
    """p50 and p99 of the write driver's probes under `rate` catalog updates a second, and the
    broker's share of a core meanwhile."""
    driver = start_driver(kafka, shop, rows, seconds, WriteLoad(cart_per_s=0, catalog_per_s=rate))
    try:
        with cpu.Window({"broker": [kafka.broker.pid()], "shop": shop.pids()}, "driver") as window:
            output, _ = driver.communicate(timeout=seconds + 60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    achieved = json.loads(output.strip().splitlines()[-1])
    probes = [float(ms) for ms in achieved["propagation_ms"]]
    return {
        "updates_per_s": achieved["catalog_updates"] / seconds,
        "probes": len(probes),
        "p50_ms": round(percentile(probes, 0.5), 1),
        "p99_ms": round(percentile(probes, 0.99), 1),
        "max_ms": round(max(probes), 1),
        "cpu": {name: round(share, 3) for name, share in window.shares.items()},
    }


def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    kafka = stack.start_stack(f"relay-latency-{os.getpid()}")
    try:
        loaded = stack.load(kafka, args.rows)
        time.sleep(SETTLE_S)
        result: dict[str, object] = {
            "rows": args.rows,
            "load_average": os.getloadavg(),
            **loaded.__dict__,
            "idle_no_shop": broker_share(kafka, args.idle_s),
        }
        shop = kafka.shop(cpus=None, snapshots=True, name="relay-latency").start()
        try:
            shop.wait_until("/readyz", 200, stack.READY_TIMEOUT_S)
            time.sleep(SETTLE_S)
            result["idle_shop"] = broker_share(kafka, args.idle_s, shop)
            result["propagation"] = propagation(kafka, shop, args.rows, args.writes_s, args.rate)
        finally:
            shop.stop()
        result["load_average_after"] = os.getloadavg()
        print(json.dumps(result))
    finally:
        kafka.stop()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.relay_latency")
    parser.add_argument("rows", type=int, nargs="?", default=200_000)
    parser.add_argument("--idle-s", type=float, default=30.0, help="seconds of each idle CPU sample")
    parser.add_argument("--writes-s", type=float, default=60.0, help="seconds of catalog updates")
    parser.add_argument("--rate", type=float, default=2000.0, help="catalog updates a second")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse(sys.argv[1:]))
