"""Small array helpers shared by the generator and by consumers of its tables."""

from __future__ import annotations

import numpy as np


def unique_sorted(keys: np.ndarray, return_counts: bool = False):
    """Sorted unique values of an integer array, by sort-and-compare.

    numpy >= 2.3 answers `np.unique` on large int64 arrays with a hash table that is several
    times slower than sorting for the tens of millions of edge keys handled here.
    """
    s = np.sort(keys)
    if len(s) == 0:
        return (s, np.zeros(0, dtype=np.int64)) if return_counts else s
    first = np.empty(len(s), dtype=bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    if not return_counts:
        return s[first]
    starts = np.flatnonzero(first)
    return s[first], np.diff(np.append(starts, len(s)))


def bits(x: int) -> int:
    return max(1, int(x).bit_length())


def argsort_keys(key: np.ndarray, key_max: int) -> np.ndarray:
    """Stable argsort of non-negative integer keys (< key_max) by one `np.sort`.

    The row index is packed into the low bits of the key, so a plain (SIMD) sort of int64
    does the work of `np.argsort(kind="stable")` several times faster. Falls back to the
    latter when key and index do not fit 63 bits together.
    """
    n = len(key)
    idx_bits = bits(max(n - 1, 1))
    if bits(max(key_max - 1, 1)) + idx_bits > 63:
        return np.argsort(key, kind="stable")
    packed = (key.astype(np.int64) << idx_bits) | np.arange(n, dtype=np.int64)
    packed.sort()
    return packed & ((1 << idx_bits) - 1)


def time_order(ts: np.ndarray, ts_max: int, rng: np.random.Generator) -> np.ndarray:
    """Row order by timestamp with ties in random order.

    Ties are common (tens of millions of events over a few million seconds); breaking them
    by generation order would let a row's position hint at the stage or actor that made it.
    """
    tie_bits = max(0, min(16, 63 - bits(max(len(ts) - 1, 1)) - bits(ts_max)))
    noise = rng.integers(0, 1 << tie_bits, len(ts), dtype=np.int64) if tie_bits else 0
    return argsort_keys((ts.astype(np.int64) << tie_bits) | noise, ts_max << tie_bits)
