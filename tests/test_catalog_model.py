"""The Rust catalog against the plain-Python reference: random event sequences, every sort, prefix
and page size give exactly the same pages."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.reference import ReferenceCatalog, fold, product_changed
from shop import _core
from shop._proto import catalog_pb2
from shop.kafka.projection import UNTIL_TOLD

IDS = st.sampled_from([f"p{i}" for i in range(12)] + ["ä", "Z", "p1x"])
# Case, accents (composed and combining), and letters whose folding changes their length.
NAMES = st.text(alphabet='abAéÉ\u0301ßẞİﬁ "\\\n', min_size=0, max_size=4)
PRICES = st.integers(min_value=-3, max_value=5)


@st.composite
def event_streams(draw: st.DrawFn) -> list[tuple[int, bytes]]:
    """catalog_internal messages: upserts, changes, disables, re-enables and replayed bridge events."""
    events = []
    pim_offset = -1
    for offset in range(draw(st.integers(min_value=0, max_value=40))):
        kind = draw(st.sampled_from(["upsert", "upsert", "upsert", "disable", "replay"]))
        if kind == "replay" and pim_offset >= 0:
            source = draw(st.integers(min_value=0, max_value=pim_offset))
        else:
            pim_offset += draw(st.integers(min_value=1, max_value=3))
            source = pim_offset
        events.append(
            product_changed(
                offset,
                source,
                id=draw(IDS),
                name=draw(NAMES),
                price=draw(PRICES),
                description=draw(st.text(max_size=3)),
                category="c/d",
                disabled=kind == "disable",
            )
        )
    return events


def split(events: list[tuple[int, bytes]], cuts: list[int]) -> list[list[tuple[int, bytes]]]:
    bounds = sorted({0, len(events), *(c % (len(events) + 1) for c in cuts)})
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None)
@given(
    events=event_streams(),
    cuts=st.lists(st.integers(min_value=0, max_value=50), max_size=4),
    sort=st.sampled_from(_core.SORTS),
    prefix=st.sampled_from(["", "a", "ab", "A", "é", "E", "e\u0301", "b", "ss", "SS", "ẞ", "İ", "fi", "zz"]),
    page=st.integers(min_value=1, max_value=6),
    per_page=st.integers(min_value=1, max_value=7),
)
def test_pages_match_the_reference(
    events: list[tuple[int, bytes]], cuts: list[int], sort: str, prefix: str, page: int, per_page: int
) -> None:
    catalog, reference = _core.Catalog(), ReferenceCatalog()
    for batch in split(events, cuts):
        assert catalog.apply(batch) == []
    for offset, message in events:
        reference.apply(offset, message)
    assert catalog.offset == reference.offset
    assert catalog.pim_offset == reference.pim_offset
    assert len(catalog) == len(reference.products)
    assert json.loads(catalog.page(sort, prefix, page, per_page)) == reference.page(
        sort, prefix, page, per_page
    )
    for product_id, product in reference.products.items():
        assert json.loads(catalog.product(product_id) or b"null") == product


@settings(max_examples=100, deadline=None)
@given(events=event_streams(), cuts=st.lists(st.integers(min_value=0, max_value=50), max_size=4))
def test_replaying_gives_the_same_state(events: list[tuple[int, bytes]], cuts: list[int]) -> None:
    once, twice = _core.Catalog(), _core.Catalog()
    once.apply(events)
    for batch in split(events, cuts):
        twice.apply(batch)
    # A bridge that ran again: the same source offsets once more change nothing.
    replayed = [(len(events) + i, message) for i, (_, message) in enumerate(events)]
    twice.apply(replayed)
    for sort in _core.SORTS:
        assert once.page(sort, "", 1, 1000) == twice.page(sort, "", 1, 1000)


@settings(max_examples=200, deadline=None)
@given(
    events=event_streams(),
    cuts=st.lists(st.integers(min_value=0, max_value=50), max_size=6),
    sort=st.sampled_from(_core.SORTS),
    prefix=st.sampled_from(["", "a", "b"]),
    page=st.integers(min_value=1, max_value=4),
    per_page=st.integers(min_value=1, max_value=5),
    protobuf=st.booleans(),
)
def test_a_page_marked_as_shown_comes_back_only_when_it_changed(
    events: list[tuple[int, bytes]],
    cuts: list[int],
    sort: str,
    prefix: str,
    page: int,
    per_page: int,
    protobuf: bool,
) -> None:
    """What the app's page cache relies on: a body withheld is the body the page has now."""
    catalog = _core.Catalog()
    shown, cached = catalog.page_unless_shown(sort, prefix, page, per_page, protobuf)
    for batch in split(events, cuts):
        catalog.apply(batch)
        mark, body = catalog.page_unless_shown(sort, prefix, page, per_page, protobuf, shown)
        assert mark.offset == catalog.offset
        current = catalog.page(sort, prefix, page, per_page, protobuf)
        if body is None:
            assert cached == current
        else:
            assert body == current
            cached = body
        shown = mark


def test_a_shown_page_is_kept_through_changes_to_other_products_and_not_through_its_own() -> None:
    catalog = _core.Catalog()
    catalog.apply([product_changed(i, i, id=f"p{i}", name=f"n{i}", price=i) for i in range(10)])
    body: bytes | None  # None once a mark is given and the page it marks still holds
    shown, body = catalog.page_unless_shown("name", "", 1, 3)
    assert [p["id"] for p in json.loads(body)["items"]] == ["p0", "p1", "p2"]

    catalog.apply([product_changed(10, 10, id="p7", name="n7", price=70)])  # not on the page
    shown, body = catalog.page_unless_shown("name", "", 1, 3, False, shown)
    assert (shown.offset, body) == (10, None)

    catalog.apply([product_changed(11, 11, id="p1", name="n1", price=11)])  # on it: a new price
    shown, body = catalog.page_unless_shown("name", "", 1, 3, False, shown)
    assert body is not None and json.loads(body)["items"][1]["price"] == 11

    catalog.apply([product_changed(12, 12, id="p9", name="n9", price=9, disabled=True)])  # total
    shown, body = catalog.page_unless_shown("name", "", 1, 3, False, shown)
    assert body is not None and json.loads(body)["total"] == 9


# Latin, IPA, combining marks, Greek and Cyrillic (letters whose folding every Unicode version since
# Python's agrees on), and a few whose folding is more than a case change.
WIDE_NAMES = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x52F, exclude_categories=["Cc", "Cn"])
    | st.sampled_from("ßẞﬁﬀ\u017fΩ\u212a\u212b"),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(WIDE_NAMES, max_size=30),
    pick=st.integers(min_value=0),
    cut=st.integers(min_value=0, max_value=8),
    swap_case=st.booleans(),
    sort=st.sampled_from(_core.SORTS),
)
def test_a_name_prefix_finds_what_a_folded_brute_force_filter_finds(
    names: list[str], pick: int, cut: int, swap_case: bool, sort: str
) -> None:
    catalog = _core.Catalog()
    catalog.apply([product_changed(i, i, id=f"p{i}", name=name, price=i % 3) for i, name in enumerate(names)])
    # A prefix of one of the names, in another case, or any text.
    prefix = names[pick % len(names)][:cut] if names else "a"
    prefix = prefix.swapcase() if swap_case else prefix
    page = json.loads(catalog.page(sort, prefix, 1, 1000))
    expected = {f"p{i}" for i, name in enumerate(names) if fold(name).startswith(fold(prefix))}
    assert {item["id"] for item in page["items"]} == expected
    assert page["total"] == len(expected)


def test_lorem_finds_lorem_whatever_its_case_and_accents() -> None:
    catalog = _core.Catalog()
    catalog.apply(
        [
            product_changed(i, i, id=f"p{i}", name=name)
            for i, name in enumerate(["Lorem ipsum", "lorem dolor", "Ipsum lorem", "Lórem"])
        ]
    )
    for prefix in ["lorem", "Lörem", "LOREM", "Lorem"]:
        page = json.loads(catalog.page("name", prefix, 1, 10))
        assert [item["id"] for item in page["items"]] == ["p3", "p1", "p0"], prefix
        assert page["prefix"] == prefix


def test_protobuf_page_carries_the_same_page() -> None:
    catalog = _core.Catalog()
    catalog.apply([product_changed(0, 0, id="a", name="Apple", price=250, description="crisp")])
    page = catalog_pb2.Page.FromString(catalog.page("price", "Ap", 1, 10, protobuf=True))
    assert (page.total, page.page, page.pages, page.per_page, page.sort, page.prefix) == (
        1,
        1,
        1,
        10,
        "price",
        "Ap",
    )
    assert [(p.id, p.name, p.price) for p in page.items] == [("a", "Apple", 250)]
    assert [field.name for field, _ in page.items[0].ListFields()] == ["id", "price", "name"]
    view = catalog_pb2.ProductView.FromString(catalog.product("a", protobuf=True) or b"")
    assert view.name == "Apple"


def test_undecodable_events_are_reported_and_change_nothing_but_the_offset() -> None:
    catalog = _core.Catalog()
    poison = catalog.apply([product_changed(0, 0, id="a", name="A"), (1, b"\xff\xff"), (2, b"")])
    assert [offset for offset, _ in poison] == [1, 2]
    assert all(error for _, error in poison)
    assert catalog.offset == 2
    assert len(catalog) == 1


def test_bad_page_arguments_raise_clear_errors() -> None:
    catalog = _core.Catalog()
    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: catalog.page("color", "", 1, 10), "unknown sort"),
        (lambda: catalog.page("id", "", 1, 0), "per_page"),
        (lambda: catalog.page_unless_shown("color", "", 1, 10), "unknown sort"),
        (lambda: catalog.page_unless_shown("id", "", 1, 0), "per_page"),
    ]
    for call, message in calls:
        try:
            call()
        except ValueError as exc:
            assert message in str(exc)
        else:
            raise AssertionError("no error")


def test_a_load_from_nothing_publishes_its_batches_with_the_one_that_reaches_the_end() -> None:
    """`catch_up_to`: batches before the end are applied to one copy, unpublished; the batch that
    reaches the end publishes them all, and both copies hold them after (the second is cloned)."""
    events = [product_changed(n, n, id=f"p{n}", name=f"name {n}", price=100 + n) for n in range(6)]
    catalog = _core.Catalog()
    catalog.catch_up_to(3)
    catalog.apply(events[0:2])
    catalog.apply(events[2:3])
    assert (catalog.offset, catalog.sizes()["products"]) == (-1, 0)
    assert catalog.product("p0") is None, "readers see it empty until the end is reached"
    catalog.apply(events[3:4])
    assert (catalog.offset, catalog.sizes()["products"]) == (3, 4)
    for batch, total in (([events[4]], 5), ([events[5]], 6), ([], 6)):  # each copy in turn
        catalog.apply(batch)
        assert json.loads(catalog.page("id", "", 1, 10))["total"] == total
    # Once anything is published, catching up alone is not asked for again.
    catalog.catch_up_to(100)
    catalog.apply([product_changed(6, 6, id="p6", name="name 6", price=106)])
    assert (catalog.offset, catalog.sizes()["products"]) == (6, 7)


def test_a_first_start_holds_its_batches_until_told_the_end_and_publishes_on_reaching_it() -> None:
    """A first start catches up to `UNTIL_TOLD` until its bridges know their end: told an end it
    has applied already, it publishes at once; told one ahead, with the batch that reaches it."""
    events = [product_changed(n, n, id=f"p{n}", name=f"name {n}", price=100 + n) for n in range(8)]
    told_late, told_early = _core.Catalog(), _core.Catalog()
    for catalog in (told_late, told_early):
        catalog.catch_up_to(UNTIL_TOLD)
        catalog.apply(events[0:3])
        assert (catalog.offset, catalog.sizes()["products"]) == (-1, 0)
    told_late.catch_up_to(1)  # its bridges had written up to offset 1: it is past that
    assert (told_late.offset, told_late.sizes()["products"]) == (2, 3)
    told_early.catch_up_to(5)
    told_early.apply(events[3:5])
    assert (told_early.offset, told_early.sizes()["products"]) == (-1, 0)
    told_early.apply(events[5:7])
    assert (told_early.offset, told_early.sizes()["products"]) == (6, 7)
    for catalog, total in ((told_late, 4), (told_early, 8)):  # on from there, each copy in turn
        catalog.apply([events[total - 1]])
        catalog.apply([])
        assert json.loads(catalog.page("id", "", 1, 10))["total"] == total
