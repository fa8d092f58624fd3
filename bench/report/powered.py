"""The report's sections on the rare-harm evaluation
(docs/design.md "Evaluation design for rare harms"): the powered groomer evaluation with its
label variants, the ceiling and the decomposition built on it (`bench.report.ceiling`),
detection before harm on enriched worlds with spam and scam as positive controls, and the
operating points each model reaches at thresholds set on validation.

Kept apart from `sections` because these read a different design: thresholds come from the
training world's validation split and are scored elsewhere (fresh negative worlds, enriched
worlds, the test split), so every figure names where its threshold was set and how many
worlds, negatives and offenders it rests on. Each section reads pieces a run may not have
computed (`--no-powered`, or a results file without them) and then says so, without a figure.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.report import powered_figures as pf
from bench.report.ceiling import ceiling_blocks
from bench.report.format import fmt_bound, fmt_count, fmt_interval, fmt_rate, fmt_value
from bench.report.render import Block, Figure, Heading, Paragraph, Section, Table
from bench.results import PoweredRecord, RunResults, ThresholdRecord, TimelyRecord
from bench.stats.rates import clopper_pearson
from common.vocabulary import SOPHISTICATION_LEVELS

DESIGN_RARE = 'docs/design.md, section "Evaluation design for rare harms"'
FOCUS = ("fpr<=0.001", "precision>=0.95")  # the thresholds tabulated first and drawn
FIGURE_THRESHOLD = "fpr<=0.001"
LABEL_SUPPLY_PNG = "powered_label_supply.png"
PRECISION_PNG = "powered_precision.png"
TIMELY_PNG = "detection_before_harm_enriched.png"


# ---------------------------------------------------------------- helpers


def short(fingerprint: Any) -> str:
    """A world fingerprint as the report names it: its first 12 hex digits."""
    return f"`{str(fingerprint)[:12]}`" if fingerprint else "?"


def set_on(thr: ThresholdRecord | None) -> str:
    """Where a threshold was set: split and world."""
    if thr is None:
        return "?"
    where = thr.set_on
    return f"{where.get('split', '?')} split of world {short(where.get('world'))}"


def fmt_threshold(thr: ThresholdRecord | None) -> str:
    """A score threshold; infinity: no score on validation met the target, nothing is flagged."""
    if thr is None:
        return "—"
    return "∞ (target not reached: flags nothing)" if math.isinf(thr.value) and thr.value > 0 else fmt_value(thr.value)


def _entries(x: Any) -> list[dict]:
    return [w for w in x if isinstance(w, dict)] if isinstance(x, list) else []


def _int_sum(rows: list[dict], key: str) -> int:
    return sum(int(w[key]) for w in rows if isinstance(w.get(key), int | float))


def threshold_names(pw: PoweredRecord) -> list[str]:
    """Every threshold any variant was read at: the focus thresholds first, the others in
    the order the run set them."""
    seen: dict[str, None] = {}
    for m in pw.models.values():
        for t in m.thresholds:
            seen.setdefault(t.name, None)
        for name in m.by_threshold:
            seen.setdefault(name, None)
    return [t for t in FOCUS if t in seen] + [t for t in seen if t not in FOCUS]


def figure_threshold(pw: PoweredRecord) -> str | None:
    """The threshold the figures read: FPR 1e-3, else the first one recorded."""
    names = threshold_names(pw)
    return FIGURE_THRESHOLD if FIGURE_THRESHOLD in names else (names[0] if names else None)


def model_threshold(pw: PoweredRecord, name: str, threshold: str) -> ThresholdRecord | None:
    m = pw.models.get(name)
    return next((t for t in m.thresholds if t.name == threshold), None) if m is not None else None


def labels_cell(pw: PoweredRecord, name: str) -> str:
    """Labelled offenders a variant trained on (train + val); the realistic variant adds
    how many accounts carried a label at all."""
    m = pw.models.get(name)
    lab = m.labels if m is not None else None
    if lab is None:
        return "?"
    text = f"{fmt_count(lab.total)} ({lab.train}+{lab.val})" if lab.total is not None else "?"
    extra = lab.model_extra or {}
    accounts = [extra.get(f"{s}_labelled") for s in ("train", "val")]
    counted = [a for a in accounts if isinstance(a, int)]
    if len(counted) == len(accounts):
        text += f" of {sum(counted):,} labelled accounts"
    return text


def unreachable_text(pw: PoweredRecord) -> str | None:
    if not pw.unreachable:
        return None
    names = pf.variant_order(pw.unreachable)
    held = pf.offenders_in_world(pw)
    world = f"its {held} offenders" if held is not None else "its offenders"
    return (
        f"Not reachable: {', '.join(f'`{n}`' for n in names)}. The training world holds fewer offenders "
        f"({world}, train and val together) than these budgets label, so they were not trained (never padded)."
    )


def worlds_text(pw: PoweredRecord) -> str:
    """Where thresholds come from and what every figure rests on, from `powered.worlds`."""
    w = pw.worlds
    found = w.get("train")
    train: dict = found if isinstance(found, dict) else {}
    tpr, fpr = _entries(w.get("tpr")), _entries(w.get("fpr"))
    positives, accounts, negatives = _int_sum(tpr, "positives"), _int_sum(tpr, "accounts"), _int_sum(fpr, "negatives")
    first = next((pt for m in pw.models.values() for pt in m.by_threshold.values()), None)
    per_level = {lvl: r.n for lvl, r in first.tpr_by_level.items()} if first is not None else {}
    levels = ", ".join(f"{lvl} {n:,}" for lvl, n in per_level.items())
    floor = float(clopper_pearson(0, negatives)[1]) if negatives else math.nan
    bound = f"; even with none of them flagged, the FPR could only be bounded by {fmt_count(floor)} (exact 95%)"
    mix = ", ".join(fmt_value(x, 2) for x in pw.scenario_mix)
    return (
        f"Thresholds are set on the **validation split of the training world** (seed {train.get('seed', '?')}, "
        f"world {short(train.get('fingerprint'))}) for each variant, and never read on the world they were set "
        f"on. **TPR**: {len(tpr)} enriched world(s) (fresh seeds, groomer rate {fmt_count(pw.enriched_rate)}, "
        f"uniform level mix; {accounts:,} accounts, {positives:,} offenders{f': {levels}' if levels else ''}); "
        f"TPR at the scenario's mix reweights the levels to [{mix}] (interval: the weighted level bounds, "
        f"conservative). **FPR**: pooled over {len(fpr)} fresh world(s) at the scenario's rate, {negatives:,} "
        f"negatives{bound if negatives else ''}. **Test split**: the training world's own test split at the same "
        f"threshold, what a single dataset shows. Intervals are exact (Clopper-Pearson) 95%; task "
        f"`{pw.task}`, visibility `{pw.visibility}` ({DESIGN_RARE})."
    )


# ---------------------------------------------------------------- powered evaluation


RATE_HEADER = [
    "labels",
    "labelled offenders (train+val)",
    "threshold",
    "FPR, pooled negatives",
    *(f"TPR {lvl}" for lvl in SOPHISTICATION_LEVELS),
    "TPR at scenario mix",
    "test split TPR",
    "test split FPR",
]


def rate_rows(pw: PoweredRecord, threshold: str) -> list[list[str]]:
    """One row per label variant at one threshold; an unreachable budget as such."""
    rows = []
    for name in pf.variant_order([*pw.models, *pw.unreachable]):
        pt = pf.point_at(pw, name, threshold)
        if pt is None:
            if name in pw.unreachable:
                rows.append([f"`{name}`", "not reachable", *(["—"] * (len(RATE_HEADER) - 2))])
            continue
        mix = pt.tpr_at_scenario_mix
        mix_text = f"{fmt_interval(_iv(mix))} (mix of {mix.n:,})" if mix.n else "n/a"
        rows.append(
            [
                f"`{name}`",
                labels_cell(pw, name),
                fmt_threshold(model_threshold(pw, name, threshold)),
                fmt_rate(pt.fpr),
                *(fmt_rate(pt.tpr_by_level.get(lvl)) for lvl in SOPHISTICATION_LEVELS),
                mix_text,
                fmt_rate(pt.test_split.get("tpr")),
                fmt_rate(pt.test_split.get("fpr")),
            ]
        )
    return rows


def _iv(r) -> dict:
    return {"value": r.value, "ci_low": r.low, "ci_high": r.high}


def precision_rows(pw: PoweredRecord, threshold: str) -> tuple[list[str], list[list[str]]]:
    """Precision at each base rate per reachable variant (a bound where FP or TP is 0), and
    the smallest base rate that still supports precision 0.5 and 0.95."""
    rates: list[float] = []
    targets: list[str] = []
    for m in pw.models.values():
        pt = m.by_threshold.get(threshold)
        if pt is not None:
            rates += [b.base_rate for b in pt.precision if b.base_rate not in rates]
            targets += [t for t in pt.smallest_base_rate if t not in targets]
    rates.sort(reverse=True)
    header = [
        "labels",
        *(f"π = {fmt_count(r)}" for r in rates),
        *(f"smallest π supporting precision {t}" for t in targets),
    ]
    rows = []
    for name in pf.variant_order(pw.models):
        pt = pf.point_at(pw, name, threshold)
        if pt is None:
            continue
        by_rate = {b.base_rate: b for b in pt.precision}
        flagged_none = pf.nothing_flagged(pt)
        cells = [fmt_bound(by_rate.get(r), flagged_none) for r in rates]
        for t in targets:
            v = pt.smallest_base_rate.get(t, math.nan)
            cells.append(fmt_count(v) if math.isfinite(v) else "none (TPR lower bound 0)")
        rows.append([f"`{name}`", *cells])
    return header, rows


def section_powered(results: RunResults, out_dir: Path) -> Section:
    """The primary model's groomer figures measured where they can be: per threshold, label
    variants by FPR, TPR per level and precision at base rates; TPR by level and precision
    across base rates as figures; the ceiling and the decomposition built on it."""
    blocks: list[Block] = [Heading(2, "Powered evaluation (groomers)")]
    pw = results.analysis.powered
    if pw is None or not pw.models:
        blocks.append(
            Paragraph(
                "Not in these results: the run did not compute the powered evaluation (`--no-powered`, no groomer "
                "in the training world, or a results file without it). The groomer figures below then rest on the "
                "training world's test split alone, with its few offenders.",
            )
        )
        return blocks, []
    blocks += powered_intro(results, pw)
    pngs: list[str] = []
    for part, figs in (powered_figure_blocks(results, pw, out_dir), ceiling_blocks(results, pw, out_dir)):
        blocks, pngs = blocks + part, pngs + figs
    blocks += certified_blocks(results)
    blocks += threshold_tables(pw)
    blocks.append(
        Paragraph(
            "Threshold `∞`: no score on the validation split met the target, so the variant flags nothing there. "
            "`>= x`: a lower bound (no false positive among the pooled negatives); `<= x`: an upper bound (no "
            "offender flagged); `nothing flagged`: the threshold flagged no account at all, so there is no precision.",
        )
    )
    return blocks, pngs


def powered_intro(results: RunResults, pw: PoweredRecord) -> list[Block]:
    """What the label variants are, where thresholds come from and what the figures rest on,
    and the budgets the training world could not supply."""
    blocks: list[Block] = [
        Paragraph(
            f"The primary model (`{results.primary}`) and the same model class refit on other labels of the same "
            "training world: **realistic labels** (the human labels the scenario's report and review rates give), "
            "**label budgets** (every negative and k offenders labelled) and the **training world's truth** "
            "(truth on every train/val account: perfect labels, but only the offenders one world holds, so a label "
            "budget of that size). Comparing them says how far labels move each level (7.2.5) and what the base "
            "rate does to precision (7.2.3); what behaviour allows at best (7.2.6) is read in its own "
            "subsection below, from many worlds.",
        ),
        Paragraph(worlds_text(pw)),
    ]
    missing = unreachable_text(pw)
    if missing:
        blocks.append(Paragraph(missing))
    return blocks


def powered_figure_blocks(results: RunResults, pw: PoweredRecord, out_dir: Path) -> Section:
    """TPR by level and label variant (without a ceiling: its learning curves carry them) and
    the precision bands at the figure threshold (with the widest certification), a note where
    precision has nothing to draw, and how to read them."""
    blocks: list[Block] = []
    pngs: list[str] = []
    fig_thr = figure_threshold(pw)
    if fig_thr is None:
        return blocks, pngs
    reading = []
    if results.ceiling is None and pf.fig_label_supply(pw, fig_thr, out_dir / LABEL_SUPPLY_PNG):
        pngs.append(LABEL_SUPPLY_PNG)
        blocks.append(Figure(LABEL_SUPPLY_PNG, f"groomer TPR per level and label variant at {fig_thr}"))
        reading.append(
            "Each TPR point carries its exact 95% interval and k/n; the tick under a variant gives the FPR its own "
            "threshold realised on the pooled negatives (thresholds are set per variant, so TPRs compare at "
            "comparable FPRs only)."
        )
    widest = max(results.certified, key=negatives_of, default=None)
    if pf.fig_precision_bands(pw, fig_thr, out_dir / PRECISION_PNG, certified=widest):
        pngs.append(PRECISION_PNG)
        blocks.append(Figure(PRECISION_PNG, f"groomer precision against base rate at {fig_thr}"))
        reading.append(
            "Precision(π) = TPR·π / (TPR·π + FPR·(1−π)) with TPR at the scenario's mix; where no false positive "
            "was seen it is a **lower bound** (`>=`, dashed with ▲), never a point 1.000; where no offender was "
            "flagged, an upper bound (▼)."
        )
    else:
        blocks.append(
            Paragraph(
                f"No precision figure: at `{fig_thr}` neither realistic labels nor the training world's truth "
                "flagged anything, so precision has neither a value nor a bound at any base rate.",
            )
        )
    if reading:
        blocks.append(Paragraph(f"Figures at `{fig_thr}`. " + " ".join(reading)))
    return blocks, pngs


def threshold_tables(pw: PoweredRecord) -> list[Block]:
    """Per threshold: the label variants' rates, then their precision at base rates."""
    blocks: list[Block] = []
    for threshold in threshold_names(pw):
        blocks.append(Heading(3, f"At `{threshold}`"))
        blocks.append(Table(RATE_HEADER, rate_rows(pw, threshold)))
        header, rows = precision_rows(pw, threshold)
        if rows:
            blocks.append(Table(header, rows))
    return blocks


def negatives_of(pw: PoweredRecord) -> int:
    return _int_sum(_entries(pw.worlds.get("fpr")), "negatives")


CERTIFIED_HEADER = ["certification", "labels", "threshold", "FPR, pooled negatives", "TPR at scenario mix"]


def certified_blocks(results: RunResults) -> list[Block]:
    """`lowbase certify` of the primary model (attached by `lowbase report` from MLflow): the
    same thresholds (the training world's validation split) read on more negative worlds,
    so the FPR, and precision at rare base rates, rest on more than the run's own pool."""
    if not results.certified:
        return []
    blocks: list[Block] = [
        Heading(3, "Certified on more negative worlds (`lowbase certify`)"),
        Paragraph(
            f"`{results.primary}` of this run, thresholds from the same validation split, scored on fresh worlds "
            "by `lowbase certify` (each line names its MLflow run in experiment `lowbase-certify`). The figure "
            "above draws the certification with the most negatives beside the run's own pool.",
        ),
    ]
    rows, prows = [], []
    rates: list[float] = []
    for c in results.certified:
        name = f"`{(c.mlflow_run or '?')[:12]}`: {negatives_of(c):,} negatives"
        for variant in pf.variant_order(c.models):
            for threshold in FOCUS:
                pt = pf.point_at(c, variant, threshold)
                if pt is None:
                    continue
                mix = pt.tpr_at_scenario_mix
                rows.append([name, f"`{variant}`", f"`{threshold}`", fmt_rate(pt.fpr), fmt_rate(mix)])
                rates += [b.base_rate for b in pt.precision if b.base_rate not in rates]
                flagged_none = pf.nothing_flagged(pt)
                by_rate = {b.base_rate: b for b in pt.precision}
                prows.append((name, variant, threshold, by_rate, flagged_none))
    blocks.append(Table(CERTIFIED_HEADER, rows))
    rates.sort(reverse=True)
    header = ["certification", "labels", "threshold", *(f"π = {fmt_count(r)}" for r in rates)]
    cells = [[n, f"`{v}`", f"`{t}`", *(fmt_bound(b.get(r), none) for r in rates)] for n, v, t, b, none in prows]
    blocks.append(Table(header, cells))
    return blocks


# ---------------------------------------------------------------- validated operating points


def section_validated(results: RunResults, out_dir: Path) -> Section:
    """Each task at thresholds set on the training world's validation split, read on its
    test split: an operating point that was not chosen on the data it is scored on."""
    blocks: list[Block] = [Heading(2, "Validated operating points")]
    entry = results.primary_entry
    rows = []
    order = [*results.tasks(), *(t for t in entry.validated if t not in results.tasks())]
    for task in order:
        for name, vp in entry.validated.get(task, {}).items():
            rows.append(
                [
                    task,
                    f"`{name}`",
                    fmt_threshold(vp.threshold),
                    fmt_rate(vp.tpr),
                    fmt_rate(vp.fpr),
                    set_on(vp.threshold),
                ]
            )
    if not rows:
        blocks.append(
            Paragraph(
                f"Not in these results: the primary model (`{results.primary}`) recorded no validated operating point.",
            )
        )
        return blocks, []
    blocks.append(
        Paragraph(
            f"The primary model (`{results.primary}`) per task at thresholds set on the **validation split** of the "
            "training world (a false-positive budget, or the lowest score reaching a target precision there), then "
            "read on the **test split**: TPR and FPR with exact (Clopper-Pearson) 95% intervals and k/n. The "
            "operating points of the curves above are chosen on the test split itself and flatter the model; these "
            "are not. `∞`: no validation threshold reached the target, so nothing is flagged.",
        )
    )
    blocks.append(Table(["task", "threshold", "score threshold", "TPR (test)", "FPR (test)", "set on"], rows))
    return blocks, []


# ---------------------------------------------------------------- detection before harm


def timely_rows(timely: dict[str, TimelyRecord]) -> list[list[str]]:
    rows = []
    for task in pf.timely_tasks(timely):
        rec = timely[task]
        lo, hi = rec.ci_by_offender
        rows.append(
            [
                task,
                pf.task_role(task),
                rec.harm,
                f"{rec.offenders_with_harm:,} of {rec.offenders:,}",
                f"{rec.harm_events:,}",
                fmt_interval(rec.share),
                f"[{fmt_value(lo, 2)}, {fmt_value(hi, 2)}]",
                f"{rec.flagged_by_end:,}",
                f"{fmt_count(rec.fpr_budget)} (world {short(rec.world)})",
            ]
        )
    return rows


def fpr_table(timely: dict[str, TimelyRecord]) -> tuple[list[str], list[list[str]]]:
    """The FPR each checkpoint's threshold realised on the enriched world's own negatives
    (read, never used to set it), one column per checkpoint day."""
    days = sorted({d for rec in timely.values() for d in rec.checkpoint_days})
    rows = []
    for task in pf.timely_tasks(timely):
        rec = timely[task]
        if rec.fpr_by and len(rec.fpr_by) == len(rec.checkpoint_days):
            by_day = dict(zip(rec.checkpoint_days, rec.fpr_by, strict=True))
            rows.append([task, *(fmt_value(by_day[d]) if d in by_day else "—" for d in days)])
        else:
            rows.append([task, *(["not recorded"] * len(days))])
    return ["task", *(f"day {d}" for d in days)], rows


def section_timely(results: RunResults, out_dir: Path) -> Section:
    """Detection before harm on an enriched world for groomers, with spam and scam as
    positive controls (`analysis.timely`); empty when the run did not compute it."""
    timely = results.analysis.timely
    if not timely:
        return [], []
    budgets = sorted({rec.fpr_budget for rec in timely.values()})
    controls = [t for t in pf.timely_tasks(timely) if t != pf.HARM_TASK]
    blocks: list[Block] = [
        Heading(2, "Detection before harm"),
        Paragraph(
            f"The primary model (`{results.primary}`) scores an enriched world (hundreds of offenders with harm "
            "events) on the data up to each checkpoint day, at the threshold valid then: set at FPR budget "
            f"{', '.join(fmt_count(b) for b in budgets)} on the training world's validation split scored as of the "
            "same day, never on the world it grades. A harm event counts as detected before harm when its "
            "offender crossed that threshold at a checkpoint strictly before the event. The red line is the share "
            "of all harm events that have happened by day d; the blue line the share whose offender was flagged by "
            "day d, before the event (which may come later: blue above red means flags run ahead of harm). The blue "
            "line ends at the share preceded by a flag; the rest, bracketed, is harm no flag could have prevented "
            f"({DESIGN_RARE}; paper 7.2.7).",
        ),
    ]
    if controls:
        blocks.append(
            Paragraph(
                f"**{' and '.join(controls)} are positive controls**: their harm is every message an abuser sends, "
                "most of it after the first days, so a classifier that finds them early prevents most of it. High "
                "control shares show the measurement finds harm ahead of time where the signal comes first; a low "
                "groomer share beside them is then a finding about grooming, not about the measurement.",
            )
        )
    pngs: list[str] = []
    if pf.fig_timely(timely, out_dir / TIMELY_PNG):
        pngs.append(TIMELY_PNG)
        blocks.append(Figure(TIMELY_PNG, "harm events over time and those preceded by a flag, per task"))
    header = [
        "task",
        "role",
        "harm event",
        "offenders with harm",
        "harm events",
        "share before harm [Wilson] (k/n)",
        "[offender bootstrap]",
        "flagged by last checkpoint",
        "FPR budget",
    ]
    blocks.append(Table(header, timely_rows(timely)))
    blocks.append(Paragraph("FPR realised on the enriched world's negatives at each checkpoint's threshold:"))
    fpr_header, fpr_rows = fpr_table(timely)
    blocks.append(Table(fpr_header, fpr_rows))
    return blocks, pngs
