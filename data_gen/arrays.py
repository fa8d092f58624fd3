"""Small array helpers shared by the generator and by consumers of its tables."""

from __future__ import annotations

import numpy as np


def unique_sorted(keys: np.ndarray, return_counts: bool = False):
    """Sorted unique values of an integer array, by sort-and-compare.

    numpy >= 2.3 answers `np.unique` on large int64 arrays with a hash table that is several
    times slower than sorting for the tens of millions of edge keys handled here.
    """
    s = np.sort(keys, kind="stable" if keys.dtype.kind == "O" else None)
    if len(s) == 0:
        return (s, np.zeros(0, dtype=np.int64)) if return_counts else s
    first = np.empty(len(s), dtype=bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    if not return_counts:
        return s[first]
    starts = np.flatnonzero(first)
    return s[first], np.diff(np.append(starts, len(s)))
