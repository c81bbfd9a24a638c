"""Snapshots on a real broker: written at shutdown, snapshot + tail equals a full replay, and every
kind of unusable snapshot (missing, old format, damaged, truncated, foreign) means a full replay
with the right state, never a wrong one. Checkout's due snapshots are written in the background
while batches go on; a failed one is logged, and shutdown waits for it before writing the last."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import SupportsInt, cast

import httpx
import pytest

from fixtures.reference import product_changed
from fixtures.server import ShopProcess
from fixtures.shopper import DETAILS
from shop import _core
from shop._proto import checkout_pb2, fulfilment_pb2
from shop.config import Config
from shop.contexts import catalog, checkout, cms, fulfilment, pim_csv, search
from shop.kafka import admin
from shop.kafka.consumer import replay
from shop.kafka.producer import Producer
from shop.kafka.projection import Projection, ProjectionLoop
from shop.kafka.snapshots import Snapshots, snapshot_path
from tests.support.catalog import import_catalog
from tests.support.polling import eventually

CONTEXTS = (catalog.INTERNAL, checkout.INTERNAL, fulfilment.INTERNAL, search.INTERNAL)
MODELS: dict[str, Callable[[], Projection]] = {
    catalog.INTERNAL: _core.Catalog,
    checkout.INTERNAL: _core.Checkout,
    fulfilment.INTERNAL: _core.Fulfilment,
    search.INTERNAL: _core.Search,
}


def load(config: Config, topic: str) -> tuple[Projection, int]:
    """The projection of `topic` as the shop loads it; and the offset its snapshot covered (-1:
    none was used). Stopping the loop writes a fresh snapshot, as the shop does."""
    model = MODELS[topic]()
    producer = Producer(config)
    loop = ProjectionLoop(config, topic, model, producer)
    loop.start()
    try:
        assert loop.loaded.wait(60), loop.failure
        used = loop.snapshots.covered
    finally:
        loop.stop(timeout=60)
        producer.close()
    assert loop.failure is None, loop.failure
    return model, used


def without_snapshots(config: Config) -> Config:
    return dataclasses.replace(config, snapshot_dir="")


@dataclasses.dataclass
class Shoppers:
    """What shoppers did through HTTP: the ids to ask the models about afterwards."""

    carts: list[str] = dataclasses.field(default_factory=list)
    orders: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (order id, cart id)

    def shop(self, shop: ShopProcess, products: list[str], count: int) -> None:
        """`count` shoppers each fill a cart with three products and order it."""
        for n in range(count):
            with httpx.Client(base_url=shop.url, timeout=30) as client:
                cart = None
                for i in range(3):
                    product = products[(n * 3 + i) % len(products)]
                    cart = client.put(f"/api/v1/cart/items/{product}", json={"quantity": 1 + n % 3})
                    assert cart.status_code == 200, cart.text
                assert cart is not None
                cart_id = client.cookies["cart"]
                order = client.post(
                    "/api/v1/cart/order", headers={"if-match": cart.headers["etag"]}, json=DETAILS
                )
                assert order.status_code in (201, 409), order.text
                self.carts += [cart_id, client.cookies["cart"]]
                if order.status_code == 201:
                    self.orders.append((order.json()["id"], cart_id))


def answers(topic: str, model: Projection, products: list[str], shoppers: Shoppers) -> list[object]:
    """Everything the API and the relays ask a projection, as bytes and numbers."""
    if isinstance(model, _core.Catalog):
        pages: list[object] = [model.offset, model.pim_offset, len(model)]
        for sort in ("id", "price", "name"):
            for prefix in ("", "L", "Lorem", "Q", "zz"):
                pages.append(model.page(sort, prefix, 1, 1000))
                pages.append(model.page(sort, prefix, 2, 7, protobuf=True))
        return pages + [model.product(p) for p in products]
    if isinstance(model, _core.Search):
        found: list[object] = [model.offset, model.pim_offset, len(model)]
        for q in ("", "lorem", "Lorem ips", "dolre sit", "q"):
            for sort in _core.SEARCH_SORTS:
                found.append(model.search(q, sort=sort, per_page=_core.MAX_SEARCH_PER_PAGE))
            found.append(model.suggest(q))
        return found
    if isinstance(model, _core.Checkout):
        seen: list[object] = [model.offset, model.pim_offset, model.fulfilment_offset]
        seen += [model.cart(c) for c in shoppers.carts] + [model.cart_version(c) for c in shoppers.carts]
        seen += [(model.order(o, c), model.outcome(o)) for o, c in shoppers.orders]
        seen += [(model.stock(p), model.product_state(p)) for p in products]
        return seen + [model.order_created(offset) for offset in range(model.offset + 1)]
    assert isinstance(model, _core.Fulfilment)
    shipped = [model.shipped(o) for o, _ in shoppers.orders]
    return [model.offset, model.checkout_offset, sorted(model.stock().items()), shipped]


def shipped(shop: ShopProcess, order: str, cart: str) -> bool:
    status = shop.get(f"/api/v1/orders/{order}", cookies={"cart": cart}).json()["status"]
    return status in ("shipped", "backordered")


def end_offset(config: Config, topic: str) -> int:
    return admin.end_offset(config, config.topic(topic)) - 1


def test_snapshots_written_at_shutdown_plus_the_tail_equal_a_full_replay(
    config: Config, tmp_path: Path
) -> None:
    products = import_catalog(config, 60, {i: 4 for i in range(50)})
    shop = ShopProcess(config, tmp_path / "shop.log").start()
    shoppers = Shoppers()
    shoppers.shop(shop, products, 6)
    assert shoppers.orders
    eventually(lambda: all(shipped(shop, order, cart) for order, cart in shoppers.orders))
    shop.stop()  # SIGTERM: every projection writes its snapshot as it stops

    for topic in CONTEXTS:
        path = snapshot_path(config, config.topic(topic))
        assert path is not None and path.exists(), f"no snapshot of {topic} written at shutdown"
        _, covered = load(config, topic)
        assert covered == end_offset(config, topic), f"the snapshot of {topic} covers its whole topic"

    # The tail: a changed catalog, new stock, more shoppers on a shop started from the snapshots,
    # then killed (no snapshot at shutdown), so that the snapshots stay behind their topics.
    shop.start()
    assert shop.log_tail(400).count("loaded the snapshot of") == 4, shop.log_tail()
    changed = io.StringIO()
    pim_csv.fake_products(70, 11, changed)  # the first 60 again, 10 new ...
    rows = changed.getvalue().splitlines()
    del rows[5:8]  # ... and 3 gone
    rows[1] = rows[1].replace("https://", "http://")  # and 1 changed
    pim_csv.import_products(config, io.StringIO("\n".join(rows) + "\n"), progress=False)
    shoppers.shop(shop, products[20:], 6)
    eventually(lambda: shop.get("/api/v1/products?per_page=1").json()["total"] == 67)
    # The relays of a shop started from snapshots announce and ship the new orders.
    eventually(lambda: all(shipped(shop, order, cart) for order, cart in shoppers.orders))
    shop.kill()
    products = [row.split(",")[0] for row in changed.getvalue().splitlines()[1:]]

    for topic in CONTEXTS:
        from_snapshot, covered = load(config, topic)
        assert 0 <= covered < end_offset(config, topic), f"{topic}: a snapshot and a tail"
        full, none = load(without_snapshots(config), topic)
        assert none == -1
        assert answers(topic, from_snapshot, products, shoppers) == answers(topic, full, products, shoppers)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), bit by bit: enough for the small files of these tests."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def older_version(path: Path) -> None:
    """Format version 0 with a right checksum: only the version can refuse it."""
    data = bytearray(path.read_bytes()[:-4])
    data[8:12] = (0).to_bytes(4, "little")
    path.write_bytes(bytes(data) + crc32c(bytes(data)).to_bytes(4, "little"))


def flipped_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def rewritten(config: Config, path: Path, beyond: bool = False, **changes: str) -> None:
    """A valid snapshot of the same events, claiming another identity, or covering one more offset
    than the topic has."""
    model = _core.Catalog()
    replay(config, catalog.INTERNAL, model.apply)
    identity = dataclasses.replace(admin.topic_identity(config, config.topic(catalog.INTERNAL)), **changes)
    if beyond:
        model.apply([product_changed(model.offset + 1, 1000, id="beyond", name="Beyond", price=1)])
    model.write_snapshot(str(path), identity.topic, identity.topic_id, identity.cluster_id)


DAMAGES: dict[str, Callable[[Config, Path], None]] = {
    "missing": lambda config, path: path.unlink(),
    "older format version": lambda config, path: older_version(path),
    "a flipped byte": lambda config, path: flipped_byte(path),
    "truncated": lambda config, path: truncated(path),
    "another topic id": lambda config, path: rewritten(config, path, topic_id="AAAAAAAAAAAAAAAAAAAAAA"),
    "another cluster": lambda config, path: rewritten(config, path, cluster_id="another-cluster"),
    "offsets past the topic's end": lambda config, path: rewritten(config, path, beyond=True),
}


def other_kind(config: Config, path: Path) -> None:
    """A fulfilment snapshot under the catalog's name and identity."""
    other = _core.Fulfilment()
    other.apply([(0, b"")])  # undecodable: applied as nothing, at offset 0
    identity = admin.topic_identity(config, config.topic(catalog.INTERNAL))
    other.write_snapshot(str(path), identity.topic, identity.topic_id, identity.cluster_id)


DAMAGES["another projection's"] = other_kind


@pytest.mark.parametrize("damage", DAMAGES)
def test_an_unusable_snapshot_means_a_full_replay_with_the_right_state(
    config: Config, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    producer = Producer(config)
    admin.ensure_topics(config, (*CONTEXTS, *(f"{t}_dead" for t in CONTEXTS)))
    for _offset, message in (
        product_changed(i, i, id=f"p{i % 40}", name=f"N{i % 7}", price=i) for i in range(120)
    ):
        producer.produce(config.topic(catalog.INTERNAL), message).result(timeout=30)
    producer.close()
    load(config, catalog.INTERNAL)  # writes the snapshot as it stops
    path = snapshot_path(config, config.topic(catalog.INTERNAL))
    assert path is not None and path.exists()
    DAMAGES[damage](config, path)

    with caplog.at_level(logging.WARNING, logger="shop.kafka.snapshots"):
        model, used = load(config, catalog.INTERNAL)
    assert used == -1
    assert any("replaying the whole topic" in r.getMessage() for r in caplog.records), caplog.text
    reference = _core.Catalog()
    replay(config, catalog.INTERNAL, reference.apply)
    ids = [f"p{i}" for i in range(40)]
    assert answers(catalog.INTERNAL, model, ids, Shoppers()) == answers(
        catalog.INTERNAL, reference, ids, Shoppers()
    )
    # The snapshot written as that replay stopped is good again.
    assert load(config, catalog.INTERNAL)[1] == 119


def test_shop_snapshot_brings_every_snapshot_up_to_date(config: Config) -> None:
    admin.ensure_topics(config, (catalog.INTERNAL,))
    producer = Producer(config)
    for _offset, message in (product_changed(i, i, id=f"p{i}", name="N", price=i) for i in range(30)):
        producer.produce(config.topic(catalog.INTERNAL), message).result(timeout=30)
    producer.close()
    command = [sys.executable, "-m", "shop", "snapshot"]
    done = subprocess.run(
        command,
        check=False,
        env={**os.environ, **config.to_env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"{config.topic(catalog.INTERNAL)}: snapshot at offset 29" in lines[0]
    assert lines[1:] == [
        f"{config.topic(checkout.INTERNAL)}: empty, no snapshot",
        f"{config.topic(fulfilment.INTERNAL)}: empty, no snapshot",
        f"{config.topic(cms.INTERNAL)}: empty, no snapshot",
        f"{config.topic(search.INTERNAL)}: empty, no snapshot",
    ]
    assert load(config, catalog.INTERNAL)[1] == 29


def stock_corrections(config: Config, first: int, count: int) -> None:
    """`count` checkout_internal events, each the stock of a product of its own: p<first>, ..."""
    producer = Producer(config)
    try:
        sent = []
        for n in range(first, first + count):
            corrected = fulfilment_pb2.StockCorrected(product_id=f"p{n}", quantity_change=n + 1)
            changed = checkout_pb2.FulfilmentChanged(stock_corrected=corrected, fulfilment_offset=n)
            message = checkout_pb2.InternalMessage(fulfilment_changed=changed).SerializeToString()
            sent.append(producer.produce(config.topic(checkout.INTERNAL), message))
        for future in sent:
            future.result(timeout=30)
    finally:
        producer.close()


@pytest.fixture
def checkout_every_100(config: Config) -> Config:
    """A checkout topic whose projection writes a snapshot every 100 events, and never by time."""
    admin.ensure_topics(config, (checkout.INTERNAL, f"{checkout.INTERNAL}_dead"))
    return dataclasses.replace(config, snapshot_events=100, snapshot_interval=0)


@pytest.fixture
def snapshot_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Captures what shop.kafka.snapshots logs, from whichever thread."""
    with caplog.at_level(logging.INFO, logger="shop.kafka.snapshots"):
        yield caplog


def writes(log: pytest.LogCaptureFixture) -> list[tuple[int, str, str]]:
    """(offset, reason, thread) of each snapshot written."""
    found: list[tuple[int, str, str]] = []
    for record in log.records:
        if record.getMessage().startswith("wrote the snapshot of"):
            assert isinstance(record.args, tuple)
            found.append(
                (int(cast(SupportsInt, record.args[1])), str(record.args[2]), str(record.threadName))
            )
    return found


def stocks(model: Projection, count: int) -> list[tuple[int, int, int]]:
    assert isinstance(model, _core.Checkout)
    return [model.stock(f"p{n}") for n in range(count)]


def start(config: Config, snapshots: type[Snapshots] = Snapshots) -> tuple[ProjectionLoop, Producer]:
    """The checkout projection's loop, running, with snapshots of the class given."""
    producer = Producer(config)
    loop = ProjectionLoop(config, checkout.INTERNAL, _core.Checkout(), producer)
    loop.snapshots = snapshots(config, loop.topic, loop.projection)
    loop.start()
    return loop, producer


def applied(loop: ProjectionLoop, offset: int) -> None:
    eventually(lambda: loop.projection.offset == offset, timeout=60)


def test_a_model_holding_more_items_than_the_event_count_waits_for_as_many_events(
    checkout_every_100: Config,
) -> None:
    """A snapshot costs time in proportion to the model: one that holds 300 stock levels is saved
    after 300 events, not after the configured 100."""
    config = checkout_every_100
    stock_corrections(config, 0, 300)
    loop, producer = start(config)
    try:
        eventually(lambda: loop.snapshots.covered == 299, timeout=60)
        stock_corrections(config, 0, 150)  # bridged again: events, ignored; still 300 items
        applied(loop, 449)
        time.sleep(0.5)  # a due snapshot would be taken after the batch
        assert loop.snapshots.covered == 299 and not loop.snapshots.due()
        stock_corrections(config, 150, 150)
        eventually(lambda: loop.snapshots.covered == 599, timeout=60)
    finally:
        loop.stop(timeout=60)
        producer.close()
    assert loop.failure is None, loop.failure


def test_a_due_snapshot_is_written_in_the_background_and_loads_after_a_restart(
    checkout_every_100: Config, snapshot_log: pytest.LogCaptureFixture
) -> None:
    config = checkout_every_100
    stock_corrections(config, 0, 100)
    loop, producer = start(config)
    try:
        eventually(lambda: loop.snapshots.covered == 99, timeout=60)
    finally:
        loop.stop(timeout=60)  # nothing applied since: no snapshot at shutdown
        producer.close()
    assert loop.failure is None, loop.failure
    assert writes(snapshot_log) == [(99, "due", f"snapshot-{loop.topic}")]

    model, covered = load(config, checkout.INTERNAL)
    assert covered == 99
    assert stocks(model, 100) == [(n + 1, 0, n + 1) for n in range(100)]


def test_a_snapshot_loads_once_the_loads_it_waits_for_are_done(checkout_every_100: Config) -> None:
    """The shop's checkout loads its snapshot after the catalog's (`restore_after`), so that its
    products are the catalog's allocations: until then it loads nothing, and it is not loaded."""
    config = checkout_every_100
    stock_corrections(config, 0, 100)
    load(config, checkout.INTERNAL)  # writes the snapshot at shutdown
    gate = threading.Event()
    producer = Producer(config)
    loop = ProjectionLoop(config, checkout.INTERNAL, _core.Checkout(), producer, restore_after=(gate,))
    loop.start()
    try:
        time.sleep(1)
        assert not loop.restored.is_set() and not loop.loaded.is_set()
        assert loop.projection.offset == -1
        gate.set()
        assert loop.loaded.wait(60), loop.failure
        assert loop.restored.is_set() and loop.snapshots.covered == 99
    finally:
        loop.stop(timeout=60)
        producer.close()
    assert loop.failure is None, loop.failure
    assert stocks(loop.projection, 100) == [(n + 1, 0, n + 1) for n in range(100)]


def test_a_loop_stopped_while_it_waits_is_past_its_snapshot_too(checkout_every_100: Config) -> None:
    """`restored` is set however a loop leaves its snapshot load: nothing waits for it forever."""
    producer = Producer(checkout_every_100)
    never = threading.Event()
    loop = ProjectionLoop(checkout_every_100, checkout.INTERNAL, _core.Checkout(), producer, (never,))
    loop.start()
    try:
        time.sleep(0.5)
        assert not loop.restored.is_set()
    finally:
        loop.stop(timeout=60)
        producer.close()
    assert loop.restored.is_set() and not loop.loaded.is_set() and loop.failure is None


def test_batches_are_applied_while_a_snapshot_is_written_and_a_failed_write_is_logged(
    checkout_every_100: Config, snapshot_log: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """The temporary file of the snapshot is a named pipe: writing it blocks until the test reads
    it, and syncing it then fails (a pipe cannot be synced)."""
    config = checkout_every_100
    path = snapshot_path(config, config.topic(checkout.INTERNAL))
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    pipe = Path(f"{path}.tmp")
    os.mkfifo(pipe)
    stock_corrections(config, 0, 100)
    loop, producer = start(config)
    try:
        eventually(lambda: loop.snapshots.persisting, timeout=60)
        # Batches one by one: the batch after next would wait for a copy still held.
        for n in range(100, 103):
            stock_corrections(config, n, 1)
            applied(loop, n)
        assert loop.snapshots.persisting and loop.snapshots.covered == -1

        with pipe.open("rb") as reader:  # lets the write go on, to its failing fsync
            written = reader.read()
        eventually(lambda: not loop.snapshots.persisting)
        pipe.unlink()
        assert "cannot write the snapshot" in snapshot_log.text
        assert loop.alive and loop.snapshots.covered == -1
        assert not loop.snapshots.due(), "no retry at once after a failure"
    finally:
        if pipe.exists():  # a failed check above: unblock the writer so that the loop can stop
            os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))
            pipe.unlink()
        loop.stop(timeout=60)
        producer.close()

    # What went to the pipe was the snapshot at offset 99, whole.
    (tmp_path / "piped.snapshot").write_bytes(written)
    piped = _core.Checkout()
    identity = admin.topic_identity(config, config.topic(checkout.INTERNAL))
    topic, topic_id, cluster_id = identity.topic, identity.topic_id, identity.cluster_id
    assert piped.load_snapshot(str(tmp_path / "piped.snapshot"), topic, topic_id, cluster_id, 102) == 99
    assert stocks(piped, 101)[-2:] == [(100, 0, 100), (0, 0, 0)]
    # The last one, at shutdown, was written.
    assert loop.failure is None and loop.snapshots.covered == 102
    assert writes(snapshot_log) == [(102, "shutdown", loop.name)]


class HeldSnapshots(Snapshots):
    """Snapshots whose background writes wait until the test releases them: a slow disk."""

    def __init__(self, config: Config, topic: str, projection: Projection) -> None:
        super().__init__(config, topic, projection)
        self.release = threading.Event()

    def _persist(self, saved: _core.SavedSnapshot, reason: str, started: float, serialize_s: float) -> None:
        if reason != "shutdown":
            assert self.release.wait(60)
        super()._persist(saved, reason, started, serialize_s)


def test_shutdown_waits_for_the_background_write_then_writes_the_last_snapshot(
    checkout_every_100: Config, snapshot_log: pytest.LogCaptureFixture
) -> None:
    config = checkout_every_100
    stock_corrections(config, 0, 100)
    loop, producer = start(config, HeldSnapshots)
    snapshots = loop.snapshots
    assert isinstance(snapshots, HeldSnapshots)
    try:
        eventually(lambda: snapshots.persisting, timeout=60)
        stock_corrections(config, 100, 3)
        applied(loop, 102)
        loop.stop_soon()
        time.sleep(1)
        # Still waiting: a last snapshot written now would be overwritten by the older one.
        assert loop.alive and snapshots.covered == -1 and writes(snapshot_log) == []
    finally:
        snapshots.release.set()
        loop.stop(timeout=60)
        producer.close()
    assert loop.failure is None
    assert writes(snapshot_log) == [(99, "due", f"snapshot-{loop.topic}"), (102, "shutdown", loop.name)]
    model, covered = load(config, checkout.INTERNAL)
    assert covered == 102
    assert stocks(model, 103) == [(n + 1, 0, n + 1) for n in range(103)]
