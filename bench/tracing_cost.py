"""What tracing costs the browse workload (bench/browse.py: listing pages of every sort, page and size,
some with a name prefix, and product pages) under wrk from a shop on core 0 with `trace_ratio`
off, 1% and 10% exported to a real Zipkin, run by run in turn (ABBA, so none always goes first; a
fresh shop each run, all of a round replaying the same requests), so all see the same machine.
Zipkin, the broker and wrk run on core 1. A first run of each setting is not counted: Zipkin's
JVM is still compiling and the broker still settling after the load, and first runs came out up
to 2x slower in any setting.

    python -m bench.tracing_cost [ROUNDS] [SECONDS]

Prints each run and a summary (JSON): requests/s and the shop's CPU per request per setting (the
CPU figure holds up better on a shared machine), the ratios of 1% to off per round, 1%'s change
read off 10%'s (a tenth of the noise of the direct ratio), the spans Zipkin received against the
requests traced, and, timed in this process, what a request pays before any span (off; on but not
picked) and the CPU of one traced request's span with its share of the batched export."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from bench import browse, wrk
from bench.ab_cart_cpu import group_cpu_s
from bench.http_load import PAGE, READ_CONNECTIONS, WARMUP_S
from bench.processes import LOAD_CPU, SERVER_CPU, pin_process, shop_server
from bench.stack import READY_TIMEOUT_S, Stack, load, start_stack
from bench.stats import spread
from fixtures.zipkin import Zipkin
from shop import tracing
from shop.api.app import route_name
from shop.config import Config

log = logging.getLogger("bench")

ROWS = 10_000
RATIOS = {"off": 0.0, "1%": 0.01, "10%": 0.1}
# 1%'s cost is near the run-to-run scatter of this machine; 10%'s is ten times as large and scaled
# down it says what 1% costs with a tenth of the noise.
SCALED = ("10%", 10.0)
# Each of the 64 connections waits this long between requests: about half of what the shop answers.
STEADY_PAUSE_MS = 12
SPANS_RECEIVED = re.compile(r'^zipkin_collector_spans_total\{transport="http",?\}\s+([\d.E]+)', re.MULTILINE)


def spans_received(zipkin: Zipkin) -> int:
    text = httpx.get(f"{zipkin.url}/prometheus", timeout=10).text
    found = SPANS_RECEIVED.search(text)
    return int(float(found.group(1))) if found else 0


@dataclass(frozen=True)
class Run:
    """What one fresh shop did: as fast as it answers (requests/s, CPU µs per request) and under a
    steady load that leaves it idle part of the time (CPU µs per request: the cost per request
    without the batching that a saturated event loop gets, which varies from run to run)."""

    requests_per_s: float
    cpu_us: float
    steady_cpu_us: float
    requests: int


def measure_one(
    stack: Stack, zipkin: Zipkin, workload: browse.Workload, start: int, ratio: float, seconds: float
) -> Run:
    """A fresh shop with `ratio` under wrk. A shop per run, so that no difference between two
    long-lived processes (where each one's memory landed) is taken for the setting's."""
    config = replace(stack.config, snapshot_dir="", trace_ratio=ratio, trace_endpoint=zipkin.spans_endpoint)
    shop = shop_server(config, SERVER_CPU, stack.logs / f"shop-{ratio}.log").start()
    try:
        shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
        workload.run(shop.url, READ_CONNECTIONS, WARMUP_S, start)
        assert shop.process is not None
        group = os.getpgid(shop.process.pid)
        fastest, cpu_us = _cpu_per_request(
            group, lambda: workload.run(shop.url, READ_CONNECTIONS, seconds, start)
        )
        steady, steady_cpu_us = _cpu_per_request(
            group, lambda: workload.run(shop.url, READ_CONNECTIONS, seconds, start, pause_ms=STEADY_PAUSE_MS)
        )
    finally:
        shop.stop()  # flushes the spans still queued
    assert fastest.errors == steady.errors == 0, f"errors at ratio {ratio}"
    return Run(fastest.requests_per_s, cpu_us, steady_cpu_us, fastest.requests + steady.requests)


def _cpu_per_request(group: int, run: Callable[[], wrk.WrkResult]) -> tuple[wrk.WrkResult, float]:
    cpu_before = group_cpu_s(group)
    result = run()
    return result, 1e6 * (group_cpu_s(group) - cpu_before) / result.requests


def measure(
    stack: Stack, zipkin: Zipkin, workload: browse.Workload, rounds: int, seconds: float
) -> dict[str, object]:
    runs: dict[str, list[Run]] = {name: [] for name in RATIOS}
    for name, ratio in RATIOS.items():
        warm = measure_one(stack, zipkin, workload, 0, ratio, seconds)
        print("warm-up", name, f"{warm.requests_per_s:.0f} req/s (not counted)", flush=True)
    traced_requests, spans_before = 0, spans_received(zipkin)
    for round_number in range(rounds):
        order = list(RATIOS.items())
        start = round_number * workload.count // rounds
        for name, ratio in order if round_number % 2 == 0 else reversed(order):
            run = measure_one(stack, zipkin, workload, start, ratio, seconds)
            runs[name].append(run)
            traced_requests += round(run.requests * ratio)
            print(
                round_number,
                name,
                f"{run.requests_per_s:.0f} req/s",
                f"{run.cpu_us:.1f} CPU µs/request",
                f"{run.steady_cpu_us:.1f} at a steady load",
                flush=True,
            )
    found: dict[str, object] = {
        "workload": f"browse over {ROWS:,} products",
        "seconds_per_run": seconds,
        "steady_pause_ms": STEADY_PAUSE_MS,
    }
    for figure in ("requests_per_s", "cpu_us", "steady_cpu_us"):
        values = {name: [getattr(run, figure) for run in done] for name, done in runs.items()}
        found[figure] = {name: spread(each).as_dict() for name, each in values.items()}
        ratios = [one / off for one, off in zip(values["1%"], values["off"], strict=True)]
        found[f"{figure}_1pct_to_off"] = spread(ratios).as_dict()
        name, scale = SCALED
        changes = [(one / off - 1) / scale for one, off in zip(values[name], values["off"], strict=True)]
        found[f"{figure}_1pct_change_from_{name}"] = spread(changes).as_dict()
    found["requests_traced"] = traced_requests
    found["spans_received"] = spans_received(zipkin) - spans_before
    return found


def in_process(zipkin: Zipkin) -> dict[str, float]:
    """Per request, in this process: the gate before any span (ns), off and on-but-not-picked; a
    traced request's span made current, ended, queued and exported (µs of CPU), in exports of 50
    spans (a second's at 1% of 5,000 requests/s)."""
    scope: dict[str, Any] = {
        "method": "GET",
        "path": PAGE.split("?")[0],
        "headers": [(b"host", b"127.0.0.1")],
    }
    found: dict[str, float] = {}
    calls = 200_000
    for name, ratio in (("gate_off_ns", 0.0), ("gate_not_picked_ns", 1e-12)):
        tracing.configure(Config(trace_ratio=ratio, trace_endpoint=zipkin.spans_endpoint))
        timings = timeit.repeat(lambda: tracing.request_span(scope, route_name), number=calls, repeat=5)
        found[name] = round(min(timings) / calls * 1e9)
    tracing.configure(Config(trace_ratio=1.0, trace_endpoint=zipkin.spans_endpoint))
    found["traced_request_us"] = round(traced_request_cpu_us(scope), 1)
    tracing.shutdown()
    return found


def traced_request_cpu_us(scope: dict[str, Any], spans: int = 3000, batch: int = 50) -> float:
    """CPU (every thread of this process: the export's too) per traced request's span."""
    started = time.process_time()
    for index in range(spans):
        span = tracing.request_span(scope, route_name)
        assert span is not None
        with tracing.serving(span):
            pass
        if index % batch == batch - 1:
            tracing.flush()
    return (time.process_time() - started) / spans * 1e6


def main(rounds: int, seconds: float) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    stack = start_stack("tracing-cost")
    zipkin = Zipkin(stack.logs / "zipkin.log")
    try:
        load(stack, ROWS)
        workload = browse.workloads(ROWS, stack.logs)["browse"]
        zipkin.start().wait_ready()
        assert zipkin.process is not None
        for pid in (stack.broker.pid(), zipkin.process.pid):
            pin_process(pid, LOAD_CPU)
        found = measure(stack, zipkin, workload, rounds, seconds)
        found["in_process"] = in_process(zipkin)
        print(json.dumps(found, indent=2))
    finally:
        zipkin.stop()
        stack.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, float(sys.argv[2]) if len(sys.argv) > 2 else 8)
