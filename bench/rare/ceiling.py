"""The ceiling: what the simulated metadata allows for each offender level at a platform's
operating points, from enough truth to know (docs/design.md "Ceiling").

A run's training-world truth variant is its model class refit on the truth of the one
training world: ~100 offenders at `quick`, ~20 of them personas, so a label budget, not a
ceiling. Here the benchmark's strongest model classes train on truth pooled from several
fresh **enriched training worlds** (groomer rate 1e-2, uniform level mix, seeds of their own
role, so never a run's training, TPR or FPR world), enough for `min_per_level` labelled
offenders per level:

- **Pooling**: the worlds' model inputs stacked row-wise (`PooledInput`): each world's
  features are built on its own graph, then the rows are concatenated, with truth as the
  human labels of the task (paper 7.2.5 taken out of the way on purpose) and the worlds'
  own splits. DEC's stage 1 trains on the pooled weak labels, as it would on one world;
  stage 2 on truth. Each curve point refits stage 2 only for DEC, the whole model for others.
- **Thresholds** at the FPR budgets are set on a **calibration world**: a fresh world at the
  scenario's own rate that no model trained on and no rate is read on, whole (its negatives
  are the population the FPR budget is about, paper 7.2.3).
- **Rates**: TPR per level on enriched worlds and FPR pooled over negative worlds, by the
  powered evaluation itself (`bench.rare.powered`), with exact intervals: the worlds a run
  of the same seed reads when the plan's TPR worlds, negatives and enriched rate are the
  run's (`CeilingPlan.powered`), so a run's figures and the ceiling are then paired.
- **Learning curve** per class (`bench.rare.learning_curve`): the TPR per level against
  labelled offenders, and the plateau rule's verdict per level.
- **Reconciliation** (`bench.rare.ceiling_reconcile`): each class's largest point scored by
  AUROC per matched comparison on the first TPR world, to be read beside the separability
  oracle on that world (`lowbase ceiling --reconcile`).

The ceiling of a level at a budget is the best class's TPR at its largest point, picked on
the worlds it is read on (a maximum over classes: slightly optimistic). Results are cached
in the work directory by `ceiling_key`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import RunConfigError
from bench.rare.ceiling_reconcile import reconcile, reconciliation_world
from bench.rare.label_budget import relabelled, scoring_only
from bench.rare.learning_curve import (
    CURVE,
    best_per_level,
    class_curve,
    curve_keep,
    curve_sizes,
    pool_counts,
    quotas,
)
from bench.rare.powered import ENRICHED_RATE, Calibrated, PoweredPlan, enriched, powered_evaluation, world_seed
from bench.rare.worlds import DaskWorlds, LocalWorlds, ProcessWorlds, input_scores, models_blob
from bench.results.ceiling import (
    CEILING_ENRICHED_RATE,
    CEILING_FPR_ACCOUNTS,
    CEILING_TPR_WORLDS,
    CeilingRecord,
    LevelCeiling,
    curve_name,
    paired_worlds,
)
from bench.setup.datasets import Step, cached_dataset
from bench.stats.rates import FPR_BUDGETS, TARGET_PRECISIONS, Tally, budget_name, validation_thresholds
from common import kernels
from common.files import write_json_atomic
from common.vocabulary import SOPHISTICATION_LEVELS
from data_gen import GENERATOR_VERSION, Scenario
from data_gen.reader import Dataset, split_names
from models import make_model
from models.features import Features, build_features
from models.inputs import ModelInput

CEILING_MODELS = ("dec", "gbdt-raw")
MIN_PER_LEVEL = 1000
CEILING_BUDGETS = (1e-3, 1e-4)
WHOLE_WORLD = "whole world"  # the calibration world's split: thresholds are set on all of it
MAX_EXTRA_WORLDS = 8  # training worlds added past the planned count before giving up


def _quiet(_: str) -> None:
    pass


@dataclass
class PooledInput(ModelInput):
    """Several worlds of one scenario as one model input: rows stacked in world order, each
    world's features built on its own graph; the human labels of `truth`'s task are its
    truth on the train/val accounts `keep` marks (all of them when None); a task without
    truth here has no human label, so no model fits it."""

    views: tuple = ()
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    level: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    keep: np.ndarray | None = None

    @classmethod
    def of(cls, worlds: Sequence[Dataset], visibility: str, task: str = "groomer") -> PooledInput:
        views = tuple(ds.view(visibility) for ds in worlds)
        truth = [ds.truth_by_id(task, "sophistication") for ds in worlds]
        y = np.concatenate([t[task] for t in truth]).astype(bool)
        level = np.where(y, np.concatenate([t["sophistication"] for t in truth]), -1).astype(np.int64)
        return cls(views[0], None, views=views, truth={task: y}, level=level)

    @property
    def n(self) -> int:
        return sum(v.n_accounts for v in self.views)

    @cached_property
    def features(self) -> Features:
        """Each world's features written into one matrix and dropped: the pool's matrix
        plus one world's, never two copies of the pool."""
        first = build_features(self.views[0])
        x = np.empty((self.n, first.X.shape[1]), dtype=np.float32)
        x[: len(first.X)], at, names = first.X, len(first.X), first.names
        del first
        for v in self.views[1:]:
            f = build_features(v)
            if f.names != names:
                raise ValueError("pooled worlds: feature schemas differ")
            x[at : at + len(f.X)] = f.X
            at += len(f.X)
            del f
        return Features(names, x)

    @cached_property
    def split(self) -> np.ndarray:
        return np.concatenate([ModelInput(v).split for v in self.views])

    @cached_property
    def period(self) -> np.ndarray:
        return np.concatenate([ModelInput(v).period for v in self.views])

    @cached_property
    def weak_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        parts = [ModelInput(v).weak_matrix for v in self.views]
        return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])

    def human(self, task: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        if task not in self.truth:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8)
        mine = self.split == split
        if self.keep is not None:
            mine &= self.keep
        acc = np.flatnonzero(mine)
        return acc, self.truth[task][acc].astype(np.int8)

    def labelled(self, keep: np.ndarray | None) -> PooledInput:
        """The same pool labelled on `keep` only, sharing its features, splits, weak labels
        and memo (DEC's embedding is computed once for every curve point)."""
        out = PooledInput(self.view, None, views=self.views, truth=self.truth, level=self.level, keep=keep)
        return out.sharing(self)


PLAN_MARGIN_SD = 3.0  # planned worlds hold `min_per_level` even 3 standard deviations below expectation


def per_world(scn: Scenario, rate: float) -> float:
    """Offenders per level expected in one enriched training world's train + val: accounts
    x rate x a quarter (uniform mix) x the train + val share."""
    return scn.accounts * rate / len(SOPHISTICATION_LEVELS) * (scn.splits.train + scn.splits.val)


def planned_worlds(scn: Scenario, min_per_level: int, rate: float) -> int:
    """The fewest enriched training worlds whose expected offenders per level in train +
    val, less `PLAN_MARGIN_SD` standard deviations (a level's count is near Poisson: its sd
    is the square root of its expectation), still reach `min_per_level`. Planning on the
    expectation alone would leave a level short about half the time, and each shortfall
    costs a whole extra world; `training_worlds` still adds one in the rare case left."""
    e = per_world(scn, rate)
    root = (PLAN_MARGIN_SD + math.sqrt(PLAN_MARGIN_SD**2 + 4 * min_per_level)) / 2  # x - 3 sqrt(x) = m at x = root^2
    k = max(1, math.ceil(root**2 / e))
    while k > 1 and (k - 1) * e - PLAN_MARGIN_SD * math.sqrt((k - 1) * e) >= min_per_level:
        k -= 1  # rounding in the closed form: never one world more than needed
    while k * e - PLAN_MARGIN_SD * math.sqrt(k * e) < min_per_level:
        k += 1
    return k


def training_worlds(
    scn: Scenario, seed: int, min_per_level: int, cache: Path, workers: int = 1, step: Step = _quiet
) -> list[Dataset]:
    """Enriched training worlds of their own seeds (`world_seed(seed, 'ceiling-train', i)`),
    through the dataset cache, until every level holds `min_per_level` offenders in train +
    val: the planned count first, then one more at a time (a few beyond the plan at most)."""
    rich = enriched(scn, ENRICHED_RATE)
    k = planned_worlds(scn, min_per_level, rich.harm.groomer_rate)
    worlds: list[Dataset] = []
    held = dict.fromkeys(SOPHISTICATION_LEVELS, 0)
    while len(worlds) < k or min(held.values()) < min_per_level:
        if len(worlds) >= k + MAX_EXTRA_WORLDS:
            raise RunConfigError(
                f"ceiling: {len(worlds)} training worlds hold {held} offenders, fewer than {min_per_level} per level"
            )
        step(f"ceiling training world {len(worlds) + 1}/{max(k, len(worlds) + 1)}")
        ds = cached_dataset(rich, world_seed(seed, "ceiling-train", len(worlds)), cache, workers, step)
        truth = ds.truth_by_id("groomer", "sophistication")
        split = split_names(ds.table("splits", ["account_id", "split"]), len(truth["groomer"]))
        got = pool_counts(truth["groomer"], truth["sophistication"], split)
        held = {lvl: held[lvl] + got[lvl] for lvl in held}
        worlds.append(ds)
    return worlds


def calibration_world(scn: Scenario, seed: int, cache: Path, workers: int = 1, step: Step = _quiet) -> Dataset:
    """The world thresholds are set on: the scenario at its own rate, a seed of its own."""
    step("ceiling calibration world (the scenario's own rate)")
    return cached_dataset(scn, world_seed(seed, "ceiling-calibration", 0), cache, workers, step)


def train_curve(
    name: str, pooled: PooledInput, sizes: Sequence[int], seed: int, task: str = "groomer", step: Step = _quiet
) -> dict[str, object]:
    """One model of class `name` per curve size, keyed by `curve_name`: the whole pool's
    truth at the largest size, a nested uniform draw (`curve_keep`) at each other. DEC's
    stage 1 reads the pool's weak labels once; its points refit stage 2 only."""
    step(f"ceiling: {name} on the pool's truth ({sizes[-1]:,} offenders)")
    full = make_model(name)
    full.fit(pooled, seed)
    out = {curve_name(name, sizes[-1]): scoring_only(full, task)}
    for size in sizes[:-1]:
        step(f"ceiling: {name} on {size:,} labelled offenders")
        keep = curve_keep(pooled.truth[task], pooled.level, pooled.split, size, seed)
        out[curve_name(name, size)] = scoring_only(relabelled(name, full, pooled.labelled(keep), seed, task), task)
    return out


def calibrated_on(models: dict, calib: Dataset, visibility: str, task: str = "groomer") -> Calibrated:
    """Thresholds per model on the whole calibration world (`WHOLE_WORLD`: it is never
    scored again, `Thresholds.check_disjoint` refuses it). The ceiling has no test split of
    its own to report beside them: its rates are the powered evaluation's."""
    data = ModelInput(calib.view(visibility))
    y = calib.truth_by_id(task)[task].astype(bool)
    fp = calib.meta["fingerprint"]
    k = len(FPR_BUDGETS) + len(TARGET_PRECISIONS)
    thr = {
        name: validation_thresholds(y, s, fp, WHOLE_WORLD, FPR_BUDGETS, TARGET_PRECISIONS)
        for name, s in input_scores(models, data, task).items()
    }
    empty = {name: Tally.empty(k) for name in thr}
    return Calibrated(thr, empty, dict(empty), {"fingerprint": fp, "seed": int(calib.meta["seed"])})


def ceiling_key(scn: Scenario, visibility: str, seed: int, settings: dict, generator: str = GENERATOR_VERSION) -> str:
    """What decides a ceiling's numbers: the generator, the scenario, the visibility, the
    seed and the settings (models, curve points, labelled offenders per level, worlds)."""
    blob = {"generator": generator, "scenario": scn.model_dump(), "visibility": visibility, "seed": seed,
            "settings": settings}  # fmt: skip
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def cache_path(workdir: Path, scn: Scenario, visibility: str, seed: int, key: str) -> Path:
    return Path(workdir) / "ceilings" / f"{scn.name}-{visibility}-s{seed}-{key}.json"


@dataclass(frozen=True)
class CeilingPlan:
    """What a ceiling computes: model classes, curve points (labelled offenders), labelled
    offenders per level in the pool, enriched TPR worlds, negatives for the FPR and the
    groomer rate of the TPR worlds (a run's `enriched_rate`; the training worlds stay at
    the default rate, they are the ceiling's own)."""

    visibility: str = "full"
    models: tuple[str, ...] = CEILING_MODELS
    curve: tuple[int, ...] = CURVE
    min_per_level: int = MIN_PER_LEVEL
    tpr_worlds: int = CEILING_TPR_WORLDS
    fpr_accounts: int = CEILING_FPR_ACCOUNTS
    task: str = "groomer"
    enriched_rate: float = CEILING_ENRICHED_RATE

    def settings(self) -> dict:
        """What the cache key reads. The enriched rate only where it is not the default: a
        ceiling at the default rate has the key of the settings without it, which cached
        default ceilings are filed under."""
        out = {"models": list(self.models), "curve": list(self.curve), "min_per_level": self.min_per_level,
               "tpr_worlds": self.tpr_worlds, "fpr_accounts": self.fpr_accounts, "task": self.task}  # fmt: skip
        if self.enriched_rate != CEILING_ENRICHED_RATE:
            out["enriched_rate"] = self.enriched_rate
        if "dec" in self.models:
            out.update(kernels.key_fields())  # DEC's figures are the kernels' (common.kernels)
        return out

    def powered(self) -> PoweredPlan:
        """The powered evaluation's plan: the worlds a run of the same seed reads when its
        TPR worlds, negatives and enriched rate are these."""
        return PoweredPlan(self.visibility, self.task, self.tpr_worlds, self.fpr_accounts, self.enriched_rate)

    def worlds(self, scn: Scenario) -> list[dict]:
        """What the ceiling of `scn` will generate and score, before any of it is done: per
        role the worlds, their accounts and the offenders per level expected in them (the
        planned training worlds; more are added only if a draw falls short). The numbers a
        user needs to size a ceiling at a scale not yet run (`lowbase ceiling --plan`). The
        training worlds' counts are expectations; `planned_worlds` leaves them a margin."""
        levels = len(SOPHISTICATION_LEVELS)
        train = [per_world(scn, ENRICHED_RATE)] * levels
        uniform = [scn.accounts * self.enriched_rate / levels] * levels
        own = [scn.accounts * scn.harm.groomer_rate * m for m in scn.harm.sophistication_mix]
        k = planned_worlds(scn, self.min_per_level, ENRICHED_RATE)
        n_fpr = sum(w.role == "fpr" for w in self.powered().worlds(scn, 0))
        return [
            {"role": "training (enriched, pooled; train + val)", "worlds": k, "accounts": k * scn.accounts,
             "offenders_per_level": [k * x for x in train]},
            {"role": "calibration (scenario rate)", "worlds": 1, "accounts": scn.accounts, "offenders_per_level": own},
            {"role": "TPR (enriched)", "worlds": self.tpr_worlds, "accounts": self.tpr_worlds * scn.accounts,
             "offenders_per_level": [self.tpr_worlds * x for x in uniform]},
            {"role": "FPR (scenario rate)", "worlds": n_fpr, "accounts": n_fpr * scn.accounts,
             "offenders_per_level": [n_fpr * x for x in own]},
        ]  # fmt: skip


@dataclass(frozen=True)
class DaskWorkers:
    """A connected Dask client for the evaluation worlds (`--dask`), and whether its workers
    share this machine's disk (a local cluster: worlds under the work directory, enriched
    ones in its dataset cache) or not (a remote one: each worker's temporary directory).
    Never part of a ceiling's key: any source gives the same counts."""

    client: Any
    local: bool


def check_worlds_disjoint(worlds: dict, reconciliation: dict | None = None) -> None:
    """No world plays two roles: training, calibration (thresholds), TPR and FPR worlds
    are all different worlds, so no figure is read on data a model or threshold saw. The
    reconciliation world, when given, must be one of the TPR worlds: scored, never trained
    or calibrated on."""
    roles = {
        "train": [w["fingerprint"] for w in worlds["train"]],
        "calibration": [worlds["calibration"]["fingerprint"]],
        "tpr": [w["fingerprint"] for w in worlds["tpr"]],
        "fpr": [w["fingerprint"] for w in worlds["fpr"]],
    }
    seen: dict[str, str] = {}
    for role, fps in roles.items():
        for fp in fps:
            if seen.get(fp, role) != role:
                raise ValueError(f"ceiling: world {fp[:16]} is both a {seen[fp]} and a {role} world")
            seen[fp] = role
    rec = None if reconciliation is None else reconciliation["fingerprint"]
    if rec is not None and seen.get(rec) != "tpr":
        what = f"a {seen[rec]} world" if rec in seen else "none of its worlds"
        raise ValueError(f"ceiling: the reconciliation world {rec[:16]} is {what}, not a TPR world")


def _world_log(ds: Dataset) -> dict:
    return {"seed": int(ds.meta["seed"]), "fingerprint": ds.meta["fingerprint"]}


def _evaluate(models: dict, cal: Calibrated, scn: Scenario, seed: int, plan: CeilingPlan, work: Path, jobs: int,
              workers: int, step: Step, dask: DaskWorkers | None = None) -> dict:  # fmt: skip
    return evaluate_models(models, cal, scn, seed, plan.powered(), work, jobs, workers, step, dask)


def evaluate_models(models: dict, cal: Calibrated, scn: Scenario, seed: int, pplan: PoweredPlan, work: Path,
                    jobs: int, workers: int, step: Step, dask: DaskWorkers | None = None) -> dict:  # fmt: skip
    """The powered evaluation of `models` on the worlds a run of `seed` reads: in this
    process, in `jobs` worker processes (`bench.rare.worlds.ProcessWorlds`) or on the Dask
    cluster `dask` (`DaskWorlds`)."""
    cache, scratch = Path(work) / "datasets", Path(work) / "ceiling-worlds"
    if dask is not None:
        shared = (scratch.resolve(), cache.resolve()) if dask.local else (None, None)
        on_dask = DaskWorlds(dask.client, models_blob(models), *shared)
        return powered_evaluation(on_dask, cal, scn, seed, pplan, step)
    if jobs <= 1:
        return powered_evaluation(LocalWorlds(models, cache, scratch, workers, step), cal, scn, seed, pplan, step)
    with ProcessWorlds(jobs, models_blob(models), scratch.resolve(), cache.resolve()) as worlds:
        return powered_evaluation(worlds, cal, scn, seed, pplan, step)


def _reconciliation(models: dict, cal: Calibrated, scn: Scenario, seed: int, plan: CeilingPlan, sizes: Sequence[int],
                    cache: Path, workers: int, step: Step) -> dict:  # fmt: skip
    """Each class's largest curve point scored by AUROC per matched comparison on the first
    TPR world (`bench.rare.ceiling_reconcile`)."""
    ds = reconciliation_world(scn, seed, plan.powered(), cache, workers, step)
    points = {m: curve_name(m, sizes[-1]) for m in plan.models}
    return reconcile(models, points, ds, plan.visibility, cal.thresholds, plan.task)


def compute_ceiling(
    scn: Scenario, seed: int, plan: CeilingPlan, work: Path, workers: int = 1, jobs: int = 1, step: Step = _quiet,
    dask: DaskWorkers | None = None,
) -> dict:  # fmt: skip
    """The ceiling of `scn` at `plan.visibility` for seed `seed`, JSON-ready
    (`bench.results.ceiling.CeilingRecord`, without its key and timing)."""
    cache = Path(work) / "datasets"
    train = training_worlds(scn, seed, plan.min_per_level, cache, workers, step)
    pooled = PooledInput.of(train, plan.visibility, plan.task)
    pool = pool_counts(pooled.truth[plan.task], pooled.level, pooled.split)
    sizes = curve_sizes(plan.curve, pool)
    step(f"ceiling pool: {len(train)} world(s), labelled offenders per level {pool}; curve {sizes}")
    models: dict = {}
    for name in plan.models:
        models.update(train_curve(name, pooled, sizes, seed, plan.task, step))
    del pooled  # the pool's features: the evaluation holds one world's at a time
    calib = calibration_world(scn, seed, cache, workers, step)
    cal = calibrated_on(models, calib, plan.visibility, plan.task)
    powered = _evaluate(models, cal, scn, seed, plan, Path(work), jobs, workers, step, dask)
    worlds = {"train": [_world_log(ds) for ds in train], "calibration": _world_log(calib),
              "tpr": powered["worlds"]["tpr"], "fpr": powered["worlds"]["fpr"]}  # fmt: skip
    rec = _reconciliation(models, cal, scn, seed, plan, sizes, cache, workers, step)
    check_worlds_disjoint(worlds, rec["world"])
    labelled = {s: dict(zip(SOPHISTICATION_LEVELS, map(int, quotas(s)), strict=True)) for s in sizes[:-1]}
    labelled[sizes[-1]] = pool
    names = [budget_name(b) for b in CEILING_BUDGETS]
    curves = {m: class_curve(powered, {s: curve_name(m, s) for s in sizes}, labelled, names) for m in plan.models}
    return {
        "task": plan.task, "scenario": scn.name, "visibility": plan.visibility, "seed": seed,
        "generator": GENERATOR_VERSION, "settings": plan.settings(), "worlds": worlds, "pool": pool,
        "thresholds_set_on": {"world": calib.meta["fingerprint"], "split": WHOLE_WORLD},
        "models": curves, "ceiling": best_per_level(curves, names), "powered": powered, "reconciliation": rec,
    }  # fmt: skip


def read_ceiling(path: Path) -> CeilingRecord:
    """A cached ceiling with its per-level ceiling derived again from its curves by the rule
    in force (`best_per_level`): the verdicts are a reading of the stored curves, not a
    measurement, so a file written under an earlier rule reads as the rule says today."""
    record = CeilingRecord.model_validate_json(path.read_text())
    curves = {m: c.model_dump(mode="json") for m, c in record.models.items()}
    readable = [t for t in record.ceiling  # a threshold every class's curve and verdicts hold
                if all(t in c["plateau"] and t in c["curve"][-1]["tpr_by_level"] for c in curves.values())]  # fmt: skip
    if not curves or not readable:
        return record
    derived = {t: {lvl: LevelCeiling.model_validate(c) for lvl, c in levels.items()}
               for t, levels in best_per_level(curves, readable).items()}  # fmt: skip
    return record.model_copy(update={"ceiling": {**record.ceiling, **derived}})


def cached_ceiling(
    work: Path, scn: Scenario, visibility: str, seed: int, worlds: dict | None = None
) -> CeilingRecord | None:
    """The ceiling of `scn` at `visibility` and `seed` already in the work directory's cache,
    whatever settings it was computed with, or None: never computed here (a run reads it, it
    does not pay for it). A file counts only when its key is the key of its own settings for
    this generator and scenario, so a changed generator or scenario finds nothing, and when
    its DEC (if any) ran on this process's kernels (a native ceiling's settings name none,
    as before the pin existed: `common.kernels`). Of several,
    one read on exactly the TPR and FPR worlds of `worlds` (a run's powered worlds log, by
    fingerprint) wins, so a run and its ceiling are paired where a paired one exists; then
    the most model classes, then the largest pool."""
    found, kernels_key = [], kernels.key_fields().get("kernels")
    for path in sorted((Path(work) / "ceilings").glob(f"{scn.name}-{visibility}-s{seed}-*.json")):
        try:
            record = read_ceiling(path)
        except ValueError:
            continue
        own_key = record.key == ceiling_key(scn, visibility, seed, record.settings) == path.stem.rsplit("-", 1)[-1]
        if own_key and ("dec" not in record.models or record.settings.get("kernels") == kernels_key):
            found.append(record)

    def rank(r: CeilingRecord) -> tuple:
        paired = worlds is not None and paired_worlds(r.worlds, worlds)
        return paired, len(r.models), sum(r.pool.values()), r.key

    return max(found, key=rank, default=None)


def ceiling(
    scn: Scenario, seed: int, plan: CeilingPlan, work: Path, workers: int = 1, jobs: int = 1, step: Step = _quiet,
    *, refresh: bool = False, dask: DaskWorkers | None = None,
) -> tuple[CeilingRecord, Path, bool]:  # fmt: skip
    """The ceiling, read from the work directory's cache when its key matches (generator,
    scenario, visibility, seed, settings) and `refresh` is off, else computed and written
    there atomically (a matching file is replaced whole, never edited in place). Returns
    (record, cache file, whether it came from the cache)."""
    key = ceiling_key(scn, plan.visibility, seed, plan.settings())
    path = cache_path(work, scn, plan.visibility, seed, key)
    if path.is_file() and not refresh:
        try:
            step(f"reusing ceiling {path.name}")
            return read_ceiling(path), path, True
        except ValueError:
            step(f"ceiling cache {path.name} unreadable: recomputing")
    start = time.perf_counter()
    got = compute_ceiling(scn, seed, plan, work, workers, jobs, step, dask)
    record = CeilingRecord.model_validate({**got, "key": key, "seconds": time.perf_counter() - start})
    write_json_atomic(path, record.model_dump(mode="json"), indent=1)
    return record, path, False
