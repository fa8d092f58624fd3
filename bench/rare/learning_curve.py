"""Learning curves of the ceiling: which offenders a curve point is trained on, and whether
the curve has stopped climbing (docs/design.md "Ceiling").

A point of the curve is a number of truth-labelled offenders, drawn at a uniform level mix
from the pooled training worlds, with every negative kept: the label supply of paper 7.2.5
grown until, if the behaviour allows it, the TPR stops moving. Draws are nested (each
level's offenders in one seeded order, a point takes a prefix), so the points differ by the
labels added, not by which offenders happened to be drawn.

**Plateau rule.** A level's curve has reached its plateau when the last doubling of labels
(the last point against the point at half its labels) moves the TPR by less than the
half-width of the last point's 95% interval: more labels would move it by less than the
measurement can see. Otherwise the last point is only a lower bound on what the metadata
allows at that level (paper 7.2.6 needs the plateau before a low figure is read as
behaviour that truly looks benign).

**The ceiling** of a level is the best class's TPR at its largest point. It is a
measurement only when every class the intervals cannot tell from the best has reached its
plateau: a close rival still climbing may overtake it with more labels. The best class is
picked on the worlds its TPR is read on, a maximum over a few classes: slightly optimistic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.results.ceiling import NOT_REACHED, REACHED  # the verdicts' words live with the records
from common.vocabulary import SOPHISTICATION_LEVELS

CURVE = (30, 100, 300, 1000, 3000)  # truth-labelled offenders in train + val, all levels together


def pool_counts(y: np.ndarray, level: np.ndarray, split: np.ndarray) -> dict[str, int]:
    """Offenders per level in train + val: what a curve can draw from."""
    seen = y.astype(bool) & np.isin(split, ("train", "val"))
    counts = np.bincount(level[seen].astype(np.int64), minlength=len(SOPHISTICATION_LEVELS))
    return {lvl: int(counts[i]) for i, lvl in enumerate(SOPHISTICATION_LEVELS)}


def curve_sizes(points: Sequence[int], pool: dict[str, int]) -> list[int]:
    """The curve's sizes, ascending: every point below the pool's size that a uniform draw
    can supply (each level must hold a quarter of it), half of the pool and the whole pool,
    so the plateau rule always has its last doubling."""
    if any(p < len(SOPHISTICATION_LEVELS) for p in points):
        raise ValueError(f"curve points: each must be at least {len(SOPHISTICATION_LEVELS)} (one offender per level)")
    total = sum(pool.values())
    reachable = {p for p in points if -(-p // len(pool)) <= min(pool.values()) and p < total}
    return sorted(reachable | {total // 2, total})


def quotas(size: int, levels: int = len(SOPHISTICATION_LEVELS)) -> np.ndarray:
    """Offenders per level at a uniform mix: `size` split as evenly as integers allow."""
    q = np.full(levels, size // levels, dtype=np.int64)
    q[: size % levels] += 1
    return q


def curve_keep(y: np.ndarray, level: np.ndarray, split: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Which train/val accounts carry a label at a curve point of `size` offenders: every
    negative, and per level its quota (`quotas`) of offenders, split between train and val in
    the proportion the pool has (at least one in val, so early stopping reads a positive).
    Each level's offenders of a split are taken in one seeded order, so the draws of a
    larger size contain those of a smaller one."""
    y = y.astype(bool)
    keep = ~y & np.isin(split, ("train", "val"))
    for lvl, q in enumerate(quotas(size)):
        tr = np.flatnonzero(y & (level == lvl) & (split == "train"))
        va = np.flatnonzero(y & (level == lvl) & (split == "val"))
        if q > len(tr) + len(va) or not len(va):
            raise ValueError(f"curve point {size}: level L{lvl} holds {len(tr) + len(va)} offenders, needs {q}")
        n_va = min(len(va), max(1, round(q * len(va) / (len(tr) + len(va)))))
        n_tr = min(len(tr), q - n_va)
        n_va = q - n_tr
        rng = np.random.default_rng([seed, lvl])
        keep[rng.permutation(tr)[:n_tr]] = True
        keep[rng.permutation(va)[:n_va]] = True
    return keep


@dataclass(frozen=True)
class Verdict:
    """The plateau rule applied to one level: the last point and the one at half its labels
    (or fewer), the TPR's move between them and the last interval's half-width."""

    verdict: str
    last: int
    previous: int | None
    change: float
    half_width: float


def plateau(previous: float, last: float, low: float, high: float) -> bool:
    """The plateau rule: the last doubling moved the TPR (`previous` -> `last`) by less than
    the half-width of the last point's 95% interval [`low`, `high`]."""
    return bool(abs(last - previous) < (high - low) / 2)


def plateau_verdict(
    sizes: Sequence[int], values: Sequence[float], lows: Sequence[float], highs: Sequence[float]
) -> Verdict:
    """`plateau` on one level's curve (points in ascending size): the last point against the
    largest point with at most half its labels. No such point, or an undefined rate: the
    curve shows no plateau, so the last figure is a lower bound."""
    last = len(sizes) - 1
    half = [i for i in range(last) if 2 * sizes[i] <= sizes[last]]
    if last < 0:
        raise ValueError("plateau_verdict: an empty curve")
    hw = (highs[last] - lows[last]) / 2
    if not half or not np.isfinite([values[half[-1]], values[last], hw]).all():
        return Verdict(NOT_REACHED, sizes[last], None, float("nan"), float(hw))
    i = half[-1]
    ok = plateau(values[i], values[last], lows[last], highs[last])
    return Verdict(REACHED if ok else NOT_REACHED, sizes[last], sizes[i], float(values[last] - values[i]), float(hw))


def class_curve(powered: dict, names: dict[int, str], labelled: dict[int, dict[str, int]], thresholds) -> dict:
    """One class's learning curve from a powered evaluation of its curve points (`names`:
    the powered model name of each size): per point the labelled offenders and, per
    threshold, the FPR and the TPR per level; then the plateau verdict per threshold and
    level. JSON-ready (`bench.results.ceiling.ClassCurve`)."""
    sizes = sorted(names)
    rows = [powered["models"][names[s]]["by_threshold"] for s in sizes]
    curve = [
        {"offenders": s, "by_level": labelled[s], "fpr": {t: row[t]["fpr"] for t in thresholds},
         "tpr_by_level": {t: row[t]["tpr_by_level"] for t in thresholds}}
        for s, row in zip(sizes, rows, strict=True)
    ]  # fmt: skip
    verdicts: dict[str, dict] = {}
    for t in thresholds:
        verdicts[t] = {}
        for lvl in SOPHISTICATION_LEVELS:
            r = [row[t]["tpr_by_level"][lvl] for row in rows]
            v = plateau_verdict(sizes, [x["value"] for x in r], [x["low"] for x in r], [x["high"] for x in r])
            verdicts[t][lvl] = v.__dict__
    return {"curve": curve, "plateau": verdicts}


def _overlaps(a: dict, b: dict) -> bool:
    """Whether two rates' 95% intervals share a point (an undefined one shares none)."""
    lo, hi = max(a["low"], b["low"]), min(a["high"], b["high"])
    return bool(np.isfinite([lo, hi]).all() and lo <= hi)


def best_verdict(last: dict[str, dict], verdicts: dict[str, str], best: str) -> str:
    """The ceiling's verdict at one level: reached only if every class whose interval at its
    largest point overlaps the best class's (the best among them) has reached its plateau.
    A class the interval cannot tell from the best could be the better one with more
    labels, so while its curve still climbs the ceiling is a lower bound."""
    rivals = [m for m in last if m == best or _overlaps(last[m], last[best])]
    return REACHED if all(verdicts[m] == REACHED for m in rivals) else NOT_REACHED


def best_per_level(curves: dict[str, dict], thresholds) -> dict:
    """The ceiling per threshold and level: the class with the highest TPR at its largest
    point, that TPR and the verdict of `best_verdict`. The best is picked on the very worlds
    its TPR is read on (a maximum over classes), so with several classes it leans slightly
    high; the classes are few and the worlds large, and the report says so."""
    out: dict[str, dict] = {}
    for t in thresholds:
        out[t] = {}
        for lvl in SOPHISTICATION_LEVELS:
            last = {m: c["curve"][-1]["tpr_by_level"][t][lvl] for m, c in curves.items()}
            # a tie goes to the first class by name, whatever order the classes came in
            best = max(sorted(last), key=lambda m: np.nan_to_num(last[m]["value"], nan=-1.0))
            verdicts = {m: c["plateau"][t][lvl]["verdict"] for m, c in curves.items()}
            out[t][lvl] = {"model": best, "tpr": last[best], "verdict": best_verdict(last, verdicts, best)}
    return out
