"""DEC, the two-stage pipeline of Xu et al. 2021 as the paper summarises it (7.1.2).

Stage 1: a multi-task MLP on all (raw + deep) features, trained on cheap weak labels for
every task at once with a masked loss (an account contributes to a task only where some
weak labeler spoke). Its last hidden layer is the low-dimensional embedding.
Stage 2: one LightGBM per task on the embedding plus the few raw features DEC keeps,
trained on the small set of human labels (train split), early stopping on val.

Seeded and deterministic on CPU: fixed torch seed, deterministic algorithms, full-batch
order drawn from the seed; with the kernels pinned (`common.kernels`, the command line's
default) the same bits on any x86-64 CPU, whatever its instruction set and core count.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common import kernels
from models.baselines import fit_lgb, load_boosters, predict_booster, save_boosters
from models.inputs import ModelInput
from models.protocol import ModelError, model_file, scores_frame

HIDDEN = (256, 64)
EPOCHS = 6
BATCH = 2048
STATE_FILE = "dec_stage1.pt"
STAGE2_INPUT = "dec.stage2_input"  # ModelInput.memo key, with the network
# Rows per MLP forward. The embedding's float32 bits are those of this blocking (a block's
# GEMM may round differently at another size), at fit and at scoring alike. Pinned kernels
# (`common.kernels`): blocks are embedded side by side, each on one thread, so the bits do
# not depend on how many run at once; 8192 rows: 32 MB of standardised input per thread, and
# a dozen blocks to share out in a 100K world. Native: torch splits each block's product over
# the threads itself, in blocks of 65536 (the blocking of every figure made native).
MLP_ROWS = 8192
NATIVE_MLP_ROWS = 65536
# Rows per standardisation step: ~1 MB of a ~1000-column float32 matrix, cache-resident.
CACHE_ROWS = 256
# Pinned, log1p of the integers 0..LOG1P_TABLE_TOP comes from a table made by torch's own
# log1p (the same bits), in chunks of LOG1P_CHUNK values (the chunk, its indices and the
# values left to torch stay in L2). Counts are most of the features (two thirds of a quick
# world's values are integers, half of those zero), and torch's generic loop costs ~9 ns a
# value (libm's log1pf per element): the table takes a fifth off the standardisation.
LOG1P_TABLE_TOP = 65535
LOG1P_CHUNK = 65536


class MultiTaskNet(nn.Module):
    def __init__(self, n_in: int, n_tasks: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, HIDDEN[0]), nn.ReLU(), nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU())
        self.heads = nn.Linear(HIDDEN[1], n_tasks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.body(x)
        return z, self.heads(z)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit: the standardised log1p features with their float32 mean and scale, in one
    full-size output (the statistics need every row's log1p before any row is centred).
    Every value is `(log1p(max(float32(x), 0)) - mean) / scale` in float32, and the mean
    and scale are numpy's float32 `mean`/`std` of the whole log1p'd matrix, whose rounding
    is numpy's own: no hand-written blocked sum, so a model's statistics do not depend on
    this code's block sizes."""
    out = np.empty(x.shape, dtype=np.float32)
    for i in range(0, len(x), CACHE_ROWS):
        _log1p_clipped(x[i : i + CACHE_ROWS], out[i : i + CACHE_ROWS])
    mean, scale = out.mean(axis=0), out.std(axis=0)
    scale[scale == 0] = 1.0
    _centre(out, mean, scale)
    return out, mean, scale


def _standardise_into(out: np.ndarray, x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> None:
    """Score: `out` = the standardised `x` in one pass over row blocks of about a MB:
    each block is read, clipped, logged and centred while it sits in cache, where a
    full-matrix cast followed by full-matrix ufuncs streams the matrix through memory five
    times. The same ufuncs on the same values, so the same bits as at fit."""
    for i in range(0, len(x), CACHE_ROWS):
        block = out[i : i + CACHE_ROWS]
        _log1p_clipped(x[i : i + CACHE_ROWS], block)
        _centre(block, mean, scale)


def _log1p_clipped(x: np.ndarray, out: np.ndarray) -> None:
    """`out` = log1p(max(float32(x), 0)). The cast comes before the clip (the same values:
    the cast is monotone and keeps 0) because a casting ufunc is several times slower than
    a plain cast; float32 input, the usual case, is clipped straight into `out`. Pinned, the
    logarithm is torch's: NumPy picks its log1p loop by instruction set at import (its
    AVX-512 loop rounds differently from its baseline one), torch's follows the pin. The
    rest is NumPy arithmetic whose bits do not depend on the instruction set (exact
    element-wise operations, and reductions whose order NumPy fixes). Native, NumPy's."""
    if x.dtype == np.float32:
        np.maximum(x, 0, out=out)
    else:
        np.copyto(out, x, casting="unsafe")
        np.maximum(out, 0, out=out)
    if kernels.mode() == kernels.PINNED:
        _log1p_pinned(out.reshape(-1, copy=False))  # in place: a view or an error
    else:
        np.log1p(out, out=out)


def _log1p_pinned(flat: np.ndarray) -> None:
    """In place, torch's log1p of every value (bit for bit): a small integer's from the
    table, any other value (fractions, large counts, -0.0, NaN, inf: compared by bits, not
    by value) through torch. `flat` is clipped at 0 already (a negative integer would
    index the table from its end)."""
    table = _log1p_table()
    for j in range(0, len(flat), LOG1P_CHUNK):
        part = flat[j : j + LOG1P_CHUNK]
        idx = np.fmin(part, np.float32(LOG1P_TABLE_TOP)).astype(np.int32)  # NaN: the top, then torch's
        rest = np.flatnonzero(idx.astype(np.float32).view(np.int32) != part.view(np.int32))
        logged = torch.from_numpy(part[rest]).log1p_().numpy()
        np.take(table, idx, out=part)
        part[rest] = logged


@functools.cache
def _log1p_table() -> np.ndarray:
    """Made on first use, so under the kernels already pinned."""
    return torch.arange(LOG1P_TABLE_TOP + 1, dtype=torch.float32).log1p_().numpy()


def _centre(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> None:
    """In place, over row blocks small enough to stay in cache."""
    for i in range(0, len(x), CACHE_ROWS):
        block = x[i : i + CACHE_ROWS]
        np.subtract(block, mean, out=block)
        np.divide(block, scale, out=block)


class DecModel:
    name = "dec"

    def __init__(self, net: MultiTaskNet | None = None, norm=None, boosters=None, n_raw: int = 0):
        self.net, self.norm, self.boosters, self.n_raw = net, norm, boosters or {}, n_raw

    def fit(self, data: ModelInput, seed: int) -> None:
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        x, mean, scale = _standardise(data.features.X)
        self.norm = (mean, scale)
        target, mask = data.weak_matrix
        seen = np.isin(data.split, ("train", "val")) & mask.any(axis=1)
        self.net = MultiTaskNet(x.shape[1], len(data.tasks))
        with kernels.dec_threads():
            _train_stage1(self.net, x[seen], target[seen], mask[seen], seed)
        self.n_raw = _n_raw(data)
        z = self._stage2_input(_views(x, mlp_rows()), data.features.X)
        del x
        data.memo[(STAGE2_INPUT, self.net)] = z
        self.boosters = {t: fit_lgb(z, data, t, seed) for t in data.tasks}

    def with_labels(self, data: ModelInput, seed: int, tasks: tuple[str, ...] | None = None) -> DecModel:
        """This model's stage 1 (trained on weak labels only) with stage 2 refit on `data`'s
        human labels for `tasks` (default all): what other human labels would have given,
        e.g. truth or a label budget, at the cost of the boosters alone. The
        result shares the network, so scoring it beside this model reuses the embedding."""
        z = self._embedding(data)
        return DecModel(self.net, self.norm, {t: fit_lgb(z, data, t, seed) for t in tasks or data.tasks}, self.n_raw)

    def restricted(self, tasks: tuple[str, ...]) -> DecModel:
        """This model scoring only `tasks` (same network and boosters): a caller that reads
        one task skips the other boosters."""
        return DecModel(self.net, self.norm, {t: self.boosters[t] for t in tasks}, self.n_raw)

    def _stage2_input(self, block_at: Callable[[int], np.ndarray], x_raw: np.ndarray) -> np.ndarray:
        """The embedding of each standardised block of `mlp_rows()` rows (`block_at(i)`: the
        block starting at row i), and the raw columns DEC keeps, written once into the one
        float32 output (no stacking copies)."""
        self.net.eval()
        emb, rows = self.net.heads.in_features, mlp_rows()
        out = np.empty((len(x_raw), emb + self.n_raw), dtype=np.float32)

        def embed(i: int) -> None:
            out[i : i + rows, :emb] = _embed(self.net.body, block_at(i))

        with kernels.dec_threads() as width:  # the embedding's bits at fit and at scoring: the same kernels
            _each(embed, range(0, len(x_raw), rows), width)
        out[:, emb:] = x_raw[:, : self.n_raw]
        return out

    def _embedding(self, data: ModelInput) -> np.ndarray:
        """The stage-2 input of `data`, computed once per (input, network): the models that
        `with_labels` makes from this one score a world for the price of their boosters."""
        key = (STAGE2_INPUT, self.net)
        if key not in data.memo:
            x = data.features.X
            data.memo[key] = self._stage2_input(_standardiser(x, *self.norm, mlp_rows()), x)
        return data.memo[key]

    def predict_scores(self, data: ModelInput):
        """Only the boosters of the tasks asked run (`restricted`); stage 1 stops at the
        embedding, the weak-label heads are never evaluated."""
        z = self._embedding(data)
        tasks = tuple(t for t in data.tasks if t in self.boosters)
        return scores_frame(tasks, {t: predict_booster(self.boosters[t], z) for t in tasks})

    def state(self, out: Path) -> dict:
        torch.save(self.net.state_dict(), out / STATE_FILE)
        return {
            "n_in": self.net.body[0].in_features,
            "n_tasks": self.net.heads.out_features,
            "mean": self.norm[0].tolist(),
            "scale": self.norm[1].tolist(),
            "n_raw": self.n_raw,
            "boosters": save_boosters(self.boosters, out),
        }

    @classmethod
    def from_state(cls, state: dict, path: Path):
        net = MultiTaskNet(state["n_in"], state["n_tasks"])
        weights = torch.load(model_file(path, STATE_FILE), weights_only=True)
        bad = [k for k, v in weights.items() if not torch.isfinite(v).all()]
        if bad:
            raise ModelError(f"{model_file(path, STATE_FILE)}: non-finite weights in {', '.join(bad[:3])}")
        net.load_state_dict(weights)
        # float32, as trained: the JSON holds each float32 value exactly
        norm = (np.asarray(state["mean"], dtype=np.float32), np.asarray(state["scale"], dtype=np.float32))
        if not (np.isfinite(norm[0]).all() and np.isfinite(norm[1]).all() and (norm[1] > 0).all()):
            raise ModelError(
                f"{Path(path) / 'model.json'}: the standardisation holds non-finite or non-positive values"
            )
        return cls(net, norm, load_boosters(state["boosters"], path), state["n_raw"])


def mlp_rows() -> int:
    """Rows per MLP forward under this process's kernels."""
    return MLP_ROWS if kernels.mode() == kernels.PINNED else NATIVE_MLP_ROWS


def _standardiser(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, rows: int) -> Callable[[int], np.ndarray]:
    """Rows [i, i + `rows`) of `x` standardised into a buffer of the calling thread's
    own, reused: scoring never holds the standardised matrix, only one block per thread. A
    block is valid until its thread's next. The statistics are float32, as trained, so the
    arithmetic stays float32."""
    mean, scale = np.asarray(mean, dtype=np.float32), np.asarray(scale, dtype=np.float32)
    local = threading.local()

    def block_at(i: int) -> np.ndarray:
        part = x[i : i + rows]
        if not hasattr(local, "buf"):
            local.buf = np.empty((min(len(x), rows), x.shape[1]), dtype=np.float32)
        block = local.buf[: len(part)]
        _standardise_into(block, part, mean, scale)
        return block

    return block_at


def _views(x: np.ndarray, rows: int) -> Callable[[int], np.ndarray]:
    """Rows [i, i + `rows`) of an already standardised `x`, as views (fit holds the whole
    standardised matrix for its statistics)."""
    return lambda i: x[i : i + rows]


def _each(fn: Callable[[int], None], items: Iterable[int], width: int) -> None:
    """`fn` of every item, `width` at a time on threads (NumPy and torch release the GIL in
    the work that counts), or in order on this one."""
    if width <= 1:
        for i in items:
            fn(i)
        return
    with ThreadPoolExecutor(width, thread_name_prefix="dec-embed") as pool:
        for _ in pool.map(fn, items):  # re-raises a block's error here
            pass


def _embed(body: nn.Sequential, block: np.ndarray) -> np.ndarray:
    """Stage 1's last hidden layer for one block: the body's own layers, each ReLU applied
    in place to the output of the layer before it (exact, and one activation-sized
    allocation fewer per layer). The block itself is never written: the body opens with a
    Linear."""
    with torch.inference_mode():
        h = torch.from_numpy(block)
        for layer in body:
            h = torch.relu_(h) if isinstance(layer, nn.ReLU) else layer(h)
        return h.numpy()


def _n_raw(data: ModelInput) -> int:
    """The raw (non-aggregate) block comes first in the feature order."""
    return sum(1 for n in data.features.names if "/" not in n)


def _train_stage1(net: MultiTaskNet, x: np.ndarray, y: np.ndarray, mask: np.ndarray, seed: int) -> None:
    """Masked multi-task BCE: a task's loss counts only where a weak labeler spoke."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-5)
    gen = torch.Generator().manual_seed(seed)
    xt, yt, mt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask.astype(np.float32))
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    net.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(order), BATCH):
            b = order[i : i + BATCH]
            _, logits = net(xt[b])
            loss = (loss_fn(logits, yt[b]) * mt[b]).sum() / mt[b].sum().clamp(min=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
