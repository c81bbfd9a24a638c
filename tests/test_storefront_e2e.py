"""The storefront in a real browser (Debian's chromium driven by playwright-core, web/e2e/) against a
real shop and broker. The node script does the shopping and checks what it shows against the API;
this test prepares the data, starts the shop, runs the script and reports its output."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.host import REPO
from fixtures.server import ShopProcess
from shop.api.static import STATIC_DIR
from shop.config import Config
from shop.contexts import cms_files, pim_csv, stock_csv
from tests.support.browser import run_script

PRODUCTS = 60  # three pages of 24
SCRIPT = REPO / "web" / "e2e" / "storefront.e2e.mjs"
ARTIFACTS = REPO / "test-artifacts" / "storefront"
SCRIPT_TIMEOUT_S = 240
LIGHTHOUSE = REPO / "web" / "e2e" / "lighthouse.mjs"


@pytest.fixture
def shop(config: Config, tmp_path: Path) -> Iterator[tuple[ShopProcess, dict[str, str]]]:
    """60 products with 5 units each, except one with none and one with a single unit."""
    products = io.StringIO()
    pim_csv.fake_products(PRODUCTS, 7, products)
    ids = [row.split(",")[0] for row in products.getvalue().splitlines()[1:]]
    pim_csv.import_products(config, io.StringIO(products.getvalue()), progress=False)
    stock = {product_id: 5 for product_id in ids}
    stock[ids[0]] = 0
    stock[ids[1]] = 1
    lines = "".join(f"{product_id},{units}\n" for product_id, units in stock.items())
    stock_csv.import_stock(config, io.StringIO("product_id,quantity\n" + lines), progress=False)
    import_content(config, tmp_path / "content", ids[5:8])
    server = ShopProcess(config, tmp_path / "shop.log").start()
    yield server, {"out_of_stock": ids[0], "single_unit": ids[1], "product": ids[2]}
    server.stop()


def import_content(config: Config, folder: Path, featured: list[str]) -> None:
    """A hero, two teasers featuring `featured`, two pages (one with markup to be sanitized)."""
    folder.mkdir()
    entries = {
        "hero": ("hero", 0, "Big **news**.", []),
        "first-teaser": ("teaser", 1, "Look.", featured[:2]),
        "second-teaser": ("teaser", 2, "More.", featured[2:]),
        "shipping": ("page", 1, "Fast. <script>alert(1)</script> [Returns](/pages/returns)", []),
        "returns": ("page", 2, "| days |\n|---|\n| 30 |", []),
    }
    for slug, (kind, position, body, products) in entries.items():
        front = f"slug: {slug}\ntitle: {slug.replace('-', ' ').title()}\nkind: {kind}\npublished: true\n"
        front += f"position: {position}\nproducts: [{', '.join(products)}]\n"
        (folder / f"{slug}.md").write_text(f"---\n{front}---\n{body}\n")
    cms_files.import_content(config, folder)


def test_a_shopper_browses_fills_the_cart_in_two_tabs_and_orders(
    shop: tuple[ShopProcess, dict[str, str]],
) -> None:
    out = run_node(SCRIPT, *shop)
    for name in ("catalog", "home", "page", "product", "cart", "order", "refused"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 0
    assert "all passed" in out


@pytest.mark.lighthouse
def test_lighthouse_scores_every_page_95_or_more(shop: tuple[ShopProcess, dict[str, str]]) -> None:
    """Performance, accessibility, best practices and SEO of the catalog, a search, a product, the cart and an
    order, desktop and mobile, each at least 95, and a layout shift of at most 0.05."""
    out = run_node(LIGHTHOUSE, *shop)
    assert "lighthouse: all passed" in out


def run_node(script_path: Path, server: ShopProcess, data: dict[str, str]) -> str:
    """Runs a node script of web/e2e against the shop; fails the test with its output if it fails."""
    assert (STATIC_DIR / "index.html").exists(), "run `make build` first: it builds web/ into shop/static"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {"BASE_URL": server.url, "ARTIFACTS": str(ARTIFACTS), "E2E_DATA": json.dumps(data)}
    finished = run_script(script_path, env, SCRIPT_TIMEOUT_S)
    print(finished.out)
    assert finished.returncode == 0, f"{finished.out}\n{finished.err}\nshop log:\n{server.log_tail()}"
    return finished.out
