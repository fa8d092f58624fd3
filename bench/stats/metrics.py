"""Metrics at the operating points platforms use, with stratified bootstrap intervals.

Every metric is a plain function of `(y_true, score)` whose docstring states its exact
definition; all go through one validation helper, and all are exact on tied scores because
they are read off scikit-learn's curves, which put tied scores in one threshold.
Definitions follow docs/design.md "Metrics"; `evaluate_task` gives the JSON keys of
`lowbase evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy.stats import bootstrap
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

PRECISIONS = {"recall_at_p90": 0.90, "recall_at_p95": 0.95, "recall_at_p99": 0.99}
RECALLS = {"precision_at_r50": 0.5, "precision_at_r80": 0.8}


def check_scores(y_true, score) -> tuple[np.ndarray, np.ndarray]:
    """0/1 labels and finite scores of equal length, as 1-d arrays; ValueError otherwise."""
    y = np.asarray(y_true)
    s = np.asarray(score, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"y_true and score must be 1-d, got shapes {y.shape} and {s.shape}")
    if len(y) != len(s):
        raise ValueError(f"y_true and score differ in length: {len(y)} vs {len(s)}")
    if len(y) and not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0/1 (or booleans)")
    if not np.isfinite(s).all():
        raise ValueError("score holds NaN or infinite values")
    return y.astype(np.int8), s


def _curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at every distinct threshold (the artificial recall-0 endpoint
    scikit-learn appends is dropped: it is not an operating point)."""
    precision, recall, _ = precision_recall_curve(y, s)
    return precision[:-1], recall[:-1]


def recall_at_precision(y_true, score, p: float) -> float:
    """The largest recall among thresholds whose precision is at least `p`; 0 if no
    threshold reaches `p` or there is no positive."""
    y, s = check_scores(y_true, score)
    if y.sum() == 0:
        return 0.0
    precision, recall = _curve(y, s)
    ok = precision >= p
    return float(recall[ok].max()) if ok.any() else 0.0


def precision_at_recall(y_true, score, r: float) -> float:
    """The largest precision among thresholds whose recall is at least `r`; 0 if there is
    no positive."""
    y, s = check_scores(y_true, score)
    if y.sum() == 0:
        return 0.0
    precision, recall = _curve(y, s)
    ok = recall >= r
    return float(precision[ok].max()) if ok.any() else 0.0


def auroc(y_true, score) -> float:
    """Area under the ROC curve (ties count one half); NaN without both classes."""
    y, s = check_scores(y_true, score)
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def auprc(y_true, score) -> float:
    """Average precision (step-wise area under the PR curve, scikit-learn's definition);
    NaN without a positive."""
    y, s = check_scores(y_true, score)
    return float(average_precision_score(y, s)) if y.sum() > 0 else float("nan")


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auroc": auroc,
    "auprc": auprc,
    **{k: partial(recall_at_precision, p=p) for k, p in PRECISIONS.items()},
    **{k: partial(precision_at_recall, r=r) for k, r in RECALLS.items()},
}


def stratified_interval(
    metric: Callable, y, s, n_resamples: int = 200, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval that resamples positives and negatives separately, so
    every replicate keeps the base rate (a plain bootstrap of a rare class would often
    draw replicates without positives). NaN when a class has fewer than two members."""
    y, s = check_scores(y, s)
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) < 2 or len(neg) < 2:  # nothing to resample from
        return float("nan"), float("nan")
    labels = np.concatenate([np.ones(len(pos), np.int8), np.zeros(len(neg), np.int8)])

    def stat(p, n):
        return metric(labels, np.concatenate([p, n]))

    res = bootstrap(
        (pos, neg),
        stat,
        n_resamples=n_resamples,
        confidence_level=level,
        method="percentile",
        vectorized=False,
        paired=False,
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _sorted_runs(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The descending score order and the last position of each run of tied scores in it:
    one sort, shared by the point estimate and every bootstrap replicate."""
    order = np.argsort(-s, kind="stable")
    ss = s[order]
    return order, np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]


def _curve_metrics(tps: np.ndarray, fps: np.ndarray) -> np.ndarray:
    """Every metric of `METRICS` from the (weighted) true and false positives flagged at
    each distinct threshold, high to low: the counts scikit-learn's curves are made of.

    Both counts only grow along the thresholds, so recall does too; each operating-point
    metric is then a binary search on the suffix maximum of precision, instead of a mask
    per metric (this runs once per bootstrap replicate)."""
    tps, fps = np.asarray(tps, dtype=np.float64), np.asarray(fps, dtype=np.float64)  # exact below 2**53; BLAS dots
    n_pos, n_neg = int(tps[-1]), int(fps[-1])
    if n_pos == 0:
        return np.array([np.nan, np.nan, *(0.0 for _ in PRECISIONS), *(0.0 for _ in RECALLS)])
    start = int(np.searchsorted(tps + fps, 0, side="right"))  # thresholds flagging nothing lead
    tps, fps = tps[start:], fps[start:]
    precision = tps / (tps + fps)
    best_after = np.maximum.accumulate(precision[::-1])[::-1]  # max precision at this recall or more
    dtps = np.diff(tps, prepend=0)
    # Average precision as scikit-learn defines it: sum over thresholds, high to low, of
    # (R_n - R_{n-1}) * P_n.
    ap = float(np.dot(dtps, precision)) / n_pos
    at_p = []
    for p in PRECISIONS.values():  # the last threshold whose precision is >= p: largest recall
        i = int(np.searchsorted(-best_after, -p, side="right")) - 1
        at_p.append(float(tps[i] / n_pos) if i >= 0 else 0.0)
    recall = tps / n_pos
    at_r = [float(best_after[np.searchsorted(recall, r, side="left")]) for r in RECALLS.values()]
    # ROC AUC: trapezoids under the steps (tied scores count one half).
    roc = float(np.dot(np.diff(fps, prepend=0), 2 * tps - dtps)) / (2.0 * n_pos * n_neg) if n_neg else float("nan")
    return np.array([roc, ap, *at_p, *at_r])


def all_metrics(y_true, score) -> np.ndarray:
    """Every metric of `METRICS`, in its order, from one sort of the scores.

    The same definitions as the single functions above, which read scikit-learn's curves
    (tested equal on heavily tied scores)."""
    y, s = check_scores(y_true, score)
    order, last = _sorted_runs(s)
    tps = np.cumsum(y[order], dtype=np.float64)[last]
    return _curve_metrics(tps, last + 1 - tps)


def evaluate_task(y_true, score, n_resamples: int = 200, seed: int = 0) -> dict:
    """Every metric with its 95% stratified percentile-bootstrap interval and the counts it
    rests on.

    Resamples positives and negatives separately (as `stratified_interval` does with
    scipy), but as multiplicities over the one sorted order: a replicate's curve is a
    weighted cumulative sum, with no sort. Resampled ties stay ties and distinct scores
    stay distinct, so each replicate's metrics equal those of the resampled arrays
    (tested); it is what makes intervals affordable at 1M accounts, where a sort per
    replicate would dominate the whole evaluation."""
    y, s = check_scores(y_true, score)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    out: dict = {"n_positive": n_pos, "n_negative": n_neg}
    order, last = _sorted_runs(s)
    ys = y[order].astype(bool)
    values = _curve_metrics(*_weighted_counts(ys.astype(np.int64), (~ys).astype(np.int64), last))
    lo = hi = np.full(len(values), np.nan)
    if n_pos >= 2 and n_neg >= 2:
        reps = _replicates(ys, last, n_resamples, np.random.default_rng(seed))
        lo, hi = np.percentile(reps, [2.5, 97.5], axis=0)
    for i, name in enumerate(METRICS):
        out[name] = {"value": float(values[i]), "ci_low": float(lo[i]), "ci_high": float(hi[i])}
    return out


def _weighted_counts(w_pos, w_neg, last) -> tuple[np.ndarray, np.ndarray]:
    """Weighted true and false positives at each threshold (end of each tied run)."""
    tps, fps = np.cumsum(w_pos, dtype=np.float64), np.cumsum(w_neg, dtype=np.float64)
    return (tps, fps) if len(last) == len(tps) else (tps[last], fps[last])  # no ties: every row a threshold


def _replicates(ys: np.ndarray, last: np.ndarray, n_resamples: int, rng) -> np.ndarray:
    """Metrics of `n_resamples` stratified resamples: each positive (negative) is drawn a
    multinomial number of times, n_pos (n_neg) draws in all."""
    pos, neg = np.flatnonzero(ys), np.flatnonzero(~ys)
    reps = np.empty((n_resamples, len(METRICS)))
    for r in range(n_resamples):
        w_pos = np.zeros(len(ys), np.int64)
        w_neg = np.zeros(len(ys), np.int64)
        w_pos[pos] = np.bincount(rng.integers(0, len(pos), len(pos)), minlength=len(pos))
        w_neg[neg] = np.bincount(rng.integers(0, len(neg), len(neg)), minlength=len(neg))
        reps[r] = _curve_metrics(*_weighted_counts(w_pos, w_neg, last))
    return reps


@dataclass(frozen=True)
class OperatingPoint:
    """A score threshold and what it gives: accounts with score >= threshold are flagged."""

    precision_target: float
    threshold: float  # +inf when no threshold reaches the target: nothing is flagged
    tpr: float
    fpr: float
    precision: float
    n_positive: int
    n_negative: int
    true_flagged: int = 0  # positives at or above the threshold
    false_flagged: int = 0  # negatives at or above the threshold


def operating_point(y_true, score, precision: float = 0.95) -> OperatingPoint:
    """The threshold that realises `recall_at_precision(y, s, precision)`: the lowest score
    threshold whose precision is at least `precision` (largest recall), with its TPR, FPR
    and precision. Nothing flagged (threshold +inf, TPR = FPR = 0) when none reaches it."""
    y, s = check_scores(y_true, score)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos:
        prec, rec, thr = precision_recall_curve(y, s)
        ok = np.flatnonzero(prec[:-1] >= precision)
        if len(ok):
            i = ok[np.argmax(rec[:-1][ok])]
            t = float(thr[i])
            flag = s >= t
            tp, fp = int((flag & (y == 1)).sum()), int((flag & (y == 0)).sum())
            return OperatingPoint(precision, t, float(rec[i]), fp / max(n_neg, 1), float(prec[i]), n_pos, n_neg, tp, fp)
    return OperatingPoint(precision, float("inf"), 0.0, 0.0, 0.0, n_pos, n_neg)
