"""Shopper details at checkout: each field rule answers 422 and orders nothing; the order shows the
address; `shop forget` erases the shopper's key so that no replay, answer or snapshot shows them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka import Producer as KafkaProducer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource  # type: ignore[attr-defined]
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fixtures.kafka_broker import Broker
from fixtures.server import ShopProcess
from shop import shoppers
from shop._proto import checkout_pb2, shoppers_pb2
from shop.api.problems import Problem
from shop.config import Config
from shop.contexts import pim_csv, stock_csv
from shop.kafka import admin
from shop.shoppers import write_master_key
from tests.support.config import fresh_config
from tests.support.polling import eventually
from tests.support.replay import checkout_state

ALICE = {
    "email": "alice@example.com",
    "name": "Alice Liddell",
    "street": "Rabbit Hole 1",
    "postcode": "OX1 1AA",
    "city": "Oxford",
    "country": "gb",
}
BOB = {**ALICE, "email": "bob@example.org", "name": "Bob Builder", "street": "Yard 7", "country": "DE"}

# (field, value, what the reason says): every rule of shoppers.details.
BAD_FIELDS = [
    ("email", "not-an-address", "email address"),
    ("email", "a@b", "email address"),
    ("email", "two@@example.com", "email address"),
    ("email", "x" * 250 + "@example.com", "longer than 254"),
    ("email", None, "missing"),
    ("name", "", "missing"),
    ("name", "   ", "missing"),
    ("name", "n" * 101, "longer than 100"),
    ("name", "line\nbreak", "control characters"),
    ("name", 7, "missing"),
    ("street", "s" * 201, "longer than 200"),
    ("postcode", "12345678901234567", "longer than 16"),
    ("postcode", "12;34", "letters, digits"),
    ("city", "c" * 101, "longer than 100"),
    ("country", "XX", "ISO 3166-1"),
    ("country", "DEU", "longer than 2"),
]


@pytest.mark.parametrize(("name", "value", "reason"), BAD_FIELDS)
def test_each_field_rule_names_its_field(name: str, value: object, reason: str) -> None:
    with pytest.raises(Problem) as refused:
        shoppers.details({**ALICE, name: value})
    assert refused.value.status == 422
    assert [p["name"] for p in refused.value.invalid_params] == [name]
    assert reason in refused.value.invalid_params[0]["reason"]


def test_unknown_fields_and_non_objects_are_refused() -> None:
    with pytest.raises(Problem) as refused:
        shoppers.details({**ALICE, "phone": "1"})
    assert [p["name"] for p in refused.value.invalid_params] == ["phone"]
    with pytest.raises(Problem) as refused:
        shoppers.details(["alice"])
    assert refused.value.status == 422


def test_valid_details_are_trimmed_and_the_country_upper_cased() -> None:
    details = shoppers.details({**ALICE, "name": "  Alice Liddell "})
    assert (details.name, details.country) == ("Alice Liddell", "GB")


@pytest.fixture(scope="module")
def shop(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopProcess]:
    config = fresh_config(broker)
    products = io.StringIO()
    pim_csv.fake_products(2, 5, products)
    ids = [row.split(",")[0] for row in products.getvalue().splitlines()[1:]]
    pim_csv.import_products(config, io.StringIO(products.getvalue()), progress=False)
    stock_csv.import_stock(config, io.StringIO(f"product_id,quantity\n{ids[0]},100\n"), progress=False)
    shop = ShopProcess(config, Path(tmp_path_factory.mktemp("shop")) / "shop.log").start()
    shop.product_id = ids[0]  # type: ignore[attr-defined]
    yield shop
    shop.stop()


def new_cart(shop: ShopProcess) -> tuple[httpx.Client, str]:
    """A new shopper with one item in the cart: their client and the cart's ETag."""
    client = httpx.Client(base_url=shop.url, timeout=30)
    product_id = shop.product_id  # type: ignore[attr-defined]
    cart = client.put(f"/api/v1/cart/items/{product_id}", json={"quantity": 1})
    assert cart.status_code == 200, cart.text
    return client, cart.headers["etag"]


def order(shop: ShopProcess, details: Any) -> tuple[httpx.Client, httpx.Response]:
    """A new shopper's cart with one item, ordered with `details` (a JSON body)."""
    client, etag = new_cart(shop)
    return client, client.post("/api/v1/cart/order", headers={"if-match": etag}, json=details)


def test_refused_details_order_nothing_and_keep_the_cart(shop: ShopProcess) -> None:
    for name, value, _reason in BAD_FIELDS[:3] + BAD_FIELDS[-2:]:
        client, response = order(shop, {**ALICE, name: value})
        with closing(client):
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert [p["name"] for p in response.json()["invalid_params"]] == [name]
            cart = client.get("/api/v1/cart")
            assert (cart.headers["etag"], len(cart.json()["items"])) == ('"1"', 1)
            assert "order_id" not in cart.json()


def test_a_body_that_is_not_json_is_refused(shop: ShopProcess) -> None:
    client, etag = new_cart(shop)
    with closing(client):
        response = client.post("/api/v1/cart/order", headers={"if-match": etag}, content=b"{not json")
        assert response.status_code == 400, response.text
        cart = client.get("/api/v1/cart")
        assert (cart.headers["etag"], "order_id" in cart.json()) == (etag, False)


def test_the_order_shows_its_address(shop: ShopProcess) -> None:
    client, response = order(shop, ALICE)
    with closing(client):
        assert response.status_code == 201, response.text
        expected = {**ALICE, "country": "GB"}
        assert response.json()["shopper"] == expected
        assert client.get(response.headers["location"]).json()["shopper"] == expected
        answer = client.get(response.headers["location"], headers={"accept": "application/x-protobuf"})
        assert checkout_pb2.Order.FromString(answer.content).shopper.city == "Oxford"


def keys_topic_records(config: Config) -> list[tuple[bytes, bytes | None]]:
    """(key, value) of every record a raw read of shopper_keys finds now."""
    topic = config.topic(shoppers.KEYS)
    consumer = Consumer(
        {"bootstrap.servers": config.kafka_bootstrap, "group.id": "raw", "enable.auto.commit": False}
    )
    try:
        low, high = admin.watermarks(consumer, topic)
        consumer.assign([TopicPartition(topic, 0, low)])
        records: list[tuple[bytes, bytes | None]] = []
        offset = low - 1
        while offset < high - 1:
            message = consumer.poll(10)
            assert message is not None and message.error() is None
            offset = int(message.offset() or 0)
            records.append((message.key() or b"", message.value()))
        return records
    finally:
        consumer.close()


def compact_quickly(config: Config) -> None:
    """Topic settings under which the broker compacts shopper_keys within seconds (a test's only)."""
    client = admin.admin_client(config)
    topic = ConfigResource(ConfigResource.Type.TOPIC, config.topic(shoppers.KEYS))
    topic.add_incremental_config(
        ConfigEntry("segment.ms", "200", incremental_operation=AlterConfigOpType.SET)
    )
    for name, value in (("min.cleanable.dirty.ratio", "0.01"), ("delete.retention.ms", "200")):
        topic.add_incremental_config(ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET))
    resources = [topic]
    for node in client.list_topics(timeout=10).brokers:  # the cleaner's pause between rounds
        broker = ConfigResource(ConfigResource.Type.BROKER, str(node))
        broker.add_incremental_config(
            ConfigEntry("log.cleaner.backoff.ms", "200", incremental_operation=AlterConfigOpType.SET)
        )
        resources.append(broker)
    for future in client.incremental_alter_configs(resources).values():
        future.result()


def test_forget_erases_the_shopper_everywhere_and_no_one_else(shop: ShopProcess) -> None:
    config = shop.config
    alice_client, alice = order(shop, {**ALICE, "email": "forget.me@example.com"})
    bob_client, bob = order(shop, BOB)
    assert (alice.status_code, bob.status_code) == (201, 201)
    vault = shoppers.Vault(config)
    forgotten_id = vault.shopper_id("Forget.Me@example.com")  # the same shopper, however spelt

    command = [sys.executable, "-m", "shop", "forget", "forget.me@example.com"]
    done = subprocess.run(
        command, env=config_env(config), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 key(s)")

    # The order API: Alice's order without her details, Bob's with his.
    alice_order = alice.headers["location"]
    eventually(lambda: "shopper" not in alice_client.get(alice_order).json(), 10, "the shop forgets")
    assert alice_client.get(alice_order).json()["items"]  # the order itself is still there
    assert bob_client.get(bob.headers["location"]).json()["shopper"]["name"] == "Bob Builder"

    # A full replay with a fresh vault: nothing of Alice opens, Bob does.
    model = checkout_state(config)
    vault.start()
    try:
        assert vault.loaded.wait(30)
        alice_id, bob_id = alice.json()["id"], bob.json()["id"]
        assert vault.open(model.order_shopper(alice_id) or b"") is None
        bob_details = vault.open(model.order_shopper(bob_id) or b"")
        assert bob_details is not None and bob_details.name == "Bob Builder"
    finally:
        vault.stop()

    # A new snapshot holds the order, not her details (they were only ever sealed there).
    snapshot = subprocess.run(
        [sys.executable, "-m", "shop", "snapshot"],
        env=config_env(config),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert snapshot.returncode == 0, snapshot.stderr
    files = list(Path(config.snapshot_dir).rglob("*"))
    written = b"".join(f.read_bytes() for f in files if f.is_file())
    assert alice.json()["id"].encode() in written
    for secret in (b"forget.me@example.com", b"Alice Liddell", b"Rabbit Hole 1"):
        assert secret not in written

    # The key topic, once the broker compacted it: no record of hers, tombstone included.
    compact_quickly(config)
    filler = KafkaProducer({"bootstrap.servers": config.kafka_bootstrap})

    def compacted() -> bool:
        filler.produce(config.topic(shoppers.KEYS), key=b"filler", value=b"", partition=0)  # rolls segments
        filler.flush(10)
        return not any(key.startswith(forgotten_id.encode()) for key, _ in keys_topic_records(config))

    eventually(compacted, 40, "the broker compacts shopper_keys")
    assert any(
        key.startswith(vault.shopper_id(BOB["email"]).encode()) for key, _ in keys_topic_records(config)
    )
    alice_client.close()
    bob_client.close()


def config_env(config: Config) -> dict[str, str]:
    return {**os.environ, **config.to_env()}


def test_details_are_required_each_missing_field_named(shop: ShopProcess) -> None:
    client, etag = new_cart(shop)
    missing_one = [({k: v for k, v in ALICE.items() if k != name}, [name]) for name in shoppers.FIELDS]
    with closing(client):
        for body, named in [(None, list(shoppers.FIELDS)), ({}, list(shoppers.FIELDS)), *missing_one]:
            response = client.post("/api/v1/cart/order", headers={"if-match": etag}, json=body)
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            params = response.json()["invalid_params"]
            assert [p["name"] for p in params] == named
            assert all("missing" in p["reason"] for p in params)
        cart = client.get("/api/v1/cart")
        assert (cart.headers["etag"], "order_id" in cart.json()) == (etag, False)


def test_a_key_replaced_by_a_tombstone_or_anything_unreadable_is_forgotten(tmp_path: Path) -> None:
    """What `shop forget` writes, and what a copy or a stray write may leave: either erases the key."""
    write_master_key(str(tmp_path / "master.key"))
    vault = shoppers.Vault(Config(master_key_file=str(tmp_path / "master.key")))
    shopper_id, key_id, data_key = vault.shopper_id(ALICE["email"]), "k1", AESGCM.generate_key(bit_length=256)
    aad = f"{shopper_id}/{key_id}".encode()
    wrapped = AESGCM(vault.master).encrypt(b"n" * 12, data_key, aad)
    key_record = shoppers_pb2.ShopperKey(
        shopper_id=shopper_id, key_id=key_id, nonce=b"n" * 12, wrapped=wrapped
    )
    details = shoppers.details(ALICE).SerializeToString()
    sealed = shoppers_pb2.Sealed(
        shopper_id=shopper_id,
        key_id=key_id,
        nonce=b"m" * 12,
        ciphertext=AESGCM(data_key).encrypt(b"m" * 12, details, aad),
    ).SerializeToString()
    for replacement in (None, b"", b"\xff garbage"):
        vault._learn(aad, key_record.SerializeToString())
        opened = vault.open(sealed)
        assert opened is not None and opened.city == "Oxford"
        vault._learn(aad, replacement)
        assert vault.open(sealed) is None, replacement
