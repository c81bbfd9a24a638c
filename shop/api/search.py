"""The search routes' inputs: every parameter checked within the limits the extension exports (the
rules themselves are the Rust model's, `_core.search_query_problem`), each bad one a 400 naming it."""

from __future__ import annotations

from typing import NamedTuple

from shop import _core
from shop.api import http, inputs
from shop.api.http import Scope
from shop.api.problems import invalid

SEARCH_PARAMS = frozenset({"q", "category", "price_min", "price_max", "sort", "page", "per_page"})
SUGGEST_PARAMS = frozenset({"q"})
DEFAULT_PER_PAGE = 24


class SearchRequest(NamedTuple):
    """The arguments of `_core.Search.search`, in its order."""

    q: str
    category: str | None
    price_min: int | None
    price_max: int | None
    sort: str
    page: int
    per_page: int


def search_request(scope: Scope) -> SearchRequest:
    params = http.query_params(scope, SEARCH_PARAMS)
    sort = params.get("sort", "relevance")
    if sort not in _core.SEARCH_SORTS:
        raise invalid("sort", f"must be one of {', '.join(_core.SEARCH_SORTS)}")
    price_min = _price(params, "price_min")
    price_max = _price(params, "price_max")
    if price_min is not None and price_max is not None and price_min > price_max:
        raise invalid("price_max", "must not be below price_min")
    return SearchRequest(
        query(params),
        _category(params),
        price_min,
        price_max,
        sort,
        http.int_param(params, "page", 1, 1, _core.MAX_SEARCH_PAGE),
        http.int_param(params, "per_page", DEFAULT_PER_PAGE, 1, _core.MAX_SEARCH_PER_PAGE),
    )


def suggest_query(scope: Scope) -> str:
    return query(http.query_params(scope, SUGGEST_PARAMS))


def query(params: dict[str, str]) -> str:
    """The `q` parameter (empty when absent), if the model can search it."""
    q = inputs.text_id(params.get("q", ""), "q")
    problem = _core.search_query_problem(q)
    if problem is not None:
        raise invalid("q", problem)
    return q


def _category(params: dict[str, str]) -> str | None:
    category = params.get("category")
    if category is None:
        return None
    inputs.text_id(category, "category")
    if len(category) > _core.MAX_CATEGORY or not category.isprintable():
        raise invalid("category", f"must be printable text of at most {_core.MAX_CATEGORY} characters")
    return category


def _price(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    return inputs.whole_number(
        raw, name, 0, _core.MAX_PRICE, f"must be a whole number of cents from 0 to {_core.MAX_PRICE}"
    )
