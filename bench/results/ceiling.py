"""Records of the ceiling (`bench.rare.ceiling`): per model class a learning curve of TPR
per level against truth-labelled offenders, its plateau verdicts, and the ceiling per level
(the best class), with the worlds it rests on and the full powered figures of every point;
and its reconciliation with the separability oracle (`bench.rare.ceiling_reconcile`): each
class's AUROC per matched comparison on a world it never saw, beside the oracle's."""

from __future__ import annotations

from typing import Any

from bench.results.powered import PoweredRecord, RateRecord
from bench.results.records import Num, Record


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
