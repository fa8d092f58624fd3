"""Figures of the ceiling (docs/design.md "Ceiling" and "Decomposition"), in the style of
`figures`: Agg, deterministic bytes, each `fig_*` returns False when there is nothing to draw.

Also the decomposition's arithmetic (`level_gaps`), here rather than beside the text because
the figure and the report's sentences must read the very same numbers: per level, behaviour is
1 − ceiling TPR and labels are ceiling TPR − realistic TPR, both read on the same enriched
worlds. Where the ceiling's plateau was not reached its TPR is a lower bound, so the labels
gap is a lower bound and the behaviour share an upper bound, and both are drawn as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bench.report.figures import STYLE, pyplot, save
from bench.report.powered_figures import LEVEL_NAMES, labelled_total, point_at, variant_order
from bench.results import REALISTIC, TRAINING_TRUTH, CeilingRecord, LevelCeiling, PoweredRecord, RateRecord
from common.vocabulary import SOPHISTICATION_LEVELS

REACHED = "reached"  # the plateau verdict that makes a ceiling a measurement, not a bound
CLASS_COLORS = ("C0", "C1", "C4", "C5", "C6")
BUDGET_COLORS = ("#6baed6", "#3182bd", "#08519c", "#08306b")  # label budgets: darker as they grow
VARIANT_MARKERS = {REALISTIC: ("*", "C3", 11), TRAINING_TRUTH: ("s", "C2", 6)}


def is_bound(verdict: str) -> bool:
    """Anything but a reached plateau leaves the ceiling a lower bound."""
    return verdict != REACHED


@dataclass(frozen=True)
class LevelGap:
    """One level's decomposition at one threshold: the ceiling and the realistic figure (None
    when realistic labels have none there), read on the same enriched worlds."""

    level: str
    ceiling: LevelCeiling
    realistic: RateRecord | None

    @property
    def bound(self) -> bool:
        return is_bound(self.ceiling.verdict)

    def behaviour(self) -> tuple[float, float, float]:
        """1 − ceiling TPR and its interval (the ceiling's exact interval, mirrored)."""
        c = self.ceiling.tpr
        return 1 - c.value, 1 - c.high, 1 - c.low

    def labels(self) -> tuple[float, float, float] | None:
        """Ceiling TPR − realistic TPR, and the differences both 95% intervals allow
        [ceiling low − realistic high, ceiling high − realistic low]."""
        r, c = self.realistic, self.ceiling.tpr
        if r is None or not r.n or not math.isfinite(r.value):
            return None
        return c.value - r.value, c.low - r.high, c.high - r.low

    def labels_distinguishable(self) -> bool:
        """The labels gap is told from zero when the two intervals do not overlap."""
        gap = self.labels()
        return gap is not None and (gap[1] > 0 or gap[2] < 0)


def level_gaps(record: CeilingRecord, run: PoweredRecord | None, threshold: str) -> list[LevelGap]:
    """Per level (in level order) the ceiling at `threshold` and realistic labels' TPR there."""
    ceilings = record.ceiling.get(threshold, {})
    pt = point_at(run, REALISTIC, threshold) if run is not None else None
    return [
        LevelGap(lvl, ceilings[lvl], pt.tpr_by_level.get(lvl) if pt is not None else None)
        for lvl in SOPHISTICATION_LEVELS
        if lvl in ceilings
    ]


def fingerprints(worlds: dict, role: str) -> list[str]:
    found = worlds.get(role)
    return sorted(str(w.get("fingerprint")) for w in found if isinstance(w, dict)) if isinstance(found, list) else []


def same_worlds(record: CeilingRecord, run: PoweredRecord) -> bool:
    """Whether the ceiling was read on exactly the run's TPR and FPR worlds (paired figures)."""
    return all(
        fingerprints(record.worlds, role) and fingerprints(record.worlds, role) == fingerprints(run.worlds, role)
        for role in ("tpr", "fpr")
    )


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
            mark = "≥ " if is_bound(best.verdict) else ""
            ax.set_title(
                f"{lvl} ({LEVEL_NAMES.get(lvl, lvl)}): ceiling {mark}{best.tpr.value:.3f} ({best.model}, "
                f"{best.tpr.k}/{best.tpr.n})\nplateau: {'; '.join(verdicts)}",
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
    higher and the behaviour segment is an upper bound: hatched, and the bar says so.
    `paired`: both figures were read on the same enriched worlds (the title says which).
    False when no level has both figures."""
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
            note = "ceiling ≥\n(lower bound)" if g.bound else "ceiling\n(plateau reached)"
            ax.text(i, 1.015, f"{note}\n{c.k}/{c.n}; realistic\n{r.k}/{r.n}", ha="center", va="bottom", fontsize=7)
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
