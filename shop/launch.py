"""The `shop` command's entry point. A serving command starts itself over once with malloc's
tunables (`malloc_tunables`) before anything else is imported: importing the shop takes about a
third of a second, which a start over after the imports paid twice."""

from __future__ import annotations

import sys

from shop import malloc_tunables

# The commands that serve, which load the models.
SERVING = ("run", "serve")


def main() -> None:
    if sys.argv[1:2] and sys.argv[1] in SERVING:
        malloc_tunables.start_over_with_tunables()
    from shop.cli import main as cli_main  # noqa: PLC0415 (after the start over, once)

    cli_main()
