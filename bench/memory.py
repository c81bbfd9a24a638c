"""Resident memory of one model (both copies, every index) per product, against the bytes of the
protobuf events it was built from.

    python -m bench.memory ROWS              the catalog (ROWS products)
    python -m bench.memory ROWS checkout     checkout: ROWS products and ROWS stock levels
    python -m bench.memory ROWS fulfilment   fulfilment: ROWS stock levels

Run in its own process: the empty process (interpreter, extension, an empty model) is measured
first, then the events are applied in the shop's batch size (the catalog's streamed from the data
file, so that no more than one batch of event bytes is alive at a time; checkout's and
fulfilment's, smaller, are made in memory first). Prints one JSON line, with the seconds spent
applying (`apply_s`).
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Iterable

from bench import data
from bench.processes import rss_bytes
from shop import _core
from shop._proto import checkout_pb2, fulfilment_pb2
from shop.contexts import pim_csv, stock_csv

BATCH = 10_000
Batches = Iterable[list[tuple[int, bytes]]]


def settled_rss() -> int:
    """RSS after freed memory went back to the system: Python's garbage, then malloc's free lists."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_bytes(os.getpid())


def in_batches(messages: list[bytes]) -> list[list[tuple[int, bytes]]]:
    """A list, not a generator: the messages stay alive (measured in the empty process too)."""
    return [list(enumerate(messages[at : at + BATCH], at)) for at in range(0, len(messages), BATCH)]


def stock_corrections(rows: int) -> list[fulfilment_pb2.StockCorrected]:
    with open(data.stock_csv_for(rows), encoding="utf-8") as stream:
        levels = stock_csv.parse_stock(stream)
    return [fulfilment_pb2.StockCorrected(product_id=i, quantity_change=q) for i, q in levels.items()]


def catalog_batches(rows: int) -> Batches:
    data.catalog_events_file(rows)  # written now, not while the model is measured
    return data.catalog_batches(rows, BATCH)


def checkout_batches(rows: int) -> Batches:
    """What the checkout bridges relay: every product, then every stock level."""
    with open(data.products_csv(rows), newline="", encoding="utf-8") as stream:
        products = pim_csv.parse_products(stream)
    messages = []
    for pim_offset, p in enumerate(products):
        changed = checkout_pb2.ProductChanged(
            product_id=p.id,
            price=p.price,
            name=p.name,
            small_image_url=p.small_image_url,
            pim_offset=pim_offset,
        )
        messages.append(checkout_pb2.InternalMessage(product_changed=changed).SerializeToString())
    del products
    for fulfilment_offset, corrected in enumerate(stock_corrections(rows)):
        bridged = checkout_pb2.FulfilmentChanged(
            stock_corrected=corrected, fulfilment_offset=fulfilment_offset
        )
        messages.append(checkout_pb2.InternalMessage(fulfilment_changed=bridged).SerializeToString())
    return in_batches(messages)


def fulfilment_batches(rows: int) -> Batches:
    messages = [
        fulfilment_pb2.InternalMessage(stock_corrected=corrected).SerializeToString()
        for corrected in stock_corrections(rows)
    ]
    return in_batches(messages)


MODELS: dict[str, tuple[Callable[[], _core.Projection], Callable[[int], Batches]]] = {
    "catalog": (_core.Catalog, catalog_batches),
    "checkout": (_core.Checkout, checkout_batches),
    "fulfilment": (_core.Fulfilment, fulfilment_batches),
}


def main(rows: int, name: str) -> None:
    model_type, batches = MODELS[name]
    events = batches(rows)  # made before the empty process is measured
    model = model_type()
    empty = settled_rss()
    payload, applying = 0, 0.0
    for batch in events:
        payload += sum(len(message) for _, message in batch)
        started = time.perf_counter()
        model.apply(batch)
        applying += time.perf_counter() - started
    del batch  # the events made in memory stay: they were there when the empty process was measured
    loaded = settled_rss()
    found = {"model": name, "products": rows, "sizes": model.sizes(), "payload": payload}
    print(json.dumps(found | {"rss_empty": empty, "rss_loaded": loaded, "apply_s": round(applying, 3)}))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "catalog")
