"""Checkout and fulfilment end to end on a real broker, with two shop instances sharing it."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.server import ShopProcess
from fixtures.shopper import DETAILS
from shop import _core
from shop.config import Config
from shop.contexts import fulfilment, stock_csv
from shop.kafka.consumer import replay
from tests.support.catalog import import_catalog
from tests.support.polling import eventually
from tests.support.replay import checkout_state


@pytest.fixture
def two_shops(config: Config, tmp_path: Path) -> Iterator[tuple[ShopProcess, ShopProcess]]:
    a = ShopProcess(config, tmp_path / "a.log")
    b = ShopProcess(config, tmp_path / "b.log")
    yield a, b
    a.stop()
    b.stop()


def test_twenty_shoppers_race_for_five_units_on_two_instances(
    config: Config, two_shops: tuple[ShopProcess, ShopProcess]
) -> None:
    ids = import_catalog(config, 3, {0: 5, 1: 100})
    a, b = two_shops
    a.start()
    b.start()
    scarce = ids[0]
    statuses: list[int] = []

    def shopper(shop: ShopProcess) -> None:
        with httpx.Client(base_url=shop.url, timeout=30) as client:
            cart = client.put(f"/api/v1/cart/items/{scarce}", json={"quantity": 1})
            assert cart.status_code == 200, cart.text
            order = client.post(
                "/api/v1/cart/order", headers={"if-match": cart.headers["etag"]}, json=DETAILS
            )
            statuses.append(order.status_code)
            if order.status_code == 409:
                assert order.json()["invalid_params"] == [{"name": scarce, "reason": "stock"}]

    threads = [threading.Thread(target=shopper, args=(a if i % 2 else b,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 5 + [409] * 15

    # Fulfilment ships the five; every unit is accounted for, in both contexts.
    def shipped() -> bool:
        on_hand, reserved, available = checkout_state(config).stock(scarce)
        return (on_hand, reserved, available) == (0, 0, 0)

    eventually(shipped)
    warehouse = _core.Fulfilment()
    replay(config, fulfilment.INTERNAL, warehouse.apply)
    assert warehouse.on_hand(scarce) == 0
    assert warehouse.on_hand(ids[1]) == 100


def test_a_write_on_one_instance_is_read_on_the_other_with_shop_min_offset(
    config: Config, two_shops: tuple[ShopProcess, ShopProcess]
) -> None:
    ids = import_catalog(config, 2, {0: 3})
    a, b = two_shops
    a.start()
    b.start()
    with httpx.Client(base_url=a.url, timeout=30) as client_a:
        written = client_a.put(f"/api/v1/cart/items/{ids[0]}", json={"quantity": 2})
        cookie = client_a.cookies["cart"]
    offset = written.headers["shop-offset"]
    read = httpx.get(
        b.url + "/api/v1/cart", cookies={"cart": cookie}, headers={"shop-min-offset": offset}, timeout=30
    )
    assert read.status_code == 200
    assert [(i["product_id"], i["quantity"]) for i in read.json()["items"]] == [(ids[0], 2)]
    assert int(read.headers["shop-offset"]) >= int(offset)


def test_killing_the_shop_during_a_stock_import_ends_in_the_right_stock(
    config: Config, tmp_path: Path
) -> None:
    ids = import_catalog(config, 400, {0: 1})
    shop = ShopProcess(config, tmp_path / "shop.log").start()
    targets = {product_id: (i * 7) % 23 for i, product_id in enumerate(ids)}
    lines = ["product_id,quantity"] + [f"{p},{q}" for p, q in targets.items()]
    importer = threading.Thread(
        target=stock_csv.import_stock, args=(config, io.StringIO("\n".join(lines) + "\n"), False)
    )
    importer.start()
    # Kill the shop while the stock flows through its publisher and bridge.
    eventually(lambda: checkout_state(config).fulfilment_offset >= 1, timeout=30)
    shop.kill()
    importer.join(60)
    shop.start()

    def stock_matches() -> bool:
        state = checkout_state(config)
        return all(state.stock(p)[0] == q for p, q in targets.items())

    eventually(stock_matches, timeout=60)

    # Through HTTP too: the restarted shop says the exact target is in stock, and no more.
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        product, units = next((p, q) for p, q in targets.items() if q > 2)
        cart = client.put(f"/api/v1/cart/items/{product}", json={"quantity": units}).json()
        assert (cart["items"][0]["in_stock"], cart["items"][0]["more_in_stock"]) == (True, False)
    shop.stop()
