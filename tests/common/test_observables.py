"""The friendship lookup behind the weak labelers' stranger statistics, against a set."""

import numpy as np
import pytest

from common.observables import _not_friends, friend_keys


@pytest.mark.parametrize("presorted", [True, False])
def test_not_friends_matches_a_set_of_pairs(presorted):
    rng = np.random.default_rng(5)
    n, sh = 300, 9
    u, v = rng.integers(0, n, 2000), rng.integers(0, n, 2000)
    keep = u != v
    u, v = u[keep], v[keep]
    if presorted:  # as the generator and the friendships table hold them: (min, max), sorted
        lo, hi = np.minimum(u, v), np.maximum(u, v)
        order = np.lexsort((hi, lo))
        u, v = lo[order], hi[order]
    friends = {(int(a), int(b)) for a, b in zip(u, v, strict=True)}
    friends |= {(b, a) for a, b in friends}
    pair = np.unique((rng.integers(0, n, 5000) << sh) | rng.integers(0, n, 5000))  # sorted, as account_stats
    ps, pd = pair >> sh, pair & ((1 << sh) - 1)
    got = _not_friends(ps, pd, friend_keys(u, v, n), sh)
    want = np.array([(int(a), int(b)) not in friends for a, b in zip(ps, pd, strict=True)])
    assert np.array_equal(got, want)
    assert want.sum() and (~want).sum()  # both outcomes are exercised
