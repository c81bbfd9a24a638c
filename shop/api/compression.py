"""Compression negotiated by Accept-Encoding: brotli, else gzip, else none. Bodies sent often are
compressed once and kept (the storefront's files at build, a cached catalog page or content entry
at its first request that accepts an encoding); an answer made for one request (an uncached page,
a product, a cart) is compressed at the fastest levels, and only when it is large enough to gain."""

from __future__ import annotations

import gzip
from functools import lru_cache

import brotli

from shop.api import http
from shop.api.http import Message, Scope

Answer = tuple[Message, Message]

BR = b"br"
GZIP = b"gzip"
PREFERRED = (BR, GZIP)
# Below this a compressed body saves less than a packet: sent as it is.
MIN_BYTES = 1024
VARY = (b"vary", b"accept-encoding")
# A 24-product page of sample data (18.5 KB of JSON): brotli 5 makes 5.2 KB in about 2 ms, gzip 6
# 5.4 KB in 0.5 ms, once per cached page (again only when the page's products changed).
BROTLI_QUALITY = 5
GZIP_LEVEL = 6
# An answer sent once: a page of 24 products (4.1 KB) takes 14 µs at brotli 1 (1.5 KB), a page of
# 100 (17 KB) 43 µs (5.2 KB), a few percent more bytes than the kept levels make.
FAST_BROTLI_QUALITY = 1
FAST_GZIP_LEVEL = 1


def accepted(scope: Scope) -> bytes | None:
    """The preferred encoding the client accepts (q > 0), or None."""
    return preferred(http.header(scope, b"accept-encoding"))


# Browsers send one of a few values with every request; parsing one took 1.3 µs, a third of a
# cached page's Python with a browser's headers. Bounded: a client inventing values only evicts
# the others.
@lru_cache(maxsize=64)
def preferred(header: bytes | None) -> bytes | None:
    """The preferred encoding an Accept-Encoding header's value accepts (q > 0), or None."""
    if not header:
        return None
    offered = set()
    for part in header.lower().split(b","):
        name, _, params = part.partition(b";")
        params = params.strip()
        if params.startswith(b"q=") and _zero(params[2:]):
            continue  # q=0: refused
        offered.add(name.strip())
    for encoding in PREFERRED:
        if encoding in offered:
            return encoding
    return None


def _zero(quality: bytes) -> bool:
    try:
        return float(quality) == 0
    except ValueError:
        return True  # a malformed weight: not an acceptance


def compress(body: bytes, encoding: bytes, fast: bool = False) -> bytes:
    if encoding == BR:
        return bytes(brotli.compress(body, quality=FAST_BROTLI_QUALITY if fast else BROTLI_QUALITY))
    return gzip.compress(body, FAST_GZIP_LEVEL if fast else GZIP_LEVEL, mtime=0)


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


def kept(answer: Answer, encoded_forms: dict[bytes, Answer], encoding: bytes | None) -> Answer:
    """An answer sent many times, for a client accepting `encoding`: compressed once per encoding,
    at the first request that accepts it, and kept in `encoded_forms`."""
    if encoding is None or len(answer[1]["body"]) < MIN_BYTES:
        return answer
    found = encoded_forms.get(encoding)
    if found is None:
        found = encoded_forms[encoding] = encoded(answer, encoding)
    return found
