"""HTTP load with wrk: the shop on core 0, wrk (and the broker, and the write driver) on core 1.

Reads: the measured page against the floor app serving the same bytes, alternated run by run.
Browse and uncached (bench/browse.py): many different pages as shoppers ask for them, each against
a floor answering the workload's mean response size; browse again under the write load.
Process memory: the resident memory of every process of `shop serve`, empty, loaded, and after
minutes of browsing.
Reads under writes: the same page while bench.write_driver applies cart writes and catalog updates;
then beside each part of that load alone (cart reads, cart writes, catalog updates), which tells
what each costs the reads and in which threads.
Cart writes: PUT with read-your-writes at concurrency 1 (latency) and 64 (throughput).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import browse, cpu, data, pyspy, wrk
from bench.processes import (
    LOAD_CPU,
    SERVER_CPU,
    Server,
    floor_server,
    http_get,
    pin_process,
    pinned,
    process_rss_bytes,
)
from bench.stack import READY_TIMEOUT_S, Stack
from bench.stats import percentile, spread
from fixtures.host import REPO

log = logging.getLogger("bench")

PAGE = "/api/v1/products?sort=name&page=3&per_page=100"
READ_CONNECTIONS = 64
WRITE_CONNECTIONS = 64
CART_WRITES_PER_S = 500
CATALOG_UPDATES_PER_S = 2000
WARMUP_S = 2
# The write load runs this long before anything under writes is measured: a fresh broker's JVM
# compiles its produce and fetch paths in the first half minute of writes, and meanwhile takes
# several times the CPU of a warm one, which is no state of a broker in service.
WRITE_WARMUP_S = 40
# The loaded memory is sampled this long after the first writes: the shop's passes over its heap
# after them (trim, huge pages' collapse: seconds at 10^6 products) are done, as they are in service.
LOADED_SETTLE_S = 20
# How long the loaded shop is watched at rest (no request, no write) for what it costs idle.
AT_REST_S = 10
PART_RUNS = 3
CART_SCRIPT = """
-- PUT a quantity into one of 10,000 carts (cookie) for one of a few products, round robin.
local ids = {%s}
local n = 0
request = function()
  n = n + 1
  local headers = {
    ["Cookie"] = string.format("cart=%%032x", math.random(1, 10000)),
    ["Content-Type"] = "application/json",
  }
  local body = string.format('{"quantity": %%d}', n %% 5 + 1)
  return wrk.format("PUT", "/api/v1/cart/items/" .. ids[n %% #ids + 1], headers, body)
end
"""


@dataclass(frozen=True)
class WriteLoad:
    """What the write driver sends: cart requests and catalog updates a second, and whether the
    cart requests read the carts instead of writing them."""

    cart_per_s: float = CART_WRITES_PER_S
    catalog_per_s: float = CATALOG_UPDATES_PER_S
    cart_reads: bool = False
    probe: str = "page"  # where propagation probes look: the product's page, or a search


WRITES = WriteLoad()
# The parts of the write load, each run alone beside the reads. Cart reads go through the same HTTP
# and handler as a cart write but not through Kafka, so cart writes less cart reads is what a
# write's way through Kafka costs.
WRITE_PARTS = {
    "reads_under_cart_reads": WriteLoad(catalog_per_s=0, cart_reads=True),
    "reads_under_cart_writes": WriteLoad(catalog_per_s=0),
    "reads_under_catalog_updates": WriteLoad(cart_per_s=0),
}


@dataclass
class HttpRuns:
    """wrk results per figure, several runs each."""

    runs: dict[str, list[wrk.WrkResult]] = field(default_factory=dict)
    driver: list[dict[str, object]] = field(default_factory=list)
    # Per load, per run: the share of a core the server, the broker, wrk and the driver used.
    cpu_use: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    # The writes alone: the share of the server's core per group of its threads (bench/cpu.py).
    write_threads: dict[str, float] = field(default_factory=dict)
    # Per load, per run: the share of the server's core per group of its threads.
    threads: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    # Per load, per run: the server's thread switches per second per group of its threads.
    switches: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    body_bytes: int = 0
    # The mean answer size of each browse workload (its floor answers that many bytes).
    workload_bytes: dict[str, int] = field(default_factory=dict)
    # Resident bytes summed over the shop's processes: empty, loaded, after browsing.
    process_rss: dict[str, int] = field(default_factory=dict)
    # The loaded shop with no load: the share of its core it used, and per group of its threads
    # the share and the switches per second (`at_rest`).
    at_rest: dict[str, object] = field(default_factory=dict)
    # The frames taking the most samples of the server's work under each load (py-spy, after the runs).
    profiles: dict[str, list[tuple[float, str]]] = field(default_factory=dict)

    def add(self, name: str, result: wrk.WrkResult, window: cpu.Window | None = None) -> None:
        self.runs.setdefault(name, []).append(result)
        if window is not None:
            self.cpu_use.setdefault(name, []).append(window.shares)
            if window.thread_shares:
                self.threads.setdefault(name, []).append(window.thread_shares)
                self.switches.setdefault(name, []).append(window.thread_switches)
        log.info(
            "%s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors",
            name,
            result.requests_per_s,
            result.p50_ms,
            result.p99_ms,
            result.errors,
        )

    def summary(self) -> dict[str, object]:
        figures: dict[str, object] = {
            "body_bytes": self.body_bytes,
            "workload_bytes": self.workload_bytes,
            "process_rss": self.process_rss,
            "at_rest": self.at_rest,
            "propagation_ms": _propagation(self.driver),
            "write_driver": self.driver,
            "profiles": self.profiles,
            "write_threads": self.write_threads,
        }
        figures["cpu"] = {
            name: {process: spread([run[process] for run in runs]).as_dict() for process in runs[0]}
            for name, runs in self.cpu_use.items()
        }
        figures["threads"] = _group_medians(self.threads)
        figures["switches"] = _group_medians(self.switches)
        figures["write_parts"] = {name: asdict(load) for name, load in WRITE_PARTS.items()}
        for name, results in self.runs.items():
            figures[name] = {
                "requests_per_s": spread([r.requests_per_s for r in results]).as_dict(),
                "p50_ms": spread([r.p50_ms for r in results]).as_dict(),
                "p99_ms": spread([r.p99_ms for r in results]).as_dict(),
                "errors": sum(r.errors for r in results),
            }
        for shop, floor, ratio in RATIOS:
            if shop in self.runs:
                pairs = zip(self.runs[shop], self.runs[floor], strict=True)
                figures[ratio] = spread([r.requests_per_s / f.requests_per_s for r, f in pairs]).as_dict()
        return figures


# (shop runs, floor runs, their ratio): runs alternated one to one.
RATIOS = (
    ("reads", "floor", "read_ratio"),
    ("browse", "browse_floor", "browse_ratio"),
    ("uncached", "uncached_floor", "uncached_ratio"),
)


def _propagation(drivers: list[dict[str, object]]) -> dict[str, float] | None:
    """p50 and p99 over every probe of every write driver run with catalog updates."""
    probes = [float(ms) for run in drivers for ms in run.get("propagation_ms", [])]  # type: ignore[attr-defined]
    if not probes:
        return None
    return {"p50_ms": percentile(probes, 0.5), "p99_ms": percentile(probes, 0.99), "probes": len(probes)}


def measure(stack: Stack, rows: int, runs: int, seconds: float, browse_s: float) -> HttpRuns:
    results = HttpRuns()
    pin_process(stack.broker.pid(), LOAD_CPU)
    results.process_rss["empty"] = empty_shop_rss(stack)
    shop = stack.shop(cpus=SERVER_CPU, snapshots=True, name="http-shop").start()
    try:
        shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
        results.process_rss["loaded"] = loaded_rss(stack, shop, rows)
        results.at_rest = at_rest(stack, shop)
        workloads = browse.workloads(rows, stack.folder / "workloads")
        # Right after the load, as the memory target is defined: the write runs below add carts,
        # orders and catalog changes beyond the imported payload (`at_end` counts them too).
        log.info("browsing for %.0f s before the after-browse memory sample", browse_s)
        workloads["browse"].run(shop.url, READ_CONNECTIONS, browse_s)
        results.process_rss["after_browse"] = process_rss_bytes(shop.pids())
        reads(stack, shop, results, runs, seconds)
        browsing(stack, shop, results, workloads, runs, seconds)
        reads_under_writes(stack, shop, results, rows, runs, seconds)
        browse_under_writes(stack, shop, results, rows, workloads["browse"], runs, seconds)
        reads_under_write_parts(stack, shop, results, rows, min(runs, PART_RUNS), seconds)
        cart_writes(stack, shop, results, rows, runs, seconds)
        results.process_rss["at_end"] = process_rss_bytes(shop.pids())
        for name, load in loads(stack, shop, rows).items():
            collapsed = pyspy.profile_load(shop, load, stack.folder / f"profile-{name}.txt")
            results.profiles[name] = pyspy.top_frames(collapsed)
    finally:
        shop.stop()
        pin_process(stack.broker.pid(), f"{SERVER_CPU},{LOAD_CPU}")
    return results


def reads(stack: Stack, shop: Server, results: HttpRuns, runs: int, seconds: float, path: str = PAGE) -> None:
    """`path` of the shop against the floor app serving its body, run by run in turn."""
    body = http_get(shop.url + path)
    results.body_bytes = len(body)
    body_path = stack.folder / "page.json"
    body_path.write_bytes(body)
    floor = floor_server(body_path, "application/json", SERVER_CPU, stack.logs / "floor.log").start()
    try:
        floor.wait_until(path, 200, 60)
        for server in (floor, shop):
            wrk.run(server.url + path, READ_CONNECTIONS, WARMUP_S)
        for _ in range(runs):
            with cpu_window(stack, floor) as window:
                result = wrk.run(floor.url + path, READ_CONNECTIONS, seconds)
            results.add("floor", result, window)
            with cpu_window(stack, shop, per_thread=True) as window:
                result = wrk.run(shop.url + path, READ_CONNECTIONS, seconds)
            results.add("reads", result, window)
    finally:
        floor.stop()


def loaded_rss(stack: Stack, shop: Server, rows: int) -> int:
    """The resident bytes of the loaded shop once each projection holds both its copies: a shop
    started from snapshots clones the second copy at the first batch it applies, so a few catalog
    updates and cart writes go first (fulfilment's second copy waits for an order or a stock
    change, which neither this nor the browse runs make). Sampled LOADED_SETTLE_S after them:
    cloning and the first writes free memory that the heap trimmer gives back (shop/heap.py)."""
    start_driver(stack, shop, rows, WARMUP_S, WriteLoad(cart_per_s=20, catalog_per_s=20)).communicate(
        timeout=WARMUP_S + 60
    )
    time.sleep(LOADED_SETTLE_S)
    return process_rss_bytes(shop.pids())


def at_rest(stack: Stack, shop: Server) -> dict[str, object]:
    """What the loaded shop costs with nothing to do, over AT_REST_S: the share of its core it
    used (each consumer's and producer's wait for Kafka, librdkafka's timers) and, per group of
    its threads, their share and how often they were switched off the core: each time a thread
    wakes it takes the core, and a Python thread the GIL, from the requests served."""
    with cpu_window(stack, shop, per_thread=True) as window:
        time.sleep(AT_REST_S)
    return {
        "seconds": AT_REST_S,
        "cpu": window.shares["server"],
        "threads": window.thread_shares,
        "switches": window.thread_switches,
    }


def empty_shop_rss(stack: Stack) -> int:
    """The resident bytes of a ready shop with nothing in its topics (its own topic prefix)."""
    empty = stack.shop(cpus=SERVER_CPU, snapshots=False, name="empty-shop", topic_prefix="empty-").start()
    try:
        empty.wait_until("/readyz", 200, READY_TIMEOUT_S)
        time.sleep(WARMUP_S)  # its threads have started and touched their stacks
        return process_rss_bytes(empty.pids())
    finally:
        empty.stop()


def browsing(
    stack: Stack,
    shop: Server,
    results: HttpRuns,
    workloads: dict[str, browse.Workload],
    runs: int,
    seconds: float,
) -> None:
    """Each workload against its floor (the workload's mean answer size), alternated run by run.
    Run k replays from its own k-th of the list: an uncached run never meets a query twice."""
    for workload in workloads.values():
        size = browse.mean_body_bytes(shop.url, workload)
        results.workload_bytes[workload.name] = size
        body = browse.floor_body(stack.folder, workload.name, size)
        floor = floor_server(body, "application/json", SERVER_CPU, stack.logs / f"floor-{workload.name}.log")
        floor.start()
        try:
            floor.wait_until("/", 200, 60)
            for server in (floor, shop):
                workload.run(server.url, READ_CONNECTIONS, WARMUP_S)
            for run in range(runs):
                start = (run + 1) * workload.count // (runs + 1)
                with cpu_window(stack, floor) as window:
                    result = workload.run(floor.url, READ_CONNECTIONS, seconds, start)
                results.add(f"{workload.name}_floor", result, window)
                with cpu_window(stack, shop, per_thread=True) as window:
                    result = workload.run(shop.url, READ_CONNECTIONS, seconds, start)
                results.add(workload.name, result, window)
        finally:
            floor.stop()


def browse_under_writes(
    stack: Stack,
    shop: Server,
    results: HttpRuns,
    rows: int,
    workload: browse.Workload,
    runs: int,
    seconds: float,
) -> None:
    for run in range(runs):

        def read(seconds: float, start: int = run * workload.count // runs) -> wrk.WrkResult:
            return workload.run(shop.url, READ_CONNECTIONS, seconds, start)

        results.driver.append(
            reads_beside(stack, shop, results, "browse_under_writes", rows, seconds, WRITES, read)
        )


def reads_under_writes(
    stack: Stack, shop: Server, results: HttpRuns, rows: int, runs: int, seconds: float
) -> None:
    warm_up_writes(stack, shop, rows)
    writes_alone(stack, shop, results, rows, seconds)
    for _ in range(runs):
        results.driver.append(reads_beside(stack, shop, results, "reads_under_writes", rows, seconds, WRITES))


def reads_under_write_parts(
    stack: Stack, shop: Server, results: HttpRuns, rows: int, runs: int, seconds: float
) -> None:
    """The reads beside each part of the write load alone (WRITE_PARTS), run after run in turn."""
    for _ in range(runs):
        for name, load in WRITE_PARTS.items():
            reads_beside(stack, shop, results, name, rows, seconds, load)


def reads_beside(
    stack: Stack,
    shop: Server,
    results: HttpRuns,
    name: str,
    rows: int,
    seconds: float,
    load: WriteLoad,
    read: Callable[[float], wrk.WrkResult] | None = None,
) -> dict[str, object]:
    """One read run (`read`, by default the measured page) while the write driver sends `load`;
    records it under `name` with the CPU per process and per thread group; returns what the
    driver achieved."""
    with write_load(stack, shop, rows, seconds, load) as driver:
        with cpu_window(stack, shop, per_thread=True) as window:
            result = read(seconds) if read else wrk.run(shop.url + PAGE, READ_CONNECTIONS, seconds)
        children_before = cpu.children_seconds()
        output, _ = driver.communicate(timeout=seconds + 60)
        # The driver ran for seconds + 2 warm-ups; its share over that time, beside wrk's.
        window.shares["driver"] = (cpu.children_seconds() - children_before) / (seconds + 2 * WARMUP_S)
        results.add(name, result, window)
    achieved: dict[str, object] = json.loads(output.strip().splitlines()[-1])
    log.info("write driver (%s): %s", name, {k: v for k, v in achieved.items() if k != "propagation_ms"})
    return achieved


def writes_alone(stack: Stack, shop: Server, results: HttpRuns, rows: int, seconds: float) -> None:
    """The write driver's load without reads: the share of the server's core the writes take, which
    is what reads under writes cannot have."""
    with write_load(stack, shop, rows, seconds) as driver:
        with cpu_window(stack, shop, per_thread=True) as window:
            time.sleep(seconds)
        output, _ = driver.communicate(timeout=seconds + 60)
    results.cpu_use.setdefault("writes_alone", []).append(window.shares)
    results.write_threads = window.thread_shares
    log.info("writes alone: server %.0f%% of its core; %s", window.shares["server"] * 100, output.strip())


def _group_medians(loads: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per load, per thread group: the median over the runs."""
    return {
        name: {group: spread([run.get(group, 0.0) for run in runs]).median for group in set().union(*runs)}
        for name, runs in loads.items()
    }


def cpu_window(stack: Stack, server: Server, per_thread: bool = False) -> cpu.Window:
    """CPU of the server (core 0), the broker and wrk (core 1) over one wrk run; `per_thread`, the
    server's threads' too, per group."""
    threads_of = server.pids() if per_thread else None
    return cpu.Window({"server": server.pids(), "broker": [stack.broker.pid()]}, "wrk", threads_of)


def warm_up_writes(stack: Stack, shop: Server, rows: int) -> None:
    """The write load for WRITE_WARMUP_S, measuring nothing: the broker warmed up for writes."""
    log.info("warming up the broker with %.0f s of the write load", WRITE_WARMUP_S)
    start_driver(stack, shop, rows, WRITE_WARMUP_S).communicate(timeout=WRITE_WARMUP_S + 60)


@contextmanager
def write_load(
    stack: Stack, shop: Server, rows: int, seconds: float, load: WriteLoad = WRITES
) -> Iterator[subprocess.Popen[str]]:
    """The write driver sending `load` for `seconds` and a warm-up before and after, from one
    warm-up in; killed on the way out if it has not finished."""
    driver = start_driver(stack, shop, rows, seconds + 2 * WARMUP_S, load)
    try:
        time.sleep(WARMUP_S)
        yield driver
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def start_driver(
    stack: Stack, shop: Server, rows: int, seconds: float, load: WriteLoad = WRITES
) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "bench.write_driver",
        shop.url,
        stack.config.kafka_bootstrap,
        str(rows),
        str(load.cart_per_s),
        str(load.catalog_per_s),
        str(seconds),
        *(["--cart-reads"] if load.cart_reads else []),
        f"--probe={load.probe}",
    ]
    with open(stack.logs / "write_driver.log", "ab") as log_file:
        driver = subprocess.Popen(
            pinned(LOAD_CPU, argv), cwd=REPO, stdout=subprocess.PIPE, stderr=log_file, text=True
        )
    assert driver.stdout is not None
    if driver.stdout.readline().strip() != "started":
        driver.kill()
        raise RuntimeError(f"the write driver did not start; see {stack.logs / 'write_driver.log'}")
    return driver


def cart_writes(stack: Stack, shop: Server, results: HttpRuns, rows: int, runs: int, seconds: float) -> None:
    script = cart_script(stack.folder, data.product_ids(rows, 20))
    url = shop.url + "/api/v1/cart/items/"
    wrk.run(url, WRITE_CONNECTIONS, WARMUP_S, script)
    for _ in range(runs):
        for name, connections in (("cart_writes_c1", 1), ("cart_writes_c64", WRITE_CONNECTIONS)):
            with cpu_window(stack, shop) as window:
                result = wrk.run(url, connections, seconds, script)
            results.add(name, result, window)


def cart_script(folder: Path, ids: list[str]) -> Path:
    path = folder / "cart_writes.lua"
    path.write_text(CART_SCRIPT % ", ".join(f'"{i}"' for i in ids))
    return path


def loads(kafka: Stack, shop: Server, rows: int) -> dict[str, Callable[[float], object]]:
    script = cart_script(kafka.folder, data.product_ids(rows, 20))
    workloads = browse.workloads(rows, kafka.folder / "workloads")

    def reads(seconds: float) -> object:
        return wrk.run(shop.url + PAGE, READ_CONNECTIONS, seconds)

    def reads_under_writes(seconds: float) -> object:
        driver = start_driver(kafka, shop, rows, seconds)
        try:
            return reads(seconds)
        finally:
            driver.communicate(timeout=seconds + 60)

    def cart_writes(seconds: float) -> object:
        url = shop.url + "/api/v1/cart/items/"
        return wrk.run(url, WRITE_CONNECTIONS, seconds, script)

    def replay(workload: browse.Workload) -> Callable[[float], object]:
        return lambda seconds: workload.run(shop.url, READ_CONNECTIONS, seconds)

    return {
        "reads": reads,
        "reads-under-writes": reads_under_writes,
        "cart-writes": cart_writes,
        **{name: replay(workload) for name, workload in workloads.items()},
    }
