"""The adversary's frontier: per groomer strategy, the harm it causes against how often a
detector finds it (paper 7.2.6: competent groomers spend their effort convincing a few
children, not a classifier; every step toward looking ordinary may also slow the harm).

For each strategy (`bench.setup.frontier`: a point in the knob space of one level), on
worlds of the strategy's own scenario and of the same seeds for every strategy (common
random numbers: the benign population is the same, only the offenders' behaviour moves):

- **harm throughput** (`bench.rare.throughput`): harm events per offender per 30 days,
  the share of offenders who reach a harm event and the median days from first contact to
  it, of the level's offenders pooled over the strategy's enriched training worlds;
- **adapted detection**: the ceiling's recipe retrained on the strategy (the defender
  adapts): one class (`plan.model`) trained on the truth of the strategy's enriched
  training worlds (>= `min_per_level` labelled offenders per level, the ceiling's largest
  curve point), thresholds at FPR 1e-3 / 1e-4 on a calibration world of the strategy's
  scenario, TPR per level on the enriched TPR world and FPR on the negative worlds
  (`bench.rare.powered`);
- **unadapted detection** (evasion): the detector trained on the default behaviour, scored
  on the same worlds at thresholds set the same way;
- **detection before harm**: the share of the level's harm events on the TPR world that
  come after the adapted detector first flags their offender at the threshold valid at
  each checkpoint (`bench.rare.before_harm`).

Each strategy's point is cached in the work directory by everything that decides it (the
generator, both scenarios, the plan, the seed), so a grid interrupted half-way resumes, and
an extra strategy costs only itself.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.rare.before_harm import timely_detection
from bench.rare.ceiling import (
    DaskWorkers,
    PooledInput,
    calibrated_on,
    calibration_world,
    evaluate_models,
    training_worlds,
)
from bench.rare.ceiling_reconcile import reconciliation_world
from bench.rare.label_budget import scoring_only
from bench.rare.powered import ENRICHED_RATE, PoweredPlan
from bench.rare.throughput import harm_throughput
from bench.setup.datasets import Step
from bench.setup.frontier import FrontierConfig, Strategy, base_scenario, strategies, strategy_scenario
from common.files import dumps_json, write_json_atomic
from common.vocabulary import SOPHISTICATION_LEVELS
from data_gen import GENERATOR_VERSION, Scenario
from models import make_model

TASK = "groomer"
THRESHOLDS = ("fpr<=0.001", "fpr<=0.0001")  # the operating points the frontier reads
BEFORE_HARM_BUDGET = 1e-3
ROLES = ("adapted", "unadapted")


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class FrontierPlan:
    """What every strategy's point computes (from the sweep file)."""

    level: str
    visibility: str
    model: str
    min_per_level: int
    fpr_accounts: int
    checkpoint_every: int
    tpr_worlds: int = 1
    enriched_rate: float = ENRICHED_RATE

    @classmethod
    def of(cls, cfg: FrontierConfig) -> FrontierPlan:
        return cls(cfg.level, cfg.visibility, cfg.model, cfg.min_per_level, cfg.fpr_accounts, cfg.checkpoint_every)

    def powered(self) -> PoweredPlan:
        return PoweredPlan(self.visibility, TASK, self.tpr_worlds, self.fpr_accounts, self.enriched_rate)


def point_key(scn: Scenario, default: Scenario, seed: int, plan: FrontierPlan) -> str:
    """What decides a strategy's point: the generator, its scenario, the default scenario
    (the unadapted detector is trained on it), the seed and the plan."""
    blob = {"generator": GENERATOR_VERSION, "scenario": scn.model_dump(), "default": default.model_dump(),
            "seed": seed, "plan": asdict(plan)}  # fmt: skip
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def point_path(work: Path, cfg: FrontierConfig, key: str) -> Path:
    return Path(work) / "frontier" / f"{cfg.preset}-{cfg.level}-{cfg.visibility}-s{cfg.seed}-{key}.json"


@dataclass
class Detector:
    """A detector trained on one scenario's enriched training worlds, and those worlds."""

    model: object
    train: list


def train_detector(scn: Scenario, seed: int, plan: FrontierPlan, work: Path, workers: int, step: Step) -> Detector:
    """`plan.model` on the truth of `scn`'s enriched training worlds (the ceiling's seeds)."""
    train = training_worlds(scn, seed, plan.min_per_level, Path(work) / "datasets", workers, step)
    pooled = PooledInput.of(train, plan.visibility, TASK)
    step(f"frontier: {plan.model} on the truth of {len(train)} enriched world(s)")
    model = make_model(plan.model)
    model.fit(pooled, seed)
    return Detector(scoring_only(model, TASK), train)


def _throughput(worlds: list, level: int, seed: int) -> dict:
    t = harm_throughput(worlds, seed=seed)[level]
    days = t.days_to_harm
    return {
        "offenders": t.offenders,
        "harm_rate": {"value": t.rate.value, "low": t.rate.ci_low, "high": t.rate.ci_high,
                      "events": t.rate.events, "exposure_days": t.rate.exposure_days},
        "reached": {"value": t.reached.value, "low": t.reached.ci_low, "high": t.reached.ci_high,
                    "k": t.reached.k, "n": t.reached.n},
        "days_to_harm": {"value": days.value, "low": days.ci_low, "high": days.ci_high, "n": days.n},
    }  # fmt: skip


def _world_log(ds) -> dict:
    return {"seed": int(ds.meta["seed"]), "fingerprint": ds.meta["fingerprint"]}


def _detection(powered: dict, name: str, level: str) -> dict:
    """TPR at the level and FPR, per threshold, of one model of a powered evaluation."""
    figures = powered["models"][name]["by_threshold"]
    return {
        thr: {"tpr": figures[thr]["tpr_by_level"][level], "fpr": figures[thr]["fpr"]}
        for thr in THRESHOLDS
        if thr in figures
    }


def strategy_point(
    strategy: Strategy, scn: Scenario, seed: int, plan: FrontierPlan, work: Path, unadapted: Detector | None,
    workers: int = 1, jobs: int = 1, step: Step = _quiet, dask: DaskWorkers | None = None,
) -> tuple[dict, Detector]:  # fmt: skip
    """One strategy's point (JSON-ready) and its adapted detector. `unadapted`: the default
    behaviour's detector (None for the default strategy: it is its own)."""
    level = SOPHISTICATION_LEVELS.index(plan.level)
    adapted = train_detector(scn, seed, plan, work, workers, step)
    harm = _throughput(adapted.train, level, seed)
    models = {"adapted": adapted.model}
    if unadapted is not None:
        models["unadapted"] = unadapted.model
    cache = Path(work) / "datasets"
    calib = calibration_world(scn, seed, cache, workers, step)
    cal = calibrated_on(models, calib, plan.visibility, TASK)
    powered = evaluate_models(models, cal, scn, seed, plan.powered(), Path(work), jobs, workers, step, dask)
    tpr_world = reconciliation_world(scn, seed, plan.powered(), cache, workers, step)
    timely = timely_detection(
        adapted.model, calib, tpr_world, plan.visibility, plan.checkpoint_every, (TASK,), BEFORE_HARM_BUDGET, step, seed
    )[TASK]
    detection = {role: _detection(powered, role if role in models else "adapted", plan.level) for role in ROLES}
    return {
        "name": strategy.name,
        "effort": strategy.effort,
        "mimicry": strategy.mimicry,
        "knobs": strategy.knobs,
        "default": strategy.is_default,
        "harm": harm,
        "detection": detection,
        "before_harm": {"fpr_budget": BEFORE_HARM_BUDGET, "checkpoint_days": timely.checkpoint_days,
                        "share": timely.by_level[plan.level].model_dump(mode="json")},
        "worlds": {"train": [_world_log(w) for w in adapted.train], "calibration": calib.meta["fingerprint"],
                   "tpr": powered["worlds"]["tpr"], "fpr": len(powered["worlds"]["fpr"])},
    }, adapted  # fmt: skip


def _tagged(step: Step, tag: str) -> Step:
    """Progress lines that name the strategy they are about."""
    return lambda msg: step(f"[{tag}] {msg}")


def frontier(
    cfg: FrontierConfig, work: Path, workers: int = 1, jobs: int = 1, step: Step = _quiet,
    dask: DaskWorkers | None = None, refresh: bool = False, progress: Callable[[int, int, str], None] | None = None,
) -> dict:  # fmt: skip
    """Every strategy's point of `cfg`, each read from the cache when there, else computed
    and cached (atomically) as soon as it is done. The default strategy's detector is
    trained first whenever another strategy must be computed (it is their unadapted
    detector)."""
    plan, default = FrontierPlan.of(cfg), base_scenario(cfg)
    todo = strategies(cfg)
    points: list[dict] = []
    baseline: Detector | None = None
    for i, s in enumerate(todo):
        scn = strategy_scenario(default, cfg.level, s)
        key = point_key(scn, default, cfg.seed, plan)
        path = point_path(work, cfg, key)
        if progress is not None:
            progress(i, len(todo), s.name)
        if path.is_file() and not refresh:
            step(f"frontier: reusing {s.name} ({path.name})")
            points.append(json.loads(path.read_text()))
            continue
        if baseline is None and not s.is_default:
            say = _tagged(step, "default behaviour")
            say("frontier: its detector, the unadapted one")
            baseline = train_detector(default, cfg.seed, plan, work, workers, say)
        start = time.perf_counter()
        say = _tagged(step, f"{s.name} ({i + 1}/{len(todo)})")
        point, detector = strategy_point(s, scn, cfg.seed, plan, work, baseline, workers, jobs, say, dask)
        if s.is_default:
            baseline = detector
        point = {**point, "key": key, "seconds": round(time.perf_counter() - start, 1)}
        write_json_atomic(path, point, indent=1)
        points.append(json.loads(dumps_json(point)))  # as a cached point reads: strict JSON
    if progress is not None:
        progress(len(todo), len(todo), "done")
    return {
        "name": cfg.name, "preset": cfg.preset, "seed": cfg.seed, "level": cfg.level, "visibility": cfg.visibility,
        "model": cfg.model, "generator": GENERATOR_VERSION, "plan": asdict(plan), "strategies": points,
    }  # fmt: skip
