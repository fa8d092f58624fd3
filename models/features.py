"""Per-account features: raw counts and fields plus DEC's "deep" neighbour aggregates.

DEC (Xu et al. 2021; paper 7.1.2) describes each account by how it sits in the graph and
behaves towards its first- and second-order neighbours. Here: raw per-account features
(account fields and counts, computed with bincounts), then for several relations
(friendship, accepted request, message, group co-membership) the count, sum, mean, max and
standard deviation of the neighbours' raw features, and for the edge relations (all but
groups) a few neighbour quantiles and the mean over second-order neighbours. Message and
request edges also get a recent-window variant. Between the raw block and the relations sits
the own block: every per-account statistic the weak rules read (common/observables.py:
reports received and sent by reason, requests sent, received, rejected and declined by the
other side's apparent age, distinct recipients by apparent age, ...) that the raw block
does not carry, over the whole window and the recent one (`recent/<name>`), computed by the
rules' own code. The rules may not read more than the models (paper 7.2.4; tested in
tests/models/test_parity.py); the block is not aggregated over neighbours, which would
multiply its width by the relations'.

This module reads the tables and builds the raw block and the relation matrices (sparse
0/1 adjacencies; groups stay an account x group matrix), and assembles the output. The
columns each relation contributes are declared once in models/feature_layout.py; the
kernels that compute them (a gather per block of equal-degree rows for the first-order
statistics of edge relations, sparse products for the two-hop columns and the group
relation) are in models/aggregates.py, whose docstring says how each one is computed.

Everything is read through a dataset `ObservableView`, so metadata visibility applies:
under `sealed_sender` message edges (which need the sender) disappear, under `minimal`
only account fields and per-account counts remain. `as_of` (seconds since the window
start) restricts every event to what had happened by then, for scoring at checkpoints; the
recent windows are the `recent_days` before `as_of` (or the window's end). Each table is
read once per `build_features` call.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp

from common.arrays import category_codes, unique_sorted
from common.memory import heap_reuse
from common.observables import (
    DirectPairs,
    friend_keys,
    message_stats,
    received_message_stats,
    report_stats,
    request_stats,
    since_index,
)
from common.vocabulary import DAY, MEDIA
from data_gen.events import REASONS
from models.aggregates import edge_first_order, edge_relation, edge_two_hop, group_relation, relation
from models.feature_layout import (
    EDGE,
    GROUP,
    GROUP_RELATION,
    RAW_STATISTICS,
    AccountFeatures,
    FeatureLayout,
    Features,
    own_block,
    statistic_column,
)


def _count(idx: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(idx, minlength=n)[:n].astype(np.float64)


def _pair_keys(u: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """Sorted distinct undirected pairs (u != v, both known) as keys lo * n + hi."""
    ok = (u >= 0) & (v >= 0) & (u != v)
    u, v = u[ok].astype(np.int64), v[ok].astype(np.int64)
    key = np.minimum(u, v) * n + np.maximum(u, v)
    if len(key) > 1 and not (key[1:] > key[:-1]).all():  # friendships arrive sorted and distinct
        key = unique_sorted(key)
    return key


def _symmetric(key: np.ndarray, n: int) -> sp.csr_matrix:
    """0/1 symmetric CSR adjacency from sorted distinct undirected keys, with sorted rows.

    Each row r holds the pairs (lo, r) then (r, hi); listing the first kind before the
    second, each in key order, lets the counting sort of coo -> csr (which keeps the input
    order within a row) produce sorted rows with no sort and no duplicates to sum."""
    lo, hi = np.divmod(key, n)
    rows, cols = np.concatenate([hi, lo]), np.concatenate([lo, hi])
    m = sp.coo_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n)).tocsr()
    assert m.has_canonical_format
    return m


def _adjacency(u: np.ndarray, v: np.ndarray, n: int) -> sp.csr_matrix:
    """0/1 symmetric CSR adjacency (duplicates and self-loops dropped)."""
    return _symmetric(_pair_keys(u, v, n), n)


class _Events:
    """The visible event tables, cut at `as_of`, each read once."""

    def __init__(self, view, as_of: int | None):
        self.view, self.n = view, view.n_accounts
        self.level = view.level
        self.as_of = as_of
        self.edges = view.level != "minimal"
        self.days = view.window_days
        self.end = self.days * DAY if as_of is None else as_of

    def _cut(self, table, ts_col: str):
        if self.as_of is None:
            return table
        return table.filter(pc.less(table[ts_col], self.as_of))

    @cached_property
    def accounts(self):
        return self.view.table("accounts")

    @property
    def age(self) -> np.ndarray:
        """Asserted ages: what the server sees of the other side."""
        return self.accounts["asserted_age"].to_numpy()

    @cached_property
    def friendships(self):
        f = self.view.table("friendships", ["src", "dst", "day"])
        if self.as_of is not None:
            f = f.filter(pc.less(pc.multiply(f["day"].cast("int64"), DAY), self.as_of))
        return f["src"].to_numpy(), f["dst"].to_numpy()

    @cached_property
    def requests(self):
        r = self._cut(self.view.table("contact_requests", ["src", "dst", "ts", "accepted"]), "ts")
        return r["src"].to_numpy(), r["dst"].to_numpy(), r["ts"].to_numpy(), r["accepted"].to_numpy(False)

    @cached_property
    def messages(self):
        m = self._cut(self.view.table("messages", ["src", "dst", "ts", "media", "forwarded"]), "ts")
        return (
            m["src"].to_numpy(),
            m["dst"].to_numpy(),
            m["ts"].to_numpy(),
            category_codes(m["media"], MEDIA),
            m["forwarded"].to_numpy(False),
        )

    @cached_property
    def pairs(self) -> DirectPairs:
        """The visible 1:1 messages' distinct (sender, recipient) pairs, all and links only,
        with their counts (full level)."""
        return DirectPairs.of(self.n, *self.messages[:2], self.messages[3])

    @cached_property
    def direct_pairs(self) -> np.ndarray:
        """Sorted distinct (sender, recipient) keys src * n + dst of visible 1:1 messages."""
        return self.pairs.distinct()

    @cached_property
    def friend_keys(self) -> np.ndarray:
        return friend_keys(*self.friendships, self.n)

    @cached_property
    def memberships(self):
        g = self._cut(self.view.table("group_members", ["account_id", "group_id", "joined_ts"]), "joined_ts")
        return g["account_id"].to_numpy(), g["group_id"].to_numpy()

    @cached_property
    def reports(self):
        r = self._cut(self.view.table("reports", ["reporter", "reported", "ts", "reason"]), "ts")
        reason = category_codes(r["reason"], REASONS)
        return r["reporter"].to_numpy(), r["reported"].to_numpy(), r["ts"].to_numpy(), reason


def raw_features(view, as_of: int | None = None) -> Features:
    """Account fields and per-account counts: DEC's non-graph features."""
    return _raw(_Events(view, as_of))


def _raw(ev: _Events) -> Features:
    view, n = ev.view, ev.n
    acc = ev.accounts
    now_day = ev.days if ev.as_of is None else ev.as_of / DAY
    cols: dict[str, np.ndarray] = {
        "account_age_days": now_day - acc["signup_day"].to_numpy().astype(np.float64),
        "asserted_age": acc["asserted_age"].to_numpy().astype(np.float64),
        "asserted_minor": (acc["asserted_age"].to_numpy() < 18).astype(np.float64),
        "web_client": (category_codes(acc["client"], ("app", "web")) == 1).astype(np.float64),
        "anonymizer": acc["anonymizer"].to_numpy(False).astype(np.float64),
        "profile_completeness": acc["profile_completeness"].to_numpy().astype(np.float64),
    }
    if not ev.edges:
        c = view.counts()
        for name in c.column_names[1:]:
            cols[name] = c[name].to_numpy().astype(np.float64)
        return _pack(cols)
    fs, fd = ev.friendships
    cols["friends"] = _count(fs, n) + _count(fd, n)
    rs, rd, _, acc_r = ev.requests
    cols["requests_sent"] = _count(rs, n)
    cols["requests_received"] = _count(rd, n)
    cols["requests_accepted"] = _count(rs[acc_r], n)
    cols["request_reject_rate"] = _rate(cols["requests_sent"] - cols["requests_accepted"], cols["requests_sent"])
    ms, md, mts, media, fwd = ev.messages
    one = md >= 0
    known = ms >= 0  # the sender is hidden under sealed sender
    tod = mts % DAY
    night = (tod < 6 * 3600) | (tod >= 23 * 3600)  # 23:00-06:00
    del tod
    # One bincount per direction: key = (media code, night) * n + account.
    slot = (np.where(media >= 0, media, len(MEDIA)).astype(np.int8) * 2 + night).astype(np.int64)
    recv = np.bincount(slot[one] * n + md[one], minlength=2 * (len(MEDIA) + 1) * n).reshape(-1, 2, n)
    recv = recv.astype(np.float64)
    cols["messages_received"] = recv.sum(axis=(0, 1))
    cols["night_received_share"] = _rate(recv[:, 1].sum(axis=0), cols["messages_received"])
    # The schema depends on the visibility level only, never on what the data happens to
    # hold, so a model's feature schema is stable across checkpoints and datasets.
    if view.level == "full":
        k = known & one
        sent = np.bincount(slot[k] * n + ms[k], minlength=2 * (len(MEDIA) + 1) * n).reshape(-1, 2, n)
        sent = sent.astype(np.float64)
        cols["messages_sent"] = sent.sum(axis=(0, 1))
        group_sent = np.bincount(ms[known & ~one] * 2 + night[known & ~one], minlength=2 * n).reshape(n, 2)
        cols["group_messages_sent"] = group_sent.sum(axis=1).astype(np.float64)
        for code, name in enumerate(MEDIA):
            cols[f"{name}_sent"] = sent[code].sum(axis=0)
        cols["forwarded_sent"] = _count(ms[known & fwd], n)
        night_sent = sent[:, 1].sum(axis=0) + group_sent[:, 1]
        cols["night_sent_share"] = _rate(night_sent, cols["messages_sent"] + cols["group_messages_sent"])
        cols["distinct_recipients"] = _count(ev.direct_pairs // n, n)
    for code, name in enumerate(MEDIA):
        cols[f"{name}_received"] = recv[code].sum(axis=0)
    ga, _ = ev.memberships
    cols["groups_joined"] = _count(ga, n)
    cols["reports_received"] = _count(ev.reports[1], n)
    return _pack(cols)


def own_features(view, as_of: int | None = None, recent_days: int = 7) -> Features:
    """The own block: the weak rules' statistics the raw block lacks, whole window and recent."""
    return _own(_Events(view, as_of), recent_days)


def own_names(level: str) -> tuple[str, ...]:
    """The own block's columns at a visibility level: whole-window statistics under their
    own names (those the raw block carries left out), then every statistic over the recent
    window as `recent/<name>`; none under `minimal`, where no event table is visible. Read
    off the statistics of no events, so the schema depends on the level only."""
    if level == "minimal":
        return ()
    none = _NoEvents(level)
    whole = [k for group in _observed(none, None) for k in group if k not in RAW_STATISTICS]
    return (*whole, *(statistic_column(k, recent=True) for group in _observed(none, 0) for k in group))


def _own(ev: _Events, recent_days: int) -> Features:
    """`own_names` and their values, written statistic by statistic into one block.

    Each group of statistics (requests, reports, messages) is written and dropped before
    the next is computed, inside heap_reuse, so their account-sized temporaries recycle the
    same pages instead of faulting fresh ones in (common/memory.py). The block is allocated
    outside it (returned to the kernel when dropped) and column-major: each statistic is
    one contiguous write, and `deep_features` copies the block into the row-major output
    anyway (a transposing copy here would fault in a second block)."""
    names = own_names(ev.level)
    t = np.empty((len(names), ev.n), dtype=np.float32)
    j = 0
    with heap_reuse():
        for since in (None, ev.end - recent_days * DAY) if names else ():
            for group in _observed(ev, since):
                for k, v in group.items():
                    if since is None and k in RAW_STATISTICS:
                        continue
                    assert names[j] == (k if since is None else statistic_column(k, recent=True))
                    t[j] = v
                    j += 1
                group = v = None  # dropped before the next group is computed
    assert j == len(names)
    return Features(names, t.T)


def _observed(ev, since: int | None):
    """The statistics of common/observables.py this level can see, a group at a time, over
    the events at or after `since` (all with None): requests and reports at `full` and
    `sealed_sender`, sender-side message statistics at `full` only (they need the sender),
    the recipient side of messages at both (recent window only: the raw block has the
    whole window's). `ev` is an `_Events` or `_NoEvents`."""
    n, age = ev.n, ev.age

    def cut(ts):
        return slice(None) if since is None else since_index(ts, since)

    rs, rd, rts, racc = ev.requests
    r = cut(rts)
    yield request_stats(n, age, rs[r], rd[r], racc[r])
    reporter, reported, pts, reason = ev.reports
    p = cut(pts)
    yield report_stats(n, reported[p], reason[p], REASONS, reporter[p])
    ms, md, mts, media, fwd = ev.messages
    m = cut(mts)
    if ev.level == "full":
        pairs = ev.pairs if since is None else DirectPairs.of(n, ms[m], md[m], media[m])
        yield message_stats(pairs, age, ev.friend_keys, ev.days, ms[m], md[m], mts[m], media[m], fwd[m])
    if since is not None:  # over the whole window the raw block has them
        yield received_message_stats(n, md[m], media[m])


class _NoEvents:
    """No accounts and no events, at a level: what `own_names` reads the names off."""

    def __init__(self, level: str):
        ids, codes, flags = np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, bool)
        self.level, self.n, self.days, self.age = level, 0, 1, np.zeros(0, np.int16)
        self.requests = (ids, ids, ids, flags)
        self.reports = (ids, ids, ids, codes)
        self.messages = (ids, ids, ids, codes, flags)
        self.pairs = DirectPairs.of(0, ids, ids, codes)
        self.friend_keys = friend_keys(ids, ids, 0)


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _pack(cols: dict[str, np.ndarray]) -> Features:
    x = np.empty((len(next(iter(cols.values()))), len(cols)), dtype=np.float32)
    for j, v in enumerate(cols.values()):
        x[:, j] = v
    return Features(tuple(cols), x)


def edge_types(view, as_of: int | None = None, recent_days: int = 7) -> dict[str, sp.csr_matrix]:
    """Visible neighbour relations as sparse adjacency matrices (none under `minimal`)."""
    return _edges(_Events(view, as_of), recent_days)


def _edges(ev: _Events, recent_days: int) -> dict[str, sp.csr_matrix]:
    if not ev.edges:
        return {}
    n, since = ev.n, ev.end - recent_days * DAY
    fs, fd = ev.friendships
    rs, rd, rts, acc_r = ev.requests
    recent = rts >= since
    mats = {
        "friend": _adjacency(fs, fd, n),
        "request": _adjacency(rs[acc_r], rd[acc_r], n),
        "request_recent": _adjacency(rs[recent], rd[recent], n),
    }
    if ev.view.level == "full":  # message edges need the sender: gone under sealed sender
        ms, md, mts = ev.messages[:3]
        pairs = ev.direct_pairs
        mats["message"] = _adjacency(pairs // n, pairs % n, n)
        r = (md >= 0) & (ms >= 0) & (mts >= since)
        mats["message_recent"] = _adjacency(ms[r], md[r], n)
    ga, gg = ev.memberships
    # Group co-membership stays bipartite (account x group): the product M M^T would hold
    # every pair of members of every group (aggregate_groups works through M).
    n_groups = ev.view.rows["groups"]
    m = sp.csr_matrix((np.ones(len(ga), dtype=np.float32), (ga, gg)), shape=(n, n_groups))
    m.data[:] = 1.0
    mats[GROUP_RELATION] = m
    return mats


def aggregate(a: sp.csr_matrix, x: np.ndarray, prefix: str, names: tuple[str, ...]) -> Features:
    """An edge relation's block (models/feature_layout.py, EDGE) of x over a: first-order
    count, sum, mean, max, std, quantiles and the second-order mean."""
    layout = EDGE.over(names)
    out = np.empty((a.shape[0], layout.width), dtype=np.float32)
    edge_relation(out, a, x, layout)
    return Features(tuple(layout.names(prefix)), out)


def aggregate_groups(m: sp.csr_matrix, x: np.ndarray, prefix: str, names: tuple[str, ...]) -> Features:
    """The group relation's block (GROUP) through the account x group matrix m: count, sum,
    mean and std over the multiset of co-members (one entry per shared group, self
    excluded), and the max over the members of the account's groups (self included)."""
    layout = GROUP.over(names)
    out = np.empty((m.shape[0], layout.width), dtype=np.float32)
    group_relation(out, m, x, layout)
    return Features(tuple(layout.names(prefix)), out)


def build_features(view, as_of: int | None = None, recent_days: int = 7) -> Features:
    """Raw plus deep features for every account, in account_id order."""
    return deep_features(*feature_inputs(view, as_of, recent_days))


def feature_inputs(
    view, as_of: int | None = None, recent_days: int = 7
) -> tuple[AccountFeatures, dict[str, sp.csr_matrix]]:
    """The raw and own blocks and the relation matrices, reading each visible table once."""
    ev = _Events(view, as_of)
    raw, mats = _raw(ev), _edges(ev, recent_days)
    # The own block last: its heap_reuse leaves glibc's mmap threshold raised for what
    # follows (common/memory.py), and what follows at once is deep_features' own.
    return AccountFeatures(raw.names, raw.X, _own(ev, recent_days)), mats


def deep_features(raw: Features, mats: dict[str, sp.csr_matrix]) -> Features:
    """The raw block, the own block (`AccountFeatures.own`; none for a plain raw block),
    then each relation's block over the raw block, in mats order (consumes mats).

    The output is allocated once and every aggregate is written straight into it: it is
    the largest array of a run (float32, several hundred columns per account), and a
    second full copy would double both the peak memory and the time. Under
    `models.distributed.use_client` the aggregates are computed by row blocks on the Dask
    cluster instead (same bits)."""
    from models.distributed import current_client, deep_features_dask  # Dask only with a client

    client = current_client()
    if client is not None:
        return deep_features_dask(raw, mats, client)
    own = own_block(raw)
    layout = FeatureLayout(raw.names, own.names, tuple(mats))
    out = np.empty((len(raw.X), layout.width), dtype=np.float32)
    # Two threads, loads balanced by hand. This one gathers the neighbours of the two largest
    # edge relations (most of the work) and writes their first-order columns. The other
    # first copies the raw and own blocks in (which also takes the page faults of
    # first-touching the fresh output), then does the group relation and the smaller edge
    # relations whole, then the two-hop products and columns of this thread's relations. At
    # most one of this thread's relations waits for it (its sums, n x k float32). All write
    # disjoint columns.
    # The per-relation temporaries are freed and made again for every relation: heap_reuse
    # gives the next one the same pages instead of fresh ones to fault in
    # (common/memory.py). The output was allocated before it, outside the heap, so it is
    # returned to the kernel whenever it is dropped.
    edges = sorted((m for m in mats if layout.layouts[m].kind == "edge"), key=lambda m: -mats[m].nnz)
    here = edges[:2]
    with heap_reuse(), ThreadPoolExecutor(1) as writer:
        queued = [  # copies release the GIL
            writer.submit(np.copyto, out[:, : len(raw.names)], raw.X),
            writer.submit(np.copyto, out[:, layout.own_cols], own.X),
        ]
        for name in [m for m in mats if m not in here] + here:
            a, part, rel = mats.pop(name), out[:, layout.cols(name)], layout.layouts[name]
            if name not in here:
                queued.append(writer.submit(relation, part, a, raw.X, rel))
            else:
                stats = edge_first_order(part, a, raw.X, rel)
                for f in queued:
                    f.result()
                queued = [writer.submit(edge_two_hop, part, a, *stats, rel)]
                del stats
            del a
        for f in queued:
            f.result()
    return Features(layout.names, out)
