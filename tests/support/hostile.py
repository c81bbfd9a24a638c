"""Hypothesis strategies for what a client may send the app (query strings, headers, cookies, bodies,
ids and whole numbers that look right to a lenient parser), shared by the fuzz and hostile-input
tests, and the check every answer must pass."""

from __future__ import annotations

import contextlib
import json
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("SHOP_FUZZ_EXAMPLES", "200"))  # `make fuzz` sets many more
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def assert_well_answered(status: int, headers: dict[bytes, bytes], body: bytes) -> None:
    assert status < 500, body
    if status >= 400:
        assert headers[b"content-type"] == b"application/problem+json"
        assert json.loads(body)["status"] == status
    elif headers[b"content-type"] == b"application/json":
        json.loads(body)


TEXT = st.text(max_size=30)
QUERY_NAMES = st.sampled_from(["sort", "prefix", "page", "per_page", "x", "", "page[]", "sort%00"])
QUERY_VALUES = st.one_of(
    TEXT, st.integers(-(2**70), 2**70).map(str), st.sampled_from(["id", "price", "name", "1e3", " 1", "0x10"])
)
QUERIES = st.one_of(
    st.binary(max_size=60),
    st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=5).map(
        lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")
    ),
)
HEADER_VALUES = st.one_of(
    st.binary(max_size=40), st.sampled_from([b'"1"', b'W/"0"', b"3", b"-1", b"99999999999999999999"])
)
QUANTITIES = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    TEXT,
    st.lists(st.integers(), max_size=2),
)
BODIES = st.one_of(
    st.binary(max_size=2000).map(lambda b: [b]),
    st.dictionaries(st.sampled_from(["quantity", "q", ""]), QUANTITIES, max_size=3).map(
        lambda d: [json.dumps(d).encode()]
    ),
    st.lists(st.binary(max_size=600), max_size=4),
)

# Whole numbers as a lenient parser sees them: `int()` takes whitespace, underscores, a sign and any
# Unicode digit; `str.isdigit()` also superscripts; `lstrip("-")` a doubled sign.
ARABIC_ONE, ARABIC_TWO = "\u0661", "\u0662"  # Arabic-Indic digits
SUPERSCRIPT_ONE, SUPERSCRIPT_TWO = "\u00b9", "\u00b2"  # Latin-1: b"\xb9", b"\xb2" in a header
MATH_ONE, FULLWIDTH_ONE, FULLWIDTH_TWO, NKO_ONE = "\U0001d7d9", "\uff11", "\uff12", "\u07c1"
NON_ASCII_DIGITS = [
    ARABIC_ONE,
    ARABIC_TWO,
    SUPERSCRIPT_ONE,
    SUPERSCRIPT_TWO,
    MATH_ONE,
    FULLWIDTH_ONE,
    NKO_ONE,
]
NUMERAL_PARTS = ["0", "1", "7", "9", "-", "+", "_", " ", "\t", "\n", ".", "e", "x", *NON_ASCII_DIGITS]
TRICKY_NUMERALS = [
    *("--1", "+-1", "-+1", "++1", "+1", "-0", "-1", "1_000", "1__0", "_1"),
    *(" 1", "1 ", "\t2", "3\n", "\n3", "1e3", "0x10", "1.0", "1.", "", "-", "+"),
    *(ARABIC_ONE + ARABIC_TWO, ARABIC_ONE, SUPERSCRIPT_TWO, "1" + SUPERSCRIPT_TWO, MATH_ONE),
    *(FULLWIDTH_ONE + FULLWIDTH_TWO, "-" + ARABIC_ONE, "0" * 30, "9" * 19, "9" * 25),
]
NUMERALS = st.one_of(
    st.sampled_from(TRICKY_NUMERALS),
    st.lists(st.sampled_from(NUMERAL_PARTS), max_size=8).map("".join),
    st.integers(-(2**70), 2**70).map(str),
    TEXT,
)


def header_encodings(text: str) -> list[bytes]:
    """The bytes a client could send for `text` in a header: UTF-8, and Latin-1 where it fits (the
    app reads header bytes as Latin-1, where b"\\xb2" is "²", a digit to `str.isdigit()`)."""
    encodings = [text.encode("utf-8", "surrogatepass")]
    with contextlib.suppress(UnicodeEncodeError):
        encodings.append(text.encode("latin-1"))
    return encodings


@st.composite
def numeral_bytes(draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from(header_encodings(draw(NUMERALS))))


ETAGS = st.one_of(
    numeral_bytes(),
    st.tuples(
        st.sampled_from([b'"', b'W/"', b"w/", b"", b" ", b'""']),
        numeral_bytes(),
        st.sampled_from([b'"', b""]),
    ).map(b"".join),
    st.sampled_from([b"*", b'"1", "2"', b'W/""', b'"', b'""', b'"\xb2"', f'"{ARABIC_ONE}"'.encode()]),
    st.binary(max_size=30),
)
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
# Text as the app may see it in a path: any code point, lone surrogates included (a server that
# decodes a path with surrogateescape hands them on).
ANY_TEXT = st.text(st.one_of(st.characters(), SURROGATES), max_size=40)
IDS = st.one_of(
    ANY_TEXT,
    st.sampled_from(
        ["", "/", "..", "%00", "\x00", "a" * 5000, "\ud800", "0" * 32, "A" * 32, "0" * 31 + "\n"]
    ),
)

# Origins as a browser or a forger may send them: URLs with odd hosts (unclosed IPv6 brackets) or none.
ORIGINS = st.one_of(
    st.tuples(
        st.sampled_from([b"http://", b"https://", b"", b"//", b"ws://"]),
        st.sampled_from([b"", b"[", b"[::1", b"[::1]", b"a]", b"[zz]", b"shop", b"shop:80", b"\xff"]),
        st.binary(max_size=10),
    ).map(b"".join),
    HEADER_VALUES,
)
CART_ID = "0123456789abcdef" * 2
COOKIE_VALUES = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(
        [
            b"cart=",
            b"cart",
            b"=",
            b";;;",
            b"cart=" + CART_ID.upper().encode(),
            b"cart=" + CART_ID.encode() + b"\n",
            b"cart=" + CART_ID[:-1].encode() + b"\xb2",
            b"cart=" + CART_ID.encode() + b"; cart=" + CART_ID.encode(),
            b'cart="' + CART_ID.encode() + b'"',
            b"cart=" + CART_ID.encode() * 2,
            b"cart=" + ARABIC_ONE.encode() * 16,
            b"x=1; " * 50 + b"cart=" + CART_ID.encode(),
        ]
    ),
    st.tuples(st.sampled_from([b"cart=", b" cart = ", b"CART=", b"cart=\t"]), st.binary(max_size=40)).map(
        b"".join
    ),
    ANY_TEXT.map(lambda text: b"cart=" + text.encode("utf-8", "surrogatepass")),
)


def nested(
    depth: int, inner: bytes = b"1", opener: bytes = b"[", closer: bytes = b"]", size: int = 1024
) -> bytes:
    """JSON nested `depth` deep (cut to `size` bytes): what exhausts a recursive decoder."""
    return (opener * depth + inner + closer * depth)[:size]


# Any depth, and often the depths about Python's recursion limit (1,000) that fit in 1 KiB.
DEPTHS = st.one_of(st.integers(1, 1100), st.integers(900, 1100))
DEEP_BODIES = st.one_of(
    st.builds(nested, DEPTHS),
    st.builds(lambda depth: b'{"quantity":' + nested(depth, size=1000) + b"}", DEPTHS),
    st.builds(lambda depth: nested(depth, b"1", b'{"quantity":', b"}"), st.integers(1, 90)),
    st.builds(lambda depth: nested(depth, b"{}", b'{"":', b"}"), st.integers(1, 300)),
)
ODD_JSON = st.sampled_from(
    [
        b'{"quantity": 1, "quantity": 2}',
        b'{"quantity": NaN}',
        b'{"quantity": Infinity}',
        b'{"quantity": -Infinity}',
        b'{"quantity": 1e999}',
        b'{"quantity": 1.0}',
        b'{"quantity": -0}',
        b'{"quantity": 01}',
        b'{"quantity": ' + b"9" * 1000 + b"}",
        b'{"quantity": "1"}',
        b'{"quantity": true}',
        b'{"\\ud800": 1}',
        b'{"quantity": 1, "\\udfff": 2}',
        b'\xef\xbb\xbf{"quantity": 1}',
        '{"quantity": 1}'.encode("utf-16"),
        '{"quantity": 1}'.encode("utf-32"),
        b'{"quantity": 1}\x00',
        b' {"quantity": 1} ',
        b'{"quantity": 1}{"quantity": 2}',
        b"[]",
        b"null",
        b"",
    ]
)
HOSTILE_BODIES = st.one_of(
    BODIES,
    DEEP_BODIES.map(lambda body: [body]),
    ODD_JSON.map(lambda body: [body]),
    # A body in pieces, one of them deep.
    st.tuples(DEEP_BODIES, st.integers(0, 1024)).map(lambda cut: [cut[0][: cut[1]], cut[0][cut[1] :]]),
)
