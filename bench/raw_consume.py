"""The startup floor: read the topics a starting shop loads, with raw confluent-kafka, doing nothing
but counting them and their bytes.

    python -m bench.raw_consume BOOTSTRAP TOPIC [TOPIC ...]

One consumer thread per topic, the shop's consumer settings and batch size, from offset 0 to the end
found at start; each message's value is fetched and dropped. Prints a JSON line: the messages read
and their bytes. Run as its own process, so that its time from exec to exit compares with the
shop's from exec to ready.
"""

from __future__ import annotations

import json
import sys
import threading

from confluent_kafka import Consumer, TopicPartition

from shop.config import Config
from shop.kafka.consumer import consumer_settings

BATCH = Config().consume_batch


def drain(config: Config, topic: str, counts: dict[str, tuple[int, int]]) -> None:
    consumer = Consumer(consumer_settings(config, f"bench-raw-{topic}"))
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        consumer.assign([TopicPartition(topic, 0, 0)])
        last, count, size = -1, 0, 0
        while last < high - 1:
            for message in consumer.consume(BATCH, timeout=0.1):
                if message.error() is None:
                    size += len(message.value() or b"")
                    last = message.offset() or 0
                    count += 1
        counts[topic] = count, size
    finally:
        consumer.close()


def main(bootstrap: str, topics: list[str]) -> None:
    config = Config(kafka_bootstrap=bootstrap)
    counts: dict[str, tuple[int, int]] = {}
    threads = [threading.Thread(target=drain, args=(config, topic, counts)) for topic in topics]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    messages, size = (sum(column) for column in zip(*counts.values(), strict=True))
    print(json.dumps({"messages": messages, "bytes": size}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
