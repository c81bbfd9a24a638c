"""Sample product pictures made by the shop itself: no outside host, so a shop on its own machine or
behind a firewall shows pictures too. Each is a small SVG drawn from a seed, the same seed always
giving the same picture. Its URL names the seed and a hash of the picture's bytes, so it can be
cached for a year: a changed drawing gets another URL. Imports accept any image URL besides these.
"""

from __future__ import annotations

import functools
import hashlib
import re

from shop.api import http
from shop.api.http import Scope, Send
from shop.api.problems import Problem

PREFIX = "/images/sample/"
WIDTH, HEIGHT = 400, 200  # the drawing's own size; as a vector it is sharp at any size shown
IMMUTABLE = b"public, max-age=31536000, immutable"
SVG = b"image/svg+xml"
_NAME = re.compile(r"([0-9a-f]{16})-([0-9a-f]{12})\.svg")


@functools.lru_cache(maxsize=4096)
def picture(seed: str) -> bytes:
    """A picture for `seed` (16 hex digits): a gradient and three shapes whose colours and places
    follow from the seed's hash."""
    digest = hashlib.sha256(seed.encode()).digest()
    hue = digest[0] * 360 // 256
    shapes = []
    for i in range(3):
        x, y, size, turn = digest[1 + 4 * i : 5 + 4 * i]
        fill = f"hsl({(hue + 40 * (i + 1)) % 360} 60% {45 + 10 * i}%)"
        cx, cy, r = x * WIDTH // 256, y * HEIGHT // 256, 20 + size * 60 // 256
        if turn % 2:
            shapes.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{fill}" opacity=".85"/>')
        else:
            shapes.append(
                f'<rect x="{cx - r}" y="{cy - r}" width="{2 * r}" height="{2 * r}" rx="8" fill="{fill}" '
                f'opacity=".85" transform="rotate({turn * 90 // 256} {cx} {cy})"/>'
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}"><defs><linearGradient id="g" x2="1" y2="1"><stop offset="0" '
        f'stop-color="hsl({hue} 45% 88%)"/><stop offset="1" stop-color="hsl({(hue + 30) % 360} 50% 72%)"/>'
        f'</linearGradient></defs><rect width="{WIDTH}" height="{HEIGHT}" fill="url(#g)"/>'
        f"{''.join(shapes)}</svg>"
    ).encode()


def url(seed: str) -> str:
    """The picture's path: its seed and the first 12 hex digits of its bytes' SHA-256."""
    return f"{PREFIX}{seed}-{_hash(picture(seed))}.svg"


def _hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:12]


async def respond(scope: Scope, send: Send, name: str) -> None:
    """The picture a path names, if its hash is that of the picture drawn now; else 404."""
    match = _NAME.fullmatch(name)
    body = picture(match[1]) if match else b""
    if match is None or _hash(body) != match[2]:
        raise Problem(404, f"no picture at {scope['path']}")
    etag = f'"{match[2]}"'.encode()
    headers = [(b"cache-control", IMMUTABLE), (b"etag", etag)]
    if http.header(scope, b"if-none-match") == etag:
        await http.respond(send, 304, b"", SVG, headers)
        return
    await http.respond(send, 200, b"" if scope["method"] == "HEAD" else body, SVG, headers)
