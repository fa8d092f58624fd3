"""Running a model over the suite: a built-in one by name, or a submitted plugin.

The plugin implements the model protocol (`models/protocol.py`: `fit(data, seed)` and
`predict_scores(data) -> account_id, task, score`). The harness fits it once per seed and
per (dataset, visibility, training period), so scenarios that share those share a fit,
and returns test scores per seed exactly as a predictions file would give them, so both
kinds of submission go through the same validation and scoring.
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
from models import ModelInput

from .submission import validate_predictions
from .suite import Suite, scored_ids, split_ids


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


def _groups(suite: Suite) -> dict[tuple, list[str]]:
    out: dict[tuple, list[str]] = {}
    for name, sc in suite.scenarios.items():
        out.setdefault((sc.dataset, sc.visibility, sc.train_period), []).append(name)
    return out


def run_over_seeds(
    factory: Callable[[], object], suite: Suite, datasets: dict, seeds, origin: str, step=lambda _: None
) -> tuple[list[dict], list[dict]]:
    """Per seed: test scores per (scenario, task), validated like a predictions file, and
    the validation-split scores (the figure a submitter may tune on). Features are built
    once per (dataset, visibility, period) and shared by the seeds."""
    rows: dict = {seed: [] for seed in seeds}
    vals: dict = {seed: {} for seed in seeds}
    for (dname, vis, period), names in _groups(suite).items():
        td = ModelInput(datasets[dname].view(vis, label_period=period))
        for seed in seeds:
            step(f"seed {seed}: fitting on {dname} ({vis}{f', period {period}' if period else ''})")
            model = factory()
            try:
                model.fit(td, seed)
                pred = model.predict_scores(td)
            except Exception as e:  # noqa: BLE001 - a failing plugin is a rejected submission
                raise SubmissionError(f"{origin}: failed on {dname}: {type(e).__name__}: {e}") from None
            if not isinstance(pred, pd.DataFrame) or not {"account_id", "task", "score"} <= set(pred.columns):
                raise SubmissionError(f"{origin}: predict_scores must return a DataFrame (account_id, task, score)")
            for name in names:
                sc = suite.scenarios[name]
                ids = scored_ids(datasets[dname], sc)
                part = pred[pred["task"].isin(sc.tasks) & pred["account_id"].isin(ids)]
                rows[seed].append(part.assign(scenario=name))
                vals[seed][name] = _val_scores(pred, split_ids(datasets[dname], sc, "val"), sc.tasks)
    tests = [
        validate_predictions(pd.concat(rows[seed], ignore_index=True), suite, datasets, f"{origin} (seed {seed})")
        for seed in seeds
    ]
    return tests, [vals[seed] for seed in seeds]


def _val_scores(pred: pd.DataFrame, ids: np.ndarray, tasks) -> dict[str, np.ndarray]:
    """Scores of the validation accounts per task, aligned with `ids`."""
    out = {}
    for task in tasks:
        p = pred[pred["task"] == task].set_index("account_id")["score"]
        out[task] = p.reindex(ids).to_numpy(dtype=np.float64)
    return out
