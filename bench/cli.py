"""The `lowbase` command line.

Exit codes are part of the contract: 0 success, 2 bad input (with a message naming the
field or file), 1 internal error. Long work shows a progress bar on stderr.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.errors import PredictionsError, RunConfigError
from common.files import dumps_json, write_json_atomic
from common.memory import turn_off_hugepage_advice
from data_gen import GENERATOR_VERSION, generate, load_scenario
from data_gen.generate import stage_plan
from data_gen.reader import open_dataset
from models.protocol import load_card

from .cluster import dask_client, executor, parse_dask
from .console import err, out, user_errors

DASK_HELP = "local:K (a local Dask cluster of K worker processes) or a scheduler address HOST:PORT"

app = typer.Typer(
    name="lowbase",
    help="A benchmark for metadata-only classifiers against rare, adversarial harms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _progress(scn, quiet: bool):
    bar = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet or not err.is_terminal and os.environ.get("LOWBASE_PROGRESS") != "1",
    )
    tasks = {name: bar.add_task(name, total=steps) for name, steps in stage_plan(scn)}

    def update(stage: str, done: int) -> None:
        bar.update(tasks[stage], completed=done)

    return bar, update


@app.command("generate")
def generate_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset directory to create.")],
    scenario: Annotated[str, typer.Option(help="Preset (quick, standard, large) or a scenario YAML file.")] = "quick",
    accounts: Annotated[int | None, typer.Option(min=200, help="Override the scenario's number of accounts.")] = None,
    seed: Annotated[int, typer.Option(min=0, max=2**63 - 1, help="Random seed.")] = 0,
    workers: Annotated[int, typer.Option(min=1, max=256, help="Processes; output is identical for any value.")] = 1,
    overwrite: Annotated[
        bool, typer.Option(help="Replace --out if it is a dataset this tool wrote (never any other directory).")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help=f"{DASK_HELP}."),
    ] = None,
) -> None:
    """Build a dataset: a directory of parquet tables plus dataset.json."""
    with user_errors():
        spec = parse_dask(dask)
        scn = load_scenario(scenario, accounts)
        _warn_groomers(scn)
        bar, update = _progress(scn, quiet)
        with dask_client(spec) as client, bar:
            meta = generate(
                scn, seed, out_dir, workers=workers, overwrite=overwrite, progress=update, executor=executor(client)
            )
    rows = meta["rows"]
    err.print(
        f"wrote {out_dir} ({scn.name}, {scn.accounts:,} accounts, seed {seed}): "
        f"{rows['friendships']:,} friendships, {rows['messages']:,} messages; "
        f"fingerprint {meta['fingerprint'][:16]}",
        highlight=False,
    )


def _warn_groomers(scn) -> None:
    """Say so when the population is too small for the groomer rate: never silently empty."""
    expected = scn.expected_groomers()
    what = f"{scn.accounts:,} accounts x harm.groomer_rate {scn.harm.groomer_rate:g} = {expected:.2f} expected groomers"
    if expected < 1:
        err.print(
            f"[bold yellow]warning:[/] {what}: the dataset will most likely hold no groomer, so groomer "
            "metrics will be empty; raise --accounts or harm.groomer_rate.",
            highlight=False,
        )
    elif expected < 30:
        err.print(f"[bold yellow]warning:[/] {what}: groomer figures will rest on very few positives.", highlight=False)


@app.command("inspect")
def inspect_cmd(
    data: Annotated[Path, typer.Argument(help="Dataset directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    leakage: Annotated[
        bool,
        typer.Option(
            "--leakage",
            help="Also audit single statistics (behavioural and generation artefacts) by AUROC against "
            "each kind of positive's matched benign reference.",
        ),
    ] = False,
    separability: Annotated[
        bool,
        typer.Option(
            "--separability",
            help="Also train the separability oracle: out-of-fold AUROC of LightGBM trained on truth, per groomer "
            "level against its matched reference and per task against benign (minutes on 100K accounts).",
        ),
    ] = False,
    top: Annotated[int, typer.Option(min=1, max=100, help="Statistics of each kind shown per comparison.")] = 5,
    seed: Annotated[int, typer.Option(min=0, max=2**31 - 1, help="Seed of subsamples and folds.")] = 0,
) -> None:
    """Check a dataset against the contract and print its realism and base-rate summary."""
    from bench.leakage import audit
    from bench.realism import summary
    from bench.separability import oracle

    with user_errors():
        ds = open_dataset(data)
        s = summary(ds)
        if leakage:
            with err.status("leakage audit"):
                s["leakage"] = audit(ds, seed)
        if separability:
            with err.status("separability oracle: LightGBM on truth, out of fold"):
                s["separability"] = oracle(ds, seed)
    if as_json:
        print(dumps_json(s, indent=2), end="")
        return
    _print_summary(s)
    if leakage:
        _print_leakage(s["leakage"], top)
    if separability:
        _print_separability(s["separability"])


def _interval(row: dict) -> str:
    return f"{row['auroc']:.3f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def _leak_flag(name: str, row: dict) -> str:
    """' !' (red) on a statistic that breaks its gate (bench.leakage.breaks_gate), ' *' on
    a near-perfect statistic of a comparison easy by design (L0)."""
    from bench.leakage import ARTEFACT, EASY_BY_DESIGN, NEAR_PERFECT, breaks_gate

    if breaks_gate(name, row):
        return " [bold red]![/]"
    easy = row["kind"] != ARTEFACT and name in EASY_BY_DESIGN and row["auroc"] >= NEAR_PERFECT
    return " *" if easy else "  "


def _print_leakage(report: dict, top: int = 5) -> None:
    """One table per comparison: the `top` behavioural then the `top` artefact statistics,
    highest AUROC first, artefact rows marked; the method's caps under the tables."""
    from bench.leakage import ARTEFACT_GATE, NEAR_PERFECT

    out.print(
        f"[bold]leakage audit[/]: each statistic alone against the matched benign reference; AUROC "
        f"orientation-free [95% interval]. Behavioural statistics >= {NEAR_PERFECT} give a role away (L0 is easy "
        f"by design, marked *); artefact statistics (how rows were generated) must sit at chance, below "
        f"{ARTEFACT_GATE}. [bold red]![/] marks a statistic over its gate (for an artefact, with its "
        "family-wise interval over all the audit's artefact statistics clear of 0.5 too). A statistic "
        "named 'source: ...' is pooled over the events of that source; n counts the accounts "
        "behind the rows (groups, for a group's id or creation time).",
        highlight=False,
    )
    for name, c in report["comparisons"].items():
        if not c["statistics"]:
            out.print(
                f"{name} (n={c['n_positive']:,}) vs {c['reference']}: not scored (fewer than "
                f"{report['method']['min_accounts']} accounts)",
                highlight=False,
            )
            continue
        t = Table(
            title=f"{name} (n={c['n_positive']:,}) vs {c['reference']} (n={c['n_reference']:,})",
            title_justify="left",
        )
        t.add_column("kind", no_wrap=True)
        t.add_column("statistic")
        t.add_column("AUROC [95%]", justify="right", no_wrap=True)
        t.add_column("n pos/ref", justify="right", no_wrap=True)
        for kind in ("behavioural", "artefact"):
            for r in [r for r in c["statistics"] if r["kind"] == kind][:top]:
                t.add_row(
                    "[magenta]artefact[/]" if kind == "artefact" else "behav.",
                    escape(r["name"]),
                    _interval(r) + _leak_flag(name, r),
                    f"{r['n_positive']:,}/{r['n_reference']:,}",
                )
        out.print(t)
    m = report["method"]
    out.print(
        f"interval: {m['interval']}; reference accounts capped at {m['reference_account_cap']:,}, pooled events at "
        f"{m['event_caps']['positive']:,} / {m['event_caps']['reference']:,} (seeded subsamples); statistics on fewer "
        f"than {m['min_accounts']} accounts a side are not scored (listed in --json).",
        highlight=False,
    )


def _print_separability(report: dict) -> None:
    """The oracle's out-of-fold AUROC per comparison, with the accounts it rests on, then
    the features that carry most of each model's gain."""
    m = report["method"]
    t = Table(
        title=f"separability oracle: LightGBM trained on truth, {m['folds']}-fold out-of-fold AUROC [95% DeLong]; "
        "the ceiling every figure of the same comparison is read against",
    )
    t.add_column("positives")
    t.add_column("reference")
    t.add_column("used pos / ref", justify="right", no_wrap=True)
    t.add_column("AUROC [95%]", justify="right", no_wrap=True)
    gains = []
    for name, c in report["comparisons"].items():
        used = f"{c['positives_used']:,} / {c['reference_used']:,}"
        if c["auroc"] is None:
            t.add_row(name, escape(c["reference"]), used, escape(c.get("note", "not scored")))
            continue
        t.add_row(name, escape(c["reference"]), used, _interval(c))
        gains.append(f"  {name}: " + ", ".join(f"{f} {share:.0%}" for f, share in c["top_features"][:3]))
    out.print(t)
    if gains:
        out.print("share of the oracle's split gain (top 3 features):\n" + "\n".join(gains), highlight=False)
    out.print(
        f"{m['features']}; {m['rounds']} rounds, no early stopping; reference subsampled to at most "
        f"{m['reference_cap']:,} and positives to {m['positive_cap']:,} accounts (seeded, seed {m['seed']}).",
        highlight=False,
    )


def _print_groomers(gr: dict) -> None:
    t = Table(title="groomers (truth)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("expected (accounts x rate)", f"{gr['expected']:.2f}")
    t.add_row("realised", f"{gr['count']:,}")
    for lvl, k in gr["by_level"].items():
        t.add_row(f"  {lvl}", f"{k:,}")
    t.add_row("victims", f"{gr['victims']:,}")
    t.add_row("harm events", f"{gr['harm_events']:,}")
    out.print(t)
    if gr["count"] == 0:
        out.print("[bold yellow]no groomer in this dataset:[/] groomer metrics will be empty", highlight=False)


def _print_summary(s: dict) -> None:
    out.print(
        f"[bold]{s['path']}[/]  scenario={s['scenario']} seed={s['seed']} "
        f"generator={s['generator_version']} fingerprint={s['fingerprint'][:16]}",
        highlight=False,
    )
    t = Table(title="rows", show_header=True)
    t.add_column("table")
    t.add_column("rows", justify="right")
    for k, v in s["rows"].items():
        t.add_row(k, f"{v:,}")
    out.print(t)
    b = Table(title="realised base rates (truth)")
    for col in ("task", "positives", "base rate"):
        b.add_column(col, justify="right" if col != "task" else "left")
    for task, rate in s["base_rates"].items():
        b.add_row(task, f"{s['positives'].get(task, 0):,}", f"{rate:.3g}")
    out.print(b)
    _print_groomers(s["groomers"])
    d, c = s["degree"], s["clustering"]
    g = Table(title="friendship graph")
    g.add_column("statistic")
    g.add_column("value", justify="right")
    rows = [
        ("degree mean / median", f"{d['mean']:.1f} / {d['median']:.0f}"),
        ("degree p99 / max", f"{d['p99']:.0f} / {d['max']:,}"),
        ("isolated accounts", f"{d['isolated_share']:.2%}"),
        (f"avg local clustering ({c['sampled_nodes']:,} sampled)", f"{c['average_local']:.3f}"),
        ("  random graph of same density", f"{c['random_graph_reference']:.2e}"),
        ("degree assortativity", f"{s['degree_assortativity']:.3f}"),
        ("age assortativity", f"{s['age_assortativity']:.3f}"),
        ("minors' share of accounts", f"{s['minor_share']:.1%}"),
        ("minors' friends who are minors", f"{s['minors_friends_minor_share']:.1%}"),
    ]
    for k, v in rows:
        g.add_row(k, v)
    out.print(g)


@app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Option(help="Dataset directory.")],
    model: Annotated[str, typer.Option(help="dec, gbdt-raw, logreg, rules or random.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Model directory to create.")],
    seed: Annotated[int, typer.Option(min=0, max=2**31 - 1, help="Random seed.")] = 0,
    visibility: Annotated[str, typer.Option(help="Metadata visibility: full, sealed_sender, minimal.")] = "full",
    dask: Annotated[
        str | None,
        typer.Option("--dask", help=f"{DASK_HELP}: features and LightGBM run there."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it holds a model this tool saved.")] = False,
) -> None:
    """Fit a model on the dataset's train split and save it (no pickle)."""
    from models import ModelInput, check_model_target, make_model, save_model
    from models.distributed import use_client

    with user_errors():
        spec = parse_dask(dask)
        m = make_model(model)
        check_model_target(out_dir, overwrite)  # before minutes of training, not after
        ds = open_dataset(data)
        td = ModelInput(ds.view(visibility))
        with err.status(f"training {model} on {data}"), dask_client(spec) as client, use_client(client):
            m.fit(td, seed)
        path = save_model(m, td, seed, out_dir, overwrite=overwrite)
    err.print(
        f"saved {model} to {path} ({len(td.features.names)} features, tasks {', '.join(td.tasks)})", highlight=False
    )


@app.command("evaluate")
def evaluate_cmd(
    data: Annotated[Path, typer.Option(help="Dataset directory.")],
    model: Annotated[Path | None, typer.Option(help="A model directory from `lowbase train`.")] = None,
    predictions: Annotated[Path | None, typer.Option(help="Parquet or CSV: account_id, task, score.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the metrics as JSON here.")] = None,
    resamples: Annotated[int, typer.Option(min=10, max=100_000, help="Bootstrap resamples per interval.")] = 200,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help=f"{DASK_HELP}: the model's features are built there."),
    ] = None,
) -> None:
    """Metrics per task on the test split, with 95% stratified bootstrap intervals."""
    from bench.evaluate import evaluate, read_predictions, unscored_tasks
    from models import ModelInput, load_model
    from models.distributed import use_client

    with user_errors():
        spec = parse_dask(dask)
        if (model is None) == (predictions is None):
            raise PredictionsError("give exactly one of --model or --predictions")
        ds = open_dataset(data)
        if model is not None:
            card = load_card(model)
            td = ModelInput(ds.view(card["visibility"]))
            m, _ = load_model(model, td)
            with dask_client(spec) as client, use_client(client):
                td.features  # noqa: B018 - built on the cluster when --dask is given
            pred, origin = m.predict_scores(td), str(model)
        else:
            pred, origin = read_predictions(predictions), str(predictions)
        result = evaluate(pred, ds, n_resamples=resamples, origin=origin)
    _print_metrics(result)
    if skipped := unscored_tasks(result, ds):
        err.print(f"not scored (no predictions for them): {', '.join(skipped)}", highlight=False)
    if json_out is not None:
        write_json_atomic(json_out, result, indent=2)  # strict JSON: NaN as null, infinity as "inf"


def _print_metrics(result: dict) -> None:
    t = Table(title="test split: value [95% stratified bootstrap interval]")
    t.add_column("task", no_wrap=True)
    t.add_column("pos / neg", justify="right")
    for key in ("auroc", "auprc", "recall_at_p95", "recall_at_p99", "precision_at_r50"):
        t.add_column(key, justify="right")
    for task, m in result.items():
        cells = [
            f"{m[k]['value']:.3f} [{m[k]['ci_low']:.2f}, {m[k]['ci_high']:.2f}]"
            for k in ("auroc", "auprc", "recall_at_p95", "recall_at_p99", "precision_at_r50")
        ]
        t.add_row(task, f"{m['n_positive']:,} / {m['n_negative']:,}", *cells)
    out.print(t)


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
        print(f"{title}\n\n{headline_markdown(rows)}")
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


@app.command("run")
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
        typer.Option(help="Groomer TPR on enriched worlds, FPR on fresh worlds, oracle and label budgets."),
    ] = True,
    fpr_accounts: Annotated[
        int | None,
        typer.Option(min=0, max=10**10, help="Negatives for the pooled FPR [default: 10 worlds, at most 1M]."),
    ] = None,
    label_budgets: Annotated[str, typer.Option(help="Labelled offenders of the label-budget sweep.")] = "10,30,100,300",
) -> None:
    """The main job: generate (or reuse), train DEC and every baseline, evaluate, analyse,
    log to MLflow, print the headline table and write the report."""
    from bench.config import make_run_config, resolve_scenario
    from bench.job import run_and_log

    with user_errors():
        parse_dask(dask)
        cfg = make_run_config(
            dask=dask,
            preset=preset,
            seed=seed,
            accounts=accounts,
            models=tuple(m for m in models.split(",") if m),
            visibility=visibility,
            workers=workers,
            resamples=resamples,
            drift=drift,
            overrides=_overrides(set_ or []),
            powered=powered,
            fpr_accounts=fpr_accounts,
            label_budgets=_budgets(label_budgets),
        )
        resolve_scenario(cfg)  # a bad --set fails now, before any work
        done = run_and_log(cfg, workdir, _step_printer(quiet))
    _print_headline(
        done.results.headline,
        f"lowbase run: {done.results.scenario.name}, seed {seed}, "
        f"primary model {done.results.primary} (value [95% interval])",
    )
    if done.results.analysis.powered is not None:
        from bench.certify import print_powered_headline

        print_powered_headline(done.results)
    err.print(
        f"report: {done.report / 'report.html'}\nMLflow run {done.run_id} in experiment lowbase-run "
        f"({done.uri}); `lowbase ui` to browse. {done.timing}",
        highlight=False,
    )


def _budgets(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise typer.BadParameter(f"--label-budgets: expected comma-separated integers, got {text!r}") from None
    if any(b < 2 for b in out):
        raise typer.BadParameter("--label-budgets: each budget must be >= 2 (one offender in train and one in val)")
    return out


@app.command("sweep")
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
    from bench.sweep import expand, load_sweep, run_sweep

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
        from bench.seeds import child_results, print_seed_summary, seed_summary, write_seed_summary

        with user_errors():
            summary = seed_summary(child_results(expand(sweep, str(sweep_file)), workdir))
            path = write_seed_summary(summary, workdir / "sweeps" / sweep.name / "seeds.json")
        print_seed_summary(summary, path)


@app.command("report")
def report_cmd(
    run_id: Annotated[
        str | None, typer.Option(help="MLflow run id (default: the latest finished lowbase run).")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report directory (default reports/RUN_ID).")] = None,
) -> None:
    """HTML and Markdown report with plots, rebuilt from a run's results in MLflow, with every
    `lowbase certify` of its primary model beside the run's own groomer figures."""
    import mlflow

    from bench.errors import ResultsError
    from bench.report import write_report
    from bench.results import CertifiedRecord, load_results
    from bench.tracking import certified_of, latest_run, setup, tracking_uri

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
        target = out_dir or Path("reports") / rid
        write_report(results, target)
    err.print(f"report: {target / 'report.html'} and {target / 'report.md'}", highlight=False)


@app.command("ui")
def ui_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 5000,
) -> None:
    """Start the MLflow UI on the tracking store (MLFLOW_TRACKING_URI or sqlite:///mlflow.db)."""
    from bench.tracking import setup, tracking_uri
    from bench.ui import landing_url, serve

    client = setup()  # the experiments exist even before the first run, so the UI is not empty
    exp_id = client.get_experiment_by_name("lowbase-run").experiment_id

    def ready(url: str) -> None:
        err.print(
            f"MLflow UI for {tracking_uri()} at {landing_url(url, exp_id)} (Ctrl-C stops it)", highlight=False
        )

    try:
        code = serve(tracking_uri(), host, port, on_ready=ready)
    except TimeoutError as e:
        err.print(f"[bold red]error:[/] the MLflow UI did not come up: {escape(str(e))}", highlight=False)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def _add_leaderboard() -> None:
    from .leaderboard.cli import app as leaderboard

    app.add_typer(leaderboard, name="leaderboard")


def _add_certify() -> None:
    from .certify import certify_cmd

    app.command("certify")(certify_cmd)


_add_leaderboard()
_add_certify()


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the generator version.")] = False,
) -> None:
    if version:
        print(f"lowbase generator {GENERATOR_VERSION}")
        raise typer.Exit(0)


def main() -> None:
    """Console entry point: anything not handled as bad input is an internal error (exit 1)."""
    turn_off_hugepage_advice()
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the contract maps every other failure to exit 1
        err.print(f"[bold red]internal error:[/] {type(e).__name__}: {escape(str(e))}", highlight=False)
        if os.environ.get("LOWBASE_DEBUG"):
            traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()
