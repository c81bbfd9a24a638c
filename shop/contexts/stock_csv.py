"""Stock as CSV: deterministic fake levels for a products file, and the importer that turns absolute
targets into stock corrections (deltas) against fulfilment's current on-hand stock."""

from __future__ import annotations

import csv
import dataclasses
import logging
import random
import sys
from typing import TextIO

from shop import _core
from shop._proto import fulfilment_pb2
from shop.config import Config
from shop.contexts import fulfilment
from shop.contexts.pim_csv import CsvError
from shop.kafka import admin
from shop.kafka.consumer import replay
from shop.kafka.producer import ImportProducer
from shop.progress import Progress

log = logging.getLogger(__name__)

COLUMNS = ("product_id", "quantity")
MAX_STOCK = 1_000_000_000


def fake_stock(
    products: TextIO, seed: int, out: TextIO, out_of_stock: float = 0.1, max_stock: int = 30
) -> None:
    """Stock for each product of a products CSV: none for a share of them, else 1..max_stock-1."""
    rng = random.Random(seed)
    reader = csv.reader(products)
    next(reader, None)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in reader:
        if row and rng.random() >= out_of_stock:
            writer.writerow((row[0], rng.randint(1, max_stock - 1)))


def parse_stock(stream: TextIO) -> dict[str, int]:
    """Target levels by product; raises CsvError naming the first bad line."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != COLUMNS:
        raise CsvError(f"line 1: expected the header {','.join(COLUMNS)}")
    targets: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        if len(row) != len(COLUMNS):
            raise CsvError(f"line {line}: expected {len(COLUMNS)} columns, found {len(row)}")
        product_id, raw = row[0].strip(), row[1].strip()
        if not product_id:
            raise CsvError(f"line {line}: product_id is empty")
        if not raw.isdigit() or int(raw) > MAX_STOCK:
            raise CsvError(f"line {line}: quantity {raw!r} is not a whole number from 0 to {MAX_STOCK}")
        if product_id in targets:
            raise CsvError(f"line {line}: product {product_id} is listed twice")
        targets[product_id] = int(raw)
    return targets


@dataclasses.dataclass
class StockSummary:
    rows: int = 0
    changed: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.rows} rows: {self.changed} changed, {self.unchanged} unchanged"


def import_stock(config: Config, stream: TextIO, progress: bool = True) -> StockSummary:
    """Makes on-hand stock equal the file's targets (products not in the file keep theirs)."""
    targets = parse_stock(stream)
    admin.ensure_topics(config, fulfilment.TOPICS)
    with ImportProducer(config) as producer:
        current = _core.Fulfilment()
        replay(config, fulfilment.INTERNAL, current.apply)
        messages, summary = plan_corrections(targets, current)
        bar = Progress("import-stock", len(messages), sys.stderr) if progress else None
        producer.produce_all(config.topic(fulfilment.INTERNAL), messages, bar)
    log.info("import-stock: %s", summary)
    return summary


def plan_corrections(targets: dict[str, int], current: _core.Fulfilment) -> tuple[list[bytes], StockSummary]:
    """The StockCorrected events that bring on-hand stock from `current` to `targets`."""
    summary = StockSummary(rows=len(targets))
    messages = []
    for product_id, target in targets.items():
        change = target - current.on_hand(product_id)
        if change == 0:
            summary.unchanged += 1
            continue
        summary.changed += 1
        corrected = fulfilment_pb2.StockCorrected(product_id=product_id, quantity_change=change)
        messages.append(fulfilment_pb2.InternalMessage(stock_corrected=corrected).SerializeToString())
    return messages, summary
