"""Workloads as shoppers browse, each a list of request paths made once with a fixed seed and
replayed by wrk (browse.lua), against a floor that answers a constant body of the workload's mean
response size.

- browse: 70% listing pages (any sort, any page, per_page 24, 48 or 100), 10% listing pages with a
  name prefix of 1-3 letters cut from a real product name (a page within its matches), 20% product
  pages by random id.
- uncached: listing pages (every sort, page and per_page), each query once, shuffled: within a run
  no query repeats, so the page cache cannot help.
"""

from __future__ import annotations

import csv
import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bench import data, wrk
from bench.processes import http_get
from shop import _core

SEED = 26
PER_PAGES = (24, 48, 100)
SHARES = {"listing": 0.7, "prefixed": 0.1, "detail": 0.2}
BROWSE_PATHS = 200_000
DETAIL_IDS = 100_000  # more than the page cache holds (4,096), fewer than a Lua table minds
SIZE_SAMPLE = 400
SCRIPT = Path(__file__).with_name("browse.lua")


@dataclass(frozen=True)
class Workload:
    name: str
    paths_file: Path
    count: int

    def run(
        self,
        base_url: str,
        connections: int,
        seconds: float,
        start: int = 0,
        accept_encoding: str = "",
        pause_ms: float | None = None,
    ) -> wrk.WrkResult:
        """One wrk run replaying the paths from line `start` (wrapping around at the end), with
        `accept_encoding` in every request when given; each connection pauses `pause_ms` between
        its requests when given (a steady load rather than as fast as the server answers)."""
        args = [str(self.paths_file), str(start % self.count), accept_encoding]
        if pause_ms is not None:
            args.append(f"{pause_ms:g}")
        return wrk.run(base_url + "/", connections, seconds, SCRIPT, args)

    def sample(self, count: int = SIZE_SAMPLE) -> list[str]:
        """`count` paths spread evenly over the list."""
        paths = self.paths_file.read_text().splitlines()
        step = max(1, len(paths) // count)
        return paths[::step][:count]


@dataclass(frozen=True)
class Catalog:
    """What the workloads draw from: the products' ids and names."""

    ids: list[str]
    names: list[str]

    @classmethod
    def of(cls, rows: int) -> Catalog:
        ids, names = [], []
        with open(data.products_csv(rows), newline="", encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                ids.append(row["id"])
                names.append(row["name"])
        return cls(ids, names)

    def prefix_counts(self) -> Counter[str]:
        return Counter(name[:length] for name in self.names for length in (1, 2, 3))


def listing(sort: str, page: int, per_page: int, prefix: str = "") -> str:
    query = f"sort={sort}&page={page}&per_page={per_page}"
    return f"/api/v1/products?{query}&prefix={quote(prefix)}" if prefix else f"/api/v1/products?{query}"


def browse_paths(catalog: Catalog, count: int, rng: random.Random) -> list[str]:
    counts = catalog.prefix_counts()
    ids = rng.sample(catalog.ids, min(DETAIL_IDS, len(catalog.ids)))
    total = len(catalog.ids)
    kinds = rng.choices(list(SHARES), weights=list(SHARES.values()), k=count)
    paths = []
    for kind in kinds:
        sort, per_page = rng.choice(_core.SORTS), rng.choice(PER_PAGES)
        if kind == "listing":
            paths.append(listing(sort, rng.randint(1, math.ceil(total / per_page)), per_page))
        elif kind == "prefixed":
            prefix = rng.choice(catalog.names)[: rng.randint(1, 3)]
            pages = math.ceil(counts[prefix] / per_page)
            paths.append(listing(sort, rng.randint(1, pages), per_page, prefix))
        else:
            paths.append(f"/api/v1/products/{rng.choice(ids)}")
    return paths


def uncached_paths(total: int, rng: random.Random) -> list[str]:
    paths = [
        listing(sort, page, per_page)
        for sort in _core.SORTS
        for per_page in PER_PAGES
        for page in range(1, math.ceil(total / per_page) + 1)
    ]
    rng.shuffle(paths)
    return paths


def workloads(rows: int, folder: Path) -> dict[str, Workload]:
    """The workloads for `rows` products, their path lists written under `folder`."""
    rng = random.Random(SEED)
    catalog = Catalog.of(rows)
    made = {
        "browse": browse_paths(catalog, BROWSE_PATHS, rng),
        "uncached": uncached_paths(len(catalog.ids), rng),
    }
    return written(made, folder)


def written(made: dict[str, list[str]], folder: Path) -> dict[str, Workload]:
    """Workloads of the request paths `made` by name, each list written to a file under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, paths in made.items():
        path = folder / f"{name}.paths"
        path.write_text("\n".join(paths) + "\n")
        found[name] = Workload(name, path, len(paths))
    return found


def mean_body_bytes(base_url: str, workload: Workload) -> int:
    """The mean size of the shop's answers over a sample of the workload's requests."""
    sizes = [len(http_get(base_url + path)) for path in workload.sample()]
    return round(sum(sizes) / len(sizes))


def floor_body(folder: Path, name: str, size: int) -> Path:
    """A JSON body of exactly `size` bytes (at least the 10 of its frame)."""
    path = folder / f"{name}-floor.json"
    path.write_bytes(b'{"pad":"' + b"x" * max(0, size - 10) + b'"}')
    return path
