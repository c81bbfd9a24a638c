"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from shop import __version__

PROBLEM = {"$ref": "#/components/responses/Problem"}
NOT_READY = {"$ref": "#/components/responses/NotReady"}


def _json_and_protobuf(schema: str) -> dict[str, Any]:
    return {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}},
        "application/x-protobuf": {
            "schema": {"type": "string", "format": "binary", "description": f"protobuf shop.catalog.{schema}"}
        },
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


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
                        _query("sort", {"type": "string", "enum": ["id", "price", "name"]}, "order"),
                        _query(
                            "prefix", {"type": "string", "maxLength": 100}, "name prefix (case-sensitive)"
                        ),
                        _query("page", {"type": "integer", "minimum": 1, "maximum": 1_000_000_000}, "from 1"),
                        _query("per_page", {"type": "integer", "minimum": 1, "maximum": 1000}, "items"),
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
                        "200": {"description": "the product", "content": _json_and_protobuf("ProductView")},
                        "404": PROBLEM,
                        "503": NOT_READY,
                    },
                }
            },
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
                "Page": {
                    "type": "object",
                    "required": ["items", "total", "page", "pages", "per_page", "sort", "prefix"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/ProductView"}},
                        "total": {"type": "integer", "minimum": 0},
                        "page": {"type": "integer", "minimum": 1},
                        "pages": {"type": "integer", "minimum": 0},
                        "per_page": {"type": "integer", "minimum": 1},
                        "sort": {"type": "string", "enum": ["id", "price", "name"]},
                        "prefix": {"type": "string"},
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
                    "description": "still loading; retry after the Retry-After header",
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
