"""The ceiling in a run: `lowbase run` attaches a cached ceiling (never computes one) and
results.json keeps it; the report's Ceiling subsection, its learning-curve figure and the
decomposition built on it (behaviour = 1 − ceiling, labels = ceiling − realistic), worded by
the plateau verdict; without a ceiling, one sentence and the command, and no ceiling claim
on the run's own variants; the console headline's ceiling column.

The ceiling record is synthetic, on the worlds of `test_report_powered`'s synthetic run, so
the two are paired as a real run and its ceiling are. The tests check mechanics, not figures.
"""

from __future__ import annotations

import json
import re

import pytest

from bench.report import ceiling as rc
from bench.report import ceiling_figures as cf
from bench.report import write_report
from bench.report.format import fmt_value
from bench.results import CeilingRecord, RunResults, dump_results, parse_results
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
    best = {}
    for t in THRESHOLDS:
        best[t] = {}
        for i, lvl in enumerate(LEVELS):
            cls = max(LARGEST, key=lambda c, t=t, i=i: LARGEST[c][t][i])
            best[t][lvl] = {"model": cls, "tpr": exact_rate(LARGEST[cls][t][i], LEVEL_N).as_dict(),
                            "verdict": _verdict(cls, t, lvl)}  # fmt: skip
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
    for g in cf.level_gaps(record, pw, "fpr<=0.001"):
        c, real = record.ceiling["fpr<=0.001"][g.level].tpr, realistic.tpr_by_level[g.level]
        labels = g.labels()
        assert labels is not None and g.behaviour()[0] == pytest.approx(1 - c.value)
        assert g.behaviour()[1:] == pytest.approx((1 - c.high, 1 - c.low))
        assert labels == pytest.approx((c.value - real.value, c.low - real.high, c.high - real.low))
        row = next(line for line in md.splitlines() if line.startswith(f"| {g.level} "))
        assert fmt_value(labels[0]) in row and fmt_value(1 - c.value) in row
        assert f"({c.n - c.k}/{c.n} missed)" in row


def test_readings_follow_the_verdict_and_the_intervals(reports):
    md = _section(reports[0]["report.md"].read_text(), "### Decomposition on the ceiling")
    reading = {lvl: next(line for line in md.splitlines() if line.startswith(f"- **{lvl}**")) for lvl in LEVELS}
    # L3: the ceiling is a lower bound, so labels are at least and behaviour at most its figure
    assert "plateau not reached: a lower bound" in reading["L3"]
    assert f"Labels account for at least {fmt_value(25 / 60 - 0 / 60)}" in reading["L3"]
    assert f"behaviour for at most {fmt_value(1 - 25 / 60)}" in reading["L3"]
    # L1: plateau reached, the gaps are figures with their intervals
    assert "(plateau reached)" in reading["L1"] and "at least" not in reading["L1"] and "at most" not in reading["L1"]
    assert re.search(r"Labels account for 0\.700 \[\S+, \S+\]; behaviour for 0\.250 \[\S+, \S+\]\.", reading["L1"])
    # L0: the ceiling's interval overlaps realistic labels' figure
    assert "is not distinguishable from zero" in reading["L0"] and "Labels account" not in reading["L0"]
    # the base rate: precision rows for realistic labels and the ceiling's classifier
    assert "| `realistic labels` |" in md and "| ceiling class `dec @ 240` |" in md
    assert "realistic labels support precision 0.5 down to" in md


def test_without_a_ceiling_one_sentence_and_no_ceiling_claim(tmp_path):
    files = write_report(powered_results(), tmp_path / "r")
    assert "powered_label_supply.png" in files and rc.CURVES_PNG not in files and rc.DECOMPOSITION_PNG not in files
    md = files["report.md"].read_text()
    powered = md[md.index("## Powered evaluation") : md.index("### At `")]
    before, ceiling = powered.split("### Ceiling")
    assert "ceiling" not in before.lower(), "no variant of the run is called a ceiling"
    assert "No ceiling is attached to these results" in ceiling
    assert "`lowbase ceiling --scenario quick --accounts 1000 --visibility full --seed 7`" in ceiling
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


# ---------------------------------------------------------------- the run


def _cached(work, scn, run: dict) -> CeilingRecord:
    """A ceiling record written into `work`'s cache under the key `cached_ceiling` accepts."""
    from bench.rare.ceiling import cache_path, ceiling_key

    settings = {"models": list(LARGEST), "curve": list(SIZES)}
    record = CeilingRecord.model_validate(
        ceiling_record(run, key=ceiling_key(scn, "full", run["config"]["seed"], settings), settings=settings)
    )
    path = cache_path(work, scn, "full", record.seed, record.key)
    path.parent.mkdir(parents=True)
    path.write_text(record.model_dump_json())
    return record


def test_a_run_attaches_the_cached_ceiling_and_results_json_keeps_it(tmp_path, monkeypatch):
    from bench.run import execute
    from bench.setup.config import RunConfig, resolve_scenario

    cfg = RunConfig(preset="quick", seed=7)
    scn = resolve_scenario(cfg)
    data = powered_results()
    steps: list[str] = []
    monkeypatch.setattr(execute, "run_pipeline", lambda *a: parse_results(powered_results()))
    _, bare, _, _ = execute.compute(cfg, tmp_path, steps.append)
    assert bare.ceiling is None
    assert any(
        "none cached" in s
        and f"`lowbase ceiling --scenario quick --visibility full --seed 7 --workdir {tmp_path}`" in s
        for s in steps
    )

    record = _cached(tmp_path, scn, data)
    steps.clear()
    name, results, path, report = execute.compute(cfg, tmp_path, steps.append)
    assert results.ceiling == record
    assert any(s.startswith("ceiling: read ") and record.key in s for s in steps)
    again = parse_results(json.loads(path.read_text()))
    assert again.ceiling == record and dump_results(again) == path.read_text(), "results.json round-trips it"
    assert (report / rc.CURVES_PNG).is_file()


def test_a_run_without_the_powered_evaluation_reads_no_ceiling(tmp_path):
    from bench.run.execute import attach_ceiling
    from bench.setup.config import RunConfig, resolve_scenario
    from tests.bench.test_report import full_results

    cfg = RunConfig(preset="quick", seed=7)
    scn = resolve_scenario(cfg)
    _cached(tmp_path, scn, powered_results())
    results: RunResults = parse_results(full_results())
    steps: list[str] = []
    attach_ceiling(results, cfg, scn, tmp_path, steps.append)
    assert results.ceiling is None and not steps
