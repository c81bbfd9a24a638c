"""Products as CSV: deterministic fake data, and the importer that turns a file into pim events."""

from __future__ import annotations

import csv
import dataclasses
import logging
import random
import sys
import uuid
from typing import TextIO

from shop._proto import pim_pb2
from shop.api import images
from shop.config import Config
from shop.contexts import pim
from shop.kafka import admin
from shop.kafka.consumer import replay
from shop.kafka.producer import ImportProducer
from shop.progress import Progress

log = logging.getLogger(__name__)

COLUMNS = ("id", "name", "description", "longtext", "category", "price", "small_image_url", "large_image_url")
WORDS = """
lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et
dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex
ea commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla
pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim
id est laborum curabitur pretium tincidunt lacus nulla gravida orci a odio nullam varius turpis et
commodo pharetra est eros bibendum elit nec luctus magna felis sollicitudin mauris integer
""".split()


# Cents. Bounded so that a cart's total (price times up to 999, summed) always fits in 64 bits.
MAX_PRICE = 10**12


class CsvError(ValueError):
    """A row of the file is malformed; nothing of the file was produced."""


def fake_products(rows: int, seed: int, out: TextIO) -> None:
    """Writes `rows` products; the same seed always gives the same file."""
    rng = random.Random(seed)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for _ in range(rows):
        product_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        name = " ".join(rng.choice(WORDS) for _ in range(3)).capitalize()
        description = _sentence(rng, 12, 24)
        longtext = " ".join(_sentence(rng, 8, 16) for _ in range(rng.randint(3, 6)))
        category = f"{rng.choice(WORDS)}/{rng.choice(WORDS)}"
        price = rng.randint(1, 9999)
        rng.randint(0, 1083)  # drawn before for an outside host's picture: the files stay alike
        image = images.url(product_id.replace("-", "")[:16])  # drawn and served by the shop itself
        writer.writerow(
            (
                product_id,
                name,
                description,
                longtext,
                category,
                price,
                image,
                image,  # one vector picture, sharp at any size
            )
        )


def _sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def parse_products(stream: TextIO) -> list[pim_pb2.Product]:
    """Every row as a product; raises CsvError naming the first bad line."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise CsvError("line 1: the file is empty, expected a header row")
    if tuple(h.strip() for h in header) != COLUMNS:
        raise CsvError(f"line 1: expected the header {','.join(COLUMNS)}")
    products = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        product = _parse_row(row, line)
        if product.id in seen:
            raise CsvError(f"line {line}: id {product.id} already on line {seen[product.id]}")
        seen[product.id] = line
        products.append(product)
    return products


def _parse_row(row: list[str], line: int) -> pim_pb2.Product:
    if len(row) != len(COLUMNS):
        raise CsvError(f"line {line}: expected {len(COLUMNS)} columns, found {len(row)}")
    fields = dict(zip(COLUMNS, row, strict=True))
    if not fields["id"].strip():
        raise CsvError(f"line {line}: id is empty")
    try:
        price = int(fields["price"])
    except ValueError:
        raise CsvError(f"line {line}: price {fields['price']!r} is not a whole number of cents") from None
    if not 0 <= price <= MAX_PRICE:
        raise CsvError(f"line {line}: price {price} is not from 0 to {MAX_PRICE} cents")
    if not fields["name"].strip():
        raise CsvError(f"line {line}: name is empty")
    return pim_pb2.Product(
        id=fields["id"].strip(),
        price=price,
        name=fields["name"],
        description=fields["description"],
        longtext=fields["longtext"],
        category=fields["category"],
        small_image_url=fields["small_image_url"],
        large_image_url=fields["large_image_url"],
    )


@dataclasses.dataclass
class ImportSummary:
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    disabled: int = 0

    def __str__(self) -> str:
        return (
            f"{self.rows} rows: {self.new} new, {self.changed} changed, {self.unchanged} unchanged, "
            f"{self.disabled} disabled"
        )


def current_products(config: Config) -> dict[str, bytes]:
    """The pim state: each product's last event, as canonical bytes of `pim.Product`."""
    products: dict[str, bytes] = {}

    def apply(batch: list[tuple[int, bytes]]) -> None:
        for _offset, value in batch:
            event = pim_pb2.InternalMessage.FromString(value)
            if event.HasField("product"):
                products[event.product.id] = event.product.SerializeToString(deterministic=True)

    replay(config, pim.INTERNAL, apply)
    return products


def plan_import(
    rows: list[pim_pb2.Product], current: dict[str, bytes]
) -> tuple[list[pim_pb2.Product], ImportSummary]:
    """The events that make pim equal the file: new or changed rows, and disables for missing ones."""
    summary = ImportSummary(rows=len(rows))
    events = []
    in_file = set()
    for product in rows:
        in_file.add(product.id)
        before = current.get(product.id)
        if before == product.SerializeToString(deterministic=True):
            summary.unchanged += 1
            continue
        if before is None or pim_pb2.Product.FromString(before).disabled:
            summary.new += 1
        else:
            summary.changed += 1
        events.append(product)
    for product_id, encoded in current.items():
        product = pim_pb2.Product.FromString(encoded)
        if product_id not in in_file and not product.disabled:
            product.disabled = True
            summary.disabled += 1
            events.append(product)
    return events, summary


def import_products(config: Config, stream: TextIO, progress: bool = True) -> ImportSummary:
    """Parses the whole file first (a bad row stops everything), then produces only the changes."""
    rows = parse_products(stream)
    admin.ensure_topics(config, pim.TOPICS)
    with ImportProducer(config) as producer:
        events, summary = plan_import(rows, current_products(config))
        messages = [pim_pb2.InternalMessage(product=product).SerializeToString() for product in events]
        bar = Progress("import-products", len(messages), sys.stderr) if progress else None
        producer.produce_all(config.topic(pim.INTERNAL), messages, bar)
    log.info("import-products: %s", summary)
    return summary
