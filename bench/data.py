"""The benchmark data: deterministic products and stock as the shop's own CSV tools make them, and
the catalog events they become. Generated once per size and seed, kept under data/bench/."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from fixtures.host import REPO
from shop._proto import catalog_pb2
from shop.contexts import pim_csv, stock_csv

DATA = REPO / "data" / "bench"
SEED = 0
LENGTH = struct.Struct("<I")


def products_csv(rows: int) -> Path:
    """`rows` products as `shop fake-products` writes them (the slowest step: about 1 minute per
    million rows, so the file is kept)."""
    path = DATA / f"products-{rows}-{SEED}.csv"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with open(partial, "w", newline="", encoding="utf-8") as out:
            pim_csv.fake_products(rows, SEED, out)
        partial.rename(path)
    return path


def stock_csv_for(rows: int) -> Path:
    """Stock for every product of products_csv(rows): one stock event per product."""
    path = DATA / f"stock-{rows}-{SEED}.csv"
    if not path.exists():
        partial = path.with_suffix(".partial")
        with open(products_csv(rows), newline="", encoding="utf-8") as products, open(partial, "w") as out:
            stock_csv.fake_stock(products, SEED, out, out_of_stock=0.0)
        partial.rename(path)
    return path


def catalog_events_file(rows: int) -> Path:
    """The catalog_internal messages the catalog bridge makes of those products, one per product,
    length-prefixed in a file: what the page and memory benchmarks apply."""
    path = DATA / f"catalog-events-{rows}-{SEED}.bin"
    if not path.exists():
        with open(products_csv(rows), newline="", encoding="utf-8") as stream:
            products = pim_csv.parse_products(stream)
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as out:
            for pim_offset, product in enumerate(products):
                changed = catalog_pb2.ProductChanged(product=product, pim_offset=pim_offset)
                message = catalog_pb2.InternalMessage(product_changed=changed).SerializeToString()
                out.write(LENGTH.pack(len(message)))
                out.write(message)
        partial.rename(path)
    return path


def catalog_batches(rows: int, batch: int) -> Iterator[list[tuple[int, bytes]]]:
    """The catalog events as (offset, message) batches, read from the file as they are needed."""
    with open(catalog_events_file(rows), "rb") as stream:
        offset = 0
        while True:
            chunk = []
            for _ in range(batch):
                header = stream.read(LENGTH.size)
                if not header:
                    break
                (size,) = LENGTH.unpack(header)
                chunk.append((offset, stream.read(size)))
                offset += 1
            if not chunk:
                return
            yield chunk


def product_ids(rows: int, count: int) -> list[str]:
    """The ids of the first `count` products of products_csv(rows)."""
    ids = []
    with open(products_csv(rows), encoding="utf-8") as stream:
        next(stream)
        for line in stream:
            ids.append(line.split(",", 1)[0])
            if len(ids) == count:
                break
    return ids
