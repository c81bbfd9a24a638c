"""Transparent huge pages for the serving process's heap. A page of the catalog reads a hundred
products scattered over gigabytes of heap: with 4 KiB pages most of those reads also miss the
TLB. glibc's malloc asks the kernel for 2 MiB pages where THP is "madvise" (Debian's default)
when the `glibc.malloc.hugetlb=1` tunable is set, and tunables are read only as a process starts:
so a serving command starts itself over once, same pid, with it added. At 1,000,000 products
listing pages took 18-22% less time, product pages about 10%, resident memory the same
(bench/results/huge-pages-2026-12-02.md). An operator's own `glibc.malloc.hugetlb` setting wins.

glibc does so for its main arena only (2.36): the arenas it makes for other threads stay on
4 KiB pages, and the projections build the models on threads of their own. One arena for every
thread (`glibc.malloc.arena_max=1`) cost a first start 60% (the relays' threads wait for its
lock), so instead, once the models are loaded, `collapse_resident` has the kernel move their
memory onto huge pages where it lies (bench/results/huge-pages-2026-12-04.md)."""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
from collections.abc import Iterator

from shop.libc import LIBC, ON_GLIBC

TUNABLE = "glibc.malloc.hugetlb"
ASKED = f"{TUNABLE}=1"
HUGE_PAGE = 2 << 20
PAGES_PER_HUGE_PAGE = HUGE_PAGE // mmap.PAGESIZE
MADV_COLLAPSE = 25  # Linux 6.1: collapse a range into huge pages now, not when khugepaged gets to it


def tunables_with_huge_pages(current: str) -> str | None:
    """`GLIBC_TUNABLES` with huge pages asked for, or None when `current` already says either way."""
    settings = [setting for setting in current.split(":") if setting]
    if any(setting.split("=", 1)[0] == TUNABLE for setting in settings):
        return None
    return ":".join([*settings, ASKED])


def start_over_with_huge_pages() -> None:
    """Replaces this process by itself with the tunable set (Linux and glibc only; nothing else
    changes: same pid, arguments, environment otherwise). Returns when it is set already."""
    if not ON_GLIBC:
        return
    tunables = tunables_with_huge_pages(os.environ.get("GLIBC_TUNABLES", ""))
    if tunables is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    environment = {**os.environ, "GLIBC_TUNABLES": tunables}
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)


def collapse_resident() -> int:
    """Has the kernel put every 2 MiB block of the process's private anonymous memory whose pages
    are all resident onto a huge page, and returns the bytes of those blocks now on huge pages.
    A block with a page not resident (never written, or given back by a trim) is left as it is:
    collapsing it would make the whole block resident. 0 where the kernel cannot (before Linux
    6.1, THP off) or off Linux."""
    if LIBC is None:
        return 0
    collapsed = 0
    for start, end in _anonymous_ranges():
        resident = (ctypes.c_ubyte * ((end - start) // mmap.PAGESIZE))()
        if LIBC.mincore(start, end - start, resident) != 0:
            continue  # unmapped meanwhile
        pages = bytes(resident)  # a byte per page, 0 if not resident
        for first in range(0, len(pages), PAGES_PER_HUGE_PAGE):
            if pages.find(0, first, first + PAGES_PER_HUGE_PAGE) != -1:
                continue
            block = start + first * mmap.PAGESIZE
            if LIBC.madvise(block, HUGE_PAGE, MADV_COLLAPSE) == 0:  # also 0 if it was one already
                collapsed += HUGE_PAGE
    return collapsed


def _anonymous_ranges() -> Iterator[tuple[int, int]]:
    """The whole 2 MiB blocks of each private, writable, anonymous mapping (malloc's arenas and
    large blocks, threads' stacks; not files or shared memory)."""
    with open("/proc/self/maps", encoding="ascii") as maps:
        for line in maps:
            fields = line.split()
            if fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
                continue
            low, high = (int(bound, 16) for bound in fields[0].split("-"))
            start, end = -(-low // HUGE_PAGE) * HUGE_PAGE, high // HUGE_PAGE * HUGE_PAGE
            if start < end:
                yield start, end
