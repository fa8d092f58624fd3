"""Memory policy for big-array work: how the process gets and reuses its pages.

Page faults are expensive on the small VMs lowbase is benchmarked on, and the feature and
generation code makes many big temporaries, so two glibc/numpy defaults matter
(`bench/perf/features.py` and `bench/perf/generate.py` measure both; docs/performance.md
explains the readings):

- numpy asks the kernel for transparent huge pages (`madvise(MADV_HUGEPAGE)`) on every large
  array. When the kernel has to compact memory to find them, the first touch of a fresh
  array stalls for seconds; when huge pages come cheaply, code that faults in many fresh
  mid-size arrays gains from them. lowbase's feature build takes its faults off the
  critical path, so it does not need them. `turn_off_hugepage_advice` turns the advice
  off at the CLI edge, unless the user chose a value for numpy's own switch
  `NUMPY_MADVISE_HUGEPAGE` (1 keeps it).
- glibc serves every block above its mmap threshold with mmap and gives it back on free,
  so the next temporary of that size faults all its pages in again. `heap_reuse` keeps
  them in the heap where the same sizes come and go many times (a dataset's generation,
  the relations of the deep features). It is scoped, not process-wide, because a heap that
  never shrinks would raise the peak memory of a long `lowbase run`.

What `heap_reuse` leaves behind: any `mallopt` of these parameters turns glibc's dynamic
mmap threshold off for the life of the process, and nothing turns it back on. So on exit
the three parameters are set explicitly: to the user's own `MALLOC_MMAP_THRESHOLD_`,
`MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_MAX_` (or `GLIBC_TUNABLES` `glibc.malloc.*`) where
given; where the user set none of them, to where glibc's dynamic rule settles for work with
big arrays (threshold at its 32 MiB ceiling, trim at twice that); where the user set some,
glibc's static defaults for the rest (the user's setting had already turned the dynamic
rule off). This changes speed and peak memory only, never a result.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager

# Address space the command line maps before any work: Python, NumPy, pyarrow, torch, MKL and
# their thread pools reserve ~1.1 GB of virtual memory at import (VmSize after `import
# bench.cli.app`), and the first worker threads more.
IMPORT_ADDRESS_SPACE = 3 << 29  # 1.5 GiB
# Virtual memory per generated account beyond that: a quick world's VmPeak grows by about
# 3 KB per account (20K -> 100K accounts: 2.58 -> 2.82 GB), 3.5 KB with a margin.
GENERATE_BYTES_PER_ACCOUNT = 3500


class MemoryLimitError(ValueError):
    """The address-space limit (`ulimit -v`) is too small for the work asked."""


def address_space_limit() -> int | None:
    """The soft RLIMIT_AS (`ulimit -v`) in bytes; None when unlimited."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def address_space_shortfall(need: int, what: str) -> str | None:
    """What to tell the user when `ulimit -v` leaves less than `need` bytes for `what`, else
    None. Under too small a limit, allocations fail inside native code (a segmentation
    fault, or a MemoryError in the middle of an import) instead of saying why."""
    limit = address_space_limit()
    if limit is None or limit >= need:
        return None
    return (
        f"the address-space limit (ulimit -v) is {limit / 2**30:.2f} GiB, and {what} needs at least about "
        f"{need / 2**30:.1f} GiB: raise it (ulimit -v {-(-need // 1024)}) or remove it (ulimit -v unlimited)"
    )


def check_address_space(need: int, what: str) -> None:
    """Refuse `what` (MemoryLimitError) before any work when `ulimit -v` cannot hold it."""
    if message := address_space_shortfall(need, what):
        raise MemoryLimitError(message)


ENV = "NUMPY_MADVISE_HUGEPAGE"  # numpy reads it at import; we also set it for child processes


def turn_off_hugepage_advice() -> bool:
    """Turn numpy's huge-page advice off for this process and the processes it starts,
    unless the user chose a value for NUMPY_MADVISE_HUGEPAGE. Returns whether the advice is
    now off."""
    if ENV in os.environ:
        return os.environ[ENV].strip() == "0"  # numpy applied the user's choice at import
    os.environ[ENV] = "0"  # spawned workers (process pools, Dask) import numpy with it
    try:
        from numpy._core.multiarray import _set_madvise_hugepage  # type: ignore[attr-defined]
    except ImportError:  # a numpy without the switch: children still get the variable
        return False
    _set_madvise_hugepage(False)
    return True


# mallopt parameters (malloc.h) with the user's ways to set them (mallopt(3), tunables(7)).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
_USER_SETTINGS = {
    M_MMAP_THRESHOLD: ("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"),
    M_TRIM_THRESHOLD: ("MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold"),
    M_MMAP_MAX: ("MALLOC_MMAP_MAX_", "glibc.malloc.mmap_max"),
}
# glibc's static defaults, and where its dynamic threshold settles (DEFAULT_MMAP_THRESHOLD_MAX
# on 64-bit; the dynamic rule keeps the trim threshold at twice the mmap threshold).
_STATIC = {M_MMAP_THRESHOLD: 128 * 1024, M_TRIM_THRESHOLD: 128 * 1024, M_MMAP_MAX: 65536}
_DYNAMIC = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 64 << 20, M_MMAP_MAX: 65536}


def _user_settings(environ=os.environ) -> dict[int, int]:
    """The malloc parameters the user set through the environment (later tunables win, as
    in glibc, and MALLOC_* variables are read after GLIBC_TUNABLES)."""
    tunables = {}
    for item in environ.get("GLIBC_TUNABLES", "").split(":"):
        name, _, value = item.partition("=")
        tunables[name.strip()] = value.strip()
    out = {}
    for param, (var, tunable) in _USER_SETTINGS.items():
        for raw in (tunables.get(tunable), environ.get(var)):
            if raw is None:
                continue
            try:
                out[param] = int(raw, 0)
            except ValueError:
                continue
    return out


def settings_after_heap_reuse(environ=os.environ) -> dict[int, int]:
    """The mallopt values `heap_reuse` sets on exit (see the module docstring)."""
    user = _user_settings(environ)
    return {**(_STATIC if user else _DYNAMIC), **user}


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
    reuse (no munmap and fresh page faults per temporary); on exit the free heap is handed
    back to the kernel and the parameters are set as `settings_after_heap_reuse` says (not
    glibc's start-up state, which cannot be restored: see the module docstring). Processes
    forked inside the block inherit it. Yields whether it applies (glibc only; elsewhere a
    no-op). The settings are process-wide: of two overlapping blocks, the first to exit
    ends the policy for both (which changes speed only, never results)."""
    libc = _glibc()
    if libc is None:
        yield False
        return
    libc.mallopt(M_MMAP_MAX, 0)
    libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield True
    finally:
        for param, value in settings_after_heap_reuse().items():
            libc.mallopt(param, value)
        libc.malloc_trim(0)
