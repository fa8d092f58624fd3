"""Numbers as the report prints them: metric values, projected counts, intervals and shares.

Reads the estimate records of `bench.results` (a value, its interval, its k/n), or a
mapping in their shape; a value may be NaN (undefined) or infinite (no offender found).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bench.results import IntervalRecord, ShareRecord, ValueRecord, estimate


def num(x: Any) -> float:
    """A figure as float: None (NaN in JSON) -> nan, "inf"/"-inf" -> +-inf, anything
    unreadable -> nan."""
    if x is None:
        return math.nan
    try:
        return float(x)  # also "inf", "-inf", "nan"
    except (TypeError, ValueError):
        return math.nan


def finite(x: Any) -> bool:
    return math.isfinite(num(x))


def fmt_value(x, digits: int = 3) -> str:
    """A metric value: `0.912` (`digits` decimals); below 0.1 two significant digits
    (`0.085`, `0.00023`, `2.3e-05`), so a small interval bound never prints as 0.00;
    NaN/None -> `n/a`; infinity -> `∞`; from 1e5 up in scientific notation."""
    v = num(x)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    a = abs(v)
    if v == 0 or 0.1 <= a < 100:
        return f"{v:.{digits}f}"
    if a < 0.1:
        return f"{v:.2g}"
    if a >= 1e5:
        return f"{v:.2e}"
    return f"{v:,.0f}"


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
    """A precision at a base rate (`bench.results.PrecisionBound`) as its kind says: a point
    with its interval, `>= x` where no false positive was seen (a bound, never a point 1.000),
    `<= x` where no true positive was. A threshold that flagged no account at all has no
    precision: `nothing flagged`, whether the record says 'undefined' or holds the vacuous
    bound `>= 0`."""
    if b is None:
        return "—"
    kind = b.kind
    if nothing_flagged or (kind == "lower bound" and not num(b.value) > 0):
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
