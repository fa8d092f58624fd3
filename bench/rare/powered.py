"""Powered evaluation of a rare harm: train where reality trains, measure each rate where
it can be measured (docs/design.md "Evaluation design for rare harms").

A trained model (inductive: it scores any world through its features) is read against
thresholds set on the validation split of its training world (`bench.stats.rates`), then:

- **TPR on enriched worlds**: fresh seeds of the same scenario with the groomer rate raised
  to 1e-2 and a uniform level mix, so every level has hundreds of offenders (the quick
  preset's 100K accounts give ~250 per level). Enrichment changes how many offenders there
  are, not how each behaves; the TPR per level is reweighted to the scenario's own mix.
- **FPR on negative worlds**: fresh seeds at the scenario's rate, every non-offender
  scored, the counts at each threshold pooled (a few integers per world, whatever N).
- **The training world's test split**, at the same thresholds, for comparison with what a
  single dataset shows.

Seeds of evaluation worlds are derived from the training seed (`world_seed`) and never equal
it; thresholds refuse to be scored on the world and split they were set on.

`PoweredPlan` says what is measured (visibility, task, enriched worlds, negatives) and plans
the worlds; one `bench.rare.worlds.WorldSource` makes and scores them, in this process, in
worker processes or on Dask, and hands back each world's counts, which are pooled here in
seed order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from bench.rare.label_budget import relabelled, scoring_only, truth_input
from bench.rare.worlds import WorldSource, WorldSpec, input_scores, models_blob, spawn_context
from bench.results import REALISTIC, TRAINING_TRUTH
from bench.setup.config import scenario_with
from bench.setup.datasets import Step, time_left
from bench.stats.rates import (
    FPR_BUDGETS,
    TARGET_PRECISIONS,
    Tally,
    Thresholds,
    mixed,
    precision_at,
    rates,
    smallest_base_rate,
    validation_thresholds,
)
from common.vocabulary import SOPHISTICATION_LEVELS
from data_gen import Scenario
from data_gen.reader import Dataset
from models.inputs import ModelInput

ENRICHED_RATE = 1e-2
UNIFORM_MIX = (0.25, 0.25, 0.25, 0.25)
BASE_RATES = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
SUPPORTED_PRECISIONS = (0.5, 0.95)
_ROLES = {"tpr": 1, "fpr": 2, "ceiling-train": 3, "ceiling-calibration": 4}


def world_seed(seed: int, role: str, i: int) -> int:
    """The i-th evaluation world's seed for a role ('tpr', 'fpr', or the ceiling's
    'ceiling-train' and 'ceiling-calibration'): a hash of (training seed, role, i), so
    worlds of different roles and runs never share a seed, and never the training seed
    itself."""
    state = np.random.SeedSequence(seed, spawn_key=(_ROLES[role], i)).generate_state(2, np.uint32)
    s = int(state[0]) << 31 | int(state[1]) >> 1
    return s if s != seed else s + 1


def enriched(scn: Scenario, rate: float = ENRICHED_RATE) -> Scenario:
    """The scenario with offenders at `rate` and a uniform level mix. Enrichment must not
    change how an offender behaves, only how many there are: the TPR measured at two rates
    (e.g. 1e-2 and 3e-3) agrees within its interval when it holds."""
    fields = {"harm.groomer_rate": rate, "harm.sophistication_mix": list(UNIFORM_MIX)}
    return scenario_with(scn, fields, "enriched world")


def truth_trained(name: str, train: Dataset, visibility: str, seed: int, data: ModelInput | None = None, model=None):
    """The same model class trained on the training world's truth (`bench.rare.label_budget`):
    `model` refit with truth labels where it can share its first stage, else a fresh fit."""
    from models import make_model

    data = ModelInput(train.view(visibility)) if data is None else data
    relabel = truth_input(data, train.truth_by_id(*train.tasks))
    if model is not None:
        return relabelled(name, model, relabel, seed, "groomer")
    m = make_model(name)
    m.fit(relabel, seed)
    return m


@dataclass
class Calibrated:
    """Each model's thresholds, set on the validation split of the training world, and its
    counts on that world's test split at them: all `powered_evaluation` needs of the training
    world, so its features can be dropped before evaluation worlds are built."""

    thresholds: dict[str, Thresholds]
    test_tp: dict[str, Tally]
    test_fp: dict[str, Tally]
    train: dict  # fingerprint and seed of the training world


def calibrate(models: dict, train: Dataset, data: ModelInput, task: str = "groomer") -> Calibrated:
    """Thresholds per model from the validation split of `train` (`data`: its ModelInput)."""
    split = data.split
    y = train.truth_by_id(task)[task].astype(bool)
    val, test = split == "val", split == "test"
    fp_train = train.meta["fingerprint"]
    thr, test_tp, test_fp = {}, {}, {}
    for name, s in input_scores(models, data, task).items():
        thr[name] = validation_thresholds(y[val], s[val], fp_train, "val", FPR_BUDGETS, TARGET_PRECISIONS)
        thr[name].check_disjoint(fp_train, "test")
        test_tp[name], test_fp[name] = Tally.of(s[test & y], thr[name].values), Tally.of(s[test & ~y], thr[name].values)
    return Calibrated(thr, test_tp, test_fp, {"fingerprint": fp_train, "seed": train.meta["seed"]})


def trained_and_calibrated(model_dir, data_dir, with_truth: bool = True) -> tuple[dict, Calibrated]:
    """A saved model ("realistic labels") and, when asked, its class trained on the training
    world's truth, with thresholds from the validation split of the training world
    `data_dir`: the training world's side of a certification, whose features are dropped on
    return."""
    from data_gen.reader import open_dataset
    from models import load_card, load_model

    train, card = open_dataset(data_dir), load_card(model_dir)
    data = ModelInput(train.view(card["visibility"]))
    m, _ = load_model(model_dir, data)  # builds the training world's features, reused below
    models = {REALISTIC: scoring_only(m, "groomer")}  # the other tasks' boosters would only cost time
    if with_truth:
        seed = int(card.get("seed", train.meta["seed"]))
        models[TRAINING_TRUTH] = truth_trained(card["model"], train, card["visibility"], seed, data=data, model=m)
    return models, calibrate(models, train, data)


def _prepare(model: Path, data: Path, with_truth: bool) -> tuple[bytes, Calibrated]:
    models, calibrated = trained_and_calibrated(model, data, with_truth)
    return models_blob(models), calibrated


def prepare(model: Path, data: Path, with_truth: bool) -> tuple[bytes, Calibrated]:
    """`trained_and_calibrated` in a child process, the models handed back as bytes
    (`bench.rare.worlds.models_blob`, for worker processes or a cluster): the caller never
    holds the training world's features nor imports a model's state."""
    with ProcessPoolExecutor(1, mp_context=spawn_context()) as pool:
        return pool.submit(_prepare, Path(model), Path(data), with_truth).result()


@dataclass(frozen=True)
class PoweredPlan:
    """What a powered evaluation measures besides the models: the visibility they read, the
    task, `tpr_worlds` enriched worlds (offenders at `enriched_rate`, uniform level mix) and
    negative worlds of the scenario's size for at least `fpr_accounts` accounts (none at 0)."""

    visibility: str = "full"
    task: str = "groomer"
    tpr_worlds: int = 1
    fpr_accounts: int = 1_000_000
    enriched_rate: float = ENRICHED_RATE

    def worlds(self, scn: Scenario, seed: int) -> list[WorldSpec]:
        """The enriched worlds, then the negative ones, each in seed order (`world_seed` of
        the training seed `seed`)."""
        n_fpr = max(1, math.ceil(self.fpr_accounts / scn.accounts)) if self.fpr_accounts > 0 else 0
        rich = enriched(scn, self.enriched_rate)
        tpr = [WorldSpec(rich, world_seed(seed, "tpr", i), "tpr") for i in range(self.tpr_worlds)]
        return tpr + [WorldSpec(scn, world_seed(seed, "fpr", j), "fpr") for j in range(n_fpr)]


def _quiet(_: str) -> None:
    pass


def powered_evaluation(
    worlds: WorldSource,
    calibrated: Calibrated,
    scn: Scenario,
    seed: int,
    plan: PoweredPlan = PoweredPlan(),
    step: Step = _quiet,
) -> dict:
    """Per model of `calibrated` (`calibrate`: thresholds set on the validation split of the
    training world, of seed `seed` and scenario `scn`, and its test-split counts at them):
    TPR per level on enriched worlds, FPR pooled over negative worlds and the training
    world's test split, with precision at base rates and bounds. `worlds` makes and scores
    every world `plan` asks for, each once for all the models, and yields its counts, pooled
    here in seed order. JSON-ready."""
    thr = calibrated.thresholds
    specs = plan.worlds(scn, seed)
    got = iter(worlds.counts(specs, plan.visibility, plan.task, thr, step))
    say = step if worlds.remote else None  # remote worlds: progress is their counts arriving
    tp, tpr_log = _pool_tpr(islice(got, plan.tpr_worlds), thr, plan.tpr_worlds, say)
    fp, fpr_log = _pool_fpr(got, thr, len(specs) - plan.tpr_worlds, say)
    mix = scn.harm.sophistication_mix
    return {
        "task": plan.task,
        "visibility": plan.visibility,
        "worlds": {"train": calibrated.train, "tpr": tpr_log, "fpr": fpr_log},
        "enriched_rate": plan.enriched_rate,
        "scenario_mix": list(scn.harm.sophistication_mix),
        "models": {
            name: _summary(thr[name], tp[name], fp[name], calibrated.test_tp[name], calibrated.test_fp[name], mix)
            for name in thr
        },
    }


def _pool_tpr(got: Iterator[dict], thr: dict[str, Thresholds], n: int, say) -> tuple[dict, list]:
    """Level tallies summed over enriched worlds, in seed order; each world's log line."""
    k = len(FPR_BUDGETS) + len(TARGET_PRECISIONS)
    tp = {name: [Tally.empty(k) for _ in SOPHISTICATION_LEVELS] for name in thr}
    log: list[dict] = []
    for i, g in enumerate(got):
        for name, t in thr.items():
            t.check_disjoint(g["fingerprint"])
            tp[name] = [a + b for a, b in zip(tp[name], g["levels"][name], strict=True)]
        log.append({key: g[key] for key in ("seed", "fingerprint", "accounts", "positives")})
        if say is not None:
            say(f"TPR world {i + 1}/{n} counted: {g['positives']:,} offenders")
    return tp, log


def _pool_fpr(got: Iterator[dict], thr: dict[str, Thresholds], n: int, say) -> tuple[dict, list]:
    """Negative tallies summed over negative worlds, in seed order; each world's log line."""
    k = len(FPR_BUDGETS) + len(TARGET_PRECISIONS)
    fp = {name: Tally.empty(k) for name in thr}
    log: list[dict] = []
    start = time.perf_counter()
    for j, g in enumerate(got):
        if say is not None:
            say(_progress(j, n, log, g, fp, thr) + time_left(j + 1, n, time.perf_counter() - start))
        for name, t in thr.items():
            t.check_disjoint(g["fingerprint"])
            fp[name] = fp[name] + g["tallies"][name]
        log.append({key: g[key] for key in ("seed", "fingerprint", "negatives")})
    return fp, log


def _progress(j: int, n: int, log: list, got: dict, fp: dict, thr: dict) -> str:
    """Worlds counted, negatives so far and the first model's current 95% FPR upper bound
    at each budget: how far the pool has certified so far."""
    first = next(iter(fp))
    bound = rates(fp[first] + got["tallies"][first])
    pairs = zip(thr[first].names, bound, strict=True)
    budgets = ", ".join(f"{name} {r.high:.2g}" for name, r in pairs if "fpr" in name)
    negatives = sum(w["negatives"] for w in log) + got["negatives"]
    return f"FPR world {j + 1}/{n} counted: {negatives:,} negatives; {first}, FPR upper 95% bound at {budgets}"


def _summary(thr: Thresholds, tp, fp, test_tp, test_fp, mix) -> dict:
    """One model's figures: its thresholds and, per threshold, every rate and bound."""
    level_rates = [rates(t) for t in tp]
    fpr = rates(fp)
    out: dict = {
        "thresholds": [
            {"name": n, "value": float(v), "set_on": {"world": thr.world, "split": thr.split}}
            for n, v in zip(thr.names, thr.values, strict=True)
        ],
        "by_threshold": {},
    }
    for i, name in enumerate(thr.names):
        per_level = {lvl: level_rates[li][i] for li, lvl in enumerate(SOPHISTICATION_LEVELS)}
        tpr = mixed([per_level[lvl] for lvl in SOPHISTICATION_LEVELS], mix)
        out["by_threshold"][name] = {
            "fpr": fpr[i].as_dict(),
            "tpr_by_level": {lvl: r.as_dict() for lvl, r in per_level.items()},
            "tpr_at_scenario_mix": tpr.as_dict(),
            "test_split": {"tpr": rates(test_tp)[i].as_dict(), "fpr": rates(test_fp)[i].as_dict()},
            "precision": [precision_at(pi, tpr, fpr[i]) for pi in BASE_RATES],
            "smallest_base_rate": {
                str(p): _nan_none(smallest_base_rate(p, tpr.low, fpr[i].high)) for p in SUPPORTED_PRECISIONS
            },
        }
    return out


def _nan_none(x: float) -> float | None:
    return None if x is None or np.isnan(x) else float(x)
