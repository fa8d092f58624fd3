"""Figures of the ceiling (docs/design.md "Ceiling" and "Decomposition"), in the style of
`figures`: Agg, deterministic bytes, each `fig_*` returns False when there is nothing to draw.

They draw the decomposition's numbers from `bench.results.ceiling.level_gaps`, the very
numbers the report's sentences read: per level, behaviour is 1 − ceiling TPR and labels are
ceiling TPR − realistic TPR, read on the same enriched worlds where the ceiling and the run
are paired (`same_worlds`), on different ones otherwise, and the titles say which. Where the
ceiling's plateau was not reached its TPR is a lower bound, so the labels gap is a lower
bound and the behaviour share an upper bound, and both are drawn as such.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.report.figures import STYLE, pyplot, save
from bench.report.powered_figures import LEVEL_NAMES, labelled_total, point_at, variant_order
from bench.results import REALISTIC, TRAINING_TRUTH, CeilingRecord, PoweredRecord, RateRecord
from bench.results.ceiling import LevelGap, same_worlds
from common.vocabulary import SOPHISTICATION_LEVELS

CLASS_COLORS = ("C0", "C1", "C4", "C5", "C6")
BUDGET_COLORS = ("#6baed6", "#3182bd", "#08519c", "#08306b")  # label budgets: darker as they grow
VARIANT_MARKERS = {REALISTIC: ("*", "C3", 11), TRAINING_TRUTH: ("s", "C2", 6)}


def _err(value: float, low: float, high: float) -> list[list[float]]:
    lo = value - low if math.isfinite(low) else 0.0
    hi = high - value if math.isfinite(high) else 0.0
    return [[max(0.0, lo)], [max(0.0, hi)]]


def variant_styles(run: PoweredRecord) -> dict[str, tuple[str, str, int]]:
    """Marker, colour and size per run variant, the same in every panel: realistic labels
    and training-world truth their own, label budgets blue, darker as they grow."""
    others = [n for n in variant_order(run.models) if n not in VARIANT_MARKERS]
    return {
        **{n: ("D", BUDGET_COLORS[min(i, len(BUDGET_COLORS) - 1)], 5) for i, n in enumerate(others)},
        **{n: m for n, m in VARIANT_MARKERS.items() if n in run.models},
    }


def _run_points(run: PoweredRecord, threshold: str, level: str) -> list[tuple[str, int, RateRecord]]:
    """The run's label variants with a labelled count (a log axis has no 0) and a TPR."""
    out = []
    for name in variant_order(run.models):
        pt, total = point_at(run, name, threshold), labelled_total(run, name)
        r = pt.tpr_by_level.get(level) if pt is not None else None
        if total and r is not None and r.n and math.isfinite(r.value):
            out.append((name, total, r))
    return out


def fig_ceiling_curves(
    record: CeilingRecord, path: Path, threshold: str = "fpr<=0.001", run: PoweredRecord | None = None
) -> bool:
    """A panel per level: TPR at `threshold` against labelled offenders (all levels, log
    axis), one line per ceiling model class (truth-labelled) with exact 95% bars, and, when
    `run` is given, the run's label variants as points at their labelled counts (thresholds
    at the same FPR budget, set on the run's training world). The panel title gives the
    ceiling and each class's plateau verdict; the caption says whether the run's TPR worlds
    are the ceiling's. One legend for all panels, below them, so no panel's points hide
    behind it. False when the record has no curve point at `threshold`."""
    levels = [lvl for lvl in SOPHISTICATION_LEVELS if lvl in record.ceiling.get(threshold, {})]
    classes = [c for c, cc in record.models.items() if any(threshold in p.tpr_by_level for p in cc.curve)]
    if not levels or not classes:
        return False
    styles = variant_styles(run) if run is not None else {}
    plt = pyplot()
    legend: dict[str, object] = {}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 2, figsize=(10.4, 8.6), squeeze=False)
        flat = [ax for row in axes for ax in row]
        for ax, lvl in zip(flat, levels, strict=False):
            verdicts = []
            for i, cls in enumerate(classes):
                cc = record.models[cls]
                pts = [(p.offenders, p.tpr_by_level[threshold][lvl]) for p in cc.curve if threshold in p.tpr_by_level]
                pts = [(x, r) for x, r in pts if r.n and math.isfinite(r.value)]
                if not pts:
                    continue
                verdict = cc.plateau.get(threshold, {}).get(lvl)
                verdicts.append(f"{cls} {verdict.verdict if verdict else 'not judged'}")
                lo = [max(0.0, r.value - r.low) for _, r in pts]
                hi = [max(0.0, r.high - r.value) for _, r in pts]
                color = CLASS_COLORS[i % len(CLASS_COLORS)]
                h = ax.errorbar([x for x, _ in pts], [r.value for _, r in pts], yerr=[lo, hi], fmt="-o", color=color,
                                ms=4, capsize=3, lw=1.3)  # fmt: skip
                legend.setdefault(f"{cls}, trained on truth (ceiling class)", h)
            points = _run_points(run, threshold, lvl) if run is not None else []
            for name, total, r in points:
                marker, color, ms = styles[name]
                h = ax.errorbar([total], [r.value], yerr=_err(r.value, r.low, r.high), fmt=marker, color=color, ms=ms,
                                capsize=3)  # fmt: skip
                legend.setdefault(f"this run: {name} ({total:,} labelled offenders)", h)
            best = record.ceiling[threshold][lvl]
            mark = "≥ " if best.lower_bound else ""
            ax.set_title(
                f"{lvl} ({LEVEL_NAMES.get(lvl, lvl)}): ceiling {mark}{best.tpr.value:.3f} [95%: {best.tpr.low:.2f}, "
                f"{best.tpr.high:.2f}] ({best.model}, {best.tpr.k}/{best.tpr.n})\nplateau: {'; '.join(verdicts)}",
                fontsize=8,
            )
            ax.set_xscale("log")
            ax.set_ylim(-0.02, 1.05)
            ax.set_xlabel("labelled offenders, all levels (log)")
            ax.set_ylabel(f"TPR of the level at {threshold}")
        for ax in flat[len(levels) :]:
            ax.axis("off")
        worlds = "" if run is None else ("the same TPR worlds" if same_worlds(record, run) else "other TPR worlds")
        fig.suptitle(
            f"groomer ceiling: learning curves at {threshold} (thresholds set on a calibration world), TPR on "
            "enriched worlds; bars: exact 95% (Clopper-Pearson)"
            + (f"\nthis run's label variants: {worlds}, their own thresholds at the same FPR budget" if worlds else ""),
            fontsize=9,
        )
        fig.legend(list(legend.values()), list(legend), loc="lower center", ncols=2, fontsize=7)
        fig.tight_layout(rect=(0, 0.03 + 0.018 * math.ceil(len(legend) / 2), 1, 1))
        save(fig, path)
    return True


def fig_ceiling_decomposition(gaps: list[LevelGap], threshold: str, path: Path, paired: bool = True) -> bool:
    """A stacked bar per level at `threshold`: the share realistic labels find, the labels
    gap up to the ceiling, the behaviour gap above it, with the ceiling's and the realistic
    figure's exact 95% bars. Where the ceiling is a lower bound the labels segment may reach
    higher and the behaviour segment is an upper bound: hatched, and the bar says so, with
    the ceiling's figure and interval. `paired`: both figures were read on the same enriched
    worlds (the title says which). False when no level has both figures."""
    drawn = [g for g in gaps if g.labels() is not None]
    if not drawn:
        return False
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.6, 5.0))
        for i, g in enumerate(drawn):
            c, r = g.ceiling.tpr, g.realistic
            if r is None:  # never: `drawn` holds the levels with a realistic figure
                continue
            found = min(r.value, c.value)
            hatch = "//" if g.bound else None
            ax.bar(i, found, color="C3", width=0.6, label="found by realistic labels" if i == 0 else None)
            ax.bar(i, c.value - found, bottom=found, color="C1", width=0.6, hatch=hatch,
                   label="labels gap (ceiling − realistic)" if i == 0 else None)  # fmt: skip
            ax.bar(i, 1 - c.value, bottom=c.value, color="0.82", width=0.6, hatch=hatch,
                   label="behaviour gap (1 − ceiling)" if i == 0 else None)  # fmt: skip
            ax.errorbar([i + 0.12], [c.value], yerr=_err(c.value, c.low, c.high), fmt="_", color="k", capsize=4)
            ax.errorbar([i - 0.12], [r.value], yerr=_err(r.value, r.low, r.high), fmt="_", color="#5a0a0a", capsize=4)
            note = "ceiling ≥ (lower bound)" if g.bound else "ceiling (plateau)"
            figure = f"{c.value:.3f} [95%: {c.low:.2f}, {c.high:.2f}]"
            ax.text(i, 1.015, f"{note}\n{figure}\n{c.k}/{c.n}; realistic\n{r.k}/{r.n}", ha="center", va="bottom",
                    fontsize=7)  # fmt: skip
        ax.set_xticks(range(len(drawn)))
        ax.set_xticklabels(
            [f"{g.level}\n{LEVEL_NAMES.get(g.level, g.level)}\nceiling: {g.ceiling.model}" for g in drawn]
        )
        ax.set_ylim(0, 1.3)
        ax.set_xlim(-0.6, len(drawn) - 0.4)
        ax.set_ylabel("share of the level's offenders")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3, fontsize=7)
        ax.set_title(
            f"groomer decomposition per level at {threshold}, "
            + ("both read on the same enriched worlds\n" if paired else "read on different enriched worlds\n")
            + "hatched: the ceiling is a lower bound (labels gap at least, behaviour gap at most); bars: exact 95%",
            fontsize=9,
        )
        fig.tight_layout()
        save(fig, path)
    return True
