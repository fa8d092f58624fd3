"""Running a model over the suite: a submitted plugin (the built-in entries are plugins too).

The plugin implements the model protocol (`models/protocol.py`: `fit(data, seed)` and
`predict_scores(data) -> account_id, task, score`). The harness fits it once per seed and
per (dataset, visibility, training period), so scenarios that share those share a fit, and
collects, per seed, the parts each scenario's figures need (scoring.py): the validation and
test splits of the training dataset and, for a powered scenario, the offenders of each
enriched world and the highest-scoring negatives of each negative world. A model is
inductive: the fitted models of all seeds score each evaluation world, whose features are
built once per visibility and then dropped, so memory holds one world at a time.

A `Plugin` runs in a `sandbox.Sandbox` (its own process, confined by Landlock to the
model-visible tables it is given), or, with `trusted` (`--trust-plugin`), in this process
(`InProcess`); where no sandbox can start it is refused, naming `--trust-plugin`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import SubmissionError
from bench.leaderboard import sandbox
from bench.leaderboard.sandbox import PluginFailure, load_plugin
from bench.leaderboard.scoring import PoweredFrame, negative_cut
from bench.leaderboard.store import Parts
from bench.leaderboard.suite import Suite, split_ids, truth_for
from models import ModelInput


@dataclass(frozen=True)
class Plugin:
    """A submitted plugin: its file and class; sandboxed unless `trusted`."""

    path: Path
    cls: str
    trusted: bool = False


def sandbox_of(trusted: bool, what: str) -> str:
    """What a plugin runs in, as an entry records it: 'landlock-abi-N', or 'none' when
    trusted. Refused (SubmissionError naming --trust-plugin) where no sandbox can start."""
    if trusted:
        return "none"
    try:
        return f"landlock-abi-{sandbox.landlock_abi()}"
    except sandbox.SandboxUnavailable as e:
        raise SubmissionError(
            f"{what}: a plugin runs in a Landlock sandbox, and none can start here: {e}. "
            "--trust-plugin runs it in this process instead, where it can read everything this process "
            "can (the evaluation truth included): only for code you trust"
        ) from None


class InProcess:
    """A model factory run in this process (a trusted plugin), with `Sandbox`'s commands:
    fit and predict by key; the input of the dataset read last is kept."""

    def __init__(self, factory: Callable[[], object]):
        self.factory = factory
        self.fitted: dict = {}
        self._last: tuple = (None, None)

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.forget()

    def forget(self) -> None:
        self.fitted.clear()
        self._last = (None, None)

    def _input(self, ds, visibility: str, label_period: int | None) -> ModelInput:
        key = (id(ds), visibility, label_period)
        if self._last[0] != key:
            self._last = (None, None)
            self._last = (key, ModelInput(ds.view(visibility, label_period=label_period)))
        return self._last[1]

    def fit(self, key: int, ds, visibility: str, label_period: int | None, seed: int) -> None:
        try:
            model = self.factory()
            model.fit(self._input(ds, visibility, label_period), seed)  # type: ignore[attr-defined]
        except Exception as e:  # noqa: BLE001 - a failing plugin is a rejected submission
            raise PluginFailure(f"{type(e).__name__}: {e}") from None
        self.fitted[key] = model

    def predict(self, key: int, ds, visibility: str, label_period: int | None, where: str):
        try:
            return self.fitted[key].predict_scores(self._input(ds, visibility, label_period))
        except Exception as e:  # noqa: BLE001
            raise PluginFailure(f"{type(e).__name__}: {e}") from None


def _runner(plugin, datasets: dict, origin: str):
    """A Plugin sandboxed (or in this process when trusted); a bare model factory (a caller's
    own code, e.g. a test's) in this process."""
    if not isinstance(plugin, Plugin):
        return InProcess(plugin)
    if plugin.trusted:
        return InProcess(load_plugin(plugin.path, plugin.cls))
    sandbox_of(False, f"plugin {plugin.path}")
    return sandbox.Sandbox(plugin.path, plugin.cls, datasets, origin)


def groups(suite: Suite) -> dict[tuple, list[str]]:
    """(dataset, visibility, training period) -> the scenarios sharing one fit."""
    out: dict[tuple, list[str]] = {}
    for name, sc in suite.scenarios.items():
        out.setdefault((sc.dataset, sc.visibility, sc.train_period), []).append(name)
    return out


def task_scores(pred, task: str, n: int, origin: str) -> np.ndarray:
    """The score of every account 0..n-1 for a task, from a plugin's output; refused unless
    it is a DataFrame scoring each account exactly once with a finite number."""
    if not isinstance(pred, pd.DataFrame) or not {"account_id", "task", "score"} <= set(pred.columns):
        raise SubmissionError(f"{origin}: predict_scores must return a DataFrame (account_id, task, score)")
    p = pred[pred["task"] == task]
    acc = p["account_id"].to_numpy()
    try:
        score = p["score"].to_numpy(dtype=np.float64)
        acc = acc.astype(np.int64, casting="safe") if acc.dtype.kind in "iu" else None
    except (TypeError, ValueError):
        acc = None
    if acc is None:
        raise SubmissionError(f"{origin}: task '{task}': account_id must be integers and score numeric")
    ok = (acc >= 0) & (acc < n)
    if not ok.all() or len(acc) != n or (np.bincount(acc[ok], minlength=n) != 1).any():
        raise SubmissionError(f"{origin}: task '{task}': expected each of the {n} accounts scored exactly once")
    if not np.isfinite(score).all():
        raise SubmissionError(f"{origin}: task '{task}': {int((~np.isfinite(score)).sum())} NaN or infinite scores")
    out = np.empty(n)
    out[acc] = score
    return out


def run_plugin(
    plugin,
    suite: Suite,
    datasets: dict,
    fr: dict,
    seeds,
    origin: str,
    step: Callable[[str], None] = lambda _: None,
) -> list[Parts]:
    """Per seed, the raw scores of every part of every scenario (`fr`: scoring.frames), of a
    `Plugin` (sandboxed unless trusted) or a model factory (run in this process)."""
    per_seed: list[Parts] = [{} for _ in seeds]
    with _runner(plugin, datasets, origin) as models:
        for (dname, vis, period), names in groups(suite).items():
            ds = datasets[dname]
            n = ds.meta["rows"]["accounts"]
            ids = {name: _part_ids(ds, suite.scenarios[name], fr[name]) for name in names}
            for i, seed in enumerate(seeds):
                step(f"seed {seed}: fitting on {dname} ({vis}{f', period {period}' if period else ''})")
                where = f"{origin} (seed {seed}, {dname})"
                try:
                    models.fit(i, ds, vis, period, seed)
                    pred = models.predict(i, ds, vis, period, where)
                except PluginFailure as e:
                    raise SubmissionError(f"{origin}: seed {seed} failed on {dname}: {e}") from None
                for name in names:
                    val, test = ids[name]
                    for task in suite.scenarios[name].tasks:
                        s = task_scores(pred, task, n, where)
                        per_seed[i][(name, task)] = {"val": s[val], "test": s[test]}
            powered = [n for n in names if isinstance(fr[n], PoweredFrame)]
            if powered:
                _score_worlds(models, len(seeds), suite, datasets, fr, powered, vis, per_seed, origin, step)
            models.forget()
    return per_seed


def _part_ids(ds, sc, frame) -> tuple[np.ndarray, np.ndarray]:
    """Account ids of the `val` and `test` parts: for a powered scenario the test part
    holds the test split's negatives only (the AUROC's negatives)."""
    val, test = split_ids(ds, sc, "val"), split_ids(ds, sc, "test")
    if isinstance(frame, PoweredFrame):
        test = test[truth_for(ds, sc.tasks, test)[sc.tasks[0]] == 0]
    return val, test


def _score_worlds(models, k: int, suite: Suite, datasets: dict, fr: dict, names, vis: str, per_seed, origin, step):
    """The `k` fitted models score each evaluation world serving the group's dataset; the
    offenders of enriched worlds are kept, and of negative worlds only the negatives at or
    above the seed's lowest threshold (scoring.negative_cut)."""
    dataset = suite.scenarios[names[0]].dataset
    task = suite.scenarios[names[0]].tasks[0]
    worlds = suite.worlds_of(dataset, "enriched") + suite.worlds_of(dataset, "negative")
    for j, w in enumerate(worlds):
        wd = datasets[f"worlds/{w}"]
        role = suite.worlds[w].role
        step(f"scoring {role} world {w} ({j + 1}/{len(worlds)}, {vis}) with {k} fitted seed(s)")
        y = wd.truth_by_id(task)[task].astype(bool)
        for i in range(k):
            try:
                pred = models.predict(i, wd, vis, None, f"{origin} (world {w})")
            except PluginFailure as e:
                raise SubmissionError(f"{origin}: scoring world {w} failed: {e}") from None
            s = task_scores(pred, task, wd.meta["rows"]["accounts"], f"{origin} (world {w})")
            for name in names:
                parts = per_seed[i][(name, task)]
                if role == "enriched":
                    parts[f"pos/{w}"] = s[y]  # ids ascending: truth is indexed by account id
                else:
                    neg = s[~y]
                    parts[f"neg/{w}"] = neg[neg >= negative_cut(fr[name], parts["val"], suite.evaluation)]
