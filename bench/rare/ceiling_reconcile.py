"""The ceiling's reconciliation with the separability oracle (docs/design.md "Ceiling").

The ceiling reads TPR at a platform's FPR budgets; the separability oracle (`lowbase
inspect --separability`) reads an out-of-fold AUROC of one level against its matched benign
reference. Two figures on two scales from two pipelines cannot be compared unless they
share a world and a reference, so the ceiling's classes are also scored by AUROC, per
comparison of `bench.stats.references`, on the **reconciliation world**: the first TPR
world of the powered evaluation (`world_seed(seed, 'tpr', 0)`, the enriched scenario),
which no ceiling model trained on and no threshold was set on, and which the oracle is then
trained on out of fold. Where the oracle separates a level and the ceiling class does not
(against the same reference), the class or its training, not the metadata, is the limit.

The ceiling's AUROC is against the whole reference (its models were not trained here, so
nothing needs capping), the oracle's against the capped one it trains on. They are AUROCs of
two different scorers, each with its interval: the oracle trained out of fold on this very
world at visibility `full`, a ceiling class trained on other worlds at the ceiling's
visibility (so `lowbase ceiling --reconcile` runs at `full` only). Read side by side they
say whether the class falls short of what one learner on this world's truth can rank, not
that one estimates the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.rare.powered import PoweredPlan
from bench.rare.worlds import input_scores
from bench.setup.datasets import Step, cached_dataset
from bench.stats.rank_auroc import auroc_with_interval
from bench.stats.rates import Thresholds
from bench.stats.references import Comparison, comparisons
from data_gen import Scenario
from data_gen.reader import Dataset
from models.inputs import ModelInput


def _quiet(_: str) -> None:
    pass


def reconciliation_world(
    scn: Scenario, seed: int, plan: PoweredPlan, cache: Path, workers: int = 1, step: Step = _quiet
) -> Dataset:
    """The first TPR world `plan` reads for a run of `seed`, through the dataset cache: the
    powered evaluation left it there (an in-process, worker-process or local Dask source),
    else (a remote cluster's workers keep their own) it is generated again, byte for byte."""
    spec = next(s for s in plan.worlds(scn, seed) if s.role == "tpr")
    step(f"reconciliation world: the first TPR world (seed {spec.seed})")
    return cached_dataset(spec.scenario, spec.seed, Path(cache), workers, step)


def reconciled(comps: Sequence[Comparison], task: str = "groomer") -> list[Comparison]:
    """The comparisons the reconciliation reads: the task against benign, then each of its
    levels against its matched reference."""
    return [c for c in comps if c.name == task or c.name.startswith(f"{task}/")]


def comparison_aurocs(scores: np.ndarray, comps: Sequence[Comparison]) -> dict[str, dict]:
    """Per comparison, the AUROC of `scores` (one per account id) of its positives against
    its whole reference, with a 95% DeLong interval. A model's score has a direction, so the
    AUROC is as given (`orientation_free=False`): below 0.5 means it ranks the reference
    higher, never folded into a separation it does not make."""
    out = {}
    for c in comps:
        sep = auroc_with_interval(scores[c.positive], scores[c.reference], orientation_free=False)
        entry: dict = {"reference": c.reference_name, "n_positive": int(c.positive.sum())}
        entry["n_reference"] = int(c.reference.sum())
        if sep is not None:
            entry.update(auroc=sep.auroc, ci_low=sep.ci_low, ci_high=sep.ci_high)
        out[c.name] = entry
    return out


def reconcile(
    models: dict[str, object],
    points: dict[str, str],
    ds: Dataset,
    visibility: str,
    thresholds: dict[str, Thresholds],
    task: str = "groomer",
) -> dict:
    """Each class's largest curve point (`points`: class -> model name in `models`) scored
    on the reconciliation world `ds`, its AUROC per comparison (`comparison_aurocs`).
    JSON-ready (`bench.results.ceiling.ReconciliationRecord`). Refuses a world any of the
    models' thresholds was set on."""
    fp = ds.meta["fingerprint"]
    for t in thresholds.values():
        t.check_disjoint(fp)
    chosen = {cls: models[name] for cls, name in points.items()}
    scores = input_scores(chosen, ModelInput(ds.view(visibility)), task)
    comps = reconciled(comparisons(ds), task)
    return {
        "world": {"seed": int(ds.meta["seed"]), "fingerprint": fp},
        "points": dict(points),
        "models": {cls: comparison_aurocs(s, comps) for cls, s in scores.items()},
    }
