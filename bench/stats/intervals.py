"""Proportions with their 95% interval and the counts they rest on.

Every share the benchmark reports (recall of a level, detection before harm, TPR and FPR at
the operating point) is a `Share`, so a reader always sees k of n beside the value; with
the few positives a rare harm gives, the interval is the finding, not the point.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import binomtest


@dataclass(frozen=True)
class Share:
    """A proportion with its 95% interval and the counts it rests on."""

    value: float
    ci_low: float
    ci_high: float
    k: int
    n: int


def wilson_share(k: int, n: int) -> Share:
    """k of n, with scipy's Wilson score interval (NaN for n = 0)."""
    if n == 0:
        return Share(float("nan"), float("nan"), float("nan"), 0, 0)
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return Share(k / n, float(ci.low), float(ci.high), int(k), int(n))
