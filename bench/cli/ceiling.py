"""`lowbase ceiling`: what the simulated metadata allows per offender level at a platform's
operating points (`bench.rare.ceiling`), from the CLI.

The benchmark's strongest model classes train on truth pooled from enriched training worlds
of their own; thresholds come from a calibration world at the scenario's rate; TPR per level
and FPR from the worlds a run of the same seed and evaluation settings reads (below). Prints
the ceiling per level with its plateau verdict and writes the record; the result is cached
under the work directory, so a rerun with the same generator, scenario, visibility, seed and
settings reads it (`--refresh` computes it again and replaces the file).

`--reconcile` then trains the separability oracle (`bench.audit.separability`) on the
ceiling's reconciliation world and prints, per level, the oracle's AUROC beside each ceiling
class's AUROC against the same matched reference on the same world, and the ceiling's TPR at
the FPR budgets: the oracle and the ceiling read on one world, not two numbers from two
pipelines. The oracle always reads visibility `full`, so `--reconcile` is refused at any
other visibility: the two AUROCs would rest on different metadata.

A run pairs with the ceiling whose TPR and FPR worlds are its own: the seed, `--tpr-worlds`,
`--fpr-accounts` and `--enriched-rate` of the run (`lowbase run` names them in the command
it suggests when they differ from the defaults here).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bench.cli.console import DASK_HELP, err, print_table, store_first, user_errors
from bench.errors import RunConfigError
from common.files import write_json_atomic
from data_gen import Scenario, load_scenario

if TYPE_CHECKING:
    from bench.audit.records import SeparabilityOracle
    from bench.rare.ceiling import CeilingPlan
    from bench.results.ceiling import CeilingRecord, ReconciledRow
    from bench.setup.cluster import DaskSpec

VISIBILITIES = ("full", "sealed_sender", "minimal")
EnrichedRate = Annotated[float, typer.Option(max=0.05, help="Groomer rate of the TPR worlds (a run's enriched rate).")]


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise RunConfigError(f"--{what}: comma-separated integers expected, got '{text}'") from None
    if not values or min(values) < 4:
        raise RunConfigError(f"--{what}: at least one value, each >= 4 (one offender per level), got '{text}'")
    return values


def _models(text: str) -> tuple[str, ...]:
    from models import MODELS

    names = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [n for n in names if n not in MODELS or n in ("random", "rules")]
    if not names or bad:
        raise RunConfigError(f"--models: trainable model classes ({', '.join(MODELS)} but random, rules); got '{text}'")
    return names


def ceiling_cmd(
    scenario: Annotated[str, typer.Option(help="Preset (quick, standard, large) or a scenario YAML file.")] = "quick",
    accounts: Annotated[int | None, typer.Option(min=200, help="Override the scenario's number of accounts.")] = None,
    visibility: Annotated[str, typer.Option(help="Metadata visibility: full, sealed_sender or minimal.")] = "full",
    seed: Annotated[int, typer.Option(min=0, help="Seed: the worlds of a run of this seed are read.")] = 0,
    models: Annotated[str, typer.Option(help="Model classes, comma-separated.")] = "dec,gbdt-raw",
    min_per_level: Annotated[
        int, typer.Option(min=4, max=10**6, help="Truth-labelled offenders per level in the training pool.")
    ] = 1000,
    curve: Annotated[
        str, typer.Option(help="Learning-curve points (labelled offenders, all levels); half and all are added.")
    ] = "30,100,300,1000,3000",
    fpr_accounts: Annotated[
        int, typer.Option(min=0, max=10**10, help="Accounts of negative worlds to score for the FPR.")
    ] = 1_000_000,
    tpr_worlds: Annotated[int, typer.Option(min=1, max=100, help="Enriched worlds for the TPR.")] = 1,
    enriched_rate: EnrichedRate = 1e-2,
    workdir: Annotated[Path, typer.Option(help="Dataset cache, evaluation worlds and the ceiling cache.")] = Path(
        "lowbase-work"
    ),
    workers: Annotated[int, typer.Option(min=1, max=256, help="Processes for generation.")] = 2,
    jobs: Annotated[int, typer.Option(min=1, max=256, help="Worker processes for the evaluation worlds.")] = 1,
    dask: Annotated[str | None, typer.Option("--dask", help=f"Evaluation worlds on Dask: {DASK_HELP}.")] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Compute again even if cached; replace the file.")] = False,
    plan_only: Annotated[
        bool, typer.Option("--plan", help="Print the worlds and model fits it would take; compute nothing.")
    ] = False,
    reconcile: Annotated[
        bool, typer.Option("--reconcile", help="Also the separability oracle on the same world, per level.")
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the record as JSON here.")] = None,
    figure: Annotated[
        Path | None, typer.Option(help="Also draw the learning curves per level at FPR 1e-3 (and 1e-4 beside) as PNG.")
    ] = None,
    mlflow: Annotated[
        bool,
        typer.Option("--mlflow/--no-mlflow", help="Log a computed ceiling to MLflow (experiment lowbase-ceiling)."),
    ] = True,
) -> None:
    """The ceiling per offender level: DEC (stage 2 on truth) and LightGBM trained on truth
    pooled from enriched training worlds (>= --min-per-level offenders per level), read at
    FPR budgets 1e-3 and 1e-4 on fresh worlds, with a learning curve and its plateau verdict."""
    from bench.rare.ceiling import CeilingPlan  # the run's machinery: imported when it runs
    from bench.setup.cluster import check_scheduler, parse_dask

    with user_errors():
        _check_visibility(visibility, reconcile)
        spec = check_scheduler(parse_dask(dask))  # a malformed --dask, or not a Dask scheduler: before any work
        scn = load_scenario(scenario, accounts)
        plan = CeilingPlan(visibility, _models(models), _ints(curve, "curve"), min_per_level, tpr_worlds, fpr_accounts,
                           enriched_rate=_enriched_rate(enriched_rate))  # fmt: skip
        if plan_only:
            return print_plan(scn, plan)
        record, path, cached = _computed(scn, seed, plan, workdir, (workers, jobs), refresh, spec, mlflow)
    announce(record, path, cached, mlflow)
    if reconcile and record.reconciliation is not None:
        record = reconciled(record, scn, plan, workdir, workers)
    _write(record, json_out, figure)
    if reconcile and record.reconciliation is None:
        _no_reconciliation(path)


def announce(record: CeilingRecord, path: Path, cached: bool, mlflow: bool) -> None:
    """The ceiling's tables, where it came from, and its MLflow run when just computed (a
    cached ceiling was logged when it was computed)."""
    print_ceiling(record)
    how = "read from the cache" if cached else f"computed in {record.seconds:.0f} s, cached"
    err.print(f"ceiling {how}: {path}", highlight=False)
    if mlflow and not cached:
        from bench.run.tracking import log_ceiling_record, tracking_uri

        rid = log_ceiling_record(record, path)
        err.print(f"MLflow run {rid} in experiment lowbase-ceiling ({tracking_uri()})", highlight=False)


def _check_visibility(visibility: str, reconcile: bool = False) -> None:
    """A known visibility; `--reconcile` only at `full`, the only one the oracle reads."""
    if visibility not in VISIBILITIES:
        raise RunConfigError(f"--visibility: one of {', '.join(VISIBILITIES)}, got '{visibility}'")
    if reconcile and visibility != "full":
        raise RunConfigError(
            f"--reconcile needs --visibility full: the separability oracle always reads visibility full, so "
            f"beside a ceiling at {visibility} its AUROC would rest on metadata the ceiling's classes never saw"
        )


def _enriched_rate(rate: float) -> float:
    if not rate > 0:
        raise RunConfigError(f"--enriched-rate: a groomer rate above 0 and at most 0.05, got {rate:g}")
    return rate


def print_plan(scn: Scenario, plan: CeilingPlan) -> None:
    """What `lowbase ceiling` would generate, train and score for `scn` (`CeilingPlan.worlds`):
    the numbers to size a ceiling at a scale not yet run, from the scenario alone."""
    from bench.rare.ceiling import PLAN_MARGIN_SD
    from bench.rare.learning_curve import curve_sizes

    roles = plan.worlds(scn)
    rows = [[r["role"], str(r["worlds"]), f"{r['accounts']:,}",
             " / ".join(f"{x:,.0f}" for x in r["offenders_per_level"])] for r in roles]  # fmt: skip
    print_table(
        f"ceiling plan: {scn.name}, {plan.visibility}", ["worlds", "n", "accounts", "offenders L0/L1/L2/L3"], rows
    )
    pool = {lvl: round(x) for lvl, x in zip(("L0", "L1", "L2", "L3"), roles[0]["offenders_per_level"], strict=True)}
    sizes = curve_sizes(plan.curve, pool)
    rows_train = round(roles[0]["accounts"] * (scn.splits.train + scn.splits.val))
    err.print(
        f"curve points (labelled offenders): {', '.join(f'{s:,}' for s in sizes)}; per class one fit per point on "
        f"{rows_train:,} train + val rows ({', '.join(plan.models)}: DEC's points refit stage 2 only); "
        f"{sum(r['accounts'] for r in roles):,} accounts generated, {sum(r['accounts'] for r in roles[1:]):,} scored "
        f"by {len(sizes) * len(plan.models)} models\noffenders are expected counts; the training worlds are planned "
        f"so that each level holds {plan.min_per_level:,} even {PLAN_MARGIN_SD:g} standard deviations below its "
        "expectation (one more world is added if a draw still falls short)",
        highlight=False,
    )


def _write(record: CeilingRecord, json_out: Path | None, figure: Path | None) -> None:
    """The record as JSON, and the learning curves as PNG: `figure` at FPR 1e-3, the same
    name with `-fpr1e-4` at 1e-4 (`bench.report.ceiling_figures`, deterministic bytes)."""
    if json_out is not None:
        write_json_atomic(json_out, record.model_dump(mode="json"), indent=1)
    if figure is None:
        return
    from bench.report.ceiling_figures import fig_ceiling_curves

    for threshold, path in (("fpr<=0.001", figure), ("fpr<=0.0001", figure.with_stem(f"{figure.stem}-fpr1e-4"))):
        if fig_ceiling_curves(record, path, threshold):
            err.print(f"learning curves at {threshold}: {path}", highlight=False)


def _no_reconciliation(path: Path) -> None:
    """A cached ceiling computed without reconciliation data: say how to get it, exit 2."""
    err.print(
        f"[bold red]error:[/] the cached ceiling {path.name} has no reconciliation data (computed without it): "
        "rerun with --refresh to compute it again, reconciliation included",
        highlight=False,
    )
    raise typer.Exit(2)


def _computed(
    scn: Scenario, seed: int, plan: CeilingPlan, work: Path, procs: tuple[int, int], refresh: bool,
    spec: DaskSpec | None, mlflow: bool = False,
) -> tuple[CeilingRecord, Path, bool]:  # fmt: skip
    """`bench.rare.ceiling.ceiling`, its evaluation worlds on the Dask cluster `spec` when
    given: the MLflow store (when `mlflow`) and the cluster are opened first, so a store or
    a scheduler that does not answer exits 2 before any work."""
    from bench.rare.ceiling import DaskWorkers, ceiling
    from bench.setup.cluster import dask_client

    store_first(mlflow)
    workers, jobs = procs
    with dask_client(spec) as client:
        dask = None if spec is None else DaskWorkers(client, local=spec.address is None)
        return ceiling(scn, seed, plan, work, workers, jobs, _say, refresh=refresh, dask=dask)


def _say(msg: str) -> None:
    err.print(f"  {msg}", highlight=False)


def _rate(r) -> str:
    if r.n == 0:
        return "—"
    return f"{r.value:.3f} [{r.low:.2f}, {r.high:.2f}]"


def ceiling_rows(record: CeilingRecord, threshold: str = "fpr<=0.001") -> tuple[list[str], list[list[str]]]:
    """Per level: offenders in the TPR worlds, each class's TPR at its largest curve point
    with its interval, and the ceiling's plateau verdict (at `threshold`)."""
    header = ["level", "n", *record.models, "plateau"]
    rows = []
    for lvl, best in record.ceiling[threshold].items():
        tprs = [_rate(c.curve[-1].tpr_by_level[threshold][lvl]) for c in record.models.values()]
        verdict = "lower bound" if best.lower_bound else "reached"
        rows.append([lvl, str(best.tpr.n), *tprs, f"{verdict} ({best.model})"])
    return header, rows


def curve_rows(record: CeilingRecord, threshold: str = "fpr<=0.001") -> tuple[list[str], list[list[str]]]:
    """Each class's learning curve: TPR per level (value only) per labelled-offender count."""
    levels = list(record.pool)
    header = ["class", "labelled", *levels, "FPR"]
    rows = []
    for name, c in record.models.items():
        for p in c.curve:
            f = p.fpr[threshold]
            rows.append([name, f"{p.offenders:,}", *(f"{p.tpr_by_level[threshold][lvl].value:.3f}" for lvl in levels),
                         f"{f.value:.1e} ({f.k})"])  # fmt: skip
    return header, rows


def print_ceiling(record: CeilingRecord) -> None:
    """The ceiling per level at FPR 1e-3 and 1e-4, then the learning curves: lines of at
    most 100 columns."""
    w = record.worlds
    negatives = sum(x["negatives"] for x in w["fpr"])
    for threshold in ("fpr<=0.001", "fpr<=0.0001"):
        header, rows = ceiling_rows(record, threshold)
        title = (
            f"ceiling {record.scenario}/{record.visibility} seed {record.seed}: TPR at {threshold} [95% exact], "
            f"{sum(record.pool.values()):,} labelled"
        )
        print_table(title, header, rows)
    header, rows = curve_rows(record)
    print_table("learning curves at fpr<=0.001: TPR per level; FPR (false positives)", header, rows)
    err.print(
        f"pool: {len(w['train'])} enriched training world(s); thresholds: calibration world "
        f"{w['calibration']['fingerprint'][:16]}\nTPR: {len(w['tpr'])} enriched world(s); FPR: {negatives:,} "
        f"negatives from {len(w['fpr'])} world(s)",
        highlight=False,
    )


# ---------------------------------------------------------------- reconciliation


def reconciled(record: CeilingRecord, scn: Scenario, plan: CeilingPlan, work: Path, workers: int) -> CeilingRecord:
    """The separability oracle trained on the record's reconciliation world, the table
    printed, and the record with the table (`ReconciliationRecord.table`) for `--json`."""
    from bench.audit.separability import oracle
    from bench.rare.ceiling_reconcile import reconciliation_world

    rec = record.reconciliation
    assert rec is not None  # the caller checks
    ds = reconciliation_world(scn, record.seed, plan.powered(), work / "datasets", workers, _say)
    if ds.meta["fingerprint"] != rec.world["fingerprint"]:
        raise RuntimeError(f"reconciliation world {ds.path}: not the world the ceiling was scored on")
    with err.status("separability oracle on the reconciliation world: LightGBM on truth, out of fold"):
        sep = oracle(ds, record.seed)
    rows = reconciliation_rows(record, sep)
    print_reconciliation(record, sep, rows)
    return record.model_copy(update={"reconciliation": rec.model_copy(update={"table": rows})})


def reconciliation_rows(record: CeilingRecord, sep: SeparabilityOracle) -> list[ReconciledRow]:
    """One row per comparison the ceiling scored (the task, then each level): the oracle's
    out-of-fold AUROC, each class's AUROC, and for a level the ceiling at each threshold."""
    from bench.results.ceiling import OracleFigure, ReconciledRow

    rec = record.reconciliation
    assert rec is not None
    rows = []
    for name in next(iter(rec.models.values())):
        figures = {cls: by[name] for cls, by in rec.models.items()}
        first = next(iter(figures.values()))
        o = sep.comparisons.get(name)
        fig = None if o is None else OracleFigure(auroc=o.auroc, ci_low=o.ci_low, ci_high=o.ci_high,
                                                  positives_used=o.positives_used,
                                                  reference_used=o.reference_used, note=o.note)  # fmt: skip
        level = name.split("/", 1)[1] if "/" in name else None
        ceil = {thr: by[level] for thr, by in record.ceiling.items() if level in by} if level else None
        rows.append(ReconciledRow(comparison=name, reference=first.reference, n_positive=first.n_positive,
                                  n_reference=first.n_reference, oracle=fig, models=figures,
                                  ceiling=ceil or None))  # fmt: skip
    return rows


def _auroc(r) -> str:
    if r is None or r.auroc is None:
        return "too few" if getattr(r, "note", None) else "—"  # the oracle's note: too few to train on
    return f"{r.auroc:.3f} [{r.ci_low:.3f},{r.ci_high:.3f}]"


def _tpr(r) -> str:
    if r.n == 0:
        return "—"
    return f"{r.value:.3f} [{r.low:.2f}, {r.high:.2f}] {r.k}/{r.n}"


def _short(name: str) -> str:
    return name.split("/", 1)[1] if "/" in name else name


def print_reconciliation(record: CeilingRecord, sep: SeparabilityOracle, rows: list[ReconciledRow]) -> None:
    """Two tables of at most 100 columns: the AUROCs side by side, then the oracle's
    sample and the ceiling's TPR at FPR 1e-3 and 1e-4; the references and methods below."""
    rec = record.reconciliation
    assert rec is not None
    classes = list(rec.models)
    header = ["level", "oracle", *classes, "n pos/ref"]
    table = [[_short(r.comparison), _auroc(r.oracle), *(_auroc(r.models[c]) for c in classes),
              f"{r.n_positive:,}/{r.n_reference:,}"] for r in rows]  # fmt: skip
    print_table("reconciliation, one world: AUROC [95% DeLong] against the matched reference", header, table)
    thresholds = [t for t in ("fpr<=0.001", "fpr<=0.0001") if t in record.ceiling]
    header = ["level", "oracle used", *(f"ceiling TPR {t} (k/n)" for t in thresholds)]
    table = [
        [_short(r.comparison), "—" if r.oracle is None else f"{r.oracle.positives_used:,}/{r.oracle.reference_used:,}",
         *(_tpr(r.ceiling[t].tpr) if r.ceiling and t in r.ceiling else "—" for t in thresholds)]
        for r in rows
    ]  # fmt: skip
    print_table("the same levels: the oracle's sample, the ceiling's TPR [95% exact] (best class)", header, table)
    refs: dict[str, list[str]] = {}
    for r in rows:
        refs.setdefault(r.reference, []).append(_short(r.comparison))
    m = sep.method
    err.print(
        f"world: the first TPR world, seed {rec.world['seed']}, {rec.world['fingerprint'][:16]}\n"
        + "\n".join(f"reference of {', '.join(names)}: {ref}" for ref, names in refs.items())
        + f"\noracle: LightGBM on truth, {m.folds}-fold out of fold, visibility full, sides capped at "
        f"{m.reference_cap:,} (seed {m.seed})\nceiling classes: "
        + ", ".join(rec.points.values())
        + f" at visibility {record.visibility}, whole reference\n(no ceiling model trained on this world, "
        "no threshold was set on it)",
        highlight=False,
    )
