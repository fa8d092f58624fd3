"""Running a model over the suite: a submitted plugin (the built-in entries are plugins too).

The plugin implements the model protocol (`models/protocol.py`: `fit(data, seed)` and
`predict_scores(data) -> account_id, task, score`). The harness fits it once per seed and
per (dataset, visibility, training period), so scenarios that share those share a fit, and
collects, per seed, the parts each scenario's figures need (scoring.py): the validation and
test splits of the training dataset and, for a powered scenario, the offenders of each
enriched world and the highest-scoring negatives of each negative world. A model is
inductive: the fitted models of all seeds score each evaluation world, whose features are
built once per visibility and then dropped, so memory holds one world at a time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import SubmissionError
from bench.leaderboard.scoring import PoweredFrame, negative_cut
from bench.leaderboard.store import Parts
from bench.leaderboard.suite import Suite, split_ids, truth_for
from models import ModelInput


def load_plugin(path: Path, cls: str) -> Callable[[], object]:
    """The plugin class from its file. Importing runs the submitter's code: the harness is
    for code you are willing to run, as with any model you train."""
    name = f"lowbase_plugin_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SubmissionError(f"plugin {path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - any failure of foreign code is the submission's
        raise SubmissionError(f"plugin {path}: import failed: {type(e).__name__}: {e}") from None
    klass = getattr(module, cls, None)
    if klass is None:
        raise SubmissionError(f"plugin {path}: no class '{cls}'")
    missing = [m for m in ("fit", "predict_scores") if not callable(getattr(klass, m, None))]
    if missing:
        raise SubmissionError(f"plugin {path}:{cls}: missing method(s) {', '.join(missing)} of the model protocol")
    return klass


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
    factory: Callable[[], object],
    suite: Suite,
    datasets: dict,
    fr: dict,
    seeds,
    origin: str,
    step: Callable[[str], None] = lambda _: None,
) -> list[Parts]:
    """Per seed, the raw scores of every part of every scenario (`fr`: scoring.frames)."""
    per_seed: list[Parts] = [{} for _ in seeds]
    for (dname, vis, period), names in groups(suite).items():
        ds = datasets[dname]
        td = ModelInput(ds.view(vis, label_period=period))
        ids = {name: _part_ids(ds, suite.scenarios[name], fr[name]) for name in names}
        fitted = {}
        for i, seed in enumerate(seeds):
            step(f"seed {seed}: fitting on {dname} ({vis}{f', period {period}' if period else ''})")
            model = factory()
            try:
                model.fit(td, seed)
                pred = model.predict_scores(td)
            except Exception as e:  # noqa: BLE001 - a failing plugin is a rejected submission
                raise SubmissionError(f"{origin}: seed {seed} failed on {dname}: {type(e).__name__}: {e}") from None
            for name in names:
                val, test = ids[name]
                for task in suite.scenarios[name].tasks:
                    s = task_scores(pred, task, td.n, f"{origin} (seed {seed}, {dname})")
                    per_seed[i][(name, task)] = {"val": s[val], "test": s[test]}
            fitted[i] = model
        powered = [n for n in names if isinstance(fr[n], PoweredFrame)]
        if powered:
            _score_worlds(fitted, suite, datasets, fr, powered, vis, per_seed, origin, step)
    return per_seed


def _part_ids(ds, sc, frame) -> tuple[np.ndarray, np.ndarray]:
    """Account ids of the `val` and `test` parts: for a powered scenario the test part
    holds the test split's negatives only (the AUROC's negatives)."""
    val, test = split_ids(ds, sc, "val"), split_ids(ds, sc, "test")
    if isinstance(frame, PoweredFrame):
        test = test[truth_for(ds, sc.tasks, test)[sc.tasks[0]] == 0]
    return val, test


def _score_worlds(fitted: dict, suite: Suite, datasets: dict, fr: dict, names, vis: str, per_seed, origin, step):
    """Every fitted model scores each evaluation world serving the group's dataset; the
    offenders of enriched worlds are kept, and of negative worlds only the negatives at or
    above the seed's lowest threshold (scoring.negative_cut)."""
    dataset = suite.scenarios[names[0]].dataset
    task = suite.scenarios[names[0]].tasks[0]
    worlds = suite.worlds_of(dataset, "enriched") + suite.worlds_of(dataset, "negative")
    for j, w in enumerate(worlds):
        wd = datasets[f"worlds/{w}"]
        role = suite.worlds[w].role
        step(f"scoring {role} world {w} ({j + 1}/{len(worlds)}, {vis}) with {len(fitted)} fitted seed(s)")
        data = ModelInput(wd.view(vis))
        y = wd.truth_by_id(task)[task].astype(bool)
        for i, model in fitted.items():
            try:
                pred = model.predict_scores(data)
            except Exception as e:  # noqa: BLE001
                raise SubmissionError(f"{origin}: scoring world {w} failed: {type(e).__name__}: {e}") from None
            s = task_scores(pred, task, data.n, f"{origin} (world {w})")
            for name in names:
                parts = per_seed[i][(name, task)]
                if role == "enriched":
                    parts[f"pos/{w}"] = s[y]  # ids ascending: truth is indexed by account id
                else:
                    neg = s[~y]
                    parts[f"neg/{w}"] = neg[neg >= negative_cut(fr[name], parts["val"], suite.evaluation)]
        del data
