"""Base-rate analyses: what an operating point becomes as the harm gets rarer (paper 7.2.3).

Plain functions with their definitions stated; they take true- and false-positive rates
measured at an operating threshold and project them, so a figure measured at a base rate
the simulation can hold is carried to the base rates the paper argues about (1e-5 ..
1e-7) and to platform scale.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_curve

from bench.stats.intervals import Share, wilson_share
from bench.stats.metrics import check_scores
from bench.stats.rates import precision as rate_precision
from bench.stats.rates import precision_kind

# Content hash matching (PhotoDNA, paper 7.2.2): false-positive rate ~1 in 50 billion,
# true-positive rate > 99%, in a non-adversarial setting.
HASH_FPR = 1 / 5e10
HASH_TPR = 0.99
BASE_RATES = tuple(10.0**-k for k in range(1, 8))  # 1e-1 .. 1e-7


def _check_rate(name: str, x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if np.any((a < 0) | (a > 1)) or not np.isfinite(a).all():
        raise ValueError(f"{name} must lie in [0, 1]")
    return a


def precision_at_base_rate(tpr, fpr, pi):
    """precision(pi) = TPR*pi / (TPR*pi + FPR*(1-pi)); 0 when nothing is flagged (TPR and
    FPR both 0). Broadcasts over arrays."""
    tpr, fpr, pi = (_check_rate(n, v) for n, v in (("tpr", tpr), ("fpr", fpr), ("pi", pi)))
    flagged = tpr * pi + fpr * (1 - pi)
    return np.divide(tpr * pi, flagged, out=np.zeros(np.broadcast(tpr, pi, fpr).shape), where=flagged > 0)


def fpr_needed(precision, tpr, pi):
    """The false-positive rate at which a classifier with true-positive rate `tpr` reaches
    `precision` at base rate `pi`: FPR = TPR*pi*(1-p) / (p*(1-pi)). `precision` in (0, 1]."""
    p = _check_rate("precision", precision)
    if np.any(p <= 0):
        raise ValueError("precision must be > 0")
    tpr, pi = _check_rate("tpr", tpr), _check_rate("pi", pi)
    return tpr * pi * (1 - p) / (p * (1 - pi))


@dataclass(frozen=True)
class Projection:
    accounts: float
    base_rate: float
    offenders: float
    flagged: float
    true_flagged: float
    innocent_flagged: float
    innocent_per_offender_found: float
    reviewer_hours: float


def platform_projection(
    tpr: float, fpr: float, base_rate: float, accounts: float = 3e9, minutes_per_review: float = 5.0
) -> Projection:
    """Expected counts when the classifier runs over `accounts` accounts: flagged =
    N*(TPR*pi + FPR*(1-pi)); innocent per offender found = FPR*(1-pi) / (TPR*pi) (inf when
    no offender is found); every flag reviewed by a person for `minutes_per_review`."""
    tpr, fpr, pi = (float(_check_rate(n, v)) for n, v in (("tpr", tpr), ("fpr", fpr), ("base_rate", base_rate)))
    if accounts <= 0 or minutes_per_review < 0:
        raise ValueError("accounts must be > 0 and minutes_per_review >= 0")
    true_flagged = accounts * tpr * pi
    innocent = accounts * fpr * (1 - pi)
    return Projection(
        accounts=accounts,
        base_rate=pi,
        offenders=accounts * pi,
        flagged=true_flagged + innocent,
        true_flagged=true_flagged,
        innocent_flagged=innocent,
        innocent_per_offender_found=innocent / true_flagged if true_flagged > 0 else float("inf"),
        reviewer_hours=(true_flagged + innocent) * minutes_per_review / 60,
    )


def hash_matching_projection(base_rate: float, accounts: float = 3e9, minutes_per_review: float = 5.0) -> Projection:
    """The content-scanning reference row: hash matching at FPR 1/5e10, TPR 0.99."""
    return platform_projection(HASH_TPR, HASH_FPR, base_rate, accounts, minutes_per_review)


def share_kind(tpr: Share, fpr: Share) -> str:
    """`bench.stats.rates.precision_kind` of the counts behind a TPR and an FPR."""
    return precision_kind(tpr.k, tpr.n, fpr.k, fpr.n)


def precision_bounds(tpr: Share, fpr: Share, pi: float) -> tuple[str, float, float, float]:
    """(kind, value, low, high) of precision at base rate `pi`, the kind decided from the
    counts (`share_kind`). The interval is carried from those of TPR and FPR: precision rises
    with TPR and falls with FPR, so its low end is precision(TPR low, FPR high) and its high end
    precision(TPR high, FPR low). The value is precision(TPR, FPR) for a point; a lower bound
    (no false positive seen) stands on the low end, an upper bound (no offender flagged) on the
    high end; NaN where nothing was flagged (no precision, the interval vacuous)."""
    kind = share_kind(tpr, fpr)
    if kind == "undefined":
        return kind, math.nan, math.nan, math.nan
    _check_rate("rates", [tpr.value, tpr.ci_low, tpr.ci_high, fpr.value, fpr.ci_low, fpr.ci_high, pi])
    low = float(rate_precision(pi, tpr.ci_low, fpr.ci_high))
    high = float(rate_precision(pi, tpr.ci_high, fpr.ci_low))
    if kind == "lower bound":
        return kind, low, low, 1.0
    if kind == "upper bound":
        return kind, high, 0.0, high
    value = float(rate_precision(pi, tpr.value, fpr.value)) if kind == "point" else math.nan
    return kind, value, low, high


def bounded_projection(tpr: Share, fpr: Share, base_rate: float, accounts: float = 3e9, minutes: float = 5.0) -> dict:
    """`platform_projection` at base rate pi from a TPR and an FPR with their intervals and
    counts. Each figure comes from one stated corner of the two intervals:

    - `precision` (value, low, high): `precision_bounds`; a lower bound (no false positive
      seen) is precision at (TPR low, FPR high), an upper bound (no offender flagged) at
      (TPR high, FPR low).
    - `innocent_per_offender` (value, low, high): innocent accounts flagged per offender
      found, FPR*(1-pi) / (TPR*pi), falling with TPR and rising with FPR: low end at (TPR
      high, FPR low), high end at (TPR low, FPR high); the value at the precision's own
      corner (a lower bound of precision is an upper bound here, and the reverse); NaN where
      nothing was flagged.
    - `classifier`, the counts (flagged, offenders flagged, innocent flagged, reviewer hours):
      at (TPR, FPR) for a point; wherever a count of zero stands in a rate (a bound, or
      nothing flagged: a count of zero is not a rate of zero) at (TPR high, FPR high), where
      every count is at its most, so they are upper bounds.

    `kind` is `bench.stats.rates.precision_kind`; `classifier` is None without positives or
    negatives (nothing to project)."""
    kind, value, low, high = precision_bounds(tpr, fpr, base_rate)
    if kind == "undefined":
        nan = (math.nan, math.nan, math.nan)
        return {"kind": kind, "classifier": None, "precision": nan, "innocent_per_offender": nan}

    def at(t: float, f: float) -> Projection:
        return platform_projection(t, f, base_rate, accounts, minutes)

    best, worst = at(tpr.ci_high, fpr.ci_low), at(tpr.ci_low, fpr.ci_high)
    point = kind == "point"
    counts = at(tpr.value, fpr.value) if point else at(tpr.ci_high, fpr.ci_high)
    per = {"point": counts, "lower bound": worst, "upper bound": best}.get(kind)
    return {
        "kind": kind,
        "classifier": counts,
        "precision": (value, low, high),
        "innocent_per_offender": (
            per.innocent_per_offender_found if per is not None else math.nan,
            best.innocent_per_offender_found,
            worst.innocent_per_offender_found,
        ),
    }


def analytic_curve(tpr: Share, fpr: Share, rates=BASE_RATES) -> list[dict]:
    """Per base rate pi: precision(pi) at the operating threshold with its interval
    (`precision_bounds`: where no false positive was seen, the value is the lower bound), and
    the FPR a classifier with this TPR would need for precision 0.95 and 0.99 at pi. Empty
    without positives or negatives (a NaN rate): there is no operating point to project."""
    if share_kind(tpr, fpr) == "undefined":
        return []
    rows = []
    for pi in rates:
        _, value, low, high = precision_bounds(tpr, fpr, float(pi))
        rows.append(
            {
                "base_rate": float(pi),
                "precision": value,
                "ci_low": low,
                "ci_high": high,
                "fpr_needed_p95": float(fpr_needed(0.95, tpr.value, pi)),
                "fpr_needed_p99": float(fpr_needed(0.99, tpr.value, pi)),
            }
        )
    return rows


def empirical_point(y_true, score, fpr: float) -> dict:
    """What a classifier retrained at another base rate gives at the same false-positive
    budget: the threshold is the lowest score whose FPR on this test split is <= `fpr`
    (flag score >= threshold); returns the realised base rate, TPR and precision there with
    Wilson intervals. Comparing this precision with `analytic_curve` at the same base rate
    shows where the projection (TPR and FPR fixed) and retraining part."""
    y, s = check_scores(y_true, score)
    if not 0 < y.sum() < len(y):
        raise ValueError("empirical_point needs both positives and negatives")
    f, _, thr = roc_curve(y, s, drop_intermediate=False)
    i = int(np.flatnonzero(f <= fpr).max())
    flagged = s >= thr[i]
    tp = int((flagged & (y == 1)).sum())
    return {
        "base_rate": float(y.mean()),
        "fpr_target": float(fpr),
        "threshold": float(thr[i]),
        "fpr": float(f[i]),
        "tpr": asdict(wilson_share(tp, int(y.sum()))),
        "precision": asdict(wilson_share(tp, int(flagged.sum()))),
    }
