"""The C library, for the few calls Python's standard library lacks: naming a thread (prctl),
giving freed heap back (malloc_trim), huge pages (madvise, mincore). Linux only."""

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
