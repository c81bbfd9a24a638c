"""End to end on a real broker: CSV import → pim publisher → bridge → catalog → HTTP pages."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.server import ShopProcess
from shop.config import Config
from shop.contexts import catalog, pim, pim_csv
from shop.kafka import admin
from tests.support.polling import eventually
from tests.support.replay import rerun_pim_bridge

ROWS = 300


def sample_rows(rows: int = ROWS, seed: int = 7) -> list[list[str]]:
    out = io.StringIO()
    pim_csv.fake_products(rows, seed, out)
    return list(csv.reader(io.StringIO(out.getvalue())))


def as_csv(rows: list[list[str]]) -> io.StringIO:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    out.seek(0)
    return out


def all_products(shop: ShopProcess, sort: str = "id") -> list[dict[str, object]]:
    response = shop.get(f"/api/v1/products?sort={sort}&per_page=1000")
    assert response.status_code == 200
    return list(response.json()["items"])


@pytest.fixture
def shop(config: Config, tmp_path: Path) -> Iterator[ShopProcess]:
    process = ShopProcess(config, tmp_path / "shop.log")
    yield process
    process.stop()


def test_import_bridge_and_pages_end_to_end(config: Config, shop: ShopProcess) -> None:
    rows = sample_rows()
    summary = pim_csv.import_products(config, as_csv(rows), progress=False)
    assert (summary.new, summary.changed, summary.disabled) == (ROWS, 0, 0)
    shop.start()

    products = all_products(shop)
    header = rows[0]
    expected = sorted((dict(zip(header, row, strict=True)) for row in rows[1:]), key=lambda p: p["id"])
    assert [p["id"] for p in products] == [p["id"] for p in expected]
    assert [p["price"] for p in products] == [int(p["price"]) for p in expected]
    assert products[0]["name"] == expected[0]["name"]
    by_price = all_products(shop, "price")
    assert [p["price"] for p in by_price] == sorted(int(p["price"]) for p in expected)
    first = expected[0]
    assert shop.get(f"/api/v1/products/{first['id']}").json()["longtext"] == first["longtext"]

    # A changed file: 5 prices changed, 3 rows gone, 2 new. Only those 10 events are produced.
    changed = [row[:] for row in rows]
    for row in changed[1:6]:
        row[5] = str(int(row[5]) + 1)
    gone = [row[0] for row in changed[6:9]]
    del changed[6:9]
    changed += sample_rows(2, seed=99)[1:]
    before = admin.end_offset(config, config.topic(pim.INTERNAL))
    summary = pim_csv.import_products(config, as_csv(changed), progress=False)
    assert (summary.new, summary.changed, summary.unchanged, summary.disabled) == (2, 5, ROWS - 8, 3)
    assert admin.end_offset(config, config.topic(pim.INTERNAL)) == before + 10

    eventually(lambda: shop.get("/api/v1/products?per_page=1").json()["total"] == ROWS - 1)
    for product_id in gone:
        assert shop.get(f"/api/v1/products/{product_id}").status_code == 404
    assert shop.get(f"/api/v1/products/{changed[1][0]}").json()["price"] == int(changed[1][5])
    # The page read before the change, which the app cached, shows it.
    now = {p["id"]: p for p in all_products(shop)}
    assert now[changed[1][0]]["price"] == int(changed[1][5])
    assert len(now) == ROWS - 1 and not set(gone) & set(now)

    # The same file again produces nothing.
    again = pim_csv.import_products(config, as_csv(changed), progress=False)
    assert (again.new, again.changed, again.disabled, again.unchanged) == (0, 0, 0, ROWS - 1)
    assert admin.end_offset(config, config.topic(pim.INTERNAL)) == before + 10

    # A restarted service reaches the same state.
    pages = {sort: shop.get(f"/api/v1/products?sort={sort}&per_page=1000").content for sort in ("id", "name")}
    shop.stop()
    shop.start()
    for sort, body in pages.items():
        assert shop.get(f"/api/v1/products?sort={sort}&per_page=1000").content == body


def test_a_rerun_bridge_adds_no_duplicates(config: Config, shop: ShopProcess) -> None:
    pim_csv.import_products(config, as_csv(sample_rows(50)), progress=False)
    shop.start()
    body = shop.get("/api/v1/products?sort=name&per_page=1000").content
    bridged = admin.end_offset(config, config.topic(catalog.INTERNAL))
    shop.stop()

    rerun_pim_bridge(config, catalog.INTERNAL)
    assert admin.end_offset(config, config.topic(catalog.INTERNAL)) == 2 * bridged

    shop.start()
    assert shop.get("/api/v1/products?sort=name&per_page=1000").content == body


def test_a_malformed_row_is_reported_by_line_and_nothing_is_produced(config: Config) -> None:
    rows = sample_rows(10)
    rows[5][5] = "12.50"
    with pytest.raises(pim_csv.CsvError, match=r"line 6: price '12\.50'"):
        pim_csv.import_products(config, as_csv(rows), progress=False)
    admin.ensure_topics(config, pim.TOPICS)
    assert admin.end_offset(config, config.topic(pim.INTERNAL)) == 0


def test_fake_products_is_deterministic_for_a_seed() -> None:
    assert sample_rows(20, seed=3) == sample_rows(20, seed=3)
    assert sample_rows(20, seed=3) != sample_rows(20, seed=4)
