"""`lowbase generate` and `lowbase inspect`: make a dataset, then check it (contract, realism,
leakage audit, separability oracle), with the printers of what `inspect` finds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.audit.records import (
    GroomerCounts,
    LeakageAudit,
    LeakageStatistic,
    OracleComparison,
    RealismSummary,
    SeparabilityOracle,
)
from bench.cli.console import DASK_HELP, err, out, user_errors
from bench.setup.cluster import dask_client, executor, parse_dask
from common.files import dumps_json
from common.memory import GENERATE_BYTES_PER_ACCOUNT, IMPORT_ADDRESS_SPACE, check_address_space
from data_gen import generate, load_scenario
from data_gen.generate import stage_plan
from data_gen.reader import open_dataset


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
        check_address_space(
            IMPORT_ADDRESS_SPACE + GENERATE_BYTES_PER_ACCOUNT * scn.accounts, f"generating {scn.accounts:,} accounts"
        )
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
    from bench.audit.leakage import audit
    from bench.audit.realism import summary
    from bench.audit.records import inspection
    from bench.audit.separability import oracle

    with user_errors():
        ds = open_dataset(data)
        s = summary(ds)
        leak = sep = None
        if leakage:
            with err.status("leakage audit"):
                leak = audit(ds, seed)
        if separability:
            with err.status("separability oracle: LightGBM on truth, out of fold"):
                sep = oracle(ds, seed)
    if as_json:
        print(dumps_json(inspection(s, leak, sep).model_dump(exclude_unset=True), indent=2), end="")
        return
    _print_summary(s)
    if leak is not None:
        _print_leakage(leak, top)
    if sep is not None:
        _print_separability(sep)


def _interval(row: LeakageStatistic | OracleComparison) -> str:
    return f"{row.auroc:.3f} [{row.ci_low:.2f}, {row.ci_high:.2f}]"


def _leak_flag(name: str, row: LeakageStatistic) -> str:
    """' !' (red) on a statistic that breaks its gate (bench.audit.leakage.breaks_gate), ' *' on
    a near-perfect statistic of a comparison easy by design (L0)."""
    from bench.audit.leakage import ARTEFACT, EASY_BY_DESIGN, NEAR_PERFECT, breaks_gate

    if breaks_gate(name, row):
        return " [bold red]![/]"
    easy = row.kind != ARTEFACT and name in EASY_BY_DESIGN and row.auroc >= NEAR_PERFECT
    return " *" if easy else "  "


def _print_leakage(report: LeakageAudit, top: int = 5) -> None:
    """One table per comparison: the `top` behavioural then the `top` artefact statistics,
    highest AUROC first, artefact rows marked; the method's caps under the tables."""
    from bench.audit.leakage import ARTEFACT_GATE, NEAR_PERFECT

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
    for name, c in report.comparisons.items():
        if not c.statistics:
            out.print(
                f"{name} (n={c.n_positive:,}) vs {c.reference}: not scored (fewer than "
                f"{report.method.min_accounts} accounts)",
                highlight=False,
            )
            continue
        t = Table(
            title=f"{name} (n={c.n_positive:,}) vs {c.reference} (n={c.n_reference:,})",
            title_justify="left",
        )
        t.add_column("kind", no_wrap=True)
        t.add_column("statistic")
        t.add_column("AUROC [95%]", justify="right", no_wrap=True)
        t.add_column("n pos/ref", justify="right", no_wrap=True)
        for kind in ("behavioural", "artefact"):
            for r in [r for r in c.statistics if r.kind == kind][:top]:
                t.add_row(
                    "[magenta]artefact[/]" if kind == "artefact" else "behav.",
                    escape(r.name),
                    _interval(r) + _leak_flag(name, r),
                    f"{r.n_positive:,}/{r.n_reference:,}",
                )
        out.print(t)
    m = report.method
    out.print(
        f"interval: {m.interval}; reference accounts capped at {m.reference_account_cap:,}, pooled events at "
        f"{m.event_caps.positive:,} / {m.event_caps.reference:,} (seeded subsamples); statistics on fewer "
        f"than {m.min_accounts} accounts a side are not scored (listed in --json).",
        highlight=False,
    )


def _print_separability(report: SeparabilityOracle) -> None:
    """The oracle's out-of-fold AUROC per comparison, with the accounts it rests on, then
    the features that carry most of each model's gain."""
    m = report.method
    t = Table(
        title=f"separability oracle: LightGBM trained on truth, {m.folds}-fold out-of-fold AUROC [95% DeLong]; "
        "the ceiling every figure of the same comparison is read against",
    )
    t.add_column("positives")
    t.add_column("reference")
    t.add_column("used pos / ref", justify="right", no_wrap=True)
    t.add_column("AUROC [95%]", justify="right", no_wrap=True)
    gains = []
    for name, c in report.comparisons.items():
        used = f"{c.positives_used:,} / {c.reference_used:,}"
        if c.auroc is None:
            t.add_row(name, escape(c.reference), used, escape(c.note or "not scored"))
            continue
        t.add_row(name, escape(c.reference), used, _interval(c))
        gains.append(f"  {name}: " + ", ".join(f"{f} {share:.0%}" for f, share in (c.top_features or [])[:3]))
    out.print(t)
    if gains:
        out.print("share of the oracle's split gain (top 3 features):\n" + "\n".join(gains), highlight=False)
    out.print(
        f"{m.features}; {m.rounds} rounds, no early stopping; reference subsampled to at most "
        f"{m.reference_cap:,} and positives to {m.positive_cap:,} accounts (seeded, seed {m.seed}).",
        highlight=False,
    )


def _print_groomers(gr: GroomerCounts) -> None:
    t = Table(title="groomers (truth)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("expected (accounts x rate)", f"{gr.expected:.2f}")
    t.add_row("realised", f"{gr.count:,}")
    for lvl, k in gr.by_level.items():
        t.add_row(f"  {lvl}", f"{k:,}")
    t.add_row("victims", f"{gr.victims:,}")
    t.add_row("harm events", f"{gr.harm_events:,}")
    out.print(t)
    if gr.count == 0:
        out.print("[bold yellow]no groomer in this dataset:[/] groomer metrics will be empty", highlight=False)


def _print_summary(s: RealismSummary) -> None:
    out.print(
        f"[bold]{s.path}[/]  scenario={s.scenario} seed={s.seed} "
        f"generator={s.generator_version} fingerprint={s.fingerprint[:16]}",
        highlight=False,
    )
    t = Table(title="rows", show_header=True)
    t.add_column("table")
    t.add_column("rows", justify="right")
    for k, v in s.rows.items():
        t.add_row(k, f"{v:,}")
    out.print(t)
    b = Table(title="realised base rates (truth)")
    for col in ("task", "positives", "base rate"):
        b.add_column(col, justify="right" if col != "task" else "left")
    for task, rate in s.base_rates.items():
        b.add_row(task, f"{s.positives.get(task, 0):,}", f"{rate:.3g}")
    out.print(b)
    _print_groomers(s.groomers)
    d, c = s.degree, s.clustering
    g = Table(title="friendship graph")
    g.add_column("statistic")
    g.add_column("value", justify="right")
    rows = [
        ("degree mean / median", f"{d.mean:.1f} / {d.median:.0f}"),
        ("degree p99 / max", f"{d.p99:.0f} / {d.max:,}"),
        ("isolated accounts", f"{d.isolated_share:.2%}"),
        (f"avg local clustering ({c.sampled_nodes:,} sampled)", f"{c.average_local:.3f}"),
        ("  random graph of same density", f"{c.random_graph_reference:.2e}"),
        ("degree assortativity", f"{s.degree_assortativity:.3f}"),
        ("age assortativity", f"{s.age_assortativity:.3f}"),
        ("minors' share of accounts", f"{s.minor_share:.1%}"),
        ("minors' friends who are minors", f"{s.minors_friends_minor_share:.1%}"),
    ]
    for k, v in rows:
        g.add_row(k, v)
    out.print(g)
