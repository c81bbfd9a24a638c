"""The strict parsers of what a client sends: whole numbers, offsets, ETags, ids, cookies and JSON
bodies. Every route reads its input through these, and each either returns a value or raises a 4xx
Problem naming the input, so no input can reach a 500.

Whole numbers are ASCII digits and nothing else, at most MAX_DIGITS of them: no sign, whitespace,
underscore or other Unicode digit that `int()` would take (`int(" 1_0")` is 10, `int("١٢")` is 12,
`"²".isdigit()` is True but `int("²")` fails). A JSON body is UTF-8, bounded in size and nesting
(the decoder recurses once per level, so 1,000 brackets within 1 KiB exhausted Python's stack),
and holds no NaN, no Infinity and no key twice."""

from __future__ import annotations

import json
import re
from typing import Any

from shop.api.problems import Problem, invalid

MAX_DIGITS = 18  # any whole number the API takes fits in a signed 64-bit integer
MAX_OFFSET = 10**MAX_DIGITS - 1
MAX_JSON_DEPTH = 8  # {"quantity": 2} is 1 deep
# An entity tag as RFC 9110 writes it, weak or strong, with optional whitespace around; the bare
# number (no quotes) is taken too, as before. The shop's tags are its cart versions.
_ETAG = re.compile(rb'[ \t]*(?:W/)?("?)([0-9]{1,%d})\1[ \t]*' % MAX_DIGITS)
_CART_ID = re.compile("[0-9a-f]{32}")
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


def whole_number(text: str, name: str, low: int, high: int, reason: str | None = None) -> int:
    """`text` as a whole number from `low` to `high`; else a 400 naming `name` with `reason`."""
    if not _digits(text) or not low <= (value := int(text)) <= high:
        raise invalid(name, reason or f"must be a whole number from {low} to {high}")
    return value


def _digits(text: str) -> bool:
    """1 to MAX_DIGITS ASCII digits: `isdigit` alone takes "²" and Arabic-Indic digits, `isascii`
    alone anything ASCII. (A regex said the same, a third slower on every page request.)"""
    return len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()


def header_number(raw: bytes, name: str, reason: str, high: int = MAX_OFFSET) -> int:
    """A header's value as a whole number from 0 to `high` (any byte but ASCII digits: 400)."""
    return whole_number(raw.decode("latin-1"), name, 0, high, reason)


def etag(raw: bytes, name: str = "If-Match") -> int:
    """The cart version an `If-Match` names: `"3"`, `W/"3"` or `3`; else a 400."""
    found = _ETAG.fullmatch(raw)
    if found is None:
        raise invalid(name, "must be the cart's ETag, a quoted whole number")
    return int(found.group(2))


def none_match(raw: bytes, etag: bytes) -> bool:
    """Whether an `If-None-Match` list (`"a", W/"b"` or `*`) names `etag`: weak comparison, as
    RFC 9110 asks for it. A malformed list matches nothing, so the full answer is sent."""
    if raw.strip() == b"*":
        return True
    return any(tag.strip().removeprefix(b"W/") == etag for tag in raw.split(b","))


def text_id(text: str, name: str) -> str:
    """An id from the path: text that can be encoded as UTF-8 (a server may hand on a lone
    surrogate from an undecodable path), else a 400. Whether it names anything is the caller's."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(name, "must be UTF-8 text") from None
    return text


def cart_id(value: str | None) -> str | None:
    """The cart a cookie value names: exactly 32 lowercase hex digits; None for anything else."""
    if value is None or _CART_ID.fullmatch(value) is None:
        return None
    return value


def order_id(text: str, name: str = "id") -> str | None:
    """An order id from the path (shaped like a cart id); None when it cannot name an order."""
    return cart_id(text_id(text, name))


def json_body(body: bytes, max_bytes: int, like: str = "", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON document of a body: at most `max_bytes` (else 413), UTF-8, nested at most
    `max_depth` deep, without NaN, Infinity or a repeated key; else a 400 naming `body` that says
    what the body should be `like`."""
    if len(body) > max_bytes:
        raise Problem(413, f"the body is larger than {max_bytes} bytes")
    expected = f"must be JSON like {like}" if like else "must be JSON"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("body", f"{expected}, in UTF-8") from None
    if _too_deep(body, max_depth):
        raise invalid("body", f"{expected}, nested at most {max_depth} deep")
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_object)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise invalid("body", f"{expected} ({exc})") from None


def _too_deep(body: bytes, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep in `body` (brackets in strings aside)."""
    if body.count(b"[") + body.count(b"{") <= limit:  # the usual body: no scan
        return False
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSERS:
            depth -= 1
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a key is given more than once")
    return document
