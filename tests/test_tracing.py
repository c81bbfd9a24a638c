"""Tracing on a real broker and a real Zipkin (started once for the module): one order's trace, read
back from Zipkin's query API, holds a span of every hop from the HTTP request through checkout,
fulfilment and back, each the child of the hop before; a browser opens it in Zipkin's UI. Before
them, the sampling decisions, in process."""

from __future__ import annotations

import dataclasses
import io
import itertools
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.host import REPO
from fixtures.kafka_broker import Broker
from fixtures.server import ShopProcess
from fixtures.shopper import DETAILS
from fixtures.zipkin import Zipkin
from shop import tracing
from shop.config import Config
from shop.contexts import pim_csv, stock_csv
from tests.support.browser import run_script
from tests.support.config import fresh_config

TRACE_WAIT_S = 30.0
SCRIPT = REPO / "web" / "e2e" / "zipkin.e2e.mjs"
SCRIPT_TIMEOUT_S = 90
# The order's way, hop by hop: each span is the child of the one before (Zipkin lowercases names).
ORDER_HOPS = (
    "post cart_order",
    "send checkout_internal",
    "checkout-publisher",
    "fulfilment-bridge",
    "fulfilment-publisher",
    "checkout-fulfilment-bridge",
    "apply checkout_internal",
)
# The projections' applies, beside the way: (apply, the hop whose message it applied).
APPLIES = (
    ("apply checkout_internal", "send checkout_internal"),
    ("apply fulfilment_internal", "fulfilment-bridge"),
)

Span = dict[str, Any]


@pytest.fixture(scope="module")
def zipkin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zipkin]:
    """Started here, waited for once the shop is up: the two starts overlap."""
    server = Zipkin(Path(tmp_path_factory.mktemp("zipkin")) / "zipkin.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def traced_shop(
    broker: Broker, zipkin: Zipkin, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ShopProcess, str]]:
    """A shop tracing every request, and its one product (in stock), once Zipkin is up too."""
    config = dataclasses.replace(fresh_config(broker), trace_ratio=1.0, trace_endpoint=zipkin.spans_endpoint)
    products = io.StringIO()
    pim_csv.fake_products(1, 5, products)
    product = products.getvalue().splitlines()[1].split(",")[0]
    pim_csv.import_products(config, io.StringIO(products.getvalue()), progress=False)
    stock_csv.import_stock(config, io.StringIO(f"product_id,quantity\n{product},5\n"), progress=False)
    shop = ShopProcess(config, Path(tmp_path_factory.mktemp("shop")) / "shop.log").start()
    try:
        zipkin.wait_ready()
        yield shop, product
    finally:
        shop.stop()


@pytest.fixture(scope="module")
def order_trace(traced_shop: tuple[ShopProcess, str], zipkin: Zipkin) -> tuple[str, list[Span]]:
    """The traced shop orders its product; the order's trace id and its spans, once Zipkin holds
    every hop."""
    shop, product = traced_shop
    # The caller's trace context: the shop's spans join the trace the caller started.
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    with httpx.Client(base_url=shop.url, timeout=30) as client:
        cart = client.put(f"/api/v1/cart/items/{product}", json={"quantity": 2})
        assert cart.status_code == 200, cart.text
        headers = {"if-match": cart.headers["etag"], "traceparent": f"00-{trace_id}-{caller_span}-01"}
        placed = client.post("/api/v1/cart/order", headers=headers, json=DETAILS)
        assert placed.status_code == 201, placed.text
    # Every hop and every projection's apply: they reach Zipkin in batches of their own.
    spans = wait_for_spans(zipkin, trace_id, lambda spans: not missing_from_order(spans))
    assert by_name(spans, ORDER_HOPS[0])[0]["parentId"] == caller_span
    return trace_id, spans


def wait_for_spans(zipkin: Zipkin, trace_id: str, complete: Callable[[list[Span]], bool]) -> list[Span]:
    """The spans of `trace_id` once `complete` finds them so, or those Zipkin holds at the wait's end."""
    deadline = time.monotonic() + TRACE_WAIT_S
    while True:
        spans = zipkin.trace(trace_id)
        if complete(spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.5)


def by_name(spans: list[Span], name: str) -> list[Span]:
    return [span for span in spans if span["name"] == name]


def order_way(spans: list[Span]) -> list[Span] | None:
    """The spans of ORDER_HOPS, each a child of the one before, or None while one is missing."""
    way = by_name(spans, ORDER_HOPS[0])[:1]
    for name in ORDER_HOPS[1:]:
        if not way:
            return None
        children = [span for span in by_name(spans, name) if span.get("parentId") == way[-1]["id"]]
        way += children[:1]
        if len(way) < ORDER_HOPS.index(name) + 1:
            return None
    return way or None


def missing_from_order(spans: list[Span]) -> list[str]:
    """What an order's trace lacks: its way (ORDER_HOPS, each a child of the one before), or the
    APPLIES spans that are not there as children of their hops."""
    way = order_way(spans)
    if way is None:
        return ["the order's way"]
    ids = {span["name"]: span["id"] for span in way}
    return [
        apply
        for apply, hop in APPLIES
        if not any(span.get("parentId") == ids[hop] for span in by_name(spans, apply))
    ]


@pytest.fixture
def traced_rarely() -> Iterator[None]:
    """Tracing on, but at a ratio that picks no request of a test: only callers' decisions count.
    The endpoint is closed: a span that were exported would only be logged as lost."""
    tracing.configure(Config(trace_ratio=1e-12, trace_endpoint="http://127.0.0.1:9/api/v2/spans"))
    yield
    tracing.shutdown()


def request(traceparent: str | None = None) -> dict[str, Any]:
    headers = [(b"host", b"shop")]
    if traceparent is not None:
        headers.append((b"traceparent", traceparent.encode()))
    return {"method": "GET", "path": "/api/v1/cart", "headers": headers}


def test_off_nothing_is_traced_and_no_span_made() -> None:
    tracing.configure(Config())
    assert not tracing.enabled()
    assert tracing.request_span(request(f"00-{'1' * 32}-{'2' * 16}-01"), str) is None
    with tracing.producing("checkout_internal") as headers:
        assert headers is None
    assert tracing.RelayHops("relay", "a", "b", []).start(0) is None


def test_a_caller_s_sampling_decision_is_followed(traced_rarely: None) -> None:
    assert tracing.request_span(request(), str) is None  # the ratio did not pick it
    trace_id, parent = "ab" * 16, "cd" * 8
    span = tracing.request_span(request(f"00-{trace_id}-{parent}-01"), lambda path: "cart")
    assert span is not None and span.is_recording()
    assert f"{span.get_span_context().trace_id:032x}" == trace_id
    with tracing.serving(span), tracing.producing("checkout_internal") as headers:
        assert headers is not None
        sent = dict(headers)["traceparent"].decode()
        assert sent.startswith(f"00-{trace_id}-") and sent.endswith("-01")
        assert parent not in sent  # the producer span's own id: the apply becomes its child
    unsampled = tracing.request_span(request(f"00-{trace_id}-{parent}-00"), str)
    assert unsampled is not None and not unsampled.is_recording()


def test_the_ratio_is_a_number_setting() -> None:
    assert Config.from_env({"SHOP_TRACE_RATIO": "0.01"}).trace_ratio == 0.01
    with pytest.raises(SystemExit, match="expected a number"):
        Config.from_env({"SHOP_TRACE_RATIO": "1%"})
    with pytest.raises(SystemExit, match="expected a share from 0 to 1"):
        tracing.check(Config(trace_ratio=2.0))


@pytest.mark.kafka
def test_an_order_is_one_trace_with_a_timed_span_per_hop(order_trace: tuple[str, list[Span]]) -> None:
    trace_id, spans = order_trace
    way = order_way(spans)
    found = sorted((span["name"], span.get("parentId")) for span in spans)
    assert way is not None, f"the order's way is not complete in Zipkin: {found}"
    assert {span["traceId"] for span in spans} == {trace_id}
    for parent, child in itertools.pairwise(way):
        assert child["timestamp"] >= parent["timestamp"], (parent["name"], child["name"])
    for span in way:
        assert span["localEndpoint"]["serviceName"] == "shop"
        assert "duration" in span or span["kind"] == "PRODUCER", span  # Zipkin omits a 0 µs duration
    assert not missing_from_order(spans), (missing_from_order(spans), found)


@pytest.mark.kafka
def test_the_trace_opens_in_zipkins_ui(zipkin: Zipkin, order_trace: tuple[str, list[Span]]) -> None:
    trace_id, _spans = order_trace
    env = {
        "ZIPKIN_URL": zipkin.url,
        "TRACE_ID": trace_id,
        "SPAN_NAMES": ",".join(ORDER_HOPS),
        "ARTIFACTS": str(REPO / "test-artifacts" / "tracing"),
    }
    finished = run_script(SCRIPT, env, SCRIPT_TIMEOUT_S)
    assert finished.returncode == 0, f"{finished.out}\n{finished.err}"
    assert (REPO / "test-artifacts" / "tracing" / "trace.png").stat().st_size > 0


@pytest.mark.kafka
def test_traced_reads_are_answered_as_routed_and_each_is_a_span(
    traced_shop: tuple[ShopProcess, str], zipkin: Zipkin
) -> None:
    """A traced read takes the routed path, not the hot reads' shortcut: a catalog page (the second
    time from the page cache), a product and a bad query answer as ever, each a span with its status."""
    shop, product = traced_shop
    trace_id = secrets.token_hex(16)
    page, bad = "/api/v1/products?sort=name&per_page=5", "/api/v1/products?page=x"
    with httpx.Client(base_url=shop.url, timeout=30) as client:

        def get(path: str) -> httpx.Response:
            return client.get(path, headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})

        pages = [get(page) for _ in range(3)]  # the third is the cached answer
        shown, refused = get(f"/api/v1/products/{product}"), get(bad)
    assert [answer.status_code for answer in pages] == [200] * 3
    assert len({answer.content for answer in pages}) == 1
    assert [item["id"] for item in pages[0].json()["items"]] == [product]
    assert shown.status_code == 200 and shown.json()["id"] == product
    assert refused.status_code == 400 and refused.headers["content-type"] == "application/problem+json"
    expected = [("get product", "200"), ("get products", "200"), ("get products", "200")]
    expected += [("get products", "200"), ("get products", "400")]

    def statuses(spans: list[Span]) -> list[tuple[str, str]]:
        tags = [(span["name"], span.get("tags", {})) for span in spans]
        return sorted((name, tag.get("http.response.status_code", "")) for name, tag in tags)

    spans = wait_for_spans(zipkin, trace_id, lambda spans: statuses(spans) == expected)
    assert statuses(spans) == expected
