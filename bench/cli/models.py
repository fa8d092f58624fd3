"""`lowbase train` and `lowbase evaluate`: fit one model on a dataset, score its test split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bench.cli.console import DASK_HELP, err, kernel_note, out, user_errors
from bench.errors import PredictionsError
from bench.setup.cluster import dask_client, parse_dask
from common.files import write_json_atomic
from data_gen.reader import open_dataset
from models.protocol import load_card


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
    from bench.stats.evaluate import evaluate, read_predictions, unscored_tasks
    from models import ModelInput, load_model
    from models.distributed import use_client

    with user_errors():
        spec = parse_dask(dask)
        if (model is None) == (predictions is None):
            raise PredictionsError("give exactly one of --model or --predictions")
        ds = open_dataset(data)
        if model is not None:
            card = load_card(model)
            kernel_note(card)
            td = ModelInput(ds.view(card["visibility"]))
            m, _ = load_model(model, td)
            with dask_client(spec) as client, use_client(client):
                td.features  # noqa: B018 - built on the cluster when --dask is given
            pred, origin = m.predict_scores(td), str(model)
        else:
            pred, origin = read_predictions(predictions), str(predictions)
        result = evaluate(pred, ds, n_resamples=resamples, origin=origin)
        if model is not None:
            result = _provenance(result, card["dataset_fingerprint"], ds.meta["fingerprint"])
    _print_metrics(result)
    if model is not None and card["dataset_fingerprint"] != ds.meta["fingerprint"]:
        err.print(
            f"note: the model was trained on dataset {card['dataset_fingerprint'][:16]}; these figures are on "
            f"another dataset, {ds.meta['fingerprint'][:16]}",
            highlight=False,
        )
    if skipped := unscored_tasks(result, ds):
        err.print(f"not scored (no predictions for them): {', '.join(skipped)}", highlight=False)
    if json_out is not None:
        write_json_atomic(json_out, result, indent=2)  # strict JSON: NaN as null, infinity as "inf"


def _provenance(result: dict, trained_on: str, scored_on: str) -> dict:
    """Each task's figures carry the datasets they come from, so a JSON read later still says
    whether the model was scored on its own training world's test split or on another."""
    where = {"trained_on": trained_on, "scored_on": scored_on, "own_training_world": trained_on == scored_on}
    return {task: {**m, "datasets": where} for task, m in result.items()}


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
