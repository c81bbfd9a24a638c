"""Service crashes: the shop is SIGKILLed (its whole process group) while an import flows through
its publishers and bridges, and while orders and stock flow through all four relays. After a
restart its state must equal a clean replay by a fresh instance, and the expected state: no
product event taking effect twice, no stock unit counted twice."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.host import REPO
from fixtures.server import ShopProcess, series
from fixtures.shopper import DETAILS
from shop import _core
from shop._proto import checkout_pb2, fulfilment_pb2
from shop.config import Config
from shop.contexts import checkout, fulfilment, pim, pim_csv
from shop.kafka.consumer import replay
from tests.support.catalog import import_catalog
from tests.support.faults import from_scratch
from tests.support.polling import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.faults, pytest.mark.timeout(300)]

PRODUCTS = 10_000
STOCK = 50


def start_import(config: Config, csv_path: Path, log: Path) -> subprocess.Popen[bytes]:
    """`shop import-products` in its own process, as an operator would run it beside the shop."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "shop", "import-products", str(csv_path)],
            cwd=REPO,
            env={**os.environ, **config.to_env()},
            stdout=out,
            stderr=out,
        )


def catalog_total(shop: ShopProcess) -> int:
    try:
        response = shop.get("/api/v1/products?per_page=1")
    except httpx.TransportError:
        return -1
    return int(response.json()["total"]) if response.status_code == 200 else -1


def kill_when(shop: ShopProcess, moved: Any, timeout: float = 60) -> int:
    """SIGKILLs the shop as soon as `moved(total)` says the catalog is changing; returns that total."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total = catalog_total(shop)
        if moved(total):
            shop.kill()
            return total
        time.sleep(0.01)
    raise AssertionError("the import never reached the catalog")


def all_pages(shop: ShopProcess) -> dict[str, list[dict[str, Any]]]:
    """Every page of every sort, concatenated per sort."""
    pages: dict[str, list[dict[str, Any]]] = {}
    for sort in ("id", "price", "name"):
        items: list[dict[str, Any]] = []
        page, last = 1, 1
        while page <= last:
            response = shop.get(f"/api/v1/products?sort={sort}&per_page=1000&page={page}")
            assert response.status_code == 200, response.text
            items += response.json()["items"]
            last = response.json()["pages"]
            page += 1
        pages[sort] = items
    return pages


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(pim_csv.COLUMNS)
        writer.writerows(rows)


def sample_rows(count: int, seed: int) -> list[list[str]]:
    text = io.StringIO()
    pim_csv.fake_products(count, seed, text)
    return list(csv.reader(io.StringIO(text.getvalue())))[1:]


def second_version(rows: list[list[str]]) -> tuple[list[list[str]], dict[str, int]]:
    """Every 10th product costs more, every 20th is gone, 1,000 are new; and how many of each."""
    price = pim_csv.COLUMNS.index("price")
    changed: list[list[str]] = []
    for i, row in enumerate(rows):
        if i % 20 == 0:
            continue
        changed.append([*row[:price], str(int(row[price]) + 1), *row[price + 1 :]] if i % 10 == 5 else row)
    new = sample_rows(1000, seed=99)
    return changed + new, {"changed": len(rows) // 10, "disabled": len(rows) // 20, "new": len(new)}


def pim_event_count(config: Config) -> int:
    return replay(config, pim.INTERNAL, lambda batch: None)


def test_shop_killed_during_product_imports_ends_equal_to_a_clean_replay(
    config: Config, tmp_path: Path
) -> None:
    first = sample_rows(PRODUCTS, seed=21)
    second, changes = second_version(first)
    write_csv(tmp_path / "v1.csv", first)
    write_csv(tmp_path / "v2.csv", second)
    # Snapshots every 2,000 events: a restart loads the last one written before the kill.
    config = dataclasses.replace(config, snapshot_events=2000)
    shop = ShopProcess(config, tmp_path / "shop.log")
    fresh = ShopProcess(from_scratch(config), tmp_path / "fresh.log")
    try:
        shop.start()
        importer = start_import(config, tmp_path / "v1.csv", tmp_path / "import.log")
        at_kill = kill_when(shop, lambda total: total > 0)
        assert importer.wait(120) == 0, (tmp_path / "import.log").read_text()

        shop.start(wait_ready=120)  # resumes the publisher and both pim bridges mid-way
        assert catalog_total(shop) == PRODUCTS
        importer = start_import(config, tmp_path / "v2.csv", tmp_path / "import.log")
        kill_when(shop, lambda total: total not in (-1, PRODUCTS))
        assert importer.wait(120) == 0, (tmp_path / "import.log").read_text()
        shop.start(wait_ready=120)

        # Each change of the two files is one pim event: the imports produced nothing twice.
        assert pim_event_count(config) == PRODUCTS + sum(changes.values())
        survivor = all_pages(shop)
        assert_catalog_is(survivor["id"], second)
        fresh.start(wait_ready=120)
        assert all_pages(fresh) == survivor
        assert_checkout_products(config, first, second)
        print(f"first kill at {at_kill} of {PRODUCTS} products in the catalog")
    finally:
        shop.stop()
        fresh.stop()


def assert_catalog_is(items: list[dict[str, Any]], rows: list[list[str]]) -> None:
    """The catalog sorted by id is exactly the file's products, with the file's names and prices."""
    expected = sorted((row[0], row[1], int(row[5])) for row in rows)
    assert [(item["id"], item["name"], item["price"]) for item in items] == expected


def assert_checkout_products(config: Config, first: list[list[str]], second: list[list[str]]) -> None:
    """Checkout's own copy of the products, bridged through the same kills, agrees with the file."""
    model = _core.Checkout()
    replay(config, checkout.INTERNAL, model.apply)
    sold = {row[0] for row in second}
    for product_id in sold | {row[0] for row in first}:
        assert model.product_state(product_id) == ("enabled" if product_id in sold else "disabled")


class OrderingShopper(threading.Thread):
    """Orders one unit of a few products, over and over, until the shop stops answering."""

    def __init__(self, url: str, products: list[str], offset: int) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=url, timeout=30)
        self.products = products
        self.offset = offset
        self.placed: dict[str, dict[str, int]] = {}  # order id -> units by product, for 201s

    def run(self) -> None:
        for k in range(40):
            items = {self.products[(self.offset + k + i) % len(self.products)]: 1 + i for i in range(2)}
            try:
                if not self._order(items):
                    return
            except httpx.TransportError:
                return  # the shop was killed under this request

    def _order(self, items: dict[str, int]) -> bool:
        cart = None
        for product, quantity in items.items():
            cart = self.client.put(f"/api/v1/cart/items/{product}", json={"quantity": quantity})
            if cart.status_code != 200:
                return False
        assert cart is not None
        order = self.client.post(
            "/api/v1/cart/order", headers={"if-match": cart.headers["etag"]}, json=DETAILS
        )
        if order.status_code == 201:
            self.placed[order.json()["id"]] = items
        return order.status_code in (201, 409)


def published_orders(config: Config) -> list[str]:
    """The id of every OrderCreated in checkout_pub, in order, duplicates included."""
    ids: list[str] = []

    def collect(batch: list[tuple[int, bytes]]) -> None:
        for _offset, value in batch:
            ids.append(checkout_pb2.PublicMessage.FromString(value).order_created.order_id)

    replay(config, checkout.PUBLIC, collect)
    return ids


def ordered_units(config: Config) -> tuple[Counter[str], set[str]]:
    """Units per product of the orders checkout accepted, and their ids, from checkout_pub."""
    units: Counter[str] = Counter()
    seen: set[str] = set()

    def collect(batch: list[tuple[int, bytes]]) -> None:
        for _offset, value in batch:
            order = checkout_pb2.PublicMessage.FromString(value).order_created
            if order.order_id not in seen:
                seen.add(order.order_id)
                units.update({item.product_id: item.quantity for item in order.items})

    replay(config, checkout.PUBLIC, collect)
    return units, seen


def shipped_orders(config: Config) -> set[str]:
    shipped: set[str] = set()

    def collect(batch: list[tuple[int, bytes]]) -> None:
        for _offset, value in batch:
            message = fulfilment_pb2.InternalMessage.FromString(value)
            if message.WhichOneof("event") == "order_shipped":
                shipped.add(message.order_shipped.order_id)

    replay(config, fulfilment.INTERNAL, collect)
    return shipped


def test_shop_killed_while_orders_are_bridged_counts_every_unit_once(config: Config, tmp_path: Path) -> None:
    products = import_catalog(config, 40, dict.fromkeys(range(40), STOCK))
    shop = ShopProcess(config, tmp_path / "shop.log")
    fresh = ShopProcess(from_scratch(config), tmp_path / "fresh.log")
    shoppers = [OrderingShopper(shop.url, products, offset=10 * i) for i in range(4)]
    try:
        shop.start()
        for shopper in shoppers:
            shopper.start()
        # Killed while orders are placed, published, bridged to fulfilment, shipped and bridged back.
        eventually(lambda: sum(len(s.placed) for s in shoppers) >= 20, 120, "20 orders placed")
        shop.kill()
        for shopper in shoppers:
            shopper.join(40)
        shop.start(wait_ready=120)
        # Ready does not wait for checkout's publisher: the orders written before the kill reach
        # checkout_pub once it caught up (after the killed instance's relay session expired).
        eventually(lambda: publisher_reached_end(shop), 60, "checkout's publisher caught up")

        units, accepted = ordered_units(config)
        eventually(lambda: shipped_orders(config) >= accepted, 60, "every accepted order shipped")
        placed = {order: items for s in shoppers for order, items in s.placed.items()}
        assert set(placed) <= accepted  # every 201 is an accepted order
        published = published_orders(config)
        assert len(published) == len(set(published)), "an order was published twice"
        # The shipments' last hop (fulfilment_pub, bridged to checkout_internal) may still be on its way.
        eventually(lambda: nothing_reserved(config, products), 60, "checkout applied every shipment")
        assert_stock_counted_once(config, products, units)
        assert_orders_shipped(shop, fresh, shoppers)
    finally:
        shop.stop()
        fresh.stop()


def publisher_reached_end(shop: ShopProcess) -> bool:
    """Checkout's publisher has relayed checkout_internal up to the end its projection saw (at
    least the end at start, after every order: the shoppers stopped before the restart), so every
    accepted order is in checkout_pub."""
    samples = shop.metrics()  # both from one scrape
    end = samples[series("shop_end_offset", {"context": "checkout"})]
    return samples[series("shop_relay_position", {"relay": "checkout-publisher"})] >= end


def nothing_reserved(config: Config, products: list[str]) -> bool:
    """Checkout (replayed) holds no reservation: every accepted order's shipment reached it."""
    shop_stock = _core.Checkout()
    replay(config, checkout.INTERNAL, shop_stock.apply)
    return all(shop_stock.stock(product)[1] == 0 for product in products)


def assert_stock_counted_once(config: Config, products: list[str], units: Counter[str]) -> None:
    """On hand is the stock minus the accepted orders' units, exactly, in both contexts; all shipped."""
    warehouse = _core.Fulfilment()
    replay(config, fulfilment.INTERNAL, warehouse.apply)
    shop_stock = _core.Checkout()
    replay(config, checkout.INTERNAL, shop_stock.apply)
    for product in products:
        left = STOCK - units[product]
        assert warehouse.on_hand(product) == left, product
        assert shop_stock.stock(product) == (left, 0, left), product


def assert_orders_shipped(shop: ShopProcess, fresh: ShopProcess, shoppers: list[OrderingShopper]) -> None:
    """The restarted shop and a fresh replay answer every acknowledged order alike: shipped."""
    offset = int(shop.get("/api/v1/cart").headers["shop-offset"])
    fresh.start(wait_ready=120)
    for shopper in shoppers:
        cookies = {"cart": shopper.client.cookies["cart"]}
        for order_id in shopper.placed:
            survivor = httpx.get(f"{shop.url}/api/v1/orders/{order_id}", cookies=cookies, timeout=30)
            replayed = httpx.get(
                f"{fresh.url}/api/v1/orders/{order_id}",
                cookies=cookies,
                headers={"shop-min-offset": str(offset)},
                timeout=30,
            )
            assert survivor.status_code == 200, survivor.text
            assert survivor.json()["status"] == "shipped"
            assert replayed.json() == survivor.json()
        shopper.client.close()
