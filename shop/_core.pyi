"""Type stubs of the Rust extension (core_rs/src/bindings/); `make lint` checks them with stubtest."""

from collections.abc import Callable
from typing import Protocol, final, overload

from typing_extensions import disjoint_base

__version__: str
__all__ = [
    "CONTENT_KINDS",
    "FACET_CATEGORIES",
    "MAX_CATEGORY",
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "MAX_PREFIX",
    "MAX_PRICE",
    "MAX_QUANTITY",
    "MAX_QUERY",
    "MAX_QUERY_WORDS",
    "MAX_SEARCH_PAGE",
    "MAX_SEARCH_PER_PAGE",
    "MAX_SLUG",
    "MAX_SUGGESTIONS",
    "PRICE_BUCKETS",
    "SEARCH_OPERATORS",
    "SEARCH_SORTS",
    "SORTS",
    "CartView",
    "Catalog",
    "Checkout",
    "Commands",
    "Content",
    "Feed",
    "Fulfilment",
    "KafkaClientError",
    "OffsetSignal",
    "OnlyEvents",
    "OrderDecision",
    "OrdersPublished",
    "PageMark",
    "Projection",
    "RelayBatch",
    "RelayWriter",
    "SavedSnapshot",
    "Search",
    "SnapshotError",
    "Translation",
    "__version__",
    "catalog_bridge",
    "checkout_fulfilment_bridge",
    "checkout_pim_bridge",
    "cms_publish",
    "fulfilment_checkout_bridge",
    "fulfilment_publish",
    "page_request",
    "pim_publish",
    "published_offset",
    "render_markdown",
    "search_query_problem",
    "valid_slug",
]

SORTS: list[str]
"""The sort orders of a catalog listing."""
MAX_PAGE: int
"""The highest page number a listing request may name (past the last page, the last is shown)."""
MAX_PER_PAGE: int
"""The most products a listing page holds."""
MAX_PREFIX: int
"""The most characters of a listing's name prefix."""
MAX_QUANTITY: int
"""The most units of one product a cart line holds."""
CONTENT_KINDS: list[str]
"""The kinds of cms entry: page, hero, teaser."""
MAX_SLUG: int
"""The most characters of a cms entry's slug."""
SEARCH_SORTS: list[str]
"""The orders of a search result: relevance, price, name."""
MAX_QUERY: int
"""The most characters of a search query."""
MAX_QUERY_WORDS: int
"""The most words of a search query."""
MAX_SEARCH_PER_PAGE: int
"""The most results a search page holds."""
MAX_SEARCH_PAGE: int
"""The highest page number a search may name (past the last page, the last is shown)."""
MAX_PRICE: int
"""The highest price in cents a search filter may name."""
MAX_CATEGORY: int
"""The most characters of a search's category filter."""
MAX_SUGGESTIONS: int
"""The most completions a suggestion answers."""
FACET_CATEGORIES: int
"""The most categories a search's category facet lists (those with the most results)."""
PRICE_BUCKETS: list[int]
"""The lower bounds in cents of the price facet's ranges (the last is open)."""
SEARCH_OPERATORS: str
"""Characters of other engines' query syntax, which a search query may not hold."""

class KafkaClientError(RuntimeError):
    """A failure of the extension's own Kafka clients (Feed, Commands)."""

    code: int | None
    """librdkafka's error number (those confluent_kafka.KafkaError names), or None for a failure
    librdkafka did not report (a closed producer)."""

class SnapshotError(ValueError):
    """A snapshot that cannot be used: damaged or truncated, of another format version, of another
    kind of projection, or of another topic (name, topic id, cluster id, or offsets past its end)."""

@final
class SavedSnapshot:
    """A snapshot serialized into memory by `save_snapshot`: the whole file, checksum included, not
    yet on disk. It holds no reference to the projection."""

    @property
    def offset(self) -> int:
        """The offset the snapshot covers."""
    def __len__(self) -> int:
        """Bytes of the file."""
    def write(self, path: str) -> None:
        """Writes the file to `path` atomically (a temporary file beside it, fsync, rename, fsync of
        the directory) with the GIL released; any thread may call it. Raises OSError."""

@final
class OffsetSignal:
    """The applied offset of one projection: published by the thread that applies batches,
    waited for by threads (`wait`) and by event loops (through an eventfd of `add_waker`,
    written once an offset at or past the one given to `want` is applied, or once a write of
    `Commands.send` is done: acknowledged and applied, or refused by Kafka)."""

    def __init__(self) -> None: ...
    @property
    def applied(self) -> int: ...
    def advance(self, offset: int) -> None: ...
    def want(self, offset: int) -> None: ...
    def wake(self) -> None: ...
    def add_waker(self) -> int: ...
    def remove_waker(self, fd: int) -> None: ...
    def wait(self, offset: int, timeout: float) -> bool: ...
    def take_done(self) -> list[tuple[int, int | str]]:
        """The writes that are done, taken: (id, offset) or (id, why Kafka did not take it)."""
    @property
    def held(self) -> int:
        """Writes acknowledged by Kafka and waiting to be applied."""
    def forget(self, id: int) -> int | None:
        """Write `id` is no longer waited for; its offset if Kafka acknowledged it."""

@final
class Commands:
    """The shoppers' writes: two librdkafka producers (one sending at once, one lingering), each
    with a Rust thread serving its delivery reports without the GIL."""

    def __new__(
        cls,
        lone: dict[str, str],
        shared: dict[str, str],
        timeout: float,
        on_stats: Callable[[str], None] | None = None,
    ) -> Commands: ...
    def send(
        self,
        topic: str,
        value: bytes,
        signal: OffsetSignal,
        shared: bool,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> int:
        """Sends to partition 0 of `topic` with `headers` (a traced write's trace context); returns
        the write's id in `signal`. KafkaClientError if it could not be sent (closed, queue full
        for `timeout` seconds)."""
    def close(self, timeout: float) -> int:
        """Flushes both within `timeout` seconds; returns the writes still unacknowledged."""

class _Applies(Protocol):
    def apply(self, batch: list[tuple[int, bytes]]) -> list[tuple[int, str]]: ...

@final
class Feed:
    """Partition 0 of one topic consumed into a projection by librdkafka, without the GIL."""

    def __new__(
        cls, settings: dict[str, str], topic: str, signal: OffsetSignal, traced: bool = False
    ) -> Feed: ...
    def watermarks(self, timeout: float) -> tuple[int, int]: ...
    def cached_high(self) -> int: ...
    def assign(self, offset: int) -> None: ...
    def pump(
        self, model: Projection | _Applies, most: int, wait: float
    ) -> tuple[
        int, list[float], list[tuple[int, bytes, str]], list[str], list[tuple[int, str, str, float, float]]
    ]:
        """Consumes and applies for `wait` seconds: (events applied, seconds per batch, poison
        met as (offset, message, why), the consumer's errors, and, when traced, the messages
        applied that carry a trace context as (offset, traceparent, tracestate, start, end of
        their batch's apply in seconds since the epoch)). Returns early after poison."""

@disjoint_base
class Projection:
    """Any projection (Catalog, Checkout, Fulfilment): a model kept by applying its topic's events
    to two copies swapped atomically, so reads never wait."""

    def apply(self, batch: list[tuple[int, bytes]]) -> list[tuple[int, str]]:
        """Applies (offset, message) pairs in order, publishing them at once with the GIL released.
        Returns (offset, error) for each message that could not be decoded (its offset is applied,
        nothing else changes)."""
    def catch_up_to(self, end: int) -> None:
        """Until offset `end` is applied, applies each batch to one copy only and publishes none:
        the batch that reaches `end` publishes them all, and the second copy is cloned at the next
        batch. A load from nothing applies each event once, not to both copies; its readers see
        the projection empty until it is loaded. Ignored once anything is published."""
    @property
    def offset(self) -> int:
        """Last published offset of the projection's topic, -1 before the first."""
    def sizes(self) -> dict[str, int]:
        """Counts of what the model holds, by kind."""
    @property
    def snapshot_in_memory(self) -> bool:
        """True when the model is small enough for `save_snapshot`; else `write_snapshot` streams it."""
    def save_snapshot(self, topic: str, topic_id: str, cluster_id: str) -> SavedSnapshot:
        """The published state serialized into memory as `write_snapshot` would write it, with the
        GIL released. The state is held only while it is serialized (the batch after next waits
        for it), so the slow part, writing and syncing the file, can follow in another thread
        while batches are applied. Call it from the thread that applies batches."""
    def write_snapshot(self, path: str, topic: str, topic_id: str, cluster_id: str) -> int:
        """Writes the published state to `path` atomically (a temporary file beside it, fsync,
        rename), tagged with the topic's name, id and cluster id and a crc32c checksum, with the GIL
        released. Returns the offset it covers. Call it from the thread that applies batches."""
    def load_snapshot(self, path: str, topic: str, topic_id: str, cluster_id: str, end_offset: int) -> int:
        """Loads and publishes the snapshot at `path` if it is whole, of this format version, of this
        kind of projection and of this topic (name, id, cluster id), and covers no offset past
        `end_offset`. The second copy is cloned from it when the next batch is applied, so a start
        with nothing to replay is ready sooner. Returns the offset it covers; the caller applies
        the events after it. Raises SnapshotError (nothing changed) when the snapshot cannot be
        used, or when this projection applied events already; OSError when the file cannot be read."""

@final
class PageMark:
    """What a catalog page showed (its products, their count, its page number) at an offset."""

    @property
    def offset(self) -> int:
        """The catalog_internal offset the page was taken at."""

@final
class Catalog(Projection):
    """The catalog projection with wait-free reads (two copies swapped atomically)."""

    def __init__(self) -> None: ...
    @property
    def pim_offset(self) -> int:
        """Last applied pim_pub offset; the bridge resumes after it."""
    def __len__(self) -> int: ...
    def heap_bytes(self) -> tuple[int, int]:
        """(bytes of the indexes of both copies, bytes of the products they share): the capacity of
        the B+tree nodes and the products' allocations, without the allocator's overhead. Walks
        every node and product: O(n), for benchmarks and reports, not for every request."""
    def page(self, sort: str, prefix: str, page: int, per_page: int, protobuf: bool = False) -> bytes:
        """A page as JSON, or as protobuf shop.catalog.Page. Raises ValueError on a sort not in SORTS,
        per_page outside 1..MAX_PER_PAGE or a prefix longer than MAX_PREFIX; the page is clamped
        into range."""
    @overload
    def page_unless_shown(
        self, sort: str, prefix: str, page: int, per_page: int, protobuf: bool = False, shown: None = None
    ) -> tuple[PageMark, bytes]: ...
    @overload
    def page_unless_shown(
        self, sort: str, prefix: str, page: int, per_page: int, protobuf: bool, shown: PageMark
    ) -> tuple[PageMark, bytes | None]:
        """The page as `page` answers it and a mark of the products it shows. The body is None when
        `shown` marks a page that showed the very same products (same count and page number too):
        an answer cached with `shown` still holds. Raises as `page` does."""
    def product(
        self, id: str, protobuf: bool = False, popularity: tuple[int, int] | None = None
    ) -> bytes | None:
        """One enabled product as JSON or protobuf shop.catalog.ProductView, with its popularity
        (views, add-to-carts) when given; None when unknown."""

@final
class Translation:
    """A relay's translation; RelayWriter.send applies it to a batch without a Python call per
    message."""

    def __call__(self, message: bytes, offset: int) -> bytes:
        """The translated message. Raises ValueError on garbage."""

@final
class OnlyEvents:
    """A relay's translation for a topic of which it wants only some events: `translate` is
    called for a message holding one of the top-level fields `events` (a oneof's numbers), or one
    that is not well-formed protobuf (to refuse it); any other message is relayed as nothing,
    without a Python call when RelayWriter.send applies it to a batch."""

    def __new__(cls, events: list[int], translate: Callable[[bytes, int], bytes | None]) -> OnlyEvents: ...
    def __call__(self, message: bytes, offset: int) -> bytes | None:
        """`translate(message, offset)` if the message holds a wanted event or is malformed, else None."""

pim_publish: Translation
"""pim_internal message → pim_pub message carrying `offset`. Raises ValueError on garbage."""
catalog_bridge: Translation
"""pim_pub message → catalog_internal message carrying `offset`. Raises ValueError on garbage."""
fulfilment_publish: Translation
"""fulfilment_internal message → fulfilment_pub message carrying `offset`."""
cms_publish: Translation
"""cms_internal message → cms_pub message carrying `offset`."""
checkout_pim_bridge: Translation
"""pim_pub message → checkout_internal ProductChanged carrying `offset`."""
checkout_fulfilment_bridge: Translation
"""fulfilment_pub message → checkout_internal FulfilmentChanged carrying `offset`."""
fulfilment_checkout_bridge: Translation
"""checkout_pub message → fulfilment_internal OrderShipped carrying `offset`."""

@final
class RelayBatch:
    """What one RelayWriter.send did, and its writes' acknowledgements."""

    @property
    def translated(self) -> int:
        """Messages of the batch translated, from its start: the rest begins with the refused one."""
    @property
    def refused(self) -> str | None:
        """Why the message after the translated ones could not be translated (None: all were)."""
    @property
    def skipped(self) -> list[int]:
        """Source offsets translated to nothing (not relayed)."""
    @property
    def last_offset(self) -> int:
        """The target offset of the last acknowledged write (-1: none yet)."""
    @property
    def failure(self) -> str | None:
        """Why Kafka refused a write (None: it refused none so far)."""
    def wait(self, timeout: float) -> bool:
        """True once Kafka acknowledged every write, within `timeout` seconds."""

@final
class RelayWriter:
    """The relays' producer: a batch translated and sent in one call, its acknowledgements
    counted by a Rust thread without the GIL."""

    def __new__(cls, settings: dict[str, str], queue_timeout: float | None = None) -> RelayWriter: ...
    def send(
        self,
        topic: str,
        translate: Callable[[bytes, int], bytes | None],
        batch: list[tuple[int, bytes]],
        headers: dict[int, list[tuple[str, bytes]]] | None = None,
    ) -> RelayBatch:
        """Translates `batch` in order and sends each output to partition 0 of `topic` (with
        `headers[offset]`), up to the first message that cannot be translated. KafkaClientError
        if a write could not be sent."""
    def flush(self, timeout: float) -> int:
        """Waits up to `timeout` seconds for every write; returns those still unacknowledged."""
    def close(self, timeout: float) -> int:
        """Flushes within `timeout` seconds and stops; returns the writes still unacknowledged."""

def published_offset(message: bytes) -> int:
    """The internal offset a public message was published from. Raises ValueError on garbage."""

def valid_slug(slug: str) -> bool:
    """Whether `slug` can name a cms entry: lowercase letters, digits and inner hyphens, at most
    MAX_SLUG of them."""

def render_markdown(markdown: str) -> str:
    """The sanitized HTML of a Markdown text, as cms entries are rendered (pulldown-cmark, then
    ammonia: no script, event handler, style, SVG or URL scheme but http, https, mailto, tel)."""

@final
class Checkout(Projection):
    """The checkout projection: products, stock, carts and orders; decisions are taken in apply."""

    def __init__(self) -> None: ...
    @property
    def pim_offset(self) -> int: ...
    @property
    def fulfilment_offset(self) -> int: ...
    def cart(self, cart_id: str, protobuf: bool = False) -> bytes:
        """JSON {"version", "items", "total_price"} or protobuf shop.checkout.Cart.

        An unknown cart is empty at version 0."""
    def cart_answer(self, cart_id: str, protobuf: bool = False, written_at: int | None = None) -> CartView:
        """The cart as one published copy shows it; with `written_at`, also the fate of the
        CartItemSet applied at that offset (`CartView.refusal`)."""
    def item_refusal(self, cart_id: str, product_id: str, quantity: int) -> str | None:
        """Why setting this quantity would be refused now (named as in `cart_answer`), or None."""
    def cart_change(self, cart_id: str, shown_version: int) -> tuple[bool, int, bytes | None]:
        """(ordered, version, the JSON body unless the version is `shown_version` or the cart was
        ordered), all read from one published copy: for streams that follow a cart."""
    def cart_version(self, cart_id: str) -> int: ...
    def cart_ordered(self, cart_id: str) -> bool: ...
    def product_state(self, product_id: str) -> str | None:
        """ "enabled", "disabled", or None when unknown."""
    def order(self, order_id: str, cart_id: str, protobuf: bool = False) -> bytes | None:
        """An accepted order, only to a cart of the shopper who placed it."""
    def order_answer(self, order_id: str, cart_id: str, protobuf: bool = False) -> tuple[int, bytes | None]:
        """(offset, the order as `order` answers it), read from one published copy."""
    def decision_answer(self, order_id: str, cart_id: str, protobuf: bool = False) -> OrderDecision | None:
        """The decision on the order `order_id` placed for `cart_id`, as `outcome` and `order` answer
        it, read from one published copy; None if no such order was placed."""
    def outcome(self, order_id: str) -> tuple[str, list[str]] | None:
        """accepted | shipped | backordered | ordered | version | empty, or unavailable | stock with
        the product ids concerned; None if no such order was placed."""
    def stock(self, product_id: str) -> tuple[int, int, int]:
        """(on hand, reserved, available)."""
    def order_shopper(self, order_id: str) -> bytes | None:
        """The order's sealed shopper details (a serialized shoppers.Sealed, empty when none were
        given); None for an unknown order."""
    def shipped_at(self, order_id: str) -> int | None:
        """The fulfilment_pub offset of the shipment that decided the order's status (-1 while it
        is accepted); None for an unknown order."""
    def order_notice(self, order_id: str) -> tuple[str, bytes, bytes] | None:
        """(status, the order's JSON, its sealed shopper details); None for an unknown order."""
    def stock_levels(self, product_ids: list[str]) -> bytes:
        """JSON {"items": [{"product_id", "available"}]}: units for sale (0 if not for sale)."""
    def order_created(self, offset: int) -> bytes | None:
        """The checkout_pub message of the order accepted at `offset`, if one was."""
    def orders_published(self) -> OrdersPublished:
        """Checkout's publisher's translation."""

@final
class OrdersPublished:
    """Checkout's publisher's translation: a checkout_internal message's offset to the
    checkout_pub message of the order accepted there (`Checkout.order_created`), else None.
    RelayWriter.send applies it to a batch without a Python call per message."""

    def __call__(self, message: bytes, offset: int) -> bytes | None:
        """`order_created(offset)`; the message itself is not read."""

@final
class CartView:
    """A cart as one published copy shows it."""

    @property
    def refusal(self) -> str | None:
        """Why the CartItemSet asked about changed nothing: "quantity", "not-for-sale", "ordered",
        "not-in-cart", or "forgotten" when too many refusals came after it to tell; None when it
        changed the cart or none was asked about."""
    @property
    def version(self) -> int: ...
    @property
    def offset(self) -> int:
        """The offset of the copy read."""
    @property
    def body(self) -> bytes:
        """JSON {"version", "items", "total_price", "order_id" once ordered} or protobuf
        shop.checkout.Cart."""
    @property
    def order_id(self) -> str | None:
        """Once the cart was ordered: its order."""
    @property
    def next_cart_id(self) -> str | None:
        """Once the cart was ordered: the shopper's next cart."""

@final
class OrderDecision:
    """The decision on an OrderPlaced as one published copy shows it."""

    @property
    def offset(self) -> int:
        """The offset of the copy read."""
    @property
    def status(self) -> str:
        """accepted | shipped | backordered, or why it was refused: ordered | version | empty |
        unavailable | stock."""
    @property
    def products(self) -> list[str]:
        """The products a refusal concerns (unavailable, stock)."""
    @property
    def body(self) -> bytes | None:
        """The order as its shopper sees it; None unless accepted."""
    @property
    def order_id(self) -> str | None:
        """For a cart ordered already ("ordered"): that earlier order."""
    @property
    def next_cart_id(self) -> str | None:
        """For a cart ordered already ("ordered"): the shopper's next cart."""

@final
class Content(Projection):
    """The cms projection: entries with their HTML rendered once, when applied."""

    def __init__(self) -> None: ...
    def entry(self, slug: str, now_ms: int, catalog: Catalog) -> tuple[bytes, str] | None:
        """The entry `slug` as JSON with its ETag, if shown at `now_ms` (milliseconds since the
        epoch), its featured products those `catalog` sells now; None when unknown, unpublished
        or scheduled later."""
    def list(self, kind: str | None, now_ms: int, catalog: Catalog) -> tuple[bytes, str]:
        """The entries shown at `now_ms` of `kind` (any when None), by position then slug, as JSON
        `{"items": [...]}` with its ETag. Raises ValueError for an unknown kind."""

@final
class Search(Projection):
    """The search projection: a full-text index of the enabled products."""

    def __init__(self) -> None: ...
    @property
    def pim_offset(self) -> int:
        """Last applied pim_pub offset: the bridge resumes after it."""
    def __len__(self) -> int: ...
    def postings_bytes(self) -> int:
        """Bytes of the posting lists (words and word pairs) of one copy (serialized size)."""
    def search(
        self,
        q: str,
        category: str | None = None,
        price_min: int | None = None,
        price_max: int | None = None,
        sort: str = "relevance",
        page: int = 1,
        per_page: int = 24,
    ) -> bytes:
        """A page of results as JSON, with facets, highlights and the offset it was read at.
        Raises ValueError for a query search_query_problem refuses, a sort not in SEARCH_SORTS or
        a page size out of range."""
    def suggest(self, q: str) -> bytes:
        """Up to MAX_SUGGESTIONS completions of `q` as JSON, with the offset they were read at."""

def page_request(query: bytes) -> tuple[str, str, int, int]:
    """A catalog page's raw query string as the API reads it: (sort, prefix, page, per_page), the
    defaults (id, "", 1, 100) for those not given. Raises ValueError((name, reason)) for a
    parameter that is unknown, given twice or out of range, ValueError((None, reason)) for a query
    that is not percent-encoded UTF-8: the rules of shop.api.http.query_params, in one call."""

def search_query_problem(q: str) -> str | None:
    """Why `q` cannot be searched (too long, odd characters, operators, too many words); None if
    it can."""

@final
class Fulfilment(Projection):
    """The fulfilment projection: on-hand stock and shipped orders."""

    def __init__(self) -> None: ...
    @property
    def checkout_offset(self) -> int: ...
    def on_hand(self, product_id: str) -> int: ...
    def stock(self) -> dict[str, int]: ...
    def shipped(self, order_id: str) -> bool | None:
        """None if not shipped; else whether it shipped in full."""
