"""glibc malloc's tunables for a serving process. glibc reads them only as a process starts, so a
serving command starts itself over once (same pid, arguments and environment otherwise) with them
added to `GLIBC_TUNABLES`. An operator's own setting of the tunable wins.

`glibc.malloc.top_pad` as large as a heap: glibc gives each thread that allocates an arena of its
own, made of 64 MiB heaps that it maps inaccessible and opens as the arena fills, by as little as
it needs: an `mprotect` per 4 KiB page, whatever the pad, once a heap is made. Loading the
snapshots (a GiB of products and indexes, on the projections' threads) made 250,000 such calls.
A pad of a whole heap opens each heap whole when it is made. That is address space only: a page
is resident once written, as before. Loading the four snapshots of 10^6 products in one process
took 0.7-0.8 s of the kernel's time instead of 1.3-1.5 (bench/results/snapshot-start-2026-12-05.md).

`glibc.malloc.hugetlb=1` is not asked for (it was before): with the pad it also puts the threads'
heaps on transparent huge pages as they fill, and those faults cost more than 4 KiB ones here (a
catalog load took 1.5-2.1 s instead of 1.1). Over HTTP it made no difference beyond the runs'
spread. The models go onto huge pages once loaded instead (`huge_pages.collapse_resident`).
"""

from __future__ import annotations

import os
import sys

from shop.libc import ON_GLIBC

# A heap of a thread's arena: glibc's HEAP_MAX_SIZE on 64-bit (twice the largest mmap threshold).
HEAP_BYTES = 64 << 20
TUNABLE = "glibc.malloc.top_pad"
ASKED = f"{TUNABLE}={HEAP_BYTES}"


def tunables_with_pad(current: str) -> str | None:
    """`GLIBC_TUNABLES` with the pad asked for, or None when `current` sets it already."""
    settings = [setting for setting in current.split(":") if setting]
    if any(setting.split("=", 1)[0] == TUNABLE for setting in settings):
        return None
    return ":".join([*settings, ASKED])


def start_over_with_tunables() -> None:
    """Replaces this process by itself with the tunable set (Linux and glibc only; nothing else
    changes: same pid, arguments, environment otherwise). Returns when it is set already."""
    if not ON_GLIBC:
        return
    tunables = tunables_with_pad(os.environ.get("GLIBC_TUNABLES", ""))
    if tunables is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    environment = {**os.environ, "GLIBC_TUNABLES": tunables}
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)
