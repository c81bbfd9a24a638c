"""Transparent huge pages for the models once loaded. A page of the catalog reads a hundred
products scattered over gigabytes of heap: with 4 KiB pages most of those reads also miss the TLB.
The projections build the models on threads of their own, in arenas of 4 KiB pages (one arena for
every thread, `glibc.malloc.arena_max=1`, cost a first start 60%: the relays' threads wait for
its lock), so once the models are loaded `collapse_resident` has the kernel move their memory onto
huge pages where it lies (bench/results/huge-pages-2026-12-04.md)."""

from __future__ import annotations

import ctypes
import mmap
from collections.abc import Iterator

from shop.libc import LIBC

HUGE_PAGE = 2 << 20
PAGES_PER_HUGE_PAGE = HUGE_PAGE // mmap.PAGESIZE
MADV_COLLAPSE = 25  # Linux 6.1: collapse a range into huge pages now, not when khugepaged gets to it


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
