"""The AUROC and its clustered DeLong interval (bench.stats.rank_auroc)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bench.stats.rank_auroc import auroc_with_interval


def test_matches_scikit_learn_with_ties_either_way():
    rng = np.random.default_rng(0)
    pos, ref = rng.integers(0, 5, 80).astype(float), rng.integers(1, 6, 300).astype(float)
    y = np.r_[np.ones(80), np.zeros(300)]
    want = roc_auc_score(y, np.r_[pos, ref])
    sep = auroc_with_interval(pos, ref)
    assert sep.auroc == pytest.approx(max(want, 1 - want))
    assert sep.higher == (want >= 0.5)
    raw = auroc_with_interval(pos, ref, orientation_free=False)
    assert raw.auroc == pytest.approx(want)
    assert sep.ci_low <= sep.auroc <= sep.ci_high


def test_singleton_clusters_are_plain_delong():
    rng = np.random.default_rng(1)
    pos, ref = rng.normal(0.5, 1, 50), rng.normal(0, 1, 400)
    a = auroc_with_interval(pos, ref)
    b = auroc_with_interval(pos, ref, np.arange(50), np.arange(400) + 50)
    assert (a.ci_low, a.ci_high) == pytest.approx((b.ci_low, b.ci_high))


def test_clustered_rows_do_not_narrow_the_interval():
    """Each account's value repeated 20 times is still one account: clustered by account,
    the interval stays as wide as on one row per account; unclustered, it would shrink."""
    rng = np.random.default_rng(2)
    pos, ref = rng.normal(0.3, 1, 60), rng.normal(0, 1, 600)
    one = auroc_with_interval(pos, ref)
    k = 20
    clusters = np.repeat(np.arange(60), k), np.repeat(np.arange(600), k)
    rep = auroc_with_interval(np.repeat(pos, k), np.repeat(ref, k), *clusters)
    naive = auroc_with_interval(np.repeat(pos, k), np.repeat(ref, k))
    width = lambda s: s.ci_high - s.ci_low  # noqa: E731
    assert rep.auroc == pytest.approx(one.auroc)
    assert width(rep) == pytest.approx(width(one), rel=0.05)
    assert width(naive) < width(one) / 3


def test_interval_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(400):
        s = auroc_with_interval(rng.normal(0, 1, 60), rng.normal(0, 1, 500), orientation_free=False)
        hits += s.ci_low <= 0.5 <= s.ci_high
    assert 0.91 <= hits / 400 <= 0.985


def test_empty_side_gives_none():
    assert auroc_with_interval(np.array([]), np.array([1.0])) is None
