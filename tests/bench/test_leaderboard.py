"""The leaderboard on a tiny suite: prepare, every rejection path, accepted entries that
verify, a tampered entry caught, and a plugin submission end to end."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from bench.cli import app
from bench.leaderboard.suite import load_suite, prepare, scored_ids

runner = CliRunner()
TINY = {"accounts": 5000, "partition_size": 1000, "harm.groomer_rate": 0.01}


def _suite_doc(fingerprints=None):
    fp = fingerprints or {}
    tiny = {k: v for k, v in TINY.items() if "." in k}
    return {
        "suite": "tiny-v1",
        "generator_version": __import__("data_gen").GENERATOR_VERSION,
        "seeds": [0, 1],
        "datasets": {
            "base": {
                "preset": "quick",
                "overrides": {**tiny, "accounts": 5000, "partition_size": 1000},
                "seed": 3,
                "fingerprint": fp.get("base"),
            },
            "drift": {
                "preset": "quick",
                "overrides": {**tiny, "accounts": 5000, "partition_size": 1000, "drift.enabled": True},
                "seed": 4,
                "fingerprint": fp.get("drift"),
            },
        },  # fmt: skip
        "scenarios": {
            "spam": {"dataset": "base", "tasks": ["spam", "fake"]},
            "groomer": {"dataset": "base", "tasks": ["groomer"]},
            "groomer-sealed": {"dataset": "base", "visibility": "sealed_sender", "tasks": ["groomer"]},
            "drift": {"dataset": "drift", "tasks": ["groomer"], "train_period": 1, "test_period": 2},
        },
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A frozen tiny suite with its datasets prepared, and an entries directory."""
    base = tmp_path_factory.mktemp("lb")
    draft = base / "draft.yaml"
    draft.write_text(yaml.safe_dump(_suite_doc()))
    ds = prepare(load_suite(str(draft)), base / "root")
    frozen = base / "tiny-v1.yaml"
    frozen.write_text(yaml.safe_dump(_suite_doc({k: d.meta["fingerprint"] for k, d in ds.items()})))
    return {"suite": str(frozen), "root": base / "root", "base": base, "datasets": ds}


def _opts(world, entries):
    return ["--suite", world["suite"], "--root", str(world["root"]), "--entries", str(entries)]


def _predictions(world, seed=0) -> pd.DataFrame:
    suite = load_suite(world["suite"])
    rng = np.random.default_rng(seed)
    parts = []
    for name, sc in suite.scenarios.items():
        ids = scored_ids(world["datasets"][sc.dataset], sc)
        for task in sc.tasks:
            parts.append(
                pd.DataFrame({"scenario": name, "task": task, "account_id": ids, "score": rng.random(len(ids))})
            )
    return pd.concat(parts, ignore_index=True)


def _submission(tmp_path, preds: pd.DataFrame | None = None, meta: dict | None = None, fmt="csv"):
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
    mine = root / "tiny-v1" / "base"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    r = runner.invoke(app, ["leaderboard", "prepare", "--suite", world["suite"], "--root", str(root)])
    assert r.exit_code == 2 and "notes.txt" in r.output and "left alone" in r.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_prepare_refuses_a_moved_fingerprint(world, tmp_path):
    doc = _suite_doc({"base": "0" * 64, "drift": "1" * 64})
    bad = tmp_path / "tiny-v1.yaml"
    bad.write_text(yaml.safe_dump(doc))
    r = runner.invoke(app, ["leaderboard", "prepare", "--suite", str(bad), "--root", str(world["root"])])
    assert r.exit_code == 2 and "fingerprint" in r.output and "differs" in r.output
    r = runner.invoke(app, ["leaderboard", "prepare", "--suite", world["suite"], "--root", str(world["root"])])
    assert r.exit_code == 0, r.output


def test_predictions_submission_verify_and_tamper(world, tmp_path):
    entries = tmp_path / "entries"
    for fmt in ("csv", "parquet"):
        d = _submission(tmp_path / fmt, _predictions(world), {"name": f"rand {fmt}"}, fmt=fmt)
        r = runner.invoke(app, ["leaderboard", "submit", str(d), *_opts(world, entries), "--no-mlflow"])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["leaderboard", "verify", *_opts(world, entries)])
    assert r.exit_code == 0, r.output
    show = runner.invoke(app, ["leaderboard", "show", "--suite", world["suite"], "--entries", str(entries),
                               "--html", str(tmp_path / "lb.html")])  # fmt: skip
    assert show.exit_code == 0 and "rand csv" in show.stdout and (tmp_path / "lb.html").is_file()
    # Same predictions in CSV and parquet: the same figures.
    a, b = (json.loads((entries / f"rand-{f}.json").read_text())["figures"] for f in ("csv", "parquet"))
    assert a == b
    # Tamper with a figure: verify names the entry and exits non-zero.
    path = entries / "rand-csv.json"
    e = json.loads(path.read_text())
    e["figures"]["groomer"]["groomer"]["auroc"]["mean"] += 0.01
    path.write_text(json.dumps(e))
    r = runner.invoke(app, ["leaderboard", "verify", *_opts(world, entries)])
    assert r.exit_code == 1 and "rand-csv.json" in r.output and "figures differ" in r.output
    # Tamper with the stored predictions of the other one.
    pq_path = entries / "rand-parquet.parquet"
    pq_path.write_bytes(pq_path.read_bytes()[:-100] + b"x" * 100)
    r = runner.invoke(app, ["leaderboard", "verify", *_opts(world, entries)])
    assert r.exit_code == 1 and "rand-parquet.json" in r.output


def test_a_groomer_only_submission_enters_the_groomer_scenarios_only(world, tmp_path):
    entries = tmp_path / "entries"
    preds = _predictions(world)
    d = _submission(tmp_path, preds[preds["scenario"] != "spam"], {"name": "groomers only"})
    r = runner.invoke(app, ["leaderboard", "submit", str(d), *_opts(world, entries), "--no-mlflow"])
    assert r.exit_code == 0, r.output
    e = json.loads((entries / "groomers-only.json").read_text())
    assert sorted(e["figures"]) == ["drift", "groomer", "groomer-sealed"]
    assert runner.invoke(app, ["leaderboard", "verify", *_opts(world, entries)]).exit_code == 0
    show = runner.invoke(app, ["leaderboard", "show", "--suite", world["suite"], "--entries", str(entries)])
    assert show.exit_code == 0 and "not entered" in show.stdout
    # A scenario entered must be scored for all of its tasks.
    spam_only = preds[(preds["scenario"] != "spam") | (preds["task"] == "spam")]
    d = _submission(tmp_path / "half", spam_only, {"name": "half"})
    r = runner.invoke(app, ["leaderboard", "submit", str(d), *_opts(world, entries), "--no-mlflow"])
    assert r.exit_code == 2 and "task 'fake': scores 0 of" in r.output


def test_ranks_rescore_exactly(world):
    """Storing dense ranks instead of scores changes no figure (ties included)."""
    from scipy.stats import rankdata

    from bench.leaderboard.entries import figures

    suite = load_suite(world["suite"])
    preds = _predictions(world)
    preds["score"] = preds["score"].round(1)  # many ties
    from bench.leaderboard.submission import validate_predictions

    scores = validate_predictions(preds, suite, world["datasets"], "x")
    ranked = {k: rankdata(v, method="dense").astype(float) for k, v in scores.items()}
    assert figures(scores, suite, world["datasets"]) == figures(ranked, suite, world["datasets"])


def _bad(world):
    p = _predictions(world)
    return {
        "missing ids": (p.iloc[5:], None, "scores"),
        "unknown id": (p.assign(account_id=p["account_id"].where(p.index != 0, 10**9)), None, "not in its test split"),
        "duplicate": (pd.concat([p, p.iloc[:1]]), None, "duplicate"),
        "nan": (p.assign(score=p["score"].where(p.index != 3, np.nan)), None, "NaN"),
        "inf": (p.assign(score=p["score"].where(p.index != 3, np.inf)), None, "infinite"),
        "unknown task": (p.assign(task=p["task"].where(p.index != 0, "bribery")), None, "bribery"),
        "unknown scenario": (p.assign(scenario=p["scenario"].where(p.index != 0, "mars")), None, "mars"),
        "missing column": (p.drop(columns=["score"]), None, "score"),
        "wrong suite": (p, {"suite": "lowbase-v0"}, "lowbase-v0"),
        "wrong fingerprint": (p, {"fingerprints": {"base": "deadbeef"}}, "fingerprints.base"),
        "no name": (p, {"name": ""}, "name"),
        "unknown field": (p, {"colour": "red"}, "colour"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing ids", "unknown id", "duplicate", "nan", "inf", "unknown task", "unknown scenario", "missing column",
     "wrong suite", "wrong fingerprint", "no name", "unknown field"],
)  # fmt: skip
def test_rejections_exit_2_and_write_nothing(world, tmp_path, case):
    preds, meta, needle = _bad(world)[case]
    d = _submission(tmp_path, preds, meta)
    entries = tmp_path / "entries"
    r = runner.invoke(app, ["leaderboard", "submit", str(d), *_opts(world, entries), "--no-mlflow"])
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert not entries.exists() or not any(entries.iterdir())


@pytest.mark.parametrize("case", ["pickle", "blob", "yaml", "both", "neither", "no yaml", "stray"])
def test_bad_submission_directories(world, tmp_path, case):
    d = _submission(tmp_path, _predictions(world))
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
    r = runner.invoke(app, ["leaderboard", "submit", str(d), *_opts(world, tmp_path / "e"), "--no-mlflow"])
    assert r.exit_code == 2, r.output
    assert needle in r.output


PLUGIN = '''
import numpy as np
import pandas as pd


class FirstFeature:
    """Scores every account by its first feature, jittered by the seed."""

    def fit(self, data, seed):
        self.seed = seed

    def predict_scores(self, data):
        rng = np.random.default_rng(self.seed)
        x = data.features.X[:, 0]
        parts = [pd.DataFrame({"account_id": np.arange(data.n), "task": t, "score": x + rng.random(data.n) * 1e-3})
                 for t in data.tasks]
        return pd.concat(parts, ignore_index=True)
'''


@pytest.mark.slow
def test_plugin_submission_end_to_end(world, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    d = _submission(tmp_path, None, {"name": "first feature", "plugin": "src/plug.py:FirstFeature"})
    (d / "src").mkdir()
    (d / "src" / "plug.py").write_text(PLUGIN)
    entries = tmp_path / "entries"
    r = runner.invoke(app, ["leaderboard", "submit", str(d), *_opts(world, entries)])
    assert r.exit_code == 0, r.output
    e = json.loads((entries / "first-feature.json").read_text())
    assert e["kind"] == "plugin" and e["seeds"] == [0, 1]
    auroc = e["figures"]["groomer"]["groomer"]["auroc"]
    assert len(auroc["per_seed"]) == 2 and auroc["std"] is not None
    assert e["validation"] and "groomer" in e["validation"][0]
    assert e["command"].startswith("lowbase leaderboard submit")
    r = runner.invoke(app, ["leaderboard", "verify", *_opts(world, entries)])
    assert r.exit_code == 0, r.output
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("lowbase-leaderboard")
    (run,) = client.search_runs([exp.experiment_id])
    assert "groomer/groomer/auroc" in run.data.metrics
    # The same name again is refused before any work.
    r = runner.invoke(app, ["leaderboard", "submit", str(d), *_opts(world, entries)])
    assert r.exit_code == 2 and "exists" in r.output


def test_broken_plugin_is_rejected(world, tmp_path):
    d = _submission(tmp_path, None, {"plugin": "p.py:Nope"})
    (d / "p.py").write_text("class Other:\n    pass\n")
    r = runner.invoke(app, ["leaderboard", "submit", str(d), *_opts(world, tmp_path / "e"), "--no-mlflow"])
    assert r.exit_code == 2 and "no class 'Nope'" in r.output
