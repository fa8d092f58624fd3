"""Base-rate analyses: what an operating point becomes as the harm gets rarer (paper 7.2.3).

Plain functions with their definitions stated; they take true- and false-positive rates
measured at an operating threshold and project them, so a figure measured at a base rate
the simulation can hold is carried to the base rates the paper argues about (1e-5 ..
1e-7) and to platform scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_curve

from bench.stats.intervals import Share, wilson_share
from bench.stats.metrics import check_scores

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


def analytic_curve(tpr: Share, fpr: Share, rates=BASE_RATES) -> list[dict]:
    """Per base rate pi: precision(pi) at the operating threshold, with an interval carried
    from the intervals of TPR and FPR (precision rises with TPR and falls with FPR, so the
    bounds are precision(TPR_low, FPR_high) and precision(TPR_high, FPR_low)); and the FPR a
    classifier with this TPR would need for precision 0.95 and 0.99 at pi."""
    rows = []
    for pi in rates:
        rows.append(
            {
                "base_rate": float(pi),
                "precision": float(precision_at_base_rate(tpr.value, fpr.value, pi)),
                "ci_low": float(precision_at_base_rate(tpr.ci_low, fpr.ci_high, pi)),
                "ci_high": float(precision_at_base_rate(tpr.ci_high, fpr.ci_low, pi)),
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
