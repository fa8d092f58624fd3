"""Per-account statistics a server could compute from the observable tables.

The weak labelers are rules over these (they must never peek at truth), and the leakage
check of `lowbase inspect --leakage` scores each of them alone against truth. Inputs are
plain arrays in any id space where accounts are 0..n-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import argsort_keys, bits, unique_sorted
from .vocabulary import DAY, MEDIA

IMAGE, LINK = MEDIA.index("image"), MEDIA.index("link")  # media codes: index in MEDIA


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
    msg_forwarded: np.ndarray
    reported: np.ndarray
    report_reason: np.ndarray  # str or int codes, compared against `reason_names`
    reason_names: tuple[str, ...]


def _count(idx: np.ndarray, n: int, weights=None) -> np.ndarray:
    return np.bincount(idx, weights=weights, minlength=n)[:n].astype(np.float64)


def _member(hay: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """needles in sorted hay (needles increasing, so the searches walk hay in order)."""
    if len(hay) == 0:
        return np.zeros(len(needles), dtype=bool)
    pos = np.searchsorted(hay, needles)
    np.minimum(pos, len(hay) - 1, out=pos)
    return hay[pos] == needles


def _not_friends(ps: np.ndarray, pd: np.ndarray, fs, fd, sh: int) -> np.ndarray:
    """For directed pairs sorted by (ps, pd): True where the two are not friends.

    Friendship is symmetric, so a pair is looked up by its undirected key (min << sh) | max
    among the undirected friendship keys, which the generator and the friendships table
    already hold sorted (sorted here otherwise). Pairs with ps < pd arrive in increasing key
    order; only the other half needs a sort. Half the keys and one sort of half the pairs,
    where directed keys took both directions of every friendship and a sort of all of them."""
    fs, fd = np.asarray(fs, dtype=np.int64), np.asarray(fd, dtype=np.int64)
    fk = np.minimum(fs, fd) << sh
    fk |= np.maximum(fs, fd)
    if len(fk) > 1 and not bool(np.all(fk[1:] >= fk[:-1])):
        fk.sort()
    out = np.empty(len(ps), dtype=bool)
    fwd = ps < pd
    key = ps[fwd] << sh
    key |= pd[fwd]
    out[fwd] = ~_member(fk, key)
    back = np.flatnonzero(~fwd)
    key = pd[back] << sh
    key |= ps[back]
    order = argsort_keys(key, 1 << (2 * sh))
    out[back[order]] = ~_member(fk, key[order])
    return out


def account_stats(x: Interactions) -> dict[str, np.ndarray]:
    n = x.n
    sh = bits(max(n - 1, 1))  # pair key (a << sh) | b: ordered like (a, b), no division
    one = x.msg_dst >= 0  # 1:1 messages; group messages have dst -1
    src, dst = x.msg_src[one].astype(np.int64), x.msg_dst[one].astype(np.int64)
    link = x.msg_media[one] == LINK
    # One sort of (sender, recipient, is-link) keys serves every per-pair statistic.
    key = src << (sh + 1)
    key |= dst << 1
    key |= link
    uk, cnt = unique_sorted(key, return_counts=True)
    del key
    p_link = (uk & 1).astype(bool)
    pair = uk >> 1
    del uk
    ps, pd = pair >> sh, pair & ((1 << sh) - 1)
    first = np.ones(len(pair), dtype=bool)  # first row of each (sender, recipient) pair
    np.not_equal(pair[1:], pair[:-1], out=first[1:])
    stranger = _not_friends(ps, pd, x.friend_src, x.friend_dst, sh)
    sent = _count(ps, n, cnt)
    links = _count(ps[p_link], n, cnt[p_link])
    req_sent = _count(x.req_src, n)
    rejected = _count(x.req_src[~x.req_accepted], n)
    day = x.msg_ts[one][link].astype(np.int64) // DAY
    day_keys, day_counts = unique_sorted(src[link] * (x.days + 1) + day, return_counts=True)
    per_day = _count(day_keys // (x.days + 1), n)  # days with any link sent
    max_daily_link = np.zeros(n)
    np.maximum.at(max_daily_link, day_keys // (x.days + 1), day_counts)
    older_stranger_link = p_link & stranger & (x.asserted_age[pd] >= 50)
    # What an offender targets is what the server sees: the recipient's asserted age.
    to_minor_req = x.asserted_age[x.req_dst] < 18
    minor_pair = first & (x.asserted_age[pd] < 18)
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
        "links_sent": links,
        "link_share": np.divide(links, sent, out=np.zeros(n), where=sent > 0),
        "distinct_recipients": _count(ps[first], n),
        "messages_to_non_friends": _count(ps[stranger], n, cnt[stranger]),
        "distinct_non_friend_recipients": _count(ps[first & stranger], n),
        "links_to_older_non_friends": _count(ps[older_stranger_link], n, cnt[older_stranger_link]),
        "max_daily_links": max_daily_link,
        "days_with_links": per_day,
        "reports_received": _count(x.reported, n),
        "asserted_age": x.asserted_age.astype(np.float64),
        "requests_to_apparent_minors": _count(x.req_src[to_minor_req], n),
        "rejected_requests_to_apparent_minors": _count(x.req_src[to_minor_req & ~x.req_accepted], n),
        "distinct_apparent_minor_recipients": _count(ps[minor_pair], n),
        "images_received": _count(dst[x.msg_media[one] == IMAGE], n),
        "forwarded_media_sent": _count(x.msg_src[x.msg_forwarded & (x.msg_media != LINK) & (x.msg_media != 0)], n),
    }
    for name in x.reason_names:
        hit = np.asarray(x.report_reason) == name
        stats[f"reports_{name}"] = _count(x.reported[hit], n)
    return stats
