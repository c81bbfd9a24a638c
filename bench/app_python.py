"""The ASGI app's own Python per request, in process: `App.__call__` driven with a send that does
nothing, the catalog replaced by a stand-in that answers constant bytes at once (what the Rust
costs is `bench.page_costs`' figure), against the floor app (`bench.floor_app`) driven the same way.

    python -m bench.app_python [ROUNDS]

Over HTTP a request also costs Granian, the kernel and the event loop, the floor's as much as the
shop's: what this measures is what the shop adds to them in Python. Kinds: the same catalog page
again and again (the read benchmark's, from the page cache), listing pages never asked twice (the
uncached workload's queries) and product pages, each as wrk asks them (one header). Prints the
fastest of ROUNDS rounds for each, in µs a request, as one JSON line.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import browse, floor_app
from bench.http_load import PAGE
from shop.api.app import App
from shop.api.http import Message, Scope

REQUESTS = 20_000
ROUNDS = 7
LISTING_BYTES = 7_359  # the uncached workload's mean answer at 10^6 products
PRODUCT_BYTES = 1_500


class Mark:
    """A page's mark, as the stand-in's pages hold it: only its offset is read by the app."""

    offset = 1


class StandInCatalog:
    """The catalog's calls that the read paths make, answered at once with constant bytes."""

    offset = Mark.offset

    def page(self, sort: str, prefix: str, page: int, per_page: int, protobuf: bool = False) -> bytes:
        return LISTING_BODY

    def page_unless_shown(self, *request: Any) -> tuple[Mark, bytes]:
        return Mark(), LISTING_BODY

    def product(self, id: str, protobuf: bool = False, popularity: Any = None) -> bytes:
        return PRODUCT_BODY


class StandInWeb:
    def popularity(self, product_id: str) -> tuple[int, int]:
        return 0, 0


class StandInShop:
    web = StandInWeb()


LISTING_BODY = b"x" * LISTING_BYTES
PRODUCT_BODY = b"x" * PRODUCT_BYTES


def scope_of(path: str) -> Scope:
    """The scope Granian gives a GET of `path` from wrk (its one header)."""
    path, _, query = path.partition("?")
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1:8000")],
        "http_version": "1.1",
        "scheme": "http",
    }


def request_kinds(rng: random.Random) -> dict[str, list[Scope]]:
    listing = browse.uncached_paths(1_000_000, rng)[:REQUESTS]
    ids = [str(rng.getrandbits(128)) for _ in range(REQUESTS)]
    return {
        "cached page": [scope_of(PAGE)] * REQUESTS,
        "listing page": [scope_of(path) for path in listing],
        "product page": [scope_of(f"/api/v1/products/{id_}") for id_ in ids],
    }


async def no_send(message: Message) -> None:
    pass


async def no_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def us_per_request(app: Callable[..., Awaitable[None]], scopes: list[Scope]) -> float:
    async def drive() -> float:
        started = time.perf_counter_ns()
        for scope in scopes:
            await app(scope, no_receive, no_send)
        return (time.perf_counter_ns() - started) / len(scopes) / 1000

    return asyncio.run(drive())


def main(rounds: int) -> None:
    app = App()
    app.shop = StandInShop()  # type: ignore[assignment]
    app._catalog_model = StandInCatalog()  # type: ignore[assignment]
    kinds = request_kinds(random.Random(browse.SEED))
    gc.freeze()  # as the shop settles its garbage collector once loaded
    found: dict[str, list[float]] = {}
    for _ in range(rounds):
        found.setdefault("floor", []).append(us_per_request(floor_app.app, kinds["listing page"]))
        for kind, scopes in kinds.items():
            found.setdefault(kind, []).append(us_per_request(app, scopes))
    print(json.dumps({key: round(min(values), 3) for key, values in found.items()}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS)
