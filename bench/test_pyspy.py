"""The profile tables of bench/results/latest.md rank work, not waiting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.pyspy import top_frames

COLLAPSED = """\
python;_run_once (asyncio/base_events.py:1884);epoll_pwait (libc.so.6) 500
python;_run_once (asyncio/base_events.py:1884);select (selectors.py:469);epoll_wait (libc.so.6) 20
rdk:broker1;rd_kafka_broker_serve;poll (libc.so.6) 300
proj-co;std::thread::park;syscall (libc.so.6) 200
python;take_gil (ceval_gil.h:255) 40
tokio-rt-worker;0x7f53e8ca3f16 (libc.so.6) 100
python;get_running_loop (_asynciomodule.c:274);getpid (libc.so.6) 60
python;App._cached_page (shop/api/app.py:201) 30
python;send_response (shop/api/http.py:50);write (libc.so.6) 10
"""


def test_waiting_leaves_are_left_out_and_work_is_ranked(tmp_path: Path) -> None:
    collapsed = tmp_path / "profile.txt"
    collapsed.write_text(COLLAPSED)
    expected: list[tuple[object, str]] = [
        (pytest.approx(0.75), "App._cached_page (shop/api/app.py:201)"),
        (pytest.approx(0.25), "write (libc.so.6)"),
    ]
    assert top_frames(collapsed) == expected
