"""Query strings read as the standard library reads them, by the shortcut for unescaped ones; a
catalog page's query, read in Rust, by the same rules."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from shop import _core
from shop.api import http
from shop.api.app import _page_request
from shop.api.problems import Problem, invalid

QUERY_TEXT = st.text(
    alphabet=st.sampled_from("ab=&;%+ 1\x00\x7f") | st.characters(max_codepoint=127), max_size=40
)


@given(QUERY_TEXT)
def test_query_pairs_reads_a_query_as_parse_qsl_does(query: str) -> None:
    expected = parse_qsl(query, keep_blank_values=True, strict_parsing=False, errors="strict")
    assert http.query_pairs(query.encode("ascii")) == expected


# Queries of the catalog's parameters (escaped too, or given twice), and arbitrary ASCII ones.
PAGE_PARAM = st.sampled_from(["sort", "prefix", "page", "per_page", "so%72t", "pag", "Page", ""])
PAGE_VALUE = st.sampled_from(
    ["", "id", "price", "name", "price_desc", "0", "1", "007", "1000", "1001", "%2B1", "1%30"]
) | (st.text(alphabet=st.sampled_from("ab%C3A9+1 ²-_"), max_size=8))
PAGE_QUERY = st.lists(st.tuples(PAGE_PARAM, PAGE_VALUE), max_size=5).map(
    lambda pairs: "&".join(f"{name}={value}" for name, value in pairs)
) | QUERY_TEXT.filter(lambda query: query.isascii())


def reference_page_request(raw: bytes) -> tuple[str, str, int, int]:
    """A catalog page's query as every other route reads one: `http.query_params`, then the
    catalog's limits."""
    params = http.query_params({"query_string": raw}, frozenset({"sort", "prefix", "page", "per_page"}))
    sort = params.get("sort", "id")
    if sort not in _core.SORTS:
        raise invalid("sort", f"must be one of {', '.join(_core.SORTS)}")
    prefix = params.get("prefix", "")
    if len(prefix) > _core.MAX_PREFIX:
        raise invalid("prefix", f"must be at most {_core.MAX_PREFIX} characters")
    page = http.int_param(params, "page", 1, 1, _core.MAX_PAGE)
    per_page = http.int_param(params, "per_page", 100, 1, _core.MAX_PER_PAGE)
    return sort, prefix, page, per_page


def answer(read: Callable[[], tuple[str, str, int, int]]) -> object:
    try:
        return read()
    except Problem as problem:
        return problem.status, problem.body()


@given(PAGE_QUERY | st.binary(max_size=12))
def test_a_catalog_page_query_is_read_by_the_rules_of_every_query(query: str | bytes) -> None:
    raw = query.encode() if isinstance(query, str) else query
    expected = answer(lambda: reference_page_request(raw))
    assert answer(lambda: _page_request({"query_string": raw})) == expected


def test_a_catalog_page_query_refused_names_what_is_wrong() -> None:
    cases = {
        b"sort=x": b"invalid parameter sort: must be one of id, price, price_desc, name",
        b"page=1&page=2": b"invalid parameter page: given more than once",
        b"per_page=0": b"invalid parameter per_page: must be a whole number from 1 to 1000",
        b"prefix=" + b"a" * 101: b"invalid parameter prefix: must be at most 100 characters",
        b"prefix=%C3": b"the query string is not valid percent-encoded UTF-8",
    }
    for raw, detail in cases.items():
        refused = answer(lambda raw=raw: _page_request({"query_string": raw}))  # type: ignore[misc]
        assert isinstance(refused, tuple) and refused[0] == 400 and detail in refused[1], raw
    assert _page_request({"query_string": b"prefix=%C3%A9+x&page=007"}) == ("id", "é x", 7, 100)
