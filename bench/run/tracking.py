"""MLflow set-up and logging: one place that knows the store, the experiments and the names.

Local SQLite store under the working directory by default (MLflow 3's own default;
`MLFLOW_TRACKING_URI` overrides). The store is created and migrated once, by `setup`, before
anything logs, so parallel sweep jobs never race a schema migration. Everything is logged in
batches (`MlflowClient.log_batch`): a run logs hundreds of metrics, and one request per
metric would cost more than the analysis (docs/design.md "MLflow").
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bench.errors import TrackingStoreError
from bench.results import CeilingRecord, ModelEntry, RunResults, recall_key
from common.files import jsonable, pid_alive

DEFAULT_URI = "sqlite:///mlflow.db"
EXPERIMENTS = ("lowbase-run", "lowbase-sweep", "lowbase-leaderboard", "lowbase-certify", "lowbase-ceiling",
               "lowbase-frontier")  # fmt: skip
# What these experiments are (model development), for MLflow's own bookkeeping and API
# readers. MLflow 3.17's UI does not read it to pick its view (its workflow switch decides);
# `lowbase ui` lands on the model-training view through its URL (`bench.run.mlflow_ui`).
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
# MLflow's per-request limits for log_batch.
MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100
MAX_PARAM_CHARS = 6000
HOST_TAG, PID_TAG = "lowbase.host", "lowbase.pid"  # which process logs a run (see fail_orphans)


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a SQLite store URI (`sqlite:///rel.db`, `sqlite:////abs.db`)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri[len(prefix) :].startswith(":memory:"):
        return None
    return Path(uri[len(prefix) :].split("?")[0])


_held = threading.local()


@contextlib.contextmanager
def store_lock(uri: str | None = None) -> Iterator[None]:
    """One writer at a time on a SQLite store, across processes: an exclusive `flock` on a
    file beside the database. SQLite allows one writer and MLflow's first connection creates
    the schema, so two `lowbase run`s logging (or creating the store) at once would fail
    with "database is locked" or "table already exists". Re-entrant within a thread; a
    no-op for other stores (a tracking server serialises its own writes). The lock goes
    with the process, so a killed run never leaves the store locked."""
    path = _sqlite_file(uri or tracking_uri())
    depth = getattr(_held, "depth", 0)
    if path is None or depth:
        _held.depth = depth + 1
        try:
            yield
        finally:
            _held.depth = depth
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0
            fcntl.flock(f, fcntl.LOCK_UN)


# Stores MLflow can open; a local directory (file://, a bare path) is refused by MLflow 3
# itself, so it is refused here first, with the way out.
STORE_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
# How long a tracking server may take to answer the first request, and no retries: a store
# that is down is reported in seconds, not after minutes of backing off (or after a run).
CHECK_TIMEOUT_S = 15


def setup(uri: str | None = None):
    """Point MLflow at the store, create (and so migrate) it and our experiments once.
    Returns a client. Commands call it before any work, so a store that cannot be opened
    (a corrupt database, an unknown scheme, a server that does not answer) exits 2 naming
    it within seconds instead of failing after the computing."""
    import mlflow

    uri = uri or tracking_uri()
    scheme = uri.split("://", 1)[0] if "://" in uri else "file"
    if scheme not in STORE_SCHEMES:
        raise TrackingStoreError(
            f"MLflow store {uri!r}: scheme '{scheme}' is not supported (expected sqlite:///FILE, e.g. the default "
            f"{DEFAULT_URI}, or http(s)://HOST of a tracking server)"
        )
    mlflow.set_tracking_uri(uri)
    try:
        with _answer_quickly(), store_lock(uri):
            return _setup(uri)
    except Exception as e:  # noqa: BLE001 - whatever MLflow raises, the store is unusable
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise TrackingStoreError(f"MLflow store {uri!r}: cannot be opened ({type(e).__name__}: {first})") from None


@contextlib.contextmanager
def _answer_quickly() -> Iterator[None]:
    """MLflow's HTTP settings for the first contact only: one try, a short timeout (the
    user's own values win)."""
    keys = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(CHECK_TIMEOUT_S)}
    before = {k: os.environ.get(k) for k in keys}
    for k, v in keys.items():
        os.environ.setdefault(k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)


def _setup(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    for name in EXPERIMENTS:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            client.create_experiment(name, tags=EXPERIMENT_KIND)
        else:
            for key, value in EXPERIMENT_KIND.items():
                if exp.tags.get(key) != value:  # a store made before the kind was set
                    client.set_experiment_tag(exp.experiment_id, key, value)
    return client


def flat_params(results: RunResults) -> dict[str, str]:
    """The flattened scenario (`scenario.<section>.<field>`) and run config (`run.<field>`)."""
    out: dict[str, str] = {}

    def walk(prefix: str, x) -> None:
        if isinstance(x, dict) and x:
            for k, v in x.items():
                walk(f"{prefix}.{k}", v)
        else:
            out[prefix] = json.dumps(x) if isinstance(x, list | tuple | dict) else str(x)

    walk("scenario", jsonable(results.scenario.model_dump()))
    walk("run", jsonable(results.config.model_dump()))
    out["dataset.fingerprint"] = results.dataset.fingerprint
    return {k: v[:MAX_PARAM_CHARS] for k, v in out.items()}


def _put(out: dict[str, float], name: str, value: float) -> None:
    """Record a metric unless it is NaN (undefined: MLflow would show it as a number)."""
    if not math.isnan(value):
        out[name] = float(value)


def model_metrics(entry: ModelEntry, precision: float) -> dict[str, float]:
    """`<task>/<metric>` with `_ci_low`/`_ci_high` beside it, and the counts; the recall per
    groomer level at the operating threshold of `precision`, named after it
    (`groomer/recall_at_p95_L2` at 0.95)."""
    out: dict[str, float] = {}
    for task, mets in entry.metrics.items():
        out[f"{task}/n_positive"] = float(mets.n_positive)
        out[f"{task}/n_negative"] = float(mets.n_negative)
        for name, m in mets.intervals().items():
            _put(out, f"{task}/{name}", m.value)
            _put(out, f"{task}/{name}_ci_low", m.ci_low)
            _put(out, f"{task}/{name}_ci_high", m.ci_high)
    level_key = recall_key(precision)
    for lvl, s in entry.recall_by_level.items():
        if not math.isnan(s.value):
            out[f"groomer/{level_key}_{lvl}"] = float(s.value)
            out[f"groomer/n_{lvl}"] = float(s.n)
    return out


def powered_metrics(pw) -> dict[str, float]:
    """Per label variant and threshold: pooled FPR, TPR per level and at the scenario's mix
    (with interval ends), and precision at each base rate (a bound where no false positive
    was seen): `groomer/powered/<variant>/<threshold>/...`."""
    out: dict[str, float] = {}
    for variant, m in pw.models.items():
        tag = variant.replace(" ", "_").replace("(", "").replace(")", "")
        for thr, pt in m.by_threshold.items():
            base = f"{pw.task}/powered/{tag}/{thr.replace('<=', '_le_').replace('>=', '_ge_')}"
            for name, r in (("fpr", pt.fpr), ("tpr", pt.tpr_at_scenario_mix), *pt.tpr_by_level.items()):
                key = name if name in ("fpr", "tpr") else f"tpr_{name}"
                _put(out, f"{base}/{key}", r.value)
                _put(out, f"{base}/{key}_ci_low", r.low)
                _put(out, f"{base}/{key}_ci_high", r.high)
            for p in pt.precision:
                _put(out, f"{base}/precision_at_{p.base_rate:.0e}", p.value)
    return out


def analysis_metrics(results: RunResults) -> dict[str, float]:
    """The primary model's analyses: projections, detection-before-harm, drift, empirical."""
    an = results.analysis
    out: dict[str, float] = {}
    for task, rows in an.projections.items():
        for r in rows:
            tag = f"{r.base_rate:.0e}" if task == "groomer" else "measured"
            _put(out, f"{task}/precision_at_{tag}", r.precision.value)
            _put(out, f"{task}/innocent_per_offender_at_{tag}", r.innocent_per_offender.value)
            if r.classifier is not None:
                out[f"{task}/reviewer_hours_at_{tag}"] = float(r.classifier.reviewer_hours)
    dbh = an.detection_before_harm
    if dbh is not None:
        _put(out, "groomer/detection_before_harm", dbh.share.value)
        _put(out, "groomer/detection_before_harm_ci_low", dbh.share.ci_low)
        _put(out, "groomer/detection_before_harm_ci_high", dbh.share.ci_high)
    for task, tl in (an.timely or {}).items():
        _put(out, f"{task}/detection_before_harm_enriched", tl.share.value)
        _put(out, f"{task}/detection_before_harm_enriched_ci_low", tl.ci_by_offender[0])
        _put(out, f"{task}/detection_before_harm_enriched_ci_high", tl.ci_by_offender[1])
    if an.powered is not None:
        out.update(powered_metrics(an.powered))
    if results.ceiling is not None:
        out.update(ceiling_level_metrics(results.ceiling))
    if an.drift is not None:
        for task, periods in an.drift.tasks.items():
            for p, mets in periods:
                _put(out, f"drift/{task}/auroc_{p}", mets.auroc.value)
                _put(out, f"drift/{task}/recall_at_p95_{p}", mets.recall_at_p95.value)
    for r in an.empirical_base_rate:
        _put(out, f"groomer/empirical_precision_at_{r.base_rate:.0e}", r.precision.value)
    return out


def _batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def log_batch(client, run_id: str, metrics: dict | None = None, params: dict | None = None, tags: dict | None = None):
    with store_lock(client.tracking_uri):
        _log_batch(client, run_id, metrics, params, tags)


def _log_batch(client, run_id: str, metrics: dict | None, params: dict | None, tags: dict | None):
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


def _log_dataset(run_id: str, results: RunResults) -> None:
    """Dataset lineage: the dataset directory, named and digested by its fingerprint."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource

    d = results.dataset
    ds = MetaDataset(LocalArtifactDatasetSource(d.path), name=Path(d.path).name, digest=d.fingerprint[:16])
    with mlflow.start_run(run_id=run_id):
        mlflow.log_input(ds, context="generated")


def run_times_ms(results: RunResults) -> tuple[int | None, int | None]:
    """(start, end of the computation) in Unix milliseconds, as MLflow takes them; None
    where the results do not say (MLflow then uses the time of logging)."""
    t = results.timing
    if t is None or t.started_at is None:
        return None, None
    return int(t.started_at * 1000), int((t.started_at + t.pipeline_s) * 1000)


def fail_orphans(client, experiment: str) -> list[str]:
    """Mark FAILED the runs of `experiment` left RUNNING by a lowbase process of this host
    that no longer exists (killed while logging): a rerun then shows one finished run, not
    a finished one beside a run that looks alive forever. Returns their ids."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    host = socket.gethostname()
    runs = client.search_runs(
        [exp.experiment_id], filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'"
    )
    dead = [r.info.run_id for r in runs if not pid_alive(int(r.data.tags.get(PID_TAG, "0") or 0))]
    for rid in dead:
        client.set_terminated(rid, "FAILED")
    return dead


def log_run(client, results: RunResults, artifacts: dict[str, Path], **kw) -> str:
    """One run for the results (the primary model's figures and the analyses), one nested
    child per model with its metrics and fitted model files. `artifacts` maps an artifact
    folder to a local file or directory (report, headline, dataset card...). Returns the id.
    Holds the store's writer lock throughout (`store_lock`), so parallel runs take turns."""
    with store_lock(client.tracking_uri):
        fail_orphans(client, kw.get("experiment", "lowbase-run"))
        return _log_run(client, results, artifacts, **kw)


def _log_run(
    client,
    results: RunResults,
    artifacts: dict[str, Path],
    experiment: str = "lowbase-run",
    run_name: str | None = None,
    parent_id: str | None = None,
    tags: dict | None = None,
    log_models: bool = True,
) -> str:
    from models import hyperparameters

    start_ms, computed_ms = run_times_ms(results)
    owner = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    base_tags = {"lowbase.primary": results.primary, **owner, **(tags or {})}
    if parent_id:
        base_tags["mlflow.parentRunId"] = parent_id
    adopted = os.environ.get("MLFLOW_RUN_ID") if parent_id is None else None
    if adopted:  # started by `mlflow run` (MLproject): fill the run MLflow opened for us
        rid = adopted
        exp_id = client.get_run(rid).info.experiment_id
        log_batch(client, rid, tags={**base_tags, **({"mlflow.runName": run_name} if run_name else {})})
    else:
        exp_id = client.get_experiment_by_name(experiment).experiment_id
        rid = client.create_run(exp_id, start_time=start_ms, run_name=run_name, tags=base_tags).info.run_id
    try:
        primary_params = {f"model.{k}": v for k, v in hyperparameters(results.primary).items()}
        log_batch(
            client,
            rid,
            {**model_metrics(results.primary_entry, results.precision), **analysis_metrics(results)},
            {**flat_params(results), **primary_params},
        )
        _log_dataset(rid, results)
        for dest, path in artifacts.items():
            path = Path(path)
            if path.is_dir():
                client.log_artifacts(rid, str(path), dest)
            elif path.is_file():
                client.log_artifact(rid, str(path), dest)
        for name, entry in results.models.items():
            child_tags = {"mlflow.parentRunId": rid, "lowbase.model": name, **owner}
            child = client.create_run(exp_id, start_time=start_ms, run_name=name, tags=child_tags)
            params = {"model": name, **{f"model.{k}": v for k, v in hyperparameters(name).items()}}
            log_batch(
                client, child.info.run_id, model_metrics(entry, results.precision), {**params, **flat_params(results)}
            )
            if log_models and Path(entry.path).is_dir():
                client.log_artifacts(child.info.run_id, entry.path, f"model/{name}")
            client.set_terminated(child.info.run_id, "FINISHED", end_time=computed_ms)
        if not adopted:
            client.set_terminated(rid, "FINISHED", end_time=int(time.time() * 1000))
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


def log_certified(result: dict, params: dict, tags: dict) -> str:
    """One run in `lowbase-certify` per `lowbase certify`: the powered figures as metrics
    (`powered_metrics`), what was certified as params, tags linking the model directory and
    its training world, and the full result as `certified.json`. Returns the run id."""
    from bench.results import PoweredRecord

    client = setup()
    with store_lock(client.tracking_uri):
        exp = client.get_experiment_by_name("lowbase-certify")
        run = client.create_run(exp.experiment_id, run_name=tags.get("lowbase.model", "certify"), tags=tags)
    rid = run.info.run_id
    log_batch(client, rid, powered_metrics(PoweredRecord.model_validate(result)), params)
    with store_lock(client.tracking_uri):
        client.log_dict(rid, result, "certified.json")
        client.set_terminated(rid, "FINISHED")
    return rid


def ceiling_level_metrics(record: CeilingRecord) -> dict[str, float]:
    """Per threshold and level the ceiling's TPR with its interval and whether it is a
    lower bound (`groomer/ceiling/<threshold>/<level>/...`): a run logs these beside its own
    figures when it carries a cached ceiling, so MLflow compares them without the report."""
    out: dict[str, float] = {}
    for thr, levels in record.ceiling.items():
        t = thr.replace("<=", "_le_")
        for lvl, c in levels.items():
            base = f"{record.task}/ceiling/{t}/{lvl}/tpr"
            _put(out, base, c.tpr.value)
            _put(out, f"{base}_ci_low", c.tpr.low)
            _put(out, f"{base}_ci_high", c.tpr.high)
            out[f"{record.task}/ceiling/{t}/{lvl}/lower_bound"] = float(c.lower_bound)
    return out


def ceiling_metrics(record: CeilingRecord) -> dict[str, float]:
    """A ceiling's figures (`bench.results.CeilingRecord`): `ceiling_level_metrics`, then every
    class's curve point, TPR per level and FPR: `groomer/ceiling/<class>/<offenders>/<threshold>/...`."""
    out = ceiling_level_metrics(record)
    for cls, curve in record.models.items():
        for p in curve.curve:
            for thr, levels in p.tpr_by_level.items():
                base = f"{record.task}/ceiling/{cls}/{p.offenders}/{thr.replace('<=', '_le_')}"
                _put(out, f"{base}/fpr", p.fpr[thr].value)
                for lvl, r in levels.items():
                    _put(out, f"{base}/tpr_{lvl}", r.value)
    return out


def log_ceiling(record: CeilingRecord, params: dict, tags: dict) -> str:
    """One run in `lowbase-ceiling` per computed ceiling: `ceiling_metrics`, its settings as
    params, the scenario, visibility, seed and cache key as tags, the record as
    `ceiling.json`. Returns the run id."""
    client = setup()
    with store_lock(client.tracking_uri):
        exp = client.get_experiment_by_name("lowbase-ceiling")
        name = f"{record.scenario}-{record.visibility}-s{record.seed}"
        run = client.create_run(exp.experiment_id, run_name=name, tags=tags)
    rid = run.info.run_id
    log_batch(client, rid, ceiling_metrics(record), params)
    with store_lock(client.tracking_uri):
        client.log_dict(rid, record.model_dump(mode="json"), "ceiling.json")
        client.set_terminated(rid, "FINISHED")
    return rid


def log_ceiling_record(record: CeilingRecord, path: Path) -> str:
    """`log_ceiling` as every command that computes a ceiling logs it: its settings (lists
    joined by commas) and generator as params; its key, scenario, visibility, seed and cache
    file as tags. Returns the run id."""
    params = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in record.settings.items()}
    tags = {
        "lowbase.ceiling_key": record.key,
        "lowbase.scenario": record.scenario,
        "lowbase.visibility": record.visibility,
        "lowbase.seed": str(record.seed),
        "lowbase.cache": str(path),
    }
    return log_ceiling(record, {**params, "generator": record.generator}, tags)


def certified_of(client, run_name: str, primary: str, fingerprint: str) -> list[dict]:
    """Each finished `lowbase certify` of a run's primary model, oldest first: certify runs
    whose model directory is `<models>/<run_name>/<primary>` and whose training world has
    the run's dataset `fingerprint`. Each is its `certified.json`, with the certify run's id
    under "mlflow_run"."""
    exp = client.get_experiment_by_name("lowbase-certify")
    if exp is None:
        return []
    found = client.search_runs(
        [exp.experiment_id],
        filter_string=f"attributes.status = 'FINISHED' and tags.`lowbase.training_fingerprint` = '{fingerprint}'",
        order_by=["attributes.start_time ASC"],
    )
    out = []
    for r in found:
        model = Path(r.data.tags.get("lowbase.model", ""))
        if model.name == primary and model.parent.name == run_name:
            local = client.download_artifacts(r.info.run_id, "certified.json")
            out.append({**json.loads(Path(local).read_text()), "mlflow_run": r.info.run_id})
    return out
