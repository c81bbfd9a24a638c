"""The Rust search index against the plain-Python reference (tests/support/reference_search.py):
random catalogs, changes, disables, bridged duplicates and batches; queries with typos, prefixes,
prefixes with typos, neighbouring words, filters and sorts give the same results, totals, facets
and suggestions."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.reference import ReferenceCatalog, product_changed
from shop import _core
from tests.support import reference_search

VOCABULARY = [
    "shoe",
    "shoes",
    "shirt",
    "boot",
    "boots",
    "running",
    "runner",
    "jacket",
    "trainers",
    "waterproof",
    "bag",
    "a1",
]
IDS = st.sampled_from([f"p{i}" for i in range(10)])
SEPARATORS = st.sampled_from([" ", "-", ", ", " / "])
CATEGORIES = st.sampled_from(["shoes", "shirts", "bags/small", ""])


@st.composite
def texts(draw: st.DrawFn, most: int = 4) -> str:
    chosen = draw(st.lists(st.sampled_from([*VOCABULARY, "Shoe", "BOOTS", "Émile"]), max_size=most))
    text = ""
    for word in chosen:
        text += word + draw(SEPARATORS)
    return text


@st.composite
def event_streams(draw: st.DrawFn) -> list[tuple[int, bytes]]:
    """search_internal messages: upserts, changes, disables and replayed bridge events."""
    events = []
    pim_offset = -1
    for offset in range(draw(st.integers(min_value=0, max_value=30))):
        kind = draw(st.sampled_from(["upsert", "upsert", "upsert", "disable", "replay"]))
        if kind == "replay" and pim_offset >= 0:
            source = draw(st.integers(min_value=0, max_value=pim_offset))
        else:
            pim_offset += 1
            source = pim_offset
        product = {
            "id": draw(IDS),
            "name": draw(texts(3)),
            "category": draw(CATEGORIES),
            "description": draw(texts()),
            "longtext": draw(texts()),
            "price": draw(st.integers(min_value=0, max_value=12000)),
        }
        events.append(product_changed(offset, source, disabled=kind == "disable", **product))
    return events


def typo(draw: st.DrawFn, word: str) -> str:
    """`word` with one edit: a swap, a deletion, an insertion or a substitution."""
    at = draw(st.integers(min_value=0, max_value=max(len(word) - 1, 0)))
    kind = draw(st.sampled_from(["swap", "delete", "insert", "replace"]))
    if kind == "swap" and at + 1 < len(word):
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if kind == "delete":
        return word[:at] + word[at + 1 :]
    letter = draw(st.sampled_from("aeiouxz"))
    return word[:at] + letter + word[at + (kind == "replace") :]


@st.composite
def queries(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        word = draw(st.sampled_from(VOCABULARY))
        shape = draw(st.sampled_from(["whole", "whole", "typo", "two typos", "prefix", "typed typo"]))
        if shape == "typo":
            word = typo(draw, word)
        elif shape == "two typos":
            word = typo(draw, typo(draw, word))
        elif shape == "prefix":
            word = word[: draw(st.integers(min_value=1, max_value=len(word)))]
        elif shape == "typed typo":
            word = typo(draw, word[: draw(st.integers(min_value=min(5, len(word)), max_value=len(word)))])
        parts.append(word.upper() if draw(st.booleans()) else word)
    return " ".join(parts) + draw(st.sampled_from(["", "", " ", "-"]))


@st.composite
def neighbour_queries(draw: st.DrawFn, names: list[str]) -> str:
    """Two or three words standing together in a name, in order or not, one maybe mistyped."""
    words = reference_search.words(draw(st.sampled_from(names)))
    start = draw(st.integers(min_value=0, max_value=max(len(words) - 2, 0)))
    chosen = words[start : start + draw(st.integers(min_value=2, max_value=3))]
    if draw(st.booleans()):
        chosen.reverse()
    mistyped = draw(st.booleans())
    if chosen and mistyped:
        at = draw(st.integers(min_value=0, max_value=len(chosen) - 1))
        chosen[at] = typo(draw, chosen[at])
    return " ".join(chosen) + draw(st.sampled_from(["", " "]))


def split(events: list[tuple[int, bytes]], cuts: list[int]) -> list[list[tuple[int, bytes]]]:
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


def answer(index: _core.Search, q: str, **filters: Any) -> dict[str, Any]:
    body = json.loads(index.search(q, per_page=_core.MAX_SEARCH_PER_PAGE, **filters))
    return {
        "ids": [item["id"] for item in body["items"]],
        "total": body["total"],
        "category": [(f["value"], f["count"]) for f in body["facets"]["category"]],
        "category_total": body["facet_categories_total"],
        "price": [f["count"] for f in body["facets"]["price"]],
    }


def build(events: list[tuple[int, bytes]], cuts: list[int]) -> tuple[_core.Search, ReferenceCatalog]:
    index, reference = _core.Search(), ReferenceCatalog()
    for batch in split(events, cuts):
        index.apply(batch)
    for offset, message in events:
        reference.apply(offset, message)
    return index, reference


@settings(max_examples=80, deadline=None)
@given(
    events=event_streams(),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=4),
    asked=st.lists(queries(), min_size=1, max_size=4),
    category=st.none() | CATEGORIES,
    prices=st.tuples(st.none() | st.integers(0, 6000), st.none() | st.integers(6000, 13000)),
    sort=st.sampled_from(_core.SEARCH_SORTS),
    data=st.data(),
)
def test_the_index_finds_what_the_reference_finds(
    events: list[tuple[int, bytes]],
    cuts: list[int],
    asked: list[str],
    category: str | None,
    prices: tuple[int | None, int | None],
    sort: str,
    data: st.DataObject,
) -> None:
    index, reference = build(events, cuts)
    assert len(index) == len(reference.products)
    names = [p["name"] for p in reference.products.values() if p["name"]]
    if names:
        asked = [*asked, data.draw(neighbour_queries(names))]
    filters: dict[str, Any] = {
        "category": category,
        "price_min": prices[0],
        "price_max": prices[1],
        "sort": sort,
    }
    for q in asked:
        expected = reference_search.search(reference, q, **filters)
        assert answer(index, q, **filters) == expected, q


@settings(max_examples=40, deadline=None)
@given(events=event_streams(), q=queries())
def test_suggestions_complete_the_last_word_with_words_that_find_something(
    events: list[tuple[int, bytes]], q: str
) -> None:
    index, reference = build(events, [])
    suggestions = json.loads(index.suggest(q))["suggestions"]
    typed = reference_search.words(q)
    expected = reference_search.suggest(reference, q, _core.MAX_SUGGESTIONS)
    assert [reference_search.words(s)[-1] for s in suggestions] == expected
    for suggestion in suggestions:
        assert reference_search.words(suggestion)[:-1] == typed[:-1]
        # Searched as whole words, a completion finds something.
        assert reference_search.search(reference, suggestion + " ")["total"] > 0, suggestion


def catalog_of(*products: dict[str, Any]) -> tuple[_core.Search, ReferenceCatalog]:
    events = [product_changed(i, i, price=100, **p) for i, p in enumerate(products)]
    return build(events, [])


def ranked(index: _core.Search, reference: ReferenceCatalog, q: str) -> list[str]:
    """The ids the index finds for `q`, in order, once the reference found the same."""
    found: list[str] = answer(index, q)["ids"]
    assert found == reference_search.search(reference, q)["ids"], q
    return found


def test_ranking_by_typos_then_field_then_whole_words() -> None:
    index, reference = catalog_of(
        {"id": "long", "name": "Lamp", "longtext": "a waterproof coat"},
        {"id": "desc", "name": "Coat", "description": "waterproof"},
        {"id": "name", "name": "Waterproof coat"},
        {"id": "typo", "name": "Watreproof coat"},
        {"id": "prefix", "name": "Waterproofed coat"},
    )
    assert ranked(index, reference, "waterproof") == ["name", "prefix", "desc", "long", "typo"]
    # Typed on: a space ends the word, which then matches whole words only ("waterproofed": 2 typos).
    assert ranked(index, reference, "waterproof ") == ["name", "desc", "long", "typo", "prefix"]


def test_ranking_by_proximity_after_typos_and_before_fields() -> None:
    index, reference = catalog_of(
        {"id": "apart", "name": "Shoe with red laces"},
        {"id": "category", "name": "Boot", "category": "red shoe"},
        {"id": "described", "name": "Red", "description": "a red shoe"},
        {"id": "near", "name": "Red shoe"},
        {"id": "reversed", "name": "Shoe, red"},
        {"id": "typo", "name": "Rde shoe"},
    )
    # Neighbours in order in the name or category first, even in a worse field; a description's
    # do not count; "rde" takes no typo (three letters).
    assert ranked(index, reference, "red shoe ") == ["near", "category", "apart", "reversed", "described"]
    index, reference = catalog_of(
        {"id": "apart", "name": "Jacket, waterproof"}, {"id": "typo", "name": "Waterprof jacket"}
    )
    assert ranked(index, reference, "waterproof jacket") == ["apart", "typo"]


def test_the_last_word_typed_matches_starts_within_its_typos() -> None:
    index, reference = catalog_of(
        {"id": "horn", "name": "Shoehorn"}, {"id": "shoes", "name": "Shoes"}, {"id": "rack", "name": "Rack"}
    )
    for q, expected in [("sheoh", ["horn"]), ("sheoh ", []), ("shoes", ["shoes", "horn"])]:
        assert ranked(index, reference, q) == expected
    assert json.loads(index.suggest("sheoh"))["suggestions"] == ["shoehorn"]
    assert json.loads(index.suggest("shoes"))["suggestions"] == ["shoes", "shoehorn"]


def test_the_category_facet_lists_the_most_found_and_the_chosen_one() -> None:
    # Category c{n} holds n + 1 shoes: c24 most, c0 least.
    shoes = [
        {"id": f"{n}-{k}", "name": "Shoe", "category": f"c{n:02}"} for n in range(25) for k in range(n + 1)
    ]
    index, reference = catalog_of(*shoes)
    body = json.loads(index.search("shoe"))
    listed = [(f["value"], f["count"]) for f in body["facets"]["category"]]
    assert listed == [(f"c{n:02}", n + 1) for n in range(24, 4, -1)]
    assert body["facet_categories_total"] == 25
    chosen = answer(index, "shoe", category="c00")
    assert chosen["category"] == [*listed, ("c00", 1)] and chosen["category_total"] == 25
    assert chosen == reference_search.search(reference, "shoe", category="c00")
    assert reference_search.FACET_CATEGORIES == _core.FACET_CATEGORIES


def test_short_words_take_no_typo_and_long_ones_two() -> None:
    index, _ = catalog_of({"id": "a", "name": "Boot"}, {"id": "b", "name": "Waterproofs"})
    assert answer(index, "bot ")["ids"] == []
    assert answer(index, "watrprofs")["ids"] == ["b"]
    assert json.loads(index.search("bott "))["did_you_mean"] == "boot"


def test_highlights_mark_matched_words_in_utf16_ranges() -> None:
    index, _ = catalog_of({"id": "a", "name": "😀 Red shoe", "category": "shoes"})
    body = json.loads(index.search("sho"))
    assert body["highlights"] == [{"name": [[7, 11]], "category": [[0, 5]]}]
