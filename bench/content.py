"""cms figures (issue #29): GET /api/v1/content/{slug} against the floor app serving the same bytes
(as the catalog page is measured), and the time from `import-content` to the change showing.

    python -m bench content    # this part alone (BENCH_QUICK=1 for short runs)

The page read is a teaser featuring products (its body joins the entry's stored HTML with the
catalog's products at each read). Import-to-visible: a page's file is changed, then
`cms_files.import_content` runs as `shop import-content` does (the folder read and checked, the
topic replayed, the change produced), and the clock stops when a GET shows the new body, polled
every 2 ms from another core.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from bench import data, http_load
from bench.processes import LOAD_CPU, SERVER_CPU, http_get, pin_process
from bench.stack import READY_TIMEOUT_S, Stack
from bench.stats import percentile, spread
from shop.contexts import cms_files

log = logging.getLogger("bench")

TEASER = "bench-teaser"
PAGE = "bench-page"
ENTRY_PATH = f"/api/v1/content/{TEASER}"
FEATURED = 4
POLL_S = 0.002
VISIBLE_TIMEOUT_S = 10.0


def write_folder(folder: Path, rows: int, marker: str) -> None:
    """A teaser featuring FEATURED products of the benchmark's catalog and a page whose body
    carries `marker` (the change an import makes visible)."""
    ids = data.product_ids(rows, FEATURED)
    paragraph = "Event thingies for *every* occasion, [shipped fast](/pages/shipping). " * 6
    teaser = f"---\nslug: {TEASER}\ntitle: This week\nkind: teaser\npublished: true\n"
    teaser += f"products: [{', '.join(ids)}]\n---\n{paragraph}\n"
    (folder / "teaser.md").write_text(teaser)
    page = f"---\nslug: {PAGE}\ntitle: Shipping\nkind: page\npublished: true\n---\n# {marker}\n\n"
    (folder / "page.md").write_text(page + (paragraph + "\n\n") * 10)


def measure(stack: Stack, rows: int, runs: int, seconds: float, imports: int) -> dict[str, Any]:
    folder = stack.folder / "content"
    folder.mkdir(exist_ok=True)
    write_folder(folder, rows, "version 0")
    cms_files.import_content(stack.config, folder)
    pin_process(stack.broker.pid(), LOAD_CPU)
    shop = stack.shop(cpus=SERVER_CPU, snapshots=True, name="content-shop").start()
    try:
        shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
        reads = http_load.HttpRuns()
        http_load.reads(stack, shop, reads, runs, seconds, path=ENTRY_PATH)
        figures: dict[str, Any] = {
            key: value for key, value in reads.summary().items() if key in ("reads", "floor", "read_ratio")
        }
        figures["body_bytes"] = reads.body_bytes
        figures["import_to_visible_s"] = import_to_visible(stack, shop.url, folder, rows, imports)
        return figures
    finally:
        shop.stop()
        pin_process(stack.broker.pid(), f"{SERVER_CPU},{LOAD_CPU}")


def import_to_visible(stack: Stack, url: str, folder: Path, rows: int, imports: int) -> dict[str, Any]:
    seconds = []
    for n in range(1, imports + 1):
        marker = f"version {n}"
        write_folder(folder, rows, marker)
        started = time.perf_counter()
        summary = cms_files.import_content(stack.config, folder)
        assert summary.changed == 1, summary
        while marker.encode() not in http_get(f"{url}/api/v1/content/{PAGE}"):
            if time.perf_counter() - started > VISIBLE_TIMEOUT_S:
                raise TimeoutError(f"{marker} not visible after {VISIBLE_TIMEOUT_S}s")
            time.sleep(POLL_S)
        seconds.append(time.perf_counter() - started)
    log.info(
        "import-content to visible: p50 %.3fs, p99 %.3fs", percentile(seconds, 0.5), percentile(seconds, 0.99)
    )
    return {**spread(seconds).as_dict(), "p99": percentile(seconds, 0.99)}
