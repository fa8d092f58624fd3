"""Analyses of the groomer harm: who is found, by level, and whether before the harm.

Plain functions over arrays (scores, truth, harm events), each stating its definition.
The paper's two claims they measure: competent groomers (L2/L3) look normal, so recall
falls with sophistication (7.2.6, 8.1.1); and the harm happens before anything is
visible, so a classifier that finds an offender often finds them too late (7.2.7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap

from bench.stats.intervals import Share, wilson_share
from common.vocabulary import SOPHISTICATION_LEVELS


def recall_by_level(level, score, threshold: float) -> dict[str, Share]:
    """Per groomer sophistication level l: among accounts of level l, the share whose score
    is >= `threshold` (the operating threshold at precision 0.95 over all groomers).
    `level` holds 0..3 for groomers and -1 for everyone else; accounts of other levels are
    ignored, so each level's recall rests on its own n."""
    level = np.asarray(level)
    flagged = np.asarray(score, dtype=np.float64) >= threshold
    out = {}
    for i, name in enumerate(SOPHISTICATION_LEVELS):
        mine = level == i
        out[name] = wilson_share(int((flagged & mine).sum()), int(mine.sum()))
    return out


def first_flag_times(checkpoints, scores, threshold: float) -> np.ndarray:
    """Per account, the earliest checkpoint time at which its score is >= `threshold`
    (+inf if never). `scores` has one row per checkpoint, one column per account."""
    checkpoints = np.asarray(checkpoints, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape[0] != len(checkpoints):
        raise ValueError(f"scores has {scores.shape[0]} rows for {len(checkpoints)} checkpoints")
    if len(checkpoints) > 1 and np.any(np.diff(checkpoints) <= 0):
        raise ValueError("checkpoints must be strictly increasing")
    hit = scores >= threshold
    first = np.argmax(hit, axis=0)
    return np.where(hit.any(axis=0), checkpoints[first] if len(checkpoints) else np.inf, np.inf)


@dataclass(frozen=True)
class HarmTimeline:
    """Detection-before-harm overall and over time (one entry per checkpoint)."""

    share: Share  # harm events preceded by their offender crossing the threshold
    ci_by_offender: tuple[float, float]  # interval resampling offenders, not events
    checkpoints: list[float]
    harm_share_by: list[float]  # share of harm events that have happened by each checkpoint
    flagged_before_harm_by: list[float]  # share of events whose offender was flagged by then, before the event


def detection_before_harm(
    event_offender, event_ts, first_flag, checkpoints, seed: int = 0, n_resamples: int = 1000
) -> HarmTimeline:
    """The share of harm events preceded by the offender crossing the operating threshold:
    event e of offender o at time t counts when first_flag[o] < t, i.e. a checkpoint
    strictly before the harm already had o over the threshold. `first_flag` is indexed by
    account id (see `first_flag_times`); the timeline is read at `checkpoints`. Events of
    one offender are not independent, so the interval resamples offenders (a cluster
    bootstrap) besides the plain Wilson interval."""
    o = np.asarray(event_offender, dtype=np.int64)
    t = np.asarray(event_ts, dtype=np.float64)
    ff = np.asarray(first_flag, dtype=np.float64)[o]
    before = ff < t
    share = wilson_share(int(before.sum()), len(o))
    cps = [float(c) for c in checkpoints]
    return HarmTimeline(
        share=share,
        ci_by_offender=_cluster_interval(o, before, seed, n_resamples),
        checkpoints=cps,
        harm_share_by=[float((t <= c).mean()) for c in cps] if len(t) else [],
        flagged_before_harm_by=[float((before & (ff <= c)).mean()) for c in cps] if len(t) else [],
    )


def _cluster_interval(offender: np.ndarray, hit: np.ndarray, seed: int, n_resamples: int) -> tuple[float, float]:
    """Percentile bootstrap of sum(hits)/sum(events) over offenders (NaN with < 2)."""
    ids, inv = np.unique(offender, return_inverse=True)
    if len(ids) < 2:
        return float("nan"), float("nan")
    events = np.bincount(inv).astype(np.float64)
    hits = np.bincount(inv, weights=hit.astype(np.float64))
    if (hits == events).all() or (hits == 0).all():
        v = float(hits.sum() / events.sum())  # every resample gives the same ratio
        return v, v
    res = bootstrap(
        (hits, events),
        lambda h, e, axis=-1: h.sum(axis=axis) / e.sum(axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
