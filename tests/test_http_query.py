"""Query strings read as the standard library reads them, by the shortcut for unescaped ones."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from shop.api import http

QUERY_TEXT = st.text(
    alphabet=st.sampled_from("ab=&;%+ 1\x00\x7f") | st.characters(max_codepoint=127), max_size=40
)


@given(QUERY_TEXT)
def test_query_pairs_reads_a_query_as_parse_qsl_does(query: str) -> None:
    expected = parse_qsl(query, keep_blank_values=True, strict_parsing=False, errors="strict")
    assert http.query_pairs(query.encode("ascii")) == expected
