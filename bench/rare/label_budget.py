"""What decides a rare-harm figure, by label supply: the same model class refit on other human
labels of the same training world (docs/design.md "Decomposition").

- **training-world truth**: every train/val account labelled by its truth. Perfect labels,
  but only as many offenders as one training world holds (~100 at `quick`, ~20 of them
  personas): a label budget, not a ceiling. What the simulated behaviour allows at best
  comes from truth pooled over many worlds (`bench.rare.ceiling`, paper 7.2.6).
- **label budget k**: truth on every negative, but only k offenders labelled (split between
  train and val as the world splits them). How the figure moves with the number of
  labelled offenders a platform could afford (paper 7.2.5). A budget larger than the
  training world holds is not reachable there: it is reported as such, never padded.

Models never see truth; the benchmark builds these inputs on purpose. A model whose first
stage reads no human label (DEC: stage 1 trains on weak labels) offers `with_labels`, which
refits its second stage only and shares the first, so each variant costs its boosters
alone; any other model is refit whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bench.results import TRAINING_TRUTH
from models import make_model
from models.inputs import ModelInput

LABEL_BUDGETS = (10, 30, 100, 300)


@dataclass
class TruthInput(ModelInput):
    """An input whose human labels are truth on every train/val account, or, with `keep`,
    truth on the accounts `keep` marks (a label budget: all negatives and k positives)."""

    truth: dict = field(default_factory=dict)
    keep: np.ndarray | None = None  # bool per account id: which accounts carry a label

    def human(self, task: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        mine = self.split == split
        if self.keep is not None:
            mine &= self.keep
        acc = np.flatnonzero(mine)
        return acc, self.truth[task][acc].astype(np.int8)


def variant_order(names) -> list[str]:
    """Label variants in reading order: realistic labels, budgets by size, the training world's truth last
    (results.json sorts keys, which would put "100 labelled" before "30 labelled")."""

    def key(name: str):
        if name.endswith(" labelled") and name.split()[0].isdigit():
            return (1, int(name.split()[0]))
        return (2, 0) if name == TRAINING_TRUTH else (0, 0)

    return sorted(names, key=key)


def truth_input(data: ModelInput, truth: dict, keep: np.ndarray | None = None) -> TruthInput:
    """`data` relabelled by truth (on `keep` only, when given), sharing its built features."""
    return TruthInput(data.view, data.as_of, truth=truth, keep=keep).sharing(data)


def budget_keep(y: np.ndarray, split: np.ndarray, budget: int, seed: int) -> np.ndarray | None:
    """Which accounts carry a label under a budget of `budget` labelled offenders: every
    negative of train and val, and `budget` offenders drawn at random (seeded), split
    between train and val in the proportion the world has (at least one in each, so early
    stopping has a positive to read). None when the training world holds fewer offenders
    than the budget."""
    y = y.astype(bool)
    tr, va = np.flatnonzero(y & (split == "train")), np.flatnonzero(y & (split == "val"))
    if budget > len(tr) + len(va) or budget < 2 or not len(tr) or not len(va):
        return None
    n_va = min(len(va), max(1, round(budget * len(va) / (len(tr) + len(va)))))
    n_tr = budget - n_va
    if n_tr > len(tr):
        n_tr, n_va = len(tr), budget - len(tr)
    rng = np.random.default_rng([seed, budget])
    keep = ~y
    keep[rng.choice(tr, size=n_tr, replace=False)] = True
    keep[rng.choice(va, size=n_va, replace=False)] = True
    return keep


def scoring_only(model, task: str):
    """`model` reading only `task` where it can (`restricted`): evaluation worlds are scored
    for one task, and the other tasks' boosters would only cost time."""
    return model.restricted((task,)) if hasattr(model, "restricted") else model


def relabelled(name: str, model, data: ModelInput, seed: int, task: str):
    """`model` (of class `name`) as it would be with `data`'s human labels for `task`."""
    if hasattr(model, "with_labels"):
        return model.with_labels(data, seed, (task,))
    m = make_model(name)
    m.fit(data, seed)
    return m


def label_variants(
    name: str,
    model,
    data: ModelInput,
    truth: dict,
    seed: int,
    task: str = "groomer",
    budgets=LABEL_BUDGETS,
    step=lambda _: None,
) -> tuple[dict, dict]:
    """The training world's truth (every train/val account labelled by it: a label budget of
    the offenders one world holds) and one model per reachable label budget, beside `model` (realistic
    labels). Returns (variants by label, what each was trained on: labelled offenders in
    train and val, or why a budget was not reachable)."""
    y, split = truth[task], data.split
    variants, supply = {}, {}
    step(f"training-world truth: {name} with truth labels")
    variants[TRAINING_TRUTH] = relabelled(name, model, truth_input(data, truth), seed, task)
    supply[TRAINING_TRUTH] = _counts(y, split, None)
    for k in budgets:
        label = f"{k} labelled"
        keep = budget_keep(y, split, k, seed)
        if keep is None:
            supply[label] = {"reachable": False, "offenders_in_world": int(_counts(y, split, None)["total"])}
            continue
        step(f"label budget: {name} with {k} labelled offenders")
        variants[label] = relabelled(name, model, truth_input(data, truth, keep), seed, task)
        supply[label] = _counts(y, split, keep)
    return variants, supply


def _counts(y: np.ndarray, split: np.ndarray, keep: np.ndarray | None) -> dict:
    pos = y.astype(bool) if keep is None else y.astype(bool) & keep
    tr, va = int((pos & (split == "train")).sum()), int((pos & (split == "val")).sum())
    return {"reachable": True, "train": tr, "val": va, "total": tr + va}


def realistic_supply(data: ModelInput, task: str = "groomer") -> dict:
    """How many offenders the human labels of the training world hold (and how many
    labelled accounts in all): the realistic budget the other variants are read beside."""
    out: dict[str, bool | int] = {"reachable": True}
    for split in ("train", "val"):
        _, lab = data.human(task, split)
        out[split] = int(lab.sum())
        out[f"{split}_labelled"] = len(lab)
    out["total"] = out["train"] + out["val"]
    return out
