import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from data_gen.simulate import _union_earliest

pairs = st.lists(st.tuples(st.integers(0, 60), st.integers(-50, 50)), max_size=60)


@settings(max_examples=200)
@given(pairs, pairs)
def test_union_keeps_earliest_day(old, new):
    base = {}
    for k, d in old:
        base.setdefault(k, d)  # background keys are unique
    keys = np.array(sorted(base), dtype=np.int64)
    days = np.array([base[k] for k in keys], dtype=np.int32)
    nk = np.array([k for k, _ in new], dtype=np.int64)
    nd = np.array([d for _, d in new], dtype=np.int64)
    got_k, got_d = _union_earliest(keys, days, nk, nd)
    want = dict(base)
    for k, d in new:
        want[k] = min(want.get(k, d), d)
    assert got_k.tolist() == sorted(want)
    assert got_d.tolist() == [want[k] for k in sorted(want)]
