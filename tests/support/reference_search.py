"""The plain-Python reference search: the matching and ranking rules of core_rs's search context
(docs/search.md), by brute force over the reference catalog's products."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from fixtures.reference import ReferenceCatalog

FIELDS = ("name", "category", "description", "longtext")
# Where consecutive query words count as neighbours (proximity).
PAIRED_FIELDS = ("name", "category")
PRICE_BUCKETS = (0, 1000, 2500, 5000, 10000)
FACET_CATEGORIES = 20

# (typos, words apart, fields, prefixes)
Score = tuple[int, int, int, int]


def words(text: str) -> list[str]:
    """Maximal runs of alphanumeric characters, lowercased."""
    found, current = [], ""
    for c in text:
        if c.isalnum():
            current += c.lower()
        elif current:
            found.append(current)
            current = ""
    return [*found, current] if current else found


def max_typos(word: str) -> int:
    return 0 if len(word) < 5 else 1 if len(word) < 9 else 2


def distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, neighbour swaps."""
    return distances(a, b)[-1]


def distances(a: str, b: str) -> list[int]:
    """The distance from `a` to each prefix of `b`, the empty one first and `b` last."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)]


def match_word(query_word: str, last: bool, term: str) -> tuple[int, bool] | None:
    """(typos, as a prefix) of the best way `query_word` matches `term`; None if it does not. The
    last word, while typed, also matches the start of a word within its typos."""
    if term == query_word:
        return 0, False
    if last and term.startswith(query_word):
        return 0, True
    row = distances(query_word, term)
    found = [(row[-1], False)]
    if last:
        found.append((min(row), True))
    best = min(found)
    return best if 0 < best[0] <= max_typos(query_word) else None


def query_words(q: str) -> list[tuple[str, bool]]:
    """Each query word, and whether it matches as a prefix too (the last, while typed)."""
    found = words(q)
    typing = q[-1:].isalnum()
    return [(word, typing and i == len(found) - 1) for i, word in enumerate(found)]


def apart(product: dict[str, Any], query: list[tuple[str, bool]]) -> int:
    """How many consecutive query words are not neighbours, in that order, in a paired field."""
    return sum(
        not any(
            match_word(first, first_last, a) is not None and match_word(second, second_last, b) is not None
            for field in PAIRED_FIELDS
            for a, b in pairwise(words(product[field]))
        )
        for (first, first_last), (second, second_last) in pairwise(query)
    )


def score(product: dict[str, Any], query: list[tuple[str, bool]]) -> Score | None:
    """(typos, words apart, fields, prefixes): the typos, fields and prefixes summed over the query
    words' best matches; None if one is missing."""
    total = [0, 0, 0]
    for word, last in query:
        best = None
        for field, name in enumerate(FIELDS):
            for term in words(product[name]):
                found = match_word(word, last, term)
                if found is not None:
                    best = min(best or (9, 9, 9), (found[0], field, int(found[1])))
        if best is None:
            return None
        total = [t + b for t, b in zip(total, best, strict=True)]
    return total[0], apart(product, query), total[1], total[2]


def search(
    catalog: ReferenceCatalog,
    q: str,
    category: str | None = None,
    price_min: int | None = None,
    price_max: int | None = None,
    sort: str = "relevance",
) -> dict[str, Any]:
    """Every result in order (ids), `total` and the facets, as the API answers them."""
    query = query_words(q)
    matched = []
    for product in catalog.products.values():
        found = score(product, query)
        if found is not None:
            matched.append((product, found))
    low = price_min if price_min is not None else -(2**63)
    high = price_max if price_max is not None else 2**63

    def in_category(p: dict[str, Any]) -> bool:
        return category is None or bool(p["category"] == category)

    def in_price(p: dict[str, Any]) -> bool:
        return bool(low <= p["price"] <= high)

    categories: dict[str, int] = {}
    prices = [0] * len(PRICE_BUCKETS)
    for product, _ in matched:
        if in_price(product):
            categories[product["category"]] = categories.get(product["category"], 0) + 1
        if in_category(product):
            prices[bucket(product["price"])] += 1
    results = [(p, s) for p, s in matched if in_category(p) and in_price(p)]
    keys = {
        "relevance": lambda r: (r[1], r[0]["id"].encode()),
        "price": lambda r: (r[0]["price"], r[0]["id"].encode()),
        "name": lambda r: (r[0]["name"].encode(), r[0]["id"].encode()),
    }
    results.sort(key=keys[sort])
    return {
        "ids": [p["id"] for p, _ in results],
        "total": len(results),
        "category": listed_categories(categories, category),
        "category_total": len(categories),
        "price": prices,
    }


def suggest(catalog: ReferenceCatalog, q: str, most: int) -> list[str]:
    """The words completing the last word of `q` (as a search while it is typed matches them),
    among the products matching the words before it as whole words: fewest typos first, then
    found in most of those products, then in order; `most` of them."""
    typed = words(q)
    if not typed:
        return []
    before = " ".join(typed[:-1]) + " "
    within: list[str] = search(catalog, before)["ids"] if len(typed) > 1 else list(catalog.products)
    counts: dict[str, tuple[int, int]] = {}
    for id_ in within:
        product = catalog.products[id_]
        for term in {term for name in FIELDS for term in words(product[name])}:
            found = match_word(typed[-1], True, term)
            if found is not None:
                typos, count = counts.get(term, (found[0], 0))
                counts[term] = (typos, count + 1)
    ranked = sorted(counts.items(), key=lambda kv: (kv[1][0], -kv[1][1], kv[0]))
    return [term for term, _ in ranked[:most]]


def listed_categories(counts: dict[str, int], chosen: str | None) -> list[tuple[str, int]]:
    """The FACET_CATEGORIES categories with the most results (most first, then by name), then the
    chosen one if it has results and is not among them."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))
    listed = ranked[:FACET_CATEGORIES]
    return listed + [kv for kv in ranked[FACET_CATEGORIES:] if kv[0] == chosen]


def bucket(price: int) -> int:
    return max([i for i, low in enumerate(PRICE_BUCKETS) if price >= low], default=0)
