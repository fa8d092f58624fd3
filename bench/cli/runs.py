"""`lowbase run`, `sweep`, `report` and `ui`: the benchmark run and what reads it, with the
console headline a run ends with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bench.cli.console import DASK_HELP, err, out, user_errors
from bench.errors import RunConfigError
from bench.setup.cluster import check_scheduler, parse_dask


def _fmt(cell) -> str:
    """A sweep summary cell: numbers to 3 decimals, nothing for missing."""
    if cell is None:
        return ""
    return f"{cell:.3f}" if isinstance(cell, float) else str(cell)


def _print_headline(rows, title: str) -> None:
    """The same cells as the report's headline table (bench.report): a rich table on a
    terminal, Markdown (full width, pipeable) otherwise. `rows`: `RunResults.headline`."""
    from bench.report import headline_cells, headline_columns, headline_markdown

    if not out.is_terminal:
        print(f"{title}\n\n{headline_markdown(rows)}", flush=True)
        return
    t = Table(title=title)
    for i, (_, label) in enumerate(headline_columns(rows)):
        t.add_column(label, justify="left" if i < 2 else "right")
    for cells in headline_cells(rows):
        t.add_row(*(escape(c) for c in cells))
    out.print(t)


def _step_printer(quiet: bool):
    import time

    start = time.perf_counter()

    def step(msg: str) -> None:
        if not quiet:
            err.print(f"[dim]{time.perf_counter() - start:7.1f}s[/] {escape(msg)}", highlight=False)

    return step


def _overrides(items: list[str]) -> dict:
    """KEY=VALUE pairs, values read as YAML (numbers, booleans, lists)."""
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RunConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. harm.groomer_rate=0.01")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise RunConfigError(f"--set {item!r}: value is not valid YAML") from None
    return out


def run_cmd(
    preset: Annotated[str, typer.Option(help="Preset (quick, standard) or a scenario YAML file.")] = "quick",
    seed: Annotated[int, typer.Option(min=0, max=2**31 - 1, help="Random seed (data and models).")] = 0,
    accounts: Annotated[int | None, typer.Option(min=200, help="Override the scenario's number of accounts.")] = None,
    models: Annotated[str, typer.Option(help="Comma-separated models; the first is the primary.")] = (
        "dec,gbdt-raw,logreg,rules,random"
    ),
    visibility: Annotated[str, typer.Option(help="Metadata visibility: full, sealed_sender, minimal.")] = "full",
    workdir: Annotated[Path, typer.Option(help="Dataset cache, models and reports go here.")] = Path("lowbase-work"),
    workers: Annotated[int, typer.Option(min=1, max=256, help="Generator processes.")] = 2,
    resamples: Annotated[int, typer.Option(min=10, max=100_000, help="Bootstrap resamples per interval.")] = 200,
    drift: Annotated[bool, typer.Option(help="Also train on period 1 and test on period 2 of a drift variant.")] = True,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Scenario field override KEY=VALUE, e.g. harm.groomer_rate=0.01 (repeatable)."),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines.")] = False,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help=f"{DASK_HELP}: generation, features and LightGBM run there."),
    ] = None,
    powered: Annotated[
        bool,
        typer.Option(help="Groomer TPR on enriched worlds, FPR on fresh worlds, training-world truth, label budgets."),
    ] = True,
    fpr_accounts: Annotated[
        int | None,
        typer.Option(min=0, max=10**10, help="Negatives for the pooled FPR [default: 10 worlds, at most 1M]."),
    ] = None,
    label_budgets: Annotated[str, typer.Option(help="Labelled offenders of the label-budget sweep.")] = "10,30,100,300",
    full: Annotated[
        bool, typer.Option("--full", help="Also print the full headline and powered tables (Markdown off a terminal).")
    ] = False,
) -> None:
    """The main job: generate (or reuse), train DEC and every baseline, evaluate, analyse,
    log to MLflow, write the report and print a headline of at most 100 columns and where
    the full tables are."""
    options = dict(locals())  # every option by name, before anything else is bound
    from bench.run.execute import run_and_log

    with user_errors():
        cfg = _run_config(options)
        done = run_and_log(cfg, workdir, _step_printer(quiet))
    _print_run_end(done, full)


def _run_config(o: dict):
    """The run config of `lowbase run`'s options; a bad option or --set fails now, before any work."""
    from bench.setup.config import make_run_config, resolve_scenario

    check_scheduler(parse_dask(o["dask"]))  # an address that is not a Dask scheduler too
    cfg = make_run_config(
        dask=o["dask"],
        preset=o["preset"],
        seed=o["seed"],
        accounts=o["accounts"],
        models=tuple(m for m in o["models"].split(",") if m),
        visibility=o["visibility"],
        workers=o["workers"],
        resamples=o["resamples"],
        drift=o["drift"],
        overrides=_overrides(o["set_"] or []),
        powered=o["powered"],
        fpr_accounts=o["fpr_accounts"],
        label_budgets=_budgets(o["label_budgets"]),
    )
    resolve_scenario(cfg)
    return cfg


def _print_run_end(done, full: bool) -> None:
    """The end of `lowbase run`: with --full the full tables, then the compact headline
    (stdout), then where the full tables are and the timing (stderr)."""
    from bench.cli.headline import Where, print_headline, where_lines

    r = done.results
    about = f"lowbase run: {r.scenario.name}, seed {r.config.seed}, primary model {r.primary}"
    if full:
        _print_headline(r.headline, f"{about} (value [95% interval])")
        if r.analysis.powered is not None:
            from bench.cli.certify import print_powered_headline

            print_powered_headline(r)
        out.print()
    print_headline(r, f"{about}; value [95% interval]", out)
    where = Where(done.report, done.results_path, done.name, done.run_id, done.uri)
    err.print("\n".join(["", *where_lines(where, full), done.timing]), highlight=False)


def _budgets(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(f"--label-budgets: expected comma-separated integers, got {text!r}") from None
    if any(b < 2 for b in out):
        raise typer.BadParameter("--label-budgets: each budget must be >= 2 (one offender in train and one in val)")
    return out


def sweep_cmd(
    sweep_file: Annotated[
        Path, typer.Argument(help="Sweep YAML: name, base (run fields), grid (run or dotted scenario fields).")
    ],
    jobs: Annotated[int, typer.Option(min=1, max=64, help="Children computed in parallel (processes).")] = 1,
    workdir: Annotated[Path, typer.Option(help="Dataset cache, models and reports go here.")] = Path("lowbase-work"),
    quiet: Annotated[bool, typer.Option(help="No progress lines.")] = False,
) -> None:
    """A grid of runs as one MLflow parent run with nested children; a rerun skips the
    children that already finished."""
    from bench.errors import SweepError
    from bench.run.sweep import expand, load_sweep, run_sweep

    step = _step_printer(quiet)
    with user_errors():
        try:
            n = len(expand(load_sweep(sweep_file), str(sweep_file)))
            step(f"sweep {sweep_file}: {n} children, {jobs} at a time")
            res = run_sweep(sweep_file, workdir, jobs, on_child=lambda key, status: step(f"child {key}: {status}"))
        except SweepError as e:
            raise RunConfigError(str(e)) from None
    t = Table(title=f"sweep {sweep_file.name}: {len(res['ran'])} ran, {len(res['skipped'])} skipped (finished before)")
    rows = res["summary"]
    for col in rows[0]:
        t.add_column(col, justify="left" if col in rows[0] and not col.count("/") else "right")
    for row in rows:
        t.add_row(*(escape(_fmt(v)) if v is not None else "" for v in row.values()))
    out.print(t)
    err.print(f"MLflow parent run {res['parent']} in experiment lowbase-sweep", highlight=False)
    sweep = load_sweep(sweep_file)
    if set(sweep.grid) == {"seed"}:  # the same run on K seeds: mean, spread and every seed's value
        from bench.run.over_seeds import child_results, seed_summary, write_seed_summary

        with user_errors():
            summary = seed_summary(child_results(expand(sweep, str(sweep_file)), workdir))
            path = write_seed_summary(summary, workdir / "sweeps" / sweep.name / "seeds.json")
        print_seed_summary(summary, path)


def report_cmd(
    run_id: Annotated[
        str | None, typer.Option(help="MLflow run id (default: the latest finished lowbase run).")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report directory (default reports/RUN_ID).")] = None,
    workdir: Annotated[
        Path, typer.Option(help="Work directory whose ceiling cache is read when the run carries no ceiling.")
    ] = Path("lowbase-work"),
) -> None:
    """HTML and Markdown report with plots, rebuilt from a run's results in MLflow, with every
    `lowbase certify` of its primary model beside the run's own groomer figures, and the
    ceiling of its scenario, visibility and seed when one is cached (`lowbase ceiling`)."""
    import mlflow

    from bench.errors import ResultsError
    from bench.report import write_report
    from bench.results import CertifiedRecord, load_results
    from bench.run.execute import attach_ceiling
    from bench.run.tracking import certified_of, latest_run, setup, tracking_uri
    from data_gen import Scenario

    with user_errors():
        client = setup()
        rid = run_id or latest_run(client)
        if rid is None:
            raise RunConfigError(
                f"no finished run in experiment lowbase-run at {tracking_uri()}; run `lowbase run` first"
            )
        try:
            run = client.get_run(rid)
        except mlflow.exceptions.MlflowException:
            raise RunConfigError(f"--run-id {rid}: no such run at {tracking_uri()}") from None
        try:
            local = client.download_artifacts(rid, "results/results.json")
        except (mlflow.exceptions.MlflowException, OSError):
            raise RunConfigError(f"run {rid} has no results/results.json artifact (not a lowbase run?)") from None
        try:
            results = load_results(Path(local))
        except ResultsError as e:  # a results.json this version cannot read: bad input, exit 2
            raise RunConfigError(f"run {rid}: {e}") from None
        found = certified_of(client, run.info.run_name, results.primary, results.dataset.fingerprint)
        results.certified = [CertifiedRecord.model_validate(c) for c in found]
        if results.ceiling is None:  # a run that carries its ceiling keeps it
            attach_ceiling(
                results, Scenario.model_validate(results.scenario.model_dump()), workdir, _step_printer(False)
            )
        target = out_dir or Path("reports") / rid
        write_report(results, target)
    err.print(f"report: {target / 'report.html'} and {target / 'report.md'}", highlight=False)


def ui_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 5000,
) -> None:
    """Start the MLflow UI on the tracking store (MLFLOW_TRACKING_URI or sqlite:///mlflow.db)."""
    from bench.run.mlflow_ui import landing_url, serve
    from bench.run.tracking import setup, tracking_uri

    client = setup()  # the experiments exist even before the first run, so the UI is not empty
    exp_id = client.get_experiment_by_name("lowbase-run").experiment_id

    def ready(url: str) -> None:
        err.print(f"MLflow UI for {tracking_uri()} at {landing_url(url, exp_id)} (Ctrl-C stops it)", highlight=False)

    try:
        code = serve(tracking_uri(), host, port, on_ready=ready)
    except TimeoutError as e:
        err.print(f"[bold red]error:[/] the MLflow UI did not come up: {escape(str(e))}", highlight=False)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def print_seed_summary(summary: dict, path: Path) -> None:
    """The seed table on the console (a rich table on a terminal, Markdown otherwise)."""
    from bench.cli.console import print_table
    from bench.run.over_seeds import seed_cell, seed_rows

    header, rows = seed_rows(summary)
    if not header:
        return
    title = (
        f"groomers over seeds {summary['seeds']}: mean ± std (sample) at {summary['threshold']}, "
        "thresholds from each seed's validation split"
    )
    print_table(title, header, rows)
    timely = summary.get("detection_before_harm") or {}
    if timely:
        print_table(
            "detection before harm on the enriched worlds: share of harm events preceded by a flag, mean ± std",
            ["task", "share"],
            [[t, seed_cell(st)] for t, st in timely.items()],
        )
    err.print(f"every seed's value: {path}", highlight=False)
