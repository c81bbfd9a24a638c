"""Search end to end on a real broker: CSV import → pim publisher → search bridge → index → HTTP.
Changes, disables and re-enables are searchable at the offset they were applied at (a client's
Shop-Min-Offset); a bridge run twice changes nothing; a restart from the snapshot answers the same.
Bad input gets a 400 naming the parameter."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.server import ShopProcess
from shop import _core
from shop.config import Config
from shop.contexts import pim_csv, search
from shop.kafka import admin
from tests.support.polling import eventually
from tests.support.replay import rerun_pim_bridge

ROWS = 40


def sample_rows(rows: int = ROWS) -> list[list[str]]:
    out = io.StringIO()
    pim_csv.fake_products(rows, 5, out)
    return list(csv.reader(io.StringIO(out.getvalue())))


def import_rows(config: Config, rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    out.seek(0)
    pim_csv.import_products(config, out, progress=False)


def found(shop: ShopProcess, q: str, min_offset: int | None = None, **params: Any) -> dict[str, Any]:
    headers = {} if min_offset is None else {"Shop-Min-Offset": str(min_offset)}
    response = shop.get("/api/v1/search", params={"q": q, "per_page": 100, **params}, headers=headers)
    assert response.status_code == 200, response.text
    assert int(response.headers["shop-offset"]) <= response.json()["offset"]
    return dict(response.json())


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


def last_search_offset(config: Config) -> int:
    return admin.end_offset(config, config.topic(search.INTERNAL)) - 1


def bridged(config: Config, count: int) -> int:
    """The offset of search_internal once `count` events are there."""
    eventually(lambda: last_search_offset(config) + 1 >= count)
    return last_search_offset(config)


@pytest.fixture
def shop(config: Config, tmp_path: Path) -> Iterator[ShopProcess]:
    process = ShopProcess(config, tmp_path / "shop.log")
    yield process
    process.stop()


def test_imports_changes_disables_reruns_and_restarts_are_searchable(
    config: Config, shop: ShopProcess
) -> None:
    rows = sample_rows()
    import_rows(config, rows)
    shop.start()
    assert shop.get("/readyz").json()["checks"]["search"] is True
    everything = found(shop, "")
    assert everything["total"] == ROWS
    first = rows[1]
    name_word = first[1].split()[0].lower()
    by_name = found(shop, name_word)
    assert first[0] in ids(by_name) and by_name["total"] <= ROWS
    # The categories with the most results are listed; every result is in one, listed or not.
    counts = [f["count"] for f in by_name["facets"]["category"]]
    assert len(counts) == min(by_name["facet_categories_total"], _core.FACET_CATEGORIES)
    assert sum(counts) + (by_name["facet_categories_total"] - len(counts)) <= by_name["total"]
    assert sum(counts) == by_name["total"] or len(counts) == _core.FACET_CATEGORIES

    # A change and a disable, read at the offset they were applied at: no waiting, no polling.
    changed = [row[:] for row in rows]
    changed[1][1] = "Zebrafish aquarium"
    gone = changed.pop(2)[0]
    import_rows(config, changed)
    offset = bridged(config, ROWS + 2)
    after = found(shop, "zebrafsh aqua", offset)
    assert ids(after) == [first[0]]
    assert after["highlights"][0]["name"] == [[0, 9], [10, 18]]
    assert gone not in ids(found(shop, "", offset))
    suggested = shop.get("/api/v1/search/suggest", params={"q": "zebrafish aq"}).json()
    assert suggested["suggestions"] == ["zebrafish aquarium"]

    # Re-enabled, and back as it was.
    import_rows(config, rows)
    offset = bridged(config, ROWS + 4)
    assert found(shop, "", offset)["total"] == ROWS
    assert ids(found(shop, "zebrafish ", offset)) == []
    answers = {q: found(shop, q) for q in ("", name_word, "lorem ipsum", "dolre")}

    # The bridge run again from the start of pim_pub: every event bridged twice, nothing changes.
    rerun_pim_bridge(config, search.INTERNAL)
    offset = bridged(config, 2 * (ROWS + 4))
    for q, body in answers.items():
        again = found(shop, q, offset)
        assert {**again, "offset": 0} == {**body, "offset": 0}

    # Restarted: loaded from the snapshot written at shutdown, the same answers.
    answers = {q: found(shop, q) for q in answers}
    shop.stop()
    shop.start()
    assert f"loaded the snapshot of {config.topic(search.INTERNAL)}" in shop.log_tail(200)
    for q, body in answers.items():
        assert found(shop, q) == body
    refuses_bad_input(shop)


BAD_INPUT = [
    ({"q": "x" * (_core.MAX_QUERY + 1)}, "q"),
    ({"q": "shoe\u0000"}, "q"),
    ({"q": "shoe\u202e"}, "q"),
    ({"q": "\ufffd"}, "q"),
    ({"q": '"red shoe"'}, "q"),
    ({"q": "name:shoe"}, "q"),
    ({"q": "shoe*"}, "q"),
    ({"q": " ".join("w" * 11)}, "q"),
    ({"price_min": "-1"}, "price_min"),
    ({"price_max": str(10**13)}, "price_max"),
    ({"price_min": "5", "price_max": "4"}, "price_max"),
    ({"price_min": "1.5"}, "price_min"),
    ({"page": "0"}, "page"),
    ({"page": "99999999999999999999"}, "page"),
    ({"per_page": "1000"}, "per_page"),
    ({"sort": "random"}, "sort"),
    ({"category": "x" * 201}, "category"),
    ({"category": "a\u0007"}, "category"),
    ({"color": "red"}, "color"),
]


def refuses_bad_input(shop: ShopProcess) -> None:
    """Each bad parameter: a problem+json 400 naming it."""
    for params, name in BAD_INPUT:
        for path in ("/api/v1/search", "/api/v1/search/suggest"):
            if path.endswith("suggest") and set(params) != {"q"}:
                continue
            response = shop.get(path, params=params)
            assert response.status_code == 400, (path, params, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["invalid_params"][0]["name"] == name, (params, response.text)
    answer = shop.get("/api/v1/search", headers={"Shop-Min-Offset": "abc"})
    assert answer.status_code == 400
    fine = shop.get("/api/v1/search", params={"q": "men's t-shirt", "price_max": str(_core.MAX_PRICE)})
    assert fine.status_code == 200
