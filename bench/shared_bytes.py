"""The catalog and the search loaded from their snapshots of the same ROWS products in one process,
as the shop starts: each load's seconds (wall and thread CPU) and the resident memory above the
empty process after each, against the bytes of the products' events.

    python -m bench.shared_bytes ROWS
    python -m bench.shared_bytes ROWS apply
    python -m bench.shared_bytes ROWS together

The second applies the events to the catalog, then to the search, in one process instead, and
prints each one's thread CPU seconds. The third loads both snapshots at once, on two threads, as
the shop does. The snapshots are written once (by applying the events to
each model in a child process) and reused; the loads run in a fresh process each time, so that
nothing is shared before them. Prints one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import data
from bench.memory import BATCH, settled_rss
from shop import _core

MODELS = {"catalog": (_core.Catalog, "catalog_internal"), "search": (_core.Search, "search_internal")}


def snapshot_path(rows: int, name: str) -> Path:
    return data.DATA / f"shared-bytes-{name}-{rows}-{data.SEED}.snapshot"


def write_snapshot(rows: int, name: str) -> None:
    """Applies the events to the model `name` and writes its snapshot (in this process)."""
    model_type, topic = MODELS[name]
    model = model_type()
    for batch in data.catalog_batches(rows, BATCH):
        model.apply(batch)
    model.write_snapshot(str(snapshot_path(rows, name)), topic, "bench", "bench")


def load_both(rows: int) -> dict[str, object]:
    """Loads the catalog's snapshot, then the search's, in this (fresh) process."""
    payload = sum(len(message) for batch in data.catalog_batches(rows, BATCH) for _, message in batch)
    models = {name: model_type() for name, (model_type, _) in MODELS.items()}
    empty = settled_rss()
    found: dict[str, object] = {"products": rows, "payload_bytes": payload}
    for name, model in models.items():
        started, cpu = time.perf_counter(), time.thread_time()
        model.load_snapshot(str(snapshot_path(rows, name)), MODELS[name][1], "bench", "bench", rows)
        found[f"{name}_load_s"] = round(time.perf_counter() - started, 3)
        found[f"{name}_load_cpu_s"] = round(time.thread_time() - cpu, 3)
        found[f"rss_vs_payload_after_{name}"] = round((settled_rss() - empty) / payload, 3)
    return found


def load_together(rows: int) -> dict[str, object]:
    """Loads both snapshots at once, each on its own thread (the loads release the GIL)."""
    found: dict[str, object] = {"products": rows}

    def load(name: str) -> None:
        model_type, topic = MODELS[name]
        started = time.perf_counter()
        model_type().load_snapshot(str(snapshot_path(rows, name)), topic, "bench", "bench", rows)
        found[f"{name}_load_s"] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    with ThreadPoolExecutor(len(MODELS)) as pool:
        for loaded in [pool.submit(load, name) for name in MODELS]:
            loaded.result()  # a failed load fails the benchmark
    found["both_loaded_s"] = round(time.perf_counter() - started, 3)
    return found


def apply_both(rows: int) -> dict[str, object]:
    """Thread CPU of applying the events to the catalog, then to the search (sharing its products)."""
    batches = list(data.catalog_batches(rows, BATCH))
    found: dict[str, object] = {"products": rows}
    for name, (model_type, _) in MODELS.items():
        model, cpu = model_type(), time.thread_time()
        for batch in batches:
            model.apply(batch)
        found[f"{name}_apply_cpu_s"] = round(time.thread_time() - cpu, 3)
    return found


def ensure_snapshots(rows: int) -> None:
    """Writes each model's snapshot of `rows` products once, each in a process of its own."""
    data.catalog_events_file(rows)
    for name in MODELS:
        if not snapshot_path(rows, name).exists():
            subprocess.run([sys.executable, "-m", "bench.shared_bytes", str(rows), "write", name], check=True)


def main(rows: int, mode: str) -> None:
    ensure_snapshots(rows)
    command = [sys.executable, "-m", "bench.shared_bytes", str(rows), mode]
    loaded = subprocess.run(command, check=True, capture_output=True, text=True)
    print(loaded.stdout.strip())


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    match sys.argv[2:]:
        case ["write", name]:
            write_snapshot(rows, name)
        case ["load"]:
            print(json.dumps(load_both(rows)))
        case ["load-together"]:
            print(json.dumps(load_together(rows)))
        case ["together"]:
            main(rows, "load-together")
        case ["apply"]:
            data.catalog_events_file(rows)
            print(json.dumps(apply_both(rows)))
        case _:
            main(rows, "load")
