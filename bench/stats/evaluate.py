"""The one scorer used by `lowbase evaluate`, `lowbase run` and the leaderboard (OGB-style:
validate the input completely, then score).

Predictions are `account_id, task, score` rows. A model may score only some of the
dataset's tasks (one model for one harm is the common case): the tasks present are scored,
each of them must cover every test-split account, and `unscored_tasks` names the rest.
Anything else is refused with a message naming the problem.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.errors import PredictionsError
from bench.stats.metrics import evaluate_task
from data_gen.reader import Dataset

COLUMNS = ("account_id", "task", "score")


def read_predictions(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"{path}: no such file")
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            _unique_columns(path, table.column_names)
            return table.to_pandas()
        if path.suffix == ".csv":
            # pandas renames a repeated header ("score", "score.1") and would score the
            # first copy without a word: the header is read as written first.
            with open(path, newline="", encoding="utf-8") as f:
                _unique_columns(path, next(csv.reader(f), []))
            return pd.read_csv(path)
    except (pa.ArrowInvalid, OSError, pd.errors.ParserError, UnicodeDecodeError, csv.Error) as err:
        raise PredictionsError(f"{path}: unreadable ({err})") from None
    raise PredictionsError(f"{path}: expected a .parquet or .csv file")


def _unique_columns(path: Path, names: list[str]) -> None:
    seen = [n for i, n in enumerate(names) if n in names[:i]]
    if seen:
        raise PredictionsError(f"{path}: column(s) {', '.join(sorted(set(seen)))} appear more than once")


def heldout_truth(ds: Dataset) -> pd.DataFrame:
    """Truth for the test split: account_id (ascending) and one column per task."""
    test, truth = ds.split_ids("test"), ds.truth_by_id(*ds.tasks)
    return pd.DataFrame({"account_id": test, **{task: truth[task][test] for task in ds.tasks}})


def validate(pred: pd.DataFrame, ds: Dataset, test_ids: np.ndarray, origin: str = "predictions") -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in pred.columns]
    if missing:
        raise PredictionsError(f"{origin}: missing column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)})")
    if pred.empty:
        raise PredictionsError(f"{origin}: no rows (expected {', '.join(COLUMNS)} for the test accounts)")
    pred = pred[list(COLUMNS)].copy()
    if not pd.api.types.is_integer_dtype(pred["account_id"]):
        raise PredictionsError(f"{origin}: account_id must be integers")
    try:
        pred["score"] = pred["score"].astype(np.float64)
    except (TypeError, ValueError):
        raise PredictionsError(f"{origin}: score must be numeric") from None
    if not np.isfinite(pred["score"].to_numpy()).all():
        raise PredictionsError(f"{origin}: score holds NaN or infinite values")
    pred["task"] = pred["task"].astype(str)
    unknown = sorted(set(pred["task"]) - set(ds.tasks))
    if unknown:
        raise PredictionsError(f"{origin}: unknown task(s) {', '.join(unknown[:5])} (expected {', '.join(ds.tasks)})")
    n = ds.meta["rows"]["accounts"]
    ids = pred["account_id"].to_numpy()
    if ((ids < 0) | (ids >= n)).any():
        raise PredictionsError(f"{origin}: account_id outside 0..{n - 1}")
    if pred.duplicated(["account_id", "task"]).any():
        raise PredictionsError(f"{origin}: duplicate (account_id, task) rows")
    pred = pred[pred["account_id"].isin(test_ids)]
    tasks = scored_tasks(pred, ds)
    if not tasks:
        expected = ", ".join(ds.tasks)
        raise PredictionsError(f"{origin}: scores no test account for any task (expected some of {expected})")
    for task in tasks:
        have = pred.loc[pred["task"] == task, "account_id"]
        if len(have) != len(test_ids):
            raise PredictionsError(f"{origin}: task '{task}' scores {len(have)} of the {len(test_ids)} test accounts")
    return pred


def scored_tasks(pred: pd.DataFrame, ds: Dataset) -> list[str]:
    """The dataset's tasks the predictions score, in the dataset's order."""
    present = set(pred["task"].astype(str))
    return [t for t in ds.tasks if t in present]


def unscored_tasks(result: dict, ds: Dataset) -> list[str]:
    """The dataset's tasks an `evaluate` result has no figures for."""
    return [t for t in ds.tasks if t not in result]


def evaluate(pred: pd.DataFrame, ds: Dataset, n_resamples: int = 200, origin: str = "predictions") -> dict:
    """Per task scored, on the test split: every metric with its interval and counts."""
    truth = heldout_truth(ds)
    pred = validate(pred, ds, truth["account_id"].to_numpy(), origin)
    out = {}
    for task in scored_tasks(pred, ds):
        p = pred[pred["task"] == task].set_index("account_id")["score"]
        score = p.loc[truth["account_id"]].to_numpy()
        out[task] = evaluate_task(truth[task].to_numpy(), score, n_resamples=n_resamples)
    return out
