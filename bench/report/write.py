"""The report directory, written atomically (`common.files.atomic_dir`): built in a hidden
sibling and renamed into place, so a killed report never leaves a half-written directory
that looks complete. `manifest.json`, written last, marks a complete report; an existing
`out` is replaced only when it is empty or is itself a report (a `manifest.json` listing
every file in it); anything else is refused rather than deleted."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bench.errors import ReportError
from bench.report.headline import headline_html, headline_markdown
from bench.report.render import render_html, render_md
from bench.report.sections import build_report
from bench.results import RunResults, parse_results
from common.files import (
    OutputExistsError,
    atomic_dir,
    check_target,
    dumps_json,
    jsonable,
    unlisted_entries,
    write_marker,
)

MANIFEST = "manifest.json"


def foreign_to_report(path: Path) -> list[str]:
    """The entries of `path` that are not part of a report this tool wrote (all of them
    without a readable manifest): a file of the user's own beside a report makes it theirs."""
    return unlisted_entries(path, MANIFEST, lambda manifest: manifest["files"])


def check_out(out: Path) -> None:
    """Raise `ReportError` when `out` may not be replaced: a file, the working or home
    directory, or a non-empty directory that is not a lowbase report."""
    try:
        owned = f"a lowbase report (its {MANIFEST} lists every file)"
        check_target(out, True, foreign_to_report, flag="report", owned=owned)
    except OutputExistsError as e:
        raise ReportError(str(e)) from None


def write_report(results: RunResults | Mapping, out: Path) -> dict[str, Path]:
    """Write the report of one run into `out/` atomically and return {file name: final path}
    for every file written: report.md, report.html, headline.md, headline.html,
    headline.json, manifest.json and the PNG figures. `results` is a `RunResults` or a
    mapping in its schema (`bench.results.ResultsError` when it is not). `out` is replaced
    when it is empty or a previous report; a non-report directory or a file raises
    `ReportError`."""
    results = parse_results(results)
    out = Path(out).resolve()
    with atomic_dir(out, check=check_out) as tmp:
        blocks, pngs = build_report(results, tmp)
        rows = results.headline
        title = f"lowbase run report: {results.config.preset}, seed {results.config.seed}"
        images = {name: (tmp / name).read_bytes() for name in pngs}
        texts = {
            "report.md": render_md(blocks),
            "report.html": render_html(blocks, images, title),
            "headline.md": headline_markdown(rows),
            "headline.html": headline_html(rows),
            "headline.json": dumps_json([jsonable(r.model_dump(exclude_unset=True)) for r in rows], indent=2),
        }
        for name, text in texts.items():
            (tmp / name).write_text(text, encoding="utf-8")
        files = sorted([*texts, *pngs])
        manifest = {
            "format": 1,
            "files": files,
            "primary": results.primary,
            "dataset_fingerprint": results.dataset.fingerprint,
        }
        write_marker(tmp / MANIFEST, dumps_json(manifest, indent=2))  # last: marks a complete report
    return {name: out / name for name in [*files, MANIFEST]}
