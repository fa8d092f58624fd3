"""Metrics against scikit-learn and hand-computed cases: ties, one positive, no positives."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_recall_curve, roc_auc_score

from bench.stats.metrics import (
    METRICS,
    all_metrics,
    auprc,
    auroc,
    check_scores,
    evaluate_task,
    precision_at_recall,
    recall_at_precision,
    stratified_interval,
)


def _brute_recall_at_precision(y, s, p):
    """Every threshold t (score >= t flagged), by brute force."""
    best = 0.0
    for t in np.unique(s):
        flag = s >= t
        tp = (flag & (y == 1)).sum()
        if flag.sum() and tp / flag.sum() >= p:
            best = max(best, tp / max(y.sum(), 1))
    return best


def _brute_precision_at_recall(y, s, r):
    best = 0.0
    for t in np.unique(s):
        flag = s >= t
        tp = (flag & (y == 1)).sum()
        if y.sum() and tp / y.sum() >= r:
            best = max(best, tp / flag.sum())
    return best


def test_hand_computed_with_ties():
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.8, 0.5, 0.5, 0.5, 0.1, 0.1])
    # t=0.9: P=1, R=1/3; t=0.8: P=2/3, R=2/3; t=0.5: P=3/6, R=1.
    assert recall_at_precision(y, s, 0.95) == pytest.approx(1 / 3)
    assert recall_at_precision(y, s, 0.6) == pytest.approx(2 / 3)
    assert recall_at_precision(y, s, 0.5) == pytest.approx(1.0)
    assert precision_at_recall(y, s, 0.5) == pytest.approx(2 / 3)
    assert precision_at_recall(y, s, 0.8) == pytest.approx(0.5)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5)), min_size=1, max_size=40))
def test_against_brute_force_on_heavily_tied_scores(rows):
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float)
    for p in (0.5, 0.9, 0.95, 0.99):
        assert recall_at_precision(y, s, p) == pytest.approx(_brute_recall_at_precision(y, s, p))
    for r in (0.5, 0.8):
        assert precision_at_recall(y, s, r) == pytest.approx(_brute_precision_at_recall(y, s, r))
    if 0 < y.sum() < len(y):
        assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5)), min_size=1, max_size=40))
def test_all_metrics_at_once_equal_the_single_functions(rows):
    """evaluate_task's one-curve shortcut must give exactly the per-metric definitions."""
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float)
    single = np.array([fn(y, s) for fn in METRICS.values()])
    np.testing.assert_allclose(all_metrics(y, s), single, rtol=1e-12, atol=1e-15, equal_nan=True)


def test_one_positive():
    y = np.array([0, 0, 1, 0])
    s = np.array([0.1, 0.7, 0.7, 0.2])
    assert recall_at_precision(y, s, 0.95) == 0.0  # the positive is tied with a negative
    assert recall_at_precision(y, s, 0.5) == 1.0
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_no_positives():
    y = np.zeros(5, dtype=int)
    s = np.arange(5.0)
    assert recall_at_precision(y, s, 0.9) == 0.0
    assert precision_at_recall(y, s, 0.5) == 0.0
    assert np.isnan(auroc(y, s)) and np.isnan(auprc(y, s))
    assert all(np.isnan(v) for v in stratified_interval(auroc, y, s))


def test_curve_endpoint_is_not_an_operating_point():
    # sklearn appends (recall 0, precision 1); a classifier never reaching p must give 0.
    y = np.array([1, 0, 0, 0])
    s = np.array([0.1, 0.9, 0.8, 0.7])
    precision, recall, _ = precision_recall_curve(y, s)
    assert precision[-1] == 1 and recall[-1] == 0
    assert recall_at_precision(y, s, 0.99) == 0.0


@pytest.mark.parametrize(
    "y, s, msg",
    [
        ([0, 1], [0.1], "differ in length"),
        ([0, 2], [0.1, 0.2], "0/1"),
        ([0, 1], [0.1, np.nan], "NaN"),
        ([0, 1], [0.1, np.inf], "NaN or infinite"),
        ([[0, 1]], [[0.1, 0.2]], "1-d"),
    ],
)
def test_bad_input(y, s, msg):
    with pytest.raises(ValueError, match=msg):
        check_scores(y, s)


def test_intervals_are_ordered_and_seeded():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.05).astype(int)
    s = rng.normal(size=2000) + 1.5 * y
    out = evaluate_task(y, s, n_resamples=100, seed=1)
    assert out["n_positive"] == y.sum() and out["n_negative"] == len(y) - y.sum()
    for key in (
        "auroc",
        "auprc",
        "recall_at_p90",
        "recall_at_p95",
        "recall_at_p99",
        "precision_at_r50",
        "precision_at_r80",
    ):
        assert 0 <= out[key]["ci_low"] <= out[key]["ci_high"] <= 1, key
    # For the smooth metrics the point estimate sits inside its percentile interval.
    for key in ("auroc", "auprc"):
        assert out[key]["ci_low"] <= out[key]["value"] <= out[key]["ci_high"], key
    assert evaluate_task(y, s, n_resamples=100, seed=1) == out


def test_interval_needs_two_of_each_class():
    y = np.array([0, 0, 0, 1])
    s = np.array([0.1, 0.2, 0.3, 0.9])
    assert all(np.isnan(v) for v in stratified_interval(auroc, y, s))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5)), min_size=4, max_size=40), st.integers(0, 10**6))
def test_weighted_replicate_equals_the_resampled_arrays(rows, seed):
    """A bootstrap replicate as multiplicities over the sorted order gives exactly the
    metrics of the materialised resample (ties and all)."""
    from bench.stats.metrics import _curve_metrics, _sorted_runs, _weighted_counts

    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float)
    order, last = _sorted_runs(s)
    ys = y[order].astype(bool)
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 3, len(y))  # any multiplicities
    w_pos, w_neg = np.where(ys, w, 0), np.where(~ys, w, 0)
    resampled_y, resampled_s = np.repeat(ys.astype(int), w), np.repeat(s[order], w)
    if len(resampled_y) == 0:
        return
    np.testing.assert_allclose(
        _curve_metrics(*_weighted_counts(w_pos, w_neg, last)),
        all_metrics(resampled_y, resampled_s),
        rtol=1e-12,
        atol=1e-15,
        equal_nan=True,
    )


def test_evaluate_task_intervals_bracket_and_are_seeded():
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.05).astype(int)
    s = rng.random(3000) + y
    a, b = evaluate_task(y, s, seed=3), evaluate_task(y, s, seed=3)
    assert a == b
    for name in METRICS:
        assert a[name]["ci_low"] <= a[name]["value"] + 1e-12 <= a[name]["ci_high"] + 2e-12
