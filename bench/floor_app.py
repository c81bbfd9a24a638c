"""The HTTP floor: a raw ASGI app on Granian that answers every request with one constant body.

    BENCH_FLOOR_BODY=page.json BENCH_FLOOR_TYPE=application/json python -m bench.floor_app PORT

Served by the shop's own Granian setup (shop.cli.serve_http), it is the fastest this server can
answer with a body of that size on this machine: the shop's read throughput is measured against it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from shop import huge_pages
from shop.cli import serve_http
from shop.config import Config

BODY = Path(os.environ["BENCH_FLOOR_BODY"]).read_bytes() if "BENCH_FLOOR_BODY" in os.environ else b"{}"
HEADERS = [
    (b"content-type", os.environ.get("BENCH_FLOOR_TYPE", "application/json").encode()),
    (b"content-length", str(len(BODY)).encode()),
]
START = {"type": "http.response.start", "status": 200, "headers": HEADERS}
RESPONSE = {"type": "http.response.body", "body": BODY}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send(START)
        await send(RESPONSE)
    elif scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})


def main(port: int) -> None:
    huge_pages.start_over_with_huge_pages()  # as the shop does, so both serve on the same memory
    serve_http("bench.floor_app:app", Config(http_port=port, log_level="WARNING"))


if __name__ == "__main__":
    main(int(sys.argv[1]))
