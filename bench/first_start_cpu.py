"""Where a first start's CPU goes: the broker's, and the shop's worker by thread.

    python -m bench.first_start_cpu [ROWS]

Imports ROWS products and stock levels (1,000,000 by default) into a broker of its own, then times
a first start (every publisher and bridge relays everything), unpinned as `stack.load` starts it,
and prints the seconds to ready, the broker's CPU seconds meanwhile and the CPU seconds of the
shop's worker by thread name, summed over the threads of one name (librdkafka's broker threads
share theirs). A first start on these two cores is bound by their CPU: these seconds say who takes
it. One start a run: the next one needs topics as empty as the first's.
"""

from __future__ import annotations

import logging
import sys

from bench import stack
from bench.cpu import process_seconds, thread_name, thread_seconds


def worker_threads(pid: int) -> dict[str, float]:
    """CPU seconds so far of the threads of `pid`, by thread name, most first."""
    seconds = thread_seconds([pid], by=thread_name)
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))


def first_start(kafka: stack.Stack) -> tuple[float, float, dict[str, float]]:
    """(seconds to ready, the broker's CPU seconds, the worker's by thread) of a first start."""
    broker_before = process_seconds(kafka.broker.pid())
    shop = kafka.shop(cpus=None, snapshots=False, name="first-start").start()
    try:
        worker = stack.worker_pid(shop)
        seconds = shop.wait_until("/readyz", 200, stack.READY_TIMEOUT_S)
        threads = worker_threads(worker)
    finally:
        shop.stop()
    return seconds, process_seconds(kafka.broker.pid()) - broker_before, threads


def main(rows: int) -> None:
    kafka = stack.start_stack("first-start-cpu")
    try:
        stack.import_data(kafka, rows)
        raw, _payload = stack.raw_consume(kafka, stack.IMPORTED_TOPICS)
        seconds, broker, threads = first_start(kafka)
    finally:
        kafka.stop()
    print(f"first start: ready in {seconds:.1f} s (raw consume of the imports {raw:.1f} s)")
    print(f"CPU seconds meanwhile: the broker {broker:.1f}, the shop's worker {sum(threads.values()):.1f}:")
    for name, used in threads.items():
        if used >= 0.1:
            print(f"  {used:6.2f}  {name}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
