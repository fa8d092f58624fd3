"""One `lowbase run`: pipeline -> cached ceiling -> results.json -> report -> MLflow, with
its timings.

Kept apart from the pipeline so a sweep can run many pipelines in worker processes and
log them all from one process (the only writer to the SQLite store).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.results import RunResults, Timing, dump_results
from bench.run.pipeline import run_pipeline
from bench.setup.config import RunConfig, resolve_scenario, run_name
from common.files import write_text_atomic
from data_gen import Scenario


@dataclass
class Done:
    results: RunResults
    run_id: str | None
    report: Path  # the report directory
    uri: str
    timing: str
    name: str  # the run's name: its results, report, models and MLflow run go by it
    results_path: Path  # results.json


def compute(cfg: RunConfig, workdir: Path, step) -> tuple[str, RunResults, Path, Path]:
    """Run the pipeline and write results.json and the report; no MLflow (safe in any
    process). Returns (name, results, results path, report dir)."""
    from bench.report import write_report

    workdir = Path(workdir)
    scn = resolve_scenario(cfg)
    name = run_name(cfg, scn)
    t0, started = time.perf_counter(), time.time()
    results = run_pipeline(cfg, workdir / "datasets", workdir / "models" / name, step)
    results.timing = Timing(pipeline_s=time.perf_counter() - t0, started_at=started)
    attach_ceiling(results, scn, workdir, step)
    path = write_text_atomic(workdir / "runs" / name / "results.json", dump_results(results))
    step("writing the report")
    report = workdir / "reports" / name
    write_report(results, report)
    return name, results, path, report


def attach_ceiling(results: RunResults, scn: Scenario, workdir: Path, step) -> None:
    """The cached ceiling of the run's scenario, visibility and seed on the results, when the
    run has a powered groomer evaluation to compare it with; of several, one read on the
    run's own TPR and FPR worlds first (`cached_ceiling`). Only read (one JSON file): a
    ceiling costs far more than a run, so `lowbase ceiling` computes it and the step line
    says which file was read or the command that would write one. `lowbase run` and
    `lowbase report` both attach through here."""
    from bench.rare.ceiling import cache_path, cached_ceiling
    from bench.report.ceiling import run_ceiling_command
    from bench.results.ceiling import same_worlds

    pw, c = results.analysis.powered, results.config
    if pw is None or pw.task != "groomer" or not pw.models:
        return
    found = cached_ceiling(workdir, scn, c.visibility, c.seed, pw.worlds)
    if found is None:
        command = run_ceiling_command(results, workdir)
        where = " (from a scenario file with the run's --set overrides)" if c.overrides else ""
        step(f"ceiling: none cached for {scn.name}, {c.visibility}, seed {c.seed}; `{command}`{where} computes it")
        return
    results.ceiling = found
    path = cache_path(workdir, scn, c.visibility, c.seed, found.key)
    paired = "paired: the run's own TPR and FPR worlds" if same_worlds(found, pw) else "not paired: other worlds"
    step(f"ceiling: read {path} ({', '.join(found.models)}; labelled offenders per level {found.pool}; {paired})")


def log(client, name: str, results: RunResults, results_path: Path, report: Path, **kw) -> str:
    from bench.run.tracking import log_run

    artifacts = {
        "report": report,
        "results": results_path,
        "dataset": Path(results.dataset.path) / "dataset.json",
    }
    return log_run(client, results, artifacts, run_name=name, **kw)


def run_and_log(cfg: RunConfig, workdir: Path, step) -> Done:
    """The main job: set up the store first (a bad MLFLOW_TRACKING_URI fails in seconds, not
    after the run), compute, then log in batches and record how long logging took."""
    from bench.run.tracking import log_batch, setup, tracking_uri

    t0 = time.perf_counter()
    client = setup()
    t_setup = time.perf_counter() - t0
    name, results, path, report = compute(cfg, workdir, step)
    step("logging to MLflow")
    t1 = time.perf_counter()
    rid = log(client, name, results, path, report)
    t_log = time.perf_counter() - t1 + t_setup
    total = time.perf_counter() - t0
    log_batch(client, rid, {"timing/total_s": total, "timing/mlflow_s": t_log, "timing/mlflow_share": t_log / total})
    timing = f"total {total:.0f} s, of which MLflow {t_log:.1f} s ({t_log / total:.1%})"
    return Done(results, rid, report, tracking_uri(), timing, name, path)
