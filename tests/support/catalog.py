"""A sample catalog with stock, put into Kafka through the shop's own CSV importers."""

from __future__ import annotations

import io

from shop.config import Config
from shop.contexts import pim_csv, stock_csv


def import_catalog(config: Config, products: int, stock: dict[int, int]) -> list[str]:
    """Imports `products` sample products and stock targets by product index; returns their ids."""
    csv_text = io.StringIO()
    pim_csv.fake_products(products, 11, csv_text)
    csv_text.seek(0)
    pim_csv.import_products(config, csv_text, progress=False)
    ids = [line.split(",")[0] for line in csv_text.getvalue().splitlines()[1:]]
    lines = ["product_id,quantity"] + [f"{ids[i]},{units}" for i, units in stock.items()]
    stock_csv.import_stock(config, io.StringIO("\n".join(lines) + "\n"), progress=False)
    return ids
