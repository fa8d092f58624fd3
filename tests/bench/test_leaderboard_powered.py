"""The powered design on the leaderboard: a plugin entry measured on enriched and negative
worlds, re-scored by verify from what it stores, a tampered stored score caught by cell,
thresholds never set on the world they score, fresh seeds reporting gaps, and suite errors
named by field."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from bench.cli.app import app
from bench.errors import SuiteError
from bench.leaderboard.suite import load_suite
from common.files import sha256_file
from tests.bench.test_leaderboard import make_world, opts, submission, tiny_suite_doc
from tests.conftest import plugin_trust

runner = CliRunner()
# A plugin runs sandboxed where Landlock exists, trusted elsewhere (tests/conftest.py).
SUBMIT = ["leaderboard", "submit", *plugin_trust()]
FRESH = ["--fresh-seeds", "1", *plugin_trust()]

PLUGIN = '''
import numpy as np
import pandas as pd


class FirstFeatures:
    """Scores every account by a sum of its first features, jittered by the seed."""

    def fit(self, data, seed):
        self.seed = seed

    def predict_scores(self, data):
        rng = np.random.default_rng(self.seed)
        x = data.features.X[:, :3].sum(axis=1)
        parts = [pd.DataFrame({"account_id": np.arange(data.n), "task": t, "score": x + rng.random(data.n) * 1e-3})
                 for t in data.tasks]
        return pd.concat(parts, ignore_index=True)
'''


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("lbp"))


@pytest.fixture(scope="module")
def plugin_entry(world, tmp_path_factory):
    """A plugin submitted to the tiny suite: its directory and entries directory."""
    base = tmp_path_factory.mktemp("plug")
    d = submission(base, None, {"name": "first features", "plugin": "src/plug.py:FirstFeatures"})
    (d / "src").mkdir()
    (d / "src" / "plug.py").write_text(PLUGIN)
    entries = base / "entries"
    r = runner.invoke(app, [*SUBMIT, str(d), *opts(world, entries), "--no-mlflow"])
    assert r.exit_code == 0, r.output
    return {"dir": d, "entries": entries, "json": entries / "first-features.json"}


def test_a_plugin_entry_holds_powered_figures_and_verifies(world, plugin_entry):
    e = json.loads(plugin_entry["json"].read_text())
    assert e["kind"] == "plugin" and e["seeds"] == [0, 1] and e["format"] == "lowbase-entry/2"
    assert sorted(e["figures"]) == ["drift", "groomer", "groomer-sealed", "spam"]
    g = e["figures"]["groomer"]["groomer"]
    for m in ("auroc", "recall_fpr1e-2", "recall_fpr1e-3", "recall_fpr1e-3_L0", "recall_fpr1e-3_L3", "fpr_fpr1e-3",
              "precision_pi1e-3_fpr1e-2", "precision_pi1e-4_fpr1e-3"):  # fmt: skip
        assert len(g[m]["per_seed"]) == 2, m
    assert set(g["precision_pi1e-4_fpr1e-3"]["kinds"]) <= {"point", "lower bound", "upper bound", "undefined"}
    assert e["worlds"]["enr"]["role"] == "enriched" and sum(e["worlds"]["enr"]["offenders"].values()) > 0
    assert e["worlds"]["neg-0"]["negatives"] > 1900
    assert e["validation"]["groomer"]["groomer"]["auroc"]["per_seed"]
    assert e["source"] == str(plugin_entry["dir"].resolve()) and e["command"].startswith("lowbase leaderboard submit")
    parts = set(pq.read_table(plugin_entry["entries"] / "first-features.parquet")["part"].to_pylist())
    assert parts == {"val", "test", "pos/enr", "neg/neg-0", "neg/neg-1"}
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, plugin_entry["entries"])])
    assert r.exit_code == 0, r.output
    show = runner.invoke(app, ["leaderboard", "show", "--suite", world["suite"], "--entries",
                               str(plugin_entry["entries"])])  # fmt: skip
    assert show.exit_code == 0 and "| groomer-sealed | first features | 2 |" in show.stdout


def test_a_tampered_stored_score_is_caught_by_cell(world, plugin_entry, tmp_path):
    """Raise one enriched offender's stored rank to the top and re-hash the file, as a
    careful forger would: the recomputed recall differs and verify names that cell."""
    import shutil

    entries = tmp_path / "entries"
    shutil.copytree(plugin_entry["entries"], entries)
    pq_path = entries / "first-features.parquet"
    t = pq.read_table(pq_path).to_pylist()
    for row in t:
        if row["seed"] == 1 and row["scenario"] == "groomer" and row["part"] == "pos/enr":
            low = int(np.argmin(row["rank"]))
            row["rank"][low] = max(max(r["rank"]) for r in t if r["seed"] == 1 and r["scenario"] == "groomer") + 1
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(t, schema=pq.read_schema(pq_path)), pq_path)
    path = entries / "first-features.json"
    e = json.loads(path.read_text())
    e["predictions"]["sha256"] = sha256_file(pq_path)
    path.write_text(json.dumps(e))
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, entries)])
    assert r.exit_code == 1, r.output
    out = " ".join(r.output.split())
    assert "first-features.json" in out and "groomer/groomer/recall_fpr1e-2" in out and "per_seed[1]" in out


def test_stored_negatives_recount_every_false_positive_exactly(world):
    """Only negatives at or above the lowest threshold are stored; the figures are those
    of all the negatives."""
    from bench.leaderboard.harness import load_plugin, run_plugin
    from bench.leaderboard.scoring import frames, negative_cut, powered_figures
    from bench.leaderboard.suite import open_prepared

    s = load_suite(world["suite"])
    ds = open_prepared(s, world["root"])
    fr = frames(s, ds)
    path = world["base"] / "plug.py"
    path.write_text(PLUGIN)
    (parts,) = run_plugin(load_plugin(path, "FirstFeatures"), s, ds, fr, [0], "test")
    stored = parts[("groomer", "groomer")]
    cut = negative_cut(fr["groomer"], stored["val"], s.evaluation)
    assert all((stored[f"neg/{w}"] >= cut).all() for w in ("neg-0", "neg-1"))
    assert sum(len(stored[f"neg/{w}"]) for w in ("neg-0", "neg-1")) < 0.2 * sum(
        n for _, n in fr["groomer"].negatives.values()
    )
    # Everything, scored again without the cut.
    from models import ModelInput

    model = load_plugin(path, "FirstFeatures")()
    model.fit(None, 0)
    full = dict(stored)
    for w in ("neg-0", "neg-1"):
        wd = ds[f"worlds/{w}"]
        pred = model.predict_scores(ModelInput(wd.view("full")))
        y = wd.truth_by_id("groomer")["groomer"].astype(bool)
        full[f"neg/{w}"] = pred[pred["task"] == "groomer"]["score"].to_numpy()[~y]
    assert powered_figures(stored, fr["groomer"], s.evaluation) == powered_figures(full, fr["groomer"], s.evaluation)


def test_ranks_rescore_exactly_in_both_designs(world):
    """Dense ranks over the union of a (scenario, task)'s parts give the figures of the
    scores, ties included."""
    from bench.leaderboard.scoring import frames, powered_figures, test_split_figures
    from bench.leaderboard.store import ranked
    from bench.leaderboard.suite import open_prepared

    s = load_suite(world["suite"])
    fr = frames(s, open_prepared(s, world["root"]))
    rng = np.random.default_rng(0)
    f = fr["spam"]
    parts = {("spam", "fake"): {"val": rng.random(len(f.y_val["fake"])).round(1),
                                "test": rng.random(len(f.y_test["fake"])).round(1)}}  # fmt: skip
    again = ranked(parts)[("spam", "fake")]
    assert test_split_figures(parts[("spam", "fake")], f, "fake", s.evaluation) == test_split_figures(
        again, f, "fake", s.evaluation
    )
    g = fr["groomer"]
    p = {"val": rng.random(len(g.y_val)).round(2), "test": rng.random(g.test_negatives).round(2),
         "pos/enr": rng.random(len(g.enriched["enr"][1])).round(2) + 0.3,
         "neg/neg-0": rng.random(30).round(2) + 0.8, "neg/neg-1": rng.random(30).round(2) + 0.8}  # fmt: skip
    assert powered_figures(p, g, s.evaluation) == powered_figures(ranked({("g", "g"): p})[("g", "g")], g, s.evaluation)


def test_thresholds_are_never_scored_on_the_world_they_were_set_on(world, tmp_path):
    """A suite whose negative world is its training dataset (same scenario and seed, so the
    same fingerprint) is refused when scored (bench.stats.rates.Thresholds.check_disjoint)."""
    from bench.leaderboard.scoring import frames, powered_figures
    from bench.leaderboard.suite import open_prepared

    s = load_suite(world["suite"])
    fr = frames(s, open_prepared(s, world["root"]))
    g = fr["groomer"]
    same = type(g)(g.world, g.y_val, g.test_negatives, g.enriched, {"neg-0": (g.world, 100)}, g.mix)
    p = {"val": np.arange(len(g.y_val), dtype=float), "test": np.zeros(g.test_negatives),
         "pos/enr": np.ones(len(g.enriched["enr"][1])), "neg/neg-0": np.empty(0)}  # fmt: skip
    with pytest.raises(SuiteError, match="grade them on their own data"):
        powered_figures(p, same, s.evaluation)
    # End to end: the training dataset's own seed pinned as a negative world.
    doc = tiny_suite_doc()
    doc["worlds"]["neg-0"]["seed"] = doc["datasets"]["base"]["seed"]
    bad = tmp_path / "tiny-v2.yaml"
    bad.write_text(yaml.safe_dump(doc))
    sub = submission(tmp_path, None, {"name": "p", "plugin": "p.py:FirstFeatures"})
    (sub / "p.py").write_text(PLUGIN)
    runner.invoke(app, ["leaderboard", "prepare", "--suite", str(bad), "--root", str(tmp_path / "root")])
    r = runner.invoke(app, [*SUBMIT, str(sub), "--suite", str(bad), "--root", str(tmp_path / "root"),
                            "--entries", str(tmp_path / "e"), "--no-mlflow"])  # fmt: skip
    assert r.exit_code == 2 and "negative world neg-0" in r.output and "own data" in r.output
    assert not (tmp_path / "e").exists()


def test_fresh_seeds_report_gaps_per_cell(world, plugin_entry, tmp_path):
    from bench.leaderboard.fresh import fresh_suite, frozen_seeds

    s = load_suite(world["suite"])
    fresh = fresh_suite(s, 0, salt=12345)
    assert not frozen_seeds(fresh) & frozen_seeds(s) and fresh.suite == "tiny-v2/fresh-3039-0"
    assert frozen_seeds(fresh) == frozen_seeds(fresh_suite(s, 0, 12345)) != frozen_seeds(fresh_suite(s, 1, 12345))
    # Without the salt nobody derives the fresh seeds: another salt, other worlds.
    assert not frozen_seeds(fresh_suite(s, 0, 54321)) & frozen_seeds(fresh)
    out = tmp_path / "fresh.json"
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, plugin_entry["entries"]), *FRESH,
                            "--salt", "12345", "--json", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "first features" in r.output and "gap" in r.output and "recall_fpr1e-3" in r.output
    doc = json.loads(out.read_text())
    assert doc["fresh_seeds"] == 1 and doc["salt"] == 12345
    assert doc["runs"][0]["datasets"]["base"] == fresh.datasets["base"].seed
    cells = {(c["scenario"], c["task"], c["metric"]): c for c in doc["entries"]["first features"]["cells"]}
    c = cells[("groomer", "groomer", "recall_fpr1e-3")]
    assert len(c["frozen"]["per_seed"]) == 2 and len(c["fresh"]["per_run"]) == 1
    assert c["gap"] == pytest.approx(c["fresh"]["mean"] - c["frozen"]["mean"])
    assert ("spam", "fake", "auroc") in cells
    assert (world["root"] / "tiny-v2" / "fresh-3039-0" / "worlds" / "neg-1" / "dataset.json").is_file()


def test_fresh_seeds_refuse_bad_input(world, plugin_entry, tmp_path):
    entries = plugin_entry["entries"]
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, entries), "--json", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "--fresh-seeds" in r.output
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, entries), *FRESH, "--entry", "nobody"])
    assert r.exit_code == 2 and "nobody" in r.output
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, tmp_path / "none"), *FRESH])
    assert r.exit_code == 2 and "no plugin entry" in r.output
    # The plugin's code changed since the entry was made: refused, not re-run.
    import shutil

    moved = tmp_path / "entries"
    shutil.copytree(entries, moved)
    e = json.loads((moved / "first-features.json").read_text())
    src = tmp_path / "src-copy"
    shutil.copytree(plugin_entry["dir"], src)
    (src / "src" / "plug.py").write_text(PLUGIN + "\n# changed\n")
    e["source"] = str(src)
    (moved / "first-features.json").write_text(json.dumps(e))
    r = runner.invoke(app, ["leaderboard", "verify", *opts(world, moved), *FRESH])
    assert r.exit_code == 2 and "differs from the code the entry was made with" in r.output


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d["scenarios"]["groomer"].update(tasks=["spam"]), "field 'tasks'"),
        (lambda d: d["scenarios"]["groomer"].update(design="magic"), "scenarios.groomer.design"),
        (lambda d: d["scenarios"]["groomer"].update(train_period=1), "no train_period"),
        (lambda d: d["worlds"].pop("enr"), "needs at least one enriched world"),
        (lambda d: d["worlds"]["neg-0"].update(datasets=["mars"]), "unknown dataset(s) ['mars']"),
        (lambda d: d["worlds"]["neg-0"].update(rate=0.01), "'rate' is for enriched worlds"),
        (lambda d: d["worlds"]["neg-0"].update(datasets=["base", "drift"]), "scenarios differ"),
        (lambda d: d["evaluation"].update(fpr_budgets=[2.0]), "evaluation"),
        (lambda d: d.update(colour="red"), "colour"),
    ],
)
def test_bad_suite_fields_are_named(tmp_path, change, needle):
    doc = tiny_suite_doc()
    change(doc)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    r = runner.invoke(app, ["leaderboard", "prepare", "--suite", str(path), "--root", str(tmp_path / "root")])
    assert r.exit_code == 2, r.output
    assert needle in r.output and "bad.yaml" in r.output
    assert not (tmp_path / "root").exists()
