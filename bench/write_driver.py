"""The write load beside a read benchmark: cart writes over HTTP and catalog updates through Kafka,
each at a fixed rate, for a bounded time.

    python -m bench.write_driver URL BOOTSTRAP ROWS CART_PER_S CATALOG_PER_S SECONDS [--cart-reads] [--probe]

Cart writes are `PUT /api/v1/cart/items/{id}` on keep-alive connections (each waits for its write to
be applied: read-your-writes). With --cart-reads the same connections, carts and pacing send
`GET /api/v1/cart` instead: the HTTP and handler part of a cart request, without Kafka (the
benchmark tells the two costs apart with it). A rate of 0 leaves that load out. Catalog updates
are pim events (a product with a new price) produced to pim_internal, the topic the shop's pim
publisher relays to the catalog. Beside the updates, probes measure propagation: a price change
of a product the updates leave alone, produced to pim_internal, and the time until that product's
page shows it (`--probe search`: until a search filtered to that price finds it). Prints
"started" when the load begins and, at the end, one JSON line with what was achieved.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import random
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
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
PROBED_PRODUCTS = 50  # the products after the updated ones
PROBE_EVERY_S = 0.1
PROBE_POLL_S = 0.002
PROBE_TIMEOUT_S = 10.0
PROBE_PRICES = 10_000  # probe prices count up from above here, above every price an update draws


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


def probe_propagation(
    url: str, bootstrap: str, rows: int, until: float, found: list[float], shown: Shown
) -> None:
    """Every PROBE_EVERY_S until `until`, a new price for one of the probed products, then the
    milliseconds until `shown` sees it (polled every PROBE_POLL_S); a price not shown within
    PROBE_TIMEOUT_S counts as that long."""
    producer = Producer(producer_settings(Config(kafka_bootstrap=bootstrap), {"linger.ms": 5}))
    probes = [
        pim_pb2.InternalMessage.FromString(m) for m in products(rows, UPDATED_PRODUCTS + PROBED_PRODUCTS)
    ]
    probes = [m for m in probes[UPDATED_PRODUCTS:] if not m.product.disabled]
    for price, message in enumerate(itertools.cycle(probes), start=first_probe_price()):
        if time.monotonic() >= until:
            break
        message.product.price = price
        sent = time.perf_counter()
        producer.produce(pim.INTERNAL, message.SerializeToString(), partition=0)
        producer.poll(0)
        deadline = sent + PROBE_TIMEOUT_S
        while time.perf_counter() < deadline and not shown(url, message.product.id, price):
            time.sleep(PROBE_POLL_S)
        found.append((time.perf_counter() - sent) * 1e3)
        time.sleep(PROBE_EVERY_S)
    producer.flush(30)


def first_probe_price() -> int:
    """Prices no earlier run gave a probed product (a product already at its probe's price would
    show it at once): they count up from the milliseconds of the clock, which pass faster than
    probes are made."""
    return PROBE_PRICES + time.time_ns() // 1_000_000 % 1_000_000_000


# Whether the shop at `url` shows product `product_id` at `price`.
Shown = Callable[[str, str, int], bool]


def page_shows(url: str, product_id: str, price: int) -> bool:
    """The product's own page."""
    with urllib.request.urlopen(f"{url}/api/v1/products/{product_id}", timeout=5) as response:
        return bool(json.loads(response.read())["price"] == price)


def search_shows(url: str, product_id: str, price: int) -> bool:
    """A search of every product at exactly `price` (no other product has it)."""
    query = f"/api/v1/search?price_min={price}&price_max={price}&per_page=1"
    with urllib.request.urlopen(url + query, timeout=5) as response:
        items = json.loads(response.read())["items"]
    return bool(items) and items[0]["id"] == product_id


PROBES: dict[str, Shown] = {"page": page_shows, "search": search_shows}


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


def cart_request(netloc: str, cart: str, product_id: str | None, quantity: int) -> bytes:
    """The PUT of `quantity` of `product_id` into `cart`; with no product, the GET of the cart."""
    if product_id is None:
        return f"GET /api/v1/cart HTTP/1.1\r\nHost: {netloc}\r\nCookie: cart={cart}\r\n\r\n".encode()
    body = json.dumps({"quantity": quantity}).encode()
    return (
        f"PUT /api/v1/cart/items/{product_id} HTTP/1.1\r\nHost: {netloc}\r\n"
        f"Cookie: cart={cart}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def write_carts(url: str, ids: list[str], per_s: float, until: float, reads: bool) -> dict[str, object]:
    """Cart writes (`reads`: cart reads) paced to `per_s` in total over CART_CONNECTIONS connections
    (open loop: a request starts when due, not when the previous one ended, as long as a connection
    is free)."""
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
            request = cart_request(parts.netloc, cart, None if reads else ids[n % len(ids)], 1 + n % 5)
            sent = time.perf_counter()
            status = await put(reader, writer, request)
            latencies.append(time.perf_counter() - sent)
            failures += status != 200
        writer.close()

    await asyncio.gather(*(connection(n) for n in range(CART_CONNECTIONS)))
    return {
        "cart_writes": len(latencies),  # or cart reads, with --cart-reads
        "cart_failures": failures,
        "cart_p50_ms": percentile(latencies, 0.5) * 1e3 if latencies else None,
        "cart_p99_ms": percentile(latencies, 0.99) * 1e3 if latencies else None,
    }


def main(args: argparse.Namespace) -> None:
    ids = data.product_ids(args.rows, 20)
    until = time.monotonic() + args.seconds
    sent: list[int] = []
    updater = threading.Thread(
        target=update_catalog, args=(args.bootstrap, args.rows, args.catalog_per_s, until, sent)
    )
    propagation: list[float] = []
    prober = threading.Thread(
        target=probe_propagation,
        args=(args.url, args.bootstrap, args.rows, until, propagation, PROBES[args.probe]),
    )
    if args.catalog_per_s > 0:
        updater.start()
        prober.start()
    print("started", flush=True)
    if args.cart_per_s > 0:
        result = asyncio.run(write_carts(args.url, ids, args.cart_per_s, until, args.cart_reads))
    else:
        time.sleep(max(0.0, until - time.monotonic()))
        result = {"cart_writes": 0, "cart_failures": 0, "cart_p50_ms": None, "cart_p99_ms": None}
    for thread in (updater, prober):
        if thread.is_alive():
            thread.join()
    result.update(
        {"catalog_updates": sent[0] if sent else 0, "seconds": args.seconds, "propagation_ms": propagation}
    )
    print(json.dumps(result), flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.write_driver")
    parser.add_argument("url")
    parser.add_argument("bootstrap")
    parser.add_argument("rows", type=int)
    parser.add_argument("cart_per_s", type=float)
    parser.add_argument("catalog_per_s", type=float)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--cart-reads", action="store_true", help="GET the carts instead of writing them")
    parser.add_argument("--probe", choices=sorted(PROBES), default="page", help="where probes look")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse(sys.argv[1:]))
