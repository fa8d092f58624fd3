"""`lowbase frontier SWEEP.yaml`: the adversary's frontier (`bench.rare.frontier`) from the CLI.

Per strategy of the sweep file (`bench.setup.frontier`): the harm throughput of the level's
offenders, detection by a detector retrained on the strategy (the ceiling's recipe: the
defender adapts) and by the detector of the default behaviour (evasion), and detection
before harm. Every strategy's point is cached under the work directory as soon as it is
done, so an interrupted grid resumes where it stopped and a rerun reads it all.

    lowbase frontier bench/sweeps/frontier-L3.yaml [--jobs 2] [--figure frontier.png]
        [--report DIR] [--json frontier.json]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli.console import DASK_HELP, err, print_table, store_first, user_errors
from common.files import write_json_atomic


def frontier_cmd(
    sweep: Annotated[Path, typer.Argument(help="A frontier sweep file (e.g. bench/sweeps/frontier-L3.yaml).")],
    workdir: Annotated[Path, typer.Option(help="Dataset cache, evaluation worlds and the frontier cache.")] = Path(
        "lowbase-work"
    ),
    workers: Annotated[int, typer.Option(min=1, max=256, help="Processes for generation.")] = 2,
    jobs: Annotated[int, typer.Option(min=1, max=256, help="Worker processes for the evaluation worlds.")] = 1,
    dask: Annotated[str | None, typer.Option("--dask", help=f"Evaluation worlds on Dask: {DASK_HELP}.")] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Compute every strategy again.")] = False,
    plan_only: Annotated[bool, typer.Option("--plan", help="List the strategies and knobs; compute nothing.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the record as JSON here.")] = None,
    figure: Annotated[Path | None, typer.Option(help="Also draw the frontier (PNG).")] = None,
    report: Annotated[Path | None, typer.Option(help="Also write frontier.md and frontier.png here.")] = None,
    mlflow: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log the frontier to MLflow (experiment lowbase-frontier).")
    ] = True,
) -> None:
    """The adversary's frontier for one groomer level: per strategy, harm throughput against
    detection by the retrained ceiling and by the detector of the default behaviour."""
    from bench.setup.cluster import check_scheduler, parse_dask
    from bench.setup.frontier import load_frontier, strategies

    with user_errors():
        cfg = load_frontier(sweep)
        spec = check_scheduler(parse_dask(dask))  # a malformed --dask, or not a Dask scheduler: before any work
        todo = strategies(cfg)
        if plan_only:
            rows = [[s.name, ", ".join(f"{k}={v}" for k, v in s.knobs.items()) or "(the scenario's)"] for s in todo]
            title = f"frontier {cfg.name}: {cfg.preset}, {cfg.level}, seed {cfg.seed}"
            return print_table(title, ["strategy", "knobs"], rows)
        store_first(mlflow)
        record = _computed(cfg, workdir, workers, jobs, refresh, spec)
    _show(record)
    _write(record, json_out, figure, report, mlflow)


def _computed(cfg, work: Path, workers: int, jobs: int, refresh: bool, spec) -> dict:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from bench.rare.ceiling import DaskWorkers
    from bench.rare.frontier import frontier
    from bench.setup.cluster import dask_client

    with dask_client(spec) as client, Progress(
        TextColumn("frontier {task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name)

        def say(msg: str) -> None:
            bar.console.print(f"  {msg}", highlight=False)

        dask = None if spec is None else DaskWorkers(client, local=spec.address is None)
        return frontier(cfg, work, workers, jobs, say, dask, refresh, progress)


def _show(record: dict) -> None:
    from bench.report.frontier import frontier_table
    from bench.results.frontier import reading

    for thr in ("fpr<=0.001", "fpr<=0.0001"):
        header, rows = frontier_table(record, thr)
        print_table(f"frontier {record['name']}: {record['preset']}, {record['level']}, seed {record['seed']}, {thr}",
                    header, rows)  # fmt: skip
    for role in ("adapted", "unadapted"):
        err.print(reading(record, "fpr<=0.001", role)["text"], highlight=False)


def _write(record: dict, json_out: Path | None, figure: Path | None, report: Path | None, mlflow: bool) -> None:
    from bench.report.frontier import write_frontier_report
    from bench.report.frontier_figures import fig_frontier

    if json_out is not None:
        write_json_atomic(json_out, record)
    if figure is not None:
        fig_frontier(record, figure)
        err.print(f"figure: {figure}", highlight=False)
    if report is not None:
        err.print(f"report: {write_frontier_report(record, report)}", highlight=False)
    if mlflow:
        from bench.run.frontier_log import log_frontier
        from bench.run.tracking import tracking_uri

        rid = log_frontier(record, figure)
        err.print(f"MLflow run {rid} in experiment lowbase-frontier ({tracking_uri()})", highlight=False)
