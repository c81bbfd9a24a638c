"""Hostile input for every route, through the real app over a real shop (in process, so any bytes
reach the app as such): every query parameter, header, cookie, id and body a client may send gets a
4xx problem+json or an answer, never a 5xx, and within its bound. A refused write changes nothing.

The bounds are the documented ones, with the test app's settings (`running_app`: a read-your-writes
wait of 1 s): a read answers within READ_BOUND, plus `SHOP_READY_TIMEOUT` when it asks for a
`Shop-Min-Offset`; a write within `SHOP_PRODUCE_TIMEOUT` + 1 s + `SHOP_READY_TIMEOUT` (README:
Timeouts). The first tests pin the inputs that reached a 500 before the strict parsers of
shop/api/inputs.py; the generated ones after them look for more."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.kafka_broker import Broker
from fixtures.shopper import DETAILS_BODY
from shop.api import http, inputs
from shop.api.app import App
from shop.api.http import Message
from shop.api.problems import Problem
from shop.kafka.producer import ACK_MARGIN_S
from tests.support.asgi import Answer, request, running_app
from tests.support.hostile import (
    ANY_TEXT,
    ARABIC_ONE,
    ARABIC_TWO,
    CART_ID,
    COOKIE_VALUES,
    ETAGS,
    FUZZ,
    HEADER_VALUES,
    HOSTILE_BODIES,
    IDS,
    NON_ASCII_DIGITS,
    NUMERALS,
    ORIGINS,
    QUERIES,
    SUPERSCRIPT_TWO,
    TRICKY_NUMERALS,
    assert_well_answered,
    nested,
    numeral_bytes,
)

pytestmark = pytest.mark.timeout(300)

READ_BOUND = 1.0
WRITES = frozenset({"PUT", "DELETE", "POST"})


@pytest.fixture(scope="module")
def app(broker: Broker) -> Iterator[App]:
    with running_app(broker) as app:
        yield app


@pytest.fixture(scope="module")
def product(app: App) -> str:
    page = json.loads(request(app, "GET", "/api/v1/products")[2])
    return str(page["items"][0]["id"])


def bound(app: App, method: str, headers: list[tuple[bytes, bytes]]) -> float:
    """The documented bound of an answer (see the module's docstring)."""
    seconds = READ_BOUND
    if any(name == b"shop-min-offset" for name, _value in headers):
        seconds += app.config.ready_timeout
    if method in WRITES:
        seconds += app.config.produce_timeout + ACK_MARGIN_S + app.config.ready_timeout
    return seconds


def timed(
    app: App,
    method: str,
    path: str,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: list[bytes] | None = None,
) -> Answer:
    """One request, which must be answered well (no 5xx, a problem for a 4xx) and within its bound."""
    started = time.monotonic()
    answer = request(app, method, path, query, headers or [], body)
    took = time.monotonic() - started
    if method == "HEAD" and answer[0] < 400:  # the headers of a GET, no body
        assert answer[0] < 300 and answer[2] == b"", answer
    else:
        assert_well_answered(*answer)
    limit = bound(app, method, headers or [])
    assert took <= limit, f"{method} {path!r} took {took:.2f}s, over its bound of {limit:g}s"
    return answer


def problem(answer: Answer, status: int, name: str | None = None) -> dict[str, Any]:
    assert answer[0] == status, answer
    assert answer[1][b"content-type"] == b"application/problem+json"
    found: dict[str, Any] = json.loads(answer[2])
    if name is not None:
        assert [p["name"] for p in found.get("invalid_params", [])] == [name], found
    return found


def new_cart(app: App, product: str) -> tuple[tuple[bytes, bytes], bytes]:
    """A cart with one unit of `product`: its cookie header and its ETag."""
    cookie = (b"cookie", b"cart=" + fresh_cart_id(app))
    put = timed(app, "PUT", f"/api/v1/cart/items/{product}", headers=[cookie], body=[b'{"quantity": 1}'])
    assert put[0] == 200, put
    return cookie, put[1][b"etag"]


def fresh_cart_id(app: App) -> bytes:
    set_cookie = request(app, "GET", "/api/v1/cart")[1][b"set-cookie"]
    return set_cookie.split(b";")[0].split(b"=")[1]


def cart_seen(app: App, cookie: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    answer = timed(app, "GET", "/api/v1/cart", headers=[cookie])
    assert answer[0] == 200 and b"set-cookie" not in answer[1], answer
    return answer[1][b"etag"], answer[2]


# The inputs that reached a 500 (or an unanswered exception) before, each on every route it reaches.


@pytest.mark.parametrize("name", ["page", "per_page"])
@pytest.mark.parametrize("value", ["--1", "--5", "---1", "-" * 11 + "1"])
def test_a_doubled_sign_in_a_query_parameter_is_a_400(app: App, name: str, value: str) -> None:
    problem(timed(app, "GET", "/api/v1/products", f"{name}={value}".encode()), 400, name)


@pytest.mark.parametrize("value", TRICKY_NUMERALS)
@pytest.mark.parametrize("name", ["page", "per_page"])
def test_a_number_only_a_lenient_parser_reads_is_a_400_in_the_query(app: App, name: str, value: str) -> None:
    problem(timed(app, "GET", "/api/v1/products", f"{name}={percent(value)}".encode()), 400, name)


@pytest.mark.parametrize(
    "value",
    [f'"{digit}"'.encode() for digit in NON_ASCII_DIGITS]
    + [f'"{digit}"'.encode("latin-1") for digit in NON_ASCII_DIGITS if digit <= "\xff"],
)
def test_an_etag_of_non_ascii_digits_is_a_400(app: App, product: str, value: bytes) -> None:
    cookie, etag = new_cart(app, product)
    before = cart_seen(app, cookie)
    for shape in (value, b"W/" + value, value.strip(b'"')):
        answer = timed(
            app, "POST", "/api/v1/cart/order", headers=[cookie, (b"if-match", shape)], body=[DETAILS_BODY]
        )
        problem(answer, 400, "If-Match")
    assert cart_seen(app, cookie) == before
    order = timed(
        app, "POST", "/api/v1/cart/order", headers=[cookie, (b"if-match", etag)], body=[DETAILS_BODY]
    )
    assert order[0] == 201


@pytest.mark.parametrize("path", ["/api/v1/cart", "/api/v1/orders/" + CART_ID])
@pytest.mark.parametrize(
    "value",
    [
        SUPERSCRIPT_TWO.encode("latin-1"),
        (ARABIC_ONE + ARABIC_TWO).encode(),
        b"--1",
        b"+1",
        b" 1",
        b"1_0",
        b"-1",
    ],
)
def test_a_min_offset_only_a_lenient_parser_reads_is_a_400(app: App, path: str, value: bytes) -> None:
    problem(timed(app, "GET", path, headers=[(b"shop-min-offset", value)]), 400, "Shop-Min-Offset")


@pytest.mark.parametrize(
    "body",
    [
        nested(1000),
        nested(2000),
        b'{"quantity":' + nested(1000, size=1000) + b"}",
        b'{"quantity":' + b"[" * 1000,
        b"{" + b'"a":{' * 200,
        nested(300, b"{}", b'{"":', b"}"),
    ],
    ids=["array", "array-cut", "quantity-array", "quantity-open", "objects", "objects-closed"],
)
def test_json_nested_deep_enough_to_exhaust_the_decoder_is_a_400(app: App, product: str, body: bytes) -> None:
    assert len(body) <= 1024
    cookie, _etag = new_cart(app, product)
    before = cart_seen(app, cookie)
    for chunks in ([body], [body[:500], body[500:]]):
        problem(
            timed(app, "PUT", f"/api/v1/cart/items/{product}", headers=[cookie], body=chunks), 400, "body"
        )
    assert cart_seen(app, cookie) == before


@pytest.mark.parametrize(
    ("method", "prefix"),
    [
        ("GET", "/api/v1/products/"),
        ("PUT", "/api/v1/cart/items/"),
        ("DELETE", "/api/v1/cart/items/"),
        ("GET", "/api/v1/orders/"),
    ],
)
@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\udcff" * 32])
def test_an_id_that_is_no_text_is_a_4xx(app: App, method: str, prefix: str, text: str) -> None:
    """A path with a lone surrogate, which a server decoding with surrogateescape hands on."""
    answer = timed(app, method, prefix + text, body=[b'{"quantity": 1}'])
    assert answer[0] in (400, 404), answer


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"])
def test_the_probes_take_get_and_head_only(app: App, path: str, method: str) -> None:
    answer = timed(app, method, path)
    problem(answer, 405)
    assert answer[1][b"allow"] == b"GET, HEAD"
    assert timed(app, "GET", path)[0] == 200
    status, headers, body = timed(app, "HEAD", path)
    assert status == 200 and body == b"" and int(headers[b"content-length"]) > 0


@pytest.mark.parametrize(
    "origin",
    [b"http://[", b"http://[::1", b"https://[zz]", b"http://a]b", b"\xff\xfe", b"http://" + b"a" * 5000],
)
def test_a_websocket_origin_that_is_no_url_is_refused_with_a_403(app: App, origin: bytes) -> None:
    status, _accepted = websocket(
        app, [(b"origin", origin), (b"host", b"shop"), (b"cookie", b"cart=" + CART_ID.encode())]
    )
    assert status == 403


# The strict parsers themselves.


@FUZZ
@given(text=NUMERALS)
def test_a_whole_number_is_ascii_digits_and_nothing_else(text: str) -> None:
    strict = text.isascii() and text.isdigit() and len(text) <= 9 and int(text) <= 10**9
    try:
        value = inputs.whole_number(text, "n", 0, 10**9)
    except Problem as refused:
        assert refused.status == 400 and refused.invalid_params[0]["name"] == "n"
        assert not strict, text
    else:
        assert strict and value == int(text), text


@FUZZ
@given(raw=ETAGS)
def test_an_etag_is_a_quoted_or_bare_whole_number(raw: bytes) -> None:
    try:
        version = inputs.etag(raw)
    except Problem as refused:
        assert refused.status == 400
    else:
        digits = raw.strip(b" \t").removeprefix(b"W/")
        assert digits.strip(b'"').isdigit() and digits.strip(b'"').isascii()
        assert version == int(digits.strip(b'"'))


@FUZZ
@given(body=HOSTILE_BODIES)
def test_a_json_body_is_a_document_or_a_400(body: list[bytes]) -> None:
    whole = b"".join(body)
    try:
        document = inputs.json_body(whole, 1024)
    except Problem as refused:
        assert refused.status in (400, 413)
    else:
        assert len(whole) <= 1024
        assert document == json.loads(whole)


def test_json_within_the_depth_bound_is_read() -> None:
    deep = nested(inputs.MAX_JSON_DEPTH)
    assert inputs.json_body(deep, 1024) == json.loads(deep)
    assert inputs.json_body(b'{"a": "[[[[[[[[[[[[[[[[[[[["}', 1024) == {"a": "[" * 20}
    assert inputs.json_body(b'{"a": "\\"[[[[[[[[[[[[[[[[[[[["}', 1024) == {"a": '"' + "[" * 20}
    with pytest.raises(Problem):
        inputs.json_body(nested(inputs.MAX_JSON_DEPTH + 1), 1024)


# Generated: every route with any query, header, cookie, id and body.

# Every route with the methods it takes, then any method on any path the app tells apart.
ROUTES = [
    ("GET", "/api/v1/products"),
    ("GET", "/api/v1/products/{id}"),
    ("GET", "/api/v1/cart"),
    ("PUT", "/api/v1/cart/items/{id}"),
    ("DELETE", "/api/v1/cart/items/{id}"),
    ("POST", "/api/v1/cart/order"),
    ("GET", "/api/v1/orders/{id}"),
    ("POST", "/api/v1/stock"),
    ("GET", "/api/v1/cart/events"),
    ("POST", "/api/v1/events"),
    ("GET", "/healthz"),
    ("HEAD", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/products/{id}"),
    ("HEAD", "/assets/{id}"),
    ("GET", "/images/sample/{id}"),
]
METHODS = st.sampled_from(
    ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "get", "", "FOO"]
)
PATHS = st.sampled_from(
    [
        *(path for _method, path in ROUTES),
        *("/api/v1/cart/items/", "/api/v1/cart/{id}", "/api/v1/orders/", "/", "/cart", "/orders/{id}"),
        *("/favicon.svg", "/{id}", "/api/v1/{id}"),
    ]
)
CATALOG_QUERIES = st.tuples(st.sampled_from(["page", "per_page"]), NUMERALS, st.booleans()).map(
    lambda q: f"{q[0]}={percent(q[1]) if q[2] else q[1]}".encode("utf-8", "surrogatepass")
)
HEADER_NAMES = [
    b"if-match",
    b"shop-min-offset",
    b"cookie",
    b"accept",
    b"origin",
    b"content-length",
    b"content-type",
    b"x-forwarded-proto",
    b"host",
    b"if-none-match",
]


@st.composite
def headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    """Any of the headers the app reads, each with values made for it or any bytes."""
    values = {
        b"if-match": ETAGS,
        b"shop-min-offset": st.one_of(numeral_bytes(), st.sampled_from([b"0", b"1", b"00"])),
        b"cookie": COOKIE_VALUES,
        b"content-length": st.one_of(numeral_bytes(), st.sampled_from([b"15", b"0", b"1024", b"1025"])),
    }
    chosen = draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=4))
    return [(name, draw(st.one_of(values.get(name, HEADER_VALUES), HEADER_VALUES))) for name in chosen]


@FUZZ
@given(
    route=st.one_of(st.sampled_from(ROUTES), st.tuples(METHODS, PATHS)),
    id_=st.one_of(IDS, st.sampled_from(["", "{product}"])),
    query=st.one_of(QUERIES, CATALOG_QUERIES),
    headers=headers(),
    body=HOSTILE_BODIES,
)
def test_every_route_answers_any_request_without_a_5xx_within_its_bound(
    app: App,
    product: str,
    route: tuple[str, str],
    id_: str,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: list[bytes],
) -> None:
    method, path = route
    timed(app, method, path.replace("{id}", id_.replace("{product}", product)), query, headers, body)


@FUZZ
@given(
    name=st.sampled_from(["page", "per_page"]),
    value=NUMERALS,
    other=st.sampled_from([b"", b"&sort=price", b"&prefix=P"]),
)
def test_a_catalog_number_is_read_only_as_ascii_digits(app: App, name: str, value: str, other: bytes) -> None:
    status, _headers, body = timed(
        app, "GET", "/api/v1/products", f"{name}={percent(value)}".encode() + other
    )
    high = {"page": 10**9, "per_page": 1000}[name]
    strict = re.fullmatch("[0-9]{1,18}", value) is not None and 1 <= int(value) <= high
    assert (status == 200) == strict, (value, status, body)
    if name == "per_page" and strict:
        assert json.loads(body)[name] == int(value)  # (a page past the end is clamped)


def percent(value: str) -> str:
    """`value` percent-encoded as UTF-8 (lone surrogates as they come), so the app decodes it as is."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@FUZZ
@given(
    write=st.sampled_from(["set", "remove", "order"]),
    id_=st.one_of(IDS, st.just("{product}")),
    if_match=st.one_of(ETAGS, st.just(b"{etag}")),
    body=HOSTILE_BODIES,
)
def test_a_refused_write_changes_nothing(
    app: App, product: str, write: str, id_: str, if_match: bytes, body: list[bytes]
) -> None:
    cookie, etag = new_cart(app, product)
    before = cart_seen(app, cookie)
    item = id_.replace("{product}", product)
    if write == "order":
        answer = timed(
            app,
            "POST",
            "/api/v1/cart/order",
            headers=[cookie, (b"if-match", if_match.replace(b"{etag}", etag))],
            body=[DETAILS_BODY],
        )
    elif write == "set":
        answer = timed(app, "PUT", f"/api/v1/cart/items/{item}", headers=[cookie], body=body)
    else:
        answer = timed(app, "DELETE", f"/api/v1/cart/items/{item}", headers=[cookie])
    if answer[0] >= 400:
        assert cart_seen(app, cookie) == before


@FUZZ
@given(
    path=st.sampled_from(
        ["/api/v1/cart", "/api/v1/cart/order", "/api/v1/cart/items/{product}", "/api/v1/orders/" + CART_ID]
    ),
    cookies=st.lists(COOKIE_VALUES, min_size=1, max_size=3),
)
def test_any_cookie_header_is_a_cart_or_a_new_one(
    app: App, product: str, path: str, cookies: list[bytes]
) -> None:
    method = {"/api/v1/cart": "GET", "/api/v1/cart/order": "POST"}.get(
        path, "GET" if "orders" in path else "PUT"
    )
    headers = [(b"cookie", value) for value in cookies] + [(b"if-match", b'"0"')]
    answer = timed(
        app, method, path.replace("{product}", product), headers=headers, body=[b'{"quantity": 1}']
    )
    if method == "GET" and path == "/api/v1/cart":
        assert answer[0] == 200
        sent = inputs.cart_id(http.cookie({"headers": headers}, "cart"))
        assert (b"set-cookie" in answer[1]) == (sent is None)


@FUZZ
@given(
    origin=st.one_of(st.none(), ORIGINS, ANY_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))),
    host=st.one_of(st.none(), HEADER_VALUES),
    cookie=st.one_of(st.none(), COOKIE_VALUES),
    path=st.sampled_from(["/api/v1/cart/events", "/api/v1/cart/events/", "/x"]),
)
def test_the_cart_stream_admits_or_refuses_any_handshake(
    app: App, origin: bytes | None, host: bytes | None, cookie: bytes | None, path: str
) -> None:
    headers = [
        (name, value)
        for name, value in [(b"origin", origin), (b"host", host), (b"cookie", cookie)]
        if value is not None
    ]
    started = time.monotonic()
    status, accepted = websocket(app, headers, path)
    assert time.monotonic() - started <= READ_BOUND
    assert accepted or status in (403, 404), status


def websocket(
    app: App, headers: list[tuple[bytes, bytes]], path: str = "/api/v1/cart/events"
) -> tuple[int, bool]:
    """A WebSocket handshake through the app that hangs up at once: (the denial's status, accepted)."""
    scope = {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "scheme": "ws",
        "client": ("127.0.0.1", 50000),
        "extensions": {"websocket.http.response": {}},
    }
    incoming: list[Message] = [{"type": "websocket.connect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    accepted = any(m["type"] == "websocket.accept" for m in sent)
    denials = [m["status"] for m in sent if m["type"] == "websocket.http.response.start"]
    return (denials[0] if denials else 0), accepted
