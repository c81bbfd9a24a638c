"""The shoppers of the soak (bench/soak.py): carts filled, looked at and ordered over HTTP, at a
bounded rate, for a bounded time.

    python -m bench.soak_shopper SHOP_URL IDS_FILE REQUESTS_PER_S SHOPPERS SECONDS

Each shopper is a browser-like client with its own connection and cookie jar: it puts one to four
products (of IDS_FILE, one id a line) into its cart, now and then takes one out again, reads the
cart and, for most carts, orders it with the cart's ETag as If-Match and the shopper's details
(the soak's Mailpit gets the emails), then reads the order; the
order's answer sets the cookie of the next cart. The other carts are left as they are (abandoned).
Requests are paced to REQUESTS_PER_S in total (each shopper 1/SHOPPERS of it; a request starts
when due or, if the previous one took longer, at once).

An answer other than the one expected counts as a failure (a 409 to an order is expected when the
stock is short: the soak's stock imports fill it up again). Prints one JSON line of its counters
every REPORT_S seconds and a last one with "done": true.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fixtures.shopper import DETAILS

REPORT_S = 10.0
ORDER_SHARE = 0.7  # carts ordered; the others are abandoned
DELETE_SHARE = 0.2  # carts of which one position is taken out again
FAILURES_KEPT = 20
EXPECTED = {"put": 200, "delete": 200, "cart": 200, "order": 201, "order_read": 200}


@dataclass
class Counters:
    requests: dict[str, int] = field(default_factory=dict)  # "kind status" → count
    orders: int = 0
    stock_short: int = 0
    abandoned: int = 0
    failures: int = 0
    first_failures: list[str] = field(default_factory=list)

    def count(self, kind: str, response: httpx.Response) -> bool:
        """Records an answer; True if it is the expected one."""
        key = f"{kind} {response.status_code}"
        self.requests[key] = self.requests.get(key, 0) + 1
        if response.status_code == EXPECTED[kind]:
            return True
        if kind == "order" and _stock_short(response):
            self.stock_short += 1
            return False
        self.fail(f"{kind} {response.request.url.path}: {response.status_code} {response.text[:300]}")
        return False

    def fail(self, what: str) -> None:
        self.failures += 1
        if len(self.first_failures) < FAILURES_KEPT:
            self.first_failures.append(what)

    def line(self, done: bool) -> str:
        return json.dumps({**self.__dict__, "done": done})


def _stock_short(response: httpx.Response) -> bool:
    """A 409 whose every position is short of stock (not "ordered already" or "unavailable")."""
    if response.status_code != 409:
        return False
    try:
        positions = response.json().get("invalid_params", [])
    except ValueError:
        return False
    return bool(positions) and all(p.get("reason") == "stock" for p in positions)


class Pace:
    """Request times at a fixed interval from a start; waits for the next one."""

    def __init__(self, interval: float, until: float) -> None:
        self.interval = interval
        self.until = until
        self.due = time.monotonic()

    async def next(self) -> bool:
        """Waits until the next request is due; False once that is past the end."""
        self.due = max(self.due + self.interval, time.monotonic())  # behind: no burst to catch up
        if self.due >= self.until:
            return False
        await asyncio.sleep(max(0.0, self.due - time.monotonic()))
        return True


async def shopper(url: str, ids: list[str], seed: int, pace: Pace, counters: Counters) -> None:
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        while True:
            try:
                if not await shop_once(client, rng, ids, pace, counters):
                    return
            except httpx.HTTPError as exc:  # counted; the shopper starts over with a new cart
                counters.fail(f"{type(exc).__name__}: {exc}")
                client.cookies.clear()


async def shop_once(
    client: httpx.AsyncClient, rng: random.Random, ids: list[str], pace: Pace, counters: Counters
) -> bool:
    """One cart: filled, perhaps ordered. False once the time is up."""
    chosen = rng.sample(ids, rng.randint(1, 4))
    for product_id in chosen:
        if not await pace.next():
            return False
        body = {"quantity": rng.randint(1, 3)}
        if not counters.count("put", await client.put(f"/api/v1/cart/items/{product_id}", json=body)):
            client.cookies.clear()  # start over with a new cart
            return True
    if len(chosen) > 1 and rng.random() < DELETE_SHARE:
        if not await pace.next():
            return False
        if not counters.count("delete", await client.delete(f"/api/v1/cart/items/{chosen[0]}")):
            client.cookies.clear()
            return True
    if not await pace.next():
        return False
    cart = await client.get("/api/v1/cart")
    if not counters.count("cart", cart):
        client.cookies.clear()
        return True
    if rng.random() >= ORDER_SHARE:
        counters.abandoned += 1
        client.cookies.clear()
        return True
    if not await pace.next():
        return False
    etag = cart.headers.get("etag", "")
    order = await client.post("/api/v1/cart/order", headers={"If-Match": etag}, json=DETAILS)
    if not counters.count("order", order):
        client.cookies.clear()
        return True
    counters.orders += 1
    # The answer set the cookie of the next cart, which belongs to the same shopper as the order.
    if not await pace.next():
        return False
    location = order.headers.get("location")
    if location is None:
        counters.fail(f"order: 201 without a Location: {order.headers}")
        return True
    counters.count("order_read", await client.get(location))
    return True


async def run(url: str, ids: list[str], per_s: float, shoppers: int, seconds: float) -> Counters:
    counters = Counters()
    until = time.monotonic() + seconds

    async def report() -> None:
        while time.monotonic() < until:
            await asyncio.sleep(min(REPORT_S, max(0.0, until - time.monotonic())))
            print(counters.line(done=False), flush=True)

    def pace(number: int) -> Pace:
        paced = Pace(shoppers / per_s, until)
        paced.due += number / per_s  # the shoppers' requests interleaved, not in bursts
        return paced

    await asyncio.gather(report(), *(shopper(url, ids, n, pace(n), counters) for n in range(shoppers)))
    return counters


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak_shopper")
    parser.add_argument("url")
    parser.add_argument("ids", type=Path)
    parser.add_argument("per_s", type=float)
    parser.add_argument("shoppers", type=int)
    parser.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    ids = args.ids.read_text().split()
    print("started", flush=True)
    counters = asyncio.run(run(args.url, ids, args.per_s, args.shoppers, args.seconds))
    print(counters.line(done=True), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
