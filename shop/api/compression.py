"""Compression negotiated by Accept-Encoding: zstd, else brotli, else gzip, else none. An answer
made for one request (an uncached page, a product, a cart) is compressed at the fastest levels,
and only when it is large enough to gain. Answers sent often (a cached catalog page or content
entry) are kept compressed: at the fastest level first, and at a better one once they proved hot.
The storefront's files are compressed at build (brotli and gzip)."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from functools import lru_cache

import brotli
import zstandard

from shop.api import http
from shop.api.http import Message, Scope

Answer = tuple[Message, Message]

ZSTD = b"zstd"
BR = b"br"
GZIP = b"gzip"
# zstd first: at its fastest level it compresses a listing page in about half the time brotli's
# takes, into a few percent fewer bytes (bench/results/compression-2026-12-06.md). Chrome, Edge
# and Firefox accept it; Safari accepts brotli.
PREFERRED = (ZSTD, BR, GZIP)
# Below this a compressed body saves less than a packet: sent as it is.
MIN_BYTES = 1024
VARY = (b"vary", b"accept-encoding")
# Levels by encoding: (fast, kept). Fast for an answer sent once or not yet proved hot: a page of
# 100 products (18 KB) takes 35 µs at zstd 1 (5.5 KB), 61 µs at brotli 1 (5.7 KB), 104 µs at
# gzip 1. Kept for an answer proved hot: brotli 5 makes 5.1 KB in 330 µs, zstd 6 5.3 KB in 160.
LEVELS = {ZSTD: (1, 6), BR: (1, 5), GZIP: (1, 6)}
# Sends of a kept answer at the fast level before it is compressed at the kept one: most pages
# the cache admits are asked for a few times only, and the kept level costs four to six times
# the fast one for 4-11% fewer bytes.
HOT_SENDS = 16


def accepted(scope: Scope, offered: tuple[bytes, ...] = PREFERRED) -> bytes | None:
    """The first encoding of `offered` the client accepts (q > 0), or None."""
    return preferred(http.header(scope, b"accept-encoding"), offered)


# Browsers send one of a few values with every request; parsing one took 1.3 µs, a third of a
# cached page's Python with a browser's headers. Bounded: a client inventing values only evicts
# the others.
@lru_cache(maxsize=64)
def preferred(header: bytes | None, offered: tuple[bytes, ...] = PREFERRED) -> bytes | None:
    """The first encoding of `offered` an Accept-Encoding header's value accepts (q > 0), or None."""
    if not header:
        return None
    acceptable = set()
    for part in header.lower().split(b","):
        name, _, params = part.partition(b";")
        params = params.strip()
        if params.startswith(b"q=") and _zero(params[2:]):
            continue  # q=0: refused
        acceptable.add(name.strip())
    for encoding in offered:
        if encoding in acceptable:
            return encoding
    return None


def _zero(quality: bytes) -> bool:
    try:
        return float(quality) == 0
    except ValueError:
        return True  # a malformed weight: not an acceptance


def compress(body: bytes, encoding: bytes, fast: bool = False) -> bytes:
    level = LEVELS[encoding][0 if fast else 1]
    if encoding == ZSTD:
        return _zstd(level).compress(body)
    if encoding == BR:
        return bytes(brotli.compress(body, quality=level))
    return gzip.compress(body, level, mtime=0)


_compressors = threading.local()


def _zstd(level: int) -> zstandard.ZstdCompressor:
    """A compressor at `level` for this thread: one is not to be shared between threads, and
    making one per answer cost more than compressing a page."""
    made: dict[int, zstandard.ZstdCompressor] = _compressors.__dict__.setdefault("zstd", {})
    compressor = made.get(level)
    if compressor is None:
        compressor = made[level] = zstandard.ZstdCompressor(level=level)
    return compressor


def encoded(answer: Answer, encoding: bytes, fast: bool = False) -> Answer:
    """The answer with its body compressed (`fast`: at the fastest level), its length and
    Content-Encoding set. An ETag becomes weak: the bytes differ from the uncompressed answer's,
    and If-None-Match compares weakly (shop.api.inputs.none_match)."""
    start, body = answer
    compressed = compress(body["body"], encoding, fast)
    headers = [(k, _weak(v) if k == b"etag" else v) for k, v in start["headers"] if k != b"content-length"]
    headers += [(b"content-length", str(len(compressed)).encode()), (b"content-encoding", encoding)]
    return {**start, "headers": headers}, {**body, "body": compressed}


def _weak(etag: bytes) -> bytes:
    return etag if etag.startswith(b"W/") else b"W/" + etag


def sent_once(answer: Answer, encoding: bytes | None) -> Answer:
    """An answer that is not kept, compressed fast when the client accepts it and it is worth it."""
    if encoding is None or len(answer[1]["body"]) < MIN_BYTES:
        return answer
    return encoded(answer, encoding, fast=True)


def sent_once_to(scope: Scope, answer: Answer) -> Answer:
    """`sent_once` for this request's client; a small answer does not even read its headers."""
    if len(answer[1]["body"]) < MIN_BYTES:
        return answer
    return sent_once(answer, accepted(scope))


@dataclass(slots=True)
class KeptForm:
    """A kept answer compressed in one encoding, and how many more requests for it prove it hot:
    the one that brings the count to 0 gets it at the kept level, as every one after does."""

    answer: Answer
    sends_to_hot: int = HOT_SENDS


KeptForms = dict[bytes, KeptForm]


def kept(answer: Answer, forms: KeptForms, encoding: bytes | None) -> Answer:
    """An answer sent many times, for a client accepting `encoding`: compressed at the first request
    that accepts it (fast), again once it was sent HOT_SENDS times so (at the kept level), and
    kept in `forms` in between and after."""
    if encoding is None or len(answer[1]["body"]) < MIN_BYTES:
        return answer
    form = forms.get(encoding)
    if form is None:
        form = forms[encoding] = KeptForm(encoded(answer, encoding, fast=True))
    elif form.sends_to_hot:
        form.sends_to_hot -= 1
        if not form.sends_to_hot:
            form.answer = encoded(answer, encoding)
    return form.answer
