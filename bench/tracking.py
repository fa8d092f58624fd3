"""MLflow set-up and logging: one place that knows the store, the experiments and the names.

Local SQLite store under the working directory by default (MLflow 3's own default;
`MLFLOW_TRACKING_URI` overrides). The store is created and migrated once, by `setup`, before
anything logs, so parallel sweep jobs never race a schema migration. Everything is logged in
batches (`MlflowClient.log_batch`): a run logs hundreds of metrics, and one request per
metric would cost more than the analysis (DESIGN.md "MLflow").
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

DEFAULT_URI = "sqlite:///mlflow.db"
EXPERIMENTS = ("lowbase-run", "lowbase-sweep", "lowbase-leaderboard")
# MLflow's per-request limits for log_batch.
MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100
MAX_PARAM_CHARS = 6000


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def setup(uri: str | None = None):
    """Point MLflow at the store, create (and so migrate) it and our experiments once.
    Returns a client."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = uri or tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    for name in EXPERIMENTS:
        if client.get_experiment_by_name(name) is None:
            client.create_experiment(name)
    return client


def flat_params(results: dict) -> dict[str, str]:
    """The flattened scenario (`scenario.<section>.<field>`) and run config (`run.<field>`)."""
    out: dict[str, str] = {}

    def walk(prefix: str, x) -> None:
        if isinstance(x, dict) and x:
            for k, v in x.items():
                walk(f"{prefix}.{k}", v)
        else:
            out[prefix] = json.dumps(x) if isinstance(x, list | tuple | dict) else str(x)

    walk("scenario", results["scenario"])
    walk("run", results["config"])
    out["dataset.fingerprint"] = results["dataset"]["fingerprint"]
    return {k: v[:MAX_PARAM_CHARS] for k, v in out.items()}


def _num(x) -> float | None:
    if isinstance(x, int | float) and x == x:
        return float(x)
    if x == "inf":
        return float("inf")
    return None


def model_metrics(entry: dict) -> dict[str, float]:
    """`<task>/<metric>` with `_ci_low`/`_ci_high` beside it, and the counts."""
    out = {}
    for task, mets in entry["metrics"].items():
        for name, m in mets.items():
            if isinstance(m, dict):
                for suffix, key in (("", "value"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high")):
                    v = _num(m.get(key))
                    if v is not None:
                        out[f"{task}/{name}{suffix}"] = v
            elif _num(m) is not None:
                out[f"{task}/{name}"] = float(m)
    for lvl, s in entry.get("recall_by_level", {}).items():
        if _num(s["value"]) is not None:
            out[f"groomer/recall_at_p95_{lvl}"] = float(s["value"])
            out[f"groomer/n_{lvl}"] = float(s["n"])
    return out


def analysis_metrics(results: dict) -> dict[str, float]:
    """The primary model's analyses: projections, detection-before-harm, drift, empirical."""
    an = results["analysis"]
    out = {}
    for task, rows in an["projections"].items():
        for r in rows:
            tag = f"{r['base_rate']:.0e}" if task == "groomer" else "measured"
            for key in ("precision", "innocent_per_offender"):
                v = _num(r[key]["value"])
                if v is not None:
                    out[f"{task}/{key}_at_{tag}"] = v
            if r.get("classifier"):
                out[f"{task}/reviewer_hours_at_{tag}"] = float(r["classifier"]["reviewer_hours"])
    dbh = an.get("detection_before_harm")
    if dbh:
        for k in ("value", "ci_low", "ci_high"):
            v = _num(dbh["share"][k])
            if v is not None:
                out["groomer/detection_before_harm" + ("" if k == "value" else f"_{k}")] = v
    for task, periods in an.get("drift", {}).get("tasks", {}).items():
        for p, mets in periods.items():
            for name in ("auroc", "recall_at_p95"):
                v = _num(mets[name]["value"])
                if v is not None:
                    out[f"drift/{task}/{name}_{p}"] = v
    for r in an.get("empirical_base_rate", []):
        v = _num(r["precision"]["value"])
        if v is not None:
            out[f"groomer/empirical_precision_at_{r['base_rate']:.0e}"] = v
    return out


def _batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def log_batch(client, run_id: str, metrics: dict | None = None, params: dict | None = None, tags: dict | None = None):
    from mlflow.entities import Metric, Param, RunTag

    ts = int(time.time() * 1000)
    ms = [Metric(k, v, ts, 0) for k, v in (metrics or {}).items()]
    ps = [Param(k, str(v)) for k, v in (params or {}).items()]
    tg = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    for chunk in _batches(ms, MAX_METRICS):
        client.log_batch(run_id, metrics=chunk)
    for chunk in _batches(ps, MAX_PARAMS):
        client.log_batch(run_id, params=chunk)
    for chunk in _batches(tg, MAX_TAGS):
        client.log_batch(run_id, tags=chunk)


def _log_dataset(run_id: str, results: dict) -> None:
    """Dataset lineage: the dataset directory, named and digested by its fingerprint."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource

    d = results["dataset"]
    ds = MetaDataset(LocalArtifactDatasetSource(d["path"]), name=Path(d["path"]).name, digest=d["fingerprint"][:16])
    with mlflow.start_run(run_id=run_id):
        mlflow.log_input(ds, context="generated")


def log_run(
    client,
    results: dict,
    artifacts: dict[str, Path],
    experiment: str = "lowbase-run",
    run_name: str | None = None,
    parent_id: str | None = None,
    tags: dict | None = None,
    log_models: bool = True,
) -> str:
    """One run for the results (the primary model's figures and the analyses), one nested
    child per model with its metrics and fitted model files. `artifacts` maps an artifact
    folder to a local file or directory (report, headline, dataset card...). Returns the id."""
    from models import hyperparameters

    base_tags = {"lowbase.primary": results["primary"], **(tags or {})}
    if parent_id:
        base_tags["mlflow.parentRunId"] = parent_id
    adopted = os.environ.get("MLFLOW_RUN_ID") if parent_id is None else None
    if adopted:  # started by `mlflow run` (MLproject): fill the run MLflow opened for us
        rid = adopted
        exp_id = client.get_run(rid).info.experiment_id
        log_batch(client, rid, tags={**base_tags, **({"mlflow.runName": run_name} if run_name else {})})
    else:
        exp_id = client.get_experiment_by_name(experiment).experiment_id
        rid = client.create_run(exp_id, run_name=run_name, tags=base_tags).info.run_id
    try:
        primary = results["models"][results["primary"]]
        primary_params = {f"model.{k}": v for k, v in hyperparameters(results["primary"]).items()}
        log_batch(
            client,
            rid,
            {**model_metrics(primary), **analysis_metrics(results)},
            {**flat_params(results), **primary_params},
        )
        _log_dataset(rid, results)
        for dest, path in artifacts.items():
            path = Path(path)
            if path.is_dir():
                client.log_artifacts(rid, str(path), dest)
            elif path.is_file():
                client.log_artifact(rid, str(path), dest)
        for name, entry in results["models"].items():
            child = client.create_run(exp_id, run_name=name, tags={"mlflow.parentRunId": rid, "lowbase.model": name})
            params = {"model": name, **{f"model.{k}": v for k, v in hyperparameters(name).items()}}
            log_batch(client, child.info.run_id, model_metrics(entry), {**params, **flat_params(results)})
            if log_models and Path(entry["path"]).is_dir():
                client.log_artifacts(child.info.run_id, entry["path"], f"model/{name}")
            client.set_terminated(child.info.run_id, "FINISHED")
        if not adopted:
            client.set_terminated(rid, "FINISHED")
    except BaseException:
        if not adopted:
            client.set_terminated(rid, "FAILED")
        raise
    return rid


def latest_run(client, experiment: str = "lowbase-run") -> str | None:
    """The newest finished top-level run of the experiment."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string="attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=50,
    )
    top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    return top[0].info.run_id if top else None
