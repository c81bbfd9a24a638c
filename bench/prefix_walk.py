"""A name prefix's page by id or price in the Rust catalog, in process, at ROWS products: browse's
prefix pages by id or price (their mean, and by prefix length, over three passes), and page 300
of 100 by price of five one-letter prefixes read cold (the first call) and hot (the median of 50
calls). What bench/results/prefix-walk-2026-12-05.md measures the walk over a prefix's matches
with. Also a prefix's range alone (page 1 of 1 by name) for each of browse's prefixes, each
after the twelve listing pages that come between two prefixes in browse (the median over a
pass), as browse finds the name index: not in the cache.

    python -m bench.prefix_walk ROWS [EXTENSION.so ...]

With extension builds given, each is measured in a process of its own, alternating, twice (as
`bench.page_costs` does, whose catalog it builds).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from typing import Any

from bench import browse, page_costs

PASSES = 3
ONE_LETTER = ("a", "c", "e", "l", "n")
HOT_CALLS = 50


Page = tuple[str, str, int, int]
LISTINGS_BETWEEN = 12


def browse_pages(rows: int) -> dict[str, list[Page]]:
    """The pages among browse's requests, by kind."""
    rng = random.Random(browse.SEED)
    paths = browse.browse_paths(browse.Catalog.of(rows), page_costs.REQUESTS["browse"], rng)
    pages: dict[str, list[Page]] = {}
    for kind, _, page in map(page_costs.request_of, paths):
        if page is not None:
            pages.setdefault(kind, []).append(page)
    return pages


def range_between_listings(catalog: Any, pages: dict[str, list[Page]]) -> float:
    """The median µs of page 1 of 1 by name of each of browse's prefixes, each timed after
    LISTINGS_BETWEEN listing pages."""
    listings = pages["listing page"]
    kinds = ("prefix page by id or price", "prefix page by name")
    prefixes = [page[1] for kind in kinds for page in pages[kind]]
    spent = []
    for i, prefix in enumerate(prefixes):
        for k in range(LISTINGS_BETWEEN):
            catalog.page(*listings[(i * LISTINGS_BETWEEN + k) % len(listings)])
        spent.append(timed_ns(catalog, ("name", prefix, 1, 1)))
    return statistics.median(spent) / 1000


def timed_ns(catalog: Any, page: Page) -> int:
    started = time.perf_counter_ns()
    catalog.page(*page)
    return time.perf_counter_ns() - started


def measure(rows: int, extension: str | None) -> str:
    catalog = page_costs.built_catalog(rows, extension)
    every_kind = browse_pages(rows)
    pages = every_kind["prefix page by id or price"]
    by_length: dict[int, list[int]] = {}
    for _ in range(PASSES):
        for page in pages:
            by_length.setdefault(len(page[1]), []).append(timed_ns(catalog, page))
    cold, hot = [], []
    for prefix in ONE_LETTER:
        page = ("price", prefix, 300, 100)
        calls = [timed_ns(catalog, page) for _ in range(HOT_CALLS)]
        cold.append(calls[0] / 1000)
        hot.append(statistics.median(calls) / 1000)
    every = [spent for spents in by_length.values() for spent in spents]
    lengths = ", ".join(
        f"{length}-letter {statistics.mean(spent) / 1000:.1f}" for length, spent in sorted(by_length.items())
    )
    return (
        f"prefix pages by id or price {statistics.mean(every) / 1000:.1f} µs ({lengths}); "
        f"one letter, page 300 by price: cold {min(cold):.0f}-{max(cold):.0f} µs, "
        f"hot {min(hot):.0f}-{max(hot):.0f} µs; "
        f"a prefix's range between listing pages {range_between_listings(catalog, every_kind):.2f} µs"
    )


if __name__ == "__main__":
    page_costs.side_by_side("bench.prefix_walk", sys.argv[1:], measure)
