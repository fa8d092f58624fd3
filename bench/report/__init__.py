"""`lowbase report`: the results of a run (`bench.results.RunResults`) as Markdown and HTML
with matplotlib figures.

Reads only the results, in memory or from results.json (an MLflow artifact included), so a
report can be rebuilt long after the run. Output directory layout (`write_report`):

- `report.md`: the report; figures referenced as relative PNG paths (`pr_groomer.png`), so
  it renders on GitHub, in MLflow's artifact viewer and in any editor with the PNGs beside it.
- `report.html`: the same report, self-contained: figures embedded as base64 `data:` URIs,
  so the single file can be mailed or opened from anywhere.
- `headline.md`, `headline.html`, `headline.json`: the headline table (docs/design.md, "Metrics").
- `*.png`: the figures (`figures`), deterministic: the same results give the same bytes.
- `manifest.json`: the list of files, written last; it marks a complete report.

Modules: `format` (numbers), `render` (the typed blocks, to Markdown and HTML), `headline` (the table),
`figures` (matplotlib), `sections` (the report's parts), `powered` and `powered_figures` (the
rare-harm evaluation: powered groomer figures, detection before harm on enriched worlds,
validated operating points), `ceiling` and `ceiling_figures` (the cached ceiling a run carries,
its learning curves and the decomposition built on it), `frontier` and `frontier_figures`
(the adversary's frontier: its tables, readings, report and figure), `write` (the atomic
directory).
"""

from __future__ import annotations

from bench.report.format import fmt_count, fmt_interval, fmt_precision, fmt_value
from bench.report.headline import HEADLINE_COLUMNS, headline_cells, headline_columns, headline_html, headline_markdown
from bench.report.sections import SECTIONS, build_report
from bench.report.write import MANIFEST, write_report

__all__ = [
    "HEADLINE_COLUMNS",
    "MANIFEST",
    "SECTIONS",
    "build_report",
    "fmt_count",
    "fmt_interval",
    "fmt_precision",
    "fmt_value",
    "headline_cells",
    "headline_columns",
    "headline_html",
    "headline_markdown",
    "write_report",
]
