"""Records of the ceiling (`bench.rare.ceiling`): per model class a learning curve of TPR
per level against truth-labelled offenders, its plateau verdicts, and the ceiling per level
(the best class), with the worlds it rests on and the full powered figures of every point;
and its reconciliation with the separability oracle (`bench.rare.ceiling_reconcile`): each
class's AUROC per matched comparison on a world it never saw, beside the oracle's.

Also what every reader of a ceiling must read the same way, so the computation, the report,
the console and MLflow cannot disagree: the plateau verdicts' words, the curve points'
names, whether a ceiling and a run were read on the same worlds (`same_worlds`), and the
decomposition's arithmetic per level (`LevelGap`, `level_gaps`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.results.powered import REALISTIC, PoweredRecord, RateRecord
from bench.results.records import Num, Record
from common.vocabulary import SOPHISTICATION_LEVELS

REACHED = "reached"  # the plateau verdict that makes a ceiling a measurement, not a bound
NOT_REACHED = "not reached: lower bound"
# A ceiling's plan by default (`bench.rare.ceiling.CeilingPlan`): one enriched TPR world and
# a flat million negatives. A run's suggested `lowbase ceiling` command names what differs.
CEILING_TPR_WORLDS = 1
CEILING_FPR_ACCOUNTS = 1_000_000
CEILING_ENRICHED_RATE = 1e-2  # `bench.rare.powered.ENRICHED_RATE`, which a test holds it to


def curve_name(model: str, size: int) -> str:
    """The powered model name of a class's curve point at `size` labelled offenders."""
    return f"{model} @ {size}"


class CurvePoint(Record):
    """One point of a learning curve: the labelled offenders it was trained on (in train +
    val, per level) and, per threshold, the FPR on negative worlds and the TPR per level on
    enriched worlds."""

    offenders: int
    by_level: dict[str, int]
    fpr: dict[str, RateRecord]
    tpr_by_level: dict[str, dict[str, RateRecord]]  # threshold -> level -> rate


class VerdictRecord(Record):
    """`bench.rare.learning_curve.plateau_verdict` of one level at one threshold."""

    verdict: str
    last: int
    previous: int | None
    change: Num
    half_width: Num


class ClassCurve(Record):
    """One model class's learning curve (points ascending) and its plateau verdicts."""

    curve: list[CurvePoint]
    plateau: dict[str, dict[str, VerdictRecord]]  # threshold -> level -> verdict


class LevelCeiling(Record):
    """The ceiling of a level at a threshold: the best class's TPR at its largest point."""

    model: str
    tpr: RateRecord
    verdict: str

    @property
    def lower_bound(self) -> bool:
        """Anything but a reached plateau leaves the ceiling a lower bound."""
        return self.verdict != REACHED


class AurocRecord(Record):
    """A score's AUROC of a comparison's positives against its whole matched reference
    (`bench.stats.references`), with its 95% DeLong interval; `auroc` None when a side is
    empty."""

    reference: str
    n_positive: int
    n_reference: int
    auroc: Num | None = None
    ci_low: Num | None = None
    ci_high: Num | None = None


class OracleFigure(Record):
    """The separability oracle's out-of-fold AUROC of one comparison (capped sides: the
    counts it used), `auroc` None with a `note` where too few accounts were there."""

    auroc: Num | None
    ci_low: Num | None = None
    ci_high: Num | None = None
    positives_used: int
    reference_used: int
    note: str | None = None


class ReconciledRow(Record):
    """One comparison of the reconciliation table (`lowbase ceiling --reconcile`): the
    oracle and every ceiling class on the same world and reference, and for a level the
    ceiling's TPR per threshold (None for the task as a whole: the ceiling is per level)."""

    comparison: str  # "groomer" or "groomer/L0" ..
    reference: str
    n_positive: int
    n_reference: int
    oracle: OracleFigure | None  # None: the oracle has no such comparison on this world
    models: dict[str, AurocRecord]
    ceiling: dict[str, LevelCeiling] | None = None  # threshold -> the level's ceiling


class ReconciliationRecord(Record):
    """The ceiling's classes scored on the reconciliation world: the first TPR world, which
    no model trained on and no threshold was set on. `table` is filled by `lowbase ceiling
    --reconcile` (the oracle is trained then, on the same world) and never cached."""

    world: dict[str, Any]  # seed and fingerprint
    points: dict[str, str]  # class -> the curve point scored (its largest)
    models: dict[str, dict[str, AurocRecord]]  # class -> comparison -> AUROC
    table: list[ReconciledRow] | None = None


class CeilingRecord(Record):
    """The ceiling of one scenario, visibility and seed (docs/design.md "Ceiling")."""

    task: str
    scenario: str
    visibility: str
    seed: int
    generator: str
    key: str  # the cache key (`bench.rare.ceiling.ceiling_key`)
    settings: dict[str, Any]
    worlds: dict[str, Any]  # train, calibration, tpr, fpr: seed and fingerprint of each
    pool: dict[str, int]  # truth-labelled offenders per level in the training worlds' train + val
    thresholds_set_on: dict[str, str]
    models: dict[str, ClassCurve]
    ceiling: dict[str, dict[str, LevelCeiling]]  # threshold -> level -> ceiling
    powered: PoweredRecord  # every curve point's powered figures, as a run records its own
    seconds: Num = float("nan")
    # None in a record computed without it: `lowbase ceiling --refresh` recomputes one.
    reconciliation: ReconciliationRecord | None = None


# ---------------------------------------------------------------- pairing


def fingerprints(worlds: dict, role: str) -> list[str]:
    """The sorted fingerprints of a worlds log's `role` ("tpr", "fpr", "train")."""
    found = worlds.get(role)
    return sorted(str(w.get("fingerprint")) for w in found if isinstance(w, dict)) if isinstance(found, list) else []


def paired_worlds(mine: dict, theirs: dict) -> bool:
    """Whether two worlds logs name exactly the same TPR and FPR worlds (by fingerprint)."""
    return all(fingerprints(mine, r) and fingerprints(mine, r) == fingerprints(theirs, r) for r in ("tpr", "fpr"))


def same_worlds(record: CeilingRecord, run: PoweredRecord) -> bool:
    """Whether the ceiling was read on exactly the run's TPR and FPR worlds (paired figures)."""
    return paired_worlds(record.worlds, run.worlds)


# ---------------------------------------------------------------- decomposition


def _gap(c: RateRecord, r: RateRecord | None) -> tuple[float, float, float] | None:
    """c − r and the differences both 95% intervals allow [c low − r high, c high − r low]."""
    if r is None or not r.n or not math.isfinite(r.value):
        return None
    return c.value - r.value, c.low - r.high, c.high - r.low


@dataclass(frozen=True)
class LevelGap:
    """One level's decomposition at one threshold: the ceiling, the realistic figure (None
    when realistic labels have none there) and, when the run's primary class is one of the
    ceiling's, that class's own TPR at its largest point and its plateau verdict. The labels
    gap holds more than labels: the ceiling's class may not be the run's, and its thresholds
    were set on a calibration world rather than a validation split; the same-class gap takes
    the class out of it."""

    level: str
    ceiling: LevelCeiling
    realistic: RateRecord | None
    primary: str | None = None  # the run's primary class, when the ceiling has a curve of it
    same_class: RateRecord | None = None
    same_class_verdict: str | None = None

    @property
    def bound(self) -> bool:
        return self.ceiling.lower_bound

    @property
    def same_class_bound(self) -> bool:
        """The primary class's own figure is a lower bound where its curve had not reached
        its plateau."""
        return self.same_class_verdict != REACHED

    def behaviour(self) -> tuple[float, float, float]:
        """1 − ceiling TPR and its interval (the ceiling's exact interval, mirrored)."""
        c = self.ceiling.tpr
        return 1 - c.value, 1 - c.high, 1 - c.low

    def labels(self) -> tuple[float, float, float] | None:
        """Ceiling TPR − realistic TPR, and the differences both 95% intervals allow
        [ceiling low − realistic high, ceiling high − realistic low]."""
        return _gap(self.ceiling.tpr, self.realistic)

    def same_class_labels(self) -> tuple[float, float, float] | None:
        """The primary class's own largest point − realistic TPR, with its interval; None
        when the ceiling has no curve of the run's primary class."""
        return None if self.same_class is None else _gap(self.same_class, self.realistic)

    def labels_distinguishable(self) -> bool:
        """The labels gap is told from zero when the two intervals do not overlap."""
        gap = self.labels()
        return gap is not None and (gap[1] > 0 or gap[2] < 0)


def _largest(
    record: CeilingRecord, cls: str | None, threshold: str, level: str
) -> tuple[RateRecord | None, str | None]:
    """A class's TPR at its largest curve point and its plateau verdict there."""
    curve = record.models.get(cls) if cls is not None else None
    if curve is None or not curve.curve:
        return None, None
    verdict = curve.plateau.get(threshold, {}).get(level)
    return curve.curve[-1].tpr_by_level.get(threshold, {}).get(level), None if verdict is None else verdict.verdict


def level_gaps(
    record: CeilingRecord, run: PoweredRecord | None, threshold: str, primary: str | None = None
) -> list[LevelGap]:
    """Per level (in level order) the ceiling at `threshold`, realistic labels' TPR there
    and, when the run's `primary` class is one of the ceiling's, that class's own largest
    curve point."""
    ceilings = record.ceiling.get(threshold, {})
    model = run.models.get(REALISTIC) if run is not None else None
    pt = model.by_threshold.get(threshold) if model is not None else None
    same = primary if primary in record.models else None
    return [
        LevelGap(
            lvl,
            ceilings[lvl],
            pt.tpr_by_level.get(lvl) if pt is not None else None,
            same,
            *_largest(record, same, threshold, lvl),
        )  # fmt: skip
        for lvl in SOPHISTICATION_LEVELS
        if lvl in ceilings
    ]
