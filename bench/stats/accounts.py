"""A model's scores per task as arrays indexed by account id: every analysis of a world reads
its accounts this way, beside the world's own `Dataset.truth_by_id` and `Dataset.split_mask`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def scores_by_account(pred, tasks: Iterable[str], n: int) -> dict[str, np.ndarray]:
    """Per task, the score of every account (indexed by account id; 0 where unscored)."""
    out = {}
    for task in tasks:
        p = pred[pred["task"] == task]
        s = np.zeros(n)
        s[p["account_id"].to_numpy()] = p["score"].to_numpy()
        out[task] = s
    return out
