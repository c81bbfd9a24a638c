"""malloc's tunables for a serving process (shop/malloc_tunables.py): a serving command starts
itself over once, same pid, with them, before it imports the shop; a thread's arena then opens
each heap whole instead of a page at a time."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.host import REPO
from fixtures.server import ShopProcess
from shop.config import Config
from shop.libc import ON_GLIBC
from shop.malloc_tunables import ASKED, HEAP_BYTES, tunables_with_pad

pytestmark = pytest.mark.skipif(not ON_GLIBC, reason="glibc on Linux")


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("", ASKED),
        ("glibc.malloc.arena_max=2", f"glibc.malloc.arena_max=2:{ASKED}"),
        ("glibc.malloc.top_pad=0", None),  # the operator's choice wins
        ("glibc.malloc.top_pad=131072:glibc.malloc.arena_max=2", None),
        (":glibc.malloc.arena_max=2:", f"glibc.malloc.arena_max=2:{ASKED}"),
    ],
)
def test_the_tunable_is_added_once_and_never_overrides_an_operator(
    current: str, expected: str | None
) -> None:
    assert tunables_with_pad(current) == expected


# Starts over with the tunables, allocates on a thread of its own (in the thread's arena, as a
# projection does) and reports the mapping of the heap that holds the allocation: its start,
# permissions and size.
STARTS_OVER = """
import os, threading
from shop.malloc_tunables import HEAP_BYTES, start_over_with_tunables
start_over_with_tunables()
held = []
thread = threading.Thread(target=lambda: held.append(bytes(1000)))
thread.start()
thread.join()
heap = id(held[0]) & ~(HEAP_BYTES - 1)
for line in open("/proc/self/maps"):
    bounds, permissions = line.split()[:2]
    low, high = (int(bound, 16) for bound in bounds.split("-"))
    if low <= heap < high:
        print(os.getpid(), os.environ["GLIBC_TUNABLES"], low == heap, permissions, high - low)
"""


def test_a_process_starts_over_once_with_the_same_pid_and_a_thread_s_heap_opened_whole() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    process = subprocess.Popen(
        [sys.executable, "-c", STARTS_OVER], cwd=REPO, env=environment, stdout=subprocess.PIPE, text=True
    )
    output, _ = process.communicate(timeout=60)
    pid, tunables, at_heap_start, permissions, size = output.split()
    assert (int(pid), tunables) == (process.pid, ASKED)
    # Without the pad the heap is read-write over its first pages only, inaccessible beyond.
    assert (at_heap_start, permissions, int(size)) == ("True", "rw-p", HEAP_BYTES)


def test_a_serving_shop_runs_with_the_tunables(config: Config, tmp_path: Path) -> None:
    shop = ShopProcess(config, tmp_path / "shop.log").start()
    try:
        assert shop.process is not None
        environment = Path(f"/proc/{shop.process.pid}/environ").read_bytes().split(b"\0")
        assert f"GLIBC_TUNABLES={ASKED}".encode() in environment
    finally:
        shop.stop()


def test_a_serving_command_starts_over_before_it_imports_the_shop() -> None:
    """The start over comes first, so the shop's modules (a third of a second) load once: here a
    `shop serve` stops at its port check, after the start over and the imports."""
    environment = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        argv = [sys.executable, "-X", "importtime", "-m", "shop", "serve", "--http-port", port]
        done = subprocess.run(
            argv, check=False, cwd=REPO, env=environment, capture_output=True, text=True, timeout=60
        )
    assert done.returncode != 0 and "cannot serve on" in done.stderr
    imported = re.findall(r"\|\s+(shop\.launch|shop\.cli)$", done.stderr, re.MULTILINE)
    # The launcher before and after the start over; the command's module after it only.
    assert sorted(imported) == ["shop.cli", "shop.launch", "shop.launch"]
