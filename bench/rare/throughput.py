"""Harm throughput: how much harm a world's offenders cause, per sophistication level.

The adversary frontier weighs a groomer strategy's harm against how detectable it is; this
module gives the harm side, read from a world's truth and harm events (evaluation only:
no model sees them). Per level L0..L3 and over all levels (`ALL_LEVELS`):

- **offenders**: accounts whose truth has `groomer` set, at that level.
- **harm rate**: harm events (image exchanges and repeated images, `harm_events`) per
  offender per 30 days of exposure. An offender is exposed from the day its account exists
  in the window, max(signup_day, 0), to the window's end: an account that signs up late
  (the cartoon L0, a new account) has less time to do harm, and a rate per offender that
  ignored it would call the late sign-up harmless. The point is the ratio of sums, total
  events over total exposure, times 30.
- **reached harm**: the share of offenders with at least one harm event, with the Wilson
  interval every share of the benchmark carries (`bench.stats.intervals`).
- **days to harm**: per offender with a harm event, days from the first interaction of the
  pair of its first harm event (a contact request or a 1:1 message, either way, in the
  window) to that event; the median over offenders. Either way, not the offender's own
  first message: a child already in the offender's circle is simply messaged, and may write
  first. An interaction before the window is not seen, so for a pair already in touch the
  clock starts at the window's first one.

Intervals are 95%. The harm rate's resamples offenders (a percentile bootstrap of the ratio
of sums, `scipy.stats.bootstrap`, events and exposure paired): one offender's events are not
independent (one engaged child can send several images) and offenders differ widely in how
many children they reach, so the counts are overdispersed and an exact Poisson interval on
the total count alone would be too narrow. With a handful of events the bootstrap is the
one too narrow (its resamples only redistribute the few events seen: its high end stays
below what two or three events allow), so the interval reported spans both, the lower of
the two low ends to the higher of the two high ends, the other being the exact (Garwood)
Poisson interval of the total count over the total exposure. With no event or a single
offender there is nothing to resample, and the Poisson interval is the interval.

The median's interval is the exact distribution-free one (order statistics of the days,
`scipy.stats.quantile_test`): no resampling, and valid at the small counts a rare harm
gives. It exists from six values on (with five, even the range covers the median with
probability 1 - 2 / 32 < 0.95), so below `MIN_FOR_MEDIAN` the median is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap, chi2, quantile_test

from bench.stats.intervals import Share, wilson_share
from common.vocabulary import DAY, SOPHISTICATION_LEVELS
from data_gen.reader import Dataset, open_dataset

ALL_LEVELS = -1  # the key of the row over every level (truth's -1 is "no level" too)
RATE_DAYS = 30  # the harm rate is per offender per this many days of exposure
# Fewer offenders with a harm event than this: no median days to harm. Six is the smallest
# count whose order statistics give an exact 95% interval of the median.
MIN_FOR_MEDIAN = 6
CONFIDENCE = 0.95


@dataclass(frozen=True)
class HarmRate:
    """Harm events per offender per `RATE_DAYS` days, its 95% interval (module docstring)
    and the counts it rests on."""

    value: float
    ci_low: float
    ci_high: float
    events: int
    exposure_days: int


@dataclass(frozen=True)
class DaysToHarm:
    """Median days from first contact to the first harm event over offenders with a harm
    event (`n` of them); None below `MIN_FOR_MEDIAN`."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int


@dataclass(frozen=True)
class Throughput:
    """The harm throughput of one level's offenders (`level` 0..3, or `ALL_LEVELS`)."""

    level: int
    offenders: int
    rate: HarmRate
    reached: Share  # offenders with at least one harm event, of all offenders
    days_to_harm: DaysToHarm

    @property
    def name(self) -> str:
        return "all levels" if self.level == ALL_LEVELS else SOPHISTICATION_LEVELS[self.level]


@dataclass(frozen=True)
class _Offenders:
    """One row per offender: its level, harm events, exposure days and days to its first
    harm (NaN without one)."""

    level: np.ndarray
    events: np.ndarray
    exposure: np.ndarray
    to_harm: np.ndarray


def harm_throughput(
    dataset: Dataset | str | Path | Sequence[Dataset], seed: int = 0, n_resamples: int = 2000
) -> dict[int, Throughput]:
    """The harm throughput per level (keys 0..3) and over all levels (`ALL_LEVELS`) of the
    offenders of a world: a `Dataset` (written or in memory) or a dataset directory, or of
    several worlds' offenders pooled (a list of `Dataset`s: each offender keeps its own
    world's counts, so the pool is a larger sample of the same behaviour). A level without
    offenders is still a row, with offenders 0 and NaN figures. `seed` fixes the bootstrap
    resamples, so the same worlds always give the same intervals."""
    if isinstance(dataset, str | Path):
        off = _per_offender(open_dataset(dataset))
    elif isinstance(dataset, Dataset):
        off = _per_offender(dataset)
    else:
        parts = [_per_offender(ds) for ds in dataset]
        off = _Offenders(*(np.concatenate([getattr(p, f) for p in parts]) for f in _Offenders.__dataclass_fields__))
    out = {}
    for level in (*range(len(SOPHISTICATION_LEVELS)), ALL_LEVELS):
        mine = np.ones(len(off.level), bool) if level == ALL_LEVELS else off.level == level
        events, exposure, to_harm = off.events[mine], off.exposure[mine], off.to_harm[mine]
        out[level] = Throughput(
            level=level,
            offenders=int(mine.sum()),
            rate=harm_rate(events, exposure, seed, n_resamples),
            reached=wilson_share(int((events > 0).sum()), int(mine.sum())),
            days_to_harm=median_days(to_harm[np.isfinite(to_harm)]),
        )
    return out


def _per_offender(ds: Dataset) -> _Offenders:
    """Every offender's level, harm events, exposure and days to first harm, from truth,
    accounts, harm events and the pair's interactions (all by account id)."""
    truth = ds.truth_by_id("groomer", "sophistication")
    ids = np.flatnonzero(truth["groomer"])
    n = len(truth["groomer"])
    days = int(ds.meta["scenario"]["activity"]["days"])
    acc = ds.table("accounts", ["account_id", "signup_day"])
    signup = np.zeros(n, np.int64)
    signup[acc["account_id"].to_numpy()] = acc["signup_day"].to_numpy()
    exposure = days - np.clip(signup[ids], 0, days)
    h = ds.table("harm_events", ["offender", "victim", "ts"])
    offender, victim, ts = (h[c].to_numpy().astype(np.int64) for c in ("offender", "victim", "ts"))
    events = np.bincount(offender, minlength=n)[ids]
    to_harm = np.full(n, np.nan)
    first_off, first_vic, first_ts = first_harm(offender, victim, ts)
    if len(first_off):
        start = first_interaction(ds, first_off, first_vic, n)
        to_harm[first_off] = (first_ts - start) / DAY
    level = truth["sophistication"][ids].astype(np.int64)
    return _Offenders(level=level, events=events, exposure=exposure, to_harm=to_harm[ids])


def first_harm(offender: np.ndarray, victim: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, ...]:
    """(offender, victim, ts) of each offender's first harm event; of events at the same
    second, the one with the lowest victim id (any fixed rule would do)."""
    order = np.lexsort((victim, ts, offender))
    offender, victim, ts = offender[order], victim[order], ts[order]
    first = np.r_[True, offender[1:] != offender[:-1]] if len(offender) else np.zeros(0, bool)
    return offender[first], victim[first], ts[first]


def first_interaction(ds: Dataset, a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Per pair (a[i], b[i]): the time of its first contact request or 1:1 message in the
    window, either way (NaN where there is none). Only rows touching an `a` account are
    keyed, so a platform-sized messages table is filtered before anything is sorted."""
    touches = np.zeros(n, bool)
    touches[a] = True
    want = np.minimum(a, b) * n + np.maximum(a, b)
    keys, times = [], []
    for name in ("contact_requests", "messages"):
        t = ds.table(name, ["src", "dst", "ts"])
        src, dst, ts = (t[c].to_numpy() for c in ("src", "dst", "ts"))
        sel = (src >= 0) & (dst >= 0)  # a group message has dst -1
        sel[sel] = touches[src[sel]] | touches[dst[sel]]
        src, dst = src[sel], dst[sel]
        keys.append(np.minimum(src, dst) * n + np.maximum(src, dst))
        times.append(ts[sel])
    key, when = np.concatenate(keys), np.concatenate(times)
    order = np.lexsort((when, key))
    key, when = key[order], when[order]
    out = np.full(len(want), np.nan)
    at = np.searchsorted(key, want)
    found = at < len(key)
    found[found] = key[at[found]] == want[found]
    out[found] = when[at[found]]
    return out


def harm_rate(events: np.ndarray, exposure: np.ndarray, seed: int = 0, n_resamples: int = 2000) -> HarmRate:
    """Total events over total exposure days, times `RATE_DAYS`, with its 95% interval (the
    module docstring says which and why). NaN without exposure (no offender)."""
    k, t = int(events.sum()), int(exposure.sum())
    if t == 0:
        nan = float("nan")
        return HarmRate(nan, nan, nan, k, t)
    low, high = (v / t * RATE_DAYS for v in poisson_interval(k))
    if k == 0 or len(events) < 2:
        return HarmRate(k / t * RATE_DAYS, low, high, k, t)
    res = bootstrap(
        (events.astype(np.float64), exposure.astype(np.float64)),
        lambda e, x, axis=-1: e.sum(axis=axis) / x.sum(axis=axis) * RATE_DAYS,
        paired=True,
        vectorized=True,
        n_resamples=n_resamples,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = res.confidence_interval
    return HarmRate(k / t * RATE_DAYS, min(low, float(ci.low)), max(high, float(ci.high)), k, t)


def poisson_interval(k: int) -> tuple[float, float]:
    """Exact (Garwood) 95% interval of a Poisson mean from one count `k`."""
    alpha = 1 - CONFIDENCE
    low = 0.0 if k == 0 else float(chi2.ppf(alpha / 2, 2 * k) / 2)
    return low, float(chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2)


def median_days(days: np.ndarray) -> DaysToHarm:
    """The median of `days` (one per offender) with its exact distribution-free 95%
    interval; None below `MIN_FOR_MEDIAN` values."""
    if len(days) < MIN_FOR_MEDIAN:
        return DaysToHarm(None, None, None, len(days))
    value = float(np.median(days))
    ci = quantile_test(days, q=value, p=0.5).confidence_interval(CONFIDENCE)
    return DaysToHarm(value, float(ci.low), float(ci.high), len(days))
