"""Readers paging while the writer applies batches never see a torn or half-applied state, and are
never held up by the writer."""

from __future__ import annotations

import json
import threading

from fixtures.reference import product_changed
from shop import _core

PRODUCTS = 2_000


def generation(number: int, first_offset: int) -> list[tuple[int, bytes]]:
    """One batch that sets every product's price to `number`: a complete state, or none of it."""
    return [
        product_changed(
            first_offset + i, first_offset + i, id=f"p{i:05d}", name=f"n{i % 97:02d}", price=number
        )
        for i in range(PRODUCTS)
    ]


def test_readers_see_whole_batches_only_and_never_wait() -> None:
    catalog = _core.Catalog()
    catalog.apply(generation(0, 0))
    names = [f"n{i % 97:02d}" for i in range(PRODUCTS)]
    expected_totals = {prefix: sum(name.startswith(prefix) for name in names) for prefix in ("", "n1")}
    stop = threading.Event()
    failures: list[str] = []
    reads_during_apply = [0]
    applying = threading.Event()

    def reader(sort: str, prefix: str) -> None:
        last = 0
        while not stop.is_set():
            page = json.loads(catalog.page(sort, prefix, 1, 1000))
            prices = {item["price"] for item in page["items"]}
            if len(prices) != 1 or page["total"] != expected_totals[prefix]:
                failures.append(f"torn page: prices {sorted(prices)[:5]}, total {page['total']}")
            elif (price := prices.pop()) < last:
                failures.append(f"went back from generation {last} to {price}")
            else:
                last = price
            if applying.is_set():
                reads_during_apply[0] += 1

    readers = [
        threading.Thread(target=reader, args=args)
        for args in [("id", ""), ("price", ""), ("name", "n1"), ("price", "n1")]
    ]
    for thread in readers:
        thread.start()
    offset = PRODUCTS
    for number in range(1, 21):
        batch = generation(number, offset)
        offset += PRODUCTS
        applying.set()
        catalog.apply(batch)
        applying.clear()
    stop.set()
    for thread in readers:
        thread.join()
    assert failures == []
    assert catalog.offset == offset - 1
    # The GIL is released while a batch is applied: readers kept reading meanwhile.
    assert reads_during_apply[0] > 0
