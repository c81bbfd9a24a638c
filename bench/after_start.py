"""Answers in the first seconds after a start: the shop starts from its snapshots ROUNDS times on a
loaded stack of ROWS products (pinned to the server's core, as the benchmarks run it), and as soon
as it is ready, CLIENTS threads ask for suggestions (each its own stretch of the search bench's
inputs) for SECONDS seconds. Prints per WINDOW_S-second window the answers, their p99 and the
slowest, and the same over the whole span: what the first shoppers after a restart meet, while the
shop still does what a start leaves for after readiness (its heap pass, relays catching up).

    python -m bench.after_start ROWS ROUNDS [SECONDS]
"""

from __future__ import annotations

import itertools
import logging
import random
import sys
import threading
import time
from urllib.parse import quote

import httpx

from bench import stack
from bench.processes import LOAD_CPU, SERVER_CPU, Server, pin_process
from bench.search import suggest_inputs
from bench.stats import percentile

CLIENTS = 4
WINDOW_S = 3
INPUTS = 5000
# An answer: seconds after ready it was asked, and how long it took (ms).
Answer = tuple[float, float]


def ask_from_ready(shop: Server, paths: list[str], seconds: float) -> list[Answer]:
    """Waits until `shop` is ready, then asks for `paths` round-robin from CLIENTS threads."""
    shop.wait_until("/readyz", 200, stack.READY_TIMEOUT_S)
    ready = time.monotonic()
    answers: list[Answer] = []

    def client(first: int) -> None:
        with httpx.Client(base_url=shop.url, timeout=30) as http:
            for index in itertools.count(first, CLIENTS):
                asked = time.monotonic()
                if asked - ready >= seconds:
                    return
                http.get(paths[index % len(paths)]).raise_for_status()
                answers.append((asked - ready, (time.monotonic() - asked) * 1000))

    threads = [threading.Thread(target=client, args=(first,)) for first in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def summary(label: str, took: list[float]) -> str:
    return f"{label}: {len(took)} answers, p99 {percentile(took, 0.99):.1f} ms, slowest {max(took):.1f} ms"


def report(answers: list[Answer], seconds: float) -> list[str]:
    lines = [summary("all", [ms for _, ms in answers])]
    for start in range(0, int(seconds), WINDOW_S):
        took = [ms for at, ms in answers if start <= at < start + WINDOW_S]
        if took:
            lines.append(summary(f"{start:3d}-{start + WINDOW_S}s", took))
    return lines


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rows, rounds = int(argv[0]), int(argv[1])
    seconds = float(argv[2]) if len(argv) > 2 else 30.0
    paths = [f"/api/v1/search/suggest?q={quote(text)}" for text in suggest_inputs(random.Random(1), INPUTS)]
    loaded = stack.start_stack("after-start")
    try:
        stack.load(loaded, rows)
        pin_process(loaded.broker.pid(), LOAD_CPU)
        for round_ in range(rounds):
            shop = loaded.shop(cpus=SERVER_CPU, snapshots=True, name=f"after-start-{round_}").start()
            try:
                answers = ask_from_ready(shop, paths, seconds)
            finally:
                shop.stop()
            print(f"round {round_}", *report(answers, seconds), sep="\n  ", flush=True)
    finally:
        loaded.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
