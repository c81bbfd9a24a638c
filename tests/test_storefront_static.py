"""The storefront's files as the app serves them: views answer index.html, hashed assets are cached
for a year, content types are right, and a shop without the web build says so instead of failing."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from fixtures.host import REPO
from shop.api import images
from shop.api.app import App
from shop.api.http import Message
from shop.api.static import STATIC_DIR, Storefront
from shop.config import Config
from shop.contexts import pim_csv

INDEX = b"<!doctype html><title>Event Thingy Store</title><script src=/assets/app-1a2b3c.js></script>"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_bytes(INDEX)
    (tmp_path / "assets" / "app-1a2b3c.js").write_bytes(b"console.log(1)")
    (tmp_path / "assets" / "app-4d5e6f.css").write_bytes(b"body{}")
    (tmp_path / "favicon.svg").write_bytes(b"<svg/>")
    return tmp_path


class Answer:
    def __init__(self, messages: list[Message]) -> None:
        self.status: int = messages[0]["status"]
        self.headers = {k.decode(): v.decode() for k, v in messages[0]["headers"]}
        self.body: bytes = b"".join(m.get("body", b"") for m in messages[1:])


def get(app: App, path: str, method: str = "GET", **headers: str) -> Answer:
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(app(scope, receive, send))
    return Answer(messages)


def app_serving(root: Path) -> App:
    app = App(Config())
    app.storefront = Storefront(root)
    return app


@pytest.mark.parametrize("view", ["/", "/cart", "/search", "/products/abc-123", "/orders/0f3a"])
def test_every_view_answers_index_html_revalidated(site: Path, view: str) -> None:
    answer = get(app_serving(site), view)
    assert answer.status == 200
    assert answer.body == INDEX
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["cache-control"] == "no-cache"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_hashed_assets_are_cached_for_a_year_with_their_type(site: Path) -> None:
    app = app_serving(site)
    script = get(app, "/assets/app-1a2b3c.js")
    assert (script.status, script.body) == (200, b"console.log(1)")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert get(app, "/assets/app-4d5e6f.css").headers["content-type"] == "text/css; charset=utf-8"
    icon = get(app, "/favicon.svg")
    assert (icon.headers["content-type"], icon.headers["cache-control"]) == ("image/svg+xml", "no-cache")


def test_an_unchanged_file_answers_304(site: Path) -> None:
    app = app_serving(site)
    etag = get(app, "/").headers["etag"]
    again = get(app, "/cart", **{"if-none-match": etag})
    assert (again.status, again.body) == (304, b"")


def test_head_answers_headers_only(site: Path) -> None:
    answer = get(app_serving(site), "/", "HEAD")
    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers["content-length"] == str(len(INDEX))


def test_a_missing_asset_is_a_404_never_the_page(site: Path) -> None:
    answer = get(app_serving(site), "/assets/app-000000.js")
    assert answer.status == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_writes_to_the_storefront_are_refused(site: Path) -> None:
    answer = get(app_serving(site), "/cart", "POST")
    assert (answer.status, answer.headers["allow"]) == (405, "GET, HEAD")


def test_unknown_paths_stay_the_apis_404(site: Path) -> None:
    for path in ("/nothing/here", "/api/v1/nothing"):
        answer = get(app_serving(site), path)
        assert answer.status == 404
        assert answer.headers["content-type"] == "application/problem+json"


def test_a_browser_gets_the_apps_not_found_page_with_a_404(site: Path) -> None:
    """A page asked for by a browser (Accept: text/html) outside the API: the app, which says "page not
    found" in words; under /api/ a browser still gets the problem."""
    html = "text/html,application/xhtml+xml,*/*;q=0.8"
    answer = get(app_serving(site), "/nothing/here", accept=html)
    assert (answer.status, answer.headers["content-type"], answer.body) == (
        404,
        "text/html; charset=utf-8",
        INDEX,
    )
    assert answer.headers["cache-control"] == "no-cache"
    assert (
        get(app_serving(site), "/api/v1/nothing", accept=html).headers["content-type"]
        == "application/problem+json"
    )
    assert get(app_serving(site), "/nothing/here", "POST", accept=html).status == 404


def test_without_the_web_build_the_page_says_how_to_build_it(tmp_path: Path) -> None:
    answer = get(app_serving(tmp_path / "absent"), "/")
    assert answer.status == 404
    assert "make build" in json.loads(answer.body)["detail"]


def test_the_package_carries_the_built_storefront() -> None:
    """`make build` fills shop/static from web/; the wheel includes that folder."""
    index = (STATIC_DIR / "index.html").read_text()
    assert "<title>Event Thingy Store</title>" in index
    assert list((STATIC_DIR / "assets").glob("*.js"))


def test_sample_pictures_are_drawn_alike_and_cached_for_a_year_by_their_hash(site: Path) -> None:
    path = images.url("0123456789abcdef")
    assert images.url("0123456789abcdef") == path  # the same seed, the same picture
    assert images.url("fedcba9876543210") != path
    answer = get(app_serving(site), path)
    assert (answer.status, answer.headers["content-type"]) == (200, "image/svg+xml")
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.body.startswith(b"<svg ") and len(answer.body) < 1024
    assert get(app_serving(site), path, **{"if-none-match": answer.headers["etag"]}).status == 304
    for wrong in (path.replace(".svg", "0.svg"), path[:-8] + "0000.svg", images.PREFIX + "x.svg"):
        assert get(app_serving(site), wrong).status == 404, wrong


def test_sample_pictures_come_as_webp_in_each_width_the_storefront_lists(site: Path) -> None:
    svg = images.url("0123456789abcdef")
    # The storefront's srcset names these widths (web/src/dom.ts).
    listed = re.search(r"PICTURE_WIDTHS = \[([0-9, ]+)\]", (REPO / "web/src/dom.ts").read_text())
    assert listed is not None and tuple(int(w) for w in listed[1].split(",")) == images.WIDTHS
    etags = set()
    for width in images.WIDTHS:
        path = svg.replace(".svg", f"-{width}w.webp")
        answer = get(app_serving(site), path)
        assert (answer.status, answer.headers["content-type"]) == (200, "image/webp")
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        with Image.open(io.BytesIO(answer.body)) as picture:
            assert (picture.format, picture.size) == ("WEBP", (width, width // 2))
        assert answer.body == get(app_serving(site), path).body  # drawn alike every time
        assert get(app_serving(site), path, **{"if-none-match": answer.headers["etag"]}).status == 304
        etags.add(answer.headers["etag"])
    assert len(etags) == len(images.WIDTHS)
    for wrong in (
        svg.replace(".svg", "-300w.webp"),
        svg.replace(".svg", "-200w.png"),
        svg[:-8] + "0000-200w.webp",
    ):
        assert get(app_serving(site), wrong).status == 404, wrong


def test_sample_products_name_the_shops_own_pictures() -> None:
    out = io.StringIO()
    pim_csv.fake_products(3, 1, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert all(row["small_image_url"].startswith(images.PREFIX) for row in rows)
    assert len({row["small_image_url"] for row in rows}) == 3


def test_files_compressed_at_build_are_sent_to_who_accepts_them(site: Path) -> None:
    script = site / "assets" / "app-1a2b3c.js"
    (site / "assets" / "app-1a2b3c.js.br").write_bytes(b"brotli bytes")
    (site / "assets" / "app-1a2b3c.js.gz").write_bytes(b"gzip bytes")
    app = app_serving(site)
    plain = get(app, "/assets/app-1a2b3c.js")
    assert (plain.body, plain.headers["vary"]) == (script.read_bytes(), "accept-encoding")
    assert "content-encoding" not in plain.headers
    br = get(app, "/assets/app-1a2b3c.js", **{"accept-encoding": "gzip, br"})
    assert (br.body, br.headers["content-encoding"], br.headers["content-length"]) == (
        b"brotli bytes",
        "br",
        "12",
    )
    assert br.headers["etag"] != plain.headers["etag"]
    # Chrome and Firefox accept zstd first; no form of it is built, so they get brotli's.
    chrome = get(app, "/assets/app-1a2b3c.js", **{"accept-encoding": "gzip, deflate, br, zstd"})
    assert (chrome.body, chrome.headers["content-encoding"]) == (b"brotli bytes", "br")
    gz = get(app, "/assets/app-1a2b3c.js", **{"accept-encoding": "gzip"})
    assert (gz.body, gz.headers["content-encoding"]) == (b"gzip bytes", "gzip")
    assert get(app, "/assets/app-1a2b3c.js.br").status == 404  # the forms are no files of their own


def test_the_built_storefront_carries_compressed_forms() -> None:
    scripts = list((STATIC_DIR / "assets").glob("*.js"))
    assert all(Path(f"{s}.br").stat().st_size < s.stat().st_size for s in scripts)
    assert all(Path(f"{s}.gz").is_file() for s in scripts)
