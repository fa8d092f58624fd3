"""Powered evaluation of a rare harm: train where reality trains, measure each rate where
it can be measured (DESIGN.md "Evaluation design for rare harms").

A trained model (inductive: it scores any world through its features) is read against
thresholds set on the validation split of its training world (`bench.casecontrol`), then:

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

`world(scenario, seed, role)` makes (or reuses) a world for a role ('tpr' or 'fpr') and
returns it as a Dataset; `done(ds, role)` is called when its scores are counted (e.g. to
delete a negative world from disk).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from common.vocabulary import SOPHISTICATION_LEVELS
from data_gen import Scenario
from data_gen.reader import Dataset
from models.inputs import ModelInput

from .analyses import scores_by_account, truth_columns
from .casecontrol import (
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
from .config import scenario_with
from .label_budget import relabelled, truth_input

ENRICHED_RATE = 1e-2
UNIFORM_MIX = (0.25, 0.25, 0.25, 0.25)
BASE_RATES = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
SUPPORTED_PRECISIONS = (0.5, 0.95)
_ROLES = {"tpr": 1, "fpr": 2}


def world_seed(seed: int, role: str, i: int) -> int:
    """The i-th evaluation world's seed for a role ('tpr' or 'fpr'): a hash of (training
    seed, role, i), so worlds of different roles and runs never share a seed, and never
    the training seed itself."""
    state = np.random.SeedSequence(seed, spawn_key=(_ROLES[role], i)).generate_state(2, np.uint32)
    s = int(state[0]) << 31 | int(state[1]) >> 1
    return s if s != seed else s + 1


def enriched(scn: Scenario, rate: float = ENRICHED_RATE) -> Scenario:
    """The scenario with offenders at `rate` and a uniform level mix. Enrichment must not
    change how an offender behaves, only how many there are: the TPR measured at two rates
    (e.g. 1e-2 and 3e-3) agrees within its interval when it holds."""
    fields = {"harm.groomer_rate": rate, "harm.sophistication_mix": list(UNIFORM_MIX)}
    return scenario_with(scn, fields, "enriched world")


def input_scores(models: dict, data: ModelInput, task: str) -> dict[str, np.ndarray]:
    return {name: scores_by_account(m.predict_scores(data), (task,), data.n)[task] for name, m in models.items()}


def oracle(name: str, train: Dataset, visibility: str, seed: int, data: ModelInput | None = None, model=None):
    """The same model class trained on the training world's truth (`bench.label_budget`):
    `model` refit with truth labels where it can share its first stage, else a fresh fit."""
    from models import make_model

    data = ModelInput(train.view(visibility)) if data is None else data
    relabel = truth_input(data, truth_columns(train, *train.tasks))
    if model is not None:
        return relabelled(name, model, relabel, seed, "groomer")
    m = make_model(name)
    m.fit(relabel, seed)
    return m


def _level_tallies(s: np.ndarray, y: np.ndarray, level: np.ndarray, values: np.ndarray) -> list[Tally]:
    return [Tally.of(s[y & (level == lvl)], values) for lvl in range(len(SOPHISTICATION_LEVELS))]


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
    y = truth_columns(train, task)[task].astype(bool)
    val, test = split == "val", split == "test"
    fp_train = train.meta["fingerprint"]
    thr, test_tp, test_fp = {}, {}, {}
    for name, s in input_scores(models, data, task).items():
        thr[name] = validation_thresholds(y[val], s[val], fp_train, "val", FPR_BUDGETS, TARGET_PRECISIONS)
        thr[name].check_disjoint(fp_train, "test")
        test_tp[name], test_fp[name] = Tally.of(s[test & y], thr[name].values), Tally.of(s[test & ~y], thr[name].values)
    return Calibrated(thr, test_tp, test_fp, {"fingerprint": fp_train, "seed": train.meta["seed"]})


def powered_evaluation(
    models: dict,
    train: Dataset,
    scn: Scenario,
    seed: int,
    world: Callable[[Scenario, int, str], Dataset],
    visibility: str = "full",
    task: str = "groomer",
    tpr_worlds: int = 1,
    fpr_accounts: int = 1_000_000,
    enriched_rate: float = ENRICHED_RATE,
    done: Callable[[Dataset, str], None] = lambda ds, role: None,
    step: Callable[[str], None] = lambda _: None,
    train_input: ModelInput | None = None,
    calibrated: Calibrated | None = None,
    prebuilt: dict[str, ModelInput] | None = None,
    fpr_stream: Callable | None = None,
) -> dict:
    """Per model (name -> trained model), TPR per level (enriched worlds), pooled FPR
    (negative worlds) and the training world's test split, at thresholds set on the
    validation split of the training world for that model; precision at base rates with
    bounds. Every world is generated and featurised once for all the models. The training
    world's side comes from `calibrated` (`calibrate`), else is computed here from
    `train_input` (its ModelInput at `visibility`, reusing features already built) or a
    fresh one. `prebuilt`: ModelInputs of evaluation worlds already built, by fingerprint.
    `fpr_stream` (`bench.stream.process_stream`): negative worlds generated and scored
    elsewhere, yielding each world's counts in seed order, instead of `world`/`done` here.
    JSON-ready."""
    if calibrated is None:
        calibrated = calibrate(models, train, train_input or ModelInput(train.view(visibility)), task)
    thr, cal = calibrated.thresholds, calibrated
    prebuilt = prebuilt or {}

    def scored(ds: Dataset) -> dict[str, np.ndarray]:
        data = prebuilt.get(ds.meta["fingerprint"]) or ModelInput(ds.view(visibility))
        return input_scores(models, data, task)

    k = len(FPR_BUDGETS) + len(TARGET_PRECISIONS)
    tp = {name: [Tally.empty(k) for _ in SOPHISTICATION_LEVELS] for name in models}
    tpr_log = []
    for i in range(tpr_worlds):
        sd = world_seed(seed, "tpr", i)
        step(f"TPR world {i + 1}/{tpr_worlds} (groomer rate {enriched_rate:g}, uniform mix)")
        ds = world(enriched(scn, enriched_rate), sd, "tpr")
        truth = truth_columns(ds, task, "sophistication")
        yi = truth[task].astype(bool)
        for name, si in scored(ds).items():
            thr[name].check_disjoint(ds.meta["fingerprint"])
            level = _level_tallies(si, yi, truth["sophistication"], thr[name].values)
            tp[name] = [a + b for a, b in zip(tp[name], level, strict=True)]
        positives = int(yi.sum())
        tpr_log.append({"seed": sd, "fingerprint": ds.meta["fingerprint"], "accounts": len(yi), "positives": positives})
        done(ds, "tpr")

    fp = {name: Tally.empty(k) for name in models}
    fpr_log = []
    n_fpr = max(1, math.ceil(fpr_accounts / scn.accounts)) if fpr_accounts > 0 else 0
    seeds = [world_seed(seed, "fpr", j) for j in range(n_fpr)]
    values = {name: t.values for name, t in thr.items()}
    counted = None
    if fpr_stream is not None and seeds:
        step(f"FPR worlds: {n_fpr} of {scn.accounts:,} accounts at the scenario's rate, streamed")
        counted = fpr_stream(models, scn, seeds, visibility, task, values)
    for j, sd in enumerate(seeds):
        if counted is None:
            step(f"FPR world {j + 1}/{n_fpr} ({scn.accounts:,} accounts at the scenario's rate)")
            ds = world(scn, sd, "fpr")
            yj = truth_columns(ds, task)[task].astype(bool)
            got = {
                "seed": sd,
                "fingerprint": ds.meta["fingerprint"],
                "negatives": int((~yj).sum()),
                "tallies": {name: Tally.of(sj[~yj], values[name]) for name, sj in scored(ds).items()},
            }
            for name in models:  # before `done`, which may delete the world
                thr[name].check_disjoint(got["fingerprint"])
            done(ds, "fpr")
        else:
            got = next(counted)
            step(_progress(j, n_fpr, fpr_log, got, fp, thr))
        for name in models:
            thr[name].check_disjoint(got["fingerprint"])
            fp[name] = fp[name] + got["tallies"][name]
        fpr_log.append({"seed": got["seed"], "fingerprint": got["fingerprint"], "negatives": got["negatives"]})
    mix = scn.harm.sophistication_mix
    return {
        "task": task,
        "visibility": visibility,
        "worlds": {"train": calibrated.train, "tpr": tpr_log, "fpr": fpr_log},
        "enriched_rate": enriched_rate,
        "scenario_mix": list(scn.harm.sophistication_mix),
        "models": {
            name: _summary(thr[name], tp[name], fp[name], cal.test_tp[name], cal.test_fp[name], mix)
            for name in models
        },
    }


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
