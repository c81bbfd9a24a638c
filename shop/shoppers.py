"""Shoppers' personal data: the rules of the details checkout collects, and their sealing.

Details (email, name, shipping address) never reach a topic in clear: each shopper has a key of
their own (AES-256-GCM), held in the compacted topic `shopper_keys` wrapped by the master key (a
file named by `SHOP_MASTER_KEY_FILE`). Events carry the details sealed with that key; they are
opened where they are shown (the order API, the emails). `shop forget EMAIL` writes tombstones over
the shopper's keys: from then on no replay, snapshot or answer can open them (docs/notification.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka import Producer as _Producer
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError

from shop._proto import shoppers_pb2
from shop.api.problems import Problem
from shop.config import Config
from shop.kafka import POLL_S, admin
from shop.kafka.consumer import consumer_settings
from shop.kafka.producer import producer_settings
from shop.kafka.worker import Worker

log = logging.getLogger(__name__)

KEYS = "shopper_keys"
EVENTS = {KEYS: shoppers_pb2.ShopperKey}
NONCE_BYTES = 12
KEY_BYTES = 32
# How long a new key may take to be acknowledged by Kafka before the order fails (503).
KEY_WRITE_TIMEOUT_S = 10.0

# ISO 3166-1 alpha-2: the countries an order may ship to.
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG
    EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR
    HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR
    LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG
    NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE
    SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA
    UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()
)
# The longest each field may be, in characters (an email: RFC 5321's path limit).
MAX_LENGTH = {"email": 254, "name": 100, "street": 200, "postcode": 16, "city": 100, "country": 2}
FIELDS = tuple(MAX_LENGTH)
# One @, an ASCII local part (RFC 5322's atom characters and dots), a domain of dotted labels: what
# any mail server can be asked, without SMTPUTF8.
EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
POSTCODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]*")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class NoMasterKey(RuntimeError):
    """The master key file is missing or not 32 bytes in hex: no details can be sealed or opened."""


def details(document: Any) -> shoppers_pb2.ShopperDetails:
    """The shopper's details from an order's JSON body, or a 422 naming every field that is wrong."""
    if not isinstance(document, dict):
        raise Problem(422, "send the shopper's details as a JSON object", [_bad("body", "not an object")])
    problems = [_bad(name, "unknown field") for name in sorted(set(document) - set(FIELDS))]
    values: dict[str, str] = {}
    for name in FIELDS:
        value = document.get(name)
        reason = _refusal(name, value)
        if reason is None and isinstance(value, str):
            values[name] = _clean(name, value)
        else:
            problems.append(_bad(name, reason or "is not a string"))
    if problems:
        names = ", ".join(p["name"] for p in problems)
        raise Problem(422, f"the shopper's details are not usable ({names}); nothing was ordered", problems)
    return shoppers_pb2.ShopperDetails(**values)


def _refusal(name: str, value: object) -> str | None:
    """Why `value` cannot be the field `name`, or None when it can."""
    if not isinstance(value, str) or not value.strip():
        return "is missing: a non-empty string is needed"
    value = value.strip()
    if len(value) > MAX_LENGTH[name]:
        return f"is longer than {MAX_LENGTH[name]} characters"
    if CONTROL.search(value):
        return "contains control characters"
    if name == "email" and not EMAIL.fullmatch(value):
        return "is not an email address (name@example.com)"
    if name == "postcode" and not POSTCODE.fullmatch(value):
        return "may hold letters, digits, spaces and dashes only"
    if name == "country" and value.upper() not in COUNTRIES:
        return "is not an ISO 3166-1 alpha-2 country code (e.g. DE, FR, US)"
    return None


def _clean(name: str, value: str) -> str:
    value = value.strip()
    return value.upper() if name == "country" else value


def _bad(name: str, reason: str) -> dict[str, str]:
    return {"name": name, "reason": reason}


def read_master_key(path: str) -> bytes:
    """The 32-byte master key from `path` (64 hex digits)."""
    try:
        text = Path(path).read_text().strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError) as exc:
        raise NoMasterKey(f"master key file {path!r} is not readable as 64 hex digits: {exc}") from None
    if len(key) != KEY_BYTES:
        raise NoMasterKey(f"master key file {path!r} holds {len(key)} bytes, not {KEY_BYTES}")
    return key


def write_master_key(path: str) -> None:
    """A new random master key at `path`, readable by its owner only; never over an existing one."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(KEY_BYTES) + "\n")


class Vault(Worker):
    """The shoppers' keys, followed from `shopper_keys`: seals details for events, opens them for
    answers and emails. Keys are created on a shopper's first order; several instances may create
    one each for the same shopper at once, so a shopper may have several keys, all kept (the topic
    is keyed by shopper and key id) and all tombstoned by `forget`."""

    def __init__(self, config: Config) -> None:
        super().__init__("shopper-keys")
        self.config = config
        self.topic = config.topic(KEYS)
        self.loaded = threading.Event()
        self._master: bytes | None = None
        self._keys: dict[str, dict[str, bytes]] = {}  # shopper id → key id → key
        self._lock = threading.Lock()
        self._producer: _Producer | None = None

    @property
    def master(self) -> bytes:
        if self._master is None:
            self._master = read_master_key(self.config.master_key_file)
        return self._master

    def shopper_id(self, email: str) -> str:
        """Who the shopper is, without their email: an HMAC of it under the master key."""
        return hmac.new(self.master, email.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]

    # -- following the key topic ----------------------------------------------------------------

    def work(self) -> None:
        consumer = Consumer(consumer_settings(self.config, "shop-shopper-keys"))
        try:
            _low, high = admin.watermarks(consumer, self.topic)
            consumer.assign([TopicPartition(self.topic, 0, 0)])
            if high == 0:
                self.loaded.set()
            while not self._stopping.is_set():
                message = consumer.poll(POLL_S)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("shopper keys: %s", error.str())
                    continue
                self._learn(message.key(), message.value())
                if int(message.offset() or 0) >= high - 1:
                    self.loaded.set()
        finally:
            consumer.close()

    def _learn(self, key: bytes | None, value: bytes | None) -> None:
        """A key written (or, for a tombstone, forgotten)."""
        shopper_id, _, key_id = (key or b"").decode(errors="replace").partition("/")
        with self._lock:
            # What replaces a key (a tombstone, or anything that does not unwrap) erases it.
            self._keys.get(shopper_id, {}).pop(key_id, None)
            if value is None:
                return
            try:
                record = shoppers_pb2.ShopperKey.FromString(value)
                data_key = AESGCM(self.master).decrypt(record.nonce, record.wrapped, _aad(shopper_id, key_id))
            except (DecodeError, InvalidTag, ValueError) as exc:
                log.warning("shopper keys: %s cannot be unwrapped (%s): ignored", key, exc)
                return
            self._keys.setdefault(shopper_id, {})[key_id] = data_key

    def knows(self, shopper_id: str) -> bool:
        with self._lock:
            return bool(self._keys.get(shopper_id))

    # -- sealing and opening --------------------------------------------------------------------

    async def seal(self, shopper: shoppers_pb2.ShopperDetails) -> bytes:
        """`shopper` sealed with their key (made and written to Kafka first if they have none)."""
        shopper_id = self.shopper_id(shopper.email)
        key_id, data_key = self._current_key(shopper_id) or await self._new_key(shopper_id)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, shopper.SerializeToString(), _aad(shopper_id, key_id))
        sealed = shoppers_pb2.Sealed(shopper_id=shopper_id, key_id=key_id, nonce=nonce, ciphertext=ciphertext)
        return sealed.SerializeToString()

    def open(self, sealed: bytes) -> shoppers_pb2.ShopperDetails | None:
        """The details `sealed` holds, or None: none were given, or their key is forgotten."""
        if not sealed:
            return None
        try:
            envelope = shoppers_pb2.Sealed.FromString(sealed)
            with self._lock:
                data_key = self._keys.get(envelope.shopper_id, {}).get(envelope.key_id)
            if data_key is None:
                return None
            aad = _aad(envelope.shopper_id, envelope.key_id)
            plain = AESGCM(data_key).decrypt(envelope.nonce, envelope.ciphertext, aad)
            return shoppers_pb2.ShopperDetails.FromString(plain)
        except (DecodeError, InvalidTag, ValueError) as exc:
            log.warning("sealed shopper details cannot be opened: %s", exc)
            return None

    def _current_key(self, shopper_id: str) -> tuple[str, bytes] | None:
        with self._lock:
            keys = self._keys.get(shopper_id)
            return min(keys.items()) if keys else None

    async def _new_key(self, shopper_id: str) -> tuple[str, bytes]:
        """A new key for `shopper_id`, once Kafka acknowledged it (an order never carries details
        sealed with a key that could be lost)."""
        key_id, data_key = secrets.token_hex(8), AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        wrapped = AESGCM(self.master).encrypt(nonce, data_key, _aad(shopper_id, key_id))
        record = shoppers_pb2.ShopperKey(shopper_id=shopper_id, key_id=key_id, nonce=nonce, wrapped=wrapped)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def delivered(err: KafkaError | None, _message: object) -> None:
            outcome = RuntimeError(f"{self.topic}: {err.str()}") if err is not None else None
            loop.call_soon_threadsafe(_settle, done, outcome)

        producer = self._key_producer()
        producer.produce(
            self.topic,
            key=f"{shopper_id}/{key_id}".encode(),
            value=record.SerializeToString(),
            partition=0,
            on_delivery=delivered,
        )
        producer.poll(0)
        await asyncio.wait_for(done, KEY_WRITE_TIMEOUT_S)
        with self._lock:
            self._keys.setdefault(shopper_id, {})[key_id] = data_key
        return key_id, data_key

    def _key_producer(self) -> _Producer:
        if self._producer is None:
            settings = producer_settings(self.config, {"message.timeout.ms": int(KEY_WRITE_TIMEOUT_S * 1000)})
            self._producer = _Producer(settings)
            threading.Thread(
                target=self._serve_deliveries, name="shopper-key-deliveries", daemon=True
            ).start()
        return self._producer

    def _serve_deliveries(self) -> None:
        """Delivery reports of new keys, until the vault stops."""
        producer = self._producer
        while producer is not None and not self._stopping.is_set():
            producer.poll(POLL_S)


def _settle(done: asyncio.Future[None], outcome: Exception | None) -> None:
    if done.done():
        return
    if outcome is None:
        done.set_result(None)
    else:
        done.set_exception(outcome)


def _aad(shopper_id: str, key_id: str) -> bytes:
    """What a ciphertext is bound to: moved under another shopper or key, it does not open."""
    return f"{shopper_id}/{key_id}".encode()


def forget(config: Config, email: str) -> int:
    """Writes a tombstone over every key of the shopper with `email`; returns how many. Once the
    broker compacted `shopper_keys`, the keys are gone from Kafka too."""
    vault = Vault(config)
    shopper_id = vault.shopper_id(email)
    topic = config.topic(KEYS)
    live: set[bytes] = set()
    consumer = Consumer(consumer_settings(config, "shop-forget"))
    try:
        _low, high = admin.watermarks(consumer, topic)
        if high > 0:
            consumer.assign([TopicPartition(topic, 0, 0)])
            offset = -1
            while offset < high - 1:
                message = consumer.poll(admin.TIMEOUT_S)
                if message is None:
                    raise TimeoutError(f"no answer reading {topic} at offset {offset + 1}")
                if message.error() is not None:
                    continue
                offset = int(message.offset() or 0)
                key = message.key() or b""
                if key.startswith(f"{shopper_id}/".encode()):
                    (live.add if message.value() is not None else live.discard)(key)
    finally:
        consumer.close()
    producer = _Producer(producer_settings(config, {}))
    for key in sorted(live):
        producer.produce(topic, key=key, value=None, partition=0)
    if producer.flush(admin.TIMEOUT_S):
        raise TimeoutError(f"{topic}: the tombstones were not acknowledged")
    return len(live)
