"""Orders with shopper details: their placement latency, and the time until the SMTP server holds
their confirmation (docs/notification.md).

    python -m bench.orders [--orders 300] [--rate 100] [--seconds 10]

On a broker and a Mailpit of its own: the latency of `POST /api/v1/cart/order` with details (each
order a new shopper, so a new key is written too) from one client and from 64 at once (p50, p99);
then orders at `--rate` per second for `--seconds`, and for each the time from sending the order
to Mailpit's receipt of its confirmation (p50, p99). Writes bench/results/orders.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.stack import start_stack
from bench.stats import percentile
from fixtures.mailpit import Mailpit
from fixtures.server import ShopProcess
from fixtures.shopper import DETAILS
from shop.contexts import notification, pim_csv, stock_csv

RESULTS = Path(__file__).parent / "results"


async def place(client: httpx.AsyncClient, product_id: str, email: str) -> tuple[float, float, str]:
    """A cart of one item ordered with details: (when the order was sent, its latency in ms, its id)."""
    client.cookies.clear()
    cart = await client.put(f"/api/v1/cart/items/{product_id}", json={"quantity": 1})
    sent = time.time()
    started = time.perf_counter()
    ordered = await client.post(
        "/api/v1/cart/order", headers={"if-match": cart.headers["etag"]}, json={**DETAILS, "email": email}
    )
    latency_ms = (time.perf_counter() - started) * 1000
    assert ordered.status_code == 201, ordered.text
    return sent, latency_ms, str(ordered.json()["id"])


async def placements(url: str, product_id: str, concurrency: int, orders: int, tag: str) -> list[float]:
    """Latencies (ms) of `orders` orders placed by `concurrency` clients at once."""
    latencies: list[float] = []
    counter = iter(range(orders))

    async def client_loop(n: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            for i in counter:
                _sent, latency, _id = await place(client, product_id, f"{tag}{n}-{i}@example.com")
                latencies.append(latency)

    await asyncio.gather(*(client_loop(n) for n in range(concurrency)))
    return latencies


async def paced(url: str, product_id: str, rate: float, seconds: float) -> dict[str, float]:
    """Orders at `rate` per second: order id → when its order was sent (epoch seconds)."""
    sent: dict[str, float] = {}
    clients = [httpx.AsyncClient(base_url=url, timeout=60) for _ in range(64)]
    idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
    for client in clients:
        idle.put_nowait(client)

    async def one(i: int) -> None:
        client = await idle.get()  # one order at a time per client: its cookie is its shopper's
        try:
            when, _latency, order_id = await place(client, product_id, f"paced{i}@example.com")
        finally:
            idle.put_nowait(client)
        sent[order_id] = when

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    for client in clients:
        await client.aclose()
    return sent


def received_at(mailpit: Mailpit, sent: dict[str, float], timeout: float = 120.0) -> list[float]:
    """For each order of `sent`: ms from its order to Mailpit receiving its confirmation."""
    wanted = {notification.message_id(order_id, "confirmed").strip("<>"): at for order_id, at in sent.items()}
    deadline = time.monotonic() + timeout
    while True:
        found = {m["MessageID"]: m["Created"] for m in mailpit.messages() if m["MessageID"] in wanted}
        if len(found) == len(wanted) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    return [
        (datetime.fromisoformat(created).timestamp() - wanted[mid]) * 1000 for mid, created in found.items()
    ]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    stack = start_stack("orders")
    mailpit = Mailpit(stack.folder / "mailpit").start()
    config = replace(stack.config, smtp_port=mailpit.smtp_port, snapshot_dir="")
    products = io.StringIO()
    pim_csv.fake_products(1, 3, products)
    product_id = products.getvalue().splitlines()[1].split(",")[0]
    pim_csv.import_products(config, io.StringIO(products.getvalue()), progress=False)
    stock_csv.import_stock(
        config, io.StringIO(f"product_id,quantity\n{product_id},10000000\n"), progress=False
    )
    shop = ShopProcess(config, stack.logs / "shop.log").start(wait_ready=300)
    try:
        asyncio.run(placements(shop.url, product_id, 8, 100, "warm"))
        one = asyncio.run(placements(shop.url, product_id, 1, args.orders, "c1-"))
        many = asyncio.run(placements(shop.url, product_id, 64, args.orders * 4, "c64-"))
        results: dict[str, Any] = {"placement_c1": summary(one), "placement_c64": summary(many)}
        idle = asyncio.run(paced(shop.url, product_id, 2, 5))
        results["idle_order_to_smtp"] = {"rate_per_s": 2, **summary(received_at(mailpit, idle))}
        sent = asyncio.run(paced(shop.url, product_id, args.rate, args.seconds))
        results["order_to_smtp"] = {"rate_per_s": args.rate, **summary(received_at(mailpit, sent))}
        results["order_to_smtp"]["orders"] = len(sent)
    finally:
        shop.stop()
        mailpit.stop()
        stack.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "orders.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "orders.md").write_text(report(results))
    print(report(results))


def report(results: dict[str, Any]) -> str:
    rows = [
        ("order with details, 1 client", results["placement_c1"]),
        ("order with details, 64 clients", results["placement_c64"]),
        ("order → SMTP accepted, 2 orders/s (idle)", results["idle_order_to_smtp"]),
        (
            f"order → SMTP accepted, {results['order_to_smtp']['rate_per_s']:g} orders/s",
            results["order_to_smtp"],
        ),
    ]
    lines = [
        "# Orders with shopper details (`python -m bench.orders`)",
        "",
        "Each order a new shopper (a new key written too); latencies from sending the order.",
        "",
        "| what | n | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    lines += [f"| {what} | {r['n']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |" for what, r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
