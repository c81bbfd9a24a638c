"""A shopper's details as checkout takes them (POST /api/v1/cart/order's body)."""

from __future__ import annotations

DETAILS = {
    "email": "alice@example.com",
    "name": "Alice Liddell",
    "street": "Rabbit Hole 1",
    "postcode": "OX1 1AA",
    "city": "Oxford",
    "country": "GB",
}
