"""The C library, for the few calls Python's standard library lacks: naming a thread and a signal
on the parent's death (prctl), giving freed heap back (malloc_trim), huge pages (madvise,
mincore). Linux only."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

ON_LINUX = sys.platform.startswith("linux")
# glibc's tunables and malloc functions exist only there (malloc_trim, glibc.malloc.hugetlb).
ON_GLIBC = ON_LINUX and "CS_GNU_LIBC_VERSION" in os.confstr_names

LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if ON_LINUX else None
if LIBC is not None:
    LIBC.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    LIBC.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]

PR_SET_PDEATHSIG = 1


def signal_on_parent_death(signum: int) -> None:
    """Has the kernel send this process `signum` when the thread that started it ends, however it
    ends (SIGKILL included). Not inherited by children; elsewhere than Linux a no-op."""
    if LIBC is not None and LIBC.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
