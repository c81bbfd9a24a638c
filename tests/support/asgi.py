"""The real ASGI app over a real shop (on the test broker), called in process: requests that no
HTTP client would send (any bytes in a query string, a header or a path) reach the app as such."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fixtures.kafka_broker import Broker
from shop.api.app import App
from shop.api.http import Message, Scope
from shop.service import Shop
from tests.support.catalog import import_catalog
from tests.support.config import fresh_config

Answer = tuple[int, dict[bytes, bytes], bytes]


@contextmanager
def running_app(broker: Broker, **settings: Any) -> Iterator[App]:
    """A started shop with three products in stock behind its app; `settings` override the
    configuration. A short read-your-writes wait, so a generated offset far ahead costs 1 s."""
    config = dataclasses.replace(fresh_config(broker), snapshot_dir="", ready_timeout=1, **settings)
    import_catalog(config, 3, {0: 50, 1: 50, 2: 50})
    shop = Shop(config)
    shop.start()
    try:
        deadline = time.monotonic() + 60
        while not shop.readiness().ok:
            assert time.monotonic() < deadline, shop.readiness().checks
            time.sleep(0.1)
        yield App(config, shop)
    finally:
        shop.stop()


def request(
    app: App,
    method: str,
    path: str,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: list[bytes] | None = None,
    scheme: str = "http",
    client: str = "127.0.0.1",
) -> Answer:
    """One request through the app; the body arrives in the chunks given."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode("utf-8", "surrogatepass"),
        "query_string": query,
        "headers": headers or [],
        "scheme": scheme,
        "client": (client, 50000),
        "http_version": "1.1",
    }
    return asyncio.run(_call(app, scope, body or []))


async def _call(app: App, scope: Scope, body: list[bytes]) -> Answer:
    chunks: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < len(body) - 1} for i, c in enumerate(body)
    ]
    chunks = chunks or [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, *bodies = sent
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in bodies)
