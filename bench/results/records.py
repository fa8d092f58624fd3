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
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Tag

SECOND_PRECISION = 0.99  # the stricter operating point recorded beside the run's own
RECALL_KEY = re.compile(r"recall_at_p\d+")


# ---------------------------------------------------------------- names


def operating_key(precision: float) -> str:
    """The key of the operating point at `precision`: "p95" for 0.95, "p99" for 0.99."""
    return f"p{round(precision * 100)}"


def recall_key(precision: float) -> str:
    """The name of a recall read at `precision` ("recall_at_p95" at 0.95): a bootstrap
    metric of `bench.stats.metrics`, and the per-level recall at the run's operating threshold in
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
    """k of n with its Wilson interval (`bench.stats.intervals.Share`)."""

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


_ESTIMATE_MODELS: dict[str, type[ValueRecord]] = {
    "share": ShareRecord,
    "interval": IntervalRecord,
    "value": ValueRecord,
}


def _estimate_model(x: Any) -> type[ValueRecord]:
    return _ESTIMATE_MODELS[_estimate_kind(x)]
