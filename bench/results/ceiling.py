"""Records of the ceiling (`bench.rare.ceiling`): per model class a learning curve of TPR
per level against truth-labelled offenders, its plateau verdicts, and the ceiling per level
(the best class), with the worlds it rests on and the full powered figures of every point."""

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
