"""The report's sections, in order: each draws its figures into the output directory and
returns its blocks (typed, `bench.report.render`) and the PNG names it wrote. Every piece of the
results may be missing (a task without positives, a run without drift or harm analysis);
a section then says what is missing and why, and never invents a number."""

from __future__ import annotations

from pathlib import Path

from bench.report import figures
from bench.report.format import (
    BOUND_MARKS,
    HASH_COLUMNS,
    PROJECTION_COLUMNS,
    at_end,
    fmt_count,
    fmt_interval,
    fmt_precision,
    fmt_value,
    projection_rows,
)
from bench.report.headline import headline_cells, headline_columns
from bench.report.powered import section_powered, section_timely, section_validated
from bench.report.render import Block, BulletList, Figure, Heading, Paragraph, Section, Table
from bench.results import Analysis, IntervalRecord, RunResults

DESIGN = 'docs/design.md, section "Metrics"'


def _thousands(x) -> str:
    return f"{x:,}" if isinstance(x, int) else ("?" if x is None else str(x))


def safe_name(name: str) -> str:
    """A task name as a file-name part."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))


def config_rows(results: RunResults) -> list[list[str]]:
    cfg, scn, an = results.config, results.scenario, results.analysis
    rows = [
        ["preset / scenario", f"`{cfg.preset}` (scenario `{scn.name}`)"],
        ["accounts", _thousands(scn.accounts)],
        ["seed", str(cfg.seed)],
        ["models", ", ".join(f"`{m}`" for m in cfg.models)],
        ["primary model", f"`{results.primary}`"],
        ["metadata visibility", f"`{cfg.visibility}`"],
        ["operating point", f"precision {cfg.precision} (and 0.99)"],
        ["groomer rate (scenario)", fmt_count(scn.harm.groomer_rate)],
        ["sophistication mix L0..L3", str(scn.harm.sophistication_mix)],
        ["bootstrap resamples", str(cfg.resamples)],
        [
            "platform projection",
            f"{fmt_count(cfg.platform_accounts)} accounts, {cfg.minutes_per_review} minutes per review",
        ],
        ["dataset fingerprint", f"`{results.dataset.fingerprint}`"],
    ]
    if cfg.overrides:
        rows.append(["scenario overrides", ", ".join(f"`{k}={v}`" for k, v in sorted(cfg.overrides.items()))])
    if an.drift is not None:
        rows.append(["drift dataset fingerprint", f"`{an.drift.fingerprint}`"])
    if cfg.powered:
        fpr = "as the run's default" if cfg.fpr_accounts is None else f"{cfg.fpr_accounts:,} accounts"
        budgets = ", ".join(str(b) for b in cfg.label_budgets) or "none"
        rows.append(
            [
                "powered evaluation",
                f"{cfg.tpr_worlds} enriched world(s) at groomer rate {fmt_count(cfg.enriched_rate)}; negatives for "
                f"the pooled FPR: {fpr}; label budgets {budgets}",
            ]
        )
    return rows


def metric_rows(results: RunResults, task: str) -> list[list[str]]:
    rows = []
    for name, entry in results.models.items():
        met = entry.metrics.get(task)
        if met is None:
            continue
        rows.append(
            [
                f"`{name}`",
                f"{met.n_positive} / {met.n_negative}",
                fmt_interval(met.auroc),
                fmt_interval(met.auprc),
                fmt_interval(met.recall_at_p90),
                fmt_interval(met.recall_at_p95),
                fmt_interval(met.recall_at_p99),
            ]
        )
    return rows


HASH_TASK = "viral_sharer"  # content hash matching is a reference for re-shared known images only


def section_intro(results: RunResults, out_dir: Path) -> Section:
    """The run configuration and the headline table."""
    cfg = results.config
    blocks: list[Block] = [
        Heading(1, f"lowbase run report: `{cfg.preset}`, seed {cfg.seed}"),
        Paragraph(
            "A metadata-only classifier benchmark run on a simulated platform with known ground truth. Every "
            "figure carries the number of accounts or events it rests on and a 95% interval; it is on the held-out "
            "test split unless its section says otherwise (the powered evaluation and detection before harm read "
            "fresh worlds at thresholds set on the validation split). "
            f"Metric definitions follow {DESIGN}; the paper "
            "sections are Levy & Robinson (2022), section 7.",
        ),
        Heading(2, "Run configuration"),
        Table(["setting", "value"], config_rows(results)),
        Heading(2, "Headline"),
        Paragraph(
            f"Rows are task and scenario, figures are the primary model's (`{results.primary}`). `measured` rows "
            "stand at the base rate the simulation holds, their n+, AUROC and recall columns read on the test "
            "split; their precision and innocent-per-offender, like the `projected` rows (which carry them to "
            "rarer base rates at platform scale), come from a TPR and an FPR with their bounds: for groomers, "
            "where the run has the powered evaluation, its TPR and pooled FPR at the validation threshold "
            "FPR <= 1e-3 (exact intervals; projected rows say `(powered)`, and the measured groomer row reads the "
            "same point), for every other reading the test split's at its operating threshold (Wilson). `>=` "
            "marks a precision that is a lower bound (no false positive seen), `<=` an upper bound (no offender "
            "flagged); `nothing flagged`: the threshold flagged no account there. Intervals: stratified bootstrap "
            "for AUROC and recall@precision, Wilson for shares (k/n). `none found`: at that operating point the "
            "classifier flags no offender, so the innocent-per-offender ratio is infinite.",
        ),
    ]
    if results.headline:
        labels = [label for _, label in headline_columns(results.headline)]
        blocks.append(Table(labels, headline_cells(results.headline)))
    else:
        blocks.append(Paragraph("No headline rows in these results."))
    return blocks, []


def section_curves(results: RunResults, out_dir: Path) -> Section:
    """PR and ROC per task, with the metric table of every model."""
    p = fmt_precision(results.precision)
    blocks: list[Block] = [
        Heading(2, "ROC and precision-recall curves per task"),
        Paragraph(
            "Each model's ROC (true-positive against false-positive rate) and precision-recall curve on the test "
            "split, with AUROC and AUPRC (average precision) and their 95% stratified bootstrap intervals in the "
            f"legend ({DESIGN}: AUROC, AUPRC). The dot marks the model's precision-{p} operating point; a curve "
            f"that never reaches precision {p} has no dot, and its recall@P{p} is 0. Curves keep every ROC "
            "corner and the best precision at each recall step (thinned evenly only beyond 2,000 points), so "
            "the high-precision corner where platforms operate is drawn as measured.",
        ),
    ]
    pngs: list[str] = []
    for task in results.tasks():
        blocks.append(Heading(3, task))
        made = []
        for kind in ("roc", "pr"):
            name = f"{kind}_{safe_name(task)}.png"
            if figures.fig_curves(results, task, kind, out_dir / name):
                pngs.append(name)
                made.append(name)
                blocks.append(Figure(name, f"{task} {kind.upper()} curves"))
        if not made:
            npos = {e.metrics[task].n_positive if task in e.metrics else None for e in results.models.values()}
            npos_text = ", ".join(str(n) for n in sorted(npos, key=str))
            blocks.append(
                Paragraph(
                    f"No curve: the test split has no positive (or no negative) for `{task}` (n+ = {npos_text}), "
                    "so ROC and PR are undefined.",
                )
            )
        rows = metric_rows(results, task)
        if rows:
            blocks.append(
                Table(["model", "n+ / n-", "AUROC", "AUPRC", "recall@P0.90", "recall@P0.95", "recall@P0.99"], rows)
            )
    return blocks, pngs


def base_rate_tables(an: Analysis, kind: str = "point") -> list[Block]:
    """The analytic curve (its precision marked as the bound `kind` says) and the empirical
    test-split points as tables; a note when the sweep holds no point beside this run's own."""
    blocks: list[Block] = []
    mark = BOUND_MARKS.get(kind, {}).get("precision", "")
    if an.base_rate_curve:
        rows = []
        for r in an.base_rate_curve:
            band = at_end(IntervalRecord(value=r.precision, ci_low=r.ci_low, ci_high=r.ci_high), mark)
            cells = [mark + fmt_interval(band, "precision"), fmt_count(r.fpr_needed_p95), fmt_count(r.fpr_needed_p99)]
            rows.append([fmt_count(r.base_rate), *cells])
        header = ["base rate π", "precision [95% band]", "FPR needed for P0.95", "FPR needed for P0.99"]
        blocks.append(Table(header, rows))
    emp = an.empirical_base_rate
    if emp:
        blocks.append(
            Paragraph(
                "Empirical points, each read on the **test split** of its dataset at a threshold chosen on that "
                "test split at the FPR budget shown (Wilson intervals, k/n):",
            )
        )
        header = ["groomer rate knob", "realised base rate", "FPR budget", "FPR at threshold", "TPR", "precision"]
        rows = [
            [fmt_count(r.knob) + (" (this run, test split)" if r.own else " (test split)"), fmt_count(r.base_rate)]
            + [fmt_count(r.fpr_target), fmt_count(r.fpr), fmt_interval(r.tpr), fmt_interval(r.precision, "precision")]
            for r in emp
        ]
        blocks.append(Table(header, rows))
    if not any(not r.own for r in emp):
        blocks.append(
            Paragraph(
                "No empirical sweep points: the population is too small to hold >= ~30 test "
                "groomers at a higher rate, or the run asked for none (`empirical_rates`).",
            )
        )
    return blocks


def rates_text(results: RunResults, task: str) -> str:
    """Where a task's projection (and, for groomers, the base-rate curve) reads its TPR and
    FPR, with their intervals and counts, and what a bound means there."""
    src = figures.projection_rates(results, task)
    if src is None:
        return "No operating point recorded for this task: nothing to project."
    if src.powered:
        text = (
            "From the powered evaluation at the threshold set on the training world's validation split at "
            f"FPR <= 1e-3: TPR {figures.rate_text(src.tpr)} at the scenario's level mix on enriched worlds, FPR "
            f"{figures.rate_text(src.fpr)} pooled over {src.fpr.n:,} fresh negatives (exact intervals)."
        )
    else:
        text = (
            f"Read on the test split at the precision-{fmt_precision(results.precision)} threshold chosen on that "
            f"same test split: TPR {figures.rate_text(src.tpr)}, FPR {figures.rate_text(src.fpr)} (Wilson "
            "intervals)."
        )
    return text + CORNER_TEXT.get(src.kind, "")


COUNTS_AT_MOST = (
    "offenders flagged, accounts flagged, innocent flagged and reviewer hours ('<=') are upper bounds, at "
    "(TPR high, FPR high)."
)
# Which corner of the TPR and FPR intervals each projection column is read at, by what the
# precision is (`bench.stats.rates.precision_kind`).
CORNER_TEXT = {
    "point": (
        " Counts, precision and innocent accounts per offender found are at the TPR and FPR measured; the "
        "intervals of the latter two run from (TPR low, FPR high) to (TPR high, FPR low)."
    ),
    "lower bound": (
        " No false positive was seen, and a count of zero is not a rate of zero, so the FPR's upper bound stands "
        "in: 'precision >=' marks a lower bound, precision at (TPR low, FPR high); innocent accounts per offender "
        "found ('<=') is an upper bound at the same corner; " + COUNTS_AT_MOST
    ),
    "upper bound": (
        " No offender was flagged: 'precision <=' marks an upper bound, precision at (TPR high, FPR low); "
        "innocent accounts per offender found ('>=') is a lower bound at the same corner; " + COUNTS_AT_MOST
    ),
    "nothing flagged": (
        " Nothing was flagged, no offender and no innocent account: a count of zero is not a rate of zero. There "
        "is no precision and no innocent-per-offender ratio ('nothing flagged'); " + COUNTS_AT_MOST
    ),
}


def section_base_rate(results: RunResults, out_dir: Path) -> Section:
    """Precision against base rate: analytic band where the projections read it (the powered
    point for groomers where the run has it), and the empirical test-split points."""
    src = figures.projection_rates(results, "groomer")
    if src is not None and src.powered:
        reading = "the threshold set on the validation split at FPR <= 1e-3 (the powered evaluation above)"
    else:
        reading = (
            f"its precision-{fmt_precision(results.precision)} operating point (no powered evaluation in these "
            "results, which would measure TPR and FPR on fresh worlds at a threshold set on the validation split)"
        )
    blocks: list[Block] = [
        Heading(2, "Precision as the base rate falls"),
        Paragraph(
            "Left: the precision the primary model would have if groomers were rarer, precision(π) = TPR·π / "
            f"(TPR·π + FPR·(1−π)) with TPR and FPR fixed at {reading}; the band carries their bounds. "
            + rates_text(results, "groomer")
            + " Points are test-split readings, not projections: the "
            "same model on this run's test split and, where asked, retrained on datasets regenerated at other "
            "base rates, each at a threshold chosen on its test split at an FPR budget (Wilson intervals); where "
            "they leave the band, the projection and a retrained reading part. Right: the FPR a classifier with "
            f"this TPR would need for precision 0.95 and 0.99 at each π ({DESIGN}: base-rate analysis).",
        ),
    ]
    if not figures.fig_base_rate(results, out_dir / "base_rate.png"):
        blocks.append(Paragraph("No base-rate analysis in these results (no groomer operating point)."))
        return blocks, []
    blocks.append(Figure("base_rate.png", "groomer precision against base rate"))
    blocks += base_rate_tables(results.analysis, src.kind if src is not None else "point")
    return blocks, ["base_rate.png"]


def section_projection(results: RunResults, out_dir: Path) -> Section:
    """Expected counts at platform scale, each task's rows with the rates they read, beside
    content hash matching."""
    an = results.analysis
    if not an.projections:
        return [], []
    blocks: list[Block] = [
        Heading(2, "Platform projection"),
        Paragraph(
            f"Expected counts if the primary model ran over {fmt_count(an.platform_accounts)} accounts, every flag "
            f"reviewed for {an.minutes_per_review} minutes ({DESIGN}: platform projection). Each task says what "
            "it reads: groomers, where the run has the powered evaluation, its TPR and pooled FPR at the "
            "threshold set on the validation split at FPR <= 1e-3; otherwise the test split at the "
            f"precision-{fmt_precision(results.precision)} threshold chosen on it. Each column is read at a "
            "stated corner of the TPR and FPR intervals: at a point, every column at the TPR and FPR measured, "
            "precision and innocent per offender with intervals from (TPR low, FPR high) to (TPR high, FPR low). "
            "Where a count of zero stands in a rate (no false positive seen, no offender flagged, or nothing "
            "flagged), offenders flagged, accounts flagged, innocent flagged and reviewer hours are upper bounds "
            "at (TPR high, FPR high), marked '<='; a precision lower bound ('precision >=') and the innocent-per-"
            "offender upper bound beside it are at (TPR low, FPR high), a precision upper bound ('precision <=') "
            "and the innocent-per-offender lower bound at (TPR high, FPR low); each task below says which holds. "
            "Beside viral sharers only, "
            "content hash matching at the same base rate: it finds re-shared *known* images (paper 8.2); grooming "
            "produces new ones, so it is no reference for groomers.",
        ),
    ]
    for task, rows in an.projections.items():
        if not rows:
            continue
        src = figures.projection_rates(results, task)
        blocks.append(Heading(3, task))
        blocks.append(Paragraph(rates_text(results, task)))
        header = PROJECTION_COLUMNS + (HASH_COLUMNS if task == HASH_TASK else [])
        blocks.append(Table(header, projection_rows(rows, task == HASH_TASK, src.kind if src else "point")))
    return blocks, []


HARM_HEADING = Heading(2, "Detection before harm")
TEST_SPLIT_HEADING = Heading(3, "On the training world's test split")  # beside the enriched-world reading


def section_harm(results: RunResults, out_dir: Path) -> Section:
    """Detection before harm: on an enriched world with positive controls (`analysis.timely`)
    where the run computed it, and on the training world's test split where the results
    hold that reading; a note when they hold neither."""
    blocks, pngs = section_timely(results, out_dir)
    if not blocks:
        return section_harm_test_split(results, out_dir)
    if results.analysis.detection_before_harm is not None:
        old, old_pngs = section_harm_test_split(results, out_dir, heading=TEST_SPLIT_HEADING)
        blocks, pngs = blocks + old, pngs + old_pngs
    return blocks, pngs


def section_harm_test_split(results: RunResults, out_dir: Path, heading: Heading = HARM_HEADING) -> Section:
    """Detection before harm over the checkpoints on the training world's test split, at the
    operating threshold (`analysis.detection_before_harm`)."""
    p = fmt_precision(results.precision)
    blocks: list[Block] = [
        heading,
        Paragraph(
            "Test groomers are scored on the data up to each checkpoint day; a harm event counts as detected "
            f"before harm when its offender crossed the precision-{p} threshold at a checkpoint strictly before "
            "the event. The red line is the share of all harm events that have happened by day d, the blue line "
            "the share whose offender was flagged by day d, before the event (which may come later: blue above red "
            "means flags run ahead of harm); the blue line ends at the share preceded by a flag, and the rest is "
            f"harm a classifier could not have prevented ({DESIGN}: detection-before-harm; paper 7.2.7).",
        ),
    ]
    dbh = results.analysis.detection_before_harm
    if dbh is None or not figures.fig_harm(dbh, out_dir / "detection_before_harm.png"):
        blocks.append(
            Paragraph(
                "Not in these results. Detection before harm is measured on an enriched world as part of the "
                "powered evaluation, which this run did not compute (`--no-powered`, or no groomer in the training "
                "world). Nor do they hold a reading on the training world's test split at the operating threshold; "
                f"where results carry that reading, it is absent when the primary model has no precision-{p} "
                "threshold for groomers (it never reaches that precision) or the test split holds no groomer.",
            )
        )
        return blocks, []
    blocks.append(Figure("detection_before_harm.png", "harm events over time and those preceded by a flag"))
    blocks.append(
        BulletList(
            [
                f"share of harm events preceded by a flag: {fmt_interval(dbh.share)} (Wilson); resampling "
                f"offenders instead of events: [{', '.join(fmt_value(v, 2) for v in dbh.ci_by_offender)}]",
                f"offenders with harm in the test split: {dbh.offenders_with_harm}; test groomers "
                f"{dbh.test_groomers}, flagged by the last checkpoint {dbh.test_groomers_flagged_by_end}",
                f"threshold {fmt_value(dbh.threshold)}; checkpoints (days) {dbh.checkpoint_days}",
            ],
        )
    )
    return blocks, ["detection_before_harm.png"]


def section_levels(results: RunResults, out_dir: Path) -> Section:
    """Recall per groomer sophistication level."""
    blocks: list[Block] = [
        Heading(2, "Recall by groomer sophistication"),
        Paragraph(
            f"Share of each level's test groomers flagged at each model's precision-{fmt_precision(results.precision)} "
            "threshold (set on all groomers), with Wilson intervals and k/n per bar. L0 are careless, mass-contact "
            "offenders; L3 competent ones who act one-to-few and mimic children, so the paper expects recall to "
            f"fall with the level ({DESIGN}: recall per groomer sophistication level; paper 7.2.6).",
        ),
    ]
    if not figures.fig_levels(results, out_dir / "recall_by_level.png"):
        blocks.append(Paragraph("Not in these results: no model recorded recall by level."))
        return blocks, []
    blocks.append(Figure("recall_by_level.png", "groomer recall by sophistication level"))
    return blocks, ["recall_by_level.png"]


def section_drift(results: RunResults, out_dir: Path) -> Section:
    """Period 1 against period 2 of the drift variant."""
    blocks: list[Block] = [
        Heading(2, "Drift"),
        Paragraph(
            "The primary model trained on period-1 labels of a drift variant of the scenario, read on the "
            "period-1 test accounts (in-period) and the period-2 ones, where the offender mix has shifted "
            "towards competent, adaptive groomers (paper 7.2.4). A drop from the blue to the orange bar is what "
            "tradecraft drift costs; intervals are 95% stratified bootstrap.",
        ),
    ]
    drift = results.analysis.drift
    if drift is None or not figures.fig_drift(drift, out_dir / "drift.png"):
        blocks.append(Paragraph("Not in these results: the run had drift off (`drift: false`)."))
        return blocks, []
    blocks.append(Figure("drift.png", "period 1 against period 2 metrics"))
    rows = []
    for t, d in drift.tasks.items():
        for period, m in (("1", d.period1), ("2", d.period2)):
            rows.append(
                [
                    t,
                    period,
                    f"{m.n_positive} / {m.n_negative}",
                    fmt_interval(m.auroc),
                    fmt_interval(m.recall_at_p95),
                    fmt_interval(m.recall_at_p99),
                ]
            )
    blocks.append(Table(["task", "period", "n+ / n-", "AUROC", "recall@P0.95", "recall@P0.99"], rows))
    return blocks, ["drift.png"]


def section_files(results: RunResults, out_dir: Path) -> Section:
    """What the report directory holds."""
    return [
        Heading(2, "Files"),
        Paragraph(
            "`report.md` (figures as relative PNG links), `report.html` (self-contained, figures embedded), "
            "`headline.md` / `headline.html` / `headline.json` (the table above), and the PNG figures.",
        ),
    ], []


SECTIONS = (
    section_intro,
    section_powered,
    section_curves,
    section_validated,
    section_base_rate,
    section_projection,
    section_harm,
    section_levels,
    section_drift,
    section_files,
)


def build_report(results: RunResults, out_dir: Path) -> Section:
    """Draw every figure into `out_dir` and return the report blocks and the PNG names."""
    out_dir = Path(out_dir)
    blocks: list[Block] = []
    pngs: list[str] = []
    for section in SECTIONS:
        b, p = section(results, out_dir)
        blocks += b
        pngs += p
    return blocks, pngs
