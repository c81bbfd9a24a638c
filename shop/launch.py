"""The `shop` command's entry point. A serving command starts itself over once with huge pages
(`huge_pages`) before anything else is imported: importing the shop takes about a third of a
second, which a start over after the imports paid twice."""

from __future__ import annotations

import sys

from shop import huge_pages

# The commands that serve, whose heap is worth huge pages.
SERVING = ("run", "serve")


def main() -> None:
    if sys.argv[1:2] and sys.argv[1] in SERVING:
        huge_pages.start_over_with_huge_pages()
    from shop.cli import main as cli_main  # noqa: PLC0415 (after the start over, once)

    cli_main()
