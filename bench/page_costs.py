"""What each kind of request of the browse and uncached workloads costs in the Rust catalog, in
process (no HTTP), at ROWS products: listing pages, name-prefix pages by name and by id or price,
and product pages, as the mean and p99 of each kind's calls.

    python -m bench.page_costs ROWS [EXTENSION.so ...]

With extension builds given, each is loaded in turn (in a process of its own, alternating, twice)
and measured over the same requests: side by side, as a change's effect should be measured on a
shared machine. Its memory is the shop's: malloc set as the serving process sets it (it starts
itself over with shop/huge_pages.py's tunable, unless GLIBC_TUNABLES sets it otherwise), the
catalog built on a thread as the projections build it, trimmed and collapsed onto huge pages as
the shop does once ready.
"""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench import browse, data
from shop import heap, huge_pages

REQUESTS = {"browse": 30_000, "uncached": 20_000}


def load_extension(path: str | None) -> ModuleType:
    """`shop._core`, or the build at `path` in its place (before anything imports it)."""
    if path is None:
        return importlib.import_module("shop._core")
    spec = importlib.util.spec_from_file_location("shop._core", path)
    assert spec is not None and spec.loader is not None
    core = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(core)
    sys.modules["shop._core"] = core
    return core


def request_of(path: str) -> tuple[str, str, tuple[str, str, int, int] | None]:
    """(kind, product id, None) for a product page; (kind, "", the page's arguments) otherwise."""
    url = urlsplit(path)
    if url.path.startswith("/api/v1/products/"):
        return "product page", url.path.rsplit("/", 1)[1], None
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    page = (query["sort"], query.get("prefix", ""), int(query["page"]), int(query["per_page"]))
    if not page[1]:
        return "listing page", "", page
    return ("prefix page by name" if page[0] == "name" else "prefix page by id or price"), "", page


def built_catalog(rows: int, extension: str | None) -> Any:
    """A catalog of `rows` products from `extension` (or shop._core), in memory as the shop's:
    built on a thread of its own, as the projections build it (malloc gives a thread an arena of
    its own), then trimmed and put on huge pages as the shop does once ready."""
    catalog = load_extension(extension).Catalog()

    def build() -> None:
        for batch in data.catalog_batches(rows, 10_000):
            catalog.apply(batch)

    builder = threading.Thread(target=build)
    builder.start()
    builder.join()
    heap.trim_and_collapse()
    return catalog


def measure(rows: int, extension: str | None) -> dict[str, tuple[float, float, int]]:
    """(mean µs, p99 µs, count) per kind of request."""
    catalog = built_catalog(rows, extension)
    rng = random.Random(browse.SEED)
    paths = browse.browse_paths(browse.Catalog.of(rows), REQUESTS["browse"], rng)
    paths += browse.uncached_paths(rows, rng)[: REQUESTS["uncached"]]
    times: dict[str, list[int]] = {}
    for kind, product_id, page in map(request_of, paths):
        started = time.perf_counter_ns()
        if page is None:
            catalog.product(product_id)
        else:
            catalog.page(*page)
        times.setdefault(kind, []).append(time.perf_counter_ns() - started)
    found = {}
    for kind, spent in sorted(times.items()):
        spent.sort()
        found[kind] = (sum(spent) / len(spent) / 1000, spent[int(len(spent) * 0.99)] / 1000, len(spent))
    return found


def described(rows: int, extension: str | None) -> str:
    """What each kind of request costs with `extension`, on one line."""
    return "; ".join(
        f"{kind} {mean:.1f} µs (p99 {p99:.0f}, {count})"
        for kind, (mean, p99, count) in measure(rows, extension).items()
    )


def side_by_side(module: str, argv: list[str], describe: Callable[[int, str | None], str]) -> None:
    """`python -m MODULE ROWS [EXTENSION.so ...]`: prints `describe(ROWS, build)` for shop._core,
    or for each build given, each in a process of its own (`--one=`), alternating, twice."""
    huge_pages.start_over_with_huge_pages()
    rows, builds = int(argv[0]), argv[1:]
    if not builds:
        print(f"shop._core: {describe(rows, None)}")
        return
    if len(builds) == 1 and builds[0].startswith("--one="):
        extension = builds[0].removeprefix("--one=")
        print(f"{extension}: {describe(rows, extension)}", flush=True)
        return
    for _ in range(2):
        for extension in builds:  # a process each: one build's memory never meets another's
            subprocess.run([sys.executable, "-m", module, str(rows), f"--one={extension}"], check=True)


if __name__ == "__main__":
    side_by_side("bench.page_costs", sys.argv[1:], described)
