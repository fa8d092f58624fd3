"""The groomer ceiling on the leaderboard: a reference row per powered scenario read from
the work directory's ceiling cache, each entry's TPR per level as a share of it (an upper
bound where the ceiling is a lower bound, taken at its 95% lower limit; marked where above
100%; n/a where it is 0), a note naming the command
where none is cached, and `lowbase leaderboard ceiling` computing exactly the missing ones.

Ceilings here are tiny synthetic records written under the cache's own name and key
(`ceiling_key`, `cache_path`), so `cached_ceiling` finds them as it finds a computed one;
entries are synthetic too: the board reads nothing but their figures.
"""

from __future__ import annotations

import inspect
import json

import pytest
import yaml
from typer.testing import CliRunner

from bench.cli.app import app
from bench.leaderboard.board import markdown, tables
from bench.leaderboard.ceilings import references, targets
from bench.leaderboard.suite import load_suite, scenario_of
from bench.rare import ceiling as rare_ceiling
from bench.rare.ceiling import CeilingPlan, cache_path, ceiling_key
from bench.results.ceiling import CeilingRecord
from tests.bench.test_leaderboard import tiny_suite_doc

runner = CliRunner()
LEVELS = ("L0", "L1", "L2", "L3")
STRICT = "fpr<=0.001"  # the tiny suite's strictest FPR budget is 1e-3
ENR_FP = "e" * 64


def rate(k: int, n: int) -> dict:
    v = k / n if n else 0.0
    return {"value": v, "low": max(0.0, v - 0.1), "high": min(1.0, v + 0.1), "k": k, "n": n}


def make_record(scn, visibility: str, seed: int, levels: dict, thresholds=("fpr<=0.001", "fpr<=0.0001"),
                tpr_fp: str = ENR_FP, train_worlds: int = 3) -> CeilingRecord:  # fmt: skip
    """A ceiling whose every level at every threshold is `levels[lvl] = (k, n, verdict)`,
    held by one class, gbdt-raw, with a one-point curve and an FPR of 3 in 10,000."""
    settings = CeilingPlan(visibility, min_per_level=8).settings()
    tpr = {t: {lvl: rate(k, n) for lvl, (k, n, _) in levels.items()} for t in thresholds}
    point = {"offenders": 40, "by_level": dict.fromkeys(LEVELS, 10),
             "fpr": {t: rate(3, 10_000) for t in thresholds}, "tpr_by_level": tpr}  # fmt: skip
    doc = {
        "task": "groomer", "scenario": scn.name, "visibility": visibility, "seed": seed, "generator": "x",
        "key": ceiling_key(scn, visibility, seed, settings), "settings": settings,
        "worlds": {"train": [{"seed": i, "fingerprint": f"t{i}"} for i in range(train_worlds)],
                   "calibration": {"seed": 9, "fingerprint": "c" * 64},
                   "tpr": [{"seed": 5, "fingerprint": tpr_fp, "accounts": 100, "positives": 40}],
                   "fpr": [{"seed": 6, "fingerprint": "f" * 64, "negatives": 10_000}]},
        "pool": dict.fromkeys(LEVELS, 10), "thresholds_set_on": {"world": "c" * 64, "split": "whole world"},
        "models": {"gbdt-raw": {"curve": [point], "plateau": {}}},
        "ceiling": {t: {lvl: {"model": "gbdt-raw", "tpr": rate(k, n), "verdict": v}
                        for lvl, (k, n, v) in levels.items()} for t in thresholds},
        "powered": {"task": "groomer", "visibility": visibility, "worlds": {}, "enriched_rate": 0.01,
                    "scenario_mix": [0.25] * 4, "models": {}},
    }  # fmt: skip
    return CeilingRecord.model_validate(doc)


def write_record(work, record: CeilingRecord, scn):
    path = cache_path(work, scn, record.visibility, record.seed, record.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record.model_dump_json())
    return path


CEILING = {"L0": (41, 50, "reached"), "L1": (20, 50, "not reached: lower bound"), "L2": (0, 50, "reached"),
           "L3": (10, 50, "reached")}  # fmt: skip
ENTRY_TPR = {"L0": 0.30, "L1": 0.10, "L2": 0.05, "L3": 0.0}


def fig(mean) -> dict:
    return {"mean": mean, "std": 0.0, "per_seed": [mean, mean]}


def entry(name: str, tpr: dict) -> dict:
    """An entry of the tiny suite's two powered scenarios, TPR per level at 1e-3 as given."""
    g = {f"recall_fpr1e-3_{lvl}": fig(v) for lvl, v in tpr.items()}
    g |= {"recall_fpr1e-2": fig(0.5), "recall_fpr1e-3": fig(0.2), "fpr_fpr1e-3": fig(0.0008), "auroc": fig(0.8)}
    g |= {f"precision_pi{pi}_fpr1e-3": fig(0.1) | {"kinds": ["point", "point"]} for pi in ("1e-3", "1e-4")}
    return {"format": "lowbase-entry/2", "name": name, "seeds": [0, 1],
            "figures": {sc: {"groomer": g} for sc in ("groomer", "groomer-sealed")}}  # fmt: skip


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "tiny-v2.yaml"
    path.write_text(yaml.safe_dump(tiny_suite_doc({"worlds/enr": ENR_FP})))
    return path


@pytest.fixture
def cached(tmp_path, suite_file):
    """The tiny suite, a work directory holding the ceiling of its `groomer` scenario (full
    visibility) only, and that record."""
    suite = load_suite(str(suite_file))
    spec = suite.datasets["base"]
    work = tmp_path / "work"
    record = make_record(scenario_of(spec), "full", spec.seed, CEILING)
    write_record(work, record, scenario_of(spec))
    return suite, work, record


def cells(md: str, scenario: str, name: str) -> list[str]:
    """The cells of the rare-harm row of (scenario, entry)."""
    for line in md.splitlines():
        row = [c.strip() for c in line.strip("|").split(" | ")]
        if len(row) > 2 and row[0] == scenario and row[1] == name:
            return row
    raise AssertionError(f"no row {scenario} / {name}")


def test_the_reference_row_and_each_share_are_entry_over_ceiling(cached):
    suite, work, record = cached
    refs = references(suite, work)
    found = refs["groomer"].record
    assert found is not None and found.key == record.key and refs["groomer-sealed"].record is None
    md = markdown([entry("model a", ENTRY_TPR)], suite, refs)
    header = next(line for line in md.splitlines() if line.startswith("| scenario |"))
    levels_at = header.split(" | ").index("L0 @FPR 1e-3")
    row = cells(md, "groomer", "ceiling (truth pooled over 3 enriched worlds; best class per level)")
    assert row[levels_at : levels_at + 4] == ["0.820", "≥ 0.400", "0.000", "0.200"]
    assert row[levels_at + 4] == "0.0003"  # the class's FPR on the ceiling's negatives
    got = cells(md, "groomer", "model a")[levels_at : levels_at + 4]
    expected = []
    for lvl in LEVELS:  # independently: the entry's TPR over k/n of the ceiling, or over its low
        k, n, verdict = CEILING[lvl]
        tpr = ENTRY_TPR[lvl]
        if k == 0:
            expected.append(f"{tpr:.2f} (n/a of ceiling)")
        elif verdict != "reached" and tpr > 0:
            expected.append(f"{tpr:.2f} (≤{round(100 * tpr / rate(k, n)['low'])}% of ceiling)")
        else:
            expected.append(f"{tpr:.2f} ({round(100 * tpr * n / k)}% of ceiling)")
    assert got == expected == ["0.30 (37% of ceiling)", "0.10 (≤33% of ceiling)", "0.05 (n/a of ceiling)",
                               "0.00 (0% of ceiling)"]  # fmt: skip
    # the scenario without a ceiling: plain TPRs, and a note naming the command
    assert cells(md, "groomer-sealed", "model a")[levels_at : levels_at + 4] == ["0.30", "0.10", "0.05", "0.00"]
    assert not any(line.startswith("| groomer-sealed | ceiling") for line in md.splitlines())
    sealed = next(line for line in md.splitlines() if line.startswith("- groomer-sealed:"))
    assert "no ceiling cached for dataset base at sealed_sender, seed 3" in sealed
    assert f"`lowbase leaderboard ceiling --suite {suite.suite} --workdir {work}`" in sealed
    full = next(line for line in md.splitlines() if line.startswith("- groomer:"))
    assert "on the entries' own enriched world" in full and str(refs["groomer"].path) in full


def test_a_share_above_the_ceiling_is_marked_and_a_bound_without_a_lower_limit_is_none():
    """An entry above the ceiling's TPR gets the mark the legend explains; under a lower-bound
    ceiling whose 95% lower limit is 0 the share has no upper bound."""
    from bench.leaderboard.board import CEILING_LEGEND
    from bench.leaderboard.ceilings import ABOVE, share_cell, share_upper
    from bench.results.ceiling import LevelCeiling

    def lc(value, low, verdict="reached"):
        return LevelCeiling(model="m", tpr={"value": value, "low": low, "high": 0.9, "k": 1, "n": 10}, verdict=verdict)

    assert share_cell(0.30, lc(0.10, 0.05)) == f"0.30 (300% of ceiling{ABOVE})"
    assert share_cell(0.05, lc(0.10, 0.05)) == "0.05 (50% of ceiling)"
    bound = lc(0.10, 0.05, "not reached: lower bound")
    assert share_upper(0.05, bound) == pytest.approx(1.0) and share_cell(0.05, bound) == "0.05 (≤100% of ceiling)"
    assert share_cell(0.30, bound) == f"0.30 (≤600% of ceiling{ABOVE})"
    assert share_upper(0.05, lc(0.10, 0.05)) is None, "a measured ceiling: the share is a figure"
    assert share_cell(0.05, lc(0.10, 0.0, "not reached: lower bound")) == "0.05 (share unbounded)"
    assert ABOVE in CEILING_LEGEND and "not of every model" in CEILING_LEGEND


def test_without_a_cached_ceiling_only_a_note_is_added(suite_file, tmp_path):
    suite = load_suite(str(suite_file))
    entries = [entry("model a", ENTRY_TPR)]
    refs = references(suite, tmp_path / "empty")
    plain, noted = markdown(entries, suite), markdown(entries, suite, refs)
    assert noted.startswith(plain.rstrip("\n") + "\n\n- groomer: no ceiling cached")
    assert [t[:3] for t in tables(entries, suite, refs)] == [t[:3] for t in tables(entries, suite)]
    assert "| L0 @FPR" not in noted and "ceiling (truth" not in noted


def test_a_suite_without_powered_scenarios_is_unchanged(tmp_path, cached):
    _, work, _ = cached
    doc = tiny_suite_doc()
    doc["scenarios"] = {n: sc for n, sc in doc["scenarios"].items() if sc.get("design") != "powered"}
    path = tmp_path / "prevalent.yaml"
    path.write_text(yaml.safe_dump(doc))
    suite = load_suite(str(path))
    assert references(suite, work) == {} and targets(suite) == []
    e = entry("model a", ENTRY_TPR)
    assert markdown([e], suite, references(suite, work)) == markdown([e], suite)


def test_a_ceiling_without_the_entries_operating_point_is_not_compared(suite_file, tmp_path):
    suite = load_suite(str(suite_file))
    spec, work = suite.datasets["base"], tmp_path / "work"
    write_record(work, make_record(scenario_of(spec), "full", spec.seed, CEILING, ("fpr<=0.0001",)), scenario_of(spec))
    md = markdown([entry("model a", ENTRY_TPR)], suite, references(suite, work))
    assert "ceiling (truth" not in md and "% of ceiling" not in md
    note = next(line for line in md.splitlines() if line.startswith("- groomer:"))
    assert "no threshold at FPR ≤ 1e-3 (it has fpr<=0.0001)" in note and "no ceiling counterpart" in note


def test_the_ceiling_is_the_datasets_seed_and_the_scenarios_visibility(suite_file, tmp_path):
    """Another seed's or visibility's ceiling never serves a scenario; a ceiling read on
    another enriched world than the entries' is said to be."""
    suite = load_suite(str(suite_file))
    spec, work = suite.datasets["base"], tmp_path / "work"
    scn = scenario_of(spec)
    write_record(work, make_record(scn, "full", spec.seed + 1, CEILING), scn)
    write_record(work, make_record(scn, "minimal", spec.seed, CEILING), scn)
    assert all(r.record is None for r in references(suite, work).values())
    write_record(work, make_record(scn, "sealed_sender", spec.seed, CEILING, tpr_fp="9" * 64), scn)
    refs = references(suite, work)
    assert refs["groomer-sealed"].record is not None and not refs["groomer-sealed"].paired
    md = markdown([entry("model a", ENTRY_TPR)], suite, refs)
    assert "another enriched world than the entries'" in next(
        line for line in md.splitlines() if line.startswith("- groomer-sealed:")
    )


def test_show_reads_the_workdir_and_writes_the_ceiling_rows_as_json(cached, suite_file, tmp_path):
    suite, work, record = cached
    entries = tmp_path / "entries"
    entries.mkdir()
    (entries / "model-a.json").write_text(json.dumps(entry("model a", ENTRY_TPR)))
    out_json, out_html = tmp_path / "board.json", tmp_path / "board.html"
    r = runner.invoke(app, ["leaderboard", "show", "--suite", str(suite_file), "--entries", str(entries),
                            "--workdir", str(work), "--json", str(out_json), "--html", str(out_html)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "| groomer | ceiling (truth pooled over 3 enriched worlds; best class per level) |" in r.stdout
    assert "0.30 (37% of ceiling)" in r.stdout and "0.30 (37% of ceiling)" in out_html.read_text()
    doc = json.loads(out_json.read_text())
    g = doc["ceilings"]["groomer"]
    assert g["levels"]["L1"]["lower_bound"] and g["levels"]["L0"]["value"] == pytest.approx(41 / 50)
    shares = g["entries"]["model a"]
    for lvl in LEVELS:
        k, n, _ = CEILING[lvl]
        assert shares[lvl]["share"] == (None if k == 0 else pytest.approx(ENTRY_TPR[lvl] * n / k))
    assert shares["L1"]["share_is_upper_bound"] and not shares["L0"]["share_is_upper_bound"]
    assert shares["L1"]["share_upper_bound"] == pytest.approx(ENTRY_TPR["L1"] / rate(*CEILING["L1"][:2])["low"])
    assert shares["L0"]["share_upper_bound"] is None and not any(v["above_ceiling"] for v in shares.values())
    assert doc["ceilings"]["groomer-sealed"]["levels"] is None
    assert "lowbase leaderboard ceiling" in doc["ceilings"]["groomer-sealed"]["note"]


def test_the_ceiling_command_computes_only_the_missing_ones(cached, suite_file, monkeypatch):
    """One call per missing (dataset, visibility), with the default plan at that visibility
    and the dataset's seed, through `bench.rare.ceiling.ceiling`'s own signature; a second
    run finds everything cached and computes nothing."""
    suite, work, _ = cached
    real = inspect.signature(rare_ceiling.ceiling)
    calls = []

    def fake(*args, **kwargs):
        bound = real.bind(*args, **kwargs).arguments
        calls.append(bound)
        scn, seed, plan = bound["scn"], bound["seed"], bound["plan"]
        rec = make_record(scn, plan.visibility, seed, CEILING)
        return rec, write_record(bound["work"], rec, scn), False

    monkeypatch.setattr(rare_ceiling, "ceiling", fake)
    args = ["leaderboard", "ceiling", "--suite", str(suite_file), "--workdir", str(work), "--jobs", "2", "--no-mlflow"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert len(calls) == 1 and calls[0]["plan"] == CeilingPlan("sealed_sender")
    assert calls[0]["seed"] == suite.datasets["base"].seed and calls[0]["jobs"] == 2
    assert calls[0]["scn"] == scenario_of(suite.datasets["base"])
    text = " ".join(r.output.split())
    assert "cached dataset base at full, seed 3 (serves groomer)" in text
    assert "ceiling 1/1: dataset base at sealed_sender, seed 3 (serves groomer-sealed)" in text
    assert all(ref.record is not None for ref in references(suite, work).values())
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and len(calls) == 1 and again.output.count("cached") >= 2


def test_the_ceiling_command_refuses_by_name(tmp_path):
    doc = tiny_suite_doc()
    doc["scenarios"] = {n: sc for n, sc in doc["scenarios"].items() if sc.get("design") != "powered"}
    path = tmp_path / "prevalent.yaml"
    path.write_text(yaml.safe_dump(doc))
    r = runner.invoke(app, ["leaderboard", "ceiling", "--suite", str(path), "--workdir", str(tmp_path)])
    assert r.exit_code == 2 and "has no powered scenario" in " ".join(r.output.split())
    r = runner.invoke(app, ["leaderboard", "ceiling", "--suite", "lowbase-v1", "--workdir", str(tmp_path)])
    assert r.exit_code == 2 and "generator" in r.output
