"""The ASGI app. Hot routes are plain functions over precomputed headers; bodies come from Rust."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shop import _core, metrics
from shop._core import PageMark
from shop.api import http
from shop.api.cart import Answer, CartRoutes
from shop.api.cart_events import CartEvents
from shop.api.http import Receive, Scope, Send
from shop.api.openapi import spec
from shop.api.problems import Problem, invalid, not_ready
from shop.api.static import Storefront
from shop.config import Config
from shop.service import Shop

log = logging.getLogger(__name__)

PRODUCTS = "/api/v1/products"
PRODUCT_PREFIX = PRODUCTS + "/"
CART = "/api/v1/cart"
CART_ITEMS = CART + "/items/"
ORDERS = "/api/v1/orders/"
CATALOG_PARAMS = frozenset({"sort", "prefix", "page", "per_page"})
PAGE_CACHE_SIZE = 4096
GC_THRESHOLD = 50_000  # container allocations between young-generation collections (default 700)
UPGRADE = (b"upgrade", b"websocket")


class App:
    """The shop's HTTP face. The Shop behind it starts with the ASGI lifespan, or is handed in."""

    def __init__(self, config: Config | None = None, shop: Shop | None = None) -> None:
        self.config = config or Config.from_env()
        self.shop = shop
        self.cors_origins = {o.strip().encode() for o in self.config.cors_origins.split(",") if o.strip()}
        self._catalog_ready = False
        self._checkout_ready = False
        self._carts: CartRoutes | None = None
        # Answers with encoded pages by (query string, protobuf).
        self._pages: dict[tuple[bytes, bool], CachedPage] = {}
        self._openapi = json.dumps(spec()).encode()
        self.storefront = Storefront()
        self.cart_events = CartEvents(self.config, lambda: None if self.shop is None else self.shop.checkout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.cart_events(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self.shop is None:
                        self.shop = await asyncio.to_thread(Shop, self.config)
                        await asyncio.to_thread(self.shop.start)
                        metrics.register(self.shop)
                    settle_garbage_collector()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.cart_events.shutdown()
                if self.shop is not None:
                    await asyncio.to_thread(self.shop.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        if scope["path"] == PRODUCTS:
            # The hottest route: a page answered before is sent as it was (same catalog offset).
            cached = self._cached_page(scope)
            if cached is not None:
                await http.send_response(send, cached)
                self._record("products", 200, started)
                return
        status = 500

        async def send_recording(message: http.Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._answer(scope, receive, send_recording)
        finally:
            self._record(route_name(scope["path"]), status, started)

    @staticmethod
    def _record(route: str, status: int, started: float) -> None:
        metrics.HTTP.record(route, status, time.perf_counter() - started)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        cors = self._cors_headers(scope)
        try:
            if scope["method"] == "OPTIONS" and cors:
                await http.respond(send, 204, b"", headers=cors + self._preflight_headers())
                return
            await self._route(scope, receive, send, cors)
        except Problem as problem:
            await http.respond_problem(send, problem, cors)
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            await http.respond_problem(send, Problem(500, "the shop failed to answer; see its log"), cors)

    async def _route(self, scope: Scope, receive: Receive, send: Send, cors: http.Headers) -> None:
        path: str = scope["path"]
        if path.startswith(CART) or path.startswith(ORDERS):
            answer = await self._cart_route(scope, receive, path)
            await http.respond(send, answer.status, answer.body, answer.content_type, answer.headers + cors)
        elif path == PRODUCTS:
            _require(scope, "GET")
            await http.send_response(send, self._catalog_page(scope, cors))
        elif path.startswith(PRODUCT_PREFIX):
            _require(scope, "GET")
            body, content_type = self._product(scope, path[len(PRODUCT_PREFIX) :])
            await http.respond(send, 200, body, content_type, cors)
        elif path == "/healthz":
            await self._status(send, self._shop().health())
        elif path == "/readyz":
            await self._status(send, self._shop().readiness())
        elif path == "/metrics":
            _require(scope, "GET")
            await http.respond(send, 200, generate_latest(), CONTENT_TYPE_LATEST.encode())
        elif path == "/openapi.json":
            _require(scope, "GET")
            await http.respond(send, 200, self._openapi, headers=cors)
        elif self.storefront.serves(path):
            await self.storefront.respond(scope, send)
        else:
            raise Problem(404, f"no resource at {path}")

    async def _cart_route(self, scope: Scope, receive: Receive, path: str) -> Answer:
        routes = self._cart_routes()
        method = scope["method"]
        if path == CART:
            _require(scope, "GET")
            return await routes.get_cart(scope)
        if path == CART + "/order":
            _require(scope, "POST")
            return await routes.place_order(scope)
        if path.startswith(CART_ITEMS) and len(path) > len(CART_ITEMS):
            _require(scope, "PUT", "DELETE")
            product_id = path[len(CART_ITEMS) :]
            return await routes.set_item(scope, receive, product_id, 0 if method == "DELETE" else None)
        if path.startswith(ORDERS) and len(path) > len(ORDERS):
            _require(scope, "GET")
            return await routes.get_order(scope, path[len(ORDERS) :])
        if path == CART + "/events":  # reached over plain HTTP: the client did not ask to upgrade
            raise Problem(426, "this is a WebSocket: connect with Upgrade: websocket", headers=[UPGRADE])
        raise Problem(404, f"no resource at {path}")

    def _cart_routes(self) -> CartRoutes:
        if self._carts is None:
            shop = self._shop()
            self._carts = CartRoutes(self.config, shop.checkout, shop.breaker)
        if not self._checkout_ready:
            self._carts.ready()
            self._checkout_ready = True
        return self._carts

    def _shop(self) -> Shop:
        if self.shop is None:
            raise not_ready("the shop")
        return self.shop

    def _catalog(self) -> Any:
        shop = self._shop()
        if not self._catalog_ready:
            if not shop.catalog.ready():
                raise not_ready("the catalog")
            self._catalog_ready = True
        return shop.catalog.model

    def _cached_page(self, scope: Scope) -> tuple[http.Message, http.Message] | None:
        """The answer to a GET of this page if it was cached and needs no CORS headers; else None,
        and the request takes the full path. Once the catalog has moved on, the answer is checked
        against what the page shows now, and encoded again only if that changed."""
        if not self._catalog_ready or scope["method"] != "GET" or self._cors_headers(scope):
            return None
        cached = self._pages.get((scope.get("query_string", b""), http.wants_protobuf(scope)))
        if cached is None or self.shop is None:
            return None
        model = self.shop.catalog.model
        if cached.mark.offset != model.offset:
            cached.mark, body = model.page_unless_shown(*cached.request, cached.protobuf, cached.mark)
            if body is not None:
                cached.answer = _page_answer(body, cached.protobuf, [])
        return cached.answer

    def _catalog_page(self, scope: Scope, cors: http.Headers) -> tuple[http.Message, http.Message]:
        model = self._catalog()
        protobuf = http.wants_protobuf(scope)
        request = _page_request(scope)
        mark, body = model.page_unless_shown(*request, protobuf)
        answer = _page_answer(body, protobuf, cors)
        if not cors:  # answers with CORS headers name the origin: not shared between origins
            if len(self._pages) >= PAGE_CACHE_SIZE:
                self._pages.clear()
            self._pages[(scope.get("query_string", b""), protobuf)] = CachedPage(
                request, protobuf, mark, answer
            )
        return answer

    def _product(self, scope: Scope, product_id: str) -> tuple[bytes, bytes]:
        protobuf = http.wants_protobuf(scope)
        body = self._catalog().product(product_id, protobuf)
        if body is None:
            raise Problem(404, f"no product with id {product_id!r}")
        return body, (http.PROTOBUF if protobuf else http.JSON)

    async def _status(self, send: Send, status: Any) -> None:
        answer = {"status": "ok" if status.ok else "failing", "checks": status.checks, **status.reports}
        body = json.dumps(answer).encode()
        await http.respond(send, 200 if status.ok else 503, body)

    def _cors_headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        if not self.cors_origins:
            return []
        origin = http.header(scope, b"origin")
        if origin is None or origin not in self.cors_origins:
            return []
        return [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"origin"),
        ]

    @staticmethod
    def _preflight_headers() -> list[tuple[bytes, bytes]]:
        return [
            (b"access-control-allow-methods", b"GET, PUT, POST, DELETE"),
            (b"access-control-allow-headers", b"content-type, if-match, shop-min-offset, accept"),
            (b"access-control-max-age", b"600"),
        ]


def settle_garbage_collector() -> None:
    """Once started: what exists now lives as long as the process, so the cyclic collector stops
    scanning it (freeze), and it runs less often. Every consumed batch, relayed message and request
    allocates containers that die young; with the default threshold of 700 the collector ran so
    often that py-spy found it in a fifth of the server's samples under writes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


def route_name(path: str) -> str:
    """The route a path belongs to, as a metrics label (never the raw path: ids would explode it)."""
    if path == PRODUCTS:
        return "products"
    if path.startswith(PRODUCT_PREFIX):
        return "product"
    if path == CART:
        return "cart"
    if path == CART + "/order":
        return "cart_order"
    if path.startswith(CART_ITEMS):
        return "cart_item"
    if path.startswith(ORDERS):
        return "order"
    if path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        return path[1:]
    if Storefront.serves(path):
        return "storefront"
    return "other"


def _require(scope: Scope, *methods: str) -> None:
    if scope["method"] not in methods:
        allow = ", ".join(methods).encode()
        raise Problem(405, f"{scope['method']} is not allowed here", headers=[(b"allow", allow)])


@dataclass(slots=True)
class CachedPage:
    """A page's answer, the request it answers and a mark of the products it shows."""

    request: tuple[str, str, int, int]
    protobuf: bool
    mark: PageMark
    answer: tuple[http.Message, http.Message]


def _page_answer(body: bytes, protobuf: bool, cors: http.Headers) -> tuple[http.Message, http.Message]:
    return http.response(200, body, http.PROTOBUF if protobuf else http.JSON, cors)


def _page_request(scope: Scope) -> tuple[str, str, int, int]:
    params = http.query_params(scope, CATALOG_PARAMS)
    sort = params.get("sort", "id")
    if sort not in _core.SORTS:
        raise invalid("sort", f"must be one of {', '.join(_core.SORTS)}")
    prefix = params.get("prefix", "")
    if len(prefix) > _core.MAX_PREFIX:
        raise invalid("prefix", f"must be at most {_core.MAX_PREFIX} characters")
    page = http.int_param(params, "page", 1, 1, _core.MAX_PAGE)
    per_page = http.int_param(params, "per_page", 100, 1, _core.MAX_PER_PAGE)
    return sort, prefix, page, per_page


app = App()
