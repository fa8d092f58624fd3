"""`lowbase train` / `lowbase evaluate` end to end, and every malformed-predictions path."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli.app import app
from bench.stats.evaluate import heldout_truth

runner = CliRunner()
KEYS = {"auroc", "auprc", "recall_at_p90", "recall_at_p95", "recall_at_p99", "precision_at_r50", "precision_at_r80"}


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def good_predictions(small):
    truth = heldout_truth(small)
    rng = np.random.default_rng(0)
    rows = [
        pd.DataFrame({"account_id": truth["account_id"], "task": t, "score": rng.random(len(truth))})
        for t in small.tasks
    ]
    return pd.concat(rows, ignore_index=True)


def test_train_then_evaluate(small_dir, tmp_path):
    r = run("train", "--data", small_dir, "--model", "gbdt-raw", "--out", tmp_path / "m", "--seed", 1)
    assert r.exit_code == 0, r.output
    r = run(
        "evaluate", "--data", small_dir, "--model", tmp_path / "m", "--json", tmp_path / "e.json", "--resamples", 20
    )
    assert r.exit_code == 0, r.output
    out = json.loads((tmp_path / "e.json").read_text())
    assert set(out) == {"spam", "scam", "fake", "compromised", "groomer", "viral_sharer"}
    for task, m in out.items():
        assert set(m) >= KEYS, task
        assert m["n_positive"] + m["n_negative"] > 0


def test_predictions_file_csv_and_parquet(small_dir, good_predictions, tmp_path):
    for suffix in ("csv", "parquet"):
        p = tmp_path / f"p.{suffix}"
        good_predictions.to_csv(p, index=False) if suffix == "csv" else good_predictions.to_parquet(p)
        r = run("evaluate", "--data", small_dir, "--predictions", p, "--resamples", 10)
        assert r.exit_code == 0, r.output


def _mutate(df, how):
    df = df.copy()
    if how == "missing column":
        return df.drop(columns=["score"])
    if how == "unknown id":
        df.loc[0, "account_id"] = 10**9
    elif how == "unknown task":
        df.loc[0, "task"] = "phishing"
    elif how == "duplicate":
        return pd.concat([df, df.iloc[:1]])
    elif how == "nan":
        df.loc[0, "score"] = np.nan
    elif how == "inf":
        df.loc[0, "score"] = np.inf
    elif how == "missing rows":
        return df.iloc[1:]
    return df


@pytest.mark.parametrize(
    "how, needle",
    [
        ("missing column", "missing column"),
        ("unknown id", "outside"),
        ("unknown task", "unknown task"),
        ("duplicate", "duplicate"),
        ("nan", "NaN"),
        ("inf", "infinite"),
        ("missing rows", "test accounts"),
    ],
)
def test_malformed_predictions_exit_2(small_dir, good_predictions, tmp_path, how, needle):
    p = tmp_path / "p.parquet"
    _mutate(good_predictions, how).to_parquet(p)
    r = run("evaluate", "--data", small_dir, "--predictions", p)
    assert r.exit_code == 2, r.output
    assert needle in r.output


def test_bad_prediction_files_exit_2(small_dir, tmp_path):
    (tmp_path / "p.txt").write_text("x")
    assert "parquet or .csv" in run("evaluate", "--data", small_dir, "--predictions", tmp_path / "p.txt").output
    (tmp_path / "p.parquet").write_text("not parquet")
    r = run("evaluate", "--data", small_dir, "--predictions", tmp_path / "p.parquet")
    assert r.exit_code == 2 and "unreadable" in r.output
    r = run("evaluate", "--data", small_dir)
    assert r.exit_code == 2 and "exactly one" in r.output


def test_bad_model_inputs_exit_2(small_dir, tmp_path):
    r = run("train", "--data", small_dir, "--model", "svm", "--out", tmp_path / "m")
    assert r.exit_code == 2 and "expected one of" in r.output
    r = run("evaluate", "--data", small_dir, "--model", tmp_path / "nothing")
    assert r.exit_code == 2 and "model.json" in r.output
    r = run("train", "--data", small_dir, "--model", "random", "--out", tmp_path / "m", "--visibility", "opaque")
    assert r.exit_code == 2 and "visibility" in r.output


def test_incompatible_model_exit_2_with_the_whole_message(small_dir, tmp_path):
    assert run("train", "--data", small_dir, "--model", "random", "--out", tmp_path / "m").exit_code == 0
    card = tmp_path / "m" / "model.json"
    card.write_text(card.read_text().replace('"friends"', '"gone"'))
    r = run("evaluate", "--data", small_dir, "--model", tmp_path / "m")
    assert r.exit_code == 2
    assert "feature schema differs" in r.output and "['gone']" in r.output, "brackets survive rich markup"


def test_a_model_for_one_harm_is_scored_on_that_task_only(small_dir, good_predictions, tmp_path):
    p = tmp_path / "groomer-only.parquet"
    good_predictions[good_predictions["task"] == "groomer"].to_parquet(p)
    r = run("evaluate", "--data", small_dir, "--predictions", p, "--json", tmp_path / "e.json")
    assert r.exit_code == 0, r.output
    assert list(json.loads((tmp_path / "e.json").read_text())) == ["groomer"]
    assert "not scored (no predictions for them): spam, scam" in r.output
    # A task that is present must still cover every test account.
    part = good_predictions[good_predictions["task"] == "groomer"].iloc[1:]
    part.to_parquet(p)
    r = run("evaluate", "--data", small_dir, "--predictions", p)
    assert r.exit_code == 2 and "task 'groomer' scores" in r.output
    good_predictions.iloc[:0].to_parquet(p)
    r = run("evaluate", "--data", small_dir, "--predictions", p)
    assert r.exit_code == 2 and "no rows" in r.output
    outside = int(min(set(range(len(good_predictions) + 1)) - set(good_predictions["account_id"])))
    good_predictions.iloc[:1].assign(account_id=outside).to_parquet(p)  # a train account only
    r = run("evaluate", "--data", small_dir, "--predictions", p)
    assert r.exit_code == 2 and "scores no test account for any task" in r.output


def test_a_model_says_which_dataset_it_was_trained_on(small_dir, tmp_path):
    """`evaluate` on another dataset says so (console and JSON); `certify` refuses one: its
    thresholds come from the model's own training world."""
    from data_gen import generate
    from tests.conftest import small_scenario

    r = run("train", "--data", small_dir, "--model", "rules", "--out", tmp_path / "m", "--seed", 1)
    assert r.exit_code == 0, r.output
    other = tmp_path / "other"
    generate(small_scenario(), seed=99, out=other)
    own = run("evaluate", "--data", small_dir, "--model", tmp_path / "m", "--json", tmp_path / "own.json")
    assert own.exit_code == 0 and "trained on dataset" not in own.output
    r = run("evaluate", "--data", other, "--model", tmp_path / "m", "--json", tmp_path / "e.json", "--resamples", 10)
    assert r.exit_code == 0, r.output
    assert "note: the model was trained on dataset" in r.output
    got = json.loads((tmp_path / "e.json").read_text())
    assert all(m["datasets"]["own_training_world"] is False for m in got.values())
    assert all(m["datasets"]["own_training_world"] for m in json.loads((tmp_path / "own.json").read_text()).values())
    r = run("certify", "--model", tmp_path / "m", "--data", other, "--workdir", tmp_path / "w", "--no-mlflow")
    assert r.exit_code == 2 and "trained on dataset" in r.output and "--data" in r.output


def test_a_repeated_column_is_refused_not_scored_from_its_first_copy(small_dir, good_predictions, tmp_path):
    p = tmp_path / "dup.csv"
    df = good_predictions.assign(extra=good_predictions["score"])
    df.to_csv(p, index=False, header=["account_id", "task", "score", "score"])
    r = run("evaluate", "--data", small_dir, "--predictions", p)
    assert r.exit_code == 2 and "score appear" in r.output
