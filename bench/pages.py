"""pyperf: catalog pages in Rust against the plain-Python reference model, and the Rust apply rate.

    python -m bench.pages rust|python ROWS OUTPUT.json [--quick]

Each implementation runs in its own process (pyperf in-process mode: the million-product model is
built once per process, not once per pyperf worker) and writes a pyperf suite to OUTPUT.json
(`python -m pyperf show OUTPUT.json`). bench/__main__.py runs both and compares them.
"""

from __future__ import annotations

import functools
import gc
import sys
import time
from collections.abc import Callable

import pyperf

from bench import data
from fixtures.reference import ReferenceCatalog
from shop import _core

# Every sort, without and with a name prefix. "Lorem" starts about 1 name in 110 (names are three
# random words out of about 110, capitalised), so with sort=id|price it selects ~9,000 of 10^6.
QUERIES = [(sort, prefix) for prefix in ("", "Lorem") for sort in ("id", "price", "name")]
PAGE, PER_PAGE = 3, 100
APPLY_BATCH = 10_000  # the shop's consume batch (SHOP_CONSUME_BATCH)


def page_name(implementation: str, sort: str, prefix: str) -> str:
    return f"{implementation}_page_sort={sort}_prefix={prefix or '-'}"


def time_loops(call: Callable[[], object]) -> Callable[[int], float]:
    def timed(loops: int) -> float:
        started = time.perf_counter()
        for _ in range(loops):
            call()
        return time.perf_counter() - started

    return timed


def bench_rust(runner: pyperf.Runner, rows: int, quick: bool) -> None:
    batches = list(data.catalog_batches(rows, APPLY_BATCH))
    built: list[_core.Catalog] = []

    def apply_all(loops: int) -> float:
        elapsed = 0.0
        for _ in range(loops):
            built.clear()  # free the previous model first: one model in memory at a time
            gc.collect()
            catalog = _core.Catalog()
            started = time.perf_counter()
            for batch in batches:
                catalog.apply(batch)
            elapsed += time.perf_counter() - started
            built.append(catalog)
        return elapsed

    # One value is a whole build of `rows` products from empty; inner_loops makes it per event.
    _set(runner, processes=1, values=2 if quick else 3, warmups=0, loops=1)
    runner.bench_time_func("rust_apply_event", apply_all, inner_loops=rows)
    catalog = built[-1]
    batches.clear()  # the event bytes are not needed for the page queries
    _set(runner, processes=2 if quick else 3, values=3 if quick else 5, warmups=1, loops=0)
    for sort, prefix in QUERIES:
        page = time_loops(functools.partial(catalog.page, sort, prefix, PAGE, PER_PAGE))
        runner.bench_time_func(page_name("rust", sort, prefix), page)


def bench_python(runner: pyperf.Runner, rows: int, quick: bool) -> None:
    reference = ReferenceCatalog()
    for batch in data.catalog_batches(rows, APPLY_BATCH):
        for offset, message in batch:
            reference.apply(offset, message)
    # A reference page sorts every matching product: seconds at 10^6, so few values, one loop.
    _set(runner, processes=1, values=2 if quick else 3, warmups=0, loops=1)
    for sort, prefix in QUERIES:
        page = time_loops(functools.partial(reference.page, sort, prefix, PAGE, PER_PAGE))
        runner.bench_time_func(page_name("python", sort, prefix), page)


def _set(runner: pyperf.Runner, processes: int, values: int, warmups: int, loops: int) -> None:
    """pyperf settings per benchmark (its Runner parses its arguments once per process)."""
    runner.args.processes = processes
    runner.args.values = values
    runner.args.warmups = warmups
    runner.args.loops = loops


def main(argv: list[str]) -> None:
    implementation, rows, output = argv[0], int(argv[1]), argv[2]
    quick = "--quick" in argv
    runner = pyperf.Runner(metadata={"products": str(rows)})
    runner.parse_args(["--in-process", "--quiet", "--output", output])
    if implementation == "rust":
        bench_rust(runner, rows, quick)
    else:
        bench_python(runner, rows, quick)


if __name__ == "__main__":
    main(sys.argv[1:])
