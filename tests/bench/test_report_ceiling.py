"""The ceiling in a run: `lowbase run` and `lowbase report` attach a cached ceiling (never
compute one) and results.json keeps it; the command a run suggests reads the run's own
worlds; the report's Ceiling subsection, its learning-curve figure and the decomposition
built on it (behaviour = 1 − ceiling, labels = ceiling − realistic, the same-class gap
beside it), worded by the plateau verdict with the intervals of the bounds, and by whether
the two are paired; without a ceiling, one sentence and the command, and no ceiling claim on
the run's own variants.

The ceiling record is synthetic, on the worlds of `test_report_powered`'s synthetic run, so
the two are paired as a real run and its ceiling are (or, altered, not). The tests check
mechanics, not figures.
"""

from __future__ import annotations

import json
import re

import pytest

from bench.rare.learning_curve import best_per_level
from bench.report import ceiling as rc
from bench.report import ceiling_figures as cf
from bench.report import write_report
from bench.report.format import fmt_value
from bench.results import CeilingRecord, RunResults, dump_results, parse_results
from bench.results.ceiling import level_gaps
from tests.bench.test_report_powered import LEVEL_N, exact_rate, powered_point, powered_results

LEVELS = ("L0", "L1", "L2", "L3")
SIZES = (30, 120, 240)
THRESHOLDS = ("fpr<=0.001", "fpr<=0.0001")
# TPR (k of LEVEL_N) per class at its largest point, per threshold. At fpr<=0.001 realistic
# labels find [40, 3, 1, 0]: L0's ceiling interval overlaps it, the others do not.
LARGEST = {
    "dec": {"fpr<=0.001": [45, 45, 30, 20], "fpr<=0.0001": [40, 30, 20, 10]},
    "gbdt-raw": {"fpr<=0.001": [44, 40, 33, 25], "fpr<=0.0001": [41, 28, 22, 12]},
}
NOT_REACHED = {("gbdt-raw", "fpr<=0.001", "L3"), ("dec", "fpr<=0.001", "L2")}


def _verdict(cls: str, thr: str, lvl: str) -> str:
    return "not reached: lower bound" if (cls, thr, lvl) in NOT_REACHED else "reached"


def _curve(cls: str) -> dict:
    points = []
    for i, size in enumerate(SIZES):
        scale = (i + 1) / len(SIZES)
        tpr = {t: {lvl: exact_rate(round(k * scale), LEVEL_N).as_dict() for lvl, k in zip(LEVELS, ks, strict=True)}
               for t, ks in LARGEST[cls].items()}  # fmt: skip
        fpr = {t: exact_rate(50 if t == "fpr<=0.001" else 5, 59_920).as_dict() for t in THRESHOLDS}
        points.append({"offenders": size, "by_level": dict.fromkeys(LEVELS, size // 4), "fpr": fpr,
                       "tpr_by_level": tpr})  # fmt: skip
    plateau = {t: {lvl: {"verdict": _verdict(cls, t, lvl), "last": SIZES[-1], "previous": SIZES[-2], "change": 0.1,
                         "half_width": 0.1} for lvl in LEVELS} for t in THRESHOLDS}  # fmt: skip
    return {"curve": points, "plateau": plateau}


def ceiling_record(run: dict, key: str = "0123456789abcdef", settings: dict | None = None) -> dict:
    """A ceiling of two classes on `run`'s TPR and FPR worlds, as `bench.rare.ceiling` writes it."""
    models = {cls: _curve(cls) for cls in LARGEST}
    best = best_per_level(models, THRESHOLDS)
    pw = run["analysis"]["powered"]
    powered = {**{k: v for k, v in pw.items() if k != "unreachable"}, "models": {}}
    for cls, by in LARGEST.items():
        points = {t: powered_point(50 if t == "fpr<=0.001" else 5, ks) for t, ks in by.items()}
        powered["models"][f"{cls} @ {SIZES[-1]}"] = {"thresholds": [], "by_threshold": points}
    return {
        "task": "groomer", "scenario": run["scenario"]["name"], "visibility": "full", "seed": run["config"]["seed"],
        "generator": "g", "key": key, "settings": settings or {"models": list(LARGEST)},
        "worlds": {"train": [{"seed": 1, "fingerprint": "b" * 64}], "calibration": {"seed": 2, "fingerprint": "c" * 64},
                   "tpr": pw["worlds"]["tpr"], "fpr": pw["worlds"]["fpr"]},
        "pool": dict.fromkeys(LEVELS, SIZES[-1] // 4), "thresholds_set_on": {"world": "c" * 64, "split": "whole world"},
        "models": models, "ceiling": best, "powered": powered, "seconds": 12.0,
    }  # fmt: skip


def with_ceiling() -> dict:
    r = powered_results()
    r["ceiling"] = ceiling_record(r)
    return r


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("ceiling")
    return write_report(with_ceiling(), root / "a"), write_report(with_ceiling(), root / "b")


def _section(md: str, heading: str) -> str:
    start = md.index(heading)
    end = md.find("\n### ", start + len(heading))
    return md[start : end if end >= 0 else len(md)]


def test_the_ceiling_section_and_its_figures(reports):
    a, b = reports
    for png in (rc.CURVES_PNG, rc.DECOMPOSITION_PNG):
        assert png in a and a[png].read_bytes()[:4] == b"\x89PNG"
        assert a[png].read_bytes() == b[png].read_bytes(), f"{png}: the same results give the same bytes"
    assert "powered_label_supply.png" not in a, "the ceiling's curves carry the variants"
    md = a["report.md"].read_text()
    ceiling = _section(md, "### Ceiling")
    assert "the same 1 enriched and 2 negative world(s)" in ceiling and "so the two are paired" in ceiling
    assert "whole world of calibration world `cccccccccccc`" in ceiling and "`0123456789abcdef`" in ceiling
    rows = [line for line in ceiling.splitlines() if line.startswith("| L")]
    assert len(rows) == len(LEVELS) * len(THRESHOLDS), "every level at both FPR budgets"
    l3 = next(r for r in rows if r.startswith("| L3") and "`fpr<=0.001`" in r)
    assert "`gbdt-raw`" in l3 and "≥ 0.417" in l3 and "(25/60)" in l3 and "not reached: lower bound" in l3
    l1 = next(r for r in rows if r.startswith("| L1") and "`fpr<=0.001`" in r)
    assert "`dec`" in l1 and "| 0.750" in l1 and "| reached |" in l1
    assert f"]({rc.CURVES_PNG})" in md and f"]({rc.DECOMPOSITION_PNG})" in md


def test_decomposition_numbers_are_one_minus_ceiling_and_ceiling_minus_realistic(reports):
    r = parse_results(with_ceiling())
    pw, record = r.analysis.powered, r.ceiling
    assert pw is not None and record is not None
    realistic = pw.models["realistic labels"].by_threshold["fpr<=0.001"]
    md = _section(reports[0]["report.md"].read_text(), "### Decomposition on the ceiling")
    header = next(line for line in md.splitlines() if line.startswith("| level |")).split(" | ")
    assert "same-class gap: `dec` − realistic" in header, "the run's primary class is one of the ceiling's"
    same_at = header.index("same-class gap: `dec` − realistic")
    for g in level_gaps(record, pw, "fpr<=0.001", r.primary):
        c, real = record.ceiling["fpr<=0.001"][g.level].tpr, realistic.tpr_by_level[g.level]
        own = record.models["dec"].curve[-1].tpr_by_level["fpr<=0.001"][g.level]
        labels, same = g.labels(), g.same_class_labels()
        assert labels is not None and g.behaviour()[0] == pytest.approx(1 - c.value)
        assert g.behaviour()[1:] == pytest.approx((1 - c.high, 1 - c.low))
        assert labels == pytest.approx((c.value - real.value, c.low - real.high, c.high - real.low))
        assert same == pytest.approx((own.value - real.value, own.low - real.high, own.high - real.low))
        row = next(line for line in md.splitlines() if line.startswith(f"| {g.level} "))
        assert fmt_value(labels[0]) in row and fmt_value(1 - c.value) in row
        assert fmt_value(same[0]) in row.split(" | ")[same_at]
        assert f"({c.n - c.k}/{c.n} missed)" in row
    assert not level_gaps(record, pw, "fpr<=0.001", "logreg")[0].same_class_labels(), "not a ceiling class"


def test_without_the_primary_class_among_the_ceilings_no_same_class_column(tmp_path):
    data = with_ceiling()
    data["ceiling"]["models"] = {"gbdt-raw": data["ceiling"]["models"]["gbdt-raw"]}
    md = _section(write_report(data, tmp_path / "r")["report.md"].read_text(), "### Decomposition on the ceiling")
    assert "same-class gap" not in md and "held fixed" not in md
    assert "need not be this run's class" in md, "the labels gap still holds the class and the thresholds"


def _within(value: float, low: float, high: float) -> str:
    return f"{fmt_value(value)} [95%: {fmt_value(low, 2)}, {fmt_value(high, 2)}]"


def test_readings_follow_the_verdict_and_the_intervals(reports):
    md = _section(reports[0]["report.md"].read_text(), "### Decomposition on the ceiling")
    reading = {lvl: next(line for line in md.splitlines() if line.startswith(f"- **{lvl}**")) for lvl in LEVELS}
    record = CeilingRecord.model_validate(with_ceiling()["ceiling"])
    # L3: the ceiling is a lower bound, so labels are at least and behaviour at most its
    # figure, each with the interval of that figure (ceiling 25/60 on realistic 0/60)
    c = record.ceiling["fpr<=0.001"]["L3"].tpr
    real = exact_rate(0, LEVEL_N)
    assert "plateau not reached: a lower bound" in reading["L3"]
    gap = _within(c.value - real.value, c.low - real.high, c.high - real.low)
    assert f"account for at least {gap}" in reading["L3"], reading["L3"]
    assert f"behaviour for at most {_within(1 - c.value, 1 - c.high, 1 - c.low)}" in reading["L3"]
    # ... and the run's own class, not the best at L3, its gap with the class held fixed
    own = record.models["dec"].curve[-1].tpr_by_level["fpr<=0.001"]["L3"]
    fixed = _within(own.value - real.value, own.low - real.high, own.high - real.low)
    assert f"held fixed (`dec`, this run's class, on plentiful truth) {fixed}" in reading["L3"]
    # L1: plateau reached, the gaps are figures with their intervals; dec is the best class
    assert "(plateau reached)" in reading["L1"] and "at least" not in reading["L1"] and "at most" not in reading["L1"]
    assert re.search(r"account for 0\.700 \[95%: \S+, \S+\]; behaviour for 0\.250 \[95%: \S+, \S+\]\.", reading["L1"])
    assert "held fixed" not in reading["L1"], "the best class is the run's own"
    # L2: dec overlaps the best class and has not reached its plateau: the ceiling is a bound
    assert "plateau not reached" in reading["L2"] and "at least" in reading["L2"]
    # L0: the ceiling's interval overlaps realistic labels' figure
    assert "is not distinguishable from zero" in reading["L0"] and "account for" not in reading["L0"]
    # the text says what the labels gap holds besides labels, and that the best is a maximum
    assert "need not be this run's class" in md and "calibration world" in md and "slightly optimistic" in md
    assert "read on the same enriched and negative worlds (paired)" in md
    # the base rate: precision rows for realistic labels and the ceiling's classifier
    assert "| `realistic labels` |" in md and "| ceiling class `dec @ 240` |" in md
    assert "realistic labels support precision 0.5 down to" in md


def test_a_ceiling_on_other_worlds_is_said_not_to_be_paired(tmp_path):
    data = with_ceiling()
    data["ceiling"]["worlds"]["fpr"] = [{**w, "fingerprint": "9" * 64} for w in data["ceiling"]["worlds"]["fpr"]]
    md = write_report(data, tmp_path / "r")["report.md"].read_text()
    assert "so the ceiling and this run's figures are not paired" in _section(md, "### Ceiling")
    decomposition = _section(md, "### Decomposition on the ceiling")
    assert "**read on different worlds**" in decomposition and "(paired)" not in decomposition
    assert "on enriched worlds of their own" in md


def test_without_a_ceiling_one_sentence_and_no_ceiling_claim(tmp_path):
    files = write_report(powered_results(), tmp_path / "r")
    assert "powered_label_supply.png" in files and rc.CURVES_PNG not in files and rc.DECOMPOSITION_PNG not in files
    md = files["report.md"].read_text()
    powered = md[md.index("## Powered evaluation") : md.index("### At `")]
    before, ceiling = powered.split("### Ceiling")
    assert "ceiling" not in before.lower(), "no variant of the run is called a ceiling"
    assert "No ceiling is attached to these results" in ceiling
    command = "`lowbase ceiling --scenario quick --accounts 1000 --visibility full --seed 7 --fpr-accounts 60000`"
    assert command in ceiling, "the run's 60,000 negatives, not the ceiling's default million"
    assert len([line for line in ceiling.splitlines() if line.strip()]) == 1, "one sentence, no table, no figure"
    assert "ceiling" not in md[md.index("### At `") :].lower()


def test_the_curves_draw_without_a_run(tmp_path):
    record = CeilingRecord.model_validate(ceiling_record(powered_results()))
    assert cf.fig_ceiling_curves(record, tmp_path / "alone.png")
    assert cf.fig_ceiling_curves(record, tmp_path / "again.png")
    assert (tmp_path / "alone.png").read_bytes() == (tmp_path / "again.png").read_bytes()
    assert not cf.fig_ceiling_curves(record, tmp_path / "none.png", threshold="fpr<=0.5")
    assert not (tmp_path / "none.png").exists()


def test_the_command_that_computes_a_ceiling():
    assert rc.ceiling_command("quick", None, "full", 3) == "lowbase ceiling --scenario quick --visibility full --seed 3"
    assert rc.ceiling_command("standard", 20_000, "minimal", 0, "work") == (
        "lowbase ceiling --scenario standard --accounts 20000 --visibility minimal --seed 0 --workdir work"
    )
    assert rc.ceiling_command("quick", None, "full", 3, fpr_accounts=1_000_000, tpr_worlds=1, enriched_rate=0.01) == (
        "lowbase ceiling --scenario quick --visibility full --seed 3"
    ), "the ceiling's defaults are not named"
    assert rc.ceiling_command("quick", None, "full", 3, fpr_accounts=0, tpr_worlds=2, enriched_rate=0.003) == (
        "lowbase ceiling --scenario quick --visibility full --seed 3 --fpr-accounts 0 --tpr-worlds 2 "
        "--enriched-rate 0.003"
    )


# ---------------------------------------------------------------- the run


def run_of(cfg) -> dict:
    """`powered_results` as a run of `cfg` would write them: its config and scenario, and as
    many TPR and FPR worlds as its powered evaluation scores."""
    from bench.results import RunRecord, ScenarioRecord
    from bench.setup.config import fpr_accounts, resolve_scenario

    scn = resolve_scenario(cfg)
    data = powered_results()
    data["config"] = RunRecord.model_validate(cfg.model_dump(mode="json")).model_dump(mode="json")
    data["scenario"] = ScenarioRecord.model_validate(scn.model_dump(mode="json")).model_dump(mode="json")
    n_fpr = max(1, -(-fpr_accounts(cfg, scn) // scn.accounts))
    worlds = data["analysis"]["powered"]["worlds"]
    worlds["tpr"] = [{**worlds["tpr"][0], "seed": i, "fingerprint": f"t{i}"} for i in range(cfg.tpr_worlds)]
    worlds["fpr"] = [{**worlds["fpr"][0], "seed": i, "fingerprint": f"f{i}"} for i in range(n_fpr)]
    data["analysis"]["powered"]["enriched_rate"] = cfg.enriched_rate
    return data


def _cached(work, scn, run: dict, settings: dict | None = None) -> CeilingRecord:
    """A ceiling record on `run`'s worlds, written into `work`'s cache under the key
    `cached_ceiling` accepts (its DEC on this process's kernels, pinned: tests/conftest.py)."""
    from bench.rare.ceiling import cache_path, ceiling_key
    from common import kernels

    settings = {**(settings or {"models": list(LARGEST), "curve": list(SIZES)}), "kernels": kernels.mode()}
    record = CeilingRecord.model_validate(
        ceiling_record(run, key=ceiling_key(scn, "full", run["config"]["seed"], settings), settings=settings)
    )
    path = cache_path(work, scn, "full", record.seed, record.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record.model_dump_json())
    return record


def _suggested(steps: list[str]) -> str:
    [line] = [s for s in steps if "none cached" in s]
    return re.search(r"`(lowbase ceiling [^`]+)`", line).group(1)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"accounts": 1000}, id="1,000 accounts: ten worlds of negatives, not a million"),
        pytest.param({"accounts": 1000, "fpr_accounts": 2500, "tpr_worlds": 2, "enriched_rate": 0.005}, id="asked"),
        pytest.param({}, id="quick's defaults: the ceiling's own"),
    ],
)
def test_the_suggested_command_reads_the_runs_own_worlds(tmp_path, monkeypatch, fields):
    """The command a run names, run through `lowbase ceiling`'s own options, plans exactly
    the TPR and FPR worlds the run's powered evaluation read."""
    from typer.testing import CliRunner

    from bench.cli import ceiling as cli_ceiling
    from bench.cli.app import app
    from bench.rare.powered import PoweredPlan
    from bench.run import execute
    from bench.setup.config import RunConfig, fpr_accounts, resolve_scenario

    cfg = RunConfig(preset="quick", seed=7, **fields)
    scn = resolve_scenario(cfg)
    steps: list[str] = []
    execute.attach_ceiling(parse_results(run_of(cfg)), scn, tmp_path, steps.append)
    command = _suggested(steps)
    assert ("--fpr-accounts" in command) == ("accounts" in fields)
    planned: list = []
    monkeypatch.setattr(cli_ceiling, "print_plan", lambda s, plan: planned.append((s, plan)))
    res = CliRunner().invoke(app, [*command.split()[1:], "--plan"])
    assert res.exit_code == 0, res.output
    [(got_scn, plan)] = planned
    assert got_scn == scn, "the same scenario, so the same cache key"
    run_plan = PoweredPlan(cfg.visibility, "groomer", cfg.tpr_worlds, fpr_accounts(cfg, scn), cfg.enriched_rate)
    assert plan.powered().worlds(got_scn, cfg.seed) == run_plan.worlds(scn, cfg.seed)


def test_a_run_attaches_the_cached_ceiling_and_results_json_keeps_it(tmp_path, monkeypatch):
    from bench.run import execute
    from bench.setup.config import RunConfig, resolve_scenario

    cfg = RunConfig(preset="quick", seed=7)
    scn = resolve_scenario(cfg)
    data = run_of(cfg)
    steps: list[str] = []
    monkeypatch.setattr(execute, "run_pipeline", lambda *a: parse_results(run_of(cfg)))
    _, bare, _, _ = execute.compute(cfg, tmp_path, steps.append)
    assert bare.ceiling is None
    assert _suggested(steps) == f"lowbase ceiling --scenario quick --visibility full --seed 7 --workdir {tmp_path}"

    record = _cached(tmp_path, scn, data)
    steps.clear()
    name, results, path, report = execute.compute(cfg, tmp_path, steps.append)
    assert results.ceiling == record
    assert any(s.startswith("ceiling: read ") and record.key in s and "paired" in s for s in steps)
    again = parse_results(json.loads(path.read_text()))
    assert again.ceiling == record and dump_results(again) == path.read_text(), "results.json round-trips it"
    assert (report / rc.CURVES_PNG).is_file()


def test_a_run_without_the_powered_evaluation_reads_no_ceiling(tmp_path):
    from bench.run.execute import attach_ceiling
    from bench.setup.config import RunConfig, resolve_scenario
    from tests.bench.test_report import full_results

    cfg = RunConfig(preset="quick", seed=7)
    scn = resolve_scenario(cfg)
    _cached(tmp_path, scn, run_of(cfg))
    results: RunResults = parse_results(full_results())
    steps: list[str] = []
    attach_ceiling(results, scn, tmp_path, steps.append)
    assert results.ceiling is None and not steps


def test_lowbase_report_attaches_the_cached_ceiling_of_its_workdir(tmp_path, store, monkeypatch):
    """`lowbase report --workdir W` of a run logged without a ceiling reads W's cache the way
    `lowbase run` does: of two cached ceilings the one on the run's own worlds, though the
    other has more classes; with no cache, the report names the command."""
    from typer.testing import CliRunner

    from bench.cli.app import app
    from bench.run.tracking import setup
    from bench.setup.config import RunConfig, resolve_scenario

    monkeypatch.chdir(tmp_path)  # the store's artifacts land here
    cfg = RunConfig(preset="quick", seed=7, accounts=1000)
    scn = resolve_scenario(cfg)
    client = setup()
    rid = client.create_run(client.get_experiment_by_name("lowbase-run").experiment_id, run_name="r").info.run_id
    run = run_of(cfg)
    (tmp_path / "results.json").write_text(dump_results(parse_results(run)))
    client.log_artifact(rid, str(tmp_path / "results.json"), "results")
    client.set_terminated(rid, "FINISHED")
    work = tmp_path / "work"

    def report(out: str) -> str:
        res = CliRunner().invoke(app, ["report", "--run-id", rid, "--out", str(tmp_path / out), "--workdir", str(work)])
        assert res.exit_code == 0, res.output
        return (tmp_path / out / "report.md").read_text()

    bare = report("none")
    assert "No ceiling is attached" in bare and "--seed 7 --fpr-accounts 10000`" in bare, "the run's ten worlds"
    paired = _cached(work, scn, run)
    other = {
        **run,
        "analysis": {
            **run["analysis"],
            "powered": {
                **run["analysis"]["powered"],
                "worlds": {
                    **run["analysis"]["powered"]["worlds"],
                    "fpr": [{"fingerprint": "x" * 64, "negatives": 1, "seed": 99}],
                },
            },
        },
    }
    richer = _cached(work, scn, other, {"models": [*LARGEST, "logreg"], "curve": list(SIZES)})
    assert richer.key != paired.key
    md = report("with")
    ceiling = _section(md, "### Ceiling")
    assert f"`{paired.key}`" in ceiling and "so the two are paired" in ceiling
    assert (tmp_path / "with" / rc.CURVES_PNG).is_file()


def test_a_cached_file_reads_its_verdicts_by_the_rule_in_force(tmp_path):
    """The per-level ceiling is a reading of the stored curves: a file whose stored verdicts
    disagree with `best_per_level` (written under another rule) is read by the rule."""
    from bench.rare.ceiling import read_ceiling

    doc = ceiling_record(powered_results())
    want = doc["ceiling"]
    stale = json.loads(json.dumps(doc))
    for levels in stale["ceiling"].values():
        for c in levels.values():
            c["verdict"] = "reached" if c["verdict"] != "reached" else "not reached: lower bound"
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(stale))
    got = read_ceiling(path)
    assert {t: {lvl: c.verdict for lvl, c in v.items()} for t, v in got.ceiling.items()} == {
        t: {lvl: c["verdict"] for lvl, c in v.items()} for t, v in want.items()
    }
