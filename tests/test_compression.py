"""Compression negotiated by Accept-Encoding: zstd before brotli before gzip (the storefront's built
files: brotli before gzip), q=0 refuses, small bodies stay as they are, and a cached page is
compressed fast for the requests that accept an encoding, then once more at the kept level when it
proved hot."""

from __future__ import annotations

import gzip
import json

import brotli
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from fixtures.reference import product_changed
from shop import _core
from shop.api import compression, http
from shop.api.app import CachedPage
from shop.api.app import _catalog_answer as page_answer
from shop.api.static import BUILT


def scope(accept_encoding: str | None) -> http.Scope:
    headers = [] if accept_encoding is None else [(b"accept-encoding", accept_encoding.encode())]
    return {"headers": headers}


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("gzip, deflate, br, zstd", b"zstd"),
        ("gzip, deflate, br", b"br"),
        ("zstd;q=0, br, gzip", b"br"),
        ("gzip", b"gzip"),
        ("br;q=0, gzip;q=0.5", b"gzip"),
        ("GZIP", b"gzip"),
        ("identity", None),
        ("gzip;q=0", None),
        ("gzip;q=nonsense", None),
        ("", None),
        (None, None),
    ],
)
def test_the_preferred_accepted_encoding(header: str | None, chosen: bytes | None) -> None:
    assert compression.accepted(scope(header)) == chosen


@pytest.mark.parametrize(
    ("header", "chosen"),
    [("gzip, deflate, br, zstd", b"br"), ("zstd, gzip", b"gzip"), ("zstd", None)],
)
def test_the_storefront_files_come_in_the_encodings_built(header: str, chosen: bytes | None) -> None:
    assert compression.accepted(scope(header), BUILT) == chosen


def decompress(encoding: bytes, body: bytes) -> bytes:
    if encoding == b"zstd":
        return zstandard.ZstdDecompressor().decompress(body)
    return bytes(brotli.decompress(body)) if encoding == b"br" else gzip.decompress(body)


HEADER_NAMES = st.sampled_from([b"accept", b"accept-encoding", b"host", b"origin"])
HEADER_VALUES = st.sampled_from([b"application/x-protobuf", b"application/json", b"br", b"gzip;q=0", b""])


@given(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=6))
def test_one_pass_over_the_headers_reads_what_each_read_alone_does(headers: http.Headers) -> None:
    scope: http.Scope = {"headers": headers}
    protobuf, encoding = http.negotiation(scope)
    assert protobuf == (http.PROTOBUF in (http.header(scope, b"accept") or b""))
    assert http.wants_protobuf(scope) == protobuf
    assert encoding == http.header(scope, b"accept-encoding")
    assert compression.preferred(encoding) == compression.accepted(scope)


@pytest.mark.parametrize("encoding", [b"zstd", b"br", b"gzip"])
def test_a_cached_page_is_compressed_fast_then_at_the_kept_level_once_hot(encoding: bytes) -> None:
    catalog = _core.Catalog()
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()
    catalog.apply(
        [
            product_changed(
                n, n, id=f"p{n}", name=f"{words[n % 12]} {n}", price=n, description=" ".join(words)
            )
            for n in range(30)
        ]
    )
    request = ("name", "", 1, 24)
    mark, body = catalog.page_unless_shown(*request, False)
    page = CachedPage(request, False, mark, page_answer(body, False, []), len(body))
    assert page.answer_for(None) is page.answer
    start, fast = page.answer_for(encoding)
    for _ in range(compression.HOT_SENDS - 1):
        assert page.answer_for(encoding)[1] is fast  # made once, then the same bytes
    start, kept = page.answer_for(encoding)  # the last fast send is over: proved hot
    assert page.answer_for(encoding)[1] is kept
    assert kept is not fast and len(kept["body"]) <= len(fast["body"])
    assert decompress(encoding, fast["body"]) == decompress(encoding, kept["body"]) == body
    headers = dict(start["headers"])
    assert (headers[b"content-encoding"], headers[b"vary"]) == (encoding, b"accept-encoding")
    assert int(headers[b"content-length"]) == len(kept["body"]) < len(body) // 3
    assert json.loads(decompress(encoding, kept["body"])) == json.loads(body)


def test_small_answers_are_sent_as_they_are() -> None:
    catalog = _core.Catalog()
    mark, body = catalog.page_unless_shown("id", "", 1, 10, False)
    page = CachedPage(("id", "", 1, 10), False, mark, page_answer(body, False, []), len(body))
    assert len(body) < compression.MIN_BYTES
    assert page.answer_for(b"br") is page.answer


@pytest.mark.parametrize("encoding", [b"zstd", b"br", b"gzip"])
def test_an_answer_sent_once_is_compressed_fast_when_accepted(encoding: bytes) -> None:
    body = json.dumps({"items": [{"name": f"lorem ipsum {n}"} for n in range(200)]}).encode()
    answer = page_answer(body, False, [])
    assert compression.sent_once(answer, None) is answer
    assert compression.sent_once(page_answer(b"{}", False, []), encoding)[1]["body"] == b"{}"
    start, sent = compression.sent_once(answer, encoding)
    headers = dict(start["headers"])
    assert (headers[b"content-encoding"], int(headers[b"content-length"])) == (encoding, len(sent["body"]))
    assert decompress(encoding, sent["body"]) == body and len(sent["body"]) < len(body) // 3


def test_a_kept_answer_keeps_its_compressed_forms_and_their_etags_are_weak() -> None:
    body = json.dumps({"html": "<p>lorem ipsum dolor</p>" * 100}).encode()
    answer = http.response(200, body, http.JSON, [(b"etag", b'"v1"'), compression.VARY])
    forms: compression.KeptForms = {}
    assert compression.kept(answer, forms, None) is answer
    start, sent = compression.kept(answer, forms, b"gzip")
    assert compression.kept(answer, forms, b"gzip")[1] is sent
    headers = dict(start["headers"])
    assert (headers[b"etag"], headers[b"content-encoding"]) == (b'W/"v1"', b"gzip")
    assert gzip.decompress(sent["body"]) == body
    for _ in range(compression.HOT_SENDS):
        start, sent = compression.kept(answer, forms, b"gzip")
    assert dict(start["headers"])[b"etag"] == b'W/"v1"' and gzip.decompress(sent["body"]) == body
    assert dict(answer[0]["headers"])[b"etag"] == b'"v1"'  # the plain answer keeps its strong tag
    small = http.response(200, b'{"items":[]}', http.JSON, [(b"etag", b'"v2"')])
    assert compression.kept(small, {}, b"br") is small


def test_an_answer_for_one_request_is_compressed_only_when_large_and_accepted() -> None:
    large = http.response(200, b"[" + b'"lorem ipsum",' * 200 + b"0]")
    small = http.response(200, b'{"lines":[]}')
    assert compression.sent_once_to(scope("gzip, br"), small) is small
    assert compression.sent_once_to(scope(None), large) is large
    start, sent = compression.sent_once_to(scope("gzip"), large)
    assert dict(start["headers"])[b"content-encoding"] == b"gzip"
    assert gzip.decompress(sent["body"]) == large[1]["body"]
