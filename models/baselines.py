"""Honest baselines, run through the same protocol and splits as DEC (GADBench's lesson:
simple neighbour aggregation with trees stays beside the deep model in every table)."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression

from models.inputs import ModelInput
from models.protocol import model_file, scores_frame


class RandomModel:
    """Seeded uniform scores: the floor every metric is read against."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, data: ModelInput, seed: int) -> None:
        self.seed = seed

    def predict_scores(self, data: ModelInput):
        rng = np.random.default_rng(self.seed)
        return scores_frame(data.tasks, {t: rng.random(data.n) for t in data.tasks})

    def state(self, out: Path) -> dict:
        return {"seed": self.seed}

    @classmethod
    def from_state(cls, state: dict, path: Path):
        return cls(state["seed"])


class RulesModel:
    """The weak labelers as a scorer: how many rules fired positive on the account for the
    task (ties are many; the metrics treat them exactly)."""

    name = "rules"

    def fit(self, data: ModelInput, seed: int) -> None:
        pass

    def predict_scores(self, data: ModelInput):
        t = data.view.table("weak_labels")
        acc, label = t["account_id"].to_numpy(), t["label"].to_numpy()
        tasks = np.asarray(t["task"].cast("string").to_pylist(), dtype=object)
        scores = {}
        for task in data.tasks:
            hit = (tasks == task) & (label == 1)
            scores[task] = np.bincount(acc[hit], minlength=data.n).astype(np.float64)
        return scores_frame(data.tasks, scores)

    def state(self, out: Path) -> dict:
        return {}

    @classmethod
    def from_state(cls, state: dict, path: Path):
        return cls()


CHUNK = 65_536  # rows per block, so no full-size float copy of the feature matrix is made


def _log_block(x: np.ndarray) -> np.ndarray:
    """log1p of the (non-negative, heavy-tailed) features: counts span orders of magnitude."""
    out = np.maximum(x, 0, dtype=np.float32)
    return np.log1p(out, out=out)


def _log_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and standard deviation of the log features, block by block (float64
    sums), so no full-size copy of the feature matrix is ever made."""
    total = np.zeros(x.shape[1])
    squares = np.zeros(x.shape[1])
    for i in range(0, len(x), CHUNK):
        z = _log_block(x[i : i + CHUNK]).astype(np.float64)
        total += z.sum(axis=0)
        squares += np.square(z).sum(axis=0)
    mean = total / max(len(x), 1)
    std = np.sqrt(np.maximum(squares / max(len(x), 1) - mean**2, 0))
    std[std == 0] = 1.0
    return mean, std


class LogRegModel:
    """scikit-learn logistic regression per task on standardised log features, trained on
    the human labels of the train split. Stored as JSON coefficients (no pickle)."""

    name = "logreg"

    def __init__(self, params: dict | None = None):
        self.params = params or {}

    def fit(self, data: ModelInput, seed: int) -> None:
        x = data.features.X
        mean, scale = _log_moments(x)
        self.params = {"mean": mean.tolist(), "scale": scale.tolist(), "tasks": {}}
        for task in data.tasks:
            acc, y = data.human(task, "train")
            if len(np.unique(y)) < 2:
                self.params["tasks"][task] = None  # nothing to learn from: constant score
                continue
            clf = LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000, random_state=seed)
            clf.fit((_log_block(x[acc]) - mean) / scale, y)
            self.params["tasks"][task] = {"coef": clf.coef_[0].tolist(), "intercept": float(clf.intercept_[0])}

    def predict_scores(self, data: ModelInput):
        x = data.features.X
        mean, scale = np.asarray(self.params["mean"]), np.asarray(self.params["scale"])
        fitted = [t for t in data.tasks if self.params["tasks"].get(t) is not None]
        coef = np.array([self.params["tasks"][t]["coef"] for t in fitted]).reshape(len(fitted), -1).T
        intercept = np.array([self.params["tasks"][t]["intercept"] for t in fitted])
        out = np.zeros((data.n, len(fitted)))
        for i in range(0, data.n, CHUNK):
            out[i : i + CHUNK] = ((_log_block(x[i : i + CHUNK]) - mean) / scale) @ coef + intercept
        scores = {t: np.zeros(data.n) for t in data.tasks}
        scores.update({t: out[:, j] for j, t in enumerate(fitted)})
        return scores_frame(data.tasks, scores)

    def state(self, out: Path) -> dict:
        return self.params

    @classmethod
    def from_state(cls, state: dict, path: Path):
        return cls(state)


LGB_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 10,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
}


def lgb_threads(rows: int) -> int:
    """One thread below 50K training rows. Human labels are a few thousand rows, where a
    tree is microseconds of work between OpenMP barriers: a second thread buys nothing,
    and on a loaded machine each barrier waits for a descheduled thread, which slows
    training by orders of magnitude beside another busy process. A function of the data
    only, so the same dataset always trains with the same thread count."""
    return 1 if rows < 50_000 else LGB_PARAMS["num_threads"]


def fit_lgb(x: np.ndarray, data: ModelInput, task: str, seed: int) -> lgb.Booster | None:
    """LightGBM on the human labels of the train split, early stopping on val (DEC stage 2)."""
    tr, ytr = data.human(task, "train")
    va, yva = data.human(task, "val")
    if len(np.unique(ytr)) < 2:
        return None
    # Positives weighted up to balance the classes, in training *and* in the validation
    # loss early stopping reads: weighted in one and not the other, the validation loss
    # rises from the first rounds whenever positives are rare among many labels, and
    # training stops after a tree or two.
    pos_weight = max(1.0, (ytr == 0).sum() / max((ytr == 1).sum(), 1))
    params = {**LGB_PARAMS, "seed": seed, "num_threads": lgb_threads(len(tr))}
    from models.distributed import current_client, fit_lgb_dask

    client = current_client()
    if client is not None:  # lightgbm.dask: same metrics within a tolerance (models/distributed.py)
        two = len(np.unique(yva)) == 2
        return fit_lgb_dask(
            client,
            params,
            x[tr],
            ytr,
            x[va] if two else None,
            yva if two else None,
            rounds=400,
            patience=30,
            pos_weight=pos_weight,
        )
    dtrain = lgb.Dataset(x[tr], ytr, weight=np.where(ytr == 1, pos_weight, 1.0), free_raw_data=True)
    callbacks, valid = [], []
    if len(np.unique(yva)) == 2:
        valid = [lgb.Dataset(x[va], yva, weight=np.where(yva == 1, pos_weight, 1.0), reference=dtrain)]
        callbacks = [lgb.early_stopping(30, verbose=False)]
    return lgb.train(params, dtrain, num_boost_round=400, valid_sets=valid, callbacks=callbacks)


class GbdtRawModel:
    """LightGBM per task on raw + deep features with human labels: DEC without stage 1."""

    name = "gbdt-raw"

    def __init__(self, boosters: dict | None = None):
        self.boosters = boosters or {}

    def fit(self, data: ModelInput, seed: int) -> None:
        x = data.features.X
        self.boosters = {t: fit_lgb(x, data, t, seed) for t in data.tasks}

    def predict_scores(self, data: ModelInput):
        x = data.features.X
        return scores_frame(data.tasks, {t: predict_booster(b, x) for t, b in self.boosters.items()})

    def state(self, out: Path) -> dict:
        return {"boosters": save_boosters(self.boosters, out)}

    @classmethod
    def from_state(cls, state: dict, path: Path):
        return cls(load_boosters(state["boosters"], path))


def predict_booster(booster: lgb.Booster | None, x: np.ndarray) -> np.ndarray:
    return np.zeros(len(x)) if booster is None else booster.predict(x, num_iteration=booster.best_iteration or None)


def save_boosters(boosters: dict, out: Path) -> dict:
    """LightGBM text models, one file per task (never pickle)."""
    files = {}
    for i, (task, b) in enumerate(boosters.items()):
        if b is None:
            files[task] = None
            continue
        name = f"lgb_{i}.txt"
        b.save_model(str(out / name), num_iteration=b.best_iteration or None)
        files[task] = name
    return files


def load_boosters(files: dict, path: Path) -> dict:
    return {t: (None if f is None else lgb.Booster(model_file=str(model_file(path, f)))) for t, f in files.items()}
