"""`lowbase certify`: a trained model's powered evaluation (`bench.rare.powered`) from the CLI.

Thresholds come from the validation split of the model's training world; the TPR per level
from fresh enriched worlds (cached under the work directory, like a run's datasets); the
FPR from fresh worlds at the scenario's rate, each generated, scored, counted and deleted,
so the disk holds one negative world at a time whatever `--fpr-accounts`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bench.cli.console import err, kernel_note, out, print_table, store_first, user_errors
from common import kernels
from common.files import write_json_atomic
from data_gen.config import scenario_from_dict
from data_gen.reader import open_dataset
from models.protocol import ModelError, load_card

if TYPE_CHECKING:
    from bench.rare.powered import Calibrated, PoweredPlan
    from bench.rare.worlds import WorldSource
    from bench.setup.cluster import DaskSpec


def certify_cmd(
    model: Annotated[Path, typer.Option(help="A model directory from `lowbase train`.")],
    data: Annotated[Path, typer.Option(help="The dataset the model was trained on (its training world).")],
    fpr_accounts: Annotated[
        int, typer.Option(min=0, max=10**10, help="Accounts of negative worlds to score for the FPR.")
    ] = 1_000_000,
    tpr_worlds: Annotated[int, typer.Option(min=1, max=100, help="Enriched worlds.")] = 1,
    enriched_rate: Annotated[
        float, typer.Option(min=1e-6, max=1e-2, help="Groomer rate of the enriched worlds (uniform level mix).")
    ] = 1e-2,
    workdir: Annotated[Path, typer.Option(help="Where evaluation worlds are generated.")] = Path("lowbase-work"),
    workers: Annotated[int, typer.Option(min=1, max=256, help="Processes for generation.")] = 2,
    jobs: Annotated[
        int,
        typer.Option(
            min=1, max=256, help="Worker processes for negative worlds (each generates, scores and counts one world)."
        ),
    ] = 1,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help="local:K or a scheduler ADDRESS: one task per negative world on that cluster."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the result as JSON here.")] = None,
    mlflow: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log the result to MLflow (experiment lowbase-certify).")
    ] = True,
    with_truth: Annotated[
        bool,
        typer.Option(
            "--training-truth/--no-training-truth",
            help="Also train the same model class on the training world's truth and certify it on the same worlds.",
        ),
    ] = True,
) -> None:
    """Groomer TPR per level on enriched worlds and FPR pooled over negative worlds, at
    thresholds set on the training world's validation split; precision at base rates with
    bounds. Beside the model (realistic labels), the training world's truth: the same class
    trained on that world's truth, a label budget of every offender it holds (the ceiling is
    `lowbase ceiling`)."""
    from bench.rare.powered import PoweredPlan, powered_evaluation  # the run's machinery: imported when it runs
    from bench.setup.cluster import check_scheduler, parse_dask

    with user_errors():
        spec = check_scheduler(parse_dask(dask))  # a malformed --dask, or not a Dask scheduler: before any work
        store_first(mlflow)
        train = open_dataset(data)
        card = load_card(model)
        kernel_note(card)
        _check_training_world(card, train.meta["fingerprint"], model, data)
        scn = scenario_from_dict(train.meta["scenario"], f"{data}/dataset.json")
        plan = PoweredPlan(card["visibility"], "groomer", tpr_worlds, fpr_accounts, enriched_rate)
        job = Certification(model, data, with_truth, workdir, workers, jobs, spec)
        with world_source(job, card) as (worlds, calibrated):
            result = powered_evaluation(worlds, calibrated, scn, int(train.meta["seed"]), plan, _step)
    print_certified(result)
    if json_out is not None:
        write_json_atomic(json_out, result, indent=2)
    if mlflow:
        _log(result, card, job, plan, train.meta["fingerprint"])


def _check_training_world(card: dict, fingerprint: str, model: Path, data: Path) -> None:
    """Certify reads thresholds off the validation split of the model's own training world;
    on another world they would be set on data the model never saw trained beside, and the
    result would name a training world it does not come from."""
    if card["dataset_fingerprint"] != fingerprint:
        raise ModelError(
            f"{model}: trained on dataset {card['dataset_fingerprint'][:16]}, but --data {data} is "
            f"{fingerprint[:16]}: certify reads the model's own training world (lowbase evaluate scores others)"
        )


def _step(msg: str) -> None:
    err.print(msg, highlight=False)


def _say(msg: str) -> None:
    err.print(f"  {msg}", highlight=False)


@dataclass(frozen=True)
class Certification:
    """Where a certification's worlds are made and what they are scored by: the saved
    `model` (and its training-world truth variant, when asked) and its training world `data`; evaluation worlds
    under `workdir`, by `workers` generator processes, in this process (`jobs` 1, no
    `dask`), in `jobs` worker processes, or on the Dask cluster `dask`."""

    model: Path
    data: Path
    truth: bool
    workdir: Path
    workers: int = 2
    jobs: int = 1
    dask: DaskSpec | None = None


@contextmanager
def world_source(job: Certification, card: dict) -> Iterator[tuple[WorldSource, Calibrated]]:
    """The worlds' source (`bench.rare.worlds`) and the training world's side (models,
    thresholds). In this process, one process does everything; otherwise every world is
    made in worker processes (`--jobs`) or on Dask and the training world's side in a child
    process (`bench.rare.powered.prepare`): this process holds counts, never a world."""
    from bench.rare.powered import prepare, trained_and_calibrated
    from bench.rare.worlds import DaskWorlds, LocalWorlds, ProcessWorlds
    from bench.setup.cluster import dask_client

    if job.dask is None and job.jobs == 1:
        if job.truth:
            _step(f"training {card['model']} on the training world's truth")
        models, calibrated = trained_and_calibrated(job.model, job.data, job.truth)
        work = job.workdir
        yield LocalWorlds(models, work / "datasets", work / "certify-worlds", job.workers, _say), calibrated
        return
    truth_note = f", training {card['model']} on the training world's truth" if job.truth else ""
    _step(f"training world: loading the model on its features{truth_note}, thresholds (child process)")
    blob, calibrated = prepare(job.model, job.data, job.truth)
    scratch, cache = job.workdir.resolve() / "certify-worlds", job.workdir.resolve() / "datasets"
    if job.dask is None:
        with ProcessWorlds(job.jobs, blob, scratch, cache) as worlds:
            yield worlds, calibrated
        return
    with dask_client(job.dask) as client:
        local = job.dask.address is None  # remote workers write worlds in their own temporary directory
        yield DaskWorlds(client, blob, scratch if local else None, cache if local else None), calibrated


def _log(result: dict, card: dict, job: Certification, plan: PoweredPlan, training_fingerprint: str) -> None:
    """The result to MLflow (experiment lowbase-certify), tagged with the model and the
    training world it was certified against."""
    from bench.run.tracking import log_certified, tracking_uri

    params = {"model": card["model"], "visibility": card["visibility"], "fpr_accounts": plan.fpr_accounts,
              "tpr_worlds": plan.tpr_worlds, "enriched_rate": plan.enriched_rate,
              "training_truth": job.truth, "kernels": kernels.mode()}  # fmt: skip
    tags = {"lowbase.model": str(Path(job.model).resolve()), "lowbase.training_fingerprint": training_fingerprint}
    rid = log_certified(result, params, tags)
    err.print(
        f"MLflow run {rid} in experiment lowbase-certify ({tracking_uri()}); `lowbase report` of the run that "
        "trained the model draws it beside that run's own groomer figures",
        highlight=False,
    )


def _rate(r: dict) -> str:
    return f"{r['value']:.3g} [{r['low']:.2g}, {r['high']:.2g}] ({r['k']}/{r['n']})"


def _precision(p: dict) -> str:
    if p["kind"] == "undefined":
        return "—"
    sign = {"lower bound": ">= ", "upper bound": "<= "}.get(p["kind"], "")
    return f"{sign}{p['value']:.3g}"


def print_certified(result: dict) -> None:
    for name, figures in result["models"].items():
        _print_model(name, figures)
    w = result["worlds"]
    err.print(
        f"TPR from {len(w['tpr'])} enriched world(s), FPR from {len(w['fpr'])} negative world(s); thresholds set "
        f"on the validation split of the training world {w['train']['fingerprint'][:16]}",
        highlight=False,
    )


def _print_model(name: str, figures: dict) -> None:
    rows = figures["by_threshold"]
    base_rates = [p["base_rate"] for p in next(iter(rows.values()))["precision"]]
    t = Table(title=f"{name}: thresholds from the training world's validation split; rate [95% exact] (k/n)")
    t.add_column("threshold", no_wrap=True)
    t.add_column("FPR (negative worlds)", justify="right")
    for lvl in next(iter(rows.values()))["tpr_by_level"]:
        t.add_column(f"TPR {lvl}", justify="right")
    t.add_column("TPR at scenario mix", justify="right")
    for name, row in rows.items():
        levels = [_rate(r) for r in row["tpr_by_level"].values()]
        t.add_row(name, _rate(row["fpr"]), *levels, _rate(row["tpr_at_scenario_mix"]))
    out.print(t)
    p = Table(title=f"{name}: precision at base rate pi (>= : a bound where no false positive was seen)")
    p.add_column("threshold", no_wrap=True)
    for pi in base_rates:
        p.add_column(f"pi={pi:g}", justify="right")
    p.add_column("smallest pi for 0.5 / 0.95", justify="right")
    for name, row in rows.items():
        small = row["smallest_base_rate"]
        least = " / ".join("—" if v is None else f"{v:.2g}" for v in small.values())
        p.add_row(name, *(_precision(x) for x in row["precision"]), least)
    out.print(p)


def powered_tables(pw, key: str = "fpr<=0.001") -> list[tuple[str, list[str], list[list[str]]]]:
    """The run's groomer headline from the powered evaluation, as (title, header, rows):
    per level, n and TPR at the threshold `key` (set on the training world's validation
    split) for realistic labels, each label budget and the training world's truth; then precision at base
    rates per variant, bounds marked."""
    from bench.rare.label_budget import variant_order

    models = {name: pw.models[name] for name in variant_order(pw.models)}
    variants = {name: m.by_threshold[key] for name, m in models.items() if key in m.by_threshold}
    if not variants:
        return []
    first = next(iter(variants.values()))
    negatives = sum(w["negatives"] for w in pw.worlds["fpr"])
    title = (
        f"groomers, powered: TPR at {key} (threshold from the training world's validation split) [95% exact]; "
        f"{len(pw.worlds['tpr'])} enriched world(s) at {pw.enriched_rate:g}, {negatives:,} negatives "
        f"from {len(pw.worlds['fpr'])} world(s); (k) = labelled offenders in train + val"
    )
    header = ["level", "n"] + [
        f"{name} ({m.labels.total})" if m.labels is not None and m.labels.total is not None else name
        for name, m in models.items()
        if name in variants
    ]
    rows = [[lvl, str(r.n), *(_rate_short(p.tpr_by_level[lvl]) for p in variants.values())]
            for lvl, r in first.tpr_by_level.items()]  # fmt: skip
    mix = first.tpr_at_scenario_mix
    rows.append(["scenario mix", str(mix.n), *(_rate_short(p.tpr_at_scenario_mix) for p in variants.values())])
    rows.append(["FPR, pooled", str(first.fpr.n), *(_rate_short(p.fpr, digits=2) for p in variants.values())])
    rows.append(["TPR, training world's test split", str(first.test_split["tpr"].n),
                 *(_rate_short(p.test_split["tpr"]) for p in variants.values())])  # fmt: skip
    ptitle = f"groomers: precision at base rate pi at {key} ('>=': a bound, no false positive seen)"
    pheader = ["labels", *(f"pi={b.base_rate:g}" for b in first.precision)]
    prows = [[name, *(_precision(b.model_dump()) for b in pt.precision)] for name, pt in variants.items()]
    return [(title, header, rows), (ptitle, pheader, prows)]


def print_powered_headline(results) -> None:
    """`powered_tables` of a run: rich tables on a terminal, Markdown otherwise."""
    pw = results.analysis.powered
    for title, header, rows in powered_tables(pw):
        print_table(title, header, rows)
    if pw.unreachable:
        held = {k: (v.model_extra or {}).get("offenders_in_world", "?") for k, v in pw.unreachable.items()}
        err.print(
            "label budgets the training world cannot supply (offenders it holds in train and val): "
            + ", ".join(f"{k} ({n})" for k, n in held.items()),
            highlight=False,
        )


def _rate_short(r, digits: int = 3) -> str:
    if r.n == 0:
        return "—"
    if digits == 2:  # small rates (FPR): scientific, with the counts
        return f"{r.value:.2e} ({r.k:,}/{r.n:,})"
    return f"{r.value:.3f} [{r.low:.2f}, {r.high:.2f}] ({r.k}/{r.n})"
