"""The storefront: the built web app (web/ → shop/static/) served from the package folder.

Hashed assets under /assets/ never change under their name, so browsers may keep them for a year;
index.html names the current assets, so it is revalidated on every load (its ETag makes that cheap).
The app's own routes (/, /cart, /search, /products/…, /orders/…) all answer index.html: the app routes in the
browser, so a shared link or a reload of any view works. Everything else stays the API's 404.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from shop.api import compression, http
from shop.api.http import Scope, Send
from shop.api.problems import Problem

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ASSETS = "/assets/"
API = "/api/"
# Views of the single-page app; each is a URL a shopper may bookmark or share.
APP_ROUTES = ("/cart", "/search")
APP_ROUTE_PREFIXES = ("/products/", "/orders/", "/pages/")
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"no-cache"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".woff2": "font/woff2",
}
# The app loads its own scripts and styles only; product images may come from anywhere, and the API
# base may be another origin (VITE_API_BASE), so connections are allowed over http(s) and ws(s).
CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src * data:; "
    b"connect-src 'self' http: https: ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
NOT_BUILT = (
    "the storefront is not part of this installation: shop/static/ has no index.html. "
    "Build it with `make build` (web/ → shop/static/), or use the API under /api/v1/"
)


# Compressed forms beside a built file (web/scripts/compress.mjs), by the encoding they hold.
SUFFIXES = {".br": compression.BR, ".gz": compression.GZIP}
BUILT = tuple(SUFFIXES.values())


@dataclass(frozen=True)
class File:
    body: bytes
    content_type: bytes
    cache_control: bytes
    etag: bytes
    # The body compressed at build, by encoding.
    encoded: dict[bytes, bytes] = field(default_factory=dict)


class Storefront:
    """The files of the built app, read once at start (a few hundred KiB at most)."""

    def __init__(self, root: Path = STATIC_DIR) -> None:
        self.root = root
        self.files = _load(root)
        self.index = self.files.get("/index.html")

    @staticmethod
    def serves(path: str) -> bool:
        """True for the paths the storefront answers (its views and its files), built or not."""
        return _is_view(path) or path.startswith(ASSETS) or _is_top_level_file(path)

    def shows_not_found(self, scope: Scope) -> bool:
        """Whether a path nothing answers gets the app's own "page not found" (a browser asking for
        a page outside the API) rather than the API's problem JSON."""
        accept = http.header(scope, b"accept") or b""
        return (
            self.index is not None
            and scope["method"] in ("GET", "HEAD")
            and not scope["path"].startswith(API)
            and b"text/html" in accept
        )

    async def respond_not_found(self, scope: Scope, send: Send) -> None:
        """index.html with status 404: the app routes the unknown path to its not-found view."""
        assert self.index is not None
        await self._send(scope, send, 404, self.index, check_etag=False)

    async def respond(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            raise Problem(405, f"{scope['method']} is not allowed here", headers=[(b"allow", b"GET, HEAD")])
        await self._send(scope, send, 200, self._file(scope["path"]))

    async def _send(self, scope: Scope, send: Send, status: int, file: File, check_etag: bool = True) -> None:
        encoding = compression.accepted(scope, BUILT)
        encoded = [] if encoding not in file.encoded else [(b"content-encoding", encoding)]
        body, etag = file.body, file.etag
        if encoded:
            # Each form has its own ETag: a cache never takes one encoding's bytes for another's.
            body, etag = file.encoded[encoded[0][1]], file.etag[:-1] + b"-" + encoded[0][1] + b'"'
        headers = [
            (b"content-type", file.content_type),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", file.cache_control),
            (b"etag", etag),
            compression.VARY,
            *encoded,
            *http.SECURITY_HEADERS,
        ]
        if file is self.index:
            headers.append((b"content-security-policy", CSP))
        if check_etag and http.header(scope, b"if-none-match") == etag:
            await send({"type": "http.response.start", "status": 304, "headers": headers[2:]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    def _file(self, path: str) -> File:
        if self.index is None:
            raise Problem(404, NOT_BUILT)
        if _is_view(path):
            return self.index
        file = self.files.get(path)
        if file is None:
            # Never index.html for a missing file: a page would load HTML as its script.
            raise Problem(404, f"no file at {path}")
        return file


def _is_view(path: str) -> bool:
    return path == "/" or path in APP_ROUTES or path.startswith(APP_ROUTE_PREFIXES)


def _is_top_level_file(path: str) -> bool:
    """/favicon.svg, /robots.txt: one segment with a dot (the app's views have none)."""
    return path.count("/") == 1 and "." in path


def _load(root: Path) -> dict[str, File]:
    if not root.is_dir():
        return {}
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix not in SUFFIXES:
            url = "/" + path.relative_to(root).as_posix()
            files[url] = _file(path, url)
            for suffix, encoding in SUFFIXES.items():
                compressed = path.with_name(path.name + suffix)
                if compressed.is_file():
                    files[url].encoded[encoding] = compressed.read_bytes()
    return files


def _file(path: Path, url: str) -> File:
    body = path.read_bytes()
    content_type = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return File(
        body=body,
        content_type=(content_type or "application/octet-stream").encode(),
        cache_control=IMMUTABLE if url.startswith(ASSETS) else REVALIDATE,
        etag=etag.encode(),
    )
