"""Prometheus metrics: counters and histograms updated as work happens, gauges read from the shop
when /metrics is scraped (so nothing is computed for a metric no one reads)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from shop.kafka.breaker import STATES, CircuitBreaker

if TYPE_CHECKING:
    from shop.contexts.web import WebEventsContext
    from shop.service import Shop

APPLY_SECONDS = Histogram(
    "shop_apply_batch_seconds",
    "Time to decode and apply one batch of events to both copies of a projection",
    ["topic"],
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
)
APPLIED_EVENTS = Counter("shop_applied_events_total", "Events applied to a projection", ["topic"])
DEAD_LETTERS = Counter("shop_dead_letters_total", "Events copied to a dead-letter topic", ["topic"])
EMAILS = Counter(
    "shop_emails_total",
    "Order emails: accepted by the SMTP server (confirmed, shipped, backordered), refused for good, "
    "or retried (the server down or busy)",
    ["outcome"],
)
RELAY_RESTARTS = Counter(
    "shop_relay_restarts_total",
    "Times a relay started again from Kafka's position after a failure",
    ["relay"],
)
COMMANDS_IN_FLIGHT = Gauge("shop_commands_in_flight", "Cart and order writes being handled now")
COMMANDS_WRITING = Gauge(
    "shop_commands_writing", "Cart and order writes past their body (at most max_commands; more are shed)"
)
COMMANDS_SHED = Counter(
    "shop_commands_shed_total", "Writes refused with 503 because max_commands were under way"
)
OFFSET_WAITS_SHED = Counter(
    "shop_offset_waits_shed_total",
    "Reads refused with 503 because max_offset_waits were waiting for their Shop-Min-Offset",
)
CART_STREAMS = Gauge("shop_cart_streams", "Open cart event WebSockets (/api/v1/cart/events)")
CART_STREAMS_REFUSED = Counter(
    "shop_cart_streams_refused_total", "Cart event WebSockets refused before the upgrade", ["status"]
)
WEB_EVENT_BATCHES = Counter(
    "shop_web_event_batches_total",
    "Browser event batches (POST /api/v1/events) by outcome: accepted, refused, rate_limited, "
    "dropped (Kafka slow: queue full or not acknowledged in time), written",
    ["outcome"],
)
# Products shown by popularity at /metrics: the most viewed only, so the series stay few.
POPULAR_PRODUCTS = 10
CART_PUSHES = Counter("shop_cart_pushes_total", "Carts sent over cart event WebSockets")


# Upper bounds of the HTTP latency histogram's buckets, in seconds.
HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0)


class RouteTimes:
    """One route's requests answered, by status, and their latency: plain integers and a float,
    recorded by the event loop's thread alone. A route holds its own (`Route.times`), so that a
    request records with no look-up by name: a prometheus_client Counter and Histogram take a
    lock each, and a dict keyed by (route, status) cost a cached catalog page a sixth of its
    Python."""

    __slots__ = ("buckets", "seconds", "statuses")

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        # The count in each bucket (not cumulative; the last one is above all bounds).
        self.buckets = [0] * (len(HTTP_BUCKETS) + 1)
        self.seconds = 0.0

    def record(self, status: int, seconds: float) -> None:
        statuses = self.statuses
        statuses[status] = statuses.get(status, 0) + 1
        self.buckets[bisect_left(HTTP_BUCKETS, seconds)] += 1
        self.seconds += seconds


class HttpMetrics(Collector):
    """Requests answered, by route and status, and their latency, by route (`RouteTimes`, one a
    route name). Exported at scrape time as the counter `shop_http_requests_total` and the
    histogram `shop_http_request_seconds`."""

    def __init__(self) -> None:
        self._routes: dict[str, RouteTimes] = {}

    def times(self, route: str) -> RouteTimes:
        """The times of the routes named `route` (several routes may share a name)."""
        return self._routes.setdefault(route, RouteTimes())

    def collect(self) -> Iterator[Metric]:
        routes = list(self._routes.items())
        requests = CounterMetricFamily(
            "shop_http_requests", "HTTP requests answered", labels=["route", "status"]
        )
        for route, times in routes:
            for status, count in list(times.statuses.items()):
                requests.add_metric([route, str(status)], count)
        yield requests
        seconds = HistogramMetricFamily(
            "shop_http_request_seconds",
            "HTTP request latency, from the request to the last byte handed to the server",
            labels=["route"],
        )
        bounds = [*map(str, HTTP_BUCKETS), "+Inf"]
        for route, times in routes:
            if not times.statuses:
                continue  # a route no request reached yet
            cumulative, buckets = 0, []
            for bound, in_bucket in zip(bounds, list(times.buckets), strict=True):
                cumulative += in_bucket
                buckets.append((bound, float(cumulative)))
            seconds.add_metric([route], buckets, times.seconds)
        yield seconds


HTTP = HttpMetrics()
REGISTRY.register(HTTP)


class ShopCollector(Collector):
    """Model offsets, end offsets, lag, readiness and waiting commands, read at scrape time."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    def collect(self) -> Iterator[Metric]:
        applied = _gauge("shop_applied_offset", "Last offset a projection applied", "context")
        end = _gauge("shop_end_offset", "Last offset of a projection's topic", "context")
        lag = _gauge("shop_lag_events", "Events a projection has yet to apply", "context")
        for name, loop in self.shop.projections.items():
            applied.add_metric([name], loop.watch.applied)
            end.add_metric([name], loop.end_offset)
            lag.add_metric([name], max(0, loop.end_offset - loop.watch.applied))
        yield from (applied, end, lag)
        items = GaugeMetricFamily(
            "shop_model_items", "What a projection holds, by kind", labels=["context", "kind"]
        )
        for name, loop in self.shop.projections.items():
            for kind, count in loop.projection.sizes().items():
                items.add_metric([name, kind], count)
        yield items
        ready = _gauge("shop_ready", "1 when a context is loaded and its bridges caught up", "check")
        for check, ok in self.shop.readiness().checks.items():
            ready.add_metric([check], 1.0 if ok is True else 0.0)
        yield ready
        relays = _gauge("shop_relay_position", "Last source offset a relay delivered", "relay")
        for name, relay in self.shop.relays.items():
            relays.add_metric([name], relay.position)
        yield relays
        yield from kafka_client_gauges(self.shop.broker.stats)
        yield from breaker_metrics(self.shop.breaker)
        dead = GaugeMetricFamily(
            "shop_dead_letter_events",
            "Events a consumer copied to a dead-letter topic (this run and earlier ones)",
            labels=["consumer", "topic"],
        )
        for name, letters in self.shop.dead_letters.items():
            dead.add_metric([name, letters.source], letters.count)
        yield dead
        yield from web_metrics(self.shop.web)
        waiting = self.shop.checkout.projection.watch.waiting
        yield GaugeMetricFamily("shop_commands_waiting", "Requests waiting for their write to apply", waiting)


# librdkafka statistics (https://github.com/confluentinc/librdkafka/blob/master/STATISTICS.md)
CLIENT_STATS = {
    "msg_cnt": "Messages waiting in the producer queue",
    "msg_size": "Bytes waiting in the producer queue",
    "tx": "Requests sent to brokers",
    "rx": "Responses received from brokers",
    "txmsgs": "Messages sent to brokers",
}


def kafka_client_gauges(stats: dict[str, Any]) -> Iterator[Metric]:
    """The producer's librdkafka statistics as gauges, as of the last report (every second)."""
    for key, documentation in CLIENT_STATS.items():
        if key in stats:
            yield GaugeMetricFamily(f"shop_kafka_{key}", documentation, stats[key])
    up = _gauge("shop_kafka_broker_up", "1 while the client is connected to this broker", "broker")
    rtt = _gauge("shop_kafka_broker_rtt_seconds", "Average round trip to this broker", "broker")
    for broker in stats.get("brokers", {}).values():
        if broker.get("nodeid", -1) < 0:
            continue  # the bootstrap connection, not a broker of the cluster
        name = str(broker["nodeid"])
        up.add_metric([name], 1.0 if broker.get("state") == "UP" else 0.0)
        rtt.add_metric([name], broker.get("rtt", {}).get("avg", 0) / 1e6)
    yield from (up, rtt)


def web_metrics(web: WebEventsContext) -> Iterator[Metric]:
    """The popularity projection: totals, and the most viewed products."""
    totals = _gauge("shop_web_events", "Browser events counted by the popularity projection", "kind")
    views, adds = web.totals()
    totals.add_metric(["page_view"], views)
    totals.add_metric(["add_to_cart"], adds)
    yield totals
    popular = GaugeMetricFamily(
        "shop_product_popularity",
        f"Views and add-to-carts of the {POPULAR_PRODUCTS} most viewed products",
        labels=["product", "kind"],
    )
    for product, (product_views, product_adds) in web.most_viewed(POPULAR_PRODUCTS):
        popular.add_metric([product, "page_view"], product_views)
        popular.add_metric([product, "add_to_cart"], product_adds)
    yield popular


def breaker_metrics(breaker: CircuitBreaker) -> Iterator[Metric]:
    state = _gauge("shop_breaker_state", "1 for the broker circuit breaker's current state", "state")
    current = breaker.state
    for name in STATES:
        state.add_metric([name], 1.0 if name == current else 0.0)
    yield state
    yield GaugeMetricFamily(
        "shop_breaker_failures", "Consecutive writes Kafka did not acknowledge", breaker.failures
    )
    yield CounterMetricFamily(
        "shop_breaker_rejected", "Writes refused at once by the open breaker", breaker.rejected
    )


def _gauge(name: str, documentation: str, label: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=[label])


def register(shop: Shop) -> ShopCollector:
    collector = ShopCollector(shop)
    REGISTRY.register(collector)
    return collector
