"""Two builds of the shop side by side over HTTP: the browse and uncached workloads, and browse
while the write driver sends the write load, against one loaded stack, each build's shop started
in turn (the order alternating every round), so that both see the same machine. A build is a
folder of files that replace those at the same paths under shop/ for its runs (`_core.abi3.so`,
`api/app.py`, ...); the files are put back after.

    python -m bench.ab_http ROWS ROUNDS BUILD_A BUILD_B

Prints each run's requests/s and, per build and workload, the median and the runs; per build
also each start's seconds from exec to ready (from snapshots) and the resident memory of its
process group after its runs.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench import browse
from bench.http_load import READ_CONNECTIONS, warm_up_writes, write_load
from bench.processes import LOAD_CPU, SERVER_CPU, Server, pin_process, process_rss_bytes
from bench.stack import READY_TIMEOUT_S, Stack, load, start_stack
from bench.stats import spread
from fixtures.host import REPO

log = logging.getLogger("bench")

SHOP = REPO / "shop"
RUN_S = 8.0
RUNS = 2  # of each workload, per build and round
WARM_UP_S = 3.0
UNDER_WRITES = "browse under writes"
WORKLOADS = ("browse", "uncached", UNDER_WRITES)
READY, RSS = "start to ready (s)", "resident after the runs (MiB)"


def put(files: dict[Path, Path]) -> None:
    """Each file of `files` (path under shop/ -> its source) in place, by a rename: a process
    that loaded the file before (this one's extension) keeps the one it mapped."""
    for path, source in files.items():
        temporary = SHOP / f"{path}.ab-tmp"
        shutil.copyfile(source, temporary)
        shutil.copymode(SHOP / path, temporary)
        os.replace(temporary, SHOP / path)


def build_files(folder: Path) -> dict[Path, Path]:
    """The files of a build folder, by their path under shop/ (each must exist there)."""
    files = {source.relative_to(folder): source for source in folder.rglob("*") if source.is_file()}
    for path in files:
        if not (SHOP / path).is_file():
            raise SystemExit(f"{folder / path}: shop/{path} does not exist")
    return files


def runs_of(
    stack: Stack, rows: int, rounds: int, builds: dict[str, dict[Path, Path]]
) -> dict[str, list[float]]:
    """Requests/s of every run by "build workload", and each start's figures by "build figure"."""
    pin_process(stack.broker.pid(), LOAD_CPU)
    workloads = browse.workloads(rows, stack.folder / "workloads")
    found: dict[str, list[float]] = {}
    names = list(builds)
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            put(builds[name])
            shop = stack.shop(cpus=SERVER_CPU, snapshots=True, name=f"ab-{name}-{round_}").start()
            try:
                ready_s = shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
                found.setdefault(f"{name} {READY}", []).append(ready_s)
                workloads["browse"].run(shop.url, READ_CONNECTIONS, WARM_UP_S)
                if round_ == 0 and name == names[0]:  # once, before anything under writes
                    warm_up_writes(stack, shop, rows)
                for workload in WORKLOADS:
                    for run in range(RUNS):
                        start = (round_ * RUNS + run) * 7000  # the uncached queries never repeat
                        requests_per_s = run_workload(stack, shop, rows, workloads, workload, start)
                        found.setdefault(f"{name} {workload}", []).append(requests_per_s)
                        log.info("%s %s: %.0f req/s", name, workload, requests_per_s)
                found.setdefault(f"{name} {RSS}", []).append(process_rss_bytes(shop.pids()) / 2**20)
            finally:
                shop.stop()
    return found


def run_workload(
    stack: Stack, shop: Server, rows: int, workloads: dict[str, browse.Workload], workload: str, start: int
) -> float:
    """Requests/s of one run of `workload` from its request `start`; browse under writes while the
    write driver sends the write load, as `python -m bench` runs it."""
    if workload != UNDER_WRITES:
        return workloads[workload].run(shop.url, READ_CONNECTIONS, RUN_S, start=start).requests_per_s
    with write_load(stack, shop, rows, RUN_S) as driver:
        result = workloads["browse"].run(shop.url, READ_CONNECTIONS, RUN_S, start=start)
        driver.communicate(timeout=RUN_S + 60)
    return result.requests_per_s


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rows, rounds, folders = int(argv[0]), int(argv[1]), [Path(arg) for arg in argv[2:4]]
    builds = {folder.name: build_files(folder) for folder in folders}
    if len(builds) != 2:
        raise SystemExit("two build folders of different names")
    with tempfile.TemporaryDirectory() as kept:
        # The working tree's own files, put back at the end.
        own = {path: Path(kept) / str(i) for i, path in enumerate({p for b in builds.values() for p in b})}
        for path, copy in own.items():
            shutil.copyfile(SHOP / path, copy)
        stack = start_stack("ab-http")
        try:
            load(stack, rows)  # the first start, relaying everything, runs the working tree's build
            found = runs_of(stack, rows, rounds, builds)
        finally:
            put(own)
            stack.stop()
    for key, values in sorted(found.items()):
        runs = spread(values)
        figure = "{:,.2f}" if key.endswith(READY) else "{:,.0f}"
        unit = "" if key.endswith((READY, RSS)) else " req/s"
        listed = ", ".join(figure.format(v) for v in values)
        print(f"{key}: median {figure.format(runs.median)}{unit} (runs: {listed})")


if __name__ == "__main__":
    main(sys.argv[1:])
