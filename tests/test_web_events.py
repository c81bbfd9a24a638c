"""Browser events (POST /api/v1/events) on a real shop: a batch is counted as the products'
popularity (GET /api/v1/products/{id}, /metrics); bad and oversized batches are refused with
problem+json and write nothing; a flood from one cart is rate-limited; a slow Kafka drops batches
instead of queueing them."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.host import REPO, free_port
from fixtures.kafka_broker import Broker
from fixtures.server import ShopProcess
from shop._proto import catalog_pb2
from shop.api import web_events
from shop.api.static import STATIC_DIR
from shop.config import Config
from shop.contexts import web
from shop.kafka import admin
from shop.kafka.producer import Producer
from tests.support.catalog import import_catalog
from tests.support.config import fresh_config
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def shop(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ShopProcess, list[str]]]:
    config = fresh_config(broker)
    ids = import_catalog(config, 3, {0: 5})
    process = ShopProcess(config, Path(tmp_path_factory.mktemp("web")) / "shop.log").start()
    yield process, ids
    process.stop()


def post(shop: ShopProcess, body: Any, cart: str = "a" * 32, raw: bytes | None = None) -> httpx.Response:
    content = raw if raw is not None else httpx.Request("POST", "/", json=body).content
    return httpx.post(
        shop.url + "/api/v1/events",
        content=content,
        headers={"content-type": "application/json"},
        cookies={"cart": cart},
        timeout=10,
    )


def written(shop: ShopProcess) -> int:
    return admin.end_offset(shop.config, shop.config.topic(web.TOPIC))


def test_a_batch_counts_as_popularity(shop: tuple[ShopProcess, list[str]]) -> None:
    server, ids = shop
    events = [
        {"kind": "page_view", "product_id": ids[0]},
        {"kind": "page_view", "product_id": ids[0]},
        {"kind": "add_to_cart", "product_id": ids[0]},
        {"kind": "page_view"},
        {"kind": "search", "query": "red lamp"},
        {"kind": "order"},
    ]
    answer = post(server, {"events": events}, cart="b" * 32)
    assert answer.status_code == 202 and answer.json() == {"accepted": 6, "dropped": False}
    eventually(lambda: server.get(f"/api/v1/products/{ids[0]}").json()["popularity"]["views"] == 2)
    assert server.get(f"/api/v1/products/{ids[0]}").json()["popularity"] == {"views": 2, "add_to_carts": 1}
    assert server.get(f"/api/v1/products/{ids[1]}").json()["popularity"] == {"views": 0, "add_to_carts": 0}
    protobuf = {"accept": "application/x-protobuf"}
    view = catalog_pb2.ProductView.FromString(
        server.get(f"/api/v1/products/{ids[0]}", headers=protobuf).content
    )
    assert (view.id, view.popularity.views, view.popularity.add_to_carts) == (ids[0], 2, 1)
    view = catalog_pb2.ProductView.FromString(
        server.get(f"/api/v1/products/{ids[1]}", headers=protobuf).content
    )
    assert view.HasField("popularity") and (view.popularity.views, view.popularity.add_to_carts) == (0, 0)
    assert server.metric("shop_product_popularity", {"product": ids[0], "kind": "page_view"}) == 2
    assert server.metric("shop_web_events", {"kind": "add_to_cart"}) >= 1
    assert server.metric("shop_web_event_batches_total", {"outcome": "written"}) >= 1


BAD = [
    (b"not json", "body"),
    (b'{"events": []}', "events"),
    (b'{"events": [{"kind": "page_view"}], "email": "a@b.example"}', "body"),
    (b'{"events": [{"kind": "purchase"}]}', "events/0/kind"),
    (b'{"events": [{"kind": "page_view", "product_id": "nope"}]}', "events/0/product_id"),
    (b'{"events": [{"kind": "add_to_cart"}]}', "events/0/product_id"),
    (b'{"events": [{"kind": "page_view", "name": "Ada Lovelace"}]}', "events/0"),
    (b'{"events": [{"kind": "search", "query": "ada@example.com"}]}', "events/0/query"),
    (b'{"events": [{"kind": "search", "query": "call +44 20 7946 0958"}]}', "events/0/query"),
    (b'{"events": [{"kind": "page_view", "query": "x"}]}', "events/0/query"),
    (b'{"events": [' + b",".join([b'{"kind": "order"}'] * 33) + b"]}", "events"),
]


@pytest.mark.parametrize(("body", "at_fault"), BAD)
def test_bad_batches_are_refused_and_write_nothing(
    shop: tuple[ShopProcess, list[str]], body: bytes, at_fault: str
) -> None:
    server, _ids = shop
    before = written(server)
    answer = post(server, None, cart="c" * 32, raw=body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["invalid_params"][0]["name"] == at_fault
    assert written(server) == before


def test_an_oversized_batch_is_refused(shop: tuple[ShopProcess, list[str]]) -> None:
    server, ids = shop
    events = [{"kind": "page_view", "product_id": ids[0]}] * 200
    answer = post(server, {"events": events}, cart="d" * 32)
    assert answer.status_code == 413 and answer.headers["content-type"] == "application/problem+json"


def test_a_flood_from_one_cart_is_rate_limited(shop: tuple[ShopProcess, list[str]]) -> None:
    server, ids = shop
    batch = {"events": [{"kind": "page_view", "product_id": ids[2]}]}
    started = time.monotonic()
    answers = [post(server, batch, cart="e" * 32) for _ in range(web_events.BURST + 10)]
    # Tokens come back while the flood is sent: one a second, more on a busy machine's slow posts.
    refilled = int((time.monotonic() - started) * web_events.RATE_PER_S) + 1
    statuses = [a.status_code for a in answers]
    assert web_events.BURST <= statuses.count(202) <= web_events.BURST + refilled, statuses
    limited = [a for a in answers if a.status_code == 429]
    assert limited and all(int(a.headers["retry-after"]) >= 1 for a in limited)
    assert limited[0].headers["content-type"] == "application/problem+json"
    assert post(server, batch, cart="f" * 32).status_code == 202  # another cart is not held back
    assert server.metric("shop_web_event_batches_total", {"outcome": "rate_limited"}) >= 4


def test_a_slow_kafka_drops_batches_instead_of_queueing_them(config: Config) -> None:
    """No broker answers: the producer's queue fills and every batch beyond it is dropped at once."""
    away = dataclasses.replace(config, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    dead_letters = Producer(away)
    context = web.WebEventsContext(away, dead_letters)
    batch = web.batch_of([("page_view", "", "")])
    try:
        kept = [context.offer(batch) for _ in range(web.QUEUE_BATCHES + 50)]
        assert kept.count(True) == web.QUEUE_BATCHES and kept[-50:] == [False] * 50
    finally:
        context.close(0)
        dead_letters.close(0)


def test_the_storefront_s_page_views_are_counted(shop: tuple[ShopProcess, list[str]]) -> None:
    """In chromium: a product viewed and added to the cart, counted once the page is left."""
    assert (STATIC_DIR / "index.html").exists(), "run `make build` first: it builds web/ into shop/static"
    chromium = shutil.which("chromium")
    assert chromium is not None, "chromium is missing: `make test-py` installs it with apt-get"
    server, ids = shop
    env = {**os.environ, "BASE_URL": server.url, "CHROMIUM": chromium, "E2E_PRODUCT": ids[0]}
    script = subprocess.run(
        ["node", str(REPO / "web" / "e2e" / "web-events.e2e.mjs")],
        cwd=REPO / "web",
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    print(script.stdout)
    assert script.returncode == 0, f"{script.stdout}\n{script.stderr}\nshop log:\n{server.log_tail()}"
