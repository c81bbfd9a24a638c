"""Distributed tracing (OpenTelemetry, exported to Zipkin): a sampled request's trace follows its
write through Kafka. The W3C trace context travels in each message's `traceparent` and `tracestate`
headers; every hop (the request, its write, each projection's apply, each relay) is a span whose
parent is the hop before. See docs/tracing.md.

Off (`trace_ratio` 0, the default) nothing here creates an object: each entry point returns at its
first line. On, a request is traced with probability `trace_ratio`, decided before any span exists
(the untraced requests cost a random number); a request that brings a `traceparent` follows its
caller's decision, and every later hop follows its parent's (a parent-based ratio sampler)."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shop.config import Config

SERVICE = "shop"
TRACE_HEADERS = ("traceparent", "tracestate")
# How often spans are sent to Zipkin in a batch: soon enough for an operator following an order.
EXPORT_DELAY_MS = 1000

# Kafka message headers as confluent_kafka and the extension take them.
KafkaHeaders = list[tuple[str, bytes]]

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None
_ratio = 0.0
# Which requests the ratio picks: a generator of the shop's own, not the global one (see retry.py).
_sampling = random.Random()


def configure(config: Config) -> None:
    """Traces `config.trace_ratio` of the requests to `config.trace_endpoint` (none at 0)."""
    global _provider, _tracer, _ratio
    shutdown()
    if config.trace_ratio <= 0:
        return
    # Roots are sampled by `request_span` before a span exists; everything else has a parent.
    _provider = TracerProvider(
        sampler=ParentBased(root=ALWAYS_ON), resource=Resource.create({"service.name": SERVICE})
    )
    # Imported only when tracing is on: the exporter and its HTTP client (requests, urllib3) take
    # a fifth of the shop's import time, paid by every start.
    from opentelemetry.exporter.zipkin.json import ZipkinExporter  # noqa: PLC0415

    exporter = ZipkinExporter(endpoint=config.trace_endpoint)
    _provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_DELAY_MS))
    _tracer = _provider.get_tracer("shop")
    _ratio = config.trace_ratio


def check(config: Config) -> None:
    """Stops the start on a ratio that is no share of the requests."""
    if not 0.0 <= config.trace_ratio <= 1.0:
        raise SystemExit(f"SHOP_TRACE_RATIO={config.trace_ratio}: expected a share from 0 to 1")


def flush() -> None:
    """Sends the spans not yet exported now."""
    if _provider is not None:
        _provider.force_flush()


def shutdown() -> None:
    """Sends the spans not yet exported and stops tracing."""
    global _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
    _provider, _tracer = None, None


def enabled() -> bool:
    return _tracer is not None


# HTTP


def request_span(scope: Mapping[str, Any], route_name: Callable[[str], str]) -> Span | None:
    """The span of an HTTP request, named by its method and route (not its path, which holds ids),
    or None when it is not traced: tracing is off, or neither the caller's `traceparent` nor this
    shop's ratio picked it."""
    if _tracer is None:
        return None
    parent = _incoming(scope["headers"])
    if parent is None and _sampling.random() >= _ratio:
        return None
    attributes = {"http.request.method": scope["method"], "url.path": scope["path"]}
    name = f"{scope['method']} {route_name(scope['path'])}"
    return _tracer.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)


def _incoming(headers: Sequence[tuple[bytes, bytes]]) -> Context | None:
    """The caller's trace context. Looked for in every request while tracing is on: nothing is
    decoded nor built unless a `traceparent` is there."""
    for name, _value in headers:
        if name == b"traceparent":
            break
    else:
        return None
    carrier = {
        name.decode("latin-1"): value.decode("latin-1") for name, value in headers if name in _ASGI_NAMES
    }
    return _context(carrier)


_ASGI_NAMES = frozenset(name.encode() for name in TRACE_HEADERS)

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def serving(span: Span) -> AbstractContextManager[Span]:
    """Makes `span` the current one while its request is answered; ends it after."""
    return trace.use_span(span, end_on_exit=True, record_exception=True, set_status_on_exception=True)


def recording_status(span: Span, send: Send) -> Send:
    """`send`, noting the response's status on `span` (a server error marks it failed)."""

    async def send_noting(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status = int(message["status"])
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        await send(message)

    return send_noting


# Kafka


@contextmanager
def producing(topic: str) -> Iterator[KafkaHeaders | None]:
    """Around a write of the current traced request: a span from the write to its apply, whose
    context the message carries (yielded as its headers); None when nothing is traced."""
    if _tracer is None or not trace.get_current_span().get_span_context().is_valid:
        yield None
        return
    attributes = {"messaging.system": "kafka", "messaging.destination.name": topic}
    with _tracer.start_as_current_span(
        f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        yield headers_of(span)


def headers_of(span: Span) -> KafkaHeaders:
    """The Kafka headers that make a message's next hop a child of `span`."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return [(name, value.encode()) for name, value in carrier.items()]


def _context(carrier: dict[str, str]) -> Context | None:
    if "traceparent" not in carrier:
        return None
    context = _propagator.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def _kafka_context(headers: Sequence[tuple[str, bytes | None]]) -> Context | None:
    carrier = {name: value.decode("latin-1") for name, value in headers if name in TRACE_HEADERS and value}
    return _context(carrier)


def record_applied(name: str, traced: list[tuple[int, str, str, float, float]]) -> None:
    """The spans of a projection's apply of traced messages, timed by the extension (feed.rs)."""
    if _tracer is None:
        return
    for offset, parent, state, start, end in traced:
        context = _context({"traceparent": parent, "tracestate": state} if state else {"traceparent": parent})
        if context is None:
            continue
        span = _tracer.start_span(
            name,
            context=context,
            kind=SpanKind.CONSUMER,
            start_time=int(start * 1e9),
            attributes={"messaging.system": "kafka", "messaging.kafka.offset": offset},
        )
        span.end(end_time=int(end * 1e9))


class RelayHops:
    """The spans of a relay batch's traced messages: each from the batch's arrival until Kafka
    acknowledged what the message was translated into; the output carries the span's context.
    Empty (and free) when tracing is off or no message of the batch is traced."""

    def __init__(self, name: str, source: str, target: str, messages: Sequence[Any]) -> None:
        self.name, self.source, self.target = name, source, target
        self.started = time.time_ns()
        self.contexts = _message_contexts(messages) if _tracer is not None else {}
        self.spans: list[Span] = []

    def start(self, offset: int) -> Span | None:
        """The span of the message at `offset`, if it is traced."""
        context = self.contexts.get(offset) if self.contexts else None
        if context is None or _tracer is None:
            return None
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.source.name": self.source,
            "messaging.destination.name": self.target,
            "messaging.kafka.offset": offset,
        }
        span = _tracer.start_span(
            self.name, context=context, kind=SpanKind.CONSUMER, start_time=self.started, attributes=attributes
        )
        self.spans.append(span)
        return span

    def start_traced(self) -> dict[int, Span]:
        """The spans of the batch's traced messages, by offset."""
        spans = {offset: self.start(offset) for offset in self.contexts}
        return {offset: span for offset, span in spans.items() if span is not None}

    def end(self) -> None:
        """Every span of the batch ends: its messages are acknowledged (or given up)."""
        for span in self.spans:
            span.end()
        self.spans = []


def _message_contexts(messages: Sequence[Any]) -> dict[int, Context]:
    contexts = {}
    for message in messages:
        headers = message.headers()
        if headers:
            context = _kafka_context(headers)
            if context is not None:
                contexts[int(message.offset())] = context
    return contexts
