"""The C allocator as a long-running server wants it (glibc; elsewhere nothing to do).

Every console login checks a password with scrypt, which takes 16 MiB (N = 2**14, r = 8) and
frees it again. glibc hands the first block that large out with mmap and, when it is freed,
raises its mmap threshold to that size (the "dynamic threshold"), so each later one comes from
the heap of the thread that checks the password -- one of asyncio.to_thread's workers, each with
an arena of its own -- and stays resident once freed: 16 MiB more for every worker thread that
ever checked a password, for the life of the process (bench/idle.py --logins). A fixed
threshold, which also turns the dynamic one off, gives every block of `MMAP_THRESHOLD` or more
back to the system when it is freed; smaller ones are not affected.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["MMAP_THRESHOLD", "return_large_blocks"]

MMAP_THRESHOLD = 1 << 20
"""Blocks this large or larger are mapped on their own and unmapped when freed."""

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's <malloc.h>


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold at `MMAP_THRESHOLD`; False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 -- only glibc has it (musl's mallopt does nothing)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
