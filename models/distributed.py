"""Features and LightGBM on a Dask cluster, with the single-process results.

Why a context variable rather than an argument: every model trains through the same
`fit(data, seed)` protocol (models/protocol.py, also used by leaderboard submissions), and
where the work runs is not a property of a model. `lowbase --dask` enters `use_client` once;
`build_features` and `fit_lgb` look the client up here. Without a client nothing in this
module runs and Dask is never imported (its imports are inside the functions).

**Features** (`deep_features_dask`): the deep aggregates are row-local once a few global
quantities are known, so each relation's rows are cut into blocks and every block is one
task on a worker, running the kernels of one process (models/aggregates.py) at the
offsets of the same layout (models/feature_layout.py): `edge_first_order` for an edge
relation's first-order columns, `edge_two_hop` for `A[rows] @ deg` and `A[rows] @ sums`,
`write_group_columns` for groups. The raw block and the global vectors are scattered once
to every worker; the own block (per account, no neighbours) is copied in by the parent.
The first-order sums `A @ X` (for the two-hop mean) come back from a first round over the
same blocks; for groups, the group-level `M^T @ [X | X*X]`, sizes and maxima are computed
once in the parent. Every product is a row-by-row sparse dot product and every gather
reduces a row's own neighbours, so a row's value does not depend on which block it was
in: the matrix is bit-identical to `features.deep_features` (tested).

**LightGBM** (`fit_lgb_dask`): `lightgbm.dask.DaskLGBMClassifier`, data-parallel over the
workers' row chunks. Early stopping is not supported across Dask workers (each would stop
on its own validation rows), so trees are added a chunk of rounds at a time and the
stopping rule of `lgb.early_stopping(30)` is applied in between to the validation loss
of each iteration, computed here on all validation rows. Data-parallel histograms make the
trees differ slightly from one process: the metrics agree within a tolerance (README,
"Running on a cluster"; tested), not to the bit.
"""

from __future__ import annotations

import contextvars
import math
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from models.aggregates import edge_first_order, edge_two_hop, row_max, squares, write_group_columns
from models.feature_layout import FeatureLayout, Features, RelationLayout, own_block

_CLIENT: contextvars.ContextVar = contextvars.ContextVar("lowbase_dask_client", default=None)


@contextmanager
def use_client(client) -> Iterator[None]:
    """Run features and LightGBM on this `distributed.Client` inside the block (None: locally)."""
    token = _CLIENT.set(client)
    try:
        yield
    finally:
        _CLIENT.reset(token)


def current_client():
    return _CLIENT.get()


def _n_workers(client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


# ---------------------------------------------------------------- features


def _block_bounds(n: int, client, rows: int | None) -> list[tuple[int, int]]:
    """Row blocks: a few per worker, so a slow worker does not hold the others up."""
    step = rows or max(1 << 14, math.ceil(n / (4 * _n_workers(client))))
    return [(lo, min(lo + step, n)) for lo in range(0, n, step)]


_ALIGNED: dict[int, tuple] = {}  # id(received array) -> (weak reference to it, aligned copy)


def aligned(a):
    """`a` aligned for its dtype, copied only if it is not (once per received array).

    Why: Dask hands a task the arrays it received as views into the message buffer, at
    whatever byte offset they landed, and numpy runs gathers on unaligned data through a
    slow buffered path, so each received array is copied aligned once. Arrays broadcast to
    every worker (X, degrees, sums) are read by every task, so the copy is kept until Dask
    releases the received array."""
    if not isinstance(a, np.ndarray):  # a scipy sparse matrix: align its arrays
        for attr in ("data", "indices", "indptr"):
            setattr(a, attr, aligned(getattr(a, attr)))
        return a
    if a.flags.aligned:
        return a
    key = id(a)
    hit = _ALIGNED.get(key)
    if hit is not None and hit[0]() is a:
        return hit[1]
    copy = np.require(a, requirements="A")
    _ALIGNED[key] = (weakref.ref(a, lambda _: _ALIGNED.pop(key, None)), copy)
    return copy


def _edge_sums(a, x):
    """A[rows] @ X, the first-order sums the two-hop mean needs for every row."""
    return np.asarray(aligned(a) @ aligned(x), dtype=np.float32)


def _edge_block(a, x, deg_all, sums_all, layout: RelationLayout):
    """One row block of an edge relation: `edge_first_order` and `edge_two_hop` on A[rows]
    (the two-hop products read the whole relation's degrees and sums)."""
    a, x, deg_all, sums_all = map(aligned, (a, x, deg_all, sums_all))
    out = np.empty((a.shape[0], layout.width), dtype=np.float32)
    edge_first_order(out, a, x, layout)
    edge_two_hop(out, a, deg_all, sums_all, layout)
    return out


def _group_block(m, xx_rows, size, g, gmax, layout: RelationLayout):
    """One row block of the group relation (`aggregates.group_inputs` and
    `write_group_columns` on M[rows]), given the group-level quantities."""
    m, xx_rows, size, g, gmax = map(aligned, (m, xx_rows, size, g, gmax))
    joined = np.asarray(m.sum(axis=1), dtype=np.float32)
    deg = np.asarray(m @ size, dtype=np.float32)[:, None] - joined
    both = np.asarray(m @ g, dtype=np.float32)
    both -= joined * xx_rows
    out = np.empty((m.shape[0], layout.width), dtype=np.float32)
    write_group_columns(out, layout, deg, both, row_max(m, gmax))
    return out


def deep_features_dask(raw: Features, mats: dict, client, rows_per_block: int | None = None) -> Features:
    """`features.deep_features` with the aggregates computed by row blocks on the cluster
    (consumes mats); bit-identical output."""
    x = np.ascontiguousarray(raw.X, dtype=np.float32)
    n, k = x.shape
    own = own_block(raw)
    layout = FeatureLayout(raw.names, own.names, tuple(mats))
    out = np.empty((n, layout.width), dtype=np.float32)
    out[:, :k] = x
    out[:, layout.own_cols] = own.X
    xx = squares(x)
    bounds = _block_bounds(n, client, rows_per_block)
    x_f = client.scatter(x, broadcast=True, hash=False)
    try:
        for name in list(mats):
            a, rel, cols = mats.pop(name), layout.layouts[name], layout.cols(name)
            blocks = client.scatter([a[lo:hi] for lo, hi in bounds], hash=False)
            if rel.kind == "group":
                size = np.asarray(a.sum(axis=0), dtype=np.float32).ravel()
                g = np.asarray(a.T @ xx, dtype=np.float32)
                gmax = row_max(a.T.tocsr(), x)
                shared = client.scatter([size, g, gmax], broadcast=True, hash=False)
                xx_rows = client.scatter([xx[lo:hi] for lo, hi in bounds], hash=False)
                futures = [
                    client.submit(_group_block, b, r, *shared, rel, pure=False)
                    for b, r in zip(blocks, xx_rows, strict=True)
                ]
            else:
                deg_all = np.diff(a.indptr).astype(np.float32)[:, None]
                sums = client.map(_edge_sums, blocks, [x_f] * len(blocks), pure=False)
                sums_all = np.concatenate(client.gather(sums))
                shared = client.scatter([deg_all, sums_all], broadcast=True, hash=False)
                del sums, sums_all, deg_all
                futures = [client.submit(_edge_block, b, x_f, *shared, rel, pure=False) for b in blocks]
            del a
            for (lo, hi), f in zip(bounds, futures, strict=True):
                out[lo:hi, cols] = f.result()
                f.release()
            del futures, blocks, shared
    finally:
        x_f.release()
    return Features(layout.names, out)


# ---------------------------------------------------------------- LightGBM


def early_stop_iteration(loss: np.ndarray, patience: int) -> int:
    """The iteration (1-based) `lgb.early_stopping(patience)` would keep, from the
    validation loss after each iteration: the best so far when `patience` iterations in a
    row brought no improvement, else the best overall."""
    best = np.minimum.accumulate(loss)
    improved = np.r_[True, loss[1:] < best[:-1]]
    best_at = np.maximum.accumulate(np.where(improved, np.arange(len(loss)), 0))
    stale = np.flatnonzero(np.arange(len(loss)) - best_at >= patience)
    end = stale[0] if len(stale) else len(loss) - 1
    return int(best_at[end]) + 1


def logloss_per_iteration(
    booster, x: np.ndarray, y: np.ndarray, trees: list | None = None, weight: np.ndarray | None = None
) -> np.ndarray:
    """Binary log loss of the model truncated after each iteration (LightGBM's default
    metric for the binary objective), from one raw-score prediction per tree. `trees`
    holds the raw scores of the trees already predicted and is extended with the new ones:
    training continues from the model so far, so its first trees never change, and
    predicting each tree once keeps the rule's cost linear in the trees (re-predicting
    them every chunk would make it grow with their square). `weight` weights the rows, as
    LightGBM weights a validation set's metric."""
    trees = [] if trees is None else trees
    for i in range(len(trees), booster.num_trees()):
        trees.append(booster.predict(x, raw_score=True, start_iteration=i, num_iteration=1))
    raw = np.cumsum(trees, axis=0)
    p = np.clip(1.0 / (1.0 + np.exp(-raw)), 1e-15, 1 - 1e-15)
    return np.average(-(y * np.log(p) + (1 - y) * np.log1p(-p)), axis=1, weights=weight)


def fit_lgb_dask(
    client,
    params: dict,
    x_train,
    y_train,
    x_val,
    y_val,
    rounds: int,
    patience: int,
    chunk: int = 50,
    pos_weight: float = 1.0,
):
    """`lgb.train` with early stopping, as data-parallel `lightgbm.dask` training plus the
    early-stopping rule applied on the way (see the module docstring): trees are added
    `chunk` rounds at a time (continuing from the model so far) until the rule says stop
    or `rounds` is reached, so a model that stops early costs about as many trees as in
    one process. Returns a Booster with `best_iteration` set, saved and used like a
    single-process one. Positives weigh `pos_weight` in training and in the validation
    loss, as in `models.baselines.fit_lgb`."""
    import dask.array as da
    from lightgbm.dask import DaskLGBMClassifier

    workers = _n_workers(client)
    rows = max(1, math.ceil(len(x_train) / workers))
    xd = da.from_array(np.ascontiguousarray(x_train), chunks=(rows, x_train.shape[1]))
    yd = da.from_array(np.asarray(y_train), chunks=rows)
    wd = da.from_array(np.where(np.asarray(y_train) == 1, pos_weight, 1.0), chunks=rows)
    wv = None if y_val is None else np.where(np.asarray(y_val) == 1, pos_weight, 1.0)
    kw = {k: v for k, v in params.items() if k not in ("num_threads", "seed", "objective")}
    booster, done, trees = None, 0, []
    while done < rounds:
        step = min(chunk, rounds - done) if x_val is not None else rounds
        clf = DaskLGBMClassifier(
            client=client, objective="binary", n_estimators=step, random_state=params.get("seed", 0) + done, **kw
        )
        with warnings.catch_warnings():  # lightgbm.dask sets threads per worker itself and says so
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            clf.fit(xd, yd, sample_weight=wd, init_model=booster)
        booster, done = clf.booster_, done + step
        if x_val is None:
            break
        loss = logloss_per_iteration(booster, x_val, y_val, trees, wv)
        booster.best_iteration = early_stop_iteration(loss, patience)
        if done - booster.best_iteration >= patience:  # the rule stopped inside what is trained
            break
    return booster
