"""Arrays indexed by account id: a model's scores per task, truth columns, the test split.

Every analysis of a world reads its accounts this way, so one lookup serves them all."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa


def scores_by_account(pred, tasks: Iterable[str], n: int) -> dict[str, np.ndarray]:
    """Per task, the score of every account (indexed by account id; 0 where unscored)."""
    out = {}
    for task in tasks:
        p = pred[pred["task"] == task]
        s = np.zeros(n)
        s[p["account_id"].to_numpy()] = p["score"].to_numpy()
        out[task] = s
    return out


def truth_columns(ds, *columns: str) -> dict[str, np.ndarray]:
    """Truth columns indexed by account id, from one read of the table."""
    t = ds.table("truth", ["account_id", *columns])
    ids = t["account_id"].to_numpy()
    out = {}
    for column in columns:
        out[column] = np.zeros(t.num_rows, dtype=t.schema.field(column).type.to_pandas_dtype())
        out[column][ids] = t[column].to_numpy()
    return out


def in_test_split(ds) -> np.ndarray:
    """True for test-split accounts, indexed by account id (no model-side labels needed)."""
    t = ds.table("splits", ["account_id", "split"])
    out = np.zeros(t.num_rows, dtype=bool)
    out[t["account_id"].to_numpy()] = np.asarray(t["split"].cast(pa.string())) == "test"
    return out
