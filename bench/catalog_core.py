"""Rust catalog against the plain-Python reference model, in one process, side by side.

    .venv/bin/python -m bench.catalog_core [products]

Prints the apply rate (decode + both copies) and, per query, the median time of a page in Rust and
in the reference with their ratio. A first measurement, not yet the pyperf suite of `make bench`.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable

from shop import _core
from tests.reference import ReferenceCatalog, product_changed

WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do".split()
QUERIES = [("name", ""), ("price", ""), ("id", ""), ("name", "lorem"), ("price", "lorem i")]


def events(count: int) -> list[tuple[int, bytes]]:
    rng = random.Random(1)
    return [
        product_changed(
            i,
            i,
            id=f"{rng.getrandbits(64):016x}",
            name=" ".join(rng.choice(WORDS) for _ in range(3)),
            price=rng.randint(1, 9999),
            description="x" * 80,
            longtext="y" * 300,
        )
        for i in range(count)
    ]


def median_seconds(call: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(count: int) -> None:
    stream = events(count)
    catalog = _core.Catalog()
    started = time.perf_counter()
    for first in range(0, count, 10_000):
        catalog.apply(stream[first : first + 10_000])
    rate = count / (time.perf_counter() - started)
    print(f"{count} products; apply (decode + both copies): {rate:,.0f} events/s")
    reference = ReferenceCatalog()
    for offset, message in stream:
        reference.apply(offset, message)
    for sort, prefix in QUERIES:
        rust = median_seconds(lambda s=sort, p=prefix: catalog.page(s, p, 3, 100), 200)
        python = median_seconds(lambda s=sort, p=prefix: reference.page(s, p, 3, 100), 3)
        print(
            f"page 3 of 100, sort={sort} prefix={prefix!r}: Rust {rust * 1e6:.1f} µs, "
            f"Python {python * 1e3:.1f} ms, {python / rust:,.0f}x"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
