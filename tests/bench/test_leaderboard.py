"""The leaderboard on a tiny suite: prepare, every rejection path, accepted entries that
verify, a tampered entry caught, and the retired suite refused clearly.

The tiny suite has both designs: test-split scenarios (spam, drift) and powered ones
(groomer, groomer-sealed) with an enriched world and two negative worlds of 2,000 accounts.
Powered scenarios take a plugin; their tests are in test_leaderboard_powered.py.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from bench.cli.app import app
from bench.leaderboard.suite import load_suite, prepare, split_ids
from tests.conftest import plugin_trust

runner = CliRunner()
# A plugin runs sandboxed where Landlock exists, trusted elsewhere (tests/conftest.py).
SUBMIT = ["leaderboard", "submit", *plugin_trust()]
FRESH = ["--fresh-seeds", "1", *plugin_trust()]
TINY = {"accounts": 2000, "partition_size": 1000, "harm.groomer_rate": 0.01}


def tiny_suite_doc(fingerprints=None) -> dict:
    """A two-design suite small enough for CI; `fingerprints` freezes it."""
    fp = fingerprints or {}
    return {
        "suite": "tiny-v2",
        "generator_version": __import__("data_gen").GENERATOR_VERSION,
        "seeds": [0, 1],
        "datasets": {
            "base": {"preset": "quick", "overrides": dict(TINY), "seed": 3, "fingerprint": fp.get("base")},
            "drift": {
                "preset": "quick",
                "overrides": {**TINY, "drift.enabled": True},
                "seed": 4,
                "fingerprint": fp.get("drift"),
            },
        },  # fmt: skip
        "evaluation": {"fpr_budgets": [0.01, 0.001], "base_rates": [1e-3, 1e-4], "target_precisions": [0.5, 0.9]},
        "worlds": {
            "enr": {"role": "enriched", "datasets": ["base"], "seed": 11, "fingerprint": fp.get("worlds/enr")},
            "neg-0": {"role": "negative", "datasets": ["base"], "seed": 12, "fingerprint": fp.get("worlds/neg-0")},
            "neg-1": {"role": "negative", "datasets": ["base"], "seed": 13, "fingerprint": fp.get("worlds/neg-1")},
        },
        "scenarios": {
            "spam": {"dataset": "base", "tasks": ["spam", "fake"], "design": "test-split"},
            "groomer": {"dataset": "base", "tasks": ["groomer"], "design": "powered"},
            "groomer-sealed": {
                "dataset": "base",
                "visibility": "sealed_sender",
                "tasks": ["groomer"],
                "design": "powered",
            },
            "drift": {"dataset": "drift", "tasks": ["groomer"], "train_period": 1, "test_period": 2},
        },  # fmt: skip
    }


def make_world(base) -> dict:
    """Prepare the draft suite, then freeze it with the fingerprints it produced."""
    draft = base / "draft.yaml"
    draft.write_text(yaml.safe_dump(tiny_suite_doc()))
    ds = prepare(load_suite(str(draft)), base / "root")
    frozen = base / "tiny-v2.yaml"
    frozen.write_text(yaml.safe_dump(tiny_suite_doc({k: d.meta["fingerprint"] for k, d in ds.items()})))
    return {"suite": str(frozen), "root": base / "root", "base": base, "datasets": ds}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("lb"))


def opts(world, entries):
    return ["--suite", world["suite"], "--root", str(world["root"]), "--entries", str(entries)]


def _predictions(world, seed=0) -> pd.DataFrame:
    """Random scores for every val and test account of the test-split scenarios."""
    suite = load_suite(world["suite"])
    rng = np.random.default_rng(seed)
    parts = []
    for name, sc in suite.scenarios.items():
        if sc.design != "test-split":
            continue
        for split in ("val", "test"):
            ids = split_ids(world["datasets"][sc.dataset], sc, split)
            for task in sc.tasks:
                parts.append(pd.DataFrame({"scenario": name, "split": split, "task": task, "account_id": ids,
                                           "score": rng.random(len(ids))}))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def submission(tmp_path, preds: pd.DataFrame | None = None, meta: dict | None = None, fmt="csv"):
    d = tmp_path / "sub"
    d.mkdir(parents=True, exist_ok=True)
    doc = {"name": "My model", "authors": ["A. Person"], "description": "test", "link": "", **(meta or {})}
    (d / "submission.yaml").write_text(yaml.safe_dump(doc))
    if preds is not None:
        if fmt == "csv":
            preds.to_csv(d / "predictions.csv", index=False)
        else:
            preds.to_parquet(d / "predictions.parquet")
    return d


def test_prepare_never_replaces_a_directory_of_the_users(world, tmp_path):
    root = tmp_path / "root"
    mine = root / "tiny-v2" / "base"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    r = runner.invoke(app, ["leaderboard", "prepare", "--suite", world["suite"], "--root", str(root)])
    assert r.exit_code == 2 and "notes.txt" in r.output and "left alone" in r.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_prepare_refuses_a_moved_fingerprint(world, tmp_path):
    doc = tiny_suite_doc({"base": "0" * 64, "drift": "1" * 64})
    bad = tmp_path / "tiny-v2.yaml"
    bad.write_text(yaml.safe_dump(doc))
    r = runner.invoke(app, ["leaderboard", "prepare", "--suite", str(bad), "--root", str(world["root"])])
    assert r.exit_code == 2 and "fingerprint" in r.output and "differs" in r.output
    r = runner.invoke(app, ["leaderboard", "prepare", "--suite", world["suite"], "--root", str(world["root"])])
    assert r.exit_code == 0, r.output
    assert "worlds/neg-1" in r.output


def test_predictions_submission_verify_and_tamper(world, tmp_path):
    entries = tmp_path / "entries"
    for fmt in ("csv", "parquet"):
        d = submission(tmp_path / fmt, _predictions(world), {"name": f"rand {fmt}"}, fmt=fmt)
        r = runner.invoke(app, [*SUBMIT, str(d), *opts(world, entries), "--no-mlflow"])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, entries)])
    assert r.exit_code == 0, r.output
    show = runner.invoke(app, ["leaderboard", "show", "--suite", world["suite"], "--entries", str(entries),
                               "--html", str(tmp_path / "lb.html")])  # fmt: skip
    assert show.exit_code == 0 and "rand csv" in show.stdout and (tmp_path / "lb.html").is_file()
    # Same predictions in CSV and parquet: the same figures.
    a, b = (json.loads((entries / f"rand-{f}.json").read_text())["figures"] for f in ("csv", "parquet"))
    assert a == b and sorted(a) == ["drift", "spam"]
    assert set(a["spam"]["fake"]) >= {"auroc", "auprc", "recall_at_p50", "precision_on_test_p50", "recall_at_p90"}
    # Tamper with a figure: verify names the entry and the cell, and exits 1.
    path = entries / "rand-csv.json"
    e = json.loads(path.read_text())
    e["figures"]["spam"]["fake"]["auroc"]["mean"] += 0.01
    path.write_text(json.dumps(e))
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, entries)])
    assert r.exit_code == 1 and "rand-csv.json" in r.output and "spam/fake/auroc.mean" in r.output
    # Tamper with the stored predictions of the other one.
    pq_path = entries / "rand-parquet.parquet"
    pq_path.write_bytes(pq_path.read_bytes()[:-100] + b"x" * 100)
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, entries)])
    assert r.exit_code == 1 and "rand-parquet.json" in r.output and "hash" in r.output


def test_a_partial_submission_enters_its_scenarios_only(world, tmp_path):
    entries = tmp_path / "entries"
    preds = _predictions(world)
    d = submission(tmp_path, preds[preds["scenario"] == "spam"], {"name": "spam only"})
    r = runner.invoke(app, [*SUBMIT, str(d), *opts(world, entries), "--no-mlflow"])
    assert r.exit_code == 0, r.output
    e = json.loads((entries / "spam-only.json").read_text())
    assert sorted(e["figures"]) == ["spam"]
    assert runner.invoke(app, ["leaderboard", "verify", *opts(world, entries)]).exit_code == 0
    show = runner.invoke(app, ["leaderboard", "show", "--suite", world["suite"], "--entries", str(entries)])
    assert show.exit_code == 0 and "not entered" in show.stdout
    # A scenario entered must be scored for all of its tasks.
    spam_only = preds[(preds["scenario"] != "spam") | (preds["task"] == "spam")]
    d = submission(tmp_path / "half", spam_only, {"name": "half"})
    r = runner.invoke(app, [*SUBMIT, str(d), *opts(world, entries), "--no-mlflow"])
    assert r.exit_code == 2 and "task 'fake', split 'val': scores 0 of" in r.output


def _bad(world):
    p = _predictions(world)
    powered = p[(p["scenario"] == "spam") & (p["task"] == "spam")].assign(scenario="groomer", task="groomer")
    return {
        "missing ids": (p.iloc[5:], None, "scores"),
        "unknown id": (p.assign(account_id=p["account_id"].where(p.index != 0, 10**9)), None, "not in that split"),
        "duplicate": (pd.concat([p, p.iloc[:1]]), None, "duplicate"),
        "nan": (p.assign(score=p["score"].where(p.index != 3, np.nan)), None, "NaN"),
        "inf": (p.assign(score=p["score"].where(p.index != 3, np.inf)), None, "infinite"),
        "unknown task": (p.assign(task=p["task"].where(p.index != 0, "bribery")), None, "bribery"),
        "unknown scenario": (p.assign(scenario=p["scenario"].where(p.index != 0, "mars")), None, "mars"),
        "unknown split": (p.assign(split=p["split"].where(p.index != 0, "train")), None, "column 'split'"),
        "missing column": (p.drop(columns=["score"]), None, "score"),
        "no split column": (p.drop(columns=["split"]), None, "split"),
        "powered scenario": (pd.concat([p, powered]), None, "only a plugin can enter it"),
        "wrong suite": (p, {"suite": "lowbase-v0"}, "lowbase-v0"),
        "wrong fingerprint": (p, {"fingerprints": {"base": "deadbeef"}}, "fingerprints.base"),
        "no name": (p, {"name": ""}, "name"),
        "unknown field": (p, {"colour": "red"}, "colour"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing ids", "unknown id", "duplicate", "nan", "inf", "unknown task", "unknown scenario", "unknown split",
     "missing column", "no split column", "powered scenario", "wrong suite", "wrong fingerprint", "no name",
     "unknown field"],
)  # fmt: skip
def test_rejections_exit_2_and_write_nothing(world, tmp_path, case):
    preds, meta, needle = _bad(world)[case]
    d = submission(tmp_path, preds, meta)
    entries = tmp_path / "entries"
    r = runner.invoke(app, [*SUBMIT, str(d), *opts(world, entries), "--no-mlflow"])
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert not entries.exists() or not any(entries.iterdir())


@pytest.mark.parametrize("case", ["pickle", "blob", "yaml", "both", "neither", "no yaml", "stray"])
def test_bad_submission_directories(world, tmp_path, case):
    d = submission(tmp_path, _predictions(world))
    needle = {
        "pickle": "pickle",
        "blob": "binary",
        "yaml": "malformed YAML",
        "both": "exactly one",
        "neither": "exactly one",
        "no yaml": "submission.yaml",
        "stray": "unexpected file",
    }[case]
    if case == "pickle":
        (d / "model.pkl").write_bytes(pickle.dumps({"a": 1}))
    elif case == "blob":
        (d / "weights.bin").write_bytes(b"\x00\x01\x02" * 100)
    elif case == "yaml":
        (d / "submission.yaml").write_text("name: [unclosed\n")
    elif case == "both":
        (d / "p.py").write_text("class M: pass\n")
        doc = yaml.safe_load((d / "submission.yaml").read_text())
        (d / "submission.yaml").write_text(yaml.safe_dump({**doc, "plugin": "p.py:M"}))
    elif case == "neither":
        (d / "predictions.csv").unlink()
    elif case == "no yaml":
        (d / "submission.yaml").unlink()
    elif case == "stray":
        (d / "notes.txt").write_text("hello")
    r = runner.invoke(app, [*SUBMIT, str(d), *opts(world, tmp_path / "e"), "--no-mlflow"])
    assert r.exit_code == 2, r.output
    assert needle in r.output


def test_broken_plugin_is_rejected(world, tmp_path):
    d = submission(tmp_path, None, {"plugin": "p.py:Nope"})
    (d / "p.py").write_text("class Other:\n    pass\n")
    r = runner.invoke(app, [*SUBMIT, str(d), *opts(world, tmp_path / "e"), "--no-mlflow"])
    assert r.exit_code == 2 and "no class 'Nope'" in r.output


def test_verify_and_submit_need_prepared_datasets(world, tmp_path):
    r = runner.invoke(app, ["leaderboard", "verify", "--suite", world["suite"], "--root", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "missing; run `lowbase leaderboard prepare" in r.output
    d = submission(tmp_path, _predictions(world))
    r = runner.invoke(app, [*SUBMIT, str(d), "--suite", world["suite"], "--root",
                            str(tmp_path / "nothing"), "--entries", str(tmp_path / "e"), "--no-mlflow"])  # fmt: skip
    assert r.exit_code == 2 and "missing" in r.output and not (tmp_path / "e").exists()


# ---------------------------------------------------------------- the shipped suites


@pytest.mark.parametrize("command", ["prepare", "verify", "submit"])
def test_the_retired_suite_is_refused_naming_both_generator_versions(command, tmp_path):
    from data_gen import GENERATOR_VERSION

    args = ["leaderboard", command, "--suite", "lowbase-v1", "--root", str(tmp_path)]
    if command == "submit":
        args.insert(2, "leaderboard/submissions/dec")
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "0.1.0" in r.output and GENERATOR_VERSION in r.output and "retired" in r.output
    assert not any(tmp_path.iterdir())


def test_the_retired_suite_keeps_its_final_table_and_hash():
    """lowbase-v1's entries still carry the suite's hash (fields added later stay out of
    it) and `show` renders the table they were published with."""
    from bench.leaderboard.entries import load_entries
    from bench.leaderboard.suite import SUITES_DIR

    v1 = load_suite("lowbase-v1")
    found = load_entries(SUITES_DIR.parents[2] / "leaderboard" / "lowbase-v1")
    assert len(found) == 5 and {e["suite_sha256"] for _, e in found} == {v1.digest()}
    r = runner.invoke(app, ["leaderboard", "show", "--suite", "lowbase-v1"])
    assert r.exit_code == 0 and "| DEC (lowbase) | 5 | 0.917 ± 0.006 / 0.459 |" in r.stdout


def test_lowbase_v2_is_the_default_and_fully_pinned():
    from bench.leaderboard.suite import DEFAULT_SUITE, world_scenario
    from data_gen import GENERATOR_VERSION

    s = load_suite()
    assert DEFAULT_SUITE == s.suite == "lowbase-v2" and s.generator_version == GENERATOR_VERSION
    assert all(d.fingerprint for d in s.datasets.values()) and all(w.fingerprint for w in s.worlds.values())
    seeds = [d.seed for d in s.datasets.values()] + [w.seed for w in s.worlds.values()]
    assert len(set(seeds)) == len(seeds)  # no evaluation world shares a seed with another world
    powered = {n for n, sc in s.scenarios.items() if sc.design == "powered"}
    assert powered == {"groomer", "groomer-sealed", "groomer-minimal", "groomer-competent"}
    assert s.worlds_of("quick", "enriched") == s.worlds_of("competent", "enriched") == ["enriched"]
    assert world_scenario(s, "enriched", "quick") == world_scenario(s, "enriched", "competent")
    assert len(s.worlds_of("quick", "negative")) == len(s.worlds_of("competent", "negative")) == 5
