"""`lowbase run`: generate (or reuse), train every model, evaluate, analyse, as one `RunResults`.

The results (`bench.results`) are the single source every consumer reads: the headline
table, the MLflow logger (`bench.run.tracking`), the report (`bench.report`) and sweeps; written
as results.json, a report can be rebuilt from an MLflow artifact long after the run. This
module keeps the dataset cache, training and scoring, and the order of the work; what is
measured lives in `bench.run.analyses`. MLflow is not imported here: the pipeline computes,
`tracking` records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.rare.before_harm import timely_detection
from bench.rare.label_budget import label_variants, realistic_supply, scoring_only
from bench.rare.powered import Calibrated, PoweredPlan, calibrate, enriched, powered_evaluation, world_seed
from bench.rare.worlds import LocalWorlds
from bench.results import (
    REALISTIC,
    SECOND_PRECISION,
    Analysis,
    BaseRatePoint,
    DatasetRecord,
    ModelEntry,
    PoweredRecord,
    RunRecord,
    RunResults,
    ScenarioRecord,
    ShareRecord,
    TaskMetrics,
    operating_key,
)
from bench.run.analyses import (
    curves,
    drift_analysis,
    empirical_base_rate,
    empirical_rates,
    headline_rows,
    operating_points,
    operating_projections,
    read_groomers_powered,
    validated_points,
)
from bench.setup.cluster import dask_client
from bench.setup.config import RunConfig, checkpoint_every, fpr_accounts, resolve_scenario, scenario_with
from bench.setup.datasets import Step, cached_dataset
from bench.stats.accounts import scores_by_account
from bench.stats.base_rate import BASE_RATES, analytic_curve
from bench.stats.detection import recall_by_level
from bench.stats.evaluate import evaluate
from bench.stats.intervals import Share
from common import kernels
from data_gen.config import Scenario
from models import ModelInput, make_model, save_model
from models.distributed import use_client

# ---------------------------------------------------------------- scenarios and datasets


# ---------------------------------------------------------------- models


def train_and_score(name: str, td: ModelInput, seed: int, out: Path | None):
    """Fit one model, save it (when `out`), and return it with its scores per task."""
    m = make_model(name)
    m.fit(td, seed)
    if out is not None:
        save_model(m, td, seed, out, overwrite=True)  # the run's own model directory
    pred = m.predict_scores(td)
    return m, pred


def retrained_groomer_scores(cfg: RunConfig, scn: Scenario, cache: Path, step: Step):
    """A callable giving, for a groomer rate, the test labels and groomer scores of the
    primary model regenerated (cached) and retrained at that rate: the empirical base-rate
    sweep's data."""

    def at(rate: float) -> tuple[np.ndarray, np.ndarray]:
        ds = cached_dataset(scenario_with(scn, {"harm.groomer_rate": rate}), cfg.seed, cache, cfg.workers, step)
        step(f"empirical base rate {rate:g}: training {cfg.models[0]}")
        td = ModelInput(ds.view(cfg.visibility))
        _, pred = train_and_score(cfg.models[0], td, cfg.seed, None)
        s = scores_by_account(pred, ("groomer",), td.n)["groomer"]
        test = td.split == "test"
        y = ds.truth_by_id("groomer")["groomer"]
        return y[test], s[test]

    return at


def drift_run(cfg: RunConfig, scn: Scenario, cache: Path, step: Step):
    """Train the primary model on period-1 labels of the drift variant; evaluate its test
    accounts of period 1 (in-period) and period 2 (drifted) separately."""
    ds = cached_dataset(scenario_with(scn, {"drift.enabled": True}), cfg.seed, cache, cfg.workers, step)
    step(f"drift: training {cfg.models[0]} on period 1")
    td = ModelInput(ds.view(cfg.visibility, label_period=1))
    _, pred = train_and_score(cfg.models[0], td, cfg.seed, None)
    return drift_analysis(ds, td.period, scores_by_account(pred, td.tasks, td.n), cfg.resamples)


# ---------------------------------------------------------------- powered evaluation


def powered_stage(cfg: RunConfig, ds, td: ModelInput, model, truth: dict, step: Step) -> tuple[dict, Calibrated, dict]:
    """What the powered evaluation needs of the training world, taken while its features are
    built: the label variants of the primary model (the training world's truth, budgets) beside it, each one's
    validation thresholds, and what each was trained on. `truth`: its truth columns by task."""
    variants, supply = label_variants(cfg.models[0], model, td, truth, cfg.seed, budgets=cfg.label_budgets, step=step)
    models = {REALISTIC: scoring_only(model, "groomer"), **variants}
    supply[REALISTIC] = realistic_supply(td)
    return models, calibrate(models, ds, td), supply


def powered_worlds(cfg, scn: Scenario, ds, model, staged, train_scores: dict, cache: Path, step: Step):
    """The variants on the same enriched and negative worlds (`bench.rare.powered`), and detection
    before harm on the first enriched world (`bench.rare.before_harm`), whose features both share."""
    models, calibrated, supply = staged
    rich = cached_dataset(enriched(scn, cfg.enriched_rate), world_seed(cfg.seed, "tpr", 0), cache, cfg.workers, step)
    rich_input = ModelInput(rich.view(cfg.visibility))
    worlds = LocalWorlds(models, cache, Path(cache).parent / "fpr-worlds", cfg.workers, step,
                         prebuilt={rich.meta["fingerprint"]: rich_input})  # fmt: skip
    plan = PoweredPlan(cfg.visibility, "groomer", cfg.tpr_worlds, fpr_accounts(cfg, scn), cfg.enriched_rate)
    result = powered_evaluation(worlds, calibrated, scn, cfg.seed, plan, step)
    for name, figures in result["models"].items():
        figures["labels"] = supply[name]
    result["unreachable"] = {k: v for k, v in supply.items() if not v["reachable"]}
    # The enriched world's whole-window scores, then its features go: detection before harm
    # builds two worlds as of each checkpoint, and holding a third would set the peak.
    rich_scores = scores_by_account(model.predict_scores(rich_input), ds.tasks, rich_input.n)
    del rich_input, worlds  # `worlds` holds it too (prebuilt)
    timely = timely_detection(
        model, ds, rich, cfg.visibility, checkpoint_every(cfg, scn), step=step, seed=cfg.seed,
        train_final=train_scores, world_final=rich_scores,
    )  # fmt: skip
    return PoweredRecord.model_validate(result), timely


# ---------------------------------------------------------------- the run


def run_pipeline(cfg: RunConfig, cache: Path, models_dir: Path, step: Step = lambda _: None) -> RunResults:
    """Generate or reuse the dataset (under `cache`), train every model (saved under
    `models_dir`), evaluate, analyse. Returns the results (`bench.results.RunResults`)."""
    with dask_client(cfg.dask) as client, use_client(client):
        if client is not None:
            step(f"Dask: {cfg.dask} ({len(client.scheduler_info()['workers'])} workers)")
        return _run_pipeline(cfg, cache, models_dir, step)


def _run_pipeline(cfg: RunConfig, cache: Path, models_dir: Path, step: Step) -> RunResults:
    cache = Path(cache)
    scn = resolve_scenario(cfg)
    ds = cached_dataset(scn, cfg.seed, cache, cfg.workers, step)
    step("building features")
    td = ModelInput(ds.view(cfg.visibility))
    td.features  # noqa: B018 - built once, shared by every model
    truth = ds.truth_by_id(*ds.tasks, "sophistication")
    level = truth["sophistication"]
    test = td.split == "test"
    models, fitted, groomer_scores = {}, {}, {}
    for name in cfg.models:
        step(f"training {name}")
        mdir = Path(models_dir) / name
        m, pred = train_and_score(name, td, cfg.seed, mdir)
        fitted[name] = m
        step(f"evaluating {name}")
        metrics = evaluate(pred, ds, n_resamples=cfg.resamples, origin=name)
        scores = scores_by_account(pred, ds.tasks, td.n)
        groomer_scores[name] = scores["groomer"]
        operating, task_curves = {}, {}
        for task in ds.tasks:
            y, s = truth[task][test].astype(np.int8), scores[task][test]
            operating[task] = operating_points(y, s, (cfg.precision, SECOND_PRECISION))
            task_curves[task] = curves(y, s)
        threshold = operating["groomer"][operating_key(cfg.precision)].threshold
        levels = recall_by_level(level[test], scores["groomer"][test], threshold)
        fp = ds.meta["fingerprint"]
        models[name] = ModelEntry(
            path=str(mdir),
            metrics={t: TaskMetrics.model_validate(v) for t, v in metrics.items()},
            operating=operating,
            curves=task_curves,
            recall_by_level={k: ShareRecord.model_validate(v) for k, v in levels.items()},
            validated={t: validated_points(truth[t], scores[t], td.split, fp, cfg.precision) for t in ds.tasks},
        )
        if name == cfg.models[0]:
            primary_scores = scores
    primary = cfg.models[0]
    staged = None
    if cfg.powered and truth["groomer"].any():
        staged = powered_stage(cfg, ds, td, fitted[primary], truth, step)
    del td  # the main feature matrix (3.6 GB at 1M accounts) is not needed by the analyses
    base_rates = {t: float(truth[t].mean()) for t in ds.tasks}
    analysis = _analyse(cfg, scn, ds, base_rates, models[primary], groomer_scores[primary], cache, step)
    if staged is not None:
        pw = powered_worlds(cfg, scn, ds, fitted[primary], staged, primary_scores, cache, step)
        analysis.powered, analysis.timely = pw
        read_groomers_powered(analysis)  # groomer projections and base-rate curve: the powered point
    results = RunResults(
        config=RunRecord.model_validate({**cfg.model_dump(mode="json"), "kernels": kernels.mode()}),
        scenario=ScenarioRecord.model_validate(scn.model_dump(mode="json")),
        dataset=DatasetRecord(path=str(ds.path), fingerprint=ds.meta["fingerprint"], rows=ds.meta["rows"]),
        base_rates=base_rates,
        models=models,
        primary=primary,
        analysis=analysis,
    )
    results.headline = headline_rows(results)
    return results


def _analyse(
    cfg: RunConfig,
    scn: Scenario,
    ds,
    base_rates: dict[str, float],
    entry: ModelEntry,
    final: np.ndarray,
    cache: Path,
    step: Step,
) -> Analysis:
    """The primary model's analyses (`entry`); `final` is its groomer score per account id.
    Groomer projections and the base-rate curve read the test split at its own operating
    threshold here; a run with the powered evaluation replaces them by its point once it is
    measured (`read_groomers_powered`). The empirical points stay test-split readings."""
    g = entry.operating_at("groomer", cfg.precision)
    tpr, fpr = Share(**g.tpr_share.model_dump()), Share(**g.fpr_share.model_dump())
    rates = sorted({base_rates["groomer"], *cfg.project_rates}, reverse=True)
    projected = {"groomer": operating_projections(g, rates, cfg)}
    for t in ds.tasks:
        if t != "groomer":
            projected[t] = operating_projections(entry.operating_at(t, cfg.precision), [base_rates[t]], cfg)
    test = ds.split_mask("test")
    y, s = ds.truth_by_id("groomer")["groomer"][test].astype(np.int8), final[test]
    rates_emp = empirical_rates(cfg, scn) if g.n_positive else []
    own = (base_rates["groomer"], y, s) if 0 < y.sum() < len(y) else None
    empirical = empirical_base_rate(rates_emp, g.fpr, retrained_groomer_scores(cfg, scn, cache, step), own)
    analysis = Analysis(
        operating_precision=cfg.precision,
        base_rate_curve=[BaseRatePoint.model_validate(r) for r in analytic_curve(tpr, fpr, BASE_RATES)],
        projections=projected,
        platform_accounts=cfg.platform_accounts,
        minutes_per_review=cfg.minutes_per_review,
        empirical_base_rate=empirical,
    )
    if cfg.drift:
        analysis.drift = drift_run(cfg, scn, cache, step)
    return analysis
