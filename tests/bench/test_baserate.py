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
)
from bench.stats.intervals import Share
from bench.stats.rates import Rate, clopper_pearson, precision_at, precision_kind


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


def _ipo(tpr, fpr, pi):
    """Innocent accounts flagged per offender found, by hand."""
    return fpr * (1 - pi) / (tpr * pi)


def _counts(tpr, fpr, pi, n=3e9, minutes=5.0):
    """Flagged, offenders flagged, innocent flagged and reviewer hours, by hand."""
    true, innocent = n * tpr * pi, n * fpr * (1 - pi)
    return {"flagged": true + innocent, "true_flagged": true, "innocent_flagged": innocent,
            "reviewer_hours": (true + innocent) * minutes / 60}  # fmt: skip


def _shown(b) -> dict:
    c = b["classifier"]
    return {k: getattr(c, k) for k in ("flagged", "true_flagged", "innocent_flagged", "reviewer_hours")}


T, F = Share(0.5, 0.4, 0.6, 5, 10), Share(1e-3, 5e-4, 2e-3, 1, 1000)  # both measured
T0, F0 = Share(0.0, 0.0, 0.1, 0, 30), Share(0.0, 0.0, 3e-5, 0, 100_000)  # a count of zero


def test_bounded_projection_at_a_point():
    pi = 1e-4
    b = bounded_projection(T, F, pi, accounts=3e9, minutes=5)
    assert b["kind"] == "point"
    assert b["classifier"] == platform_projection(0.5, 1e-3, pi, 3e9, 5)
    assert _shown(b) == pytest.approx(_counts(0.5, 1e-3, pi))
    assert b["precision"] == pytest.approx((_p(0.5, 1e-3, pi), _p(0.4, 2e-3, pi), _p(0.6, 5e-4, pi)))
    assert b["innocent_per_offender"] == pytest.approx((_ipo(0.5, 1e-3, pi), _ipo(0.6, 5e-4, pi), _ipo(0.4, 2e-3, pi)))


def test_no_false_positive_seen_gives_a_lower_bound_never_a_point_one():
    pi = 1e-5
    b = bounded_projection(T, F0, pi)
    value, low, high = b["precision"]
    assert b["kind"] == "lower bound" and value == low == pytest.approx(_p(0.4, 3e-5, pi)) and high == 1.0
    assert value < 1
    # innocent per offender: an upper bound at the precision's corner (TPR low, FPR high)
    inn = b["innocent_per_offender"]
    assert inn[0] == inn[2] == pytest.approx(_ipo(0.4, 3e-5, pi)) and inn[1] == 0
    assert inn[0] == pytest.approx((1 - value) / value), "the row agrees with itself"
    # every count an upper bound at (TPR high, FPR high): innocent accounts are flagged, at most this many
    assert _shown(b) == pytest.approx(_counts(0.6, 3e-5, pi))
    assert b["classifier"].innocent_flagged > 0


def test_no_offender_flagged_gives_an_upper_bound():
    pi = 1e-4
    b = bounded_projection(T0, F, pi)
    value, low, high = b["precision"]
    assert b["kind"] == "upper bound" and value == high == pytest.approx(_p(0.1, 5e-4, pi)) and low == 0.0
    inn = b["innocent_per_offender"]
    assert inn[0] == inn[1] == pytest.approx(_ipo(0.1, 5e-4, pi)) and inn[2] == np.inf  # a lower bound
    assert inn[0] == pytest.approx((1 - value) / value), "the row agrees with itself"
    assert _shown(b) == pytest.approx(_counts(0.1, 2e-3, pi))


def test_nothing_flagged_counts_are_upper_bounds_never_zero():
    pi = 1e-4
    b = bounded_projection(T0, F0, pi)
    assert b["kind"] == "nothing flagged" and np.isnan(b["precision"][0]) and np.isnan(b["innocent_per_offender"][0])
    assert _shown(b) == pytest.approx(_counts(0.1, 3e-5, pi)), "a count of zero is not a rate of zero"
    assert all(v > 0 for v in _shown(b).values())
    nan = float("nan")
    b = bounded_projection(Share(nan, nan, nan, 0, 0), F0, pi)
    assert b["kind"] == "undefined" and b["classifier"] is None and np.isnan(b["precision"]).all()


@pytest.mark.parametrize("tp, fp", [(5, 2), (5, 0), (0, 2), (0, 0)])
def test_precision_kind_and_bounds_agree_with_precision_at(tp, fp):
    def rate(k, n):
        lo, hi = clopper_pearson(k, n)
        return Rate(k / n, float(lo), float(hi), k, n)

    tpr, fpr = rate(tp, 20), rate(fp, 10_000)
    expected = precision_at(1e-3, tpr, fpr)
    b = bounded_projection(*(Share(r.value, r.low, r.high, r.k, r.n) for r in (tpr, fpr)), 1e-3)
    kind = precision_kind(tp, 20, fp, 10_000)
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
