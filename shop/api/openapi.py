"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from shop import __version__, _core, shoppers
from shop.api import web_events
from shop.contexts import web

PROBLEM = {"$ref": "#/components/responses/Problem"}
CART_ITEM = {
    "product_id": {"type": "string"},
    "name": {"type": "string"},
    "price": {"type": "integer", "description": "cents"},
    "small_image_url": {"type": "string"},
    "quantity": {"type": "integer", "minimum": 1, "maximum": _core.MAX_QUANTITY},
    "in_stock": {"type": "boolean"},
    "more_in_stock": {"type": "boolean"},
}
NOT_READY = {"$ref": "#/components/responses/NotReady"}
SHOPPER_DETAILS = "#/components/schemas/ShopperDetails"
# The limits are the Rust core's, which enforces them: written once, there.
QUANTITY_SET = {"type": "integer", "minimum": 0, "maximum": _core.MAX_QUANTITY}
PREFIX = {"type": "string", "maxLength": _core.MAX_PREFIX}
PER_PAGE = {"type": "integer", "minimum": 1, "maximum": _core.MAX_PER_PAGE}


POPULARITY = {
    "type": "object",
    "description": "browser events counted for the product",
    "required": ["views", "add_to_carts"],
    "properties": {
        "views": {"type": "integer", "minimum": 0},
        "add_to_carts": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": False,
}


def _web_events() -> dict[str, Any]:
    event = {
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {"type": "string", "enum": list(web.KINDS)},
            "product_id": {"type": "string", "maxLength": web_events.MAX_PRODUCT_ID},
            "query": {"type": "string", "maxLength": web_events.MAX_QUERY},
        },
        "additionalProperties": False,
    }
    body = {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {"type": "array", "items": event, "minItems": 1, "maxItems": web_events.MAX_EVENTS}
        },
        "additionalProperties": False,
    }
    accepted = {
        "type": "object",
        "required": ["accepted", "dropped"],
        "properties": {"accepted": {"type": "integer", "minimum": 1}, "dropped": {"type": "boolean"}},
    }
    return {
        "summary": "What a shopper did, in a batch (the storefront sends it with navigator.sendBeacon)",
        "description": (
            "Validated: known kinds, products of the catalog, no personal data (a search with an email "
            "address or a phone number is refused), at most 32 events in 4 KiB, and a rate per "
            "cart (429). Never waits for Kafka: dropped is true when it was slow and the batch was dropped."
        ),
        "operationId": "postEvents",
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "202": {"description": "accepted", "content": {"application/json": {"schema": accepted}}},
            "400": PROBLEM,
            "408": PROBLEM,
            "413": PROBLEM,
            "429": PROBLEM,
            "503": NOT_READY,
        },
    }


def _json_and_protobuf(schema: str, package: str = "catalog") -> dict[str, Any]:
    return {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}},
        "application/x-protobuf": {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": f"protobuf shop.{package}.{schema}",
            }
        },
    }


def _json_object(properties: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body: an object of exactly these properties."""
    schema = {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _cart_answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json_and_protobuf("Cart", "checkout")}


MIN_OFFSET = {
    "name": "Shop-Min-Offset",
    "in": "header",
    "required": False,
    "schema": {"type": "integer", "minimum": 0},
    "description": (
        "answer only once this instance applied this checkout offset (a Shop-Offset seen before); "
        "400 if it is still past the end of the topic after 1 s"
    ),
}
PRODUCT_ID = {"name": "product_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _cart_paths() -> dict[str, Any]:
    return {
        "/api/v1/cart": {
            "get": {
                "summary": "The cart of the cart cookie (created if missing)",
                "description": (
                    "Once the cart was ordered, the answer carries its order_id, Location names the "
                    "order and Set-Cookie moves the shopper to the next cart."
                ),
                "operationId": "getCart",
                "parameters": [MIN_OFFSET],
                "responses": {
                    "200": _cart_answer("the cart; ETag is its version"),
                    "400": PROBLEM,
                    "503": NOT_READY,
                },
            }
        },
        "/api/v1/cart/items/{product_id}": {
            "put": {
                "summary": "Set the quantity of a product (0 removes it)",
                "operationId": "setCartItem",
                "parameters": [PRODUCT_ID],
                "requestBody": _json_object({"quantity": QUANTITY_SET}),
                "responses": {
                    "200": _cart_answer("the updated cart"),
                    "400": PROBLEM,
                    "404": PROBLEM,
                    "408": PROBLEM,
                    "409": PROBLEM,
                    "413": PROBLEM,
                    "503": NOT_READY,
                },
            },
            "delete": {
                "summary": "Remove a product from the cart",
                "operationId": "removeCartItem",
                "parameters": [PRODUCT_ID],
                "responses": {
                    "200": _cart_answer("the updated cart"),
                    "404": PROBLEM,
                    "409": PROBLEM,
                    "503": NOT_READY,
                },
            },
        },
        "/api/v1/cart/order": {
            "post": {
                "summary": "Order the cart as it was seen (If-Match: its ETag)",
                "description": (
                    "Safe to retry: a cart ordered already answers 409 with the order's order_id, "
                    "Location naming it and Set-Cookie moving the shopper to the next cart."
                ),
                "operationId": "orderCart",
                "parameters": [
                    {"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "description": (
                        "who the order ships to (docs/notification.md); 422 names each field at fault "
                        "or missing, a missing body included."
                    ),
                    "content": {"application/json": {"schema": {"$ref": SHOPPER_DETAILS}}},
                },
                "responses": {
                    "201": {"description": "the order", "content": _json_and_protobuf("Order", "checkout")},
                    "400": PROBLEM,
                    "409": PROBLEM,
                    "412": PROBLEM,
                    "422": PROBLEM,
                    "428": PROBLEM,
                    "503": NOT_READY,
                },
            }
        },
        "/api/v1/cart/events": {
            "get": {
                "summary": "WebSocket: the cart of the cart cookie, pushed whenever it changes",
                "description": (
                    "Upgrade to a WebSocket with the cart cookie (the only authorisation); a browser's "
                    "Origin must be this host or a configured CORS origin. The server sends the cart "
                    "(text, the JSON body of GET /api/v1/cart) at once, then again after each change of its "
                    'version. The client may send "ping" (answered "pong"); anything else closes with '
                    "1008. Close 4001: the cart was ordered, fetch the new cart and reconnect; 1001: the "
                    "shop shuts down. Refused before the upgrade: 403 without a cart cookie or from a "
                    "foreign origin, 503 while checkout loads or when half of the server's concurrent slots "
                    "(SHOP_HTTP_BACKPRESSURE) are streams; 426 to a plain HTTP request."
                ),
                "operationId": "cartEvents",
                "responses": {
                    "101": {"description": "switching to the WebSocket protocol"},
                    "403": PROBLEM,
                    "426": PROBLEM,
                    "503": NOT_READY,
                },
            }
        },
        "/api/v1/stock": {
            "post": {
                "summary": "Units for sale of the products named (0: out of stock or not for sale)",
                "description": "A read, without a cart: what the storefront says on cards and product pages.",
                "operationId": "getStock",
                "requestBody": _json_object(
                    {
                        "product_ids": {
                            "type": "array",
                            "items": {"type": "string"},
                            "maxItems": _core.MAX_PER_PAGE,
                        }
                    }
                ),
                "responses": {
                    "200": {
                        "description": "the units for sale, in the order asked",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/StockLevels"}}
                        },
                    },
                    "400": PROBLEM,
                    "408": PROBLEM,
                    "413": PROBLEM,
                    "503": NOT_READY,
                },
            }
        },
        "/api/v1/orders/{id}": {
            "get": {
                "summary": "An order, to the shopper who placed it",
                "operationId": "getOrder",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                    MIN_OFFSET,
                ],
                "responses": {
                    "200": {"description": "the order", "content": _json_and_protobuf("Order", "checkout")},
                    "400": PROBLEM,
                    "404": PROBLEM,
                    "503": NOT_READY,
                },
            }
        },
    }


def _content_paths() -> dict[str, Any]:
    tagged = {
        "ETag": {"schema": {"type": "string"}, "description": "the body's tag, for If-None-Match"},
        "Shop-Offset": {"schema": {"type": "integer"}, "description": "the cms_internal offset shown"},
    }
    not_modified = {"description": "not modified: If-None-Match names the current ETag", "headers": tagged}
    if_none_match = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}
    content_min_offset = {
        **MIN_OFFSET,
        "description": str(MIN_OFFSET["description"]).replace("checkout", "cms"),
    }
    return {
        "/api/v1/content": {
            "get": {
                "summary": "The published content entries, by position then slug",
                "operationId": "listContent",
                "parameters": [
                    _query(
                        "kind", {"type": "string", "enum": _core.CONTENT_KINDS}, "only entries of this kind"
                    ),
                    if_none_match,
                    content_min_offset,
                ],
                "responses": {
                    "200": {
                        "description": "the entries shown now",
                        "headers": tagged,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ContentList"}}
                        },
                    },
                    "304": not_modified,
                    "400": PROBLEM,
                    "503": NOT_READY,
                },
            }
        },
        "/api/v1/content/{slug}": {
            "get": {
                "summary": "One published content entry (a page, the hero, a teaser)",
                "description": "404 when unknown, not published, removed, or scheduled for later.",
                "operationId": "getContent",
                "parameters": [
                    {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}},
                    if_none_match,
                    content_min_offset,
                ],
                "responses": {
                    "200": {
                        "description": "the entry",
                        "headers": tagged,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ContentEntry"}}
                        },
                    },
                    "304": not_modified,
                    "400": PROBLEM,
                    "404": PROBLEM,
                    "503": NOT_READY,
                },
            }
        },
    }


def _content_schemas() -> dict[str, Any]:
    entry = {
        "slug": {"type": "string", "maxLength": _core.MAX_SLUG},
        "kind": {"type": "string", "enum": _core.CONTENT_KINDS},
        "title": {"type": "string"},
        "position": {"type": "integer"},
        "publish_at": {"type": "integer", "description": "milliseconds since the epoch; 0: at once"},
        "updated_at": {"type": "integer", "description": "milliseconds since the epoch"},
        "html": {"type": "string", "description": "the body, rendered from Markdown and sanitized"},
        "version": {"type": "integer", "minimum": 1},
        "products": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ProductView"},
            "description": "the featured products the catalog sells now",
        },
    }
    return {
        "ContentEntry": {
            "type": "object",
            "required": list(entry),
            "properties": entry,
            "additionalProperties": False,
        },
        "ContentList": {
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/ContentEntry"}}
            },
        },
    }


def _search_paths() -> dict[str, Any]:
    shown = {
        "Shop-Offset": {"schema": {"type": "integer"}, "description": "the search_internal offset shown"}
    }
    search_min_offset = {
        **MIN_OFFSET,
        "description": str(MIN_OFFSET["description"]).replace("checkout", "search"),
    }
    q = _query(
        "q",
        {"type": "string", "maxLength": _core.MAX_QUERY},
        f"words (at most {_core.MAX_QUERY_WORDS}); the last also matches as a prefix while typed; "
        f"no operators or quotes ({_core.SEARCH_OPERATORS})",
    )
    price = {"type": "integer", "minimum": 0, "maximum": _core.MAX_PRICE}

    def answer(description: str, schema: str) -> dict[str, Any]:
        body = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
        return {"description": description, "headers": shown, "content": body}

    return {
        "/api/v1/search": {
            "get": {
                "summary": "Products matching words, with facets and highlights",
                "description": "See docs/search.md for the matching and ranking rules.",
                "operationId": "search",
                "parameters": [
                    q,
                    _query(
                        "category", {"type": "string", "maxLength": _core.MAX_CATEGORY}, "only this category"
                    ),
                    _query("price_min", price, "cents, inclusive"),
                    _query("price_max", price, "cents, inclusive"),
                    _query("sort", {"type": "string", "enum": _core.SEARCH_SORTS}, "order"),
                    _query(
                        "page", {"type": "integer", "minimum": 1, "maximum": _core.MAX_SEARCH_PAGE}, "from 1"
                    ),
                    _query(
                        "per_page",
                        {"type": "integer", "minimum": 1, "maximum": _core.MAX_SEARCH_PER_PAGE},
                        "items",
                    ),
                    search_min_offset,
                ],
                "responses": {
                    "200": answer("the page of results (clamped into range)", "SearchPage"),
                    "400": PROBLEM,
                    "503": NOT_READY,
                },
            }
        },
        "/api/v1/search/suggest": {
            "get": {
                "summary": "Completions of what is typed so far",
                "operationId": "suggest",
                "parameters": [q, search_min_offset],
                "responses": {
                    "200": answer("the completions, most found first", "Suggestions"),
                    "400": PROBLEM,
                    "503": NOT_READY,
                },
            }
        },
    }


def _search_schemas() -> dict[str, Any]:
    count = {"type": "integer", "minimum": 0}
    ranges = {"type": "array", "items": {"type": "array", "items": count, "minItems": 2, "maxItems": 2}}
    highlight = {
        "type": "object",
        "description": "per field, the UTF-16 ranges [start, end) of the words the query matched",
        "required": ["name", "category"],
        "properties": {"name": ranges, "category": ranges},
        "additionalProperties": False,
    }
    category_count = _closed_object({"value": {"type": "string"}, "count": count})
    price_count = _closed_object(
        {
            "min": count,
            "max": {"type": ["integer", "null"], "description": "null: no upper bound"},
            "count": count,
        }
    )
    page = {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/ProductSummary"}},
        "highlights": {"type": "array", "items": highlight, "description": "one per item, in order"},
        "total": count,
        "page": {"type": "integer", "minimum": 1},
        "pages": count,
        "per_page": {"type": "integer", "minimum": 1},
        "sort": {"type": "string", "enum": _core.SEARCH_SORTS},
        "q": {"type": "string"},
        "facets": _closed_object(
            {
                "category": {
                    "type": "array",
                    "items": category_count,
                    "description": f"the {_core.FACET_CATEGORIES} categories with the most results, most"
                    " first then by name, then the filtered category if it has results and is not among them",
                },
                "price": {"type": "array", "items": price_count},
            }
        ),
        "facet_categories_total": {**count, "description": "categories with results, listed or not"},
        "did_you_mean": {"type": ["string", "null"], "description": "near spellings, when nothing matched"},
        "offset": {"type": "integer", "description": "the search_internal offset the answer was read at"},
    }
    suggestions = {
        "q": {"type": "string"},
        "suggestions": {"type": "array", "items": {"type": "string"}, "maxItems": _core.MAX_SUGGESTIONS},
        "offset": {"type": "integer"},
    }
    return {"SearchPage": _closed_object(page), "Suggestions": _closed_object(suggestions)}


def _closed_object(properties: dict[str, Any]) -> dict[str, Any]:
    """A response object of exactly these properties, all present."""
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


# The fields of a listing's item, in the order the catalog writes them.
SUMMARY_FIELDS = ("id", "name", "price", "category", "small_image_url")


def spec() -> dict[str, Any]:
    product_properties = {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "price": {"type": "integer", "description": "cents"},
        "description": {"type": "string"},
        "longtext": {"type": "string"},
        "category": {"type": "string"},
        "small_image_url": {"type": "string"},
        "large_image_url": {"type": "string"},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Event Thingy Store", "version": __version__},
        "paths": {
            "/api/v1/products": {
                "get": {
                    "summary": "A page of the catalog",
                    "operationId": "listProducts",
                    "parameters": [
                        _query("sort", {"type": "string", "enum": _core.SORTS}, "order"),
                        _query("prefix", PREFIX, "name prefix (case-sensitive)"),
                        _query(
                            "page", {"type": "integer", "minimum": 1, "maximum": _core.MAX_PAGE}, "from 1"
                        ),
                        _query("per_page", PER_PAGE, "items"),
                    ],
                    "responses": {
                        "200": {
                            "description": "the page (clamped into range)",
                            "content": _json_and_protobuf("Page"),
                        },
                        "400": PROBLEM,
                        "503": NOT_READY,
                    },
                }
            },
            "/api/v1/products/{id}": {
                "get": {
                    "summary": "One product",
                    "operationId": "getProduct",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "the product, with its popularity (browser events)",
                            "content": {
                                **_json_and_protobuf("ProductView"),
                                "application/json": {"schema": {"$ref": "#/components/schemas/Product"}},
                            },
                        },
                        "404": PROBLEM,
                        "503": NOT_READY,
                    },
                }
            },
            **_cart_paths(),
            "/api/v1/events": {"post": _web_events()},
            **_content_paths(),
            **_search_paths(),
            "/healthz": {"get": _probe("liveness: every consumer thread runs")},
            "/readyz": {"get": _probe("readiness: every context loaded, bridges caught up")},
        },
        "components": {
            "schemas": {
                "ProductView": {
                    "type": "object",
                    "required": list(product_properties),
                    "properties": product_properties,
                    "additionalProperties": False,
                },
                "ProductSummary": {
                    "description": "a listing's item: what a product card shows",
                    "type": "object",
                    "required": list(SUMMARY_FIELDS),
                    "properties": {name: product_properties[name] for name in SUMMARY_FIELDS},
                    "additionalProperties": False,
                },
                "Product": {
                    "type": "object",
                    "required": [*product_properties, "popularity"],
                    "properties": {**product_properties, "popularity": POPULARITY},
                    "additionalProperties": False,
                },
                "Page": {
                    "type": "object",
                    "required": ["items", "total", "page", "pages", "per_page", "sort", "prefix"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/ProductSummary"}},
                        "total": {"type": "integer", "minimum": 0},
                        "page": {"type": "integer", "minimum": 1},
                        "pages": {"type": "integer", "minimum": 0},
                        "per_page": {"type": "integer", "minimum": 1},
                        "sort": {"type": "string", "enum": _core.SORTS},
                        "prefix": {"type": "string"},
                    },
                },
                **_content_schemas(),
                **_search_schemas(),
                "CartItem": {
                    "type": "object",
                    "required": list(CART_ITEM),
                    "properties": CART_ITEM,
                },
                "Cart": {
                    "type": "object",
                    "required": ["version", "items", "total_price"],
                    "properties": {
                        "version": {"type": "integer", "minimum": 0},
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/CartItem"}},
                        "total_price": {"type": "integer"},
                        "order_id": {"type": "string", "description": "once the cart was ordered: its order"},
                    },
                },
                "StockLevels": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["product_id", "available"],
                                "properties": {
                                    "product_id": {"type": "string"},
                                    "available": {"type": "integer", "minimum": 0},
                                },
                            },
                        }
                    },
                },
                "Order": {
                    "type": "object",
                    "required": ["id", "status", "items", "total_price", "created_at"],
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"type": "string", "enum": ["accepted", "shipped", "backordered"]},
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/CartItem"}},
                        "total_price": {"type": "integer"},
                        "created_at": {"type": "integer", "description": "milliseconds since the epoch"},
                        "shopper": {
                            "$ref": SHOPPER_DETAILS,
                            "description": "absent when none were given, or once the shopper was forgotten",
                        },
                    },
                },
                "ShopperDetails": {
                    "type": "object",
                    "required": list(shoppers.FIELDS),
                    "additionalProperties": False,
                    "properties": {
                        name: {"type": "string", "minLength": 1, "maxLength": length}
                        for name, length in shoppers.MAX_LENGTH.items()
                    },
                },
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "invalid_params": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
                            },
                        },
                    },
                },
                "Status": {
                    "type": "object",
                    "required": ["status", "checks"],
                    "properties": {"status": {"type": "string"}, "checks": {"type": "object"}},
                },
            },
            "responses": {
                "Problem": {
                    "description": "a problem with the request",
                    "content": {
                        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    },
                },
                "NotReady": {
                    "description": (
                        "retry after the Retry-After header: still loading, or (type) "
                        "/problems/overloaded, /problems/breaker-open, /problems/write-failed, "
                        "/problems/not-applied"
                    ),
                    "content": {
                        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    },
                },
            },
        },
    }


def _probe(summary: str) -> dict[str, Any]:
    status = {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}
    return {
        "summary": summary,
        "responses": {
            "200": {"description": "ok", "content": status},
            "503": {"description": "failing", "content": status},
        },
    }
