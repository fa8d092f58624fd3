"""Figures of the powered evaluation and of detection before harm on enriched worlds
(docs/design.md "Evaluation design for rare harms"), in the style of `figures`: Agg,
deterministic bytes, each `fig_*` returns False when the results hold nothing to draw, so a
report never carries an empty figure.

Every point is drawn with its interval, and a precision that is a bound (no false positive,
or no true positive, seen) is drawn as a bound: a dashed line with triangles pointing the
way the truth may lie, never as a point with a closed band."""

from __future__ import annotations

import math
import re
from pathlib import Path

from bench.report.figures import STYLE, mark_unflagged_harm, pyplot, save
from bench.report.format import fmt_count, fmt_interval, fmt_value
from bench.results import REALISTIC, TRAINING_TRUTH, PoweredPoint, PoweredRecord, RateRecord, TimelyRecord
from bench.stats.rates import precision_kind
from common.vocabulary import SOPHISTICATION_LEVELS

LEVEL_NAMES = {"L0": "cartoon", "L1": "opportunist", "L2": "child persona", "L3": "competent persona"}
HARM_TASK = "groomer"  # the harm being measured; any other task of `timely` is a positive control
VARIANT_COLORS = {REALISTIC: "C3", TRAINING_TRUTH: "C2"}
CERTIFIED_COLORS = {REALISTIC: "#5a0a0a", TRAINING_TRUTH: "#0b3d0b"}  # the same hues, darker
BUDGET = re.compile(r"(\d+) labelled")


# ---------------------------------------------------------------- variants


def budget_of(name: str) -> int | None:
    """The label budget a variant name states ("30 labelled" -> 30), else None."""
    m = BUDGET.fullmatch(name)
    return int(m.group(1)) if m else None


def variant_order(names) -> list[str]:
    """Realistic labels first, label budgets ascending, any other variant, the training world's truth last:
    the order in which labels grow from what a platform has to perfect."""
    names = list(dict.fromkeys(names))
    budgets = sorted((n for n in names if budget_of(n) is not None), key=lambda n: budget_of(n) or 0)
    other = [n for n in names if n not in (REALISTIC, TRAINING_TRUTH) and budget_of(n) is None]
    return [n for n in (REALISTIC, *budgets, *other, TRAINING_TRUTH) if n in names]


def variant_color(name: str) -> str:
    return VARIANT_COLORS.get(name, "C0")


def labelled_total(pw: PoweredRecord, name: str) -> int | None:
    """Labelled offenders (train + val) a reachable variant trained on."""
    m = pw.models.get(name)
    return m.labels.total if m is not None and m.labels is not None else None


def offenders_in_world(pw: PoweredRecord) -> int | None:
    """Offenders the training world holds (as an unreachable budget records it)."""
    for supply in pw.unreachable.values():
        n = (supply.model_extra or {}).get("offenders_in_world")
        if isinstance(n, int):
            return n
    return None


def point_at(pw: PoweredRecord, name: str, threshold: str) -> PoweredPoint | None:
    m = pw.models.get(name)
    return m.by_threshold.get(threshold) if m is not None else None


def nothing_flagged(pt: PoweredPoint) -> bool:
    """The threshold flagged no offender (at the scenario's level mix, which the precision
    reads) and no negative: precision is 0/0, no bound (`bench.stats.rates.precision_kind`)."""
    mix, fpr = pt.tpr_at_scenario_mix, pt.fpr
    return precision_kind(mix.k, mix.n, fpr.k, fpr.n) == "nothing flagged"


def _yerr(r: RateRecord) -> list[list[float]]:
    v = r.value
    lo = v - r.low if math.isfinite(r.low) else 0.0
    hi = r.high - v if math.isfinite(r.high) else 0.0
    return [[max(0.0, lo)], [max(0.0, hi)]]


# ---------------------------------------------------------------- label supply


def fig_label_supply(pw: PoweredRecord, threshold: str, path: Path) -> bool:
    """TPR per sophistication level at one threshold, a panel per level: every label variant
    (realistic, budgets ascending, training-world truth) with its exact 95% interval and k/n; budgets the
    training world cannot supply stand on the axis as 'not reachable'. The tick under each
    variant gives the FPR its threshold realised on the pooled negatives, since TPRs compare
    only at comparable FPRs."""
    names = [
        n for n in variant_order([*pw.models, *pw.unreachable]) if n in pw.unreachable or point_at(pw, n, threshold)
    ]
    points = {n: p for n in names if (p := point_at(pw, n, threshold)) is not None}
    drawn = list(points)
    levels = [lvl for lvl in SOPHISTICATION_LEVELS if any(lvl in p.tpr_by_level for p in points.values())]
    if not drawn or not levels:
        return False
    ticks = []
    for n in names:
        pt = point_at(pw, n, threshold)
        if pt is None:
            ticks.append(f"{n}\nnot reachable")
            continue
        total = labelled_total(pw, n)
        lab = f"\n{total} labelled" if n in (REALISTIC, TRAINING_TRUTH) and total is not None else ""
        ticks.append(f"{n}{lab}\nFPR {pt.fpr.k:,}/{pt.fpr.n:,}")
    plt = pyplot()
    cols = 2 if len(levels) > 1 else 1
    rows = math.ceil(len(levels) / cols)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(max(6.4, 1.1 * len(names) * cols), 3.9 * rows), squeeze=False)
        flat = [ax for row in axes for ax in row]
        for ax, lvl in zip(flat, levels, strict=False):
            ns = set()
            for i, n in enumerate(names):
                pt = point_at(pw, n, threshold)
                r = pt.tpr_by_level.get(lvl) if pt is not None else None
                if pt is None:
                    ax.text(i, 0.5, "not reachable", ha="center", va="center", rotation=90, color="grey", fontsize=7)
                    continue
                if r is None or not r.n or not math.isfinite(r.value):
                    ax.text(i, 0.02, "n=0", ha="center", va="bottom", rotation=90, fontsize=7)
                    continue
                ns.add(r.n)
                ax.errorbar([i], [r.value], yerr=_yerr(r), fmt="o", color=variant_color(n), ms=5, capsize=3)
                top = r.high if math.isfinite(r.high) else r.value
                ax.annotate(
                    f"{r.k}/{r.n}", (i, top), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7
                )
            n_text = f"n = {ns.pop()} offenders" if len(ns) == 1 else "n per point"
            ax.set_title(f"{lvl} ({LEVEL_NAMES.get(lvl, lvl)}), {n_text}")
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(ticks, fontsize=7)
            ax.set_xlim(-0.5, len(names) - 0.5)
            ax.set_ylim(-0.02, 1.12)
            ax.set_ylabel("TPR (share of the level's offenders flagged)")
        for ax in flat[len(levels) :]:
            ax.axis("off")
        fig.suptitle(
            f"groomer TPR by sophistication level at {threshold} (threshold set on the training world's "
            "validation split),\nread on enriched worlds; bars: exact 95% (Clopper-Pearson); labels grow left to right",
            fontsize=9,
        )
        fig.tight_layout()
        save(fig, path)
    return True


# ---------------------------------------------------------------- precision across base rates


def fig_precision_bands(
    pw: PoweredRecord,
    threshold: str,
    path: Path,
    variants=(REALISTIC, TRAINING_TRUTH),
    certified: PoweredRecord | None = None,
) -> bool:
    """Precision at base rates 1e-2..1e-7 for realistic labels and the training world's truth at one threshold,
    on log axes (precision falls about as fast as π, so a linear axis would flatten every
    rare rate to 0): a point as a line in its band; a lower bound (no false positive among
    the pooled negatives: precision >= value) as a dashed line with upward triangles and the
    open band above it; an upper bound the same way down. A variant whose threshold flagged
    nothing is named in the legend, not drawn. `certified`: the same models certified on
    more negative worlds (`lowbase certify`), drawn beside the run's own in darker colours:
    where the run's negatives bound the FPR, theirs may measure it. False when no variant has
    a point or bound."""
    drawn = [(name, variant_color(name), point_at(pw, name, threshold)) for name in variants]
    if certified is not None:
        n = sum(int(w.get("negatives", 0)) for w in certified.worlds.get("fpr", []) if isinstance(w, dict))
        for name in variants:
            label = f"{name}, certified on {n:,} negatives"
            drawn.append((label, CERTIFIED_COLORS.get(name, "k"), point_at(certified, name, threshold)))
    series = []  # (name, colour, kind, points, fpr text)
    empty = []
    for name, color, pt in drawn:
        if pt is None:
            continue
        fpr = f"FPR {pt.fpr.k:,}/{pt.fpr.n:,}"
        if nothing_flagged(pt):
            empty.append(f"{name}: nothing flagged ({fpr}, no offender), so no precision")
            continue
        for kind in ("point", "lower bound", "upper bound"):
            pts = sorted(
                (b for b in pt.precision if b.kind == kind and b.base_rate > 0 and b.value > 0),
                key=lambda b: -b.base_rate,
            )
            if pts:
                series.append((name, color, kind, pts, fpr))
    if not series:
        return False
    positive = [x for *_, pts, _ in series for b in pts for x in (b.value, b.low) if x > 0 and math.isfinite(x)]
    floor = max(min(positive) / 3, 1e-12)
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.6, 5.2))
        for name, c, kind, pts, fpr in series:
            x = [b.base_rate for b in pts]
            v = [b.value for b in pts]
            if kind == "point":
                lo = [max(b.low, floor) if math.isfinite(b.low) else floor for b in pts]
                hi = [b.high if math.isfinite(b.high) else 1.0 for b in pts]
                style, label = "-o", f"{name}: precision, 95% band ({fpr})"
            elif kind == "lower bound":
                lo, hi = v, [1.0] * len(v)
                style, label = "--^", f"{name}: precision >= bound, no false positive ({fpr})"
            else:
                lo, hi = [floor] * len(v), v
                style, label = "--v", f"{name}: precision <= bound, no offender flagged ({fpr})"
            ax.fill_between(x, lo, hi, color=c, alpha=0.18 if kind == "point" else 0.08, lw=0)
            ax.plot(x, v, style, color=c, ms=4 if kind == "point" else 7, lw=1.4, label=label)
        for text in empty:
            ax.plot([], [], " ", label=text)
        for level in (0.95, 0.5):
            ax.axhline(level, color="grey", lw=0.8, ls=":")
            ax.text(1e-7 / 1.2, level * 1.04, f"precision {level}", fontsize=7, color="grey", ha="right", va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(1.3e-2, 1e-7 / 1.3)
        ax.set_xticks([10.0**-k for k in range(2, 8)])
        ax.set_ylim(floor, 1.6)
        ax.set_xlabel("base rate π (share of accounts that are groomers), rarer →")
        ax.set_ylabel("precision of flags (log scale)")
        ax.set_title(
            f"groomer precision vs base rate at {threshold}: TPR at the scenario's level mix (enriched worlds),\n"
            "FPR pooled over fresh negative worlds; ▲ dashed: lower bound (>=), ▼ dashed: upper bound (<=)"
        )
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=7, ncols=1)
        fig.tight_layout()
        save(fig, path)
    return True


# ---------------------------------------------------------------- detection before harm


def timely_tasks(timely: dict[str, TimelyRecord]) -> list[str]:
    """Groomers first (the harm measured), then the positive controls in their order."""
    return sorted(timely, key=lambda t: t != HARM_TASK)


def task_role(task: str) -> str:
    return "harm measured" if task == HARM_TASK else "positive control"


def drawable(rec: TimelyRecord) -> bool:
    n = len(rec.checkpoint_days)
    return n > 0 and len(rec.harm_share_by) == n and len(rec.flagged_before_harm_by) == n


def fig_timely(timely: dict[str, TimelyRecord], path: Path) -> bool:
    """Per task (groomer, then spam and scam as positive controls), a panel: the share of
    all harm events that have happened by each checkpoint (red), and the share whose
    offender was flagged by then, before the event (blue; those events may still lie
    ahead, so blue above red means flags run ahead of harm). The blue line's last value is
    the share of harm preceded by a flag; the rest, bracketed, no flag could have prevented."""
    tasks = [t for t in timely_tasks(timely) if drawable(timely[t])]
    if not tasks:
        return False
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks) + 0.6, 5.0), squeeze=False)
        for ax, task in zip(axes[0], tasks, strict=True):
            rec = timely[task]
            days = [0.0, *(float(d) for d in rec.checkpoint_days)]
            happened, flagged = [0.0, *rec.harm_share_by], [0.0, *rec.flagged_before_harm_by]
            ax.plot(days, happened, "-o", ms=3, color="C3", lw=1.5, label="harm events that have happened by day d")
            ax.plot(
                days,
                flagged,
                "-o",
                ms=3,
                color="C0",
                lw=1.5,
                label="harm events whose offender is flagged by day d,\nbefore the event (the event may come later)",
            )
            end = days[-1]
            mark_unflagged_harm(ax, end, flagged[-1], "not preceded\nby a flag")
            ax.set_xlim(0, end)
            ax.set_ylim(0, 1.02)
            ax.set_xticks(days)
            ax.tick_params(axis="x", labelsize=7)
            ax.set_xlabel("day (scored on data up to the checkpoint)")
            ax.set_ylabel("share of the task's harm events")
            lo, hi = rec.ci_by_offender
            ax.set_title(
                f"{task} ({task_role(task)})\nbefore harm {fmt_interval(rec.share)}\n"
                f"offender bootstrap [{fmt_value(lo, 2)}, {fmt_value(hi, 2)}]; "
                f"{rec.offenders_with_harm} offenders, {fmt_count(rec.harm_events)} events",
                fontsize=8,
            )
            ax.legend(loc="upper left", fontsize=7)
        fig.suptitle(
            "detection before harm on an enriched world: thresholds at each checkpoint set on the training "
            "world's validation split as of that day",
            fontsize=9,
        )
        fig.tight_layout()
        save(fig, path)
    return True
