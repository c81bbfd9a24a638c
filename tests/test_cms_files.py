"""Content files: the front matter parser names the file and line of every problem, and the import
plan is the exact difference between a folder and the entries in cms."""

from __future__ import annotations

from pathlib import Path

import pytest

from shop._proto import cms_pb2
from shop.config import SAMPLE_CONTENT
from shop.contexts import cms_files

PAGE = """---
slug: shipping
title: "Shipping: fast"   # quoted, with a colon
kind: page
published: true
publish_at: 2026-12-24T08:00:00+01:00
position: -3
products: [p-1, 'p-2']
---

We ship *fast*.
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_becomes_its_entry() -> None:
    entry, slug_line = cms_files.parse_entry(PAGE)
    assert slug_line == 2
    assert (entry.slug, entry.title, entry.kind, entry.published) == (
        "shipping",
        "Shipping: fast",
        "page",
        True,
    )
    assert entry.publish_at == 1_798_095_600_000  # 07:00 UTC
    assert (entry.position, list(entry.products)) == (-3, ["p-1", "p-2"])
    assert entry.body == "We ship *fast*.\n"


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (lambda t: t.replace("---\n", "", 1), 1, "expected --- to open"),
        (lambda t: t.split("\n---\n")[0] + "\n", 8, "not closed by ---"),
        (
            lambda t: t.replace("kind: page", "kind: banner"),
            4,
            "kind: 'banner' is not one of page, hero, teaser",
        ),
        (lambda t: t.replace("slug: shipping", "slug: Ship It"), 2, "is not a slug"),
        (
            lambda t: t.replace("published: true", "published: yes"),
            5,
            "published: 'yes' is not true or false",
        ),
        (lambda t: t.replace("+01:00", ""), 6, "has no time zone"),
        (lambda t: t.replace("2026-12-24", "24.12.2026"), 6, "is not an ISO 8601 time"),
        (lambda t: t.replace("position: -3", "position: --3"), 7, "position: '--3' is not a whole number"),
        (lambda t: t.replace("[p-1, 'p-2']", "p-1, p-2"), 8, "expected a list"),
        (lambda t: t.replace("[p-1, 'p-2']", "[p-1, , p-2]"), 8, "an item of the list is empty"),
        (lambda t: t.replace("kind: page", "kind: page\ntitel: x"), 5, "unknown field 'titel'"),
        (
            lambda t: t.replace("kind: page", "kind: page\nkind: hero"),
            5,
            "kind is given twice (first on line 4)",
        ),
        (lambda t: t.replace("kind: page", "kind page"), 4, "expected key: value"),
        (lambda t: t.replace('title: "Shipping: fast"   # quoted, with a colon\n', ""), 8, "has no title"),
    ],
)
def test_a_broken_file_names_its_line(tmp_path: Path, change: object, line: int, message: str) -> None:
    assert callable(change)
    path = write(tmp_path, "shipping.md", change(PAGE))
    with pytest.raises(cms_files.ContentError) as raised:
        cms_files.parse_folder(tmp_path)
    assert str(raised.value).startswith(f"{path}: line {line}: ")
    assert message in str(raised.value)


def test_bytes_that_are_not_utf8_are_named_by_line(tmp_path: Path) -> None:
    (tmp_path / "bad.md").write_bytes(PAGE.encode() + b"\nok\n\xff\n")
    with pytest.raises(cms_files.ContentError, match=r"bad\.md: line 14: not UTF-8"):
        cms_files.parse_folder(tmp_path)


def test_a_slug_given_twice_names_both_files(tmp_path: Path) -> None:
    write(tmp_path, "a.md", PAGE)
    write(tmp_path, "b.md", PAGE)
    with pytest.raises(cms_files.ContentError, match=r"b\.md: line 2: slug shipping is taken by .*a\.md"):
        cms_files.parse_folder(tmp_path)


def entry(slug: str, body: str = "x", removed: bool = False) -> cms_pb2.Entry:
    return cms_pb2.Entry(slug=slug, title=slug, kind="page", published=True, body=body, removed=removed)


def test_the_plan_is_the_exact_difference() -> None:
    current = {
        "same": entry("same"),
        "edited": entry("edited", "old"),
        "gone": entry("gone"),
        "gone-before": entry("gone-before", removed=True),
        "back": entry("back", removed=True),
    }
    folder = [entry("same"), entry("edited", "new"), entry("back"), entry("fresh")]
    events, summary = cms_files.plan_import(folder, current)
    assert [(e.slug, e.body, e.removed) for e in events] == [
        ("edited", "new", False),
        ("back", "x", False),
        ("fresh", "x", False),
        ("gone", "x", True),
    ]
    assert (summary.files, summary.new, summary.changed, summary.unchanged, summary.removed) == (
        4,
        2,
        1,
        1,
        1,
    )
    applied = {**current, **{e.slug: e for e in events}}
    assert cms_files.plan_import(folder, applied)[0] == []


def test_the_sample_content_parses() -> None:
    entries = cms_files.parse_folder(SAMPLE_CONTENT)
    kinds = sorted({e.kind for e in entries})
    assert kinds == ["hero", "page", "teaser"]
