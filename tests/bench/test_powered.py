"""Powered evaluation on real (small) worlds: thresholds from the training world's
validation split, TPR on enriched worlds, FPR pooled over negative worlds, and never a
threshold graded on the data it was set on."""

import numpy as np
import pytest

from bench.rare.label_budget import TruthInput
from bench.rare.powered import (
    ENRICHED_RATE,
    UNIFORM_MIX,
    PoweredPlan,
    calibrate,
    enriched,
    powered_evaluation,
    truth_trained,
    world_seed,
)
from bench.rare.worlds import LocalWorlds, models_blob
from data_gen import generate
from data_gen.reader import open_dataset
from models import make_model
from models.inputs import ModelInput
from tests.conftest import small_scenario

SEED = 7  # the `small` fixture's seed: it is the training world


@pytest.fixture(scope="module")
def trained(small):
    model = make_model("logreg")
    model.fit(ModelInput(small.view("full")), SEED)
    return model


class Made(LocalWorlds):
    """Worlds made in this process under `cache`, each recorded in `made` (scenario, seed,
    dataset, role) and its release in `gone`; none deleted."""

    def __init__(self, models, tmp_path, made=None, gone=None):
        super().__init__(models, tmp_path, tmp_path)
        self.made, self.gone = ([] if made is None else made), ([] if gone is None else gone)

    def world(self, spec):
        out = self.cache / f"w{len(self.made)}"
        generate(spec.scenario, spec.seed, out)
        ds = open_dataset(out)
        self.made.append((spec.scenario, spec.seed, ds, spec.role))
        return ds

    def release(self, ds, role):
        self.gone.append(role)


class TrainingWorld(LocalWorlds):
    """A source handing back the training world itself, whatever the plan asks for."""

    def __init__(self, models, train):
        super().__init__(models, train.path, train.path)
        self.train = train

    def world(self, spec):
        return self.train

    def release(self, ds, role):
        pass


def test_world_seeds_are_fresh_and_distinct():
    seeds = {world_seed(SEED, role, i) for role in ("tpr", "fpr") for i in range(50)}
    assert len(seeds) == 100 and SEED not in seeds
    assert world_seed(SEED, "tpr", 0) == world_seed(SEED, "tpr", 0)


def test_powered_evaluation_pools_the_worlds(small, trained, tmp_path):
    scn = small_scenario()
    made = []
    gone = []
    models = {"model": trained, "truth": truth_trained("logreg", small, "full", SEED)}
    cal = calibrate(models, small, ModelInput(small.view("full")))
    worlds = Made(models, tmp_path, made, gone)
    out = powered_evaluation(worlds, cal, scn, SEED, PoweredPlan(tpr_worlds=1, fpr_accounts=2 * scn.accounts))
    assert gone == ["tpr", "fpr", "fpr"]  # one enriched world, two negative worlds, each released
    assert [w[3] for w in made] == gone
    (tpr_scn, _, tpr_ds, _), *fpr_worlds = made
    assert tpr_scn.harm.groomer_rate == ENRICHED_RATE and tpr_scn.harm.sophistication_mix == UNIFORM_MIX
    assert all(w[0] == scn for w in fpr_worlds)
    assert len({w[1] for w in made} | {SEED}) == 4
    assert set(out["models"]) == {"model", "truth"}
    truth = tpr_ds.truth_by_id("groomer", "sophistication")
    negatives = sum(int((~w[2].truth_by_id("groomer")["groomer"]).sum()) for w in fpr_worlds)
    for figures in out["models"].values():
        _check_figures(figures, small, truth, negatives)


def _check_figures(out, small, truth, negatives):
    # Thresholds were set on the training world's validation split, nowhere else.
    assert all(t["set_on"] == {"world": small.meta["fingerprint"], "split": "val"} for t in out["thresholds"])
    for name, row in out["by_threshold"].items():
        assert row["fpr"]["n"] == negatives, name
        for lvl, r in row["tpr_by_level"].items():
            expect = int((truth["groomer"] & (truth["sophistication"] == int(lvl[1]))).sum())
            assert r["n"] == expect and 0 <= r["k"] <= r["n"]
        assert all(p["kind"] in ("point", "lower bound", "upper bound", "undefined") for p in row["precision"])
        for p in row["precision"]:
            if p["kind"] == "lower bound":
                assert p["value"] < 1.0, "no false positive gives a bound, never a point 1.000"
    # Stricter budgets flag fewer negatives.
    flagged = [out["by_threshold"][n]["fpr"]["k"] for n in ("fpr<=0.01", "fpr<=0.001", "fpr<=0.0001")]
    assert flagged == sorted(flagged, reverse=True)


def test_no_threshold_is_graded_on_the_data_it_was_set_on(small, trained):
    """A world source handing back the training world itself is refused."""
    scn = small_scenario()
    models = {"m": trained}
    cal = calibrate(models, small, ModelInput(small.view("full")))
    with pytest.raises(ValueError, match="own data"):
        powered_evaluation(TrainingWorld(models, small), cal, scn, SEED, PoweredPlan(tpr_worlds=1, fpr_accounts=0))
    assert np.isfinite(enriched(scn).harm.groomer_rate)


@pytest.mark.slow
def test_certify_command_end_to_end(small_dir, small, trained, tmp_path, monkeypatch):
    """`lowbase certify` on a saved model: JSON written, negative worlds made in memory
    (none on disk), enriched worlds cached for reuse."""
    import json

    from typer.testing import CliRunner

    from bench.cli.app import app
    from models.protocol import save_model

    mdir = tmp_path / "model"
    save_model(trained, ModelInput(small.view("full")), SEED, mdir)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    work, js = tmp_path / "work", tmp_path / "out.json"
    args = ["certify", "--model", str(mdir), "--data", str(small_dir), "--workdir", str(work)]
    res = CliRunner().invoke(app, [*args, "--fpr-accounts", "8000", "--workers", "1", "--json", str(js)])
    assert res.exit_code == 0, res.output
    out = json.loads(js.read_text())
    assert set(out["models"]) == {"realistic labels", "training-world truth"}
    assert len(out["worlds"]["fpr"]) == 2 and len(out["worlds"]["tpr"]) == 1
    assert not any((work / "certify-worlds").glob("**/*")), "negative worlds are never written (in memory)"
    assert len(list((work / "datasets").glob("*/dataset.json"))) == 1, "the enriched world is cached"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("lowbase-certify").experiment_id])
    assert run.data.tags["lowbase.training_fingerprint"] == small.meta["fingerprint"]
    assert "groomer/powered/training-world_truth/fpr_le_0.001/fpr" in run.data.metrics
    # the run whose models directory holds the model finds it for its report; no other run does
    from bench.results import CertifiedRecord
    from bench.run.tracking import certified_of

    fp = small.meta["fingerprint"]
    [found] = certified_of(client, mdir.parent.name, mdir.name, fp)
    assert found["mlflow_run"] == run.info.run_id
    assert CertifiedRecord.model_validate(found).models.keys() == out["models"].keys()
    assert certified_of(client, "another-run", mdir.name, fp) == []
    assert certified_of(client, mdir.parent.name, "logreg", fp) == []
    assert certified_of(client, mdir.parent.name, mdir.name, "0" * 64) == []
    js2 = tmp_path / "jobs2.json"
    res2 = CliRunner().invoke(app, [*args, "--fpr-accounts", "8000", "--workers", "1", "--jobs", "2",
                                    "--no-training-truth", "--no-mlflow", "--json", str(js2)])  # fmt: skip
    assert res2.exit_code == 0, res2.output
    two = json.loads(js2.read_text())
    assert two["models"]["realistic labels"] == out["models"]["realistic labels"], "processes pool the same counts"
    assert two["worlds"]["fpr"] == out["worlds"]["fpr"]
    js3 = tmp_path / "dask.json"
    res3 = CliRunner().invoke(app, [*args, "--fpr-accounts", "8000", "--workers", "1", "--dask", "local:2",
                                    "--no-training-truth", "--no-mlflow", "--json", str(js3)])  # fmt: skip
    assert res3.exit_code == 0, res3.output
    assert json.loads(js3.read_text())["models"]["realistic labels"] == out["models"]["realistic labels"]
    bad = CliRunner().invoke(app, ["certify", "--model", str(mdir), "--data", str(tmp_path / "nope")])
    assert bad.exit_code == 2
    bad = CliRunner().invoke(app, [*args, "--dask", "local:0"])
    assert bad.exit_code == 2 and "local:K" in bad.output


def test_the_training_world_truth_variant_learns_from_truth_not_human_labels(small):
    """TruthInput labels every account of a split by its truth; the plain input only the
    reviewed few."""
    truth = small.truth_by_id(*small.tasks)
    t = TruthInput(small.view("full"), truth=truth)
    acc, y = t.human("groomer", "train")
    assert len(acc) == int((t.split == "train").sum()) and y.sum() == truth["groomer"][acc].sum()
    plain, _ = ModelInput(small.view("full")).human("groomer", "train")
    assert len(plain) < len(acc) / 5


def test_enrichment_rate_is_a_setting():
    scn = small_scenario()
    assert enriched(scn, 3e-3).harm.groomer_rate == 3e-3
    assert enriched(scn).harm.sophistication_mix == UNIFORM_MIX


@pytest.mark.slow
def test_negative_worlds_in_processes_pool_to_the_same_counts(small, trained, tmp_path):
    """Scoring negative worlds in two worker processes gives the figures one process gives:
    same world seeds, same pooled counts, nothing left on disk (the workers' worlds are made
    in memory)."""
    from bench.rare.worlds import ProcessWorlds

    scn = small_scenario()
    models = {"model": trained}
    cal = calibrate(models, small, ModelInput(small.view("full")))
    plan = PoweredPlan(tpr_worlds=1, fpr_accounts=3 * scn.accounts)
    here = powered_evaluation(Made(models, tmp_path / "a"), cal, scn, SEED, plan)
    scratch = tmp_path / "scratch"
    with ProcessWorlds(2, models_blob(models), scratch) as worlds:
        there = powered_evaluation(worlds, cal, scn, SEED, plan)
    assert here["worlds"] == there["worlds"] and len(here["worlds"]["fpr"]) == 3
    assert here["models"] == there["models"]
    assert not scratch.exists() or not any(scratch.iterdir())


@pytest.mark.slow
def test_negative_worlds_on_dask_survive_a_lost_worker(dask_client, small, trained, tmp_path):
    """On a Dask cluster the pooled counts are those of one process, and a worker killed in
    its first world is replaced: that world is rerun and counted once."""
    from bench.rare.worlds import DaskWorlds
    from tests.faults import worker_killed_once

    scn = small_scenario()
    models = {"model": trained}
    cal = calibrate(models, small, ModelInput(small.view("full")))
    plan = PoweredPlan(tpr_worlds=1, fpr_accounts=3 * scn.accounts)
    here = powered_evaluation(Made(models, tmp_path / "a"), cal, scn, SEED, plan)
    with worker_killed_once(dask_client, tmp_path / "killed") as marker:
        there = powered_evaluation(DaskWorlds(dask_client, models_blob(models)), cal, scn, SEED, plan)
    assert marker.exists(), "a worker really died"
    assert here["worlds"] == there["worlds"] and here["models"] == there["models"]
