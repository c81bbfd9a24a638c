"""The write load beside a read benchmark: cart writes over HTTP and catalog updates through Kafka,
each at a fixed rate, for a bounded time.

    python -m bench.write_driver SHOP_URL BOOTSTRAP ROWS CART_PER_S CATALOG_PER_S SECONDS

Cart writes are `PUT /api/v1/cart/items/{id}` on keep-alive connections (each waits for its write to
be applied: read-your-writes). Catalog updates are pim events (a product with a new price) produced
to pim_internal, the topic the shop's pim publisher relays to the catalog. Prints "started" when the
load begins and, at the end, one JSON line with what was achieved.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import random
import sys
import threading
import time
from urllib.parse import urlsplit

from confluent_kafka import Producer

from bench import data
from bench.stats import percentile
from shop._proto import pim_pb2
from shop.config import Config
from shop.contexts import pim, pim_csv
from shop.kafka.producer import producer_settings

CART_CONNECTIONS = 16
UPDATED_PRODUCTS = 2000
TICK_S = 0.01


def products(rows: int, count: int) -> list[bytes]:
    """pim_internal messages for `count` products of the benchmark data, as the importer writes them."""
    with open(data.products_csv(rows), encoding="utf-8") as stream:
        head = "".join(itertools.islice(stream, count + 1))
    return [
        pim_pb2.InternalMessage(product=product).SerializeToString()
        for product in pim_csv.parse_products(io.StringIO(head))
    ]


def update_catalog(bootstrap: str, rows: int, per_s: float, until: float, sent: list[int]) -> None:
    """Produces a price change of one of the products every 1/per_s seconds, in 10 ms ticks."""
    config = Config(kafka_bootstrap=bootstrap)
    producer = Producer(producer_settings(config, {"linger.ms": 5}))
    templates = [pim_pb2.InternalMessage.FromString(m) for m in products(rows, UPDATED_PRODUCTS)]
    rng = random.Random(1)
    started, count = time.monotonic(), 0
    while (now := time.monotonic()) < until:
        due = int((now - started) * per_s)
        while count < due:
            message = templates[count % len(templates)]
            message.product.price = rng.randint(1, 9999)
            producer.produce(pim.INTERNAL, message.SerializeToString(), partition=0)
            count += 1
        producer.poll(0)
        time.sleep(TICK_S)
    producer.flush(30)
    sent.append(count)


async def put(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One request on a keep-alive connection; returns the status once the whole answer is read."""
    writer.write(request)
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def write_carts(url: str, ids: list[str], per_s: float, until: float) -> dict[str, object]:
    """Cart writes paced to `per_s` in total over CART_CONNECTIONS connections (open loop: a write
    starts when due, not when the previous one ended, as long as a connection is free)."""
    parts = urlsplit(url)
    started = time.monotonic()
    counter = itertools.count()
    latencies: list[float] = []
    failures = 0

    async def connection(number: int) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        cart = f"{number:032x}"
        while True:
            n = next(counter)
            due = started + n / per_s
            if due >= until:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            body = json.dumps({"quantity": 1 + n % 5}).encode()
            request = (
                f"PUT /api/v1/cart/items/{ids[n % len(ids)]} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Cookie: cart={cart}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            sent = time.perf_counter()
            status = await put(reader, writer, request)
            latencies.append(time.perf_counter() - sent)
            failures += status != 200
        writer.close()

    await asyncio.gather(*(connection(n) for n in range(CART_CONNECTIONS)))
    return {
        "cart_writes": len(latencies),
        "cart_failures": failures,
        "cart_p50_ms": percentile(latencies, 0.5) * 1e3 if latencies else None,
        "cart_p99_ms": percentile(latencies, 0.99) * 1e3 if latencies else None,
    }


def main(
    url: str, bootstrap: str, rows: int, cart_per_s: float, catalog_per_s: float, seconds: float
) -> None:
    ids = data.product_ids(rows, 20)
    until = time.monotonic() + seconds
    sent: list[int] = []
    updater = threading.Thread(target=update_catalog, args=(bootstrap, rows, catalog_per_s, until, sent))
    updater.start()
    print("started", flush=True)
    result = asyncio.run(write_carts(url, ids, cart_per_s, until))
    updater.join()
    result.update({"catalog_updates": sent[0] if sent else 0, "seconds": seconds})
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(
        sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
    )
