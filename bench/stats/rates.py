"""Case-control arithmetic for rare harms: thresholds fixed on validation data, true- and
false-positive counts pooled over worlds, and precision at a base rate with honest bounds.

With ~25 offenders in a test split, precision at a target is decided by one or two
accounts, and a threshold picked on the data it is scored on flatters every figure. The
evaluation design of docs/design.md ("Evaluation design for rare harms") measures each quantity
where it can be measured: a threshold on the validation split of the training world (at a
false-positive budget, or at a target precision), the true-positive rate on enriched worlds
that hold hundreds of offenders per level, the false-positive rate on worlds of millions of
negatives, and precision at a base rate pi from the two:

    precision(pi) = TPR * pi / (TPR * pi + FPR * (1 - pi))

Rates carry exact (Clopper-Pearson) intervals. Where no false positive was seen, precision
is a lower bound (from the upper end of the FPR interval), never a point 1.000; where no
true positive was, an upper bound.

Counts are `Tally`s: per threshold, how many scores reached it, out of n. Tallies of
independent worlds add, so pooling a million negatives keeps only a few integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta
from sklearn.metrics import precision_recall_curve

ALPHA = 0.05  # two-sided: 95% intervals
FPR_BUDGETS = (1e-2, 1e-3, 1e-4)
TARGET_PRECISIONS = (0.95,)


@dataclass(frozen=True)
class Thresholds:
    """Score thresholds (an account is flagged when its score >= the value) and where they
    were set: the world's fingerprint and split. Nothing may be scored against thresholds
    set on the same world and split (`check_disjoint`)."""

    names: tuple[str, ...]
    values: np.ndarray
    world: str  # fingerprint of the dataset the thresholds were set on
    split: str  # the split of that world they were set on

    def check_disjoint(self, world: str, split: str | None = None) -> None:
        """Refuse to score on the world and split the thresholds were set on (split None:
        the whole world, which contains that split)."""
        if world == self.world and split in (None, self.split):
            where = "the whole world" if split is None else f"split '{split}'"
            raise ValueError(
                f"thresholds were set on split '{self.split}' of world {self.world[:16]}: "
                f"scoring {where} of the same world would grade them on their own data"
            )


def budget_name(fpr: float) -> str:
    return f"fpr<={fpr:g}"


def precision_name(p: float) -> str:
    return f"precision>={p:g}"


def fpr_threshold(negatives: np.ndarray, budget: float) -> float:
    """The lowest threshold flagging at most floor(budget * n) of these negatives (ties
    included: a threshold never splits a tie). With fewer negatives than 1 / budget it
    allows no false positive: the threshold sits just above the highest negative."""
    s = np.sort(np.asarray(negatives, dtype=np.float64))[::-1]
    allowed = int(np.floor(budget * len(s)))
    if allowed >= len(s):
        return -np.inf
    return float(np.nextafter(s[allowed], np.inf))


def precision_threshold(y: np.ndarray, scores: np.ndarray, target: float) -> float:
    """The lowest threshold whose precision on (y, scores) reaches `target` with at least
    one true positive; +inf (flags nothing) when none does."""
    y = np.asarray(y).astype(bool)
    if not y.any():
        return np.inf
    prec, rec, thr = precision_recall_curve(y, scores)
    ok = (prec[:-1] >= target) & (rec[:-1] > 0)
    return float(thr[np.flatnonzero(ok)[0]]) if ok.any() else np.inf


def validation_thresholds(
    y: np.ndarray,
    scores: np.ndarray,
    world: str,
    split: str = "val",
    budgets: tuple[float, ...] = FPR_BUDGETS,
    precisions: tuple[float, ...] = TARGET_PRECISIONS,
) -> Thresholds:
    """Thresholds at false-positive budgets (on the split's negatives) and at target
    precisions (on the split as a whole, at its own prevalence)."""
    y = np.asarray(y).astype(bool)
    values = [fpr_threshold(scores[~y], b) for b in budgets]
    values += [precision_threshold(y, scores, p) for p in precisions]
    names = tuple(budget_name(b) for b in budgets) + tuple(precision_name(p) for p in precisions)
    return Thresholds(names, np.asarray(values, dtype=np.float64), world, split)


@dataclass(frozen=True)
class Tally:
    """Per threshold, how many of n scores reached it. Tallies of disjoint sets add."""

    flagged: np.ndarray  # int64, one per threshold
    n: int

    @classmethod
    def of(cls, scores: np.ndarray, thresholds: np.ndarray) -> Tally:
        s = np.sort(np.asarray(scores, dtype=np.float64))
        flagged = len(s) - np.searchsorted(s, np.asarray(thresholds, dtype=np.float64), side="left")
        return cls(flagged.astype(np.int64), len(s))

    @classmethod
    def empty(cls, k: int) -> Tally:
        return cls(np.zeros(k, dtype=np.int64), 0)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.flagged + other.flagged, self.n + other.n)

    def rate(self) -> np.ndarray:
        return self.flagged / self.n if self.n else np.full(len(self.flagged), np.nan)

    def interval(self, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
        return clopper_pearson(self.flagged, self.n, alpha)


def clopper_pearson(k, n: int, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial interval for k successes of n (vectorised over k)."""
    k = np.asarray(k, dtype=np.float64)
    if n == 0:
        return np.zeros_like(k), np.ones_like(k)
    lo = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
    hi = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return np.nan_to_num(lo), np.nan_to_num(hi, nan=1.0)


@dataclass(frozen=True)
class Rate:
    """A rate with its interval and the counts behind it (k of n)."""

    value: float
    low: float
    high: float
    k: int
    n: int

    def as_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "k": self.k, "n": self.n}


def rates(tally: Tally, alpha: float = ALPHA) -> list[Rate]:
    """One Rate per threshold of a tally."""
    lo, hi = tally.interval(alpha)
    value = tally.rate()
    return [Rate(float(value[i]), float(lo[i]), float(hi[i]), int(tally.flagged[i]), tally.n) for i in range(len(lo))]


def mixed(by_level: list[Rate], weights) -> Rate:
    """The rate of a population mixing levels in these proportions (a scenario's
    sophistication mix), from per-level rates measured on a uniform mix. The interval is
    the weighted ends of the levels' intervals: conservative (wider than a joint 95%)."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    pick = [(wi, r) for wi, r in zip(w, by_level, strict=True) if wi > 0]
    return Rate(
        float(sum(wi * r.value for wi, r in pick)),
        float(sum(wi * r.low for wi, r in pick)),
        float(sum(wi * r.high for wi, r in pick)),
        int(sum(r.k for _, r in pick)),
        int(sum(r.n for _, r in pick)),
    )


def precision(pi: float, tpr: float, fpr: float) -> float:
    num = tpr * pi
    den = num + fpr * (1 - pi)
    return num / den if den > 0 else np.nan


def precision_kind(tp: int, positives: int, fp: int, negatives: int) -> str:
    """What a precision read from these counts is (tp of `positives` flagged, fp of
    `negatives`); the one place the report, the headline and the projections learn it from:
    'undefined' without positives or negatives (no rate to read); 'nothing flagged' when the
    threshold flagged no account at all (0/0: no precision, not even a bound, and a count of
    zero is not a rate of zero); 'lower bound' when no false positive was seen (precision >=
    the value at the FPR's upper bound, never a point 1.000); 'upper bound' when no true
    positive was (precision <= the value); 'point' otherwise."""
    if positives == 0 or negatives == 0:
        return "undefined"
    if tp == 0 and fp == 0:
        return "nothing flagged"
    if fp == 0:
        return "lower bound"
    return "upper bound" if tp == 0 else "point"


def stored_kind(kind: str) -> str:
    """A `precision_kind` as a `precision_at` record keeps it: no value is 'undefined', whether
    nothing was measured or nothing flagged (the counts beside the record tell them apart)."""
    return "undefined" if kind == "nothing flagged" else kind


def precision_at(pi: float, tpr: Rate, fpr: Rate) -> dict:
    """Precision at base rate pi from a true-positive rate (positives) and a false-positive
    rate (negatives): value, interval (the ends of the two rate intervals combined) and
    `kind` (`precision_kind`, as `stored_kind` records it): 'point'; 'lower bound' when no
    false positive was seen (the value is the bound, from the FPR interval's upper end:
    'precision >= value'); 'upper bound' when no true positive was ('precision <= value');
    'undefined' without positives or negatives, or when the threshold flagged nothing at all
    (no precision to speak of)."""
    kind = stored_kind(precision_kind(tpr.k, tpr.n, fpr.k, fpr.n))
    if kind == "undefined":
        return {"base_rate": pi, "value": None, "low": None, "high": None, "kind": kind}
    low, high = precision(pi, tpr.low, fpr.high), precision(pi, tpr.high, fpr.low)
    if kind == "lower bound":
        return {"base_rate": pi, "value": low, "low": low, "high": 1.0, "kind": kind}
    if kind == "upper bound":
        return {"base_rate": pi, "value": high, "low": 0.0, "high": high, "kind": kind}
    return {"base_rate": pi, "value": precision(pi, tpr.value, fpr.value), "low": low, "high": high, "kind": kind}


def smallest_base_rate(target: float, tpr_low: float, fpr_high: float) -> float:
    """The smallest base rate at which precision `target` is still supported by the
    conservative ends of the intervals (TPR low, FPR high):
    pi >= target * FPR / (TPR * (1 - target) + target * FPR). NaN without a true positive."""
    if tpr_low <= 0:
        return np.nan
    return target * fpr_high / (tpr_low * (1 - target) + target * fpr_high)
