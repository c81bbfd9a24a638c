"""Sample product pictures made by the shop itself: no outside host, so a shop on its own machine or
behind a firewall shows pictures too. Each is a small SVG drawn from a seed, the same seed always
giving the same picture. Its URL names the seed and a hash of the picture's bytes, so it can be
cached for a year: a changed drawing gets another URL. Imports accept any image URL besides these.

The same drawing is also served as WebP in the widths the storefront's pictures need (`WIDTHS`:
a cart line, a card and a product page, at one and two device pixels per CSS pixel), for its
`srcset`: `{seed}-{hash}-{width}w.webp` beside `{seed}-{hash}.svg`, the hash still the SVG's.
"""

from __future__ import annotations

import asyncio
import colorsys
import functools
import hashlib
import io
import re

from PIL import Image, ImageDraw

from shop.api import http
from shop.api.http import Scope, Send
from shop.api.problems import Problem

PREFIX = "/images/sample/"
WIDTH, HEIGHT = 400, 200  # the drawing's own size; as a vector it is sharp at any size shown
IMMUTABLE = b"public, max-age=31536000, immutable"
SVG = b"image/svg+xml"
WEBP = b"image/webp"
# Widths of the WebP renderings (height: half): the storefront's srcset lists them all. Shown at
# about 100 CSS px (a cart line), 150-230 (a card) and 320-500 (a product page), on screens of 1 to
# 3 device pixels per CSS pixel.
WIDTHS = (120, 240, 480, 960)
WEBP_QUALITY = 80
# libwebp's effort, 0-6: 2 makes files within a tenth of 6's in a third of the time, paid once
# per picture and width while the shop runs.
WEBP_METHOD = 2
# Shapes are drawn at this multiple of their size, then scaled down: smooth edges.
SUPERSAMPLE = 4
_NAME = re.compile(r"([0-9a-f]{16})-([0-9a-f]{12})(?:\.svg|-([0-9]+)w\.webp)")


def _shapes(seed: str) -> tuple[int, list[tuple[int, int, int, int, int]]]:
    """The drawing of `seed`: its hue, and three shapes (centre x and y, radius, turn, index) in
    the drawing's own units; an odd turn is a circle, an even one a square turned by it."""
    digest = hashlib.sha256(seed.encode()).digest()
    hue = digest[0] * 360 // 256
    shapes = []
    for i in range(3):
        x, y, size, turn = digest[1 + 4 * i : 5 + 4 * i]
        shapes.append((x * WIDTH // 256, y * HEIGHT // 256, 20 + size * 60 // 256, turn, i))
    return hue, shapes


@functools.lru_cache(maxsize=4096)
def picture(seed: str) -> bytes:
    """A picture for `seed` (16 hex digits): a gradient and three shapes whose colours and places
    follow from the seed's hash."""
    hue, drawn = _shapes(seed)
    shapes = []
    for cx, cy, r, turn, i in drawn:
        fill = f"hsl({(hue + 40 * (i + 1)) % 360} 60% {45 + 10 * i}%)"
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


def _rgb(hue: int, saturation: int, lightness: int, alpha: int = 255) -> tuple[int, int, int, int]:
    red, green, blue = colorsys.hls_to_rgb(hue / 360, lightness / 100, saturation / 100)
    return round(red * 255), round(green * 255), round(blue * 255), alpha


@functools.lru_cache(maxsize=len(WIDTHS))
def _diagonal(size: tuple[int, int]) -> Image.Image:
    """How far along the diagonal each pixel is (0-255), as the SVG's gradient goes corner to
    corner: the same for every picture of a size."""
    across = Image.linear_gradient("L").rotate(90).resize(size)
    down = Image.linear_gradient("L").resize(size)
    return Image.blend(across, down, 0.5)


@functools.lru_cache(maxsize=1024)
def raster(seed: str, width: int) -> bytes:
    """The picture of `seed` as WebP, `width` pixels wide: the SVG's drawing, the same colours and
    places. Each shape is drawn larger on a patch of its own, turned there and scaled down (smooth
    edges), then laid over the gradient: nothing the size of the picture is made at a larger size."""
    hue, shapes = _shapes(seed)
    scale = width / WIDTH
    size = (width, width * HEIGHT // WIDTH)
    start = Image.new("RGBA", size, _rgb(hue, 45, 88))
    end = Image.new("RGBA", size, _rgb((hue + 30) % 360, 50, 72))
    image = Image.composite(end, start, _diagonal(size))
    for cx, cy, r, turn, i in shapes:
        fill = _rgb((hue + 40 * (i + 1)) % 360, 60, 45 + 10 * i, round(0.85 * 255))
        side = 2 * round(1.5 * r * scale)  # room for the shape turned
        big, radius = side * SUPERSAMPLE, r * scale * SUPERSAMPLE
        patch = Image.new("RGBA", (big, big), (0, 0, 0, 0))
        box = (big / 2 - radius, big / 2 - radius, big / 2 + radius, big / 2 + radius)
        if turn % 2:
            ImageDraw.Draw(patch).ellipse(box, fill=fill)
        else:
            ImageDraw.Draw(patch).rounded_rectangle(box, radius=8 * scale * SUPERSAMPLE, fill=fill)
            patch = patch.rotate(-(turn * 90 // 256))  # nearest: scaling down smooths it
        patch = patch.resize((side, side), Image.Resampling.LANCZOS)
        left, top = round(cx * scale) - side // 2, round(cy * scale) - side // 2
        # alpha_composite takes no negative place: what lies outside the picture is cut first.
        image.alpha_composite(patch, (max(left, 0), max(top, 0)), (max(-left, 0), max(-top, 0)))
    out = io.BytesIO()
    image.convert("RGB").save(out, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    return out.getvalue()


def url(seed: str) -> str:
    """The picture's path: its seed and the first 12 hex digits of its bytes' SHA-256."""
    return f"{PREFIX}{seed}-{_hash(picture(seed))}.svg"


def _hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:12]


async def respond(scope: Scope, send: Send, name: str) -> None:
    """The picture a path names, if its hash is that of the picture drawn now (and its width one
    of `WIDTHS`); else 404."""
    match = _NAME.fullmatch(name)
    drawing = picture(match[1]) if match else b""
    width = int(match[3]) if match and match[3] else None
    if match is None or _hash(drawing) != match[2] or (width is not None and width not in WIDTHS):
        raise Problem(404, f"no picture at {scope['path']}")
    etag = f'"{match[2]}{"" if width is None else f"-{width}"}"'.encode()
    headers = [(b"cache-control", IMMUTABLE), (b"etag", etag)]
    kind = SVG if width is None else WEBP
    if http.header(scope, b"if-none-match") == etag:
        await http.respond(send, 304, b"", kind, headers)
        return
    if scope["method"] == "HEAD":
        body = b""
    else:
        # Drawn in a worker thread: the first request of a picture must not hold up the others.
        body = drawing if width is None else await asyncio.to_thread(raster, match[1], width)
    await http.respond(send, 200, body, kind, headers)
