"""Per-account statistics a server could compute from the observable tables.

The weak labelers are rules over these (they must never peek at truth), and the leakage
check of `lowbase inspect --leakage` scores each of them alone against truth. Inputs are
plain arrays in any id space where accounts are 0..n-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import unique_sorted
from .rhythm import DAY

LINK = 3  # media code for links (events.LINK)


@dataclass(frozen=True)
class Interactions:
    """The observable event columns, as arrays over account indices 0..n-1."""

    n: int
    days: int
    signup_day: np.ndarray
    completeness: np.ndarray
    asserted_age: np.ndarray
    friend_src: np.ndarray
    friend_dst: np.ndarray
    req_src: np.ndarray
    req_dst: np.ndarray
    req_accepted: np.ndarray
    msg_src: np.ndarray
    msg_dst: np.ndarray
    msg_ts: np.ndarray
    msg_media: np.ndarray
    reported: np.ndarray
    report_reason: np.ndarray  # str or int codes, compared against `reason_names`
    reason_names: tuple[str, ...]


def _count(idx: np.ndarray, n: int, weights=None) -> np.ndarray:
    return np.bincount(idx, weights=weights, minlength=n)[:n].astype(np.float64)


def _distinct(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Number of distinct b per a."""
    keys = unique_sorted(a * n + b)
    return _count(keys // n, n)


def account_stats(x: Interactions) -> dict[str, np.ndarray]:
    n = x.n
    one = x.msg_dst >= 0  # 1:1 messages; group messages have dst -1
    src, dst = x.msg_src[one], x.msg_dst[one]
    link = x.msg_media[one] == LINK
    friend_keys = unique_sorted(np.minimum(x.friend_src, x.friend_dst) * n + np.maximum(x.friend_src, x.friend_dst))
    pair = np.minimum(src, dst) * n + np.maximum(src, dst)
    pos = np.minimum(np.searchsorted(friend_keys, pair), max(len(friend_keys) - 1, 0))
    to_friend = friend_keys[pos] == pair if len(friend_keys) else np.zeros(len(pair), bool)
    sent = _count(src, n)
    req_sent = _count(x.req_src, n)
    rejected = _count(x.req_src[~x.req_accepted], n)
    day = x.msg_ts[one] // DAY
    day_keys, day_counts = unique_sorted(src[link] * (x.days + 1) + day[link], return_counts=True)
    per_day = _count(day_keys // (x.days + 1), n)  # days with any link sent
    max_daily_link = np.zeros(n)
    np.maximum.at(max_daily_link, day_keys // (x.days + 1), day_counts)
    older = x.asserted_age[dst] >= 50
    stats = {
        "account_age_days": (x.days - x.signup_day).astype(np.float64),
        "profile_completeness": x.completeness.astype(np.float64),
        "friends": _count(np.concatenate([x.friend_src, x.friend_dst]), n),
        "requests_sent": req_sent,
        "requests_received": _count(x.req_dst, n),
        "requests_rejected": rejected,
        "request_reject_rate": np.divide(rejected, req_sent, out=np.zeros(n), where=req_sent > 0),
        "messages_sent": sent,
        "messages_received": _count(dst, n),
        "group_messages_sent": _count(x.msg_src[~one], n),
        "links_sent": _count(src[link], n),
        "link_share": np.divide(_count(src[link], n), sent, out=np.zeros(n), where=sent > 0),
        "distinct_recipients": _distinct(src, dst, n),
        "messages_to_non_friends": _count(src[~to_friend], n),
        "distinct_non_friend_recipients": _distinct(src[~to_friend], dst[~to_friend], n),
        "links_to_older_non_friends": _count(src[link & ~to_friend & older], n),
        "max_daily_links": max_daily_link,
        "days_with_links": per_day,
        "reports_received": _count(x.reported, n),
    }
    for name in x.reason_names:
        hit = np.asarray(x.report_reason) == name
        stats[f"reports_{name}"] = _count(x.reported[hit], n)
    return stats
