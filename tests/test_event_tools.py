"""`shop events tail` and `shop copy-events` on a real shop: every topic read decoded (garbage
shown as poison), then the shop copied to a second broker, where a shop serves the same catalog,
carts and orders; a second copy copies nothing twice."""

from __future__ import annotations

import dataclasses
import io
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.kafka_broker import Broker, single_broker
from fixtures.mailpit import Mailpit
from fixtures.server import ShopProcess
from fixtures.shopper import DETAILS
from shop import cli, event_log
from shop._proto import checkout_pb2
from shop.config import SAMPLE_CONTENT, Config
from shop.contexts import checkout, cms, cms_files, notification, pim
from shop.copy_events import CopyRefused, Scrubber, copy_events
from shop.kafka import admin
from shop.kafka.producer import Producer
from shop.service import PERSONAL_FIELDS, TOPICS, all_topics
from tests.support.catalog import import_catalog
from tests.support.config import fresh_config
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(240)

GARBAGE = b"\xff\xfe\x00 not an event"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@dataclasses.dataclass
class SourceShop:
    config: Config
    shop: ShopProcess
    ids: list[str]
    cart: str  # a cart with items, not ordered
    ordered: str  # the cookie of the shopper who ordered (their next, empty cart)
    order: str


@pytest.fixture(scope="module")
def second_broker_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Future[Broker]]:
    """The copies' broker, started in the background while the source shop is filled."""
    broker = single_broker(Path(tmp_path_factory.mktemp("kafka-copy")))

    def start() -> Broker:
        broker.start()
        return broker

    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(start)
        try:
            yield started
        finally:
            started.result()
            broker.stop()


@pytest.fixture(scope="module")
def second_broker(second_broker_start: Future[Broker]) -> Broker:
    return second_broker_start.result()


@pytest.fixture(scope="module")
def source(
    broker: Broker, tmp_path_factory: pytest.TempPathFactory, second_broker_start: Future[Broker]
) -> Iterator[SourceShop]:
    """A shop with products, stock, the sample content, a cart, an order shipped and garbage in
    checkout_internal (with a trace context): every topic holds something, and
    checkout_internal_dead the garbage."""
    mailpit = Mailpit(Path(tmp_path_factory.mktemp("mailpit"))).start()
    config = dataclasses.replace(fresh_config(broker), smtp_port=mailpit.smtp_port)
    ids = import_catalog(config, 3, {0: 10, 1: 10, 2: 10})
    content = cms_files.import_content(config, SAMPLE_CONTENT)
    shop = ShopProcess(config, Path(tmp_path_factory.mktemp("source")) / "shop.log").start()
    try:
        producer = Producer(config)
        producer.produce(config.topic(checkout.INTERNAL), GARBAGE, [("traceparent", TRACEPARENT)]).result(30)
        producer.close()
        with httpx.Client(base_url=shop.url, timeout=30) as shopper:
            placed = shopper.put(f"/api/v1/cart/items/{ids[0]}", json={"quantity": 2})
            order = shopper.post(
                "/api/v1/cart/order", headers={"if-match": placed.headers["etag"]}, json=DETAILS
            )
            assert order.status_code == 201, order.text
            order_id, ordered = order.json()["id"], shopper.cookies["cart"]
            eventually(lambda: shopper.get(f"/api/v1/orders/{order_id}").json()["status"] == "shipped")
        with httpx.Client(base_url=shop.url, timeout=30) as shopper:
            assert shopper.put(f"/api/v1/cart/items/{ids[1]}", json={"quantity": 3}).status_code == 200
            cart = shopper.cookies["cart"]
            seen = shopper.post(
                "/api/v1/events", json={"events": [{"kind": "page_view", "product_id": ids[0]}]}
            )
            assert seen.status_code == 202, seen.text
            # Written without the request waiting: counted once it is in web_events.
            product = f"/api/v1/products/{ids[0]}"
            eventually(lambda: shopper.get(product).json()["popularity"]["views"] == 1)
        eventually(lambda: admin.end_offset(config, config.topic(checkout.INTERNAL + "_dead")) == 1)
        eventually(lambda: admin.end_offset(config, config.topic(cms.PUBLIC)) == content.new)
        eventually(
            lambda: admin.end_offset(config, config.topic(notification.INTERNAL)) == 2
        )  # confirmed, shipped
        yield SourceShop(config, shop, ids, cart, ordered, order_id)
    finally:
        shop.stop()
        mailpit.stop()


def tail_json(config: Config, topic: str, **options: Any) -> list[dict[str, Any]]:
    out = io.StringIO()
    event_log.tail(config, topic, out, as_json=True, **options)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_every_topic_reads_decoded_and_garbage_as_poison(source: SourceShop) -> None:
    config = source.config
    for topic in TOPICS:
        records = tail_json(config, topic)
        end = admin.end_offset(config, config.topic(topic))
        assert end > 0 and [r["offset"] for r in records] == list(range(end)), topic
        poison = [r for r in records if r["event"] is None]
        if topic == checkout.INTERNAL:
            assert [p["poison"]["value_hex"] for p in poison] == [GARBAGE.hex()]
            assert poison[0]["trace_id"] == TRACE_ID and poison[0]["headers"]["traceparent"] == TRACEPARENT
        else:
            assert poison == [], topic
    published = tail_json(config, pim.PUBLIC)
    assert [r["source_offsets"] for r in published] == [{"internal_offset": n} for n in range(3)]
    assert published[0]["event"]["product"]["id"] == source.ids[0]
    dead = tail_json(config, checkout.INTERNAL + "_dead")
    assert dead[0]["poison"]["value_hex"] == GARBAGE.hex()
    assert dead[0]["headers"]["shop-source-offset"] == str(
        next(r["offset"] for r in tail_json(config, checkout.INTERNAL) if r["event"] is None)
    )


def test_lines_show_offset_time_headers_and_the_event(source: SourceShop) -> None:
    out = io.StringIO()
    event_log.tail(source.config, checkout.INTERNAL, out)
    lines = out.getvalue().splitlines()
    poison = [line for line in lines if "POISON" in line]
    assert len(poison) == 1 and f"trace={TRACE_ID}" in poison[0], poison
    set_items = [line for line in lines if ' {"cart_item_set": ' in line]
    assert set_items and all(line.startswith("0:") and "Z " in line for line in set_items)
    assert f'"cart_id": "{source.cart}"' in set_items[-1] and '"quantity": 3' in set_items[-1]
    bridged = [line for line in lines if ' {"product_changed": ' in line]
    assert len(bridged) == 3 and "source pim_offset=0" in bridged[0]


def test_filters_and_where_reading_starts(source: SourceShop) -> None:
    config = source.config
    cart = tail_json(config, checkout.INTERNAL, filters=event_log.Filters(cart=source.cart))
    # The garbage names no cart but passes: poison is never hidden by a filter that cannot judge it.
    assert [r["event"] and r["event"]["cart_item_set"]["quantity"] for r in cart] == [None, 3]
    product = tail_json(config, pim.INTERNAL, filters=event_log.Filters(product=source.ids[1]))
    assert [r["event"]["product"]["id"] for r in product] == [source.ids[1]]
    assert tail_json(config, pim.INTERNAL, filters=event_log.Filters(key="none")) == []
    assert [r["offset"] for r in tail_json(config, pim.INTERNAL, first=-1)] == [2]
    assert [r["offset"] for r in tail_json(config, pim.INTERNAL, first=1)] == [1, 2]
    assert len(tail_json(config, pim.INTERNAL, since_ms=event_log.parse_time("1h"))) == 3
    assert tail_json(config, pim.INTERNAL, since_ms=int(time.time() * 1000) + 60_000) == []


def test_follow_prints_new_messages_until_stopped(source: SourceShop) -> None:
    config, topic, out, stop = source.config, checkout.INTERNAL + "_dead", io.StringIO(), threading.Event()
    reader = threading.Thread(
        target=event_log.tail, args=(config, topic, out), kwargs={"follow": True, "stop": stop}
    )
    reader.start()
    try:
        eventually(lambda: out.getvalue().count("\n") == 1)
        producer = Producer(config)
        producer.produce(config.topic(topic), b"\x08", [("traceparent", TRACEPARENT)]).result(30)
        producer.close()
        eventually(lambda: out.getvalue().count("\n") == 2)
        assert f"trace={TRACE_ID}" in out.getvalue().splitlines()[1]
    finally:
        stop.set()
        reader.join(10)
    assert not reader.is_alive()


def test_the_command_line(source: SourceShop, capsys: pytest.CaptureFixture[str]) -> None:
    kafka = ["--kafka-bootstrap", source.config.kafka_bootstrap, "--topic-prefix", source.config.topic_prefix]
    cli.main(["events", "tail", pim.INTERNAL, "--json", "--product", source.ids[2], *kafka])
    assert json.loads(capsys.readouterr().out)["event"]["product"]["id"] == source.ids[2]
    for topic, error in [("orders", "the shop has no topic 'orders'"), ("pim_dead", "no topic")]:
        with pytest.raises(SystemExit) as exit:
            cli.main(["events", "tail", topic, *kafka])
        assert exit.value.code == 2 and error in capsys.readouterr().err
    missing = ["--kafka-bootstrap", source.config.kafka_bootstrap, "--topic-prefix", "absent-"]
    with pytest.raises(SystemExit) as exit:
        cli.main(["events", "tail", pim.INTERNAL, *missing])
    assert exit.value.code == 2 and "absent-pim_internal does not exist" in capsys.readouterr().err


def ends(config: Config) -> dict[str, int]:
    return {topic: admin.end_offset(config, config.topic(topic)) for topic in all_topics()}


def the_same_shop(source: SourceShop, copy: ShopProcess) -> None:
    """The copy serves what the source serves: catalog pages, a product, carts and the order."""
    pages = [
        "/api/v1/products",
        "/api/v1/products?sort=name&per_page=2&page=2",
        f"/api/v1/products/{source.ids[0]}",
    ]
    for path in pages:
        assert copy.get(path).json() == source.shop.get(path).json(), path
    for cookie, path in [(source.cart, "/api/v1/cart"), (source.ordered, f"/api/v1/orders/{source.order}")]:
        original = source.shop.get(path, cookies={"cart": cookie})
        copied = copy.get(path, cookies={"cart": cookie})
        assert original.status_code == copied.status_code == 200 and copied.json() == original.json(), path


def test_a_copy_serves_the_same_shop_and_copying_again_copies_nothing_twice(
    source: SourceShop, second_broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    destination = dataclasses.replace(
        source.config, kafka_bootstrap=second_broker.bootstrap, snapshot_dir=tempfile.mkdtemp()
    )
    progress = io.StringIO()
    first = copy_events(source.config, destination, progress=progress)
    assert first.copied == ends(source.config) and ends(destination) == ends(source.config)
    assert f"{sum(first.copied.values())}/{sum(first.copied.values())}" in progress.getvalue()

    copy = ShopProcess(destination, tmp_path / "copy.log").start()
    try:
        the_same_shop(source, copy)
        # The copy's relays and dead letters found their work done: they wrote nothing.
        cli.main(["copy-events", "--from", source.config.kafka_bootstrap, "--to", second_broker.bootstrap,
                  "--topic-prefix", source.config.topic_prefix])  # fmt: skip
        assert capsys.readouterr().out == "copy-events: copied 0 messages; every topic was up to date\n"
        with httpx.Client(base_url=source.shop.url, cookies={"cart": source.cart}, timeout=30) as shopper:
            assert shopper.put(f"/api/v1/cart/items/{source.ids[2]}", json={"quantity": 1}).status_code == 200
        again = copy_events(source.config, destination)
        assert {topic: n for topic, n in again.copied.items() if n} == {checkout.INTERNAL: 1}
        eventually(lambda: len(copy.get("/api/v1/cart", cookies={"cart": source.cart}).json()["items"]) == 2)
        the_same_shop(source, copy)
    finally:
        copy.stop()


def test_a_destination_that_is_no_copy_is_refused(source: SourceShop, second_broker: Broker) -> None:
    other = fresh_config(second_broker)  # a topic prefix of its own: another shop
    admin.ensure_topics(other, pim.TOPICS)
    producer = Producer(other)
    producer.produce(other.topic(pim.INTERNAL), b"another shop's event").result(30)
    for _ in range(5):  # more than the source holds
        producer.produce(other.topic(pim.PUBLIC), b"another shop's event").result(30)
    producer.close()
    with pytest.raises(CopyRefused, match="offset 0 differs"):
        copy_events(source.config, other, [pim.INTERNAL])
    with pytest.raises(CopyRefused, match="holds 5 messages in the destination but 3"):
        copy_events(source.config, other, [pim.PUBLIC])
    with pytest.raises(CopyRefused, match="no topic orders"):
        copy_events(source.config, other, ["orders"])
    with pytest.raises(CopyRefused, match="run without --since"):
        copy_events(
            source.config, fresh_config(second_broker), [pim.INTERNAL], since_ms=int(time.time() * 1000)
        )


def test_scrub_replaces_listed_fields_with_stable_fakes(source: SourceShop, second_broker: Broker) -> None:
    # No event holds personal data yet: --scrub changes nothing, byte for byte.
    assert not PERSONAL_FIELDS
    message = checkout_pb2.InternalMessage(
        cart_item_set=checkout_pb2.CartItemSet(cart_id="c1", product_id="p1", quantity=2)
    ).SerializeToString()
    assert Scrubber(PERSONAL_FIELDS, "cluster")(checkout.INTERNAL, message) is message
    # The hook, tried on a string field there is (cart ids are not personal: a stand-in).
    fields = {"shop.checkout.CartItemSet.cart_id", "shop.checkout.OrderPlaced.cart_id"}
    destination = fresh_config(second_broker)
    summary = copy_events(source.config, destination, [checkout.INTERNAL], scrub=True, personal_fields=fields)
    assert summary.unscrubbed == 1  # the garbage, copied as it is
    scrubbed = tail_json(destination, checkout.INTERNAL, filters=event_log.Filters(cart=source.cart))
    assert scrubbed == [r for r in scrubbed if r["event"] is None]  # the cart id is gone everywhere
    events = [r["event"] for r in tail_json(destination, checkout.INTERNAL) if r["event"]]
    cart_ids = {e["cart_item_set"]["cart_id"] for e in events if "cart_item_set" in e}
    assert all(cart.startswith("scrubbed-") for cart in cart_ids) and len(cart_ids) == 2
    placed = next(e["order_placed"] for e in events if "order_placed" in e)
    assert placed["cart_id"] in cart_ids  # stable: the order still names its cart's fake
    assert placed["next_cart_id"] == source.ordered  # not listed: kept
    again = copy_events(source.config, destination, [checkout.INTERNAL], scrub=True, personal_fields=fields)
    assert sum(again.copied.values()) == 0
