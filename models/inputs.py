"""What a model reads, to fit or to score: features, splits and the two kinds of labels,
from one view.

Models never see `truth`; supervision is the platform's own: human labels (a small,
biased reviewed sample, DEC stage 2) and weak rule labels (cheap and noisy, DEC stage 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Self

import numpy as np
import pyarrow.compute as pc

from data_gen.reader import split_names
from models.features import Features, build_features


def _strings(col) -> np.ndarray:
    return np.asarray(pc.cast(col, "string").to_pylist(), dtype=object)


@dataclass
class ModelInput:
    """One view of one dataset as a model sees it; features are built once, on first use."""

    view: object  # data_gen ObservableView
    as_of: int | None = None
    # What a model derives from these features and may reuse while this input lives (DEC's
    # stage-2 input, keyed by the stage-1 network that made it): models that share a first
    # stage then share its cost on every world they score.
    memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def sharing(self, other: ModelInput) -> Self:
        """This input with `other`'s features, splits, weak labels and memo already built
        (both must be views of the same world): a relabelled input (different human labels,
        same data) costs no second feature build."""
        if other.view.fingerprint != self.view.fingerprint or other.as_of != self.as_of:
            raise ValueError("sharing: inputs of different worlds or cut-offs")
        for name in ("features", "split", "period", "weak_matrix", "memo"):
            if name in other.__dict__:
                self.__dict__[name] = other.__dict__[name]
        return self

    @property
    def label_period(self) -> int | None:
        """Train on one period only (drift analysis, paper 7.2.4), as the view was made:
        accounts of other periods are put in no split and the view withholds their human
        labels, so no label of theirs reaches fit(); they are still scored."""
        return self.view.label_period

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.view.tasks

    @property
    def n(self) -> int:
        return self.view.n_accounts

    @cached_property
    def features(self) -> Features:
        return build_features(self.view, self.as_of)

    @cached_property
    def split(self) -> np.ndarray:
        """Split name per account_id."""
        out = split_names(self.view.table("splits", ["account_id", "split"]), self.n)
        if self.label_period is not None:
            out[self.period != self.label_period] = "none"
        return out

    @cached_property
    def period(self) -> np.ndarray:
        """Period (1 or 2) per account_id."""
        sp = self.view.table("splits", ["account_id", "period"])
        out = np.ones(self.n, dtype=np.int8)
        out[sp["account_id"].to_numpy()] = sp["period"].to_numpy()
        return out

    def _labels(self, table: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = self.view.table(table)
        return t["account_id"].to_numpy(), _strings(t["task"]), t["label"].to_numpy()

    def human(self, task: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(account ids, 0/1 labels) of the human labels for `task` in `split`."""
        acc, tasks, label = self._labels("human_labels")
        keep = (tasks == task) & (self.split[acc] == split)
        return acc[keep], label[keep].astype(np.int8)

    @cached_property
    def weak_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(targets, mask) of shape (n, tasks): the mean weak label per account and task
        where any weak labeler spoke, for the masked multi-task loss of DEC stage 1."""
        acc, tasks, label = self._labels("weak_labels")
        k = len(self.tasks)
        col = np.array([self.tasks.index(t) if t in self.tasks else -1 for t in tasks], dtype=np.int64)
        ok = col >= 0
        flat = acc[ok] * k + col[ok]
        total = np.bincount(flat, weights=label[ok].astype(np.float64), minlength=self.n * k)
        count = np.bincount(flat, minlength=self.n * k)
        mask = (count > 0).reshape(self.n, k)
        target = np.divide(total, count, out=np.zeros_like(total), where=count > 0).reshape(self.n, k)
        return target.astype(np.float32), mask
