"""The headline table (docs/design.md, "Metrics"): the same cells for the terminal, Markdown and
HTML. Rows are `bench.results.HeadlineRow` (or mappings in their shape)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

from bench.report.format import fmt_interval, fmt_precision
from bench.report.render import html_page, html_table, md_escape
from bench.results import HeadlineRow, headline_row, key_precision

HEADLINE_COLUMNS = (
    ("task", "task"),
    ("scenario", "scenario"),
    ("n_positive", "n+"),
    ("auroc", "AUROC"),
    ("recall_at_p95", "recall@P0.95"),
    ("recall_at_p99", "recall@P0.99"),
    ("val_recall_at_fpr_1e3", "recall at FPR 1e-3 (val threshold)"),
    ("val_recall_at_precision", "recall at the operating precision (val threshold)"),
    ("precision_at_base_rate", "precision at base rate"),
    ("innocent_per_offender", "innocent per offender found"),
    ("detection_before_harm", "detection before harm"),
)
HEADLINE_NOTE = (
    "Figures are the primary model's, each with its 95% interval. AUROC and recall@P (stratified bootstrap) "
    "read the test split at its own best threshold; the 'val threshold' columns read it at thresholds set on "
    "the validation split (exact intervals, k/n). Groomer precision at a base rate and the level rows come "
    "from the powered evaluation (TPR on enriched worlds, FPR on fresh negative worlds, validation "
    "thresholds) where the run has it; '>=' marks a bound (no false positive seen). Detection before harm "
    'is read on the enriched world (docs/design.md, "Metrics" and "Evaluation design for rare harms").'
)


def _rows(rows: Iterable[HeadlineRow | Mapping] | None) -> list[HeadlineRow]:
    return [headline_row(r) for r in rows or []]


def headline_columns(rows: Iterable[HeadlineRow | Mapping] | None) -> list[tuple[str, str]]:
    """(key, label) of every column: HEADLINE_COLUMNS, and a recall column for any other
    precision a row is read at (the per-level recall of a run at operating precision 0.90
    adds `recall@P0.90`), recall columns in order of precision."""
    known = {k for k, _ in HEADLINE_COLUMNS}
    extra = sorted({k for r in _rows(rows) for k in r.recall_keys() if k not in known}, key=key_precision)
    if not extra:
        return list(HEADLINE_COLUMNS)
    cols = [c for c in HEADLINE_COLUMNS if not c[0].startswith("recall_at_")]
    recalls = sorted([*(c[0] for c in HEADLINE_COLUMNS if c[0].startswith("recall_at_")), *extra], key=key_precision)
    at = next(i for i, c in enumerate(HEADLINE_COLUMNS) if c[0].startswith("recall_at_"))
    return cols[:at] + [(k, f"recall@P{fmt_precision(key_precision(k))}") for k in recalls] + cols[at:]


def headline_cells(rows: Iterable[HeadlineRow | Mapping] | None) -> list[list[str]]:
    """The headline rows as formatted cells, one list per row in `headline_columns` order
    (for a terminal table: the same strings as `headline_markdown`)."""
    rows = _rows(rows)
    columns = headline_columns(rows)
    out = []
    for row in rows:
        cells = []
        for key, _ in columns:
            v = row.cell(key)
            if key in ("task", "scenario", "n_positive"):
                cells.append("—" if v is None else str(v))
            elif key == "precision_at_base_rate":
                cells.append(_bounded(fmt_interval(v, "precision"), row.bound, ">= ", "nothing flagged"))
            elif key == "innocent_per_offender":
                cells.append(_bounded(fmt_interval(v, "innocent"), row.bound, "<= ", "none found"))
            else:
                cells.append(fmt_interval(v))
        out.append(cells)
    return out


def _bounded(cell: str, bound: str | None, lower: str, nothing: str) -> str:
    """A precision (or innocent-per-offender) cell marked as the bound it is: with no false
    positive seen, precision is at least the value and innocent accounts at most."""
    if bound == "nothing flagged":
        return nothing
    if bound == "precision >=":
        return lower + cell
    if bound == "precision <=":
        return ("<= " if lower == ">= " else ">= ") + cell
    return cell


def headline_markdown(rows: Iterable[HeadlineRow | Mapping] | None) -> str:
    """The headline table as a Markdown table (what `lowbase run` prints); absent or None
    cells print as `—`. Values are `value [95% CI]`; shares add `(k/n)`; innocent accounts
    flagged per offender found is `none found` when the classifier finds no offender at that
    base rate (the ratio is infinite)."""
    rows = _rows(rows)
    columns = headline_columns(rows)
    lines = ["| " + " | ".join(label for _, label in columns) + " |", "|" + "---|" * len(columns)]
    for cells in headline_cells(rows):
        lines.append("| " + " | ".join(md_escape(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def headline_html(rows: Iterable[HeadlineRow | Mapping] | None) -> str:
    """The headline table as a standalone HTML document."""
    rows = _rows(rows)
    table = html_table([label for _, label in headline_columns(rows)], headline_cells(rows))
    return html_page("lowbase headline", f"<h1>lowbase headline</h1>\n{table}\n<p>{html.escape(HEADLINE_NOTE)}</p>")
