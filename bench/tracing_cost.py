"""What tracing costs the browse path: the same catalog page under wrk from a shop on core 0 with
`trace_ratio` off, and with 1% exported to a real Zipkin, run by run alternately (ABBA, so neither
always goes first; a fresh shop each run), so both see the same machine. Zipkin, the broker and
wrk run on core 1.

    python -m bench.tracing_cost [ROUNDS] [SECONDS]

Prints each run and a summary (JSON): requests/s and the shop's CPU per request per setting (the
CPU figure holds up better on a shared machine), the ratios of 1% to off per round, the spans
Zipkin received against the requests the traced shop answered, and, timed in this process, what a
request pays before any span (off; on but not picked) and the CPU of one traced request's span,
alone and with its share of the batched export to Zipkin."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import timeit
from dataclasses import replace
from typing import Any

import httpx

from bench import wrk
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
RATIOS = {"off": 0.0, "1%": 0.01}
SPANS_RECEIVED = re.compile(r'^zipkin_collector_spans_total\{transport="http",?\}\s+([\d.E]+)', re.MULTILINE)


def spans_received(zipkin: Zipkin) -> int:
    text = httpx.get(f"{zipkin.url}/prometheus", timeout=10).text
    found = SPANS_RECEIVED.search(text)
    return int(float(found.group(1))) if found else 0


def measure_one(stack: Stack, zipkin: Zipkin, ratio: float, seconds: float) -> tuple[float, float, int]:
    """A fresh shop with `ratio` under wrk: requests/s, its CPU µs per request, and its requests.
    A shop per run, so that no difference between two long-lived processes (where each one's
    memory landed) is taken for the setting's."""
    config = replace(stack.config, snapshot_dir="", trace_ratio=ratio, trace_endpoint=zipkin.spans_endpoint)
    shop = shop_server(config, SERVER_CPU, stack.logs / f"shop-{ratio}.log").start()
    try:
        shop.wait_until("/readyz", 200, READY_TIMEOUT_S)
        wrk.run(shop.url + PAGE, READ_CONNECTIONS, WARMUP_S)
        assert shop.process is not None
        group = os.getpgid(shop.process.pid)
        cpu_before = group_cpu_s(group)
        result = wrk.run(shop.url + PAGE, READ_CONNECTIONS, seconds)
        cpu_s = group_cpu_s(group) - cpu_before
    finally:
        shop.stop()  # flushes the spans still queued
    assert result.errors == 0, f"{result.errors} errors at ratio {ratio}"
    return result.requests_per_s, 1e6 * cpu_s / result.requests, result.requests


def measure(stack: Stack, zipkin: Zipkin, rounds: int, seconds: float) -> dict[str, object]:
    runs: dict[str, list[float]] = {name: [] for name in RATIOS}
    cpu_us: dict[str, list[float]] = {name: [] for name in RATIOS}
    traced_requests, spans_before = 0, spans_received(zipkin)
    for round_number in range(rounds):
        order = list(RATIOS.items())
        for name, ratio in order if round_number % 2 == 0 else reversed(order):
            requests_per_s, cpu_per_request, requests = measure_one(stack, zipkin, ratio, seconds)
            runs[name].append(requests_per_s)
            cpu_us[name].append(cpu_per_request)
            traced_requests += requests if ratio > 0 else 0
            print(
                round_number,
                name,
                f"{requests_per_s:.0f} req/s",
                f"{cpu_per_request:.1f} CPU µs/request",
                flush=True,
            )
    throughput = [one / off for one, off in zip(runs["1%"], runs["off"], strict=True)]
    cpu = [one / off for one, off in zip(cpu_us["1%"], cpu_us["off"], strict=True)]
    return {
        "page": PAGE,
        "seconds_per_run": seconds,
        "requests_per_s": {name: spread(values).as_dict() for name, values in runs.items()},
        "cpu_us_per_request": {name: spread(values).as_dict() for name, values in cpu_us.items()},
        "throughput_1pct_to_off": spread(throughput).as_dict(),
        "cpu_1pct_to_off": spread(cpu).as_dict(),
        "requests_at_1pct": traced_requests,
        "spans_received": spans_received(zipkin) - spans_before,
    }


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
        zipkin.start().wait_ready()
        assert zipkin.process is not None
        for pid in (stack.broker.pid(), zipkin.process.pid):
            pin_process(pid, LOAD_CPU)
        found = measure(stack, zipkin, rounds, seconds)
        found["in_process"] = in_process(zipkin)
        print(json.dumps(found, indent=2))
    finally:
        zipkin.stop()
        stack.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, float(sys.argv[2]) if len(sys.argv) > 2 else 8)
