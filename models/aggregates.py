"""The neighbour-aggregate kernels: each relation's block of columns from its sparse matrix
and the raw features, written at the offsets its `RelationLayout` declares
(models/feature_layout.py). Used whole by `features.deep_features` and by row blocks by
`distributed.deep_features_dask`; a row's values never depend on the block it is in.

How each aggregate is computed (all exact, all vectorised, float32):

- edge relations (a symmetric 0/1 adjacency A), first order (`edge_first_order`): the
  count is the row's number of stored entries. Rows are taken in blocks of equal degree d,
  the neighbours' raw rows are gathered into a (d, rows, k) block that fits in cache (one
  gather for all k columns), and everything else comes from that block: sums and sums of
  squares (reduced over the first axis; the additions are scipy's `A @ X` in the same
  order, so the sums are the product's bits, which the two-hop product and the Dask row
  blocks rely on), mean, std, max, and the lower quantiles of the quantile columns (the
  value at rank floor(q*(d-1)), from a sort along the first axis). Each block's columns
  are finished in cache and written with one scatter, so there are no (n, k)
  intermediates. Max and quantiles are not sparse products: binned quantiles through
  products with indicator matrices would be approximate and, at a few dozen bins, cost
  several times this exact gather.
- edge relations, two hops (`edge_two_hop`): two sparse products, `A @ deg` (walks) and
  `A @ sums` (the sums over second-order neighbours, one entry per walk); the mean divides
  one by the other.
- groups (the account x group matrix M, `group_inputs` and `write_group_columns`): sparse
  products over the multiset of co-members, one entry per shared group, self excluded:
  `M @ sizes - joined` (count) and `M @ (M^T @ [X | X*X]) - joined * [X | X*X]` (sums and
  sums of squares in one pass); the max is over the members of the account's groups (self
  included), the max over M of the max over M^T.

Statistics a row has no neighbours for are 0.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from models.feature_layout import RelationLayout

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


def _neighbour_stats(a: sp.csr_matrix, x: np.ndarray, qcols: list[int], qs: tuple[float, ...]):
    """Max of every column of x over each row's neighbours, (n, k), and lower quantiles qs
    of the columns qcols, (n, len(qcols) * len(qs)) grouped by column; 0 for rows without
    neighbours."""
    n, k = a.shape[0], x.shape[1]
    mx = np.empty((n, k), dtype=np.float32)
    qv = np.empty((n, len(qcols) * len(qs)), dtype=np.float32)
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
            qv[rows] = block_quantiles(g, qcols, qs)
    return mx, qv


def block_quantiles(g: np.ndarray, qcols: list[int], qs) -> np.ndarray:
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


def row_max(a: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """Max of x over each row's neighbours (0 for rows without neighbours)."""
    return _neighbour_stats(a, x, [], ())[0]


def row_quantiles(a: sp.csr_matrix, v: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """Lower quantiles of the 1-d v over each row's neighbours, (n, len(qs))."""
    return _neighbour_stats(a, v[:, None], [0], qs)[1]


def squares(x: np.ndarray) -> np.ndarray:
    """[x | x*x]: sums and sums of squares come out of one product."""
    k = x.shape[1]
    xx = np.empty((len(x), 2 * k), dtype=np.float32)
    xx[:, :k] = x
    np.multiply(xx[:, :k], xx[:, :k], out=xx[:, k:])
    return xx


def edge_first_order(out: np.ndarray, a: sp.csr_matrix, x: np.ndarray, layout: RelationLayout) -> tuple:
    """Write an edge relation's first-order columns (count, sum, mean, max, std, quantiles)
    straight into out (the relation's block, `layout.width` wide) from one gather per block
    of equal-degree rows; return (deg (n, 1), sums (n, k)) for the two-hop columns, which
    this leaves at 0."""
    n, k = a.shape[0], x.shape[1]
    assert out.shape == (n, layout.width) and k == len(layout.features)
    count, total, mean_c, max_c, std_c = (layout.cols(s) for s in ("count", "sum", "mean", "max", "std"))
    qcols, quant = layout.quantile_indices, layout.cols("quantiles")
    counts = np.diff(a.indptr)  # a is 0/1 with no stored zeros
    sums = np.empty((n, k), dtype=np.float32)
    empty = np.flatnonzero(counts == 0)
    out[empty] = 0.0  # every statistic of a row without neighbours is 0
    sums[empty] = 0.0
    x = np.ascontiguousarray(x, dtype=np.float32)
    size = max(_BLOCK, int(counts.max(initial=0))) * k
    buf, sq = np.empty(size, dtype=np.float32), np.empty(size, dtype=np.float32)
    # Each block's rows are finished in `block`, the whole relation's width, and written
    # with one scatter; the two-hop columns stay 0 there until `edge_two_hop` writes them.
    block = np.zeros((min(_BLOCK, n), layout.width), dtype=np.float32)
    for d, rows in _degree_blocks(a):
        nb = a.indices[a.indptr[rows] + np.arange(d)[:, None]]  # (d, rows): j-th neighbour of each row
        g = buf[: nb.size * k].reshape(d, len(rows), k)
        np.take(x, nb, axis=0, out=g)
        t = block[: len(rows)]
        s = g.sum(axis=0)
        sums[rows] = s
        var = np.multiply(g, g, out=sq[: g.size].reshape(g.shape)).sum(axis=0)
        t[:, count] = d
        t[:, total] = s
        mean = np.divide(s, np.float32(d), out=s)
        var /= np.float32(d)
        t[:, mean_c] = mean
        t[:, max_c] = g.max(axis=0)
        var -= mean * mean
        np.maximum(var, 0.0, out=var)
        np.sqrt(var, out=t[:, std_c])
        if qcols:
            t[:, quant] = block_quantiles(g, qcols, layout.quantiles)
        out[rows] = t
    return counts.astype(np.float32)[:, None], sums


def edge_two_hop(out: np.ndarray, a: sp.csr_matrix, deg: np.ndarray, sums: np.ndarray, layout: RelationLayout) -> None:
    """An edge relation's two-hop columns into out: the walks `a @ deg` and the mean over
    them of the second-order neighbours' features, `(a @ sums) / walks`. deg and sums are
    the whole relation's (a may be a block of its rows)."""
    walks = np.asarray(a @ deg, dtype=np.float32)
    two = np.asarray(a @ sums, dtype=np.float32)  # two-hop sums
    out[:, layout.cols("2hop_count")] = walks
    mean = layout.cols("2hop_mean")
    for r in range(0, len(out), _ROWS):
        w = np.maximum(walks[r : r + _ROWS], 1.0)
        np.divide(two[r : r + _ROWS], w, out=out[r : r + _ROWS, mean])


def edge_relation(out: np.ndarray, a: sp.csr_matrix, x: np.ndarray, layout: RelationLayout) -> None:
    """An edge relation's block, whole, into out."""
    edge_two_hop(out, a, *edge_first_order(out, a, x, layout), layout)


def group_inputs(m: sp.csr_matrix, x: np.ndarray) -> tuple:
    """What `write_group_columns` turns into the group relation's columns: (deg (n, 1)
    co-member count, [sum | sum of squares] (n, 2k), max (n, k))."""
    xx = squares(x)
    joined = np.asarray(m.sum(axis=1), dtype=np.float32)  # groups joined
    size = np.asarray(m.sum(axis=0), dtype=np.float32).ravel()
    deg = np.asarray(m @ size, dtype=np.float32)[:, None] - joined
    both = np.asarray(m @ np.asarray(m.T @ xx, dtype=np.float32), dtype=np.float32)
    both -= joined * xx
    return deg, both, row_max(m, row_max(m.T.tocsr(), x))


def write_group_columns(out: np.ndarray, layout: RelationLayout, deg, both, mx) -> None:
    """Write the group relation's columns into out, one chunk of rows at a time: each chunk
    is assembled in a small contiguous buffer and copied once, so every output row gets its
    columns in one contiguous write. deg (n, 1) co-member count, both = [sum | sum of
    squares] (n, 2k, used as scratch), mx the maxima. Means and std are 0 where there is
    no one."""
    k = mx.shape[1]
    assert out.shape[1] == layout.width and k == len(layout.features)
    count, total, mean_c, max_c, std_c = (layout.cols(s) for s in ("count", "sum", "mean", "max", "std"))
    buf = np.empty((min(_ROWS, len(out)), out.shape[1]), dtype=np.float32)
    for r in range(0, len(out), _ROWS):
        b, d = both[r : r + _ROWS], deg[r : r + _ROWS]
        t = buf[: len(b)]
        t[:, count] = d
        t[:, total] = b[:, :k]
        b /= np.maximum(d, 1.0)
        b[d[:, 0] <= 0] = 0.0
        mean, var = b[:, :k], b[:, k:]
        t[:, mean_c] = mean
        t[:, max_c] = mx[r : r + _ROWS]
        var -= mean * mean
        np.maximum(var, 0.0, out=var)
        np.sqrt(var, out=t[:, std_c])
        out[r : r + _ROWS] = t


def group_relation(out: np.ndarray, m: sp.csr_matrix, x: np.ndarray, layout: RelationLayout) -> None:
    """The group relation's block, whole, into out."""
    write_group_columns(out, layout, *group_inputs(m, x))


def relation(out: np.ndarray, a: sp.csr_matrix, x: np.ndarray, layout: RelationLayout) -> None:
    """A relation's block, whole, into out, by the kernel its layout names."""
    (group_relation if layout.kind == "group" else edge_relation)(out, a, x, layout)
