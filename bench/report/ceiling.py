"""The ceiling in a run's report (docs/design.md "Ceiling") and the decomposition built on it
(docs/design.md "Decomposition"), as subsections of the powered groomer evaluation.

A run carries the ceiling of its scenario, visibility and seed when one was cached
(`RunResults.ceiling`). Where its TPR and FPR worlds are the run's own (`same_worlds`), the
ceiling and the run's label variants are paired and compare level by level; where not, the
text says they were read on different worlds. Every sentence here is built from the numbers
it states, with words chosen by them: a ceiling whose learning curve has not reached its
plateau is a lower bound, so the labels gap it implies is "at least" and the behaviour share
"at most", each with the interval of the figure it bounds; a labels gap whose interval holds
zero is said to be indistinguishable from zero rather than given a size.

The "labels gap" is not labels alone: the ceiling's best class may not be the run's primary
class, and its thresholds were set on a calibration world, the run's on a validation split.
Where the run's primary class is one of the ceiling's, that class's own gap stands beside
it. The best class is picked on the worlds its TPR is read on, a maximum over a few classes:
slightly optimistic, and the text says so.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.report import ceiling_figures as cf
from bench.report.format import fmt_bound, fmt_count, fmt_rate, fmt_value
from bench.report.powered_figures import LEVEL_NAMES, nothing_flagged, point_at
from bench.report.render import Block, BulletList, Figure, Heading, Paragraph, Section, Table
from bench.results import REALISTIC, CeilingRecord, PoweredPoint, PoweredRecord, RateRecord, RunResults
from bench.results.ceiling import (
    CEILING_ENRICHED_RATE,
    CEILING_FPR_ACCOUNTS,
    CEILING_TPR_WORLDS,
    LevelGap,
    curve_name,
    fingerprints,
    level_gaps,
    same_worlds,
)

DESIGN_CEILING = 'docs/design.md, section "Ceiling"'
DESIGN_DECOMPOSITION = 'docs/design.md, section "Decomposition"'
THRESHOLD = "fpr<=0.001"  # the decomposition's operating point
CURVES_PNG = "ceiling_curves.png"
DECOMPOSITION_PNG = "ceiling_decomposition.png"
DEFAULT_WORKDIR = Path("lowbase-work")


def ceiling_command(
    preset: str, accounts: int | None, visibility: str, seed: int, workdir: Path | None = None, *,
    fpr_accounts: int = CEILING_FPR_ACCOUNTS, tpr_worlds: int = CEILING_TPR_WORLDS,
    enriched_rate: float = CEILING_ENRICHED_RATE,
) -> str:  # fmt: skip
    """The `lowbase ceiling` command that computes the ceiling a run of these settings reads:
    its TPR worlds, negatives and enriched rate named wherever they are not the ceiling's
    defaults, so the ceiling reads the run's own worlds (paired figures)."""
    parts = ["lowbase ceiling", f"--scenario {preset}"]
    if accounts:
        parts.append(f"--accounts {accounts}")
    parts += [f"--visibility {visibility}", f"--seed {seed}"]
    if fpr_accounts != CEILING_FPR_ACCOUNTS:
        parts.append(f"--fpr-accounts {fpr_accounts}")
    if tpr_worlds != CEILING_TPR_WORLDS:
        parts.append(f"--tpr-worlds {tpr_worlds}")
    if enriched_rate != CEILING_ENRICHED_RATE:
        parts.append(f"--enriched-rate {enriched_rate!r}")  # the shortest text that reads back exactly
    if workdir is not None and Path(workdir) != DEFAULT_WORKDIR:
        parts.append(f"--workdir {workdir}")
    return " ".join(parts)


def _fpr_worlds(fpr_accounts: int, accounts: int) -> int:
    """Negative worlds of `accounts` each that `fpr_accounts` negatives take (the powered
    evaluation's rule: at least one, none at 0)."""
    return max(1, math.ceil(fpr_accounts / accounts)) if fpr_accounts > 0 else 0


def run_ceiling_command(results: RunResults, workdir: Path | None = None) -> str:
    """`ceiling_command` for a run's results: its negatives are what it asked for
    (`--fpr-accounts`), else the worlds its powered evaluation scored; named only where they
    make other worlds than the ceiling's default does."""
    c, pw, accounts = results.config, results.analysis.powered, results.scenario.accounts
    scored = len(pw.worlds.get("fpr", [])) if pw is not None else 0
    fpr = c.fpr_accounts if c.fpr_accounts is not None else (scored * accounts if scored else CEILING_FPR_ACCOUNTS)
    if _fpr_worlds(fpr, accounts) == _fpr_worlds(CEILING_FPR_ACCOUNTS, accounts):
        fpr = CEILING_FPR_ACCOUNTS
    return ceiling_command(c.preset, c.accounts, c.visibility, c.seed, workdir, fpr_accounts=fpr,
                           tpr_worlds=c.tpr_worlds, enriched_rate=c.enriched_rate)  # fmt: skip


def _budget(threshold: str) -> float:
    try:
        return float(threshold.split("<=", 1)[1])
    except (IndexError, ValueError):
        return math.nan


def ceiling_thresholds(record: CeilingRecord) -> list[str]:
    """The ceiling's FPR budgets, the loosest first."""
    return sorted(record.ceiling, key=lambda t: -_budget(t) if math.isfinite(_budget(t)) else math.inf)


def _rate_bound(r: RateRecord, bound: bool) -> str:
    return ("≥ " if bound else "") + fmt_rate(r)


def _short(fp: object) -> str:
    return f"`{str(fp)[:12]}`" if fp else "?"


# ---------------------------------------------------------------- the ceiling


def pool_text(record: CeilingRecord, pw: PoweredRecord) -> str:
    """What the ceiling rests on: classes, training pool, curve, thresholds, rate worlds."""
    train = record.worlds.get("train")
    k = len(train) if isinstance(train, list) else 0
    calib = record.worlds.get("calibration")
    calib_fp = calib.get("fingerprint") if isinstance(calib, dict) else None
    sizes = sorted({p.offenders for cc in record.models.values() for p in cc.curve})
    levels = ", ".join(f"{lvl} {n:,}" for lvl, n in record.pool.items())
    fpr = record.worlds.get("fpr")
    negatives = sum(int(w.get("negatives", 0)) for w in fpr if isinstance(w, dict)) if isinstance(fpr, list) else 0
    tpr_n, fpr_n = len(fingerprints(record.worlds, "tpr")), len(fingerprints(record.worlds, "fpr"))
    if same_worlds(record, pw):
        where = (
            f"the same {tpr_n} enriched and {fpr_n} negative world(s) ({negatives:,} negatives) as this run's own "
            "figures, so the two are paired"
        )
    else:
        where = (
            f"{tpr_n} enriched and {fpr_n} negative world(s) ({negatives:,} negatives) that are not all this run's, "
            "so the ceiling and this run's figures are not paired"
        )
    classes = ", ".join(f"`{c}`" for c in record.models)
    return (
        f"What the simulated metadata allows per level at a platform's operating points (`lowbase ceiling`, "
        f"{DESIGN_CEILING}): the classes {classes} trained on the truth of {k} fresh enriched training world(s) "
        f"(seeds of their own, never this run's), {sum(record.pool.values()):,} truth-labelled offenders in train "
        f"+ val ({levels}); learning-curve points at {', '.join(f'{s:,}' for s in sizes)} labelled offenders. "
        f"Thresholds were set on the {record.thresholds_set_on.get('split', '?')} of calibration world "
        f"{_short(calib_fp)}, at the scenario's own rate, which no model trained on and no rate is read on. TPR "
        f"and FPR are read on {where}. The ceiling of a level is the best class's TPR at its largest point, the "
        "class picked on the very worlds that TPR is read on (a maximum over the classes, so slightly "
        "optimistic); where the last doubling of labels moved the TPR of that class, or of a class its interval "
        "cannot tell from it, by more than half its interval, the plateau is not reached and the figure is a "
        f"lower bound. Cache key `{record.key}`, generator {record.generator}, seed "
        f"{record.seed}, visibility `{record.visibility}`."
    )


CEILING_HEADER = [
    "level",
    "threshold",
    "best class",
    "ceiling TPR [exact 95%] (k/n)",
    "plateau",
    "labelled offenders of the level in the pool",
    "FPR of that class, pooled negatives",
]


def ceiling_rows(record: CeilingRecord) -> list[list[str]]:
    """Per FPR budget and level: the best class, its TPR (a bound marked `≥`), the verdict,
    the level's labelled offenders and the FPR that class's threshold realised."""
    rows = []
    for thr in ceiling_thresholds(record):
        for lvl, c in record.ceiling[thr].items():
            curve = record.models.get(c.model)
            fpr = curve.curve[-1].fpr.get(thr) if curve is not None and curve.curve else None
            pool = record.pool.get(lvl)
            rows.append(
                [f"{lvl} ({LEVEL_NAMES.get(lvl, lvl)})", f"`{thr}`", f"`{c.model}`",
                 _rate_bound(c.tpr, c.lower_bound), c.verdict, "?" if pool is None else f"{pool:,}",
                 fmt_rate(fpr)]
            )  # fmt: skip
    return rows


def ceiling_blocks(results: RunResults, pw: PoweredRecord, out_dir: Path) -> Section:
    """The Ceiling subsection and the decomposition built on it; without a cached ceiling,
    one sentence saying so and the command that computes one."""
    record = results.ceiling
    if record is None:
        c = results.config
        command = run_ceiling_command(results)
        return [
            Heading(3, "Ceiling"),
            Paragraph(
                f"No ceiling is attached to these results: none was cached for scenario `{results.scenario.name}`, "
                f"visibility `{c.visibility}`, seed {c.seed} when they were written; `{command}` computes one (a "
                "run never does), and runs of that seed and these evaluation settings then read it."
            ),
        ], []
    blocks: list[Block] = [Heading(3, "Ceiling"), Paragraph(pool_text(record, pw))]
    blocks.append(Table(CEILING_HEADER, ceiling_rows(record)))
    pngs: list[str] = []
    if cf.fig_ceiling_curves(record, out_dir / CURVES_PNG, THRESHOLD, run=pw):
        pngs.append(CURVES_PNG)
        blocks.append(Figure(CURVES_PNG, f"groomer ceiling learning curves per level at {THRESHOLD}"))
        same = "on the same enriched worlds" if same_worlds(record, pw) else "on enriched worlds of their own"
        blocks.append(
            Paragraph(
                f"Learning curves at `{THRESHOLD}`: TPR per level against truth-labelled offenders (a uniform level "
                "mix at each point, the whole pool at the last), one line per class with exact 95% bars. The run's "
                f"own label variants stand at the offenders they labelled (the scenario's mix, from one training "
                f"world), read {same}, at thresholds set on their own validation split at the same FPR budget."
            )
        )
    more, figs = decomposition_blocks(record, pw, out_dir, results.primary)
    return blocks + more, pngs + figs


# ---------------------------------------------------------------- decomposition


def _ci(x: tuple[float, float, float]) -> str:
    return f"[{fmt_value(x[1], 2)}, {fmt_value(x[2], 2)}]"


def _span(x: tuple[float, float, float]) -> str:
    return f"{fmt_value(x[0])} {_ci(x)}"


def _within(x: tuple[float, float, float]) -> str:
    """A figure with its 95% interval, as a reading states it: `0.445 [95%: 0.36, 0.51]`."""
    return f"{fmt_value(x[0])} [95%: {fmt_value(x[1], 2)}, {fmt_value(x[2], 2)}]"


DECOMPOSITION_HEADER = [
    "level",
    "ceiling TPR (class)",
    "realistic labels TPR",
    "labels gap: ceiling − realistic",
    "behaviour gap: 1 − ceiling",
    "FPR: realistic labels",
    "FPR: ceiling class",
]


def _primary(gaps: list[LevelGap]) -> str | None:
    return next((g.primary for g in gaps if g.primary is not None), None)


def decomposition_header(gaps: list[LevelGap]) -> list[str]:
    """The table's columns; with a same-class gap beside the labels gap where the run's
    primary class is one of the ceiling's."""
    primary, header = _primary(gaps), list(DECOMPOSITION_HEADER)
    if primary is not None:
        header.insert(4, f"same-class gap: `{primary}` − realistic")
    return header


def decomposition_rows(record: CeilingRecord, gaps: list[LevelGap], realistic: PoweredPoint | None) -> list:
    rows = []
    for g in gaps:
        b, gap, same = g.behaviour(), g.labels(), g.same_class_labels()
        curve = record.models.get(g.ceiling.model)
        fpr = curve.curve[-1].fpr.get(THRESHOLD) if curve is not None and curve.curve else None
        missed = f" ({g.ceiling.tpr.n - g.ceiling.tpr.k}/{g.ceiling.tpr.n} missed)"
        row = [f"{g.level} ({LEVEL_NAMES.get(g.level, g.level)})",
               f"{_rate_bound(g.ceiling.tpr, g.bound)} (`{g.ceiling.model}`)", fmt_rate(g.realistic),
               "n/a" if gap is None else ("≥ " if g.bound else "") + _span(gap),
               ("≤ " if g.bound else "") + _span(b) + missed,
               fmt_rate(realistic.fpr) if realistic is not None else "—", fmt_rate(fpr)]  # fmt: skip
        if g.primary is not None:
            row.insert(4, "n/a" if same is None else ("≥ " if g.same_class_bound else "") + _span(same))
        rows.append(row)
    return rows


def _same_class_reading(g: LevelGap) -> str:
    """The run's own class on plentiful truth, where the best class is another one."""
    same = g.same_class_labels()
    if same is None or g.primary == g.ceiling.model:
        return ""
    least = "at least " if g.same_class_bound else ""
    return f"; with the class held fixed (`{g.primary}`, this run's class, on plentiful truth) {least}{_within(same)}"


def level_reading(g: LevelGap) -> str:
    """One level's reading, every word decided by its numbers and plateau verdict; a bound
    carries the interval of the figure it bounds."""
    c, b, gap = g.ceiling.tpr, g.behaviour(), g.labels()
    verdict = "plateau not reached: a lower bound" if g.bound else "plateau reached"
    head = (
        f"**{g.level}** ({LEVEL_NAMES.get(g.level, g.level)}): the ceiling (`{g.ceiling.model}`) finds "
        f"{fmt_rate(c)} at `{THRESHOLD}` ({verdict})"
    )
    most, least = ("at most ", "at least ") if g.bound else ("", "")
    behaviour = f"behaviour for {most}{_within(b)}"
    if gap is None or g.realistic is None:
        return f"{head}; realistic labels have no figure here, so only behaviour is read: {behaviour}."
    head += f"; realistic labels find {fmt_rate(g.realistic)}."
    if not g.labels_distinguishable():
        more = ", and more labels may yet open one" if g.bound else ""
        labels = f"The labels gap, {_span(gap)}, is not distinguishable from zero{more}"
    elif gap[2] < 0:
        labels = (
            f"Realistic labels find more than the ceiling's best class at its largest point (by {fmt_value(-gap[0])}"
            f" [{fmt_value(-gap[2], 2)}, {fmt_value(-gap[1], 2)}]), so at this level the ceiling bounds nothing"
        )
    else:
        labels = f"Labels, with the ceiling's class and thresholds, account for {least}{_within(gap)}"
    return f"{head} {labels}{_same_class_reading(g)}; {behaviour}."


def ceiling_point(record: CeilingRecord, threshold: str) -> tuple[str, PoweredPoint] | None:
    """The ceiling's classifier for precision: of each class's largest point, the one with
    the highest TPR at the scenario's mix (precision reads that TPR), with its name."""
    found = []
    for cls, cc in record.models.items():
        name = curve_name(cls, cc.curve[-1].offenders) if cc.curve else ""
        pt = point_at(record.powered, name, threshold)
        if pt is not None:
            v = pt.tpr_at_scenario_mix.value
            found.append((v if math.isfinite(v) else -1.0, name, pt))
    if not found:
        return None
    _, name, pt = max(found, key=lambda x: x[0])
    return name, pt


def _smallest(pt: PoweredPoint, target: str) -> str:
    v = pt.smallest_base_rate.get(target, math.nan)
    return f"π = {fmt_count(v)}" if math.isfinite(v) else "no base rate"


def precision_blocks(record: CeilingRecord, pw: PoweredRecord) -> list[Block]:
    """Base rate: precision at each base rate for realistic labels and the ceiling's
    classifier, from the same kind of TPR and FPR, and the reading of both."""
    real, best = point_at(pw, REALISTIC, THRESHOLD), ceiling_point(record, THRESHOLD)
    named = ([(f"`{REALISTIC}`", real)] if real is not None else []) + (
        [(f"ceiling class `{best[0]}`", best[1])] if best is not None else []
    )
    if not named:
        return []
    rates = sorted({b.base_rate for _, pt in named for b in pt.precision}, reverse=True)
    header = ["labels", "TPR at scenario mix", "FPR, pooled negatives", *(f"π = {fmt_count(r)}" for r in rates),
              "smallest π supporting precision 0.5"]  # fmt: skip
    rows = []
    for label, pt in named:
        by = {b.base_rate: b for b in pt.precision}
        none = nothing_flagged(pt)
        rows.append([label, fmt_rate(pt.tpr_at_scenario_mix), fmt_rate(pt.fpr),
                     *(fmt_bound(by.get(r), none) for r in rates), _smallest(pt, "0.5")])  # fmt: skip
    blocks: list[Block] = [Table(header, rows)]
    if real is not None and best is not None and rates:
        low = rates[-1]
        at = [
            fmt_bound(next((b for b in pt.precision if b.base_rate == low), None), nothing_flagged(pt))
            for _, pt in named
        ]
        mine, theirs = _smallest(real, "0.5"), _smallest(best[1], "0.5")
        blocks.append(
            Paragraph(
                f"Base rate, at `{THRESHOLD}`: realistic labels support precision 0.5 down to {mine}, the ceiling's "
                f"class `{best[0]}` (the best TPR at the scenario's mix) down to {theirs}; at π = {fmt_count(low)} "
                f"their precision is {at[0]} and {at[1]}. Precision(π) = TPR·π / (TPR·π + FPR·(1−π)): a bound "
                "(`>=`) where no false positive was seen."
            )
        )
    return blocks


def _decomposition_text(paired: bool, primary: str | None) -> str:
    """What the decomposition's columns are, on which worlds they were read, and what the
    labels gap holds besides labels."""
    where = (
        "the ceiling and realistic labels read on the same enriched and negative worlds (paired)"
        if paired
        else "**read on different worlds**: the ceiling's TPR and FPR worlds are not this run's, so the two figures "
        "are not paired and each gap also holds the difference between two draws of offenders"
    )
    same = (
        f"; the same-class gap holds the class fixed: `{primary}`'s own largest curve point against realistic labels"
        if primary is not None
        else ""
    )
    return (
        f"Per level at `{THRESHOLD}` ({DESIGN_DECOMPOSITION}), {where}: **behaviour** = 1 − ceiling TPR, what the "
        "strongest classes on plentiful truth still miss; **labels gap** = ceiling TPR − realistic TPR, what better "
        "labels could recover, but not labels alone: the ceiling's best class need not be this run's class, and its "
        f"thresholds were set on a calibration world, this run's on its validation split{same}; **base rate**: "
        "precision across π from TPR and FPR. The best class is picked on the worlds its TPR is read on (a maximum "
        "over the classes, so slightly optimistic). Behaviour's interval mirrors the ceiling's exact 95% interval; "
        "a gap's spans the differences both exact 95% intervals allow. Where the ceiling is a lower bound (`≥`) the "
        "labels gap is at least, and the behaviour gap at most, the figure shown, with that figure's interval."
    )


def decomposition_blocks(
    record: CeilingRecord, pw: PoweredRecord, out_dir: Path, primary: str | None = None
) -> Section:
    """Per level at the decomposition's threshold: behaviour, labels (and, where the run's
    `primary` class is one of the ceiling's, the same-class gap) and what realistic labels
    find, as a table, a stacked-bar figure and one reading per level; then the base rate's
    precision rows."""
    blocks: list[Block] = [Heading(3, "Decomposition on the ceiling")]
    gaps = level_gaps(record, pw, THRESHOLD, primary)
    if not gaps:
        blocks.append(Paragraph(f"The ceiling holds no figure at `{THRESHOLD}`, so there is no decomposition."))
        return blocks, []
    real, paired = point_at(pw, REALISTIC, THRESHOLD), same_worlds(record, pw)
    blocks.append(Paragraph(_decomposition_text(paired, _primary(gaps))))
    blocks.append(Table(decomposition_header(gaps), decomposition_rows(record, gaps, real)))
    pngs = []
    if cf.fig_ceiling_decomposition(gaps, THRESHOLD, out_dir / DECOMPOSITION_PNG, paired):
        pngs.append(DECOMPOSITION_PNG)
        blocks.append(Figure(DECOMPOSITION_PNG, f"groomer decomposition per level at {THRESHOLD}"))
    blocks.append(BulletList([level_reading(g) for g in gaps]))
    blocks += precision_blocks(record, pw)
    return blocks, pngs
