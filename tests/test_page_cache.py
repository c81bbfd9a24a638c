"""The page cache is bounded in entries and in bytes: queries a client invents (pages past the
end, each clamped to a copy of the last page) cannot grow the process without bound."""

from __future__ import annotations

from shop import _core
from shop.api import http
from shop.api.app import CachedPage as Page
from shop.api.app import PageCache, _page_request


def cached(catalog: _core.Catalog, query: bytes) -> Page:
    request = _page_request({"query_string": query})
    mark, body = catalog.page_unless_shown(*request, False)
    return Page(request, False, mark, http.response(200, body, http.JSON, []), len(body))


def test_distinct_pages_past_the_end_stay_within_the_byte_bound() -> None:
    catalog = _core.Catalog()
    pages = PageCache(most=4096, most_bytes=10_000)
    for page in range(2, 2000):  # every one clamped to page 1, the same bytes each time
        entry = cached(catalog, f"page={page}&per_page=1000".encode())
        pages.put((f"page={page}".encode(), False), entry)
        assert pages.bytes <= pages.most_bytes
    assert len(pages) == pages.bytes // entry.size


def test_the_entry_bound_and_replacing_a_key_keep_the_byte_count_right() -> None:
    catalog = _core.Catalog()
    pages = PageCache(most=3, most_bytes=1 << 20)
    entries = [cached(catalog, f"page={n}".encode()) for n in range(1, 5)]
    for n, entry in enumerate(entries[:3]):
        pages.put((str(n).encode(), False), entry)
    pages.put((b"0", False), entries[3])  # full: starts over, then holds the new one
    assert (len(pages), pages.bytes) == (1, entries[3].size)
    pages.put((b"0", False), entries[0])  # the same key again: counted once
    assert (len(pages), pages.bytes) == (1, entries[0].size)
    pages.resize(entries[0], entries[0].size + 10)
    assert pages.bytes == entries[0].size


def test_a_page_is_admitted_on_its_second_request_among_the_last_queries() -> None:
    pages = PageCache(most=3, most_bytes=1 << 20)
    assert [pages.admits((b"a", False)), pages.admits((b"a", False))] == [False, True]
    assert not pages.admits((b"a", True))  # the protobuf answer is another page
    for other in (b"b", b"c", b"d"):  # more queries than it remembers: it starts over
        pages.admits((other, False))
    assert not pages.admits((b"a", False))
