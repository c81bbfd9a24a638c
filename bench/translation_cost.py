"""What the relays' translations cost per message, in process: the pim_internal message of each of
the first 2,000 products of the bench's catalog of ROWS through the publisher's translation, then
each bridge's, and a call of a Python function that does nothing (the loop's own cost, to take
off). Each figure is the best of five passes, in ns per message. A first start runs each of them
over every product.

    python -m bench.translation_cost ROWS [EXTENSION.so ...]

With builds given, each is measured in a process of its own, alternating, twice
(`bench.page_costs.side_by_side`).
"""

from __future__ import annotations

import io
import itertools
import sys
import time
from collections.abc import Callable

from bench import data
from bench.page_costs import load_extension, side_by_side
from shop._proto import pim_pb2
from shop.contexts import pim_csv

PRODUCTS = 2_000
PASSES = 5


def pim_messages(rows: int) -> list[bytes]:
    """pim_internal messages of the first PRODUCTS products of the catalog of `rows`, as the
    import writes them."""
    with open(data.products_csv(rows), newline="", encoding="utf-8") as stream:
        head = "".join(itertools.islice(stream, PRODUCTS + 1))  # the header, then a product a line
    products = pim_csv.parse_products(io.StringIO(head))
    return [pim_pb2.InternalMessage(product=product).SerializeToString() for product in products]


def best_ns(translate: Callable[[bytes, int], object], messages: list[bytes]) -> float:
    """The best of PASSES passes of `translate` over `messages`, in ns per message."""
    best = float("inf")
    for _ in range(PASSES):
        started = time.perf_counter_ns()
        for offset, message in enumerate(messages):
            translate(message, offset)
        best = min(best, (time.perf_counter_ns() - started) / len(messages))
    return best


def described(rows: int, extension: str | None) -> str:
    core = load_extension(extension)
    internal = pim_messages(rows)
    public = [core.pim_publish(message, offset) for offset, message in enumerate(internal)]
    loop = best_ns(lambda message, offset: None, public)
    costs = {
        "pim_publish": best_ns(core.pim_publish, internal),
        "catalog_bridge": best_ns(core.catalog_bridge, public),
        "checkout_pim_bridge": best_ns(core.checkout_pim_bridge, public),
    }
    shown = "; ".join(f"{name} {ns - loop:.0f}" for name, ns in costs.items())
    return f"{shown} ns a message beyond the loop's {loop:.0f}"


if __name__ == "__main__":
    side_by_side("bench.translation_cost", sys.argv[1:], described)
