"""Readings of an adversary's frontier (`bench.results.frontier`): the Pareto set (ties kept,
strategies without a figure left out), the reading of what pushing a detector's TPR below
0.1 costs in harm (found, not found, a strategy that harms more than the default), the
table and the MLflow names.

The records are written here in the shape `bench.rare.frontier.frontier` returns (strict
JSON: an undefined figure is null), with made-up numbers chosen to decide each case.
"""

from __future__ import annotations

import math

import pytest

from bench.results import frontier as fr

DEFAULT = "effort=default,mimicry=default"


def rate(value: float | None, n: int = 100, width: float = 0.05) -> dict:
    """An exact-interval rate in the record's shape; `value` None: no figure (n = 0)."""
    if value is None:
        return {"value": None, "low": None, "high": None, "k": 0, "n": 0}
    return {"value": value, "low": max(0.0, value - width), "high": min(1.0, value + width),
            "k": round(value * n), "n": n}  # fmt: skip


def strategy(
    name: str, harm: float | None, tpr: dict[str, float | None], effort: str | None = None,
    mimicry: str | None = None, unadapted: dict[str, float | None] | None = None, knobs: dict | None = None,
    width: float = 0.05,
) -> dict:  # fmt: skip
    """One strategy's point: `tpr` and `unadapted` map a threshold to the TPR (the other
    threshold gets half of it); the default point when its knobs are empty."""
    if effort is None and mimicry is None and "=" in name:
        effort, mimicry = (part.split("=")[1] for part in name.split(","))
    knobs = {} if knobs is None and name == DEFAULT else ({"targets_median": 8} if knobs is None else knobs)

    def detection(by: dict[str, float | None]) -> dict:
        out = {}
        for thr in fr.THRESHOLDS:
            v = by.get(thr, None if by.get("fpr<=0.001") is None else by["fpr<=0.001"] / 2)
            out[thr] = {"tpr": rate(v, width=width), "fpr": rate(0.0008 if thr == "fpr<=0.001" else 0.00009, 8000)}
        return out

    harm_rate = {"value": harm, "low": None if harm is None else harm * 0.6,
                 "high": None if harm is None else harm * 1.5, "events": 0 if harm is None else round(harm * 100),
                 "exposure_days": 3000}  # fmt: skip
    return {
        "name": name, "effort": effort, "mimicry": mimicry, "knobs": knobs, "default": not knobs,
        "harm": {"offenders": 100, "harm_rate": harm_rate, "reached": rate(0.3, 100),
                 "days_to_harm": {"value": 12.5, "low": 9.0, "high": 16.0, "n": 30}},
        "detection": {"adapted": detection(tpr), "unadapted": detection(unadapted or tpr)},
        "before_harm": {"fpr_budget": 0.001, "checkpoint_days": [14, 28],
                        "share": {"value": 0.25, "ci_low": 0.1, "ci_high": 0.45, "k": 5, "n": 20}},
        "worlds": {}, "key": f"key-{name}", "seconds": 1.0,
    }  # fmt: skip


def record(*points: dict, level: str = "L3") -> dict:
    plan = {"checkpoint_every": 14, "enriched_rate": 0.01, "fpr_accounts": 8000, "level": level,
            "min_per_level": 20, "model": "gbdt-raw", "tpr_worlds": 1, "visibility": "full"}  # fmt: skip
    return {"name": "frontier", "preset": "quick", "seed": 3, "level": level, "visibility": "full",
            "model": "gbdt-raw", "generator": "0.2.0", "plan": plan, "strategies": list(points)}  # fmt: skip


def sample_record() -> dict:
    """A default, three grid points and a written point: the default (0.13, 0.40); `effort=low`
    gives up harm to get below 0.1 at 1e-3; `mimicry=high` is found less than the default and
    harms more; the written point has no TPR figure."""
    return record(
        strategy(DEFAULT, 0.13, {"fpr<=0.001": 0.40}),
        strategy("effort=low,mimicry=high", 0.05, {"fpr<=0.001": 0.08}, unadapted={"fpr<=0.001": 0.02}, width=0.04),
        strategy("effort=default,mimicry=high", 0.16, {"fpr<=0.001": 0.23}, unadapted={"fpr<=0.001": 0.12}),
        strategy("effort=high,mimicry=default", 0.30, {"fpr<=0.001": 0.70}),
        strategy("quiet persona", None, {"fpr<=0.001": None}, knobs={"persona_sociability": 0.2}),
    )


# ---------------------------------------------------------------- Pareto


def test_pareto_keeps_the_undominated_strategies_ordered_by_harm():
    rec = sample_record()
    # The default (0.13, 0.40) is beaten by mimicry=high (0.16, 0.23): more harm, found less.
    assert fr.pareto(rec["strategies"]) == ["effort=low,mimicry=high", "effort=default,mimicry=high",
                                            "effort=high,mimicry=default"]  # fmt: skip
    assert "quiet persona" not in fr.pareto(rec["strategies"], "fpr<=0.0001", "unadapted"), "no figure: left out"


def test_pareto_keeps_ties_and_drops_a_point_beaten_on_one_count_only():
    same = [strategy("a", 0.1, {"fpr<=0.001": 0.2}), strategy("b", 0.1, {"fpr<=0.001": 0.2})]
    assert fr.pareto(same) == ["a", "b"], "identical points: neither beats the other"
    more_harm = [strategy("a", 0.1, {"fpr<=0.001": 0.2}), strategy("b", 0.2, {"fpr<=0.001": 0.2})]
    assert fr.pareto(more_harm) == ["b"], "same TPR, more harm"
    found_less = [strategy("a", 0.1, {"fpr<=0.001": 0.2}), strategy("b", 0.1, {"fpr<=0.001": 0.1})]
    assert fr.pareto(found_less) == ["b"], "same harm, a lower TPR"
    nulls = [strategy("a", None, {"fpr<=0.001": 0.0}), strategy("b", 0.1, {"fpr<=0.001": 0.5})]
    assert fr.pareto(nulls) == ["b"], "a strategy without a harm rate is left out, not taken as a winner"
    assert fr.pareto([]) == []


def test_pareto_reads_the_threshold_and_the_detector_asked_for():
    points = [strategy("a", 0.1, {"fpr<=0.001": 0.5, "fpr<=0.0001": 0.1}, unadapted={"fpr<=0.001": 0.9}),
              strategy("b", 0.2, {"fpr<=0.001": 0.3, "fpr<=0.0001": 0.3}, unadapted={"fpr<=0.001": 0.9})]  # fmt: skip
    assert fr.pareto(points, "fpr<=0.001") == ["b"]
    assert fr.pareto(points, "fpr<=0.0001") == ["a", "b"]
    assert fr.pareto(points, "fpr<=0.001", "unadapted") == ["b"]


# ---------------------------------------------------------------- the reading


def test_reading_gives_up_harm_to_get_below_the_target():
    r = fr.reading(sample_record())
    assert r["found"] and r["strategy"] == "effort=low,mimicry=high"
    assert r["default"] == DEFAULT and r["default_harm_rate"] == 0.13 and r["default_tpr"] == 0.40
    assert r["give_up"] == pytest.approx(1 - 0.05 / 0.13)
    assert r["tpr"] == 0.08 and r["tpr_high"] == pytest.approx(0.12) and r["strict"] is False
    text = r["text"]
    assert text.startswith("At FPR 1e-3") and "gives up 62% of its harm" in text
    assert "(0.05 vs 0.13 harm events per offender per 30 days)" in text
    assert "0.08 [0.04, 0.12]" in text and "0.12, is not below 0.10" in text and "adapted detector" in text
    strict = fr.reading(sample_record(), below=0.15)
    assert strict["strict"] is True and "upper bound is below 0.15 too" in strict["text"]


def test_reading_of_the_unadapted_detector_is_evasion():
    r = fr.reading(sample_record(), role="unadapted", below=0.15)
    # mimicry=high gets the unadapted detector to 0.12 while harming more than the default.
    assert r["strategy"] == "effort=default,mimicry=high" and r["give_up"] == pytest.approx(1 - 0.16 / 0.13)
    assert r["give_up"] < 0 and "23% more harm than the default" in r["text"]
    assert "unadapted detector (trained on the default behaviour)" in r["text"]


def test_reading_when_no_strategy_gets_below():
    r = fr.reading(sample_record(), below=0.05)
    assert not r["found"]
    assert all(r[k] is None for k in ("strategy", "harm_rate", "tpr", "tpr_low", "tpr_high", "give_up", "strict"))
    assert r["lowest"]["strategy"] == "effort=low,mimicry=high"
    assert r["lowest"]["harm_ratio"] == pytest.approx(0.05 / 0.13)
    assert "no L3 strategy of this grid pushes the TPR of the adapted detector" in r["text"]
    assert "below 0.05: the lowest is 0.08 [0.04, 0.12] (`effort=low,mimicry=high`), at 0.38x" in r["text"]
    empty = fr.reading(record(strategy(DEFAULT, 0.1, {"fpr<=0.001": None})))
    assert not empty["found"] and empty["lowest"] is None and "has a TPR figure" in empty["text"]


def test_reading_when_the_default_is_already_below_or_has_no_harm_rate():
    already = fr.reading(record(strategy(DEFAULT, 0.2, {"fpr<=0.001": 0.05}),
                                strategy("effort=low,mimicry=high", 0.1, {"fpr<=0.001": 0.01})))  # fmt: skip
    assert already["strategy"] == DEFAULT and already["give_up"] == 0
    assert "the default L3 behaviour already keeps the TPR" in already["text"]
    unknown = fr.reading(record(strategy(DEFAULT, None, {"fpr<=0.001": 0.4}),
                                strategy("effort=low,mimicry=high", 0.1, {"fpr<=0.001": 0.01})))  # fmt: skip
    assert unknown["found"] and unknown["give_up"] is None and "gives no ratio" in unknown["text"]


# ---------------------------------------------------------------- the table and names


def test_rows_have_one_cell_per_column_and_mark_the_pareto_sets():
    header, rows = fr.frontier_rows(sample_record())
    assert header == fr.FRONTIER_HEADER and len(rows) == 5
    assert all(len(r) == len(header) for r in rows)
    by = {r[0]: r for r in rows}
    assert f"{DEFAULT} (default)" in by and by[f"{DEFAULT} (default)"][-1] == "—"
    assert by["effort=low,mimicry=high"][-1] == "adapted, unadapted"
    written = by["quiet persona"]
    assert written[1:3] == ["—", "—"] and written[7] == "n/a (0/0)" and written[4].startswith("n/a")
    low = by["effort=low,mimicry=high"]
    assert low[3] == "100" and low[7] == "0.08 [0.04, 0.12] (8/100)" and low[8] == "0.02 [0.00, 0.06] (2/100)"
    assert low[6] == "12.5 [9.0, 16.0] (n=30)" and low[9] == "0.250 [0.10, 0.45] (5/20)"
    _, strict = fr.frontier_rows(sample_record(), "fpr<=0.0001")
    assert strict[1][7] == "0.04 [0.00, 0.08] (4/100)", "the other threshold's figures"


def test_mlflow_names_are_valid_and_leave_undefined_figures_out():
    import re

    rec = sample_record()
    metrics = fr.strategy_metrics(rec["strategies"][1])
    assert metrics["harm_rate"] == 0.05 and metrics["adapted/tpr/fpr_le_0.001"] == 0.08
    assert metrics["unadapted/tpr/fpr_le_0.0001_ci_high"] == pytest.approx(0.05)
    assert metrics["before_harm"] == 0.25 and metrics["before_harm_n"] == 20
    assert all(re.fullmatch(r"[\w./ -]+", k) and math.isfinite(v) for k, v in metrics.items())
    written = fr.strategy_metrics(rec["strategies"][-1])
    assert "harm_rate" not in written and "adapted/tpr/fpr_le_0.001" not in written
    params = fr.strategy_params(rec["strategies"][-1])
    assert params["effort"] == "None" and params["knob.persona_sociability"] == "0.2"
    assert fr.frontier_params(rec)["plan.min_per_level"] == "20" and fr.frontier_tags(rec)["lowbase.level"] == "L3"
    parent = fr.frontier_metrics(rec)
    assert parent["strategies"] == 5 and parent["adapted/fpr_le_0.001/below_0.1_found"] == 1
    assert parent["adapted/fpr_le_0.001/pareto_size"] == 3


def test_formatting_helpers():
    assert fr.budget_text("fpr<=0.001") == "FPR 1e-3" and fr.budget_text("fpr<=0.0001") == "FPR 1e-4"
    assert fr.fmt(None) == "n/a" and fr.fmt(0.0028, 2) == "0.0028" and fr.fmt(0.5) == "0.500"
    assert fr.short_label({"effort": "high", "mimicry": "low"}) == "E+ M-"
    assert fr.short_label({"effort": None, "mimicry": None, "name": "quiet persona"}) == "quiet persona"
