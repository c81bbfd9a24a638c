"""POST /api/v1/events: batches of what a shopper did, sent by the storefront with
navigator.sendBeacon. Validated (size, known kinds, products of the catalog, no personal data,
a rate per cart), then handed to the web context without waiting for Kafka."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from typing import Any

from shop import metrics
from shop.api import http, inputs
from shop.api.http import Receive, Scope
from shop.api.problems import Problem, invalid
from shop.config import Config
from shop.contexts import web

MAX_BODY = 4096
MAX_EVENTS = 32
MAX_QUERY = 64
MAX_PRODUCT_ID = 64
LIKE = '{"events": [{"kind": "page_view", "product_id": "P1"}, {"kind": "search", "query": "red"}]}'
# What looks like personal data in a search: an email address or a phone number's run of digits.
PERSONAL = re.compile(r"@|\d[\d ()./-]{5,}\d")
# Batches per sender (a cart, or the address of a client without one): a bucket of BURST,
# refilled at RATE_PER_S. A page sends a batch on each view and when it is hidden.
BURST = 10
RATE_PER_S = 1.0
SENDERS = 100_000  # buckets kept; the least recently seen go first


class RateLimit:
    def __init__(self, burst: int, per_s: float, senders: int) -> None:
        self.burst, self.per_s, self.senders = burst, per_s, senders
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, sender: str, now: float) -> float:
        """0 when `sender` may send a batch now (one is taken); else the seconds until it may."""
        tokens, last = self._buckets.pop(sender, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.per_s)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.per_s
        self._buckets[sender] = (tokens - 1 if wait == 0 else tokens, now)
        if len(self._buckets) > self.senders:
            self._buckets.popitem(last=False)
        return wait


class WebEventRoutes:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.limit = RateLimit(BURST, RATE_PER_S, SENDERS)

    async def post(
        self, scope: Scope, receive: Receive, context: web.WebEventsContext, catalog: Any
    ) -> bytes:
        """The answer's body (202); a Problem for a batch refused, nothing of it written."""
        try:
            body = await http.read_body(scope, receive, MAX_BODY, self.config.body_timeout)
            events = parse_batch(inputs.json_body(body, MAX_BODY, LIKE), catalog)
        except Problem:
            metrics.WEB_EVENT_BATCHES.labels("refused").inc()
            raise
        wait = self.limit.take(sender(scope), time.monotonic())
        if wait > 0:
            metrics.WEB_EVENT_BATCHES.labels("rate_limited").inc()
            retry = str(max(1, round(wait))).encode()
            raise Problem(
                429, "too many event batches from this cart; slow down", headers=[(b"retry-after", retry)]
            )
        metrics.WEB_EVENT_BATCHES.labels("accepted").inc()
        kept = context.offer(web.batch_of(events))
        return b'{"accepted":%d,"dropped":%s}' % (len(events), b"false" if kept else b"true")


def sender(scope: Scope) -> str:
    """Whom the rate applies to: the cart cookie, else the client's address."""
    cart = inputs.cart_id(http.cookie(scope, "cart"))
    if cart is not None:
        return cart
    client = scope.get("client") or ("unknown", 0)
    return f"address {client[0]}"


def parse_batch(document: Any, catalog: Any) -> list[tuple[str, str, str]]:
    """(kind, product id, query) of each event; a 400 naming the first event at fault."""
    if (
        not isinstance(document, dict)
        or set(document) != {"events"}
        or not isinstance(document["events"], list)
    ):
        raise invalid("body", f"must be JSON like {LIKE}")
    events = document["events"]
    if not 1 <= len(events) <= MAX_EVENTS:
        raise invalid("events", f"must hold 1 to {MAX_EVENTS} events")
    return [parse_event(event, f"events/{i}", catalog) for i, event in enumerate(events)]


def parse_event(event: Any, name: str, catalog: Any) -> tuple[str, str, str]:
    if not isinstance(event, dict) or not set(event) <= {"kind", "product_id", "query"}:
        raise invalid(name, "must be an object of kind and product_id or query, nothing else")
    kind, product_id, query = event.get("kind"), event.get("product_id", ""), event.get("query", "")
    if kind not in web.KINDS:
        raise invalid(f"{name}/kind", f"must be one of {', '.join(web.KINDS)}")
    if not isinstance(product_id, str) or not isinstance(query, str):
        raise invalid(name, "product_id and query must be strings")
    if product_id and (len(product_id) > MAX_PRODUCT_ID or catalog.product(product_id, True) is None):
        raise invalid(f"{name}/product_id", "must be a product of the catalog")
    if kind == "add_to_cart" and not product_id:
        raise invalid(f"{name}/product_id", "an add_to_cart names the product added")
    if len(query) > MAX_QUERY or (query and kind != "search"):
        raise invalid(f"{name}/query", f"only a search has one, at most {MAX_QUERY} characters")
    if PERSONAL.search(query):
        raise invalid(f"{name}/query", "must not hold personal data (an email address or a phone number)")
    return kind, product_id, query
