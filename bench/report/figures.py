"""The report's figures, drawn with matplotlib's Agg backend and deterministic: fixed sizes,
no dates, no software-version metadata, so the same results give the same bytes. Each
`fig_*` draws one PNG and returns False when the results hold nothing to draw."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report.format import fmt_interval, fmt_precision, fmt_value, interval_only
from bench.results import (
    DriftRecord,
    DriftTask,
    HarmAnalysis,
    RateRecord,
    RunResults,
    ShareRecord,
)
from bench.stats.rates import precision_kind
from common.vocabulary import SOPHISTICATION_LEVELS

DPI = 110
STYLE = {
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


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colors(names: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def save(fig, path: Path) -> None:
    # No Software/date metadata: the same figure gives the same bytes.
    fig.savefig(path, format="png", metadata={"Software": None})
    pyplot().close(fig)


def _interval_text(d) -> str:
    return fmt_interval(d) if d is not None else "n/a"


# ---------------------------------------------------------------- curves


def fig_curves(results: RunResults, task: str, kind: str, path: Path) -> bool:
    """ROC (kind="roc") or PR (kind="pr") of every model for one task, each model's
    operating point as a dot; False when no model has a curve (no positive or no negative
    in the test split)."""
    plt = pyplot()
    models = results.models
    palette = colors(list(models))
    p = fmt_precision(results.precision)
    drawn = []
    counts = {(m.n_positive, m.n_negative) for m in (e.metrics.get(task) for e in models.values()) if m}
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        for name, entry in models.items():
            curves = entry.curves.get(task)
            curve = getattr(curves, kind) if curves is not None else None
            met = entry.metrics.get(task)
            if curve is None:
                continue
            if kind == "roc":
                x, y = curve.fpr, curve.tpr
                label = f"{name}: AUROC {_interval_text(met.auroc if met else None)}"
            else:
                x, y = curve.recall, curve.precision
                label = f"{name}: AUPRC {_interval_text(met.auprc if met else None)}"
            if not x or len(x) != len(y):
                continue
            if len(counts) > 1:
                label += f" (n+={met.n_positive if met else None}, n-={met.n_negative if met else None})"
            ax.plot(list(x), list(y), color=palette[name], lw=1.4, label=label)
            op = entry.operating_at(task, results.precision)
            if op is not None and op.has_threshold:
                dot = ([op.fpr], [op.tpr]) if kind == "roc" else ([op.tpr], [op.precision])
                ax.plot(*dot, "o", color=palette[name], ms=5, clip_on=False, zorder=5)
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
                f"{task}: ROC, test split ({n_text})\nlegend: AUROC [95% bootstrap CI]; dot: precision-{p} point"
            )
        else:
            if len(known) == 1 and sum(known[0]) > 0:
                prev = known[0][0] / (known[0][0] + known[0][1])
                ax.axhline(prev, color="grey", lw=0.8, ls=":", label=f"chance (prevalence {fmt_value(prev)})")
            ax.axhline(results.precision, color="black", lw=0.6, ls="--", alpha=0.5)
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            ax.set_title(
                f"{task}: precision-recall, test split ({n_text})\n"
                f"legend: AUPRC [95% bootstrap CI]; dashed: precision {p}"
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower right" if kind == "roc" else "upper right")
        fig.tight_layout()
        save(fig, path)
    return True


# ---------------------------------------------------------------- base rate

# The powered point the groomer projections and base-rate curve read where the run has the
# powered evaluation (`bench.run.analyses.read_groomers_powered`): realistic labels at the
# threshold set on the training world's validation split at FPR 1e-3.


# How the analytic curve draws a precision that is a bound: line style, the end of the band it
# stands on, legend note (`bench.stats.rates.precision_kind`).
BOUND_STYLE = {
    "lower bound": ("--^", "ci_low", ": lower bound, no false positive seen"),
    "upper bound": ("--v", "ci_high", ": upper bound, no offender flagged"),
}


@dataclass(frozen=True)
class ProjectionRates:
    """The TPR and FPR a task's projection rows (and, for groomers, the base-rate curve) were
    read at, and where: the powered evaluation (groomers, where the run has it: TPR at the
    scenario's level mix on enriched worlds, FPR pooled over fresh negative worlds, exact
    intervals) or the test split at a threshold chosen on it (Wilson intervals). `kind`
    says whether a precision read from them is a point or a bound."""

    tpr: ShareRecord
    fpr: ShareRecord
    powered: bool

    @property
    def kind(self) -> str:
        return precision_kind(self.tpr.k, self.tpr.n, self.fpr.k, self.fpr.n)


def projection_rates(results: RunResults, task: str) -> ProjectionRates | None:
    """Where a task's projection reads its rates (`ProjectionRates`); None when the results
    hold no operating point for it."""
    pt = results.analysis.groomer_point() if task == "groomer" else None
    if pt is not None:
        return ProjectionRates(_share(pt.tpr_at_scenario_mix), _share(pt.fpr), True)
    op = results.primary_operating(task)
    return None if op is None else ProjectionRates(op.tpr_share, op.fpr_share, False)


def _share(r: RateRecord) -> ShareRecord:
    return ShareRecord(value=r.value, ci_low=r.low, ci_high=r.high, k=r.k, n=r.n)


def rate_text(r: ShareRecord) -> str:
    """A rate with its interval and the counts it rests on: `0.325 [0.25, 0.40] (78/240)`."""
    return f"{fmt_interval(interval_only(r))} ({r.k:,}/{r.n:,})"


def _bar(high: float, low: float) -> float:
    """Length of an error bar from `low` up to `high` (0 when either is unknown)."""
    return max(0.0, high - low) if math.isfinite(high) and math.isfinite(low) else 0.0


def base_rate_title(results: RunResults, src: ProjectionRates | None) -> str:
    """Where the analytic curve's TPR and FPR were read, with their intervals and counts."""
    if src is not None and src.powered:
        return (
            f"groomer precision vs base rate, {results.primary}: powered evaluation at the validation threshold "
            f"FPR <= 1e-3\nTPR {rate_text(src.tpr)} at the scenario's level mix (enriched worlds);\n"
            f"FPR {rate_text(src.fpr)} pooled over fresh negatives; exact intervals"
        )
    where = f"{results.primary} at its precision-{fmt_precision(results.precision)} threshold, chosen on the test split"
    if src is None:
        return f"groomer precision vs base rate, {where}\n(operating point not recorded)"
    return (
        f"groomer precision vs base rate, {where}\nTPR {rate_text(src.tpr)} of test groomers;\nFPR {rate_text(src.fpr)}"
    )


def _draw_empirical(ax, emp: list) -> None:
    """The empirical points: test-split readings (this run's own, and datasets regenerated and
    retrained at other rates), each at a threshold chosen on its test split, Wilson bars, k/n."""
    for own in (False, True):
        pts = [r for r in emp if r.own == own]
        if not pts:
            continue
        xs = [r.base_rate for r in pts]
        prec = [r.precision for r in pts]
        ys = [p.value for p in prec]
        lo = [_bar(y, p.ci_low) for y, p in zip(ys, prec, strict=True)]
        hi = [_bar(p.ci_high, y) for y, p in zip(ys, prec, strict=True)]
        label = "test split, this run's base rate" if own else "test split, regenerated and retrained"
        ax.errorbar(
            xs,
            ys,
            yerr=[lo, hi],
            fmt="s" if own else "D",
            color="C3" if own else "C1",
            ms=5,
            capsize=3,
            label=label + " (threshold chosen on it; Wilson 95%)",
        )
        for xv, yv, p in zip(xs, ys, prec, strict=True):
            if math.isfinite(yv):
                ax.annotate(f"{p.k}/{p.n}", (xv, yv), textcoords="offset points", xytext=(6, -10), fontsize=7)


def _draw_fpr_needed(ax2, curve: list, src: ProjectionRates | None) -> None:
    """The FPR a classifier with this TPR would need for precision 0.95 and 0.99, beside the
    FPR the curve was read at and its upper 95% bound (with the negatives it rests on)."""
    x = [r.base_rate for r in curve]
    for needed, label, c in (
        ([r.fpr_needed_p95 for r in curve], "FPR needed for precision 0.95", "C4"),
        ([r.fpr_needed_p99 for r in curve], "FPR needed for precision 0.99", "C5"),
    ):
        ax2.plot(x, needed, "-o", ms=3, color=c, label=label)
    if src is not None:
        fs, where = src.fpr, "pooled FPR" if src.powered else "test-split FPR"
        if math.isfinite(fs.value) and fs.value > 0:
            ax2.axhline(fs.value, color="C0", lw=1, label=f"{where} {fmt_value(fs.value)}")
        if math.isfinite(fs.ci_high) and fs.ci_high > 0:
            ax2.axhline(
                fs.ci_high,
                color="C0",
                lw=1,
                ls=":",
                label=f"{where}, upper 95% bound {fmt_value(fs.ci_high)} ({fs.k:,}/{fs.n:,} negatives flagged)",
            )
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlim(1e-1 * 1.3, 1e-7 / 1.3)
    ax2.set_xticks([10.0**-k for k in range(1, 8)])
    ax2.set_xlabel("base rate π, rarer →")
    ax2.set_ylabel("false-positive rate")
    ax2.set_title("false-positive rate a classifier with this TPR would need")
    ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, ncols=1)


def fig_base_rate(results: RunResults, path: Path) -> bool:
    """Analytic precision(pi) of the primary model with its band, read where the projections
    read (`projection_rates`: the powered point for groomers where the run has it) and drawn
    as the lower bound it is where no false positive was seen; the empirical test-split points
    with Wilson bars (no hash-matching line: it finds known images, a reference for viral
    sharers, never for groomers, whose images are new); right panel: the FPR needed for
    precision 0.95 and 0.99 beside the FPR read and its upper bound."""
    an = results.analysis
    curve = sorted((r for r in an.base_rate_curve if r.base_rate > 0), key=lambda r: -r.base_rate)
    emp = [r for r in an.empirical_base_rate if r.base_rate > 0]
    if not curve and not emp:
        return False
    plt = pyplot()
    src = projection_rates(results, "groomer")
    kind = src.kind if src is not None else "point"
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 6.4), gridspec_kw={"width_ratios": [1.25, 1]})
        if curve:
            x = [r.base_rate for r in curve]
            bounds = "exact" if src is not None and src.powered else "Wilson"
            ax.fill_between(
                x,
                [r.ci_low for r in curve],
                [r.ci_high for r in curve],
                color="C0",
                alpha=0.18,
                lw=0,
                label=f"analytic 95% band (TPR, FPR {bounds} bounds)",
            )
            style, end, note = BOUND_STYLE.get(kind, ("-o", "precision", ""))  # a bound: its end of the band
            y = [getattr(r, end) for r in curve]
            ax.plot(x, y, style, color="C0", ms=3, label=f"analytic, {results.primary}{note}")
        _draw_empirical(ax, emp)
        ax.set_xscale("log")
        ax.set_xlim(1e-1 * 1.3, 1e-7 / 1.3)
        ax.set_xticks([10.0**-k for k in range(1, 8)])
        ax.set_ylim(-0.02, 1.05)
        ax.set_xlabel("base rate π (share of accounts that are groomers), rarer →")
        ax.set_ylabel("precision of flags")
        ax.set_title(base_rate_title(results, src), fontsize=8)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, ncols=2)
        if curve:
            _draw_fpr_needed(ax2, curve, src)
        else:
            ax2.axis("off")
        fig.tight_layout()
        save(fig, path)
    return True


# ---------------------------------------------------------------- detection before harm


def mark_unflagged_harm(ax, end: float, final: float, label: str) -> None:
    """Bracket, at the last checkpoint, the share of harm events no flag preceded."""
    if not (math.isfinite(final) and final < 1):
        return
    ax.annotate("", xy=(end, 1.0), xytext=(end, final), arrowprops={"arrowstyle": "<->", "color": "C3", "lw": 1.2})
    ax.text(
        end,
        (1 + final) / 2,
        f"{label}: {fmt_value(1 - final, 2)} ",
        ha="right",
        va="center",
        fontsize=7,
        color="C3",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1},
    )


def fig_harm(dbh: HarmAnalysis, path: Path) -> bool:
    """Harm events over the checkpoints, and those whose offender was flagged before them."""
    days = [float(d) for d in dbh.checkpoint_days]
    happened, flagged = list(dbh.harm_share_by), list(dbh.flagged_before_harm_by)
    if not days or len(happened) != len(days) or len(flagged) != len(days):
        return False
    plt = pyplot()
    with plt.rc_context(STYLE):
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
            label="harm events whose offender is flagged by day d, before the event (it may come later)",
        )
        mark_unflagged_harm(ax, max(days), flagged[-1], "not preceded by a flag")
        ax.set_xlim(0, max(days))
        ax.set_ylim(0, 1.02)
        ax.set_xticks([0, *days])
        ax.set_xlabel("day of the observation window (checkpoints: scoring on data up to day d)")
        ax.set_ylabel("share of all harm events by test groomers")
        lo_hi = ", ".join(fmt_value(v, 2) for v in dbh.ci_by_offender)
        ax.set_title(
            f"detection before harm: {fmt_interval(dbh.share)} of harm events\n"
            f"Wilson 95%; resampling offenders [{lo_hi}]; {dbh.offenders_with_harm} offenders with harm, "
            f"threshold {fmt_value(dbh.threshold)}"
        )
        ax.legend(loc="upper left")
        fig.tight_layout()
        save(fig, path)
    return True


# ---------------------------------------------------------------- recall by level


def fig_levels(results: RunResults, path: Path) -> bool:
    """Recall per groomer sophistication level of every model, with Wilson bars and k/n."""
    models = {n: e.recall_by_level for n, e in results.models.items() if e.recall_by_level}
    if not models:
        return False
    plt = pyplot()
    palette = colors(list(results.models))
    levels = [lvl for lvl in SOPHISTICATION_LEVELS if any(lvl in r for r in models.values())]
    levels = levels or list(SOPHISTICATION_LEVELS)
    width = 0.8 / len(models)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(6.8, 1.9 * len(levels) + 1.5), 4.6))
        ns: dict[str, Any] = {}
        for j, (name, rec) in enumerate(models.items()):
            for i, lvl in enumerate(levels):
                s = rec.get(lvl)
                x = i - 0.4 + width * (j + 0.5)
                ns.setdefault(lvl, s.n if s is not None else None)
                if s is None or not math.isfinite(s.value):
                    ax.text(x, 0.01, "n=0", ha="center", va="bottom", fontsize=6, rotation=90)
                    continue
                v, lo, hi = s.value, s.ci_low, s.ci_high
                yerr = [[v - lo if math.isfinite(lo) else 0], [hi - v if math.isfinite(hi) else 0]]
                ax.bar(x, v, width * 0.92, color=palette[name], label=name if i == 0 else None)
                ax.errorbar(x, v, yerr=yerr, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
                ax.text(
                    x,
                    (hi if math.isfinite(hi) else v) + 0.02,
                    f"{s.k}/{s.n}",
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
            "groomer recall by sophistication level at each model's "
            f"precision-{fmt_precision(results.precision)} threshold\n"
            "bars: k/n flagged, Wilson 95% intervals; L0 careless .. L3 competent"
        )
        ax.legend(loc="upper right", ncols=min(len(models), 5))
        fig.tight_layout()
        save(fig, path)
    return True


# ---------------------------------------------------------------- drift


def fig_drift(drift: DriftRecord, path: Path) -> bool:
    """AUROC and recall@P0.95 per task, period 1 against period 2, with bootstrap bars."""
    tasks = drift.tasks
    if not tasks:
        return False
    plt = pyplot()
    names = list(tasks)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 1, figsize=(max(7.5, 1.25 * len(names) + 1), 8))
        for ax, metric, label in ((axes[0], "auroc", "AUROC"), (axes[1], "recall_at_p95", "recall@P0.95")):
            for j, (period, color) in enumerate((("period1", "C0"), ("period2", "C1"))):
                for i, t in enumerate(names):
                    m = getattr(getattr(tasks[t], period), metric)
                    v = m.value
                    x = i - 0.2 + 0.4 * j
                    if not math.isfinite(v):
                        ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
                        continue
                    lo, hi = m.ci_low, m.ci_high
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
        save(fig, path)
    return True


def _drift_tick(task: str, d: DriftTask) -> str:
    return f"{task}\nn+ {d.period1.n_positive} / {d.period2.n_positive}"
