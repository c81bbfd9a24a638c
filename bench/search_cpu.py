"""CPU per search and per suggestion of the search model, from one thread (`time.thread_time()`:
on a machine shared with other work the wall clock is partly theirs, a thread's CPU much less so).

    python -m bench.search_cpu ROWS

Indexes ROWS products as `python -m bench.search` does, then runs, each three times (the least
counts): its queries (1-3 product words, one in five with a typo), queries of 2-3 neighbouring
words of product names (what proximity ranks), its suggestions (1-6 letters), and suggestions of
5-6 letters with a typo (typo-tolerant completions). The bench catalog has 129 distinct words, so
a dictionary scan costs little there: the typo suggestions are also run on an index of
DICTIONARY_PRODUCTS products named by random words (a dictionary of about 100,000 words).
Prints one JSON line.
"""

from __future__ import annotations

import json
import random
import string
import sys
import time
from collections.abc import Callable

from bench import data
from bench import search as bench_search
from bench.memory import BATCH
from fixtures.reference import product_changed
from shop import _core
from shop._proto import catalog_pb2

ROUNDS = 3
DICTIONARY_PRODUCTS = 20_000
# Inputs run on the large dictionary: a search there scans it, tens of milliseconds each.
DICTIONARY_INPUTS = 100
NAMES_PER_BATCH = 10


def cpu_ms(call: Callable[[str], object], inputs: list[str]) -> float:
    """Thread CPU milliseconds per call, the least of ROUNDS runs over `inputs`."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.thread_time()
        for text in inputs:
            call(text)
        best = min(best, (time.thread_time() - started) * 1000 / len(inputs))
    return best


def neighbour_queries(rng: random.Random, names: list[str], count: int) -> list[str]:
    """2-3 words standing together in a product name."""
    queries = []
    for _ in range(count):
        words = rng.choice(names).split()
        start = rng.randrange(max(len(words) - 1, 1))
        queries.append(" ".join(words[start : start + rng.randint(2, 3)]))
    return queries


def typed_typos(rng: random.Random, words: list[str], count: int) -> list[str]:
    """The first 5-6 letters of words of 5 letters or more, one of them changed."""
    long = [word for word in words if len(word) >= 5]
    return [bench_search.with_typo(rng, rng.choice(long)[: rng.randint(5, 6)]) for _ in range(count)]


def dictionary_index(rng: random.Random) -> tuple[_core.Search, list[str]]:
    """An index of DICTIONARY_PRODUCTS products, each named by five random words of 5-9 letters."""
    index, words = _core.Search(), []
    batch = []
    for n in range(DICTIONARY_PRODUCTS):
        named = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 9))) for _ in range(5)]
        words.extend(named)
        batch.append(product_changed(n, n, id=f"p{n}", name=" ".join(named), price=100))
    index.apply(batch)
    return index, words


def main(rows: int) -> None:
    index, names = _core.Search(), []
    for batch in data.catalog_batches(rows, BATCH):
        index.apply(batch)
        for _, message in batch[:NAMES_PER_BATCH]:
            names.append(catalog_pb2.InternalMessage.FromString(message).product_changed.product.name)
    rng = random.Random(data.SEED)
    suggest_in = bench_search.suggest_inputs(rng, bench_search.SUGGESTIONS)
    search_in = bench_search.search_queries(rng, bench_search.SEARCHES)
    neighbours = neighbour_queries(rng, names, bench_search.SEARCHES)
    vocabulary = [word.lower() for name in names for word in name.split()]
    suggest_typos = typed_typos(rng, vocabulary, bench_search.SUGGESTIONS)
    large, large_words = dictionary_index(rng)
    large_typos = typed_typos(rng, large_words, DICTIONARY_INPUTS)
    result = {
        "products": len(index),
        "search_cpu_ms": cpu_ms(index.search, search_in),
        "neighbour_search_cpu_ms": cpu_ms(index.search, neighbours),
        "suggest_cpu_ms": cpu_ms(index.suggest, suggest_in),
        "suggest_typo_cpu_ms": cpu_ms(index.suggest, suggest_typos),
        "dictionary_words": len(set(large_words)),
        "dictionary_suggest_typo_cpu_ms": cpu_ms(large.suggest, large_typos),
        "dictionary_search_typo_cpu_ms": cpu_ms(large.search, large_typos),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(int(sys.argv[1]))
