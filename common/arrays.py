"""Array helpers shared by the generator and by the consumers of its tables."""

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


BLOCK = 1 << 20  # rows per block of in-place work on big arrays


def argsort_keys(key: np.ndarray, key_max: int, consume: bool = False, sorted_keys: bool = False):
    """Stable argsort of non-negative integer keys (< key_max) by one `np.sort`.

    The row index is packed into the low bits of the key, so a plain (SIMD) sort of int64
    does the work of `np.argsort(kind="stable")` several times faster. Falls back to the
    latter when key and index do not fit 63 bits together. With `consume`, an int64 `key`
    is used as the work buffer (and overwritten): on big arrays every fresh temporary costs
    page faults, which on these machines cost more than the arithmetic. With `sorted_keys`,
    returns (order, key[order]).
    """
    n = len(key)
    idx_bits = bits(max(n - 1, 1))
    if bits(max(key_max - 1, 1)) + idx_bits > 63:
        order = np.argsort(key, kind="stable")
        return (order, key[order]) if sorted_keys else order
    packed = key if consume and key.dtype == np.int64 else key.astype(np.int64)
    packed <<= idx_bits
    for lo in range(0, n, BLOCK):  # the row index, block by block (no n-sized arange)
        hi = min(lo + BLOCK, n)
        packed[lo:hi] |= np.arange(lo, hi, dtype=np.int64)
    packed.sort()
    keys = packed >> idx_bits if sorted_keys else None
    packed &= (1 << idx_bits) - 1
    return (packed, keys) if sorted_keys else packed


def time_order(ts: np.ndarray, ts_max: int, rng: np.random.Generator, sorted_ts: bool = False):
    """Row order by timestamp with ties in random order (with `sorted_ts`, also ts[order]).

    Ties are common (tens of millions of events over a few million seconds); breaking them
    by generation order would let a row's position hint at the stage or actor that made it.
    """
    n = len(ts)
    tie_bits = max(0, min(16, 63 - bits(max(n - 1, 1)) - bits(ts_max)))
    key = ts.astype(np.int64)
    if tie_bits:
        key <<= tie_bits
        # Drawn block by block into the key: the same stream as one n-sized draw.
        for lo in range(0, n, BLOCK):
            hi = min(lo + BLOCK, n)
            key[lo:hi] |= rng.integers(0, 1 << tie_bits, hi - lo, dtype=np.int64)
    if not sorted_ts:
        return argsort_keys(key, ts_max << tie_bits, consume=True)
    order, keys = argsort_keys(key, ts_max << tie_bits, consume=True, sorted_keys=True)
    keys >>= tie_bits
    return order, keys


def category_codes(col, names: tuple[str, ...]) -> np.ndarray:
    """A dictionary-encoded (pyarrow) column as int8 codes in the order of `names`, -1 for
    a value not in `names`: the codes then mean the same whatever order the file's
    dictionary happens to have."""
    col = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    lookup = np.array([names.index(v) if v in names else -1 for v in col.dictionary.to_pylist()], dtype=np.int8)
    return lookup[col.indices.to_numpy(zero_copy_only=False)]
