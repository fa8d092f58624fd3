"""`lowbase run`: generate (or reuse), train every model, evaluate, analyse, as one results dict.

The results dict is the single source every consumer reads: the headline table, the MLflow
logger (`bench.tracking`), the report (`bench.report`) and sweeps. It is plain JSON, so a
report can be rebuilt from an MLflow artifact long after the run. MLflow is not imported
here: the pipeline computes, `tracking` records.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa

from common.vocabulary import DAY, SOPHISTICATION_LEVELS
from data_gen import GENERATOR_VERSION, generate
from data_gen.config import Scenario
from data_gen.reader import DatasetError, open_dataset
from models import ModelInput, make_model, save_model
from models.distributed import current_client, use_client

from .baserate import (
    BASE_RATES,
    analytic_curve,
    empirical_point,
    hash_matching_projection,
    platform_projection,
)
from .cluster import dask_client
from .cluster import executor as cluster_executor
from .config import RunConfig, resolve_scenario, scenario_with
from .detection import detection_before_harm, first_flag_times, recall_by_level
from .evaluate import evaluate, heldout_truth
from .intervals import Share, wilson_share
from .metrics import evaluate_task, operating_point

Step = Callable[[str], None]  # progress: called with a description at each step
EMPIRICAL_MAX_ACCOUNTS = 200_000  # default empirical base-rate points only up to this size
MAX_CURVE_POINTS = 2000  # curves longer than this are thinned for plots and artifacts


# ---------------------------------------------------------------- scenarios and datasets


def dataset_key(scn: Scenario, seed: int) -> str:
    """Same generator, scenario and seed give the same bytes, so they name the cache entry."""
    blob = json.dumps({"generator": GENERATOR_VERSION, "scenario": scn.model_dump(), "seed": seed}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_dataset(scn: Scenario, seed: int, cache: Path, workers: int, step: Step, executor=None):
    """Open the cached dataset for (scenario, seed), generating it when missing or invalid.
    A cached directory is reused only if its contract and hashes check out. Generation runs
    on `executor`, else on the Dask client of the run (`--dask`), else on `workers` processes:
    the bytes, hence the cache key, are the same either way."""
    path = Path(cache) / f"{scn.name}-s{seed}-{dataset_key(scn, seed)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One generator per cache entry at a time: parallel sweep jobs wanting the same
    # dataset wait for the first instead of racing it.
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / "dataset.json").is_file():
            try:
                step(f"reusing dataset {path.name}")
                return open_dataset(path)
            except DatasetError:
                shutil.rmtree(path, ignore_errors=True)
        step(f"generating {scn.name} ({scn.accounts:,} accounts)")
        if executor is None:
            executor = cluster_executor(current_client())
        generate(scn, seed, path, workers=workers, overwrite=True, executor=executor)
        return open_dataset(path, verify_hashes=False)


# ---------------------------------------------------------------- models


def _test_mask(td: ModelInput) -> np.ndarray:
    return td.split == "test"


def _scores_matrix(pred, tasks: tuple[str, ...], n: int) -> dict[str, np.ndarray]:
    """Per task, the score of every account (indexed by account id)."""
    out = {}
    for task in tasks:
        p = pred[pred["task"] == task]
        s = np.zeros(n)
        s[p["account_id"].to_numpy()] = p["score"].to_numpy()
        out[task] = s
    return out


def _curves(y: np.ndarray, s: np.ndarray) -> dict:
    """ROC corners (scikit-learn's drop_intermediate) and one PR point per recall step:
    at most ~2 points per positive, so the high-precision corner where platforms operate is
    kept exactly; thinned evenly only beyond MAX_CURVE_POINTS."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    if not 0 < y.sum() < len(y):
        return {}
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=True)
    prec, rec, _ = precision_recall_curve(y, s)
    step = np.r_[np.diff(rec) != 0, True]  # last of each equal-recall run: its best precision
    prec, rec = prec[step], rec[step]

    def thin(*cols):
        n = len(cols[0])
        idx = np.unique(np.linspace(0, n - 1, min(MAX_CURVE_POINTS, n)).astype(int))
        return [np.asarray(c)[idx].round(6).tolist() for c in cols]

    f, t = thin(fpr, tpr)
    p, r = thin(prec, rec)
    return {"roc": {"fpr": f, "tpr": t}, "pr": {"precision": p, "recall": r}}


def train_and_score(name: str, td: ModelInput, seed: int, out: Path | None):
    """Fit one model, save it (when `out`), and return it with its scores per task."""
    m = make_model(name)
    m.fit(td, seed)
    if out is not None:
        save_model(m, td, seed, out)
    pred = m.predict_scores(td)
    return m, pred


# ---------------------------------------------------------------- analyses


def _share(s) -> dict:
    return asdict(s)


def _operating(y, s, cfg: RunConfig) -> dict:
    out = {}
    for p in (cfg.precision, 0.99):
        op = operating_point(y, s, p)
        out[f"p{round(p * 100)}"] = {
            **asdict(op),
            "tpr_share": _share(wilson_share(op.true_flagged, op.n_positive)),
            "fpr_share": _share(wilson_share(op.false_flagged, op.n_negative)),
        }
    return out


def _projections(op: dict, rates: list[float], cfg: RunConfig) -> list[dict]:
    """Platform projection at each base rate, at the measured TPR/FPR and at the ends of
    their Wilson intervals: a test split with no false positive measures FPR = 0, which
    would project perfect precision; the interval's upper FPR says how far that holds."""
    t, f = op["tpr_share"], op["fpr_share"]

    def proj(tpr, fpr, pi):
        return platform_projection(tpr, fpr, pi, cfg.platform_accounts, cfg.minutes_per_review)

    if not (op["n_positive"] and op["n_negative"]):  # no positive (or negative) in test: nothing to project
        nan = _bounded(float("nan"), float("nan"), float("nan"))
        hm = [hash_matching_projection(pi, cfg.platform_accounts, cfg.minutes_per_review) for pi in rates]
        return [
            {
                "base_rate": pi,
                "classifier": None,
                "precision": nan,
                "innocent_per_offender": nan,
                "hash_matching": asdict(h),
            }
            for pi, h in zip(rates, hm, strict=True)
        ]
    rows = []
    for pi in rates:
        mid, worst, best = (
            proj(op["tpr"], op["fpr"], pi),
            proj(t["ci_low"], f["ci_high"], pi),
            proj(t["ci_high"], f["ci_low"], pi),
        )
        rows.append(
            {
                "base_rate": pi,
                "classifier": asdict(mid),
                "precision": _bounded(_precision(mid), _precision(worst), _precision(best)),
                "innocent_per_offender": _bounded(
                    mid.innocent_per_offender_found, best.innocent_per_offender_found, worst.innocent_per_offender_found
                ),
                "hash_matching": asdict(hash_matching_projection(pi, cfg.platform_accounts, cfg.minutes_per_review)),
            }
        )
    return rows


def _precision(p) -> float:
    return p.true_flagged / p.flagged if p.flagged else float("nan")


def _bounded(value: float, low: float, high: float) -> dict:
    return {"value": value, "ci_low": low, "ci_high": high}


def _harm_analysis(model, ds, cfg: RunConfig, threshold: float, final: np.ndarray, step: Step) -> dict:
    """Score test accounts on data up to each checkpoint (features `as_of`) with the model
    trained on the whole window; count harm events preceded by a flag. `final`: the groomer
    scores on the whole window, per account id."""
    days = ds.meta["scenario"]["activity"]["days"]
    cps = list(range(cfg.checkpoint_days, days + 1, cfg.checkpoint_days))
    if cps[-1] != days:
        cps.append(days)
    truth = heldout_truth(ds)
    test_ids = truth.loc[truth["groomer"], "account_id"].to_numpy()
    ev = ds.table("harm_events", ["offender", "ts"])
    offender, ts = ev["offender"].to_numpy(), ev["ts"].to_numpy()
    keep = np.isin(offender, test_ids)
    scores = []
    for d in cps:
        if d == days:  # the whole window: the scores the model already gave
            scores.append(final)
            continue
        step(f"detection-before-harm: scoring as of day {d}")
        td = ModelInput(ds.view(cfg.visibility), as_of=d * DAY)
        pred = model.predict_scores(td)
        scores.append(_scores_matrix(pred[pred["task"] == "groomer"], ("groomer",), td.n)["groomer"])
    first = first_flag_times(np.array(cps, dtype=np.float64) * DAY, np.vstack(scores), threshold)
    tl = detection_before_harm(offender[keep], ts[keep], first, np.array(cps) * DAY, seed=cfg.seed)
    return {
        "threshold": threshold,
        "checkpoint_days": cps,
        "share": _share(tl.share),
        "ci_by_offender": list(tl.ci_by_offender),
        "harm_share_by": tl.harm_share_by,
        "flagged_before_harm_by": tl.flagged_before_harm_by,
        "offenders_with_harm": int(len(np.unique(offender[keep]))),
        "test_groomers": int(len(test_ids)),
        "test_groomers_flagged_by_end": int(np.isfinite(first[test_ids]).sum()),
    }


def _empirical_rates(cfg: RunConfig, scn: Scenario) -> list[float]:
    if cfg.empirical_rates is not None:
        return list(cfg.empirical_rates)
    if scn.accounts > EMPIRICAL_MAX_ACCOUNTS:
        return []  # two more datasets of this size would double the run: `lowbase sweep` does it
    test_share = 1 - scn.splits.train - scn.splits.val
    # Rates above the scenario's own, each leaving >= ~30 groomers in the test split.
    return [r for r in (1e-2, 3e-3) if r > scn.harm.groomer_rate and scn.accounts * r * test_share >= 30]


def _empirical_sweep(cfg: RunConfig, scn: Scenario, fpr: float, cache: Path, step: Step) -> list[dict]:
    """Regenerate and retrain the primary model at other groomer rates; read each at the
    main run's false-positive budget (`baserate.empirical_point`)."""
    rows = []
    for rate in _empirical_rates(cfg, scn):
        ds = cached_dataset(scenario_with(scn, {"harm.groomer_rate": rate}), cfg.seed, cache, cfg.workers, step)
        step(f"empirical base rate {rate:g}: training {cfg.models[0]}")
        td = ModelInput(ds.view(cfg.visibility))
        _, pred = train_and_score(cfg.models[0], td, cfg.seed, None)
        s = _scores_matrix(pred, ("groomer",), td.n)["groomer"]
        test = _test_mask(td)
        y = _truth(ds, "groomer")["groomer"]
        rows.append({"knob": rate, **empirical_point(y[test], s[test], fpr)})
    return rows


def _truth(ds, *columns: str) -> dict[str, np.ndarray]:
    """Truth columns indexed by account id, from one read of the table."""
    t = ds.table("truth", ["account_id", *columns])
    ids = t["account_id"].to_numpy()
    out = {}
    for column in columns:
        out[column] = np.zeros(t.num_rows, dtype=t.schema.field(column).type.to_pandas_dtype())
        out[column][ids] = t[column].to_numpy()
    return out


def _test_split(ds) -> np.ndarray:
    """True for test-split accounts, indexed by account id (no model-side labels needed)."""
    t = ds.table("splits", ["account_id", "split"])
    out = np.zeros(t.num_rows, dtype=bool)
    out[t["account_id"].to_numpy()] = np.asarray(t["split"].cast(pa.string())) == "test"
    return out


def _drift(cfg: RunConfig, scn: Scenario, cache: Path, step: Step) -> dict:
    """Train the primary model on period-1 labels of the drift variant; evaluate its test
    accounts of period 1 (in-period) and period 2 (drifted) separately."""
    dscn = scenario_with(scn, {"drift.enabled": True})
    ds = cached_dataset(dscn, cfg.seed, cache, cfg.workers, step)
    step(f"drift: training {cfg.models[0]} on period 1")
    td = ModelInput(ds.view(cfg.visibility), label_period=1)
    _, pred = train_and_score(cfg.models[0], td, cfg.seed, None)
    scores = _scores_matrix(pred, td.tasks, td.n)
    test = _test_split(ds)
    truth = _truth(ds, *td.tasks)
    out: dict = {"fingerprint": ds.meta["fingerprint"], "tasks": {}}
    for task in td.tasks:
        y = truth[task]
        out["tasks"][task] = {
            f"period{p}": evaluate_task(
                y[test & (td.period == p)], scores[task][test & (td.period == p)], cfg.resamples
            )
            for p in (1, 2)
        }
    return out


# ---------------------------------------------------------------- the run


def run_pipeline(cfg: RunConfig, cache: Path, models_dir: Path, step: Step = lambda _: None) -> dict:
    """Generate or reuse the dataset (under `cache`), train every model (saved under
    `models_dir`), evaluate, analyse. Returns the JSON-able results."""
    with dask_client(cfg.dask) as client, use_client(client):
        if client is not None:
            step(f"Dask: {cfg.dask} ({len(client.scheduler_info()['workers'])} workers)")
        return _run_pipeline(cfg, cache, models_dir, step)


def _run_pipeline(cfg: RunConfig, cache: Path, models_dir: Path, step: Step) -> dict:
    cache = Path(cache)
    scn = resolve_scenario(cfg)
    ds = cached_dataset(scn, cfg.seed, cache, cfg.workers, step)
    step("building features")
    td = ModelInput(ds.view(cfg.visibility))
    td.features  # noqa: B018 - built once, shared by every model
    truth = _truth(ds, *ds.tasks, "sophistication")
    level = truth["sophistication"]
    test = _test_mask(td)
    results: dict = {
        "config": cfg.model_dump(mode="json"),
        "scenario": scn.model_dump(mode="json"),
        "dataset": {"path": str(ds.path), "fingerprint": ds.meta["fingerprint"], "rows": ds.meta["rows"]},
        "base_rates": {t: float(truth[t].mean()) for t in ds.tasks},
        "models": {},
    }
    fitted, groomer_scores = {}, {}
    for name in cfg.models:
        step(f"training {name}")
        mdir = Path(models_dir) / name
        shutil.rmtree(mdir, ignore_errors=True)
        m, pred = train_and_score(name, td, cfg.seed, mdir)
        fitted[name] = m
        step(f"evaluating {name}")
        metrics = evaluate(pred, ds, n_resamples=cfg.resamples, origin=name)
        scores = _scores_matrix(pred, ds.tasks, td.n)
        groomer_scores[name] = scores["groomer"]
        entry: dict = {"path": str(mdir), "metrics": metrics, "operating": {}, "curves": {}}
        for task in ds.tasks:
            y, s = truth[task][test].astype(np.int8), scores[task][test]
            entry["operating"][task] = _operating(y, s, cfg)
            entry["curves"][task] = _curves(y, s)
        op = entry["operating"]["groomer"][f"p{round(cfg.precision * 100)}"]
        entry["recall_by_level"] = {
            k: _share(v) for k, v in recall_by_level(level[test], scores["groomer"][test], op["threshold"]).items()
        }
        results["models"][name] = entry
    del td  # the main feature matrix (3.6 GB at 1M accounts) is not needed by the analyses
    primary = cfg.models[0]
    results["primary"] = primary
    results["analysis"] = _analyses(cfg, scn, ds, results, fitted[primary], groomer_scores[primary], cache, step)
    results["headline"] = headline(results)
    return results


def _analyses(
    cfg: RunConfig, scn: Scenario, ds, results: dict, model, final: np.ndarray, cache: Path, step: Step
) -> dict:
    """The primary model's analyses; `final` is its groomer score per account id."""
    key = f"p{round(cfg.precision * 100)}"
    ops = results["models"][results["primary"]]["operating"]
    g = ops["groomer"][key]
    tpr, fpr = Share(**g["tpr_share"]), Share(**g["fpr_share"])
    rates = sorted({results["base_rates"]["groomer"], *cfg.project_rates}, reverse=True)
    out: dict = {
        "operating_precision": cfg.precision,
        "base_rate_curve": analytic_curve(tpr, fpr, BASE_RATES),
        "projections": {
            "groomer": _projections(g, rates, cfg),
            **{t: _projections(ops[t][key], [results["base_rates"][t]], cfg) for t in ds.tasks if t != "groomer"},
        },
        "platform_accounts": cfg.platform_accounts,
        "minutes_per_review": cfg.minutes_per_review,
    }
    test = _test_split(ds)
    y, s = _truth(ds, "groomer")["groomer"][test].astype(np.int8), final[test]
    if g["threshold"] != float("inf") and g["n_positive"]:
        out["detection_before_harm"] = _harm_analysis(model, ds, cfg, g["threshold"], final, step)
    own = {"knob": results["base_rates"]["groomer"], "own": True}
    emp = _empirical_sweep(cfg, scn, g["fpr"], cache, step) if g["n_positive"] else []
    if 0 < y.sum() < len(y):
        emp.append({**own, **empirical_point(y, s, g["fpr"])})
    out["empirical_base_rate"] = sorted(emp, key=lambda r: -r["base_rate"])
    if cfg.drift:
        out["drift"] = _drift(cfg, scn, cache, step)
    return out


# ---------------------------------------------------------------- headline


def headline(results: dict) -> list[dict]:
    """Rows of the headline table (DESIGN.md): task and scenario; AUROC, recall@P0.95,
    recall@P0.99, precision at the projected base rate, innocent accounts flagged per
    offender found at platform scale, detection-before-harm. Figures are the primary model's."""
    m = results["models"][results["primary"]]
    an = results["analysis"]
    rows = []
    for task, met in m["metrics"].items():
        for proj in an["projections"][task]:
            measured = abs(proj["base_rate"] - results["base_rates"][task]) < 1e-15
            row = {
                "task": task,
                "scenario": f"{'measured' if measured else 'projected'} at {proj['base_rate']:.3g}",
                "n_positive": met["n_positive"] if measured else None,
                "auroc": met["auroc"] if measured else None,
                "recall_at_p95": met["recall_at_p95"] if measured else None,
                "recall_at_p99": met["recall_at_p99"] if measured else None,
                "precision_at_base_rate": proj["precision"],
                "innocent_per_offender": proj["innocent_per_offender"],
                "detection_before_harm": None,
            }
            if task == "groomer" and measured and "detection_before_harm" in an:
                row["detection_before_harm"] = an["detection_before_harm"]["share"]
            rows.append(row)
        if task == "groomer":
            for lvl in SOPHISTICATION_LEVELS:
                r = m["recall_by_level"][lvl]
                rows.append(
                    {"task": f"groomer {lvl}", "scenario": "measured", "n_positive": r["n"], "recall_at_p95": r}
                )
    hm = an["projections"]["groomer"][-1]["hash_matching"]
    rows.append(
        {
            "task": "groomer (content hash matching)",
            "scenario": f"projected at {hm['base_rate']:.3g}",
            "precision_at_base_rate": {"value": hm["true_flagged"] / hm["flagged"]},
            "innocent_per_offender": {"value": hm["innocent_per_offender_found"]},
        }
    )
    return rows


def json_safe(x):
    """Strict JSON: NaN becomes null, inf a string; numpy scalars become Python numbers."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        if x != x:
            return None
        if x in (float("inf"), float("-inf")):
            return "inf" if x > 0 else "-inf"
    if isinstance(x, pa.Scalar):
        return x.as_py()
    return x
