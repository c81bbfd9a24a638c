"""The plain-Python reference catalog: what core_rs must answer, written as simply as possible."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from shop._proto import catalog_pb2, pim_pb2

FIELDS = ("id", "name", "price", "description", "longtext", "category", "small_image_url", "large_image_url")


def view(product: pim_pb2.Product) -> dict[str, Any]:
    return {name: getattr(product, name) for name in FIELDS}


@dataclass
class ReferenceCatalog:
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    offset: int = -1
    pim_offset: int = -1

    def apply(self, offset: int, message: bytes) -> None:
        self.offset = offset
        changed = catalog_pb2.InternalMessage.FromString(message).product_changed
        if changed.pim_offset <= self.pim_offset:
            return
        self.pim_offset = changed.pim_offset
        if changed.product.disabled:
            self.products.pop(changed.product.id, None)
        else:
            self.products[changed.product.id] = view(changed.product)

    def page(self, sort: str, prefix: str, page: int, per_page: int) -> dict[str, Any]:
        keys = {
            "id": lambda p: p["id"],
            "price": lambda p: (p["price"], p["id"]),
            "name": lambda p: (p["name"].encode(), p["id"]),
        }
        matches = [p for p in self.products.values() if p["name"].startswith(prefix)]
        matches.sort(key=keys[sort])
        pages = math.ceil(len(matches) / per_page)
        page = min(max(page, 1), max(pages, 1))
        start = (page - 1) * per_page
        return {
            "items": matches[start : start + per_page],
            "total": len(matches),
            "page": page,
            "pages": pages,
            "per_page": per_page,
            "sort": sort,
            "prefix": prefix,
        }


def product_changed(offset: int, pim_offset: int, **product: Any) -> tuple[int, bytes]:
    """A catalog_internal message at `offset`, bridged from pim_pub offset `pim_offset`."""
    message = catalog_pb2.InternalMessage(
        product_changed=catalog_pb2.ProductChanged(product=pim_pb2.Product(**product), pim_offset=pim_offset)
    )
    return offset, message.SerializeToString()
