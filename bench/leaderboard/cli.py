"""`lowbase leaderboard prepare | submit | verify | show`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bench.console import err, out, user_errors

from .suite import DEFAULT_SUITE

app = typer.Typer(help="The frozen suite, submissions and re-scorable entries.", no_args_is_help=True)

REPO = Path(__file__).resolve().parents[2]
SuiteOpt = Annotated[str, typer.Option("--suite", help="Suite name or YAML path.")]
RootOpt = Annotated[Path, typer.Option("--root", help="Where prepared suite datasets live.")]
EntriesOpt = Annotated[Path | None, typer.Option("--entries", help="Entries directory (default leaderboard/SUITE).")]


def _entries_dir(entries: Path | None, suite) -> Path:
    return entries or REPO / "leaderboard" / suite.suite


def _step(msg: str) -> None:
    err.print(f"[dim]{escape(msg)}[/]", highlight=False)


@app.command("prepare")
def prepare_cmd(
    suite: SuiteOpt = DEFAULT_SUITE,
    root: RootOpt = Path("lowbase-work/leaderboard"),
    workers: Annotated[int, typer.Option(min=1, max=256, help="Generator processes.")] = 2,
) -> None:
    """Materialise the suite's datasets; refuse to go on when a fingerprint differs."""
    from .suite import load_suite, prepare

    with user_errors():
        s = load_suite(suite)
        ds = prepare(s, root, workers, _step)
    for name, d in ds.items():
        print(f"{s.suite}/{name}: {d.path} fingerprint {d.meta['fingerprint'][:16]} ok")


@app.command("submit")
def submit_cmd(
    directory: Annotated[Path, typer.Argument(help="Submission directory with submission.yaml.")],
    suite: SuiteOpt = DEFAULT_SUITE,
    root: RootOpt = Path("lowbase-work/leaderboard"),
    entries: EntriesOpt = None,
    no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="Do not log the entry to MLflow.")] = False,
) -> None:
    """Validate a submission completely, score it, and store it as an entry."""
    from bench.errors import SubmissionError

    from .entries import figures, make_entry, slug, write_entry
    from .harness import load_plugin, run_over_seeds
    from .submission import read_predictions_file, read_submission, validate_predictions
    from .suite import load_suite, open_prepared

    with user_errors():
        s = load_suite(suite)
        sub = read_submission(directory, s)
        edir = _entries_dir(entries, s)
        if (edir / f"{slug(sub.meta.name)}.json").exists():
            raise SubmissionError(f"{directory}: an entry named '{sub.meta.name}' exists in {edir}")
        datasets = open_prepared(s, root)
        if sub.predictions is not None:
            df = read_predictions_file(sub.predictions)
            per_seed, seeds, vals = [validate_predictions(df, s, datasets, str(sub.predictions))], [0], None
            kind = "predictions"
        else:
            factory = load_plugin(*sub.plugin)
            per_seed, vals = run_over_seeds(factory, s, datasets, s.seeds, sub.meta.plugin, _step)
            seeds, kind = list(s.seeds), "plugin"
        meta = sub.meta.model_dump(mode="json", exclude={"suite", "fingerprints"})
        validation = [figures(v, s, datasets, split="val") for v in vals] if vals else None
        entry = make_entry(
            meta,
            s,
            datasets,
            per_seed,
            seeds,
            kind=kind,
            submitted_sha256=sub.sha256,
            validation=validation,
            command=f"lowbase leaderboard submit {_rel(directory)} --suite {s.suite}",
            dataset_fingerprints={k: d.meta["fingerprint"] for k, d in datasets.items()},
        )
        path = write_entry(edir, entry, per_seed, s)
    out.print(f"accepted: {path}", highlight=False)
    if not no_mlflow:
        _log_entry(entry)


def _rel(p: Path) -> str:
    try:
        return os.path.relpath(Path(p).resolve(), REPO)
    except ValueError:
        return str(p)


def _log_entry(entry: dict) -> None:
    """One run per entry in the `lowbase-leaderboard` experiment: mean figures as metrics."""
    from bench.tracking import log_batch, setup, store_lock

    client = setup()
    with store_lock(client.tracking_uri):
        _log_entry_run(client, entry, log_batch)


def _log_entry_run(client, entry: dict, log_batch) -> None:
    exp = client.get_experiment_by_name("lowbase-leaderboard")
    run = client.create_run(exp.experiment_id, run_name=entry["name"], tags={"lowbase.suite": entry["suite"]})
    metrics = {
        f"{sc}/{task}/{m}": v["mean"]
        for sc, tasks in entry["figures"].items()
        for task, mets in tasks.items()
        for m, v in mets.items()
        if v["mean"] is not None
    }
    params = {"name": entry["name"], "kind": entry["kind"], "seeds": str(entry["seeds"]), "command": entry["command"]}
    log_batch(client, run.info.run_id, metrics, params)
    client.log_dict(run.info.run_id, entry, "entry.json")
    client.set_terminated(run.info.run_id, "FINISHED")


@app.command("verify")
def verify_cmd(
    suite: SuiteOpt = DEFAULT_SUITE,
    root: RootOpt = Path("lowbase-work/leaderboard"),
    entries: EntriesOpt = None,
) -> None:
    """Re-score every entry from its stored predictions; exit 1 naming any that differ."""
    from bench.errors import EntryError

    from .entries import load_entries, verify_entry
    from .suite import load_suite, open_prepared

    with user_errors():
        s = load_suite(suite)
        datasets = open_prepared(s, root)
        found = load_entries(_entries_dir(entries, s))
    bad = []
    for path, entry in found:
        try:
            verify_entry(path, entry, s, datasets)
            out.print(f"ok        {path.name}", highlight=False)
        except EntryError as e:
            bad.append(path.name)
            out.print(f"[bold red]MISMATCH[/]  {escape(str(e))}", highlight=False)
    if bad:
        err.print(f"{len(bad)} of {len(found)} entries do not verify: {', '.join(bad)}", highlight=False)
        raise typer.Exit(1)
    err.print(f"all {len(found)} entries verify against suite {s.suite}", highlight=False)


@app.command("show")
def show_cmd(
    suite: SuiteOpt = DEFAULT_SUITE,
    entries: EntriesOpt = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Also write the table as HTML here.")] = None,
) -> None:
    """The leaderboard as Markdown (and HTML on request)."""
    from .entries import html_table, load_entries, markdown
    from .suite import load_suite

    with user_errors():
        s = load_suite(suite)
        found = [e for _, e in load_entries(_entries_dir(entries, s))]
    print(markdown(found, s), end="")
    if html_out is not None:
        html_out.write_text(html_table(found, s))
        err.print(f"wrote {html_out}", highlight=False)
