"""The search index's figures (issue #31), measured on the Rust model in its own process, called as
the HTTP routes call it (without HTTP: `python -m bench http` has no search load yet).

    python -m bench.search ROWS

Indexes ROWS products from empty (the catalog's events: search_internal carries the same), measures
the resident memory that took against the events' bytes, writes a snapshot and times a fresh index
loading it, then times suggestions (1-6 letters of product words) and searches (1-3 product words,
one in five with a typo, facets always counted) one at a time for their latency and from one thread
per core for their rate, and times applying batches of product changes (what a 2,000 updates/s feed
hands the projection every 100 ms). Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable

from bench import data
from bench.memory import BATCH, settled_rss
from bench.stats import spread
from shop import _core
from shop._proto import catalog_pb2
from shop.contexts import pim_csv

SUGGESTIONS = 2_000
SEARCHES = 1_000
RATE_S = 3.0
UPDATES_PER_S = 2_000
UPDATE_BATCHES = 50
IDENTITY = ("search_internal", "bench", "bench")


def suggest_inputs(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(pim_csv.WORDS)[: rng.randint(1, 6)] for _ in range(count)]


def with_typo(rng: random.Random, word: str) -> str:
    at = rng.randrange(len(word))
    return word[:at] + rng.choice("aeioustx") + word[at + 1 :]


def search_queries(rng: random.Random, count: int) -> list[str]:
    queries = []
    for _ in range(count):
        words = [rng.choice(pim_csv.WORDS) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.2:
            i = rng.randrange(len(words))
            words[i] = with_typo(rng, words[i])
        queries.append(" ".join(words))
    return queries


def latencies_ms(call: Callable[[str], object], inputs: list[str]) -> list[float]:
    found = []
    for text in inputs:
        started = time.perf_counter()
        call(text)
        found.append((time.perf_counter() - started) * 1000)
    return found


def summary(values: list[float]) -> dict[str, float]:
    """Median, p99 and the extremes (the runs themselves are thousands)."""
    runs = spread(values)
    return {"median": runs.median, "p99": p99(values), "min": runs.low, "max": runs.high}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def rate(call: Callable[[str], object], inputs: list[str], threads: int) -> tuple[float, float]:
    """Calls per second from `threads` threads for RATE_S (the model releases the GIL), and the
    process's CPU milliseconds per call: on a machine shared with other work the rate is partly
    theirs, the CPU per call much less so."""
    done = [0] * threads
    stop = time.monotonic() + RATE_S

    def work(n: int) -> None:
        i = n
        while time.monotonic() < stop:
            call(inputs[i % len(inputs)])
            i += threads
            done[n] += 1

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    started, cpu = time.monotonic(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    calls = sum(done)
    return calls / (time.monotonic() - started), (time.process_time() - cpu) * 1000 / calls


def changes(rows: int, offset: int) -> list[list[tuple[int, bytes]]]:
    """Batches of price changes of the first products, each batch 100 ms of UPDATES_PER_S."""
    per_batch = UPDATES_PER_S // 10
    first = next(data.catalog_batches(rows, per_batch))
    batches = []
    for n in range(UPDATE_BATCHES):
        batch = []
        for i, (_, message) in enumerate(first):
            event = catalog_pb2.InternalMessage.FromString(message)
            event.product_changed.product.price += n + 1
            event.product_changed.pim_offset = offset + n * per_batch + i
            batch.append((offset + n * per_batch + i, event.SerializeToString()))
        batches.append(batch)
    return batches


def main(rows: int) -> None:
    data.catalog_events_file(rows)  # generated before the empty process is measured
    index = _core.Search()
    empty = settled_rss()
    payload = 0
    started = time.perf_counter()
    for batch in data.catalog_batches(rows, BATCH):
        payload += sum(len(message) for _, message in batch)
        index.apply(batch)
    index_s = time.perf_counter() - started
    del batch
    loaded = settled_rss()

    path = data.DATA / f"search-{rows}-{data.SEED}.snapshot"
    index.write_snapshot(str(path), *IDENTITY)
    fresh = _core.Search()
    started = time.perf_counter()
    fresh.load_snapshot(str(path), *IDENTITY, index.offset)
    snapshot_s = time.perf_counter() - started
    same = fresh.search("lorem ipsum") == index.search("lorem ipsum")
    del fresh
    path.unlink()

    rng = random.Random(data.SEED)
    suggest_in, search_in = suggest_inputs(rng, SUGGESTIONS), search_queries(rng, SEARCHES)
    suggest_ms = latencies_ms(index.suggest, suggest_in)
    search_ms = latencies_ms(index.search, search_in)
    cores = os.cpu_count() or 1
    searches_per_s, search_cpu_ms = rate(index.search, search_in, cores)

    apply_ms = []
    for batch in changes(rows, index.offset + 1):
        started = time.perf_counter()
        index.apply(batch)
        apply_ms.append((time.perf_counter() - started) * 1000)

    result = {
        "products": len(index),
        "index_s": index_s,
        "rss_empty": empty,
        "rss_loaded": loaded,
        "payload": payload,
        "postings_bytes": index.postings_bytes(),
        "snapshot_load_s": snapshot_s,
        "snapshot_same_answers": same,
        "suggest_ms": summary(suggest_ms),
        "suggest_p99_ms": p99(suggest_ms),
        "search_ms": summary(search_ms),
        "search_p99_ms": p99(search_ms),
        "search_threads": cores,
        "searches_per_s": searches_per_s,
        "search_cpu_ms": search_cpu_ms,
        "change_batch_apply_ms": summary(apply_ms),
        "change_batch_apply_p99_ms": p99(apply_ms),
        "change_batch_size": UPDATES_PER_S // 10,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(int(sys.argv[1]))
