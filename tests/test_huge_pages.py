"""Transparent huge pages for the models once loaded (shop/huge_pages.py): memory written whole is
collapsed onto them, and memory not all resident is left as it is."""

from __future__ import annotations

import ctypes
import mmap
import re
from pathlib import Path

import pytest

from shop.huge_pages import HUGE_PAGE, collapse_resident
from shop.libc import LIBC, ON_GLIBC

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
MIB = 1 << 20
pytestmark = pytest.mark.skipif(not ON_GLIBC, reason="glibc on Linux")


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
