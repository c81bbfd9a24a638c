"""Search over HTTP (issue #31's targets): suggest and search at 16 connections from wrk on core 1
against the shop on core 0, and how soon a product change produced to pim_internal shows in a
search while 2,000 other product updates a second go through the same path.

    python -m bench search-http    # this part alone (BENCH_QUICK=1 for short runs)

The requests are those of bench/search.py (suggest: 1-6 letters of product words; search: 1-3
product words, one query in five with a typo, facets always counted), each list made once with a
fixed seed and replayed by wrk (browse.lua). Visibility: the write driver's search probe gives a
product a price no other product has, produces it to pim_internal (relayed to pim_pub, bridged to
search_internal, applied by the index) and polls a search filtered to that price every 2 ms until
the product is its hit.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import http_load
from bench.browse import Workload, written
from bench.processes import LOAD_CPU, SERVER_CPU, Server, pin_process
from bench.search import search_queries, suggest_inputs
from bench.stack import READY_TIMEOUT_S, Stack
from bench.stats import percentile, spread

log = logging.getLogger("bench")

CONNECTIONS = 16
SEED = 31
PATHS = 20_000
VISIBLE_UPDATES_PER_S = 2_000


def workloads(folder: Path) -> dict[str, Workload]:
    """The suggest and search request lists, written under `folder`."""
    rng = random.Random(SEED)
    made = {
        "suggest": [f"/api/v1/search/suggest?q={quote(text)}" for text in suggest_inputs(rng, PATHS)],
        "search": [f"/api/v1/search?q={quote(text)}" for text in search_queries(rng, PATHS)],
    }
    return written(made, folder)


def measure(stack: Stack, rows: int, runs: int, seconds: float) -> dict[str, Any]:
    pin_process(stack.broker.pid(), LOAD_CPU)
    shop = stack.shop(cpus=SERVER_CPU, snapshots=True, name="search-shop").start()
    try:
        shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
        figures: dict[str, Any] = {"connections": CONNECTIONS}
        for name, workload in workloads(stack.folder / "search-workloads").items():
            figures[name] = replay(shop, workload, runs, seconds)
            log.info("%s over HTTP: %s", name, figures[name])
        figures["visible_ms"] = visibility(stack, shop, rows, seconds * runs)
        return figures
    finally:
        shop.stop()
        pin_process(stack.broker.pid(), f"{SERVER_CPU},{LOAD_CPU}")


def replay(shop: Server, workload: Workload, runs: int, seconds: float) -> dict[str, Any]:
    """`runs` wrk runs of `workload`, each from another stretch of its requests."""
    workload.run(shop.url, CONNECTIONS, http_load.WARMUP_S)
    done = []
    for run in range(runs):
        result = workload.run(shop.url, CONNECTIONS, seconds, start=run * workload.count // runs)
        assert result.errors == 0, f"{result.errors} errors in {workload.name}"
        done.append(result)
    return {
        figure: spread([getattr(result, figure) for result in done]).as_dict()
        for figure in ("requests_per_s", "p50_ms", "p99_ms")
    }


def visibility(stack: Stack, shop: Server, rows: int, seconds: float) -> dict[str, Any]:
    """Milliseconds from producing a probe's change to a search showing it, beside 2,000 product
    updates a second."""
    load = http_load.WriteLoad(cart_per_s=0, catalog_per_s=VISIBLE_UPDATES_PER_S, probe="search")
    driver = http_load.start_driver(stack, shop, rows, seconds, load)
    output, _ = driver.communicate(timeout=seconds + 60)
    achieved = json.loads(output.strip().splitlines()[-1])
    probes = [float(ms) for ms in achieved["propagation_ms"]]
    log.info("search visibility: %d probes beside %s updates", len(probes), achieved["catalog_updates"])
    return {
        "p50": percentile(probes, 0.5),
        "p99": percentile(probes, 0.99),
        "probes": len(probes),
        "catalog_updates": achieved["catalog_updates"],
    }
