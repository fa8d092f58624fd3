"""The console headline `lowbase run` ends with: the answer in at most 100 columns, then where
the full tables are.

Three compact tables read from `RunResults` (the headline rows and the powered evaluation):
one line per task (AUROC and recall at the operating precision, at the threshold set on the
validation split, and detection before harm where measured); the groomers per sophistication
level (TPR at the FPR-1e-3 validation threshold, k/n, detection before harm, and the cached
ceiling's TPR at FPR 1e-3 beside it, `≥` where its plateau was not reached) with the pooled
FPR; groomer precision at projected base rates. Every figure keeps its 95% interval. The full
tables (every column, every label variant) are in the report, results.json and MLflow
(`lowbase run --full` also prints them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bench.results import HeadlineRow, RunResults, level_task, recall_key
from bench.results.ceiling import same_worlds
from common.vocabulary import SOPHISTICATION_LEVELS

WIDTH = 100  # the widest the headline may print, terminal or not
FPR_KEY = "fpr<=0.001"  # the powered threshold the headline reads (set on validation)
NONE = "—"


# ---------------------------------------------------------------- numbers


def _num(x: float, value: bool) -> str:
    """A rate: 3 decimals for a value (2 for an interval bound) from 0.1 up, more below so two
    significant digits show, scientific below 1e-3; NaN `n/a`, infinity `∞`."""
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    a = abs(x)
    if x == 0 or a >= 0.1:
        return f"{x:.{3 if value else 2}f}"
    if a >= 0.01:
        return f"{x:.3f}"
    if a >= 1e-3:
        return f"{x:.4f}"
    return f"{x:.2e}" if value else f"{x:.1e}"


def _sci(x: float, digits: int) -> str:
    """A small rate (an FPR) in scientific notation; 0 as `0`."""
    return "0" if x == 0 else (f"{x:.{digits}e}" if math.isfinite(x) else _num(x, True))


def _count(x: float, value: bool = True) -> str:
    """A ratio or count (innocent accounts per offender found): three significant digits,
    thousands separators from 100 up."""
    if not math.isfinite(x):
        return _num(x, value)
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}" if a < 1e7 else f"{x:.2e}"
    return "0" if x == 0 else f"{x:.3g}"


def fmt_estimate(e, counts: bool = False, prefix: str = "", ratio: bool = False) -> str:
    """`0.835 [0.78, 0.88]` (an estimate record or a powered rate), with ` 202/242` when
    `counts` and the estimate has them; `ratio`: a ratio (`33.2 [27.5, 39.8]`) rather than a
    rate; None prints as `—`."""
    if e is None:
        return NONE
    fmt = _count if ratio else _num
    low, high = getattr(e, "ci_low", getattr(e, "low", None)), getattr(e, "ci_high", getattr(e, "high", None))
    text = prefix + fmt(e.value, True)
    if low is not None and high is not None:
        text += f" [{fmt(low, False)}, {fmt(high, False)}]"
    k, n = getattr(e, "k", None), getattr(e, "n", None)
    if counts and k is not None and n is not None:
        text += f" {k:,}/{n:,}"
    return text


def _precision_prefix(row: HeadlineRow) -> str:
    return {"precision >=": ">= ", "precision <=": "<= "}.get(row.bound or "", "")


# ---------------------------------------------------------------- tables


@dataclass
class Part:
    """One table of the headline: its title, header, rows of cells and the notes under it.
    A column beyond the first two with nothing in any row is left out."""

    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str]

    def columns(self) -> list[int]:
        return [i for i, _ in enumerate(self.header) if i < 2 or any(r[i] != NONE for r in self.rows)]

    def table(self) -> Table:
        t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        keep = self.columns()
        for i in keep:  # one space between columns; a cell too wide for the console wraps, never cut
            t.add_column(self.header[i], justify="left" if i == 0 else "right", overflow="fold")
        for r in self.rows:
            t.add_row(*(escape(r[i]) for i in keep))
        return t


def _n(x: int | None) -> str:
    return NONE if x is None else f"{x:,}"


def _task_rows(results: RunResults) -> list[HeadlineRow]:
    """The row of each task at the rate measured on the run's data (no level, no projection)."""
    return [r for r in results.headline if r.scenario.startswith("measured at")]


def tasks_part(results: RunResults) -> Part | None:
    """One line per task: n+, AUROC, recall at the operating precision (val threshold) and
    detection before harm where the run measured it."""
    rows = _task_rows(results)
    if not rows:
        return None
    p = results.precision
    val = any(r.val_recall_at_precision is not None for r in rows)
    recall = "val_recall_at_precision" if val else recall_key(p)
    cells = [
        [r.task, _n(r.n_positive), fmt_estimate(r.auroc), fmt_estimate(r.cell(recall)),
         fmt_estimate(r.detection_before_harm)]
        for r in rows
    ]  # fmt: skip
    where = "the threshold set on validation" if val else "the test split's own threshold"
    notes = [f"n+: offenders in the test split; recall@P{p:.2f} at {where}"]
    part = Part("tasks", ["task", "n+", "AUROC", f"recall@P{p:.2f}", "before harm"], cells, notes)
    if 4 in part.columns():
        notes.append("before harm: share of harm events that a flag came before")
    return part


def groomer_part(results: RunResults) -> Part | None:
    """Groomers: the training world's test split, then one line per level (the enriched
    world at the FPR-1e-3 validation threshold when the run has the powered evaluation, else
    the test split at its own operating threshold) and all levels at the scenario's mix."""
    by_task = {r.task: r for r in results.headline if r.task.startswith("groomer ")}
    levels = [(lvl, by_task[level_task(lvl)]) for lvl in SOPHISTICATION_LEVELS if level_task(lvl) in by_task]
    measured = next((r for r in _task_rows(results) if r.task == "groomer"), None)
    if not levels and measured is None:
        return None
    pt, timely = results.analysis.realistic_point(FPR_KEY), (results.analysis.timely or {}).get("groomer")
    key = "val_recall_at_fpr_1e3" if pt is not None else recall_key(results.precision)
    rows = []
    if measured is not None:  # before harm on the enriched world belongs to "all levels"
        harm = None if timely is not None else measured.detection_before_harm
        rows.append(["test split", _n(measured.n_positive), fmt_estimate(measured.cell(key), True), NONE,
                     fmt_estimate(harm, True)])  # fmt: skip
    ceiling = _ceiling_cells(results) if pt is not None else {}
    for lvl, r in levels:
        harm = r.detection_before_harm
        rows.append([lvl, _n(r.n_positive), fmt_estimate(r.cell(key), True), ceiling.get(lvl, NONE),
                     fmt_estimate(harm, True)])  # fmt: skip
    if pt is not None:
        mix = pt.tpr_at_scenario_mix
        rows.append(["all levels", _n(mix.n), fmt_estimate(mix, True), NONE,
                     fmt_estimate(timely and timely.share, True)])  # fmt: skip
    label = "TPR@FPR1e-3" if pt is not None else f"recall@P{results.precision:.2f}"
    notes = _groomer_notes(results, timely is not None) + (_ceiling_notes(results) if ceiling else [])
    return Part(_groomer_title(results), ["groomers", "n", label, "ceiling", "before harm"], rows, notes)


def _ceiling_cells(results: RunResults) -> dict[str, str]:
    """The cached ceiling's TPR per level at the headline's threshold, `≥` marking a lower
    bound (its learning curve had not reached its plateau)."""
    found = results.ceiling.ceiling.get(FPR_KEY, {}) if results.ceiling is not None else {}
    return {lvl: fmt_estimate(c.tpr, prefix="≥" if c.lower_bound else "") for lvl, c in found.items()}


def _ceiling_notes(results: RunResults) -> list[str]:
    """What the ceiling column is, and whether it was read on the run's own worlds."""
    rec, pw = results.ceiling, results.analysis.powered
    if rec is None or pw is None:
        return []
    worlds = "the same worlds" if same_worlds(rec, pw) else "other worlds (not paired)"
    return [f"ceiling: `lowbase ceiling` ({', '.join(rec.models)}, truth of {sum(rec.pool.values()):,} offenders) "
            f"on {worlds}; ≥: a lower bound"]  # fmt: skip


def _groomer_title(results: RunResults) -> str:
    pw = results.analysis.powered
    if results.analysis.realistic_point(FPR_KEY) is None:
        return f"groomers by level (test split, its own precision-{results.precision:g} threshold)"
    worlds = len(pw.worlds.get("tpr", []))
    return f"groomers, powered: levels on {worlds} enriched world(s) at groomer rate {pw.enriched_rate:g}"


def _groomer_notes(results: RunResults, timely: bool) -> list[str]:
    pt = results.analysis.realistic_point(FPR_KEY)
    if pt is None:
        return ["few offenders per level: `lowbase run --powered` measures them on enriched worlds"]
    negatives = len(results.analysis.powered.worlds.get("fpr", []))
    return [
        "TPR (k/n offenders) at the FPR-1e-3 threshold set on validation; test split: the run's own world",
        f"FPR at it, pooled over {negatives} fresh world(s): {_sci(pt.fpr.value, 2)} "
        f"[{_sci(pt.fpr.low, 1)}, {_sci(pt.fpr.high, 1)}] ({pt.fpr.k:,}/{pt.fpr.n:,} negatives)",
        "all levels: TPR at the scenario's level mix"
        + ("; before harm: harm events flagged first (k/n)" if timely else ""),
    ]


def precision_part(results: RunResults, most: int = 2) -> Part | None:
    """Groomer precision and innocent accounts flagged per offender found at the first and
    last projected base rates (the powered evaluation's where the run has it)."""
    rows = [r for r in results.headline if r.task == "groomer" and r.scenario.startswith("projected")]
    if not rows:
        return None
    powered = any(r.scenario.endswith("(powered)") for r in rows)
    cells = []
    for r in rows if len(rows) <= most else [rows[0], rows[-1]]:
        pre = _precision_prefix(r)
        rate = r.scenario.removeprefix("projected at ").removesuffix(" (powered)")
        if r.bound == "nothing flagged":
            cells.append([rate, "nothing flagged", NONE])
        else:
            inn = fmt_estimate(r.innocent_per_offender, prefix=_INVERSE.get(pre, ""), ratio=True)
            cells.append([rate, fmt_estimate(r.precision_at_base_rate, prefix=pre), inn])
    return Part(
        "groomers at platform base rates" + (" (powered TPR and FPR)" if powered else ""),
        ["base rate", "precision", "innocent per offender found"],
        cells,
        ["'>=': a bound, no false positive seen; innocent: accounts flagged per offender found"],
    )


_INVERSE = {">= ": "<= ", "<= ": ">= "}  # a bound on precision bounds innocent-per-offender the other way


# ---------------------------------------------------------------- the whole


def headline(results: RunResults, title: str) -> Group:
    """The headline as one rich renderable: a title line and the tables the run has."""
    parts: list[RenderableType] = [Text(title, style="bold")]
    for part in (tasks_part(results), groomer_part(results), precision_part(results)):
        if part is not None:
            parts += [Text(""), Text(part.title, style="bold"), part.table()]
            parts += [Text(n, style="dim") for n in part.notes]
    if len(parts) == 1:
        parts.append(Text("these results hold no headline rows", style="dim"))
    return Group(*parts)


def render_headline(results: RunResults, title: str, width: int = WIDTH) -> str:
    """The headline as plain text: no line wider than `width`, no trailing spaces."""
    console = Console(file=StringIO(), width=width, color_system=None, highlight=False, legacy_windows=False)
    console.print(headline(results, title))
    return "".join(line.rstrip() + "\n" for line in console.file.getvalue().splitlines())


def print_headline(results: RunResults, title: str, console: Console) -> None:
    """The headline on `console`'s stream: rich with colours on a terminal, at most `WIDTH`
    columns (the terminal's width where narrower); plain text otherwise (a pipe, a log)."""
    if console.is_terminal:
        console.print(headline(results, title), width=min(console.width, WIDTH), highlight=False)
    else:
        console.file.write(render_headline(results, title))
        console.file.flush()  # before anything on stderr, where both go to one log


@dataclass
class Where:
    """Where a run's full figures are."""

    report: Path  # the report directory (report.html, report.md)
    results: Path  # results.json
    run_name: str  # the MLflow run's name
    run_id: str | None
    uri: str  # the MLflow tracking store


def where_lines(w: Where, full: bool) -> list[str]:
    """Where the full tables are: the report, results.json and the MLflow run."""
    lines = [
        f"full tables:  {w.report / 'report.html'} (and report.md)",
        f"every figure: {w.results}",
        f"MLflow:       experiment lowbase-run, run {w.run_name}" + (f" (id {w.run_id})" if w.run_id else ""),
        f"              in {w.uri}; `lowbase ui` to browse",
    ]
    return lines if full else [*lines, "`lowbase run --full` also prints the full tables here"]
