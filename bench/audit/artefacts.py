"""Artefact statistics: traces of *how rows were made* that could say who made them.

A simulator leaks when an offender differs from the benign accounts not in what it does
but in how its rows were produced: ids handed out after everyone else's, timestamps on
the stroke of a minute or a midnight, events drawn uniformly over the day while everyone
else keeps a rhythm, rows appended after the others within equal timestamps. No real
platform has such traces, and a classifier that finds them measures the simulator. Each
statistic here is scored by AUROC against the matched reference (bench.stats.references) and
must sit at chance; tests/bench/test_leakage.py gates them at 0.60.

Per account (one value per account, never a proxy for how much it does):
- `account id`: ids are a seeded permutation (docs/dataset.md).
- `mean id of groups joined`: over accounts in at least one group (a max or a count would
  grow with the number of groups, which is behaviour).
- `mean created_ts mod 60 / 3600 / 86400 of groups joined`: creation-time alignment as a
  classifier would see it. Pooled over memberships (below), a tell confined to the few
  groups only offenders join is diluted by their many ordinary memberships (an AUROC moves
  by at most half the share of rows that carry a tell); per account it marks every
  offender in such a group.

Pooled events, per source (`requests`, `direct messages`, `group messages`, `group joins`
and `created_ts of groups joined`, one row per membership; `reports sent` for row order
only, their times being the reporter's reaction to someone else): every row the
positives send against every row the reference sends, each side subsampled without
replacement (seeded) to a cap. A per-account share of, say, midnight-aligned events is
mostly a count (an account with three events shows 0 whatever its generator), so
alignment and rhythm are compared on the pooled rows, clustered by sending account for the
interval (bench.stats.rank_auroc), or by group where the value is the group's (its id, its
creation time: the members of one group share them, so the group is the observation):
- `ts mod 60`, `ts mod 3600`, `ts mod 86400`: alignment to the minute, hour or day piles
  one side at 0, which an AUROC of the raw remainder sees at once.
- `hour-of-day profile`, `weekday profile`: the AUROC of a location statistic misses a
  difference of *shape* (events uniform over the day against a bimodal rhythm can have the
  same mean time of day and score 0.5). So each row is scored by the log ratio of the two
  sides' smoothed bucket frequencies (24 hours, 7 weekdays; add-one-half smoothing), the
  Neyman-Pearson optimal score for that variable alone: its AUROC is the best any
  function of the hour (or weekday) can reach, whatever the shape of the difference. The
  ratio is cross-fitted over two halves of the clusters (seeded): rows are scored with
  frequencies estimated on the other half's accounts (groups), so an account's own habits
  (a group's own creation hour) cannot make it look separable, and identical
  distributions score ~0.5. A weekday difference can also be when an account exists: one
  that signed up in the window's last days acts on those weekdays only (new L0 accounts),
  so read a weekday figure beside account_age_days.
- `position among equal-ts rows` (requests, messages, reports): every table is sorted by
  time, ties in random order (the contract), so a row's position says nothing beyond its
  timestamp except *within* a run of equal timestamps. That normalised rank (0 first, 1
  last, rows in ties only) is the row-order artefact; the raw row position is the time
  quantile, i.e. when an account is active, which is behaviour.
- `group id (per membership)`: the id of every group joined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.stats.rank_auroc import Separation, auroc_with_interval
from common.vocabulary import DAY, HOUR
from data_gen.reader import Dataset

POSITIVE_EVENT_CAP = 50_000
REFERENCE_EVENT_CAP = 100_000
MIN_ACCOUNTS = 20  # scored only on this many accounts (groups) a side: fewer make an AUROC noise
SMOOTHING = 0.5
WEEK = 7


@dataclass(frozen=True)
class EventSource:
    """One kind of row an account sends: its sender, timestamp and (for tables sorted by
    time) its normalised position among rows with the same timestamp (NaN outside ties)."""

    sender: np.ndarray
    ts: np.ndarray
    tie_position: np.ndarray | None
    timed: bool = True  # timestamp alignment and rhythm are scored
    cluster: np.ndarray | None = None  # what a row's value belongs to (default: its sender)


@dataclass(frozen=True)
class Rows:
    """The artefact-bearing columns of a dataset, read once per audit."""

    n: int
    sources: dict[str, EventSource]
    member: np.ndarray  # group_members.account_id
    member_group: np.ndarray  # group_members.group_id
    n_groups: int
    member_created: np.ndarray | None = None  # created_ts of each membership's group


def tie_positions(ts: np.ndarray) -> np.ndarray:
    """Each row's rank within its run of equal consecutive timestamps, normalised to
    [0, 1] (0 first, 1 last); NaN for a row whose timestamp no neighbour shares."""
    n = len(ts)
    if n == 0:
        return np.zeros(0)
    start = np.ones(n, dtype=bool)
    np.not_equal(ts[1:], ts[:-1], out=start[1:])
    first = np.flatnonzero(start)
    run = np.cumsum(start) - 1
    size = np.diff(np.append(first, n))[run]
    rank = np.arange(n) - first[run]
    out = np.full(n, np.nan)
    tied = size > 1
    out[tied] = rank[tied] / (size[tied] - 1)
    return out


def read_rows(ds: Dataset) -> Rows:
    r = ds.table("contact_requests", ["src", "ts"])
    m = ds.table("messages", ["src", "dst", "ts"])
    rep = ds.table("reports", ["reporter", "ts"])
    gm = ds.table("group_members", ["group_id", "account_id", "joined_ts"])
    groups = ds.table("groups", ["group_id", "created_ts"])
    created = np.zeros(groups.num_rows, dtype=np.int64)
    created[groups["group_id"].to_numpy()] = groups["created_ts"].to_numpy()
    r_ts, m_ts, rep_ts = r["ts"].to_numpy(), m["ts"].to_numpy(), rep["ts"].to_numpy()
    m_src, one = m["src"].to_numpy(), m["dst"].to_numpy() >= 0
    m_tie = tie_positions(m_ts)
    member, member_group = gm["account_id"].to_numpy(), gm["group_id"].to_numpy()
    sources = {
        "requests": EventSource(r["src"].to_numpy(), r_ts, tie_positions(r_ts)),
        "direct messages": EventSource(m_src[one], m_ts[one], m_tie[one]),
        "group messages": EventSource(m_src[~one], m_ts[~one], m_tie[~one]),
        "group joins": EventSource(member, gm["joined_ts"].to_numpy(), None),
        "reports sent": EventSource(rep["reporter"].to_numpy(), rep_ts, tie_positions(rep_ts), timed=False),
        "created_ts of groups joined": EventSource(member, created[member_group], None, cluster=member_group),
    }
    return Rows(ds.meta["rows"]["accounts"], sources, member, member_group, groups.num_rows, created[member_group])


def _enough(sep: Separation | None) -> bool:
    return sep is not None and sep.n_positive >= MIN_ACCOUNTS and sep.n_reference >= MIN_ACCOUNTS


def _take(rows: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """At most `cap` of `rows`, drawn without replacement, in their original order."""
    if len(rows) <= cap:
        return rows
    return np.sort(rng.choice(rows, size=cap, replace=False))


def profile_scores(bucket: np.ndarray, y: np.ndarray, fold: np.ndarray, k: int) -> np.ndarray:
    """Cross-fitted log likelihood ratio of a categorical variable: each row's score is
    log p_pos(bucket) / p_ref(bucket), with both frequencies (add-SMOOTHING) estimated on
    the rows of the other fold. `fold` is 0/1 per row (assigned per account)."""
    tallies = np.bincount(fold * 2 * k + y.astype(np.int64) * k + bucket, minlength=4 * k).reshape(2, 2, k)
    counts = tallies.astype(np.float64) + SMOOTHING
    freq = counts / counts.sum(axis=2, keepdims=True)
    log_ratio = np.log(freq[:, 1]) - np.log(freq[:, 0])  # (fold the frequencies came from, bucket)
    return log_ratio[1 - fold, bucket]


def _pair(values: np.ndarray, y: np.ndarray, cluster: np.ndarray, keep: np.ndarray | None = None) -> Separation | None:
    if keep is not None:
        values, y, cluster = values[keep], y[keep], cluster[keep]
    return auroc_with_interval(values[y], values[~y], cluster[y], cluster[~y])


def event_statistics(
    rows: Rows, positive: np.ndarray, reference: np.ndarray, seed: int
) -> dict[str, Separation | None]:
    """Pooled-event artefact statistics of one comparison (see the module docstring)."""
    rng = np.random.default_rng(seed)
    fold_of = rng.integers(0, 2, max(rows.n, rows.n_groups))  # cross-fitting halves, by cluster id
    out: dict[str, Separation | None] = {}
    for name, src in rows.sources.items():
        pos = _take(np.flatnonzero(positive[src.sender]), POSITIVE_EVENT_CAP, rng)
        ref = _take(np.flatnonzero(reference[src.sender]), REFERENCE_EVENT_CAP, rng)
        idx = np.concatenate([pos, ref])
        y = np.zeros(len(idx), dtype=bool)
        y[: len(pos)] = True
        cluster = (src.sender if src.cluster is None else src.cluster)[idx]
        if src.tie_position is not None:
            tie = src.tie_position[idx]
            out[f"{name}: position among equal-ts rows"] = _pair(tie, y, cluster, ~np.isnan(tie))
        if not src.timed:
            continue
        ts = src.ts[idx].astype(np.int64)
        for mod, label in ((60, "ts mod 60"), (HOUR, "ts mod 3600"), (DAY, "ts mod 86400")):
            out[f"{name}: {label}"] = _pair((ts % mod).astype(np.float64), y, cluster)
        fold = fold_of[cluster]
        hour = (ts % DAY) // HOUR
        out[f"{name}: hour-of-day profile"] = _pair(profile_scores(hour, y, fold, DAY // HOUR), y, cluster)
        weekday = (ts // DAY) % WEEK
        out[f"{name}: weekday profile"] = _pair(profile_scores(weekday, y, fold, WEEK), y, cluster)
    keep = positive[rows.member] | reference[rows.member]
    acc, grp = rows.member[keep], rows.member_group[keep]
    out["group id (per membership)"] = _pair(grp.astype(np.float64), positive[acc], grp)
    return out


GROUP_VALUED = ("created_ts of groups joined", "group id (per membership)")


def clustered_by(name: str) -> str:
    """What the rows of a pooled statistic are clustered by: the group for a group's own
    value (id, creation time), else the sending account."""
    return "group" if name.startswith(GROUP_VALUED) else "account"


def account_artefacts(rows: Rows) -> dict[str, np.ndarray]:
    """Per-account artefact statistics over all accounts (NaN where undefined)."""
    joined = np.bincount(rows.member, minlength=rows.n)[: rows.n]

    def mean_over_groups(value: np.ndarray) -> np.ndarray:
        total = np.bincount(rows.member, weights=value.astype(np.float64), minlength=rows.n)[: rows.n]
        out = np.full(rows.n, np.nan)
        np.divide(total, joined, out=out, where=joined > 0)
        return out

    out = {
        "account id": np.arange(rows.n, dtype=np.float64),
        "mean id of groups joined": mean_over_groups(rows.member_group),
    }
    if rows.member_created is not None:
        for mod, label in ((60, "60"), (HOUR, "3600"), (DAY, "86400")):
            out[f"mean created_ts mod {label} of groups joined"] = mean_over_groups(rows.member_created % mod)
    return out


def scored(sep: Separation | None) -> Separation | None:
    """The separation if it rests on enough accounts on both sides, else None."""
    return sep if _enough(sep) else None
