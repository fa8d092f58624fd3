"""The adversary's frontier: sweep files validated at the edge, strategies that change only
their level's knobs, and per-strategy points computed on tiny worlds, cached and paired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bench.errors import RunConfigError
from bench.setup.frontier import (
    DEFAULT,
    FrontierConfig,
    base_scenario,
    grid_name,
    load_frontier,
    strategies,
    strategy_scenario,
)

GRID = {
    "level": "L3",
    "effort": {"low": {"targets_median": 2, "rapport_hours": 864}, DEFAULT: {}, "high": {"targets_median": 8}},
    "mimicry": {DEFAULT: {}, "high": {"persona_family_ties": 1.0, "competent_account_age_days": [1500, 3000]}},
}


def _file(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "frontier.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_grid_is_every_pair_with_the_default_first(tmp_path):
    cfg = load_frontier(_file(tmp_path, {**GRID, "strategies": [{"name": "spray", "knobs": {"targets_median": 30}}]}))
    got = strategies(cfg)
    assert got[0].name == grid_name(DEFAULT, DEFAULT) and got[0].is_default
    assert len(got) == 3 * 2 + 1
    assert {s.name for s in got[1:-1]} == {grid_name(e, m) for e in GRID["effort"] for m in GRID["mimicry"]} - {
        got[0].name
    }
    assert got[-1].name == "spray" and got[-1].effort is None
    both = next(s for s in got if s.name == grid_name("low", "high"))
    assert both.knobs == {**GRID["effort"]["low"], **GRID["mimicry"]["high"]}


def test_a_strategy_moves_only_its_level():
    cfg = FrontierConfig.model_validate(GRID)
    base = base_scenario(cfg)
    s = next(s for s in strategies(cfg) if s.name == grid_name("low", "high"))
    scn = strategy_scenario(base, "L3", s)
    assert scn.harm.targets_median == (*base.harm.targets_median[:3], 2.0)
    assert scn.harm.rapport_hours[:3] == base.harm.rapport_hours[:3] and scn.harm.rapport_hours[3] == 864.0
    assert scn.harm.competent_account_age_days == (1500, 3000)
    # The default point is the scenario itself: the same worlds, the same cache keys.
    assert strategy_scenario(base, "L3", strategies(cfg)[0]).model_dump() == base.model_dump()


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"effort": {DEFAULT: {}, "x": {"no_such_knob": 1}}}, "no knob 'no_such_knob'"),
        ({"effort": {DEFAULT: {}, "x": {"targets_median": 0}}}, "harm.targets_median"),
        ({"effort": {DEFAULT: {}, "x": {"targets_median": [1, 2, 3, 4]}}}, "one number per level"),
        ({"effort": {"x": {"targets_median": 2}}}, "'default' point"),
        ({"level": "L7"}, "field 'level'"),
        ({"model": "nope"}, "field 'model'"),
        ({"mimicry": {DEFAULT: {}, "x": {"targets_median": 3}}, "effort": {DEFAULT: {}, "y": {"targets_median": 2}}},
         "both set targets_median"),
        ({"strategies": [{"name": grid_name("low", DEFAULT)}]}, "unique"),
        ({"surprise": 1}, "field 'surprise'"),
    ],
)  # fmt: skip
def test_bad_sweep_files_are_refused_naming_the_field(tmp_path, change, needle):
    with pytest.raises(RunConfigError) as exc:
        load_frontier(_file(tmp_path, {**GRID, **change}))
    assert needle in str(exc.value)


def test_not_yaml_and_missing_files_are_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("level: [L3\n")
    for path, needle in ((bad, "not valid YAML"), (tmp_path / "none.yaml", "cannot read")):
        with pytest.raises(RunConfigError, match=needle):
            load_frontier(path)


TINY = {
    "name": "tiny",
    "accounts": 3000,
    "level": "L3",
    "min_per_level": 10,
    "fpr_accounts": 3000,
    "checkpoint_every": 28,
    "effort": {DEFAULT: {}, "high": {"targets_median": 8}},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from bench.rare.frontier import frontier

    work = tmp_path_factory.mktemp("frontier")
    cfg = FrontierConfig.model_validate(TINY)
    return cfg, work, frontier(cfg, work)


def test_each_strategy_is_measured_on_the_same_seeds(tiny):
    _, _, record = tiny
    default, high = record["strategies"]
    assert default["default"] and not high["default"] and high["knobs"] == {"targets_median": 8}
    # Common random numbers: the same world seeds, other worlds (the offenders differ).
    assert [w["seed"] for w in default["worlds"]["train"]] == [w["seed"] for w in high["worlds"]["train"]]
    assert default["worlds"]["train"][0]["fingerprint"] != high["worlds"]["train"][0]["fingerprint"]
    # The default behaviour's detector is its own unadapted detector.
    assert default["detection"]["adapted"] == default["detection"]["unadapted"]
    for point in record["strategies"]:
        for role in ("adapted", "unadapted"):
            tpr = point["detection"][role]["fpr<=0.001"]["tpr"]
            assert tpr["n"] > 0 and tpr["low"] <= tpr["value"] <= tpr["high"]


def test_harm_figures_are_the_training_worlds_offenders(tiny):
    from bench.rare.throughput import harm_throughput
    from data_gen.reader import open_dataset

    _, work, record = tiny
    point = record["strategies"][1]
    wanted = {w["fingerprint"] for w in point["worlds"]["train"]}
    everything = [open_dataset(p) for p in (work / "datasets").iterdir() if (p / "dataset.json").is_file()]
    opened = [ds for ds in everything if ds.meta["fingerprint"] in wanted]
    assert len(opened) == len(wanted)
    direct = harm_throughput(opened)[3]
    assert point["harm"]["offenders"] == direct.offenders
    assert point["harm"]["harm_rate"]["events"] == direct.rate.events


def test_a_second_call_reads_every_point_from_the_cache(tiny, monkeypatch):
    import bench.rare.frontier as fr

    cfg, work, record = tiny

    def boom(*a, **k):
        raise AssertionError("recomputed a cached strategy")

    monkeypatch.setattr(fr, "strategy_point", boom)
    again = fr.frontier(cfg, work)
    assert again == record
    assert len(list((work / "frontier").glob("*.json"))) == len(record["strategies"])


def test_cli_plan_lists_strategies_and_bad_files_exit_2(tmp_path):
    from bench.cli.app import app

    runner = CliRunner()
    ok = runner.invoke(app, ["frontier", str(_file(tmp_path, GRID)), "--plan"])
    assert ok.exit_code == 0, ok.output
    assert grid_name("low", "high") in ok.output
    bad = runner.invoke(app, ["frontier", str(_file(tmp_path, {**GRID, "level": "L9"})), "--plan"])
    assert bad.exit_code == 2 and "level" in bad.output


def test_the_shipped_sweep_files_load():
    root = Path(__file__).resolve().parents[2] / "bench" / "sweeps"
    for name in ("frontier-L2.yaml", "frontier-L3.yaml"):
        cfg = load_frontier(root / name)
        assert len(strategies(cfg)) >= 9
        assert json.loads(cfg.model_dump_json())["level"] in ("L2", "L3")
