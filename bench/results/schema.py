"""The run's records: its inputs, per-model metrics, analyses, the headline, the whole run and
its results.json (`dump_results`, `parse_results`, `load_results`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from bench.errors import ResultsError
from bench.results.ceiling import CeilingRecord
from bench.results.powered import REALISTIC, CertifiedRecord, PoweredPoint, PoweredRecord, TimelyRecord, ValidatedPoint
from bench.results.records import (
    RECALL_KEY,
    Estimate,
    IntervalRecord,
    Num,
    Record,
    ShareRecord,
    level_task,
    operating_key,
    recall_key,
)
from common.files import dumps_json, read_mapping, validate_model
from common.vocabulary import SOPHISTICATION_LEVELS

# ---------------------------------------------------------------- run inputs


GROOMER_THRESHOLD = "fpr<=0.001"  # the powered point groomer projections read (validation threshold)


class RunRecord(Record):
    """The run config as it ran (`bench.setup.config.RunConfig` without `dask`, which changes where
    work runs, not what it computes), and the kernel mode it ran under."""

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
    # `common.kernels`: DEC's figures are comparable across machine types when pinned
    # (results written before the pin existed ran native)
    kernels: str = "native"


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


# ---------------------------------------------------------------- per model


class TaskMetrics(Record):
    """`bench.stats.metrics.evaluate_task`: counts and every metric with its bootstrap interval."""

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
        """Every metric by name, in `bench.stats.metrics.METRICS` order."""
        return {k: v for k, v in self if isinstance(v, IntervalRecord)}

    def recall_at(self, precision: float) -> IntervalRecord | None:
        """The bootstrap recall at `precision`, when it is one of the metrics."""
        value = getattr(self, recall_key(precision), None)
        return value if isinstance(value, IntervalRecord) else None


class OperatingRecord(Record):
    """`bench.stats.metrics.OperatingPoint` with Wilson shares of its TPR and FPR."""

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
    """`bench.stats.base_rate.analytic_curve`: precision at base rate pi with its band."""

    base_rate: float
    precision: Num
    ci_low: Num
    ci_high: Num
    fpr_needed_p95: Num
    fpr_needed_p99: Num


class ProjectionRecord(Record):
    """`bench.stats.base_rate.Projection`: expected counts at platform scale."""

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
    """Detection before harm at the operating threshold (`bench.stats.detection`)."""

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
    """`bench.stats.base_rate.empirical_point` at one groomer rate (`knob`); `own`: this run's data."""

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
    # Where the groomer projection rows and base-rate curve were read: "powered" (realistic
    # labels at the validation FPR-1e-3 threshold, enriched and negative worlds) or "test
    # split" (a threshold chosen on the split it is read on: no powered evaluation).
    groomer_source: str = "test split"

    def realistic_point(self, threshold: str) -> PoweredPoint | None:
        """The powered evaluation's realistic-labels point at `threshold` (None without it)."""
        model = self.powered.models.get(REALISTIC) if self.powered is not None else None
        return model.by_threshold.get(threshold) if model is not None else None

    def groomer_point(self) -> PoweredPoint | None:
        """The powered point the groomer projections read: realistic labels at the validation
        FPR-1e-3 threshold where `groomer_source` says the rows came from it; else None (the
        rows read the test split, results written before `groomer_source` existed included).
        The headline and the report both ask here, so they cannot disagree."""
        return self.realistic_point(GROOMER_THRESHOLD) if self.groomer_source == "powered" else None


# ---------------------------------------------------------------- headline


class HeadlineRow(Record):
    """One row of the headline table (docs/design.md "Metrics"). Recall columns are named by the
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
    # The ceiling of the run's scenario, visibility and seed from the work directory's cache
    # (`lowbase ceiling`): its rates are read on the worlds a run of that seed reads, so it
    # pairs with the run's own powered figures (the report checks the worlds); a run reads
    # one, never computes it.
    ceiling: CeilingRecord | None = None

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
