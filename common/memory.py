"""Memory policy for big-array work: how the process gets and reuses its pages.

Measured on the 2-core, 24 GB VMs lowbase is developed and benchmarked on, where a page
fault costs several microseconds (figures from bench/perf, commands in the README):

- numpy asks the kernel for transparent huge pages (`madvise(MADV_HUGEPAGE)`) on every large
  array. When the kernel has to compact memory to find them, the first touch stalls:
  first-touching a fresh 3.6 GB array (the 1M-account feature matrix) took 0.8-7.4 s with
  the advice and a steady 1.3 s without, and a 1M-account `generate` ran 16.3 s instead of
  18.0 s. When huge pages come cheaply, code that faults in many fresh mid-size arrays gains
  from them (the bare sparse products of bench/perf/features.py: 5.2-6.1 s with the advice,
  6.2-7.7 s without); lowbase's feature build takes its faults off the critical path and is
  about the same either way. `turn_off_hugepage_advice` turns the advice off at the CLI edge, unless the
  user chose a value for numpy's own switch `NUMPY_MADVISE_HUGEPAGE` (1 keeps it).
- glibc serves every array above its mmap threshold (which it raises to at most 32 MB)
  with mmap and gives it back on free, so the next temporary of that size faults all its
  pages in again. `heap_reuse` keeps them in the heap
  where the same sizes come and go many times: while a dataset is generated (system time of
  a 1M-account `generate` fell from 7.1 s to 4.7 s) and between the relations of the deep
  features (12.9-14.7 s -> 11.4-12.5 s at 1M). It is scoped, not process-wide, because a
  heap that never shrinks would raise the peak memory of the long `lowbase run`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "NUMPY_MADVISE_HUGEPAGE"  # numpy reads it at import; we also set it for child processes


def turn_off_hugepage_advice() -> bool:
    """Turn numpy's huge-page advice off for this process and the processes it starts,
    unless the user chose a value for NUMPY_MADVISE_HUGEPAGE. Returns whether the advice is
    now off."""
    if ENV in os.environ:
        return os.environ[ENV].strip() == "0"  # numpy applied the user's choice at import
    os.environ[ENV] = "0"  # spawned workers (process pools, Dask) import numpy with it
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # a numpy without the switch: children still get the variable
        return False
    _set_madvise_hugepage(False)
    return True


# mallopt parameters and glibc's defaults (malloc.h, mallopt(3)).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM, _DEFAULT_MMAP_MAX = 128 * 1024, 65536


def _glibc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


class _Mallinfo2(ctypes.Structure):
    _names = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    _fields_ = [(f, ctypes.c_size_t) for f in (*_names, "keepcost")]


def mmapped_blocks() -> int | None:
    """How many blocks glibc currently serves by mmap (mallinfo2's hblks), or None where
    that cannot be read (not glibc >= 2.33): how the tests see whether `heap_reuse` applies."""
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _Mallinfo2  # the full struct: it is returned by value
    return int(libc.mallinfo2().hblks)


@contextmanager
def heap_reuse() -> Iterator[bool]:
    """Inside the block, big allocations come from the heap and freed ones stay there for
    reuse (no munmap and fresh page faults per temporary); on exit glibc's defaults return
    and the free heap is handed back to the kernel. Processes forked inside the block
    inherit it. Yields whether it applies (glibc only; elsewhere a no-op). The settings are
    process-wide: of two overlapping blocks, the first to exit restores the defaults for
    both (which changes speed only, never results)."""
    libc = _glibc()
    if libc is None:
        yield False
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield True
    finally:
        libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
        libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM)
        libc.malloc_trim(0)
