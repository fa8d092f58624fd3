"""Parity: the weak rules may not read more than the models.

The weak labels and the `rules` baseline (which counts the fired weak labels) are rules over
the per-account statistics of common/observables.py (paper 7.2.4). If a rule read a
statistic no feature carries, the rules would beat the models on an information advantage,
not on method. So: every statistic a rule reads is a feature column at the `full` level
(`statistic_column` names it), with the same value for every account, and the own block's
recent-window columns are cut where the recent relations are.

The statistics are computed here from an `Interactions` the leakage audit's reader builds
straight from the dataset's tables (bench/audit/leakage.py, not the models' reader), so the two
sides are computed independently.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import numpy as np
import pyarrow.compute as pc
import pytest

from bench.audit.leakage import interactions as table_interactions
from common.observables import Interactions, account_stats
from common.vocabulary import DAY
from data_gen.events import REASONS
from data_gen.labels import WEAK_RULES
from models.feature_layout import RAW_STATISTICS, RECENT, statistic_column
from models.features import build_features, own_features, own_names

ACCOUNT_FIELDS = ("account_age_days", "profile_completeness", "asserted_age", "friends")  # no recent window
RECENT_DAYS = 7


def interactions(ds) -> Interactions:
    """The audit's reader of the tables (bench/audit/leakage.py), with every report reason named
    so each per-reason statistic exists even where no report of that reason was filed."""
    return replace(table_interactions(ds), reason_names=REASONS)


class Recorder(dict):
    """The statistics, remembering every name read."""

    def __init__(self, stats):
        super().__init__(stats)
        self.read: set[str] = set()

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)


def rule_reads(stats: dict, rules=WEAK_RULES) -> dict[str, set[str]]:
    """Per rule (its source name): the statistics it reads, over real arrays. A rule reading
    a statistic that does not exist is recorded too (and fails the parity check)."""
    out = {}
    for _task, source, rule in rules:
        rec = Recorder(stats)
        with contextlib.suppress(KeyError):
            rule(rec)
        out[source] = rec.read
    return out


def unfeatured(reads: dict[str, set[str]], names) -> list[str]:
    """`rule: statistic` for every statistic a rule reads that no feature column carries."""
    have = set(names)
    return sorted(f"{src}: {s}" for src, stats in reads.items() for s in stats if statistic_column(s) not in have)


@pytest.fixture(scope="module")
def x(small):
    return interactions(small)


@pytest.fixture(scope="module")
def stats(x):
    return account_stats(x)


@pytest.fixture(scope="module")
def feats(full):
    return build_features(full)


def test_every_statistic_a_rule_reads_is_a_feature(stats, feats):
    reads = rule_reads(stats)
    assert all(reads.values()), "every rule reads at least one statistic"
    assert {"reports_child_safety", "rejected_requests_to_apparent_minors"} <= set().union(*reads.values())
    assert unfeatured(reads, feats.names) == []


def test_the_parity_check_can_fail(stats, feats):
    """A rule reading a statistic nobody computes, or one whose column is missing, is caught."""
    fake = (("groomer", "made_up", lambda s: s["made_up_statistic"] >= 1),)
    assert unfeatured(rule_reads(stats, fake), feats.names) == ["made_up: made_up_statistic"]
    without = [c for c in feats.names if c != "rejected_requests_to_apparent_minors"]
    missing = ["rejected_requests_to_minors: rejected_requests_to_apparent_minors"]
    assert unfeatured(rule_reads(stats), without) == missing


def test_every_statistic_is_a_feature_with_the_same_value(stats, feats):
    """Not only those the rules read today: every statistic, whole window."""
    for name, value in stats.items():
        col = statistic_column(name)
        assert col in feats.names, name
        assert np.array_equal(feats.column(col), value.astype(np.float32)), name


def test_no_own_column_repeats_a_raw_one(feats, full):
    """By name (the statistics the raw block carries stay out of the own block) and by value."""
    own = own_features(full)
    assert not set(RAW_STATISTICS) & set(own.names)
    raw_width = feats.names.index(own.names[0])
    for j, name in enumerate(own.names):
        for i in range(raw_width):
            assert not np.array_equal(feats.X[:, i], own.X[:, j]) or not own.X[:, j].any(), (name, feats.names[i])


@pytest.mark.parametrize("as_of_day", [None, 30])
def test_recent_columns_are_the_statistics_over_the_recent_window(small, x, as_of_day):
    view = small.view("full")
    as_of = None if as_of_day is None else as_of_day * DAY
    end = view.window_days * DAY if as_of is None else as_of
    got = build_features(view, as_of=as_of, recent_days=RECENT_DAYS)
    if as_of is not None:  # what had happened by as_of, as the features see it
        x = _before(x, small.table("friendships", ["day"])["day"].to_numpy(), as_of)
    want = account_stats(x, since=end - RECENT_DAYS * DAY)
    recent = {c for c in got.names if c.startswith(f"{RECENT}/")}
    assert recent == {statistic_column(k, recent=True) for k in want if k not in ACCOUNT_FIELDS}
    for name in want:
        if name not in ACCOUNT_FIELDS:
            col = got.column(statistic_column(name, recent=True))
            assert np.array_equal(col, want[name].astype(np.float32)), name


def _before(x: Interactions, friend_day: np.ndarray, as_of: int) -> Interactions:
    """x cut at as_of: events strictly before it, friendships made on a day starting before it."""
    r, m, p = x.req_ts < as_of, x.msg_ts < as_of, x.report_ts < as_of
    f = friend_day.astype(np.int64) * DAY < as_of
    return Interactions(
        **{
            **x.__dict__,
            "friend_src": x.friend_src[f],
            "friend_dst": x.friend_dst[f],
            "req_src": x.req_src[r],
            "req_dst": x.req_dst[r],
            "req_accepted": x.req_accepted[r],
            "req_ts": x.req_ts[r],
            "msg_src": x.msg_src[m],
            "msg_dst": x.msg_dst[m],
            "msg_ts": x.msg_ts[m],
            "msg_media": x.msg_media[m],
            "msg_forwarded": x.msg_forwarded[m],
            "reported": x.reported[p],
            "report_reason": x.report_reason[p],
            "reporter": x.reporter[p],
            "report_ts": x.report_ts[p],
        }
    )


def test_an_event_before_the_recent_window_does_not_count(small):
    """Window start placed exactly on a request's timestamp: that request counts, one a
    second earlier does not; counted here straight from the table."""
    view = small.view("full")
    r = small.table("contact_requests", ["src", "ts"])
    src, ts = r["src"].to_numpy(), r["ts"].to_numpy()
    start = int(ts[len(ts) // 2])
    as_of = start + RECENT_DAYS * DAY
    feats = build_features(view, as_of=as_of, recent_days=RECENT_DAYS)
    got = feats.column("recent/requests_sent")
    n = view.n_accounts
    inside = (ts >= start) & (ts < as_of)
    np.testing.assert_array_equal(got, np.bincount(src[inside], minlength=n))
    early = np.bincount(src[ts < start], minlength=n)
    assert (early > 0).any() and not np.array_equal(got, np.bincount(src[ts < as_of], minlength=n))
    # the reports, received by reason, cut at the same start
    rep = small.table("reports", ["reported", "ts", "reason"])
    reason = np.asarray(pc.cast(rep["reason"], "string").to_pylist(), dtype=object)
    rts, reported = rep["ts"].to_numpy(), rep["reported"].to_numpy()
    for name in REASONS:
        keep = (rts >= start) & (rts < as_of) & (reason == name)
        np.testing.assert_array_equal(feats.column(f"recent/reports_{name}"), np.bincount(reported[keep], minlength=n))


def test_apparent_age_splits_sum_to_the_totals(small, feats):
    acc = small.table("accounts")
    minor = acc["asserted_age"].to_numpy() < 18
    r = small.table("contact_requests", ["src", "dst", "accepted"])
    src, dst, accepted = r["src"].to_numpy(), r["dst"].to_numpy(), r["accepted"].to_numpy(zero_copy_only=False)
    n = acc.num_rows
    for prefix in ("", f"{RECENT}/"):

        def col(name, prefix=prefix):
            return feats.column(prefix + name if prefix else statistic_column(name))

        for a, b, total in [
            ("requests_to_apparent_minors", "requests_to_apparent_adults", "requests_sent"),
            ("rejected_requests_to_apparent_minors", "rejected_requests_to_apparent_adults", "requests_rejected"),
            ("requests_from_apparent_minors", "requests_from_apparent_adults", "requests_received"),
            ("declined_requests_from_apparent_minors", "declined_requests_from_apparent_adults", "requests_declined"),
            ("distinct_apparent_minor_recipients", "distinct_apparent_adult_recipients", "distinct_recipients"),
        ]:
            np.testing.assert_array_equal(col(a) + col(b), col(total), err_msg=f"{prefix}{total}")
        np.testing.assert_array_equal(sum(col(f"reports_sent_{k}") for k in REASONS), col("reports_sent"))
        np.testing.assert_array_equal(sum(col(f"reports_{k}") for k in REASONS), col("reports_received"))
    # each side counted straight from the table, whole window
    adult_dst, adult_src, rejected = ~minor[dst], ~minor[src], ~accepted
    np.testing.assert_array_equal(feats.column("requests_to_apparent_adults"), np.bincount(src[adult_dst], minlength=n))
    np.testing.assert_array_equal(
        feats.column("rejected_requests_to_apparent_adults"), np.bincount(src[adult_dst & rejected], minlength=n)
    )
    np.testing.assert_array_equal(
        feats.column("declined_requests_from_apparent_adults"), np.bincount(dst[adult_src & rejected], minlength=n)
    )


def test_schema_per_visibility_level(small, stats):
    """Sender-side statistics vanish under sealed sender, every own column under minimal;
    the rest of the schema does not depend on the data."""
    sealed = own_features(small.view("sealed_sender")).names
    full = own_features(small.view("full")).names
    assert own_features(small.view("minimal")).names == () == own_names("minimal")
    assert (sealed, full) == (own_names("sealed_sender"), own_names("full"))
    sender_side = {"link_share", "max_daily_links", "distinct_apparent_minor_recipients", "forwarded_media_sent"}
    assert sender_side <= set(full) and not sender_side & set(sealed)
    assert not {f"{RECENT}/{s}" for s in sender_side} & set(sealed)
    assert {"rejected_requests_to_apparent_minors", "reports_child_safety", "reports_sent_spam"} <= set(sealed)
    assert {f"{RECENT}/messages_received", f"{RECENT}/images_received"} <= set(sealed)
    assert set(sealed) < set(full)
    empty = own_features(small.view("full"), as_of=0)  # nothing has happened yet: same columns, all 0
    assert empty.names == full and not empty.X.any()
