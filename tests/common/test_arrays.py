import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from common.arrays import unique_sorted


@given(st.lists(st.integers(-(2**40), 2**40), max_size=200))
def test_unique_sorted_matches_numpy(values):
    a = np.array(values, dtype=np.int64)
    u, c = unique_sorted(a, return_counts=True)
    eu, ec = np.unique(a, return_counts=True)
    np.testing.assert_array_equal(u, eu)
    np.testing.assert_array_equal(c, ec)
    np.testing.assert_array_equal(unique_sorted(a), eu)
