"""`python -m bench` (what `make bench` runs): every benchmark of issue #6, then bench/results/.

    python -m bench                 # the full suite: 10^6 products, bench/results/latest.{json,md}
    BENCH_QUICK=1 python -m bench   # small sizes, short runs: data/bench/results/latest.{json,md}
    python -m bench pages http      # only some parts (pages, memory, startup, http, content, search,
                                    # search-http)

It generates its data (kept in data/bench/), starts its own broker on free ports in a fresh folder
and stops it at the end, and bounds every load run in time.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyperf

from bench import (
    content,
    data,
    first_start_floor,
    http_load,
    machine,
    pages,
    report,
    search_http,
    stack,
    startup,
)
from bench.stats import spread
from fixtures.host import REPO

log = logging.getLogger("bench")
PARTS = ("pages", "memory", "startup", "http", "content", "search", "search-http")


@dataclass(frozen=True)
class Settings:
    quick: bool
    products: int
    startup_runs: int
    snapshot_start_runs: int  # a few seconds each: more of them, for a median the machine moves less
    http_runs: int
    http_seconds: float
    browse_s: float  # browsing right after the load, before the after-browse memory sample
    content_imports: int

    @classmethod
    def from_env(cls) -> Settings:
        if os.environ.get("BENCH_QUICK", "") not in ("", "0"):
            return cls(
                quick=True,
                products=50_000,
                startup_runs=2,
                snapshot_start_runs=3,
                http_runs=2,
                http_seconds=3,
                browse_s=15,
                content_imports=20,
            )
        return cls(
            quick=False,
            products=1_000_000,
            startup_runs=3,
            snapshot_start_runs=7,
            http_runs=5,
            http_seconds=8,
            browse_s=300,
            content_imports=100,
        )


def run_pages(settings: Settings) -> dict[str, Any]:
    folder = data.DATA / "pyperf"
    folder.mkdir(parents=True, exist_ok=True)
    suites = {}
    for implementation in ("rust", "python"):
        output = folder / f"{implementation}.json"
        output.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "bench.pages", implementation, str(settings.products), str(output)]
        subprocess.run([*argv, *(["--quick"] if settings.quick else [])], cwd=REPO, check=True)
        suites[implementation] = pyperf.BenchmarkSuite.load(str(output))
    queries = {}
    for sort, prefix in pages.QUERIES:
        rust = suites["rust"].get_benchmark(pages.page_name("rust", sort, prefix)).get_values()
        python = suites["python"].get_benchmark(pages.page_name("python", sort, prefix)).get_values()
        rust_s, python_s = spread(list(rust)), spread(list(python))
        queries[f"sort={sort} prefix={prefix}"] = {
            "sort": sort,
            "prefix": prefix,
            "rust_s": rust_s.as_dict(),
            "python_s": python_s.as_dict(),
            "speedup": python_s.median / rust_s.median,
        }
    apply = suites["rust"].get_benchmark("rust_apply_event").get_values()
    return {
        "products": settings.products,
        "queries": queries,
        "apply_seconds_per_event": spread(list(apply)).as_dict(),
    }


def run_memory(settings: Settings) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.memory", str(settings.products)]
    done = subprocess.run(argv, cwd=REPO, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_search(settings: Settings) -> dict[str, Any]:
    """The search index's figures, in a process of its own (its resident memory is measured)."""
    argv = [sys.executable, "-m", "bench.search", str(settings.products)]
    done = subprocess.run(argv, cwd=REPO, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_kafka_parts(settings: Settings, parts: set[str], results: dict[str, Any]) -> None:
    """The parts that need a broker and the shop's data in it: one broker for all of them."""
    kafka = stack.start_stack(f"run-{os.getpid()}")
    try:
        imported = stack.load(kafka, settings.products)
        results["first_start_s"] = imported.first_start_s
        results["imported"] = asdict(imported)
        if "startup" in parts:
            results["first_start_floor"] = first_start_floor.measure(kafka)
            results["startup"] = startup.compare(kafka, settings.startup_runs)
            snapshots = startup.from_snapshots(kafka, settings.snapshot_start_runs, settings.startup_runs)
            results["snapshot_startup_s"] = snapshots["seconds"]
            results["snapshot_load_s"] = snapshots["loads"]
            results["snapshot_startup_not_cached_s"] = snapshots["not_cached_seconds"]
        if "http" in parts:
            runs = http_load.measure(
                kafka, settings.products, settings.http_runs, settings.http_seconds, settings.browse_s
            )
            results["http"] = runs.summary()
        if "content" in parts:
            results["content"] = content.measure(
                kafka, settings.products, settings.http_runs, settings.http_seconds, settings.content_imports
            )
        if "search-http" in parts:
            results["search_http"] = search_http.measure(
                kafka, settings.products, settings.http_runs, settings.http_seconds
            )
    finally:
        kafka.stop()


# The sections of the results each part writes.
SECTIONS = {
    "pages": ("pages",),
    "memory": ("memory",),
    "startup": (
        "startup",
        "snapshot_startup_s",
        "snapshot_load_s",
        "snapshot_startup_not_cached_s",
        "first_start_floor",
    ),
    "http": ("http",),
    "content": ("content",),
    "search": ("search",),
    "search-http": ("search_http",),
}


# The parts that need a broker, and what every one of them measures on the way: the import and
# the first start after it.
KAFKA_PARTS = frozenset({"startup", "http", "content", "search-http"})
IMPORT_SECTIONS = ("imported", "first_start_s")


def carry_over(results: dict[str, Any], parts: set[str], previous_path: Path | None = None) -> None:
    """A run of some parts keeps the other parts' figures from the committed results, and says
    from when they are."""
    previous_path = previous_path or report.RESULTS / "latest.json"
    if not previous_path.exists():
        return
    previous = json.loads(previous_path.read_text())["details"]
    kept = [part for part in PARTS if part not in parts and all(k in previous for k in SECTIONS[part])]
    # When each part was measured: a part carried over by the previous run keeps its own time.
    measured_at = {part: results["finished_at"] for part in parts}
    for part in kept:
        for key in SECTIONS[part]:
            results[key] = previous[key]
        measured_at[part] = previous.get("measured_at", {}).get(part, previous["finished_at"])
    results["measured_at"] = measured_at
    if not parts & KAFKA_PARTS:
        results.update({key: previous[key] for key in IMPORT_SECTIONS if key in previous})
    for when in sorted({measured_at[part] for part in kept}):
        carried = [part for part in kept if measured_at[part] == when]
        note = f"{', '.join(carried)}: figures of the run finished {when} (not run again)."
        results.setdefault("notes", []).append(note)


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    settings = Settings.from_env()
    parts = set(argv) or set(PARTS)
    unknown = parts - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}; known: {', '.join(PARTS)}")
    started = time.monotonic()
    results: dict[str, Any] = {"settings": asdict(settings), "machine": machine.facts()}
    log.info("generating or reusing the data for %d products", settings.products)
    data.catalog_events_file(settings.products)
    data.stock_csv_for(settings.products)
    if "pages" in parts:
        results["pages"] = run_pages(settings)
    if "memory" in parts:
        results["memory"] = run_memory(settings)
    if "search" in parts:
        results["search"] = run_search(settings)
    if parts & KAFKA_PARTS:
        run_kafka_parts(settings, parts, results)
    results["machine"]["load average at end"] = machine.load_average()
    results["duration_s"] = time.monotonic() - started
    results["finished_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if not settings.quick and parts != set(PARTS):
        carry_over(results, parts)
    # Quick runs are for development: their results stay out of the committed ones.
    paths = report.write(results, data.DATA / "results" if settings.quick else report.RESULTS)
    print("\n".join(str(p) for p in paths))


if __name__ == "__main__":
    main(sys.argv[1:])
