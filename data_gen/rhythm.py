"""When people are active: diurnal and weekly rhythms by age.

Timestamps are seconds since the window start (day 0 is a Monday). Minors are at school
on weekday mornings and active after school and late evening; adults peak at lunch and in
the evening; weekends shift both later and flatter. An offender who keeps a child's
schedule (L3) draws from the minors' profile: that is why these are age-driven.
"""

from __future__ import annotations

import numpy as np

from common.vocabulary import DAY, HOUR

# Relative activity per hour of the day, 0-23 (unitless weights, normalised below), for
# minors and adults on weekdays and weekends. Arbitrary: drawn to the description above,
# not fitted to a measured trace.
_MINOR_WEEKDAY = [1, 0.5, 0.2, 0.1, 0.1, 0.2, 1, 3, 1, 0.3, 0.3, 0.4, 1, 0.5, 0.8, 4, 6, 6, 5, 6, 7, 7, 5, 2.5]
_MINOR_WEEKEND = [2, 1.2, 0.6, 0.3, 0.1, 0.1, 0.2, 0.5, 1, 2, 3, 4, 4.5, 5, 5, 5, 5, 5, 5, 5.5, 6, 6, 5, 3.5]
_ADULT_WEEKDAY = [0.8, 0.4, 0.2, 0.1, 0.1, 0.3, 1.2, 3, 3.5, 3, 3, 3.2, 4.5, 4, 3, 3, 3.2, 4, 5, 5.5, 5.5, 5, 3.5, 1.8]
_ADULT_WEEKEND = [
    1.2,
    0.7,
    0.4,
    0.2,
    0.1,
    0.1,
    0.3,
    0.8,
    1.8,
    3,
    3.8,
    4.2,
    4.5,
    4.2,
    4,
    4,
    4,
    4.2,
    4.5,
    5,
    5,
    4.8,
    3.8,
    2.2,
]

SATURDAY = 5  # day of the week (day 0 is a Monday): days 5 and 6 are the weekend
_PROFILES = np.array([_ADULT_WEEKDAY, _ADULT_WEEKEND, _MINOR_WEEKDAY, _MINOR_WEEKEND], dtype=float)
_CDF = np.cumsum(_PROFILES / _PROFILES.sum(axis=1, keepdims=True), axis=1)
_CDF[:, -1] = 1.0
# Stacked CDFs shifted by profile index: one searchsorted call serves all four profiles.
_FLAT = (_CDF + np.arange(4)[:, None]).ravel()


# Lookup tables for `hours`: profile k's CDF steps less the offset k (exact: both sides lie
# within a factor of two of k), cut into cells of width 1/_CELLS. In a cell holding no step
# the hour is the number of steps below the cell; the few draws in a cell holding a step
# fall back to the search.
_CELLS = 4096
_STEPS = _FLAT.reshape(4, 24) - np.arange(4)[:, None]
_EDGES = np.arange(_CELLS + 1) / _CELLS
_BELOW = np.concatenate([np.searchsorted(t, _EDGES[:-1], side="left") for t in _STEPS]).astype(np.int64)
_MIXED = np.concatenate([np.searchsorted(t, _EDGES[1:], side="left") for t in _STEPS]) > _BELOW


def hours(rng: np.random.Generator, minor: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    """Hour of day from the profile (adult/minor x weekday/weekend) of each row: the number
    of the profile's CDF steps at or below a uniform draw, by one searchsorted over the
    stacked CDFs or, equivalently and faster, by the cell tables above."""
    k = minor.astype(np.int64) * 2 + weekend.astype(np.int64)
    x = rng.random(len(k))
    x *= 1 - 1e-12
    x += k
    cell = x - k
    cell *= _CELLS
    idx = cell.astype(np.int64)
    idx += k * _CELLS
    h = _BELOW[idx]
    mixed = np.flatnonzero(_MIXED[idx])
    h[mixed] = np.searchsorted(_FLAT, x[mixed], side="right") - 24 * k[mixed]
    return h


def sample_ts(rng: np.random.Generator, minor: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One timestamp per row in [lo, hi), day uniform, hour from the age/weekday profile.

    A draw whose profile hour lands outside the interval (possible on its first or last
    day) is clipped into it, which keeps every timestamp inside the window.
    """
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.maximum(np.asarray(hi, dtype=np.int64), lo + 1)
    raw = lo + np.floor(rng.random(len(minor)) * (hi - lo)).astype(np.int64)
    day = raw // DAY
    ts = day * DAY + hours(rng, minor, (day % 7) >= SATURDAY) * HOUR + rng.integers(0, HOUR, len(minor))
    return np.clip(ts, lo, hi - 1)


def same_day(rng: np.random.Generator, minor: np.ndarray, ts: np.ndarray, not_before: np.ndarray) -> np.ndarray:
    """Move each timestamp to an hour of its own day drawn from the sender's profile (never
    before `not_before`): for events whose day a process decides (days of rapport, a
    scripted thread's next message) but whose hour a person's rhythm does."""
    day0 = ts - ts % DAY
    return sample_ts(rng, minor, np.maximum(day0, not_before), day0 + DAY)
