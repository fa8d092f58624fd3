"""Behavioural knobs in the open (data_gen/config.py's docstring says where they live).

The per-level offender knobs of `harm` keep the default datasets as they are: the defaults
written out give the default world's bytes, and moving any one of them gives other bytes.
Outside config.py, a simulation module holds no behavioural float in a function body: it
is a named module constant with its unit and source.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from data_gen import generate
from data_gen.config import HarmConfig, ScenarioError, scenario_from_dict

# The scenario fields behind groomer.py's behaviour, at their defaults, written out: a
# changed default changes every default dataset, so it must fail here first.
PINNED = {
    "targets_median": [100.0, 12.0, 4.0, 4.0],
    "targets_sigma": [0.3, 0.8, 0.6, 0.6],
    "direct_first": [0.0, 0.5, 0.5, 0.5],
    "rapport_hours": [1.0, 6.0, 240.0, 432.0],
    "rapport_messages": [6.0, 8.0, 15.0, 20.0],
    "off_platform_before_image": [0.0, 0.05, 0.2, 0.5],
    "local_targets": [0.0, 0.5, 1.0, 1.0],
    "circle_targets": [0.0, 0.0, 0.0, 1.0],
    "circle_second_hop": 0.5,
    "cartoon_anonymizer": 0.85,
    "persona_account_age_days": [30, 300],
    "competent_account_age_days": [365, 1500],
}
# One valid move of each, large enough to show in a small world.
MOVED = {
    "targets_median": [50.0, 6.0, 2.0, 2.0],
    "targets_sigma": [0.0, 0.0, 0.0, 0.0],
    "direct_first": [0.0, 1.0, 1.0, 1.0],
    "rapport_hours": [24.0, 24.0, 24.0, 24.0],
    "rapport_messages": [30.0, 30.0, 30.0, 30.0],
    "off_platform_before_image": [1.0, 1.0, 1.0, 1.0],
    "local_targets": [1.0, 0.0, 0.0, 0.0],
    "circle_targets": [0.5, 0.5, 0.5, 0.5],
    "circle_second_hop": 0.0,
    "cartoon_anonymizer": 0.0,
    "persona_account_age_days": [1, 2],
    "competent_account_age_days": [1, 2],
}
# 4K accounts with ~40 groomers, ~10 per level: every level's knobs act (< 1 s a world).
WORLD = {"accounts": 4000, "partition_size": 1000, "harm": {"groomer_rate": 0.01, "sophistication_mix": [0.25] * 4}}


def _fingerprint(out: Path, harm: dict | None = None) -> str:
    data = {**WORLD, "harm": {**WORLD["harm"], **(harm or {})}}
    return generate(scenario_from_dict(data, "test_knobs"), seed=1, out=out / "ds")["fingerprint"]


@pytest.fixture(scope="module")
def default_world(tmp_path_factory) -> str:
    return _fingerprint(tmp_path_factory.mktemp("knobs_default"))


def test_pinned_values_are_the_defaults():
    hc = HarmConfig()
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in hc.model_dump().items() if k in PINNED} == PINNED
    assert set(MOVED) == set(PINNED)


def test_explicit_defaults_give_the_default_world(default_world, tmp_path):
    assert _fingerprint(tmp_path, PINNED) == default_world


@pytest.mark.parametrize("field", sorted(MOVED))
def test_moving_a_knob_changes_the_world(default_world, tmp_path, field):
    assert _fingerprint(tmp_path, {field: MOVED[field]}) != default_world


@pytest.mark.parametrize(
    "harm, needle",
    [
        ({"direct_first": [0.0, 1.5, 0.5, 0.5]}, "harm.direct_first"),
        ({"targets_median": [0.0, 12.0, 4.0, 4.0]}, "harm.targets_median"),
        ({"targets_sigma": [0.3, -0.1, 0.6, 0.6]}, "harm.targets_sigma"),
        ({"rapport_hours": [1.0, 6.0, 240.0]}, "harm.rapport_hours"),
        ({"rapport_messages": [6.0, float("nan"), 15.0, 20.0]}, "harm.rapport_messages"),
        ({"off_platform_before_image": [0.0, 0.05, 0.2, 2.0]}, "harm.off_platform_before_image"),
        ({"local_targets": [0.0, 0.5, 1.0, 1.01]}, "harm.local_targets"),
        ({"circle_targets": [-0.1, 0.0, 0.0, 1.0]}, "harm.circle_targets"),
        ({"circle_targets": [0.0, 0.0, 1.0]}, "harm.circle_targets"),
        ({"circle_second_hop": 1.5}, "harm.circle_second_hop"),
        ({"cartoon_anonymizer": 1.2}, "harm.cartoon_anonymizer"),
        ({"persona_account_age_days": [300, 30]}, "harm.persona_account_age_days"),
        ({"competent_account_age_days": [365, 5000]}, "harm.competent_account_age_days"),
    ],
)
def test_bad_knobs_are_refused(harm, needle):
    with pytest.raises(ScenarioError) as exc:
        scenario_from_dict({"harm": harm}, "knobs")
    assert needle in str(exc.value)


DATA_GEN = Path(__file__).resolve().parents[2] / "data_gen"
# Modules that simulate nothing: configuration (validation bounds live there), I/O, layout.
NOT_SIMULATION = {
    "config.py",
    "contract.py",
    "dask_map.py",
    "generate.py",
    "partition.py",
    "reader.py",
    "tables.py",
    "visibility.py",
    "writer.py",
}
# Floats that are not behaviour: numerical guards, the two ends of an edge, the mean-one
# lognormal's -sigma^2 / 2, midpoints of a rank or a hash bucket.
NOT_BEHAVIOUR = {
    ("activity.py", 1e-9),
    ("friendships.py", 1e-12),
    ("rhythm.py", 1e-12),
    ("friendships.py", 2.0),
    ("actors/base.py", 0.5),
    ("actors/fake.py", 0.5),
    ("labels.py", 0.5),
}


def test_no_behavioural_float_in_a_function_body():
    hits = []
    for path in sorted(DATA_GEN.rglob("*.py")):
        rel = path.relative_to(DATA_GEN).as_posix()
        if rel in NOT_SIMULATION:
            continue
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                value = getattr(node, "value", None) if isinstance(node, ast.Constant) else None
                if type(value) is float and value not in (0.0, 1.0) and (rel, value) not in NOT_BEHAVIOUR:
                    hits.append(f"data_gen/{rel}:{node.lineno}: {value!r} in {fn.name}()")
    assert not hits, "name these as module constants (unit, source or reason):\n" + "\n".join(sorted(set(hits)))
