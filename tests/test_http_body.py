"""Reading request bodies the way Granian hands them over: the body in a message with more_body
set, then an empty last message."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shop.api import http
from shop.api.problems import Problem


class Client:
    """The receive() side of one request: `messages` in order, counting how many were asked for."""

    def __init__(self, *messages: dict[str, Any]) -> None:
        self.messages = list(messages)
        self.asked = 0

    async def receive(self) -> dict[str, Any]:
        self.asked += 1
        return self.messages.pop(0)


def scope(content_length: bytes | None) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", content_length))
    return {"type": "http", "headers": headers}


def granian(*chunks: bytes) -> list[dict[str, Any]]:
    return [{"type": "http.request", "body": c, "more_body": True} for c in chunks] + [
        {"type": "http.request", "body": b"", "more_body": False}
    ]


def read(content_length: bytes | None, client: Client, limit: int = 1024) -> bytes:
    return asyncio.run(http.read_body(scope(content_length), client.receive, limit, 5))


def test_a_body_of_declared_length_is_read_without_waiting_for_the_empty_last_message() -> None:
    client = Client(*granian(b'{"quantity": 2}'))
    assert read(b"15", client) == b'{"quantity": 2}'
    assert client.asked == 1


def test_a_body_in_pieces_is_read_until_its_declared_length() -> None:
    client = Client(*granian(b'{"quan', b'tity": 2}'))
    assert read(b"15", client) == b'{"quantity": 2}'
    assert client.asked == 2


def test_a_chunked_body_is_read_until_the_last_message() -> None:
    client = Client(*granian(b'{"quan', b'tity": 2}'))
    assert read(None, client) == b'{"quantity": 2}'
    assert client.asked == 3


def test_an_empty_body_is_one_message() -> None:
    client = Client(*granian())
    assert read(b"0", client) == b""
    assert client.asked == 1


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    client = Client(*granian(b" " * 2000))
    with pytest.raises(Problem) as refused:
        read(b"2000", client)
    assert refused.value.status == 413
    assert client.asked == 0


def test_a_chunked_body_over_the_limit_is_refused() -> None:
    client = Client(*granian(b" " * 600, b" " * 600))
    with pytest.raises(Problem) as refused:
        read(None, client)
    assert refused.value.status == 413


@pytest.mark.parametrize("raw", [b"-1", b"12a", b"1" * 19])
def test_a_content_length_that_is_no_length_is_a_400(raw: bytes) -> None:
    with pytest.raises(Problem) as refused:
        read(raw, Client(*granian(b"{}")))
    assert refused.value.status == 400
