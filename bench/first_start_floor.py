"""The floor of a first start: how long this machine's broker takes to accept the bytes the first
start writes (every relayed message), from an ideal producer.

    python -m bench.first_start_floor [ROWS] [--profile]

Imports ROWS products and stock levels (1,000,000 by default) into a broker of its own, runs the
first start (stack.load: every publisher and bridge relays everything), counts what the relays
wrote into each topic, then has Kafka's own ProducerPerformance write as many records of the same
mean size into a fresh topic, acks=all and idempotent with the relay producer's linger and batch
size: one producer, as the shop's relays share one. The floor is that producer's elapsed seconds
(its JVM start left out). `--profile` records py-spy (--native) on the shop during the
first start (collapsed stacks in data/bench/) and prints the busiest frames.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bench import data, stack
from bench.pyspy import record, top_frames
from fixtures.host import REPO
from shop.contexts import catalog, checkout, fulfilment, pim, search
from shop.kafka.producer import RELAY_LINGER_MS

log = logging.getLogger("bench")

# What the relays of a first start write: publishers into pim_pub and fulfilment_pub, bridges
# into the projections' internal topics (checkout's gets products and stock).
RELAYED_TOPICS = (pim.PUBLIC, fulfilment.PUBLIC, catalog.INTERNAL, search.INTERNAL, checkout.INTERNAL)
KAFKA_LIB = REPO / "ops" / "kafka" / "lib"
# librdkafka's batch.size default, which the relay producer keeps (Java's default is 16 KiB).
BATCH_BYTES = 1_000_000
SENT = re.compile(r"(\d+) records sent, ([\d.]+) records/sec")


def relayed(kafka: stack.Stack) -> dict[str, tuple[int, int]]:
    """Messages and bytes in each relayed topic, read back with bench.raw_consume."""
    counts = {}
    for topic in RELAYED_TOPICS:
        argv = [sys.executable, "-m", "bench.raw_consume", kafka.config.kafka_bootstrap, topic]
        done = subprocess.run(argv, cwd=REPO, check=True, capture_output=True, text=True)
        read = json.loads(done.stdout.strip().splitlines()[-1])
        counts[topic] = int(read["messages"]), int(read["bytes"])
    return counts


def producer_seconds(kafka: stack.Stack, topic: str, records: int, record_bytes: int) -> float:
    """Seconds ProducerPerformance takes to have `records` of `record_bytes` acknowledged in a
    fresh one-partition `topic` (its own count over its own rate: the JVM's start is not in it)."""
    admin = AdminClient({"bootstrap.servers": kafka.config.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    props = {
        "bootstrap.servers": kafka.config.kafka_bootstrap,
        "acks": "all",
        "enable.idempotence": "true",
        "linger.ms": RELAY_LINGER_MS,
        "batch.size": BATCH_BYTES,
        "compression.type": "none",
    }
    argv = ["java", "-Xmx512m", "-cp", f"{KAFKA_LIB}/*", "org.apache.kafka.tools.ProducerPerformance"]
    argv += ["--topic", topic, "--num-records", str(records), "--record-size", str(record_bytes)]
    argv += ["--throughput", "-1", "--producer-props", *(f"{k}={v}" for k, v in props.items())]
    done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=stack.READY_TIMEOUT_S)
    sent, rate = SENT.findall(done.stdout)[-1]  # the last line is the whole run's summary
    return int(sent) / float(rate)


def measure(kafka: stack.Stack) -> dict[str, object]:
    """The relayed messages per topic and the floor of writing them all (after a first start):
    one producer, as the shop's relays share one, writing their count at their mean size."""
    topics = relayed(kafka)
    messages = sum(count for count, _ in topics.values())
    size = sum(size for _, size in topics.values())
    seconds = producer_seconds(kafka, "first_start_floor", messages, max(1, round(size / messages)))
    log.info("first start floor: %d messages, %d bytes acknowledged in %.1fs", messages, size, seconds)
    return {
        "first_start_floor_s": seconds,
        "messages": messages,
        "bytes": size,
        "topics": {topic: {"messages": count, "bytes": size} for topic, (count, size) in topics.items()},
    }


def profiled_load(kafka: stack.Stack, rows: int) -> stack.Loaded:
    """stack.load, with py-spy recording the shop's worker while it relays."""
    spy: list[subprocess.Popen[bytes]] = []
    output = data.DATA / f"profile-first-start-{rows}.txt"  # kept: the stack's folder is not

    def on_start(pid: int) -> None:
        spy.append(record(pid, 600, output, raw=True))

    loaded = stack.load(kafka, rows, on_start)
    spy[0].send_signal(2)  # SIGINT: py-spy writes what it has
    spy[0].wait(timeout=60)
    for share, frame in top_frames(output, 20):
        print(f"  {share * 100:5.1f}%  {frame}")
    return loaded


def main(rows: int, profile: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    kafka = stack.start_stack(f"floor-{os.getpid()}")
    try:
        started = time.monotonic()
        loaded = profiled_load(kafka, rows) if profile else stack.load(kafka, rows)
        shutil.copy(kafka.logs / "first-start.log", data.DATA / f"first-start-{rows}.log")
        floor = measure(kafka)
        result = {"rows": rows, **loaded.__dict__, **floor, "duration_s": time.monotonic() - started}
        print(json.dumps(result))
    finally:
        kafka.stop()


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--profile"]
    main(int(arguments[0]) if arguments else 1_000_000, "--profile" in sys.argv[1:])
