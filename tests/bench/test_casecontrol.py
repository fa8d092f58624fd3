"""Case-control arithmetic: thresholds from validation data, pooled tallies, exact
intervals and precision bounds, checked against cases whose true rates are known."""

import numpy as np
import pytest
from scipy.stats import binomtest, norm

from bench.stats.rates import (
    Rate,
    Tally,
    Thresholds,
    clopper_pearson,
    fpr_threshold,
    mixed,
    precision,
    precision_at,
    precision_kind,
    precision_threshold,
    rates,
    smallest_base_rate,
    validation_thresholds,
)


def test_fpr_threshold_allows_at_most_the_budget_and_never_splits_a_tie():
    rng = np.random.default_rng(0)
    neg = rng.normal(size=10_000)
    for budget in (1e-1, 1e-2, 1e-3, 1e-4):
        t = fpr_threshold(neg, budget)
        assert (neg >= t).sum() <= np.floor(budget * len(neg))
        assert (neg >= np.nextafter(t, -np.inf)).sum() >= 1 or budget * len(neg) < 1
    tied = np.array([0.0, 0.5, 0.5, 0.5, 1.0])
    assert (tied >= fpr_threshold(tied, 0.5)).sum() == 1  # two allowed, but the tie of three is not split
    assert fpr_threshold(np.zeros(10), 1.0) == -np.inf


def test_precision_threshold_is_the_lowest_reaching_the_target():
    y = np.array([0, 0, 1, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    t = precision_threshold(y, s, 0.99)
    assert t == 0.5  # above 0.4 the flagged are all positives
    assert precision_threshold(y, s, 0.5) == 0.1
    assert precision_threshold(np.zeros(3), s[:3], 0.9) == np.inf


def test_tally_counts_and_adds():
    rng = np.random.default_rng(1)
    a, b = rng.random(1000), rng.random(500)
    thr = np.array([0.1, 0.5, 0.9, 2.0])
    ta, tb = Tally.of(a, thr), Tally.of(b, thr)
    assert ta.flagged.tolist() == [(a >= t).sum() for t in thr]
    pooled = ta + tb
    assert pooled.n == 1500 and pooled.flagged.tolist() == Tally.of(np.concatenate([a, b]), thr).flagged.tolist()


def test_clopper_pearson_matches_scipy_and_covers():
    lo, hi = clopper_pearson(np.array([0, 3, 50]), 50)
    for k, a, b in zip((0, 3, 50), lo, hi, strict=True):
        ci = binomtest(k, 50).proportion_ci(method="exact")
        assert (a, b) == pytest.approx((ci.low, ci.high), abs=1e-9)
    # Coverage: the exact interval holds the true rate at least 95% of the time.
    rng = np.random.default_rng(2)
    p, n = 0.03, 200
    k = rng.binomial(n, p, 2000)
    lo, hi = clopper_pearson(k, n)
    assert ((lo <= p) & (p <= hi)).mean() >= 0.95


def test_pooled_worlds_recover_known_rates():
    """Negatives ~ N(0, 1), positives ~ N(2, 1): thresholds set on a validation draw, the
    FPR pooled over ten 'worlds' of negatives and the TPR on an enriched draw of positives
    hold the true rates (1 - Phi(t), 1 - Phi(t - 2)) within their intervals."""
    rng = np.random.default_rng(3)
    val_y = np.r_[np.zeros(20_000, bool), np.ones(200, bool)]
    val_s = np.r_[rng.normal(size=20_000), rng.normal(2.0, 1.0, 200)]
    thr = validation_thresholds(val_y, val_s, world="train", budgets=(1e-2, 1e-3), precisions=(0.9,))
    fp = Tally.empty(len(thr.values))
    for _ in range(10):
        fp = fp + Tally.of(rng.normal(size=100_000), thr.values)
    tp = Tally.of(rng.normal(2.0, 1.0, 1000), thr.values)
    true_fpr, true_tpr = norm.sf(thr.values), norm.sf(thr.values - 2.0)
    for tally, truth in ((fp, true_fpr), (tp, true_tpr)):
        lo, hi = tally.interval(alpha=0.001)
        assert np.all((lo <= truth) & (truth <= hi)), (tally.rate(), truth)
    assert fp.n == 1_000_000
    # The FPR budgets hold out of sample too (within noise of the validation draw).
    assert fp.rate()[0] < 2e-2 and fp.rate()[1] < 3e-3


def test_no_false_positive_gives_a_bound_never_a_point_one():
    tp = rates(Tally(np.array([500]), 1000))[0]
    fp = rates(Tally(np.array([0]), 1_000_000))[0]
    out = precision_at(1e-4, tp, fp)
    assert out["kind"] == "lower bound" and out["value"] < 1.0
    _, f_hi = clopper_pearson(0, 1_000_000)
    t_lo, _ = clopper_pearson(500, 1000)
    assert out["value"] == pytest.approx(precision(1e-4, t_lo, f_hi))
    none_found = precision_at(1e-4, rates(Tally(np.array([0]), 1000))[0], rates(Tally(np.array([10]), 1000))[0])
    assert none_found["kind"] == "upper bound"
    both = precision_at(1e-2, rates(Tally(np.array([500]), 1000))[0], rates(Tally(np.array([100]), 100_000))[0])
    assert both["kind"] == "point" and both["low"] < both["value"] < both["high"]
    assert both["value"] == pytest.approx(precision(1e-2, 0.5, 1e-3))


@pytest.mark.parametrize(
    "tp, positives, fp, negatives, kind",
    [
        (5, 20, 2, 1000, "point"),
        (5, 20, 0, 1000, "lower bound"),
        (0, 20, 2, 1000, "upper bound"),
        (0, 20, 0, 1000, "nothing flagged"),
        (0, 0, 2, 1000, "undefined"),
        (5, 20, 0, 0, "undefined"),
    ],
)
def test_precision_kind_is_decided_by_the_counts_and_precision_at_records_it(tp, positives, fp, negatives, kind):
    assert precision_kind(tp, positives, fp, negatives) == kind
    tpr, fpr = rates(Tally(np.array([tp]), positives))[0], rates(Tally(np.array([fp]), negatives))[0]
    recorded = precision_at(1e-3, tpr, fpr)
    assert recorded["kind"] == ("undefined" if kind == "nothing flagged" else kind)
    assert (recorded["value"] is None) == (kind in ("undefined", "nothing flagged"))


def test_smallest_base_rate_round_trips():
    pi = smallest_base_rate(0.95, 0.4, 1e-5)
    assert precision(pi, 0.4, 1e-5) == pytest.approx(0.95)
    assert np.isnan(smallest_base_rate(0.95, 0.0, 1e-5))


def test_thresholds_refuse_their_own_data():
    thr = Thresholds(("fpr<=0.001",), np.array([0.5]), world="abc", split="val")
    with pytest.raises(ValueError, match="own data"):
        thr.check_disjoint("abc", "val")
    with pytest.raises(ValueError, match="whole world"):
        thr.check_disjoint("abc")
    thr.check_disjoint("abc", "test")
    thr.check_disjoint("other")


def test_mixed_rate_weights_levels_by_the_scenario_mix():
    a, b = Rate(0.9, 0.8, 0.95, 90, 100), Rate(0.1, 0.05, 0.2, 10, 100)
    m = mixed([a, b], (3, 1))
    assert m.value == pytest.approx(0.7) and m.low == pytest.approx(0.6125) and m.high == pytest.approx(0.7625)
    assert mixed([a, b], (1, 0)).value == pytest.approx(0.9)
