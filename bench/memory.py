"""Resident memory of the catalog (both copies, every index) per product, against the bytes of the
protobuf events the products came from.

    python -m bench.memory ROWS

Run in its own process: the empty process (interpreter, extension, an empty catalog) is measured
first, then the events are streamed from the data file and applied in the shop's batch size, so
that no more than one batch of event bytes is alive at a time. Prints one JSON line.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys

from bench import data
from bench.processes import rss_bytes
from shop import _core

BATCH = 10_000


def settled_rss() -> int:
    """RSS after freed memory went back to the system: Python's garbage, then malloc's free lists."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_bytes(os.getpid())


def main(rows: int) -> None:
    data.catalog_events_file(rows)  # generated before the empty process is measured
    catalog = _core.Catalog()
    empty = settled_rss()
    payload = 0
    for batch in data.catalog_batches(rows, BATCH):
        payload += sum(len(message) for _, message in batch)
        catalog.apply(batch)
    del batch
    loaded = settled_rss()
    print(
        json.dumps({"products": len(catalog), "rss_empty": empty, "rss_loaded": loaded, "payload": payload})
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
