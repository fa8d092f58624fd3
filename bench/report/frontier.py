"""The adversary's frontier as a report (`bench.rare.frontier`): frontier.md and its figure
frontier.png (`bench.report.frontier_figures`).

What it states is read from the record by `bench.results.frontier`, so the report, the
figure and MLflow give the same numbers: one table per operating point (FPR 1e-3, 1e-4),
the readings (what it costs the adversary in harm to push each detector's TPR below 0.1),
the Pareto sets and the knobs behind every strategy. Every sentence is built from the
numbers it states; on small worlds the intervals are wide and the text says how many
offenders each TPR rests on, so a reader does not take a noisy frontier for a shape.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.report.frontier_figures import fig_frontier
from bench.report.render import Block, BulletList, Figure, Heading, Paragraph, Table, render_md
from bench.results.frontier import (
    HARM_UNIT,
    ROLES,
    THRESHOLDS,
    budget_text,
    default_strategy,
    frontier_rows,
    num,
    pareto,
    reading,
    tpr,
)
from common.files import write_text_atomic

FRONTIER_MD = "frontier.md"
FRONTIER_PNG = "frontier.png"
BELOW = 0.1  # the TPR a reading asks the adversary to push a detector under


def _count(x: object) -> str:
    v = num(x)
    return f"{v:,.0f}" if math.isfinite(v) else "?"


def measured_text(record: dict) -> str:
    """What was measured, for whom, and on which worlds."""
    level, plan = record.get("level", "?"), record.get("plan") or {}
    default = default_strategy(record)
    name = "none marked" if default is None else f"`{default.get('name')}`"
    return (
        f"Per groomer strategy of level {level} (a point in the knob space of effort, how hard its offenders push "
        "toward harm, and mimicry, how closely the persona copies the child it presents; written points by name), "
        f"measured on worlds of the strategy's own scenario with the same seeds for every strategy, so only the "
        f"offenders' behaviour moves: **harm throughput** of the level's offenders, {HARM_UNIT} of exposure, the "
        "share who reach a harm event and the median days from first contact to it, pooled over the strategy's "
        f"enriched training worlds; **adapted detection**, the ceiling's recipe (`{record.get('model', '?')}` on "
        "truth) retrained on the strategy, thresholds set on a calibration world of the strategy's scenario, TPR of "
        "the level on an enriched world and FPR on negative worlds; **unadapted detection** (evasion), the detector "
        "trained on the default behaviour, scored on the same worlds at thresholds set the same way; and the share "
        "of the level's harm events that come after the adapted detector first flags their offender (detection "
        f"before harm, checkpoints every {plan.get('checkpoint_every', '?')} days, threshold at FPR 1e-3 valid at "
        f"each). Default behaviour: {name}. Preset `{record.get('preset', '?')}`, seed {record.get('seed', '?')}, "
        f"visibility `{record.get('visibility', '?')}`, generator {record.get('generator', '?')}; enriched worlds "
        f"at groomer rate {plan.get('enriched_rate', '?')}, {_count(plan.get('fpr_accounts'))} negative accounts "
        f"planned, at least {plan.get('min_per_level', '?')} labelled offenders per level to train on."
    )


def sample_text(record: dict) -> str:
    """How many offenders each TPR rests on, and what the intervals are."""
    ns = sorted({int(n) for s in record.get("strategies", []) for t in THRESHOLDS for r in ROLES
                 if (n := num(tpr(s, t, r).get("n"))) > 0})  # fmt: skip
    span = "no" if not ns else f"{ns[0]:,}" if len(ns) == 1 else f"{ns[0]:,} to {ns[-1]:,}"
    return (
        f"Each TPR rests on {span} offenders of the level on the enriched TPR world, with an exact "
        "(Clopper-Pearson) 95% interval; the harm rate's interval spans a bootstrap over "
        "offenders and the exact Poisson interval. The Pareto set is decided by point estimates: where the "
        "intervals overlap, the ordering it shows is not established."
    )


def pareto_text(record: dict) -> str:
    """The adversary's Pareto set per detector and operating point."""
    points = record.get("strategies", [])
    parts = []
    for thr in THRESHOLDS:
        for role in ROLES:
            names = pareto(points, thr, role)
            parts.append(f"{role} at {budget_text(thr)}: " + (", ".join(f"`{n}`" for n in names) or "none"))
    return (
        "The adversary's Pareto set (strategies no other strategy beats on both counts, a harm rate at least as "
        "high and a TPR at least as low, by point estimates; ordered by harm rate): " + "; ".join(parts) + "."
    )


def knob_items(record: dict) -> list[str]:
    """What each strategy sets at the level (the default sets nothing)."""
    items = []
    for s in record.get("strategies", []):
        knobs = s.get("knobs") or {}
        text = ", ".join(f"`{k}` = {v}" for k, v in sorted(knobs.items())) or "nothing (the scenario's own behaviour)"
        items.append(f"`{s.get('name')}`: {text}")
    return items


CONSOLE_COLUMNS = {  # frontier_rows's columns a terminal has room for, with shorter names
    0: "strategy",
    4: "harm rate [95%] (per offender per 30 days)",
    7: "adapted TPR [95%] (k/n)",
    8: "unadapted TPR [95%] (k/n)",
    9: "harm after a flag [95%] (k/n)",
    10: "Pareto set",
}


def frontier_table(record: dict, threshold: str = "fpr<=0.001") -> tuple[list[str], list[list[str]]]:
    """`frontier_rows` narrowed to what a console shows: the strategy, its harm rate, both
    detectors' TPR, detection before harm and the Pareto sets."""
    _, rows = frontier_rows(record, threshold)
    return list(CONSOLE_COLUMNS.values()), [[r[i] for i in CONSOLE_COLUMNS] for r in rows]


def frontier_blocks(record: dict, figure: str | None) -> list[Block]:
    """The section's blocks: what was measured, the tables, the readings, the figure, the knobs."""
    level = record.get("level", "?")
    blocks: list[Block] = [
        Heading(2, f"Adversary frontier: {level}, `{record.get('preset', '?')}`, seed {record.get('seed', '?')}"),
        Paragraph(measured_text(record)),
        Paragraph(sample_text(record)),
    ]
    for thr in THRESHOLDS:
        header, rows = frontier_rows(record, thr)
        blocks += [Heading(3, f"At {budget_text(thr)}"), Table(header, rows)]
    blocks.append(Heading(3, "Reading"))
    blocks.append(BulletList([reading(record, thr, role, BELOW)["text"] for thr in THRESHOLDS for role in ROLES]))
    blocks.append(Paragraph(pareto_text(record)))
    if figure is not None:
        blocks.append(Figure(figure, f"adversary's frontier, {level}: harm rate against TPR at FPR 1e-3 and 1e-4"))
        blocks.append(
            Paragraph(
                "Filled: against the adapted detector; hollow: against the unadapted one (the default behaviour's "
                "own detector is both, drawn once as a star); dashed: the adapted Pareto set. Labels: E effort, "
                "M mimicry, `-` low, `0` default, `+` high."
            )
        )
    blocks += [Heading(3, "Strategies"), BulletList(knob_items(record))]
    return blocks


def frontier_markdown(record: dict, figure: str | None) -> str:
    """The frontier as a Markdown section; `figure` is the PNG's path relative to the file."""
    return render_md(frontier_blocks(record, figure))


def write_frontier_report(record: dict, out_dir: Path) -> Path:
    """frontier.png and frontier.md in `out_dir`, each written atomically (the figure
    first, so the Markdown never links a missing file). Returns the Markdown's path."""
    out_dir = Path(out_dir)
    fig_frontier(record, out_dir / FRONTIER_PNG)
    return write_text_atomic(out_dir / FRONTIER_MD, frontier_markdown(record, FRONTIER_PNG))
