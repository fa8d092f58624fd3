"""`lowbase ceiling`: what the simulated metadata allows per offender level at a platform's
operating points (`bench.rare.ceiling`), from the CLI.

The benchmark's strongest model classes train on truth pooled from enriched training worlds
of their own; thresholds come from a calibration world at the scenario's rate; TPR per level
and FPR from the worlds a run of the same seed reads. Prints the ceiling per level with its
plateau verdict and writes the record; the result is cached under the work directory, so a
rerun with the same generator, scenario, visibility, seed and settings reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bench.cli.console import err, print_table, user_errors
from bench.errors import RunConfigError
from common.files import write_json_atomic
from data_gen import load_scenario

if TYPE_CHECKING:
    from bench.results.ceiling import CeilingRecord

VISIBILITIES = ("full", "sealed_sender", "minimal")


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
    workdir: Annotated[Path, typer.Option(help="Dataset cache, evaluation worlds and the ceiling cache.")] = Path(
        "lowbase-work"
    ),
    workers: Annotated[int, typer.Option(min=1, max=256, help="Processes for generation.")] = 2,
    jobs: Annotated[int, typer.Option(min=1, max=256, help="Worker processes for the evaluation worlds.")] = 1,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the record as JSON here.")] = None,
    mlflow: Annotated[
        bool,
        typer.Option("--mlflow/--no-mlflow", help="Log a computed ceiling to MLflow (experiment lowbase-ceiling)."),
    ] = True,
) -> None:
    """The ceiling per offender level: DEC (stage 2 on truth) and LightGBM trained on truth
    pooled from enriched training worlds (>= --min-per-level offenders per level), read at
    FPR budgets 1e-3 and 1e-4 on fresh worlds, with a learning curve and its plateau verdict."""
    from bench.rare.ceiling import CeilingPlan, ceiling  # the run's machinery: imported when it runs

    with user_errors():
        if visibility not in VISIBILITIES:
            raise RunConfigError(f"--visibility: one of {', '.join(VISIBILITIES)}, got '{visibility}'")
        scn = load_scenario(scenario, accounts)
        plan = CeilingPlan(visibility, _models(models), _ints(curve, "curve"), min_per_level, tpr_worlds, fpr_accounts)
        record, path, cached = ceiling(scn, seed, plan, workdir, workers, jobs, _say)
    print_ceiling(record)
    how = "read from the cache" if cached else f"computed in {record.seconds:.0f} s, cached"
    err.print(f"ceiling {how}: {path}", highlight=False)
    if json_out is not None:
        write_json_atomic(json_out, record.model_dump(mode="json"), indent=1)
    if mlflow and not cached:  # a cached ceiling was logged when it was computed
        _log(record, path)


def _log(record: CeilingRecord, path: Path) -> None:
    from bench.run.tracking import log_ceiling, tracking_uri

    params = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in record.settings.items()}
    tags = {
        "lowbase.ceiling_key": record.key,
        "lowbase.scenario": record.scenario,
        "lowbase.visibility": record.visibility,
        "lowbase.seed": str(record.seed),
        "lowbase.cache": str(path),
    }
    rid = log_ceiling(record, {**params, "generator": record.generator}, tags)
    err.print(f"MLflow run {rid} in experiment lowbase-ceiling ({tracking_uri()})", highlight=False)


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
        verdict = "reached" if best.verdict == "reached" else "lower bound"
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
