"""Records of the powered (case-control) evaluation: rates pooled over worlds, thresholds,
precision at base rates and its bounds, label supply, detection before harm on enriched worlds."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, model_validator

from bench.results.records import Num, Record, ShareRecord

# The label variants of a run's powered evaluation (docs/design.md "Decomposition"): the
# model as trained, and its class refit on the training world's truth, which is a label
# budget of however many offenders that one world holds (the ceiling is `lowbase ceiling`).
REALISTIC = "realistic labels"
TRAINING_TRUTH = "training-world truth"

# ---------------------------------------------------------------- powered evaluation


class RateRecord(Record):
    """`bench.stats.rates.Rate`: k of n with its exact (Clopper-Pearson) 95% interval."""

    value: Num
    low: Num
    high: Num
    k: int
    n: int


class PrecisionBound(Record):
    """`bench.stats.rates.precision_at`: precision at a base rate; `kind` says whether the
    value is a point or a bound (no false positive seen: 'lower bound')."""

    base_rate: float
    value: Num
    low: Num
    high: Num
    kind: str


class ThresholdRecord(Record):
    """A score threshold and where it was set (world fingerprint, split): never where it is scored."""

    name: str
    value: Num
    set_on: dict[str, str]


class ValidatedPoint(Record):
    """One task at a threshold set on the training world's validation split, read on its
    test split (`bench.run.analyses.validated_points`)."""

    threshold: ThresholdRecord
    tpr: RateRecord
    fpr: RateRecord


class PoweredPoint(Record):
    """Everything measured at one threshold: FPR pooled over negative worlds, TPR per level
    on enriched worlds and at the scenario's mix, the training world's test split at the
    same threshold, precision at base rates and the smallest base rate supporting a precision."""

    fpr: RateRecord
    tpr_by_level: dict[str, RateRecord]
    tpr_at_scenario_mix: RateRecord
    test_split: dict[str, RateRecord]
    precision: list[PrecisionBound]
    smallest_base_rate: dict[str, Num]


class LabelSupply(Record):
    """What a variant was trained on: labelled offenders in train and val (`reachable`
    False: the training world holds fewer offenders than the budget)."""

    model_config = ConfigDict(extra="allow")

    reachable: bool
    train: int | None = None
    val: int | None = None
    total: int | None = None


class PoweredModel(Record):
    thresholds: list[ThresholdRecord]
    by_threshold: dict[str, PoweredPoint]
    labels: LabelSupply | None = None


class PoweredRecord(Record):
    """`bench.rare.powered.powered_evaluation` of the primary model and its label variants
    (realistic labels, training-world truth, label budgets): docs/design.md "Evaluation design for rare harms"."""

    task: str
    visibility: str
    worlds: dict[str, Any]
    enriched_rate: float
    scenario_mix: list[float]
    models: dict[str, PoweredModel]
    unreachable: dict[str, LabelSupply] = {}  # label budgets the training world cannot supply

    @model_validator(mode="before")
    @classmethod
    def _training_truth_by_its_name(cls, data: Any) -> Any:
        """Results written before the variant had its name call it "oracle (truth)": it is
        read under the name that says what it is, the training world's truth."""
        if isinstance(data, dict) and isinstance(data.get("models"), dict) and "oracle (truth)" in data["models"]:
            data = {**data, "models": {TRAINING_TRUTH if k == "oracle (truth)" else k: v
                                       for k, v in data["models"].items()}}  # fmt: skip
        return data


class CertifiedRecord(PoweredRecord):
    """A `lowbase certify` of a run's primary model (`bench.run.tracking.certified_of`): the
    powered figures on its own worlds, and the MLflow run that holds them."""

    mlflow_run: str | None = None


class TimelyRecord(Record):
    """Detection before harm for one task on an enriched world (`bench.rare.before_harm`): at
    each checkpoint, the threshold at the FPR budget set on the training world's validation
    split scored as of that day."""

    fpr_budget: float
    world: str
    checkpoint_days: list[int]
    thresholds: list[Num]
    fpr_by: list[Num] = []  # the world's own negatives flagged at each checkpoint (read, never used to set)
    share: ShareRecord
    ci_by_offender: tuple[Num, Num]
    harm_share_by: list[Num]
    flagged_before_harm_by: list[Num]
    offenders: int
    offenders_with_harm: int
    harm_events: int
    flagged_by_end: int
    harm: str  # what counts as a harm event for the task
    by_level: dict[str, ShareRecord] = {}  # groomers: the share per offender sophistication level
