"""The whole shop's resident memory after a first start (every publisher and bridge relays what
was imported), with the heap's free memory given back once ready (shop/heap.py) and without.

    python -m bench.heap_trim [ROWS]

Each setting gets a broker of its own and the same import, then one shop started without
snapshots; its processes' resident memory is summed SETTLE_S after it is ready. Memory does not
depend on how busy the machine is, so this runs on a shared one too. Prints one JSON object."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import replace

from bench.processes import process_rss_bytes
from bench.stack import READY_TIMEOUT_S, import_data, start_stack

log = logging.getLogger("bench")
SETTLE_S = 10.0  # after ready: the trim is polled for every second and takes under one
SETTINGS = {"trimmed": 60, "untrimmed": 0}  # SHOP_HEAP_TRIM_INTERVAL


def first_start_rss(rows: int, trim_interval: int) -> int:
    stack = start_stack(f"heap-trim-{trim_interval}")
    try:
        stack.config = replace(stack.config, heap_trim_interval=trim_interval)
        import_data(stack, rows)
        shop = stack.shop(cpus=None, snapshots=False, name="first-start").start()
        try:
            shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
            time.sleep(SETTLE_S)
            return process_rss_bytes(shop.pids())
        finally:
            shop.stop()
    finally:
        stack.stop()


def main(rows: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    found = {name: first_start_rss(rows, interval) for name, interval in SETTINGS.items()}
    for name, rss in found.items():
        log.info("%s: %d MiB", name, rss >> 20)
    print(json.dumps({"products": rows, **{f"{name}_bytes": rss for name, rss in found.items()}}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
