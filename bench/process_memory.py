"""The whole shop's resident memory (every process of `shop serve`), without the rest of
`python -m bench http`: empty, loaded with ROWS products and as many stock levels, and every
30 s of SECONDS of the browse workload, each against the payload bytes of the imported events.

    python -m bench.process_memory [ROWS] [SECONDS]

Memory does not depend on how busy the machine is, so this runs on a shared one too (the
figures of issue #26's `process_rss_*` keys, which `python -m bench http` writes, are the same
measurement)."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from bench import browse
from bench.http_load import READ_CONNECTIONS, empty_shop_rss, loaded_rss
from bench.processes import LOAD_CPU, SERVER_CPU, pin_process, process_rss_bytes
from bench.stack import READY_TIMEOUT_S, load, start_stack

log = logging.getLogger("bench")
SAMPLE_EVERY_S = 30.0


def private_mib(pid: int) -> dict[str, int]:
    """What a process holds resident, split (MiB): anonymous memory (heaps) against file pages."""
    found = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, *value = line.split()
        if key in ("Rss:", "Anonymous:", "Shared_Clean:", "Private_Dirty:"):
            found[key.rstrip(":").lower()] = int(value[0]) // 1024
    return found


def measure(rows: int, seconds: float) -> dict[str, object]:
    stack = start_stack("process-memory")
    try:
        payload = load(stack, rows).payload_bytes
        pin_process(stack.broker.pid(), LOAD_CPU)
        empty = empty_shop_rss(stack)
        shop = stack.shop(cpus=SERVER_CPU, snapshots=True, name="process-memory").start()
        try:
            shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
            loaded = loaded_rss(stack, shop, rows)
            workload = browse.workloads(rows, stack.folder / "workloads")["browse"]
            browsing: list[tuple[float, int]] = []
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                workload.run(shop.url, READ_CONNECTIONS, SAMPLE_EVERY_S, start=len(browsing) * 5000)
                elapsed, rss = round(time.monotonic() - started), process_rss_bytes(shop.pids())
                browsing.append((elapsed, rss))
                log.info("%d s of browse: %d MiB", elapsed, rss >> 20)
            processes = {pid: private_mib(pid) for pid in shop.pids()}
        finally:
            shop.stop()
    finally:
        stack.stop()

    def ratio(rss: int) -> float:
        return round((rss - empty) / payload, 3)

    return {
        "products": rows,
        "payload_bytes": payload,
        "empty_bytes": empty,
        "loaded_bytes": loaded,
        "loaded_vs_payload_ratio": ratio(loaded),
        "browse": [{"s": s, "bytes": rss, "vs_payload_ratio": ratio(rss)} for s, rss in browsing],
        "processes_mib_at_end": processes,
    }


def main(rows: int, seconds: float) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(json.dumps(measure(rows, seconds), indent=2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, float(sys.argv[2]) if len(sys.argv) > 2 else 60)
