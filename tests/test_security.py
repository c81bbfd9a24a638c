"""Security basics, through the real app over a real shop: unguessable ids, nothing of another
shopper's cart or order, the Secure cookie over https (directly or behind a trusted proxy), CORS
only for configured origins, and the security headers on every answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from fixtures.kafka_broker import Broker
from fixtures.shopper import DETAILS_BODY
from shop.api.app import App
from tests.support.asgi import Answer, request, running_app

pytestmark = pytest.mark.timeout(180)

ORIGIN = b"https://shop.example"
PROXY = "10.0.0.7"


@pytest.fixture(scope="module")
def app(broker: Broker) -> Iterator[App]:
    with running_app(broker, cors_origins=ORIGIN.decode(), trusted_proxies=PROXY) as app:
        yield app


@pytest.fixture(scope="module")
def default_app(broker: Broker) -> Iterator[App]:
    with running_app(broker) as app:
        yield app


def cookie_of(answer: Answer) -> str:
    return answer[1][b"set-cookie"].decode()


def cart_cookie(answer: Answer) -> tuple[bytes, bytes]:
    return (b"cookie", cookie_of(answer).split(";")[0].encode())


def product_ids(app: App) -> list[str]:
    page = json.loads(request(app, "GET", "/api/v1/products")[2])
    return [item["id"] for item in page["items"]]


def place_order(app: App, cookie: tuple[bytes, bytes], product: str) -> Answer:
    put = request(app, "PUT", f"/api/v1/cart/items/{product}", headers=[cookie], body=[b'{"quantity": 1}'])
    assert put[0] == 200, put
    headers = [cookie, (b"if-match", put[1][b"etag"])]
    order = request(app, "POST", "/api/v1/cart/order", headers=headers, body=[DETAILS_BODY])
    assert order[0] == 201, order
    return order


def test_cart_and_order_ids_are_128_random_bits(app: App) -> None:
    ids = set()
    for _ in range(2):
        cookie = cart_cookie(request(app, "GET", "/api/v1/cart"))
        order = place_order(app, cookie, product_ids(app)[0])
        order_id = json.loads(order[2])["id"]
        ids.update({order_id, cookie[1].decode().split("=")[1]})
    assert len(ids) == 4
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_no_endpoint_shows_another_shoppers_cart_or_order(app: App) -> None:
    alice = cart_cookie(request(app, "GET", "/api/v1/cart"))
    order = place_order(app, alice, product_ids(app)[1])
    order_id = json.loads(order[2])["id"]
    location = order[1][b"location"].decode()
    alice_next = cart_cookie(order)  # her next cart: her orders stay hers
    assert request(app, "GET", location, headers=[alice_next])[0] == 200

    bob = cart_cookie(request(app, "GET", "/api/v1/cart"))
    status, _headers, body = request(app, "GET", location, headers=[bob])
    assert status == 404 and order_id not in body.decode()
    assert json.loads(request(app, "GET", "/api/v1/cart", headers=[bob])[2])["items"] == []
    # The order id is no cart id: used as a cookie it opens an empty cart, not the order's.
    as_cookie = (b"cookie", f"cart={order_id}".encode())
    assert json.loads(request(app, "GET", "/api/v1/cart", headers=[as_cookie])[2])["items"] == []
    # A cookie that is not a cart id is replaced, never looked up.
    forged = request(app, "GET", "/api/v1/cart", headers=[(b"cookie", b"cart=../../etc")])
    assert forged[0] == 200 and b"set-cookie" in forged[1]


def test_the_cookie_is_secure_over_https_and_behind_a_trusted_proxy_only(app: App) -> None:
    plain = cookie_of(request(app, "GET", "/api/v1/cart"))
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Path=/" in plain
    assert "Secure" not in plain
    assert "; Secure" in cookie_of(request(app, "GET", "/api/v1/cart", scheme="https"))
    forwarded = [(b"x-forwarded-proto", b"https")]
    trusted = request(app, "GET", "/api/v1/cart", headers=forwarded, client=PROXY)
    assert "; Secure" in cookie_of(trusted)
    untrusted = request(app, "GET", "/api/v1/cart", headers=forwarded, client="10.0.0.8")
    assert "Secure" not in cookie_of(untrusted)


def test_cors_answers_configured_origins_only(app: App, default_app: App) -> None:
    allowed = request(app, "GET", "/api/v1/products", headers=[(b"origin", ORIGIN)])
    assert allowed[1][b"access-control-allow-origin"] == ORIGIN
    preflight = request(app, "OPTIONS", "/api/v1/cart/order", headers=[(b"origin", ORIGIN)])
    assert preflight[0] == 204 and b"if-match" in preflight[1][b"access-control-allow-headers"]
    other = request(app, "GET", "/api/v1/products", headers=[(b"origin", b"https://evil.example")])
    assert b"access-control-allow-origin" not in other[1]
    by_default = request(default_app, "GET", "/api/v1/products", headers=[(b"origin", ORIGIN)])
    assert b"access-control-allow-origin" not in by_default[1]
    preflight = request(default_app, "OPTIONS", "/api/v1/cart/order", headers=[(b"origin", ORIGIN)])
    assert preflight[0] == 405 and b"access-control-allow-origin" not in preflight[1]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/products"), ("GET", "/api/v1/products/nope"), ("GET", "/api/v1/cart"), ("GET", "/x")],
)
def test_every_answer_carries_the_security_headers(app: App, method: str, path: str) -> None:
    headers = request(app, method, path)[1]
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"x-frame-options"] == b"DENY"
    assert headers[b"referrer-policy"] == b"no-referrer"
