"""Threads the shop starts carry their name into the operating system, so that `top -H`,
`ps -L` and the benchmarks' CPU per thread tell the projections, relays and delivery reports
apart. (CPython 3.11 names only its Thread objects; the kernel sees every one as "python".)"""

from __future__ import annotations

import threading

from shop.libc import LIBC

PR_SET_NAME = 15
OS_NAME_BYTES = 15  # the kernel keeps 16 bytes, the last one a NUL
# Short forms of the words in thread names: the kernel keeps only 15 bytes of a name.
SHORT_FORMS = (
    ("projection-", "proj-"),
    ("snapshot-", "snap-"),
    ("_internal", ""),
    ("-publisher", "-pub"),
    ("-bridge", "-br"),
    ("fulfilment", "ful"),
    ("checkout", "co"),
)


def os_name(name: str) -> str:
    """`name` in short forms, cut to what the kernel keeps: projection-checkout_internal is
    proj-co, checkout-fulfilment-bridge co-ful-br."""
    for long, short in SHORT_FORMS:
        name = name.replace(long, short)
    return name.encode()[:OS_NAME_BYTES].decode(errors="ignore")


def name_this_thread() -> None:
    """Gives the calling thread its Python name in the operating system too (Linux; elsewhere a
    no-op). Called first thing by the thread's target."""
    if LIBC is not None:
        LIBC.prctl(PR_SET_NAME, os_name(threading.current_thread().name).encode(), 0, 0, 0)
