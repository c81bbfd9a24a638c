"""Micro benchmarks of the Rust core with pytest-benchmark: `make bench-micro` (not part of `make test`).

    make bench-micro                      # compares with the saved baseline, fails on a regression
    make bench-micro BENCH_MICRO_SAVE=1   # saves a new baseline in bench/results/micro/

A catalog of BENCH_MICRO_PRODUCTS products (200,000 by default) from the benchmark data: listing
pages by sort and prefix at random pages (each a page the model has to find and encode, as an
uncached request does), one product page, applying a batch of events, and loading a snapshot.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench import browse, data
from shop import _core

PRODUCTS = int(os.environ.get("BENCH_MICRO_PRODUCTS", "200000"))
BATCH = 10_000  # the shop's consume batch
PAGES = 2_000  # random pages each benchmark cycles through
TOPIC = ("catalog_internal", "topic-id", "cluster-id")


@pytest.fixture(scope="module")
def catalog() -> _core.Catalog:
    built = _core.Catalog()
    for batch in data.catalog_batches(PRODUCTS, BATCH):
        built.apply(batch)
    return built


def cycling(calls: list[Callable[[], object]]) -> Callable[[], object]:
    """One call of the list per round, in turn: every round a different page."""
    turn: Iterator[Callable[[], object]] = itertools.cycle(calls)

    def call_next() -> object:
        return next(turn)()

    return call_next


@pytest.mark.parametrize("prefix", ["", "Lo"])
@pytest.mark.parametrize("sort", _core.SORTS)
def test_listing_page(benchmark: BenchmarkFixture, catalog: _core.Catalog, sort: str, prefix: str) -> None:
    rng = random.Random(browse.SEED)
    matches = json.loads(catalog.page(sort, prefix, 1, 1))["total"]
    calls: list[Callable[[], object]] = []
    for _ in range(PAGES):
        per_page = rng.choice(browse.PER_PAGES)
        page = rng.randint(1, max(1, math.ceil(matches / per_page)))
        calls.append(functools.partial(catalog.page, sort, prefix, page, per_page))
    benchmark(cycling(calls))


def test_product_page(benchmark: BenchmarkFixture, catalog: _core.Catalog) -> None:
    ids = random.Random(browse.SEED).sample(data.product_ids(PRODUCTS, PRODUCTS), PAGES)
    benchmark(cycling([functools.partial(catalog.product, i) for i in ids]))


def test_apply_batch(benchmark: BenchmarkFixture) -> None:
    """One batch of events into an empty catalog: decoding, both copies, the indexes."""
    batch = next(data.catalog_batches(PRODUCTS, BATCH))

    def fresh() -> tuple[tuple[_core.Catalog, list[tuple[int, bytes]]], dict[str, object]]:
        return (_core.Catalog(), batch), {}

    benchmark.pedantic(_core.Catalog.apply, setup=fresh, rounds=20)  # type: ignore[no-untyped-call]


def test_snapshot_load(benchmark: BenchmarkFixture, catalog: _core.Catalog, tmp_path: Path) -> None:
    path = tmp_path / "catalog.snapshot"
    catalog.write_snapshot(str(path), *TOPIC)

    def load() -> None:
        _core.Catalog().load_snapshot(str(path), *TOPIC, catalog.offset + 1)

    benchmark.pedantic(load, rounds=5, warmup_rounds=1)  # type: ignore[no-untyped-call]
