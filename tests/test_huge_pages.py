"""Transparent huge pages for a serving process's heap (shop/huge_pages.py): a serving command
starts itself over once, same pid, with glibc's malloc asking for them; memory written whole is
collapsed onto them, and memory not all resident is left as it is."""

from __future__ import annotations

import ctypes
import mmap
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
from shop.huge_pages import ASKED, HUGE_PAGE, collapse_resident, tunables_with_huge_pages
from shop.libc import LIBC, ON_GLIBC

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
MIB = 1 << 20
pytestmark = pytest.mark.skipif(not ON_GLIBC, reason="glibc on Linux")


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("", ASKED),
        ("glibc.malloc.arena_max=2", f"glibc.malloc.arena_max=2:{ASKED}"),
        ("glibc.malloc.hugetlb=0", None),  # the operator's choice wins
        ("glibc.malloc.hugetlb=2:glibc.malloc.arena_max=2", None),
        (":glibc.malloc.arena_max=2:", f"glibc.malloc.arena_max=2:{ASKED}"),
    ],
)
def test_the_tunable_is_added_once_and_never_overrides_an_operator(
    current: str, expected: str | None
) -> None:
    assert tunables_with_huge_pages(current) == expected


# Starts over with huge pages, then fills 64 MiB of malloc's heap and reports what backs it.
STARTS_OVER = """
import os
from shop.huge_pages import start_over_with_huge_pages
start_over_with_huge_pages()
kept = [bytes(4096) for _ in range(16384)]
huge = next(l for l in open("/proc/self/smaps_rollup") if l.startswith("AnonHugePages:"))
print(os.getpid(), os.environ["GLIBC_TUNABLES"], int(huge.split()[1]))
"""


def test_a_process_starts_over_once_with_the_same_pid_and_its_heap_on_huge_pages() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    process = subprocess.Popen(
        [sys.executable, "-c", STARTS_OVER], cwd=REPO, env=environment, stdout=subprocess.PIPE, text=True
    )
    output, _ = process.communicate(timeout=60)
    pid, tunables, huge_kib = output.split()
    assert (int(pid), tunables) == (process.pid, ASKED)
    if "[never]" not in THP.read_text():
        assert int(huge_kib) >= 16 * 1024, "malloc's heap is not on huge pages"


def test_a_serving_shop_runs_with_huge_pages_asked_for(config: Config, tmp_path: Path) -> None:
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


def private_anonymous(size: int) -> tuple[mmap.mmap, int]:
    """A private anonymous mapping (as malloc's arenas are) and its address."""
    mapping = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return mapping, ctypes.addressof(ctypes.c_char.from_buffer(mapping))


def smaps_kib(address: int, field: str) -> int:
    """`field` of the mapping that holds `address`, in KiB (/proc/self/smaps)."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            low, high = (int(bound, 16) for bound in line.split()[0].split("-"))
            inside = low <= address < high
        elif inside and line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no mapping holds {address:#x}")


def resident_pages(address: int, size: int) -> list[bool]:
    assert LIBC is not None
    flags = (ctypes.c_ubyte * (size // mmap.PAGESIZE))()
    assert LIBC.mincore(address, size, flags) == 0
    return [bool(flag & 1) for flag in flags]


@pytest.mark.skipif("[never]" in THP.read_text(), reason="THP is off")
def test_collapse_puts_memory_written_whole_on_huge_pages() -> None:
    """As a thread's arena filled by a projection: 4 KiB pages until collapsed."""
    mapping, address = private_anonymous(16 * MIB)
    for at in range(0, 16 * MIB, mmap.PAGESIZE):
        mapping[at] = 1
    collapsed = collapse_resident()
    # 16 MiB at any 4 KiB address hold seven whole aligned 2 MiB blocks.
    assert smaps_kib(address, "AnonHugePages") >= 7 * HUGE_PAGE // 1024
    assert collapsed >= 7 * HUGE_PAGE
    mapping.close()


def test_collapse_leaves_memory_not_all_resident_as_it_is() -> None:
    """A block with a page never written (or trimmed) would become resident whole: left alone."""
    mapping, address = private_anonymous(16 * MIB)
    for at in range(0, 16 * MIB, 2 * mmap.PAGESIZE):
        mapping[at] = 1
    before = resident_pages(address, 16 * MIB)
    collapse_resident()
    assert resident_pages(address, 16 * MIB) == before
    assert before.count(True) == 16 * MIB // mmap.PAGESIZE // 2
    mapping.close()
