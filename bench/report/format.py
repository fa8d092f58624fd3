"""Numbers as the report prints them: metric values, projected counts, intervals and shares,
and the platform projection's cells with their bounds marked.

Reads the estimate records of `bench.results` (a value, its interval, its k/n), or a
mapping in their shape; a value may be NaN (undefined) or infinite (no offender found).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bench.results import IntervalRecord, ProjectionRow, ShareRecord, ValueRecord, estimate
from bench.results.numbers import fmt_value, num


def finite(x: Any) -> bool:
    return math.isfinite(num(x))


def fmt_count(x) -> str:
    """A projected count or ratio (innocent per offender, accounts flagged, hours): three
    significant digits, thousands separators from 100 up, scientific notation below 1e-4
    and from 1e7 up (`2.02e-05`, `3.00e+09`)."""
    v = num(x)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == 0:
        return "0"
    a = abs(v)
    if a < 1e-4 or a >= 1e7:
        return f"{v:.2e}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def fmt_precision(p: float) -> str:
    """An operating precision as the report names it: `0.95`, `0.90`, `0.955`."""
    return f"{p:.2f}" if round(p, 2) == p else f"{p:g}"


def fmt_interval(d: ValueRecord | Mapping | None, kind: str = "value", none: str = "—") -> str:
    """An estimate (`{value, ci_low, ci_high[, k, n]}`) as `0.912 [0.88, 0.94]` (and `(k/n)`
    for shares). `kind="count"` formats projections; `kind="innocent"` reads infinity as
    "none found" (no offender found, so no ratio) and `kind="precision"` reads NaN as
    "nothing flagged"."""
    if isinstance(d, Mapping):
        d = estimate(d)
    if not isinstance(d, ValueRecord):
        return none
    counts = kind in ("count", "innocent")
    num_text = fmt_count if counts else fmt_value
    ci = fmt_count if counts else (lambda x: fmt_value(x, 2))
    v = d.value
    if kind == "innocent" and math.isinf(v):
        text = "none found"
    elif kind == "precision" and math.isnan(v):
        text = "nothing flagged"
    else:
        text = num_text(v)
    if isinstance(d, IntervalRecord):
        if math.isnan(d.ci_low) and math.isnan(d.ci_high):
            text += " (no interval)"
        else:
            text += f" [{ci(d.ci_low)}, {ci(d.ci_high)}]"
    if isinstance(d, ShareRecord):
        text += f" ({d.k}/{d.n})"
    return text


def interval_only(d: IntervalRecord) -> IntervalRecord:
    """The value and interval of an estimate without its k/n."""
    return IntervalRecord(value=d.value, ci_low=d.ci_low, ci_high=d.ci_high)


def fmt_rate(r: Any, none: str = "—") -> str:
    """An exact-interval rate (`bench.results.RateRecord`: value, low, high, k, n) as
    `0.550 [0.42, 0.67] (33/60)`; counts get thousands separators (FPRs rest on tens of
    thousands of negatives); without a sample (n = 0) `n/a (0/0)`."""
    if r is None:
        return none
    if not r.n:
        return f"n/a ({r.k}/{r.n})"
    return f"{fmt_value(r.value)} [{fmt_value(r.low, 2)}, {fmt_value(r.high, 2)}] ({r.k:,}/{r.n:,})"


def fmt_bound(b: Any, nothing_flagged: bool = False) -> str:
    """A precision at a base rate (`bench.results.PrecisionBound`) as its kind says, the kind
    being `bench.stats.rates.precision_kind` of the counts behind it: the record's own (as
    `precision_at` stored it) and `nothing_flagged`, which the caller reads off the same counts
    (`bench.report.powered_figures.nothing_flagged`), since a stored 'undefined' covers both
    nothing measured and nothing flagged. A point prints with its interval, a lower bound as
    `>= x` (no false positive seen: a bound, never a point 1.000), an upper bound as `<= x` (no
    true positive seen); a threshold that flagged no account has no precision: `nothing
    flagged`, as has a record of such a threshold that holds the vacuous bound `>= 0`."""
    if b is None:
        return "—"
    kind = "nothing flagged" if nothing_flagged or (b.kind == "lower bound" and not num(b.value) > 0) else b.kind
    if kind == "nothing flagged":
        return "nothing flagged"
    if kind == "lower bound":
        return f">= {fmt_value(b.value)}"
    if kind == "upper bound":
        return f"<= {fmt_value(b.value)}"
    if kind == "point":
        if math.isnan(num(b.low)) and math.isnan(num(b.high)):
            return fmt_value(b.value)
        return f"{fmt_value(b.value)} [{fmt_value(b.low, 2)}, {fmt_value(b.high, 2)}]"
    return "undefined (no positives or no negatives)"


# ---------------------------------------------------------------- platform projection cells


def ratio(a: float, b: float) -> float:
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan


HASH_COLUMNS = ["hash matching: precision", "hash matching: innocent per offender", "hash matching: reviewer hours"]
# Which projection cells are bounds, and which way, by what the precision is
# (`bench.stats.rates.precision_kind`; the corners are `bench.stats.base_rate.bounded_projection`'s):
# wherever a count of zero stands in a rate, the counts are upper bounds at (TPR high, FPR high);
# a precision lower bound and the innocent-per-offender upper bound at (TPR low, FPR high); a
# precision upper bound and the innocent-per-offender lower bound at (TPR high, FPR low).
UPPER_COUNTS = {"flagged": "<= ", "true_flagged": "<= ", "innocent_flagged": "<= ", "reviewer_hours": "<= "}
BOUND_MARKS = {
    "lower bound": {**UPPER_COUNTS, "precision": ">= ", "per_offender": "<= "},
    "upper bound": {**UPPER_COUNTS, "precision": "<= ", "per_offender": ">= "},
    "nothing flagged": UPPER_COUNTS,  # no precision, no innocent-per-offender ratio: 'nothing flagged' cells
}
NOTHING_FLAGGED = "nothing flagged"
PROJECTION_COLUMNS = ["base rate", "offenders", "flagged", "offenders flagged", "innocent flagged", "precision",
                      "innocent per offender found", "reviewer hours"]  # fmt: skip
COUNT_COLUMNS = ("offenders", "flagged", "true_flagged", "innocent_flagged")  # of `ProjectionRecord`, in table order


def at_end(iv: IntervalRecord, mark: str) -> IntervalRecord:
    """A bound shown as the end of the interval it stands on: `>=` the low end, `<=` the high
    (so a lower bound never prints as the point 1.000 a reading without false positives gives)."""
    value = {">= ": iv.ci_low, "<= ": iv.ci_high}.get(mark, iv.value)
    return IntervalRecord(value=value, ci_low=iv.ci_low, ci_high=iv.ci_high)


def projection_rows(rows: list[ProjectionRow], hash_matching: bool = False, kind: str = "point") -> list[list[str]]:
    """Projection cells, bounds marked as `kind` says (`BOUND_MARKS`); where nothing was
    flagged, precision and innocent per offender are `nothing flagged`; with `hash_matching`,
    content hash matching's beside them."""
    mark = BOUND_MARKS.get(kind, {})
    prec, per = mark.get("precision", ""), mark.get("per_offender", "")
    out = []
    for r in rows:
        c, hm = r.classifier, r.hash_matching
        cells = [fmt_count(r.base_rate)] + [mark.get(f, "") + fmt_count(getattr(c, f, None)) for f in COUNT_COLUMNS]
        if kind == NOTHING_FLAGGED:
            cells += [NOTHING_FLAGGED, NOTHING_FLAGGED]
        else:
            cells += [
                prec + fmt_interval(at_end(r.precision, prec), "precision"),
                per + fmt_interval(at_end(r.innocent_per_offender, per), "innocent"),
            ]
        cells.append(mark.get("reviewer_hours", "") + fmt_count(getattr(c, "reviewer_hours", None)))
        if hash_matching:
            cells += [
                fmt_interval(ValueRecord(value=ratio(hm.true_flagged, hm.flagged)), "precision"),
                fmt_interval(ValueRecord(value=hm.innocent_per_offender_found), "innocent"),
                fmt_count(hm.reviewer_hours),
            ]
        out.append(cells)
    return out
