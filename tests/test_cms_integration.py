"""cms end to end on a real broker: a folder imported (then again: nothing; then a change: exactly
the change), served by a shop (ETag, 304, teasers without disabled products, 400s and 404s),
reverted, a scheduled entry appearing by itself, a poison event skipped, a restart from the
snapshot."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.server import ShopProcess
from shop.config import Config
from shop.contexts import cms, cms_files, pim_csv
from shop.kafka import admin
from shop.kafka.producer import Producer
from tests.support.catalog import import_catalog
from tests.support.polling import eventually


def page(slug: str, body: str, kind: str = "page", **front: object) -> str:
    lines = [f"slug: {slug}", f"title: Title of {slug}", f"kind: {kind}", "published: true"]
    lines += [f"{key}: {value}" for key, value in front.items()]
    return "---\n" + "\n".join(lines) + "\n---\n" + body + "\n"


def end(config: Config) -> int:
    return admin.end_offset(config, config.topic(cms.INTERNAL))


@pytest.fixture
def shop(config: Config, tmp_path: Path) -> Iterator[ShopProcess]:
    process = ShopProcess(config, tmp_path / "shop.log")
    yield process
    process.stop()


def test_import_serve_revert_and_schedule(config: Config, shop: ShopProcess, tmp_path: Path) -> None:
    products = import_catalog(config, 3, {0: 5})
    folder = tmp_path / "content"
    folder.mkdir()
    import_twice(config, folder, products)
    # A poison event in the topic is skipped (and kept as a dead letter); the rest is served.
    producer = Producer(config)
    producer.produce(config.topic(cms.INTERNAL), b"\xff garbage").result(timeout=30)
    producer.close()
    shop.start()
    ready = shop.get("/readyz").json()
    assert ready["checks"]["cms"] is True
    assert ready["dead_letters"]["projection-" + cms.INTERNAL]["last_offset"] == 4
    check_answers(config, shop, products)
    change_and_schedule(config, shop, folder)
    revert(config, shop)
    # A restart (from the snapshot written at the stop) serves the same entries.
    bodies = {path: shop.get(path).content for path in ("/api/v1/content", "/api/v1/content/returns")}
    shop.stop()
    shop.start()
    for path, body in bodies.items():
        assert httpx.get(shop.url + path, timeout=10).content == body
    assert f"loaded the snapshot of {config.topic(cms.INTERNAL)}" in shop.log_tail(200)


def import_twice(config: Config, folder: Path, products: list[str]) -> None:
    files = {
        "shipping.md": page(
            "shipping", "We ship **fast**.\n\n<script>alert(1)</script><img src=x onerror=alert(1)>"
        ),
        "returns.md": page("returns", "30 days.", position=2),
        "imprint.md": page("imprint", "Us.", position=1),
        "deals.md": page("deals", "Cheap.", kind="teaser", products=f"[{', '.join(products)}, unknown-id]"),
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    first = cms_files.import_content(config, folder)
    assert (first.new, first.changed, first.unchanged, first.removed) == (4, 0, 0, 0)
    assert end(config) == 4
    again = cms_files.import_content(config, folder)
    assert (again.new, again.changed, again.unchanged, again.removed) == (0, 0, 4, 0)
    assert end(config) == 4


def check_answers(config: Config, shop: ShopProcess, products: list[str]) -> None:
    answer = shop.get("/api/v1/content/shipping")
    assert answer.status_code == 200
    entry = answer.json()
    assert (entry["slug"], entry["kind"], entry["version"], entry["products"]) == ("shipping", "page", 1, [])
    assert "<strong>fast</strong>" in entry["html"] and "<script" not in entry["html"]
    assert "onerror" not in entry["html"]
    assert answer.headers["shop-offset"] == "4"
    etag = answer.headers["etag"]
    assert shop.get("/api/v1/content/shipping", headers={"if-none-match": etag}).status_code == 304
    assert shop.get("/api/v1/content/shipping", headers={"if-none-match": '"0"'}).status_code == 200
    listed = shop.get("/api/v1/content?kind=page").json()["items"]
    assert [e["slug"] for e in listed] == ["shipping", "imprint", "returns"]  # by position, then slug
    teaser = shop.get("/api/v1/content/deals").json()
    assert [p["id"] for p in teaser["products"]] == products  # the unknown id is left out
    for path, status in [
        ("/api/v1/content/nothing-here", 404),
        ("/api/v1/content/Bad%20Slug", 400),
        ("/api/v1/content?kind=banner", 400),
        ("/api/v1/content?color=red", 400),
    ]:
        answer = shop.get(path)
        assert (answer.status_code, answer.headers["content-type"]) == (status, "application/problem+json")
    # A product disabled in pim leaves the teaser once the catalog has it.
    csv_text = io.StringIO()
    pim_csv.fake_products(3, 11, csv_text)
    pim_csv.import_products(
        config, io.StringIO("\n".join(csv_text.getvalue().splitlines()[:3]) + "\n"), False
    )
    eventually(lambda: len(shop.get("/api/v1/content/deals").json()["products"]) == 2, what="teaser shrinks")


def change_and_schedule(config: Config, shop: ShopProcess, folder: Path) -> None:
    """A changed folder: exactly one new, one changed, one removed; read your writes by offset."""
    (folder / "returns.md").write_text(page("returns", "Now 60 days.", position=2))
    (folder / "imprint.md").unlink()
    # Far enough ahead that the import and the reads below come before it, even on a busy machine.
    publish_at = time.time() + 5
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(publish_at)) + f".{int(publish_at % 1 * 1000):03d}Z"
    (folder / "sale.md").write_text(page("sale", "Soon.", kind="teaser", publish_at=at))
    summary = cms_files.import_content(config, folder)
    assert (summary.new, summary.changed, summary.unchanged, summary.removed) == (1, 1, 2, 1)
    assert end(config) == 8
    after = {"shop-min-offset": str(end(config) - 1)}
    assert "60 days" in shop.get("/api/v1/content/returns", headers=after).json()["html"]
    assert shop.get("/api/v1/content/imprint", headers=after).status_code == 404
    # Scheduled: not before its time, then by itself.
    assert shop.get("/api/v1/content/sale", headers=after).status_code == 404
    teasers = shop.get("/api/v1/content?kind=teaser")
    assert [e["slug"] for e in teasers.json()["items"]] == ["deals"]
    eventually(lambda: shop.get("/api/v1/content/sale").status_code == 200, timeout=10, what="sale appears")
    assert time.time() >= publish_at
    appeared = shop.get("/api/v1/content?kind=teaser", headers={"if-none-match": teasers.headers["etag"]})
    assert appeared.status_code == 200
    assert [e["slug"] for e in appeared.json()["items"]] == ["deals", "sale"]


def revert(config: Config, shop: ShopProcess) -> None:
    """A new version restoring the first; reverting to it again produces nothing."""
    versions = cms_files.history(config)["returns"]
    assert [v.number for v in versions] == [1, 2]
    restored = cms_files.revert(config, "returns", 1)
    assert restored is not None and restored.number == 3 and restored.reverted_to == 1
    assert cms_files.revert(config, "returns", 1) is None
    with pytest.raises(cms_files.ContentError, match="versions 1 to 3, not 7"):
        cms_files.revert(config, "returns", 7)
    reverted = shop.get("/api/v1/content/returns", headers={"shop-min-offset": str(end(config) - 1)}).json()
    assert ("30 days" in reverted["html"], reverted["version"]) == (True, 3)
    assert "(reverted to 1)" in cms_files.history(config)["returns"][-1].describe()


def test_a_broken_file_produces_nothing(config: Config, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(page("a", "fine"))
    (tmp_path / "b.md").write_text(page("b", "fine").replace("published: true", "published: maybe"))
    with pytest.raises(cms_files.ContentError, match=r"b\.md: line 5: published: 'maybe'"):
        cms_files.import_content(config, tmp_path)
    admin.ensure_topics(config, cms.TOPICS)
    assert end(config) == 0
