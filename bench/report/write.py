"""The report directory, written atomically (`common.files.atomic_dir`): built in a hidden
sibling and renamed into place, so a killed report never leaves a half-written directory
that looks complete. `manifest.json`, written last, marks a complete report; an existing
`out` is replaced only when it is empty or is itself a report (holds `manifest.json`);
anything else is refused rather than deleted."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bench.errors import ReportError
from bench.results import RunResults, parse_results
from common.files import atomic_dir, dumps_json, jsonable, write_marker

from .headline import headline_html, headline_markdown
from .render import render_html, render_md
from .sections import build_report

MANIFEST = "manifest.json"


def check_out(out: Path) -> None:
    """Raise `ReportError` when `out` may not be replaced: a file, or a non-empty directory
    that is not a report."""
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ReportError(
            f"{out}: directory exists, is not empty and is not a lowbase report (no {MANIFEST}); refusing to replace it"
        )


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
