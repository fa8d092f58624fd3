"""Per-account features: raw counts and fields plus DEC's "deep" neighbour aggregates.

DEC (Xu et al. 2021; paper 7.1.2) describes each account by how it sits in the graph and
behaves towards its first- and second-order neighbours. Here: raw per-account features
(account fields and counts, computed with bincounts), then for several edge types
(friendship, accepted request, message, group co-membership) the count, sum, mean, max and
standard deviation of the neighbours' raw features, and the mean over second-order
neighbours, all through scipy sparse products (max through `np.maximum.reduceat` over CSR
rows). Message and request edges also get a recent-window variant.

Everything is read through a dataset `ObservableView`, so metadata visibility applies:
under `sealed_sender` message edges (which need the sender) disappear, under `minimal`
only account fields and per-account counts remain. `as_of` (seconds since the window
start) restricts every event to what had happened by then, for scoring at checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp

from data_gen.arrays import unique_sorted

DAY = 86_400
MEDIA = ("text", "image", "video", "link")


@dataclass(frozen=True)
class Features:
    names: tuple[str, ...]
    X: np.ndarray  # float32 (n_accounts, n_features), row i = account_id i

    def column(self, name: str) -> np.ndarray:
        return self.X[:, self.names.index(name)]


def _codes(col, names: tuple[str, ...]) -> np.ndarray:
    """Dictionary column -> int codes in the order of `names` (-1 for others)."""
    col = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    lookup = np.array([names.index(v) if v in names else -1 for v in col.dictionary.to_pylist()], dtype=np.int8)
    return lookup[col.indices.to_numpy(zero_copy_only=False)]


def _count(idx: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(idx, minlength=n)[:n].astype(np.float64)


def _adjacency(u: np.ndarray, v: np.ndarray, n: int, symmetric: bool = True) -> sp.csr_matrix:
    """0/1 CSR adjacency (duplicates collapse), symmetric unless said otherwise."""
    ok = (u >= 0) & (v >= 0) & (u != v)
    u, v = u[ok], v[ok]
    if symmetric:
        u, v = np.concatenate([u, v]), np.concatenate([v, u])
    m = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, v)), shape=(n, n))
    m.data[:] = 1.0
    m.sort_indices()
    return m


class _Events:
    """The visible event tables, cut at `as_of`."""

    def __init__(self, view, as_of: int | None):
        self.view, self.n = view, view.n_accounts
        self.as_of = as_of
        self.edges = view.level != "minimal"

    def _cut(self, table, ts_col: str):
        if self.as_of is None:
            return table
        return table.filter(pc.less(table[ts_col], self.as_of))

    def friendships(self):
        f = self.view.table("friendships")
        if self.as_of is not None:
            f = f.filter(pc.less(pc.multiply(f["day"].cast("int64"), DAY), self.as_of))
        return f["src"].to_numpy(), f["dst"].to_numpy()

    def requests(self):
        r = self._cut(self.view.table("contact_requests"), "ts")
        return r["src"].to_numpy(), r["dst"].to_numpy(), r["ts"].to_numpy(), r["accepted"].to_numpy(False)

    def messages(self):
        m = self._cut(self.view.table("messages", ["src", "dst", "ts", "media", "forwarded", "group_id"]), "ts")
        return (
            m["src"].to_numpy(),
            m["dst"].to_numpy(),
            m["ts"].to_numpy(),
            _codes(m["media"], MEDIA),
            m["forwarded"].to_numpy(False),
        )

    def memberships(self):
        g = self._cut(self.view.table("group_members"), "joined_ts")
        return g["account_id"].to_numpy(), g["group_id"].to_numpy()

    def reports(self):
        r = self._cut(self.view.table("reports", ["reported", "ts"]), "ts")
        return r["reported"].to_numpy()


def raw_features(view, as_of: int | None = None) -> Features:
    """Account fields and per-account counts: DEC's non-graph features."""
    n = view.n_accounts
    acc = view.table("accounts")
    days = view.dataset.meta["scenario"]["activity"]["days"]
    now_day = days if as_of is None else as_of / DAY
    cols: dict[str, np.ndarray] = {
        "account_age_days": now_day - acc["signup_day"].to_numpy().astype(np.float64),
        "asserted_age": acc["asserted_age"].to_numpy().astype(np.float64),
        "asserted_minor": (acc["asserted_age"].to_numpy() < 18).astype(np.float64),
        "web_client": (_codes(acc["client"], ("app", "web")) == 1).astype(np.float64),
        "anonymizer": acc["anonymizer"].to_numpy(False).astype(np.float64),
        "profile_completeness": acc["profile_completeness"].to_numpy().astype(np.float64),
    }
    ev = _Events(view, as_of)
    if not ev.edges:
        c = view.counts()
        for name in c.column_names[1:]:
            cols[name] = c[name].to_numpy().astype(np.float64)
        return _pack(cols)
    fs, fd = ev.friendships()
    cols["friends"] = _count(np.concatenate([fs, fd]), n)
    rs, rd, _, acc_r = ev.requests()
    cols["requests_sent"] = _count(rs, n)
    cols["requests_received"] = _count(rd, n)
    cols["requests_accepted"] = _count(rs[acc_r], n)
    cols["request_reject_rate"] = _rate(cols["requests_sent"] - cols["requests_accepted"], cols["requests_sent"])
    ms, md, mts, media, fwd = ev.messages()
    one = md >= 0
    known = ms >= 0  # the sender is hidden under sealed sender
    cols["messages_received"] = _count(md[one], n)
    hour = (mts // 3600) % 24
    night_recv = one & ((hour < 6) | (hour >= 23))
    cols["night_received_share"] = _rate(_count(md[night_recv], n), cols["messages_received"])
    # The schema depends on the visibility level only, never on what the data happens to
    # hold, so a model's feature schema is stable across checkpoints and datasets.
    if view.level == "full":
        cols["messages_sent"] = _count(ms[one & known], n)
        cols["group_messages_sent"] = _count(ms[~one & known], n)
        for code, name in enumerate(MEDIA):
            cols[f"{name}_sent"] = _count(ms[one & known & (media == code)], n)
        cols["forwarded_sent"] = _count(ms[known & fwd], n)
        night = known & ((hour < 6) | (hour >= 23))
        cols["night_sent_share"] = _rate(_count(ms[night], n), _count(ms[known], n))
        pairs = unique_sorted(ms[one & known].astype(np.int64) * n + md[one & known])
        cols["distinct_recipients"] = _count(pairs // n, n)
    for code, name in enumerate(MEDIA):
        cols[f"{name}_received"] = _count(md[one & (media == code)], n)
    ga, _ = ev.memberships()
    cols["groups_joined"] = _count(ga, n)
    cols["reports_received"] = _count(ev.reports(), n)
    return _pack(cols)


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _pack(cols: dict[str, np.ndarray]) -> Features:
    return Features(tuple(cols), np.column_stack(list(cols.values())).astype(np.float32))


def edge_types(view, as_of: int | None = None, recent_days: int = 7) -> dict[str, sp.csr_matrix]:
    """Visible neighbour relations as sparse adjacency matrices (none under `minimal`)."""
    ev = _Events(view, as_of)
    if not ev.edges:
        return {}
    n = view.n_accounts
    fs, fd = ev.friendships()
    rs, rd, rts, acc_r = ev.requests()
    end = (view.dataset.meta["scenario"]["activity"]["days"] * DAY) if as_of is None else as_of
    recent = rts >= end - recent_days * DAY
    mats = {
        "friend": _adjacency(fs, fd, n),
        "request": _adjacency(rs[acc_r], rd[acc_r], n),
        "request_recent": _adjacency(rs[recent], rd[recent], n),
    }
    ms, md, mts, _, _ = ev.messages()
    one = (md >= 0) & (ms >= 0)
    if view.level == "full":  # message edges need the sender: gone under sealed sender
        mats["message"] = _adjacency(ms[one], md[one], n)
        r = one & (mts >= end - recent_days * DAY)
        mats["message_recent"] = _adjacency(ms[r], md[r], n)
    ga, gg = ev.memberships()
    # Group co-membership stays bipartite (account x group): the product M M^T would hold
    # every pair of members of every group (aggregate_groups works through M).
    n_groups = view.dataset.meta["rows"]["groups"]
    mats["group"] = sp.csr_matrix((np.ones(len(ga), dtype=np.float32), (ga, gg)), shape=(n, n_groups))
    return mats


def _row_max(a: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """Max of x over each row's neighbours (0 for rows without neighbours). One column at a
    time: reduceat over a 1-d gather is markedly faster than over a 2-d block."""
    out = np.zeros((a.shape[0], x.shape[1]), dtype=np.float32)
    nonempty = np.flatnonzero(np.diff(a.indptr) > 0)
    if len(nonempty):
        starts = a.indptr[nonempty]
        xt = np.ascontiguousarray(x.T)  # contiguous columns gather much faster
        for j in range(x.shape[1]):
            out[nonempty, j] = np.maximum.reduceat(xt[j][a.indices], starts)
    return out


def _moments(deg, s, sq) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation from count, sum and sum of squares (0 where no one)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(deg > 0, s / deg, 0.0)
        var = np.where(deg > 0, sq / deg - mean * mean, 0.0)
    return mean, np.sqrt(np.maximum(var, 0.0))


def _first_order(prefix: str, names: tuple[str, ...], deg, s, sq, mx) -> tuple[list[str], list[np.ndarray]]:
    mean, std = _moments(deg, s, sq)
    cols = [f"{prefix}/count"] + [f"{prefix}/{stat}/{c}" for stat in ("sum", "mean", "max", "std") for c in names]
    return cols, [deg, s, mean, mx, std]


# Columns whose neighbour quantiles are kept (quantiles need a sort per column, so a few).
QUANTILE_COLUMNS = ("account_age_days", "asserted_age", "friends", "requests_sent", "messages_received")
QUANTILES = (0.5, 0.9)


def _ordered_bits(v: np.ndarray) -> np.ndarray:
    """float32 -> int64 whose order is the float order (flip the sign bit, or all bits of
    negatives), so values sort inside one packed integer key."""
    b = v.astype(np.float32).view(np.uint32).astype(np.int64)
    return np.where(b & 0x80000000, b ^ 0xFFFFFFFF, b | 0x80000000)


def _row_quantiles(a: sp.csr_matrix, v: np.ndarray, qs: tuple[float, ...], rows: np.ndarray | None = None):
    """Lower quantiles of v over each row's neighbours (the value at rank floor(q*(k-1))),
    0 for rows without neighbours; one sort of (row, value) packed keys. The value bits are
    encoded per node and gathered, and decoded only at the picked ranks."""
    n = a.shape[0]
    if rows is None:
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(a.indptr))
    key = np.sort((rows << 32) | _ordered_bits(v)[a.indices])
    deg = np.diff(a.indptr)
    out = np.zeros((n, len(qs)), dtype=np.float32)
    has = deg > 0
    for j, q in enumerate(qs):
        pos = a.indptr[:-1][has] + np.floor(q * (deg[has] - 1)).astype(np.int64)
        bits = key[pos] & 0xFFFFFFFF
        out[has, j] = (
            np.where(bits & 0x80000000, bits ^ 0x80000000, bits ^ 0xFFFFFFFF).astype(np.uint32).view(np.float32)
        )
    return out


@dataclass(frozen=True)
class Blocks:
    """Named column blocks, stacked into one matrix only once (copies dominate the cost)."""

    names: list[str]
    blocks: list[np.ndarray]

    def stack(self) -> Features:
        return _stack([self])


def _write(out: np.ndarray, j: int, part: Blocks) -> int:
    """Copy a part's blocks into out from column j on; returns the next free column."""
    for b in part.blocks:
        b = b.reshape(len(out), -1)
        out[:, j : j + b.shape[1]] = b
        j += b.shape[1]
    return j


def _stack(parts: list[Blocks]) -> Features:
    names = tuple(c for p in parts for c in p.names)
    out = np.empty((parts[0].blocks[0].shape[0], len(names)), dtype=np.float32)
    j = 0
    for p in parts:
        j = _write(out, j, p)
    assert j == len(names)
    return Features(names, out)


def aggregate(a: sp.csr_matrix, x: np.ndarray, prefix: str, names: tuple[str, ...]) -> Features:
    """First-order count, sum, mean, max, std and second-order mean of x over relation a."""
    return _aggregate(a, x, prefix, names).stack()


def _aggregate(a: sp.csr_matrix, x: np.ndarray, prefix: str, names: tuple[str, ...]) -> Blocks:
    deg = np.asarray(a.sum(axis=1)).ravel().astype(np.float32)[:, None]
    s = np.asarray(a @ x, dtype=np.float32)
    cols, blocks = _first_order(prefix, names, deg, s, np.asarray(a @ (x * x), dtype=np.float32), _row_max(a, x))
    walks = np.asarray(a @ deg, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean2 = np.where(walks > 0, np.asarray(a @ s, dtype=np.float32) / walks, 0.0)
    cols += [f"{prefix}/2hop_count"] + [f"{prefix}/2hop_mean/{c}" for c in names]
    quant = []
    rows = np.repeat(np.arange(a.shape[0], dtype=np.int64), np.diff(a.indptr))
    for c in QUANTILE_COLUMNS:
        if c in names:
            quant.append(_row_quantiles(a, x[:, names.index(c)], QUANTILES, rows))
            cols += [f"{prefix}/p{round(q * 100)}/{c}" for q in QUANTILES]
    return Blocks(cols, [*blocks, walks, mean2, *quant])


def aggregate_groups(m: sp.csr_matrix, x: np.ndarray, prefix: str, names: tuple[str, ...]) -> Features:
    """Aggregates over group co-members through the account x group matrix m: count, sum,
    mean and std over the multiset of co-members (one entry per shared group, self
    excluded), and the max over the members of the account's groups (self included)."""
    return _aggregate_groups(m, x, prefix, names).stack()


def _aggregate_groups(m: sp.csr_matrix, x: np.ndarray, prefix: str, names: tuple[str, ...]) -> Blocks:
    k = np.asarray(m.sum(axis=1), dtype=np.float32)  # groups joined
    size = np.asarray(m.sum(axis=0), dtype=np.float32).ravel()
    deg = np.asarray(m @ size, dtype=np.float32)[:, None] - k
    s = np.asarray(m @ np.asarray(m.T @ x, dtype=np.float32), dtype=np.float32) - k * x
    sq = np.asarray(m @ np.asarray(m.T @ (x * x), dtype=np.float32), dtype=np.float32) - k * x * x
    mx = _row_max(m, _row_max(m.T.tocsr(), x))
    cols, blocks = _first_order(prefix, names, deg, s, sq, mx)
    return Blocks(cols, blocks)


def _width(kind: str, names: tuple[str, ...]) -> int:
    """Columns a relation contributes (must match _aggregate / _aggregate_groups)."""
    k = len(names)
    if kind == "group":
        return 1 + 4 * k
    return 2 + 5 * k + len(QUANTILES) * sum(c in names for c in QUANTILE_COLUMNS)


def build_features(view, as_of: int | None = None, recent_days: int = 7) -> Features:
    """Raw plus deep features for every account, in account_id order.

    The output is allocated once and each relation's blocks are written into it and freed
    before the next relation is computed: at a million accounts the matrix is ~3.6 GB,
    and a second full copy would double both the peak memory and the time."""
    raw = raw_features(view, as_of)
    mats = edge_types(view, as_of, recent_days)
    widths = {name: _width(name, raw.names) for name in mats}
    out = np.empty((view.n_accounts, len(raw.names) + sum(widths.values())), dtype=np.float32)
    out[:, : len(raw.names)] = raw.X
    names, j = list(raw.names), len(raw.names)
    for name in list(mats):
        agg = _aggregate_groups if name == "group" else _aggregate
        part = agg(mats.pop(name), raw.X, name, raw.names)
        assert len(part.names) == widths[name], name
        j = _write(out, j, part)
        names += part.names
        del part
    return Features(tuple(names), out)
