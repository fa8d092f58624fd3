"""Per-account statistics a server could compute from the observable tables.

The weak labelers are rules over these (they must never peek at truth; paper 7.2.4), the
leakage check of `lowbase inspect --leakage` scores each of them alone against truth, and
the models get every one of them as a feature (models/features.py, the raw and own
blocks): the parity principle, the rules may not read more than the models, or the rules
baseline would win on an information advantage rather than on method. A platform knows
report reasons and rejected requests; they are metadata, so both sides see them.

The statistics come in per-table groups (`request_stats`, `report_stats`,
`message_stats`, `received_message_stats`), so a consumer that sees only some tables (the
models under sealed sender see no message senders) computes the groups it can see, with
the same code the rules use. `account_stats` is all of them over an `Interactions`,
optionally cut to a recent window (`since`). Inputs are plain arrays in any id space where
accounts are 0..n-1. The other side's age is its *asserted* age: what the server sees, and
what an offender targets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from common.arrays import argsort_keys, bits, unique_sorted
from common.vocabulary import DAY, MEDIA

IMAGE, LINK = MEDIA.index("image"), MEDIA.index("link")  # media codes: index in MEDIA
# Media code -> neither text nor link (a file: image or video); the extra last entry is
# code -1, a media type outside MEDIA, which is neither either.
_MEDIA_FILE = np.array([m not in ("text", "link") for m in MEDIA] + [True])
MINOR_AGE = 18  # asserted ages below this are apparent minors
OLDER_AGE = 50  # "older" recipients of the scam statistics


@dataclass(frozen=True)
class Interactions:
    """The observable event columns, as arrays over account indices 0..n-1.

    `req_ts`, `reporter` and `report_ts` are optional: without the timestamps no recent
    window can be cut (`window`), without `reporter` the reports-sent statistics are
    left out."""

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
    report_reason: np.ndarray  # str, compared against `reason_names`, or int codes into them
    reason_names: tuple[str, ...]
    req_ts: np.ndarray | None = None
    reporter: np.ndarray | None = None
    report_ts: np.ndarray | None = None


def _count(idx: np.ndarray, n: int, weights=None) -> np.ndarray:
    return np.bincount(idx, weights=weights, minlength=n)[:n].astype(np.float64, copy=False)


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


def since_index(ts: np.ndarray, since: int):
    """The rows with ts >= since: a slice when ts is sorted (every event table of a dataset
    is sorted by time), else a boolean mask."""
    if len(ts) < 2 or bool(np.all(ts[1:] >= ts[:-1])):
        return slice(int(np.searchsorted(ts, since, side="left")), len(ts))
    return ts >= since


def window(x: Interactions, since: int) -> Interactions:
    """x with only the requests, messages and reports at or after `since` (seconds since the
    window start): a recent window. Accounts and friendships are kept as they are at the end,
    so "non-friend" means not a friend now."""
    if x.req_ts is None or x.report_ts is None:
        raise ValueError("a recent window needs req_ts and report_ts")
    r, m, p = since_index(x.req_ts, since), since_index(x.msg_ts, since), since_index(x.report_ts, since)
    return replace(
        x,
        req_src=x.req_src[r],
        req_dst=x.req_dst[r],
        req_accepted=x.req_accepted[r],
        req_ts=x.req_ts[r],
        msg_src=x.msg_src[m],
        msg_dst=x.msg_dst[m],
        msg_ts=x.msg_ts[m],
        msg_media=x.msg_media[m],
        msg_forwarded=x.msg_forwarded[m],
        reported=x.reported[p],
        report_reason=np.asarray(x.report_reason)[p],
        reporter=None if x.reporter is None else x.reporter[p],
        report_ts=x.report_ts[p],
    )


def _member(hay: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """needles in sorted hay (needles increasing, so the searches walk hay in order)."""
    if len(hay) == 0:
        return np.zeros(len(needles), dtype=bool)
    pos = np.searchsorted(hay, needles)
    np.minimum(pos, len(hay) - 1, out=pos)
    return hay[pos] == needles


def pair_shift(n: int) -> int:
    """Bits of an account index: pair keys (a << shift) | b order like (a, b), no division."""
    return bits(max(n - 1, 1))


def friend_keys(fs, fd, n: int) -> np.ndarray:
    """Sorted undirected friendship keys (min << shift) | max (`pair_shift(n)`). The
    generator and the friendships table already hold them sorted (sorted here otherwise)."""
    sh = pair_shift(n)
    fs, fd = np.asarray(fs, dtype=np.int64), np.asarray(fd, dtype=np.int64)
    fk = np.minimum(fs, fd) << sh
    fk |= np.maximum(fs, fd)
    if len(fk) > 1 and not bool(np.all(fk[1:] >= fk[:-1])):
        fk.sort()
    return fk


def _not_friends(ps: np.ndarray, pd: np.ndarray, fk: np.ndarray, sh: int) -> np.ndarray:
    """For directed pairs sorted by (ps, pd): True where the two are not friends.

    Friendship is symmetric, so a pair is looked up by its undirected key (min << sh) | max
    among the sorted undirected friendship keys fk (`friend_keys`). Pairs with ps < pd
    arrive in increasing key order; only the other half needs a sort. Half the keys and one
    sort of half the pairs, where directed keys took both directions of every friendship
    and a sort of all of them."""
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


@dataclass(frozen=True)
class DirectPairs:
    """The distinct (sender, recipient) pairs of 1:1 messages with their message counts,
    sorted by (sender, recipient), and the same for link messages alone: one sort serves
    every per-pair statistic and the models' message relation (`distinct`)."""

    n: int
    sender: np.ndarray  # int64
    recipient: np.ndarray  # int64
    count: np.ndarray  # messages of the pair
    link_sender: np.ndarray
    link_recipient: np.ndarray
    link_count: np.ndarray  # link messages of the pair

    @classmethod
    def of(cls, n: int, src: np.ndarray, dst: np.ndarray, media: np.ndarray) -> DirectPairs:
        """From messages: the 1:1 ones (dst >= 0) with a known sender (src >= 0) count."""
        sh = pair_shift(n)
        ok = (dst >= 0) & (src >= 0)
        key = src.astype(np.int64) << sh
        key |= dst  # garbage where dst is -1 (group messages): those rows are dropped
        link_key = key[ok & (media == LINK)]
        pairs, cnt = unique_sorted(key[ok], return_counts=True)
        del key
        links, link_cnt = unique_sorted(link_key, return_counts=True)
        mask = (1 << sh) - 1
        return cls(n, pairs >> sh, pairs & mask, cnt, links >> sh, links & mask, link_cnt)

    def distinct(self) -> np.ndarray:
        """The sorted distinct (sender, recipient) pairs as keys sender * n + recipient."""
        return self.sender * self.n + self.recipient


def _split_count(idx: np.ndarray, n: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Counts per account by two flags, one bincount: (4, n), row 2 * first + second."""
    key = (first.astype(np.int64) << 1 | second) * n
    key += idx
    return np.bincount(key, minlength=4 * n)[: 4 * n].reshape(4, n).astype(np.float64)


def request_stats(n: int, asserted_age: np.ndarray, src, dst, accepted) -> dict[str, np.ndarray]:
    """Contact requests sent, received, rejected (sent and not accepted) and declined
    (received and not accepted), totals and split by the other side's apparent age: a
    groomer's requests to children are rejected more often than an adult's to adults, a
    child declines requests from adults."""
    rejected = ~np.asarray(accepted, dtype=bool)
    out = _split_count(src, n, asserted_age[dst] < MINOR_AGE, rejected)  # rows: (to minor, rejected)
    inc = _split_count(dst, n, asserted_age[src] < MINOR_AGE, rejected)  # rows: (from minor, declined)
    sent, received = out.sum(axis=0), inc.sum(axis=0)
    rej, declined = out[1] + out[3], inc[1] + inc[3]
    return {
        "requests_sent": sent,
        "requests_received": received,
        "requests_rejected": rej,
        "request_reject_rate": _rate(rej, sent),
        "requests_to_apparent_minors": out[2] + out[3],
        "requests_to_apparent_adults": out[0] + out[1],
        "rejected_requests_to_apparent_minors": out[3],
        "rejected_requests_to_apparent_adults": out[1],
        "requests_declined": declined,
        "requests_from_apparent_minors": inc[2] + inc[3],
        "requests_from_apparent_adults": inc[0] + inc[1],
        "declined_requests_from_apparent_minors": inc[3],
        "declined_requests_from_apparent_adults": inc[1],
    }


def reason_codes(reason, names: tuple[str, ...]) -> np.ndarray:
    """Report reasons as codes into `names` (-1 for another): int codes pass through."""
    r = np.asarray(reason)
    if r.dtype.kind in "iu":
        return r
    codes = np.full(len(r), -1, dtype=np.int8)
    for i, name in enumerate(names):
        codes[r == name] = i
    return codes


def report_stats(n: int, reported, reason, reason_names: tuple[str, ...], reporter=None) -> dict[str, np.ndarray]:
    """Reports received, in total and by reason (`reports_<reason>`), and with `reporter`
    reports sent (filed), in total and by reason (`reports_sent_<reason>`)."""
    codes = reason_codes(reason, reason_names)
    k, known = len(reason_names), codes >= 0

    def by_reason(acc):  # (reasons, n), one bincount
        key = codes[known].astype(np.int64) * n + acc[known]
        return np.bincount(key, minlength=k * n)[: k * n].reshape(k, n).astype(np.float64)

    stats = {"reports_received": _count(reported, n)}
    stats.update(zip((f"reports_{name}" for name in reason_names), by_reason(reported), strict=True))
    if reporter is not None:
        stats["reports_sent"] = _count(reporter, n)
        stats.update(zip((f"reports_sent_{name}" for name in reason_names), by_reason(reporter), strict=True))
    return stats


def received_message_stats(n: int, dst, media) -> dict[str, np.ndarray]:
    """The recipient side of 1:1 messages (visible even under sealed sender)."""
    one = dst >= 0
    return {"messages_received": _count(dst[one], n), "images_received": _count(dst[one & (media == IMAGE)], n)}


def message_stats(
    pairs: DirectPairs, asserted_age: np.ndarray, fk: np.ndarray, days: int, src, dst, ts, media, forwarded
) -> dict[str, np.ndarray]:
    """The sender side of messages (every statistic here needs the sender).

    `pairs` are the messages' `DirectPairs`, `fk` the sorted friendship keys
    (`friend_keys`), the arrays every message (group messages have dst -1)."""
    n, sh = pairs.n, pair_shift(pairs.n)
    ps, pd, cnt = pairs.sender, pairs.recipient, pairs.count
    stranger = np.flatnonzero(_not_friends(ps, pd, fk, sh))
    to_stranger = ps[stranger]
    sent = _count(ps, n, cnt)
    links = _count(pairs.link_sender, n, pairs.link_count)
    one = dst >= 0
    link = np.flatnonzero(one & (media == LINK))
    day_keys, day_counts = unique_sorted(src[link].astype(np.int64) * (days + 1) + ts[link] // DAY, return_counts=True)
    sender_of_day = day_keys // (days + 1)  # sorted: (sender, day) keys
    starts = np.flatnonzero(np.r_[True, sender_of_day[1:] != sender_of_day[:-1]]) if len(day_keys) else link[:0]
    max_daily_link = np.zeros(n)
    max_daily_link[sender_of_day[starts]] = np.maximum.reduceat(day_counts, starts) if len(starts) else 0
    older = np.flatnonzero(asserted_age[pairs.link_recipient] >= OLDER_AGE)  # still sorted pairs
    ls, lr, lc = pairs.link_sender[older], pairs.link_recipient[older], pairs.link_count[older]
    older_stranger = _not_friends(ls, lr, fk, sh)
    distinct = _count(ps, n)
    distinct_minor = _count(ps[asserted_age[pd] < MINOR_AGE], n)
    return {
        "messages_sent": sent,
        "group_messages_sent": _count(src[~one], n),
        "links_sent": links,
        "link_share": _rate(links, sent),
        "distinct_recipients": distinct,
        "messages_to_non_friends": _count(to_stranger, n, cnt[stranger]),
        "distinct_non_friend_recipients": _count(to_stranger, n),
        "links_to_older_non_friends": _count(ls[older_stranger], n, lc[older_stranger]),
        "max_daily_links": max_daily_link,
        "days_with_links": _count(sender_of_day, n),  # days with any link sent
        "distinct_apparent_minor_recipients": distinct_minor,
        "distinct_apparent_adult_recipients": distinct - distinct_minor,
        "forwarded_media_sent": _count(src[forwarded & _MEDIA_FILE[media]], n),
    }


# account_stats' statistics in the order it has always listed them (then reports by reason
# received); newer ones follow.
_ORDER = (
    "account_age_days",
    "profile_completeness",
    "friends",
    "requests_sent",
    "requests_received",
    "requests_rejected",
    "request_reject_rate",
    "messages_sent",
    "messages_received",
    "group_messages_sent",
    "links_sent",
    "link_share",
    "distinct_recipients",
    "messages_to_non_friends",
    "distinct_non_friend_recipients",
    "links_to_older_non_friends",
    "max_daily_links",
    "days_with_links",
    "reports_received",
    "asserted_age",
    "requests_to_apparent_minors",
    "rejected_requests_to_apparent_minors",
    "distinct_apparent_minor_recipients",
    "images_received",
    "forwarded_media_sent",
)


def account_stats(x: Interactions, since: int | None = None) -> dict[str, np.ndarray]:
    """Every statistic over x; with `since`, over the events at or after it (`window`)."""
    if since is not None:
        x = window(x, since)
    n = x.n
    pairs = DirectPairs.of(n, x.msg_src, x.msg_dst, x.msg_media)
    stats = {
        "account_age_days": (x.days - x.signup_day).astype(np.float64),
        "profile_completeness": x.completeness.astype(np.float64),
        "friends": _count(np.concatenate([x.friend_src, x.friend_dst]), n),
        "asserted_age": x.asserted_age.astype(np.float64),
        **request_stats(n, x.asserted_age, x.req_src, x.req_dst, x.req_accepted),
        **message_stats(
            pairs,
            x.asserted_age,
            friend_keys(x.friend_src, x.friend_dst, n),
            x.days,
            x.msg_src,
            x.msg_dst,
            x.msg_ts,
            x.msg_media,
            x.msg_forwarded,
        ),
        **received_message_stats(n, x.msg_dst, x.msg_media),
        **report_stats(n, x.reported, x.report_reason, x.reason_names, x.reporter),
    }
    order = _ORDER + tuple(f"reports_{name}" for name in x.reason_names)
    return {**{k: stats[k] for k in order}, **stats}
