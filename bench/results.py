"""The results of one `lowbase run`, as a schema: what the pipeline builds, results.json holds,
and the report, the MLflow logger, the CLI and sweeps read.

Pydantic models rather than TypedDicts plus a validator: the run config and the scenario are
already pydantic models, so one mechanism parses a results.json, names the field of any
problem (`common.files.validate_model`), gives attribute access to every consumer, and
converts the dataclasses of the analyses (`Share`, `OperatingPoint`, `Projection`) with
`from_attributes`; a TypedDict would need a hand-written validator beside it.

JSON: `dump_results` writes strict JSON (`common.files.jsonable`: NaN as null, infinity as
"inf"/"-inf"); a float field reads null back as NaN and "inf" as infinity (`Num`), so the
round trip loses nothing. A section the run did not compute (detection before harm without
an operating threshold, drift when it is off, an ROC curve without both classes) is left out
rather than written as null: models dump with `exclude_unset`, so a file that was read is
written back with the same keys.

The run config and the scenario are records, not the live `RunConfig`/`Scenario` models,
whose validators load the model registry and would judge a finished run by today's rules:
the config record mirrors `RunConfig`'s fields; the scenario record checks the fields the
report reads and carries every other section as written (logged as MLflow params).

Operating points are keyed by `operating_key(precision)` ("p95" for 0.95), the one place that
names a precision; the per-level recall is measured at the run's operating precision and
named after it (`recall_key`: "recall_at_p95" at 0.95, "recall_at_p90" at 0.90).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

from bench.errors import ResultsError
from common.files import dumps_json, read_mapping, validate_model
from common.vocabulary import SOPHISTICATION_LEVELS

SECOND_PRECISION = 0.99  # the stricter operating point recorded beside the run's own
RECALL_KEY = re.compile(r"recall_at_p\d+")


# ---------------------------------------------------------------- names


def operating_key(precision: float) -> str:
    """The key of the operating point at `precision`: "p95" for 0.95, "p99" for 0.99."""
    return f"p{round(precision * 100)}"


def recall_key(precision: float) -> str:
    """The name of a recall read at `precision` ("recall_at_p95" at 0.95): a bootstrap
    metric of `bench.metrics`, and the per-level recall at the run's operating threshold in
    the headline and in MLflow (`groomer/recall_at_p95_L2`)."""
    return f"recall_at_{operating_key(precision)}"


def key_precision(key: str) -> float:
    """The precision a key names: "p95" or "recall_at_p95" -> 0.95."""
    return int(key.rsplit("p", 1)[-1]) / 100


def level_task(level: str) -> str:
    """The headline task label of a groomer sophistication level ("groomer L2")."""
    return f"groomer {level}"


# ---------------------------------------------------------------- numbers


def _num_in(x: Any) -> Any:
    """JSON's stand-ins for floats it cannot hold: null -> NaN, "inf"/"-inf" -> +-inf."""
    if x is None:
        return math.nan
    if isinstance(x, str):
        if x in ("inf", "-inf", "nan"):
            return float(x)
        raise ValueError(f"expected a number, null or 'inf'/'-inf', got {x!r}")
    if isinstance(x, bool):
        raise ValueError("expected a number, got a boolean")
    return x


Num = Annotated[float, BeforeValidator(_num_in)]  # a float that may be NaN or infinite


class Record(BaseModel):
    """Every part of the results: unknown keys are refused, dataclasses are read by attribute."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


class ValueRecord(Record):
    """A single projected figure without an interval (content hash matching)."""

    value: Num


class IntervalRecord(ValueRecord):
    """A value with its 95% interval (NaN where undefined)."""

    ci_low: Num
    ci_high: Num


class ShareRecord(IntervalRecord):
    """k of n with its Wilson interval (`bench.intervals.Share`)."""

    k: int
    n: int


def _estimate_kind(x: Any) -> str:
    if isinstance(x, Mapping):
        keys = set(x)
        return "share" if {"k", "n"} & keys else ("interval" if {"ci_low", "ci_high"} & keys else "value")
    if isinstance(x, ShareRecord) or hasattr(x, "k"):
        return "share"
    return "interval" if isinstance(x, IntervalRecord) or hasattr(x, "ci_low") else "value"


# Any of the three, told apart by their keys.
Estimate = Annotated[
    Annotated[ShareRecord, Tag("share")]
    | Annotated[IntervalRecord, Tag("interval")]
    | Annotated[ValueRecord, Tag("value")],
    Discriminator(_estimate_kind),
]


def estimate(x: Any) -> ValueRecord | None:
    """A mapping (or record) as the estimate record its keys make; None stays None."""
    if x is None or isinstance(x, ValueRecord):
        return x
    return _estimate_model(x).model_validate(x)


def _estimate_model(x: Any) -> type[ValueRecord]:
    return {"share": ShareRecord, "interval": IntervalRecord, "value": ValueRecord}[_estimate_kind(x)]


# ---------------------------------------------------------------- run inputs


class RunRecord(Record):
    """The run config as it ran (`bench.config.RunConfig` without `dask`, which changes where
    work runs, not what it computes)."""

    preset: str
    accounts: int | None
    seed: int
    overrides: dict[str, Any]
    models: list[str]
    visibility: str
    precision: float
    project_rates: list[float]
    platform_accounts: float
    minutes_per_review: float
    checkpoint_days: int | None
    empirical_rates: list[float] | None
    drift: bool
    resamples: int
    workers: int
    powered: bool = False
    fpr_accounts: int | None = None
    tpr_worlds: int = 1
    enriched_rate: float = 1e-2
    label_budgets: list[int] = []


class HarmRecord(Record):
    """The scenario's harm section: the fields the report reads; the rest as written."""

    model_config = ConfigDict(extra="allow")

    groomer_rate: float
    sophistication_mix: list[float]


class ScenarioRecord(Record):
    """The scenario as generated (`data_gen.config.Scenario` dumped): the fields the report
    reads are checked, every other section is carried as written (and logged as params)."""

    model_config = ConfigDict(extra="allow")

    name: str
    accounts: int
    harm: HarmRecord


class DatasetRecord(Record):
    path: str
    fingerprint: str
    rows: dict[str, int]


# ---------------------------------------------------------------- powered evaluation


class RateRecord(Record):
    """`bench.casecontrol.Rate`: k of n with its exact (Clopper-Pearson) 95% interval."""

    value: Num
    low: Num
    high: Num
    k: int
    n: int


class PrecisionBound(Record):
    """`bench.casecontrol.precision_at`: precision at a base rate; `kind` says whether the
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
    test split (`bench.analyses.validated_points`)."""

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
    """`bench.powered.powered_evaluation` of the primary model and its label variants
    (realistic labels, oracle, label budgets): DESIGN.md "Evaluation design for rare harms"."""

    task: str
    visibility: str
    worlds: dict[str, Any]
    enriched_rate: float
    scenario_mix: list[float]
    models: dict[str, PoweredModel]
    unreachable: dict[str, LabelSupply] = {}  # label budgets the training world cannot supply


class CertifiedRecord(PoweredRecord):
    """A `lowbase certify` of a run's primary model (`bench.tracking.certified_of`): the
    powered figures on its own worlds, and the MLflow run that holds them."""

    mlflow_run: str | None = None


class TimelyRecord(Record):
    """Detection before harm for one task on an enriched world (`bench.before_harm`): at
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


# ---------------------------------------------------------------- per model


class TaskMetrics(Record):
    """`bench.metrics.evaluate_task`: counts and every metric with its bootstrap interval."""

    n_positive: int
    n_negative: int
    auroc: IntervalRecord
    auprc: IntervalRecord
    recall_at_p90: IntervalRecord
    recall_at_p95: IntervalRecord
    recall_at_p99: IntervalRecord
    precision_at_r50: IntervalRecord
    precision_at_r80: IntervalRecord

    def intervals(self) -> dict[str, IntervalRecord]:
        """Every metric by name, in `bench.metrics.METRICS` order."""
        return {k: v for k, v in self if isinstance(v, IntervalRecord)}

    def recall_at(self, precision: float) -> IntervalRecord | None:
        """The bootstrap recall at `precision`, when it is one of the metrics."""
        value = getattr(self, recall_key(precision), None)
        return value if isinstance(value, IntervalRecord) else None


class OperatingRecord(Record):
    """`bench.metrics.OperatingPoint` with Wilson shares of its TPR and FPR."""

    precision_target: float
    threshold: Num  # +inf: no threshold reaches the target, nothing is flagged
    tpr: float
    fpr: float
    precision: float
    n_positive: int
    n_negative: int
    true_flagged: int
    false_flagged: int
    tpr_share: ShareRecord
    fpr_share: ShareRecord

    @property
    def has_threshold(self) -> bool:
        return math.isfinite(self.threshold)


class RocCurve(Record):
    fpr: list[float]
    tpr: list[float]

    @model_validator(mode="after")
    def _same_length(self):
        if len(self.fpr) != len(self.tpr):
            raise ValueError(f"fpr and tpr differ in length: {len(self.fpr)} vs {len(self.tpr)}")
        return self


class PrCurve(Record):
    precision: list[float]
    recall: list[float]

    @model_validator(mode="after")
    def _same_length(self):
        if len(self.precision) != len(self.recall):
            raise ValueError(f"precision and recall differ in length: {len(self.precision)} vs {len(self.recall)}")
        return self


class Curves(Record):
    """ROC and PR points on the test split; both absent without positives and negatives."""

    roc: RocCurve | None = None
    pr: PrCurve | None = None


class ModelEntry(Record):
    """One trained model: where it is saved and everything measured of it."""

    path: str
    metrics: dict[str, TaskMetrics]
    operating: dict[str, dict[str, OperatingRecord]]  # task -> operating_key -> point
    curves: dict[str, Curves]
    recall_by_level: dict[str, ShareRecord]  # level -> recall at the run's operating threshold
    validated: dict[str, dict[str, ValidatedPoint]] = {}  # task -> threshold name -> point

    def operating_at(self, task: str, precision: float) -> OperatingRecord | None:
        return self.operating.get(task, {}).get(operating_key(precision))

    @model_validator(mode="after")
    def _keys(self):
        bad = [k for ops in self.operating.values() for k in ops if not re.fullmatch(r"p\d+", k)]
        if bad:
            raise ValueError(f"operating point key {bad[0]!r} is not p<percent> (e.g. 'p95')")
        levels = [k for k in self.recall_by_level if k not in SOPHISTICATION_LEVELS]
        if levels:
            raise ValueError(
                f"unknown sophistication level {levels[0]!r} (expected {', '.join(SOPHISTICATION_LEVELS)})"
            )
        return self


# ---------------------------------------------------------------- analyses


class BaseRatePoint(Record):
    """`bench.baserate.analytic_curve`: precision at base rate pi with its band."""

    base_rate: float
    precision: Num
    ci_low: Num
    ci_high: Num
    fpr_needed_p95: Num
    fpr_needed_p99: Num


class ProjectionRecord(Record):
    """`bench.baserate.Projection`: expected counts at platform scale."""

    accounts: float
    base_rate: float
    offenders: float
    flagged: float
    true_flagged: float
    innocent_flagged: float
    innocent_per_offender_found: Num
    reviewer_hours: float


class ProjectionRow(Record):
    """The classifier (None when the test split had no positive or no negative) and hash
    matching at one base rate, with precision and innocent-per-offender bounded by the
    Wilson intervals of TPR and FPR."""

    base_rate: float
    classifier: ProjectionRecord | None
    precision: IntervalRecord
    innocent_per_offender: IntervalRecord
    hash_matching: ProjectionRecord


class HarmAnalysis(Record):
    """Detection before harm at the operating threshold (`bench.detection`)."""

    threshold: float
    checkpoint_days: list[int]
    share: ShareRecord
    ci_by_offender: tuple[Num, Num]
    harm_share_by: list[Num]
    flagged_before_harm_by: list[Num]
    offenders_with_harm: int
    test_groomers: int
    test_groomers_flagged_by_end: int


class EmpiricalPoint(Record):
    """`bench.baserate.empirical_point` at one groomer rate (`knob`); `own`: this run's data."""

    knob: float
    own: bool = False
    base_rate: float
    fpr_target: float
    threshold: Num
    fpr: float
    tpr: ShareRecord
    precision: ShareRecord


class DriftTask(Record):
    period1: TaskMetrics
    period2: TaskMetrics


class DriftRecord(Record):
    """The primary model trained on period-1 labels of the drift variant, read per period."""

    fingerprint: str
    tasks: dict[str, DriftTask]


class Analysis(Record):
    """The primary model's analyses at the run's operating precision."""

    operating_precision: float
    base_rate_curve: list[BaseRatePoint]
    projections: dict[str, list[ProjectionRow]]  # task -> rows (groomer: its rate and the projected ones)
    platform_accounts: float
    minutes_per_review: float
    detection_before_harm: HarmAnalysis | None = None  # test split of the training world
    empirical_base_rate: list[EmpiricalPoint]
    drift: DriftRecord | None = None
    powered: PoweredRecord | None = None
    timely: dict[str, TimelyRecord] | None = None  # task -> detection before harm on an enriched world


# ---------------------------------------------------------------- headline


class HeadlineRow(Record):
    """One row of the headline table (DESIGN.md "Metrics"). Recall columns are named by the
    precision they are read at: `recall_at_p95` and `recall_at_p99` are the bootstrap
    metrics of a task row; a per-level row holds its recall at the run's operating threshold
    under `recall_key(precision)`, so a run at another precision adds that column."""

    model_config = ConfigDict(extra="allow")

    task: str
    scenario: str
    n_positive: int | None = None
    auroc: Estimate | None = None
    recall_at_p95: Estimate | None = None
    recall_at_p99: Estimate | None = None
    val_recall_at_fpr_1e3: Estimate | None = None  # at the FPR-1e-3 threshold set on validation
    val_recall_at_precision: Estimate | None = None  # at the operating-precision threshold set on validation
    precision_at_base_rate: Estimate | None = None
    bound: str | None = None  # "precision >=" / "precision <=": the precision (and innocent) cells are bounds
    innocent_per_offender: Estimate | None = None
    detection_before_harm: Estimate | None = None
    __pydantic_extra__: dict[str, Estimate | None] = Field(init=False)

    @model_validator(mode="after")
    def _recall_columns_only(self):
        bad = [k for k in self.model_extra or {} if not RECALL_KEY.fullmatch(k)]
        if bad:
            raise ValueError(f"unknown headline column {bad[0]!r}")
        return self

    def cell(self, key: str) -> Any:
        """The value of a column (a declared field or a recall_at_p<NN> column)."""
        if key in type(self).model_fields:
            return getattr(self, key)
        return (self.model_extra or {}).get(key)

    def recall_keys(self) -> list[str]:
        return [k for k in (*type(self).model_fields, *(self.model_extra or {})) if RECALL_KEY.fullmatch(k)]


def headline_row(data: Any) -> HeadlineRow:
    return data if isinstance(data, HeadlineRow) else HeadlineRow.model_validate(data)


# ---------------------------------------------------------------- the run


class Timing(Record):
    pipeline_s: float
    # When the run started (Unix seconds): MLflow shows the run's real start and duration,
    # not the few seconds logging took. Absent in results written before it was recorded.
    started_at: float | None = None


class RunResults(Record):
    """Everything one run measured: the single source of the headline, the report, the
    MLflow metrics and the sweep summaries."""

    config: RunRecord
    scenario: ScenarioRecord
    dataset: DatasetRecord
    base_rates: dict[str, float]  # task -> realised base rate of the dataset
    models: dict[str, ModelEntry]
    primary: str
    analysis: Analysis
    headline: list[HeadlineRow] = []
    timing: Timing | None = None
    # `lowbase certify` of the primary model on more negative worlds, attached by `lowbase
    # report` from MLflow (a run writes none: certification comes after it, on its models).
    certified: list[CertifiedRecord] = []

    @model_validator(mode="before")
    @classmethod
    def _name_level_recall_by_precision(cls, data: Any) -> Any:
        """Results files of the earlier layout hold the per-level recall of the headline under
        "recall_at_p95" whatever the operating precision; it is read under the name of the
        precision it was measured at (`recall_key`)."""
        if not isinstance(data, Mapping):
            return data
        analysis, rows = data.get("analysis"), data.get("headline")
        precision = analysis.get("operating_precision") if isinstance(analysis, Mapping) else None
        if not isinstance(precision, int | float) or not isinstance(rows, list):
            return data
        key = recall_key(precision)
        if key == "recall_at_p95":
            return data
        levels = {level_task(lvl) for lvl in SOPHISTICATION_LEVELS}
        fixed = []
        for r in rows:
            if isinstance(r, Mapping) and r.get("task") in levels and "recall_at_p95" in r and key not in r:
                r = {(key if k == "recall_at_p95" else k): v for k, v in r.items()}
            fixed.append(r)
        return {**data, "headline": fixed}

    @model_validator(mode="after")
    def _primary_is_a_model(self):
        if self.primary not in self.models:
            raise ValueError(f"primary model {self.primary!r} is not among the models ({', '.join(self.models)})")
        return self

    # Typed shortcuts for what every consumer reads.

    @property
    def precision(self) -> float:
        """The operating precision of the analyses (the run config's `precision`)."""
        return self.analysis.operating_precision

    @property
    def primary_entry(self) -> ModelEntry:
        return self.models[self.primary]

    def primary_operating(self, task: str) -> OperatingRecord | None:
        """The primary model's operating point for `task` at the run's operating precision."""
        return self.primary_entry.operating_at(task, self.precision)

    def tasks(self) -> list[str]:
        """Every task any model measured, then any other with a base rate, in first-seen order."""
        seen: dict[str, None] = {}
        for entry in self.models.values():
            for t in (*entry.metrics, *entry.curves):
                seen.setdefault(t, None)
        for t in self.base_rates:
            seen.setdefault(t, None)
        return list(seen)


# ---------------------------------------------------------------- files


def dump_results(results: RunResults) -> str:
    """results.json's text: strict JSON, sorted keys, one space of indent."""
    return dumps_json(results.model_dump(exclude_unset=True), indent=1)


def parse_results(data: Any, origin: object = "results") -> RunResults:
    """A results mapping (parsed JSON, or a dict built in memory) as `RunResults`; a problem
    raises `ResultsError` naming `origin` and the field."""
    if isinstance(data, RunResults):
        return data
    if not isinstance(data, Mapping):
        raise ResultsError(f"{origin}: expected a mapping of results, got {type(data).__name__}")
    return validate_model(RunResults, dict(data), origin, ResultsError)


def load_results(path: Path) -> RunResults:
    """Read and validate a results.json; any problem raises `ResultsError` naming the file
    and the field."""
    return parse_results(read_mapping(path, ResultsError, "a lowbase results.json"), path)
