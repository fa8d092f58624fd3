"""`lowbase sweep SWEEP.yaml`: a grid of runs, one MLflow parent with nested children, resumable.

A sweep file names a base run config and a grid; each grid key is either a run field
(`visibility`, `seed`, `models`, ...) or a dotted scenario field (`harm.groomer_rate`,
`labels.weak_noise`, `drift.enabled`, ...). Every child is identified by the hash of its
resolved config, stored as a tag, so a rerun finds what already finished and skips it.
Jobs compute in worker processes; only the parent process writes to the tracking store,
so parallel jobs can never lose a run to SQLite locking.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bench.errors import RunConfigError, SweepError
from bench.run.tracking import store_lock
from bench.setup.config import RunConfig, make_run_config, resolve_scenario
from common.files import read_mapping, validate_model
from data_gen.config import ScenarioError

SWEEP_KEY, CHILD_KEY = "lowbase.sweep_key", "lowbase.child_key"


class SweepFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    base: dict[str, Any] = {}
    grid: dict[str, list[Any]] = Field(min_length=1)

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, v):
        empty = [k for k, vals in v.items() if not vals]
        if empty:
            raise ValueError(f"grid key(s) {empty} have no values")
        return v


def load_sweep(path: Path) -> SweepFile:
    data = read_mapping(path, SweepError, "a sweep file: a mapping with name, base and grid")
    return validate_model(SweepFile, data, path, SweepError)


def expand(sweep: SweepFile, origin: str) -> list[RunConfig]:
    """Every grid point as a validated RunConfig, in a fixed order (sorted keys)."""
    keys = sorted(sweep.grid)
    run_fields = set(RunConfig.model_fields) - {"overrides"}
    unknown = [k for k in [*keys, *sweep.base] if k not in run_fields and "." not in k]
    if unknown:
        raise SweepError(
            f"{origin}: field '{unknown[0]}' is neither a run field ({', '.join(sorted(run_fields))}) "
            "nor a dotted scenario field such as harm.groomer_rate"
        )
    out = []
    for values in itertools.product(*(sweep.grid[k] for k in keys)):
        point = {**sweep.base, **dict(zip(keys, values, strict=True))}
        fields = {k: v for k, v in point.items() if "." not in k}
        overrides = {k: v for k, v in point.items() if "." in k}
        for k in ("models", "project_rates", "empirical_rates"):
            if isinstance(fields.get(k), list):
                fields[k] = tuple(fields[k])
        try:
            cfg = make_run_config(origin=origin, overrides=overrides, **fields)
            resolve_scenario(cfg)  # a bad scenario field fails here, before any work
        except (RunConfigError, ScenarioError) as e:
            raise SweepError(str(e)) from None
        out.append(cfg)
    return out


def child_key(cfg: RunConfig) -> str:
    return hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def sweep_key(sweep: SweepFile) -> str:
    return hashlib.sha256(json.dumps(sweep.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def _parent(client, sweep: SweepFile) -> str:
    """The sweep's parent run: the existing one for this exact sweep (resume), or a new one."""
    exp = client.get_experiment_by_name("lowbase-sweep")
    key = sweep_key(sweep)
    found = client.search_runs([exp.experiment_id], filter_string=f"tags.`{SWEEP_KEY}` = '{key}'", max_results=5)
    if found:
        return found[0].info.run_id
    with store_lock(client.tracking_uri):
        run = client.create_run(
            exp.experiment_id, run_name=sweep.name, tags={SWEEP_KEY: key, "lowbase.sweep": sweep.name}
        )
        client.log_dict(run.info.run_id, sweep.model_dump(mode="json"), "sweep.json")
    return run.info.run_id


def _children(client, parent: str) -> dict[str, list]:
    exp = client.get_experiment_by_name("lowbase-sweep")
    runs = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'", max_results=10_000
    )
    out: dict[str, list] = {}
    for r in runs:
        out.setdefault(r.data.tags.get(CHILD_KEY, ""), []).append(r)
    return out


def _worker_init(threads: int) -> None:
    import torch

    from common import kernels

    kernels.check()  # the driver's pin reaches a spawned worker through its environment
    torch.set_num_threads(threads)


def _compute(cfg: RunConfig, workdir: Path):
    from bench.run.execute import compute

    return compute(cfg, workdir, lambda _: None)


def run_sweep(
    path: Path,
    workdir: Path,
    jobs: int = 1,
    on_child: Callable[[str, str], None] = lambda key, status: None,
) -> dict:
    """Run the sweep's missing children (`jobs` at a time) and log each under the parent.
    Returns {"parent": id, "children": {key: run id}, "skipped": [...], "ran": [...]}."""
    from bench.run.execute import log
    from bench.run.tracking import setup

    sweep = load_sweep(path)
    cfgs = expand(sweep, str(path))
    client = setup()  # creates and migrates the store once, before any job starts
    parent = _parent(client, sweep)
    existing = _children(client, parent)
    done, todo = {}, []
    for cfg in cfgs:
        key = child_key(cfg)
        finished = [r for r in existing.get(key, []) if r.info.status == "FINISHED"]
        for r in existing.get(key, []):
            if r.info.status != "FINISHED":  # a run cut off while logging: replace, never duplicate
                client.delete_run(r.info.run_id)
        if finished:
            done[key] = finished[0].info.run_id
            on_child(key, "skipped (finished before)")
        elif key not in {child_key(c) for c in todo}:
            todo.append(cfg)
    skipped = list(done)
    ran = []
    threads = max(1, len(os.sched_getaffinity(0)) // max(jobs, 1))
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=get_context("spawn"), initializer=_worker_init, initargs=(threads,)
    ) as pool:
        futures = {pool.submit(_compute, cfg, Path(workdir)): cfg for cfg in todo}
        for fut in as_completed(futures):
            cfg = futures[fut]
            key = child_key(cfg)
            name, results, rpath, report = fut.result()
            rid = log(
                client,
                name,
                results,
                rpath,
                report,
                experiment="lowbase-sweep",
                parent_id=parent,
                tags={CHILD_KEY: key, **{f"knob.{k}": str(v) for k, v in _knobs(sweep, cfg).items()}},
                log_models=False,
            )
            done[key] = rid
            ran.append(key)
            on_child(key, "finished")
    rows = summary(client, sweep, cfgs, done)
    client.log_dict(parent, rows, "sweep_summary.json")
    with store_lock(client.tracking_uri):
        client.set_terminated(parent, "FINISHED")
    return {"parent": parent, "children": done, "skipped": skipped, "ran": ran, "summary": rows}


SUMMARY_METRICS = (
    "spam/auroc",
    "spam/recall_at_p95",
    "groomer/auroc",
    "groomer/recall_at_p95",
    "groomer/recall_at_p99",
    "groomer/powered/realistic_labels/fpr_le_0.001/tpr",
    "groomer/powered/training-world_truth/fpr_le_0.001/tpr",
    "groomer/detection_before_harm_enriched",
    "spam/detection_before_harm_enriched",
)


def summary(client, sweep: SweepFile, cfgs: list[RunConfig], runs: dict[str, str]) -> list[dict]:
    """One row per child in grid order: its knobs and headline metrics, read back from MLflow
    (so a resumed sweep summarises children of earlier invocations too)."""
    rows = []
    for cfg in cfgs:
        rid = runs.get(child_key(cfg))
        metrics = client.get_run(rid).data.metrics if rid else {}
        rows.append({**_knobs(sweep, cfg), "run_id": rid, **{m: metrics.get(m) for m in SUMMARY_METRICS}})
    return rows


def _knobs(sweep: SweepFile, cfg: RunConfig) -> dict[str, Any]:
    """The grid values of this child, for tags and the summary table."""
    dumped = cfg.model_dump(mode="json")
    return {k: (cfg.overrides[k] if "." in k else dumped[k]) for k in sorted(sweep.grid)}
