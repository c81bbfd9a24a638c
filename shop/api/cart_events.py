"""GET /api/v1/cart/events (WebSocket): the shopper's cart, pushed whenever it changes.

Authorised by the cart cookie alone, like every cart route: the cart id is 128 random bits and the
connection sees that cart only. The Origin of a browser must be this host or a configured CORS
origin, so another site cannot open the stream with the shopper's cookie.

On connect the cart is sent (the body of GET /api/v1/cart), then again after every applied batch of
checkout events that changed its version. Nothing polls: each connection waits on the checkout
projection's OffsetWatch for the next applied offset, then compares one integer through the Rust
model. When the cart gets ordered the stream closes with CLOSE_ORDERED: the browser's cookie now
names the next cart, so the client fetches it and reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from shop import metrics
from shop.api import http, inputs
from shop.api.cart import COOKIE
from shop.api.http import Receive, Scope, Send
from shop.api.problems import Problem
from shop.config import Config
from shop.contexts.checkout import CheckoutContext

log = logging.getLogger(__name__)

PATH = "/api/v1/cart/events"
# A connection wakes at least this often without a change, so a shutdown or a dead client is noticed.
IDLE_WAKE_S = 30.0
CANCEL_WAIT_S = 1.0
CLOSE_GOING_AWAY = 1001  # the shop shuts down: reconnect later
CLOSE_POLICY = 1008  # the client sent something other than "ping"
CLOSE_ORDERED = 4001  # the cart was ordered: fetch the new cart, then reconnect
PING = "ping"
PONG = "pong"


class CartEvents:
    """Every open cart stream of this worker, bounded, and closed together on shutdown."""

    def __init__(self, config: Config, checkout: Callable[[], CheckoutContext | None]) -> None:
        self.config = config
        self._checkout = checkout
        self.cors_origins = {o.strip() for o in config.cors_origins.split(",") if o.strip()}
        # A stream holds one of Granian's concurrent slots (SHOP_HTTP_BACKPRESSURE) for as long as it is
        # open: half of them at most go to streams, so requests always find room.
        self.max_open = max(1, config.http_backpressure // 2)
        self.open = 0
        self._stopping = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        try:
            checkout, cart_id = self._admit(scope)
        except Problem as problem:
            metrics.CART_STREAMS_REFUSED.labels(str(problem.status)).inc()
            await _deny(scope, send, problem)
            return
        self.open += 1
        metrics.CART_STREAMS.inc()
        try:
            await send({"type": "websocket.accept"})
            await Stream(checkout, cart_id, receive, send, self._stopping).run()
        except OSError:  # the client went away while we sent: nothing left to tell it
            pass
        finally:
            self.open -= 1
            metrics.CART_STREAMS.dec()

    def shutdown(self) -> None:
        """Closes every stream with 1001 (going away) and refuses new ones."""
        self._stopping.set()

    def _admit(self, scope: Scope) -> tuple[CheckoutContext, str]:
        if scope["path"] != PATH:
            raise Problem(404, f"no WebSocket at {scope['path']}")
        if self._stopping.is_set():
            raise Problem(503, "the shop is shutting down", headers=[(b"retry-after", b"1")])
        if not self._origin_allowed(scope):
            raise Problem(403, "this origin may not open the cart stream")
        # A well-formed id with no events yet is accepted: GET /api/v1/cart issues cookies without
        # writing, so a fresh shopper's cart is unknown to the model until its first change. Such an
        # id only ever shows the empty cart it names, as GET /api/v1/cart would.
        cart_id = inputs.cart_id(http.cookie(scope, COOKIE))
        if cart_id is None:
            raise Problem(403, "no cart cookie: GET /api/v1/cart first")
        checkout = self._checkout()
        if checkout is None or not checkout.ready():
            raise Problem(503, "checkout is not loaded yet", headers=[(b"retry-after", b"1")])
        if self.open >= self.max_open:
            raise Problem(503, "too many open cart streams", headers=[(b"retry-after", b"5")])
        return checkout, cart_id

    def _origin_allowed(self, scope: Scope) -> bool:
        """Browsers always send Origin; a page of this host or a configured origin may connect.
        Clients without Origin (no browser, so no ambient cookie to abuse) hold the cookie themselves."""
        raw = http.header(scope, b"origin")
        if raw is None:
            return True
        origin = raw.decode("latin-1")
        if origin in self.cors_origins:
            return True
        host = http.header(scope, b"host")
        if host is None:
            return False
        try:
            netloc = urlsplit(origin).netloc
        except ValueError:  # no URL at all, such as "http://[" (an unclosed IPv6 address)
            return False
        return netloc == host.decode("latin-1")


class Stream:
    """One connection: sends the cart, then each new version, and answers "ping" with "pong"."""

    def __init__(
        self,
        checkout: CheckoutContext,
        cart_id: str,
        receive: Receive,
        send: Send,
        stopping: asyncio.Event,
    ) -> None:
        self.model = checkout.model
        self.watch = checkout.projection.watch
        self.cart_id = cart_id
        self.receive = receive
        self.send = send
        self.stopping = stopping

    async def run(self) -> None:
        close = await self._follow()
        if close is not None:
            await self.send({"type": "websocket.close", "code": close[0], "reason": close[1]})

    async def _follow(self) -> tuple[int, str] | None:
        """Pushes changes until the stream must end; returns the close to send (None: client left)."""
        offset = self.watch.applied
        ordered, version, body = self.model.cart_change(self.cart_id, -1)
        if ordered or body is None:  # a tab that has not yet seen the new cookie
            return CLOSE_ORDERED, "the cart was ordered; fetch the new cart"
        await self._send_cart(body)
        receiving = asyncio.ensure_future(self.receive())
        following = asyncio.ensure_future(self.watch.follow(offset, IDLE_WAKE_S))
        stopping = asyncio.ensure_future(self.stopping.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {receiving, following, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if stopping in done:
                    return CLOSE_GOING_AWAY, "the shop is shutting down"
                if receiving in done:
                    message = receiving.result()
                    if message["type"] == "websocket.disconnect":
                        return None
                    if message.get("text") != PING:
                        return CLOSE_POLICY, 'only "ping" is understood'
                    await self.send({"type": "websocket.send", "text": PONG})
                    receiving = asyncio.ensure_future(self.receive())
                if following in done:
                    offset = self.watch.applied
                    ordered, version, body = self.model.cart_change(self.cart_id, version)
                    if ordered:
                        return CLOSE_ORDERED, "the cart was ordered; fetch the new cart"
                    if body is not None:
                        await self._send_cart(body)
                    following = asyncio.ensure_future(self.watch.follow(offset, IDLE_WAKE_S))
        finally:
            # Granian sends no close frame while a receive is pending: end every wait first.
            pending = [task for task in (receiving, following, stopping) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:  # asyncio.wait, not gather: Granian's receive is a future gather cannot read
                await asyncio.wait(pending, timeout=CANCEL_WAIT_S)

    async def _send_cart(self, body: bytes) -> None:
        await self.send({"type": "websocket.send", "text": body.decode()})
        metrics.CART_PUSHES.inc()


async def _deny(scope: Scope, send: Send, problem: Problem) -> None:
    """Refuses the handshake with the problem as an HTTP answer where the server can send one (the
    ASGI denial response extension), else with a plain close, which the server turns into a 403."""
    if "websocket.http.response" in scope.get("extensions", {}):
        headers = [(b"content-type", http.PROBLEM), *problem.headers]
        await send({"type": "websocket.http.response.start", "status": problem.status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": problem.body()})
    else:
        await send({"type": "websocket.close", "code": CLOSE_POLICY})
