"""The HTTP metrics the event loop records in plain integers read like prometheus_client's own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from fixtures.server import Samples, metric_samples
from shop.metrics import HttpMetrics


def scraped(metrics: HttpMetrics) -> Samples:
    registry = CollectorRegistry()
    registry.register(metrics)
    return metric_samples(generate_latest(registry).decode())


def test_requests_are_counted_by_route_and_status() -> None:
    metrics = HttpMetrics()
    for route, status in [("products", 200), ("products", 200), ("cart_item", 503), ("products", 400)]:
        metrics.times(route).record(status, 0.001)
    samples = scraped(metrics)
    assert samples[("shop_http_requests_total", (("route", "products"), ("status", "200")))] == 2
    assert samples[("shop_http_requests_total", (("route", "products"), ("status", "400")))] == 1
    assert samples[("shop_http_requests_total", (("route", "cart_item"), ("status", "503")))] == 1


def test_latency_buckets_are_cumulative_with_an_upper_bound_included() -> None:
    metrics = HttpMetrics()
    for seconds in (0.0001, 0.0005, 0.002, 0.002, 7.0, 100.0):
        metrics.times("products").record(200, seconds)
    samples = scraped(metrics)

    def bucket(bound: str) -> float:
        return samples[("shop_http_request_seconds_bucket", (("le", bound), ("route", "products")))]

    assert bucket("0.0005") == 2  # 0.0005 itself is in the bucket it bounds
    assert bucket("0.001") == 2
    assert bucket("0.0025") == 4
    assert bucket("5.0") == 4
    assert bucket("30.0") == 5
    assert bucket("+Inf") == 6
    assert samples[("shop_http_request_seconds_count", (("route", "products"),))] == 6
    assert abs(samples[("shop_http_request_seconds_sum", (("route", "products"),))] - 107.0046) < 1e-9


def test_routes_of_one_name_share_their_series_and_unasked_routes_show_none() -> None:
    metrics = HttpMetrics()
    first, second = metrics.times("other"), metrics.times("other")  # two routes named alike
    metrics.times("search")  # a route no request reached
    first.record(404, 0.001)
    second.record(404, 0.003)
    samples = scraped(metrics)
    assert samples[("shop_http_requests_total", (("route", "other"), ("status", "404")))] == 2
    assert samples[("shop_http_request_seconds_count", (("route", "other"),))] == 2
    assert not [key for key in samples if ("route", "search") in key[1]]
