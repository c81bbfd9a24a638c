"""Stock CSV: deterministic fake levels, and a bad row named by its line with nothing produced."""

from __future__ import annotations

import io

import pytest

from shop.config import Config
from shop.contexts import fulfilment, pim_csv, stock_csv
from shop.kafka import admin


def fake(seed: int) -> str:
    products = io.StringIO()
    pim_csv.fake_products(50, 1, products)
    products.seek(0)
    out = io.StringIO()
    stock_csv.fake_stock(products, seed, out)
    return out.getvalue()


def test_fake_stock_is_deterministic_and_leaves_some_products_out() -> None:
    assert fake(2) == fake(2)
    rows = fake(2).splitlines()
    assert rows[0] == "product_id,quantity"
    assert 30 < len(rows) - 1 < 50
    assert all(1 <= int(row.split(",")[1]) <= 29 for row in rows[1:])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,qty\n", "line 1: expected the header"),
        ("product_id,quantity\na,1\nb,-1\n", "line 3: quantity '-1'"),
        ("product_id,quantity\na,1.5\n", "line 2: quantity '1.5'"),
        ("product_id,quantity\na,1\na,2\n", "line 3: product a is listed twice"),
        ("product_id,quantity\n,1\n", "line 2: product_id is empty"),
        ("product_id,quantity\na,1,2\n", "line 2: expected 2 columns"),
    ],
)
def test_a_bad_row_is_named_and_nothing_is_produced(config: Config, text: str, message: str) -> None:
    with pytest.raises(pim_csv.CsvError, match=message):
        stock_csv.import_stock(config, io.StringIO(text), progress=False)
    admin.ensure_topics(config, fulfilment.TOPICS)
    assert admin.end_offset(config, config.topic(fulfilment.INTERNAL)) == 0


def test_targets_become_corrections_against_on_hand_stock(config: Config) -> None:
    first = stock_csv.import_stock(config, io.StringIO("product_id,quantity\na,5\nb,3\n"), progress=False)
    assert (first.changed, first.unchanged) == (2, 0)
    second = stock_csv.import_stock(config, io.StringIO("product_id,quantity\na,2\nb,3\n"), progress=False)
    assert (second.changed, second.unchanged) == (1, 1)
    assert admin.end_offset(config, config.topic(fulfilment.INTERNAL)) == 3
