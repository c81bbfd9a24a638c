"""Reading the shop's topics as an operator does: each message decoded with its topic's event type
(shop.service.EVENT_TYPES), with its offset, time and headers; a message that does not decode is
shown as poison, never a crash. `shop events tail` prints them."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as Event

from shop.config import Config
from shop.kafka import POLL_S, admin
from shop.kafka.consumer import consumer_settings
from shop.service import all_topics, event_type

# W3C trace context: `traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
TRACEPARENT = "traceparent"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
# The fields that name a product or a cart, for the --product and --cart filters: full names of
# fields of one event type, or names that mean the same in every event type.
PRODUCT_FIELDS = frozenset({"product_id", "shop.pim.Product.id"})
CART_FIELDS = frozenset({"cart_id", "next_cart_id"})
# Relative times for --since: "90s", "15m", "2h", "3d" ago.
_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class UnknownTopic(ValueError):
    """A topic the shop does not have, or that is missing from the cluster."""


class Poison(ValueError):
    """A message that is no event of its topic's type."""


def decode(event_class: type[Event], value: bytes) -> Event:
    """The event in `value`; Poison when it does not parse or names no event (the shop's decoders
    refuse both). Unknown fields are kept, as the shop's decoders ignore them: newer writers."""
    event = event_class()
    try:
        event.ParseFromString(value)
    except DecodeError as exc:
        raise Poison(str(exc)) from None  # names the type and what is wrong
    for oneof in event.DESCRIPTOR.oneofs:
        if event.WhichOneof(oneof.name) is None:
            raise Poison(f"a {event_class.DESCRIPTOR.full_name} without {oneof.name}")
    return event


def event_fields(event: Event) -> dict[str, Any]:
    """The event as JSON-ready values: every field of the set variant, zeros included (a quantity
    of 0 means something), int64 as numbers and bytes as hex."""
    out: dict[str, Any] = {}
    for field in event.DESCRIPTOR.fields:
        oneof = field.containing_oneof
        if oneof is not None and event.WhichOneof(oneof.name) != field.name:
            continue
        value = getattr(event, field.name)
        if field.message_type is not None and not field.is_repeated and not event.HasField(field.name):
            continue
        out[field.name] = [_plain(item) for item in value] if field.is_repeated else _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Event):
        return event_fields(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def string_fields(event: Event) -> Iterator[tuple[FieldDescriptor, str]]:
    """Every string value in the event, nested ones too, with its field."""
    for field, value in event.ListFields():
        items = value if field.is_repeated else [value]
        for item in items:
            if field.message_type is not None:
                yield from string_fields(item)
            elif isinstance(item, str):
                yield field, item


def names_one_of(event: Event, fields: frozenset[str], wanted: str) -> bool:
    return any(
        value == wanted and (field.name in fields or field.full_name in fields)
        for field, value in string_fields(event)
    )


def source_offsets(fields: dict[str, Any]) -> dict[str, int]:
    """The source offsets a relayed event carries (`internal_offset`, `pim_offset`, ...)."""
    found: dict[str, int] = {}
    for name, value in fields.items():
        if isinstance(value, dict):
            found.update(source_offsets(value))
        elif name.endswith("_offset") and isinstance(value, int):
            found[name] = value
    return found


def trace_id(traceparent: str) -> str | None:
    match = _TRACEPARENT.match(traceparent.strip())
    return match.group(1) if match and match.group(1) != "0" * 32 else None


@dataclass
class Record:
    """One message of a topic, decoded as far as it goes."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes
    event: Event | None
    poison: str | None

    def header_texts(self) -> dict[str, str]:
        return {name: _text(value) for name, value in self.headers}

    def trace_id(self) -> str | None:
        traceparent = self.header_texts().get(TRACEPARENT)
        return trace_id(traceparent) if traceparent else None

    def as_json(self) -> dict[str, Any]:
        fields = event_fields(self.event) if self.event is not None else None
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp_ms": self.timestamp_ms,
            "time": _iso(self.timestamp_ms),
            "key": _text(self.key) if self.key is not None else None,
            "headers": self.header_texts(),
            "trace_id": self.trace_id(),
            "source_offsets": source_offsets(fields) if fields else {},
            "event": fields,
            "poison": None if self.poison is None else {"error": self.poison, "value_hex": self.value.hex()},
        }

    def line(self) -> str:
        """`partition:offset time [key=…] [trace=…] [header=…] [source …] {event}`, or POISON."""
        parts = [f"{self.partition}:{self.offset}", _iso(self.timestamp_ms)]
        if self.key is not None:
            parts.append(f"key={_text(self.key)}")
        trace = self.trace_id()
        if trace:
            parts.append(f"trace={trace}")
        parts += [f"{name}={text}" for name, text in self.header_texts().items() if name != TRACEPARENT]
        if self.event is None:
            return " ".join([*parts, f"POISON ({self.poison}): {self.value[:64]!r}"])
        fields = event_fields(self.event)
        offsets = source_offsets(fields)
        if offsets:
            parts.append("source " + ",".join(f"{name}={n}" for name, n in offsets.items()))
        return " ".join([*parts, json.dumps(fields, ensure_ascii=False)])  # {"<variant>": {…}, …}


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return value.decode()
    except UnicodeDecodeError:
        return "0x" + value.hex()


def _iso(timestamp_ms: int) -> str:
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_headers(message: Message) -> list[tuple[str, bytes]]:
    """A consumed message's headers in order: a list of (name, value), a missing value as b""."""
    found = message.headers() or []
    pairs = found.items() if isinstance(found, dict) else found
    return [
        (name, value.encode() if isinstance(value, str) else bytes(value or b"")) for name, value in pairs
    ]


def record(topic: str, message: Message) -> Record:
    """`message` of the shop's `topic` (its name without prefix), decoded."""
    event_class = event_type(topic)
    assert event_class is not None, topic
    value = bytes(message.value() or b"")
    headers = message_headers(message)
    try:
        event, poison = decode(event_class, value), None
    except Poison as exc:
        event, poison = None, str(exc)
    _kind, timestamp = message.timestamp()
    key = message.key()
    return Record(
        topic,
        int(message.partition() or 0),
        int(message.offset() or 0),
        int(timestamp),
        None if key is None else bytes(key),
        headers,
        value,
        event,
        poison,
    )


@dataclass(frozen=True)
class Filters:
    key: str | None = None
    product: str | None = None
    cart: str | None = None

    def admit(self, found: Record) -> bool:
        """Poison passes every filter but --key: it names nothing that could be checked."""
        if self.key is not None and (found.key is None or _text(found.key) != self.key):
            return False
        if found.event is None:
            return True
        if self.product is not None and not names_one_of(found.event, PRODUCT_FIELDS, self.product):
            return False
        return self.cart is None or names_one_of(found.event, CART_FIELDS, self.cart)


def parse_time(text: str, now: datetime | None = None) -> int:
    """Milliseconds since the epoch of an ISO 8601 time (UTC unless it says otherwise) or of a
    time ago (`90s`, `15m`, `2h`, `3d`)."""
    ago = _AGO.match(text.strip())
    if ago:
        moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{text!r} is neither an ISO 8601 time nor a time ago like 15m, 2h, 3d"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def check_topic(config: Config, topic: str) -> str:
    """The full name of the shop's `topic`; UnknownTopic when the shop has none by that name or
    the cluster does not hold it."""
    if event_type(topic) is None:
        raise UnknownTopic(f"the shop has no topic {topic!r}; its topics are {', '.join(all_topics())}")
    full = config.topic(topic)
    if full not in admin.admin_client(config).list_topics(timeout=admin.TIMEOUT_S).topics:
        raise UnknownTopic(f"topic {full} does not exist on {config.kafka_bootstrap}")
    return full


def start_offset(
    consumer: Consumer, topic: str, low: int, high: int, since_ms: int | None, first: int | None
) -> int:
    """Where reading starts: the first message at or after `since_ms`, or offset `first` (negative:
    that many before the end), or the beginning; clamped into the topic."""
    if since_ms is not None:
        found = consumer.offsets_for_times([TopicPartition(topic, 0, since_ms)], timeout=admin.TIMEOUT_S)[0]
        return high if found.offset < 0 else int(found.offset)
    if first is None:
        return low
    return max(low, min(high, high + first if first < 0 else first))


def read(
    config: Config,
    topic: str,
    since_ms: int | None = None,
    first: int | None = None,
    follow: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[Record]:
    """The messages of the shop's `topic` from the start chosen (see start_offset) to its end as
    found now, or on and on with `follow` until `stop` is set."""
    full = check_topic(config, topic)
    stop = stop or threading.Event()
    consumer = Consumer(consumer_settings(config, "shop-events"))
    try:
        low, high = admin.watermarks(consumer, full)
        position = start_offset(consumer, full, low, high, since_ms, first)
        consumer.assign([TopicPartition(full, 0, position)])
        while (follow or position < high) and not stop.is_set():
            for message in consumer.consume(500, timeout=POLL_S):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(error)
                position = int(message.offset() or 0) + 1
                if follow or position <= high:
                    yield record(topic, message)
    finally:
        consumer.close()


def tail(
    config: Config,
    topic: str,
    out: TextIO,
    filters: Filters = Filters(),
    as_json: bool = False,
    **reading: Any,
) -> int:
    """Prints the messages `read` finds that pass `filters`, one per line; returns how many."""
    shown = 0
    for found in read(config, topic, **reading):
        if not filters.admit(found):
            continue
        out.write((json.dumps(found.as_json(), ensure_ascii=False) if as_json else found.line()) + "\n")
        out.flush()
        shown += 1
    return shown
