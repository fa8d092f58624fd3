"""Readings of an adversary's frontier (`bench.rare.frontier`): per groomer strategy, the
harm its offenders do against how often a detector finds them.

A frontier record is the JSON `lowbase frontier` writes (strict JSON: an undefined figure
is null), read here as plain mappings, so a record from the cache, from a file or from
MLflow's `frontier.json` reads the same. Everything a reader states is computed here once,
so the report, the figure and MLflow cannot disagree:

- the adversary's **Pareto set** (`pareto`): the strategies no other strategy beats on both
  counts, more harm and a lower TPR; the adversary has no reason to play anything else;
- the **reading** (`reading`): what it costs the adversary, in harm, to push a detector's
  TPR below a target, every word of its sentence chosen by the numbers;
- the **table** (`frontier_rows`) and the **MLflow names** (`strategy_metrics`,
  `strategy_params`, `frontier_params`, `frontier_tags`).

The adversary maximises harm and minimises detection: a strategy is worth playing when it
harms more, or is found less, than the others. Point estimates decide the Pareto set; the
intervals beside them say how far a small world lets that be trusted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bench.results.numbers import fmt_value as fmt
from bench.results.numbers import num

THRESHOLDS = ("fpr<=0.001", "fpr<=0.0001")  # the operating points a frontier reads
ROLES = ("adapted", "unadapted")
DEFAULT_LABEL = "default"  # an axis's label that changes nothing (`bench.setup.frontier.DEFAULT`)
HARM_UNIT = "harm events per offender per 30 days"
ROLE_TEXT = {
    "adapted": "the adapted detector (retrained on the strategy)",
    "unadapted": "the unadapted detector (trained on the default behaviour)",
}
# Axis labels written compactly in figures: "E+ M-" for effort=high, mimicry=low.
LABEL_MARKS = {"low": "-", "default": "0", "high": "+"}


# ---------------------------------------------------------------- reading the record


def budget_text(threshold: str) -> str:
    """`fpr<=0.001` -> `FPR 1e-3`, as a reader names the operating point."""
    try:
        mantissa, exponent = f"{float(threshold.split('<=', 1)[1]):.0e}".split("e")
    except (IndexError, ValueError):
        return threshold
    return f"FPR {mantissa}e{int(exponent)}"


def harm_rate(strategy: Mapping) -> Mapping:
    """The strategy's harm rate (`value`, `low`, `high`, `events`, `exposure_days`)."""
    return strategy.get("harm", {}).get("harm_rate") or {}


def tpr(strategy: Mapping, threshold: str = "fpr<=0.001", role: str = "adapted") -> Mapping:
    """The TPR of the level at `threshold` by the `role` detector (`value`, `low`, `high`,
    `k`, `n`); empty when the record has none."""
    return strategy.get("detection", {}).get(role, {}).get(threshold, {}).get("tpr") or {}


def _value(figure: Mapping) -> float:
    return num(figure.get("value"))


def _count(x: Any) -> int:
    v = num(x)
    return int(v) if math.isfinite(v) else 0


def default_strategy(record: Mapping) -> Mapping | None:
    """The default behaviour every other strategy is compared with: the one marked default,
    else the grid's `default`/`default` point."""
    points = record.get("strategies", [])
    marked = next((s for s in points if s.get("default")), None)
    grid = (s for s in points if s.get("effort") == s.get("mimicry") == DEFAULT_LABEL)
    return marked if marked is not None else next(grid, None)


def short_label(strategy: Mapping) -> str:
    """A compact label for a figure: `E+ M-` from the axis labels (low `-`, default `0`,
    high `+`, any other label as written), the name for a written point."""
    effort, mimicry = strategy.get("effort"), strategy.get("mimicry")
    if effort is None or mimicry is None:
        name = str(strategy.get("name", "?"))
        return name if len(name) <= 18 else name[:17] + "…"
    return f"E{LABEL_MARKS.get(effort, effort)} M{LABEL_MARKS.get(mimicry, mimicry)}"


# ---------------------------------------------------------------- the Pareto set


def _measured(points: list[dict], threshold: str, role: str) -> list[tuple[float, float, str]]:
    """(harm rate, TPR, name) of every strategy with both point estimates."""
    out = []
    for s in points:
        h, t = _value(harm_rate(s)), _value(tpr(s, threshold, role))
        if math.isfinite(h) and math.isfinite(t):
            out.append((h, t, str(s.get("name"))))
    return out


def pareto(points: list[dict], threshold: str = "fpr<=0.001", role: str = "adapted") -> list[str]:
    """The names of the strategies on the adversary's Pareto set at `threshold` against the
    `role` detector: those no other strategy dominates, i.e. none has a harm rate at least
    as high and a TPR at least as low with one of the two strictly better. Strategies
    without both point estimates are left out; two identical points are both kept (neither
    beats the other). Ordered by harm rate, then TPR, then name."""
    measured = _measured(points, threshold, role)
    kept = [
        (h, t, name)
        for h, t, name in measured
        if not any(h2 >= h and t2 <= t and (h2 > h or t2 < t) for h2, t2, _ in measured)
    ]
    return [name for _, _, name in sorted(kept)]


# ---------------------------------------------------------------- the reading


def _ratio(a: float, b: float) -> float:
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan


def _opt(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _within(figure: Mapping) -> str:
    """A figure with its 95% interval: `0.230 [0.18, 0.29]`."""
    return f"{fmt(figure.get('value'))} [{fmt(figure.get('low'), 2)}, {fmt(figure.get('high'), 2)}]"


def _pick(record: Mapping, threshold: str, role: str, below: float) -> tuple[dict | None, dict | None]:
    """(the most harmful strategy whose TPR is below `below`, None if none is; the strategy
    with the lowest TPR, None if no strategy has one). Ties go to the lower TPR, then the name."""
    points = record.get("strategies", [])
    rated = [s for s in points if math.isfinite(_value(tpr(s, threshold, role)))]
    lowest = min(rated, key=lambda s: (_value(tpr(s, threshold, role)), str(s.get("name"))), default=None)
    under = [s for s in rated if _value(tpr(s, threshold, role)) < below and math.isfinite(_value(harm_rate(s)))]
    best = min(
        under, key=lambda s: (-_value(harm_rate(s)), _value(tpr(s, threshold, role)), str(s.get("name"))), default=None
    )
    return best, lowest


def reading(record: Mapping, threshold: str = "fpr<=0.001", role: str = "adapted", below: float = 0.1) -> dict:
    """What pushing the `role` detector's TPR of the level below `below` at `threshold`
    costs the adversary: among the strategies whose TPR point is below it, the most
    harmful, and the share of the default behaviour's harm rate it gives up (1 − its harm
    rate / the default's; negative when it harms more). `strict`: its TPR's 95% upper
    bound is below `below` too, the reading an interval supports. Where no strategy gets
    below, `found` is False, those fields None, and `lowest` holds the strategy with the
    lowest TPR. `text` states it all in one sentence."""
    default, (best, lowest) = default_strategy(record), _pick(record, threshold, role, below)
    d_harm = _value(harm_rate(default)) if default is not None else math.nan
    out: dict[str, Any] = {
        "threshold": threshold, "role": role, "below": below, "level": record.get("level"),
        "default": None if default is None else default.get("name"), "default_harm_rate": _opt(d_harm),
        "default_tpr": None if default is None else _opt(_value(tpr(default, threshold, role))),
        "found": best is not None, "strategy": None, "harm_rate": None, "tpr": None, "tpr_low": None,
        "tpr_high": None, "give_up": None, "strict": None, "lowest": None,
    }  # fmt: skip
    if best is not None:
        t, h = tpr(best, threshold, role), _value(harm_rate(best))
        out.update(strategy=best.get("name"), harm_rate=h, tpr=_value(t), tpr_low=_opt(num(t.get("low"))),
                   tpr_high=_opt(num(t.get("high"))), give_up=_opt(1 - _ratio(h, d_harm)),
                   strict=num(t.get("high")) < below)  # fmt: skip
    elif lowest is not None:
        t = tpr(lowest, threshold, role)
        out["lowest"] = {"strategy": lowest.get("name"), "tpr": _value(t), "tpr_low": _opt(num(t.get("low"))),
                         "tpr_high": _opt(num(t.get("high"))),
                         "harm_ratio": _opt(_ratio(_value(harm_rate(lowest)), d_harm))}  # fmt: skip
    out["text"] = reading_text(record, out, best, lowest)
    return out


def _strict_text(t: Mapping, below: float) -> str:
    """Whether the TPR's 95% interval, not only its point, lies below the target."""
    high, target = num(t.get("high")), fmt(below, 2)
    if high < below:
        return f"; its 95% upper bound is below {target} too"
    if math.isfinite(high):
        return (
            f"; its 95% upper bound, {fmt(high, 2)}, is not below {target}: a TPR of {target} or more is not ruled out"
        )
    return "; it has no interval"


def reading_text(record: Mapping, r: Mapping, best: Mapping | None, lowest: Mapping | None) -> str:
    """The sentence of a `reading`, each word chosen by its numbers."""
    thr, role, below, level = r["threshold"], r["role"], r["below"], record.get("level", "?")
    head, who = f"At {budget_text(thr)}", ROLE_TEXT.get(role, f"the {role} detector")
    target = fmt(below, 2)
    if best is None:
        if lowest is None:
            return f"{head} no {level} strategy of this grid has a TPR figure for {who}."
        ratio = r["lowest"]["harm_ratio"]
        cost = "" if ratio is None else f", at {ratio:.2f}x the default's harm rate"
        return (
            f"{head} no {level} strategy of this grid pushes the TPR of {who} below {target}: the lowest is "
            f"{_within(tpr(lowest, thr, role))} (`{lowest.get('name')}`){cost}."
        )
    t, h, name = tpr(best, thr, role), harm_rate(best), best.get("name")
    tail = _strict_text(t, below)
    if name == r["default"]:
        return (
            f"{head} the default {level} behaviour already keeps the TPR of {who} below {target}: "
            f"{_within(t)} at {fmt(h.get('value'), 2)} {HARM_UNIT}{tail}."
        )
    who_below = f"{head} the most harmful {level} strategy that pushes the TPR of {who} below {target}, `{name}`,"
    give_up = r["give_up"]
    if give_up is None:
        rate = f"{fmt(h.get('value'), 2)} {HARM_UNIT}"
        return f"{who_below} gets it to {_within(t)} at {rate} (the default's harm rate gives no ratio){tail}."
    versus = f"({fmt(r['harm_rate'], 2)} vs {fmt(r['default_harm_rate'], 2)} {HARM_UNIT})"
    if give_up > 0:
        return f"{who_below} gives up {give_up:.0%} of its harm {versus} to push it to {_within(t)}{tail}."
    more = "as much harm as the default" if give_up == 0 else f"{-give_up:.0%} more harm than the default"
    return f"{who_below} gets it to {_within(t)} while doing {more} {versus}{tail}."


# ---------------------------------------------------------------- the table


FRONTIER_HEADER = [
    "strategy",
    "effort",
    "mimicry",
    "offenders",
    f"harm rate [95%] ({HARM_UNIT})",
    "reached harm [95%] (k/n)",
    "median days to harm [95%] (n)",
    "adapted TPR [exact 95%] (k/n)",
    "unadapted TPR [exact 95%] (k/n)",
    "harm events after a flag, adapted at FPR 1e-3 [95%] (k/n)",
    "Pareto set",
]


def _rate_cell(figure: Mapping) -> str:
    """`0.111 [0.0028, 0.48] (1/9)`; `n/a (0/0)` without a sample."""
    if not figure:
        return "—"
    counts = f" ({_count(figure.get('k')):,}/{_count(figure.get('n')):,})" if "n" in figure else ""
    if not math.isfinite(_value(figure)):
        return "n/a" + counts
    return _within(figure) + counts


def _share_cell(share: Mapping) -> str:
    """A detection-before-harm share (`value`, `ci_low`, `ci_high`, `k`, `n`)."""
    if not share:
        return "—"
    return _rate_cell({"value": share.get("value"), "low": share.get("ci_low"), "high": share.get("ci_high"),
                       "k": share.get("k", 0), "n": share.get("n", 0)})  # fmt: skip


def _harm_cells(strategy: Mapping) -> list[str]:
    harm = strategy.get("harm", {})
    rate, days = harm_rate(strategy), harm.get("days_to_harm") or {}
    events = rate.get("events")
    rate_cell = (_within(rate) + ("" if events is None else f" ({_count(events):,} events)")) if rate else "—"
    if not days or not math.isfinite(_value(days)):
        days_cell = f"n/a (n={days.get('n', 0)})" if days else "—"
    else:
        days_cell = f"{fmt(days['value'], 1)} [{fmt(days.get('low'), 1)}, {fmt(days.get('high'), 1)}] (n={days['n']})"
    offenders = harm.get("offenders")
    return [
        "?" if offenders is None else f"{int(offenders):,}",
        rate_cell,
        _rate_cell(harm.get("reached") or {}),
        days_cell,
    ]


def frontier_rows(record: Mapping, threshold: str = "fpr<=0.001") -> tuple[list[str], list[list[str]]]:
    """The frontier as a table at `threshold` (`FRONTIER_HEADER` and one row per strategy in
    the record's order): its axis labels, offenders, harm throughput, TPR by the adapted and
    unadapted detectors, the share of harm events after the adapted detector's flag, and
    which detectors' Pareto sets hold it."""
    points, default = record.get("strategies", []), default_strategy(record)
    sets = {role: set(pareto(points, threshold, role)) for role in ROLES}
    rows = []
    for s in points:
        name = str(s.get("name", "?")) + (" (default)" if s is default else "")
        marks = ", ".join(role for role in ROLES if s.get("name") in sets[role]) or "—"
        rows.append(
            [name, s.get("effort") or "—", s.get("mimicry") or "—", *_harm_cells(s),
             *(_rate_cell(tpr(s, threshold, role)) for role in ROLES),
             _share_cell(s.get("before_harm", {}).get("share") or {}), marks]
        )  # fmt: skip
    return list(FRONTIER_HEADER), rows


# ---------------------------------------------------------------- MLflow names


def metric_key(threshold: str) -> str:
    """`fpr<=0.001` -> `fpr_le_0.001`: a threshold in a name MLflow accepts."""
    return threshold.replace("<=", "_le_").replace(">=", "_ge_")


def _put(out: dict[str, float], name: str, value: Any) -> None:
    """Record a metric unless it is undefined (MLflow would show NaN as a number)."""
    v = num(value)
    if math.isfinite(v):
        out[name] = v


def _put_figure(out: dict[str, float], name: str, figure: Mapping, low: str = "low", high: str = "high") -> None:
    _put(out, name, figure.get("value"))
    _put(out, f"{name}_ci_low", figure.get(low))
    _put(out, f"{name}_ci_high", figure.get(high))


def strategy_metrics(strategy: Mapping) -> dict[str, float]:
    """One strategy's figures as MLflow metrics: `harm_rate` (with `_ci_low`, `_ci_high`),
    `harm_events`, `exposure_days`, `offenders`, `reached`, `days_to_harm`;
    `<role>/tpr/<threshold>` and `<role>/fpr/<threshold>` with their intervals and `_n`;
    `before_harm` with its interval and `_n`. Undefined figures are left out."""
    harm, rate = strategy.get("harm", {}), harm_rate(strategy)
    out: dict[str, float] = {}
    _put_figure(out, "harm_rate", rate)
    _put(out, "harm_events", rate.get("events"))
    _put(out, "exposure_days", rate.get("exposure_days"))
    _put(out, "offenders", harm.get("offenders"))
    _put_figure(out, "reached", harm.get("reached") or {})
    _put_figure(out, "days_to_harm", harm.get("days_to_harm") or {})
    for role, by_threshold in strategy.get("detection", {}).items():
        for thr, figures in by_threshold.items():
            for kind in ("tpr", "fpr"):
                figure = figures.get(kind) or {}
                _put_figure(out, f"{role}/{kind}/{metric_key(thr)}", figure)
                _put(out, f"{role}/{kind}/{metric_key(thr)}_n", figure.get("n"))
    share = strategy.get("before_harm", {}).get("share") or {}
    _put_figure(out, "before_harm", share, "ci_low", "ci_high")
    _put(out, "before_harm_n", share.get("n"))
    return out


def strategy_params(strategy: Mapping) -> dict[str, str]:
    """A strategy's axis labels, knobs (`knob.<name>`) and cache key as MLflow params."""
    params = {"strategy": str(strategy.get("name")), "effort": str(strategy.get("effort")),
              "mimicry": str(strategy.get("mimicry")), "key": str(strategy.get("key"))}  # fmt: skip
    params.update({f"knob.{k}": str(v) for k, v in sorted((strategy.get("knobs") or {}).items())})
    return params


def frontier_params(record: Mapping) -> dict[str, str]:
    """What the frontier was computed with: preset, seed, level, visibility, model,
    generator and the plan (`plan.<field>`)."""
    keys = ("name", "preset", "seed", "level", "visibility", "model", "generator")
    params = {k: str(record.get(k)) for k in keys}
    params.update({f"plan.{k}": str(v) for k, v in sorted((record.get("plan") or {}).items())})
    return params


def frontier_tags(record: Mapping) -> dict[str, str]:
    return {
        "lowbase.frontier": str(record.get("name")),
        "lowbase.scenario": str(record.get("preset")),
        "lowbase.level": str(record.get("level")),
        "lowbase.visibility": str(record.get("visibility")),
        "lowbase.seed": str(record.get("seed")),
    }


def frontier_metrics(record: Mapping) -> dict[str, float]:
    """The parent run's metrics: the strategies counted and, per threshold and detector,
    the reading's share of harm given up to get the TPR below 0.1 (left out where no
    strategy gets there) and the size of the Pareto set."""
    out: dict[str, float] = {"strategies": float(len(record.get("strategies", [])))}
    for thr in THRESHOLDS:
        for role in ROLES:
            r = reading(record, thr, role)
            base = f"{role}/{metric_key(thr)}"
            out[f"{base}/below_0.1_found"] = float(r["found"])
            _put(out, f"{base}/below_0.1_give_up", r["give_up"])
            out[f"{base}/pareto_size"] = float(len(pareto(record.get("strategies", []), thr, role)))
    return out
