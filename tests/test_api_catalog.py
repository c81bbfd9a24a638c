"""The catalog API over HTTP: shapes, content negotiation, and a problem+json for every bad input."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.kafka_broker import Broker
from fixtures.server import ShopProcess, metric_samples
from shop._proto import catalog_pb2
from shop.api import compression
from shop.contexts import pim_csv
from tests.support.config import fresh_config

BIG = "big-lamp"
PRODUCTS = 121


@pytest.fixture(scope="module")
def shop(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopProcess]:
    config = fresh_config(broker)
    sample = io.StringIO()
    pim_csv.fake_products(120, 5, sample)
    # One product whose own answer is large enough to be worth compressing (most are under 1 KB).
    sample.write(f"{BIG},Big lamp,A lamp.,{'A long story of a lamp. ' * 100},lamps/big,100,,\n")
    sample.seek(0)
    pim_csv.import_products(config, sample, progress=False)
    process = ShopProcess(config, Path(tmp_path_factory.mktemp("shop")) / "shop.log").start()
    yield process
    process.stop()


def test_a_page_echoes_what_it_answers(shop: ShopProcess) -> None:
    page = shop.get("/api/v1/products?sort=price&page=99&per_page=50").json()
    assert (page["total"], page["page"], page["pages"], page["per_page"], page["sort"]) == (
        PRODUCTS,
        3,
        3,
        50,
        "price",
    )
    assert len(page["items"]) == PRODUCTS - 100
    # A listing carries what a product card shows; the product's own page carries everything.
    assert list(page["items"][0]) == ["id", "name", "price", "category", "small_image_url"]
    product = shop.get(f"/api/v1/products/{page['items'][0]['id']}").json()
    assert list(product) == [
        "id",
        "name",
        "price",
        "description",
        "longtext",
        "category",
        "small_image_url",
        "large_image_url",
        "popularity",  # browser events (tests/test_web_events.py)
    ]
    assert {name: product[name] for name in page["items"][0]} == page["items"][0]


def test_defaults(shop: ShopProcess) -> None:
    page = shop.get("/api/v1/products").json()
    assert (page["page"], page["per_page"], page["sort"], page["prefix"]) == (1, 100, "id", "")
    assert [p["id"] for p in page["items"]] == sorted(p["id"] for p in page["items"])


def test_prefix_filters_names(shop: ShopProcess) -> None:
    everything = shop.get("/api/v1/products?per_page=1000").json()["items"]
    prefix = everything[0]["name"][:2]
    page = shop.get("/api/v1/products", params={"prefix": prefix, "sort": "name", "per_page": 1000}).json()
    assert [p["id"] for p in page["items"]] == [
        p["id"]
        for p in sorted(everything, key=lambda p: (p["name"], p["id"]))
        if p["name"].startswith(prefix)
    ]


def test_protobuf_on_accept(shop: ShopProcess) -> None:
    response = shop.get("/api/v1/products?per_page=5&sort=name", headers={"accept": "application/x-protobuf"})
    assert response.headers["content-type"] == "application/x-protobuf"
    page = catalog_pb2.Page.FromString(response.content)
    json_page = shop.get("/api/v1/products?per_page=5&sort=name").json()
    assert [p.id for p in page.items] == [p["id"] for p in json_page["items"]]
    assert page.total == PRODUCTS
    one = shop.get(f"/api/v1/products/{page.items[0].id}", headers={"accept": "application/x-protobuf"})
    assert catalog_pb2.ProductView.FromString(one.content).name == page.items[0].name


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("sort=colour", "sort"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("page=99999999999999", "page"),
        ("per_page=0", "per_page"),
        ("per_page=1001", "per_page"),
        ("per_page=", "per_page"),
        ("prefix=" + "x" * 101, "prefix"),
        ("size=10", "size"),
        ("page=1&page=2", "page"),
    ],
)
def test_bad_parameters_get_a_problem_naming_them(shop: ShopProcess, query: str, param: str) -> None:
    response = shop.get(f"/api/v1/products?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert problem["invalid_params"][0]["name"] == param
    assert param in problem["detail"]


def test_malformed_query_string(shop: ShopProcess) -> None:
    response = shop.get("/api/v1/products?prefix=%ff")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_unknown_product_and_route(shop: ShopProcess) -> None:
    for path in ("/api/v1/products/nope", "/api/v1/nothing"):
        response = shop.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


def test_reads_answered_before_routing_are_counted_under_their_route_and_status(shop: ShopProcess) -> None:
    """Pages and products take a short path when all is well and the routed one when not: either
    way each request is counted once, under its route and the status it got."""

    def requests() -> dict[tuple[str, str], float]:
        samples = metric_samples(shop.get("/metrics").text)
        return {
            (labels[0][1], labels[1][1]): value
            for (name, labels), value in samples.items()
            if name == "shop_http_requests_total" and labels[0] != ("route", "metrics")
        }

    before = requests()
    shop.get("/api/v1/products?page=2&per_page=7")
    shop.get(f"/api/v1/products/{BIG}")
    shop.get("/api/v1/products/nope")
    shop.get("/api/v1/products?page=0")
    counted = requests()
    added = {key: counted[key] - before.get(key, 0) for key in counted if counted[key] != before.get(key, 0)}
    expected = {("products", "200"): 1, ("product", "200"): 1, ("product", "404"): 1, ("products", "400"): 1}
    assert added == expected


def test_wrong_method(shop: ShopProcess) -> None:
    response = httpx.post(shop.url + "/api/v1/products", timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


def test_probes_and_spec(shop: ShopProcess) -> None:
    assert shop.get("/healthz").json()["status"] == "ok"
    assert shop.get("/readyz").json()["status"] == "ok"
    spec = shop.get("/openapi.json").json()
    routes = {"/api/v1/products", "/api/v1/cart", "/api/v1/cart/order", "/api/v1/orders/{id}"}
    assert routes <= set(spec["paths"])


def test_a_product_answer_is_compressed_when_accepted_and_large_enough(shop: ShopProcess) -> None:
    ids = [item["id"] for item in shop.get("/api/v1/products?per_page=3").json()["items"]]
    seen = {True: 0, False: 0}
    for product_id in [*ids, BIG]:
        plain = shop.get(f"/api/v1/products/{product_id}", headers={"accept-encoding": "identity"})
        packed = shop.get(f"/api/v1/products/{product_id}", headers={"accept-encoding": "gzip, br"})
        large = len(plain.content) >= compression.MIN_BYTES
        assert packed.headers.get("content-encoding") == ("br" if large else None)
        assert packed.headers["vary"] == plain.headers["vary"] == "accept-encoding"
        assert packed.json() == plain.json()  # decoded by httpx
        if large:
            assert int(packed.headers["content-length"]) < len(plain.content) * 0.7
        seen[large] += 1
    assert seen[True] and seen[False], seen


def test_the_name_filter_ignores_case_and_accents(shop: ShopProcess) -> None:
    name = shop.get("/api/v1/products?sort=name&per_page=1").json()["items"][0]["name"]
    found = shop.get("/api/v1/products", params={"prefix": name[:3], "per_page": 1000}).json()
    assert found["total"] > 0
    for prefix in [name[:3].lower(), name[:3].upper(), name[0] + "\u0301" + name[1:3]]:
        page = shop.get("/api/v1/products", params={"prefix": prefix, "per_page": 1000}).json()
        assert (page["items"], page["prefix"]) == (found["items"], prefix)
