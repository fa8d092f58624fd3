"""Numbers as the benchmark prints them, in one place: the report, the console and the
frontier's readings (a lower layer than the report) all format a figure the same way."""

from __future__ import annotations

import math
from typing import Any


def num(x: Any) -> float:
    """A figure as float: None (NaN in JSON) -> nan, "inf"/"-inf" -> +-inf, anything
    unreadable -> nan."""
    if x is None:
        return math.nan
    try:
        return float(x)  # also "inf", "-inf", "nan"
    except (TypeError, ValueError):
        return math.nan


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
