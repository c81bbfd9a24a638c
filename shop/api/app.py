"""The ASGI app. Hot routes are plain functions over precomputed headers; bodies come from Rust."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shop import _core, libc, metrics, tracing
from shop._core import PageMark
from shop.api import compression, http, images, inputs, search
from shop.api.cart import Answer, CartRoutes, offset_wait_slots, wait_min_offset
from shop.api.cart_events import CartEvents
from shop.api.http import Headers, Receive, Scope, Send
from shop.api.openapi import spec
from shop.api.problems import Problem, invalid, not_ready
from shop.api.static import Storefront
from shop.api.web_events import WebEventRoutes
from shop.config import Config
from shop.service import Shop

log = logging.getLogger(__name__)

PRODUCTS = "/api/v1/products"
PRODUCT_PREFIX = PRODUCTS + "/"
CART = "/api/v1/cart"
CART_ITEMS = CART + "/items/"
ORDERS = "/api/v1/orders/"
CONTENT = "/api/v1/content"
CONTENT_PREFIX = CONTENT + "/"
CONTENT_PARAMS = frozenset({"kind"})
# Request headers that change a content entry's answer: it is not taken from the cache with them.
CONDITIONAL_HEADERS = frozenset({b"if-none-match", b"shop-min-offset"})
STOCK = "/api/v1/stock"
SEARCH = "/api/v1/search"
PAGE_CACHE_SIZE = 4096
# The cache's key is the raw query (no parsing on a hit), so pages past the end, clamped to the
# last page, are each another copy of it: the bytes are bounded too, not only the count. Hot
# pages are few (each sort's first pages, popular prefixes): 8 MiB holds about a thousand of
# browse's mean answer. At 64 MiB, pages asked for twice by chance took 53 MiB of the process
# in 30 s of browse at 100,000 products (bench/results/process-memory-2026-12-04.md).
PAGE_CACHE_BYTES = 8 * 1024 * 1024
GC_THRESHOLD = 50_000  # container allocations between young-generation collections (default 700)
UPGRADE = (b"upgrade", b"websocket")
# A catalog answer's own headers without CORS (`_catalog_answer`; http.response copies them).
VARIES = [compression.VARY]


class App:
    """The shop's HTTP face. The Shop behind it starts with the ASGI lifespan, or is handed in."""

    def __init__(self, config: Config | None = None, shop: Shop | None = None) -> None:
        self.config = config or Config.from_env()
        self.shop = shop
        self.cors_origins = {o.strip().encode() for o in self.config.cors_origins.split(",") if o.strip()}
        self._catalog_model: _core.Catalog | None = None  # once the catalog is ready
        self._checkout_ready = False
        self._carts: CartRoutes | None = None
        self._content_model: _core.Content | None = None  # once the content is ready
        self._search_ready = False
        # Reads waiting for a Shop-Min-Offset, of any route: one limit for them all.
        self.offset_waits = offset_wait_slots(self.config)
        # Answers with encoded pages by (query string, protobuf).
        self._pages = PageCache(PAGE_CACHE_SIZE, PAGE_CACHE_BYTES)
        # Content entries' answers by path: one per entry shown (404s are not kept).
        self._entries: dict[str, CachedEntry] = {}
        self._openapi = json.dumps(spec()).encode()
        self.storefront = Storefront()
        self._web_events_routes = WebEventRoutes(self.config)
        self.cart_events = CartEvents(self.config, lambda: None if self.shop is None else self.shop.checkout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            started = perf_counter()
            span = tracing.request_span(scope, route_name)
            if span is not None:  # routed: the same answers (the fast path below needs no coroutine)
                with tracing.serving(span):
                    await self._routed(scope, receive, tracing.recording_status(span, send), started)
                return
            plain = self._plain_answer(scope, scope["path"])
            if plain is None:
                await self._routed(scope, receive, send, started)
                return
            # The hottest reads, answered here: no routing, no coroutine more.
            route, answer = plain
            await send(answer[0])
            await send(answer[1])
            route.times.record(200, perf_counter() - started)
        elif scope["type"] == "websocket":
            await self.cart_events(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                stop_with_server()
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

    async def _routed(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        route, rest = find_route(scope["path"])
        status = 500

        async def send_recording(message: http.Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._answer(scope, receive, send_recording, route, rest)
        finally:
            route.times.record(status, perf_counter() - started)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, route: Route, rest: str) -> None:
        cors = self._cors_headers(scope)
        method = scope["method"]
        try:
            if method == "OPTIONS" and cors:
                await http.respond(send, 204, b"", headers=cors + self._preflight_headers())
                return
            if route.checkout:
                self._cart_routes()  # raises 503 until checkout is ready
            if route.methods is not None and method not in route.methods:
                allow = ", ".join(route.methods).encode()
                raise Problem(405, f"{method} is not allowed here", headers=[(b"allow", allow)])
            await route.handler(self, scope, receive, send, cors, rest)
        except Problem as problem:
            await http.respond_problem(send, problem, cors)
        except Exception:
            log.exception("%s %s failed", method, scope["path"])
            await http.respond_problem(send, Problem(500, "the shop failed to answer; see its log"), cors)

    # Handlers, named in ROUTES below: (scope, receive, send, CORS headers, the path after a prefix).

    async def _products(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        if not cors:  # as `_plain_answer` answers it (a traced request comes here)
            await http.send_response(send, self._plain_page(scope))
            return
        protobuf, accept_encoding = http.negotiation(scope)
        encoding = compression.preferred(accept_encoding)
        await http.send_response(send, self._new_page(scope, _page_key(scope, protobuf), cors, encoding))

    async def _product(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        await http.send_response(send, self._product_answer(scope, rest, cors))

    def _product_answer(self, scope: Scope, rest: str, cors: Headers) -> tuple[http.Message, http.Message]:
        protobuf, accept_encoding = http.negotiation(scope)
        product_id = inputs.text_id(rest, "id")
        # The product's view, and how popular it is (web events).
        popularity = self._shop().web.popularity(product_id)
        body = self._catalog().product(product_id, protobuf, popularity)
        if body is None:
            raise Problem(404, f"no product with id {rest!r}")
        answer = _catalog_answer(body, protobuf, cors)
        return compression.sent_once(answer, compression.preferred(accept_encoding))

    async def _web_events(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        body = await self._web_events_routes.post(scope, receive, self._shop().web, self._catalog())
        await http.respond(send, 202, body, http.JSON, cors)

    async def _content_list(
        self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str
    ) -> None:
        kind = http.query_params(scope, CONTENT_PARAMS).get("kind")
        if kind is not None and kind not in _core.CONTENT_KINDS:
            raise invalid("kind", f"must be one of {', '.join(_core.CONTENT_KINDS)}")
        content, catalog = await self._content(scope)
        offset = content.offset
        answer = _tagged_answer(scope, content.list(kind, _now_ms(), catalog), offset, cors)
        await http.send_response(send, compression.sent_once_to(scope, answer))

    async def _content_entry(
        self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str
    ) -> None:
        slug = inputs.text_id(rest, "slug")
        if not _core.valid_slug(slug):
            reason = f"must be lowercase letters, digits and inner hyphens, at most {_core.MAX_SLUG}"
            raise invalid("slug", reason)
        content, catalog = await self._content(scope)
        # Read before the entry: the answer shows at least these offsets, so a cached answer
        # marked with them is never older than they say.
        marks = (content.offset, catalog.offset)
        found = content.entry(slug, _now_ms(), catalog)
        if found is None:
            raise Problem(404, f"no published content with slug {slug!r}")
        answer = _tagged_answer(scope, found, marks[0], cors)
        if not cors and answer[0]["status"] == 200:
            # Shown now, so shown for as long as neither projection moves (publish_at only passes).
            entry = self._entries[scope["path"]] = CachedEntry(marks, answer)
            answer = compression.kept(answer, entry.encoded, compression.accepted(scope))
        else:
            answer = compression.sent_once_to(scope, answer)
        await http.send_response(send, answer)

    async def _search(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        request = search.search_request(scope)
        model = await self._search_model(scope)
        offset = model.offset  # read first: the answer shows at least this offset
        await http.respond(send, 200, model.search(*request), http.JSON, _offset_header(offset, cors))

    async def _suggest(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        q = search.suggest_query(scope)
        model = await self._search_model(scope)
        offset = model.offset  # read first: the answer shows at least this offset
        await http.respond(send, 200, model.suggest(q), http.JSON, _offset_header(offset, cors))

    async def _get_cart(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        await _send_answer(scope, send, await self._cart_routes().get_cart(scope), cors)

    async def _order_cart(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        await _send_answer(scope, send, await self._cart_routes().place_order(scope, receive), cors)

    async def _set_item(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        product_id = inputs.text_id(rest, "product_id")
        quantity = 0 if scope["method"] == "DELETE" else None
        answer = await self._cart_routes().set_item(scope, receive, product_id, quantity)
        await _send_answer(scope, send, answer, cors)

    async def _get_order(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        # An id that cannot be an order's is looked up as the empty one: the same 404 as any unknown id.
        order_id = inputs.order_id(rest) or ""
        await _send_answer(scope, send, await self._cart_routes().get_order(scope, order_id), cors)

    async def _stock(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        await _send_answer(scope, send, await self._cart_routes().stock(scope, receive), cors)

    async def _image(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        await images.respond(scope, send, rest)

    async def _health(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        await self._status(scope, send, self._shop().health())

    async def _readiness(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        await self._status(scope, send, self._shop().readiness())

    async def _metrics(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        await http.respond(send, 200, generate_latest(), CONTENT_TYPE_LATEST.encode())

    async def _spec(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        await http.respond(send, 200, self._openapi, headers=cors)

    async def _storefront(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        await self.storefront.respond(scope, send)

    async def _upgrade(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        # Reached over plain HTTP: the client did not ask to upgrade.
        raise Problem(426, "this is a WebSocket: connect with Upgrade: websocket", headers=[UPGRADE])

    async def _not_found(self, scope: Scope, receive: Receive, send: Send, cors: Headers, rest: str) -> None:
        if self.storefront.shows_not_found(scope):
            await self.storefront.respond_not_found(scope, send)
            return
        raise Problem(404, f"no resource at {scope['path']}")

    def _cart_routes(self) -> CartRoutes:
        if self._carts is None:
            shop = self._shop()
            self._carts = CartRoutes(self.config, shop.checkout, shop.breaker, self.offset_waits)
        if not self._checkout_ready:
            self._carts.ready()
            self._checkout_ready = True
        return self._carts

    def _shop(self) -> Shop:
        if self.shop is None:
            raise not_ready("the shop")
        return self.shop

    def _catalog(self) -> Any:
        if self._catalog_model is None:
            shop = self._shop()
            if not shop.catalog.ready():
                raise not_ready("the catalog")
            self._catalog_model = shop.catalog.model  # one model for the shop's life
        return self._catalog_model

    async def _content(self, scope: Scope) -> tuple[_core.Content, _core.Catalog]:
        """The content model once it and the catalog (whose products teasers feature) are loaded,
        and once it applied the client's Shop-Min-Offset."""
        shop = self._shop()
        if self._content_model is None:
            if not shop.content.ready():
                raise not_ready("the content")
            self._content_model = shop.content.model  # one model for the shop's life
        catalog = self._catalog()
        offset = http.min_offset(scope)
        if offset is not None:
            projection = shop.content.projection
            await wait_min_offset(offset, projection, self.offset_waits, self.config.ready_timeout)
        return self._content_model, catalog

    async def _search_model(self, scope: Scope) -> _core.Search:
        """The search model once it is ready, and once it applied the client's Shop-Min-Offset."""
        shop = self._shop()
        if not self._search_ready:
            if not shop.search.ready():
                raise not_ready("the search index")
            self._search_ready = True
        offset = http.min_offset(scope)
        if offset is not None:
            await wait_min_offset(
                offset, shop.search.projection, self.offset_waits, self.config.ready_timeout
            )
        return shop.search.model

    def _plain_answer(
        self, scope: Scope, path: str
    ) -> tuple[Route, tuple[http.Message, http.Message]] | None:
        """The route and 200 answer of a plain GET (no CORS headers to add) of the hottest reads
        (a catalog page, a product, a content entry answered before), made without the routing,
        checks and status wrapping of `_answer`. None for anything else, and for a request that
        fails (a bad query, an unknown id, a model not ready, a bug): the routed path answers it,
        with its problem or a logged 500."""
        if scope["method"] != "GET" or (self.cors_origins and self._cors_headers(scope)):
            return None
        try:
            if path == PRODUCTS:
                return CATALOG, self._plain_page(scope)
            if path.startswith(PRODUCT_PREFIX):
                return PRODUCT, self._product_answer(scope, path[len(PRODUCT_PREFIX) :], [])
        except Exception:  # a read changes nothing: the routed path tries again and answers it
            return None
        if path.startswith(CONTENT_PREFIX):
            entry = self._cached_entry(scope, path)
            return None if entry is None else (CONTENT_ENTRY, entry)
        return None

    def _plain_page(self, scope: Scope) -> tuple[http.Message, http.Message]:
        """A catalog page's answer without CORS headers: the cached one, or one made now. A cached
        answer is checked, once the catalog has moved on, against what the page shows now, and
        encoded again only if that changed."""
        protobuf, accept_encoding = http.negotiation(scope)
        encoding = compression.preferred(accept_encoding)
        key = _page_key(scope, protobuf)
        cached = self._pages.get(key)
        if cached is None:
            return self._new_page(scope, key, [], encoding)
        model = self._catalog()
        if cached.mark.offset != model.offset:
            cached.mark, body = model.page_unless_shown(*cached.request, cached.protobuf, cached.mark)
            if body is not None:
                self._pages.resize(cached, len(body))
                cached.answer = _catalog_answer(body, cached.protobuf, [])
                cached.encoded.clear()
        return cached.answer_for(encoding)

    def _cached_entry(self, scope: Scope, path: str) -> tuple[http.Message, http.Message] | None:
        """The answer to a plain GET of a content entry answered before, while neither the content
        nor the catalog (its featured products) moved; else None: the full path."""
        cached = self._entries.get(path)
        content, catalog = self._content_model, self._catalog_model  # set once an entry is cached
        if cached is None or content is None or catalog is None:
            return None
        if cached.marks != (content.offset, catalog.offset):
            return None
        encoding = None
        for name, value in scope["headers"]:
            if name in CONDITIONAL_HEADERS or (name == b"origin" and self.cors_origins):
                return None  # these make the answer another one
            if name == b"accept-encoding" and encoding is None:
                encoding = value
        return compression.kept(cached.answer, cached.encoded, compression.preferred(encoding))

    def _new_page(
        self, scope: Scope, key: tuple[bytes, bool], cors: http.Headers, encoding: bytes | None
    ) -> tuple[http.Message, http.Message]:
        """The answer to a catalog page not taken from the cache, cached when it is asked for again
        (`key`: the raw query and whether in protobuf), compressed with `encoding` if any."""
        model = self._catalog()
        request = _page_request(scope)
        protobuf = key[1]
        # Answers with CORS headers name the origin: not shared between origins.
        if cors or not self._pages.admits(key):
            answer = _catalog_answer(model.page(*request, protobuf), protobuf, cors)
            return compression.sent_once(answer, encoding)
        mark, body = model.page_unless_shown(*request, protobuf)
        page = CachedPage(request, protobuf, mark, _catalog_answer(body, protobuf, cors), len(body))
        self._pages.put(key, page)
        return page.answer_for(encoding)

    async def _status(self, scope: Scope, send: Send, status: Any) -> None:
        answer = {"status": "ok" if status.ok else "failing", "checks": status.checks, **status.reports}
        start, body = http.response(200 if status.ok else 503, json.dumps(answer).encode())
        if scope["method"] == "HEAD":  # the headers of the GET (its length too), no body
            body = {**body, "body": b""}
        await http.send_response(send, (start, body))

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


def stop_with_server() -> None:
    """In a Granian worker (a child of the server process, `shop serve`): a SIGTERM, and so the
    graceful shutdown, as soon as the server process is gone, even if it was SIGKILLed. Else the
    worker ran on as an orphan, serving, relaying and retrying its broker, until stopped by hand."""
    server = multiprocessing.parent_process()
    if server is None:  # not a worker (the app run in process): nobody to outlive
        return
    libc.signal_on_parent_death(signal.SIGTERM)
    if os.getppid() != server.pid:  # it died before the call above
        os.kill(os.getpid(), signal.SIGTERM)


def settle_garbage_collector() -> None:
    """Once started: what exists now lives as long as the process, so the cyclic collector stops
    scanning it (freeze), and it runs less often. Every consumed batch, relayed message and request
    allocates containers that die young; with the default threshold of 700 the collector ran so
    often that py-spy found it in a fifth of the server's samples under writes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


Handler = Callable[[App, Scope, Receive, Send, Headers, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    """A route: its metrics label (never the raw path: ids would explode it), the methods it allows
    (None: any) and its handler. With `checkout`, a 503 until checkout is ready comes before all."""

    name: str
    methods: tuple[str, ...] | None
    handler: Handler
    checkout: bool = False
    times: metrics.RouteTimes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "times", metrics.HTTP.times(self.name))


ANY = None
GET = ("GET",)
PROBE = ("GET", "HEAD")
CATALOG = Route("products", GET, App._products)  # also answered in App.__call__
CONTENT_ENTRY = Route("content", GET, App._content_entry)  # also from the entry cache in App.__call__
PRODUCT = Route("product", GET, App._product)  # also answered in App.__call__
# Exact paths first, then prefixes in order (the rest of the path is an id); then the storefront.
ROUTES: dict[str, Route] = {
    PRODUCTS: CATALOG,
    CART: Route("cart", GET, App._get_cart, checkout=True),
    CART + "/order": Route("cart_order", ("POST",), App._order_cart, checkout=True),
    CART + "/events": Route("other", ANY, App._upgrade, checkout=True),  # the WebSocket, over plain HTTP
    CART_ITEMS: Route("cart_item", ANY, App._not_found, checkout=True),  # no product id
    ORDERS: Route("order", ANY, App._not_found, checkout=True),  # no order id
    STOCK: Route("stock", ("POST",), App._stock, checkout=True),
    "/healthz": Route("healthz", PROBE, App._health),
    "/readyz": Route("readyz", PROBE, App._readiness),
    "/metrics": Route("metrics", GET, App._metrics),
    "/api/v1/events": Route("events", ("POST",), App._web_events),
    "/openapi.json": Route("openapi.json", GET, App._spec),
    CONTENT: Route("content_list", GET, App._content_list),
    CONTENT_PREFIX: Route("content", ANY, App._not_found),  # no slug
    SEARCH: Route("search", GET, App._search),
    SEARCH + "/suggest": Route("search_suggest", GET, App._suggest),
}
PREFIX_ROUTES: tuple[tuple[str, Route], ...] = (
    (PRODUCT_PREFIX, PRODUCT),
    (CONTENT_PREFIX, CONTENT_ENTRY),
    (images.PREFIX, Route("image", GET, App._image)),
    (CART_ITEMS, Route("cart_item", ("PUT", "DELETE"), App._set_item, checkout=True)),
    (ORDERS, Route("order", GET, App._get_order, checkout=True)),
    (CART, Route("other", ANY, App._not_found, checkout=True)),  # any other path under the cart
)
STOREFRONT = Route("storefront", ("GET", "HEAD"), App._storefront)
NOT_FOUND = Route("other", ANY, App._not_found)


def find_route(path: str) -> tuple[Route, str]:
    """The route of a path, and the rest of the path after the route's prefix."""
    route = ROUTES.get(path)
    if route is not None:
        return route, ""
    for prefix, route in PREFIX_ROUTES:
        if path.startswith(prefix):
            return route, path[len(prefix) :]
    return (STOREFRONT if Storefront.serves(path) else NOT_FOUND), ""


def route_name(path: str) -> str:
    """The route a path belongs to, as a metrics label."""
    return find_route(path)[0].name


async def _send_answer(scope: Scope, send: Send, answer: Answer, cors: Headers) -> None:
    """A cart route's answer: compressed when large (a cart or an order of many lines)."""
    headers = [*answer.headers, compression.VARY, *cors]
    messages = http.response(answer.status, answer.body, answer.content_type, headers)
    await http.send_response(send, compression.sent_once_to(scope, messages))


def _tagged_answer(
    scope: Scope, tagged: tuple[bytes, str], offset: int, cors: Headers
) -> tuple[http.Message, http.Message]:
    """A body with its ETag: 304 without the body when If-None-Match names it. Revalidated on
    every use (no-cache): a scheduled entry may appear at any moment."""
    body, etag = tagged
    headers = [
        (b"etag", etag.encode()),
        (b"shop-offset", str(offset).encode()),
        (b"cache-control", b"no-cache"),
        compression.VARY,
        *cors,
    ]
    if_none_match = http.header(scope, b"if-none-match")
    if if_none_match is not None and inputs.none_match(if_none_match, etag.encode()):
        return _not_modified(headers)
    return http.response(200, body, http.JSON, headers)


def _offset_header(offset: int, cors: Headers) -> Headers:
    """The Shop-Offset an answer shows at least (read before it): a client's next Shop-Min-Offset."""
    return [(b"shop-offset", str(offset).encode()), *cors]


def _not_modified(headers: Headers) -> tuple[http.Message, http.Message]:
    start = {"type": "http.response.start", "status": 304, "headers": [*headers, *http.SECURITY_HEADERS]}
    return start, {"type": "http.response.body", "body": b""}


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class CachedEntry:
    """A content entry's answer and the (content, catalog) offsets it was read at, or before."""

    marks: tuple[int, int]
    answer: tuple[http.Message, http.Message]
    # The answer compressed, by encoding: made at the first request accepting it (compression.kept).
    encoded: compression.KeptForms = field(default_factory=dict)


@dataclass(slots=True)
class CachedPage:
    """A page's answer, the request it answers and a mark of the products it shows."""

    request: tuple[str, str, int, int]
    protobuf: bool
    mark: PageMark
    answer: tuple[http.Message, http.Message]
    size: int  # bytes of the body
    # The answer compressed, by encoding: made at the first request accepting it (compression.kept).
    encoded: compression.KeptForms = field(default_factory=dict)

    def answer_for(self, encoding: bytes | None) -> tuple[http.Message, http.Message]:
        return compression.kept(self.answer, self.encoded, encoding)


class PageCache:
    """Cached page answers by (raw query, protobuf), at most `most` of them and `most_bytes` of
    bodies; when either is reached it starts over (the hot pages come back at once).

    A page is admitted on its second request within the last `most` queries: shoppers browsing
    over a large catalog rarely ask for the same page twice, and caching each page they see cost
    every such request a mark of the page's products and an entry, and evicted the hot pages."""

    def __init__(self, most: int, most_bytes: int) -> None:
        self.most = most
        self.most_bytes = most_bytes
        self.bytes = 0
        self._pages: dict[tuple[bytes, bool], CachedPage] = {}
        self._seen: set[tuple[bytes, bool]] = set()
        # The cached page of a key, or None: the dict's own method, no Python frame on a hit.
        self.get: Callable[[tuple[bytes, bool]], CachedPage | None] = self._pages.get

    def __len__(self) -> int:
        return len(self._pages)

    def admits(self, key: tuple[bytes, bool]) -> bool:
        """Whether the page of `key` is worth caching: asked for before (remembered until `most`
        other queries were seen)."""
        if key in self._seen:
            return True
        if len(self._seen) >= self.most:
            self._seen.clear()
        self._seen.add(key)
        return False

    def put(self, key: tuple[bytes, bool], page: CachedPage) -> None:
        if len(self._pages) >= self.most or self.bytes + page.size > self.most_bytes:
            self._pages.clear()
            self.bytes = 0
        replaced = self._pages.get(key)
        if replaced is not None:
            self.bytes -= replaced.size
        self._pages[key] = page
        self.bytes += page.size

    def resize(self, page: CachedPage, size: int) -> None:
        """`page` (cached) was encoded again, `size` bytes now."""
        self.bytes += size - page.size
        page.size = size


def _catalog_answer(body: bytes, protobuf: bool, cors: http.Headers) -> tuple[http.Message, http.Message]:
    """A catalog page's or a product's 200 answer."""
    headers = [*VARIES, *cors] if cors else VARIES
    return http.response(200, body, http.PROTOBUF if protobuf else http.JSON, headers)


def _page_key(scope: Scope, protobuf: bool) -> tuple[bytes, bool]:
    """A page's key in the page cache: its raw query (no parsing on a hit), and whether in protobuf."""
    return scope.get("query_string", b""), protobuf


def _page_request(scope: Scope) -> tuple[str, str, int, int]:
    """The (sort, prefix, page, per_page) of a catalog page's query, read in Rust by the rules
    of `http.query_params` (a third of an uncached page's Python time when read here); else the
    400 naming the parameter."""
    try:
        return _core.page_request(scope.get("query_string", b""))
    except ValueError as exc:
        name, reason = exc.args
        raise (Problem(400, reason) if name is None else invalid(name, reason)) from None


app = App()
