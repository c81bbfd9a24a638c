"""Startup to ready: the shop replaying its topics, against raw confluent-kafka reading the same topics
and doing nothing, run alternately; then the shop starting from its snapshots."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from bench.stack import READY_TIMEOUT_S, Stack, raw_consume
from bench.stats import spread
from shop.contexts import catalog, checkout, fulfilment, search

log = logging.getLogger("bench")

# What a starting shop loads: the internal topic of each projection (relays resume from positions).
LOADED_TOPICS = (catalog.INTERNAL, checkout.INTERNAL, fulfilment.INTERNAL, search.INTERNAL)
LOADED = re.compile(r"loaded (\S+) up to offset \d+ in ([\d.]+)s")
SNAPSHOT_LOADED = re.compile(r"loaded the snapshot of (\S+) at offset \d+ in ([\d.]+)s")


def shop_start_seconds(stack: Stack, snapshots: bool, name: str) -> float:
    """Seconds from exec of `shop serve` until /readyz answers 200 (polled every 20 ms)."""
    shop = stack.shop(cpus=None, snapshots=snapshots, name=name).start()
    try:
        return shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
    finally:
        shop.stop()  # with snapshots on, this writes (or keeps) them


def load_seconds(log_path: Path, pattern: re.Pattern[str] = LOADED) -> dict[str, float]:
    """Seconds per topic from the shop's log lines matching `pattern` (topic, seconds): each
    projection's own loading time, which shows the one a start waited for."""
    loaded = {}
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            message = json.loads(line).get("msg", "")
        except (json.JSONDecodeError, AttributeError):
            continue
        found = pattern.match(message)
        if found:
            loaded[found.group(1)] = float(found.group(2))
    return loaded


def compare(stack: Stack, runs: int) -> dict[str, object]:
    """The shop's start and the raw consumer's, alternated so both see the same machine: seconds of
    each, their ratio per run, and how long each projection took to load in the shop."""
    shop, raw, loaded = [], [], []
    for run in range(runs):
        raw.append(raw_consume(stack, LOADED_TOPICS)[0])
        shop.append(shop_start_seconds(stack, snapshots=False, name=f"startup-{run}"))
        loaded.append(load_seconds(stack.logs / f"startup-{run}.log"))
        log.info("startup run %d: shop %.1fs (%s), raw consume %.1fs", run, shop[-1], loaded[-1], raw[-1])
    return {
        "shop_s": spread(shop).as_dict(),
        "raw_s": spread(raw).as_dict(),
        "ratio": spread([s / r for s, r in zip(shop, raw, strict=True)]).as_dict(),
        "projection_load_s": per_topic(loaded),
    }


def per_topic(runs: list[dict[str, float]]) -> dict[str, object]:
    return {
        topic: spread([run[topic] for run in runs if topic in run]).as_dict()
        for topic in LOADED_TOPICS
        if any(topic in run for run in runs)
    }


def from_snapshots(stack: Stack, runs: int, not_cached_runs: int) -> dict[str, object]:
    """Starts that load the snapshots the first start wrote as it stopped (see stack.load), their
    files in the page cache (read before each start) as a restart finds them moments after a stop:
    their seconds, and each projection's snapshot loading time as the shop logged it. Then starts
    with the files dropped from the page cache first: a restart long after the stop on a host that
    reclaims idle cache (this one pages out what was not read for a minute, so that the first
    starts after the replays above read their snapshots from the disk)."""
    cached = [_snapshot_start(stack, f"snapshot-{run}", cached=True) for run in range(runs)]
    dropped = [
        _snapshot_start(stack, f"snapshot-not-cached-{run}", cached=False) for run in range(not_cached_runs)
    ]
    seconds = [s for s, _ in cached]
    loads = [loaded for _, loaded in cached]
    log.info("startup from snapshots: %s (%s)", ", ".join(f"{s:.1f}s" for s in seconds), loads)
    log.info("startup from snapshots not cached: %s", ", ".join(f"{s:.1f}s" for s, _ in dropped))
    return {
        "seconds": spread(seconds).as_dict(),
        "loads": per_topic(loads),
        "not_cached_seconds": spread([s for s, _ in dropped]).as_dict(),
    }


def _snapshot_start(stack: Stack, name: str, cached: bool) -> tuple[float, dict[str, float]]:
    for path in stack.snapshots.glob("*.snapshot"):
        in_page_cache(path, cached)
    seconds = shop_start_seconds(stack, snapshots=True, name=name)
    return seconds, load_seconds(stack.logs / f"{name}.log", SNAPSHOT_LOADED)


def in_page_cache(path: Path, cached: bool) -> None:
    """Reads the whole file into the page cache, or drops it from there (the file is synced: its
    pages are clean and can go)."""
    with open(path, "rb") as stream:
        if cached:
            while stream.read(1 << 24):
                pass
        else:
            os.posix_fadvise(stream.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
