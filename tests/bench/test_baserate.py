"""Base-rate analyses against hand-computed cases."""

import numpy as np
import pytest

from bench.stats.base_rate import (
    BASE_RATES,
    analytic_curve,
    bounded_projection,
    fpr_needed,
    hash_matching_projection,
    platform_projection,
    precision_at_base_rate,
    precision_kind,
)
from bench.stats.intervals import Share
from bench.stats.rates import Rate, clopper_pearson, precision_at


def test_precision_hand_computed():
    # TPR 0.5, FPR 0.01 at pi 0.05: 0.025 / (0.025 + 0.0095) = 0.724637...
    assert precision_at_base_rate(0.5, 0.01, 0.05) == pytest.approx(0.025 / 0.0345)
    # The same classifier at pi 1e-4: 5e-5 / (5e-5 + 0.009999) ~ 0.004975
    assert precision_at_base_rate(0.5, 0.01, 1e-4) == pytest.approx(5e-5 / (5e-5 + 0.01 * (1 - 1e-4)))


def test_precision_falls_with_the_base_rate():
    p = precision_at_base_rate(0.5, 1e-3, np.array(BASE_RATES))
    assert np.all(np.diff(p) < 0)
    assert precision_at_base_rate(0.0, 0.0, 0.1) == 0.0


def test_fpr_needed_inverts_precision():
    for pi in BASE_RATES:
        for p in (0.95, 0.99):
            f = fpr_needed(p, 0.5, pi)
            assert 0 < f < 1
            assert precision_at_base_rate(0.5, f, pi) == pytest.approx(p)
    # Hand: p 0.99, TPR 0.5, pi 1e-6 -> 0.5e-6*0.01/(0.99*(1-1e-6)) ~ 5.05e-9
    assert fpr_needed(0.99, 0.5, 1e-6) == pytest.approx(0.5e-6 * 0.01 / (0.99 * (1 - 1e-6)))


def test_platform_projection_hand_computed():
    pr = platform_projection(0.5, 1e-3, 1e-5, accounts=3e9, minutes_per_review=6)
    assert pr.offenders == pytest.approx(3e4)
    assert pr.true_flagged == pytest.approx(1.5e4)
    assert pr.innocent_flagged == pytest.approx(3e9 * 1e-3 * (1 - 1e-5))
    assert pr.innocent_per_offender_found == pytest.approx(pr.innocent_flagged / 1.5e4)
    assert pr.reviewer_hours == pytest.approx(pr.flagged / 10)
    assert platform_projection(0.0, 1e-3, 1e-5).innocent_per_offender_found == float("inf")


def test_hash_matching_reference_row():
    pr = hash_matching_projection(1e-5)
    assert pr.innocent_flagged == pytest.approx(3e9 / 5e10 * (1 - 1e-5))
    assert pr.innocent_per_offender_found < 1e-3


@pytest.mark.parametrize("args", [(1.5, 0.1, 0.1), (0.5, -0.1, 0.1), (0.5, 0.1, np.nan)])
def test_bad_rates(args):
    with pytest.raises(ValueError, match="must lie in"):
        precision_at_base_rate(*args)


def test_bad_projection_inputs():
    with pytest.raises(ValueError, match="precision must be > 0"):
        fpr_needed(0.0, 0.5, 0.1)
    with pytest.raises(ValueError, match="accounts"):
        platform_projection(0.5, 0.1, 0.1, accounts=0)


def test_analytic_curve_interval_from_tpr_fpr_bounds():
    from bench.stats.base_rate import analytic_curve
    from bench.stats.intervals import Share

    tpr, fpr = Share(0.5, 0.4, 0.6, 5, 10), Share(0.01, 0.005, 0.02, 1, 100)
    (row,) = analytic_curve(tpr, fpr, rates=(0.01,))
    assert row["precision"] == pytest.approx(0.005 / (0.005 + 0.01 * 0.99))
    assert row["ci_low"] == pytest.approx(0.004 / (0.004 + 0.02 * 0.99))
    assert row["ci_high"] == pytest.approx(0.006 / (0.006 + 0.005 * 0.99))
    assert row["fpr_needed_p95"] == pytest.approx(0.5 * 0.01 * 0.05 / (0.95 * 0.99))


def test_empirical_point_matches_fpr_budget():
    from bench.stats.base_rate import empirical_point

    y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.8, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    p = empirical_point(y, s, fpr=1 / 7)  # one false positive allowed: threshold 0.8
    assert p["threshold"] == 0.8 and p["fpr"] == pytest.approx(1 / 7)
    assert (p["tpr"]["k"], p["tpr"]["n"]) == (2, 3)
    assert (p["precision"]["k"], p["precision"]["n"]) == (2, 3)
    assert p["base_rate"] == pytest.approx(0.3)
    p0 = empirical_point(y, s, fpr=0.0)  # no false positive allowed: only 0.9
    assert (p0["precision"]["k"], p0["precision"]["n"]) == (1, 1)


def _p(tpr, fpr, pi):
    return tpr * pi / (tpr * pi + fpr * (1 - pi))


def test_bounded_projection_at_a_point():
    b = bounded_projection(0.5, 0.4, 0.6, 1e-3, 5e-4, 2e-3, 1e-4, accounts=3e9, minutes=5)
    assert b["kind"] == "point"
    assert b["classifier"] == platform_projection(0.5, 1e-3, 1e-4, 3e9, 5)
    assert b["precision"] == pytest.approx((_p(0.5, 1e-3, 1e-4), _p(0.4, 2e-3, 1e-4), _p(0.6, 5e-4, 1e-4)))
    mid, worst, best = (platform_projection(*r, 1e-4) for r in ((0.5, 1e-3), (0.4, 2e-3), (0.6, 5e-4)))
    per = (mid.innocent_per_offender_found, best.innocent_per_offender_found, worst.innocent_per_offender_found)
    assert b["innocent_per_offender"] == pytest.approx(per)


def test_no_false_positive_seen_gives_a_lower_bound_never_a_point_one():
    b = bounded_projection(0.5, 0.4, 0.6, 0.0, 0.0, 3e-5, 1e-5)
    value, low, high = b["precision"]
    assert b["kind"] == "lower bound" and value == low == pytest.approx(_p(0.4, 3e-5, 1e-5)) and high == 1.0
    assert value < 1
    # the counts are at the FPR's upper bound: innocent accounts are flagged, at most this many
    assert b["classifier"] == platform_projection(0.5, 3e-5, 1e-5)
    assert b["classifier"].innocent_flagged > 0
    inn = b["innocent_per_offender"]
    assert inn[0] == inn[2] == pytest.approx((1 - value) / value) and inn[1] == 0


def test_no_offender_flagged_gives_an_upper_bound():
    b = bounded_projection(0.0, 0.0, 0.1, 1e-3, 5e-4, 2e-3, 1e-4)
    value, low, high = b["precision"]
    assert b["kind"] == "upper bound" and value == high == pytest.approx(_p(0.1, 5e-4, 1e-4)) and low == 0.0
    assert b["classifier"] == platform_projection(0.1, 1e-3, 1e-4)


def test_nothing_flagged_and_nothing_measured():
    b = bounded_projection(0.0, 0.0, 0.1, 0.0, 0.0, 3e-5, 1e-4)
    assert b["kind"] == "nothing flagged" and np.isnan(b["precision"][0]) and b["innocent_per_offender"][0] == np.inf
    nan = float("nan")
    b = bounded_projection(nan, nan, nan, 0.0, 0.0, 3e-5, 1e-4)
    assert b["kind"] == "undefined" and b["classifier"] is None and np.isnan(b["precision"]).all()


@pytest.mark.parametrize("tp, fp", [(5, 2), (5, 0), (0, 2), (0, 0)])
def test_precision_kind_and_bounds_agree_with_precision_at(tp, fp):
    def rate(k, n):
        lo, hi = clopper_pearson(k, n)
        return Rate(k / n, float(lo), float(hi), k, n)

    tpr, fpr = rate(tp, 20), rate(fp, 10_000)
    expected = precision_at(1e-3, tpr, fpr)
    b = bounded_projection(tpr.value, tpr.low, tpr.high, fpr.value, fpr.low, fpr.high, 1e-3)
    kind = precision_kind(tpr.value, fpr.value)
    assert b["kind"] == kind
    assert expected["kind"] == ("undefined" if kind == "nothing flagged" else kind)  # precision_at: no precision
    if kind != "nothing flagged":
        assert b["precision"] == pytest.approx((expected["value"], expected["low"], expected["high"]))


def test_analytic_curve_without_false_positives_is_the_lower_bound():
    tpr, fpr = Share(0.5, 0.4, 0.6, 5, 10), Share(0.0, 0.0, 3e-4, 0, 10_000)
    rows = analytic_curve(tpr, fpr, rates=(1e-2, 1e-4))
    for row in rows:
        assert row["precision"] == row["ci_low"] == pytest.approx(_p(0.4, 3e-4, row["base_rate"]))
        assert row["ci_high"] == 1.0 and row["precision"] < 1
    assert analytic_curve(Share(float("nan"), float("nan"), float("nan"), 0, 0), fpr) == []
