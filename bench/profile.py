"""`make profile`: py-spy flame graphs (SVG) of the shop's server process under wrk load.

    python -m bench.profile [reads] [reads-under-writes] [cart-writes]

Starts its own broker with the quick data set (BENCH_PROFILE_PRODUCTS, 50,000 by default), the shop
on core 0 and wrk on core 1 as `make bench` does, and records bench/results/profile-<load>.svg
(Python and native frames: the Rust extension shows by function). Also prints the frames that take
the most samples, which `python -m bench` puts into latest.md for the loads it profiles.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench import data, http_load, stack, wrk
from bench.processes import SERVER_CPU, Server
from bench.report import RESULTS

log = logging.getLogger("bench")

SECONDS = 10
RATE = 100  # samples per second: enough for a flame graph, light on a 2-core machine
LOADS = ("reads", "reads-under-writes", "cart-writes")
# Leaves where a thread waits (for the GIL, a lock, a socket) rather than works.
WAITING = ("epoll_wait", "syscall", "futex", "pthread_cond", "sem_wait", "take_gil", "select", "poll (")


def record(pid: int, seconds: float, output: Path, raw: bool) -> subprocess.Popen[bytes]:
    """py-spy on `pid` for `seconds`, in the background; `raw` writes collapsed stacks, else an SVG."""
    py_spy = str(Path(sys.executable).parent / "py-spy")
    argv = [py_spy, "record", "--native", "-r", str(RATE), "-d", str(int(seconds))]
    argv += ["--format", "raw" if raw else "flamegraph", "-o", str(output), "-p", str(pid)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def top_frames(collapsed: Path, count: int = 12) -> list[tuple[float, str]]:
    """The leaf frames with the most samples, as shares of the samples where a thread worked."""
    leaves: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack_text, _, samples = line.rpartition(" ")
        leaf = stack_text.rsplit(";", 1)[-1]
        if not any(mark in leaf for mark in WAITING) and not leaf.startswith("0x"):
            leaves[leaf] += int(samples)
    working = sum(leaves.values()) or 1
    return [(samples / working, frame) for frame, samples in leaves.most_common(count)]


def profile_load(shop: Server, load: Callable[[float], object], output: Path) -> Path:
    """Runs `load` while py-spy records the shop's worker into `output` (.svg: a flame graph, else
    collapsed stacks); returns `output`."""
    raw = output.suffix != ".svg"
    spy = record(shop.worker_pid(), SECONDS, output, raw)
    time.sleep(1)  # py-spy attached before the load begins
    load(SECONDS - 2)
    _, errors = spy.communicate(timeout=SECONDS + 60)
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy failed: {errors.decode(errors='replace')}")
    return output


def loads(kafka: stack.Stack, shop: Server, rows: int) -> dict[str, Callable[[float], object]]:
    script = http_load.cart_script(kafka.folder, data.product_ids(rows, 20))

    def reads(seconds: float) -> object:
        return wrk.run(shop.url + http_load.PAGE, http_load.READ_CONNECTIONS, seconds)

    def reads_under_writes(seconds: float) -> object:
        driver = http_load.start_driver(kafka, shop, rows, seconds)
        try:
            return reads(seconds)
        finally:
            driver.communicate(timeout=seconds + 60)

    def cart_writes(seconds: float) -> object:
        url = shop.url + "/api/v1/cart/items/"
        return wrk.run(url, http_load.WRITE_CONNECTIONS, seconds, script)

    return {"reads": reads, "reads-under-writes": reads_under_writes, "cart-writes": cart_writes}


def main(names: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    rows = int(os.environ.get("BENCH_PROFILE_PRODUCTS", "50000"))
    RESULTS.mkdir(exist_ok=True)
    kafka = stack.start_stack(f"profile-{os.getpid()}")
    try:
        stack.load(kafka, rows)
        shop = kafka.shop(cpus=SERVER_CPU, snapshots=True, name="profile-shop").start()
        try:
            shop.wait_until("/readyz", 200, stack.READY_TIMEOUT_S)
            for name, load in loads(kafka, shop, rows).items():
                if names and name not in names:
                    continue
                print(profile_load(shop, load, RESULTS / f"profile-{name}.svg"))
                collapsed = profile_load(shop, load, kafka.folder / f"profile-{name}.txt")
                for share, frame in top_frames(collapsed):
                    print(f"  {share * 100:5.1f}%  {frame}")
        finally:
            shop.stop()
    finally:
        kafka.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
