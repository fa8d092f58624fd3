"""`lowbase report`: the results dict of a run as Markdown and HTML with matplotlib figures.

Reads only the plain-JSON results dict that `bench.pipeline.run_pipeline` returns (or its
JSON file / MLflow artifact: NaN as null, infinity as the string "inf"), so a report can be
rebuilt long after the run. Every piece may be missing (a task without positives, a run
without drift or harm analysis); the report then says what is missing and why, and never
invents a number.

Output directory layout (`write_report`):

- `report.md`: the report; figures referenced as relative PNG paths (`pr_groomer.png`), so
  it renders on GitHub, in MLflow's artifact viewer and in any editor with the PNGs beside it.
- `report.html`: the same report, self-contained: figures embedded as base64 `data:` URIs,
  so the single file can be mailed or opened from anywhere.
- `headline.md`, `headline.html`, `headline.json`: the headline table (DESIGN.md, "Metrics").
- `*.png`: the figures, drawn with matplotlib's Agg backend, deterministic (fixed sizes,
  no dates, no software-version metadata): the same results give the same bytes.
- `manifest.json`: the list of files, written last; it marks a complete report.

The directory is written atomically: built in a hidden sibling (`.NAME.lowbase-tmp-PID-TOKEN`)
and renamed into place, so a killed report never leaves a half-written directory that looks
complete. An existing `out` is replaced only when it is empty or is itself a report (holds
`manifest.json`); anything else is refused rather than deleted.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import math
import os
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.errors import ReportError
from common.files import TMP_MARK, remove_stale, swap_in
from common.vocabulary import SOPHISTICATION_LEVELS

MANIFEST = "manifest.json"
DPI = 110
HEADLINE_COLUMNS = (
    ("task", "task"),
    ("scenario", "scenario"),
    ("n_positive", "n+"),
    ("auroc", "AUROC"),
    ("recall_at_p95", "recall@P0.95"),
    ("recall_at_p99", "recall@P0.99"),
    ("precision_at_base_rate", "precision at base rate"),
    ("innocent_per_offender", "innocent per offender found"),
    ("detection_before_harm", "detection before harm"),
)
DESIGN = 'DESIGN.md, section "Metrics"'


# ---------------------------------------------------------------- numbers


def _f(x) -> float:
    """A JSON number as float: None (NaN in JSON) -> nan, "inf"/"-inf" -> +-inf."""
    if x is None:
        return math.nan
    if isinstance(x, str):
        try:
            return float(x)  # "inf", "-inf", "nan"
        except ValueError:
            return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _finite(x) -> bool:
    return math.isfinite(_f(x))


def fmt_value(x, digits: int = 3) -> str:
    """A metric value: `0.912` (`digits` decimals); below 0.1 two significant digits
    (`0.085`, `0.00023`, `2.3e-05`), so a small interval bound never prints as 0.00;
    NaN/None -> `n/a`; infinity -> `∞`; from 1e5 up in scientific notation."""
    v = _f(x)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    a = abs(v)
    if v == 0 or 0.1 <= a < 100:
        return f"{v:.{digits}f}"
    if a < 0.1:
        return f"{v:.2g}"
    if a >= 1e5:
        return f"{v:.2e}"
    return f"{v:,.0f}"


def fmt_count(x) -> str:
    """A projected count or ratio (innocent per offender, accounts flagged, hours): three
    significant digits, thousands separators from 100 up, scientific notation below 1e-4
    and from 1e7 up (`2.02e-05`, `3.00e+09`)."""
    v = _f(x)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == 0:
        return "0"
    a = abs(v)
    if a < 1e-4 or a >= 1e7:
        return f"{v:.2e}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def fmt_interval(d: dict | None, kind: str = "value", none: str = "—") -> str:
    """`{value, ci_low, ci_high[, k, n]}` as `0.912 [0.88, 0.94]` (and `(k/n)` for shares).
    `kind="count"` formats projections; `kind="innocent"` reads infinity as "none found"
    (no offender found, so no ratio) and `kind="precision"` reads NaN as "nothing flagged"."""
    if not isinstance(d, dict):
        return none
    value = d.get("value")
    num = fmt_count if kind in ("count", "innocent") else fmt_value
    ci = fmt_count if kind in ("count", "innocent") else (lambda x: fmt_value(x, 2))
    v = _f(value)
    if kind == "innocent" and math.isinf(v):
        text = "none found"
    elif kind == "precision" and math.isnan(v) and "value" in d:
        text = "nothing flagged"
    else:
        text = num(value)
    if "ci_low" in d or "ci_high" in d:
        lo, hi = d.get("ci_low"), d.get("ci_high")
        if math.isnan(_f(lo)) and math.isnan(_f(hi)):
            text += " (no interval)"
        else:
            text += f" [{ci(lo)}, {ci(hi)}]"
    if "k" in d and "n" in d and d.get("n") is not None:
        text += f" ({d['k']}/{d['n']})"
    return text


def headline_markdown(rows: list[dict] | None) -> str:
    """The headline table as a Markdown table (what `lowbase run` prints). Rows are
    `results["headline"]`; absent or None cells print as `—`. Values are `value [95% CI]`;
    shares add `(k/n)`; innocent accounts flagged per offender found is `none found` when
    the classifier finds no offender at that base rate (the ratio is infinite)."""
    header = "| " + " | ".join(label for _, label in HEADLINE_COLUMNS) + " |"
    lines = [header, "|" + "---|" * len(HEADLINE_COLUMNS)]
    for cells in headline_cells(rows or []):
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def headline_html(rows: list[dict] | None) -> str:
    """The headline table as a standalone HTML document."""
    table = _html_table([label for _, label in HEADLINE_COLUMNS], headline_cells(rows or []))
    return _html_page("lowbase headline", f"<h1>lowbase headline</h1>\n{table}\n<p>{html.escape(_HEADLINE_NOTE)}</p>")


_HEADLINE_NOTE = (
    "Figures are the primary model's on the test split, each with its 95% interval: stratified bootstrap "
    "for AUROC and recall at precision p, Wilson for shares (k/n), TPR/FPR Wilson bounds carried through "
    'for projected precision and innocent accounts per offender found (DESIGN.md, section "Metrics").'
)


def headline_cells(rows: list[dict]) -> list[list[str]]:
    """The headline rows as formatted cells, one list per row in `HEADLINE_COLUMNS` order
    (for a terminal table: the same strings as `headline_markdown`)."""
    out = []
    for row in rows:
        cells = []
        for key, _ in HEADLINE_COLUMNS:
            v = row.get(key)
            if key in ("task", "scenario", "n_positive"):
                cells.append("—" if v is None else str(v))
            elif key == "precision_at_base_rate":
                cells.append(fmt_interval(v, "precision"))
            elif key == "innocent_per_offender":
                cells.append(fmt_interval(v, "innocent"))
            else:
                cells.append(fmt_interval(v))
        out.append(cells)
    return out


# ---------------------------------------------------------------- document model
#
# The report is a list of blocks rendered twice, to Markdown and to HTML, so the two never
# disagree. Blocks: ("h1"|"h2"|"h3", text), ("p", text), ("ul", [text]), ("table", header,
# rows), ("img", file name, alt text), ("code", text).


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _render_md(blocks: list[tuple]) -> str:
    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + b[1])
        elif kind == "p":
            out.append(b[1])
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in b[1]))
        elif kind == "table":
            header, rows = b[1], b[2]
            lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(_md_escape(str(c)) for c in r) + " |" for r in rows]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append(f"![{b[2]}]({b[1]})")
        elif kind == "code":
            out.append("```\n" + b[1] + "\n```")
    return "\n\n".join(out) + "\n"


def _inline_html(text: str) -> str:
    """Escape, then turn Markdown `code` spans and **bold** into HTML (the only inline
    markup the report uses)."""
    s = html.escape(text, quote=False)
    parts = s.split("`")
    s = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = s.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def _html_table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{_inline_html(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{_inline_html(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; color: #1f2328; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; }
img { max-width: 100%; border: 1px solid #eee; }
.figs { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.figs figure { flex: 1 1 0; min-width: 420px; margin: 0; }
code { background: #f6f8fa; padding: 0 3px; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; }
"""


def _html_page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _render_html(blocks: list[tuple], images: dict[str, bytes], title: str) -> str:
    out: list[str] = []
    for i, b in enumerate(blocks):
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{_inline_html(b[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{_inline_html(b[1])}</p>")
        elif kind == "ul":
            out.append("<ul>\n" + "\n".join(f"<li>{_inline_html(i)}</li>" for i in b[1]) + "\n</ul>")
        elif kind == "table":
            out.append(_html_table(b[1], b[2]))
        elif kind == "img":
            data = base64.b64encode(images[b[1]]).decode("ascii")
            fig = (
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(b[2])}">'
                f"<figcaption><code>{html.escape(b[1])}</code></figcaption></figure>"
            )
            if i and blocks[i - 1][0] == "img":  # consecutive figures (ROC, PR) side by side
                out[-1] = out[-1].removesuffix("</div>") + fig + "</div>"
            else:
                out.append(f'<div class="figs">{fig}</div>')
        elif kind == "code":
            out.append(f"<pre><code>{html.escape(b[1])}</code></pre>")
    return _html_page(title, "\n".join(out))


# ---------------------------------------------------------------- figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_STYLE = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "svg.hashsalt": "lowbase",
    "path.simplify": False,
}


def _colors(names: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def _save(fig, path: Path) -> None:
    # No Software/date metadata: the same figure gives the same bytes.
    fig.savefig(path, format="png", metadata={"Software": None})
    _pyplot().close(fig)


def _interval_text(d: dict | None) -> str:
    return fmt_interval(d) if isinstance(d, dict) else "n/a"


def _fig_curves(results: dict, task: str, kind: str, path: Path) -> bool:
    """ROC (kind="roc") or PR (kind="pr") of every model for one task; False when no model
    has a curve (no positive or no negative in the test split)."""
    plt = _pyplot()
    models = results.get("models") or {}
    colors = _colors(list(models))
    drawn = []
    counts = {
        (m.get("n_positive"), m.get("n_negative"))
        for m in (((e.get("metrics") or {}).get(task) or {}) for e in models.values())
        if m
    }
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        for name, entry in models.items():
            curve = ((entry.get("curves") or {}).get(task) or {}).get(kind)
            met = (entry.get("metrics") or {}).get(task) or {}
            if not curve:
                continue
            if kind == "roc":
                x, y = curve.get("fpr") or [], curve.get("tpr") or []
                label = f"{name}: AUROC {_interval_text(met.get('auroc'))}"
            else:
                x, y = curve.get("recall") or [], curve.get("precision") or []
                label = f"{name}: AUPRC {_interval_text(met.get('auprc'))}"
            if not x or len(x) != len(y):
                continue
            if len(counts) > 1:
                label += f" (n+={met.get('n_positive')}, n-={met.get('n_negative')})"
            xs, ys = [_f(v) for v in x], [_f(v) for v in y]
            ax.plot(xs, ys, color=colors[name], lw=1.4, label=label)
            op = (((entry.get("operating") or {}).get(task) or {}).get("p95")) or {}
            if op and _finite(op.get("threshold")) and kind == "roc":
                ax.plot(
                    [_f(op.get("fpr"))], [_f(op.get("tpr"))], "o", color=colors[name], ms=5, clip_on=False, zorder=5
                )
            elif op and _finite(op.get("threshold")):
                ax.plot(
                    [_f(op.get("tpr"))],
                    [_f(op.get("precision"))],
                    "o",
                    color=colors[name],
                    ms=5,
                    clip_on=False,
                    zorder=5,
                )
            drawn.append(name)
        if not drawn:
            plt.close(fig)
            return False
        known = sorted(counts, key=str)
        n_text = f"n+ = {known[0][0]}, n- = {known[0][1]}" if len(known) == 1 else "n per model in legend"
        if kind == "roc":
            ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":", label="chance")
            ax.set_xlabel("false-positive rate")
            ax.set_ylabel("true-positive rate (recall)")
            ax.set_title(
                f"{task}: ROC, test split ({n_text})\nlegend: AUROC [95% bootstrap CI]; dot: precision-0.95 point"
            )
        else:
            if len(known) == 1 and known[0][0] is not None and known[0][1] is not None and sum(known[0]) > 0:
                prev = known[0][0] / (known[0][0] + known[0][1])
                ax.axhline(prev, color="grey", lw=0.8, ls=":", label=f"chance (prevalence {fmt_value(prev)})")
            ax.axhline(0.95, color="black", lw=0.6, ls="--", alpha=0.5)
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            ax.set_title(
                f"{task}: precision-recall, test split ({n_text})\n"
                "legend: AUPRC [95% bootstrap CI]; dashed: precision 0.95"
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower right" if kind == "roc" else "upper right")
        fig.tight_layout()
        _save(fig, path)
    return True


def _hash_precision(pi: float) -> float:
    from .baserate import HASH_FPR, HASH_TPR

    return HASH_TPR * pi / (HASH_TPR * pi + HASH_FPR * (1 - pi))


def _fig_base_rate(results: dict, path: Path) -> bool:
    """Analytic precision(pi) of the primary model with its band, empirical retrained points
    with Wilson bars, content hash matching; right panel: the FPR needed for precision 0.95
    and 0.99 beside the measured FPR and its upper Wilson bound."""
    an = results.get("analysis") or {}
    curve = [r for r in an.get("base_rate_curve") or [] if _f(r.get("base_rate")) > 0]
    emp = [r for r in an.get("empirical_base_rate") or [] if _f(r.get("base_rate")) > 0]
    if not curve and not emp:
        return False
    plt = _pyplot()
    primary = results.get("primary", "primary model")
    op = _operating(results, "groomer")
    with plt.rc_context(_STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 6.2), gridspec_kw={"width_ratios": [1.25, 1]})
        if curve:
            curve = sorted(curve, key=lambda r: -_f(r["base_rate"]))
            x = [_f(r["base_rate"]) for r in curve]
            ax.fill_between(
                x,
                [_f(r.get("ci_low")) for r in curve],
                [_f(r.get("ci_high")) for r in curve],
                color="C0",
                alpha=0.18,
                lw=0,
                label="analytic 95% band (TPR, FPR Wilson bounds)",
            )
            ax.plot(x, [_f(r.get("precision")) for r in curve], "-o", color="C0", ms=3, label=f"analytic, {primary}")
        grid = [10.0**-k for k in range(1, 8)]
        fine = [10 ** (-1 - 6 * i / 120) for i in range(121)]
        ax.plot(
            fine,
            [_hash_precision(p) for p in fine],
            color="C2",
            lw=1.4,
            ls="--",
            zorder=4,
            label="content hash matching (TPR 0.99, FPR 1/5e10)",
        )
        for own in (False, True):
            pts = [r for r in emp if bool(r.get("own")) == own]
            if not pts:
                continue
            xs = [_f(r["base_rate"]) for r in pts]
            prec = [r.get("precision") or {} for r in pts]
            ys = [_f(p.get("value")) for p in prec]
            lo = [_below(y, p.get("ci_low")) for y, p in zip(ys, prec, strict=True)]
            hi = [_below(p.get("ci_high"), y) for y, p in zip(ys, prec, strict=True)]
            label = "measured at this run's base rate" if own else "empirical: regenerated and retrained"
            ax.errorbar(
                xs,
                ys,
                yerr=[lo, hi],
                fmt="s" if own else "D",
                color="C3" if own else "C1",
                ms=5,
                capsize=3,
                label=label + " (Wilson 95%)",
            )
            for xv, yv, p in zip(xs, ys, prec, strict=True):
                if _finite(yv):
                    ax.annotate(
                        f"{p.get('k', '?')}/{p.get('n', '?')}",
                        (xv, yv),
                        textcoords="offset points",
                        xytext=(6, -10),
                        fontsize=7,
                    )
        ax.set_xscale("log")
        ax.set_xlim(1e-1 * 1.3, 1e-7 / 1.3)
        ax.set_xticks(grid)
        ax.set_ylim(-0.02, 1.05)
        ax.set_xlabel("base rate π (share of accounts that are groomers), rarer →")
        ax.set_ylabel("precision of flags")
        n_txt = _op_counts(op)
        ax.set_title(f"groomer precision vs base rate, {primary} at its precision-0.95 threshold\n{n_txt}")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, ncols=2)

        if curve:
            x = [_f(r["base_rate"]) for r in curve]
            for key, label, c in (
                ("fpr_needed_p95", "FPR needed for precision 0.95", "C4"),
                ("fpr_needed_p99", "FPR needed for precision 0.99", "C5"),
            ):
                ax2.plot(x, [_f(r.get(key)) for r in curve], "-o", ms=3, color=c, label=label)
            fs = (op or {}).get("fpr_share") or {}
            if _finite(fs.get("value")) and _f(fs.get("value")) > 0:
                ax2.axhline(_f(fs["value"]), color="C0", lw=1, label=f"measured FPR {fmt_value(fs['value'])}")
            if _finite(fs.get("ci_high")) and _f(fs.get("ci_high")) > 0:
                ax2.axhline(
                    _f(fs["ci_high"]),
                    color="C0",
                    lw=1,
                    ls=":",
                    label=f"measured FPR, upper 95% bound {fmt_value(fs['ci_high'])} "
                    f"({fs.get('k', '?')}/{fs.get('n', '?')} negatives flagged)",
                )
            ax2.axhline(1 / 5e10, color="C2", lw=1, ls="--", label="hash matching FPR 2e-11")
            ax2.set_xscale("log")
            ax2.set_yscale("log")
            ax2.set_xlim(1e-1 * 1.3, 1e-7 / 1.3)
            ax2.set_xticks(grid)
            ax2.set_xlabel("base rate π, rarer →")
            ax2.set_ylabel("false-positive rate")
            ax2.set_title("false-positive rate a classifier with this TPR would need")
            ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, ncols=1)
        else:
            ax2.axis("off")
        fig.tight_layout()
        _save(fig, path)
    return True


def _below(high, low) -> float:
    """Length of an error bar from `low` up to `high` (0 when either is unknown)."""
    h, lo = _f(high), _f(low)
    return max(0.0, h - lo) if math.isfinite(h) and math.isfinite(lo) else 0.0


def _operating(results: dict, task: str, key: str | None = None) -> dict:
    primary = results.get("primary")
    key = key or f"p{round(_f((results.get('analysis') or {}).get('operating_precision', 0.95)) * 100)}"
    entry = (results.get("models") or {}).get(primary) or {}
    return ((entry.get("operating") or {}).get(task) or {}).get(key) or {}


def _op_counts(op: dict) -> str:
    t, f = op.get("tpr_share") or {}, op.get("fpr_share") or {}
    if not t and not f:
        return "(operating point not recorded)"
    return (
        f"TPR {fmt_interval(t)} of test groomers;\n"
        f"FPR {fmt_interval({k: f.get(k) for k in ('value', 'ci_low', 'ci_high')})} "
        f"({f.get('k', '?')}/{f.get('n', '?')} negatives)"
    )


def _fig_harm(dbh: dict, path: Path) -> bool:
    days = [_f(d) for d in dbh.get("checkpoint_days") or []]
    happened = [_f(v) for v in dbh.get("harm_share_by") or []]
    flagged = [_f(v) for v in dbh.get("flagged_before_harm_by") or []]
    if not days or len(happened) != len(days) or len(flagged) != len(days):
        return False
    plt = _pyplot()
    share = dbh.get("share") or {}
    cbo = dbh.get("ci_by_offender") or [None, None]
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.8, 4.6))
        label = "harm events that have happened by day d"
        ax.plot([0, *days], [0, *happened], "-o", ms=4, color="C3", lw=1.6, label=label)
        ax.plot(
            [0, *days],
            [0, *flagged],
            "-o",
            ms=4,
            color="C0",
            lw=1.6,
            label="… of which the offender was already flagged before the event",
        )
        ax.fill_between(
            [0, *days],
            [0, *flagged],
            [0, *happened],
            color="C3",
            alpha=0.12,
            label="harm not preceded by a flag",
        )
        ax.set_xlim(0, max(days))
        ax.set_ylim(0, 1.02)
        ax.set_xticks([0, *days])
        ax.set_xlabel("day of the observation window (checkpoints: scoring on data up to day d)")
        ax.set_ylabel("share of all harm events by test groomers")
        lo_hi = ", ".join(fmt_value(v, 2) for v in cbo[:2]) if len(cbo) >= 2 else "n/a"
        ax.set_title(
            f"detection before harm: {fmt_interval(share)} of harm events\n"
            f"Wilson 95%; resampling offenders [{lo_hi}]; {dbh.get('offenders_with_harm', '?')} offenders with harm, "
            f"threshold {fmt_value(dbh.get('threshold'))}"
        )
        ax.legend(loc="upper left")
        fig.tight_layout()
        _save(fig, path)
    return True


def _fig_levels(results: dict, path: Path) -> bool:
    models = {n: e.get("recall_by_level") for n, e in (results.get("models") or {}).items() if e.get("recall_by_level")}
    if not models:
        return False
    plt = _pyplot()
    colors = _colors(list(results.get("models") or {}))
    levels = [lvl for lvl in SOPHISTICATION_LEVELS if any(lvl in r for r in models.values())]
    levels = levels or list(SOPHISTICATION_LEVELS)
    width = 0.8 / len(models)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(max(6.8, 1.9 * len(levels) + 1.5), 4.6))
        ns = {}
        for j, (name, rec) in enumerate(models.items()):
            for i, lvl in enumerate(levels):
                s = rec.get(lvl) or {}
                x = i - 0.4 + width * (j + 0.5)
                v = _f(s.get("value"))
                ns.setdefault(lvl, s.get("n"))
                if not math.isfinite(v):
                    ax.text(x, 0.01, "n=0", ha="center", va="bottom", fontsize=6, rotation=90)
                    continue
                lo, hi = _f(s.get("ci_low")), _f(s.get("ci_high"))
                yerr = [[v - lo if math.isfinite(lo) else 0], [hi - v if math.isfinite(hi) else 0]]
                ax.bar(x, v, width * 0.92, color=colors[name], label=name if i == 0 else None)
                ax.errorbar(x, v, yerr=yerr, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
                ax.text(
                    x,
                    (hi if math.isfinite(hi) else v) + 0.02,
                    f"{s.get('k', '?')}/{s.get('n', '?')}",
                    ha="center",
                    va="bottom",
                    fontsize=6,
                    rotation=90,
                )
        ax.set_xticks(range(len(levels)))
        ax.set_xlim(-0.5, len(levels) - 0.5)
        ax.set_xticklabels([f"{lvl}\n(n = {ns.get(lvl, '?')} test groomers)" for lvl in levels])
        ax.set_ylim(0, 1.25)
        ax.set_ylabel("recall (share of the level's test groomers flagged)")
        ax.set_title(
            "groomer recall by sophistication level at each model's precision-0.95 threshold\n"
            "bars: k/n flagged, Wilson 95% intervals; L0 careless .. L3 competent"
        )
        ax.legend(loc="upper right", ncols=min(len(models), 5))
        fig.tight_layout()
        _save(fig, path)
    return True


def _fig_drift(drift: dict, path: Path) -> bool:
    tasks = {t: v for t, v in (drift.get("tasks") or {}).items() if isinstance(v, dict)}
    if not tasks:
        return False
    plt = _pyplot()
    names = list(tasks)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(2, 1, figsize=(max(7.5, 1.25 * len(names) + 1), 8))
        for ax, metric, label in ((axes[0], "auroc", "AUROC"), (axes[1], "recall_at_p95", "recall@P0.95")):
            for j, (period, color) in enumerate((("period1", "C0"), ("period2", "C1"))):
                for i, t in enumerate(names):
                    d = tasks[t].get(period) or {}
                    m = d.get(metric) or {}
                    v = _f(m.get("value"))
                    x = i - 0.2 + 0.4 * j
                    if not math.isfinite(v):
                        ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
                        continue
                    lo, hi = _f(m.get("ci_low")), _f(m.get("ci_high"))
                    yerr = [[v - lo if math.isfinite(lo) else 0], [hi - v if math.isfinite(hi) else 0]]
                    ax.bar(
                        x,
                        v,
                        0.38,
                        color=color,
                        label=("period 1 (in-period)" if j == 0 else "period 2 (drifted)") if i == 0 else None,
                    )
                    ax.errorbar(x, v, yerr=yerr, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
                    top = hi if math.isfinite(hi) else v
                    ax.text(x, top + 0.015, f"{v:.2f}", ha="center", va="bottom", fontsize=6)
            ax.set_xticks(range(len(names)))
            ax.set_xlim(-0.5, len(names) - 0.5)
            ax.set_xticklabels([_drift_tick(t, tasks[t]) for t in names], fontsize=7)
            ax.set_ylim(0, 1.15)
            ax.set_ylabel(label)
            if metric == "auroc":
                ax.axhline(0.5, color="grey", lw=0.8, ls=":")
            ax.set_title(f"{label} (95% bootstrap CI)")
            ax.legend(loc="upper right", fontsize=7)
        fig.suptitle(
            "drift: trained on period-1 labels, tested on period-1 vs period-2 test accounts\n"
            "(n+ period 1 / period 2 under each task)",
            fontsize=9,
        )
        fig.tight_layout()
        _save(fig, path)
    return True


def _drift_tick(task: str, d: dict) -> str:
    n = [((d.get(p) or {}).get("n_positive"), (d.get(p) or {}).get("n_negative")) for p in ("period1", "period2")]
    return f"{task}\nn+ {n[0][0]} / {n[1][0]}"


# ---------------------------------------------------------------- the report


def _config_rows(results: dict) -> list[list[str]]:
    cfg = results.get("config") or {}
    scn = results.get("scenario") or {}
    ds = results.get("dataset") or {}
    an = results.get("analysis") or {}
    drift = an.get("drift") or {}
    harm = scn.get("harm") or {}
    platform = cfg.get("platform_accounts", an.get("platform_accounts"))
    minutes = cfg.get("minutes_per_review", an.get("minutes_per_review", "?"))
    rows = [
        ["preset / scenario", f"`{cfg.get('preset', '?')}` (scenario `{scn.get('name', '?')}`)"],
        ["accounts", _thousands(scn.get("accounts", cfg.get("accounts")))],
        ["seed", str(cfg.get("seed", "?"))],
        ["models", ", ".join(f"`{m}`" for m in cfg.get("models") or results.get("models") or [])],
        ["primary model", f"`{results.get('primary', '?')}`"],
        ["metadata visibility", f"`{cfg.get('visibility', '?')}`"],
        ["operating point", f"precision {cfg.get('precision', an.get('operating_precision', '?'))} (and 0.99)"],
        ["groomer rate (scenario)", fmt_count(harm.get("groomer_rate"))],
        ["sophistication mix L0..L3", str(harm.get("sophistication_mix", "?"))],
        ["bootstrap resamples", str(cfg.get("resamples", "?"))],
        ["platform projection", f"{fmt_count(platform)} accounts, {minutes} minutes per review"],
        ["dataset fingerprint", f"`{ds.get('fingerprint', '?')}`"],
    ]
    if cfg.get("overrides"):
        rows.append(["scenario overrides", ", ".join(f"`{k}={v}`" for k, v in sorted(cfg["overrides"].items()))])
    if drift.get("fingerprint"):
        rows.append(["drift dataset fingerprint", f"`{drift['fingerprint']}`"])
    return rows


def _thousands(x) -> str:
    return f"{x:,}" if isinstance(x, int) else ("?" if x is None else str(x))


def _metric_rows(results: dict, task: str) -> list[list[str]]:
    rows = []
    for name, entry in (results.get("models") or {}).items():
        met = (entry.get("metrics") or {}).get(task)
        if not met:
            continue
        rows.append(
            [
                f"`{name}`",
                f"{met.get('n_positive', '?')} / {met.get('n_negative', '?')}",
                fmt_interval(met.get("auroc")),
                fmt_interval(met.get("auprc")),
                fmt_interval(met.get("recall_at_p90")),
                fmt_interval(met.get("recall_at_p95")),
                fmt_interval(met.get("recall_at_p99")),
            ]
        )
    return rows


def _tasks(results: dict) -> list[str]:
    seen: dict[str, None] = {}
    for entry in (results.get("models") or {}).values():
        for t in (entry.get("metrics") or {}) | (entry.get("curves") or {}):
            seen.setdefault(t, None)
    for t in results.get("base_rates") or {}:
        seen.setdefault(t, None)
    return list(seen)


def _projection_rows(rows: list[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        c = r.get("classifier") or {}
        hm = r.get("hash_matching") or {}
        out.append(
            [
                fmt_count(r.get("base_rate")),
                fmt_count(c.get("offenders")),
                fmt_count(c.get("flagged")),
                fmt_count(c.get("true_flagged")),
                fmt_count(c.get("innocent_flagged")),
                fmt_interval(r.get("precision"), "precision"),
                fmt_interval(r.get("innocent_per_offender"), "innocent"),
                fmt_count(c.get("reviewer_hours")),
                fmt_interval({"value": _ratio(hm.get("true_flagged"), hm.get("flagged"))}, "precision"),
                fmt_interval({"value": hm.get("innocent_per_offender_found")}, "innocent"),
                fmt_count(hm.get("reviewer_hours")),
            ]
        )
    return out


def _ratio(a, b) -> float:
    a, b = _f(a), _f(b)
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan


def _context(results: dict) -> tuple[dict, dict, dict, str]:
    """(run config, analyses, models, primary model name) of a results dict, tolerant of gaps."""
    cfg = results.get("config") or {}
    an = results.get("analysis") or {}
    models = results.get("models") or {}
    return cfg, an, models, results.get("primary") or next(iter(models), "?")


def _section_intro(results: dict, out_dir: Path) -> tuple[list[tuple], list[str]]:
    """Report section: intro."""
    cfg, _, _, primary = _context(results)
    blocks: list[tuple] = []
    pngs: list[str] = []
    title = f"lowbase run report: `{cfg.get('preset', '?')}`, seed {cfg.get('seed', '?')}"
    blocks += [
        ("h1", title),
        (
            "p",
            "A metadata-only classifier benchmark run on a simulated platform with known ground truth. Every "
            "figure is on the held-out test split and carries the number of accounts or events it rests on "
            f"and a 95% interval. Metric definitions follow {DESIGN} (`../shared/DESIGN.md`); the paper "
            "sections are Levy & Robinson (2022), section 7.",
        ),
        ("h2", "Run configuration"),
        ("table", ["setting", "value"], _config_rows(results)),
        ("h2", "Headline"),
        (
            "p",
            f"Rows are task and scenario, figures are the primary model's (`{primary}`). `measured` rows are read "
            "on the test split at the base rate the simulation holds; `projected` rows carry the measured TPR and "
            "FPR (and their Wilson bounds) to rarer base rates at platform scale. Intervals: stratified bootstrap "
            "for AUROC and recall@precision, Wilson for shares (k/n). `none found`: at that operating point the "
            "classifier flags no offender, so the innocent-per-offender ratio is infinite.",
        ),
    ]
    headline_rows = results.get("headline") or []
    if headline_rows:
        blocks.append(("table", [label for _, label in HEADLINE_COLUMNS], headline_cells(headline_rows)))
    else:
        blocks.append(("p", "No headline rows in these results."))
    return blocks, pngs


def _section_curves(results: dict, out_dir: Path) -> tuple[list[tuple], list[str]]:
    """Report section: PR / ROC per task."""
    _, _, models, _ = _context(results)
    blocks: list[tuple] = []
    pngs: list[str] = []
    blocks += [
        ("h2", "ROC and precision-recall curves per task"),
        (
            "p",
            "Each model's ROC (true-positive against false-positive rate) and precision-recall curve on the test "
            "split, with AUROC and AUPRC (average precision) and their 95% stratified bootstrap intervals in the "
            f"legend ({DESIGN}: AUROC, AUPRC). The dot marks the model's precision-0.95 operating point; a curve "
            "that never reaches precision 0.95 has no dot, and its recall@P0.95 is 0. Curves keep every ROC "
            "corner and the best precision at each recall step (thinned evenly only beyond 2,000 points), so "
            "the high-precision corner where platforms operate is drawn as measured.",
        ),
    ]
    for task in _tasks(results):
        blocks.append(("h3", task))
        made = []
        for kind in ("roc", "pr"):
            name = f"{kind}_{_safe(task)}.png"
            if _fig_curves(results, task, kind, out_dir / name):
                pngs.append(name)
                made.append(name)
                blocks.append(("img", name, f"{task} {kind.upper()} curves"))
        if not made:
            npos = {((e.get("metrics") or {}).get(task) or {}).get("n_positive") for e in models.values()}
            npos_text = ", ".join(str(n) for n in sorted(npos, key=str))
            blocks.append(
                (
                    "p",
                    f"No curve: the test split has no positive (or no negative) for `{task}` (n+ = {npos_text}), "
                    "so ROC and PR are undefined.",
                )
            )
        rows = _metric_rows(results, task)
        if rows:
            blocks.append(
                ("table", ["model", "n+ / n-", "AUROC", "AUPRC", "recall@P0.90", "recall@P0.95", "recall@P0.99"], rows)
            )
    return blocks, pngs


def _section_base_rate(results: dict, out_dir: Path) -> tuple[list[tuple], list[str]]:
    """Report section: base rate."""
    _, an, _, primary = _context(results)
    blocks: list[tuple] = []
    pngs: list[str] = []
    blocks += [
        ("h2", "Precision as the base rate falls"),
        (
            "p",
            "Left: the precision the primary model's precision-0.95 operating point would have if groomers were "
            "rarer, precision(π) = TPR·π / (TPR·π + FPR·(1−π)) with TPR and FPR fixed at their measured values; "
            "the band carries their Wilson bounds, so a test split with no false positive still shows how far "
            "precision could fall. Points are the same model retrained and re-read at the same FPR budget on "
            "datasets regenerated at other base rates (Wilson intervals); where they leave the band, the "
            "projection and reality part. The dashed line is content hash matching (TPR 0.99, FPR 1/5e10). "
            f"Right: the FPR a classifier with this TPR would need for precision 0.95 and 0.99 at each π ({DESIGN}: "
            "base-rate analysis).",
        ),
    ]
    if _fig_base_rate(results, out_dir / "base_rate.png"):
        pngs.append("base_rate.png")
        blocks.append(("img", "base_rate.png", "groomer precision against base rate"))
        curve = an.get("base_rate_curve") or []
        if curve:
            blocks.append(
                (
                    "table",
                    ["base rate π", "precision [95% band]", "FPR needed for P0.95", "FPR needed for P0.99"],
                    [
                        [
                            fmt_count(r.get("base_rate")),
                            fmt_interval(
                                {"value": r.get("precision"), "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high")},
                                "precision",
                            ),
                            fmt_count(r.get("fpr_needed_p95")),
                            fmt_count(r.get("fpr_needed_p99")),
                        ]
                        for r in curve
                    ],
                )
            )
        emp = an.get("empirical_base_rate") or []
        if emp:
            blocks.append(
                (
                    "table",
                    ["groomer rate knob", "realised base rate", "FPR budget", "FPR at threshold", "TPR", "precision"],
                    [
                        [
                            fmt_count(r.get("knob")) + (" (this run)" if r.get("own") else ""),
                            fmt_count(r.get("base_rate")),
                            fmt_count(r.get("fpr_target")),
                            fmt_count(r.get("fpr")),
                            fmt_interval(r.get("tpr")),
                            fmt_interval(r.get("precision"), "precision"),
                        ]
                        for r in emp
                    ],
                )
            )
        if not any(not r.get("own") for r in emp):
            blocks.append(
                (
                    "p",
                    "No empirical sweep points: the population is too small to hold >= ~30 test "
                    "groomers at a higher rate, or the run asked for none (`empirical_rates`).",
                )
            )
    else:
        blocks.append(("p", "No base-rate analysis in these results (no groomer operating point)."))
    return blocks, pngs


def _section_projection(results: dict, out_dir: Path) -> tuple[list[tuple], list[str]]:
    """Report section: platform projection."""
    cfg, an, _, primary = _context(results)
    blocks: list[tuple] = []
    pngs: list[str] = []
    proj = an.get("projections") or {}
    platform = fmt_count(an.get("platform_accounts", cfg.get("platform_accounts")))
    minutes = an.get("minutes_per_review", cfg.get("minutes_per_review", "?"))
    if proj:
        blocks += [
            ("h2", "Platform projection"),
            (
                "p",
                f"Expected counts if the primary model ran at its precision-0.95 threshold over {platform} "
                f"accounts, every flag reviewed for {minutes} minutes; beside it content "
                f"hash matching at the same base rate ({DESIGN}: platform projection). Intervals carry the Wilson "
                "bounds of TPR and FPR.",
            ),
        ]
        for task, rows in proj.items():
            if not rows:
                continue
            blocks.append(("h3", task))
            blocks.append(
                (
                    "table",
                    [
                        "base rate",
                        "offenders",
                        "flagged",
                        "offenders flagged",
                        "innocent flagged",
                        "precision",
                        "innocent per offender found",
                        "reviewer hours",
                        "hash: precision",
                        "hash: innocent per offender",
                        "hash: reviewer hours",
                    ],
                    _projection_rows(rows),
                )
            )
    return blocks, pngs


def _section_harm(results: dict, out_dir: Path) -> tuple[list[tuple], list[str]]:
    """Report section: detection before harm."""
    _, an, _, primary = _context(results)
    blocks: list[tuple] = []
    pngs: list[str] = []
    blocks += [
        ("h2", "Detection before harm"),
        (
            "p",
            "Test groomers are scored on the data up to each checkpoint day; a harm event counts as detected "
            "before harm when its offender crossed the precision-0.95 threshold at a checkpoint strictly before "
            "the event. The red line is the share of all harm events that have happened by day d, the blue line "
            "those among them whose offender was already flagged; the gap is harm a classifier could not have "
            f"prevented ({DESIGN}: detection-before-harm; paper 7.2.7).",
        ),
    ]
    dbh = an.get("detection_before_harm")
    if isinstance(dbh, dict) and _fig_harm(dbh, out_dir / "detection_before_harm.png"):
        pngs.append("detection_before_harm.png")
        blocks.append(("img", "detection_before_harm.png", "harm events over time and those preceded by a flag"))
        cbo = dbh.get("ci_by_offender") or []
        blocks.append(
            (
                "ul",
                [
                    f"share of harm events preceded by a flag: {fmt_interval(dbh.get('share'))} (Wilson); resampling "
                    f"offenders instead of events: [{', '.join(fmt_value(v, 2) for v in cbo[:2]) or 'n/a'}]",
                    f"offenders with harm in the test split: {dbh.get('offenders_with_harm', '?')}; test groomers "
                    f"{dbh.get('test_groomers', '?')}, flagged by the last checkpoint "
                    f"{dbh.get('test_groomers_flagged_by_end', '?')}",
                    f"threshold {fmt_value(dbh.get('threshold'))}; checkpoints (days) {dbh.get('checkpoint_days')}",
                ],
            )
        )
    else:
        blocks.append(
            (
                "p",
                "Not in these results: the primary model has no precision-0.95 threshold for groomers "
                "(it never reaches that precision) or the test split holds no groomer, so no harm event "
                "can be preceded by a flag.",
            )
        )
    return blocks, pngs


def _section_levels(results: dict, out_dir: Path) -> tuple[list[tuple], list[str]]:
    """Report section: recall by level."""
    blocks: list[tuple] = []
    pngs: list[str] = []
    blocks += [
        ("h2", "Recall by groomer sophistication"),
        (
            "p",
            "Share of each level's test groomers flagged at each model's precision-0.95 threshold (set on all "
            "groomers), with Wilson intervals and k/n per bar. L0 are careless, mass-contact offenders; L3 "
            "competent ones who act one-to-few and mimic children, so the paper expects recall to fall with "
            f"the level ({DESIGN}: recall per groomer sophistication level; paper 7.2.6).",
        ),
    ]
    if _fig_levels(results, out_dir / "recall_by_level.png"):
        pngs.append("recall_by_level.png")
        blocks.append(("img", "recall_by_level.png", "groomer recall by sophistication level"))
    else:
        blocks.append(("p", "Not in these results: no model recorded recall by level."))
    return blocks, pngs


def _section_drift(results: dict, out_dir: Path) -> tuple[list[tuple], list[str]]:
    """Report section: drift."""
    _, an, _, primary = _context(results)
    blocks: list[tuple] = []
    pngs: list[str] = []
    blocks += [
        ("h2", "Drift"),
        (
            "p",
            "The primary model trained on period-1 labels of a drift variant of the scenario, read on the "
            "period-1 test accounts (in-period) and the period-2 ones, where the offender mix has shifted "
            "towards competent, adaptive groomers (paper 7.2.4). A drop from the blue to the orange bar is what "
            "tradecraft drift costs; intervals are 95% stratified bootstrap.",
        ),
    ]
    drift = an.get("drift")
    if isinstance(drift, dict) and _fig_drift(drift, out_dir / "drift.png"):
        pngs.append("drift.png")
        blocks.append(("img", "drift.png", "period 1 against period 2 metrics"))
        rows = []
        for t, d in (drift.get("tasks") or {}).items():
            for p in ("period1", "period2"):
                m = (d or {}).get(p) or {}
                rows.append(
                    [
                        t,
                        p[-1],
                        f"{m.get('n_positive', '?')} / {m.get('n_negative', '?')}",
                        fmt_interval(m.get("auroc")),
                        fmt_interval(m.get("recall_at_p95")),
                        fmt_interval(m.get("recall_at_p99")),
                    ]
                )
        blocks.append(("table", ["task", "period", "n+ / n-", "AUROC", "recall@P0.95", "recall@P0.99"], rows))
    else:
        blocks.append(("p", "Not in these results: the run had drift off (`drift: false`)."))

    return blocks, pngs


def _section_files(results: dict, out_dir: Path) -> tuple[list[tuple], list[str]]:
    """Report section: what the report directory holds."""
    return [
        ("h2", "Files"),
        (
            "p",
            "`report.md` (figures as relative PNG links), `report.html` (self-contained, figures embedded), "
            "`headline.md` / `headline.html` / `headline.json` (the table above), and the PNG figures.",
        ),
    ], []


SECTIONS = (
    _section_intro,
    _section_curves,
    _section_base_rate,
    _section_projection,
    _section_harm,
    _section_levels,
    _section_drift,
    _section_files,
)


def build_report(results: dict, out_dir: Path) -> tuple[list[tuple], list[str]]:
    """Draw every figure into `out_dir` and return the report blocks and the PNG names."""
    out_dir = Path(out_dir)
    blocks: list[tuple] = []
    pngs: list[str] = []
    for section in SECTIONS:
        b, p = section(results, out_dir)
        blocks += b
        pngs += p
    return blocks, pngs


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))


def _json_safe(x):
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str | bytes):
        with contextlib.suppress(TypeError, ValueError):
            x = x.item()  # numpy scalars
    if isinstance(x, float):
        if x != x:
            return None
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
    return x


# ---------------------------------------------------------------- atomic write


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ReportError(
            f"{out}: directory exists, is not empty and is not a lowbase report (no {MANIFEST}); refusing to replace it"
        )


def write_report(results: dict, out: Path) -> dict[str, Path]:
    """Write the report of one run into `out/` atomically and return {file name: final path}
    for every file written: report.md, report.html, headline.md, headline.html,
    headline.json, manifest.json and the PNG figures. `out` is replaced when it is empty or
    a previous report; a non-report directory or a file raises `ReportError`."""
    out = Path(out).resolve()
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    tmp = out.parent / f".{out.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        blocks, pngs = build_report(results, tmp)
        rows = results.get("headline") or []
        cfg = results.get("config") or {}
        title = f"lowbase run report: {cfg.get('preset', '?')}, seed {cfg.get('seed', '?')}"
        images = {name: (tmp / name).read_bytes() for name in pngs}
        texts = {
            "report.md": _render_md(blocks),
            "report.html": _render_html(blocks, images, title),
            "headline.md": headline_markdown(rows),
            "headline.html": headline_html(rows),
            "headline.json": json.dumps(_json_safe(rows), indent=2, sort_keys=True, allow_nan=False) + "\n",
        }
        for name, text in texts.items():
            (tmp / name).write_text(text, encoding="utf-8")
        files = sorted([*texts, *pngs])
        manifest = {
            "format": 1,
            "files": files,
            "primary": results.get("primary"),
            "dataset_fingerprint": (results.get("dataset") or {}).get("fingerprint"),
        }
        with open(tmp / MANIFEST, "w", encoding="utf-8") as f:  # last: marks a complete report
            json.dump(_json_safe(manifest), f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        _check_out(out)  # it may have been filled meanwhile
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {name: out / name for name in [*files, MANIFEST]}
