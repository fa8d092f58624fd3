"""What a run measures beyond the per-task metrics, as plain functions with their definitions:
operating points with Wilson shares of TPR and FPR, ROC/PR curves, platform projections,
detection before harm at checkpoints, the empirical base-rate sweep, drift, and the headline
rows that summarise them.

Each returns `bench.results` records. The dataset cache and model training stay in
`bench.run.pipeline`, which hands these functions what they score: a fitted model, or a
callable that regenerates a dataset and retrains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict

import numpy as np

from bench.results import (
    GROOMER_THRESHOLD,
    Analysis,
    BaseRatePoint,
    Curves,
    DriftRecord,
    EmpiricalPoint,
    HeadlineRow,
    IntervalRecord,
    OperatingRecord,
    PoweredPoint,
    ProjectionRecord,
    ProjectionRow,
    RunResults,
    ShareRecord,
    ValidatedPoint,
    level_task,
    operating_key,
    recall_key,
)
from bench.setup.config import RunConfig
from bench.stats.base_rate import (
    BASE_RATES,
    analytic_curve,
    bounded_projection,
    empirical_point,
    hash_matching_projection,
    share_kind,
)
from bench.stats.intervals import Share, wilson_share
from bench.stats.metrics import evaluate_task, operating_point
from bench.stats.rates import Tally, rates, validation_thresholds
from common.vocabulary import SOPHISTICATION_LEVELS
from data_gen.config import Scenario

Step = Callable[[str], None]  # progress: called with a description at each step
EMPIRICAL_MAX_ACCOUNTS = 200_000  # default empirical base-rate points only up to this size
MAX_CURVE_POINTS = 2000  # curves longer than this are thinned for plots and artifacts
HEADLINE_RECALLS = (0.95, 0.99)  # the bootstrap recalls every task row of the headline shows
HASH_MATCHING_ROW = "viral_sharer: content hash matching (known images)"
VALIDATED_FPR = 1e-3  # the false-positive budget every task is also read at (validation thresholds)
# How a headline row marks a precision that is a bound (`bench.stats.rates.precision_kind`).
BOUNDS = {"lower bound": "precision >=", "upper bound": "precision <=", "nothing flagged": "nothing flagged"}


# ---------------------------------------------------------------- arrays by account id


# ---------------------------------------------------------------- one model, one task


def operating_points(y, s, precisions: Iterable[float]) -> dict[str, OperatingRecord]:
    """The operating point at each precision (`bench.stats.metrics.operating_point`), keyed by
    `operating_key`, with the Wilson shares of its TPR (flagged of the positives) and FPR
    (flagged of the negatives)."""
    out = {}
    for p in precisions:
        op = operating_point(y, s, p)
        out[operating_key(p)] = OperatingRecord.model_validate(
            {
                **asdict(op),
                "tpr_share": ShareRecord.model_validate(wilson_share(op.true_flagged, op.n_positive)),
                "fpr_share": ShareRecord.model_validate(wilson_share(op.false_flagged, op.n_negative)),
            }
        )
    return out


def curves(y: np.ndarray, s: np.ndarray) -> Curves:
    """ROC corners (scikit-learn's drop_intermediate) and one PR point per recall step:
    at most ~2 points per positive, so the high-precision corner where platforms operate is
    kept exactly; thinned evenly only beyond MAX_CURVE_POINTS. Empty without both classes."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    if not 0 < y.sum() < len(y):
        return Curves()
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=True)
    prec, rec, _ = precision_recall_curve(y, s)
    step = np.r_[np.diff(rec) != 0, True]  # last of each equal-recall run: its best precision
    prec, rec = prec[step], rec[step]

    def thin(*cols):
        n = len(cols[0])
        idx = np.unique(np.linspace(0, n - 1, min(MAX_CURVE_POINTS, n)).astype(int))
        return [np.asarray(c)[idx].round(6).tolist() for c in cols]

    f, t = thin(fpr, tpr)
    p, r = thin(prec, rec)
    return Curves.model_validate({"roc": {"fpr": f, "tpr": t}, "pr": {"precision": p, "recall": r}})


def validated_points(y, s, split: np.ndarray, world: str, precision: float) -> dict[str, ValidatedPoint]:
    """Thresholds set on the validation split (FPR budget 1e-3 on its negatives, and the
    operating precision on the split at its own prevalence), read on the test split: the
    operating point chosen as a platform would choose it, never on the data it is scored on."""
    y = np.asarray(y).astype(bool)
    val, test = split == "val", split == "test"
    thr = validation_thresholds(y[val], s[val], world, "val", (VALIDATED_FPR,), (precision,))
    thr.check_disjoint(world, "test")
    tp, fp = Tally.of(s[test & y], thr.values), Tally.of(s[test & ~y], thr.values)
    out = {}
    for i, (name, tpr, fpr) in enumerate(zip(thr.names, rates(tp), rates(fp), strict=True)):
        out[name] = ValidatedPoint(
            threshold={"name": name, "value": float(thr.values[i]), "set_on": {"world": world, "split": "val"}},
            tpr=tpr.as_dict(),
            fpr=fpr.as_dict(),
        )
    return out


# ---------------------------------------------------------------- platform projection


def projections(
    tpr: Share, fpr: Share, rates: Iterable[float], accounts: float, minutes_per_review: float
) -> list[ProjectionRow]:
    """Platform projection at each base rate from a TPR and an FPR with their intervals and
    counts (`bench.stats.base_rate.bounded_projection`, which says which corner of the two
    intervals each figure is read at): a reading with no false positive measures FPR = 0, which
    would project perfect precision; the FPR's upper bound says how far that holds, and the
    precision is a lower bound. Content hash matching at the same rate beside."""
    rows = []
    for pi in rates:
        b = bounded_projection(tpr, fpr, pi, accounts, minutes_per_review)
        hm = hash_matching_projection(pi, accounts, minutes_per_review)
        rows.append(
            ProjectionRow(
                base_rate=pi,
                classifier=None if b["classifier"] is None else ProjectionRecord.model_validate(b["classifier"]),
                precision=_bounded(*b["precision"]),
                innocent_per_offender=_bounded(*b["innocent_per_offender"]),
                hash_matching=ProjectionRecord.model_validate(hm),
            )
        )
    return rows


def operating_projections(op: OperatingRecord, rates: Iterable[float], cfg: RunConfig) -> list[ProjectionRow]:
    """`projections` at a test-split operating point (its threshold chosen on that split),
    with the Wilson intervals of its TPR and FPR; without a positive or a negative in the
    split the rates are NaN and there is nothing to project."""
    tpr, fpr = _wilson(op.tpr_share), _wilson(op.fpr_share)
    return projections(tpr, fpr, rates, cfg.platform_accounts, cfg.minutes_per_review)


def powered_projections(
    pt: PoweredPoint, rates: Iterable[float], accounts: float, minutes: float
) -> list[ProjectionRow]:
    """`projections` at a powered point: the TPR at the scenario's level mix on enriched worlds
    and the FPR pooled over fresh negative worlds, with their exact intervals, at a threshold
    set on the training world's validation split."""
    return projections(_as_share(pt.tpr_at_scenario_mix), _as_share(pt.fpr), rates, accounts, minutes)


def read_groomers_powered(an: Analysis) -> bool:
    """Replace the groomer projection rows and the base-rate curve, read on the test split at
    a threshold chosen on it, by the powered evaluation's (realistic labels, the validation
    threshold at FPR 1e-3) where the run has it, at the same base rates, and record it in
    `groomer_source`: the one thing that says where groomer projections come from
    (`Analysis.groomer_point`). Returns whether it did."""
    pt = an.realistic_point(GROOMER_THRESHOLD)
    if pt is None:
        return False
    rates = [r.base_rate for r in an.projections.get("groomer", [])]
    an.projections["groomer"] = powered_projections(pt, rates, an.platform_accounts, an.minutes_per_review)
    tpr, fpr = _as_share(pt.tpr_at_scenario_mix), _as_share(pt.fpr)
    an.base_rate_curve = [BaseRatePoint.model_validate(r) for r in analytic_curve(tpr, fpr, BASE_RATES)]
    an.groomer_source = "powered"
    return True


def _as_share(r) -> Share:
    """An exact-interval rate (`RateRecord`) in the shape `bench.stats.base_rate` reads."""
    return Share(r.value, r.low, r.high, r.k, r.n)


def _wilson(r: ShareRecord) -> Share:
    """A Wilson share record (`ShareRecord`) as `bench.stats.base_rate` reads it."""
    return Share(r.value, r.ci_low, r.ci_high, r.k, r.n)


def _bounded(value: float, low: float, high: float) -> IntervalRecord:
    return IntervalRecord(value=value, ci_low=low, ci_high=high)


# ---------------------------------------------------------------- empirical base rate


def empirical_rates(cfg: RunConfig, scn: Scenario) -> list[float]:
    """The groomer rates at which to regenerate and retrain: the run's `empirical_rates`; else
    none when the powered evaluation runs; else 1e-2 and 3e-3 where above the scenario's own
    rate and each leaves >= ~30 test groomers, and none beyond EMPIRICAL_MAX_ACCOUNTS
    (`lowbase sweep` does those)."""
    if cfg.empirical_rates is not None:
        return list(cfg.empirical_rates)
    if cfg.powered:
        return []  # the powered evaluation measures rarer rates directly; --empirical-rates asks for both
    if scn.accounts > EMPIRICAL_MAX_ACCOUNTS:
        return []  # two more datasets of this size would double the run: `lowbase sweep` does it
    test_share = 1 - scn.splits.train - scn.splits.val
    return [r for r in (1e-2, 3e-3) if r > scn.harm.groomer_rate and scn.accounts * r * test_share >= 30]


def empirical_base_rate(
    rates: Iterable[float],
    fpr: float,
    retrained: Callable[[float], tuple[np.ndarray, np.ndarray]],
    own: tuple[float, np.ndarray, np.ndarray] | None,
) -> list[EmpiricalPoint]:
    """`bench.stats.base_rate.empirical_point` at the main run's false-positive budget `fpr`, for
    each groomer rate (`retrained(rate)` gives the test labels and scores of the primary
    model regenerated and retrained at that rate) and for this run's own data (`own`: its
    groomer rate, test labels and scores, when they hold both classes); rarest last."""
    rows = [EmpiricalPoint.model_validate({"knob": rate, **empirical_point(*retrained(rate), fpr)}) for rate in rates]
    if own is not None:
        knob, y, s = own
        rows.append(EmpiricalPoint.model_validate({"knob": knob, "own": True, **empirical_point(y, s, fpr)}))
    return sorted(rows, key=lambda r: -r.base_rate)


# ---------------------------------------------------------------- drift


def drift_analysis(ds, period: np.ndarray, scores: dict[str, np.ndarray], resamples: int) -> DriftRecord:
    """Every task's metrics on the test accounts of period 1 (in-period) and period 2
    (drifted) separately; `scores` per task and `period` per account id, from the model
    trained on period-1 labels of the drift variant `ds`."""
    test = ds.split_mask("test")
    truth = ds.truth_by_id(*scores)
    tasks = {}
    for task, s in scores.items():
        y = truth[task]
        tasks[task] = {
            f"period{p}": evaluate_task(y[test & (period == p)], s[test & (period == p)], resamples) for p in (1, 2)
        }
    return DriftRecord.model_validate({"fingerprint": ds.meta["fingerprint"], "tasks": tasks})


# ---------------------------------------------------------------- headline


def headline_rows(results: RunResults) -> list[HeadlineRow]:
    """Rows of the headline table (docs/design.md): task and scenario; AUROC, recall@P0.95,
    recall@P0.99 (bootstrap metrics of the test split), recall at the FPR-1e-3 and
    precision-0.95 thresholds set on the validation split, precision at the base rate,
    innocent accounts flagged per offender found at platform scale, detection before harm;
    then recall per groomer level. Figures are the primary model's; `bound` marks a precision
    that is a bound (`projection_source`).

    Where the run has the powered evaluation, the groomer rows read it: precision at each
    base rate from the TPR of the enriched world(s) and the FPR pooled over fresh negatives
    at the validation FPR-1e-3 threshold, and the level rows are the enriched world's
    offenders at the validation thresholds. Without it, they read the test split at its own
    precision-0.95 threshold (`recall_key`)."""
    m = results.primary_entry
    an = results.analysis
    level_key = recall_key(results.precision)
    extra = [] if level_key in {recall_key(p) for p in HEADLINE_RECALLS} else [results.precision]
    rows = []
    for task, met in m.metrics.items():
        projected, kind, powered = projection_source(results, task)
        for proj in projected:
            measured = abs(proj.base_rate - results.base_rates[task]) < 1e-15
            at = "measured" if measured else "projected"
            row = {
                "task": task,
                "scenario": f"{at} at {proj.base_rate:.3g}" + (" (powered)" if powered and not measured else ""),
                "n_positive": met.n_positive if measured else None,
                "auroc": met.auroc if measured else None,
                **{recall_key(p): met.recall_at(p) if measured else None for p in (*HEADLINE_RECALLS, *extra)},
                **(_validated_cells(m.validated.get(task, {}), results.precision) if measured else {}),
                "precision_at_base_rate": None if kind == "nothing flagged" else proj.precision,
                "innocent_per_offender": None if kind == "nothing flagged" else proj.innocent_per_offender,
                "bound": BOUNDS.get(kind),
                "detection_before_harm": None,
            }
            if measured and an.timely and task in an.timely:  # on the enriched world: see the powered table
                row["detection_before_harm"] = an.timely[task].share
            elif task == "groomer" and measured and an.detection_before_harm is not None:
                row["detection_before_harm"] = an.detection_before_harm.share
            rows.append(HeadlineRow.model_validate(row))
        if task == "groomer":
            rows.extend(_level_rows(m, an, level_key, results.precision))
    return _with_hash_matching(rows, an)


def projection_source(results: RunResults, task: str) -> tuple[list[ProjectionRow], str, bool]:
    """A task's projection rows, what their precision is (`bench.stats.rates.precision_kind`
    of the counts they read: a point or a bound) and whether they read the powered evaluation.
    Groomers whose rows read the powered point (`Analysis.groomer_point`): the rows recomputed from it
    at the recorded base rates (`powered_projections`, as `read_groomers_powered` wrote them),
    so that stale rows never show another reading as the groomer precision; every other
    reading: the rows as recorded, at the test split's operating point."""
    an = results.analysis
    rows = an.projections.get(task, [])
    pt = an.groomer_point() if task == "groomer" else None
    if pt is not None:
        rates = [r.base_rate for r in rows]
        rows = powered_projections(pt, rates, an.platform_accounts, an.minutes_per_review)
        return rows, share_kind(_as_share(pt.tpr_at_scenario_mix), _as_share(pt.fpr)), True
    op = results.primary_operating(task)
    if op is None:
        return rows, "undefined", False
    return rows, share_kind(_wilson(op.tpr_share), _wilson(op.fpr_share)), False


def _with_hash_matching(rows: list[HeadlineRow], an) -> list[HeadlineRow]:
    """Content hash matching finds re-shared *known* images: a reference for viral sharers
    (paper 8.2), beside their row, never for groomers, whose images are new."""
    viral = an.projections.get("viral_sharer")
    if viral:
        hm = viral[0].hash_matching
        at = next(i for i, r in enumerate(rows) if r.task == "viral_sharer") + 1
        row = {
            "task": HASH_MATCHING_ROW,
            "scenario": f"projected at {hm.base_rate:.3g}",
            "precision_at_base_rate": {"value": hm.true_flagged / hm.flagged},
            "innocent_per_offender": {"value": hm.innocent_per_offender_found},
        }
        rows.insert(at, HeadlineRow.model_validate(row))
    return rows


def _share(r) -> ShareRecord:
    """A powered/validated rate (exact interval) in the headline's share shape."""
    return ShareRecord(value=r.value, ci_low=r.low, ci_high=r.high, k=r.k, n=r.n)


def _validated_cells(points: dict, precision: float) -> dict:
    fpr, prec = points.get("fpr<=0.001"), points.get(f"precision>={precision:g}")
    return {
        "val_recall_at_fpr_1e3": _share(fpr.tpr) if fpr else None,
        "val_recall_at_precision": _share(prec.tpr) if prec else None,
    }


def _level_rows(m, an, level_key: str, precision: float) -> list[HeadlineRow]:
    """Per groomer level: on the enriched world at the validation thresholds when the run
    has the powered evaluation, else on the test split at its own operating threshold."""
    fpr, prec = an.realistic_point(GROOMER_THRESHOLD), an.realistic_point(f"precision>={precision:g}")
    rows = []
    for lvl in SOPHISTICATION_LEVELS:
        if fpr is not None:
            row = {
                "task": level_task(lvl),
                "scenario": f"enriched world ({an.powered.enriched_rate:g})",
                "n_positive": fpr.tpr_by_level[lvl].n,
                "val_recall_at_fpr_1e3": _share(fpr.tpr_by_level[lvl]),
                "val_recall_at_precision": _share(prec.tpr_by_level[lvl]) if prec is not None else None,
            }
            if an.timely and "groomer" in an.timely and lvl in an.timely["groomer"].by_level:
                row["detection_before_harm"] = an.timely["groomer"].by_level[lvl]
        else:
            r = m.recall_by_level[lvl]
            row = {"task": level_task(lvl), "scenario": "measured", "n_positive": r.n, level_key: r}
        rows.append(HeadlineRow.model_validate(row))
    return rows
