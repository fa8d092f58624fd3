"""Per-account features: raw counts and fields plus DEC's "deep" neighbour aggregates.

DEC (Xu et al. 2021; paper 7.1.2) describes each account by how it sits in the graph and
behaves towards its first- and second-order neighbours. Here: raw per-account features
(account fields and counts, computed with bincounts), then for several edge types
(friendship, accepted request, message, group co-membership) the count, sum, mean, max and
standard deviation of the neighbours' raw features, a few neighbour quantiles, and the
mean over second-order neighbours. Message and request edges also get a recent-window
variant.

How each aggregate is computed (all exact, all vectorised):

- count, sum, mean, std and the second-order mean come from scipy sparse products: one
  `A @ [X | X*X]` per relation (sum and sum of squares in one pass over A) and `A @ (A @ X)`
  for two hops; groups go through the account x group matrix M, `M @ (M^T @ [X | X*X])`.
- max and the quantiles are not products (binned quantiles through products with
  indicator matrices would be approximate and, at a few dozen bins, cost several times
  the exact version below). Rows are taken in blocks of equal degree d, the neighbours'
  raw rows are gathered into a (d, rows, k) block that fits in cache (one gather for all
  k columns, the same memory traffic as the product on those rows), and the block is
  reduced over its first axis (max, every column) or sorted along it (quantiles of the
  QUANTILE_COLUMNS: the value at rank floor(q*(d-1)), a lower quantile). No per-row or
  per-column Python work.
- each relation's columns are assembled per chunk of rows and written into the one
  output matrix with one contiguous write per row.

Everything is read through a dataset `ObservableView`, so metadata visibility applies:
under `sealed_sender` message edges (which need the sender) disappear, under `minimal`
only account fields and per-account counts remain. `as_of` (seconds since the window
start) restricts every event to what had happened by then, for scoring at checkpoints.
Each table is read once per `build_features` call.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp

from common.arrays import category_codes, unique_sorted
from common.memory import heap_reuse
from common.vocabulary import DAY, MEDIA


@dataclass(frozen=True)
class Features:
    names: tuple[str, ...]
    X: np.ndarray  # float32 (n_accounts, n_features), row i = account_id i

    def column(self, name: str) -> np.ndarray:
        return self.X[:, self.names.index(name)]


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
        self.as_of = as_of
        self.edges = view.level != "minimal"
        self.days = view.dataset.meta["scenario"]["activity"]["days"]
        self.end = self.days * DAY if as_of is None else as_of

    def _cut(self, table, ts_col: str):
        if self.as_of is None:
            return table
        return table.filter(pc.less(table[ts_col], self.as_of))

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
    def direct_pairs(self) -> np.ndarray:
        """Sorted distinct (sender, recipient) keys src * n + dst of visible 1:1 messages."""
        ms, md = self.messages[:2]
        ok = (md >= 0) & (ms >= 0)
        return unique_sorted(ms[ok].astype(np.int64) * self.n + md[ok])

    @cached_property
    def memberships(self):
        g = self._cut(self.view.table("group_members", ["account_id", "group_id", "joined_ts"]), "joined_ts")
        return g["account_id"].to_numpy(), g["group_id"].to_numpy()

    def reports(self):
        r = self._cut(self.view.table("reports", ["reported", "ts"]), "ts")
        return r["reported"].to_numpy()


def raw_features(view, as_of: int | None = None) -> Features:
    """Account fields and per-account counts: DEC's non-graph features."""
    return _raw(_Events(view, as_of))


def _raw(ev: _Events) -> Features:
    view, n = ev.view, ev.n
    acc = view.table("accounts")
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
    cols["reports_received"] = _count(ev.reports(), n)
    return _pack(cols)


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
    n_groups = ev.view.dataset.meta["rows"]["groups"]
    mats["group"] = sp.csr_matrix((np.ones(len(ga), dtype=np.float32), (ga, gg)), shape=(n, n_groups))
    mats["group"].data[:] = 1.0
    return mats


# Columns whose neighbour quantiles are kept (a sort per column and block, so a few).
QUANTILE_COLUMNS = ("account_age_days", "asserted_age", "friends", "requests_sent", "messages_received")
QUANTILES = (0.5, 0.9)
_BLOCK = 1 << 15  # neighbour entries gathered at a time: (entries x k) float32 stays in cache
_ROWS = 1 << 13  # rows per chunk when assembling a relation's output columns, for the same reason


def _degree_blocks(a: sp.csr_matrix):
    """(d, rows) for blocks of rows with exactly d > 0 stored entries, at most _BLOCK
    entries (or one row) per block; rows ascending within a degree."""
    deg = np.diff(a.indptr)
    order = np.argsort(deg, kind="stable")
    ds = deg[order]
    cuts = np.flatnonzero(ds[1:] != ds[:-1]) + 1
    for s, e in zip(np.r_[0, cuts], np.r_[cuts, len(ds)], strict=True):
        d = int(ds[s])
        if d == 0:
            continue
        step = max(1, _BLOCK // d)
        for b in range(s, e, step):
            yield d, order[b : min(b + step, e)]


def _neighbour_stats(a: sp.csr_matrix, x: np.ndarray, qcols: list[int], qs=QUANTILES, mx=None, qv=None):
    """Max of every column of x over each row's neighbours, and lower quantiles (the value at
    rank floor(q*(d-1)) of the d neighbours) of the columns qcols; 0 for rows without
    neighbours. Writes into (or allocates) mx (n, k) and qv (n, len(qcols) * len(qs)),
    quantiles grouped by column; returns both."""
    n, k = a.shape[0], x.shape[1]
    mx = np.empty((n, k), dtype=np.float32) if mx is None else mx
    qv = np.empty((n, len(qcols) * len(qs)), dtype=np.float32) if qv is None else qv
    empty = np.flatnonzero(np.diff(a.indptr) == 0)
    mx[empty] = 0.0
    qv[empty] = 0.0
    x = np.ascontiguousarray(x, dtype=np.float32)
    buf = np.empty(max(_BLOCK, int(np.diff(a.indptr).max(initial=0))) * k, dtype=np.float32)
    for d, rows in _degree_blocks(a):
        nb = a.indices[a.indptr[rows] + np.arange(d)[:, None]]  # (d, rows): j-th neighbour of each row
        g = buf[: nb.size * k].reshape(d, len(rows), k)
        np.take(x, nb, axis=0, out=g)
        mx[rows] = g.max(axis=0)
        if qcols:
            qv[rows] = _block_quantiles(g, qcols, qs)
    return mx, qv


def _block_quantiles(g: np.ndarray, qcols: list[int], qs) -> np.ndarray:
    """(rows, len(qcols) * len(qs)) lower quantiles of a gathered (d, rows, k) block,
    grouped by column."""
    d = g.shape[0]
    pos = [int(np.floor(q * (d - 1))) for q in qs]
    if d <= 2:
        # Every rank is the min or the max: no sort. Most rows of the request and recent
        # relations have one or two neighbours, and a sort per (row, column) lane is
        # mostly call overhead at that size.
        lo, hi = g.min(axis=0)[:, qcols], g.max(axis=0)[:, qcols]
        return np.stack([lo if p == 0 else hi for p in pos], axis=2).reshape(g.shape[1], -1)
    v = np.take(g, qcols, axis=2).transpose(2, 1, 0).copy()  # (column, row, neighbour), from cache
    v.sort(axis=-1)
    return v[:, :, pos].transpose(1, 0, 2).reshape(g.shape[1], -1)


def _row_max(a: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """Max of x over each row's neighbours (0 for rows without neighbours)."""
    return _neighbour_stats(a, x, [])[0]


def _row_quantiles(a: sp.csr_matrix, v: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """Lower quantiles of the 1-d v over each row's neighbours, (n, len(qs))."""
    return _neighbour_stats(a, v[:, None], [0], qs)[1]


def _squares(x: np.ndarray) -> np.ndarray:
    """[x | x*x]: sums and sums of squares come out of one product."""
    k = x.shape[1]
    xx = np.empty((len(x), 2 * k), dtype=np.float32)
    xx[:, :k] = x
    np.multiply(xx[:, :k], xx[:, :k], out=xx[:, k:])
    return xx


def _write_relation(out, k, deg, both, mx) -> None:
    """Write the group relation's columns (see _names) into out, one chunk of rows at a
    time: each chunk is assembled in a small contiguous buffer and copied once, so every
    output row gets its columns in one contiguous write. deg (n, 1) co-member count,
    both = [sum | sum of squares] (n, 2k, used as scratch), mx the maxima. Means and std
    are 0 where there is no one."""
    buf = np.empty((min(_ROWS, len(out)), out.shape[1]), dtype=np.float32)
    for r in range(0, len(out), _ROWS):
        b, d = both[r : r + _ROWS], deg[r : r + _ROWS]
        t = buf[: len(b)]
        t[:, 0] = d[:, 0]
        t[:, 1 : 1 + k] = b[:, :k]
        b /= np.maximum(d, 1.0)
        b[d[:, 0] <= 0] = 0.0
        mean, var = b[:, :k], b[:, k:]
        t[:, 1 + k : 1 + 2 * k] = mean
        t[:, 1 + 2 * k : 1 + 3 * k] = mx[r : r + _ROWS]
        var -= mean * mean
        np.maximum(var, 0.0, out=var)
        np.sqrt(var, out=t[:, 1 + 3 * k : 1 + 4 * k])
        out[r : r + _ROWS] = t


def _names(prefix: str, names: tuple[str, ...], kind: str) -> list[str]:
    """Column names a relation contributes, in output order."""
    cols = [f"{prefix}/count"] + [f"{prefix}/{stat}/{c}" for stat in ("sum", "mean", "max", "std") for c in names]
    if kind == "group":
        return cols
    cols += [f"{prefix}/2hop_count"] + [f"{prefix}/2hop_mean/{c}" for c in names]
    for c in QUANTILE_COLUMNS:
        if c in names:
            cols += [f"{prefix}/p{round(q * 100)}/{c}" for q in QUANTILES]
    return cols


def aggregate(a: sp.csr_matrix, x: np.ndarray, prefix: str, names: tuple[str, ...]) -> Features:
    """First-order count, sum, mean, max, std, quantiles and second-order mean of x over a."""
    cols = _names(prefix, names, "edge")
    out = np.empty((a.shape[0], len(cols)), dtype=np.float32)
    _write_edge(out, a, x, names)
    return Features(tuple(cols), out)


def _first_order(a: sp.csr_matrix, x: np.ndarray, names: tuple[str, ...], out: np.ndarray) -> tuple:
    """Write an edge relation's first-order columns (count, sum, mean, max, std, quantiles;
    see _names) straight into out, from one gather per block of equal-degree rows; return
    (deg, sums) for the two-hop columns.

    Sums and sums of squares come out of the same gathered block as the maxima (the
    reduction adds the neighbours in storage order in float32, as scipy's `a @ [x | x*x]`
    does, so they are the product's bits; tested), and each block's columns are finished in
    cache and written once: no (n, k) intermediates for maxima, quantiles or squares. The
    Dask path runs it on row blocks (models/distributed.py): a row's values do not depend on
    its block (tested bit-identical)."""
    n, k = a.shape[0], len(names)
    qcols = [names.index(c) for c in QUANTILE_COLUMNS if c in names]
    width, q0 = 1 + 4 * k, 2 + 5 * k  # first-order block; quantiles after the two-hop columns
    counts = np.diff(a.indptr)  # a is 0/1 with no stored zeros
    sums = np.empty((n, k), dtype=np.float32)
    empty = np.flatnonzero(counts == 0)
    out[empty] = 0.0  # every statistic of a row without neighbours is 0
    sums[empty] = 0.0
    x = np.ascontiguousarray(x, dtype=np.float32)
    size = max(_BLOCK, int(counts.max(initial=0))) * k
    buf, sq = np.empty(size, dtype=np.float32), np.empty(size, dtype=np.float32)
    # Each block's rows are finished in `block`, the whole relation's width, and written
    # with one scatter; the two-hop columns stay 0 there until `_two_hop` writes them.
    block = np.zeros((min(_BLOCK, n), out.shape[1]), dtype=np.float32)
    for d, rows in _degree_blocks(a):
        nb = a.indices[a.indptr[rows] + np.arange(d)[:, None]]  # (d, rows): j-th neighbour of each row
        g = buf[: nb.size * k].reshape(d, len(rows), k)
        np.take(x, nb, axis=0, out=g)
        t = block[: len(rows)]
        s = g.sum(axis=0)
        sums[rows] = s
        var = np.multiply(g, g, out=sq[: g.size].reshape(g.shape)).sum(axis=0)
        t[:, 0] = d
        t[:, 1 : 1 + k] = s
        mean = np.divide(s, np.float32(d), out=s)
        var /= np.float32(d)
        t[:, 1 + k : 1 + 2 * k] = mean
        t[:, 1 + 2 * k : 1 + 3 * k] = g.max(axis=0)
        var -= mean * mean
        np.maximum(var, 0.0, out=var)
        np.sqrt(var, out=t[:, 1 + 3 * k : width])
        if qcols:
            t[:, q0:] = _block_quantiles(g, qcols, QUANTILES)
        out[rows] = t
    return counts.astype(np.float32)[:, None], sums


def _two_hop(out: np.ndarray, a: sp.csr_matrix, deg: np.ndarray, sums: np.ndarray) -> None:
    """An edge relation's two-hop columns (walks, then the mean over walks) into out."""
    k = sums.shape[1]
    walks = np.asarray(a @ deg, dtype=np.float32)
    two = np.asarray(a @ sums, dtype=np.float32)  # two-hop sums
    out[:, 1 + 4 * k] = walks[:, 0]
    for r in range(0, len(out), _ROWS):
        w = np.maximum(walks[r : r + _ROWS], 1.0)
        np.divide(two[r : r + _ROWS], w, out=out[r : r + _ROWS, 2 + 4 * k : 2 + 5 * k])


def aggregate_groups(m: sp.csr_matrix, x: np.ndarray, prefix: str, names: tuple[str, ...]) -> Features:
    """Aggregates over group co-members through the account x group matrix m: count, sum,
    mean and std over the multiset of co-members (one entry per shared group, self
    excluded), and the max over the members of the account's groups (self included)."""
    cols = _names(prefix, names, "group")
    out = np.empty((m.shape[0], len(cols)), dtype=np.float32)
    _write_groups(out, m, x, names)
    return Features(tuple(cols), out)


def _group_parts(m: sp.csr_matrix, x: np.ndarray, names: tuple[str, ...]) -> tuple:
    """What `_write_relation` turns into the group relation's columns (see _names)."""
    k = len(names)
    xx = _squares(x)
    joined = np.asarray(m.sum(axis=1), dtype=np.float32)  # groups joined
    size = np.asarray(m.sum(axis=0), dtype=np.float32).ravel()
    deg = np.asarray(m @ size, dtype=np.float32)[:, None] - joined
    both = np.asarray(m @ np.asarray(m.T @ xx, dtype=np.float32), dtype=np.float32)
    both -= joined * xx
    return k, deg, both, _row_max(m, _row_max(m.T.tocsr(), x))


def _write_edge(out: np.ndarray, a: sp.csr_matrix, x: np.ndarray, names: tuple[str, ...]) -> None:
    """An edge relation whole, into out: one task for deep_features' second thread."""
    _two_hop(out, a, *_first_order(a, x, names, out))


def _write_groups(out: np.ndarray, m: sp.csr_matrix, x: np.ndarray, names: tuple[str, ...]) -> None:
    """The group relation whole, into out: one task for deep_features' second thread."""
    _write_relation(out, *_group_parts(m, x, names))


def build_features(view, as_of: int | None = None, recent_days: int = 7) -> Features:
    """Raw plus deep features for every account, in account_id order."""
    return deep_features(*feature_inputs(view, as_of, recent_days))


def feature_inputs(view, as_of: int | None = None, recent_days: int = 7) -> tuple[Features, dict[str, sp.csr_matrix]]:
    """The raw block and the relation matrices, reading each visible table once."""
    ev = _Events(view, as_of)
    return _raw(ev), _edges(ev, recent_days)


def deep_features(raw: Features, mats: dict[str, sp.csr_matrix]) -> Features:
    """The raw block followed by each relation's aggregates (consumes mats).

    The output is allocated once and every aggregate is written straight into it: at a
    million accounts the matrix is ~3.6 GB, and a second full copy would double both the
    peak memory and the time. Under `models.distributed.use_client` the aggregates are
    computed by row blocks on the Dask cluster instead (same bits)."""
    from .distributed import current_client, deep_features_dask

    client = current_client()
    if client is not None:
        return deep_features_dask(raw, mats, client)
    kinds = {name: "group" if name == "group" else "edge" for name in mats}
    cols = {name: _names(name, raw.names, kinds[name]) for name in mats}
    names = list(raw.names) + [c for name in mats for c in cols[name]]
    out = np.empty((len(raw.X), len(names)), dtype=np.float32)
    # Two threads, loads balanced by hand. This one gathers the neighbours of the two largest
    # edge relations (most of the work) and writes their first-order columns. The other
    # first copies the raw block in (which also takes the page faults of first-touching the
    # fresh output: seconds at 1M accounts), then does the group relation and the smaller
    # edge relations whole, then the two-hop products and columns of this thread's
    # relations. At most one of this thread's relations waits for it (its sums: ~0.1 GB per
    # million accounts). All write disjoint columns. The per-relation temporaries are
    # freed and made again for every relation: heap_reuse gives the next one the same pages
    # instead of fresh ones to fault in (data_gen/memory.py). The output was allocated
    # before it, outside the heap, so it is returned to the kernel whenever it is dropped.
    start = dict(zip(mats, np.cumsum([len(raw.names)] + [len(cols[m]) for m in mats]).tolist(), strict=False))
    edges = sorted((m for m in mats if kinds[m] == "edge"), key=lambda m: -mats[m].nnz)
    here = edges[:2]
    with heap_reuse(), ThreadPoolExecutor(1) as writer:
        queued = [writer.submit(np.copyto, out[:, : len(raw.names)], raw.X)]  # releases the GIL
        for name in [m for m in mats if m not in here] + here:
            a, part = mats.pop(name), out[:, start[name] : start[name] + len(cols[name])]
            if kinds[name] == "group":
                queued.append(writer.submit(_write_groups, part, a, raw.X, raw.names))
            elif name not in here:
                queued.append(writer.submit(_write_edge, part, a, raw.X, raw.names))
            else:
                stats = _first_order(a, raw.X, raw.names, part)
                for f in queued:
                    f.result()
                queued = [writer.submit(_two_hop, part, a, *stats)]
                del stats
            del a
        for f in queued:
            f.result()
    return Features(tuple(names), out)
