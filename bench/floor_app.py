"""The HTTP floor: a raw ASGI app on Granian that answers every request with one constant body.

    BENCH_FLOOR_BODY=page.json BENCH_FLOOR_TYPE=application/json python -m bench.floor_app PORT

Served with the shop's Granian settings, it is the fastest this server can answer a request with a
body of that size on this machine: the shop's read throughput is measured against it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from granian import Granian
from granian.constants import Interfaces

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
    Granian(
        "bench.floor_app:app",
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        log_access=False,
        log_level="warning",  # type: ignore[arg-type]
    ).serve()


if __name__ == "__main__":
    main(int(sys.argv[1]))
