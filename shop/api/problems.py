"""RFC 9457 problem details: every 4xx and 5xx the shop answers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

TITLES = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    409: "Conflict",
    412: "Precondition Failed",
    428: "Precondition Required",
    429: "Too Many Requests",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    426: "Upgrade Required",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class Problem(Exception):
    status: int
    detail: str
    invalid_params: list[dict[str, str]] = field(default_factory=list)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    type: str = "about:blank"
    # Members of this problem type beyond the standard ones (RFC 9457 extension members).
    extensions: dict[str, object] = field(default_factory=dict)

    def body(self) -> bytes:
        content: dict[str, object] = {
            "type": self.type,
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if self.invalid_params:
            content["invalid_params"] = self.invalid_params
        content.update(self.extensions)
        return json.dumps(content).encode()


def invalid(name: str, reason: str) -> Problem:
    """A 400 naming the parameter that is wrong and why."""
    return Problem(400, f"invalid parameter {name}: {reason}", [{"name": name, "reason": reason}])


def unavailable(detail: str, retry_after: int, kind: str) -> Problem:
    """A 503 the client may retry after `retry_after` seconds; `kind` (the problem type) says why:
    overloaded, breaker-open, write-failed or not-applied."""
    return Problem(
        503,
        detail,
        headers=[(b"retry-after", str(max(1, retry_after)).encode())],
        type=f"/problems/{kind}",
    )


def not_ready(what: str, retry_after: int = 1) -> Problem:
    return Problem(
        503,
        f"{what} is still loading its events; retry shortly",
        headers=[(b"retry-after", str(retry_after).encode())],
    )
