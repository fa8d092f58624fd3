"""`lowbase leaderboard prepare | submit | verify | show | ceiling`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.cli.console import err, out, store_first, user_errors
from bench.leaderboard.suite import DEFAULT_SUITE

app = typer.Typer(help="The frozen suite, submissions and re-scorable entries.", no_args_is_help=True)

REPO = Path(__file__).resolve().parents[2]
SuiteOpt = Annotated[str, typer.Option("--suite", help="Suite name or YAML path.")]
RootOpt = Annotated[Path, typer.Option("--root", help="Where prepared suite datasets and worlds live.")]
EntriesOpt = Annotated[Path | None, typer.Option("--entries", help="Entries directory (default leaderboard/SUITE).")]
WorkersOpt = Annotated[int, typer.Option(min=1, max=256, help="Generator processes.")]
TrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust-plugin",
        help="Run the plugin in this process, unsandboxed, able to read everything this process can (the "
        "evaluation truth included): only for code you trust; the entry records sandbox 'none'.",
    ),
]


def _entries_dir(entries: Path | None, suite) -> Path:
    return entries or REPO / "leaderboard" / suite.suite


class _Clock:
    """Progress lines on stderr with the time since the command started."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, msg: str) -> None:
        t = int(time.monotonic() - self.start)
        err.print(f"[dim]{t // 60:3d}:{t % 60:02d}  {escape(msg)}[/]", highlight=False)


@app.command("prepare")
def prepare_cmd(
    suite: SuiteOpt = DEFAULT_SUITE,
    root: RootOpt = Path("lowbase-work/leaderboard"),
    workers: WorkersOpt = 2,
) -> None:
    """Materialise the suite's datasets and evaluation worlds; refuse to go on when a
    fingerprint differs."""
    from bench.leaderboard.suite import load_suite, prepare

    with user_errors():
        s = load_suite(suite)
        ds = prepare(s, root, workers, _Clock())
    for name, d in ds.items():
        print(f"{s.suite}/{name}: {d.path} fingerprint {d.meta['fingerprint'][:16]} ok")


@app.command("submit")
def submit_cmd(
    directory: Annotated[Path, typer.Argument(help="Submission directory with submission.yaml.")],
    suite: SuiteOpt = DEFAULT_SUITE,
    root: RootOpt = Path("lowbase-work/leaderboard"),
    entries: EntriesOpt = None,
    no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="Do not log the entry to MLflow.")] = False,
    trust_plugin: TrustOpt = False,
) -> None:
    """Validate a submission completely, score it, and store it as an entry. A plugin runs
    in a Landlock sandbox that reads only the model-visible tables (refused where Landlock
    is unavailable, unless --trust-plugin)."""
    from bench.errors import SubmissionError
    from bench.leaderboard.entries import make_entry, slug, write_entry
    from bench.leaderboard.harness import Plugin, run_plugin, sandbox_of
    from bench.leaderboard.scoring import frames
    from bench.leaderboard.store import ranked
    from bench.leaderboard.submission import read_predictions_file, read_submission, validate_predictions
    from bench.leaderboard.suite import load_suite, open_prepared, require_current

    clock = _Clock()
    with user_errors():
        store_first(not no_mlflow)
        s = load_suite(suite)
        require_current(s, "submitted to")
        sub = read_submission(directory, s)
        edir = _entries_dir(entries, s)
        if (edir / f"{slug(sub.meta.name)}.json").exists():
            raise SubmissionError(f"{directory}: an entry named '{sub.meta.name}' exists in {edir}")
        plugin = Plugin(*sub.plugin, trusted=trust_plugin) if sub.plugin else None
        extra = {"sandbox": sandbox_of(trust_plugin, f"plugin {sub.plugin[0]}")} if sub.plugin else {}
        datasets = open_prepared(s, root, "submitted to")
        fr = frames(s, datasets)
        if sub.predictions is not None:
            df = read_predictions_file(sub.predictions)
            per_seed, seeds, kind = [validate_predictions(df, s, datasets, str(sub.predictions))], [0], "predictions"
        else:
            clock(f"plugin {sub.meta.plugin}: sandbox {extra['sandbox']}")
            per_seed = run_plugin(plugin, s, datasets, fr, s.seeds, str(sub.meta.plugin), clock)
            seeds, kind = list(s.seeds), "plugin"
        ranks = [ranked(p) for p in per_seed]
        meta = sub.meta.model_dump(mode="json", exclude={"suite", "fingerprints"})
        entry = make_entry(
            meta,
            s,
            datasets,
            fr,
            ranks,
            seeds,
            kind=kind,
            submitted_sha256=sub.sha256,
            source=_rel(directory),
            command=f"lowbase leaderboard submit {_rel(directory)} --suite {s.suite}",
            **extra,
        )
        path = write_entry(edir, entry, ranks)
    out.print(f"accepted: {path} ({time.monotonic() - clock.start:.0f} s)", highlight=False)
    if not no_mlflow:
        _log_entry(entry)


def _rel(p: Path) -> str:
    """A path inside the repository relative to it (entries are committed); else absolute."""
    full = Path(p).resolve()
    return full.relative_to(REPO).as_posix() if full.is_relative_to(REPO) else str(full)


def _log_entry(entry: dict) -> None:
    """One run per entry in the `lowbase-leaderboard` experiment: mean figures as metrics."""
    from bench.run.tracking import log_batch, setup, store_lock

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
    fresh_seeds: Annotated[
        int,
        typer.Option(
            "--fresh-seeds",
            min=0,
            max=20,
            help="Also re-run plugin entries on K fresh dataset seeds and report frozen, fresh and the gap per cell.",
        ),
    ] = 0,
    entry_names: Annotated[
        list[str] | None, typer.Option("--entry", help="With --fresh-seeds: only this entry (by name; repeatable).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="With --fresh-seeds: write every cell here.")] = None,
    workers: WorkersOpt = 2,
    trust_plugin: TrustOpt = False,
    salt: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=2**63 - 1,
            help="With --fresh-seeds: the secret the fresh seeds derive from "
            "(default: drawn at random and printed; give it to reproduce a run).",
        ),
    ] = None,
) -> None:
    """Re-score every entry from its stored predictions; exit 1 naming any cell that
    differs. With --fresh-seeds, then re-run the plugin entries on fresh seeds, sandboxed
    unless --trust-plugin, and report the gaps (exit 0 whatever they are)."""
    from bench.errors import EntryError, SuiteError
    from bench.leaderboard.entries import load_entries, verify_entry
    from bench.leaderboard.scoring import frames
    from bench.leaderboard.suite import load_suite, open_prepared

    with user_errors():
        if fresh_seeds == 0 and (entry_names or json_out or trust_plugin or salt is not None):
            raise SuiteError("--entry, --json, --salt and --trust-plugin go with --fresh-seeds K (K >= 1)")
        s = load_suite(suite)
        datasets = open_prepared(s, root, "verified")
        found = load_entries(_entries_dir(entries, s))
        fr = frames(s, datasets)
        bad = []
        for path, entry in found:
            try:
                verify_entry(path, entry, s, datasets, fr)
                out.print(f"ok        {path.name}", highlight=False)
            except EntryError as e:
                bad.append(path.name)
                out.print(f"[bold red]MISMATCH[/]  {escape(str(e))}", highlight=False)
    if bad:
        err.print(f"{len(bad)} of {len(found)} entries do not verify: {', '.join(bad)}", highlight=False)
        raise typer.Exit(1)
    err.print(f"all {len(found)} entries verify against suite {s.suite}", highlight=False)
    if fresh_seeds:
        _fresh(s, root, [e for _, e in found], fresh_seeds, entry_names or [], json_out, workers, (trust_plugin, salt))


def _fresh(s, root: Path, found: list[dict], k: int, names: list[str], json_out: Path | None, workers: int,
           trust_salt: tuple[bool, int | None]) -> None:  # fmt: skip
    from bench.errors import SubmissionError
    from bench.leaderboard.fresh import fresh_figures, fresh_runs, fresh_suite, gaps, headline, new_salt
    from bench.leaderboard.harness import sandbox_of
    from common.files import write_json_atomic

    clock = _Clock()
    with user_errors():
        unknown = sorted(set(names) - {e["name"] for e in found})
        if unknown:
            raise SubmissionError(f"--entry: no entry named {unknown} in suite {s.suite}")
        chosen = [e for e in found if (not names or e["name"] in names) and e.get("kind") == "plugin"]
        if not chosen:
            raise SubmissionError(f"--fresh-seeds: suite {s.suite} has no plugin entry to re-run")
        trust, salt = trust_salt
        clock(f"plugins: sandbox {sandbox_of(trust, '--fresh-seeds')}")
        salt = new_salt() if salt is None else salt
        clock(f"fresh seeds derived with --salt {salt} (secret until now; give it to reproduce this run)")
        runs = fresh_runs(s, root, k, workers, clock, salt)
        result = {"suite": s.suite, "fresh_seeds": k, "salt": salt,
                  "runs": [_seeds_of(fresh_suite(s, i, salt)) for i in range(k)], "entries": {}}  # fmt: skip
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=err, disable=not err.is_terminal)  # fmt: skip
        with bar:
            task = bar.add_task("fresh runs", total=len(chosen) * k)
            for e in chosen:
                fresh = fresh_figures(e, runs, REPO, clock, lambda: bar.advance(task), trust)
                result["entries"][e["name"]] = {"seeds": e["seeds"], "cells": gaps(e, fresh, s)}
                _print_gaps(e["name"], gaps(e, fresh, s, headline(s)), k)
        if json_out is not None:
            write_json_atomic(json_out, result)
            err.print(f"wrote {json_out}", highlight=False)


def _seeds_of(fs) -> dict:
    return {
        "datasets": {n: d.seed for n, d in fs.datasets.items()},
        "worlds": {n: w.seed for n, w in fs.worlds.items()},
    }


def _print_gaps(name: str, cells: list[dict], k: int) -> None:
    from rich.console import Console

    t = Table(title=f"{name}: frozen (mean ± std over the suite's seeds) vs {k} fresh seed(s); gap = fresh - frozen")
    t.add_column("cell", no_wrap=True)
    for col in ("frozen", "fresh", "per fresh run", "gap"):
        t.add_column(col, justify="right", no_wrap=True)

    def f(v):
        return "n/a" if v is None else f"{v:.2g}" if 0 < abs(v) < 0.01 else f"{v:.3f}"

    for c in cells:
        fz, gap = c["frozen"], c["gap"]
        spread = 0.0 if fz["std"] is None or fz["std"] <= 1e-12 * max(1.0, abs(fz["mean"] or 0)) else fz["std"]
        text = "n/a" if gap is None else f"{gap:+.3f}"
        if gap is not None and abs(gap) > 2 * spread:
            text = f"[bold yellow]{text}[/]"  # beyond twice the spread over the suite's seeds
        frozen = "n/a" if fz["mean"] is None else f"{f(fz['mean'])} ± {f(spread)}"
        per_run = " / ".join(f(v) for v in c["fresh"]["per_run"])
        cell = f"{c['scenario']}: {c['task']} {c['metric']}"
        t.add_row(cell, frozen, f(c["fresh"]["mean"]), per_run, text)
    # Redirected output (a log, a file) gets the whole table rather than cropped columns.
    (out if out.is_terminal else Console(width=150)).print(t)


WorkdirOpt = Annotated[Path, typer.Option("--workdir", help="Work directory whose ceilings/ cache holds the ceilings.")]


@app.command("show")
def show_cmd(
    suite: SuiteOpt = DEFAULT_SUITE,
    entries: EntriesOpt = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Also write the tables as HTML here.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the tables and the ceiling rows as JSON here.")
    ] = None,
    workdir: WorkdirOpt = Path("lowbase-work"),
) -> None:
    """The leaderboard as Markdown (and HTML or JSON on request), with each powered
    scenario's groomer ceiling as a reference row where WORKDIR/ceilings holds one (it is
    never computed here: `lowbase leaderboard ceiling` does)."""
    from bench.leaderboard.board import board_json, html_table, markdown
    from bench.leaderboard.ceilings import references
    from bench.leaderboard.entries import load_entries
    from bench.leaderboard.suite import load_suite
    from common.files import write_json_atomic, write_text_atomic

    with user_errors():
        s = load_suite(suite)
        found = [e for _, e in load_entries(_entries_dir(entries, s))]
        refs = references(s, workdir, suite)
    print(markdown(found, s, refs), end="")
    if html_out is not None:
        write_text_atomic(html_out, html_table(found, s, refs))
        err.print(f"wrote {html_out}", highlight=False)
    if json_out is not None:
        write_json_atomic(json_out, board_json(found, s, refs))
        err.print(f"wrote {json_out}", highlight=False)


@app.command("ceiling")
def ceiling_cmd(
    suite: SuiteOpt = DEFAULT_SUITE,
    workdir: WorkdirOpt = Path("lowbase-work"),
    jobs: Annotated[int, typer.Option(min=1, max=256, help="Worker processes for the evaluation worlds.")] = 1,
    workers: WorkersOpt = 2,
    mlflow: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Log each computed ceiling (experiment lowbase-ceiling).")
    ] = True,
) -> None:
    """Compute the groomer ceiling (`lowbase ceiling` with its default settings) of every
    powered scenario of the suite that has none cached in WORKDIR/ceilings: its dataset's
    scenario at the scenario's visibility and the dataset's seed. Cached ones are named and
    kept; `show` then prints them as reference rows."""
    from bench.cli.ceiling import announce
    from bench.leaderboard.ceilings import compute, missing
    from bench.leaderboard.suite import load_suite

    clock = _Clock()
    with user_errors():
        s = load_suite(suite)
        cached, todo = missing(s, workdir)
        store_first(mlflow and bool(todo))
        for t, path in cached:
            out.print(f"cached    {t.label()} (serves {', '.join(t.serves)}): {path}", highlight=False)
        for i, t in enumerate(todo, 1):
            clock(f"ceiling {i}/{len(todo)}: {t.label()} (serves {', '.join(t.serves)})")
            record, path, was_cached = compute(t, workdir, workers, jobs, clock)
            announce(record, path, was_cached, mlflow)
    err.print(f"{len(cached) + len(todo)} ceiling(s) of suite {s.suite} in {workdir / 'ceilings'}", highlight=False)
