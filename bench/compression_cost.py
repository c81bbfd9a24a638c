"""What compression costs the browse path: the browse workload (bench/browse.py) from one shop on
core 0, replayed by wrk on core 1 with no Accept-Encoding and with what browsers send (Safari
`gzip, deflate, br`; Chrome, Edge and Firefox `gzip, deflate, br, zstd`), run by run in turn (the
order reversed every round, so none always goes first), each run from its own stretch of the
paths. All see the same shop, its page cache and the same machine.

    python -m bench.compression_cost [ROUNDS] [SECONDS] [ROWS]

Prints each run and a summary (JSON): requests/s and the shop's CPU per request per setting, the
ratios of each browser's setting to plain per round, and the mean bytes of an answer's body in
each setting over a sample of the workload (as sent: compressed when it was). Note the machine's
load beside it."""

from __future__ import annotations

import json
import logging
import os
import sys

import httpx

from bench import browse
from bench.ab_cart_cpu import group_cpu_s
from bench.http_load import READ_CONNECTIONS, WARMUP_S
from bench.processes import LOAD_CPU, SERVER_CPU, pin_process
from bench.stack import READY_TIMEOUT_S, Stack, load, start_stack
from bench.stats import spread

log = logging.getLogger("bench")

PLAIN = "plain"
SETTINGS = {PLAIN: "", "safari": "gzip, deflate, br", "chrome": "gzip, deflate, br, zstd"}


def sent_bytes(base_url: str, workload: browse.Workload, accept_encoding: str) -> float:
    """The mean bytes of an answer's body as sent, over a sample of the workload."""
    headers = {"accept-encoding": accept_encoding or "identity"}
    sizes = []
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for path in workload.sample():
            response = client.get(path, headers=headers)
            response.read()
            sizes.append(response.num_bytes_downloaded)
    return sum(sizes) / len(sizes)


def measure(stack: Stack, rows: int, rounds: int, seconds: float) -> dict[str, object]:
    workload = browse.workloads(rows, stack.folder / "paths")["browse"]
    shop = stack.shop(SERVER_CPU, snapshots=True, name="compression").start()
    runs: dict[str, list[float]] = {name: [] for name in SETTINGS}
    cpu_us: dict[str, list[float]] = {name: [] for name in SETTINGS}
    try:
        shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
        assert shop.process is not None
        group = os.getpgid(shop.process.pid)
        start = 0
        for encoding in SETTINGS.values():
            workload.run(shop.url, READ_CONNECTIONS, WARMUP_S, start, encoding)
        for round_number in range(rounds):
            order = list(SETTINGS.items())
            for name, encoding in order if round_number % 2 == 0 else reversed(order):
                start += 50_000  # a stretch of its own: no run replays another's pages
                cpu_before = group_cpu_s(group)
                result = workload.run(shop.url, READ_CONNECTIONS, seconds, start, encoding)
                cpu_per_request = 1e6 * (group_cpu_s(group) - cpu_before) / result.requests
                assert result.errors == 0, f"{result.errors} errors with {name!r}"
                runs[name].append(result.requests_per_s)
                cpu_us[name].append(cpu_per_request)
                print(
                    round_number,
                    name,
                    f"{result.requests_per_s:.0f} req/s",
                    f"{cpu_per_request:.1f} CPU µs/request",
                )
        sizes = {name: round(sent_bytes(shop.url, workload, encoding)) for name, encoding in SETTINGS.items()}
    finally:
        shop.stop()
    return {
        "workload": "browse",
        "products": rows,
        "seconds_per_run": seconds,
        "requests_per_s": {name: spread(values).as_dict() for name, values in runs.items()},
        "cpu_us_per_request": {name: spread(values).as_dict() for name, values in cpu_us.items()},
        "throughput_to_plain": to_plain(runs),
        "cpu_to_plain": to_plain(cpu_us),
        "mean_body_bytes": sizes,
        "load_average": os.getloadavg(),
    }


def to_plain(values: dict[str, list[float]]) -> dict[str, dict[str, object]]:
    """Each browser's setting against plain, round by round: the median and spread of the ratios."""
    return {
        name: spread([a / b for a, b in zip(runs, values[PLAIN], strict=True)]).as_dict()
        for name, runs in values.items()
        if name != PLAIN
    }


def main(rounds: int, seconds: float, rows: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    stack = start_stack("compression-cost")
    try:
        load(stack, rows)
        pin_process(stack.broker.pid(), LOAD_CPU)
        print(json.dumps(measure(stack, rows, rounds, seconds), indent=2))
    finally:
        stack.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        int(args[0]) if args else 4,
        float(args[1]) if len(args) > 1 else 8,
        int(args[2]) if len(args) > 2 else 100_000,
    )
