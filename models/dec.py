"""DEC, the two-stage pipeline of Xu et al. 2021 as the paper summarises it (7.1.2).

Stage 1: a multi-task MLP on all (raw + deep) features, trained on cheap weak labels for
every task at once with a masked loss (an account contributes to a task only where some
weak labeler spoke). Its last hidden layer is the low-dimensional embedding.
Stage 2: one LightGBM per task on the embedding plus the few raw features DEC keeps,
trained on the small set of human labels (train split), early stopping on val.

Seeded and deterministic on CPU: fixed torch seed, deterministic algorithms, one thread
count, full-batch order drawn from the seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.baselines import fit_lgb, load_boosters, predict_booster, save_boosters
from models.inputs import ModelInput
from models.protocol import scores_frame

HIDDEN = (256, 64)
EPOCHS = 6
BATCH = 2048
STATE_FILE = "dec_stage1.pt"
STAGE2_INPUT = "dec.stage2_input"  # ModelInput.memo key, with the network


class MultiTaskNet(nn.Module):
    def __init__(self, n_in: int, n_tasks: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, HIDDEN[0]), nn.ReLU(), nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU())
        self.heads = nn.Linear(HIDDEN[1], n_tasks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.body(x)
        return z, self.heads(z)


def _standardise(x: np.ndarray, mean=None, scale=None):
    """Standardised log1p features as float32, with one full-size copy: the feature matrix
    is the largest array of a run, and the plain expression would hold four at once. The
    arithmetic is float32 throughout (a saved model's mean and scale are float32 values, so
    a reloaded model standardises exactly as the one that was trained), and every value is
    the same as `(log1p(max(float32(x), 0)) - mean) / scale` in float32: the cast comes before
    the clip (the same values: the cast is monotone and keeps 0) because a casting ufunc is
    several times slower than a plain cast, and the centring runs in place over row blocks
    of a few MB, so no temporary of the matrix's size is ever paged in."""
    out = x.astype(np.float32)
    np.maximum(out, 0, out=out)
    np.log1p(out, out=out)
    if mean is None:
        mean, scale = out.mean(axis=0), out.std(axis=0)
        scale[scale == 0] = 1.0
    mean, scale = np.asarray(mean, dtype=np.float32), np.asarray(scale, dtype=np.float32)
    for i in range(0, len(out), 1024):
        block = out[i : i + 1024]
        np.subtract(block, mean, out=block)
        np.divide(block, scale, out=block)
    return out, mean, scale


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
        _train_stage1(self.net, x[seen], target[seen], mask[seen], seed)
        self.n_raw = _n_raw(data)
        z = self._stage2_input(x, data.features.X)
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

    def _stage2_input(self, x_std: np.ndarray, x_raw: np.ndarray) -> np.ndarray:
        self.net.eval()
        with torch.no_grad():
            z = np.vstack(
                [self.net(torch.from_numpy(x_std[i : i + 65536]))[0].numpy() for i in range(0, len(x_std), 65536)]
            )
        return np.hstack([z, x_raw[:, : self.n_raw]]).astype(np.float32)

    def _embedding(self, data: ModelInput) -> np.ndarray:
        """The stage-2 input of `data`, computed once per (input, network): the models that
        `with_labels` makes from this one score a world for the price of their boosters."""
        key = (STAGE2_INPUT, self.net)
        if key not in data.memo:
            x, _, _ = _standardise(data.features.X, *self.norm)
            data.memo[key] = self._stage2_input(x, data.features.X)
        return data.memo[key]

    def predict_scores(self, data: ModelInput):
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
        net.load_state_dict(torch.load(Path(path) / STATE_FILE, weights_only=True))
        # float32, as trained: the JSON holds each float32 value exactly
        norm = (np.asarray(state["mean"], dtype=np.float32), np.asarray(state["scale"], dtype=np.float32))
        return cls(net, norm, load_boosters(state["boosters"], path), state["n_raw"])


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
