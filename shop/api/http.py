"""Small ASGI helpers: sending a response with precomputed headers, reading query parameters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from shop.api import inputs
from shop.api.problems import Problem, invalid

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"
PROTOBUF = b"application/x-protobuf"
PROBLEM = b"application/problem+json"
# Sent with every response: the API serves data, never something a browser should sniff or frame.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


def response(
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[Message, Message]:
    """The two ASGI messages of an answer. They are never changed once made, so an answer that is
    sent again and again (a cached catalog page) is made once."""
    all_headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
    ]
    if headers:
        all_headers.extend(headers)
    return (
        {"type": "http.response.start", "status": status, "headers": all_headers},
        {"type": "http.response.body", "body": body},
    )


async def send_response(send: Send, messages: tuple[Message, Message]) -> None:
    await send(messages[0])
    await send(messages[1])


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send_response(send, response(status, body, content_type, headers))


async def respond_problem(send: Send, problem: Problem, headers: list[tuple[bytes, bytes]]) -> None:
    await respond(send, problem.status, problem.body(), PROBLEM, problem.headers + headers)


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def scheme(scope: Scope, trusted_proxies: frozenset[str]) -> str:
    """ "https" or "http" as the client sees it: the server's own scheme, or the proxy's
    `X-Forwarded-Proto` when the connection comes from a proxy trusted by configuration (anyone
    else could claim https or http at will)."""
    client = scope.get("client")
    if client and (client[0] in trusted_proxies or "*" in trusted_proxies):
        forwarded = header(scope, b"x-forwarded-proto")
        if forwarded is not None:
            # A chain of proxies lists one per hop; the first is the client's own.
            return forwarded.split(b",")[0].strip().decode("latin-1").lower()
    return str(scope.get("scheme", "http"))


def negotiation(scope: Scope) -> tuple[bool, bytes | None]:
    """Whether the client wants protobuf, and its raw Accept-Encoding, from one pass over the
    headers: what a cached read's answer depends on. The first of each counts, as in `header`."""
    accept = encoding = None
    for key, value in scope["headers"]:
        if key == b"accept" and accept is None:
            accept = value
        elif key == b"accept-encoding" and encoding is None:
            encoding = value
    return accept is not None and PROTOBUF in accept, encoding


def wants_protobuf(scope: Scope) -> bool:
    return negotiation(scope)[0]


def query_params(scope: Scope, allowed: frozenset[str]) -> dict[str, str]:
    """The query parameters, each at most once and all of them known; else a 400 naming the culprit.
    A catalog page's query is read by the same rules in Rust (`_core.page_request`; the two are
    held equal by tests/test_http_query.py)."""
    raw = scope.get("query_string", b"")
    try:
        pairs = query_pairs(raw)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "the query string is not valid percent-encoded UTF-8") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            raise invalid(name, f"unknown parameter; known: {', '.join(sorted(allowed))}")
        if name in params:
            raise invalid(name, "given more than once")
        params[name] = value
    return params


def query_pairs(raw: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a query string as `parse_qsl` reads them (blank values kept).
    A query with nothing escaped, what browsers and the storefront send, is split directly:
    parse_qsl was a tenth of an uncached catalog page's Python time."""
    text = raw.decode("ascii")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    return [part.partition("=")[::2] for part in text.split("&") if part]


def int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    return inputs.whole_number(raw, name, low, high)


def cookie(scope: Scope, name: str) -> str | None:
    raw = header(scope, b"cookie")
    if raw is None:
        return None
    for part in raw.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def min_offset(scope: Scope) -> int | None:
    """The `Shop-Min-Offset` a client asks this instance to have applied before it answers."""
    return _whole_number(scope, "Shop-Min-Offset", "must be a whole number (a Shop-Offset seen before)")


def _whole_number(scope: Scope, name: str, problem: str) -> int | None:
    """Header `name` as a whole number (at most 18 digits), None when absent; 400 `problem` else."""
    raw = header(scope, name.lower().encode())
    return None if raw is None else inputs.header_number(raw, name, problem)


async def read_body(scope: Scope, receive: Receive, limit: int, timeout: float) -> bytes:
    """The request body; 413 once it grows past `limit` bytes, 408 unless it all arrived within
    `timeout` seconds (a client that trickles a body must not hold a request slot forever)."""
    declared = content_length(scope)
    if declared is not None and declared > limit:
        raise Problem(413, f"the body is larger than {limit} bytes")
    deadline = asyncio.get_running_loop().time() + timeout
    chunks = []
    size = 0
    while True:
        try:
            # A deadline on the running task (asyncio.timeout), not wait_for's extra task per await.
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise Problem(408, f"the body did not arrive within {timeout:g}s") from None
        if message["type"] == "http.disconnect":
            raise Problem(400, "the client went away before sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        # Granian hands over a body in one message with more_body set, then an empty last one.
        # Once the declared length is in, that last receive is skipped: awaiting it costs each cart
        # write another round trip from the server's thread to the event loop.
        if not message.get("more_body", False) or size == declared:
            return b"".join(chunks)


def content_length(scope: Scope) -> int | None:
    """The declared body length; None when the client did not declare one (chunked)."""
    return _whole_number(scope, "Content-Length", "must be a whole number of bytes")
