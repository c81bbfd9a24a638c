"""The Rust catalog's apply rate, builds side by side: each build applies ROWS catalog events from
empty ROUNDS times in a process of its own (the builds alternating, PAIRS times), as
`python -m bench pages` times `rust_apply_event`: batches of 10,000 through `Catalog.apply`.

    python -m bench.apply_ab ROWS ROUNDS PAIRS A.so B.so ...

The first round of a process interns every product (the process-wide table is empty); later rounds
find them interned, as the second of the catalog and the search to decode an event does, and as
pyperf's later values do. Each line: the build, events/s of each round, resident MiB after each
(malloc not trimmed between rounds, as between pyperf's values).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time

from bench import data
from bench.page_costs import load_extension
from bench.pages import APPLY_BATCH
from bench.processes import rss_bytes


def rounds(rows: int, count: int, extension: str) -> str:
    core = load_extension(extension)
    batches = list(data.catalog_batches(rows, APPLY_BATCH))
    rates, resident = [], []
    for _ in range(count):
        gc.collect()
        catalog = core.Catalog()
        started = time.perf_counter()
        for batch in batches:
            catalog.apply(batch)
        rates.append(rows / (time.perf_counter() - started))
        resident.append(rss_bytes(os.getpid()) >> 20)  # untrimmed, as pyperf's rounds run
        del catalog
    return f"{extension}: events/s {', '.join(f'{r:,.0f}' for r in rates)}; resident MiB {resident}"


def main(argv: list[str]) -> None:
    rows, count = int(argv[0]), int(argv[1])
    if argv[2].startswith("--one="):
        print(rounds(rows, count, argv[2].removeprefix("--one=")), flush=True)
        return
    pairs, builds = int(argv[2]), argv[3:]
    data.catalog_events_file(rows)  # generated once, before any build is timed
    for _ in range(pairs):
        for extension in builds:  # a process each: one build's table never meets another's
            argv = [sys.executable, "-m", "bench.apply_ab", str(rows), str(count), f"--one={extension}"]
            subprocess.run(argv, check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
