"""The adversary's frontier as a figure (`bench.rare.frontier`), in the style of `figures`:
Agg, deterministic bytes.

One panel per operating point (FPR 1e-3, then 1e-4): each strategy is a point at the harm
its offenders do (x, harm events per offender per 30 days) and the share of them a
detector finds (y, TPR of the level). The adversary wants to be low and to the right. Each
strategy is drawn twice in its own colour: filled against the detector retrained on it
(adapted, the ceiling's recipe) and hollow against the detector trained on the default
behaviour (unadapted, evasion), a faint line between the two showing what retraining buys
the defender. A dashed line runs through the adapted Pareto set
(`bench.results.frontier.pareto`), the strategies no other beats on both counts. Every
point carries its 95% intervals: a tiny world's frontier is mostly interval, and the figure
must show it.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from bench.report.figures import STYLE, colors, pyplot, save
from bench.results.frontier import (
    HARM_UNIT,
    THRESHOLDS,
    budget_text,
    default_strategy,
    harm_rate,
    num,
    pareto,
    short_label,
    tpr,
)
from common.files import TMP_MARK


def _xy(strategy: Mapping, threshold: str, role: str) -> tuple[float, float, list[list[float]], list[list[float]]]:
    """(harm rate, TPR, x error, y error) of one point; NaN where a figure is missing."""
    h, t = harm_rate(strategy), tpr(strategy, threshold, role)
    x, y = num(h.get("value")), num(t.get("value"))

    def err(v: float, figure: Mapping) -> list[list[float]]:
        lo, hi = num(figure.get("low")), num(figure.get("high"))
        return [[max(0.0, v - lo) if math.isfinite(lo) else 0.0], [max(0.0, hi - v) if math.isfinite(hi) else 0.0]]

    return x, y, err(x, h), err(y, t)


def _write_atomic(fig, path: Path) -> Path:
    """Save beside `path` under a hidden temporary name, then rename: a reader never sees a
    half-written PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        save(fig, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def fig_frontier(record: dict, path: Path) -> Path:
    """The frontier at FPR 1e-3 (left) and 1e-4 (right), written atomically to `path`; a
    strategy without both figures is named in its panel rather than silently missing, and a
    panel without any measured point says so rather than staying blank."""
    points = record.get("strategies", [])
    palette = colors([str(s.get("name")) for s in points])
    default = default_strategy(record)
    level = record.get("level", "?")
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(THRESHOLDS), figsize=(12.0, 5.4), squeeze=False)
        handles: dict[str, object] = {}
        for ax, thr in zip(axes[0], THRESHOLDS, strict=True):
            drawn = 0
            for s in points:
                name, color, is_default = str(s.get("name")), palette[str(s.get("name"))], s is default
                xa, ya, xerr, yerr = _xy(s, thr, "adapted")
                xu, yu, _, yerr_u = _xy(s, thr, "unadapted")
                if math.isfinite(xa) and math.isfinite(ya):
                    drawn += 1
                    h = ax.errorbar([xa], [ya], xerr=xerr, yerr=yerr, fmt="*" if is_default else "o", color=color,
                                    ms=13 if is_default else 7, capsize=3, lw=1.0, zorder=3)  # fmt: skip
                    handles.setdefault(name, h)
                    label = short_label(s) + (" (default)" if is_default else "")
                    ax.annotate(label, (xa, ya), xytext=(6, 5), textcoords="offset points", fontsize=7, color=color)
                if not is_default and math.isfinite(xu) and math.isfinite(yu):
                    drawn += 1
                    ax.errorbar([xu], [yu], yerr=yerr_u, fmt="o", mfc="white", mec=color, color=color, ms=7,
                                capsize=2, lw=0.8, alpha=0.9, zorder=2)  # fmt: skip
                    if math.isfinite(xa) and math.isfinite(ya):
                        ax.plot([xa, xu], [ya, yu], ":", color=color, lw=0.8, zorder=1)
            front = [s for name in pareto(points, thr, "adapted") for s in points if s.get("name") == name]
            if len(front) > 1:
                xs = [num(harm_rate(s).get("value")) for s in front]
                ys = [num(tpr(s, thr, "adapted").get("value")) for s in front]
                (line,) = ax.plot(xs, ys, "--", color="0.35", lw=1.2, zorder=1)
                handles.setdefault("__pareto__", line)
            if not drawn:
                ax.text(0.5, 0.5, "no strategy has both figures here", transform=ax.transAxes, ha="center")
            missing = [short_label(s) for s in points if not all(map(math.isfinite, _xy(s, thr, "adapted")[:2]))]
            if missing:
                ax.text(0.99, 0.98, "not drawn (no harm rate or TPR): " + ", ".join(missing), transform=ax.transAxes,
                        ha="right", va="top", fontsize=7, color="0.3")  # fmt: skip
            ax.set_xlim(left=0)
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlabel(f"{HARM_UNIT} of {level} offenders (95% interval)")
            ax.set_ylabel(f"TPR of {level} offenders at {budget_text(thr)} (exact 95%)")
            ax.set_title(f"{budget_text(thr)}: thresholds set on a calibration world of each strategy")
        kinds = [
            plt.Line2D([], [], marker="o", ls="", color="0.3", label="adapted: detector retrained on the strategy"),
            plt.Line2D([], [], marker="o", ls="", mfc="white", mec="0.3", color="0.3",
                       label="unadapted: detector trained on the default behaviour (evasion)"),
            plt.Line2D([], [], marker="*", ls="", ms=11, color="0.3", label="default behaviour (its own detector)"),
            plt.Line2D([], [], ls="--", color="0.35", label="adversary's Pareto set, adapted (more harm, found less)"),
        ]  # fmt: skip
        strategies = [plt.Line2D([], [], marker="s", ls="", color=palette[n], label=f"{short_label(s)}: {n}")
                      for s in points if (n := str(s.get("name"))) in handles]  # fmt: skip
        fig.legend(handles=kinds + strategies, loc="lower center", ncols=2, fontsize=7)
        fig.suptitle(
            f"adversary's frontier: {record.get('preset', '?')}, {level}, seed {record.get('seed', '?')}, "
            f"visibility {record.get('visibility', '?')}, detector {record.get('model', '?')}\n"
            "the adversary wants more harm (right) and fewer offenders found (down)",
            fontsize=9,
        )
        rows = math.ceil((len(kinds) + len(strategies)) / 2)
        fig.tight_layout(rect=(0, 0.03 + 0.03 * rows, 1, 1))
        return _write_atomic(fig, path)
