"""The cart and order API over HTTP: every error case answers problem+json and changes nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.kafka_broker import Broker
from fixtures.server import Samples, ShopProcess, metric_samples
from fixtures.shopper import DETAILS
from shop import _core
from shop._proto import checkout_pb2
from shop.contexts import pim_csv, stock_csv
from tests.support.config import fresh_config

PRODUCTS = 4


@pytest.fixture(scope="module")
def catalog(
    broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ShopProcess, list[str]]]:
    """Four products: 0 with 10 units, 1 with 1 unit, 2 without stock, 3 disabled."""
    config = fresh_config(broker)
    products = io.StringIO()
    pim_csv.fake_products(PRODUCTS, 21, products)
    rows = products.getvalue().splitlines()
    ids = [row.split(",")[0] for row in rows[1:]]
    pim_csv.import_products(config, io.StringIO(products.getvalue()), progress=False)
    pim_csv.import_products(config, io.StringIO("\n".join(rows[:-1]) + "\n"), progress=False)  # disables 3
    stock = f"product_id,quantity\n{ids[0]},10\n{ids[1]},1\n{ids[3]},5\n"
    stock_csv.import_stock(config, io.StringIO(stock), progress=False)
    shop = ShopProcess(config, Path(tmp_path_factory.mktemp("shop")) / "shop.log").start()
    yield shop, ids
    shop.stop()


@pytest.fixture
def client(catalog: tuple[ShopProcess, list[str]]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=catalog[0].url, timeout=30) as client:
        assert client.get("/api/v1/cart").status_code == 200  # gets a cart cookie
        yield client


@pytest.fixture
def ids(catalog: tuple[ShopProcess, list[str]]) -> list[str]:
    return catalog[1]


def cookie_set(response: httpx.Response) -> str:
    """The cart id of the answer's Set-Cookie."""
    return response.headers["set-cookie"].split(";")[0].removeprefix("cart=")


def assert_problem(response: httpx.Response, status: int, name: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    if name is not None:
        assert [p["name"] for p in problem["invalid_params"]] == [name]
    return problem  # type: ignore[no-any-return]


def test_a_new_cart_gets_a_safe_cookie(catalog: tuple[ShopProcess, list[str]]) -> None:
    response = httpx.get(catalog[0].url + "/api/v1/cart")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("cart=")
    assert len(cookie.split(";")[0]) == len("cart=") + 32
    for attribute in ("Path=/", "HttpOnly", "SameSite=Lax"):
        assert attribute in cookie
    assert response.json() == {"version": 0, "items": [], "total_price": 0}
    assert response.headers["etag"] == '"0"'


def test_set_change_and_remove_items(client: httpx.Client, ids: list[str]) -> None:
    cart = client.put(f"/api/v1/cart/items/{ids[0]}", json={"quantity": 3}).json()
    assert cart["version"] == 1
    item = cart["items"][0]
    assert (item["product_id"], item["quantity"], item["in_stock"], item["more_in_stock"]) == (
        ids[0],
        3,
        True,
        True,
    )
    assert cart["total_price"] == 3 * item["price"]
    cart = client.put(f"/api/v1/cart/items/{ids[0]}", json={"quantity": 10}).json()
    assert (cart["items"][0]["in_stock"], cart["items"][0]["more_in_stock"]) == (True, False)
    cart = client.put(f"/api/v1/cart/items/{ids[2]}", json={"quantity": 1}).json()
    out = next(i for i in cart["items"] if i["product_id"] == ids[2])
    assert (out["in_stock"], out["more_in_stock"]) == (False, False)
    cart = client.delete(f"/api/v1/cart/items/{ids[2]}").json()
    assert [i["product_id"] for i in cart["items"]] == [ids[0]]
    assert cart["version"] == 4


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b'{"quantity": -1}', "quantity"),
        (b'{"quantity": 1000}', "quantity"),
        (b'{"quantity": 1.5}', "quantity"),
        (b'{"quantity": "2"}', "quantity"),
        (b'{"quantity": true}', "quantity"),
        (b'{"quantity": null}', "quantity"),
        (b"{}", "quantity"),
        (b"[2]", "quantity"),
        (b'{"quantity": 1, "price": 0}', "price"),
        (b"quantity=2", "body"),
        (b"\xff\xfe", "body"),
    ],
)
def test_bad_quantities_change_nothing(client: httpx.Client, ids: list[str], body: bytes, name: str) -> None:
    before = client.get("/api/v1/cart").content
    assert_problem(client.put(f"/api/v1/cart/items/{ids[0]}", content=body), 400, name)
    assert client.get("/api/v1/cart").content == before


def test_oversized_body_unknown_and_disabled_products(client: httpx.Client, ids: list[str]) -> None:
    before = client.get("/api/v1/cart").content
    assert_problem(client.put(f"/api/v1/cart/items/{ids[0]}", content=b" " * 5000), 413)
    assert_problem(client.put("/api/v1/cart/items/no-such-product", json={"quantity": 1}), 404)
    assert_problem(client.put(f"/api/v1/cart/items/{ids[3]}", json={"quantity": 1}), 404)
    assert client.get("/api/v1/cart").content == before


def test_order_preconditions(client: httpx.Client, ids: list[str]) -> None:
    assert_problem(client.post("/api/v1/cart/order", json=DETAILS), 428)
    assert_problem(
        client.post("/api/v1/cart/order", headers={"if-match": "abc"}, json=DETAILS), 400, "If-Match"
    )
    assert_problem(client.post("/api/v1/cart/order", headers={"if-match": '"0"'}, json=DETAILS), 422)
    assert client.put(f"/api/v1/cart/items/{ids[0]}", json={"quantity": 1}).status_code == 200
    assert_problem(client.post("/api/v1/cart/order", headers={"if-match": '"0"'}, json=DETAILS), 412)
    client.put(f"/api/v1/cart/items/{ids[2]}", json={"quantity": 2})
    version = client.get("/api/v1/cart").headers["etag"]
    problem = assert_problem(
        client.post("/api/v1/cart/order", headers={"if-match": version}, json=DETAILS), 409
    )
    assert problem["invalid_params"] == [{"name": ids[2], "reason": "stock"}]
    assert client.get("/api/v1/cart").headers["etag"] == version  # nothing changed


def test_an_order_is_placed_once_and_seen_by_its_shopper_only(client: httpx.Client, ids: list[str]) -> None:
    cart = client.put(f"/api/v1/cart/items/{ids[0]}", json={"quantity": 2})
    old_cookie = client.cookies["cart"]
    placed = client.post("/api/v1/cart/order", headers={"if-match": cart.headers["etag"]}, json=DETAILS)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert placed.headers["location"] == f"/api/v1/orders/{order['id']}"
    assert len(order["id"]) == 32
    assert order["status"] in ("accepted", "shipped")
    assert [(i["product_id"], i["quantity"]) for i in order["items"]] == [(ids[0], 2)]
    assert order["total_price"] == 2 * order["items"][0]["price"]
    # A fresh cart for the shopper, who still sees the order.
    assert client.cookies["cart"] != old_cookie
    assert client.get("/api/v1/cart").json()["items"] == []
    assert client.get(f"/api/v1/orders/{order['id']}").json()["id"] == order["id"]
    # The ordered cart takes no more changes; another shopper cannot see the order.
    stale = httpx.put(
        client.base_url.join(f"/api/v1/cart/items/{ids[0]}"),
        json={"quantity": 1},
        cookies={"cart": old_cookie},
    )
    assert_problem(stale, 409)
    with httpx.Client(base_url=client.base_url) as stranger:
        assert_problem(stranger.get(f"/api/v1/orders/{order['id']}"), 404)
    assert_problem(client.get("/api/v1/orders/" + "0" * 32), 404)


def test_a_retried_order_and_the_ordered_cart_lead_to_the_order_and_the_next_cart(
    client: httpx.Client, ids: list[str]
) -> None:
    """The first answer was lost: the shopper retries with the ordered cart's cookie."""
    cart = client.put(f"/api/v1/cart/items/{ids[0]}", json={"quantity": 1})
    ordered_cookie = client.cookies["cart"]
    placed = client.post("/api/v1/cart/order", headers={"if-match": cart.headers["etag"]}, json=DETAILS)
    assert placed.status_code == 201, placed.text
    order_id, next_cookie = placed.json()["id"], client.cookies["cart"]
    with httpx.Client(base_url=client.base_url, cookies={"cart": ordered_cookie}) as retrying:
        again = retrying.post("/api/v1/cart/order", headers={"if-match": cart.headers["etag"]}, json=DETAILS)
        problem = assert_problem(again, 409)
        assert problem["order_id"] == order_id
        assert again.headers["location"] == f"/api/v1/orders/{order_id}"
        assert cookie_set(again) == next_cookie
    with httpx.Client(base_url=client.base_url, cookies={"cart": ordered_cookie}) as returning:
        seen = returning.get("/api/v1/cart")
        assert seen.status_code == 200
        assert seen.json()["order_id"] == order_id
        assert seen.headers["location"] == f"/api/v1/orders/{order_id}"
        assert cookie_set(seen) == next_cookie
    with httpx.Client(base_url=client.base_url, cookies={"cart": next_cookie}) as moved_on:
        assert moved_on.get(seen.headers["location"]).json()["id"] == order_id
        assert moved_on.get("/api/v1/cart").json() == {"version": 0, "items": [], "total_price": 0}


def test_removing_a_product_not_in_the_cart_is_404_and_writes_nothing(
    client: httpx.Client, ids: list[str]
) -> None:
    before = client.put(f"/api/v1/cart/items/{ids[0]}", json={"quantity": 1})
    assert_problem(client.delete(f"/api/v1/cart/items/{ids[1]}"), 404)
    assert_problem(client.delete("/api/v1/cart/items/no-such-product"), 404)
    after = client.get("/api/v1/cart")
    # The cart's version (its ETag) moves with every command applied to it; the bridges may move
    # the topic's offset meanwhile, so that is no measure of this cart.
    assert (after.headers["etag"], after.json()) == (before.headers["etag"], before.json())


def test_protobuf_cart_and_bad_headers(client: httpx.Client, ids: list[str]) -> None:
    client.put(f"/api/v1/cart/items/{ids[1]}", json={"quantity": 1})
    response = client.get("/api/v1/cart", headers={"accept": "application/x-protobuf"})
    assert response.headers["content-type"] == "application/x-protobuf"
    cart = checkout_pb2.Cart.FromString(response.content)
    assert [(i.product_id, i.quantity, i.in_stock, i.more_in_stock) for i in cart.items] == [
        (ids[1], 1, True, False)
    ]
    assert_problem(client.get("/api/v1/cart", headers={"shop-min-offset": "x"}), 400, "Shop-Min-Offset")
    assert_problem(client.post("/api/v1/cart"), 405)
    assert_problem(client.get("/api/v1/cart/order"), 405)
    assert_problem(client.post(f"/api/v1/cart/items/{ids[0]}"), 405)


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    return metric_samples(response.text)


def test_metrics_move_with_the_work(client: httpx.Client, ids: list[str]) -> None:
    client.cookies.clear()  # a new cart
    before = scrape(client)
    client.put(f"/api/v1/cart/items/{ids[0]}", json={"quantity": 1})
    after = scrape(client)
    carts = ("shop_model_items", (("context", "checkout"), ("kind", "carts")))
    assert after[carts] == before[carts] + 1
    products = ("shop_model_items", (("context", "catalog"), ("kind", "products")))
    assert after[products] == len(ids) - 1  # the disabled one is not in the catalog
    writes = ("shop_http_requests_total", (("route", "cart_item"), ("status", "200")))
    assert after[writes] == before.get(writes, 0) + 1
    applied = ("shop_applied_offset", (("context", "checkout"),))
    assert after[applied] > before[applied]
    assert after[("shop_ready", (("check", "checkout"),))] == 1
    assert after[("shop_lag_events", (("context", "catalog"),))] == 0
    applied_events = {
        dict(labels)["topic"]: value
        for (name, labels), value in after.items()
        if name == "shop_applied_events_total"
    }
    assert next(v for topic, v in applied_events.items() if topic.endswith("checkout_internal")) > 0


def test_stock_levels_of_products_for_sale(client: httpx.Client, ids: list[str]) -> None:
    """Units for sale as the storefront shows them: none for a disabled or unknown product."""
    answer = client.post("/api/v1/stock", json={"product_ids": [*ids, "no-such-product"]})
    assert answer.status_code == 200, answer.text
    levels = [(level["product_id"], level["available"]) for level in answer.json()["items"]]
    assert [product for product, _ in levels] == [*ids, "no-such-product"]  # in the order asked
    # Other tests of this module order product 0 (10 units) and maybe product 1 (1 unit).
    assert 0 < levels[0][1] <= 10 and levels[1][1] in (0, 1)
    assert [available for _, available in levels[2:]] == [0, 0, 0]  # none, disabled, unknown


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"product_ids": "a"}', b'{"product_ids": [1]}', b'{"product_ids": [], "x": 1}', b"{"],
)
def test_bad_stock_requests_are_400(client: httpx.Client, body: bytes) -> None:
    answer = client.post("/api/v1/stock", content=body, headers={"content-type": "application/json"})
    assert_problem(answer, 400)
    too_many = {"product_ids": ["a"] * (_core.MAX_PER_PAGE + 1)}
    assert_problem(client.post("/api/v1/stock", json=too_many), 400, "product_ids")
