"""How long a new client's first question takes (a topic's ends, as the shop asks them at a start),
with both cores busy as they are while a start loads its snapshots, on a broker of its own:

    python -m bench.first_answer [ROUNDS]

Each round makes a new consumer and asks for a topic's watermarks, alternating between one wait of
the whole timeout and shop.kafka.admin.answered (a short first wait, then the question again). A new
librdkafka client drops its bootstrap connection once it has learned the brokers, failing a metadata
request in flight there, and asks again only 0.7 s later. Prints one JSON line: p50, p99 and the
slowest answer in ms for each way, and how many took more than 0.3 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from bench import stack
from bench.stats import percentile
from shop.config import Config
from shop.kafka import admin
from shop.kafka.consumer import consumer_settings

TOPIC = "first_answer"
# One busy loop a core; and each new client asked at once or a moment after it is made.
BUSY = [sys.executable, "-c", "while True: pass"]
PAUSES_S = (0.0, 0.0005, 0.001, 0.0015)
SLOW_MS = 300.0

Ask = Callable[[Callable[[float], tuple[int, int]]], tuple[int, int]]


def first_answer_ms(config: Config, pause: float, ask: Ask) -> float:
    consumer = Consumer(consumer_settings(config, "bench-first-answer"))
    try:
        time.sleep(pause)
        started = time.perf_counter()
        ask(lambda timeout: consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout))
        return (time.perf_counter() - started) * 1000
    finally:
        consumer.close()


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 0.5), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "max_ms": round(max(values), 2),
        "over_300_ms": sum(value > SLOW_MS for value in values),
    }


def main(rounds: int) -> None:
    kafka = stack.start_stack("first-answer")
    busy: list[subprocess.Popen[bytes]] = []
    try:
        admin.ensure_topics(kafka.config, [TOPIC])
        busy = [subprocess.Popen(BUSY) for _ in range(2)]
        ways: dict[str, Ask] = {"one_wait": lambda ask: ask(admin.TIMEOUT_S), "answered": admin.answered}
        taken: dict[str, list[float]] = {name: [] for name in ways}
        for round_ in range(rounds):
            for name, ask in ways.items():
                taken[name].append(first_answer_ms(kafka.config, PAUSES_S[round_ % len(PAUSES_S)], ask))
        print(json.dumps({"rounds": rounds, **{name: summary(values) for name, values in taken.items()}}))
    finally:
        for process in busy:
            process.kill()
            process.wait()
        kafka.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
